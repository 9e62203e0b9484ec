package service_test

import (
	"encoding/json"
	"fmt"
	"sort"
	"testing"
	"time"

	"linli/internal/testutil"
	"linli/model"
	"linli/service"
)

// groupSignups sends a sign-up for the activity with each token while the
// activity's sign-ups are held on w's instance, waits until all of them
// queue, and releases them as one group. It returns the answers in token
// order.
func groupSignups(t *testing.T, w *testutil.World, activityID int64, tokens []string) []*testutil.Response {
	t.Helper()
	release := service.HoldSignups(w.Svc, activityID)
	answers := make([]*testutil.Response, len(tokens))
	errs := make(chan error, len(tokens))
	for i, tok := range tokens {
		go func() {
			r, err := testutil.TrySend(w.Router, testutil.Request{Method: "POST", Path: fmt.Sprintf("/activities/%d/signup", activityID), Token: tok})
			answers[i] = r
			errs <- err
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for service.QueuedSignups(w.Svc, activityID) < len(tokens) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d sign-ups queued", service.QueuedSignups(w.Svc, activityID), len(tokens))
		}
		time.Sleep(time.Millisecond)
	}
	release()
	for range tokens {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	return answers
}

// publishedActivity inserts a published activity of community A starting
// in startIn, an hour long.
func publishedActivity(t *testing.T, w *testutil.World, staffID int64, startIn time.Duration, capacity int, waitlist bool, status model.ActivityStatus) model.Activity {
	t.Helper()
	now := w.Clock.Now().UTC().Truncate(time.Second)
	a := model.Activity{CommunityID: w.Tree.CommunityA.ID, Title: "清洁家园", Content: "一起打扫社区", Category: "环境保护",
		Address: "社区广场", RadiusM: 500, StartAt: now.Add(startIn), EndAt: now.Add(startIn + time.Hour),
		SignupDeadline: now.Add(time.Hour), Capacity: capacity, Waitlist: waitlist, Audience: "all", PointsPerHour: 10,
		Status: status, CreatedBy: staffID, PublishedBy: &staffID, PublishedAt: &now}
	if err := w.DB.Create(&a).Error; err != nil {
		t.Fatal(err)
	}
	return a
}

// TestSignupGroupAnswersAsAlone: sign-ups written together as one group get
// the answers each would get alone — a caller who is not a volunteer, one
// already signed up, one with an overlapping activity, the same caller
// twice, a caller who cancelled earlier and signs up again, and newcomers —
// and the seats, the waitlist's places and order, and the rows agree.
func TestSignupGroupAnswersAsAlone(t *testing.T) {
	w := testutil.NewWorld(t)
	a := w.Tree.CommunityA.ID
	staff := w.Staff("staff", a)
	act := publishedActivity(t, w, staff.UserID, 2*time.Hour, 4, true, model.ActivityPublished)
	other := publishedActivity(t, w, staff.UserID, 2*time.Hour+30*time.Minute, 0, false, model.ActivityPublished)
	path := fmt.Sprintf("/activities/%d/signup", act.ID)

	vols := w.Volunteers("v", a, 8)
	stranger := w.Login("stranger", a) // not a volunteer
	w.Do("POST", path, nil, vols[0].AccessToken).Expect(t, 201, 0)
	w.Do("POST", path, nil, vols[1].AccessToken).Expect(t, 201, 0)
	w.Do("POST", fmt.Sprintf("/activities/%d/signup", other.ID), nil, vols[2].AccessToken).Expect(t, 201, 0)
	w.Do("POST", path, nil, vols[3].AccessToken).Expect(t, 201, 0)
	w.Do("DELETE", path, nil, vols[3].AccessToken).Expect(t, 200, 0)

	tokens := []string{stranger.AccessToken, vols[0].AccessToken, vols[2].AccessToken, vols[3].AccessToken,
		vols[4].AccessToken, vols[4].AccessToken, vols[5].AccessToken, vols[6].AccessToken, vols[7].AccessToken}
	answers := groupSignups(t, w, act.ID, tokens)

	answers[0].Expect(t, 409, service.CodeVolunteerRequired)
	answers[1].Expect(t, 409, service.CodeAlreadySignedUp)
	answers[2].Expect(t, 409, service.CodeScheduleOverlap)
	// vols[4] twice: one gets in, the other is told it already is.
	if a, b := answers[4], answers[5]; a.Code == service.CodeAlreadySignedUp {
		answers[4], answers[5] = b, a
	}
	answers[5].Expect(t, 409, service.CodeAlreadySignedUp)
	type signup struct {
		Status   string
		Position int
	}
	byUser := map[int64]signup{}
	for i, u := range []testutil.Login{vols[3], vols[4], vols[5], vols[6], vols[7]} {
		res := answers[[]int{3, 4, 6, 7, 8}[i]].Expect(t, 201, 0)
		var s signup
		if err := json.Unmarshal(res.Data, &s); err != nil {
			t.Fatal(err)
		}
		byUser[u.UserID] = s
	}
	// Two seats were left: two of the five get them, three are waitlisted
	// at 1, 2, 3 in the order of their rows.
	var places []int
	for _, s := range byUser {
		if s.Status == string(model.SignupWaitlisted) {
			places = append(places, s.Position)
		} else if s.Status != string(model.SignupSigned) {
			t.Fatalf("answers: %+v", byUser)
		}
	}
	sort.Ints(places)
	if fmt.Sprint(places) != "[1 2 3]" {
		t.Fatalf("waitlist places %v, want [1 2 3]: %+v", places, byUser)
	}
	var rows []model.Attendance
	if err := w.DB.Where("activity_id = ? AND status = ?", act.ID, model.SignupWaitlisted).Order(model.WaitlistOrder).Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	for i, r := range rows {
		if got := byUser[r.UserID]; got.Position != i+1 {
			t.Fatalf("waitlisted row %d (user %d) was told place %d", i+1, r.UserID, got.Position)
		}
	}
	var got model.Activity
	if err := w.DB.Select("activities.*, "+model.WaitlistedColumn).First(&got, act.ID).Error; err != nil {
		t.Fatal(err)
	}
	if got.Signed != 4 || got.Waitlisted != 3 || len(rows) != 3 {
		t.Fatalf("activity signed %d waitlisted %d (%d rows), want 4 and 3", got.Signed, got.Waitlisted, len(rows))
	}
	if n := w.Count(&model.Attendance{}, "activity_id = ? AND status = ?", act.ID, model.SignupSigned); n != 4 {
		t.Fatalf("%d signed rows, want 4", n)
	}
	if n := w.Count(&model.Attendance{}, "activity_id = ? AND user_id = ?", act.ID, vols[3].UserID); n != 1 {
		t.Fatalf("the volunteer who came back has %d rows", n)
	}

	// A group for a full activity without a waitlist: one seat, one winner.
	full := publishedActivity(t, w, staff.UserID, 5*time.Hour, 1, false, model.ActivityPublished)
	more := w.Volunteers("m", a, 5)
	var toks []string
	for _, v := range more {
		toks = append(toks, v.AccessToken)
	}
	winners := 0
	for _, r := range groupSignups(t, w, full.ID, toks) {
		if r.Status == 201 && r.Code == 0 {
			winners++
		} else {
			r.Expect(t, 409, service.CodeActivityFull)
		}
	}
	if winners != 1 {
		t.Fatalf("%d winners of one seat", winners)
	}

	// A group for an activity not open for sign-up gets the single path's
	// answer, each.
	cancelled := publishedActivity(t, w, staff.UserID, 7*time.Hour, 10, true, model.ActivityCancelled)
	for _, r := range groupSignups(t, w, cancelled.ID, toks) {
		r.Expect(t, 409, service.CodeSignupClosed)
	}
}
