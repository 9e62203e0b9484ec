package api_test

import (
	"fmt"
	"net/url"
	"testing"
	"time"

	"linli/internal/testutil"
	"linli/model"
)

// feedPage is the data of a feed page read by cursor.
type feedPage struct {
	List []struct {
		ID int64 `json:"id"`
	} `json:"list"`
	Total      *int64 `json:"total"`
	PageSize   int    `json:"pageSize"`
	NextCursor string `json:"nextCursor"`
	HasMore    *bool  `json:"hasMore"`
}

// readFeed pages through path by cursor, calling between(page) after each
// page, and returns every id in the order served. It fails the test on a
// page that counts (total) or contradicts itself (hasMore without a
// cursor).
func readFeed(t *testing.T, h *testutil.Harness, path, token string, between func(page int)) []int64 {
	t.Helper()
	var ids []int64
	cursor := ""
	for page := 1; page < 50; page++ {
		p := path
		if cursor != "" {
			p += "&cursor=" + url.QueryEscape(cursor)
		}
		var f feedPage
		h.Do("GET", p, nil, token).Expect(t, 200, 0).Decode(t, &f)
		if f.Total != nil || f.HasMore == nil {
			t.Fatalf("%s: a feed page has hasMore and no total, got total %v hasMore %v", p, f.Total, f.HasMore)
		}
		for _, it := range f.List {
			ids = append(ids, it.ID)
		}
		if !*f.HasMore {
			if f.NextCursor != "" {
				t.Fatalf("%s: last page with a nextCursor", p)
			}
			return ids
		}
		if f.NextCursor == "" || len(f.List) != f.PageSize {
			t.Fatalf("%s: hasMore with %d of %d items and cursor %q", p, len(f.List), f.PageSize, f.NextCursor)
		}
		cursor = f.NextCursor
		between(page)
	}
	t.Fatal("feed did not end")
	return nil
}

// sameIDs fails the test unless got is want in the same order, with no
// duplicate and no gap.
func sameIDs(t *testing.T, what string, got, want []int64) {
	t.Helper()
	seen := map[int64]bool{}
	for _, id := range got {
		if seen[id] {
			t.Fatalf("%s: id %d served twice: %v", what, id, got)
		}
		seen[id] = true
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s:\n got %v\nwant %v", what, got, want)
	}
}

// TestWishFeedByCursorHasNoGapsOrDuplicates pages through the street's
// published wishes while newer ones are published between pages: every
// wish there at the start is served exactly once, newest first, ties on
// published_at broken by id, and no page counts the street.
func TestWishFeedByCursorHasNoGapsOrDuplicates(t *testing.T) {
	w := testutil.NewWorld(t)
	w.Router = testutil.NewDocChecker(t, w.Router, nil) // every answer must match docs/openapi.yaml
	h, tree := w.Harness, w.Tree
	reader := w.Login("reader", tree.CommunityB.ID)
	base := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	publish := func(community model.OrgUnit, at time.Time) int64 {
		wish := model.Wish{CommunityID: community.ID, StreetID: *community.ParentID, CommunityPath: community.Path,
			Title: "换灯泡", Content: "楼道灯坏了", Category: "维修", ContactPhone: "13800000000", Address: "1号楼",
			PosterName: "张三", CreatedBy: reader.UserID, Status: model.WishPublished, PublishedAt: &at}
		if err := h.DB.Create(&wish).Error; err != nil {
			t.Fatal(err)
		}
		return wish.ID
	}
	var want []int64 // newest first
	type row struct {
		id int64
		at time.Time
	}
	var rows []row
	for i := range 23 {
		at := base.Add(time.Duration(i/3) * time.Minute) // three wishes per instant
		c := tree.CommunityA
		if i%2 == 1 {
			c = tree.CommunityB
		}
		rows = append(rows, row{publish(c, at), at})
	}
	publish(tree.CommunityC, base.Add(time.Hour)) // another street: never listed
	for i := len(rows) - 1; i >= 0; i-- {
		want = append(want, rows[i].id)
	}
	// Sorted by (at desc, id desc): ids grow with at, so reversing is that order.
	got := readFeed(t, h, "/wishes?pageSize=5", reader.AccessToken, func(page int) {
		publish(tree.CommunityA, base.Add(24*time.Hour+time.Duration(page)*time.Second)) // newer: above the cursor
	})
	sameIDs(t, "street feed", got, want)

	// A cursor the server did not make is refused and changes nothing.
	for _, bad := range []string{"x", "bm90LWEtY3Vyc29y", url.QueryEscape("MjAyNi0xMS0wMVQwOTowMDowMFp8LTE")} {
		h.Do("GET", "/wishes?cursor="+bad, nil, reader.AccessToken).Expect(t, 400, 10001)
	}
	// page= asks for the counted list, as before.
	var counted struct {
		Total *int64 `json:"total"`
		Page  int    `json:"page"`
	}
	h.Do("GET", "/wishes?page=1&pageSize=5", nil, reader.AccessToken).Expect(t, 200, 0).Decode(t, &counted)
	if counted.Total == nil || *counted.Total != int64(len(rows)+len(got)/5) || counted.Page != 1 {
		t.Fatalf("counted page: total %v page %d", counted.Total, counted.Page)
	}
}

// TestActivityFeedByCursorCrossesFromUpcomingToEnded pages through a
// community's activities — not yet ended soonest first, then ended latest
// first — while new ones are added between pages.
func TestActivityFeedByCursorCrossesFromUpcomingToEnded(t *testing.T) {
	w := testutil.NewWorld(t)
	w.Router = testutil.NewDocChecker(t, w.Router, nil) // every answer must match docs/openapi.yaml
	h, tree := w.Harness, w.Tree
	reader := w.Login("reader", tree.CommunityA.ID)
	now := h.Clock.Now().UTC()
	add := func(start time.Time) int64 {
		a := model.Activity{CommunityID: tree.CommunityA.ID, Title: "清扫", Category: "环境", RadiusM: 500,
			StartAt: start, EndAt: start.Add(2 * time.Hour), SignupDeadline: start, Audience: "all",
			PointsPerHour: 10, Status: model.ActivityPublished, CreatedBy: reader.UserID}
		if err := h.DB.Create(&a).Error; err != nil {
			t.Fatal(err)
		}
		return a.ID
	}
	var upcoming, ended []int64
	for i := range 7 { // starts tomorrow onwards, two per instant
		upcoming = append(upcoming, add(now.Add(24*time.Hour+time.Duration(i/2)*time.Hour)))
	}
	for i := range 8 { // ended: last week onwards, two per instant
		ended = append(ended, add(now.Add(-7*24*time.Hour+time.Duration(i/2)*time.Hour)))
	}
	var want []int64
	want = append(want, upcoming...) // soonest first: ids grow with start
	for i := len(ended) - 1; i >= 0; i-- {
		want = append(want, ended[i]) // latest first
	}
	got := readFeed(t, h, "/activities?pageSize=4", reader.AccessToken, func(page int) {
		add(now.Add(-30 * 24 * time.Hour)) // an older ended one: below the cursor, served at the end
	})
	if len(got) < len(want) {
		t.Fatalf("served %d activities, want at least %d", len(got), len(want))
	}
	sameIDs(t, "activities feed", got[:len(want)], want)
	h.Do("GET", "/activities?cursor=zz", nil, reader.AccessToken).Expect(t, 400, 10001)
}

// TestGoodsFeedByCursor pages through a community's goods, newest first,
// while goods are added between pages.
func TestGoodsFeedByCursor(t *testing.T) {
	w := testutil.NewWorld(t)
	w.Router = testutil.NewDocChecker(t, w.Router, nil) // every answer must match docs/openapi.yaml
	h, tree := w.Harness, w.Tree
	reader := w.Login("reader", tree.CommunityA.ID)
	var want []int64
	add := func(name string) int64 {
		g := model.MallGoods{CommunityID: tree.CommunityA.ID, Name: name, PointsPrice: 10, Stock: 5, OnSale: true}
		if err := h.DB.Create(&g).Error; err != nil {
			t.Fatal(err)
		}
		return g.ID
	}
	for i := range 9 {
		want = append([]int64{add(fmt.Sprintf("商品%d", i))}, want...)
	}
	got := readFeed(t, h, "/mall/goods?pageSize=4", reader.AccessToken, func(int) { add("新商品") })
	sameIDs(t, "goods feed", got, want)
	h.Do("GET", "/mall/goods?cursor=-3", nil, reader.AccessToken).Expect(t, 400, 10001)
}
