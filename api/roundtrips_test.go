package api_test

import (
	"fmt"
	"strings"
	"testing"

	"linli/internal/store"
	"linli/internal/testutil"
)

// tripBudget fails the test, listing the statements, when a piece of work
// sent more SQL statements than budget.
func tripBudget(t *testing.T, name string, tr testutil.Trips, budget int) {
	t.Helper()
	t.Logf("%s: %d SQL statements, %d Redis round trips", name, tr.SQL, tr.Redis)
	if tr.SQL > budget {
		t.Errorf("%s sent %d SQL statements, budget %d:\n  %s", name, tr.SQL, budget, strings.Join(tr.Statements, "\n  "))
	}
}

// pipelined picks the budget of a store: the statements sent one by one
// (SQLite), or on MySQL/MariaDB, where a transaction's kept writes go in
// one round trip (service/pipeline.go).
func pipelined(h *testutil.Harness, oneByOne, together int) int {
	if store.Pipelines(h.DB) {
		return together
	}
	return oneByOne
}

// TestWriteRoundTrips holds the hot writes of issue 10 to a budget of SQL
// statements (the caller's context already cached, as on every request but
// the first), so a change that adds a round trip to them fails here:
//   - a claim: lock the claimer, the wish with every fact the claim decides
//     on (both in one round trip on MySQL), the UPDATE; then the rows it
//     only appends — the claim, the (first claim's) time-to-claim
//     histogram, the poster's notification, the event, the contact reveal
//     — one statement each on SQLite, one round trip for all on MySQL;
//   - an order: the goods with the buyer's home, stock, holding (2), order,
//     the debit (accounts read and locked, replay look-up, transaction,
//     entries, two balances), the order's debit id; then the day's running
//     figures (dashboard) and the buyer's notification (order ready), kept
//     for the end;
//   - a batch of n attendances: the activity, its org, the staff role, the
//     locked attendances, the accounts (read, created, re-read, locked),
//     the credits of the whole batch (ledger.CreditAll: their sources
//     looked up, transactions, entries, balances: 4 statements), then per
//     attendance the member report, the service record and the attendance;
//     kept for the end: the members' quarter counts (one each), the audit
//     entries, the notifications and the day's running figures; after
//     commit one read of the users' home communities and the answer's 3
//     reads.
func TestWriteRoundTrips(t *testing.T) {
	t.Run("claim", func(t *testing.T) {
		w := newWishWorld(t)
		id := w.published(t, "a")
		w.h.Do("GET", "/me", nil, w.member.AccessToken).Expect(t, 200, 0)
		tr := w.h.Trips(func() { w.act(t, w.member.AccessToken, id, "claim", nil, 200, 0) })
		tripBudget(t, "claim", tr, pipelined(w.h, 8, 3))
	})

	t.Run("order", func(t *testing.T) {
		e := newTBEnv(t)
		u := e.resident(t, e.tree.CommunityA.ID)
		e.credit(t, u.UserID, "points", 100)
		g := e.goods(t, map[string]any{"perUserLimit": 5})
		e.order(t, u, g.ID)
		tr := e.h.Trips(func() { e.order(t, u, g.ID) })
		tripBudget(t, "order", tr, pipelined(e.h, 15, 14))
	})

	t.Run("approve batch", func(t *testing.T) {
		e := newActEnv(t)
		const n = 5
		users := e.volunteers(1 + n)
		id := attended(t, e, 60, users...)
		tok := e.staff()
		e.h.Do("GET", "/me", nil, tok).Expect(t, 200, 0)
		batch := func(us []*user) testutil.Trips {
			items := make([]map[string]any, 0, len(us))
			for _, u := range us {
				items = append(items, map[string]any{"userId": u.id, "minutes": 60, "score": 5})
			}
			return e.h.Trips(func() {
				e.h.Do("POST", fmt.Sprintf("/activities/%d/attendances/approve", id), map[string]any{"items": items}, tok).Expect(t, 200, 0)
			})
		}
		fixed, perItem := pipelined(e.h, 19, 17), pipelined(e.h, 4, 3)
		tripBudget(t, "approve a batch of 1", batch(users[:1]), fixed+perItem)
		tripBudget(t, fmt.Sprintf("approve a batch of %d", n), batch(users[1:]), fixed+n*perItem)
	})
}
