package api_test

import (
	"context"
	"slices"
	"strconv"
	"testing"

	"linli/internal/testutil"
	"linli/service"
)

// TestDemoSeedSupportsTheWalkThrough seeds the dev demo twice (same ids),
// finds the story the README's walk-through shows (a published, a claimed
// and a completed wish, an upcoming and a finished activity with two
// volunteers each, the points leaderboard, three goods, demo-member's
// obligations half met, a ledger that reconciles) and plays on: the demo
// resident posts a wish, the demo staff approve it, the demo member (an
// approved Party member and volunteer) sees those roles on /me and claims it.
func TestDemoSeedSupportsTheWalkThrough(t *testing.T) {
	h := testutil.New(t)
	ctx := context.Background()
	first, err := h.Svc.SeedDemo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	again, err := h.Svc.SeedDemo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if again.DistrictID != first.DistrictID || !slices.Equal(again.CommunityIDs, first.CommunityIDs) ||
		again.Users[service.DemoMember] != first.Users[service.DemoMember] {
		t.Fatalf("second seed made new data: %+v vs %+v", again, first)
	}

	login := func(openid string) string {
		var out struct{ AccessToken string }
		h.Do("POST", "/auth/dev-login", map[string]string{"openid": openid}, "").Expect(t, 200, 0).Decode(t, &out)
		return out.AccessToken
	}
	resident, staff, member := login(service.DemoResident), login(service.DemoStaff), login(service.DemoMember)

	var me struct {
		Roles []struct {
			Role  string
			OrgID int64
		}
	}
	h.Do("GET", "/me", nil, member).Expect(t, 200, 0).Decode(t, &me)
	has := func(role string) bool {
		for _, r := range me.Roles {
			if r.Role == role && r.OrgID == first.CommunityIDs[0] {
				return true
			}
		}
		return false
	}
	if !has("party_member") || !has("volunteer") || !has("resident") {
		t.Fatalf("demo-member roles: %+v", me.Roles)
	}

	// The story the walk-through shows.
	var wishes struct {
		List []struct{ Title, Status string }
	}
	for status, title := range map[string]string{"": "更换楼道灯泡", "claimed": "辅导孩子数学作业", "completed": "陪老人去医院复查"} {
		h.Do("GET", "/wishes?status="+status, nil, resident).Expect(t, 200, 0).Decode(t, &wishes)
		if len(wishes.List) != 1 || wishes.List[0].Title != title {
			t.Fatalf("wishes?status=%s: %+v", status, wishes.List)
		}
	}
	var acts struct {
		List []struct {
			Title, Status string
			Signed        int
		}
	}
	h.Do("GET", "/activities", nil, resident).Expect(t, 200, 0).Decode(t, &acts)
	if len(acts.List) != 2 || acts.List[0].Status != "published" || acts.List[0].Signed != 2 ||
		acts.List[1].Status != "finished" || acts.List[1].Signed != 2 {
		t.Fatalf("activities: %+v", acts.List)
	}
	var board struct {
		List []struct {
			UserID int64
			Score  int64
		}
	}
	h.Do("GET", "/leaderboards?by=points", nil, resident).Expect(t, 200, 0).Decode(t, &board)
	// demo-member: 150 min × 10/h = 25 points for the activity + 10 for the wish.
	if len(board.List) != 2 || board.List[0].UserID != first.Users[service.DemoMember] || board.List[0].Score != 35 ||
		board.List[1].Score != 30 {
		t.Fatalf("points leaderboard: %+v", board.List)
	}
	var goods struct {
		List    []struct{ ID int64 }
		HasMore *bool
	}
	h.Do("GET", "/mall/goods", nil, resident).Expect(t, 200, 0).Decode(t, &goods)
	if len(goods.List) != 3 || goods.HasMore == nil || *goods.HasMore {
		t.Fatalf("mall goods: %d, hasMore %v", len(goods.List), goods.HasMore)
	}
	var ob struct {
		Items []struct {
			Kind string
			Met  bool
		}
	}
	h.Do("GET", "/me/obligations", nil, member).Expect(t, 200, 0).Decode(t, &ob)
	met := map[string]bool{}
	for _, it := range ob.Items {
		met[it.Kind] = it.Met
	}
	if len(ob.Items) != 4 || !met["public_activity"] || !met["practical_deed"] || met["contact_help"] || met["post_duty"] {
		t.Fatalf("demo-member obligations: %+v", ob.Items)
	}
	if rep, err := h.Svc.TimeBank.Reconcile(ctx); err != nil || rep.Mismatches != 0 {
		t.Fatalf("reconcile: %+v %v", rep, err)
	}

	var wish struct{ ID int64 }
	h.Do("POST", "/wishes", wishBody("帮忙修理水龙头"), resident).Expect(t, 201, 0).Decode(t, &wish)
	id := strconv.FormatInt(wish.ID, 10)
	h.Do("POST", "/wishes/"+id+"/approve", nil, staff).Expect(t, 200, 0)
	h.Do("POST", "/wishes/"+id+"/claim", nil, member).Expect(t, 200, 0)
}
