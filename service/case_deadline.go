package service

import (
	"time"

	"linli/config"
)

// stepDue returns when a step started at start is due: start plus the
// duration, or for working days the end of the d.WorkDays-th working day
// after start's day in loc (自次日起算, weekends, case.holidays and
// case.workdays as cal says), that is midnight at the start of the next
// day. A step started on a Saturday with 1wd is due at the end of Monday
// (when Monday is a working day).
func stepDue(start time.Time, d config.StepDeadline, cal config.WorkCalendar, loc *time.Location) time.Time {
	if d.WorkDays <= 0 {
		return start.Add(d.Duration)
	}
	if loc == nil {
		loc = time.UTC
	}
	t := start.In(loc)
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
	// The calendar has at most a few weeks of days off in a row; the bound
	// only guards against a calendar with no working day at all.
	for left, guard := d.WorkDays, 0; left > 0 && guard < 3660; guard++ {
		day = day.AddDate(0, 0, 1)
		if cal.IsWorkday(day) {
			left--
		}
	}
	// In start's location: SQLite compares stored times as text, so every
	// deadline keeps the offset the others have.
	return day.AddDate(0, 0, 1).In(start.Location())
}
