package testutil

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"linli/model"
)

// World is the start of every area's fixture: a harness with an org tree
// (see MustTree) and helpers that sign people in and give them their roles
// directly in the database — residents, staff, Party members, unit liaisons
// and volunteers. Each area's fixture embeds one and adds its own people.
type World struct {
	*Harness
	Tree *Tree

	mu      sync.Mutex
	openids map[int64]string
}

// NewWorld builds a harness with opts and an org tree. Sign-in and write
// rate limits are off unless opts set them: fixtures sign in many people
// from one address.
func NewWorld(t testing.TB, opts ...Option) *World {
	t.Helper()
	opts = append([]Option{WithConfig(map[string]any{
		"ratelimit.login_per_minute": 0, "ratelimit.write_per_minute": 0,
	})}, opts...)
	h := New(t, opts...)
	return &World{Harness: h, Tree: h.MustTree(), openids: map[int64]string{}}
}

// Login signs in a new user (openid from prefix) through WeChat, or
// through dev-login when the harness has no WeChat; with home != 0 the user
// lives in that community.
func (w *World) Login(prefix string, home int64) Login {
	w.T.Helper()
	openid := UniqueOpenID(prefix)
	l := w.LoginAs(openid)
	if home != 0 {
		w.MustSetHome(l.UserID, home)
	}
	return l
}

// LoginAs signs openid in (again) and returns fresh tokens.
func (w *World) LoginAs(openid string) Login {
	w.T.Helper()
	l, err := w.TryLoginAs(openid)
	if err != nil {
		w.T.Fatal(err)
	}
	return l
}

// TryLoginAs is LoginAs without a test to fail: safe from any goroutine.
func (w *World) TryLoginAs(openid string) (Login, error) {
	req := Request{Method: "POST", Path: "/auth/wechat-login", Body: map[string]string{"code": openid}}
	if !w.Config.WeChat.Enabled() {
		req = Request{Method: "POST", Path: "/auth/dev-login", Body: map[string]string{"openid": openid}}
	}
	res, err := TrySend(w.Router, req)
	if err != nil {
		return Login{}, err
	}
	if res.Status != 200 || res.Code != 0 {
		return Login{}, fmt.Errorf("login %s: HTTP %d code %d: %s", openid, res.Status, res.Code, res.Raw)
	}
	var out struct {
		AccessToken, RefreshToken string
		User                      struct{ ID int64 }
	}
	if err := json.Unmarshal(res.Data, &out); err != nil {
		return Login{}, fmt.Errorf("login %s: %w", openid, err)
	}
	l := Login{UserID: out.User.ID, AccessToken: out.AccessToken, RefreshToken: out.RefreshToken}
	w.mu.Lock()
	w.openids[l.UserID] = openid
	w.mu.Unlock()
	return l, nil
}

// Volunteers signs in n new users living in community (a few at a time)
// and registers them as volunteers; the sign-ins run in parallel, the
// writes after them in the test's goroutine.
func (w *World) Volunteers(prefix string, community int64, n int) []Login {
	w.T.Helper()
	type result struct {
		l   Login
		err error
	}
	sem := make(chan struct{}, 8)
	rs := Race(w.T, n, func(i int) result {
		sem <- struct{}{}
		defer func() { <-sem }()
		l, err := w.TryLoginAs(UniqueOpenID(fmt.Sprintf("%s%d", prefix, i)))
		return result{l, err}
	})
	out := make([]Login, n)
	for i, r := range rs {
		if r.err != nil {
			w.T.Fatal(r.err)
		}
		if community != 0 {
			w.MustSetHome(r.l.UserID, community)
		}
		w.MustVolunteer(r.l.UserID)
		out[i] = r.l
	}
	return out
}

// OpenID returns the openid a user of the world signed in with.
func (w *World) OpenID(userID int64) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.openids[userID]
}

// Relogin replaces each login's tokens by fresh ones (after the clock moved
// past their lifetime).
func (w *World) Relogin(ls ...*Login) {
	w.T.Helper()
	for _, l := range ls {
		*l = w.LoginAs(w.OpenID(l.UserID))
	}
}

// Staff signs in a new user (with no home) and appoints them staff of org.
func (w *World) Staff(prefix string, org int64) Login {
	w.T.Helper()
	l := w.Login(prefix, 0)
	w.MustMakeStaff(l.UserID, org, model.RoleStaff)
	return l
}

// Member signs in a new user living in community with an approved member
// report to it (the party_member role).
func (w *World) Member(prefix string, community int64) Login {
	w.T.Helper()
	l := w.Login(prefix, community)
	w.MustPartyMember(l.UserID, community)
	return l
}

// Volunteer signs in a new user living in community and registers them as
// a volunteer.
func (w *World) Volunteer(prefix string, community int64) Login {
	w.T.Helper()
	l := w.Login(prefix, community)
	w.MustVolunteer(l.UserID)
	return l
}
