package api_test

import (
	"net/http"
	"testing"

	"linli/internal/testutil"
	"linli/model"
)

// TestConcurrentFirstLogins: many first logins of one openid at once (a
// double tap, several instances) make exactly one user, and every login
// succeeds as that user.
func TestConcurrentFirstLogins(t *testing.T) {
	h := testutil.New(t)
	_, second := h.NewInstance()
	openid := testutil.UniqueOpenID("race")
	const n = 16
	routers := []http.Handler{h.Router, second}
	answers := testutil.RaceSend(t, n, func(i int) (http.Handler, testutil.Request) {
		return routers[i%2], testutil.Request{Method: "POST", Path: "/auth/wechat-login", Body: map[string]string{"code": openid}}
	})
	ids := make([]int64, n)
	for i, res := range answers {
		var tok tokenPair
		res.Expect(t, 200, 0).Decode(t, &tok)
		ids[i] = tok.User.ID
	}
	if got := h.Count(&model.User{}, "open_id = ?", openid); got != 1 {
		t.Fatalf("%d users for one openid", got)
	}
	for i, id := range ids {
		if id != ids[0] {
			t.Fatalf("login %d is user %d, login 0 is user %d", i, id, ids[0])
		}
	}
}

// TestConcurrentAppointments: the same appointment sent many times at once
// gives one row, and every answer names it.
func TestConcurrentAppointments(t *testing.T) {
	logs := &syncBuffer{}
	h := testutil.New(t, testutil.WithLogWriter(logs))
	defer func() {
		if t.Failed() {
			t.Log(logs.String())
		}
	}()
	tree := h.MustTree()
	admin := h.MustLogin(testutil.UniqueOpenID("adm"))
	h.MustMakeStaff(admin.UserID, tree.Street.ID, model.RoleAdmin)
	u := h.MustLogin(testutil.UniqueOpenID("u"))
	const n = 12
	answers := testutil.RaceSend(t, n, func(int) (http.Handler, testutil.Request) {
		return h.Router, testutil.Request{Method: "POST", Path: "/admin/staff", Token: admin.AccessToken,
			Body: map[string]any{"userId": u.UserID, "orgId": tree.CommunityA.ID, "role": "staff"}}
	})
	ids := make([]int64, n)
	for i, res := range answers {
		var sv staffView
		res.Expect(t, 201, 0).Decode(t, &sv)
		ids[i] = sv.ID
	}
	if got := h.Count(&model.StaffRole{}, "user_id = ?", u.UserID); got != 1 {
		t.Fatalf("%d rows for one appointment", got)
	}
	for i, id := range ids {
		if id != ids[0] || id == 0 {
			t.Fatalf("answer %d names appointment %d, answer 0 names %d", i, id, ids[0])
		}
	}
}
