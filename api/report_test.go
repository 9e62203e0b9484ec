package api_test

import (
	"bytes"
	"fmt"
	"image/png"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"linli/internal/testutil"
	"linli/model"
	"linli/service"
)

// reportFixture is an org tree with a staff member on each community.
type reportFixture struct {
	w                      *testutil.World
	h                      *testutil.Harness
	tree                   *testutil.Tree
	staffA, staffB, staffC testutil.Login
}

func newReportFixture(t *testing.T, opts ...testutil.Option) *reportFixture {
	t.Helper()
	w := testutil.NewWorld(t, opts...)
	w.Router = testutil.NewDocChecker(t, w.Router, isReportPath) // every answer must match docs/openapi.yaml
	f := &reportFixture{w: w, h: w.Harness, tree: w.Tree}
	f.staffA = w.Staff("staffA", f.tree.CommunityA.ID)
	f.staffB = w.Staff("staffB", f.tree.CommunityB.ID)
	f.staffC = w.Staff("staffC", f.tree.CommunityC.ID)
	return f
}

// staffOf returns the staff login of a community of the fixture.
func (f *reportFixture) staffOf(communityID int64) testutil.Login {
	switch communityID {
	case f.tree.CommunityA.ID:
		return f.staffA
	case f.tree.CommunityB.ID:
		return f.staffB
	}
	return f.staffC
}

// submitReport files a report and returns its id.
func (f *reportFixture) submitReport(t *testing.T, who testutil.Login, communityID int64, mode string, unitID *int64) int64 {
	t.Helper()
	body := map[string]any{"communityId": communityID, "realName": "张三丰", "phone": "13812345678",
		"branch": "机关第一党支部", "mode": mode}
	if unitID != nil {
		body["unitId"] = *unitID
	} else {
		body["unitName"] = "某某公司"
	}
	res := f.h.Do("POST", "/member-reports", body, who.AccessToken).Expect(t, 201, 0)
	var r struct{ ID int64 }
	res.Decode(t, &r)
	return r.ID
}

// member signs in a new user and makes them an approved Party member of the
// community.
func (f *reportFixture) member(t *testing.T, communityID int64, mode string, unitID *int64) testutil.Login {
	t.Helper()
	m := f.h.MustLogin(testutil.UniqueOpenID("member"))
	id := f.submitReport(t, m, communityID, mode, unitID)
	f.h.Do("POST", fmt.Sprintf("/member-reports/%d/approve", id), nil, f.staffOf(communityID).AccessToken).Expect(t, 200, 0)
	return m
}

// unit registers a unit in the community, has it approved and returns its
// id and its liaison (the creator).
func (f *reportFixture) unit(t *testing.T, communityID int64, name string) (int64, testutil.Login) {
	t.Helper()
	liaison := f.h.MustLogin(testutil.UniqueOpenID("liaison"))
	res := f.h.Do("POST", "/units", map[string]any{"name": name, "kind": "国企", "partyOrg": name + "党委",
		"communityId": communityID, "contactName": "李四", "contactPhone": "13900001111"}, liaison.AccessToken).Expect(t, 201, 0)
	var u struct {
		ID     int64
		Status string
	}
	res.Decode(t, &u)
	if u.Status != "pending" {
		t.Fatalf("new unit status %q", u.Status)
	}
	f.h.Do("POST", fmt.Sprintf("/units/%d/approve", u.ID), nil, f.staffOf(communityID).AccessToken).Expect(t, 200, 0)
	return u.ID, liaison
}

// record logs a service at a moment and has it approved; it returns its id.
func (f *reportFixture) record(t *testing.T, m testutil.Login, communityID int64, kind string, at time.Time, postID *int64) int64 {
	t.Helper()
	body := map[string]any{"kind": kind, "occurredAt": at.Format(time.RFC3339), "minutes": 60, "note": "服务"}
	if postID != nil {
		body["postId"] = *postID
	}
	res := f.h.Do("POST", "/services", body, m.AccessToken).Expect(t, 201, 0)
	var r struct{ ID int64 }
	res.Decode(t, &r)
	f.h.Do("POST", fmt.Sprintf("/services/%d/approve", r.ID), nil, f.staffOf(communityID).AccessToken).Expect(t, 200, 0)
	return r.ID
}

type roleView struct {
	Role   string
	OrgID  int64
	UnitID *int64
}

func meRoles(t *testing.T, h *testutil.Harness, who testutil.Login) []roleView {
	t.Helper()
	var me struct{ Roles []roleView }
	h.Do("GET", "/me", nil, who.AccessToken).Expect(t, 200, 0).Decode(t, &me)
	return me.Roles
}

func hasRole(roles []roleView, role string, orgID int64) bool {
	for _, r := range roles {
		if r.Role == role && r.OrgID == orgID {
			return true
		}
	}
	return false
}

// quarters returns the current quarter's start in the configured zone and
// the names of the previous and the current quarter.
func quarters(h *testutil.Harness) (time.Time, string, string) {
	loc := h.Config.Location
	now := h.Clock.Now().In(loc)
	q := (int(now.Month())-1)/3 + 1
	start := time.Date(now.Year(), time.Month((q-1)*3+1), 1, 0, 0, 0, 0, loc)
	prev := start.AddDate(0, -3, 0)
	name := func(t time.Time) string { return fmt.Sprintf("%dQ%d", t.Year(), (int(t.Month())-1)/3+1) }
	return start, name(prev), name(start)
}

func TestReportApproveGrantsPartyMember(t *testing.T) {
	f := newReportFixture(t)
	h := f.h
	m := h.MustLogin(testutil.UniqueOpenID("m"))
	id := f.submitReport(t, m, f.tree.CommunityA.ID, "daily", nil)
	if hasRole(meRoles(t, h, m), "party_member", f.tree.CommunityA.ID) {
		t.Fatal("party_member before approval")
	}
	// A second report while one is pending is refused.
	h.Do("POST", "/member-reports", map[string]any{"communityId": f.tree.CommunityB.ID, "realName": "张三", "phone": "13812345678",
		"unitName": "x", "branch": "b", "mode": "daily"}, m.AccessToken).Expect(t, 409, service.CodeReportPending)
	// Staff of another community may not approve it.
	h.Do("POST", fmt.Sprintf("/member-reports/%d/approve", id), nil, f.staffC.AccessToken).Expect(t, 403, service.CodeForbidden)
	h.Do("POST", fmt.Sprintf("/member-reports/%d/approve", id), nil, f.staffA.AccessToken).Expect(t, 200, 0)
	h.Do("POST", fmt.Sprintf("/member-reports/%d/approve", id), nil, f.staffA.AccessToken).Expect(t, 409, service.CodeAlreadyReviewed)
	if !hasRole(meRoles(t, h, m), "party_member", f.tree.CommunityA.ID) {
		t.Fatalf("party_member missing after approval: %+v", meRoles(t, h, m))
	}
	// The approved member may now claim a published wish of the street.
	poster := h.MustLogin(testutil.UniqueOpenID("poster"))
	h.MustSetHome(poster.UserID, f.tree.CommunityA.ID)
	var wish struct{ ID int64 }
	h.Do("POST", "/wishes", map[string]any{"title": "修水管", "content": "家里水管漏水，需要帮忙修理", "category": "维修",
		"contactPhone": "13800001111", "address": "3 栋 2 单元", "communityId": f.tree.CommunityA.ID}, poster.AccessToken).
		Expect(t, 201, 0).Decode(t, &wish)
	h.Do("POST", fmt.Sprintf("/wishes/%d/approve", wish.ID), nil, f.staffA.AccessToken).Expect(t, 200, 0)
	h.Do("POST", fmt.Sprintf("/wishes/%d/claim", wish.ID), nil, m.AccessToken).Expect(t, 200, 0)

	// Reporting again to the same community is refused.
	h.Do("POST", "/member-reports", map[string]any{"communityId": f.tree.CommunityA.ID, "realName": "张三", "phone": "13812345678",
		"unitName": "x", "branch": "b", "mode": "daily"}, m.AccessToken).Expect(t, 409, service.CodeAlreadyReported)

	// A rejected report grants nothing; a rejection needs a reason.
	r := h.MustLogin(testutil.UniqueOpenID("r"))
	rid := f.submitReport(t, r, f.tree.CommunityA.ID, "centralized", nil)
	h.Do("POST", fmt.Sprintf("/member-reports/%d/reject", rid), map[string]any{}, f.staffA.AccessToken).Expect(t, 400, service.CodeInvalid)
	h.Do("POST", fmt.Sprintf("/member-reports/%d/reject", rid), map[string]any{"reason": "信息不实"}, f.staffA.AccessToken).Expect(t, 200, 0)
	for _, role := range meRoles(t, h, r) {
		if role.Role == "party_member" {
			t.Fatalf("rejected report granted %+v", role)
		}
	}
	h.Do("POST", "/services", map[string]any{"kind": "contact_help", "occurredOn": h.Clock.Now().In(h.Config.Location).Format("2006-01-02"),
		"minutes": 30}, r.AccessToken).Expect(t, 403, service.CodeNotReported)
	h.Do("GET", "/me/obligations", nil, r.AccessToken).Expect(t, 403, service.CodeNotReported)
	var other struct{ ID int64 }
	h.Do("POST", "/wishes", map[string]any{"title": "换灯泡", "content": "楼道灯坏了，需要帮忙更换", "category": "维修",
		"contactPhone": "13800001111", "address": "3 栋", "communityId": f.tree.CommunityA.ID}, poster.AccessToken).
		Expect(t, 201, 0).Decode(t, &other)
	h.Do("POST", fmt.Sprintf("/wishes/%d/approve", other.ID), nil, f.staffA.AccessToken).Expect(t, 200, 0)
	h.Do("POST", fmt.Sprintf("/wishes/%d/claim", other.ID), nil, r.AccessToken).Expect(t, 403, service.CodeWishNotEligible)
	var mine struct {
		List []struct{ Status, RejectReason string }
	}
	h.Do("GET", "/member-reports/mine", nil, r.AccessToken).Expect(t, 200, 0).Decode(t, &mine)
	if len(mine.List) != 1 || mine.List[0].Status != "rejected" || mine.List[0].RejectReason != "信息不实" {
		t.Fatalf("mine = %+v", mine)
	}
	// The staff queue lists pending and approved reports of the community.
	var queue struct {
		List  []struct{ ID int64 }
		Total int64
	}
	h.Do("GET", fmt.Sprintf("/member-reports?communityId=%d&status=approved", f.tree.CommunityA.ID), nil, f.staffA.AccessToken).Expect(t, 200, 0).Decode(t, &queue)
	if queue.Total != 1 || queue.List[0].ID != id {
		t.Fatalf("queue = %+v", queue)
	}
	h.Do("GET", fmt.Sprintf("/member-reports?communityId=%d", f.tree.CommunityA.ID), nil, f.staffC.AccessToken).Expect(t, 403, service.CodeForbidden)
}

func TestReportMovingCommunityClosesOldReport(t *testing.T) {
	f := newReportFixture(t)
	h := f.h
	m := f.member(t, f.tree.CommunityA.ID, "daily", nil)
	// The member holds a post in A.
	var post struct{ ID int64 }
	h.Do("POST", "/posts", map[string]any{"communityId": f.tree.CommunityA.ID, "name": "楼栋长", "capacity": 2}, f.staffA.AccessToken).
		Expect(t, 201, 0).Decode(t, &post)
	h.Do("POST", fmt.Sprintf("/posts/%d/claim", post.ID), nil, m.AccessToken).Expect(t, 200, 0)

	newID := f.submitReport(t, m, f.tree.CommunityB.ID, "centralized", nil)
	roles := meRoles(t, h, m)
	if !hasRole(roles, "party_member", f.tree.CommunityA.ID) || hasRole(roles, "party_member", f.tree.CommunityB.ID) {
		t.Fatalf("while the move is pending: %+v", roles)
	}
	h.Do("POST", fmt.Sprintf("/member-reports/%d/approve", newID), nil, f.staffB.AccessToken).Expect(t, 200, 0)
	roles = meRoles(t, h, m)
	if hasRole(roles, "party_member", f.tree.CommunityA.ID) || !hasRole(roles, "party_member", f.tree.CommunityB.ID) {
		t.Fatalf("after the move: %+v", roles)
	}
	var mine struct {
		List []struct {
			ID          int64
			CommunityID int64
			Status      string
			Active      bool
			ClosedAt    *time.Time
		}
	}
	h.Do("GET", "/member-reports/mine", nil, m.AccessToken).Expect(t, 200, 0).Decode(t, &mine)
	if len(mine.List) != 2 {
		t.Fatalf("history = %+v", mine.List)
	}
	if n, o := mine.List[0], mine.List[1]; n.ID != newID || n.Status != "approved" || !n.Active ||
		o.CommunityID != f.tree.CommunityA.ID || o.Status != "closed" || o.Active || o.ClosedAt == nil {
		t.Fatalf("history = %+v", mine.List)
	}
	// The post of the old community was released.
	var p model.Post
	h.DB.First(&p, post.ID)
	if p.Taken != 0 || h.Count(&model.PostClaim{}, "post_id = ? AND active_user_id IS NOT NULL", post.ID) != 0 {
		t.Fatalf("post after move: taken %d", p.Taken)
	}
	// Withdrawing ends the role; withdrawing again is refused.
	h.Do("POST", fmt.Sprintf("/member-reports/%d/withdraw", newID), nil, f.staffB.AccessToken).Expect(t, 404, service.CodeNotFound)
	h.Do("POST", fmt.Sprintf("/member-reports/%d/withdraw", newID), nil, m.AccessToken).Expect(t, 200, 0)
	h.Do("POST", fmt.Sprintf("/member-reports/%d/withdraw", newID), nil, m.AccessToken).Expect(t, 409, service.CodeReportNotWithdraw)
	for _, r := range meRoles(t, h, m) {
		if r.Role == "party_member" {
			t.Fatalf("party_member after withdrawal: %+v", r)
		}
	}
}

func TestReportUnitsLiaisonsAgreements(t *testing.T) {
	f := newReportFixture(t)
	h := f.h
	creator := h.MustLogin(testutil.UniqueOpenID("creator"))
	before := h.Count(&model.Unit{}, "created_by = ?", creator.UserID)
	for _, body := range []map[string]any{
		{"name": "某局", "kind": "外企", "partyOrg": "党委", "communityId": f.tree.CommunityA.ID, "contactName": "李", "contactPhone": "13900001111"},
		{"name": "某局", "kind": "机关", "partyOrg": "党委", "communityId": f.tree.CommunityA.ID, "contactName": "李", "contactPhone": "12345"},
		{"name": "某局", "kind": "机关", "partyOrg": "党委", "communityId": f.tree.Street.ID, "contactName": "李", "contactPhone": "13900001111"},
		{"name": "", "kind": "机关", "partyOrg": "党委", "communityId": f.tree.CommunityA.ID, "contactName": "李", "contactPhone": "13900001111"},
	} {
		h.Do("POST", "/units", body, creator.AccessToken).Expect(t, 400, service.CodeInvalid)
	}
	h.Do("POST", "/units", map[string]any{"name": "某局", "kind": "机关", "partyOrg": "党委", "communityId": 999999999,
		"contactName": "李", "contactPhone": "13900001111"}, creator.AccessToken).Expect(t, 404, service.CodeNotFound)
	if h.Count(&model.Unit{}, "created_by = ?", creator.UserID) != before {
		t.Fatal("bad input wrote a unit")
	}
	var u struct{ ID int64 }
	h.Do("POST", "/units", map[string]any{"name": "区税务局", "kind": "机关", "partyOrg": "区税务局党委", "communityId": f.tree.CommunityA.ID,
		"contactName": "李四", "contactPhone": "13900001111"}, creator.AccessToken).Expect(t, 201, 0).Decode(t, &u)
	// Pending units are not listed publicly; staff see them.
	var list struct{ Total int64 }
	other := h.MustLogin(testutil.UniqueOpenID("other"))
	h.Do("GET", fmt.Sprintf("/units?communityId=%d", f.tree.CommunityA.ID), nil, other.AccessToken).Expect(t, 200, 0).Decode(t, &list)
	if list.Total != 0 {
		t.Fatalf("pending unit listed publicly: %d", list.Total)
	}
	h.Do("GET", fmt.Sprintf("/units?communityId=%d&status=pending", f.tree.CommunityA.ID), nil, f.staffA.AccessToken).Expect(t, 200, 0).Decode(t, &list)
	if list.Total != 1 {
		t.Fatalf("staff queue total %d", list.Total)
	}
	h.Do("GET", fmt.Sprintf("/units?communityId=%d&status=pending", f.tree.CommunityA.ID), nil, other.AccessToken).Expect(t, 403, service.CodeForbidden)
	// Adding a liaison before approval is refused.
	h.Do("POST", fmt.Sprintf("/units/%d/liaisons", u.ID), map[string]any{"userId": other.UserID}, f.staffA.AccessToken).Expect(t, 409, service.CodeUnitNotApproved)
	h.Do("POST", fmt.Sprintf("/units/%d/reject", u.ID), map[string]any{"reason": ""}, f.staffA.AccessToken).Expect(t, 400, service.CodeInvalid)
	h.Do("POST", fmt.Sprintf("/units/%d/approve", u.ID), nil, f.staffB.AccessToken).Expect(t, 403, service.CodeForbidden)
	h.Do("POST", fmt.Sprintf("/units/%d/approve", u.ID), nil, f.staffA.AccessToken).Expect(t, 200, 0)
	h.Do("POST", fmt.Sprintf("/units/%d/reject", u.ID), map[string]any{"reason": "晚了"}, f.staffA.AccessToken).Expect(t, 409, service.CodeAlreadyReviewed)
	roles := meRoles(t, h, creator)
	found := false
	for _, r := range roles {
		found = found || (r.Role == "unit_liaison" && r.OrgID == f.tree.CommunityA.ID && r.UnitID != nil && *r.UnitID == u.ID)
	}
	if !found {
		t.Fatalf("unit_liaison role missing: %+v", roles)
	}
	// Public view masks the contact; the liaison sees it.
	var pub, full struct{ ContactPhone string }
	h.Do("GET", fmt.Sprintf("/units/%d", u.ID), nil, other.AccessToken).Expect(t, 200, 0).Decode(t, &pub)
	h.Do("GET", fmt.Sprintf("/units/%d", u.ID), nil, creator.AccessToken).Expect(t, 200, 0).Decode(t, &full)
	if pub.ContactPhone != "139****1111" || full.ContactPhone != "13900001111" {
		t.Fatalf("contact public %q full %q", pub.ContactPhone, full.ContactPhone)
	}
	// A liaison adds a second liaison; a third is refused; strangers may not add.
	second := h.MustLogin(testutil.UniqueOpenID("second"))
	third := h.MustLogin(testutil.UniqueOpenID("third"))
	h.Do("POST", fmt.Sprintf("/units/%d/liaisons", u.ID), map[string]any{"userId": third.UserID}, other.AccessToken).Expect(t, 403, service.CodeNotLiaison)
	h.Do("POST", fmt.Sprintf("/units/%d/liaisons", u.ID), map[string]any{"userId": creator.UserID}, creator.AccessToken).Expect(t, 409, service.CodeConflict)
	h.Do("POST", fmt.Sprintf("/units/%d/liaisons", u.ID), map[string]any{"userId": second.UserID}, creator.AccessToken).Expect(t, 201, 0)
	h.Do("POST", fmt.Sprintf("/units/%d/liaisons", u.ID), map[string]any{"userId": third.UserID}, second.AccessToken).Expect(t, 409, service.CodeLiaisonLimit)
	var mineUnits struct{ List []struct{ ID int64 } }
	h.Do("GET", "/units/mine", nil, second.AccessToken).Expect(t, 200, 0).Decode(t, &mineUnits)
	if len(mineUnits.List) != 1 || mineUnits.List[0].ID != u.ID {
		t.Fatalf("second liaison's units %+v", mineUnits)
	}
	if n := h.Count(&model.UnitLiaison{}, "unit_id = ?", u.ID); n != 2 {
		t.Fatalf("liaisons = %d", n)
	}
	if !hasRole(meRoles(t, h, second), "unit_liaison", f.tree.CommunityA.ID) {
		t.Fatal("second liaison has no role")
	}

	// Co-building agreement: 商约 → 签约 → 履约 → 评约, one step at a time, by staff.
	body := map[string]any{"scope": "共建文明社区", "startOn": "2026-01-01", "endOn": "2026-12-31"}
	h.Do("POST", fmt.Sprintf("/units/%d/agreements", u.ID), map[string]any{"scope": "x", "startOn": "2026-12-31", "endOn": "2026-01-01"},
		f.staffA.AccessToken).Expect(t, 400, service.CodeInvalid)
	h.Do("POST", fmt.Sprintf("/units/%d/agreements", u.ID), body, creator.AccessToken).Expect(t, 403, service.CodeForbidden)
	var a struct {
		ID          int64
		Status      string
		StatusLabel string
	}
	h.Do("POST", fmt.Sprintf("/units/%d/agreements", u.ID), body, f.staffA.AccessToken).Expect(t, 201, 0).Decode(t, &a)
	if a.Status != "negotiating" || a.StatusLabel != "商约" {
		t.Fatalf("agreement = %+v", a)
	}
	h.Do("POST", fmt.Sprintf("/units/%d/agreements", u.ID), body, f.staffA.AccessToken).Expect(t, 409, service.CodeConflict)
	h.Do("POST", fmt.Sprintf("/agreements/%d/advance", a.ID), map[string]any{"status": "performing"}, f.staffA.AccessToken).Expect(t, 409, service.CodeAgreementStep)
	h.Do("POST", fmt.Sprintf("/agreements/%d/advance", a.ID), map[string]any{"status": "signed"}, f.staffB.AccessToken).Expect(t, 403, service.CodeForbidden)
	for _, st := range []string{"signed", "performing", "evaluated"} {
		h.Do("POST", fmt.Sprintf("/agreements/%d/advance", a.ID), map[string]any{"status": st}, f.staffA.AccessToken).Expect(t, 200, 0)
	}
	h.Do("POST", fmt.Sprintf("/agreements/%d/advance", a.ID), map[string]any{"status": "evaluated"}, f.staffA.AccessToken).Expect(t, 409, service.CodeAgreementStep)
	var agreements struct{ List []struct{ Status string } }
	h.Do("GET", fmt.Sprintf("/units/%d/agreements", u.ID), nil, other.AccessToken).Expect(t, 200, 0).Decode(t, &agreements)
	if len(agreements.List) != 1 || agreements.List[0].Status != "evaluated" {
		t.Fatalf("agreements = %+v", agreements)
	}
}

func TestReportPostClaimsNeverOverCapacity(t *testing.T) {
	f := newReportFixture(t)
	h := f.h
	var post struct{ ID int64 }
	h.Do("POST", "/posts", map[string]any{"communityId": f.tree.CommunityA.ID, "name": "垃圾分类督导", "capacity": 0}, f.staffA.AccessToken).Expect(t, 400, service.CodeInvalid)
	h.Do("POST", "/posts", map[string]any{"communityId": f.tree.CommunityA.ID, "name": "垃圾分类督导", "capacity": 5}, f.staffC.AccessToken).Expect(t, 403, service.CodeForbidden)
	h.Do("POST", "/posts", map[string]any{"communityId": f.tree.CommunityA.ID, "name": "垃圾分类督导", "capacity": 5}, f.staffA.AccessToken).
		Expect(t, 201, 0).Decode(t, &post)

	const n = 30
	members := make([]testutil.Login, n)
	for i := range members {
		members[i] = f.member(t, f.tree.CommunityA.ID, "centralized", nil)
	}
	_, second := h.NewInstance()
	routers := []http.Handler{h.Router, second}
	statuses := testutil.RaceSend(t, n, func(i int) (http.Handler, testutil.Request) {
		return routers[i%2], testutil.Request{Method: "POST",
			Path: fmt.Sprintf("/posts/%d/claim", post.ID), Token: members[i].AccessToken}
	})
	won, full := 0, 0
	var winner testutil.Login
	for i, r := range statuses {
		switch {
		case r.Status == 200 && r.Code == 0:
			won++
			winner = members[i]
		case r.Status == 409 && r.Code == service.CodePostFull:
			full++
		default:
			t.Fatalf("unexpected answer %d %d: %s", r.Status, r.Code, r.Raw)
		}
	}
	var p model.Post
	h.DB.First(&p, post.ID)
	active := h.Count(&model.PostClaim{}, "post_id = ? AND active_user_id IS NOT NULL", post.ID)
	if won != 5 || full != n-5 || p.Taken != 5 || active != 5 {
		t.Fatalf("won %d full %d taken %d active claims %d", won, full, p.Taken, active)
	}
	// Never twice; release frees a place once.
	h.Do("POST", fmt.Sprintf("/posts/%d/claim", post.ID), nil, winner.AccessToken).Expect(t, 409, service.CodePostClaimed)
	h.Do("POST", fmt.Sprintf("/posts/%d/release", post.ID), nil, winner.AccessToken).Expect(t, 200, 0)
	h.Do("POST", fmt.Sprintf("/posts/%d/release", post.ID), nil, winner.AccessToken).Expect(t, 409, service.CodePostNotClaimed)
	var held struct{ List []struct{ ID int64 } }
	h.Do("GET", "/posts/mine", nil, winner.AccessToken).Expect(t, 200, 0).Decode(t, &held)
	if len(held.List) != 0 {
		t.Fatalf("released post still listed: %+v", held)
	}
	var listed struct {
		List []struct {
			ID    int64
			Taken int
		}
	}
	h.Do("GET", fmt.Sprintf("/posts?communityId=%d", f.tree.CommunityA.ID), nil, winner.AccessToken).Expect(t, 200, 0).Decode(t, &listed)
	if len(listed.List) != 1 || listed.List[0].Taken != 4 {
		t.Fatalf("posts %+v", listed)
	}
	h.DB.First(&p, post.ID)
	if p.Taken != 4 {
		t.Fatalf("taken after release = %d", p.Taken)
	}
	var holders struct{ List []struct{ RealName string } }
	h.Do("GET", fmt.Sprintf("/posts/%d/holders", post.ID), nil, f.staffA.AccessToken).Expect(t, 200, 0).Decode(t, &holders)
	if len(holders.List) != 4 || holders.List[0].RealName == "" {
		t.Fatalf("holders = %+v", holders)
	}
	h.Do("GET", fmt.Sprintf("/posts/%d/holders", post.ID), nil, f.staffB.AccessToken).Expect(t, 403, service.CodeForbidden)
	// A member of another community may not claim it.
	outsider := f.member(t, f.tree.CommunityB.ID, "daily", nil)
	h.Do("POST", fmt.Sprintf("/posts/%d/claim", post.ID), nil, outsider.AccessToken).Expect(t, 403, service.CodeForbidden)
	h.Do("POST", "/posts/999999999/claim", nil, outsider.AccessToken).Expect(t, 404, service.CodeNotFound)
}

func TestReportServiceRecords(t *testing.T) {
	f := newReportFixture(t)
	h := f.h
	m := f.member(t, f.tree.CommunityA.ID, "daily", nil)
	loc := h.Config.Location
	today := h.Clock.Now().In(loc)
	day := func(d int) string { return today.AddDate(0, 0, d).Format("2006-01-02") }
	var post struct{ ID int64 }
	h.Do("POST", "/posts", map[string]any{"communityId": f.tree.CommunityA.ID, "name": "网格协管员", "capacity": 3}, f.staffA.AccessToken).
		Expect(t, 201, 0).Decode(t, &post)

	before := h.Count(&model.ServiceRecord{}, "user_id = ?", m.UserID)
	for _, c := range []struct {
		body   map[string]any
		status int
		code   int
	}{
		{map[string]any{"kind": "cooking", "occurredOn": day(0), "minutes": 30}, 400, service.CodeInvalid},
		{map[string]any{"kind": "contact_help", "occurredOn": day(1), "minutes": 30}, 400, service.CodeInvalid},
		{map[string]any{"kind": "contact_help", "occurredOn": day(-61), "minutes": 30}, 400, service.CodeInvalid},
		{map[string]any{"kind": "contact_help", "occurredOn": "2026/01/01", "minutes": 30}, 400, service.CodeInvalid},
		{map[string]any{"kind": "contact_help", "minutes": 30}, 400, service.CodeInvalid},
		{map[string]any{"kind": "contact_help", "occurredOn": day(0), "minutes": 0}, 400, service.CodeInvalid},
		{map[string]any{"kind": "contact_help", "occurredOn": day(0), "minutes": 721}, 400, service.CodeInvalid},
		{map[string]any{"kind": "contact_help", "occurredOn": day(0), "minutes": "30"}, 400, service.CodeInvalid},
		{map[string]any{"kind": "contact_help", "occurredOn": day(0), "minutes": 30, "note": strings.Repeat("字", 501)}, 400, service.CodeInvalid},
		{map[string]any{"kind": "contact_help", "occurredOn": day(0), "minutes": 30, "postId": post.ID}, 400, service.CodeInvalid},
		{map[string]any{"kind": "post_duty", "occurredOn": day(0), "minutes": 30}, 400, service.CodeInvalid},
		{map[string]any{"kind": "post_duty", "occurredOn": day(0), "minutes": 30, "postId": post.ID}, 409, service.CodePostNotClaimed},
	} {
		h.Do("POST", "/services", c.body, m.AccessToken).Expect(t, c.status, c.code)
	}
	if after := h.Count(&model.ServiceRecord{}, "user_id = ?", m.UserID); after != before {
		t.Fatalf("bad input wrote %d records", after-before)
	}

	// A record 60 days back is accepted; a post_duty record names a held post.
	h.Do("POST", "/services", map[string]any{"kind": "contact_help", "occurredOn": day(-60), "minutes": 30}, m.AccessToken).Expect(t, 201, 0)
	h.Do("POST", fmt.Sprintf("/posts/%d/claim", post.ID), nil, m.AccessToken).Expect(t, 200, 0)
	var rec struct {
		ID     int64
		Status string
	}
	var photos [2]struct{ ID int64 }
	for i := range photos {
		h.Upload(m.AccessToken, "duty.jpg", testutil.JPEG()).Expect(t, 201, 0).Decode(t, &photos[i])
	}
	h.Do("POST", "/services", map[string]any{"kind": "post_duty", "occurredOn": day(0), "minutes": 90, "note": "值守",
		"images": []int64{photos[0].ID, photos[1].ID}, "postId": post.ID}, m.AccessToken).Expect(t, 201, 0).Decode(t, &rec)
	if rec.Status != "pending" {
		t.Fatalf("new record %+v", rec)
	}
	var mine struct {
		Total int64
		List  []struct{ Images []struct{ ID int64 } }
	}
	h.Do("GET", "/services/mine", nil, m.AccessToken).Expect(t, 200, 0).Decode(t, &mine)
	if mine.Total != 2 || len(mine.List[0].Images) != 2 || mine.List[0].Images[0].ID != photos[0].ID {
		t.Fatalf("mine = %+v", mine)
	}
	var queue struct{ Total int64 }
	h.Do("GET", fmt.Sprintf("/services?communityId=%d", f.tree.CommunityA.ID), nil, f.staffA.AccessToken).Expect(t, 200, 0).Decode(t, &queue)
	if queue.Total != 2 {
		t.Fatalf("pending queue = %d", queue.Total)
	}
	h.Do("GET", fmt.Sprintf("/services?communityId=%d", f.tree.CommunityA.ID), nil, f.staffC.AccessToken).Expect(t, 403, service.CodeForbidden)

	// Approval credits once: 90 minutes and 15 points (10 per hour).
	h.Do("POST", fmt.Sprintf("/services/%d/approve", rec.ID), nil, f.staffC.AccessToken).Expect(t, 403, service.CodeForbidden)
	results := testutil.RaceSend(t, 4, func(int) (http.Handler, testutil.Request) {
		return h.Router, testutil.Request{Method: "POST",
			Path: fmt.Sprintf("/services/%d/approve", rec.ID), Token: f.staffA.AccessToken}
	})
	ok := 0
	for _, r := range results {
		if r.Status == 200 {
			ok++
		} else if r.Status != 409 || r.Code != service.CodeAlreadyReviewed {
			t.Fatalf("approve answered %d %d: %s", r.Status, r.Code, r.Raw)
		}
	}
	if ok != 1 {
		t.Fatalf("%d approvals succeeded", ok)
	}
	balance := func(cur model.Currency) int64 {
		var a model.Account
		h.DB.Where("owner_kind = ? AND owner_id = ? AND currency = ?", model.OwnerUser, m.UserID, cur).Limit(1).Find(&a)
		return a.Balance
	}
	if mins, pts := balance(model.CurrencyMinutes), balance(model.CurrencyPoints); mins != 90 || pts != 15 {
		t.Fatalf("balances minutes %d points %d", mins, pts)
	}
	// Rejection needs a reason and credits nothing.
	var other struct{ ID int64 }
	h.Do("POST", "/services", map[string]any{"kind": "practical_deed", "occurredOn": day(0), "minutes": 30}, m.AccessToken).Expect(t, 201, 0).Decode(t, &other)
	h.Do("POST", fmt.Sprintf("/services/%d/reject", other.ID), map[string]any{"reason": " "}, f.staffA.AccessToken).Expect(t, 400, service.CodeInvalid)
	h.Do("POST", fmt.Sprintf("/services/%d/reject", other.ID), map[string]any{"reason": "无佐证"}, f.staffA.AccessToken).Expect(t, 200, 0)
	h.Do("POST", fmt.Sprintf("/services/%d/approve", other.ID), nil, f.staffA.AccessToken).Expect(t, 409, service.CodeAlreadyReviewed)
	h.Do("POST", "/services/999999999/approve", nil, f.staffA.AccessToken).Expect(t, 404, service.CodeNotFound)
	if mins := balance(model.CurrencyMinutes); mins != 90 {
		t.Fatalf("minutes after rejection %d", mins)
	}
}

func TestReportObligationsQuarterBoundaryAndMonths(t *testing.T) {
	f := newReportFixture(t, testutil.WithConfig(map[string]any{"report.service_max_age_days": 400}))
	h := f.h
	qStart, prev, cur := quarters(h)
	m := f.member(t, f.tree.CommunityA.ID, "centralized", nil)
	// The last second of the previous quarter and the first of this one, in Asia/Shanghai.
	f.record(t, m, f.tree.CommunityA.ID, "contact_help", qStart.Add(-time.Second), nil)
	f.record(t, m, f.tree.CommunityA.ID, "contact_help", qStart, nil)

	type view struct {
		Period string
		Items  []struct {
			Kind           string
			Required, Done int
		}
		Months []struct {
			Month          string
			Required, Done int
		}
		Compliant bool
	}
	var p, c view
	h.Do("GET", "/me/obligations?period="+prev, nil, m.AccessToken).Expect(t, 200, 0).Decode(t, &p)
	h.Do("GET", "/me/obligations?period="+strings.ToLower(cur), nil, m.AccessToken).Expect(t, 200, 0).Decode(t, &c)
	if p.Period != prev || p.Items[0].Kind != "contact_help" || p.Items[0].Done != 1 || p.Months[2].Done != 1 {
		t.Fatalf("previous quarter: %+v", p)
	}
	if c.Period != cur || c.Items[0].Done != 1 || c.Months[0].Done != 1 || c.Compliant {
		t.Fatalf("current quarter: %+v", c)
	}
	var def view
	h.Do("GET", "/me/obligations", nil, m.AccessToken).Expect(t, 200, 0).Decode(t, &def)
	if def.Period != cur {
		t.Fatalf("default period %q", def.Period)
	}
	for _, bad := range []string{"2026Q5", "2026-10", "Q4", "20264"} {
		h.Do("GET", "/me/obligations?period="+bad, nil, m.AccessToken).Expect(t, 400, service.CodeInvalid)
	}

	// Previous quarter: both members did every kind in months 1 and 3, none in
	// month 2. The centralized one complies; the daily one does not.
	prevStart := qStart.AddDate(0, -3, 0)
	daily := f.member(t, f.tree.CommunityB.ID, "daily", nil)
	central := f.member(t, f.tree.CommunityB.ID, "centralized", nil)
	for _, who := range []testutil.Login{daily, central} {
		for i, kind := range []string{"contact_help", "public_activity", "practical_deed"} {
			f.record(t, who, f.tree.CommunityB.ID, kind, prevStart.AddDate(0, 0, 10+i), nil)
		}
		f.record(t, who, f.tree.CommunityB.ID, "contact_help", prevStart.AddDate(0, 2, 5), nil)
	}
	// post_duty needs a held post; use direct approved records for it (as
	// another area would create them) to keep the clock where it is.
	for _, who := range []testutil.Login{daily, central} {
		key := fmt.Sprintf("test:%d", who.UserID)
		h.DB.Create(&model.ServiceRecord{UserID: who.UserID, CommunityID: f.tree.CommunityB.ID, Kind: model.ServicePostDuty,
			OccurredAt: prevStart.AddDate(0, 2, 20).UTC(), Minutes: 30, Status: model.RecordApproved, SourceKey: &key})
	}
	var dv, cv view
	h.Do("GET", "/me/obligations?period="+prev, nil, daily.AccessToken).Expect(t, 200, 0).Decode(t, &dv)
	h.Do("GET", "/me/obligations?period="+prev, nil, central.AccessToken).Expect(t, 200, 0).Decode(t, &cv)
	if dv.Compliant || dv.Months[1].Done != 0 || dv.Months[1].Required != 1 || dv.Months[0].Done != 3 {
		t.Fatalf("daily member: %+v", dv)
	}
	if !cv.Compliant || cv.Months[1].Required != 0 {
		t.Fatalf("centralized member: %+v", cv)
	}

	// Staff of the street see all three; compliant=false lists the two behind.
	type row struct {
		UserID    int64
		RealName  string
		Compliant bool
		Records   int
	}
	var all struct {
		Summary struct{ Total, Compliant int64 }
		Total   int64
		List    []row
	}
	streetStaff := h.MustLogin(testutil.UniqueOpenID("street"))
	h.MustMakeStaff(streetStaff.UserID, f.tree.Street.ID, model.RoleStaff)
	h.Do("GET", fmt.Sprintf("/admin/obligations?orgId=%d&period=%s", f.tree.Street.ID, prev), nil, streetStaff.AccessToken).Expect(t, 200, 0).Decode(t, &all)
	if all.Total != 3 || all.Summary.Total != 3 || all.Summary.Compliant != 1 || all.List[0].Compliant || !all.List[2].Compliant {
		t.Fatalf("street view: %+v", all)
	}
	var behind struct {
		Total int64
		List  []row
	}
	h.Do("GET", fmt.Sprintf("/admin/obligations?orgId=%d&period=%s&compliant=false&sort=records&order=desc", f.tree.Street.ID, prev), nil,
		streetStaff.AccessToken).Expect(t, 200, 0).Decode(t, &behind)
	if behind.Total != 2 || behind.List[0].UserID != daily.UserID || behind.List[1].UserID != m.UserID {
		t.Fatalf("behind: %+v", behind)
	}
	var paged struct {
		Total int64
		List  []row
	}
	h.Do("GET", fmt.Sprintf("/admin/obligations?orgId=%d&period=%s&pageSize=1&page=3", f.tree.Street.ID, prev), nil, streetStaff.AccessToken).
		Expect(t, 200, 0).Decode(t, &paged)
	if paged.Total != 3 || len(paged.List) != 1 {
		t.Fatalf("page 3: %+v", paged)
	}
	h.Do("GET", fmt.Sprintf("/admin/obligations?orgId=%d&period=%s&page=9", f.tree.Street.ID, prev), nil, streetStaff.AccessToken).
		Expect(t, 200, 0).Decode(t, &paged)
	if paged.Total != 3 || len(paged.List) != 0 {
		t.Fatalf("page 9: %+v", paged)
	}
	// Community staff see only their community; staff elsewhere are refused.
	h.Do("GET", fmt.Sprintf("/admin/obligations?orgId=%d&period=%s", f.tree.CommunityA.ID, prev), nil, f.staffA.AccessToken).Expect(t, 200, 0).Decode(t, &all)
	if all.Total != 1 || all.List[0].UserID != m.UserID {
		t.Fatalf("community A view: %+v", all)
	}
	h.Do("GET", fmt.Sprintf("/admin/obligations?orgId=%d", f.tree.Street.ID), nil, f.staffA.AccessToken).Expect(t, 403, service.CodeForbidden)
	h.Do("GET", fmt.Sprintf("/admin/obligations?orgId=%d&sort=phone", f.tree.Street.ID), nil, streetStaff.AccessToken).Expect(t, 400, service.CodeInvalid)
	h.Do("GET", fmt.Sprintf("/admin/obligations?orgId=%d&view=grid", f.tree.Street.ID), nil, streetStaff.AccessToken).Expect(t, 400, service.CodeInvalid)
	h.Do("GET", "/admin/obligations", nil, streetStaff.AccessToken).Expect(t, 400, service.CodeInvalid)
}

func TestReportThreeListsAndUnitObligation(t *testing.T) {
	f := newReportFixture(t)
	h := f.h
	unitID, liaison := f.unit(t, f.tree.CommunityA.ID, "区供电公司")
	// Both units reported to community A: a unit claims only needs of the
	// community it reported to (TestProjectClaimAreaAndConfirmation).
	otherUnit, otherLiaison := f.unit(t, f.tree.CommunityA.ID, "区医院")
	_, _, cur := quarters(h)

	var need struct{ ID int64 }
	h.Do("POST", "/needs", map[string]any{"communityId": f.tree.CommunityA.ID, "title": "老旧小区线路检修"}, liaison.AccessToken).Expect(t, 403, service.CodeForbidden)
	h.Do("POST", "/needs", map[string]any{"communityId": f.tree.CommunityA.ID, "title": ""}, f.staffA.AccessToken).Expect(t, 400, service.CodeInvalid)
	h.Do("POST", "/needs", map[string]any{"communityId": f.tree.CommunityA.ID, "title": "老旧小区线路检修", "content": "3 栋"}, f.staffA.AccessToken).
		Expect(t, 201, 0).Decode(t, &need)
	h.Do("POST", fmt.Sprintf("/needs/%d/claim", need.ID), map[string]any{"unitId": unitID}, otherLiaison.AccessToken).Expect(t, 403, service.CodeNotLiaison)

	// Two liaisons race for the need: exactly one project.
	racers := []struct {
		l    testutil.Login
		unit int64
	}{{liaison, unitID}, {otherLiaison, otherUnit}}
	res := testutil.RaceSend(t, len(racers), func(i int) (http.Handler, testutil.Request) {
		return h.Router, testutil.Request{Method: "POST", Path: fmt.Sprintf("/needs/%d/claim", need.ID),
			Body: map[string]any{"unitId": racers[i].unit}, Token: racers[i].l.AccessToken}
	})
	wins := 0
	for _, r := range res {
		if r.Status == 201 {
			wins++
		} else if r.Status != 409 || r.Code != service.CodeListItemClaimed {
			t.Fatalf("claim answered %d %d", r.Status, r.Code)
		}
	}
	if wins != 1 || h.Count(&model.Project{}, "need_id = ?", need.ID) != 1 {
		t.Fatalf("wins %d", wins)
	}

	var resource struct{ ID int64 }
	h.Do("POST", "/resources", map[string]any{"unitId": unitID, "title": "电工志愿服务队"}, otherLiaison.AccessToken).Expect(t, 403, service.CodeNotLiaison)
	h.Do("POST", "/resources", map[string]any{"unitId": unitID, "title": "电工志愿服务队"}, liaison.AccessToken).Expect(t, 201, 0).Decode(t, &resource)
	h.Do("POST", fmt.Sprintf("/resources/%d/claim", resource.ID), nil, f.staffB.AccessToken).Expect(t, 403, service.CodeForbidden)
	var project struct {
		ID     int64
		Status string
		UnitID int64
	}
	h.Do("POST", fmt.Sprintf("/resources/%d/claim", resource.ID), nil, f.staffA.AccessToken).Expect(t, 201, 0).Decode(t, &project)
	h.Do("POST", fmt.Sprintf("/resources/%d/claim", resource.ID), nil, f.staffA.AccessToken).Expect(t, 409, service.CodeListItemClaimed)
	if project.Status != "ongoing" || project.UnitID != unitID {
		t.Fatalf("project = %+v", project)
	}

	unitsView := func() (compliant bool, done int) {
		var v struct {
			List []struct {
				UnitID    int64
				Done      int
				Compliant bool
			}
		}
		h.Do("GET", fmt.Sprintf("/admin/obligations?orgId=%d&period=%s&view=units", f.tree.CommunityA.ID, cur), nil, f.staffA.AccessToken).
			Expect(t, 200, 0).Decode(t, &v)
		for _, u := range v.List {
			if u.UnitID == unitID {
				return u.Compliant, u.Done
			}
		}
		t.Fatalf("unit %d missing from %+v", unitID, v)
		return false, 0
	}
	if ok, done := unitsView(); ok || done != 0 {
		t.Fatalf("before completion: compliant %v done %d", ok, done)
	}
	today := h.Clock.Now().In(h.Config.Location).Format("2006-01-02")
	h.Do("POST", fmt.Sprintf("/projects/%d/complete", project.ID), map[string]any{"note": ""}, liaison.AccessToken).Expect(t, 400, service.CodeInvalid)
	h.Do("POST", fmt.Sprintf("/projects/%d/complete", project.ID), map[string]any{"note": "已完成", "completedOn": "2999-01-01"}, liaison.AccessToken).Expect(t, 400, service.CodeInvalid)
	h.Do("POST", fmt.Sprintf("/projects/%d/complete", project.ID), map[string]any{"note": "已完成"}, otherLiaison.AccessToken).Expect(t, 403, service.CodeForbidden)
	h.Do("POST", fmt.Sprintf("/projects/%d/complete", project.ID), map[string]any{"note": "检修完成", "completedOn": today}, liaison.AccessToken).Expect(t, 200, 0).Decode(t, &project)
	if project.Status != "awaiting_confirmation" {
		t.Fatalf("completed project = %+v", project)
	}
	h.Do("POST", fmt.Sprintf("/projects/%d/complete", project.ID), map[string]any{"note": "again"}, f.staffA.AccessToken).Expect(t, 409, service.CodeProjectDone)
	if ok, done := unitsView(); ok || done != 0 {
		t.Fatalf("completed, not confirmed: compliant %v done %d", ok, done)
	}
	h.Do("POST", fmt.Sprintf("/projects/%d/confirm", project.ID), nil, f.staffA.AccessToken).Expect(t, 200, 0)
	if ok, done := unitsView(); !ok || done != 1 {
		t.Fatalf("after confirmation: compliant %v done %d", ok, done)
	}
	var back struct {
		Obligation struct {
			Required, Projects, Done int
			Compliant                bool
		}
	}
	h.Do("GET", fmt.Sprintf("/units/%d/report?period=%s", unitID, cur), nil, liaison.AccessToken).Expect(t, 200, 0).Decode(t, &back)
	if o := back.Obligation; o.Required != 1 || o.Projects != 1 || o.Done != 1 || !o.Compliant {
		t.Fatalf("unit report obligation %+v", o)
	}
	var projects struct {
		Total int64
		List  []struct {
			Status, CompletionNote, CompletedOn, UnitName string
		}
	}
	h.Do("GET", fmt.Sprintf("/projects?communityId=%d", f.tree.CommunityA.ID), nil, otherLiaison.AccessToken).Expect(t, 200, 0).Decode(t, &projects)
	if projects.Total != 2 {
		t.Fatalf("projects = %+v", projects)
	}
	var done struct {
		List []struct{ Status, CompletionNote, CompletedOn, UnitName string }
	}
	h.Do("GET", fmt.Sprintf("/projects?communityId=%d&status=done", f.tree.CommunityA.ID), nil, liaison.AccessToken).Expect(t, 200, 0).Decode(t, &done)
	if len(done.List) != 1 || done.List[0].CompletionNote != "检修完成" || done.List[0].CompletedOn != today || done.List[0].UnitName != "区供电公司" {
		t.Fatalf("done projects = %+v", done)
	}
	h.Do("GET", "/projects", nil, liaison.AccessToken).Expect(t, 400, service.CodeInvalid)
	var needs struct{ List []struct{ Status string } }
	h.Do("GET", fmt.Sprintf("/needs?communityId=%d", f.tree.CommunityA.ID), nil, liaison.AccessToken).Expect(t, 200, 0).Decode(t, &needs)
	if len(needs.List) != 1 || needs.List[0].Status != "claimed" {
		t.Fatalf("needs = %+v", needs)
	}
}

func TestReportCertificate(t *testing.T) {
	f := newReportFixture(t, testutil.WithConfig(map[string]any{"report.service_max_age_days": 400}))
	h := f.h
	qStart, prev, cur := quarters(h)
	m := f.member(t, f.tree.CommunityA.ID, "centralized", nil)
	f.record(t, m, f.tree.CommunityA.ID, "contact_help", qStart.AddDate(0, -1, 3), nil)
	f.record(t, m, f.tree.CommunityA.ID, "practical_deed", qStart.AddDate(0, -2, 3), nil)

	h.Do("POST", "/me/certificates", map[string]any{"period": cur}, m.AccessToken).Expect(t, 409, service.CodePeriodNotEnded)
	h.Do("POST", "/me/certificates", map[string]any{"period": "2026Q9"}, m.AccessToken).Expect(t, 400, service.CodeInvalid)
	stranger := h.MustLogin(testutil.UniqueOpenID("stranger"))
	h.Do("POST", "/me/certificates", map[string]any{"period": prev}, stranger.AccessToken).Expect(t, 403, service.CodeNotReported)
	if n := h.Count(&model.Certificate{}, "user_id IN ?", []int64{m.UserID, stranger.UserID}); n != 0 {
		t.Fatalf("refused requests wrote %d certificates", n)
	}

	type cert struct {
		ID         int64
		Number     string
		VerifyCode string
		VerifyURL  string
		Content    struct {
			RealName     string
			TotalMinutes int
			Records      []struct{ Kind string }
			Compliant    bool
		}
	}
	var first, again cert
	h.Do("POST", "/me/certificates", map[string]any{"period": prev}, m.AccessToken).Expect(t, 201, 0).Decode(t, &first)
	if !regexp.MustCompile(`^LL-\d{4}Q[1-4]-\d{6}$`).MatchString(first.Number) || !strings.HasPrefix(first.Number, "LL-"+prev+"-") {
		t.Fatalf("number %q", first.Number)
	}
	if first.Content.RealName != "张三丰" || first.Content.TotalMinutes != 120 || len(first.Content.Records) != 2 || first.Content.Compliant {
		t.Fatalf("content %+v", first.Content)
	}
	if !strings.Contains(first.VerifyURL, "/api/v1/certificates/verify?number="+first.Number+"&code="+first.VerifyCode) {
		t.Fatalf("verify url %q", first.VerifyURL)
	}
	// The verify address never comes from the request's Host header
	// (httptest's is example.com): in dev mode it is this server's local
	// address from http.addr.
	if strings.Contains(first.VerifyURL, "example.com") || !strings.HasPrefix(first.VerifyURL, "http://127.0.0.1:") ||
		!strings.HasPrefix(first.VerifyURL, h.Config.Report.VerifyBaseURL+"?") {
		t.Fatalf("verify url %q does not use %q", first.VerifyURL, h.Config.Report.VerifyBaseURL)
	}
	// A record approved later does not change the frozen certificate.
	f.record(t, m, f.tree.CommunityA.ID, "public_activity", qStart.AddDate(0, -1, 5), nil)
	h.Do("POST", "/me/certificates", map[string]any{"period": prev}, m.AccessToken).Expect(t, 200, 0).Decode(t, &again)
	if again.Number != first.Number || again.VerifyCode != first.VerifyCode || again.Content.TotalMinutes != 120 {
		t.Fatalf("second issue %+v, first %+v", again, first)
	}
	if n := h.Count(&model.Certificate{}, "user_id = ?", m.UserID); n != 1 {
		t.Fatalf("%d certificates", n)
	}

	type check struct {
		Genuine bool
		Name    string
		Number  string
		Records int
	}
	verify := func(number, code string) check {
		var c check
		h.Do("GET", "/certificates/verify?number="+url.QueryEscape(number)+"&code="+url.QueryEscape(code), nil, "").Expect(t, 200, 0).Decode(t, &c)
		return c
	}
	if c := verify(first.Number, first.VerifyCode); !c.Genuine || c.Name != "张**" || c.Records != 2 {
		t.Fatalf("genuine check %+v", c)
	}
	if c := verify(first.Number, strings.ToLower(first.VerifyCode)); !c.Genuine {
		t.Fatal("lower-case code refused")
	}
	tampered := []byte(first.VerifyCode)
	tampered[0] ^= 1
	if c := verify(first.Number, string(tampered)); c.Genuine || c.Name != "" {
		t.Fatalf("tampered code accepted: %+v", c)
	}
	last := first.Number[len(first.Number)-1]
	otherNumber := first.Number[:len(first.Number)-1] + string("0123456789"[(int(last-'0')+1)%10])
	if c := verify(otherNumber, first.VerifyCode); c.Genuine {
		t.Fatalf("tampered number accepted: %+v", c)
	}
	h.Do("GET", "/certificates/verify?number="+first.Number, nil, "").Expect(t, 400, service.CodeInvalid)

	// QR code: a PNG for the holder only.
	res := testutil.Send(t, h.Router, testutil.Request{Method: "GET", Path: fmt.Sprintf("/me/certificates/%d/qrcode", first.ID), Token: m.AccessToken})
	if res.Status != 200 || res.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("qrcode %d %s", res.Status, res.Header.Get("Content-Type"))
	}
	img, err := png.Decode(bytes.NewReader(res.Raw))
	if err != nil || img.Bounds().Dx() != 256 {
		t.Fatalf("qrcode png: %v", err)
	}
	h.Do("GET", fmt.Sprintf("/me/certificates/%d/qrcode", first.ID), nil, stranger.AccessToken).Expect(t, 404, service.CodeNotFound)
	var list struct{ List []cert }
	h.Do("GET", "/me/certificates", nil, m.AccessToken).Expect(t, 200, 0).Decode(t, &list)
	if len(list.List) != 1 || list.List[0].Number != first.Number {
		t.Fatalf("my certificates %+v", list)
	}
}

func TestReportPrivacyAndUnitReport(t *testing.T) {
	f := newReportFixture(t, testutil.WithConfig(map[string]any{"report.service_max_age_days": 400}))
	h := f.h
	qStart, prev, _ := quarters(h)
	unitID, liaison := f.unit(t, f.tree.CommunityA.ID, "区财政局")
	_, otherLiaison := f.unit(t, f.tree.CommunityC.ID, "区医院")
	memberA := f.member(t, f.tree.CommunityA.ID, "daily", &unitID)
	memberB := f.member(t, f.tree.CommunityB.ID, "centralized", &unitID)
	f.record(t, memberA, f.tree.CommunityA.ID, "contact_help", qStart.AddDate(0, -1, 2), nil)
	f.record(t, memberB, f.tree.CommunityB.ID, "practical_deed", qStart.AddDate(0, -2, 2), nil)

	var mine struct{ List []struct{ ID int64 } }
	h.Do("GET", "/member-reports/mine", nil, memberA.AccessToken).Expect(t, 200, 0).Decode(t, &mine)
	reportID := mine.List[0].ID
	path := fmt.Sprintf("/member-reports/%d", reportID)
	stranger := h.MustLogin(testutil.UniqueOpenID("stranger"))
	for _, who := range []testutil.Login{f.staffC, f.staffB, otherLiaison, stranger, memberB} {
		h.Do("GET", path, nil, who.AccessToken).Expect(t, 403, service.CodeForbidden)
	}
	for _, who := range []testutil.Login{memberA, f.staffA, liaison} {
		var r struct{ RealName, Phone string }
		h.Do("GET", path, nil, who.AccessToken).Expect(t, 200, 0).Decode(t, &r)
		if r.RealName != "张三丰" || r.Phone != "13812345678" {
			t.Fatalf("report seen as %+v", r)
		}
	}
	h.Do("GET", "/member-reports/999999999", nil, f.staffA.AccessToken).Expect(t, 404, service.CodeNotFound)

	report := fmt.Sprintf("/units/%d/report?period=%s", unitID, prev)
	for _, who := range []testutil.Login{f.staffC, otherLiaison, stranger, memberA} {
		h.Do("GET", report, nil, who.AccessToken).Expect(t, 403, service.CodeForbidden)
	}
	type reportView struct {
		Period      string
		Members     int
		Communities []struct {
			CommunityID int64
			Members     []struct {
				RealName string
				Records  int
				Details  []struct{ Kind string }
			}
		}
	}
	var all, onlyB reportView
	h.Do("GET", report, nil, liaison.AccessToken).Expect(t, 200, 0).Decode(t, &all)
	if all.Period != prev || all.Members != 2 || len(all.Communities) != 2 || len(all.Communities[0].Members[0].Details) != 1 {
		t.Fatalf("liaison view %+v", all)
	}
	// Staff of B see only the member reporting to B.
	h.Do("GET", report, nil, f.staffB.AccessToken).Expect(t, 200, 0).Decode(t, &onlyB)
	if onlyB.Members != 1 || onlyB.Communities[0].CommunityID != f.tree.CommunityB.ID {
		t.Fatalf("staff B view %+v", onlyB)
	}
	h.Do("GET", report+"&format=pdf", nil, liaison.AccessToken).Expect(t, 400, service.CodeInvalid)
	h.Do("GET", "/units/999999999/report", nil, liaison.AccessToken).Expect(t, 404, service.CodeNotFound)

	// The spreadsheet: one sheet per community, Chinese headers, one row per member.
	res := testutil.Send(t, h.Router, testutil.Request{Method: "GET", Path: report + "&format=xlsx", Token: liaison.AccessToken})
	if res.Status != http.StatusOK || !strings.Contains(res.Header.Get("Content-Type"), "spreadsheetml") {
		t.Fatalf("xlsx answer %d %s", res.Status, res.Header.Get("Content-Type"))
	}
	x, err := excelize.OpenReader(bytes.NewReader(res.Raw))
	if err != nil {
		t.Fatalf("open xlsx: %v", err)
	}
	defer x.Close()
	sheets := x.GetSheetList()
	if len(sheets) != 2 || sheets[0] != f.tree.CommunityA.Name || sheets[1] != f.tree.CommunityB.Name {
		t.Fatalf("sheets %v", sheets)
	}
	rows, err := x.GetRows(sheets[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0][0] != "姓名" || rows[0][1] != "所在社区" || rows[0][11] != "是否达标" {
		t.Fatalf("rows %v", rows)
	}
	if rows[1][0] != "张三丰" || rows[1][1] != f.tree.CommunityA.Name || rows[1][3] != "日常报到" || rows[1][4] != "1" || rows[1][11] != "未达标" {
		t.Fatalf("member row %v", rows[1])
	}
}

func TestReportBadInputWritesNothing(t *testing.T) {
	f := newReportFixture(t)
	h := f.h
	m := h.MustLogin(testutil.UniqueOpenID("inputs"))
	before := h.Count(&model.MemberReport{}, "user_id = ?", m.UserID)
	pendingUnit := h.MustLogin(testutil.UniqueOpenID("pu"))
	var pu struct{ ID int64 }
	h.Do("POST", "/units", map[string]any{"name": "未审单位", "kind": "社会组织", "partyOrg": "支部", "communityId": f.tree.CommunityA.ID,
		"contactName": "王", "contactPhone": "010-12345678"}, pendingUnit.AccessToken).Expect(t, 201, 0).Decode(t, &pu)
	base := func() map[string]any {
		return map[string]any{"communityId": f.tree.CommunityA.ID, "realName": "王五", "phone": "13700001111",
			"unitName": "某厂", "branch": "第二支部", "mode": "daily"}
	}
	for _, c := range []struct {
		change func(map[string]any)
		status int
		code   int
	}{
		{func(b map[string]any) { b["mode"] = "weekly" }, 400, service.CodeInvalid},
		{func(b map[string]any) { b["phone"] = "1234" }, 400, service.CodeInvalid},
		{func(b map[string]any) { delete(b, "realName") }, 400, service.CodeInvalid},
		{func(b map[string]any) { b["unitName"] = "" }, 400, service.CodeInvalid},
		{func(b map[string]any) { b["communityId"] = f.tree.GridA.ID }, 400, service.CodeInvalid},
		{func(b map[string]any) { b["communityId"] = 999999999 }, 404, service.CodeNotFound},
		{func(b map[string]any) { b["unitId"] = 999999999 }, 404, service.CodeNotFound},
		{func(b map[string]any) { b["unitId"] = pu.ID }, 400, service.CodeInvalid},
		{func(b map[string]any) { b["communityId"] = "A" }, 400, service.CodeInvalid},
	} {
		b := base()
		c.change(b)
		h.Do("POST", "/member-reports", b, m.AccessToken).Expect(t, c.status, c.code)
	}
	h.Do("POST", "/member-reports", "{not json", m.AccessToken).Expect(t, 400, service.CodeInvalid)
	if after := h.Count(&model.MemberReport{}, "user_id = ?", m.UserID); after != before {
		t.Fatalf("bad input wrote %d reports", after-before)
	}
	h.Do("POST", "/member-reports/999999999/approve", nil, f.staffA.AccessToken).Expect(t, 404, service.CodeNotFound)
	h.Do("POST", "/units/999999999/approve", nil, f.staffA.AccessToken).Expect(t, 404, service.CodeNotFound)
	h.Do("POST", "/units/abc/approve", nil, f.staffA.AccessToken).Expect(t, 400, service.CodeInvalid)
	h.Do("GET", "/member-reports", nil, f.staffA.AccessToken).Expect(t, 400, service.CodeInvalid)
	h.Do("GET", "/posts", nil, f.staffA.AccessToken).Expect(t, 400, service.CodeInvalid)
	h.Do("GET", fmt.Sprintf("/admin/obligations?orgId=%d&compliant=maybe", f.tree.CommunityA.ID), nil, f.staffA.AccessToken).Expect(t, 400, service.CodeInvalid)
	h.Do("GET", "/certificates/verify", nil, "").Expect(t, 400, service.CodeInvalid)
}

func TestReportUnitActivityCountsTowardObligation(t *testing.T) {
	f := newReportFixture(t)
	h := f.h
	unitID, liaison := f.unit(t, f.tree.CommunityA.ID, "区邮政局")
	start := h.Clock.Now().Add(2 * time.Hour).Truncate(time.Second)
	var act struct {
		ID     int64
		Status string
	}
	h.Do("POST", "/activities", map[string]any{"communityId": f.tree.CommunityA.ID, "title": "邮政进社区", "content": "代寄包裹",
		"category": "文明实践", "address": "社区广场", "startAt": start, "endAt": start.Add(time.Hour),
		"signupDeadline": start.Add(-time.Hour), "capacity": 0, "waitlist": false, "unitId": unitID}, liaison.AccessToken).
		Expect(t, 201, 0).Decode(t, &act)
	if act.Status != "proposed" {
		t.Fatalf("liaison's activity %+v", act)
	}
	h.Do("POST", fmt.Sprintf("/activities/%d/publish", act.ID), nil, f.staffA.AccessToken).Expect(t, 200, 0)
	loc := h.Config.Location
	s := start.In(loc)
	period := fmt.Sprintf("%dQ%d", s.Year(), (int(s.Month())-1)/3+1)
	staff := f.staffA.AccessToken
	standing := func() (activities, done int, compliant bool) {
		var v struct {
			List []struct {
				UnitID           int64
				Activities, Done int
				Compliant        bool
			}
		}
		h.Do("GET", fmt.Sprintf("/admin/obligations?orgId=%d&period=%s&view=units", f.tree.CommunityA.ID, period), nil, staff).
			Expect(t, 200, 0).Decode(t, &v)
		for _, u := range v.List {
			if u.UnitID == unitID {
				return u.Activities, u.Done, u.Compliant
			}
		}
		t.Fatalf("unit %d missing: %+v", unitID, v)
		return
	}
	if a, d, c := standing(); a != 0 || d != 0 || c {
		t.Fatalf("before it took place: activities %d done %d compliant %v", a, d, c)
	}
	h.Clock.Advance(4 * time.Hour) // the activity has ended (and the tokens expired)
	late := h.MustLogin(testutil.UniqueOpenID("late"))
	h.MustMakeStaff(late.UserID, f.tree.CommunityA.ID, model.RoleStaff)
	staff = late.AccessToken
	if a, d, c := standing(); a != 1 || d != 1 || !c {
		t.Fatalf("after it took place: activities %d done %d compliant %v", a, d, c)
	}
}

// TestProjectClaimAreaAndConfirmation: a liaison alone cannot make a unit
// compliant. A unit claims needs only in the community it reported to (or
// its street, by report.unit_claim_scope); a completion, never dated before
// the claim, awaits the community's staff; the liaison and whoever completed
// it cannot confirm; only a confirmed project counts in the unit report.
func TestProjectClaimAreaAndConfirmation(t *testing.T) {
	f := newReportFixture(t)
	h := f.h
	_, _, cur := quarters(h)
	unitID, liaison := f.unit(t, f.tree.CommunityA.ID, "区水务集团")
	need := func(community int64, title string) int64 {
		var n struct{ ID int64 }
		h.Do("POST", "/needs", map[string]any{"communityId": community, "title": title}, f.staffOf(community).AccessToken).Expect(t, 201, 0).Decode(t, &n)
		return n.ID
	}
	// Needs of community B (same street) and C (another street) are out of
	// the unit's area by default: refused, nothing written.
	for _, c := range []int64{f.tree.CommunityB.ID, f.tree.CommunityC.ID} {
		id := need(c, "外社区需求")
		rows := h.Rows()
		h.Do("POST", fmt.Sprintf("/needs/%d/claim", id), map[string]any{"unitId": unitID}, liaison.AccessToken).Expect(t, 403, service.CodeNeedOutOfArea)
		rows.WroteNothing(t, "a claim outside the unit's community")
		if h.Count(&model.Need{}, "id = ? AND status = ?", id, "open") != 1 {
			t.Fatalf("refused claim changed need %d", id)
		}
	}

	var p struct {
		ID          int64
		Status      string
		CompletedOn string
	}
	h.Do("POST", fmt.Sprintf("/needs/%d/claim", need(f.tree.CommunityA.ID, "河道清理")), map[string]any{"unitId": unitID}, liaison.AccessToken).
		Expect(t, 201, 0).Decode(t, &p)
	path := fmt.Sprintf("/projects/%d/", p.ID)
	status := func() string {
		var row model.Project
		if err := h.DB.First(&row, p.ID).Error; err != nil {
			t.Fatal(err)
		}
		return string(row.Status)
	}
	compliant := func() (bool, int) {
		var r struct {
			Obligation struct {
				Projects  int
				Compliant bool
			}
		}
		h.Do("GET", fmt.Sprintf("/units/%d/report?period=%s", unitID, cur), nil, liaison.AccessToken).Expect(t, 200, 0).Decode(t, &r)
		return r.Obligation.Compliant, r.Obligation.Projects
	}
	loc := h.Config.Location
	yesterday := h.Clock.Now().In(loc).AddDate(0, 0, -1).Format("2006-01-02")
	today := h.Clock.Now().In(loc).Format("2006-01-02")
	// Backdated before the claim: refused, still ongoing.
	h.Do("POST", path+"complete", map[string]any{"note": "已清理", "completedOn": yesterday}, liaison.AccessToken).Expect(t, 400, service.CodeInvalid)
	if s := status(); s != "ongoing" {
		t.Fatalf("after a backdated completion: %s", s)
	}
	// Nothing to confirm yet.
	h.Do("POST", path+"confirm", nil, f.staffA.AccessToken).Expect(t, 409, service.CodeProjectNotAwaited)
	h.Do("POST", path+"complete", map[string]any{"note": "已清理"}, liaison.AccessToken).Expect(t, 200, 0).Decode(t, &p)
	if p.Status != "awaiting_confirmation" || p.CompletedOn != today {
		t.Fatalf("completed project %+v", p)
	}
	if ok, n := compliant(); ok || n != 0 {
		t.Fatalf("an unconfirmed project counted: compliant %v projects %d", ok, n)
	}
	// The liaison, staff of another community, a bad or backdated date: refused, still awaiting.
	for _, tc := range []struct {
		who    testutil.Login
		body   map[string]any
		status int
		code   int
	}{
		{liaison, nil, 403, service.CodeForbidden},
		{f.staffB, nil, 403, service.CodeForbidden},
		{f.staffA, map[string]any{"completedOn": yesterday}, 400, service.CodeInvalid},
		{f.staffA, map[string]any{"completedOn": "2999-01-01"}, 400, service.CodeInvalid},
	} {
		h.Do("POST", path+"confirm", tc.body, tc.who.AccessToken).Expect(t, tc.status, tc.code)
		if s := status(); s != "awaiting_confirmation" {
			t.Fatalf("refused confirmation moved the project to %s", s)
		}
	}
	h.Do("POST", path+"return", map[string]any{"reason": ""}, f.staffA.AccessToken).Expect(t, 400, service.CodeInvalid)
	h.Do("POST", path+"return", map[string]any{"reason": "缺少现场照片"}, liaison.AccessToken).Expect(t, 403, service.CodeForbidden)
	var back struct{ Status, ReturnReason, CompletedOn string }
	h.Do("POST", path+"return", map[string]any{"reason": "缺少现场照片"}, f.staffA.AccessToken).Expect(t, 200, 0).Decode(t, &back)
	if back.Status != "ongoing" || back.ReturnReason != "缺少现场照片" || back.CompletedOn != "" {
		t.Fatalf("returned project %+v", back)
	}
	h.Do("POST", path+"return", map[string]any{"reason": "again"}, f.staffA.AccessToken).Expect(t, 409, service.CodeProjectNotAwaited)

	// Completed by staff A this time: staff A may not confirm their own
	// report, another staff member of the community may.
	h.Do("POST", path+"complete", map[string]any{"note": "已补充照片", "completedOn": today}, f.staffA.AccessToken).Expect(t, 200, 0)
	h.Do("POST", path+"confirm", nil, f.staffA.AccessToken).Expect(t, 403, service.CodeForbidden)
	staffA2 := f.w.Staff("staffA2", f.tree.CommunityA.ID)
	var done struct {
		Status      string
		ConfirmedAt *time.Time
	}
	h.Do("POST", path+"confirm", map[string]any{"completedOn": today}, staffA2.AccessToken).Expect(t, 200, 0).Decode(t, &done)
	if done.Status != "done" || done.ConfirmedAt == nil {
		t.Fatalf("confirmed project %+v", done)
	}
	h.Do("POST", path+"confirm", nil, staffA2.AccessToken).Expect(t, 409, service.CodeProjectNotAwaited)
	if ok, n := compliant(); !ok || n != 1 {
		t.Fatalf("a confirmed project did not count: compliant %v projects %d", ok, n)
	}
}

// TestProjectClaimStreetScope: with report.unit_claim_scope street a unit
// claims needs of every community of its community's street, and still not
// of another street's.
func TestProjectClaimStreetScope(t *testing.T) {
	f := newReportFixture(t, testutil.WithConfig(map[string]any{"report.unit_claim_scope": "street"}))
	h := f.h
	unitID, liaison := f.unit(t, f.tree.CommunityA.ID, "区燃气公司")
	for _, tc := range []struct {
		community    int64
		status, code int
	}{{f.tree.CommunityB.ID, 201, 0}, {f.tree.CommunityC.ID, 403, service.CodeNeedOutOfArea}} {
		var n struct{ ID int64 }
		h.Do("POST", "/needs", map[string]any{"communityId": tc.community, "title": "管线巡检"}, f.staffOf(tc.community).AccessToken).Expect(t, 201, 0).Decode(t, &n)
		rows := h.Rows()
		h.Do("POST", fmt.Sprintf("/needs/%d/claim", n.ID), map[string]any{"unitId": unitID}, liaison.AccessToken).Expect(t, tc.status, tc.code)
		if tc.status != 201 {
			rows.WroteNothing(t, "a claim in another street")
		}
	}
}

// TestMigrateDoneProjects: a project a liaison marked done before
// confirmation existed goes back to awaiting_confirmation on migrate; one
// community staff completed stays done, confirmed by them; running migrate
// again changes nothing.
func TestMigrateDoneProjects(t *testing.T) {
	f := newReportFixture(t)
	h := f.h
	unitID, liaison := f.unit(t, f.tree.CommunityA.ID, "区邮政公司")
	now := h.Clock.Now().UTC()
	mk := func(by int64) int64 {
		p := model.Project{UnitID: unitID, CommunityID: f.tree.CommunityA.ID, Title: "旧项目", Status: model.ProjectDone,
			ClaimedBy: by, CompletedAt: &now, CompletedBy: &by}
		if err := h.DB.Create(&p).Error; err != nil {
			t.Fatal(err)
		}
		return p.ID
	}
	byLiaison, byStaff := mk(liaison.UserID), mk(f.staffA.UserID)
	for range 2 {
		// The step runs once per database: forget it was applied, as a
		// database from before the step would be.
		if err := h.DB.Where("version = ?", "0001_project_confirmation").Delete(&model.SchemaMigration{}).Error; err != nil {
			t.Fatal(err)
		}
		if err := model.Migrate(h.DB); err != nil {
			t.Fatal(err)
		}
		var a, b model.Project
		h.DB.First(&a, byLiaison)
		h.DB.First(&b, byStaff)
		if a.Status != model.ProjectAwaitingConfirmation || a.ConfirmedAt != nil {
			t.Fatalf("liaison-completed project after migrate: %+v", a)
		}
		if b.Status != model.ProjectDone || b.ConfirmedAt == nil || b.ConfirmedBy == nil || *b.ConfirmedBy != f.staffA.UserID {
			t.Fatalf("staff-completed project after migrate: %+v", b)
		}
	}
}
