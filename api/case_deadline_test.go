package api_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"linli/internal/testutil"
	"linli/model"
)

// TestCaseWorkingDayDeadlineSweep: a resolve step given in working days,
// accepted on a Friday with the Monday a holiday, is due at the end of
// Wednesday (Asia/Shanghai): the sweeps on two instances leave it alone on
// Wednesday evening and escalate it once just after midnight.
func TestCaseWorkingDayDeadlineSweep(t *testing.T) {
	sh, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	// A Friday at least a week ahead of the real time the clock starts at.
	now := time.Now().In(sh)
	friday := time.Date(now.Year(), now.Month(), now.Day()+7, 10, 0, 0, 0, sh)
	for friday.Weekday() != time.Friday {
		friday = friday.AddDate(0, 0, 1)
	}
	monday := friday.AddDate(0, 0, 3)
	f := newCaseFixture(t, testutil.WithConfig(map[string]any{
		"case.deadline.resolve": "2wd", "case.holidays": monday.Format(time.DateOnly), "timezone": "Asia/Shanghai"}))
	f.advance(friday.Sub(f.h.Clock.Now()))
	c := f.report(t, f.reporter, nil)
	f.act(t, c.ID, "accept", nil, f.staffA, 200, 0)
	due := time.Date(friday.Year(), friday.Month(), friday.Day()+6, 0, 0, 0, 0, sh) // Thursday 00:00 in Shanghai
	var v struct{ StepDeadline time.Time }
	f.h.Do("GET", fmt.Sprintf("/cases/%d", c.ID), nil, f.staffA.AccessToken).Expect(t, 200, 0).Decode(t, &v)
	if !v.StepDeadline.Equal(due) {
		t.Fatalf("resolve due %s, want %s", v.StepDeadline.In(sh), due)
	}

	second, _ := f.h.NewInstance()
	sweep := func() {
		t.Helper()
		for _, err := range testutil.Race(t, 4, func(i int) error {
			svc := f.h.Svc
			if i%2 == 1 {
				svc = second
			}
			_, err := svc.Cases.Sweep(context.Background())
			return err
		}) {
			if err != nil {
				t.Fatalf("sweep: %v", err)
			}
		}
	}
	f.advance(due.Add(-time.Hour).Sub(f.h.Clock.Now())) // Wednesday 23:00
	sweep()
	if got := f.get(t, c.ID, f.staffA); got.Status != model.CaseAccepted || got.Overdue {
		t.Fatalf("escalated before the end of the second working day: %+v", got)
	}
	f.advance(90 * time.Minute) // Thursday 00:30
	sweep()
	got := f.get(t, c.ID, f.staffA)
	if got.Status != model.CaseWhistled || got.OverdueCount != 1 {
		t.Fatalf("after the deadline: %+v", got)
	}
	if n := f.h.Count(&model.CaseEvent{}, "case_id = ? AND action = ?", c.ID, "overdue"); n != 1 {
		t.Fatalf("%d overdue events", n)
	}
}
