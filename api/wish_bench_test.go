package api_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"testing"
	"time"

	"linli/internal/testutil"
	"linli/model"
)

// benchTree creates a district with streets × perStreet communities and
// returns the community units.
func benchTree(tb testing.TB, h *testutil.Harness, streets, perStreet int) []model.OrgUnit {
	tb.Helper()
	mk := func(parent *model.OrgUnit, level model.OrgLevel, name string) model.OrgUnit {
		o := model.OrgUnit{Level: level, Name: name}
		path := "/"
		if parent != nil {
			o.ParentID, path = &parent.ID, parent.Path
		}
		if err := h.DB.Create(&o).Error; err != nil {
			tb.Fatal(err)
		}
		o.Path = fmt.Sprintf("%s%d/", path, o.ID)
		if err := h.DB.Model(&o).Update("path", o.Path).Error; err != nil {
			tb.Fatal(err)
		}
		return o
	}
	district := mk(nil, model.LevelDistrict, "基准区")
	var out []model.OrgUnit
	for s := 0; s < streets; s++ {
		street := mk(&district, model.LevelStreet, fmt.Sprintf("街道%d", s))
		for c := 0; c < perStreet; c++ {
			out = append(out, mk(&street, model.LevelCommunity, fmt.Sprintf("社区%d-%d", s, c)))
		}
	}
	return out
}

// seedWishes inserts n wishes spread over the communities: 70% published,
// the rest in other states, published over the last 90 days.
func seedWishes(tb testing.TB, h *testutil.Harness, communities []model.OrgUnit, n int) {
	tb.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	cats := model.WishCategories()
	now := time.Now()
	batch := make([]model.Wish, 0, 2000)
	flush := func() {
		if err := h.DB.CreateInBatches(batch, 500).Error; err != nil {
			tb.Fatal(err)
		}
		batch = batch[:0]
	}
	for i := 0; i < n; i++ {
		c := communities[rng.IntN(len(communities))]
		created := now.Add(-time.Duration(rng.IntN(90*24*3600)) * time.Second)
		published := created.Add(time.Hour)
		poster := int64(1_000_000 + rng.IntN(100_000))
		w := model.Wish{
			CommunityID: c.ID, StreetID: *c.ParentID, CommunityPath: c.Path,
			Title: fmt.Sprintf("心愿%d", i), Content: "需要帮忙修理家中的水管，谢谢", Category: cats[rng.IntN(len(cats))],
			BudgetFen: int64(rng.IntN(50000)), ContactPhone: "13800000000", Address: "某路某号",
			PosterID: &poster, PosterName: "张三", CreatedBy: poster, Status: model.WishPublished,
			PublishedAt: &published, CreatedAt: created, UpdatedAt: created,
		}
		switch r := rng.IntN(100); {
		case r < 5:
			w.Status, w.PublishedAt = model.WishPendingReview, nil
		case r < 10:
			w.Status = model.WishCancelled
		case r < 20:
			w.Status = model.WishClaimed
			claimer := poster + 1
			claimed := published.Add(2 * time.Hour)
			deadline := claimed.Add(7 * 24 * time.Hour)
			w.ClaimerID, w.ClaimedAt, w.FirstClaimedAt, w.ClaimDeadline = &claimer, &claimed, &claimed, &deadline
		case r < 30:
			w.Status = model.WishCompleted
			claimer := poster + 1
			claimed := published.Add(3 * time.Hour)
			done := claimed.Add(48 * time.Hour)
			w.ClaimerID, w.ClaimedAt, w.FirstClaimedAt, w.CompletedAt = &claimer, &claimed, &claimed, &done
		}
		batch = append(batch, w)
		if len(batch) == cap(batch) {
			flush()
		}
	}
	if len(batch) > 0 {
		flush()
	}
}

// explainList logs the plans of the list queries (MySQL: the index used;
// SQLite: the query plan).
func explainList(b *testing.B, h *testutil.Harness, streetID int64) {
	for _, q := range []string{
		"SELECT id FROM wishes WHERE status = 'published' AND street_id = ? ORDER BY published_at DESC, id DESC LIMIT 20 OFFSET 980",
		"SELECT COUNT(*) FROM wishes WHERE status = 'published' AND street_id = ? AND category = '维修'",
	} {
		var rows []map[string]any
		if h.RealMySQL {
			h.DB.Raw("EXPLAIN "+q, streetID).Scan(&rows)
			for _, r := range rows {
				b.Logf("EXPLAIN %s: key=%s rows=%v extra=%s", q[:40], r["key"], r["rows"], r["Extra"])
			}
			continue
		}
		h.DB.Raw("EXPLAIN QUERY PLAN "+q, streetID).Scan(&rows)
		for _, r := range rows {
			b.Logf("QUERY PLAN %s: %v", q[:40], r["detail"])
		}
	}
}

// BenchmarkWishList measures GET /wishes (a page of 20) over 200,000 wishes in
// 100 communities (10 streets): the default street list, a community, a
// street with a category, and a deep page.
func BenchmarkWishList(b *testing.B) {
	h := testutil.New(b, testutil.WithConfig(map[string]any{"ratelimit.login_per_minute": 0}))
	communities := benchTree(b, h, 10, 10)
	n := 200_000
	if testing.Short() {
		n = 20_000
	}
	start := time.Now()
	seedWishes(b, h, communities, n)
	b.Logf("seeded %d wishes in %d communities in %s (MySQL: %v)", n, len(communities), time.Since(start).Round(time.Millisecond), h.RealMySQL)
	if h.RealMySQL {
		h.DB.Exec("ANALYZE TABLE wishes") // as the server does by itself after a bulk load
	}
	explainList(b, h, *communities[0].ParentID)

	viewer := h.MustLogin(testutil.UniqueOpenID("viewer"))
	h.MustSetHome(viewer.UserID, communities[0].ID)
	for _, c := range []struct{ name, path string }{
		{"street", "/wishes"},
		{"community", fmt.Sprintf("/wishes?communityId=%d", communities[0].ID)},
		{"street+category", "/wishes?category=" + "维修"},
		{"street/page50", "/wishes?page=50"},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				r := testutil.Send(b, h.Router, testutil.Request{Method: "GET", Path: c.path, Token: viewer.AccessToken})
				if r.Status != http.StatusOK {
					b.Fatalf("%s: %d %s", c.path, r.Status, r.Raw)
				}
			}
		})
	}
}

// BenchmarkWishClaimContention measures claims of one wish by 20 Party
// members at once (half through a second instance): one op is one contested
// wish, all 20 requests answered. It reports the per-request latency.
func BenchmarkWishClaimContention(b *testing.B) {
	const contenders = 20
	h := testutil.New(b, testutil.WithConfig(map[string]any{"ratelimit.login_per_minute": 0, "ratelimit.write_per_minute": 0}))
	tree := h.MustTree()
	members := make([]testutil.Login, contenders)
	for i := range members {
		members[i] = h.MustLogin(testutil.UniqueOpenID("bench"))
		h.MustPartyMember(members[i].UserID, tree.CommunityA.ID)
	}
	_, second := h.NewInstance()
	routers := []http.Handler{h.Router, second}
	poster := int64(9_000_000)
	mkWish := func() int64 {
		now := time.Now()
		w := model.Wish{CommunityID: tree.CommunityA.ID, StreetID: tree.Street.ID, CommunityPath: tree.CommunityA.Path,
			Title: "抢", Content: "抢", Category: "其他", ContactPhone: "13800000000", Address: "某处",
			PosterID: &poster, CreatedBy: poster, Status: model.WishPublished, PublishedAt: &now}
		if err := h.DB.Create(&w).Error; err != nil {
			b.Fatal(err)
		}
		return w.ID
	}
	var lat []time.Duration
	wins := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		id := mkWish()
		// Each member holds at most one claim at a time: free them.
		h.DB.Model(&model.Wish{}).Where("claimer_id IS NOT NULL AND status = ?", model.WishClaimed).
			Update("status", model.WishCompleted)
		b.StartTimer()
		type claim struct {
			took time.Duration
			res  *testutil.Response
		}
		claims := testutil.Race(b, len(members), func(j int) claim {
			t0 := time.Now()
			r, _ := testutil.TrySend(routers[j%2], testutil.Request{Method: "POST", Path: fmt.Sprintf("/wishes/%d/claim", id), Token: members[j].AccessToken})
			return claim{time.Since(t0), r}
		})
		b.StopTimer()
		for _, c := range claims {
			lat = append(lat, c.took)
			switch {
			case c.res == nil:
				b.Fatal("a claim failed to send")
			case c.res.Code == 0:
				wins++
			case c.res.Code != 20001:
				b.Fatalf("claim: %d %s", c.res.Status, c.res.Raw)
			}
		}
	}
	b.StopTimer()
	if wins != b.N {
		b.Fatalf("%d winners for %d wishes", wins, b.N)
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.5), "p50-ms/claim")
	b.ReportMetric(pct(0.99), "p99-ms/claim")
	b.ReportMetric(float64(len(lat))/b.Elapsed().Seconds(), "claims/s")
}
