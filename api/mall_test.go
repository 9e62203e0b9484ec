package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"linli/internal/testutil"
	"linli/model"
	"linli/service"
)

type goodsView struct {
	ID, CommunityID                  int64
	Name, Image                      string
	PointsPrice, Stock, PerUserLimit int64
	OnSale                           bool
}

type orderView struct {
	ID, CommunityID, GoodsID, UserID int64
	GoodsName                        string
	Quantity, PointsTotal            int64
	Status, PickupCode               string
	ExpiresAt                        time.Time
}

// goods lists goods in community A through the API.
func (e *tbEnv) goods(t testing.TB, body map[string]any) goodsView {
	t.Helper()
	b := map[string]any{"communityId": e.tree.CommunityA.ID, "name": "大米 5kg", "pointsPrice": 10, "stock": 10}
	for k, v := range body {
		b[k] = v
	}
	var g goodsView
	e.h.Do("POST", "/mall/goods", b, e.staff.AccessToken).Expect(t, 201, 0).Decode(t, &g)
	return g
}

func (e *tbEnv) order(t testing.TB, who testutil.Login, goodsID int64) orderView {
	t.Helper()
	var o orderView
	e.h.Do("POST", "/mall/orders", map[string]any{"goodsId": goodsID}, who.AccessToken).Expect(t, 201, 0).Decode(t, &o)
	return o
}

// orderIDs returns the ids of the goods' orders as ledger source ids.
func (e *tbEnv) orderIDs(t testing.TB, goodsID int64) []string {
	t.Helper()
	var ids []int64
	if err := e.h.DB.Model(&model.MallOrder{}).Where("goods_id = ?", goodsID).Pluck("id", &ids).Error; err != nil {
		t.Fatal(err)
	}
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		out = append(out, strconv.FormatInt(id, 10))
	}
	return out
}

func (e *tbEnv) stock(t testing.TB, goodsID int64) int64 {
	t.Helper()
	var g model.MallGoods
	if err := e.h.DB.Unscoped().First(&g, goodsID).Error; err != nil {
		t.Fatal(err)
	}
	return g.Stock
}

func TestMallGoodsCRUD(t *testing.T) {
	e := newTBEnv(t)
	u := e.resident(t, e.tree.CommunityA.ID)
	staffB := e.h.MustLogin(testutil.UniqueOpenID("mall-staffb"))
	e.h.MustMakeStaff(staffB.UserID, e.tree.CommunityB.ID, model.RoleStaff)

	var photo struct{ ID int64 }
	e.h.Upload(e.staff.AccessToken, "rice.png", testutil.PNG()).Expect(t, 201, 0).Decode(t, &photo)
	g := e.goods(t, map[string]any{"description": "东北大米", "imageId": photo.ID, "perUserLimit": 2})
	if g.CommunityID != e.tree.CommunityA.ID || !g.OnSale || g.PerUserLimit != 2 || g.Stock != 10 ||
		!strings.HasPrefix(g.Image, "/api/v1/files/") {
		t.Fatalf("goods %+v", g)
	}
	off := e.goods(t, map[string]any{"name": "食用油", "onSale": false})

	bad := []struct {
		name         string
		who          testutil.Login
		body         any
		status, code int
	}{
		{"resident", u, map[string]any{"communityId": e.tree.CommunityA.ID, "name": "x", "pointsPrice": 1, "stock": 1}, 403, service.CodeForbidden},
		{"staff of B", staffB, map[string]any{"communityId": e.tree.CommunityA.ID, "name": "x", "pointsPrice": 1, "stock": 1}, 403, service.CodeForbidden},
		{"zero price", e.staff, map[string]any{"communityId": e.tree.CommunityA.ID, "name": "x", "pointsPrice": 0, "stock": 1}, 400, service.CodeInvalid},
		{"huge price", e.staff, map[string]any{"communityId": e.tree.CommunityA.ID, "name": "x", "pointsPrice": 2_000_000, "stock": 1}, 400, service.CodeInvalid},
		{"negative stock", e.staff, map[string]any{"communityId": e.tree.CommunityA.ID, "name": "x", "pointsPrice": 1, "stock": -1}, 400, service.CodeInvalid},
		{"missing stock", e.staff, map[string]any{"communityId": e.tree.CommunityA.ID, "name": "x", "pointsPrice": 1}, 400, service.CodeInvalid},
		{"blank name", e.staff, map[string]any{"communityId": e.tree.CommunityA.ID, "name": "  ", "pointsPrice": 1, "stock": 1}, 400, service.CodeInvalid},
		{"bad image", e.staff, map[string]any{"communityId": e.tree.CommunityA.ID, "name": "x", "pointsPrice": 1, "stock": 1, "image": "ftp://x"}, 400, service.CodeInvalid},
		{"wrong type", e.staff, map[string]any{"communityId": e.tree.CommunityA.ID, "name": "x", "pointsPrice": "1", "stock": 1}, 400, service.CodeInvalid},
		{"street", e.admin, map[string]any{"communityId": e.tree.Street.ID, "name": "x", "pointsPrice": 1, "stock": 1}, 400, service.CodeInvalid},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			e.h.Do("POST", "/mall/goods", c.body, c.who.AccessToken).Expect(t, c.status, c.code)
		})
	}
	if n := e.h.Count(&model.MallGoods{}, "community_id IN ?", []int64{e.tree.CommunityA.ID, e.tree.Street.ID}); n != 2 {
		t.Fatalf("goods rows = %d, want 2", n)
	}

	var list struct {
		List  []goodsView
		Total int64
	}
	e.h.Do("GET", "/mall/goods?page=1", nil, u.AccessToken).Expect(t, 200, 0).Decode(t, &list)
	if list.Total != 1 || list.List[0].ID != g.ID {
		t.Fatalf("resident sees %+v", list)
	}
	e.h.Do("GET", fmt.Sprintf("/mall/goods?communityId=%d&page=1", e.tree.CommunityA.ID), nil, e.staff.AccessToken).Expect(t, 200, 0).Decode(t, &list)
	if list.Total != 2 || list.List[0].ID != off.ID {
		t.Fatalf("staff sees %+v", list)
	}
	e.h.Do("GET", fmt.Sprintf("/mall/goods/%d", off.ID), nil, u.AccessToken).Expect(t, 404, service.CodeNotFound)
	e.h.Do("GET", fmt.Sprintf("/mall/goods/%d", off.ID), nil, e.staff.AccessToken).Expect(t, 200, 0)

	e.h.Do("PUT", fmt.Sprintf("/mall/goods/%d", g.ID), map[string]any{"stock": 3, "pointsPrice": 12}, staffB.AccessToken).Expect(t, 403, service.CodeForbidden)
	e.h.Do("PUT", fmt.Sprintf("/mall/goods/%d", g.ID), map[string]any{"stock": -3}, e.staff.AccessToken).Expect(t, 400, service.CodeInvalid)
	var upd goodsView
	e.h.Do("PUT", fmt.Sprintf("/mall/goods/%d", g.ID), map[string]any{"stock": 3, "pointsPrice": 12, "onSale": false}, e.staff.AccessToken).Expect(t, 200, 0).Decode(t, &upd)
	if upd.Stock != 3 || upd.PointsPrice != 12 || upd.OnSale || upd.Name != g.Name {
		t.Fatalf("updated %+v", upd)
	}
	e.h.Do("DELETE", fmt.Sprintf("/mall/goods/%d", g.ID), nil, u.AccessToken).Expect(t, 403, service.CodeForbidden)
	e.h.Do("DELETE", fmt.Sprintf("/mall/goods/%d", g.ID), nil, e.staff.AccessToken).Expect(t, 200, 0)
	e.h.Do("GET", fmt.Sprintf("/mall/goods/%d", g.ID), nil, e.staff.AccessToken).Expect(t, 404, service.CodeNotFound)
	e.h.Do("PUT", fmt.Sprintf("/mall/goods/%d", g.ID), map[string]any{"stock": 1}, e.staff.AccessToken).Expect(t, 404, service.CodeNotFound)
	e.h.Do("POST", "/mall/orders", map[string]any{"goodsId": g.ID}, u.AccessToken).Expect(t, 404, service.CodeNotFound)
}

func TestConcurrentOrdersNeverOversell(t *testing.T) {
	e := newTBEnv(t)
	g := e.goods(t, map[string]any{"stock": 10, "pointsPrice": 10})
	buyers := make([]testutil.Login, 100)
	for i := range buyers {
		buyers[i] = e.resident(t, e.tree.CommunityA.ID)
		e.credit(t, buyers[i].UserID, "points", 10)
	}
	got := testutil.Tally(testutil.Race(t, 100, func(i int) string {
		return testutil.Answer(e.h.TryDo("POST", "/mall/orders", map[string]any{"goodsId": g.ID, "quantity": 1}, buyers[i].AccessToken))
	}))
	if got["201/0"] != 10 || got[fmt.Sprintf("409/%d", service.CodeOutOfStock)] != 90 {
		t.Fatalf("results %v", got)
	}
	if s := e.stock(t, g.ID); s != 0 {
		t.Fatalf("stock %d", s)
	}
	if n := e.h.Count(&model.MallOrder{}, "goods_id = ?", g.ID); n != 10 {
		t.Fatalf("orders %d", n)
	}
	var codes []string
	e.h.DB.Model(&model.MallOrder{}).Where("goods_id = ?", g.ID).Distinct("pickup_code").Pluck("pickup_code", &codes)
	if len(codes) != 10 {
		t.Fatalf("pickup codes not distinct: %v", codes)
	}
	var spent int64
	for _, b := range buyers {
		if a := e.account(t, b); a.Points == 0 {
			spent++
		}
	}
	if spent != 10 {
		t.Fatalf("%d buyers paid, want 10", spent)
	}
	e.reconcileClean(t)
}

func TestPerUserLimitUnderConcurrency(t *testing.T) {
	e := newTBEnv(t)
	g := e.goods(t, map[string]any{"stock": 100, "pointsPrice": 1, "perUserLimit": 3})
	u := e.resident(t, e.tree.CommunityA.ID)
	e.credit(t, u.UserID, "points", 100)
	got := testutil.Tally(testutil.Race(t, 50, func(int) string {
		return testutil.Answer(e.h.TryDo("POST", "/mall/orders", map[string]any{"goodsId": g.ID, "quantity": 1}, u.AccessToken))
	}))
	if got["201/0"] != 3 || got[fmt.Sprintf("409/%d", service.CodePerUserLimit)] != 47 {
		t.Fatalf("results %v", got)
	}
	if s := e.stock(t, g.ID); s != 97 {
		t.Fatalf("stock %d", s)
	}
	if a := e.account(t, u); a.Points != 97 {
		t.Fatalf("points %+v", a)
	}
	// A cancelled order frees its share of the limit.
	var mine struct{ List []orderView }
	e.h.Do("GET", "/mall/orders/mine", nil, u.AccessToken).Expect(t, 200, 0).Decode(t, &mine)
	if len(mine.List) != 3 || mine.List[0].PickupCode == "" {
		t.Fatalf("mine %+v", mine)
	}
	e.h.Do("POST", fmt.Sprintf("/mall/orders/%d/cancel", mine.List[0].ID), nil, u.AccessToken).Expect(t, 200, 0)
	e.h.Do("POST", "/mall/orders", map[string]any{"goodsId": g.ID, "quantity": 2}, u.AccessToken).Expect(t, 409, service.CodePerUserLimit)
	e.h.Do("POST", "/mall/orders", map[string]any{"goodsId": g.ID, "quantity": 1}, u.AccessToken).Expect(t, 201, 0)
	e.reconcileClean(t)
}

func TestOrderBadInputWritesNothing(t *testing.T) {
	e := newTBEnv(t)
	g := e.goods(t, map[string]any{"stock": 5, "pointsPrice": 10})
	off := e.goods(t, map[string]any{"stock": 5, "onSale": false})
	staffC := e.h.MustLogin(testutil.UniqueOpenID("mall-staffc"))
	e.h.MustMakeStaff(staffC.UserID, e.tree.CommunityC.ID, model.RoleStaff)
	var other goodsView
	e.h.Do("POST", "/mall/goods", map[string]any{"communityId": e.tree.CommunityC.ID, "name": "毛巾", "pointsPrice": 1, "stock": 5},
		staffC.AccessToken).Expect(t, 201, 0).Decode(t, &other)
	u := e.resident(t, e.tree.CommunityA.ID)
	e.credit(t, u.UserID, "points", 15)
	homeless := e.resident(t, 0)
	cases := []struct {
		name         string
		who          testutil.Login
		body         any
		status, code int
	}{
		{"other community", u, map[string]any{"goodsId": other.ID}, 403, service.CodeGoodsOtherCommunity},
		{"zero quantity", u, map[string]any{"goodsId": g.ID, "quantity": 0}, 400, service.CodeInvalid},
		{"negative quantity", u, map[string]any{"goodsId": g.ID, "quantity": -1}, 400, service.CodeInvalid},
		{"huge quantity", u, map[string]any{"goodsId": g.ID, "quantity": 100000}, 400, service.CodeInvalid},
		{"string quantity", u, map[string]any{"goodsId": g.ID, "quantity": "1"}, 400, service.CodeInvalid},
		{"missing goods", u, map[string]any{"quantity": 1}, 400, service.CodeInvalid},
		{"unknown goods", u, map[string]any{"goodsId": 999_999_999}, 404, service.CodeNotFound},
		{"off sale", u, map[string]any{"goodsId": off.ID}, 409, service.CodeGoodsOffSale},
		{"more than stock", u, map[string]any{"goodsId": g.ID, "quantity": 6}, 409, service.CodeOutOfStock},
		{"short of points", u, map[string]any{"goodsId": g.ID, "quantity": 2}, 409, service.CodeInsufficientBalance},
		{"no home", homeless, map[string]any{"goodsId": g.ID}, 409, service.CodeNoHomeCommunity},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.h.Do("POST", "/mall/orders", c.body, c.who.AccessToken).Expect(t, c.status, c.code)
		})
	}
	if n := e.h.Count(&model.MallOrder{}, "user_id IN ?", []int64{u.UserID, homeless.UserID}); n != 0 {
		t.Fatalf("orders written: %d", n)
	}
	if n := e.h.Count(&model.MallHolding{}, "user_id = ? AND quantity <> 0", u.UserID); n != 0 {
		t.Fatalf("holdings taken: %d", n)
	}
	if s := e.stock(t, g.ID); s != 5 {
		t.Fatalf("stock %d", s)
	}
	if a := e.account(t, u); a.Points != 15 {
		t.Fatalf("points %+v", a)
	}
	e.reconcileClean(t)
}

func TestVerifyPickupOnce(t *testing.T) {
	e := newTBEnv(t)
	g := e.goods(t, map[string]any{"stock": 5, "pointsPrice": 4})
	u := e.resident(t, e.tree.CommunityA.ID)
	other := e.resident(t, e.tree.CommunityA.ID)
	e.credit(t, u.UserID, "points", 20)
	o := e.order(t, u, g.ID)
	if o.Status != "open" || len(o.PickupCode) != 6 || o.PointsTotal != 4 {
		t.Fatalf("order %+v", o)
	}
	staffB := e.h.MustLogin(testutil.UniqueOpenID("mall-staffb"))
	e.h.MustMakeStaff(staffB.UserID, e.tree.CommunityB.ID, model.RoleStaff)
	verify := func(who testutil.Login, community int64, code any) *testutil.Response {
		return e.h.Do("POST", "/mall/orders/verify", map[string]any{"communityId": community, "pickupCode": code}, who.AccessToken)
	}
	wrong := "000000"
	if o.PickupCode == wrong {
		wrong = "000001"
	}
	verify(u, e.tree.CommunityA.ID, o.PickupCode).Expect(t, 403, service.CodeForbidden)
	verify(staffB, e.tree.CommunityA.ID, o.PickupCode).Expect(t, 403, service.CodeForbidden)
	verify(staffB, e.tree.CommunityB.ID, o.PickupCode).Expect(t, 404, service.CodePickupCodeInvalid)
	verify(e.staff, e.tree.CommunityA.ID, wrong).Expect(t, 404, service.CodePickupCodeInvalid)
	verify(e.staff, e.tree.CommunityA.ID, "12ab56").Expect(t, 400, service.CodeInvalid)
	verify(e.staff, e.tree.CommunityA.ID, 123456).Expect(t, 400, service.CodeInvalid)
	e.h.Do("POST", fmt.Sprintf("/mall/orders/%d/cancel", o.ID), nil, other.AccessToken).Expect(t, 404, service.CodeNotFound)

	var picked orderView
	verify(e.staff, e.tree.CommunityA.ID, o.PickupCode).Expect(t, 200, 0).Decode(t, &picked)
	if picked.ID != o.ID || picked.Status != "picked" || picked.PickupCode != "" {
		t.Fatalf("picked %+v", picked)
	}
	verify(e.staff, e.tree.CommunityA.ID, o.PickupCode).Expect(t, 409, service.CodeOrderPicked)
	e.h.Do("POST", fmt.Sprintf("/mall/orders/%d/cancel", o.ID), nil, u.AccessToken).Expect(t, 409, service.CodeOrderPicked)

	// Staff list orders without pickup codes; buyers see theirs only while open.
	var staffList struct{ List []orderView }
	e.h.Do("GET", fmt.Sprintf("/mall/orders?communityId=%d&status=picked", e.tree.CommunityA.ID), nil, e.staff.AccessToken).Expect(t, 200, 0).Decode(t, &staffList)
	if len(staffList.List) != 1 || staffList.List[0].PickupCode != "" {
		t.Fatalf("staff list %+v", staffList)
	}
	e.h.Do("GET", fmt.Sprintf("/mall/orders?communityId=%d", e.tree.CommunityA.ID), nil, u.AccessToken).Expect(t, 403, service.CodeForbidden)
	e.h.Do("GET", "/mall/orders/mine?status=lost", nil, u.AccessToken).Expect(t, 400, service.CodeInvalid)

	// A cancelled order refunds once and its code is no longer valid.
	o2 := e.order(t, u, g.ID)
	e.h.Do("POST", fmt.Sprintf("/mall/orders/%d/cancel", o2.ID), nil, u.AccessToken).Expect(t, 200, 0)
	e.h.Do("POST", fmt.Sprintf("/mall/orders/%d/cancel", o2.ID), nil, u.AccessToken).Expect(t, 409, service.CodeOrderNotOpen)
	verify(e.staff, e.tree.CommunityA.ID, o2.PickupCode).Expect(t, 409, service.CodeOrderNotOpen)
	if a := e.account(t, u); a.Points != 16 {
		t.Fatalf("points %+v", a)
	}
	if s := e.stock(t, g.ID); s != 4 {
		t.Fatalf("stock %d", s)
	}
	e.reconcileClean(t)
}

func TestPickupCodeUniqueAmongOpenOrders(t *testing.T) {
	e := newTBEnv(t)
	code := "424242"
	mk := func(community int64, status model.MallOrderStatus) error {
		o := model.MallOrder{CommunityID: community, GoodsID: 1, UserID: 1, Quantity: 1, UnitPrice: 1, PointsTotal: 1,
			Status: status, PickupCode: code, ExpiresAt: time.Now().Add(10000 * time.Hour)}
		if status == model.OrderOpen {
			c := code
			o.OpenCode = &c
		}
		return e.h.DB.Create(&o).Error
	}
	t.Cleanup(func() {
		e.h.DB.Where("community_id IN ? AND pickup_code = ?", []int64{e.tree.CommunityA.ID, e.tree.CommunityB.ID}, code).Delete(&model.MallOrder{})
	})
	if err := mk(e.tree.CommunityA.ID, model.OrderOpen); err != nil {
		t.Fatal(err)
	}
	if err := mk(e.tree.CommunityA.ID, model.OrderOpen); err == nil {
		t.Fatal("two open orders of a community share a pickup code")
	}
	for _, c := range []struct {
		community int64
		status    model.MallOrderStatus
	}{{e.tree.CommunityB.ID, model.OrderOpen}, {e.tree.CommunityA.ID, model.OrderPicked}, {e.tree.CommunityA.ID, model.OrderExpired}} {
		if err := mk(c.community, c.status); err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
	}
}

func TestConcurrentCancelAndVerifyOneWins(t *testing.T) {
	e := newTBEnv(t)
	g := e.goods(t, map[string]any{"stock": 100, "pointsPrice": 3})
	u := e.resident(t, e.tree.CommunityA.ID)
	e.credit(t, u.UserID, "points", 300)
	const rounds = 20
	orders := make([]orderView, rounds)
	for i := range orders {
		orders[i] = e.order(t, u, g.ID)
	}
	cancelled, picked := 0, 0
	for _, o := range orders {
		// Cancel and verify at once.
		rs := testutil.RaceSend(t, 2, func(i int) (http.Handler, testutil.Request) {
			if i == 0 {
				return e.h.Router, testutil.Request{Method: "POST", Path: fmt.Sprintf("/mall/orders/%d/cancel", o.ID), Token: u.AccessToken}
			}
			return e.h.Router, testutil.Request{Method: "POST", Path: "/mall/orders/verify", Token: e.staff.AccessToken,
				Body: map[string]any{"communityId": e.tree.CommunityA.ID, "pickupCode": o.PickupCode}}
		})
		rc, rv := rs[0], rs[1]
		switch {
		case rc.Status == 200 && rv.Status == 409 && rv.Code == service.CodeOrderNotOpen:
			cancelled++
		case rv.Status == 200 && rc.Status == 409 && rc.Code == service.CodeOrderPicked:
			picked++
		default:
			t.Fatalf("order %d: cancel %d/%d, verify %d/%d", o.ID, rc.Status, rc.Code, rv.Status, rv.Code)
		}
	}
	if a := e.account(t, u); a.Points != 300-int64(picked)*3 {
		t.Fatalf("points %d after %d picked, %d cancelled", a.Points, picked, cancelled)
	}
	if s := e.stock(t, g.ID); s != 100-int64(picked) {
		t.Fatalf("stock %d after %d picked", s, picked)
	}
	if n := e.h.Count(&model.LedgerTxn{}, "source_kind = ? AND source_id IN ?", service.SourceMallRefund, e.orderIDs(t, g.ID)); n != int64(cancelled) {
		t.Fatalf("refunds %d, cancelled %d", n, cancelled)
	}
	t.Logf("%d cancelled, %d picked", cancelled, picked)
	e.reconcileClean(t)
}

func TestExpirySweepRefundsOnce(t *testing.T) {
	e := newTBEnv(t, map[string]any{"mall.order_ttl": "168h"})
	g := e.goods(t, map[string]any{"stock": 50, "pointsPrice": 2})
	u := e.resident(t, e.tree.CommunityA.ID)
	e.credit(t, u.UserID, "points", 100)
	const n = 30
	for range n {
		e.order(t, u, g.ID)
	}
	e.h.Clock.Advance(6 * 24 * time.Hour)
	late := e.order(t, u, g.ID) // placed a day before the others expire
	if got, err := e.h.Svc.Mall.ExpireOrders(context.Background()); err != nil || got != 0 {
		t.Fatalf("early sweep expired %d (%v)", got, err)
	}
	e.h.Clock.Advance(24*time.Hour + time.Minute)

	other, _ := e.h.NewInstance()
	svcs := []*service.Service{e.h.Svc, other, e.h.Svc, other}
	errs := make([]error, 4)
	counts := testutil.Race(t, 4, func(i int) int {
		c, err := svcs[i].Mall.ExpireOrders(context.Background())
		errs[i] = err
		return c
	})
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// Other tests' orders may share a MySQL database, and expire too.
	if total := counts[0] + counts[1] + counts[2] + counts[3]; total < n {
		t.Fatalf("expired %v, want at least %d in all", counts, n)
	}
	if c := e.h.Count(&model.MallOrder{}, "goods_id = ? AND status = ? AND open_code IS NULL AND refund_txn_id IS NOT NULL", g.ID, model.OrderExpired); c != n {
		t.Fatalf("expired and refunded orders %d, want %d", c, n)
	}
	if c := e.h.Count(&model.LedgerEntry{}, "source_kind = ? AND source_id IN ?", service.SourceMallRefund, e.orderIDs(t, g.ID)); c != 2*n {
		t.Fatalf("refund entries %d, want %d", c, 2*n)
	}
	if a := e.account(t, u); a.Points != 100-2 {
		t.Fatalf("points %+v", a)
	}
	if s := e.stock(t, g.ID); s != 50-1 {
		t.Fatalf("stock %d", s)
	}
	var mine struct {
		List  []orderView
		Total int64
	}
	e.h.Do("GET", "/mall/orders/mine?status=expired&pageSize=100", nil, u.AccessToken).Expect(t, 200, 0).Decode(t, &mine)
	if mine.Total != n || mine.List[0].PickupCode != "" {
		t.Fatalf("expired orders %d %+v", mine.Total, mine.List[0])
	}
	e.h.Do("GET", "/mall/orders/mine?status=open", nil, u.AccessToken).Expect(t, 200, 0).Decode(t, &mine)
	if mine.Total != 1 || mine.List[0].ID != late.ID {
		t.Fatalf("open orders %+v", mine)
	}
	if c, err := e.h.Svc.Mall.ExpireOrders(context.Background()); err != nil || c != 0 {
		t.Fatalf("sweep again: %d %v", c, err)
	}
	e.reconcileClean(t)
}

// TestRepeatedOrderRequestBuysOnce fires one order 30 times at once with the
// same requestId (a double tap, a retry after a lost answer): one order,
// one debit, one unit of stock; every answer names that order.
func TestRepeatedOrderRequestBuysOnce(t *testing.T) {
	e := newTBEnv(t)
	g := e.goods(t, map[string]any{"stock": 10, "pointsPrice": 10})
	other := e.goods(t, map[string]any{"stock": 10, "pointsPrice": 1, "name": "面粉"})
	u := e.resident(t, e.tree.CommunityA.ID)
	e.credit(t, u.UserID, "points", 100)
	body := map[string]any{"goodsId": g.ID, "quantity": 2, "requestId": "tap-1"}
	answers := testutil.RaceSend(t, 30, func(int) (http.Handler, testutil.Request) {
		return e.h.Router, testutil.Request{Method: "POST", Path: "/mall/orders", Body: body, Token: u.AccessToken}
	})
	got := testutil.Tally(testutil.Answers(answers))
	ids := map[int64]int{}
	for _, r := range answers {
		if r.Status == 201 {
			var o orderView
			r.Decode(t, &o)
			ids[o.ID]++
		}
	}
	if got["201/0"] != 30 || len(ids) != 1 {
		t.Fatalf("results %v, order ids %v", got, ids)
	}
	if n := e.h.Count(&model.MallOrder{}, "user_id = ?", u.UserID); n != 1 {
		t.Fatalf("orders %d, want 1", n)
	}
	if s := e.stock(t, g.ID); s != 8 {
		t.Fatalf("stock %d, want 8", s)
	}
	if a := e.account(t, u); a.Points != 80 {
		t.Fatalf("points %d, want 80", a.Points)
	}
	// The same key for other goods or another quantity is refused.
	e.h.Do("POST", "/mall/orders", map[string]any{"goodsId": other.ID, "requestId": "tap-1"}, u.AccessToken).
		Expect(t, 409, service.CodeRequestIDReused)
	e.h.Do("POST", "/mall/orders", map[string]any{"goodsId": g.ID, "quantity": 1, "requestId": "tap-1"}, u.AccessToken).
		Expect(t, 409, service.CodeRequestIDReused)
	e.h.Do("POST", "/mall/orders", map[string]any{"goodsId": g.ID, "requestId": "bad key!"}, u.AccessToken).
		Expect(t, 400, service.CodeInvalid)
	if s := e.stock(t, other.ID); s != 10 {
		t.Fatalf("other stock %d", s)
	}
	e.reconcileClean(t)
}
