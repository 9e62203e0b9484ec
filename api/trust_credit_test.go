package api_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"linli/internal/testutil"
	"linli/model"
	"linli/service"
)

// TestNoActionOnOneself: nobody credits, gives to or approves for
// themselves. Each refusal is 403 30012 and writes nothing; the same action
// by a second staff member goes through.
func TestNoActionOnOneself(t *testing.T) {
	e := newActEnv(t)
	h, tree := e.h, e.tree
	self := e.w.LoginAs(e.w.OpenID(e.staffID))
	h.MustSetHome(self.UserID, tree.CommunityA.ID)
	h.MustVolunteer(self.UserID)
	h.MustPartyMember(self.UserID, tree.CommunityA.ID)
	other := e.w.Staff("staff2", tree.CommunityA.ID)
	h.MustSetHome(other.UserID, tree.CommunityA.ID)
	v := e.volunteer("v")

	// An activity both the staff member and a volunteer signed up for.
	act := e.newActivity(nil)
	e.signup(act, e.user(self))
	e.signup(act, v)
	h.Clock.Advance(2*time.Hour + 10*time.Minute) // 10 min after the start
	e.relogin(v)
	self = e.w.LoginAs(e.w.OpenID(self.UserID))
	other = e.w.LoginAs(e.w.OpenID(other.UserID))
	attPath := func(userID int64, action string) string {
		return fmt.Sprintf("/activities/%d/attendances/%d/%s", act, userID, action)
	}

	// A self-logged service record of the staff member.
	var rec struct{ ID int64 }
	h.Do("POST", "/services", map[string]any{"kind": "contact_help",
		"occurredOn": h.Clock.Now().In(h.Config.Location).Format("2006-01-02"), "minutes": 30}, self.AccessToken).
		Expect(t, 201, 0).Decode(t, &rec)

	// A wish a colleague posted for a resident without an account, which
	// the staff member (also a Party member) claimed and fulfilled.
	body := wishBody("代办换灯泡")
	delete(body, "contactPhone")
	body["communityId"] = tree.CommunityA.ID
	body["onBehalfOf"] = map[string]any{"name": "李奶奶", "phone": "13500003333"}
	var wish struct{ ID int64 }
	h.Do("POST", "/wishes", body, other.AccessToken).Expect(t, 201, 0).Decode(t, &wish)
	wishPath := func(action string) string { return fmt.Sprintf("/wishes/%d/%s", wish.ID, action) }
	h.Do("POST", wishPath("approve"), nil, other.AccessToken).Expect(t, 200, 0)
	h.Do("POST", wishPath("claim"), nil, self.AccessToken).Expect(t, 200, 0)
	h.Do("POST", wishPath("fulfil"), map[string]any{"note": "已换好"}, self.AccessToken).Expect(t, 200, 0)

	refused := []struct {
		name string
		path string
		body any
	}{
		{"manual check-in of oneself", attPath(self.UserID, "checkin"), map[string]any{}},
		{"self-logged service record", fmt.Sprintf("/services/%d/approve", rec.ID), nil},
		{"confirm a wish one claimed", wishPath("confirm"), map[string]any{"rating": 5}},
		{"manual credit to oneself", "/admin/credits", map[string]any{"userId": self.UserID,
			"communityId": tree.CommunityA.ID, "currency": "points", "amount": 10, "reason": "补录", "requestId": "self-1"}},
		{"gift to oneself", "/me/gifts", map[string]any{"toUserId": self.UserID, "currency": "points", "amount": 1}},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			rows := h.Rows()
			h.Do("POST", c.path, c.body, self.AccessToken).Expect(t, 403, service.CodeSelfAction)
			rows.WroteNothing(t, c.name)
		})
	}

	// After the end: approving one's own attendance, alone or in a batch.
	h.Clock.Advance(time.Hour)
	e.relogin(v)
	self = e.w.LoginAs(e.w.OpenID(self.UserID))
	other = e.w.LoginAs(e.w.OpenID(other.UserID))
	approve := map[string]any{"minutes": 60, "score": 5, "reason": "纸质签到表"}
	batch := map[string]any{"items": []map[string]any{
		{"userId": v.id, "minutes": 60, "score": 5, "reason": "纸质签到表"},
		{"userId": self.UserID, "minutes": 60, "score": 5, "reason": "纸质签到表"},
	}}
	batchPath := fmt.Sprintf("/activities/%d/attendances/approve", act)
	for name, req := range map[string]struct {
		path string
		body any
	}{
		"approve one's own attendance":    {attPath(self.UserID, "approve"), approve},
		"batch with one's own attendance": {batchPath, batch},
	} {
		t.Run(name, func(t *testing.T) {
			rows := h.Rows()
			h.Do("POST", req.path, req.body, self.AccessToken).Expect(t, 403, service.CodeSelfAction)
			rows.WroteNothing(t, name)
		})
	}
	if b := e.balance(self.UserID, model.CurrencyMinutes) + e.balance(self.UserID, model.CurrencyPoints); b != 0 {
		t.Fatalf("the staff member holds %d after refusals", b)
	}

	// A second staff member may do each of these.
	h.Do("POST", batchPath, batch, other.AccessToken).Expect(t, 200, 0)
	h.Do("POST", fmt.Sprintf("/services/%d/approve", rec.ID), nil, other.AccessToken).Expect(t, 200, 0)
	h.Do("POST", wishPath("confirm"), map[string]any{"rating": 5}, other.AccessToken).Expect(t, 200, 0)
	h.Do("POST", "/admin/credits", map[string]any{"userId": self.UserID, "communityId": tree.CommunityA.ID,
		"currency": "points", "amount": 10, "reason": "补录", "requestId": "self-1"}, other.AccessToken).Expect(t, 201, 0)
	if b := e.balance(self.UserID, model.CurrencyMinutes); b != 60+30 {
		t.Fatalf("minutes after a second person's approvals = %d, want 90", b)
	}
}

// creditEnv is a time bank world with two staff members of community A, a
// district admin and a resident of A.
type creditEnv struct {
	*tbEnv
	staff2, districtAdmin, res testutil.Login
}

func newCreditEnv(t *testing.T, config ...map[string]any) *creditEnv {
	t.Helper()
	e := &creditEnv{tbEnv: newTBEnv(t, config...)}
	e.staff2 = e.w.Staff("tb-staff2", e.tree.CommunityA.ID)
	e.districtAdmin = e.w.Login("tb-dadmin", 0)
	e.h.MustMakeStaff(e.districtAdmin.UserID, e.tree.District.ID, model.RoleAdmin)
	e.res = e.resident(t, e.tree.CommunityA.ID)
	return e
}

type creditView struct {
	ID, TxnID, CreatedBy int64
	Status               string
	DecidedBy            *int64
	Amount               int64
}

func (e *creditEnv) manual(t *testing.T, who testutil.Login, userID, community int64, cur string, amount int64, status, code int) creditView {
	t.Helper()
	var v creditView
	res := e.h.Do("POST", "/admin/credits", map[string]any{"userId": userID, "communityId": community, "currency": cur,
		"amount": amount, "reason": "纸质台账补录", "requestId": fmt.Sprintf("mc-%d", e.seq.Add(1))}, who.AccessToken)
	res.Expect(t, status, code)
	if code == 0 {
		res.Decode(t, &v)
	}
	return v
}

// TestManualCreditLimits: caps per request and per month, recipients from
// elsewhere, and large credits that wait for a second person.
func TestManualCreditLimits(t *testing.T) {
	e := newCreditEnv(t, map[string]any{"timebank.manual_credit.max_points_per_month": 3000})
	A := e.tree.CommunityA.ID

	t.Run("refusals write nothing", func(t *testing.T) {
		outsider := e.resident(t, e.tree.CommunityC.ID) // another street
		homeless := e.resident(t, 0)
		cases := []struct {
			name         string
			user         int64
			cur          string
			amount       int64
			status, code int
		}{
			{"over the per-request cap", e.res.UserID, "points", 10_001, 409, service.CodeManualCreditTooBig},
			{"minutes over the per-request cap", e.res.UserID, "minutes", 6001, 409, service.CodeManualCreditTooBig},
			{"resident of another street", outsider.UserID, "points", 10, 403, service.CodeRecipientOutside},
			{"no home and no service here", homeless.UserID, "points", 10, 403, service.CodeRecipientOutside},
		}
		for _, c := range cases {
			rows := e.h.Rows()
			e.manual(t, e.staff, c.user, A, c.cur, c.amount, c.status, c.code)
			rows.WroteNothing(t, c.name)
		}
	})

	t.Run("one who served here may be credited", func(t *testing.T) {
		served := e.resident(t, e.tree.CommunityC.ID)
		e.h.MustPartyMember(served.UserID, A)
		var rec struct{ ID int64 }
		e.h.Do("POST", "/services", map[string]any{"kind": "contact_help",
			"occurredOn": e.h.Clock.Now().In(e.h.Config.Location).Format("2006-01-02"), "minutes": 30}, served.AccessToken).
			Expect(t, 201, 0).Decode(t, &rec)
		e.manual(t, e.staff, served.UserID, A, "points", 5, 403, service.CodeRecipientOutside) // pending is not served
		e.h.Do("POST", fmt.Sprintf("/services/%d/approve", rec.ID), nil, e.staff.AccessToken).Expect(t, 200, 0)
		e.manual(t, e.staff, served.UserID, A, "points", 5, 201, 0)
	})

	t.Run("above the threshold: a request for a second person", func(t *testing.T) {
		before := e.entries(t, e.res.UserID)
		req := e.manual(t, e.staff, e.res.UserID, A, "points", 1500, 202, 0)
		if req.Status != model.ManualCreditPending || req.TxnID != 0 {
			t.Fatalf("request %+v", req)
		}
		if n := e.entries(t, e.res.UserID); n != before {
			t.Fatalf("a pending request paid: entries %d → %d", before, n)
		}
		path := fmt.Sprintf("/admin/credit-requests/%d/", req.ID)
		staffB := e.w.Staff("tb-staffb", e.tree.CommunityB.ID)
		streetStaff := e.w.Staff("tb-street", e.tree.Street.ID)
		rows := e.h.Rows()
		e.h.Do("POST", path+"approve", nil, e.staff.AccessToken).Expect(t, 403, service.CodeSelfAction)
		e.h.Do("POST", path+"approve", nil, e.res.AccessToken).Expect(t, 404, service.CodeNotFound)
		e.h.Do("POST", path+"approve", nil, staffB.AccessToken).Expect(t, 404, service.CodeNotFound)
		e.h.Do("POST", path+"approve", nil, streetStaff.AccessToken).Expect(t, 403, service.CodeForbidden)
		rows.WroteNothing(t, "approvals by the wrong people")
		var v creditView
		e.h.Do("POST", path+"approve", nil, e.staff2.AccessToken).Expect(t, 200, 0).Decode(t, &v)
		if v.Status != model.ManualCreditApproved || v.TxnID == 0 || v.DecidedBy == nil || *v.DecidedBy != e.staff2.UserID || v.CreatedBy != e.staff.UserID {
			t.Fatalf("approved %+v", v)
		}
		e.h.Do("POST", path+"approve", nil, e.districtAdmin.AccessToken).Expect(t, 409, service.CodeConflict)
		if a := e.account(t, e.res); a.Points != 1500 {
			t.Fatalf("points after approval = %d, want 1500", a.Points)
		}
		// A refused request pays nothing and frees its share of the month.
		refused := e.manual(t, e.staff, e.res.UserID, A, "points", 1400, 202, 0)
		e.manual(t, e.staff, e.res.UserID, A, "points", 200, 409, service.CodeManualCreditMonthly) // 1500+1400+200 > 3000
		e.h.Do("POST", fmt.Sprintf("/admin/credit-requests/%d/reject", refused.ID), map[string]any{"reason": "无纸质记录"},
			e.districtAdmin.AccessToken).Expect(t, 200, 0)
		e.manual(t, e.staff, e.res.UserID, A, "points", 200, 201, 0)
		if a := e.account(t, e.res); a.Points != 1700 {
			t.Fatalf("points = %d, want 1700", a.Points)
		}

		// The admins above see every credit, request and decision.
		var list struct {
			List  []creditView
			Total int64
		}
		e.h.Do("GET", fmt.Sprintf("/admin/credits?orgId=%d", e.tree.District.ID), nil, e.districtAdmin.AccessToken).
			Expect(t, 200, 0).Decode(t, &list)
		byStatus := map[string]int{}
		for _, c := range list.List {
			byStatus[c.Status]++
		}
		if byStatus["approved"] != 1 || byStatus["rejected"] != 1 || byStatus["posted"] < 2 {
			t.Fatalf("list %+v", list)
		}
		e.h.Do("GET", fmt.Sprintf("/admin/credits?orgId=%d&status=rejected", A), nil, e.staff2.AccessToken).
			Expect(t, 200, 0).Decode(t, &list)
		if list.Total != 1 || list.List[0].ID != refused.ID || list.List[0].DecidedBy == nil || *list.List[0].DecidedBy != e.districtAdmin.UserID {
			t.Fatalf("rejected list %+v", list)
		}
		e.h.Do("GET", fmt.Sprintf("/admin/credits?orgId=%d", e.tree.CommunityB.ID), nil, e.staff.AccessToken).
			Expect(t, 403, service.CodeForbidden)
	})
	e.reconcileClean(t)
}

// TestConcurrentCreditRequestApprovalsPayOnce: approvals of one request by
// two people on two instances at once pay once.
func TestConcurrentCreditRequestApprovalsPayOnce(t *testing.T) {
	e := newCreditEnv(t)
	_, second := e.h.NewInstance()
	req := e.manual(t, e.staff, e.res.UserID, e.tree.CommunityA.ID, "minutes", 900, 202, 0)
	path := fmt.Sprintf("/admin/credit-requests/%d/approve", req.ID)
	got := testutil.Tally(testutil.Answers(testutil.RaceSend(t, 40, func(i int) (http.Handler, testutil.Request) {
		handler, who := e.h.Router, e.staff2
		if i%2 == 1 {
			handler, who = second, e.districtAdmin
		}
		return handler, testutil.Request{Method: "POST", Path: path, Token: who.AccessToken}
	})))
	if got["200/0"] != 1 || got[fmt.Sprintf("409/%d", service.CodeConflict)] != 39 {
		t.Fatalf("results %v", got)
	}
	if n := e.entries(t, e.res.UserID); n != 1 {
		t.Fatalf("user entries = %d, want 1", n)
	}
	if a := e.account(t, e.res); a.Minutes != 900 || a.EarnedMinutes != 900 {
		t.Fatalf("account %+v", a)
	}
	e.reconcileClean(t)
}
