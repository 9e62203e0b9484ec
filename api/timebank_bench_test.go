package api_test

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"linli/internal/ledger"
	"linli/internal/testutil"
	"linli/model"
	"linli/service"
)

// Run on MySQL and Redis:
//
//	LINLI_TEST_MYSQL_DSN='linli:linli@tcp(127.0.0.1:3306)/' LINLI_TEST_REDIS_ADDR=127.0.0.1:6379 \
//	  go test -run '^$' -bench 'Credit|Leaderboard' -benchtime 2000x ./api/

// benchCommunities creates n communities under the tree's street.
func benchCommunities(b *testing.B, e *tbEnv, n int) []int64 {
	b.Helper()
	ids := make([]int64, 0, n)
	for i := range n {
		o := model.OrgUnit{ParentID: &e.tree.Street.ID, Level: model.LevelCommunity, Name: fmt.Sprintf("压测社区%d", i)}
		if err := e.h.DB.Create(&o).Error; err != nil {
			b.Fatal(err)
		}
		o.Path = fmt.Sprintf("%s%d/", e.tree.Street.Path, o.ID)
		if err := e.h.DB.Model(&o).Update("path", o.Path).Error; err != nil {
			b.Fatal(err)
		}
		ids = append(ids, o.ID)
	}
	return ids
}

// benchUsers bulk-inserts n users living in the communities (round robin)
// and returns their ids and openids.
func benchUsers(b *testing.B, e *tbEnv, n int, communities []int64) ([]int64, []string) {
	b.Helper()
	tag := testutil.UniqueOpenID("bench")
	users := make([]model.User, n)
	for i := range users {
		c := communities[i%len(communities)]
		users[i] = model.User{OpenID: fmt.Sprintf("%s-%d", tag, i), Nickname: fmt.Sprintf("志愿者%d", i), HomeCommunityID: &c}
	}
	if err := e.h.DB.CreateInBatches(users, 2000).Error; err != nil {
		b.Fatal(err)
	}
	ids := make([]int64, n)
	openids := make([]string, n)
	for i, u := range users {
		ids[i], openids[i] = u.ID, u.OpenID
	}
	return ids, openids
}

func benchCredits(b *testing.B, e *tbEnv, pick func(i int64) (user, community int64)) {
	ctx := context.Background()
	var seq atomic.Int64
	tag := testutil.UniqueOpenID("bc")
	var failed atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := seq.Add(1)
			user, community := pick(i)
			_, err := e.h.Svc.TimeBank.ManualCredit(ctx, e.admin.UserID, service.ManualCreditInput{UserID: user,
				CommunityID: community, Currency: string(model.CurrencyMinutes), Amount: 30, Reason: "bench",
				RequestID: tag + strconv.FormatInt(i, 10)})
			if err != nil && failed.Add(1) <= 3 {
				b.Log(err)
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "credits/s")
	if failed.Load() > 0 {
		b.Fatalf("%d credits failed", failed.Load())
	}
	e.reconcileClean(b)
}

// BenchmarkCreditHotAccount credits one user from one community: every
// credit locks the same two account rows.
func BenchmarkCreditHotAccount(b *testing.B) {
	e := newTBEnv(b)
	u := e.resident(b, e.tree.CommunityA.ID)
	benchCredits(b, e, func(int64) (int64, int64) { return u.UserID, e.tree.CommunityA.ID })
}

// BenchmarkCreditSpread credits 10,000 users, issued by their own home
// communities (100) or all by one community. The users are seeded once.
func BenchmarkCreditSpread(b *testing.B) {
	e := newTBEnv(b)
	communities := benchCommunities(b, e, 100)
	users, _ := benchUsers(b, e, 10_000, communities)
	for _, issuers := range []int{100, 1} {
		b.Run(fmt.Sprintf("10k-users-%d-issuers", issuers), func(b *testing.B) {
			benchCredits(b, e, func(i int64) (int64, int64) {
				k := (i * 7919) % int64(len(users)) // spread, not sequential
				return users[k], communities[k%int64(issuers)]
			})
		})
	}
}

// BenchmarkLeaderboard100kUsers serves GET /leaderboards for a street of
// 100 communities and 100,000 ranked users (seeded once, straight into the
// ledger), after one cold rebuild from the ledger, which it logs.
func BenchmarkLeaderboard100kUsers(b *testing.B) {
	const n = 100_000
	e := newTBEnv(b)
	communities := benchCommunities(b, e, 100)
	seedStart := time.Now()
	users, openids := benchUsers(b, e, n, communities)
	seedLedger(b, e, users, communities)
	b.Logf("seeded %d users with credits in %s", n, time.Since(seedStart).Round(time.Millisecond))

	caller := e.h.MustLogin(openids[n/2])
	path := fmt.Sprintf("/leaderboards?orgId=%d&period=all&by=minutes", e.tree.Street.ID)
	start := time.Now()
	res := e.h.Do("GET", path, nil, caller.AccessToken).Expect(b, 200, 0)
	b.Logf("cold GET (rebuild of %d users from the ledger): %s", n, time.Since(start).Round(time.Millisecond))
	var v board
	res.Decode(b, &v)
	if len(v.List) != 50 || v.Me.Rank == nil {
		b.Fatalf("board %d leaders, me %+v", len(v.List), v.Me)
	}
	b.Run("GET", func(b *testing.B) {
		b.SetParallelism(4)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				r := testutil.Send(b, e.h.Router, testutil.Request{Method: "GET", Path: path, Token: caller.AccessToken})
				if r.Status != 200 {
					b.Errorf("status %d", r.Status)
				}
			}
		})
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	})
}

// seedLedger writes one credit per user (minutes) straight into the
// ledger tables, with balanced community accounts, in bulk.
func seedLedger(b *testing.B, e *tbEnv, users, communities []int64) {
	b.Helper()
	db := e.h.DB
	var maxTxn int64
	if err := db.Model(&model.LedgerTxn{}).Select("COALESCE(MAX(id), 0)").Scan(&maxTxn).Error; err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC()
	tag := testutil.UniqueOpenID("seed")
	accounts := make([]model.Account, 0, len(users)+len(communities))
	txns := make([]model.LedgerTxn, 0, len(users))
	amounts := make([]int64, len(users))
	issued := map[int64]int64{}
	for i, u := range users {
		amounts[i] = int64(i*7919%6000 + 1)
		c := communities[i%len(communities)]
		issued[c] += amounts[i]
		accounts = append(accounts, model.Account{OwnerKind: model.OwnerUser, OwnerID: u, Currency: model.CurrencyMinutes,
			Balance: amounts[i], Earned: amounts[i]})
		txns = append(txns, model.LedgerTxn{ID: maxTxn + int64(i) + 1, Kind: ledger.KindCredit, SourceKind: "seed",
			SourceID: fmt.Sprintf("%s-%d", tag, i), CreatedAt: now})
	}
	for _, c := range communities {
		accounts = append(accounts, model.Account{OwnerKind: model.OwnerCommunity, OwnerID: c, Currency: model.CurrencyMinutes,
			Balance: -issued[c]})
	}
	if err := db.CreateInBatches(accounts, 2000).Error; err != nil {
		b.Fatal(err)
	}
	if err := db.CreateInBatches(txns, 2000).Error; err != nil {
		b.Fatal(err)
	}
	communityAccount := map[int64]int64{}
	for _, a := range accounts[len(users):] {
		communityAccount[a.OwnerID] = a.ID
	}
	entries := make([]model.LedgerEntry, 0, 2*len(users))
	for i := range users {
		c := communities[i%len(communities)]
		t := txns[i]
		entries = append(entries,
			model.LedgerEntry{TxnID: t.ID, AccountID: accounts[i].ID, Currency: model.CurrencyMinutes, Amount: amounts[i],
				SourceKind: t.SourceKind, SourceID: t.SourceID, CreatedAt: now},
			model.LedgerEntry{TxnID: t.ID, AccountID: communityAccount[c], Currency: model.CurrencyMinutes, Amount: -amounts[i],
				SourceKind: t.SourceKind, SourceID: t.SourceID, CreatedAt: now})
	}
	if err := db.CreateInBatches(entries, 2000).Error; err != nil {
		b.Fatal(err)
	}
}
