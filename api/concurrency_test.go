package api_test

import (
	"sync"
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
	ids := make([]int64, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			handler := h.Router
			if i%2 == 1 {
				handler = second
			}
			res := testutil.Send(t, handler, testutil.Request{Method: "POST", Path: "/auth/wechat-login", Body: map[string]string{"code": openid}})
			if res.Status != 200 {
				t.Errorf("login %d: %d %s", i, res.Status, res.Raw)
				return
			}
			var tok tokenPair
			res.Decode(t, &tok)
			ids[i] = tok.User.ID
		}()
	}
	wg.Wait()
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
	ids := make([]int64, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := h.Send(testutil.Request{Method: "POST", Path: "/admin/staff", Token: admin.AccessToken,
				Body: map[string]any{"userId": u.UserID, "orgId": tree.CommunityA.ID, "role": "staff"}})
			if res.Status != 201 {
				t.Errorf("appointment %d: %d %s", i, res.Status, res.Raw)
				return
			}
			var sv staffView
			res.Decode(t, &sv)
			ids[i] = sv.ID
		}()
	}
	wg.Wait()
	if got := h.Count(&model.StaffRole{}, "user_id = ?", u.UserID); got != 1 {
		t.Fatalf("%d rows for one appointment", got)
	}
	for i, id := range ids {
		if id != ids[0] || id == 0 {
			t.Fatalf("answer %d names appointment %d, answer 0 names %d", i, id, ids[0])
		}
	}
}
