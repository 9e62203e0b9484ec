package router_test

import (
	"fmt"
	"testing"

	"linli/internal/testutil"
	"linli/model"
)

// TestTimeBankResponsesMatchDocument drives the time bank and mall
// endpoints through their success and main error answers and validates each
// response against docs/openapi.yaml.
func TestTimeBankResponsesMatchDocument(t *testing.T) {
	adminID := testutil.UniqueOpenID("tbdoc-admin")
	h := testutil.New(t, testutil.WithConfig(map[string]any{"bootstrap.admins": adminID}))
	v := testutil.NewDocChecker(t, h.Router, nil)
	do := func(method, path string, body any, token string) *testutil.Response {
		return testutil.Send(t, v, testutil.Request{Method: method, Path: path, Body: body, Token: token})
	}
	tree := h.MustTree()
	admin := h.MustLogin(adminID)
	staff := h.MustLogin(testutil.UniqueOpenID("tbdoc-staff"))
	h.MustMakeStaff(staff.UserID, tree.CommunityA.ID, model.RoleStaff)
	a := h.MustLogin(testutil.UniqueOpenID("tbdoc-a"))
	h.MustSetHome(a.UserID, tree.CommunityA.ID)
	b := h.MustLogin(testutil.UniqueOpenID("tbdoc-b"))
	h.MustSetHome(b.UserID, tree.CommunityB.ID)

	credit := map[string]any{"userId": a.UserID, "currency": "points", "amount": 50, "reason": "补录", "requestId": "doc-1"}
	do("POST", "/admin/credits", credit, staff.AccessToken).Expect(t, 201, 0)
	do("POST", "/admin/credits", credit, staff.AccessToken).Expect(t, 200, 0)
	credit["amount"] = 51
	do("POST", "/admin/credits", credit, staff.AccessToken).Expect(t, 409, 30003)
	var req struct{ ID int64 }
	do("POST", "/admin/credits", map[string]any{"userId": a.UserID, "currency": "minutes", "amount": 6000, "reason": "补录", "requestId": "doc-2"}, staff.AccessToken).Expect(t, 202, 0).Decode(t, &req)
	reqPath := fmt.Sprintf("/admin/credit-requests/%d", req.ID)
	do("POST", reqPath+"/approve", nil, staff.AccessToken).Expect(t, 403, 30012)
	do("POST", reqPath+"/approve", nil, a.AccessToken).Expect(t, 404, 10005)
	do("POST", reqPath+"/approve", nil, b.AccessToken).Expect(t, 404, 10005)
	do("POST", reqPath+"/reject", map[string]any{}, admin.AccessToken).Expect(t, 400, 10001)
	do("POST", reqPath+"/approve", nil, admin.AccessToken).Expect(t, 200, 0)
	do("POST", reqPath+"/approve", nil, admin.AccessToken).Expect(t, 409, 10006)
	do("POST", reqPath+"/reject", map[string]any{"reason": "重复"}, admin.AccessToken).Expect(t, 409, 10006)
	do("POST", "/admin/credits", map[string]any{"userId": a.UserID, "currency": "points", "amount": 2000, "reason": "补录", "requestId": "doc-4"}, staff.AccessToken).Expect(t, 202, 0).Decode(t, &req)
	do("POST", fmt.Sprintf("/admin/credit-requests/%d/reject", req.ID), map[string]any{"reason": "材料不全"}, admin.AccessToken).Expect(t, 200, 0)
	do("POST", "/admin/credit-requests/987654321/approve", nil, admin.AccessToken).Expect(t, 404, 10005)
	do("POST", "/admin/credits", map[string]any{"userId": staff.UserID, "communityId": tree.CommunityA.ID, "currency": "points", "amount": 5, "reason": "补录", "requestId": "doc-5"}, staff.AccessToken).Expect(t, 403, 30012)
	do("POST", "/admin/credits", map[string]any{"userId": b.UserID, "communityId": tree.CommunityA.ID, "currency": "points", "amount": 5, "reason": "补录", "requestId": "doc-6"}, staff.AccessToken).Expect(t, 403, 30015)
	do("POST", "/admin/credits", map[string]any{"userId": a.UserID, "currency": "points", "amount": 10001, "reason": "补录", "requestId": "doc-7"}, staff.AccessToken).Expect(t, 409, 30013)
	do("GET", fmt.Sprintf("/admin/credits?orgId=%d", tree.Street.ID), nil, admin.AccessToken).Expect(t, 200, 0)
	do("GET", fmt.Sprintf("/admin/credits?orgId=%d&status=pending&page=1&pageSize=5", tree.CommunityA.ID), nil, staff.AccessToken).Expect(t, 200, 0)
	do("GET", fmt.Sprintf("/admin/credits?orgId=%d&status=paid", tree.CommunityA.ID), nil, staff.AccessToken).Expect(t, 400, 10001)
	do("GET", fmt.Sprintf("/admin/credits?orgId=%d", tree.CommunityA.ID), nil, a.AccessToken).Expect(t, 403, 10004)
	do("POST", "/admin/credits", credit, a.AccessToken).Expect(t, 403, 10004)
	do("POST", "/admin/credits", map[string]any{"userId": 1}, staff.AccessToken).Expect(t, 400, 10001)
	do("POST", "/admin/credits", map[string]any{"userId": 987654321, "currency": "points", "amount": 1, "reason": "x", "requestId": "doc-3"}, staff.AccessToken).Expect(t, 404, 10005)

	do("GET", "/me/account", nil, a.AccessToken).Expect(t, 200, 0)
	do("GET", "/me/account", nil, b.AccessToken).Expect(t, 200, 0)
	do("GET", "/me/account", nil, "").Expect(t, 401, 10002)
	do("POST", "/me/gifts", map[string]any{"toUserId": b.UserID, "currency": "points", "amount": 5, "note": "给家人"}, a.AccessToken).Expect(t, 201, 0)
	do("POST", "/me/gifts", map[string]any{"toUserId": b.UserID, "currency": "points", "amount": 500}, a.AccessToken).Expect(t, 409, 30001)
	do("POST", "/me/gifts", map[string]any{"toUserId": 987654321, "currency": "points", "amount": 5}, a.AccessToken).Expect(t, 404, 10005)
	do("POST", "/me/gifts", map[string]any{"toUserId": b.UserID, "currency": "points", "amount": 0}, a.AccessToken).Expect(t, 400, 10001)
	do("GET", "/me/ledger", nil, a.AccessToken).Expect(t, 200, 0)
	do("GET", "/me/ledger?currency=points&page=1&pageSize=2", nil, b.AccessToken).Expect(t, 200, 0)
	do("GET", "/me/ledger?currency=gold", nil, a.AccessToken).Expect(t, 400, 10001)

	for _, q := range []string{"", "?period=year&by=points", fmt.Sprintf("?orgId=%d&period=all", tree.District.ID)} {
		do("GET", "/leaderboards"+q, nil, a.AccessToken).Expect(t, 200, 0)
	}
	do("GET", "/leaderboards?period=week", nil, a.AccessToken).Expect(t, 400, 10001)
	do("GET", "/leaderboards?orgId=987654321", nil, a.AccessToken).Expect(t, 404, 10005)
	do("GET", "/admin/reconcile", nil, admin.AccessToken).Expect(t, 200, 0)
	do("GET", "/admin/reconcile", nil, a.AccessToken).Expect(t, 403, 10004)

	var g struct{ ID int64 }
	do("POST", "/mall/goods", map[string]any{"communityId": tree.CommunityA.ID, "name": "毛巾", "description": "纯棉",
		"pointsPrice": 10, "stock": 5, "perUserLimit": 2}, staff.AccessToken).Expect(t, 201, 0).Decode(t, &g)
	do("POST", "/mall/goods", map[string]any{"communityId": tree.CommunityA.ID, "name": "x", "pointsPrice": 10, "stock": 5}, a.AccessToken).Expect(t, 403, 10004)
	do("POST", "/mall/goods", map[string]any{"communityId": tree.CommunityA.ID, "name": "x", "pointsPrice": 0, "stock": 5}, staff.AccessToken).Expect(t, 400, 10001)
	do("GET", "/mall/goods", nil, a.AccessToken).Expect(t, 200, 0)
	do("GET", fmt.Sprintf("/mall/goods?communityId=%d&page=1&pageSize=5", tree.CommunityA.ID), nil, staff.AccessToken).Expect(t, 200, 0)
	do("GET", fmt.Sprintf("/mall/goods/%d", g.ID), nil, a.AccessToken).Expect(t, 200, 0)
	do("GET", "/mall/goods/987654321", nil, a.AccessToken).Expect(t, 404, 10005)
	do("PUT", fmt.Sprintf("/mall/goods/%d", g.ID), map[string]any{"stock": 4}, staff.AccessToken).Expect(t, 200, 0)
	do("PUT", fmt.Sprintf("/mall/goods/%d", g.ID), map[string]any{"stock": 4}, a.AccessToken).Expect(t, 403, 10004)

	var o struct {
		ID         int64
		PickupCode string
	}
	do("POST", "/mall/orders", map[string]any{"goodsId": g.ID}, a.AccessToken).Expect(t, 201, 0).Decode(t, &o)
	do("POST", "/mall/orders", map[string]any{"goodsId": g.ID}, b.AccessToken).Expect(t, 403, 30008)
	do("POST", "/mall/orders", map[string]any{"goodsId": g.ID, "quantity": 5}, a.AccessToken).Expect(t, 409, 30006)
	do("POST", "/mall/orders", map[string]any{"goodsId": g.ID, "quantity": 0}, a.AccessToken).Expect(t, 400, 10001)
	do("POST", "/mall/orders", map[string]any{"goodsId": 987654321}, a.AccessToken).Expect(t, 404, 10005)
	do("GET", "/mall/orders/mine", nil, a.AccessToken).Expect(t, 200, 0)
	do("GET", "/mall/orders/mine?status=nope", nil, a.AccessToken).Expect(t, 400, 10001)
	do("GET", fmt.Sprintf("/mall/orders?communityId=%d&status=open", tree.CommunityA.ID), nil, staff.AccessToken).Expect(t, 200, 0)
	do("GET", fmt.Sprintf("/mall/orders?communityId=%d", tree.CommunityA.ID), nil, a.AccessToken).Expect(t, 403, 10004)
	do("POST", "/mall/orders/verify", map[string]any{"communityId": tree.CommunityA.ID, "pickupCode": o.PickupCode}, staff.AccessToken).Expect(t, 200, 0)
	do("POST", "/mall/orders/verify", map[string]any{"communityId": tree.CommunityA.ID, "pickupCode": o.PickupCode}, staff.AccessToken).Expect(t, 409, 30010)
	do("POST", "/mall/orders/verify", map[string]any{"communityId": tree.CommunityA.ID, "pickupCode": "12x456"}, staff.AccessToken).Expect(t, 400, 10001)
	do("POST", "/mall/orders/verify", map[string]any{"communityId": tree.CommunityB.ID, "pickupCode": o.PickupCode}, staff.AccessToken).Expect(t, 403, 10004)
	var o2 struct{ ID int64 }
	do("POST", "/mall/orders", map[string]any{"goodsId": g.ID}, a.AccessToken).Expect(t, 201, 0).Decode(t, &o2)
	do("POST", fmt.Sprintf("/mall/orders/%d/cancel", o2.ID), nil, a.AccessToken).Expect(t, 200, 0)
	do("POST", fmt.Sprintf("/mall/orders/%d/cancel", o2.ID), nil, a.AccessToken).Expect(t, 409, 30009)
	do("POST", fmt.Sprintf("/mall/orders/%d/cancel", o2.ID), nil, b.AccessToken).Expect(t, 404, 10005)
	do("DELETE", fmt.Sprintf("/mall/goods/%d", g.ID), nil, staff.AccessToken).Expect(t, 200, 0)
	do("DELETE", fmt.Sprintf("/mall/goods/%d", g.ID), nil, staff.AccessToken).Expect(t, 404, 10005)
	t.Logf("%d operation/status pairs validated", v.Checked())
}
