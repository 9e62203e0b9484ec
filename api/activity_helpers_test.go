package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"linli/internal/testutil"
	"linli/model"
)

// actEnv is a harness with an org tree and a staff member of community A,
// with rate limits off (the tests sign in hundreds of users from one address).
type actEnv struct {
	t           testing.TB
	h           *testutil.Harness
	tree        *testutil.Tree
	staffOpenID string
	staffID     int64
}

func newActEnv(t testing.TB, opts ...testutil.Option) *actEnv {
	t.Helper()
	opts = append([]testutil.Option{testutil.WithConfig(map[string]any{
		"ratelimit.login_per_minute": 0, "ratelimit.write_per_minute": 0,
	})}, opts...)
	h := testutil.New(t, opts...)
	e := &actEnv{t: t, h: h, tree: h.MustTree(), staffOpenID: testutil.UniqueOpenID("staff")}
	l := e.mustLogin(e.staffOpenID)
	e.staffID = l.UserID
	h.MustMakeStaff(l.UserID, e.tree.CommunityA.ID, model.RoleStaff)
	return e
}

// staff returns a fresh access token of the staff member (tokens expire when
// the test moves the clock by hours).
func (e *actEnv) staff() string { return e.mustLogin(e.staffOpenID).AccessToken }

// mustLogin signs openid in through WeChat, or through dev-login when the
// harness has no WeChat.
func (e *actEnv) mustLogin(openid string) testutil.Login {
	e.t.Helper()
	if e.h.Config.WeChat.Enabled() {
		return e.h.MustLogin(openid)
	}
	res := e.h.Do("POST", "/auth/dev-login", map[string]string{"openid": openid}, "").Expect(e.t, 200, 0)
	var out struct {
		AccessToken string
		User        struct{ ID int64 }
	}
	res.Decode(e.t, &out)
	return testutil.Login{UserID: out.User.ID, AccessToken: out.AccessToken}
}

// user is a signed-in test user.
type user struct {
	openid string
	id     int64
	token  string
}

// login signs in a new user living in community A.
func (e *actEnv) login(prefix string) *user {
	e.t.Helper()
	openid := testutil.UniqueOpenID(prefix)
	l := e.mustLogin(openid)
	e.h.MustSetHome(l.UserID, e.tree.CommunityA.ID)
	return &user{openid: openid, id: l.UserID, token: l.AccessToken}
}

// volunteer signs in a new user and registers them as a volunteer.
func (e *actEnv) volunteer(prefix string) *user {
	e.t.Helper()
	u := e.login(prefix)
	e.h.MustVolunteer(u.id)
	return u
}

// volunteers makes n registered volunteers, a few at a time.
func (e *actEnv) volunteers(n int) []*user {
	e.t.Helper()
	out := make([]*user, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			out[i] = e.volunteer(fmt.Sprintf("v%d", i))
		})
	}
	wg.Wait()
	return out
}

// relogin refreshes the users' tokens after the clock moved.
func (e *actEnv) relogin(us ...*user) {
	e.t.Helper()
	for _, u := range us {
		u.token = e.mustLogin(u.openid).AccessToken
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

// activity reads one activity row.
func (e *actEnv) activity(id int64) model.Activity {
	e.t.Helper()
	var a model.Activity
	if err := e.h.DB.First(&a, id).Error; err != nil {
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

// fire runs f(0..n-1) in n goroutines released at once.
func fire(n int, f func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			f(i)
		})
	}
	close(start)
	wg.Wait()
}

// answer is the status, code and data of a response sent from a goroutine
// (which must not call t.Fatal).
type answer struct {
	Status, Code int
	Data         json.RawMessage
}

// send calls handler without a *testing.T, for use from goroutines; an
// answer that is not an envelope has Code -1.
func send(handler http.Handler, method, path, token string, body any) answer {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return answer{Code: -1}
		}
		rd = bytes.NewReader(b)
	}
	r := httptest.NewRequest(method, "/api/v1"+path, rd)
	if rd != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	r.Header.Set("Authorization", "Bearer "+token)
	w := httptest.NewRecorder()
	handler.ServeHTTP(w, r)
	var env struct {
		Code int
		Data json.RawMessage
	}
	if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil {
		return answer{Status: w.Code, Code: -1}
	}
	return answer{Status: w.Code, Code: env.Code, Data: env.Data}
}
