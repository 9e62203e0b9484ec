package api_test

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"linli/internal/testutil"
	"linli/model"
	"linli/service"
)

type userSummary struct {
	ID              int64
	Nickname        string
	HomeCommunityID *int64
	HomeVerified    bool
}

// searchIDs returns the ids GET /admin/users?q= answers the admin.
func searchIDs(t *testing.T, h *testutil.Harness, admin testutil.Login, q string) []int64 {
	t.Helper()
	var page struct {
		Total int64
		List  []userSummary
	}
	h.Do("GET", "/admin/users?pageSize=100&q="+q, nil, admin.AccessToken).Expect(t, 200, 0).Decode(t, &page)
	ids := make([]int64, 0, len(page.List))
	for _, u := range page.List {
		ids = append(ids, u.ID)
	}
	slices.Sort(ids)
	if int64(len(ids)) != page.Total {
		t.Fatalf("search %q: total %d, list %v", q, page.Total, ids)
	}
	return ids
}

// TestAdminUserSearchScoped: an admin finds only users who live in, or hold
// a role in, the subtree they administer; a bootstrap admin and an admin of
// the root org find everyone.
func TestAdminUserSearchScoped(t *testing.T) {
	e := newTBEnv(t)
	h, tree := e.h, e.tree
	tag := "scoped" + strconv.FormatInt(time.Now().UnixNano()%1_000_000, 10)
	named := func(l testutil.Login) int64 {
		if err := h.DB.Model(&model.User{}).Where("id = ?", l.UserID).Update("nickname", tag+"-"+strconv.FormatInt(l.UserID, 10)).Error; err != nil {
			t.Fatal(err)
		}
		return l.UserID
	}
	residentA := named(e.w.Login("s-resA", tree.CommunityA.ID))
	staffB := named(e.w.Staff("s-staffB", tree.CommunityB.ID))
	memberA := e.w.Login("s-memA", 0)
	h.MustPartyMember(memberA.UserID, tree.CommunityA.ID)
	liaisonB := e.w.Login("s-liaB", 0)
	h.MustUnitLiaison(liaisonB.UserID, tree.CommunityB.ID)
	residentC := named(e.w.Login("s-resC", tree.CommunityC.ID))
	staffC := named(e.w.Staff("s-staffC", tree.CommunityC.ID))
	nowhere := named(e.w.Login("s-none", 0))
	inStreet := []int64{residentA, staffB, named(memberA), named(liaisonB)}
	everyone := append(append([]int64{}, inStreet...), residentC, staffC, nowhere)
	slices.Sort(inStreet)
	slices.Sort(everyone)

	streetAdmin := e.w.Login("s-sadmin", 0)
	h.MustMakeStaff(streetAdmin.UserID, tree.Street.ID, model.RoleAdmin)
	communityCAdmin := e.w.Login("s-cadmin", 0)
	h.MustMakeStaff(communityCAdmin.UserID, tree.CommunityC.ID, model.RoleAdmin)
	rootAdmin := e.w.Login("s-radmin", 0)
	h.MustMakeStaff(rootAdmin.UserID, tree.District.ID, model.RoleAdmin)

	for _, tc := range []struct {
		name  string
		admin testutil.Login
		want  []int64
	}{
		{"street admin", streetAdmin, inStreet},
		{"community C admin", communityCAdmin, []int64{residentC, staffC}},
		{"root admin", rootAdmin, everyone},
		{"bootstrap admin", e.admin, everyone},
	} {
		if got := searchIDs(t, h, tc.admin, tag); !slices.Equal(got, tc.want) {
			t.Errorf("%s found %v, want %v", tc.name, got, tc.want)
		}
	}
	// By id: someone of another street is not found either.
	if got := searchIDs(t, h, streetAdmin, strconv.FormatInt(residentC, 10)); slices.Contains(got, residentC) {
		t.Errorf("street admin found user %d of another street by id: %v", residentC, got)
	}
	// Staff (not admin) are still refused.
	h.Do("GET", "/admin/users?q="+tag, nil, e.staff.AccessToken).Expect(t, 403, service.CodeForbidden)
}

// TestResidencyHomeChangeVerificationAndResidentsOnlyGoods: the first home
// is free, a move waits user.home_change_min_interval and clears the staff's
// confirmation; residentsOnly goods need a confirmed home; the previous
// home's open orders stay valid after a move.
func TestResidencyHomeChangeVerificationAndResidentsOnlyGoods(t *testing.T) {
	e := newTBEnv(t)
	h, tree := e.h, e.tree
	u := e.w.Login("res-move", 0)
	home := func() model.User {
		var x model.User
		if err := h.DB.First(&x, u.UserID).Error; err != nil {
			t.Fatal(err)
		}
		return x
	}
	h.Do("PUT", "/me/community", map[string]any{"communityId": tree.CommunityA.ID}, u.AccessToken).Expect(t, 200, 0)
	e.credit(t, u.UserID, "points", 100)
	onlyResidents := e.goods(t, map[string]any{"name": "爱心药箱", "residentsOnly": true})
	plain := e.goods(t, map[string]any{"name": "洗衣液"})

	// Not confirmed: refused with 30021, nothing written.
	rows := h.Rows()
	h.Do("POST", "/mall/orders", map[string]any{"goodsId": onlyResidents.ID}, u.AccessToken).Expect(t, 403, service.CodeHomeNotVerified)
	rows.WroteNothing(t, "a residentsOnly order without a confirmed home")
	if e.stock(t, onlyResidents.ID) != 10 {
		t.Fatal("refused order took stock")
	}

	// Confirmation: staff of the home community only, never for oneself,
	// and only for the home the user has.
	staffB := e.w.Staff("res-staffB", tree.CommunityB.ID)
	selfStaff := e.w.Staff("res-self", tree.CommunityA.ID)
	h.MustSetHome(selfStaff.UserID, tree.CommunityA.ID)
	verify := func(who testutil.Login, userID, community int64) *testutil.Response {
		return h.Do("POST", fmt.Sprintf("/admin/residents/%d/verify-home", userID), map[string]any{"communityId": community}, who.AccessToken)
	}
	verify(u, u.UserID, tree.CommunityA.ID).Expect(t, 403, service.CodeForbidden)
	verify(staffB, u.UserID, tree.CommunityA.ID).Expect(t, 403, service.CodeForbidden)
	verify(staffB, u.UserID, tree.CommunityB.ID).Expect(t, 409, service.CodeConflict)
	verify(selfStaff, selfStaff.UserID, tree.CommunityA.ID).Expect(t, 403, service.CodeForbidden)
	verify(e.staff, 987654321, tree.CommunityA.ID).Expect(t, 404, service.CodeNotFound)
	if x := home(); x.HomeVerifiedAt != nil {
		t.Fatalf("refused confirmations verified the home: %+v", x)
	}
	var v userSummary
	verify(e.staff, u.UserID, tree.CommunityA.ID).Expect(t, 200, 0).Decode(t, &v)
	if !v.HomeVerified {
		t.Fatalf("verified user %+v", v)
	}
	var found struct{ List []userSummary }
	h.Do("GET", "/admin/users?q="+strconv.FormatInt(u.UserID, 10), nil, e.admin.AccessToken).Expect(t, 200, 0).Decode(t, &found)
	shown := slices.IndexFunc(found.List, func(x userSummary) bool { return x.ID == u.UserID })
	if shown < 0 || !found.List[shown].HomeVerified {
		t.Fatalf("search shows %+v", found.List)
	}
	e.order(t, u, onlyResidents.ID)

	// A move within the interval is refused and changes nothing; a grid of
	// the same community is no move.
	res := h.Do("PUT", "/me/community", map[string]any{"communityId": tree.CommunityB.ID}, u.AccessToken).Expect(t, 409, service.CodeHomeChangeTooSoon)
	if res.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After on 30020")
	}
	h.Do("PUT", "/me/community", map[string]any{"communityId": tree.CommunityA.ID, "gridId": tree.GridA.ID}, u.AccessToken).Expect(t, 200, 0)
	if x := home(); *x.HomeCommunityID != tree.CommunityA.ID || x.HomeVerifiedAt == nil {
		t.Fatalf("after a refused move: %+v", x)
	}

	// After the interval the move succeeds and clears the confirmation; the
	// open orders placed in A stay valid: staff of A hand one over, the
	// buyer cancels the other.
	h.Clock.Advance(h.Config.User.HomeChangeMinInterval + time.Minute)
	toPick := e.order(t, u, plain.ID)
	toCancel := e.order(t, u, plain.ID)
	h.Do("PUT", "/me/community", map[string]any{"communityId": tree.CommunityB.ID}, u.AccessToken).Expect(t, 200, 0)
	if x := home(); *x.HomeCommunityID != tree.CommunityB.ID || x.HomeVerifiedAt != nil || x.HomeVerifiedBy != nil {
		t.Fatalf("after a move: %+v", x)
	}
	var picked orderView
	h.Do("POST", "/mall/orders/verify", map[string]any{"communityId": tree.CommunityA.ID, "pickupCode": toPick.PickupCode}, e.staff.AccessToken).
		Expect(t, 200, 0).Decode(t, &picked)
	if picked.Status != "picked" {
		t.Fatalf("picked order %+v", picked)
	}
	h.Do("POST", fmt.Sprintf("/mall/orders/%d/cancel", toCancel.ID), nil, u.AccessToken).Expect(t, 200, 0)
	h.Do("POST", "/mall/orders", map[string]any{"goodsId": plain.ID}, u.AccessToken).Expect(t, 403, service.CodeGoodsOtherCommunity)
	// And moving back at once is refused again.
	h.Do("PUT", "/me/community", map[string]any{"communityId": tree.CommunityA.ID}, u.AccessToken).Expect(t, 409, service.CodeHomeChangeTooSoon)
}
