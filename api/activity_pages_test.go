package api_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"linli/internal/testutil"
	"linli/model"
	"linli/service"
)

// listedActivity is a listed activity as the API shows it.
type listedActivity = service.ActivityView

// listActivities reads the first page of path on an instance, by id.
func listActivities(t *testing.T, on http.Handler, path, token string) (order []int64, byID map[int64]listedActivity) {
	t.Helper()
	var page struct {
		List    []listedActivity `json:"list"`
		HasMore *bool            `json:"hasMore"`
	}
	testutil.Send(t, on, testutil.Request{Method: "GET", Path: path, Token: token}).Expect(t, 200, 0).Decode(t, &page)
	if page.HasMore == nil {
		t.Fatalf("%s: no hasMore: not a feed", path)
	}
	byID = map[int64]listedActivity{}
	for _, a := range page.List {
		order = append(order, a.ID)
		byID[a.ID] = a
	}
	return order, byID
}

// TestActivityListKeptPageFollowsEveryChange: the first page of the public
// list is kept on each instance; every change to what it shows, made on the
// other instance, shows on the very next list — a seat taken, the waitlist
// joined, a seat freed and given to the waitlist, an activity published and
// cancelled, the sweep finishing one — and so do the deadline and the end
// passing. The page a change not made through linli left kept ends after
// activity.list_cache_max_age.
func TestActivityListKeptPageFollowsEveryChange(t *testing.T) {
	e := newActEnv(t)
	_, b := e.h.NewInstance()
	a := e.h.Router
	vs := e.volunteers(3)
	r := e.login("reader")
	x := e.newActivity(map[string]any{"title": "X", "capacity": 2, "waitlist": true})

	check := func(step string, on http.Handler, id int64, want func(listedActivity) bool) listedActivity {
		t.Helper()
		_, got := listActivities(t, on, "/activities", r.token)
		if !want(got[id]) {
			t.Fatalf("%s: activity %d listed as %+v", step, id, got[id])
		}
		return got[id]
	}
	check("published", b, x, func(l listedActivity) bool { return l.Signed == 0 && *l.SeatsLeft == 2 && l.SignupOpen })

	// Kept: the list read again costs no statement, on either store.
	tr := e.h.Trips(func() { listActivities(t, a, "/activities", r.token) })
	tr = e.h.Trips(func() { listActivities(t, a, "/activities", r.token) })
	if tr.SQL != 0 || tr.Redis > 2 {
		t.Fatalf("kept list read: %d statements and %d Redis round trips, want 0 and at most 2 (the session, the tokens):\n  %v\n  %v",
			tr.SQL, tr.Redis, tr.Statements, tr.Commands)
	}

	send(a, "POST", fmt.Sprintf("/activities/%d/signup", x), vs[0].token, nil).Expect(t, 201, 0)
	check("signed up on A", b, x, func(l listedActivity) bool { return l.Signed == 1 && *l.SeatsLeft == 1 })
	send(b, "POST", fmt.Sprintf("/activities/%d/signup", x), vs[1].token, nil).Expect(t, 201, 0)
	check("signed up on B", a, x, func(l listedActivity) bool { return l.Signed == 2 && *l.SeatsLeft == 0 })
	send(a, "POST", fmt.Sprintf("/activities/%d/signup", x), vs[2].token, nil).Expect(t, 201, 0)
	check("waitlisted on A", b, x, func(l listedActivity) bool { return l.Signed == 2 && l.Waitlisted == 1 })
	send(a, "DELETE", fmt.Sprintf("/activities/%d/signup", x), vs[0].token, nil).Expect(t, 200, 0)
	check("cancelled and promoted on A", b, x, func(l listedActivity) bool { return l.Signed == 2 && l.Waitlisted == 0 })

	y := e.newActivity(map[string]any{"title": "Y"})
	check("Y published on A", b, y, func(l listedActivity) bool { return l.ID == y && l.Status == model.ActivityPublished })
	send(a, "POST", fmt.Sprintf("/activities/%d/cancel", y), e.staff(), map[string]any{"reason": "下雨"}).Expect(t, 200, 0)
	check("Y cancelled on A", b, y, func(l listedActivity) bool { return l.ID == 0 })

	// Written around linli: kept on B until the page's maximum age.
	if err := e.h.DB.Model(&model.Activity{}).Where("id = ?", x).Update("title", "X2").Error; err != nil {
		t.Fatal(err)
	}
	check("title changed in SQL", b, x, func(l listedActivity) bool { return l.Title == "X" })
	e.h.Clock.Advance(61 * time.Second)
	e.relogin(r)
	check("a minute later", b, x, func(l listedActivity) bool { return l.Title == "X2" })

	// The deadline passes (1 h): no longer open, with nothing changed.
	e.h.Clock.Advance(time.Hour)
	e.relogin(r)
	check("deadline passed", b, x, func(l listedActivity) bool { return !l.SignupOpen && l.Status == model.ActivityPublished })
	// The end passes (3 h): the activity moves to the ended half, behind
	// one that has not ended.
	z := e.newActivity(map[string]any{"title": "Z"})
	e.h.Clock.Advance(2 * time.Hour)
	e.relogin(r)
	if order, _ := listActivities(t, b, "/activities", r.token); len(order) < 2 || order[0] != z || order[1] != x {
		t.Fatalf("after X ended the list is %v, want Z (%d) before X (%d)", order, z, x)
	}
	if _, err := e.h.Svc.Activities.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	check("finished by the sweep", b, x, func(l listedActivity) bool { return l.Status == model.ActivityFinished })
}

// TestActivityListKeptPageAfterARace: volunteers sign up for one activity
// on two instances at once while residents read the list on both; once the
// race is over, both lists show the seats the database holds.
func TestActivityListKeptPageAfterARace(t *testing.T) {
	e := newActEnv(t)
	_, b := e.h.NewInstance()
	instances := []http.Handler{e.h.Router, b}
	vs := e.volunteers(24)
	r := e.login("reader")
	id := e.newActivity(map[string]any{"capacity": 10, "waitlist": true})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					send(instances[i%2], "GET", "/activities", r.token, nil)
				}
			}
		}()
	}
	res := testutil.Race(t, len(vs), func(i int) *testutil.Response {
		return send(instances[i%2], "POST", fmt.Sprintf("/activities/%d/signup", id), vs[i].token, nil)
	})
	close(stop)
	wg.Wait()
	for _, x := range res {
		x.Expect(t, 201, 0)
	}
	row := e.activity(id)
	if row.Signed != 10 || row.Waitlisted != 14 {
		t.Fatalf("database: signed %d, waitlisted %d; want 10 and 14", row.Signed, row.Waitlisted)
	}
	for i, on := range instances {
		_, got := listActivities(t, on, "/activities", r.token)
		if l := got[id]; l.Signed != row.Signed || l.Waitlisted != row.Waitlisted || *l.SeatsLeft != 0 {
			t.Fatalf("instance %d lists %+v after the race, the database holds signed %d, waitlisted %d",
				i, l, row.Signed, row.Waitlisted)
		}
	}
}

// TestActivityStreetListKeptPage: a street's list is kept under the tokens
// of all its communities; a sign-up in one of them shows at once.
func TestActivityStreetListKeptPage(t *testing.T) {
	e := newActEnv(t)
	_, b := e.h.NewInstance()
	v := e.volunteer("v")
	r := e.login("reader")
	id := e.newActivity(map[string]any{"capacity": 5})
	path := fmt.Sprintf("/activities?communityId=%d", e.tree.Street.ID)
	if _, got := listActivities(t, b, path, r.token); got[id].Signed != 0 {
		t.Fatalf("street list before: %+v", got[id])
	}
	send(e.h.Router, "POST", fmt.Sprintf("/activities/%d/signup", id), v.token, nil).Expect(t, 201, 0)
	if _, got := listActivities(t, b, path, r.token); got[id].Signed != 1 || *got[id].SeatsLeft != 4 {
		t.Fatalf("street list on B after a sign-up on A: %+v", got[id])
	}
}

// TestActivityListNotKeptWhenOff: with activity.list_cache_max_age 0 the
// first page is read each time, so even a change written around linli
// shows at once.
func TestActivityListNotKeptWhenOff(t *testing.T) {
	e := newActEnv(t, testutil.WithConfig(map[string]any{"activity.list_cache_max_age": "0s"}))
	r := e.login("reader")
	x := e.newActivity(map[string]any{"title": "X"})
	listActivities(t, e.h.Router, "/activities", r.token)
	if err := e.h.DB.Model(&model.Activity{}).Where("id = ?", x).Update("title", "X2").Error; err != nil {
		t.Fatal(err)
	}
	if _, got := listActivities(t, e.h.Router, "/activities", r.token); got[x].Title != "X2" {
		t.Fatalf("with nothing kept the list shows %q, want the title written in SQL", got[x].Title)
	}
}
