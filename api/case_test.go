package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"linli/internal/ledger"
	"linli/internal/testutil"
	"linli/model"
	"linli/service"
)

// caseFixture is an org tree with a resident reporter, community staff,
// the street's whistle officer (its admin), the district's admin, two
// departments of the street and one of the other street, each with one
// dept_staff member.
type caseFixture struct {
	w                          *testutil.World
	h                          *testutil.Harness
	tree                       *testutil.Tree
	reporter, other, staffA    testutil.Login
	staffC, officer, districtA testutil.Login
	dept1, dept2, deptOther    int64
	d1, d2, dOther             testutil.Login
}

func isCasePath(p string) bool {
	return strings.HasPrefix(p, "/api/v1/cases") || strings.HasPrefix(p, "/api/v1/admin/case-stats") ||
		strings.HasPrefix(p, "/api/v1/admin/departments")
}

func newCaseFixture(t *testing.T, opts ...testutil.Option) *caseFixture {
	t.Helper()
	w := testutil.NewWorld(t, opts...)
	w.Router = testutil.NewDocChecker(t, w.Router, isCasePath) // every answer must match docs/openapi.yaml
	f := &caseFixture{w: w, h: w.Harness, tree: w.Tree}
	f.reporter = w.Login("reporter", f.tree.CommunityA.ID)
	f.other = w.Login("other", f.tree.CommunityA.ID)
	f.staffA = w.Staff("staffA", f.tree.CommunityA.ID)
	f.staffC = w.Staff("staffC", f.tree.CommunityC.ID)
	f.officer = w.Login("officer", 0)
	w.MustMakeStaff(f.officer.UserID, f.tree.Street.ID, model.RoleAdmin)
	f.districtA = w.Login("district", 0)
	w.MustMakeStaff(f.districtA.UserID, f.tree.District.ID, model.RoleAdmin)
	f.dept1, f.d1 = f.department(t, f.officer, f.tree.Street.ID, "城管执法队")
	f.dept2, f.d2 = f.department(t, f.officer, f.tree.Street.ID, "市场监管所")
	f.deptOther, f.dOther = f.department(t, f.districtA, f.tree.OtherStreet.ID, "另一街道城管")
	return f
}

// department creates a department under parent through the API and
// appoints a new user its staff.
func (f *caseFixture) department(t *testing.T, admin testutil.Login, parent int64, name string) (int64, testutil.Login) {
	t.Helper()
	var d struct{ ID int64 }
	f.h.Do("POST", "/admin/departments", map[string]any{"parentId": parent, "name": name}, admin.AccessToken).
		Expect(t, 201, 0).Decode(t, &d)
	staff := f.w.Login("dept", 0)
	f.h.Do("POST", fmt.Sprintf("/admin/departments/%d/staff", d.ID), map[string]any{"userId": staff.UserID}, admin.AccessToken).
		Expect(t, 201, 0)
	return d.ID, staff
}

type caseView struct {
	ID           int64
	Status       model.CaseStatus
	Level        string
	Overdue      bool
	OverdueCount int
	Address      string
	Images       []struct{ ID int64 }
	Reporter     *struct {
		UserID int64
		Phone  string
	}
	DuplicateOf []struct{ ID int64 }
	Departments []struct {
		DepartmentID int64
		Lead         bool
		Status       string
	}
	Timeline []struct {
		Action    string
		ActorRole string
		ActorID   *int64
		OnTime    *bool
	}
}

// advance moves the clock and signs everyone in again (access tokens live
// two hours).
func (f *caseFixture) advance(d time.Duration, more ...*testutil.Login) {
	f.h.Clock.Advance(d)
	f.w.Relogin(append([]*testutil.Login{&f.reporter, &f.other, &f.staffA, &f.staffC, &f.officer, &f.districtA,
		&f.d1, &f.d2, &f.dOther}, more...)...)
}

func (f *caseFixture) report(t *testing.T, who testutil.Login, body map[string]any) caseView {
	t.Helper()
	b := map[string]any{"communityId": f.tree.CommunityA.ID, "category": "公共设施", "content": "小区门口路灯坏了",
		"address": "幸福路 8 号小区东门"}
	for k, v := range body {
		b[k] = v
	}
	var v caseView
	f.h.Do("POST", "/cases", b, who.AccessToken).Expect(t, 201, 0).Decode(t, &v)
	return v
}

func (f *caseFixture) act(t *testing.T, id int64, action string, body any, who testutil.Login, status, code int) caseView {
	t.Helper()
	var v caseView
	res := f.h.Do("POST", fmt.Sprintf("/cases/%d/%s", id, action), body, who.AccessToken).Expect(t, status, code)
	if status == 200 {
		res.Decode(t, &v)
	}
	return v
}

func (f *caseFixture) get(t *testing.T, id int64, who testutil.Login) caseView {
	t.Helper()
	var v caseView
	f.h.Do("GET", fmt.Sprintf("/cases/%d", id), nil, who.AccessToken).Expect(t, 200, 0).Decode(t, &v)
	return v
}

// TestCaseWholePath walks resident → community → whistle → dispatch →
// report-in → resolve → rate, refusing every wrong actor on the way.
func TestCaseWholePath(t *testing.T) {
	f := newCaseFixture(t)
	h := f.h
	photo := h.Upload(f.reporter.AccessToken, "a.png", testutil.PNG()).Expect(t, 201, 0)
	var up struct{ ID int64 }
	photo.Decode(t, &up)
	c := f.report(t, f.reporter, map[string]any{"images": []int64{up.ID}, "lat": 31.2, "lng": 121.4})
	if c.Status != model.CaseSubmitted || len(c.Images) != 1 {
		t.Fatalf("new case: %+v", c)
	}
	// Bad reports write nothing.
	rows := h.Rows()
	h.Do("POST", "/cases", map[string]any{"communityId": f.tree.CommunityA.ID, "category": "不存在", "content": "x", "address": "y"},
		f.reporter.AccessToken).Expect(t, 400, 10001)
	h.Do("POST", "/cases", map[string]any{"communityId": f.tree.Street.ID, "category": "其他", "content": "x", "address": "y"},
		f.reporter.AccessToken).Expect(t, 400, 10001)
	h.Do("POST", "/cases", map[string]any{"communityId": f.tree.CommunityA.ID, "category": "其他", "content": "x", "address": "y", "lat": 31.2},
		f.reporter.AccessToken).Expect(t, 400, 10001)
	h.Do("POST", "/cases", map[string]any{"communityId": f.tree.CommunityA.ID, "category": "其他", "content": "x", "address": "y",
		"images": []int64{up.ID}}, f.other.AccessToken).Expect(t, 403, 10004)
	rows.WroteNothing(t, "refused reports")

	// Only the reporter and those handling the case see it.
	for _, who := range []testutil.Login{f.other, f.staffC, f.d1} {
		h.Do("GET", fmt.Sprintf("/cases/%d", c.ID), nil, who.AccessToken).Expect(t, 404, 10005)
	}
	if v := f.get(t, c.ID, f.staffA); v.Reporter == nil || v.Reporter.UserID != f.reporter.UserID {
		t.Fatalf("staff do not see the reporter: %+v", v.Reporter)
	}

	f.act(t, c.ID, "accept", nil, f.reporter, 403, 10004)
	f.act(t, c.ID, "accept", nil, f.staffC, 404, 10005)
	f.act(t, c.ID, "accept", nil, f.staffA, 200, 0)
	f.act(t, c.ID, "accept", nil, f.staffA, 409, 10006)
	f.act(t, c.ID, "whistle", map[string]any{}, f.staffA, 400, 10001)
	if v := f.act(t, c.ID, "whistle", map[string]any{"reason": "涉及市政设施，社区无权处理"}, f.staffA, 200, 0); v.Status != model.CaseWhistled || v.Level != "street" {
		t.Fatalf("whistled: %+v", v)
	}

	dispatch := map[string]any{"departmentIds": []int64{f.dept1, f.dept2}, "leadId": f.dept1}
	f.act(t, c.ID, "dispatch", dispatch, f.staffA, 403, 10004)
	f.act(t, c.ID, "dispatch", map[string]any{"departmentIds": []int64{f.deptOther}, "leadId": f.deptOther}, f.officer, 403, 70007)
	f.act(t, c.ID, "dispatch", map[string]any{"departmentIds": []int64{f.dept1}, "leadId": f.dept2}, f.officer, 400, 10001)
	if v := f.act(t, c.ID, "dispatch", dispatch, f.officer, 200, 0); v.Status != model.CaseDispatched || len(v.Departments) != 2 {
		t.Fatalf("dispatched: %+v", v)
	}
	f.act(t, c.ID, "dispatch", dispatch, f.officer, 409, 70002)

	// A department the case is not dispatched to: 403; a resident: 404 or 403.
	f.act(t, c.ID, "report-in", nil, f.dOther, 403, 70001)
	f.act(t, c.ID, "report-in", nil, f.other, 404, 10005)
	f.act(t, c.ID, "report-in", nil, f.reporter, 403, 10004)
	f.act(t, c.ID, "resolve", map[string]any{"note": "已修"}, f.dOther, 403, 70001)
	// The second department reports in once; it may not resolve or return.
	if v := f.act(t, c.ID, "report-in", nil, f.d2, 200, 0); v.Status != model.CaseDispatched {
		t.Fatalf("a non-lead report-in moved the case: %+v", v)
	}
	f.act(t, c.ID, "report-in", nil, f.d2, 409, 70003)
	f.act(t, c.ID, "resolve", map[string]any{"note": "已修"}, f.d2, 409, 10006)
	f.act(t, c.ID, "return", map[string]any{"reason": "不归我们管"}, f.d2, 403, 70001)
	if v := f.act(t, c.ID, "report-in", nil, f.d1, 200, 0); v.Status != model.CaseReportedIn {
		t.Fatalf("lead report-in: %+v", v)
	}
	f.act(t, c.ID, "resolve", map[string]any{"note": "已修"}, f.d2, 403, 70001)
	if v := f.get(t, c.ID, f.d1); v.Reporter == nil || len(v.Images) != 1 {
		t.Fatalf("the lead department does not see the reporter or the photo: %+v", v)
	}
	f.act(t, c.ID, "resolve", map[string]any{"note": "路灯已更换"}, f.d1, 200, 0)

	f.act(t, c.ID, "rate", map[string]any{"rating": 5}, f.other, 404, 10005)
	f.act(t, c.ID, "rate", map[string]any{"rating": 5}, f.staffA, 403, 10004)
	f.act(t, c.ID, "rate", map[string]any{"rating": 9}, f.reporter, 400, 10001)
	if v := f.act(t, c.ID, "rate", map[string]any{"rating": 5, "comment": "很及时"}, f.reporter, 200, 0); v.Status != model.CaseClosed {
		t.Fatalf("rated: %+v", v)
	}
	f.act(t, c.ID, "rate", map[string]any{"rating": 4}, f.reporter, 409, 10006)

	// The reporter's timeline: every step, actors named only for their own.
	v := f.get(t, c.ID, f.reporter)
	var actions []string
	for _, e := range v.Timeline {
		actions = append(actions, e.Action)
		if e.ActorID != nil && *e.ActorID != f.reporter.UserID {
			t.Errorf("the reporter sees actor %d of %s", *e.ActorID, e.Action)
		}
	}
	want := "create accept whistle dispatch dispatch report_in report_in resolve rate"
	if got := strings.Join(actions, " "); got != want {
		t.Fatalf("timeline %q, want %q", got, want)
	}

	// Lists and figures.
	var page struct {
		Total int64
		List  []caseView
	}
	h.Do("GET", fmt.Sprintf("/cases?orgId=%d&page=1", f.tree.Street.ID), nil, f.officer.AccessToken).Expect(t, 200, 0).Decode(t, &page)
	if page.Total != 1 || page.List[0].ID != c.ID {
		t.Fatalf("street list: %+v", page)
	}
	h.Do("GET", fmt.Sprintf("/cases?orgId=%d&page=1", f.dept2), nil, f.d2.AccessToken).Expect(t, 200, 0).Decode(t, &page)
	if page.Total != 1 {
		t.Fatalf("department list: %+v", page)
	}
	h.Do("GET", fmt.Sprintf("/cases?orgId=%d", f.dept2), nil, f.d1.AccessToken).Expect(t, 403, 10004)
	h.Do("GET", fmt.Sprintf("/cases?orgId=%d", f.tree.CommunityA.ID), nil, f.reporter.AccessToken).Expect(t, 403, 10004)
	h.Do("GET", fmt.Sprintf("/cases?orgId=%d&status=bogus", f.tree.CommunityA.ID), nil, f.staffA.AccessToken).Expect(t, 400, 10001)
	h.Do("GET", "/cases/mine", nil, f.reporter.AccessToken).Expect(t, 200, 0).Decode(t, &page)
	if page.Total != 1 {
		t.Fatalf("mine: %+v", page)
	}

	var st service.CaseStats
	h.Do("GET", fmt.Sprintf("/admin/case-stats?orgId=%d", f.tree.Street.ID), nil, f.officer.AccessToken).Expect(t, 200, 0).Decode(t, &st)
	s := st.Summary
	if st.Total != 1 || st.ByStatus["closed"] != 1 || s.Received != 1 || s.Responded != 1 || s.RespondedOnTime != 1 ||
		s.Resolved != 1 || s.ResolvedOnTime != 1 || s.Rated != 1 || s.AvgRating == nil || *s.AvgRating != 5 || s.Whistled != 1 {
		t.Fatalf("street figures: %+v %+v", st, s)
	}
	if len(st.Departments) != 2 || st.Departments[0].ID != f.dept1 || st.Departments[0].Resolved != 1 ||
		st.Departments[0].ReportedIn != 1 || st.Departments[0].ReportedInOnTime != 1 || st.Departments[1].Dispatched != 1 {
		t.Fatalf("department figures: %+v", st.Departments)
	}
	h.Do("GET", fmt.Sprintf("/admin/case-stats?orgId=%d", f.tree.Street.ID), nil, f.staffA.AccessToken).Expect(t, 403, 10004)
}

// TestCaseReturnEscalateAndReopen: a department returns a case, the street
// escalates it, the district dispatches it to a district department, which
// resolves it; the reporter reopens once, then may not again.
func TestCaseReturnEscalateAndReopen(t *testing.T) {
	f := newCaseFixture(t)
	distDept, dd := f.department(t, f.districtA, f.tree.District.ID, "区住建委")
	c := f.report(t, f.reporter, nil)
	f.act(t, c.ID, "whistle", map[string]any{"reason": "需要街道协调"}, f.staffA, 200, 0)
	f.act(t, c.ID, "dispatch", map[string]any{"departmentIds": []int64{f.dept1}, "leadId": f.dept1}, f.officer, 200, 0)
	f.act(t, c.ID, "return", map[string]any{"reason": "不属于本部门职责"}, f.d1, 200, 0)
	f.act(t, c.ID, "report-in", nil, f.d1, 409, 10006)
	f.act(t, c.ID, "escalate", nil, f.staffA, 403, 10004)
	if v := f.act(t, c.ID, "escalate", nil, f.officer, 200, 0); v.Status != model.CaseEscalated || v.Level != "district" {
		t.Fatalf("escalated: %+v", v)
	}
	f.act(t, c.ID, "escalate", nil, f.districtA, 409, 10006)
	// The street's admin is no officer of the district.
	f.act(t, c.ID, "dispatch", map[string]any{"departmentIds": []int64{distDept}, "leadId": distDept}, f.officer, 403, 10004)
	f.act(t, c.ID, "dispatch", map[string]any{"departmentIds": []int64{distDept}, "leadId": distDept}, f.districtA, 200, 0)
	// The street department of the first round no longer handles it.
	f.act(t, c.ID, "report-in", nil, f.d1, 403, 70001)
	f.act(t, c.ID, "report-in", nil, dd, 200, 0)
	f.act(t, c.ID, "resolve", map[string]any{"note": "已协调处理"}, dd, 200, 0)
	if v := f.act(t, c.ID, "reopen", map[string]any{"reason": "并没有修好"}, f.reporter, 200, 0); v.Status != model.CaseReportedIn {
		t.Fatalf("reopened: %+v", v)
	}
	f.act(t, c.ID, "resolve", map[string]any{"note": "再次处理"}, dd, 200, 0)
	f.act(t, c.ID, "reopen", map[string]any{"reason": "还是不行"}, f.reporter, 409, 70005)
	f.advance(f.h.Config.Case.RatingWindow+time.Minute, &dd)
	f.act(t, c.ID, "rate", map[string]any{"rating": 3}, f.reporter, 409, 70004)
}

// TestCaseDispatchRace: officers of the street and the district dispatch
// one case at once through two instances: one dispatch, one round.
func TestCaseDispatchRace(t *testing.T) {
	f := newCaseFixture(t)
	c := f.report(t, f.reporter, nil)
	f.act(t, c.ID, "whistle", map[string]any{"reason": "需要部门处理"}, f.staffA, 200, 0)
	_, second := f.h.NewInstance()
	const n = 12
	res := testutil.RaceSend(t, n, func(i int) (http.Handler, testutil.Request) {
		who, r := f.officer, f.h.Router
		if i%2 == 1 {
			who, r = f.districtA, second
		}
		lead := []int64{f.dept1, f.dept2}[i%2]
		return r, testutil.Request{Method: "POST", Path: fmt.Sprintf("/cases/%d/dispatch", c.ID), Token: who.AccessToken,
			Body: map[string]any{"departmentIds": []int64{f.dept1, f.dept2}, "leadId": lead}}
	})
	tally := testutil.Tally(testutil.Answers(res))
	if tally["200/0"] != 1 || tally["409/70002"] != n-1 {
		t.Fatalf("dispatch race: %v", tally)
	}
	if got := f.h.Count(&model.CaseDept{}, "case_id = ?", c.ID); got != 2 {
		t.Fatalf("%d department rows, want 2", got)
	}
	if got := f.h.Count(&model.CaseEvent{}, "case_id = ? AND action = ?", c.ID, "dispatch"); got != 2 {
		t.Fatalf("%d dispatch events, want 2", got)
	}
	// Both departments report in at once, each twice: one entry each.
	res = testutil.RaceSend(t, 8, func(i int) (http.Handler, testutil.Request) {
		who, r := f.d1, f.h.Router
		if i%2 == 1 {
			who = f.d2
		}
		if i >= 4 {
			r = second
		}
		return r, testutil.Request{Method: "POST", Path: fmt.Sprintf("/cases/%d/report-in", c.ID), Token: who.AccessToken}
	})
	tally = testutil.Tally(testutil.Answers(res))
	if tally["200/0"] != 2 || tally["409/70003"] != 6 {
		t.Fatalf("report-in race: %v", tally)
	}
	if got := f.h.Count(&model.CaseEvent{}, "case_id = ? AND action = ?", c.ID, "report_in"); got != 2 {
		t.Fatalf("%d report-in events, want 2", got)
	}
}

// TestCaseOverdueSweep: steps left overdue are escalated once by sweeps
// running on two instances at once, one level at a time, and counted.
func TestCaseOverdueSweep(t *testing.T) {
	f := newCaseFixture(t)
	var ids []int64
	for range 3 {
		ids = append(ids, f.report(t, f.reporter, nil).ID)
	}
	second, _ := f.h.NewInstance()
	sweepBoth := func() service.CaseSweepResult {
		t.Helper()
		rs := testutil.Race(t, 4, func(i int) struct {
			r   service.CaseSweepResult
			err error
		} {
			svc := f.h.Svc
			if i%2 == 1 {
				svc = second
			}
			r, err := svc.Cases.Sweep(context.Background())
			return struct {
				r   service.CaseSweepResult
				err error
			}{r, err}
		})
		var sum service.CaseSweepResult
		for _, r := range rs {
			if r.err != nil {
				t.Fatalf("sweep: %v", r.err)
			}
			sum.Escalated += r.r.Escalated
			sum.Supervised += r.r.Supervised
			sum.AutoClosed += r.r.AutoClosed
		}
		return sum
	}
	// Other tests' cases may share the database (MySQL): the sweeps'
	// totals count those too, so the checks are on this test's cases.
	expect := func(status model.CaseStatus, level string, overdue int) {
		t.Helper()
		for _, id := range ids {
			v := f.get(t, id, f.staffA)
			if v.Status != status || v.Level != level || v.OverdueCount != overdue || v.Overdue != (overdue > 0) {
				t.Fatalf("case %d: %+v, want %s at %s overdue %d", id, v, status, level, overdue)
			}
			if n := f.h.Count(&model.CaseEvent{}, "case_id = ? AND action = ?", id, "overdue"); n != int64(overdue) {
				t.Fatalf("case %d: %d overdue events, want %d", id, n, overdue)
			}
		}
	}
	sweepBoth()
	expect(model.CaseSubmitted, "community", 0)
	f.advance(f.h.Config.Case.StepDeadlines["accept"].Duration + time.Minute)
	if r := sweepBoth(); r.Escalated < 3 {
		t.Fatalf("community step: %+v", r)
	}
	expect(model.CaseWhistled, "street", 1)
	sweepBoth()
	expect(model.CaseWhistled, "street", 1)
	var page struct{ Total int64 }
	f.h.Do("GET", fmt.Sprintf("/cases?orgId=%d&overdue=true&page=1", f.tree.Street.ID), nil, f.officer.AccessToken).Expect(t, 200, 0).Decode(t, &page)
	if page.Total != 3 {
		t.Fatalf("overdue list: %+v", page)
	}
	f.advance(f.h.Config.Case.StepDeadlines["dispatch"].Duration + time.Minute)
	sweepBoth()
	expect(model.CaseEscalated, "district", 2)
	f.advance(f.h.Config.Case.StepDeadlines["dispatch"].Duration + time.Minute)
	if r := sweepBoth(); r.Supervised < 3 {
		t.Fatalf("district step: %+v", r)
	}
	expect(model.CaseEscalated, "district", 3)
	f.advance(30 * 24 * time.Hour)
	sweepBoth()
	expect(model.CaseEscalated, "district", 3)
	// The tree is this test's own: its figures count its cases only.
	var st service.CaseStats
	f.h.Do("GET", fmt.Sprintf("/admin/case-stats?orgId=%d", f.tree.District.ID), nil, f.districtA.AccessToken).Expect(t, 200, 0).Decode(t, &st)
	if st.Summary.Overdue != 9 || st.Summary.Received != 3 || st.Summary.Responded != 0 || st.ByStatus["escalated"] != 3 {
		t.Fatalf("figures: %+v %+v", st, st.Summary)
	}
}

// TestCaseMergeKeepsBothReportersInformed: a second report of the same
// problem is offered as a duplicate, merged by staff, and its reporter
// follows the first case from then on, without seeing who reported it.
func TestCaseMergeKeepsBothReportersInformed(t *testing.T) {
	f := newCaseFixture(t)
	first := f.report(t, f.reporter, map[string]any{"lat": 31.2, "lng": 121.4})
	second := f.report(t, f.other, map[string]any{"lat": 31.2003, "lng": 121.4})
	if len(second.DuplicateOf) != 1 || second.DuplicateOf[0].ID != first.ID {
		t.Fatalf("duplicate not offered: %+v", second.DuplicateOf)
	}
	far := f.report(t, f.other, map[string]any{"lat": 31.3, "lng": 121.4})
	if len(far.DuplicateOf) != 0 {
		t.Fatalf("a report 11 km away offered as a duplicate: %+v", far.DuplicateOf)
	}
	f.act(t, second.ID, "merge", map[string]any{"intoId": second.ID}, f.staffA, 409, 70006)
	f.act(t, second.ID, "merge", map[string]any{"intoId": first.ID}, f.other, 403, 10004)
	if v := f.act(t, second.ID, "merge", map[string]any{"intoId": first.ID}, f.staffA, 200, 0); v.Status != model.CaseMerged {
		t.Fatalf("merged: %+v", v)
	}
	f.act(t, far.ID, "merge", map[string]any{"intoId": second.ID}, f.staffA, 409, 70006)
	f.act(t, first.ID, "accept", nil, f.staffA, 200, 0)

	var mine struct {
		Total int64
		List  []caseView
	}
	f.h.Do("GET", "/cases/mine", nil, f.other.AccessToken).Expect(t, 200, 0).Decode(t, &mine)
	found := false
	for _, c := range mine.List {
		found = found || c.ID == first.ID
	}
	if !found || mine.Total != 3 {
		t.Fatalf("the second reporter does not follow the first case: %+v", mine)
	}
	v := f.get(t, first.ID, f.other)
	if v.Reporter != nil || strings.Contains(v.Address, "东门") {
		t.Fatalf("a follower sees the reporter or the full address: %+v", v)
	}
	var actions []string
	for _, e := range v.Timeline {
		actions = append(actions, e.Action)
	}
	if got := strings.Join(actions, " "); got != "create merge_in accept" {
		t.Fatalf("follower's timeline: %q", got)
	}
	if v := f.get(t, first.ID, f.reporter); v.Reporter == nil {
		t.Fatal("the reporter does not see themself")
	}
}

// TestCaseCreditOnce: a Party member who resolves an assigned case is
// credited once when it closes, however many ratings race and whichever
// instance sweeps; the ledger reconciles.
func TestCaseCreditOnce(t *testing.T) {
	f := newCaseFixture(t)
	member := f.w.Member("member", f.tree.CommunityA.ID)
	c := f.report(t, f.reporter, map[string]any{"category": "环境卫生"})
	f.act(t, c.ID, "assign", map[string]any{"userId": member.UserID}, f.staffA, 409, 10006)
	f.act(t, c.ID, "accept", nil, f.staffA, 200, 0)
	f.act(t, c.ID, "assign", map[string]any{"userId": f.other.UserID}, f.staffA, 409, 70008)
	f.act(t, c.ID, "assign", map[string]any{"userId": member.UserID, "unitId": 1}, f.staffA, 400, 10001)
	f.act(t, c.ID, "resolve", map[string]any{"note": "清理完毕"}, member, 404, 10005)
	f.act(t, c.ID, "assign", map[string]any{"userId": member.UserID}, f.staffA, 200, 0)
	f.act(t, c.ID, "resolve", map[string]any{"note": "清理完毕"}, member, 200, 0)
	_, second := f.h.NewInstance()
	res := testutil.RaceSend(t, 10, func(i int) (http.Handler, testutil.Request) {
		r := f.h.Router
		if i%2 == 1 {
			r = second
		}
		return r, testutil.Request{Method: "POST", Path: fmt.Sprintf("/cases/%d/rate", c.ID), Token: f.reporter.AccessToken,
			Body: map[string]any{"rating": 5}}
	})
	if tally := testutil.Tally(testutil.Answers(res)); tally["200/0"] != 1 || tally["409/10006"] != 9 {
		t.Fatalf("rating race: %v", tally)
	}
	pts := f.h.Config.Case.CreditPoints
	var acc struct{ Points int64 }
	f.h.Do("GET", "/me/account", nil, member.AccessToken).Expect(t, 200, 0).Decode(t, &acc)
	if acc.Points != pts {
		t.Fatalf("member has %d points, want %d", acc.Points, pts)
	}
	if n := f.h.Count(&model.ServiceRecord{}, "user_id = ? AND source_key = ? AND kind = ?", member.UserID,
		fmt.Sprintf("case:%d", c.ID), model.ServicePracticalDeed); n != 1 {
		t.Fatalf("%d service records", n)
	}

	// A second case resolved by the member and left unrated closes itself:
	// credited once though two instances sweep.
	c2 := f.report(t, f.reporter, map[string]any{"category": "邻里纠纷"})
	f.act(t, c2.ID, "accept", nil, f.staffA, 200, 0)
	f.act(t, c2.ID, "assign", map[string]any{"userId": member.UserID}, f.staffA, 200, 0)
	f.act(t, c2.ID, "resolve", map[string]any{"note": "已调解"}, member, 200, 0)
	f.advance(f.h.Config.Case.RatingWindow+time.Minute, &member)
	svc2, _ := f.h.NewInstance()
	errs := testutil.Race(t, 4, func(i int) error {
		svc := f.h.Svc
		if i%2 == 1 {
			svc = svc2
		}
		_, err := svc.Cases.Sweep(context.Background())
		return err
	})
	for _, err := range errs {
		if err != nil {
			t.Fatalf("sweep: %v", err)
		}
	}
	if v := f.get(t, c2.ID, f.reporter); v.Status != model.CaseClosed {
		t.Fatalf("not closed by the sweep: %+v", v)
	}
	if n := f.h.Count(&model.CaseEvent{}, "case_id = ? AND action = ?", c2.ID, "auto_close"); n != 1 {
		t.Fatalf("%d auto_close events", n)
	}
	f.h.Do("GET", "/me/account", nil, member.AccessToken).Expect(t, 200, 0).Decode(t, &acc)
	if acc.Points != 2*pts {
		t.Fatalf("member has %d points, want %d", acc.Points, 2*pts)
	}
	if n := f.h.Count(&model.ServiceRecord{}, "source_key = ? AND kind = ?", fmt.Sprintf("case:%d", c2.ID), model.ServiceContactHelp); n != 1 {
		t.Fatalf("%d contact_help records", n)
	}
	// Staff who resolve their community's case themselves are not credited.
	c3 := f.report(t, f.reporter, nil)
	f.act(t, c3.ID, "accept", nil, f.staffA, 200, 0)
	f.act(t, c3.ID, "resolve", map[string]any{"note": "社区自行处理"}, f.staffA, 200, 0)
	f.act(t, c3.ID, "rate", map[string]any{"rating": 4}, f.reporter, 200, 0)
	if n := f.h.Count(&model.ServiceRecord{}, "source_key = ?", fmt.Sprintf("case:%d", c3.ID)); n != 0 {
		t.Fatalf("staff credited for their own work: %d records", n)
	}
	rep, err := ledger.New().Reconcile(context.Background(), f.h.DB)
	if err != nil || rep.Mismatches != 0 {
		t.Fatalf("reconcile: %+v %v", rep, err)
	}
}

// TestCaseListFeed: without a page number GET /cases is a feed read by
// cursor: every case once, newest first, nothing counted.
func TestCaseListFeed(t *testing.T) {
	f := newCaseFixture(t)
	var want []int64
	for range 5 {
		want = append([]int64{f.report(t, f.reporter, nil).ID}, want...)
		f.h.Clock.Advance(time.Second)
	}
	var got []int64
	cursor := ""
	for range 5 {
		var page struct {
			List       []caseView
			Total      *int64
			HasMore    bool
			NextCursor string
		}
		f.h.Do("GET", fmt.Sprintf("/cases?orgId=%d&pageSize=2&cursor=%s", f.tree.CommunityA.ID, cursor), nil, f.staffA.AccessToken).
			Expect(t, 200, 0).Decode(t, &page)
		if page.Total != nil {
			t.Fatal("a feed page counted the cases")
		}
		for _, c := range page.List {
			got = append(got, c.ID)
		}
		if !page.HasMore {
			break
		}
		cursor = page.NextCursor
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("feed %v, want %v", got, want)
	}
	f.h.Do("GET", fmt.Sprintf("/cases?orgId=%d&cursor=bogus", f.tree.CommunityA.ID), nil, f.staffA.AccessToken).Expect(t, 400, 10001)
}
