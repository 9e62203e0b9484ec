package service

import (
	"testing"
	"time"

	"linli/config"
)

// TestStepDueWorkingDays checks the working-day arithmetic: counted from
// the day after the start, weekends off, holidays off, make-up working
// days (调休) on, due at the end of the last working day in Asia/Shanghai.
func TestStepDueWorkingDays(t *testing.T) {
	sh, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time {
		t.Helper()
		v, err := time.ParseInLocation("2006-01-02 15:04", s, sh)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	// An example calendar: 1–7 October off, Sunday 27 September and
	// Saturday 10 October worked instead.
	holidays, err := config.ParseDates("2026-10-01~2026-10-07")
	if err != nil {
		t.Fatal(err)
	}
	workdays, err := config.ParseDates("2026-09-27,2026-10-10")
	if err != nil {
		t.Fatal(err)
	}
	cal := config.WorkCalendar{Holidays: holidays, Workdays: workdays}
	for _, tc := range []struct {
		name  string
		start time.Time
		d     config.StepDeadline
		want  time.Time
	}{
		{"a duration is added as it is", at("2026-12-05 10:00"), config.StepDeadline{Duration: 2 * time.Hour}, at("2026-12-05 12:00")},
		{"Tuesday + 3wd: Wed, Thu, Fri", at("2026-12-01 10:00"), config.StepDeadline{WorkDays: 3}, at("2026-12-05 00:00")},
		{"Friday + 1wd: Monday", at("2026-12-04 15:00"), config.StepDeadline{WorkDays: 1}, at("2026-12-08 00:00")},
		{"Saturday + 1wd: Monday", at("2026-12-05 09:00"), config.StepDeadline{WorkDays: 1}, at("2026-12-08 00:00")},
		{"Sunday + 5wd: the week", at("2026-12-06 23:59"), config.StepDeadline{WorkDays: 5}, at("2026-12-12 00:00")},
		{"a late start counts from the next day", at("2026-12-01 23:59"), config.StepDeadline{WorkDays: 1}, at("2026-12-03 00:00")},
		{"before the holidays: 8 and 9 October", at("2026-09-30 16:00"), config.StepDeadline{WorkDays: 2}, at("2026-10-10 00:00")},
		{"a make-up Saturday counts", at("2026-09-30 16:00"), config.StepDeadline{WorkDays: 3}, at("2026-10-11 00:00")},
		{"a make-up Sunday counts", at("2026-09-25 10:00"), config.StepDeadline{WorkDays: 1}, at("2026-09-28 00:00")},
		{"started inside the holidays", at("2026-10-03 10:00"), config.StepDeadline{WorkDays: 1}, at("2026-10-09 00:00")},
		// 17:00 UTC on Tuesday is 01:00 on Wednesday in Shanghai.
		{"the day is Shanghai's", time.Date(2026, 12, 1, 17, 0, 0, 0, time.UTC), config.StepDeadline{WorkDays: 1}, at("2026-12-04 00:00")},
	} {
		if got := stepDue(tc.start, tc.d, cal, sh); !got.Equal(tc.want) {
			t.Errorf("%s: due %s, want %s", tc.name, got.In(sh), tc.want)
		}
	}
}

func TestParseStepDeadline(t *testing.T) {
	for in, want := range map[string]config.StepDeadline{
		"2h": {Duration: 2 * time.Hour}, " 72h ": {Duration: 72 * time.Hour}, "3wd": {WorkDays: 3}, "60wd": {WorkDays: 60},
	} {
		if got, err := config.ParseStepDeadline(in); err != nil || got != want {
			t.Errorf("%q: %+v %v, want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0wd", "61wd", "-1wd", "3d", "wd", "0s", "-2h", "abc"} {
		if got, err := config.ParseStepDeadline(in); err == nil {
			t.Errorf("%q accepted as %+v", in, got)
		}
	}
}
