package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// CaseConfig holds the rules of cases (随手拍 / 吹哨报到, SPEC §9).
type CaseConfig struct {
	// Categories is the comma-separated list of categories a report picks.
	Categories string `koanf:"categories"`
	// Deadline holds the default deadline of each step: a duration ("72h")
	// or a number of working days ("3wd", see ParseStepDeadline).
	Deadline CaseDeadlines `koanf:"deadline"`
	// CategoryDeadlines overrides step deadlines per category:
	// "安全隐患.accept=1h,安全隐患.resolve=1wd" (category.step=deadline, comma-
	// or semicolon-separated; steps and values as in case.deadline).
	CategoryDeadlines string `koanf:"category_deadlines"`
	// Holidays are the days off that are not weekends (法定节假日), and
	// Workdays the weekend days that are working days (调休): dates
	// "2026-10-01" or ranges "2026-10-01~2026-10-08", comma-separated, in
	// Location. Working-day deadlines skip weekends and holidays.
	Holidays string `koanf:"holidays"`
	Workdays string `koanf:"workdays"`
	// RatingWindow is how long after the resolution the reporter may rate
	// or reopen; an unrated case closes itself after it.
	RatingWindow time.Duration `koanf:"rating_window"`
	// DuplicateRadiusM and DuplicateWindow: a report this close to an open
	// case of the same category reported within the window is offered as
	// "same as #N".
	DuplicateRadiusM int           `koanf:"duplicate_radius_m"`
	DuplicateWindow  time.Duration `koanf:"duplicate_window"`
	// CreditPoints are credited to the Party member (or the liaison of the
	// unit) who resolved an assigned case, once, when it closes.
	CreditPoints int64 `koanf:"credit_points"`
	// PracticalDeedCategories lists the categories whose resolution counts
	// as a practical_deed service record; the others as contact_help.
	PracticalDeedCategories string `koanf:"practical_deed_categories"`
	// SweepInterval is how often serve runs the overdue and auto-close
	// sweep; zero disables.
	SweepInterval time.Duration `koanf:"sweep_interval"`

	// CategoryList, StepDeadlines, Overrides and Calendar are resolved by
	// Validate.
	CategoryList  []string                `koanf:"-"`
	StepDeadlines map[string]StepDeadline `koanf:"-"`
	Overrides     map[string]StepDeadline `koanf:"-"` // "category.step" → deadline
	Calendar      WorkCalendar            `koanf:"-"`
	practical     map[string]bool
}

// CaseDeadlines are the default deadlines of a case's steps, each a
// duration or working days (ParseStepDeadline).
type CaseDeadlines struct {
	Accept      string `koanf:"accept"`
	Resolve     string `koanf:"resolve"`
	Dispatch    string `koanf:"dispatch"`
	ReportIn    string `koanf:"report_in"`
	DeptResolve string `koanf:"dept_resolve"`
}

// StepDeadline is how long a step may take: a plain Duration, or WorkDays
// working days (when WorkDays > 0): the step is then due at the end of the
// WorkDays-th working day after the day it started (自次日起算).
type StepDeadline struct {
	Duration time.Duration
	WorkDays int
}

// ParseStepDeadline reads a step deadline: a positive Go duration ("2h",
// "72h") or a number of working days followed by "wd" ("3wd", 1–60).
func ParseStepDeadline(s string) (StepDeadline, error) {
	s = strings.TrimSpace(s)
	if n, ok := strings.CutSuffix(s, "wd"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 1 || days > 60 {
			return StepDeadline{}, fmt.Errorf("%q is not 1wd to 60wd", s)
		}
		return StepDeadline{WorkDays: days}, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return StepDeadline{}, fmt.Errorf("%q is neither a positive duration nor working days such as 3wd", s)
	}
	return StepDeadline{Duration: d}, nil
}

// WorkCalendar says which days are working days: Monday to Friday, except
// Holidays, plus the weekend days in Workdays (调休). Keys are dates
// "2006-01-02".
type WorkCalendar struct {
	Holidays map[string]bool
	Workdays map[string]bool
}

// IsWorkday reports whether the calendar day of t (in t's location) is a
// working day.
func (c WorkCalendar) IsWorkday(t time.Time) bool {
	key := t.Format(time.DateOnly)
	if c.Workdays[key] {
		return true
	}
	if c.Holidays[key] {
		return false
	}
	wd := t.Weekday()
	return wd != time.Saturday && wd != time.Sunday
}

// ParseDates reads "2026-10-01,2026-10-03~2026-10-08" into a set of dates.
func ParseDates(s string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, item := range splitList(s) {
		from, to, isRange := strings.Cut(item, "~")
		a, err := time.Parse(time.DateOnly, strings.TrimSpace(from))
		if err != nil {
			return nil, fmt.Errorf("%q is not a date YYYY-MM-DD", from)
		}
		b := a
		if isRange {
			if b, err = time.Parse(time.DateOnly, strings.TrimSpace(to)); err != nil {
				return nil, fmt.Errorf("%q is not a date YYYY-MM-DD", to)
			}
			if b.Before(a) || b.Sub(a) > 60*24*time.Hour {
				return nil, fmt.Errorf("%q is not a range of at most 60 days", item)
			}
		}
		for d := a; !d.After(b); d = d.AddDate(0, 0, 1) {
			out[d.Format(time.DateOnly)] = true
		}
	}
	return out, nil
}

// caseDefaults are the case keys with their defaults.
func caseDefaults() map[string]any {
	return map[string]any{
		"case.categories":                "环境卫生,市容秩序,公共设施,安全隐患,邻里纠纷,物业问题,其他",
		"case.deadline.accept":           "2h",
		"case.deadline.resolve":          "72h",
		"case.deadline.dispatch":         "24h",
		"case.deadline.report_in":        "24h",
		"case.deadline.dept_resolve":     "120h",
		"case.category_deadlines":        "",
		"case.holidays":                  "",
		"case.workdays":                  "",
		"case.rating_window":             "168h",
		"case.duplicate_radius_m":        100,
		"case.duplicate_window":          "24h",
		"case.credit_points":             10,
		"case.practical_deed_categories": "环境卫生,公共设施,安全隐患",
		"case.sweep_interval":            "1m",
	}
}

// StepDeadline returns the deadline of step for a case of category.
func (c CaseConfig) StepDeadline(category, step string) StepDeadline {
	if d, ok := c.Overrides[category+"."+step]; ok {
		return d
	}
	return c.StepDeadlines[step]
}

// PracticalDeed reports whether resolving a case of category counts as a
// practical deed (else as contact help).
func (c CaseConfig) PracticalDeed(category string) bool { return c.practical[category] }

// validateCase checks the case keys and resolves the lists and maps.
func (c *Config) validateCase(bad func(key, why string) error) error {
	cc := &c.Case
	cc.CategoryList = splitList(cc.Categories)
	if len(cc.CategoryList) == 0 {
		return bad("case.categories", "must name at least one category")
	}
	for _, cat := range cc.CategoryList {
		if len([]rune(cat)) > 16 {
			return bad("case.categories", "a category has at most 16 characters")
		}
	}
	d := cc.Deadline
	cc.StepDeadlines = map[string]StepDeadline{}
	for step, v := range map[string]string{
		"accept": d.Accept, "resolve": d.Resolve, "dispatch": d.Dispatch, "report_in": d.ReportIn, "dept_resolve": d.DeptResolve,
	} {
		sd, err := ParseStepDeadline(v)
		if err != nil {
			return bad("case.deadline."+step, err.Error())
		}
		cc.StepDeadlines[step] = sd
	}
	var err error
	if cc.Calendar.Holidays, err = ParseDates(cc.Holidays); err != nil {
		return bad("case.holidays", err.Error())
	}
	if cc.Calendar.Workdays, err = ParseDates(cc.Workdays); err != nil {
		return bad("case.workdays", err.Error())
	}
	cc.Overrides = map[string]StepDeadline{}
	for _, item := range splitList(strings.ReplaceAll(cc.CategoryDeadlines, ";", ",")) {
		key, val, ok := strings.Cut(item, "=")
		cat, step, ok2 := strings.Cut(strings.TrimSpace(key), ".")
		if !ok || !ok2 {
			return bad("case.category_deadlines", fmt.Sprintf("%q is not category.step=duration", item))
		}
		if !slices.Contains(cc.CategoryList, cat) {
			return bad("case.category_deadlines", fmt.Sprintf("unknown category %q", cat))
		}
		if _, known := cc.StepDeadlines[step]; !known {
			return bad("case.category_deadlines", fmt.Sprintf("unknown step %q", step))
		}
		v, err := ParseStepDeadline(val)
		if err != nil {
			return bad("case.category_deadlines", err.Error())
		}
		cc.Overrides[cat+"."+step] = v
	}
	cc.practical = map[string]bool{}
	for _, cat := range splitList(cc.PracticalDeedCategories) {
		if !slices.Contains(cc.CategoryList, cat) {
			return bad("case.practical_deed_categories", fmt.Sprintf("unknown category %q", cat))
		}
		cc.practical[cat] = true
	}
	switch {
	case cc.RatingWindow <= 0:
		return bad("case.rating_window", "must be positive")
	case cc.DuplicateRadiusM < 0 || cc.DuplicateRadiusM > 5000:
		return bad("case.duplicate_radius_m", "must be between 0 and 5000 (0 disables)")
	case cc.DuplicateWindow < 0:
		return bad("case.duplicate_window", "must not be negative")
	case cc.CreditPoints < 0:
		return bad("case.credit_points", "must not be negative")
	case cc.SweepInterval < 0:
		return bad("case.sweep_interval", "must not be negative (0 disables)")
	}
	return nil
}
