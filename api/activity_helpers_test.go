package api_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"linli/internal/testutil"
	"linli/model"
)

// actEnv is a world (see testutil.World) with a staff member of community
// A; its users live in community A.
type actEnv struct {
	t       testing.TB
	w       *testutil.World
	h       *testutil.Harness
	tree    *testutil.Tree
	staffID int64
}

func newActEnv(t testing.TB, opts ...testutil.Option) *actEnv {
	t.Helper()
	w := testutil.NewWorld(t, opts...)
	e := &actEnv{t: t, w: w, h: w.Harness, tree: w.Tree}
	e.staffID = w.Staff("staff", w.Tree.CommunityA.ID).UserID
	return e
}

// staff returns a fresh access token of the staff member (tokens expire when
// the test moves the clock by hours).
func (e *actEnv) staff() string { return e.w.LoginAs(e.w.OpenID(e.staffID)).AccessToken }

// user is a signed-in test user.
type user struct {
	openid string
	id     int64
	token  string
}

func (e *actEnv) user(l testutil.Login) *user {
	return &user{openid: e.w.OpenID(l.UserID), id: l.UserID, token: l.AccessToken}
}

// login signs in a new user living in community A.
func (e *actEnv) login(prefix string) *user {
	e.t.Helper()
	return e.user(e.w.Login(prefix, e.tree.CommunityA.ID))
}

// volunteer signs in a new user and registers them as a volunteer.
func (e *actEnv) volunteer(prefix string) *user {
	e.t.Helper()
	return e.user(e.w.Volunteer(prefix, e.tree.CommunityA.ID))
}

// volunteers makes n registered volunteers.
func (e *actEnv) volunteers(n int) []*user {
	e.t.Helper()
	var out []*user
	for _, l := range e.w.Volunteers("v", e.tree.CommunityA.ID, n) {
		out = append(out, e.user(l))
	}
	return out
}

// relogin refreshes the users' tokens after the clock moved.
func (e *actEnv) relogin(us ...*user) {
	e.t.Helper()
	for _, u := range us {
		u.token = e.w.LoginAs(u.openid).AccessToken
	}
}

// activityBody is a valid activity of community A starting in 2 h (1 h
// long, sign-up until 1 h from now), with fields replaced (nil deletes).
func (e *actEnv) activityBody(over map[string]any) map[string]any {
	now := e.h.Clock.Now()
	body := map[string]any{
		"communityId": e.tree.CommunityA.ID, "title": "清洁家园", "content": "一起打扫社区", "category": "环境保护",
		"address": "社区广场", "startAt": now.Add(2 * time.Hour), "endAt": now.Add(3 * time.Hour),
		"signupDeadline": now.Add(time.Hour), "capacity": 0, "waitlist": false,
	}
	for k, v := range over {
		if v == nil {
			delete(body, k)
		} else {
			body[k] = v
		}
	}
	return body
}

// newActivity creates and publishes an activity (see activityBody).
func (e *actEnv) newActivity(over map[string]any) int64 {
	e.t.Helper()
	tok := e.staff()
	res := e.h.Do("POST", "/activities", e.activityBody(over), tok).Expect(e.t, 201, 0)
	var a struct{ ID int64 }
	res.Decode(e.t, &a)
	e.h.Do("POST", fmt.Sprintf("/activities/%d/publish", a.ID), nil, tok).Expect(e.t, 200, 0)
	return a.ID
}

// signup signs u up and returns the answer.
func (e *actEnv) signup(id int64, u *user) (status string, position int) {
	e.t.Helper()
	res := e.h.Do("POST", fmt.Sprintf("/activities/%d/signup", id), nil, u.token).Expect(e.t, 201, 0)
	var out struct {
		Status   string
		Position int
	}
	res.Decode(e.t, &out)
	return out.Status, out.Position
}

// code fetches a fresh check-in code as staff.
func (e *actEnv) code(id int64) string {
	e.t.Helper()
	res := e.h.Do("GET", fmt.Sprintf("/activities/%d/checkin-code", id), nil, e.staff()).Expect(e.t, 200, 0)
	var out struct{ Token string }
	res.Decode(e.t, &out)
	return out.Token
}

// attendance reads one attendance row.
func (e *actEnv) attendance(activityID, userID int64) model.Attendance {
	e.t.Helper()
	var a model.Attendance
	if err := e.h.DB.Where("activity_id = ? AND user_id = ?", activityID, userID).First(&a).Error; err != nil {
		e.t.Fatalf("attendance %d/%d: %v", activityID, userID, err)
	}
	return a
}

// activity reads one activity row, with its waitlist counted.
func (e *actEnv) activity(id int64) model.Activity {
	e.t.Helper()
	var a model.Activity
	if err := e.h.DB.Select("activities.*, "+model.WaitlistedColumn).First(&a, id).Error; err != nil {
		e.t.Fatalf("activity %d: %v", id, err)
	}
	return a
}

// balance returns a user's balance in currency (0 without an account).
func (e *actEnv) balance(userID int64, c model.Currency) int64 {
	e.t.Helper()
	var a model.Account
	if err := e.h.DB.Where("owner_kind = ? AND owner_id = ? AND currency = ?", model.OwnerUser, userID, c).
		Limit(1).Find(&a).Error; err != nil {
		e.t.Fatal(err)
	}
	return a.Balance
}

// send calls handler through testutil.TrySend, safe from goroutines; an
// answer that is not an envelope has Code -1.
func send(handler http.Handler, method, path, token string, body any) *testutil.Response {
	r, err := testutil.TrySend(handler, testutil.Request{Method: method, Path: path, Token: token, Body: body})
	if err != nil {
		if r == nil {
			r = &testutil.Response{}
		}
		r.Code = -1
	}
	return r
}
