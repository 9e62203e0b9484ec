package api_test

import (
	"strings"
	"testing"
)

// TestSignupRoundTrips holds a sign-up to the statements it needs (the
// caller's context comes from the session's Redis pipeline): the
// registration locked, the activity with every fact the rules need in one
// read, the seat, the row. Joining the waitlist adds the shared lock of the
// activity and, after commit, the place (an exclusive lock and one count).
// Redis is read once for the session and written once after the commit: the
// community's activity list token (the kept first pages end everywhere).
func TestSignupRoundTrips(t *testing.T) {
	e := newActEnv(t)
	vs := e.volunteers(3)
	id := e.newActivity(map[string]any{"capacity": 1, "waitlist": true})
	for _, v := range vs {
		e.h.Do("GET", "/me", nil, v.token).Expect(t, 200, 0) // the caller's context is cached
	}
	for i, c := range []struct {
		want   string
		budget int
	}{{"signed", 4}, {"waitlisted", 6}, {"waitlisted", 6}} {
		var got string
		tr := e.h.Trips(func() { got, _ = e.signup(id, vs[i]) })
		if got != c.want || tr.SQL > c.budget || tr.Redis > 2 {
			t.Fatalf("sign-up %d: %s with %d statements and %d Redis round trips, want %s within %d and 2:\n  %s\n  %s",
				i, got, tr.SQL, tr.Redis, c.want, c.budget, strings.Join(tr.Statements, "\n  "), strings.Join(tr.Commands, "\n  "))
		}
	}
}
