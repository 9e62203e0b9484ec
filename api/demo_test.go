package api_test

import (
	"context"
	"slices"
	"strconv"
	"testing"

	"linli/internal/testutil"
	"linli/service"
)

// TestDemoSeedSupportsTheWalkThrough seeds the dev demo twice (same ids) and
// plays the README's story: the demo resident posts a wish, the demo staff
// approve it, the demo member (an approved Party member and volunteer) sees
// those roles on /me and claims it.
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

	var wish struct{ ID int64 }
	h.Do("POST", "/wishes", wishBody("帮忙修理水龙头"), resident).Expect(t, 201, 0).Decode(t, &wish)
	id := strconv.FormatInt(wish.ID, 10)
	h.Do("POST", "/wishes/"+id+"/approve", nil, staff).Expect(t, 200, 0)
	h.Do("POST", "/wishes/"+id+"/claim", nil, member).Expect(t, 200, 0)
}
