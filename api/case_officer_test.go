package api_test

import (
	"fmt"
	"testing"

	"linli/internal/testutil"
	"linli/model"
	"linli/service"
)

// TestWhistleOfficer: a street admin appoints a whistle officer of the
// street (audited, listed in GET /me); the officer dispatches and
// escalates the street's whistled cases and nothing else: no community
// step, no case not yet whistled, no case of the district's office, no
// other street, no staff rights elsewhere; once removed, nothing.
func TestWhistleOfficer(t *testing.T) {
	f := newCaseFixture(t)
	h := f.h
	wo := f.w.Login("whistle", 0)
	appoint := func(who testutil.Login, org int64, status, code int) *testutil.Response {
		t.Helper()
		return h.Do("POST", "/admin/staff", map[string]any{"userId": wo.UserID, "orgId": org, "role": "whistle_officer"}, who.AccessToken).
			Expect(t, status, code)
	}
	rows := h.Rows()
	appoint(f.staffA, f.tree.Street.ID, 403, 10004)
	appoint(f.officer, f.tree.CommunityA.ID, 400, 10001)
	appoint(f.officer, f.tree.OtherStreet.ID, 403, 10004)
	h.Do("POST", "/admin/staff", map[string]any{"userId": wo.UserID, "orgId": f.tree.Street.ID, "role": "officer"}, f.officer.AccessToken).
		Expect(t, 400, 10001)
	rows.WroteNothing(t, "refused appointments")
	var ap struct{ ID int64 }
	appoint(f.officer, f.tree.Street.ID, 201, 0).Decode(t, &ap)
	mustAudit(t, h, f.officer.UserID, service.AuditStaffAppoint, "staff_role", ap.ID)
	if !hasRole(meRoles(t, h, wo), "whistle_officer", f.tree.Street.ID) {
		t.Fatalf("GET /me: %+v", meRoles(t, h, wo))
	}

	c := f.report(t, f.reporter, nil)
	// Not whistled yet: the community's; the officer does not see it.
	f.act(t, c.ID, "dispatch", map[string]any{"departmentIds": []int64{f.dept1}, "leadId": f.dept1}, wo, 404, 10005)
	h.Do("GET", fmt.Sprintf("/cases/%d", c.ID), nil, wo.AccessToken).Expect(t, 404, 10005)
	f.act(t, c.ID, "accept", nil, wo, 404, 10005)
	f.act(t, c.ID, "whistle", map[string]any{"reason": "需要部门处理"}, f.staffA, 200, 0)
	// Whistled: the officer sees it with the reporter, may not act for the
	// community, and dispatches it.
	if v := f.get(t, c.ID, wo); v.Reporter == nil {
		t.Fatalf("the officer does not see the reporter: %+v", v)
	}
	f.act(t, c.ID, "resolve", map[string]any{"note": "已处理"}, wo, 409, 10006)
	f.act(t, c.ID, "merge", map[string]any{"intoId": c.ID}, wo, 403, 10004)
	for _, who := range []testutil.Login{f.staffA, f.reporter, f.d1} {
		res := h.Do("POST", fmt.Sprintf("/cases/%d/dispatch", c.ID), map[string]any{"departmentIds": []int64{f.dept1}, "leadId": f.dept1}, who.AccessToken)
		if res.Code == 200 {
			t.Fatalf("user %d dispatched", who.UserID)
		}
	}
	f.act(t, c.ID, "dispatch", map[string]any{"departmentIds": []int64{f.dept1}, "leadId": f.dept1}, wo, 200, 0)
	f.act(t, c.ID, "return", map[string]any{"reason": "不属于本部门"}, f.d1, 200, 0)
	f.act(t, c.ID, "escalate", nil, f.staffA, 403, 10004)
	if v := f.act(t, c.ID, "escalate", nil, wo, 200, 0); v.Status != model.CaseEscalated {
		t.Fatalf("escalated: %+v", v)
	}
	// Now the district's office has it: the street's officer may not dispatch.
	f.act(t, c.ID, "dispatch", map[string]any{"departmentIds": []int64{f.dept1}, "leadId": f.dept1}, wo, 403, 10004)

	// The street's list shows the officer whistled cases only; no staff
	// rights come with the role.
	plain := f.report(t, f.reporter, nil)
	var page struct {
		Total int64
		List  []caseView
	}
	h.Do("GET", fmt.Sprintf("/cases?orgId=%d&page=1", f.tree.Street.ID), nil, wo.AccessToken).Expect(t, 200, 0).Decode(t, &page)
	if page.Total != 1 || page.List[0].ID != c.ID || page.List[0].Reporter == nil {
		t.Fatalf("the officer's list: %+v", page)
	}
	h.Do("GET", fmt.Sprintf("/cases?orgId=%d", f.tree.OtherStreet.ID), nil, wo.AccessToken).Expect(t, 403, 10004)
	f.act(t, plain.ID, "accept", nil, wo, 404, 10005)
	h.Do("GET", "/wishes?status=pending_review", nil, wo.AccessToken).Expect(t, 403, 10004)

	// Removed: the officer dispatches nothing more.
	c2 := f.report(t, f.reporter, nil)
	f.act(t, c2.ID, "whistle", map[string]any{"reason": "需要部门处理"}, f.staffA, 200, 0)
	h.Do("DELETE", fmt.Sprintf("/admin/staff/%d", ap.ID), nil, f.officer.AccessToken).Expect(t, 200, 0)
	f.act(t, c2.ID, "dispatch", map[string]any{"departmentIds": []int64{f.dept1}, "leadId": f.dept1}, wo, 404, 10005)
	if hasRole(meRoles(t, h, wo), "whistle_officer", f.tree.Street.ID) {
		t.Fatal("GET /me still lists the removed officer role")
	}
}
