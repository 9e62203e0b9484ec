package api_test

import (
	"fmt"
	"testing"

	"linli/internal/testutil"
)

// TestCaseListRoundTrips holds GET /cases to one SQL statement for a feed
// page (the caller cached, the org tree loaded, as on every request but the
// first): the page's rows with their reporters. A counted page adds the
// count; a page with photos adds their read.
func TestCaseListRoundTrips(t *testing.T) {
	f := newCaseFixture(t)
	h := f.h
	for range 3 {
		c := f.report(t, f.reporter, nil)
		f.act(t, c.ID, "whistle", map[string]any{"reason": "需要部门处理"}, f.staffA, 200, 0)
		f.act(t, c.ID, "dispatch", map[string]any{"departmentIds": []int64{f.dept1}, "leadId": f.dept1}, f.officer, 200, 0)
	}
	list := func(name string, who testutil.Login, query string, budget, want int) {
		t.Helper()
		path := "/cases?" + query
		h.Do("GET", "/me", nil, who.AccessToken).Expect(t, 200, 0)
		h.Do("GET", path, nil, who.AccessToken).Expect(t, 200, 0)
		var page struct{ List []caseView }
		tr := h.Trips(func() { h.Do("GET", path, nil, who.AccessToken).Expect(t, 200, 0).Decode(t, &page) })
		if len(page.List) != want {
			t.Fatalf("%s: %d cases, want %d", name, len(page.List), want)
		}
		for _, c := range page.List {
			if c.Reporter == nil || c.Reporter.UserID != f.reporter.UserID {
				t.Fatalf("%s: reporter missing: %+v", name, c)
			}
		}
		tripBudget(t, name, tr, budget)
	}
	list("street feed, district admin", f.districtA, fmt.Sprintf("orgId=%d", f.tree.Street.ID), 1, 3)
	list("community feed, staff", f.staffA, fmt.Sprintf("orgId=%d&status=dispatched", f.tree.CommunityA.ID), 1, 3)
	list("department feed, dept_staff", f.d1, fmt.Sprintf("orgId=%d", f.dept1), 1, 3)
	list("street, counted page", f.officer, fmt.Sprintf("orgId=%d&page=1", f.tree.Street.ID), 2, 3)
	// A refusal costs no statement either.
	h.Do("GET", "/me", nil, f.other.AccessToken).Expect(t, 200, 0)
	tr := h.Trips(func() {
		h.Do("GET", fmt.Sprintf("/cases?orgId=%d", f.tree.Street.ID), nil, f.other.AccessToken).Expect(t, 403, 10004)
	})
	tripBudget(t, "refused", tr, 0)
}
