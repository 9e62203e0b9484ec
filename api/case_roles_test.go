package api_test

import (
	"fmt"
	"testing"

	"linli/internal/testutil"
	"linli/service"
)

// TestDeptStaffInMeAndRemoval: GET /me lists a dept_staff appointment as
// soon as it is made (the cached caller is dropped), and no longer once it
// is removed, on either instance; the removed user acts for the department
// no more; appointment and removal are audited; only the street's or
// district's admin removes.
func TestDeptStaffInMeAndRemoval(t *testing.T) {
	f := newCaseFixture(t)
	h := f.h
	_, second := h.NewInstance()
	user := f.w.Login("newdept", 0)
	if roles := meRoles(t, h, user); hasRole(roles, "dept_staff", f.dept2) { // cached now
		t.Fatalf("roles before the appointment: %v", roles)
	}
	var ap struct{ ID int64 }
	h.Do("POST", fmt.Sprintf("/admin/departments/%d/staff", f.dept2), map[string]any{"userId": user.UserID}, f.officer.AccessToken).
		Expect(t, 201, 0).Decode(t, &ap)
	mustAudit(t, h, f.officer.UserID, service.AuditDeptStaffAppoint, "dept_staff", ap.ID)
	if roles := meRoles(t, h, user); !hasRole(roles, "dept_staff", f.dept2) {
		t.Fatalf("GET /me after the appointment: %v", roles)
	}
	if roles := meRoles(t, h, f.d1); !hasRole(roles, "dept_staff", f.dept1) {
		t.Fatalf("GET /me of the fixture's dept_staff: %v", roles)
	}

	c := f.report(t, f.reporter, nil)
	f.act(t, c.ID, "whistle", map[string]any{"reason": "需要部门处理"}, f.staffA, 200, 0)
	f.act(t, c.ID, "dispatch", map[string]any{"departmentIds": []int64{f.dept1, f.dept2}, "leadId": f.dept1}, f.officer, 200, 0)

	path := fmt.Sprintf("/admin/departments/%d/staff/%d", f.dept2, user.UserID)
	rows := h.Rows()
	for _, who := range []testutil.Login{f.staffA, f.d2, user, f.staffC} {
		h.Do("DELETE", path, nil, who.AccessToken).Expect(t, 403, 10004)
	}
	h.Do("DELETE", fmt.Sprintf("/admin/departments/%d/staff/%d", f.tree.Street.ID, user.UserID), nil, f.officer.AccessToken).Expect(t, 404, 10005)
	h.Do("DELETE", fmt.Sprintf("/admin/departments/%d/staff/%d", f.dept2, f.other.UserID), nil, f.officer.AccessToken).Expect(t, 404, 10005)
	h.Do("DELETE", fmt.Sprintf("/admin/departments/%d/staff/abc", f.dept2), nil, f.officer.AccessToken).Expect(t, 400, 10001)
	rows.WroteNothing(t, "refused removals")

	var out struct {
		DepartmentID, UserID int64
		Removed              bool
	}
	h.Do("DELETE", path, nil, f.officer.AccessToken).Expect(t, 200, 0).Decode(t, &out)
	if !out.Removed || out.DepartmentID != f.dept2 || out.UserID != user.UserID {
		t.Fatalf("removal: %+v", out)
	}
	mustAudit(t, h, f.officer.UserID, service.AuditDeptStaffRemove, "dept_staff", ap.ID)
	h.Do("DELETE", path, nil, f.officer.AccessToken).Expect(t, 404, 10005)
	if roles := meRoles(t, h, user); hasRole(roles, "dept_staff", f.dept2) {
		t.Fatalf("GET /me still lists the removed role: %v", roles)
	}
	var me struct{ Roles []struct{ Role string } }
	testutil.Send(t, second, testutil.Request{Method: "GET", Path: "/me", Token: user.AccessToken}).Expect(t, 200, 0).Decode(t, &me)
	for _, r := range me.Roles {
		if r.Role == "dept_staff" {
			t.Fatalf("the second instance still lists the removed role: %+v", me.Roles)
		}
	}
	// The removed user acts for the department no more; the other staff do.
	f.act(t, c.ID, "report-in", nil, user, 404, 10005)
	f.act(t, c.ID, "report-in", nil, f.d2, 200, 0)
	h.Do("GET", fmt.Sprintf("/cases?orgId=%d", f.dept2), nil, user.AccessToken).Expect(t, 403, 10004)
}
