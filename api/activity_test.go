package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"linli/internal/ledger"
	"linli/internal/testutil"
	"linli/model"
	"linli/service"
)

func TestVolunteerRegistration(t *testing.T) {
	e := newActEnv(t)
	h := e.h
	u := e.login("reg")
	h.Do("GET", "/volunteers/me", nil, u.token).Expect(t, 404, service.CodeNotFound)

	id := e.newActivity(nil)
	h.Do("POST", fmt.Sprintf("/activities/%d/signup", id), nil, u.token).Expect(t, 409, service.CodeVolunteerRequired)

	good := map[string]any{"realName": "王小明", "phone": "13912345678", "skills": []string{"医疗护理", "其他"},
		"skillsNote": "会手语", "availability": "周末全天"}
	bad := []map[string]any{
		{"phone": "13912345678", "skills": []string{"其他"}, "availability": "周末"},              // no name
		{"realName": "王小明", "phone": "12345", "skills": []string{"其他"}, "availability": "周末"}, // bad phone
		{"realName": "王小明", "phone": "13912345678", "skills": []string{"飞行"}, "availability": "周末"},
		{"realName": "王小明", "phone": "13912345678", "availability": "周末"}, // neither skills nor note
		{"realName": "王小明", "phone": "13912345678", "skills": []string{"其他"}},
		{"realName": "王", "phone": "13912345678", "skills": []string{"其他"}, "availability": "周末"},
		{"realName": "王小明", "phone": 13912345678, "skills": []string{"其他"}, "availability": "周末"},
	}
	for i, b := range bad {
		h.Do("PUT", "/volunteers/me", b, u.token).Expect(t, 400, service.CodeInvalid)
		if n := h.Count(&model.VolunteerProfile{}, "user_id = ?", u.id); n != 0 {
			t.Fatalf("bad input %d wrote a profile", i)
		}
	}
	res := h.Do("PUT", "/volunteers/me", good, u.token).Expect(t, 200, 0)
	var v struct {
		RealName, Phone string
		Skills          []string
		Blocked         bool
	}
	res.Decode(t, &v)
	if v.RealName != "王小明" || v.Phone != "13912345678" || !slices.Equal(v.Skills, []string{"医疗护理", "其他"}) || v.Blocked {
		t.Fatalf("profile = %+v", v)
	}
	good["availability"] = "工作日晚上"
	h.Do("PUT", "/volunteers/me", good, u.token).Expect(t, 200, 0)
	if n := h.Count(&model.VolunteerProfile{}, "user_id = ? AND availability = ?", u.id, "工作日晚上"); n != 1 {
		t.Fatalf("update: %d rows", n)
	}
	h.Do("GET", "/volunteers/me", nil, u.token).Expect(t, 200, 0)
	h.Do("POST", fmt.Sprintf("/activities/%d/signup", id), nil, u.token).Expect(t, 201, 0)

	// Staff see the real name and full phone; nobody else has a way to.
	res = h.Do("GET", fmt.Sprintf("/activities/%d/attendances", id), nil, e.staff()).Expect(t, 200, 0)
	var list struct {
		List []struct {
			UserID          int64
			RealName, Phone string
		}
	}
	res.Decode(t, &list)
	if len(list.List) != 1 || list.List[0].RealName != "王小明" || list.List[0].Phone != "13912345678" {
		t.Fatalf("staff list = %s", res.Raw)
	}
	other := e.volunteer("nosy")
	h.Do("GET", fmt.Sprintf("/activities/%d/attendances", id), nil, other.token).Expect(t, 403, service.CodeForbidden)
	res = h.Do("GET", fmt.Sprintf("/activities/%d", id), nil, other.token).Expect(t, 200, 0)
	if strings.Contains(string(res.Raw), "13912345678") || strings.Contains(string(res.Raw), "王小明") {
		t.Fatalf("activity detail leaks personal data: %s", res.Raw)
	}
	h.Do("GET", "/volunteers/options", nil, u.token).Expect(t, 200, 0)
}

func TestCreateActivityValidation(t *testing.T) {
	e := newActEnv(t)
	h := e.h
	tok := e.staff()
	now := h.Clock.Now()
	cases := map[string]map[string]any{
		"end before start":      {"endAt": now.Add(90 * time.Minute)},
		"end equals start":      {"endAt": now.Add(2 * time.Hour)},
		"deadline after start":  {"signupDeadline": now.Add(150 * time.Minute)},
		"deadline passed":       {"signupDeadline": now.Add(-time.Minute)},
		"negative capacity":     {"capacity": -1},
		"radius too small":      {"radiusM": 49, "lat": 31.2, "lng": 121.4},
		"radius too large":      {"radiusM": 5001},
		"latitude out of range": {"lat": 90.5, "lng": 121.4},
		"longitude out":         {"lat": 31.2, "lng": 180.1},
		"lat without lng":       {"lat": 31.2},
		"bad audience":          {"audience": "vip"},
		"bad category":          {"category": "游戏"},
		"no title":              {"title": nil},
		"no start":              {"startAt": nil},
		"no capacity":           {"capacity": nil},
		"negative points":       {"pointsPerHour": -1},
		"capacity not a number": {"capacity": "20"},
		"street, not community": {"communityId": e.tree.Street.ID},
	}
	before := h.Count(&model.Activity{}, "community_id IN ?", []int64{e.tree.CommunityA.ID, e.tree.Street.ID})
	for name, over := range cases {
		t.Run(name, func(t *testing.T) {
			h.Do("POST", "/activities", e.activityBody(over), tok).Expect(t, 400, service.CodeInvalid)
		})
	}
	if after := h.Count(&model.Activity{}, "community_id IN ?", []int64{e.tree.CommunityA.ID, e.tree.Street.ID}); after != before {
		t.Fatalf("bad input wrote %d activities", after-before)
	}
	h.Do("POST", "/activities", e.activityBody(map[string]any{"communityId": 999999999}), tok).Expect(t, 404, service.CodeNotFound)
	resident := e.login("resident")
	h.Do("POST", "/activities", e.activityBody(nil), resident.token).Expect(t, 403, service.CodeForbidden)
	// Staff of community A cannot create in community B.
	h.Do("POST", "/activities", e.activityBody(map[string]any{"communityId": e.tree.CommunityB.ID}), tok).Expect(t, 403, service.CodeForbidden)

	// Defaults from the configuration, and a draft seen only by staff.
	res := h.Do("POST", "/activities", e.activityBody(map[string]any{"lat": 31.2, "lng": 121.4}), tok).Expect(t, 201, 0)
	var a struct {
		ID                     int64
		Status                 string
		RadiusM, PointsPerHour int
		Audience               string
		SeatsLeft              *int
	}
	res.Decode(t, &a)
	if a.Status != "draft" || a.RadiusM != 500 || a.PointsPerHour != 10 || a.Audience != "all" || a.SeatsLeft != nil {
		t.Fatalf("created %s", res.Raw)
	}
	h.Do("GET", fmt.Sprintf("/activities/%d", a.ID), nil, resident.token).Expect(t, 404, service.CodeNotFound)
	h.Do("POST", fmt.Sprintf("/activities/%d/signup", a.ID), nil, resident.token).Expect(t, 409, service.CodeVolunteerRequired)
	h.Do("POST", fmt.Sprintf("/activities/%d/publish", a.ID), nil, resident.token).Expect(t, 403, service.CodeForbidden)
	h.Do("POST", fmt.Sprintf("/activities/%d/publish", a.ID), nil, tok).Expect(t, 200, 0)
	h.Do("POST", fmt.Sprintf("/activities/%d/publish", a.ID), nil, tok).Expect(t, 409, service.CodeActivityState)
	h.Do("GET", fmt.Sprintf("/activities/%d", a.ID), nil, resident.token).Expect(t, 200, 0)
}

func TestUnitLiaisonProposesActivity(t *testing.T) {
	e := newActEnv(t)
	h := e.h
	liaison := e.login("liaison")
	unit := h.MustUnitLiaison(liaison.id, e.tree.CommunityA.ID)
	res := h.Do("POST", "/activities", e.activityBody(nil), liaison.token).Expect(t, 201, 0)
	var a struct {
		ID     int64
		Status string
		UnitID *int64
	}
	res.Decode(t, &a)
	if a.Status != "proposed" || a.UnitID == nil || *a.UnitID != unit.ID {
		t.Fatalf("proposal = %s", res.Raw)
	}
	// A liaison of a unit elsewhere may not propose for community B.
	h.Do("POST", "/activities", e.activityBody(map[string]any{"communityId": e.tree.CommunityB.ID}), liaison.token).
		Expect(t, 403, service.CodeForbidden)
	stranger := e.login("stranger")
	h.Do("GET", fmt.Sprintf("/activities/%d", a.ID), nil, stranger.token).Expect(t, 404, service.CodeNotFound)
	h.Do("GET", fmt.Sprintf("/activities/%d", a.ID), nil, liaison.token).Expect(t, 200, 0)
	h.Do("GET", fmt.Sprintf("/activities?communityId=%d&status=proposed", e.tree.CommunityA.ID), nil, stranger.token).
		Expect(t, 403, service.CodeForbidden)
	res = h.Do("GET", fmt.Sprintf("/activities?communityId=%d&status=proposed", e.tree.CommunityA.ID), nil, e.staff()).Expect(t, 200, 0)
	var list struct{ Total int }
	res.Decode(t, &list)
	if list.Total != 1 {
		t.Fatalf("proposals = %s", res.Raw)
	}
	h.Do("POST", fmt.Sprintf("/activities/%d/publish", a.ID), nil, e.staff()).Expect(t, 200, 0)
	if got := e.activity(a.ID); got.Status != model.ActivityPublished || got.UnitID == nil || *got.UnitID != unit.ID {
		t.Fatalf("published proposal = %+v", got)
	}
}

// signupAll has every user sign up at once through alternating instances
// and returns the answers.
func signupAll(t *testing.T, e *actEnv, id int64, users []*user) []*testutil.Response {
	t.Helper()
	_, second := e.h.NewInstance()
	routers := []http.Handler{e.h.Router, second}
	return testutil.Race(t, len(users), func(i int) *testutil.Response {
		return send(routers[i%2], "POST", fmt.Sprintf("/activities/%d/signup", id), users[i].token, nil)
	})
}

func TestSignupCapacityWithWaitlist(t *testing.T) {
	e := newActEnv(t)
	users := e.volunteers(200)
	id := e.newActivity(map[string]any{"capacity": 20, "waitlist": true})
	answers := signupAll(t, e, id, users)

	signed := 0
	byPosition := map[int]int{} // waitlist position → user index
	for i, a := range answers {
		var out struct {
			Status   string
			Position int
		}
		_ = json.Unmarshal(a.Data, &out)
		switch {
		case a.Status == 201 && out.Status == "signed":
			signed++
		case a.Status == 201 && out.Status == "waitlisted":
			if prev, dup := byPosition[out.Position]; dup {
				t.Fatalf("users %d and %d both got waitlist position %d", prev, i, out.Position)
			}
			byPosition[out.Position] = i
		default:
			t.Fatalf("user %d: HTTP %d code %d %s", i, a.Status, a.Code, a.Data)
		}
	}
	if signed != 20 || len(byPosition) != 180 {
		t.Fatalf("signed %d, waitlisted %d; want 20 and 180", signed, len(byPosition))
	}
	for p := 1; p <= 180; p++ {
		if _, ok := byPosition[p]; !ok {
			t.Fatalf("waitlist position %d missing", p)
		}
	}
	if a := e.activity(id); a.Signed != 20 || a.Waitlisted != 180 {
		t.Fatalf("counters signed=%d waitlisted=%d", a.Signed, a.Waitlisted)
	}
	if n := e.h.Count(&model.Attendance{}, "activity_id = ? AND status = ?", id, model.SignupSigned); n != 20 {
		t.Fatalf("%d signed rows", n)
	}

	// Ten signed users cancel at once: exactly ten promotions, in order.
	var cancelling []*user
	for i, a := range answers {
		var out struct{ Status string }
		_ = json.Unmarshal(a.Data, &out)
		if out.Status == "signed" && len(cancelling) < 10 {
			cancelling = append(cancelling, users[i])
		}
	}
	_, second := e.h.NewInstance()
	routers := []http.Handler{e.h.Router, second}
	cancels := testutil.Race(t, 10, func(i int) *testutil.Response {
		return send(routers[i%2], "DELETE", fmt.Sprintf("/activities/%d/signup", id), cancelling[i].token, nil)
	})
	for i, a := range cancels {
		if a.Status != 200 || a.Code != 0 {
			t.Errorf("cancel %d: HTTP %d code %d", i, a.Status, a.Code)
		}
	}
	for p := 1; p <= 180; p++ {
		att := e.attendance(id, users[byPosition[p]].id)
		want := model.SignupWaitlisted
		if p <= 10 {
			want = model.SignupSigned
		}
		if att.Status != want {
			t.Fatalf("user at waitlist position %d is %s, want %s", p, att.Status, want)
		}
	}
	if a := e.activity(id); a.Signed != 20 || a.Waitlisted != 170 {
		t.Fatalf("after cancellations signed=%d waitlisted=%d", a.Signed, a.Waitlisted)
	}
	if n := e.h.Count(&model.Notification{}, "object_kind = ? AND object_id = ? AND event = ?", "activity", id, service.EventWaitlistPromoted); n != 10 {
		t.Fatalf("%d promotion notices", n)
	}
	// The remaining waitlist is 1..170 in the original order.
	res := e.h.Do("GET", fmt.Sprintf("/activities/%d", id), nil, users[byPosition[11]].token).Expect(t, 200, 0)
	var d struct {
		SeatsLeft int
		MySignup  struct {
			Status   string
			Position int
		}
	}
	res.Decode(t, &d)
	if d.SeatsLeft != 0 || d.MySignup.Status != "waitlisted" || d.MySignup.Position != 1 {
		t.Fatalf("detail of the new head of the waitlist: %s", res.Raw)
	}
	res = e.h.Do("GET", fmt.Sprintf("/activities/%d/attendances?status=waitlisted&pageSize=100&page=2", id), nil, e.staff()).Expect(t, 200, 0)
	var page struct {
		Total int
		List  []struct {
			UserID   int64
			Position int
		}
	}
	res.Decode(t, &page)
	if page.Total != 170 || len(page.List) != 70 {
		t.Fatalf("waitlist page 2: total %d, %d rows", page.Total, len(page.List))
	}
	for i, r := range page.List {
		if r.Position != 101+i || r.UserID != users[byPosition[111+i]].id {
			t.Fatalf("waitlist row %d: %+v", 100+i, r)
		}
	}
}

// TestWaitlistRejoinRace: waitlisted users who cancelled sign up again
// (their cancelled row is reused) at the same time as newcomers, on two
// instances. Everyone joins the end of the queue with a distinct place,
// the places run on from the remaining queue without a gap, the queue order
// (and so the promotion order) is the order of those places, and the
// counters equal the rows.
func TestWaitlistRejoinRace(t *testing.T) {
	e := newActEnv(t)
	users := e.volunteers(60)
	id := e.newActivity(map[string]any{"capacity": 5, "waitlist": true})
	queue := make([]*user, 0, 35) // queue[i] holds place i+1
	for _, u := range users[:40] {
		if st, pos := e.signup(id, u); st == "waitlisted" {
			if pos != len(queue)+1 {
				t.Fatalf("sequential sign-up got place %d, want %d", pos, len(queue)+1)
			}
			queue = append(queue, u)
		}
	}
	if len(queue) != 35 {
		t.Fatalf("%d waitlisted, want 35", len(queue))
	}
	leaving := queue[10:20]
	for _, u := range leaving {
		e.h.Do("DELETE", fmt.Sprintf("/activities/%d/signup", id), nil, u.token).Expect(t, 200, 0)
	}
	remaining := append(slices.Clone(queue[:10]), queue[20:]...)
	joining := append(slices.Clone(leaving), users[40:]...)
	_, second := e.h.NewInstance()
	routers := []http.Handler{e.h.Router, second}
	answers := testutil.RaceSend(t, len(joining), func(i int) (http.Handler, testutil.Request) {
		return routers[i%2], testutil.Request{Method: "POST", Path: fmt.Sprintf("/activities/%d/signup", id), Token: joining[i].token}
	})
	byPlace := map[int]*user{}
	for i, a := range answers {
		var out struct {
			Status   string
			Position int
		}
		_ = json.Unmarshal(a.Data, &out)
		if a.Status != 201 || a.Code != 0 || out.Status != "waitlisted" {
			t.Fatalf("joiner %d: HTTP %d code %d %s", i, a.Status, a.Code, a.Data)
		}
		if prev := byPlace[out.Position]; prev != nil {
			t.Fatalf("users %d and %d both got place %d", prev.id, joining[i].id, out.Position)
		}
		byPlace[out.Position] = joining[i]
	}
	first, last := len(remaining)+1, len(remaining)+len(joining)
	for p := first; p <= last; p++ {
		if byPlace[p] == nil {
			t.Fatalf("place %d missing among the joiners", p)
		}
		remaining = append(remaining, byPlace[p])
	}
	if a := e.activity(id); a.Signed != 5 || a.Waitlisted != len(remaining) {
		t.Fatalf("counters signed=%d waitlisted=%d, want 5 and %d", a.Signed, a.Waitlisted, len(remaining))
	}
	if n := e.h.Count(&model.Attendance{}, "activity_id = ? AND status = ?", id, model.SignupWaitlisted); n != int64(len(remaining)) {
		t.Fatalf("%d waitlisted rows, want %d", n, len(remaining))
	}
	res := e.h.Do("GET", fmt.Sprintf("/activities/%d/attendances?status=waitlisted&pageSize=100", id), nil, e.staff()).Expect(t, 200, 0)
	var page struct {
		List []struct {
			UserID   int64
			Position int
		}
	}
	res.Decode(t, &page)
	if len(page.List) != len(remaining) {
		t.Fatalf("%d waitlist rows listed, want %d", len(page.List), len(remaining))
	}
	for i, r := range page.List {
		if r.Position != i+1 || r.UserID != remaining[i].id {
			t.Fatalf("waitlist row %d: %+v, want place %d user %d", i, r, i+1, remaining[i].id)
		}
	}
}

func TestSignupCapacityWithoutWaitlist(t *testing.T) {
	e := newActEnv(t)
	users := e.volunteers(200)
	id := e.newActivity(map[string]any{"capacity": 20})
	answers := signupAll(t, e, id, users)
	won, full := 0, 0
	for i, a := range answers {
		switch {
		case a.Status == 201 && a.Code == 0:
			won++
		case a.Status == 409 && a.Code == service.CodeActivityFull:
			full++
		default:
			t.Fatalf("user %d: HTTP %d code %d", i, a.Status, a.Code)
		}
	}
	if won != 20 || full != 180 {
		t.Fatalf("%d signed, %d full; want 20 and 180", won, full)
	}
	if n := e.h.Count(&model.Attendance{}, "activity_id = ?", id); n != 20 {
		t.Fatalf("%d attendance rows", n)
	}
	if a := e.activity(id); a.Signed != 20 || a.Waitlisted != 0 {
		t.Fatalf("counters signed=%d waitlisted=%d", a.Signed, a.Waitlisted)
	}
}

func TestSignupRules(t *testing.T) {
	e := newActEnv(t)
	h := e.h
	u := e.volunteer("rules")
	id := e.newActivity(nil) // 2 h – 3 h from now
	path := fmt.Sprintf("/activities/%d/signup", id)
	e.signup(id, u)
	h.Do("POST", path, nil, u.token).Expect(t, 409, service.CodeAlreadySignedUp)

	// Overlapping activity refused; an adjacent one is fine.
	now := h.Clock.Now()
	overlap := e.newActivity(map[string]any{"startAt": now.Add(150 * time.Minute), "endAt": now.Add(4 * time.Hour)})
	h.Do("POST", fmt.Sprintf("/activities/%d/signup", overlap), nil, u.token).Expect(t, 409, service.CodeScheduleOverlap)
	// A sign-up kept its activity's end (the overlap check's index); one
	// written before that column existed, without it, still counts.
	var end *time.Time
	if err := h.DB.Model(&model.Attendance{}).Where("activity_id = ? AND user_id = ?", id, u.id).Pluck("activity_end_at", &end).Error; err != nil || end == nil {
		t.Fatalf("sign-up's activity end %v (%v)", end, err)
	}
	if err := h.DB.Model(&model.Attendance{}).Where("activity_id = ? AND user_id = ?", id, u.id).Update("activity_end_at", nil).Error; err != nil {
		t.Fatal(err)
	}
	h.Do("POST", fmt.Sprintf("/activities/%d/signup", overlap), nil, u.token).Expect(t, 409, service.CodeScheduleOverlap)
	adjacent := e.newActivity(map[string]any{"startAt": now.Add(3 * time.Hour), "endAt": now.Add(4 * time.Hour)})
	e.signup(adjacent, u)

	// Party members only.
	members := e.newActivity(map[string]any{"audience": "party_members",
		"startAt": now.Add(10 * time.Hour), "endAt": now.Add(11 * time.Hour)})
	h.Do("POST", fmt.Sprintf("/activities/%d/signup", members), nil, u.token).Expect(t, 403, service.CodeAudienceRestricted)
	h.MustPartyMember(u.id, e.tree.CommunityA.ID)
	e.signup(members, u)

	// Cancel and sign up again reuses the row.
	h.Do("DELETE", path, nil, u.token).Expect(t, 200, 0)
	h.Do("DELETE", path, nil, u.token).Expect(t, 409, service.CodeNotSignedUp)
	if st, _ := e.signup(id, u); st != "signed" {
		t.Fatalf("signup again: %s", st)
	}
	if n := h.Count(&model.Attendance{}, "activity_id = ? AND user_id = ?", id, u.id); n != 1 {
		t.Fatalf("%d rows for one user", n)
	}

	// After the deadline: no sign-up, no cancellation.
	late := e.volunteer("late")
	h.Clock.Advance(61 * time.Minute)
	e.relogin(u, late)
	h.Do("POST", path, nil, late.token).Expect(t, 409, service.CodeSignupClosed)
	h.Do("DELETE", path, nil, u.token).Expect(t, 409, service.CodeCancelClosed)
	if n := h.Count(&model.Attendance{}, "activity_id = ? AND user_id = ?", id, late.id); n != 0 {
		t.Fatal("refused sign-up wrote a row")
	}
	h.Do("POST", "/activities/999999999/signup", nil, u.token).Expect(t, 404, service.CodeNotFound)
	h.Do("POST", "/activities/abc/signup", nil, u.token).Expect(t, 400, service.CodeInvalid)
}

func TestCancelActivityRecordsNotices(t *testing.T) {
	e := newActEnv(t)
	h := e.h
	users := e.volunteers(3)
	id := e.newActivity(map[string]any{"capacity": 2, "waitlist": true})
	for _, u := range users {
		e.signup(id, u)
	}
	h.Do("POST", fmt.Sprintf("/activities/%d/cancel", id), map[string]any{"reason": "天气原因"}, users[0].token).
		Expect(t, 403, service.CodeForbidden)
	res := h.Do("POST", fmt.Sprintf("/activities/%d/cancel", id), map[string]any{"reason": "天气原因"}, e.staff()).Expect(t, 200, 0)
	var a struct{ Status, CancelReason string }
	res.Decode(t, &a)
	if a.Status != "cancelled" || a.CancelReason != "天气原因" {
		t.Fatalf("cancelled: %s", res.Raw)
	}
	if n := h.Count(&model.Notification{}, "object_kind = ? AND object_id = ? AND event = ?", "activity", id, service.EventActivityCancelled); n != 3 {
		t.Fatalf("%d notices, want 3", n)
	}
	h.Do("POST", fmt.Sprintf("/activities/%d/cancel", id), nil, e.staff()).Expect(t, 409, service.CodeActivityState)
	late := e.volunteer("late")
	h.Do("POST", fmt.Sprintf("/activities/%d/signup", id), nil, late.token).Expect(t, 409, service.CodeSignupClosed)
	h.Do("GET", fmt.Sprintf("/activities/%d/checkin-code", id), nil, e.staff()).Expect(t, 409, service.CodeActivityState)
}

func TestCheckinRefusals(t *testing.T) {
	e := newActEnv(t)
	h := e.h
	u := e.volunteer("ci")
	outsider := e.volunteer("outsider")
	lat, lng := 31.2304, 121.4737
	id := e.newActivity(map[string]any{"lat": lat, "lng": lng, "radiusM": 100})
	now := h.Clock.Now()
	other := e.newActivity(map[string]any{"startAt": now.Add(5 * time.Hour), "endAt": now.Add(6 * time.Hour)})
	e.signup(id, u)
	checkin := fmt.Sprintf("/activities/%d/checkin", id)
	checkout := fmt.Sprintf("/activities/%d/checkout", id)
	here := func(token string) map[string]any { return map[string]any{"token": token, "lat": lat, "lng": lng} }

	res := h.Do("GET", fmt.Sprintf("/activities/%d/checkin-code", id), nil, e.staff()).Expect(t, 200, 0)
	var code struct {
		Token     string
		ExpiresAt time.Time
		QRCode    string
	}
	res.Decode(t, &code)
	if len(code.Token) > 32 || code.Token == "" {
		t.Fatalf("token %q is longer than a wxacode scene", code.Token)
	}
	if !strings.HasPrefix(code.QRCode, "data:image/jpeg;base64,") || h.WeChat.Calls("/wxa/getwxacodeunlimit") == 0 {
		t.Fatalf("qrcode %.40q", code.QRCode)
	}
	if d := code.ExpiresAt.Sub(h.Clock.Now()); d < 55*time.Second || d > 61*time.Second {
		t.Fatalf("code valid for %s", d)
	}
	h.Do("GET", fmt.Sprintf("/activities/%d/checkin-code", id), nil, u.token).Expect(t, 403, service.CodeForbidden)

	// Two hours before the start: the window (60 min before) is not open.
	h.Do("POST", checkin, here(code.Token), u.token).Expect(t, 409, service.CodeCheckinWindow)
	h.Clock.Advance(61 * time.Minute)
	e.relogin(u, outsider)
	h.Do("POST", checkin, here(code.Token), u.token).Expect(t, 409, service.CodeCheckinCodeExpired)
	fresh := e.code(id)
	tampered := fresh[:len(fresh)-1] + map[bool]string{true: "A", false: "B"}[!strings.HasSuffix(fresh, "A")]
	h.Do("POST", checkin, here(tampered), u.token).Expect(t, 400, service.CodeCheckinCodeInvalid)
	h.Do("POST", checkin, here("not-a-code"), u.token).Expect(t, 400, service.CodeCheckinCodeInvalid)
	h.Do("POST", checkin, here(e.code(other)), u.token).Expect(t, 400, service.CodeCheckinCodeMismatch)
	h.Do("POST", checkin, map[string]any{"token": fresh, "lat": lat + 0.01, "lng": lng}, u.token).Expect(t, 409, service.CodeTooFar)
	h.Do("POST", checkin, map[string]any{"token": fresh}, u.token).Expect(t, 400, service.CodeLocationRequired)
	h.Do("POST", checkin, here(fresh), outsider.token).Expect(t, 409, service.CodeNotSignedUp)
	h.Do("POST", checkin, map[string]any{"lat": lat}, u.token).Expect(t, 400, service.CodeInvalid)
	h.Do("POST", checkout, here(fresh), u.token).Expect(t, 409, service.CodeNotCheckedIn)
	if att := e.attendance(id, u.id); att.State != model.AttendNone || att.CheckinAt != nil {
		t.Fatalf("refusals changed the attendance: %+v", att)
	}

	// About 50 m away is inside the 100 m radius.
	res = h.Do("POST", checkin, map[string]any{"token": fresh, "lat": lat + 0.00045, "lng": lng}, u.token).Expect(t, 200, 0)
	var sv struct{ State string }
	res.Decode(t, &sv)
	if sv.State != "checked_in" {
		t.Fatalf("checkin: %s", res.Raw)
	}
	h.Do("POST", checkin, here(fresh), u.token).Expect(t, 409, service.CodeAlreadyCheckedIn)
	h.Do("POST", checkout, here(e.code(other)), u.token).Expect(t, 400, service.CodeCheckinCodeMismatch)
	h.Do("POST", checkout, here(fresh), u.token).Expect(t, 200, 0)
	h.Do("POST", checkout, here(fresh), u.token).Expect(t, 409, service.CodeAlreadyCheckedOut)
	att := e.attendance(id, u.id)
	if att.CheckinSource != model.SourceQRCode || att.CheckoutSource != model.SourceQRCode || att.ComputedMinutes != 0 {
		t.Fatalf("attendance = %+v (left before the start: 0 minutes)", att)
	}
}

func TestCheckinCodeWithoutWeChat(t *testing.T) {
	e := newActEnv(t, testutil.WithoutWeChat())
	id := e.newActivity(nil)
	res := e.h.Do("GET", fmt.Sprintf("/activities/%d/checkin-code", id), nil, e.staff()).Expect(t, 200, 0)
	var code map[string]any
	res.Decode(t, &code)
	if _, ok := code["qrcode"]; ok || code["token"] == "" {
		t.Fatalf("code without WeChat: %s", res.Raw)
	}
}

func TestAttendanceMinutesAndSweep(t *testing.T) {
	e := newActEnv(t)
	h := e.h
	early, late, forgetful, absent, manual := e.volunteer("early"), e.volunteer("late"), e.volunteer("forgetful"),
		e.volunteer("absent"), e.volunteer("manual")
	all := []*user{early, late, forgetful, absent, manual}
	now := h.Clock.Now()
	start, end := now.Add(90*time.Minute).Truncate(time.Second), now.Add(150*time.Minute).Truncate(time.Second)
	id := e.newActivity(map[string]any{"startAt": start, "endAt": end})
	for _, u := range all {
		e.signup(id, u)
	}
	scan := func(u *user, what string) {
		t.Helper()
		h.Do("POST", fmt.Sprintf("/activities/%d/%s", id, what), map[string]any{"token": e.code(id)}, u.token).Expect(t, 200, 0)
	}

	h.Clock.Advance(60 * time.Minute) // start − 30 min
	e.relogin(all...)
	scan(early, "checkin")
	scan(forgetful, "checkin")
	h.Clock.Advance(40 * time.Minute) // start + 10 min
	scan(late, "checkin")
	h.Clock.Advance(20 * time.Minute) // start + 30 min
	scan(early, "checkout")
	h.Clock.Advance(90 * time.Minute) // end + 60 min
	e.relogin(all...)
	scan(late, "checkout")
	h.Do("POST", fmt.Sprintf("/activities/%d/checkin", id), map[string]any{"token": e.code(id)}, manual.token).
		Expect(t, 409, service.CodeCheckinWindow)
	// Staff enter a forgotten check-in and check-out by hand.
	staffPath := fmt.Sprintf("/activities/%d/attendances/%d/", id, manual.id)
	h.Do("POST", staffPath+"checkin", map[string]any{"at": start.Add(5 * time.Minute)}, manual.token).Expect(t, 403, service.CodeForbidden)
	h.Do("POST", staffPath+"checkin", map[string]any{"at": h.Clock.Now().Add(time.Hour)}, e.staff()).Expect(t, 400, service.CodeInvalid)
	h.Do("POST", staffPath+"checkin", map[string]any{"at": start.Add(5 * time.Minute)}, e.staff()).Expect(t, 200, 0)
	h.Do("POST", staffPath+"checkin", nil, e.staff()).Expect(t, 409, service.CodeAlreadyCheckedIn)
	h.Do("POST", staffPath+"checkout", map[string]any{"at": end.Add(-5 * time.Minute)}, e.staff()).Expect(t, 200, 0)

	// Under MySQL the package's tests share the database, so a sweep also
	// handles other tests' activities: compare counts of the whole table.
	swept := func() (finished, absent, auto int64) {
		return h.Count(&model.Activity{}, "status = ?", model.ActivityFinished),
			h.Count(&model.Attendance{}, "state = ?", model.AttendAbsent),
			h.Count(&model.Attendance{}, "checkout_source = ?", model.SourceAuto)
	}
	if _, err := h.Svc.Activities.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if a, f := e.attendance(id, absent.id), e.attendance(id, forgetful.id); a.State != model.AttendAbsent || f.State != model.AttendCheckedIn {
		t.Fatalf("first sweep: absent %s, forgetful %s", a.State, f.State)
	}
	// Two hours after the end, sweeps on two instances at once check the
	// forgetful volunteer out once, at the end, flagged; every change is
	// counted by exactly one of them.
	h.Clock.Advance(61 * time.Minute)
	svc2, _ := h.NewInstance()
	f0, a0, x0 := swept()
	results := make([]service.ActivitySweepResult, 4)
	errs := testutil.Race(t, 4, func(i int) (err error) {
		s := h.Svc
		if i%2 == 1 {
			s = svc2
		}
		results[i], err = s.Activities.Sweep(context.Background())
		return err
	})
	f1, a1, x1 := swept()
	var sum service.ActivitySweepResult
	for i, r := range results {
		if errs[i] != nil {
			t.Fatalf("sweep %d: %v", i, errs[i])
		}
		sum.Finished += r.Finished
		sum.Absent += r.Absent
		sum.AutoCheckedOut += r.AutoCheckedOut
	}
	if int64(sum.Finished) != f1-f0 || int64(sum.Absent) != a1-a0 || int64(sum.AutoCheckedOut) != x1-x0 || sum.AutoCheckedOut < 1 {
		t.Fatalf("concurrent sweeps reported %+v, the tables changed by %d/%d/%d", sum, f1-f0, a1-a0, x1-x0)
	}

	want := map[int64]struct {
		state   model.AttendState
		minutes int
		flagged bool
	}{
		early.id:     {model.AttendCheckedOut, 30, false}, // arrived early: counted from the start
		late.id:      {model.AttendCheckedOut, 50, false}, // left late: counted to the end
		forgetful.id: {model.AttendCheckedOut, 60, true},  // auto check-out at the end
		absent.id:    {model.AttendAbsent, 0, false},      // never came
		manual.id:    {model.AttendCheckedOut, 50, false}, // by hand
	}
	for uid, w := range want {
		att := e.attendance(id, uid)
		if att.State != w.state || att.ComputedMinutes != w.minutes || att.Flagged != w.flagged {
			t.Errorf("user %d: state %s minutes %d flagged %v; want %+v", uid, att.State, att.ComputedMinutes, att.Flagged, w)
		}
	}
	f := e.attendance(id, forgetful.id)
	if f.CheckoutSource != model.SourceAuto || f.CheckoutAt == nil || !f.CheckoutAt.Equal(end) {
		t.Fatalf("auto check-out: %+v", f)
	}
	m := e.attendance(id, manual.id)
	if m.CheckinSource != model.SourceManual || m.CheckinBy == nil || *m.CheckinBy != e.staffID {
		t.Fatalf("manual check-in not recorded: %+v", m)
	}
	if a := e.activity(id); a.Status != model.ActivityFinished {
		t.Fatalf("activity %s after the sweep", a.Status)
	}
	res2 := h.Do("GET", fmt.Sprintf("/activities/%d/attendances?flagged=true", id), nil, e.staff()).Expect(t, 200, 0)
	var flagged struct{ Total int }
	res2.Decode(t, &flagged)
	if flagged.Total != 1 {
		t.Fatalf("flagged list: %s", res2.Raw)
	}
	e.relogin(early)
	res2 = h.Do("GET", "/me/activities", nil, early.token).Expect(t, 200, 0)
	var mine struct {
		List []struct {
			Activity struct{ ID int64 }
			Signup   struct {
				Approval        string
				ComputedMinutes int
			}
		}
	}
	res2.Decode(t, &mine)
	if len(mine.List) != 1 || mine.List[0].Activity.ID != id || mine.List[0].Signup.Approval != "pending" || mine.List[0].Signup.ComputedMinutes != 30 {
		t.Fatalf("my activities: %s", res2.Raw)
	}
}

// attended makes users sign up for a new activity of the given length
// (points per hour 10), checked in at the start and out at the end by staff,
// and moves the clock past its end. It returns the activity id.
func attended(t *testing.T, e *actEnv, minutes int, users ...*user) int64 {
	t.Helper()
	h := e.h
	now := h.Clock.Now()
	start := now.Add(90 * time.Minute).Truncate(time.Second)
	end := start.Add(time.Duration(minutes) * time.Minute)
	id := e.newActivity(map[string]any{"startAt": start, "endAt": end, "pointsPerHour": 10})
	for _, u := range users {
		e.signup(id, u)
	}
	h.Clock.Advance(end.Sub(now) + time.Minute)
	e.relogin(users...)
	tok := e.staff()
	for _, u := range users {
		p := fmt.Sprintf("/activities/%d/attendances/%d/", id, u.id)
		h.Do("POST", p+"checkin", map[string]any{"at": start}, tok).Expect(t, 200, 0)
		h.Do("POST", p+"checkout", map[string]any{"at": end}, tok).Expect(t, 200, 0)
	}
	return id
}

// creditTxns counts the ledger credits and reversals of an attendance.
func creditTxns(e *actEnv, attendanceID int64) (credits, reversals int64) {
	credits = e.h.Count(&model.LedgerTxn{}, "source_kind = ? AND source_id LIKE ?", "attendance", fmt.Sprintf("%d:%%", attendanceID))
	reversals = e.h.Count(&model.LedgerTxn{}, "source_kind = ? AND source_id LIKE ?", "attendance_reversal", fmt.Sprintf("%d:%%", attendanceID))
	return credits, reversals
}

func TestApprovalCreditsOnce(t *testing.T) {
	e := newActEnv(t)
	h := e.h
	a, b, c := e.volunteer("a"), e.volunteer("b"), e.volunteer("c")
	id := attended(t, e, 120, a, b, c)
	tok := e.staff()
	approve := func(u *user) string { return fmt.Sprintf("/activities/%d/attendances/%d/approve", id, u.id) }

	// Bad input: documented codes, nothing written.
	for _, body := range []map[string]any{
		{"minutes": 120, "score": 6}, {"minutes": 120, "score": 0}, {"score": 5}, {"minutes": 0, "score": 5},
		{"minutes": 121, "score": 5}, {"minutes": "120", "score": 5},
	} {
		h.Do("POST", approve(a), body, tok).Expect(t, 400, service.CodeInvalid)
	}
	h.Do("POST", approve(a), map[string]any{"minutes": 90, "score": 5}, tok).Expect(t, 400, service.CodeMinutesReasonMissing)
	h.Do("POST", approve(a), map[string]any{"minutes": 120, "score": 5}, a.token).Expect(t, 403, service.CodeForbidden)
	batch := fmt.Sprintf("/activities/%d/attendances/approve", id)
	h.Do("POST", batch, map[string]any{"items": []any{}}, tok).Expect(t, 400, service.CodeInvalid)
	h.Do("POST", batch, map[string]any{"items": []map[string]any{{"userId": a.id, "minutes": 120, "score": 5},
		{"userId": a.id, "minutes": 120, "score": 4}}}, tok).Expect(t, 400, service.CodeInvalid)
	// One bad item refuses the whole batch.
	h.Do("POST", batch, map[string]any{"items": []map[string]any{{"userId": a.id, "minutes": 120, "score": 5},
		{"userId": b.id, "minutes": 60, "score": 4}}}, tok).Expect(t, 400, service.CodeMinutesReasonMissing)
	if n := h.Count(&model.Attendance{}, "activity_id = ? AND state = ?", id, model.AttendApproved); n != 0 {
		t.Fatalf("refused approvals approved %d", n)
	}

	// The same approval twice, then ten more at once: one credit.
	h.Do("POST", approve(a), map[string]any{"minutes": 120, "score": 5}, tok).Expect(t, 200, 0)
	h.Do("POST", approve(a), map[string]any{"minutes": 120, "score": 5}, tok).Expect(t, 200, 0)
	_, second := h.NewInstance()
	routers := []http.Handler{h.Router, second}
	approvals := testutil.Race(t, 10, func(i int) *testutil.Response {
		return send(routers[i%2], "POST", approve(a), tok, map[string]any{"minutes": 120, "score": 5})
	})
	for i, r := range approvals {
		if r.Status != 200 {
			t.Errorf("approval %d: HTTP %d code %d", i, r.Status, r.Code)
		}
	}
	attA := e.attendance(id, a.id)
	if cr, rev := creditTxns(e, attA.ID); cr != 2 || rev != 0 {
		t.Fatalf("a: %d credits %d reversals; want 2 (minutes, points) and 0", cr, rev)
	}
	if m, p := e.balance(a.id, model.CurrencyMinutes), e.balance(a.id, model.CurrencyPoints); m != 120 || p != 20 {
		t.Fatalf("a: %d minutes %d points", m, p)
	}

	// A batch raced with single approvals of the same attendances.
	items := []map[string]any{
		{"userId": b.id, "minutes": 90, "score": 4, "reason": "提前离开"},
		{"userId": c.id, "minutes": 120, "score": 3},
	}
	racers := testutil.Race(t, 12, func(i int) *testutil.Response {
		switch i % 3 {
		case 0:
			return send(routers[i%2], "POST", batch, tok, map[string]any{"items": items})
		case 1:
			return send(routers[i%2], "POST", approve(b), tok, items[0])
		default:
			return send(routers[i%2], "POST", approve(c), tok, items[1])
		}
	})
	for i, r := range racers {
		if r.Status != 200 {
			t.Errorf("racer %d: HTTP %d code %d", i, r.Status, r.Code)
		}
	}
	attB, attC := e.attendance(id, b.id), e.attendance(id, c.id)
	for _, att := range []model.Attendance{attB, attC} {
		if cr, rev := creditTxns(e, att.ID); cr != 2 || rev != 0 {
			t.Fatalf("user %d: %d credits %d reversals", att.UserID, cr, rev)
		}
		if n := h.Count(&model.ServiceRecord{}, "source_key = ? AND kind = ? AND status = ?",
			fmt.Sprintf("attendance:%d", att.ID), model.ServicePublicActivity, model.RecordApproved); n != 1 {
			t.Fatalf("user %d: %d service records", att.UserID, n)
		}
	}
	if m, p := e.balance(b.id, model.CurrencyMinutes), e.balance(b.id, model.CurrencyPoints); m != 90 || p != 15 || attB.Reason != "提前离开" {
		t.Fatalf("b: %d minutes %d points reason %q", m, p, attB.Reason)
	}

	// A correction is a reversal plus a new credit; the record follows.
	h.Do("POST", approve(b), map[string]any{"minutes": 60, "score": 4}, tok).Expect(t, 400, service.CodeMinutesReasonMissing)
	h.Do("POST", approve(b), map[string]any{"minutes": 60, "score": 4, "reason": "核实后更正"}, tok).Expect(t, 200, 0)
	if cr, rev := creditTxns(e, attB.ID); cr != 4 || rev != 2 {
		t.Fatalf("b after correction: %d credits %d reversals; want 4 and 2", cr, rev)
	}
	if m, p := e.balance(b.id, model.CurrencyMinutes), e.balance(b.id, model.CurrencyPoints); m != 60 || p != 10 {
		t.Fatalf("b after correction: %d minutes %d points", m, p)
	}
	if n := h.Count(&model.ServiceRecord{}, "source_key = ? AND minutes = 60", fmt.Sprintf("attendance:%d", attB.ID)); n != 1 {
		t.Fatal("service record minutes not corrected")
	}
	// Score only: no ledger change.
	h.Do("POST", approve(b), map[string]any{"minutes": 60, "score": 2}, tok).Expect(t, 200, 0)
	if cr, _ := creditTxns(e, attB.ID); cr != 4 {
		t.Fatalf("score change posted to the ledger")
	}

	// Absent after approval: reversed, record withdrawn, then approved again.
	absent := fmt.Sprintf("/activities/%d/attendances/%d/absent", id, c.id)
	h.Do("POST", absent, map[string]any{"reason": "核实未到场"}, tok).Expect(t, 200, 0)
	h.Do("POST", absent, nil, tok).Expect(t, 200, 0)
	if m, p := e.balance(c.id, model.CurrencyMinutes), e.balance(c.id, model.CurrencyPoints); m != 0 || p != 0 {
		t.Fatalf("c after absent: %d minutes %d points", m, p)
	}
	if n := h.Count(&model.ServiceRecord{}, "source_key = ? AND status = ?", fmt.Sprintf("attendance:%d", attC.ID), model.RecordRejected); n != 1 {
		t.Fatal("record of an absent attendance still counts")
	}
	h.Do("POST", approve(c), map[string]any{"minutes": 100, "score": 3, "reason": "补录"}, tok).Expect(t, 200, 0)
	if m := e.balance(c.id, model.CurrencyMinutes); m != 100 {
		t.Fatalf("c re-approved: %d minutes", m)
	}

	rep, err := ledger.New().Reconcile(context.Background(), h.DB)
	if err != nil || rep.Mismatches != 0 {
		t.Fatalf("reconcile: %+v %v", rep, err)
	}
	res := h.Do("GET", "/me/activities", nil, b.token).Expect(t, 200, 0)
	var mine struct {
		List []struct {
			Signup struct {
				Approval string
				Minutes  int
				Points   int
				Score    int
			}
		}
	}
	res.Decode(t, &mine)
	if len(mine.List) != 1 || mine.List[0].Signup.Approval != "approved" || mine.List[0].Signup.Minutes != 60 || mine.List[0].Signup.Points != 10 {
		t.Fatalf("b's activities: %s", res.Raw)
	}
}

func TestApprovalNotReady(t *testing.T) {
	e := newActEnv(t)
	h := e.h
	u, v := e.volunteer("inside"), e.volunteer("never")
	id := e.newActivity(nil)
	e.signup(id, u)
	e.signup(id, v)
	h.Clock.Advance(2*time.Hour + time.Minute) // started
	e.relogin(u, v)
	tok := e.staff()
	h.Do("POST", fmt.Sprintf("/activities/%d/checkin", id), map[string]any{"token": e.code(id)}, u.token).Expect(t, 200, 0)
	h.Do("POST", fmt.Sprintf("/activities/%d/attendances/%d/approve", id, u.id), map[string]any{"minutes": 60, "score": 5}, tok).
		Expect(t, 409, service.CodeApprovalNotReady)
	h.Do("POST", fmt.Sprintf("/activities/%d/attendances/%d/approve", id, v.id), map[string]any{"minutes": 60, "score": 5, "reason": "x"}, tok).
		Expect(t, 409, service.CodeApprovalNotReady)
	stranger := e.volunteer("stranger")
	h.Do("POST", fmt.Sprintf("/activities/%d/attendances/%d/approve", id, stranger.id), map[string]any{"minutes": 60, "score": 5}, tok).
		Expect(t, 409, service.CodeNotSignedUp)
}

func TestNoShowBlock(t *testing.T) {
	e := newActEnv(t)
	h := e.h
	u := e.volunteer("noshow")
	now := h.Clock.Now()
	var ids []int64
	var ends []time.Time
	for i := range 3 {
		start := now.Add(time.Duration(2+3*i) * time.Hour).Truncate(time.Second)
		ids = append(ids, e.newActivity(map[string]any{"startAt": start, "endAt": start.Add(time.Hour)}))
		ends = append(ends, start.Add(time.Hour))
		e.signup(ids[i], u)
	}
	for i := range 3 {
		h.Clock.Advance(ends[i].Sub(h.Clock.Now()) + time.Minute)
		if _, err := h.Svc.Activities.Sweep(context.Background()); err != nil {
			t.Fatal(err)
		}
		e.relogin(u)
		res := h.Do("GET", "/volunteers/me", nil, u.token).Expect(t, 200, 0)
		var v struct {
			Blocked        bool
			BlockedUntil   *time.Time
			RecentAbsences int
		}
		res.Decode(t, &v)
		if v.RecentAbsences != i+1 || v.Blocked != (i == 2) {
			t.Fatalf("after absence %d: %s", i+1, res.Raw)
		}
		if i == 2 && (v.BlockedUntil == nil || !v.BlockedUntil.Equal(ends[2].Add(30*24*time.Hour))) {
			t.Fatalf("blocked until %v, want %v", v.BlockedUntil, ends[2].Add(30*24*time.Hour))
		}
	}
	next := e.newActivity(nil)
	h.Do("POST", fmt.Sprintf("/activities/%d/signup", next), nil, u.token).Expect(t, 403, service.CodeNoShowBlocked)
	if n := h.Count(&model.Attendance{}, "activity_id = ?", next); n != 0 {
		t.Fatal("blocked sign-up wrote a row")
	}
	// Staff correcting one absence lifts the block.
	h.Do("POST", fmt.Sprintf("/activities/%d/attendances/%d/approve", ids[0], u.id),
		map[string]any{"minutes": 60, "score": 3, "reason": "现场登记遗漏"}, e.staff()).Expect(t, 200, 0)
	e.signup(next, u)
	h.Do("DELETE", fmt.Sprintf("/activities/%d/signup", next), nil, u.token).Expect(t, 200, 0)
	h.Do("POST", fmt.Sprintf("/activities/%d/attendances/%d/absent", ids[0], u.id), nil, e.staff()).Expect(t, 200, 0)
	h.Do("POST", fmt.Sprintf("/activities/%d/signup", next), nil, u.token).Expect(t, 403, service.CodeNoShowBlocked)
	// The block ends 30 days after the third absence.
	h.Clock.Advance(30*24*time.Hour + time.Minute)
	e.relogin(u)
	later := e.newActivity(nil)
	e.signup(later, u)
}

func TestActivityLists(t *testing.T) {
	e := newActEnv(t)
	h := e.h
	staffB := e.login("staffb")
	h.MustMakeStaff(staffB.id, e.tree.CommunityB.ID, model.RoleStaff)
	u, w := e.volunteer("lister"), e.volunteer("other")
	now := h.Clock.Now()
	at := func(hours float64) time.Time { return now.Add(time.Duration(hours * float64(time.Hour))) }
	past := e.newActivity(map[string]any{"title": "past", "startAt": at(2), "endAt": at(3)})
	later := e.newActivity(map[string]any{"title": "later", "startAt": at(10), "endAt": at(11), "capacity": 1, "waitlist": true})
	soon := e.newActivity(map[string]any{"title": "soon", "startAt": at(5), "endAt": at(6), "capacity": 5})
	draftRes := h.Do("POST", "/activities", e.activityBody(map[string]any{"title": "draft"}), e.staff()).Expect(t, 201, 0)
	var draft struct{ ID int64 }
	draftRes.Decode(t, &draft)
	res := h.Do("POST", "/activities", e.activityBody(map[string]any{"communityId": e.tree.CommunityB.ID, "title": "inB"}), staffB.token).Expect(t, 201, 0)
	var inB struct{ ID int64 }
	res.Decode(t, &inB)
	h.Do("POST", fmt.Sprintf("/activities/%d/publish", inB.ID), nil, staffB.token).Expect(t, 200, 0)

	e.signup(soon, u)
	e.signup(later, w)
	if st, pos := e.signup(later, u); st != "waitlisted" || pos != 1 {
		t.Fatalf("waitlisted %s %d", st, pos)
	}
	h.Clock.Advance(4 * time.Hour) // "past" has ended
	e.relogin(u, w, staffB)

	type item struct {
		ID        int64
		Title     string
		SeatsLeft *int
	}
	var list struct {
		List  []item
		Total int
	}
	// Home community by default: upcoming first (soonest first), then ended.
	h.Do("GET", "/activities?page=1", nil, u.token).Expect(t, 200, 0).Decode(t, &list)
	var titles []string
	for _, it := range list.List {
		titles = append(titles, it.Title)
	}
	if !slices.Equal(titles, []string{"soon", "later", "past"}) || list.Total != 3 {
		t.Fatalf("community list: %v (total %d)", titles, list.Total)
	}
	if list.List[0].SeatsLeft == nil || *list.List[0].SeatsLeft != 4 || list.List[1].SeatsLeft == nil || *list.List[1].SeatsLeft != 0 || list.List[2].SeatsLeft != nil {
		t.Fatalf("seats left: %+v", list.List)
	}
	// Pages split across the upcoming and ended parts.
	h.Do("GET", fmt.Sprintf("/activities?communityId=%d&pageSize=2&page=2", e.tree.CommunityA.ID), nil, u.token).Expect(t, 200, 0).Decode(t, &list)
	if len(list.List) != 1 || list.List[0].ID != past {
		t.Fatalf("page 2: %+v", list.List)
	}
	// The street: both communities.
	h.Do("GET", fmt.Sprintf("/activities?communityId=%d&pageSize=100&page=1", e.tree.Street.ID), nil, u.token).Expect(t, 200, 0).Decode(t, &list)
	if list.Total != 4 {
		t.Fatalf("street list total %d, want 4", list.Total)
	}
	h.Do("GET", fmt.Sprintf("/activities?communityId=%d&status=draft", e.tree.CommunityA.ID), nil, u.token).Expect(t, 403, service.CodeForbidden)
	h.Do("GET", fmt.Sprintf("/activities?communityId=%d&status=draft", e.tree.CommunityA.ID), nil, e.staff()).Expect(t, 200, 0).Decode(t, &list)
	if list.Total != 1 || list.List[0].ID != draft.ID {
		t.Fatalf("drafts: %+v", list)
	}
	h.Do("GET", "/activities?status=bogus", nil, u.token).Expect(t, 400, service.CodeInvalid)
	h.Do("GET", "/activities?communityId=x", nil, u.token).Expect(t, 400, service.CodeInvalid)

	var mine struct {
		List []struct {
			Activity struct{ ID int64 }
			Signup   struct {
				Status   string
				Position int
			}
		}
	}
	h.Do("GET", "/me/activities", nil, u.token).Expect(t, 200, 0).Decode(t, &mine)
	if len(mine.List) != 2 || mine.List[0].Activity.ID != later || mine.List[0].Signup.Status != "waitlisted" ||
		mine.List[0].Signup.Position != 1 || mine.List[1].Activity.ID != soon || mine.List[1].Signup.Status != "signed" {
		t.Fatalf("my activities: %+v", mine)
	}
	h.Do("GET", "/me/activities?status=waitlisted", nil, u.token).Expect(t, 200, 0).Decode(t, &mine)
	if len(mine.List) != 1 {
		t.Fatalf("waitlisted only: %+v", mine)
	}
	var detail struct {
		MySignup *struct{ Status string }
	}
	h.Do("GET", fmt.Sprintf("/activities/%d", soon), nil, u.token).Expect(t, 200, 0).Decode(t, &detail)
	if detail.MySignup == nil || detail.MySignup.Status != "signed" {
		t.Fatalf("detail: %+v", detail)
	}
	detail.MySignup = nil
	h.Do("GET", fmt.Sprintf("/activities/%d", past), nil, w.token).Expect(t, 200, 0).Decode(t, &detail)
	if detail.MySignup != nil {
		t.Fatalf("detail without sign-up: %+v", detail)
	}
}
