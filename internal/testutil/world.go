package testutil

import (
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
	var l Login
	if w.Config.WeChat.Enabled() {
		l = w.MustLogin(openid)
	} else {
		res := w.Do("POST", "/auth/dev-login", map[string]string{"openid": openid}, "").Expect(w.T, 200, 0)
		var out struct {
			AccessToken, RefreshToken string
			User                      struct{ ID int64 }
		}
		res.Decode(w.T, &out)
		l = Login{UserID: out.User.ID, AccessToken: out.AccessToken, RefreshToken: out.RefreshToken}
	}
	w.mu.Lock()
	w.openids[l.UserID] = openid
	w.mu.Unlock()
	return l
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

// Staff signs in a new user living in community and appoints them its staff.
func (w *World) Staff(prefix string, community int64) Login {
	w.T.Helper()
	l := w.Login(prefix, community)
	w.MustMakeStaff(l.UserID, community, model.RoleStaff)
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
