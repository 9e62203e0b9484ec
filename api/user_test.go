package api_test

import (
	"strings"
	"testing"

	"linli/internal/testutil"
	"linli/model"
	"linli/service"
)

func TestUpdateMe(t *testing.T) {
	h := testutil.New(t)
	u := h.MustLogin(testutil.UniqueOpenID("upd"))
	var v meView
	h.Do("PUT", "/me", map[string]string{"nickname": "  老张  ", "avatarUrl": "https://img.example.com/a.png"}, u.AccessToken).Expect(t, 200, 0).Decode(t, &v)
	if v.Nickname != "老张" || v.AvatarURL != "https://img.example.com/a.png" {
		t.Fatalf("me = %+v", v)
	}
	// Absent fields are left alone.
	h.Do("PUT", "/me", map[string]string{"avatarUrl": ""}, u.AccessToken).Expect(t, 200, 0).Decode(t, &v)
	if v.Nickname != "老张" || v.AvatarURL != "" {
		t.Fatalf("me = %+v", v)
	}

	var stored model.User
	load := func() model.User {
		var x model.User
		if err := h.DB.First(&x, u.UserID).Error; err != nil {
			t.Fatal(err)
		}
		return x
	}
	stored = load()
	for name, body := range map[string]any{
		"blank nickname":    map[string]string{"nickname": "   "},
		"long nickname":     map[string]string{"nickname": strings.Repeat("长", 33)},
		"http avatar":       map[string]string{"avatarUrl": "http://img.example.com/a.png"},
		"nickname a number": map[string]any{"nickname": 42},
		"avatar an object":  map[string]any{"avatarUrl": map[string]string{"x": "y"}},
		"not json":          "{nickname:",
	} {
		t.Run(name, func(t *testing.T) {
			h.Do("PUT", "/me", body, u.AccessToken).Expect(t, 400, 10001)
			if after := load(); after.Nickname != stored.Nickname || after.AvatarURL != stored.AvatarURL {
				t.Fatalf("refused update changed the user: %+v", after)
			}
		})
	}
}

func TestSetHomeCommunity(t *testing.T) {
	h := testutil.New(t)
	tree := h.MustTree()
	openid := testutil.UniqueOpenID("home")
	u := h.MustLogin(openid)

	var v meView
	h.Do("PUT", "/me/community", map[string]any{"communityId": tree.CommunityA.ID, "gridId": tree.GridA.ID}, u.AccessToken).Expect(t, 200, 0).Decode(t, &v)
	if v.HomeCommunityID == nil || *v.HomeCommunityID != tree.CommunityA.ID || v.HomeGridID == nil || *v.HomeGridID != tree.GridA.ID {
		t.Fatalf("me = %+v", v)
	}
	resident := false
	for _, r := range v.Roles {
		resident = resident || (r.Role == "resident" && r.OrgID == tree.CommunityA.ID)
	}
	if !resident {
		t.Fatalf("no resident role: %+v", v.Roles)
	}

	for _, tc := range []struct {
		name         string
		body         map[string]any
		status, code int
	}{
		{"grid of another community", map[string]any{"communityId": tree.CommunityB.ID, "gridId": tree.GridA.ID}, 400, 10001},
		{"a street is no community", map[string]any{"communityId": tree.Street.ID}, 400, 10001},
		{"a grid is no community", map[string]any{"communityId": tree.GridA.ID}, 400, 10001},
		{"grid is a community", map[string]any{"communityId": tree.CommunityA.ID, "gridId": tree.CommunityB.ID}, 400, 10001},
		{"unknown community", map[string]any{"communityId": 999999999}, 404, 10005},
		{"unknown grid", map[string]any{"communityId": tree.CommunityA.ID, "gridId": 999999999}, 404, 10005},
		{"missing communityId", map[string]any{"gridId": tree.GridA.ID}, 400, 10001},
		{"communityId a string", map[string]any{"communityId": "1"}, 400, 10001},
		{"negative communityId", map[string]any{"communityId": -3}, 400, 10001},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.Do("PUT", "/me/community", tc.body, u.AccessToken).Expect(t, tc.status, tc.code)
			var x model.User
			h.DB.First(&x, u.UserID)
			if x.HomeCommunityID == nil || *x.HomeCommunityID != tree.CommunityA.ID || x.HomeGridID == nil || *x.HomeGridID != tree.GridA.ID {
				t.Fatalf("refused change altered the home: %+v", x)
			}
		})
	}

	// Moving to B without a grid clears the grid (once the residency
	// interval has passed; see TestResidencyHomeChangeVerificationAndResidentsOnlyGoods).
	h.Do("PUT", "/me/community", map[string]any{"communityId": tree.CommunityB.ID}, u.AccessToken).Expect(t, 409, service.CodeHomeChangeTooSoon)
	h.Clock.Advance(h.Config.User.HomeChangeMinInterval)
	u = h.MustLogin(openid) // the access token expired meanwhile
	h.Do("PUT", "/me/community", map[string]any{"communityId": tree.CommunityB.ID}, u.AccessToken).Expect(t, 200, 0).Decode(t, &v)
	if *v.HomeCommunityID != tree.CommunityB.ID || v.HomeGridID != nil {
		t.Fatalf("me = %+v", v)
	}
}

func TestBindPhone(t *testing.T) {
	h := testutil.New(t)
	u := h.MustLogin(testutil.UniqueOpenID("phone"))
	res := h.Do("POST", "/me/phone", map[string]string{"code": "phone:13812345678"}, u.AccessToken).Expect(t, 200, 0)
	var v meView
	res.Decode(t, &v)
	if v.Phone != "138****5678" {
		t.Fatalf("phone = %q, want 138****5678", v.Phone)
	}
	if strings.Contains(string(res.Raw), "13812345678") {
		t.Fatalf("full number in the answer: %s", res.Raw)
	}
	var x model.User
	h.DB.First(&x, u.UserID)
	if x.Phone != "13812345678" {
		t.Fatalf("stored phone = %q, want the full number", x.Phone)
	}
	if got := me(t, h, u.AccessToken).Phone; got != "138****5678" {
		t.Fatalf("GET /me phone = %q", got)
	}

	h.Do("POST", "/me/phone", map[string]string{"code": "bad-code"}, u.AccessToken).Expect(t, 400, 10001)
	h.Do("POST", "/me/phone", map[string]string{"code": "down-now"}, u.AccessToken).Expect(t, 503, 10503)
	h.Do("POST", "/me/phone", map[string]string{}, u.AccessToken).Expect(t, 400, 10001)
	h.Do("POST", "/me/phone", map[string]any{"code": true}, u.AccessToken).Expect(t, 400, 10001)
	h.DB.First(&x, u.UserID)
	if x.Phone != "13812345678" {
		t.Fatalf("a refused bind changed the phone to %q", x.Phone)
	}
	h.Do("POST", "/me/phone", map[string]string{"code": "x"}, "").Expect(t, 401, 10002)
}

func TestBindPhoneWithoutWeChat(t *testing.T) {
	h := testutil.New(t, testutil.WithoutWeChat())
	tok := decodeTokens(t, h.Do("POST", "/auth/dev-login", map[string]string{"openid": testutil.UniqueOpenID("nowx")}, "").Expect(t, 200, 0))
	h.Do("POST", "/me/phone", map[string]string{"code": "phone:13812345678"}, tok.AccessToken).Expect(t, 503, 10503)
}
