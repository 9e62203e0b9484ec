package api_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"linli/internal/replica"
	"linli/internal/testutil"
	"linli/model"
)

// listedTitles returns the titles of a wish list answer.
func listedTitles(t *testing.T, r *testutil.Response) []string {
	t.Helper()
	var page struct{ List []struct{ Title string } }
	r.Decode(t, &page)
	var out []string
	for _, it := range page.List {
		out = append(out, it.Title)
	}
	return out
}

// TestReplicaServesOnlyLagTolerantReads runs an instance with a "replica"
// (a second database on the same server holding deliberately different
// rows): the public wish feed is read there, while the caller checks, a
// wish's own page, the poster's list and the read right after a write stay
// on the primary.
func TestReplicaServesOnlyLagTolerantReads(t *testing.T) {
	rep := testutil.NewReplica(t)
	w := newWishWorld(t, testutil.WithConfig(map[string]any{"database.replicas": rep.DSN}))
	h := w.h
	id := w.published(t, "主库上的心愿")
	rep.CopyToReplica(t, "wishes", id)
	if err := rep.DB.Model(&model.Wish{}).Where("id = ?", id).Update("title", "副本上的心愿").Error; err != nil {
		t.Fatal(err)
	}

	// Marked: the public feed, by page and by cursor, comes from the replica.
	for _, path := range []string{"/wishes", "/wishes?pageSize=5"} {
		got := listedTitles(t, h.Do("GET", path, nil, w.member.AccessToken).Expect(t, 200, 0))
		if len(got) != 1 || got[0] != "副本上的心愿" {
			t.Fatalf("GET %s listed %q, want the replica's row only", path, got)
		}
	}
	// Unmarked: the wish's own page and the poster's list read the primary
	// (the caller and session checks too: the replica has no users at all).
	var one struct{ Title string }
	h.Do("GET", fmt.Sprintf("/wishes/%d", id), nil, w.member.AccessToken).Expect(t, 200, 0).Decode(t, &one)
	if one.Title != "主库上的心愿" {
		t.Fatalf("GET /wishes/:id read %q, want the primary's row", one.Title)
	}
	if got := listedTitles(t, h.Do("GET", "/wishes/mine", nil, w.poster.AccessToken).Expect(t, 200, 0)); len(got) != 1 || got[0] != "主库上的心愿" {
		t.Fatalf("GET /wishes/mine listed %q, want the primary's row", got)
	}
	// The staff review queue is read from the primary.
	fresh := w.post(t, w.poster.AccessToken, wishBody("刚发布的心愿"))
	if got := listedTitles(t, h.Do("GET", "/wishes?status=pending_review", nil, w.staff.AccessToken).Expect(t, 200, 0)); !contains(got, "刚发布的心愿") {
		t.Fatalf("review queue %q misses the wish just posted", got)
	}
	// A read right after the caller's own write sees it: the approval, the
	// claim and the wish's page all read the primary.
	w.act(t, w.staff.AccessToken, fresh, "approve", nil, 200, 0)
	w.act(t, w.member.AccessToken, fresh, "claim", nil, 200, 0)
	var after struct{ Status string }
	h.Do("GET", fmt.Sprintf("/wishes/%d", fresh), nil, w.member.AccessToken).Expect(t, 200, 0).Decode(t, &after)
	if after.Status != "claimed" {
		t.Fatalf("the claimer's read after the claim saw status %q", after.Status)
	}
	// The feed still shows the replica's rows only: it tolerates lag.
	if got := listedTitles(t, h.Do("GET", "/wishes", nil, w.member.AccessToken).Expect(t, 200, 0)); len(got) != 1 || got[0] != "副本上的心愿" {
		t.Fatalf("feed %q, want the replica's row only", got)
	}
	if n := replica.Pools(h.DB)[0].Fallbacks.Load(); n != 0 {
		t.Fatalf("%d reads fell back to the primary with a live replica", n)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestDeadReplicaFallsBackToPrimary points database.replicas at a closed
// port: the feed is answered 200 from the primary, the replica is marked
// down, and the first read that met it cost at most the dial.
func TestDeadReplicaFallsBackToPrimary(t *testing.T) {
	dead := testutil.DeadReplicaDSN(t)
	w := newWishWorld(t, testutil.WithConfig(map[string]any{
		"database.replicas": dead, "database.replica_timeout": "500ms", "database.replica_retry": "1h",
	}))
	h := w.h
	w.published(t, "主库上的心愿")
	start := time.Now()
	got := listedTitles(t, h.Do("GET", "/wishes", nil, w.member.AccessToken).Expect(t, 200, 0))
	first := time.Since(start)
	if !contains(got, "主库上的心愿") {
		t.Fatalf("feed %q misses the primary's wish", got)
	}
	pool := replica.Pools(h.DB)[0]
	if !pool.Down() || pool.Fallbacks.Load() == 0 {
		t.Fatalf("replica down=%v fallbacks=%d, want it marked down after a fallback", pool.Down(), pool.Fallbacks.Load())
	}
	start = time.Now()
	for range 20 {
		h.Do("GET", "/wishes", nil, w.member.AccessToken).Expect(t, 200, 0)
	}
	next := time.Since(start) / 20
	t.Logf("first read with a dead replica %v, then %v per read (replica skipped)", first, next)
	if first > 500*time.Millisecond+2*time.Second {
		t.Fatalf("the first read took %v, over the replica_timeout bound", first)
	}
	if !strings.Contains(pool.Addr, "127.0.0.1") {
		t.Fatalf("pool address %q", pool.Addr)
	}
}
