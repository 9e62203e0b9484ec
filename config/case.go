package config

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// CaseConfig holds the rules of cases (随手拍 / 吹哨报到, SPEC §9).
type CaseConfig struct {
	// Categories is the comma-separated list of categories a report picks.
	Categories string `koanf:"categories"`
	// Deadline holds the default deadline of each step.
	Deadline CaseDeadlines `koanf:"deadline"`
	// CategoryDeadlines overrides step deadlines per category:
	// "安全隐患.accept=1h,安全隐患.resolve=24h" (category.step=duration, comma-
	// or semicolon-separated; steps as in case.deadline).
	CategoryDeadlines string `koanf:"category_deadlines"`
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

	// CategoryList and StepDeadlines are resolved by Validate.
	CategoryList  []string                 `koanf:"-"`
	StepDeadlines map[string]time.Duration `koanf:"-"`
	Overrides     map[string]time.Duration `koanf:"-"` // "category.step" → duration
	practical     map[string]bool
}

// CaseDeadlines are the default deadlines of a case's steps.
type CaseDeadlines struct {
	Accept      time.Duration `koanf:"accept"`
	Resolve     time.Duration `koanf:"resolve"`
	Dispatch    time.Duration `koanf:"dispatch"`
	ReportIn    time.Duration `koanf:"report_in"`
	DeptResolve time.Duration `koanf:"dept_resolve"`
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
		"case.rating_window":             "168h",
		"case.duplicate_radius_m":        100,
		"case.duplicate_window":          "24h",
		"case.credit_points":             10,
		"case.practical_deed_categories": "环境卫生,公共设施,安全隐患",
		"case.sweep_interval":            "1m",
	}
}

// StepDeadline returns the deadline of step for a case of category.
func (c CaseConfig) StepDeadline(category, step string) time.Duration {
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
	cc.StepDeadlines = map[string]time.Duration{
		"accept": d.Accept, "resolve": d.Resolve, "dispatch": d.Dispatch, "report_in": d.ReportIn, "dept_resolve": d.DeptResolve,
	}
	for step, v := range cc.StepDeadlines {
		if v <= 0 {
			return bad("case.deadline."+step, "must be positive")
		}
	}
	cc.Overrides = map[string]time.Duration{}
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
		v, err := time.ParseDuration(strings.TrimSpace(val))
		if err != nil || v <= 0 {
			return bad("case.category_deadlines", fmt.Sprintf("%q is not a positive duration", val))
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
