package router_test

import (
	"fmt"
	"testing"
	"time"

	"linli/internal/testutil"
	"linli/model"
)

// TestActivityResponsesMatchDocument drives the volunteer and activity
// endpoints through their success and main error answers and validates each
// response against docs/openapi.yaml.
func TestActivityResponsesMatchDocument(t *testing.T) {
	h := testutil.New(t)
	v := testutil.NewDocChecker(t, h.Router, nil)
	do := func(method, path string, body any, token string) *testutil.Response {
		return testutil.Send(t, v, testutil.Request{Method: method, Path: path, Body: body, Token: token})
	}
	tree := h.MustTree()
	staffOpenID, aOpenID, bOpenID := testutil.UniqueOpenID("dstaff"), testutil.UniqueOpenID("da"), testutil.UniqueOpenID("db")
	staff := h.MustLogin(staffOpenID)
	h.MustMakeStaff(staff.UserID, tree.CommunityA.ID, model.RoleStaff)
	a, b := h.MustLogin(aOpenID), h.MustLogin(bOpenID)
	relogin := func() {
		staff, a, b = h.MustLogin(staffOpenID), h.MustLogin(aOpenID), h.MustLogin(bOpenID)
	}
	h.MustSetHome(a.UserID, tree.CommunityA.ID)

	do("GET", "/volunteers/options", nil, a.AccessToken).Expect(t, 200, 0)
	do("GET", "/volunteers/me", nil, a.AccessToken).Expect(t, 404, 10005)
	do("PUT", "/volunteers/me", map[string]any{"realName": "李四", "phone": "123", "skills": []string{"其他"}, "availability": "周末"}, a.AccessToken).Expect(t, 400, 10001)
	for _, tok := range []string{a.AccessToken, b.AccessToken} {
		do("PUT", "/volunteers/me", map[string]any{"realName": "李四", "phone": "13912345678", "skills": []string{"其他"}, "availability": "周末"}, tok).Expect(t, 200, 0)
	}
	do("GET", "/volunteers/me", nil, a.AccessToken).Expect(t, 200, 0)

	now := h.Clock.Now()
	body := map[string]any{
		"communityId": tree.CommunityA.ID, "title": "文档活动", "category": "其他", "address": "广场",
		"lat": 31.2, "lng": 121.4, "startAt": now.Add(2 * time.Hour), "endAt": now.Add(3 * time.Hour),
		"signupDeadline": now.Add(time.Hour), "capacity": 1, "waitlist": true,
	}
	var act struct{ ID int64 }
	do("POST", "/activities", body, staff.AccessToken).Expect(t, 201, 0).Decode(t, &act)
	do("POST", "/activities", map[string]any{"communityId": tree.CommunityA.ID}, staff.AccessToken).Expect(t, 400, 10001)
	do("POST", "/activities", body, a.AccessToken).Expect(t, 403, 10004)
	p := fmt.Sprintf("/activities/%d", act.ID)
	do("POST", p+"/publish", nil, staff.AccessToken).Expect(t, 200, 0)
	do("POST", p+"/publish", nil, staff.AccessToken).Expect(t, 409, 40021)
	do("GET", "/activities", nil, a.AccessToken).Expect(t, 200, 0)
	do("GET", fmt.Sprintf("/activities?communityId=%d&status=draft", tree.Street.ID), nil, a.AccessToken).Expect(t, 403, 10004)
	do("GET", "/activities/987654321", nil, a.AccessToken).Expect(t, 404, 10005)

	do("POST", p+"/signup", nil, a.AccessToken).Expect(t, 201, 0)
	do("POST", p+"/signup", nil, b.AccessToken).Expect(t, 201, 0)
	do("POST", p+"/signup", nil, a.AccessToken).Expect(t, 409, 40007)
	do("GET", p, nil, b.AccessToken).Expect(t, 200, 0)
	do("GET", "/me/activities", nil, b.AccessToken).Expect(t, 200, 0)
	do("DELETE", p+"/signup", nil, b.AccessToken).Expect(t, 200, 0)
	do("DELETE", p+"/signup", nil, b.AccessToken).Expect(t, 409, 40008)

	members := map[string]any{}
	for k, val := range body {
		members[k] = val
	}
	members["audience"] = "party_members"
	members["startAt"], members["endAt"] = now.Add(5*time.Hour), now.Add(6*time.Hour)
	var m struct{ ID int64 }
	do("POST", "/activities", members, staff.AccessToken).Expect(t, 201, 0).Decode(t, &m)
	do("POST", fmt.Sprintf("/activities/%d/publish", m.ID), nil, staff.AccessToken).Expect(t, 200, 0)
	do("POST", fmt.Sprintf("/activities/%d/signup", m.ID), nil, b.AccessToken).Expect(t, 403, 40004)
	do("POST", fmt.Sprintf("/activities/%d/cancel", m.ID), map[string]any{"reason": "改期"}, staff.AccessToken).Expect(t, 200, 0)

	var code struct{ Token string }
	do("GET", p+"/checkin-code", nil, staff.AccessToken).Expect(t, 200, 0).Decode(t, &code)
	do("GET", p+"/checkin-code", nil, a.AccessToken).Expect(t, 403, 10004)
	here := map[string]any{"token": code.Token, "lat": 31.2, "lng": 121.4}
	do("POST", p+"/checkin", here, a.AccessToken).Expect(t, 409, 40013)
	h.Clock.Advance(61 * time.Minute)
	relogin()
	do("GET", p+"/checkin-code", nil, staff.AccessToken).Expect(t, 200, 0).Decode(t, &code)
	here["token"] = code.Token
	do("POST", p+"/checkin", map[string]any{"token": "x.y.z"}, a.AccessToken).Expect(t, 400, 40010)
	do("POST", p+"/checkin", map[string]any{"token": code.Token}, a.AccessToken).Expect(t, 400, 40015)
	do("POST", p+"/checkin", here, a.AccessToken).Expect(t, 200, 0)
	do("POST", p+"/checkin", here, a.AccessToken).Expect(t, 409, 40016)
	do("POST", p+"/checkout", here, a.AccessToken).Expect(t, 200, 0)

	att := fmt.Sprintf("%s/attendances/%d/", p, a.UserID)
	do("GET", p+"/attendances", nil, staff.AccessToken).Expect(t, 200, 0)
	do("GET", p+"/attendances?flagged=maybe", nil, staff.AccessToken).Expect(t, 400, 10001)
	h.Clock.Advance(2 * time.Hour) // past the end
	relogin()
	do("POST", att+"approve", map[string]any{"minutes": 60, "score": 5}, staff.AccessToken).Expect(t, 400, 40020)
	do("POST", att+"approve", map[string]any{"minutes": 60, "score": 5, "reason": "提前签退，补足"}, staff.AccessToken).Expect(t, 200, 0)
	do("POST", p+"/attendances/approve", map[string]any{"items": []map[string]any{
		{"userId": a.UserID, "minutes": 60, "score": 4, "reason": "提前签退，补足"}}}, staff.AccessToken).Expect(t, 200, 0)
	do("POST", att+"absent", map[string]any{"reason": "核实未到"}, staff.AccessToken).Expect(t, 200, 0)
	do("POST", fmt.Sprintf("%s/attendances/%d/checkin", p, b.UserID), nil, staff.AccessToken).Expect(t, 409, 40008)
	do("GET", "/me/activities", nil, a.AccessToken).Expect(t, 200, 0)

	// Manual check-in and check-out on a fresh activity.
	now = h.Clock.Now()
	body["startAt"], body["endAt"], body["signupDeadline"] = now.Add(90*time.Minute), now.Add(150*time.Minute), now.Add(time.Hour)
	var act2 struct{ ID int64 }
	do("POST", "/activities", body, staff.AccessToken).Expect(t, 201, 0).Decode(t, &act2)
	p2 := fmt.Sprintf("/activities/%d", act2.ID)
	do("POST", p2+"/publish", nil, staff.AccessToken).Expect(t, 200, 0)
	do("POST", p2+"/signup", nil, b.AccessToken).Expect(t, 201, 0)
	h.Clock.Advance(time.Hour)
	relogin()
	att2 := fmt.Sprintf("%s/attendances/%d/", p2, b.UserID)
	do("POST", att2+"checkin", map[string]any{}, staff.AccessToken).Expect(t, 200, 0)
	do("POST", att2+"checkout", map[string]any{"at": h.Clock.Now()}, staff.AccessToken).Expect(t, 200, 0)
	do("POST", att2+"checkout", nil, staff.AccessToken).Expect(t, 409, 40018)
	t.Logf("%d operation/status pairs validated", v.Checked())
}
