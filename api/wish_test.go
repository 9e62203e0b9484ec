package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"linli/internal/testutil"
	"linli/model"
	"linli/service"
)

// Contact details every test wish carries; privacy tests look for them in
// raw responses.
const (
	wishPhone   = "13811112222"
	wishAddress = "幸福路8号3单元502室"
)

// wishWorld is a world (see testutil.World) with the people a wish meets:
// a poster (张三丰) and a stranger in community A, staff of A and of C,
// Party members reported to A and B (same street) and to C (another
// street), and a plain resident.
type wishWorld struct {
	world              *testutil.World
	h                  *testutil.Harness
	tree               *testutil.Tree
	poster, stranger   testutil.Login
	staff, otherStaff  testutil.Login
	member, member2    testutil.Login
	farMember, citizen testutil.Login
}

func newWishWorld(t *testing.T, opts ...testutil.Option) *wishWorld {
	t.Helper()
	world := testutil.NewWorld(t, opts...)
	h, tree := world.Harness, world.Tree
	w := &wishWorld{world: world, h: h, tree: tree}
	w.poster = w.login("poster", tree.CommunityA.ID)
	if err := h.DB.Model(&model.User{}).Where("id = ?", w.poster.UserID).Update("nickname", "张三丰").Error; err != nil {
		t.Fatal(err)
	}
	h.Changed(w.poster.UserID)
	w.stranger = w.login("stranger", tree.CommunityA.ID)
	w.staff = world.Staff("staff", tree.CommunityA.ID)
	h.MustSetHome(w.staff.UserID, tree.CommunityA.ID)
	w.otherStaff = world.Staff("ostaff", tree.CommunityC.ID)
	h.MustSetHome(w.otherStaff.UserID, tree.CommunityC.ID)
	w.member = world.Member("member", tree.CommunityA.ID)
	w.member2 = world.Member("member2", tree.CommunityB.ID)
	w.farMember = world.Member("farmember", tree.CommunityC.ID)
	w.citizen = w.login("citizen", tree.CommunityA.ID)
	return w
}

func (w *wishWorld) login(prefix string, home int64) testutil.Login {
	return w.world.Login(prefix, home)
}

// advance moves the clock and signs the given people in again (access
// tokens live two hours).
func (w *wishWorld) advance(d time.Duration, logins ...*testutil.Login) {
	w.h.Clock.Advance(d)
	w.world.Relogin(logins...)
}

func wishBody(title string) map[string]any {
	return map[string]any{
		"title": title, "content": "家里水管漏水，需要帮忙修理", "category": "维修",
		"budgetFen": 2000, "contactPhone": wishPhone, "address": wishAddress,
	}
}

type wishView struct {
	ID          int64
	Status      string
	PosterName  string
	Mine        bool
	ClaimedByMe bool
	ReviewFlag  string
	ProxyPosted bool
	Images      []struct {
		ID  int64
		URL string
	}
	Contact *struct{ Name, Phone, Address string }
	Claimer *struct {
		UserID *int64
		Name   string
		UnitID *int64
	}
	Rating        *int
	AutoConfirmed bool
}

func decodeWish(t *testing.T, r *testutil.Response) wishView {
	t.Helper()
	var v wishView
	r.Decode(t, &v)
	return v
}

// post creates a wish as token and returns its id.
func (w *wishWorld) post(t *testing.T, token string, body map[string]any) int64 {
	t.Helper()
	return decodeWish(t, w.h.Do("POST", "/wishes", body, token).Expect(t, 201, 0)).ID
}

// published posts a wish as the poster and has staff approve it.
func (w *wishWorld) published(t *testing.T, title string) int64 {
	t.Helper()
	id := w.post(t, w.poster.AccessToken, wishBody(title))
	w.h.Do("POST", fmt.Sprintf("/wishes/%d/approve", id), nil, w.staff.AccessToken).Expect(t, 200, 0)
	return id
}

func (w *wishWorld) act(t *testing.T, token string, id int64, action string, body any, status, code int) *testutil.Response {
	t.Helper()
	return w.h.Do("POST", fmt.Sprintf("/wishes/%d/%s", id, action), body, token).Expect(t, status, code)
}

func (w *wishWorld) points(t *testing.T, userID int64) int64 {
	t.Helper()
	var a model.Account
	w.h.DB.Where("owner_kind = ? AND owner_id = ? AND currency = ?", model.OwnerUser, userID, model.CurrencyPoints).Limit(1).Find(&a)
	return a.Balance
}

func TestWishHappyPath(t *testing.T) {
	w := newWishWorld(t)
	h := w.h

	up := h.Upload(w.poster.AccessToken, "photo.png", testutil.PNG()).Expect(t, 201, 0)
	var img struct {
		ID  int64
		URL string
	}
	up.Decode(t, &img)
	file := testutil.Send(t, h.Router, testutil.Request{Method: "GET", Path: img.URL})
	if _, err := png.Decode(bytes.NewReader(file.Raw)); file.Status != 200 || file.Header.Get("Content-Type") != "image/png" || err != nil {
		t.Fatalf("GET %s: %d %q", img.URL, file.Status, file.Header.Get("Content-Type"))
	}

	body := wishBody("修水管")
	body["images"] = []int64{img.ID}
	created := decodeWish(t, h.Do("POST", "/wishes", body, w.poster.AccessToken).Expect(t, 201, 0))
	if created.Status != "pending_review" || !created.Mine || len(created.Images) != 1 || created.Contact == nil {
		t.Fatalf("created: %+v", created)
	}
	id := created.ID

	// Not public yet; in the staff queue.
	var list struct {
		List  []wishView
		Total int64
	}
	h.Do("GET", "/wishes", nil, w.member.AccessToken).Expect(t, 200, 0).Decode(t, &list)
	if containsWish(list.List, id) {
		t.Fatal("a pending wish is in the public list")
	}
	h.Do("GET", "/wishes?status=pending_review", nil, w.member.AccessToken).Expect(t, 403, 10004)
	h.Do("GET", "/wishes?status=pending_review", nil, w.staff.AccessToken).Expect(t, 200, 0).Decode(t, &list)
	if !containsWish(list.List, id) {
		t.Fatal("the pending wish is not in the staff queue")
	}

	w.act(t, w.staff.AccessToken, id, "approve", nil, 200, 0)
	h.Do("GET", "/wishes", nil, w.member2.AccessToken).Expect(t, 200, 0).Decode(t, &list)
	if !containsWish(list.List, id) {
		t.Fatal("the published wish is not in the street's list")
	}
	h.Do("GET", "/wishes", nil, w.farMember.AccessToken).Expect(t, 200, 0).Decode(t, &list)
	if containsWish(list.List, id) {
		t.Fatal("the wish is listed in another street")
	}

	claimed := decodeWish(t, w.act(t, w.member.AccessToken, id, "claim", nil, 200, 0))
	if claimed.Status != "claimed" || !claimed.ClaimedByMe || claimed.Contact == nil || claimed.Contact.Phone != wishPhone {
		t.Fatalf("claimed: %+v", claimed)
	}

	proof := h.Upload(w.member.AccessToken, "done.jpg", testutil.JPEG()).Expect(t, 201, 0)
	var proofImg struct{ ID int64 }
	proof.Decode(t, &proofImg)
	w.act(t, w.member.AccessToken, id, "fulfil", map[string]any{"note": "已修好", "images": []int64{proofImg.ID}}, 200, 0)

	done := decodeWish(t, w.act(t, w.poster.AccessToken, id, "confirm", map[string]any{"rating": 5, "comment": "谢谢"}, 200, 0))
	if done.Status != "completed" || done.Rating == nil || *done.Rating != 5 {
		t.Fatalf("confirmed: %+v", done)
	}
	if got := w.points(t, w.member.UserID); got != 10 {
		t.Fatalf("claimer points = %d, want 10", got)
	}
	if n := h.Count(&model.ServiceRecord{}, "user_id = ? AND kind = ? AND status = ? AND source_key = ?",
		w.member.UserID, model.ServicePracticalDeed, model.RecordApproved, fmt.Sprintf("wish:%d", id)); n != 1 {
		t.Fatalf("practical_deed records = %d, want 1", n)
	}

	var tl struct {
		List []struct{ Action, ActorRole string }
	}
	h.Do("GET", fmt.Sprintf("/wishes/%d/timeline", id), nil, w.poster.AccessToken).Expect(t, 200, 0).Decode(t, &tl)
	var actions []string
	for _, e := range tl.List {
		actions = append(actions, e.Action+"/"+e.ActorRole)
	}
	if got := strings.Join(actions, ","); got != "create/poster,approve/staff,claim/claimer,fulfil/claimer,confirm/poster" {
		t.Fatalf("timeline = %s", got)
	}
	h.Do("GET", fmt.Sprintf("/wishes/%d/timeline", id), nil, w.member.AccessToken).Expect(t, 200, 0)
	h.Do("GET", fmt.Sprintf("/wishes/%d/timeline", id), nil, w.staff.AccessToken).Expect(t, 200, 0)

	h.Do("GET", "/wishes/mine", nil, w.poster.AccessToken).Expect(t, 200, 0).Decode(t, &list)
	if list.Total != 1 || list.List[0].ID != id || list.List[0].Contact == nil {
		t.Fatalf("mine: %+v", list)
	}
	h.Do("GET", "/wishes/claimed", nil, w.member.AccessToken).Expect(t, 200, 0).Decode(t, &list)
	if list.Total != 1 || list.List[0].ID != id {
		t.Fatalf("claimed: %+v", list)
	}
	h.Do("GET", "/wishes?status=completed", nil, w.stranger.AccessToken).Expect(t, 200, 0).Decode(t, &list)
	if !containsWish(list.List, id) {
		t.Fatal("completed wishes are not listed with status=completed")
	}

	var stats struct {
		Communities []struct {
			CommunityID           int64
			Total                 int64
			ByStatus              map[string]int64
			MedianHoursToClaim    *float64
			MedianHoursToComplete *float64
		}
	}
	h.Do("GET", fmt.Sprintf("/admin/wish-stats?orgId=%d", w.tree.CommunityA.ID), nil, w.member.AccessToken).Expect(t, 403, 10004)
	h.Do("GET", fmt.Sprintf("/admin/wish-stats?orgId=%d&from=2020-01-01&to=2999-12-31", w.tree.CommunityA.ID), nil, w.staff.AccessToken).
		Expect(t, 200, 0).Decode(t, &stats)
	if len(stats.Communities) != 1 || stats.Communities[0].ByStatus["completed"] != 1 || stats.Communities[0].Total != 1 ||
		stats.Communities[0].MedianHoursToClaim == nil || stats.Communities[0].MedianHoursToComplete == nil {
		t.Fatalf("stats: %+v", stats)
	}
}

func containsWish(list []wishView, id int64) bool {
	for _, v := range list {
		if v.ID == id {
			return true
		}
	}
	return false
}

func TestWishWrongActorsAndStates(t *testing.T) {
	w := newWishWorld(t)
	h := w.h
	pending := w.post(t, w.poster.AccessToken, wishBody("待审核"))
	published := w.published(t, "已发布")
	claimed := w.published(t, "已认领")
	w.act(t, w.member.AccessToken, claimed, "claim", nil, 200, 0)
	fulfilled := w.post(t, w.stranger.AccessToken, wishBody("已完成待确认"))
	w.act(t, w.staff.AccessToken, fulfilled, "approve", nil, 200, 0)
	w.act(t, w.member.AccessToken, fulfilled, "claim", nil, 200, 0)
	w.act(t, w.member.AccessToken, fulfilled, "fulfil", map[string]any{"note": "好了"}, 200, 0)

	cases := []struct {
		name         string
		token        string
		id           int64
		action       string
		body         any
		status, code int
	}{
		{"resident approves", w.poster.AccessToken, pending, "approve", nil, 403, 10004},
		{"staff of another community approves", w.otherStaff.AccessToken, pending, "approve", nil, 403, 10004},
		{"staff rejects without a reason", w.staff.AccessToken, pending, "reject", map[string]any{}, 400, 10001},
		{"approve a published wish", w.staff.AccessToken, published, "approve", nil, 409, 10006},
		{"reject a published wish", w.staff.AccessToken, published, "reject", map[string]any{"reason": "x"}, 409, 10006},
		{"claim a pending wish", w.member.AccessToken, pending, "claim", nil, 409, 10006},
		{"claim one's own wish", w.poster.AccessToken, published, "claim", nil, 403, 20004},
		{"a plain resident claims", w.citizen.AccessToken, published, "claim", nil, 403, 20005},
		{"a member of another street claims", w.farMember.AccessToken, published, "claim", nil, 403, 20005},
		{"claim a claimed wish", w.member2.AccessToken, claimed, "claim", nil, 409, 20001},
		{"claim a fulfilled wish", w.member2.AccessToken, fulfilled, "claim", nil, 409, 20001},
		{"release someone else's claim", w.member2.AccessToken, claimed, "release", nil, 403, 10004},
		{"release a published wish", w.member.AccessToken, published, "release", nil, 409, 10006},
		{"release a fulfilled wish", w.member.AccessToken, fulfilled, "release", nil, 409, 10006},
		{"fulfil someone else's claim", w.member2.AccessToken, claimed, "fulfil", map[string]any{"note": "x"}, 403, 10004},
		{"fulfil a published wish", w.member.AccessToken, published, "fulfil", map[string]any{"note": "x"}, 409, 10006},
		{"fulfil without a note", w.member.AccessToken, claimed, "fulfil", map[string]any{}, 400, 10001},
		{"fulfil twice", w.member.AccessToken, fulfilled, "fulfil", map[string]any{"note": "x"}, 409, 10006},
		{"the claimer confirms", w.member.AccessToken, fulfilled, "confirm", map[string]any{"rating": 5}, 403, 10004},
		{"a stranger confirms", w.poster.AccessToken, fulfilled, "confirm", map[string]any{"rating": 5}, 403, 10004},
		{"confirm a claimed wish", w.poster.AccessToken, claimed, "confirm", map[string]any{"rating": 5}, 409, 10006},
		{"confirm with rating 6", w.stranger.AccessToken, fulfilled, "confirm", map[string]any{"rating": 6}, 400, 10001},
		{"a stranger cancels", w.stranger.AccessToken, published, "cancel", nil, 403, 10004},
		{"the claimer cancels", w.member.AccessToken, claimed, "cancel", nil, 403, 10004},
		{"cancel a claimed wish", w.poster.AccessToken, claimed, "cancel", nil, 409, 10006},
		{"cancel a fulfilled wish", w.stranger.AccessToken, fulfilled, "cancel", nil, 409, 10006},
		{"unknown wish", w.member.AccessToken, 1 << 40, "claim", nil, 404, 10005},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := wishSnapshot(t, h, c.id)
			w.act(t, c.token, c.id, c.action, c.body, c.status, c.code)
			if after := wishSnapshot(t, h, c.id); after != before {
				t.Fatalf("refused %s changed the wish: %s → %s", c.action, before, after)
			}
		})
	}

	// Reads: pending wishes and timelines are not for strangers.
	h.Do("GET", fmt.Sprintf("/wishes/%d", pending), nil, w.stranger.AccessToken).Expect(t, 404, 10005)
	h.Do("GET", fmt.Sprintf("/wishes/%d", pending), nil, w.staff.AccessToken).Expect(t, 200, 0)
	h.Do("GET", fmt.Sprintf("/wishes/%d/timeline", claimed), nil, w.stranger.AccessToken).Expect(t, 403, 10004)
	h.Do("GET", fmt.Sprintf("/wishes/%d/timeline", claimed), nil, w.member2.AccessToken).Expect(t, 403, 10004)
	h.Do("GET", "/wishes?status=bogus", nil, w.stranger.AccessToken).Expect(t, 400, 10001)
	h.Do("GET", "/wishes?category=bogus", nil, w.stranger.AccessToken).Expect(t, 400, 10001)

	// Cancel and reject end a wish; release puts it back.
	w.act(t, w.poster.AccessToken, pending, "cancel", map[string]any{"reason": "不需要了"}, 200, 0)
	w.act(t, w.poster.AccessToken, pending, "cancel", nil, 409, 10006)
	w.act(t, w.staff.AccessToken, pending, "approve", nil, 409, 10006)
	rejected := w.post(t, w.poster.AccessToken, wishBody("不合规"))
	v := decodeWish(t, w.act(t, w.staff.AccessToken, rejected, "reject", map[string]any{"reason": "信息不全"}, 200, 0))
	if v.Status != "rejected" {
		t.Fatalf("rejected: %+v", v)
	}
	w.act(t, w.member.AccessToken, claimed, "release", map[string]any{"reason": "临时出差"}, 200, 0)
	w.act(t, w.member.AccessToken, claimed, "fulfil", map[string]any{"note": "x"}, 409, 10006)
	w.act(t, w.member2.AccessToken, claimed, "claim", nil, 200, 0)
}

// wishSnapshot is a wish's state columns, for "nothing changed" checks.
func wishSnapshot(t *testing.T, h *testutil.Harness, id int64) string {
	t.Helper()
	var wsh model.Wish
	h.DB.Limit(1).Find(&wsh, id)
	claimer := int64(0)
	if wsh.ClaimerID != nil {
		claimer = *wsh.ClaimerID
	}
	var events int64
	h.DB.Model(&model.WishEvent{}).Where("wish_id = ?", id).Count(&events)
	return fmt.Sprintf("%s/%d/%d", wsh.Status, claimer, events)
}

func TestWishLimits(t *testing.T) {
	w := newWishWorld(t, testutil.WithConfig(map[string]any{"ratelimit.wish_create_per_minute": 0}))
	h := w.h
	before := h.Count(&model.Wish{}, "created_by = ?", w.poster.UserID)
	for i := 0; i < 3; i++ {
		w.post(t, w.poster.AccessToken, wishBody(fmt.Sprintf("心愿%d", i)))
	}
	h.Do("POST", "/wishes", wishBody("第四个"), w.poster.AccessToken).Expect(t, 409, 20002)
	if n := h.Count(&model.Wish{}, "created_by = ?", w.poster.UserID); n != before+3 {
		t.Fatalf("wishes = %d, want %d", n, before+3)
	}

	// Bad input writes nothing.
	bad := []map[string]any{
		{"title": strings.Repeat("长", 31)},
		{"content": strings.Repeat("长", 501)},
		{"category": "娱乐"},
		{"budgetFen": 50001},
		{"budgetFen": -1},
		{"contactPhone": "abc"},
		{"address": ""},
		{"images": []int64{1, 2, 3, 4, 5, 6, 7}},
		{"images": []int64{1 << 40}},
		{"title": 12},
	}
	for _, b := range bad {
		body := wishBody("x")
		for k, v := range b {
			body[k] = v
		}
		h.Do("POST", "/wishes", body, w.stranger.AccessToken).Expect(t, 400, 10001)
	}
	if n := h.Count(&model.Wish{}, "created_by = ?", w.stranger.UserID); n != 0 {
		t.Fatalf("bad input stored %d wishes", n)
	}

	// At most three active claims per claimer.
	var ids []int64
	for i := 0; i < 4; i++ {
		poster := w.login("p", w.tree.CommunityA.ID)
		id := w.post(t, poster.AccessToken, wishBody(fmt.Sprintf("认领%d", i)))
		w.act(t, w.staff.AccessToken, id, "approve", nil, 200, 0)
		ids = append(ids, id)
	}
	for _, id := range ids[:3] {
		w.act(t, w.member2.AccessToken, id, "claim", nil, 200, 0)
	}
	w.act(t, w.member2.AccessToken, ids[3], "claim", nil, 409, 20003)
	w.act(t, w.member2.AccessToken, ids[0], "fulfil", map[string]any{"note": "好了"}, 200, 0)
	w.act(t, w.member2.AccessToken, ids[3], "claim", nil, 200, 0)

	// A claim past its deadline cannot be fulfilled.
	w.advance(8*24*time.Hour, &w.member2)
	w.act(t, w.member2.AccessToken, ids[1], "fulfil", map[string]any{"note": "晚了"}, 409, 20006)
}

func TestWishActiveClaimLimitUnderRace(t *testing.T) {
	w := newWishWorld(t, testutil.WithConfig(map[string]any{"wish.max_active_claims": 2,
		"wish.max_open_per_poster": 10, "ratelimit.wish_create_per_minute": 0}))
	var ids []int64
	for i := 0; i < 8; i++ {
		body := wishBody(fmt.Sprintf("并发%d", i))
		body["communityId"] = w.tree.CommunityA.ID
		id := w.post(t, w.staff.AccessToken, body)
		w.act(t, w.staff.AccessToken, id, "approve", nil, 200, 0)
		ids = append(ids, id)
	}
	_, second := w.h.NewInstance()
	routers := []http.Handler{w.h.Router, second}
	answers := testutil.RaceSend(t, len(ids), func(i int) (http.Handler, testutil.Request) {
		return routers[i%2], testutil.Request{Method: "POST", Path: fmt.Sprintf("/wishes/%d/claim", ids[i]), Token: w.member.AccessToken}
	})
	codes := map[int]int{}
	for _, r := range answers {
		codes[r.Code]++
	}
	if codes[0] != 2 || codes[20003] != 6 {
		t.Fatalf("codes = %v, want 2 × 0 and 6 × 20003", codes)
	}
	if n := w.h.Count(&model.Wish{}, "claimer_id = ? AND status = ?", w.member.UserID, model.WishClaimed); n != 2 {
		t.Fatalf("active claims = %d, want 2", n)
	}
}

func TestWishClaimRace(t *testing.T) {
	w := newWishWorld(t)
	h := w.h
	const n = 50
	members := make([]testutil.Login, n)
	for i := range members {
		members[i] = w.login("racer", w.tree.CommunityB.ID)
		h.MustPartyMember(members[i].UserID, w.tree.CommunityB.ID)
	}
	_, second := h.NewInstance()
	for round, routers := range [][]http.Handler{{h.Router}, {h.Router, second}} {
		id := w.published(t, fmt.Sprintf("抢单%d", round))
		answers := testutil.Race(t, len(members), func(i int) string {
			return testutil.Answer(testutil.TrySend(routers[i%len(routers)], testutil.Request{
				Method: "POST", Path: fmt.Sprintf("/wishes/%d/claim", id), Token: members[i].AccessToken}))
		})
		codes := testutil.Tally(answers)
		var winners []int64
		for i, a := range answers {
			if a == "200/0" {
				winners = append(winners, members[i].UserID)
			}
		}
		if codes["200/0"] != 1 || codes["409/20001"] != n-1 {
			t.Fatalf("round %d: answers %v, want one 200/0 and %d × 409/20001", round, codes, n-1)
		}
		var wsh model.Wish
		h.DB.First(&wsh, id)
		if wsh.Status != model.WishClaimed || wsh.ClaimerID == nil || *wsh.ClaimerID != winners[0] {
			t.Fatalf("round %d: wish %+v, winner %v", round, wsh, winners)
		}
		if c := h.Count(&model.WishClaim{}, "wish_id = ?", id); c != 1 {
			t.Fatalf("round %d: %d claim rows", round, c)
		}
		if c := h.Count(&model.WishEvent{}, "wish_id = ? AND action = ?", id, "claim"); c != 1 {
			t.Fatalf("round %d: %d claim events", round, c)
		}
	}
}

func TestWishSweepReleasesOverdueClaimOnce(t *testing.T) {
	w := newWishWorld(t)
	h := w.h
	id := w.published(t, "超时")
	w.act(t, w.member.AccessToken, id, "claim", nil, 200, 0)
	ctx := context.Background()
	// Sweeps see every wish of the database (shared by the package's tests
	// on MySQL), so the assertions look at this test's wish only.
	if _, err := h.Svc.Wishes.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if n := h.Count(&model.WishEvent{}, "wish_id = ? AND action = ?", id, "lapse"); n != 0 {
		t.Fatalf("a claim within its deadline lapsed")
	}
	w.advance(7*24*time.Hour+time.Minute, &w.poster, &w.member2, &w.staff)
	second, _ := h.NewInstance()
	errs := testutil.Race(t, 4, func(i int) error {
		svc := h.Svc
		if i%2 == 1 {
			svc = second
		}
		_, err := svc.Wishes.Sweep(ctx)
		return err
	})
	for _, err := range errs {
		if err != nil {
			t.Fatalf("sweep: %v", err)
		}
	}
	v := decodeWish(t, h.Do("GET", fmt.Sprintf("/wishes/%d", id), nil, w.poster.AccessToken).Expect(t, 200, 0))
	if v.Status != "published" || v.Claimer != nil {
		t.Fatalf("after lapse: %+v", v)
	}
	if n := h.Count(&model.WishClaim{}, "claimer_id = ? AND status = ?", w.member.UserID, model.ClaimLapsed); n != 1 {
		t.Fatalf("lapses = %d, want 1", n)
	}
	if n := h.Count(&model.WishEvent{}, "wish_id = ? AND action = ?", id, "lapse"); n != 1 {
		t.Fatalf("lapse events = %d, want 1", n)
	}
	// The released wish can be claimed again, and the old claimer's lapse
	// shows in the staff counts.
	w.act(t, w.member2.AccessToken, id, "claim", nil, 200, 0)
	var stats struct {
		Communities []struct{ Lapses int64 }
	}
	h.Do("GET", fmt.Sprintf("/admin/wish-stats?orgId=%d", w.tree.CommunityA.ID), nil, w.staff.AccessToken).Expect(t, 200, 0).Decode(t, &stats)
	if stats.Communities[0].Lapses != 1 {
		t.Fatalf("stats lapses = %+v", stats)
	}
}

func TestWishCompletionPaidOnceWhenConfirmRacesSweep(t *testing.T) {
	w := newWishWorld(t, testutil.WithConfig(map[string]any{"ratelimit.wish_create_per_minute": 0}))
	h := w.h
	second, _ := h.NewInstance()
	outcomes := map[bool]int{}
	for round := 0; round < 6; round++ {
		id := w.published(t, fmt.Sprintf("确认%d", round))
		w.act(t, w.member.AccessToken, id, "claim", nil, 200, 0)
		w.act(t, w.member.AccessToken, id, "fulfil", map[string]any{"note": "好了"}, 200, 0)
		w.advance(3*24*time.Hour+time.Minute, &w.poster, &w.member, &w.staff)
		before := w.points(t, w.member.UserID)

		// The poster confirms while two instances sweep.
		var confirm *testutil.Response
		errs := testutil.Race(t, 3, func(i int) (err error) {
			if i == 0 {
				confirm, err = testutil.TrySend(h.Router, testutil.Request{Method: "POST", Path: fmt.Sprintf("/wishes/%d/confirm", id),
					Body: map[string]any{"rating": 4}, Token: w.poster.AccessToken})
				return err
			}
			_, err = []*service.Service{h.Svc, second}[i-1].Wishes.Sweep(context.Background())
			return err
		})
		for _, err := range errs {
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if confirm.Code != 0 && !(confirm.Status == 409 && confirm.Code == 10006) {
			t.Fatalf("confirm: %d %d %s", confirm.Status, confirm.Code, confirm.Raw)
		}
		if got := w.points(t, w.member.UserID) - before; got != 10 {
			t.Fatalf("round %d: paid %d points, want 10", round, got)
		}
		src := fmt.Sprint(id)
		if n := h.Count(&model.LedgerTxn{}, "source_kind = ? AND source_id = ?", "wish", src); n != 1 {
			t.Fatalf("round %d: %d ledger transactions for the wish", round, n)
		}
		if n := h.Count(&model.ServiceRecord{}, "source_key = ?", "wish:"+src); n != 1 {
			t.Fatalf("round %d: %d service records for the wish", round, n)
		}
		// Exactly one of them completed it: the confirmation (rated) or the
		// sweep (automatic, no rating).
		var wsh model.Wish
		h.DB.First(&wsh, id)
		confirmed := confirm.Code == 0
		if wsh.Status != model.WishCompleted || wsh.AutoConfirmed == confirmed || (wsh.Rating != nil) != confirmed {
			t.Fatalf("round %d: wish %s auto=%v rating=%v, confirm answered %d", round, wsh.Status, wsh.AutoConfirmed, wsh.Rating, confirm.Code)
		}
		if n := h.Count(&model.WishEvent{}, "wish_id = ? AND action IN ?", id, []string{"confirm", "auto_confirm"}); n != 1 {
			t.Fatalf("round %d: %d completion events", round, n)
		}
		outcomes[confirmed]++
	}
	t.Logf("confirm won %d rounds, the sweep %d", outcomes[true], outcomes[false])
}

func TestWishContentCheck(t *testing.T) {
	w := newWishWorld(t)
	h := w.h
	before := h.Count(&model.Wish{}, "created_by = ?", w.stranger.UserID)
	body := wishBody("求助")
	body["content"] = "这里有 RISKY 内容"
	h.Do("POST", "/wishes", body, w.stranger.AccessToken).Expect(t, 422, 10008)
	body = wishBody("RISKY 标题")
	h.Do("POST", "/wishes", body, w.stranger.AccessToken).Expect(t, 422, 10008)
	if n := h.Count(&model.Wish{}, "created_by = ?", w.stranger.UserID); n != before {
		t.Fatalf("risky text stored: %d wishes", n)
	}

	body = wishBody("需复核")
	body["content"] = "请 REVIEW 一下"
	id := w.post(t, w.stranger.AccessToken, body)
	down := wishBody("微信不可用")
	down["content"] = "WXDOWN 时也能发布"
	downID := w.post(t, w.stranger.AccessToken, down)
	var queue struct{ List []wishView }
	h.Do("GET", fmt.Sprintf("/wishes?status=pending_review&communityId=%d", w.tree.CommunityA.ID), nil, w.staff.AccessToken).
		Expect(t, 200, 0).Decode(t, &queue)
	flags := map[int64]string{}
	var order []int64
	for _, v := range queue.List {
		flags[v.ID] = v.ReviewFlag
		order = append(order, v.ID)
	}
	if flags[id] != "content_review" || flags[downID] != "check_unavailable" {
		t.Fatalf("flags = %v", flags)
	}
	if len(order) != 2 || order[0] != id {
		t.Fatalf("queue is not oldest first: %v", order)
	}
	// The resident never sees the flag.
	v := decodeWish(t, h.Do("GET", fmt.Sprintf("/wishes/%d", id), nil, w.stranger.AccessToken).Expect(t, 200, 0))
	if v.ReviewFlag != "" {
		t.Fatalf("resident sees the flag: %+v", v)
	}
}

func TestWishWordListWithoutWeChat(t *testing.T) {
	words := filepath.Join(t.TempDir(), "words.txt")
	if err := os.WriteFile(words, []byte("# test list\n违禁词\n~待复核词\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := testutil.New(t, testutil.WithoutWeChat(), testutil.WithConfig(map[string]any{"content.words_file": words}))
	tree := h.MustTree()
	var login struct {
		AccessToken string
		User        struct{ ID int64 }
	}
	h.Do("POST", "/auth/dev-login", map[string]any{"openid": testutil.UniqueOpenID("words")}, "").Expect(t, 200, 0).Decode(t, &login)
	h.MustSetHome(login.User.ID, tree.CommunityA.ID)
	for content, want := range map[string]int{"含有违 禁-词的内容": 422, "有个待复核词": 201, "正常内容": 201, "RISKY 只对微信生效": 201} {
		body := wishBody("词表")
		body["content"] = content
		r := h.Do("POST", "/wishes", body, login.AccessToken)
		if r.Status != want {
			t.Fatalf("%q: HTTP %d, want %d: %s", content, r.Status, want, r.Raw)
		}
		if want == 422 && r.Code != 10008 {
			t.Fatalf("%q: code %d", content, r.Code)
		}
		if content == "有个待复核词" {
			var wsh model.Wish
			var v struct{ ID int64 }
			r.Decode(t, &v)
			h.DB.First(&wsh, v.ID)
			if wsh.ReviewFlag != model.WishFlagContentReview {
				t.Fatalf("review word: flag %q", wsh.ReviewFlag)
			}
		}
		// Free the open-wish slot for the next case.
		h.DB.Model(&model.Wish{}).Where("created_by = ?", login.User.ID).Update("status", model.WishCancelled)
	}
	if n := h.Count(&model.Wish{}, "created_by = ? AND content LIKE ?", login.User.ID, "%违%"); n != 0 {
		t.Fatalf("refused text stored")
	}
	// The built-in list refuses obvious words.
	got, err := service.BuiltinWordList().Check(context.Background(), "", "招聘", "网上赌 博稳赚")
	if err != nil || got != service.VerdictRisky {
		t.Fatalf("built-in list: %s %v", got, err)
	}
}

func TestWishPrivacy(t *testing.T) {
	w := newWishWorld(t)
	h := w.h
	id := w.published(t, "隐私")
	leaks := func(who string, raw []byte) {
		t.Helper()
		if strings.Contains(string(raw), wishPhone) || strings.Contains(string(raw), wishAddress) ||
			strings.Contains(string(raw), "张三丰") {
			t.Fatalf("%s sees contact details: %s", who, raw)
		}
	}
	for name, l := range map[string]testutil.Login{"stranger": w.stranger, "member": w.member, "poster": w.poster, "staff": w.staff} {
		for _, path := range []string{"/wishes", fmt.Sprintf("/wishes?communityId=%d", w.tree.CommunityA.ID), "/wishes?category=维修"} {
			r := h.Do("GET", path, nil, l.AccessToken).Expect(t, 200, 0)
			if !strings.Contains(string(r.Raw), "张**") {
				t.Fatalf("%s %s: masked poster missing: %s", name, path, r.Raw)
			}
			leaks(name+" "+path, r.Raw)
		}
	}
	for _, l := range []testutil.Login{w.stranger, w.member2} {
		r := h.Do("GET", fmt.Sprintf("/wishes/%d", id), nil, l.AccessToken).Expect(t, 200, 0)
		leaks("unrelated detail", r.Raw)
	}
	for name, l := range map[string]testutil.Login{"poster": w.poster, "staff": w.staff} {
		v := decodeWish(t, h.Do("GET", fmt.Sprintf("/wishes/%d", id), nil, l.AccessToken).Expect(t, 200, 0))
		if v.Contact == nil || v.Contact.Phone != wishPhone || v.Contact.Address != wishAddress {
			t.Fatalf("%s does not see the contact: %+v", name, v)
		}
	}
	// The claimer sees them after the claim, and an unrelated member still
	// does not.
	w.act(t, w.member.AccessToken, id, "claim", nil, 200, 0)
	v := decodeWish(t, h.Do("GET", fmt.Sprintf("/wishes/%d", id), nil, w.member.AccessToken).Expect(t, 200, 0))
	if v.Contact == nil || v.Contact.Phone != wishPhone {
		t.Fatalf("claimer does not see the contact: %+v", v)
	}
	r := h.Do("GET", fmt.Sprintf("/wishes/%d", id), nil, w.member2.AccessToken).Expect(t, 200, 0)
	leaks("other member after claim", r.Raw)
	var raw map[string]json.RawMessage
	_ = json.Unmarshal(r.Data, &raw)
	if _, ok := raw["contact"]; ok {
		t.Fatalf("contact key present for an unrelated user: %s", r.Raw)
	}
}

func TestWishProxyPosting(t *testing.T) {
	w := newWishWorld(t)
	h := w.h
	body := wishBody("代办")
	delete(body, "contactPhone")
	body["communityId"] = w.tree.CommunityA.ID
	body["onBehalfOf"] = map[string]any{"name": "李奶奶", "phone": "13500001111"}
	h.Do("POST", "/wishes", body, w.stranger.AccessToken).Expect(t, 403, 10004)
	h.Do("POST", "/wishes", body, w.otherStaff.AccessToken).Expect(t, 403, 10004)
	v := decodeWish(t, h.Do("POST", "/wishes", body, w.staff.AccessToken).Expect(t, 201, 0))
	if !v.ProxyPosted || v.Contact == nil || v.Contact.Phone != "13500001111" || v.PosterName != "李奶奶" {
		t.Fatalf("proxy wish: %+v", v)
	}
	w.act(t, w.staff.AccessToken, v.ID, "approve", nil, 200, 0)
	pub := decodeWish(t, h.Do("GET", fmt.Sprintf("/wishes/%d", v.ID), nil, w.member.AccessToken).Expect(t, 200, 0))
	if pub.PosterName != "李**" || pub.ProxyPosted {
		t.Fatalf("public view of a proxy wish: %+v", pub)
	}
	// Staff confirm for a resident without an account.
	w.act(t, w.member.AccessToken, v.ID, "claim", nil, 200, 0)
	w.act(t, w.member.AccessToken, v.ID, "fulfil", map[string]any{"note": "已办"}, 200, 0)
	w.act(t, w.staff.AccessToken, v.ID, "confirm", map[string]any{"rating": 5}, 200, 0)

	// A resident whose verified phone matches owns the wish.
	if err := h.DB.Model(&model.User{}).Where("id = ?", w.citizen.UserID).Update("phone", "13500002222").Error; err != nil {
		t.Fatal(err)
	}
	h.Changed(w.citizen.UserID)
	body["onBehalfOf"] = map[string]any{"name": "王大爷", "phone": "13500002222"}
	own := decodeWish(t, h.Do("POST", "/wishes", body, w.staff.AccessToken).Expect(t, 201, 0))
	var mine struct{ List []wishView }
	h.Do("GET", "/wishes/mine", nil, w.citizen.AccessToken).Expect(t, 200, 0).Decode(t, &mine)
	if len(mine.List) != 1 || mine.List[0].ID != own.ID || !mine.List[0].Mine || mine.List[0].ProxyPosted {
		t.Fatalf("resident's mine: %+v", mine)
	}
	w.act(t, w.citizen.AccessToken, own.ID, "cancel", nil, 200, 0)
}

func TestWishClaimForUnit(t *testing.T) {
	w := newWishWorld(t)
	h := w.h
	liaison := w.login("liaison", w.tree.CommunityB.ID)
	unit := h.MustUnitLiaison(liaison.UserID, w.tree.CommunityB.ID)
	id := w.published(t, "单位认领")
	w.act(t, liaison.AccessToken, id, "claim", map[string]any{"unitId": unit.ID + 1000}, 403, 20005)
	v := decodeWish(t, w.act(t, liaison.AccessToken, id, "claim", nil, 200, 0))
	if v.Claimer == nil || v.Claimer.UnitID == nil || *v.Claimer.UnitID != unit.ID {
		t.Fatalf("unit claim: %+v", v.Claimer)
	}
	if n := h.Count(&model.WishClaim{}, "wish_id = ? AND unit_id = ?", id, unit.ID); n != 1 {
		t.Fatalf("claim rows for the unit = %d", n)
	}
}

func TestWishCreateRateLimit(t *testing.T) {
	w := newWishWorld(t, testutil.WithConfig(map[string]any{"ratelimit.wish_create_per_minute": 2, "wish.max_open_per_poster": 10}))
	w.post(t, w.stranger.AccessToken, wishBody("一"))
	w.post(t, w.stranger.AccessToken, wishBody("二"))
	r := w.h.Do("POST", "/wishes", wishBody("三"), w.stranger.AccessToken).Expect(t, 429, 10007)
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	// Other users and other writes are not affected.
	w.post(t, w.poster.AccessToken, wishBody("四"))
}

func TestWishExpires(t *testing.T) {
	w := newWishWorld(t)
	id := w.published(t, "过期")
	w.advance(31*24*time.Hour, &w.poster)
	res, err := w.h.Svc.Wishes.Sweep(context.Background())
	if err != nil || res.Expired < 1 {
		t.Fatalf("sweep: %+v %v", res, err)
	}
	v := decodeWish(t, w.h.Do("GET", fmt.Sprintf("/wishes/%d", id), nil, w.poster.AccessToken).Expect(t, 200, 0))
	if v.Status != "expired" {
		t.Fatalf("status = %s", v.Status)
	}
}
