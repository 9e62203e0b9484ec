package api_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"linli/internal/testutil"
	"linli/model"
)

// TestBadInputChangesNothing sends malformed requests to every foundation
// write endpoint: each is answered with the documented status and an error
// envelope, and no row is written.
func TestBadInputChangesNothing(t *testing.T) {
	admin := testutil.UniqueOpenID("adm")
	h := testutil.New(t, testutil.WithConfig(map[string]any{"bootstrap.admins": admin}))
	tree := h.MustTree()
	a := h.MustLogin(admin)
	u := h.MustLogin(testutil.UniqueOpenID("u"))
	big := `{"nickname":"` + strings.Repeat("x", 2<<20) + `"}` // 2 MiB

	for _, tc := range []struct {
		name         string
		method, path string
		body         any
		token        string
		status, code int
	}{
		// Auth.
		{"login: empty body", "POST", "/auth/wechat-login", "", "", 400, 10001},
		{"login: not json", "POST", "/auth/wechat-login", "code=abc", "", 400, 10001},
		{"login: code a number", "POST", "/auth/wechat-login", map[string]any{"code": 123}, "", 400, 10001},
		{"login: code missing", "POST", "/auth/wechat-login", map[string]any{"codes": "x"}, "", 400, 10001},
		{"login: code too long", "POST", "/auth/wechat-login", map[string]any{"code": strings.Repeat("c", 200)}, "", 400, 10001},
		{"login: 2 MiB", "POST", "/auth/wechat-login", big, "", 413, 10001},
		{"dev-login: openid missing", "POST", "/auth/dev-login", map[string]any{"nickname": "x"}, "", 400, 10001},
		{"dev-login: openid an array", "POST", "/auth/dev-login", map[string]any{"openid": []string{"a"}}, "", 400, 10001},
		// Profile.
		{"me: 2 MiB", "PUT", "/me", big, u.AccessToken, 413, 10001},
		{"me: nickname a number", "PUT", "/me", map[string]any{"nickname": 1}, u.AccessToken, 400, 10001},
		{"me: truncated json", "PUT", "/me", `{"nickname":"x"`, u.AccessToken, 400, 10001},
		{"community: unknown id", "PUT", "/me/community", map[string]any{"communityId": 987654321}, u.AccessToken, 404, 10005},
		{"community: id a float", "PUT", "/me/community", map[string]any{"communityId": 1.5}, u.AccessToken, 400, 10001},
		{"phone: code missing", "POST", "/me/phone", map[string]any{}, u.AccessToken, 400, 10001},
		// Organisation.
		{"org: level unknown", "POST", "/admin/orgs", map[string]any{"level": "city", "name": "x"}, a.AccessToken, 400, 10001},
		{"org: name missing", "POST", "/admin/orgs", map[string]any{"parentId": tree.District.ID, "level": "street"}, a.AccessToken, 400, 10001},
		{"org: name too long", "POST", "/admin/orgs", map[string]any{"parentId": tree.District.ID, "level": "street", "name": strings.Repeat("名", 65)}, a.AccessToken, 400, 10001},
		{"org: parentId a string", "POST", "/admin/orgs", map[string]any{"parentId": "1", "level": "street", "name": "x"}, a.AccessToken, 400, 10001},
		{"org: unknown parent", "POST", "/admin/orgs", map[string]any{"parentId": 987654321, "level": "street", "name": "x"}, a.AccessToken, 404, 10005},
		{"org: 2 MiB", "POST", "/admin/orgs", big, a.AccessToken, 413, 10001},
		{"staff: role unknown", "POST", "/admin/staff", map[string]any{"userId": u.UserID, "orgId": tree.CommunityA.ID, "role": "king"}, a.AccessToken, 400, 10001},
		{"staff: userId missing", "POST", "/admin/staff", map[string]any{"orgId": tree.CommunityA.ID, "role": "staff"}, a.AccessToken, 400, 10001},
		{"staff: orgId a bool", "POST", "/admin/staff", map[string]any{"userId": u.UserID, "orgId": true, "role": "staff"}, a.AccessToken, 400, 10001},
		{"staff: unknown user", "POST", "/admin/staff", map[string]any{"userId": 987654321, "orgId": tree.CommunityA.ID, "role": "staff"}, a.AccessToken, 404, 10005},
		{"staff: unknown org", "POST", "/admin/staff", map[string]any{"userId": u.UserID, "orgId": 987654321, "role": "staff"}, a.AccessToken, 404, 10005},
		{"staff: delete unknown", "DELETE", "/admin/staff/987654321", nil, a.AccessToken, 404, 10005},
		{"staff: delete bad id", "DELETE", "/admin/staff/x1", nil, a.AccessToken, 400, 10001},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := h.Rows()
			var snapshot model.User
			h.DB.First(&snapshot, u.UserID)
			res := h.Do(tc.method, tc.path, tc.body, tc.token).Expect(t, tc.status, tc.code)
			if res.Message == "" || string(res.Data) != "null" || res.RequestID == "" {
				t.Fatalf("not an error envelope: %s", res.Raw)
			}
			before.WroteNothing(t, "the request")
			var now model.User
			h.DB.First(&now, u.UserID)
			if now.Nickname != snapshot.Nickname || now.HomeCommunityID != nil || now.Phone != "" {
				t.Fatalf("user changed: %+v", now)
			}
		})
	}
}

// TestBodyLimitWithoutContentLength streams a 2 MiB body without a length:
// reading stops at the limit and the answer is 413.
func TestBodyLimitWithoutContentLength(t *testing.T) {
	h := testutil.New(t)
	u := h.MustLogin(testutil.UniqueOpenID("stream"))
	body := io.MultiReader(strings.NewReader(`{"nickname":"`), bytes.NewReader(bytes.Repeat([]byte("y"), 2<<20)), strings.NewReader(`"}`))
	req := httptest.NewRequest("PUT", "/api/v1/me", body)
	if req.ContentLength != -1 {
		req.ContentLength = -1
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+u.AccessToken)
	w := httptest.NewRecorder()
	h.Router.ServeHTTP(w, req)
	if w.Code != http.StatusRequestEntityTooLarge || !strings.Contains(w.Body.String(), `"code":10001`) {
		t.Fatalf("got %d %s", w.Code, w.Body.String())
	}
	if v := me(t, h, u.AccessToken); v.Nickname != "" {
		t.Fatalf("nickname changed to %q", v.Nickname)
	}
}

// TestUnknownFieldsIgnored: a request may carry fields the server does not
// know (the contract says they are ignored).
func TestUnknownFieldsIgnored(t *testing.T) {
	h := testutil.New(t)
	u := h.MustLogin(testutil.UniqueOpenID("unk"))
	h.Do("PUT", "/me", map[string]any{"nickname": "新名", "favouriteColour": "red", "id": 1}, u.AccessToken).Expect(t, 200, 0)
	if v := me(t, h, u.AccessToken); v.Nickname != "新名" || v.ID != u.UserID {
		t.Fatalf("me = %+v", v)
	}
}
