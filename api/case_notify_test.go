package api_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"linli/internal/testutil"
	"linli/model"
	"linli/service"
)

// caseInbox returns the case events in who's inbox about case id, oldest
// first.
func caseInbox(t *testing.T, f *caseFixture, who testutil.Login, id int64) []string {
	t.Helper()
	p := inbox(t, f.h, who.AccessToken, "?pageSize=100")
	var out []string
	for _, n := range p.List {
		if n.ObjectKind == "case" && n.ObjectID == id {
			out = append(out, n.Event)
		}
	}
	slices.Reverse(out)
	return out
}

// TestCaseNotifiesReporterAtEachStep: the reporter is told of every step
// others take, one notification per step, and the reporter of a merged
// case is told of the merge and then of every step of the case they
// follow, their own included only when someone else took it.
func TestCaseNotifiesReporterAtEachStep(t *testing.T) {
	f := newCaseFixture(t)
	member := f.w.Member("member", f.tree.CommunityA.ID)
	distDept, dd := f.department(t, f.districtA, f.tree.District.ID, "区住建委")
	c := f.report(t, f.reporter, nil)
	second := f.report(t, f.other, map[string]any{"content": "东门路灯不亮"})
	f.act(t, second.ID, "merge", map[string]any{"intoId": c.ID}, f.staffA, 200, 0)
	if got := caseInbox(t, f, f.other, second.ID); fmt.Sprint(got) != "[case_merged]" {
		t.Fatalf("the merged case's reporter: %v", got)
	}
	if n := inbox(t, f.h, f.other.AccessToken, ""); !strings.Contains(n.List[0].Body, fmt.Sprintf("#%d", c.ID)) {
		t.Fatalf("the merge notice does not name the case to follow: %+v", n.List[0])
	}

	f.act(t, c.ID, "accept", nil, f.staffA, 200, 0)
	f.act(t, c.ID, "assign", map[string]any{"userId": member.UserID}, f.staffA, 200, 0)
	f.act(t, c.ID, "whistle", map[string]any{"reason": "需要部门处理"}, f.staffA, 200, 0)
	f.act(t, c.ID, "dispatch", map[string]any{"departmentIds": []int64{f.dept1, f.dept2}, "leadId": f.dept1}, f.officer, 200, 0)
	f.act(t, c.ID, "dispatch", map[string]any{"departmentIds": []int64{f.dept1}, "leadId": f.dept1}, f.officer, 409, 70002)
	f.act(t, c.ID, "report-in", nil, f.d2, 200, 0) // not the lead: on the timeline only
	f.act(t, c.ID, "report-in", nil, f.d1, 200, 0)
	f.act(t, c.ID, "report-in", nil, f.d1, 409, 70003)
	f.act(t, c.ID, "return", map[string]any{"reason": "不属于本部门职责"}, f.d1, 200, 0)
	f.act(t, c.ID, "escalate", nil, f.officer, 200, 0)
	f.act(t, c.ID, "dispatch", map[string]any{"departmentIds": []int64{distDept}, "leadId": distDept}, f.districtA, 200, 0)
	f.act(t, c.ID, "report-in", nil, dd, 200, 0)
	f.act(t, c.ID, "resolve", map[string]any{"note": "已更换"}, dd, 200, 0)
	f.act(t, c.ID, "reopen", map[string]any{"reason": "还是不亮"}, f.reporter, 200, 0)
	f.act(t, c.ID, "resolve", map[string]any{"note": "再次更换"}, dd, 200, 0)
	f.act(t, c.ID, "rate", map[string]any{"rating": 4}, f.reporter, 200, 0)

	steps := "case_accepted case_assigned case_whistled case_dispatched case_reported_in case_returned case_escalated " +
		"case_dispatched case_reported_in case_resolved"
	if got := strings.Join(caseInbox(t, f, f.reporter, c.ID), " "); got != steps+" case_resolved" {
		t.Fatalf("the reporter's inbox:\n%s\nwant\n%s case_resolved", got, steps)
	}
	if got := strings.Join(caseInbox(t, f, f.other, c.ID), " "); got != steps+" case_reopened case_resolved case_closed" {
		t.Fatalf("the follower's inbox: %s", got)
	}
	// Those handling the case are not told through these events.
	for _, who := range []testutil.Login{f.staffA, f.officer, f.d1, dd} {
		if got := caseInbox(t, f, who, c.ID); len(got) != 0 {
			t.Fatalf("user %d was told %v", who.UserID, got)
		}
	}

	// The sweep tells too: an overdue report goes to the street, an
	// unrated resolution closes; once each though two instances sweep.
	late := f.report(t, f.reporter, nil)
	unrated := f.report(t, f.reporter, nil)
	f.act(t, unrated.ID, "accept", nil, f.staffA, 200, 0)
	f.act(t, unrated.ID, "resolve", map[string]any{"note": "已处理"}, f.staffA, 200, 0)
	f.advance(f.h.Config.Case.RatingWindow + time.Minute)
	svc2, _ := f.h.NewInstance()
	for _, err := range testutil.Race(t, 4, func(i int) error {
		svc := f.h.Svc
		if i%2 == 1 {
			svc = svc2
		}
		_, err := svc.Cases.Sweep(context.Background())
		return err
	}) {
		if err != nil {
			t.Fatalf("sweep: %v", err)
		}
	}
	if got := caseInbox(t, f, f.reporter, late.ID); fmt.Sprint(got) != "[case_whistled]" {
		t.Fatalf("overdue report: %v", got)
	}
	if got := caseInbox(t, f, f.reporter, unrated.ID); fmt.Sprint(got) != "[case_accepted case_resolved case_closed]" {
		t.Fatalf("unrated case: %v", got)
	}
}

// TestCaseNotificationRollsBackWithTransition: a merge that fails after
// its notice was written leaves no notification and no change; refused
// and lost transitions write none either.
func TestCaseNotificationRollsBackWithTransition(t *testing.T) {
	f := newCaseFixture(t)
	h := f.h
	first := f.report(t, f.reporter, nil)
	second := f.report(t, f.other, nil)

	fail := errors.New("events store down")
	cb := h.DB.Callback().Create()
	if err := cb.Before("gorm:create").Register("test:fail_merge_in", func(db *gorm.DB) {
		if e, ok := db.Statement.Dest.(*model.CaseEvent); ok && e.Action == "merge_in" {
			_ = db.AddError(fail)
		}
	}); err != nil {
		t.Fatal(err)
	}
	// A 500 is in no document: this request goes to an instance without
	// the document check.
	_, plain := h.NewInstance()
	rows := h.Rows()
	res := testutil.Send(t, plain, testutil.Request{Method: "POST", Path: fmt.Sprintf("/cases/%d/merge", second.ID),
		Body: map[string]any{"intoId": first.ID}, Token: f.staffA.AccessToken})
	if err := cb.Remove("test:fail_merge_in"); err != nil {
		t.Fatal(err)
	}
	res.Expect(t, 500, service.CodeInternal)
	rows.WroteNothing(t, "a merge that rolled back")
	if n := h.Count(&model.Notification{}, "user_id = ?", f.other.UserID); n != 0 {
		t.Fatalf("%d notifications after a rolled-back merge", n)
	}

	// Refused and repeated steps tell nobody.
	f.act(t, first.ID, "accept", nil, f.staffC, 404, 10005)
	f.act(t, first.ID, "accept", nil, f.staffA, 200, 0)
	f.act(t, first.ID, "accept", nil, f.staffA, 409, 10006)
	f.act(t, second.ID, "merge", map[string]any{"intoId": first.ID}, f.staffA, 200, 0)
	if got := caseInbox(t, f, f.reporter, first.ID); fmt.Sprint(got) != "[case_accepted]" {
		t.Fatalf("reporter: %v", got)
	}
	if got := caseInbox(t, f, f.other, second.ID); fmt.Sprint(got) != "[case_merged]" {
		t.Fatalf("second reporter: %v", got)
	}
}
