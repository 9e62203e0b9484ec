package config_test

import (
	"strings"
	"testing"
	"time"

	"linli/config"
)

// TestCaseWorkingDayDeadlines: step deadlines take durations (the old
// format) or working days, per step and per category; the calendar keys
// are dates or ranges; anything else is refused naming the key.
func TestCaseWorkingDayDeadlines(t *testing.T) {
	c, err := config.LoadFromEnviron("", nil, map[string]any{"dev": true,
		"case.deadline.resolve": "3wd", "case.category_deadlines": "安全隐患.resolve=1wd,安全隐患.accept=30m",
		"case.holidays": "2026-10-01~2026-10-07, 2026-01-01", "case.workdays": "2026-10-10"})
	if err != nil {
		t.Fatal(err)
	}
	cc := c.Case
	if got := cc.StepDeadline("其他", "accept"); got != (config.StepDeadline{Duration: 2 * time.Hour}) {
		t.Errorf("accept: %+v", got)
	}
	if got := cc.StepDeadline("其他", "resolve"); got != (config.StepDeadline{WorkDays: 3}) {
		t.Errorf("resolve: %+v", got)
	}
	if got := cc.StepDeadline("安全隐患", "resolve"); got != (config.StepDeadline{WorkDays: 1}) {
		t.Errorf("安全隐患 resolve: %+v", got)
	}
	if got := cc.StepDeadline("安全隐患", "accept"); got != (config.StepDeadline{Duration: 30 * time.Minute}) {
		t.Errorf("安全隐患 accept: %+v", got)
	}
	if len(cc.Calendar.Holidays) != 8 || !cc.Calendar.Holidays["2026-10-07"] || !cc.Calendar.Workdays["2026-10-10"] {
		t.Errorf("calendar: %+v", cc.Calendar)
	}
	day := func(s string) time.Time { d, _ := time.Parse(time.DateOnly, s); return d }
	if cc.Calendar.IsWorkday(day("2026-10-02")) || !cc.Calendar.IsWorkday(day("2026-10-10")) || cc.Calendar.IsWorkday(day("2026-10-11")) ||
		!cc.Calendar.IsWorkday(day("2026-10-12")) {
		t.Error("IsWorkday disagrees with the calendar")
	}
	for key, val := range map[string]string{
		"case.deadline.accept":    "3d",
		"case.deadline.resolve":   "0wd",
		"case.category_deadlines": "安全隐患.resolve=2days",
		"case.holidays":           "2026-13-01",
		"case.workdays":           "2026-10-10~2026-10-01",
	} {
		_, err := config.LoadFromEnviron("", nil, map[string]any{"dev": true, key: val})
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s=%q: %v", key, val, err)
		}
	}
}
