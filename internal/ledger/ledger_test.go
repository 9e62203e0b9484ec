package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"linli/internal/dbtx"
	"linli/internal/ledger"
	"linli/internal/testutil"
	"linli/model"
)

func TestMain(m *testing.M) { testutil.Main(m) }

func reconcileClean(t *testing.T, h *testutil.Harness) {
	t.Helper()
	rep, err := ledger.New().Reconcile(context.Background(), h.DB)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Mismatches != 0 {
		t.Fatalf("reconcile: %v", rep.Details)
	}
}

func balance(t *testing.T, h *testutil.Harness, owner model.OwnerKind, id int64, c model.Currency) model.Account {
	t.Helper()
	a, err := ledger.New().Account(context.Background(), h.DB, owner, id, c)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestConcurrentIdenticalCreditsPayOnce(t *testing.T) {
	h := testutil.New(t)
	tree := h.MustTree()
	user := h.MustLogin(testutil.UniqueOpenID("credit"))
	l := ledger.New()
	src := ledger.Source{Kind: "test", ID: fmt.Sprint("same-", user.UserID)}
	var wg sync.WaitGroup
	var fresh, replayed, failed atomic.Int64
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := dbtx.Run(context.Background(), h.DB, func(tx *gorm.DB) error {
				rec, err := l.Credit(context.Background(), tx, ledger.Credit{
					UserID: user.UserID, CommunityID: tree.CommunityA.ID, Currency: model.CurrencyMinutes,
					Amount: 60, Source: src, Memo: "test"})
				if err == nil {
					if rec.Replayed {
						replayed.Add(1)
					} else {
						fresh.Add(1)
					}
				}
				return err
			})
			if err != nil {
				failed.Add(1)
				t.Log(err)
			}
		}()
	}
	wg.Wait()
	if fresh.Load() != 1 || replayed.Load() != 199 || failed.Load() != 0 {
		t.Fatalf("fresh %d replayed %d failed %d", fresh.Load(), replayed.Load(), failed.Load())
	}
	if n := h.Count(&model.LedgerEntry{}, "source_kind = ? AND source_id = ?", src.Kind, src.ID); n != 2 {
		t.Fatalf("entries = %d, want 2", n)
	}
	a := balance(t, h, model.OwnerUser, user.UserID, model.CurrencyMinutes)
	if a.Balance != 60 || a.Earned != 60 {
		t.Fatalf("account %+v", a)
	}
	reconcileClean(t, h)
}

func TestConcurrentTransfersNeverOverdraw(t *testing.T) {
	h := testutil.New(t)
	tree := h.MustTree()
	from := h.MustLogin(testutil.UniqueOpenID("from"))
	to := h.MustLogin(testutil.UniqueOpenID("to"))
	l := ledger.New()
	err := dbtx.Run(context.Background(), h.DB, func(tx *gorm.DB) error {
		_, err := l.Credit(context.Background(), tx, ledger.Credit{UserID: from.UserID, CommunityID: tree.CommunityA.ID,
			Currency: model.CurrencyPoints, Amount: 50, Source: ledger.Source{Kind: "seed", ID: fmt.Sprint(from.UserID)}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var ok, short atomic.Int64
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := dbtx.Run(context.Background(), h.DB, func(tx *gorm.DB) error {
				_, err := l.Transfer(context.Background(), tx, ledger.Transfer{FromUserID: from.UserID, ToUserID: to.UserID,
					Currency: model.CurrencyPoints, Amount: 1, Source: ledger.Source{Kind: "gift", ID: fmt.Sprint(from.UserID, "-", i)}})
				return err
			})
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ledger.ErrInsufficientBalance):
				short.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 50 || short.Load() != 150 {
		t.Fatalf("ok %d short %d", ok.Load(), short.Load())
	}
	if a := balance(t, h, model.OwnerUser, from.UserID, model.CurrencyPoints); a.Balance != 0 {
		t.Fatalf("sender balance %d", a.Balance)
	}
	if a := balance(t, h, model.OwnerUser, to.UserID, model.CurrencyPoints); a.Balance != 50 || a.Earned != 0 {
		t.Fatalf("receiver %+v", a)
	}
	reconcileClean(t, h)
}

func TestReverseOnceAndEarnedFollows(t *testing.T) {
	h := testutil.New(t)
	tree := h.MustTree()
	u := h.MustLogin(testutil.UniqueOpenID("rev"))
	l := ledger.New()
	ctx := context.Background()
	var credit *ledger.Receipt
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(dbtx.Run(context.Background(), h.DB, func(tx *gorm.DB) (err error) {
		credit, err = l.Credit(ctx, tx, ledger.Credit{UserID: u.UserID, CommunityID: tree.CommunityA.ID,
			Currency: model.CurrencyMinutes, Amount: 90, Source: ledger.Source{Kind: "att", ID: fmt.Sprint(u.UserID)}})
		return err
	}))
	must(dbtx.Run(context.Background(), h.DB, func(tx *gorm.DB) error {
		_, err := l.Reverse(ctx, tx, credit.TxnID, ledger.Source{Kind: "att-fix", ID: fmt.Sprint(u.UserID)}, "correction")
		return err
	}))
	err := dbtx.Run(context.Background(), h.DB, func(tx *gorm.DB) error {
		_, err := l.Reverse(ctx, tx, credit.TxnID, ledger.Source{Kind: "att-fix2", ID: fmt.Sprint(u.UserID)}, "again")
		return err
	})
	if !errors.Is(err, ledger.ErrAlreadyReversed) {
		t.Fatalf("second reversal: %v", err)
	}
	a := balance(t, h, model.OwnerUser, u.UserID, model.CurrencyMinutes)
	if a.Balance != 0 || a.Earned != 0 {
		t.Fatalf("after reversal %+v", a)
	}
	reconcileClean(t, h)
}

func TestRefusedPostingLeavesNothingInTheTransaction(t *testing.T) {
	h := testutil.New(t)
	tree := h.MustTree()
	u := h.MustLogin(testutil.UniqueOpenID("refused"))
	l := ledger.New()
	ctx := context.Background()
	src := ledger.Source{Kind: "test-refused", ID: fmt.Sprint(u.UserID)}
	// The caller goes on after a refused debit and commits its transaction.
	err := dbtx.Run(ctx, h.DB, func(tx *gorm.DB) error {
		if _, err := l.Credit(ctx, tx, ledger.Credit{UserID: u.UserID, CommunityID: tree.CommunityA.ID,
			Currency: model.CurrencyPoints, Amount: 5, Source: ledger.Source{Kind: "seed", ID: src.ID}}); err != nil {
			return err
		}
		_, err := l.Debit(ctx, tx, ledger.Debit{UserID: u.UserID, CommunityID: tree.CommunityA.ID,
			Currency: model.CurrencyPoints, Amount: 6, Source: src})
		if !errors.Is(err, ledger.ErrInsufficientBalance) {
			t.Errorf("debit: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := h.Count(&model.LedgerTxn{}, "source_kind = ? AND source_id = ?", src.Kind, src.ID); n != 0 {
		t.Fatalf("refused debit left %d transactions", n)
	}
	if n := h.Count(&model.LedgerEntry{}, "source_kind = ? AND source_id = ?", src.Kind, src.ID); n != 0 {
		t.Fatalf("refused debit left %d entries", n)
	}
	if a := balance(t, h, model.OwnerUser, u.UserID, model.CurrencyPoints); a.Balance != 5 {
		t.Fatalf("balance %+v", a)
	}
	reconcileClean(t, h)
}

// TestPostingOfASourcePostedAfterTheLookup: the same source is posted by a
// rival after this posting looked it up and found nothing; the unique
// source key of the entries is all that keeps it from paying twice.
func TestPostingOfASourcePostedAfterTheLookup(t *testing.T) {
	h := testutil.New(t)
	tree, u := h.MustTree(), h.MustLogin(testutil.UniqueOpenID("rival-src"))
	ctx, l := context.Background(), ledger.New()
	// Both accounts exist before, so the rival needs no lock to use them.
	if err := dbtx.Run(ctx, h.DB, func(tx *gorm.DB) error {
		_, err := l.Credit(ctx, tx, ledger.Credit{UserID: u.UserID, CommunityID: tree.CommunityA.ID,
			Currency: model.CurrencyMinutes, Amount: 1, Source: ledger.Source{Kind: "seed", ID: fmt.Sprint(u.UserID)}})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	userAcc := balance(t, h, model.OwnerUser, u.UserID, model.CurrencyMinutes)
	commAcc := balance(t, h, model.OwnerCommunity, tree.CommunityA.ID, model.CurrencyMinutes)
	src := ledger.Source{Kind: "test-rival", ID: fmt.Sprint(u.UserID)}

	var rivalTxn int64
	var hookErr error
	ledger.SetBeforeInsert(l, func(ctx context.Context, tx *gorm.DB) {
		// The rival's rows only (no balance change): what matters is
		// whether this posting then writes its own.
		db := h.Rival(tx).WithContext(ctx)
		txn := model.LedgerTxn{Kind: ledger.KindCredit, SourceKind: src.Kind, SourceID: src.ID, CreatedAt: time.Now().UTC()}
		if hookErr = db.Create(&txn).Error; hookErr != nil {
			return
		}
		rivalTxn = txn.ID
		hookErr = db.Create([]model.LedgerEntry{
			{TxnID: txn.ID, AccountID: userAcc.ID, Currency: model.CurrencyMinutes, Amount: 60, SourceKind: src.Kind, SourceID: src.ID, CreatedAt: txn.CreatedAt},
			{TxnID: txn.ID, AccountID: commAcc.ID, Currency: model.CurrencyMinutes, Amount: -60, SourceKind: src.Kind, SourceID: src.ID, CreatedAt: txn.CreatedAt},
		}).Error
	})
	var rec *ledger.Receipt
	err := dbtx.Run(ctx, h.DB, func(tx *gorm.DB) (err error) {
		rec, err = l.Credit(ctx, tx, ledger.Credit{UserID: u.UserID, CommunityID: tree.CommunityA.ID,
			Currency: model.CurrencyMinutes, Amount: 60, Source: src})
		return err
	})
	if err != nil || hookErr != nil {
		t.Fatalf("credit: %v; rival: %v", err, hookErr)
	}
	if !rec.Replayed || rec.TxnID != rivalTxn {
		t.Fatalf("receipt %+v, want a replay of the rival's transaction %d", rec, rivalTxn)
	}
	if n := h.Count(&model.LedgerEntry{}, "source_kind = ? AND source_id = ?", src.Kind, src.ID); n != 2 {
		t.Fatalf("entries of the source = %d, want the rival's 2", n)
	}
	if a := balance(t, h, model.OwnerUser, u.UserID, model.CurrencyMinutes); a.Balance != userAcc.Balance {
		t.Fatalf("balance %d, want %d (the posting wrote nothing)", a.Balance, userAcc.Balance)
	}
}

// TestCreditAllPaysEachSourceOnce fires the same batch of credits (three
// users, minutes and points) from many transactions at once, each locking
// the accounts first as the batch approval does: one batch posts them all
// (by its four statements), every other finds them posted and gets each
// receipt replayed. A batch holding one source posted before posts the rest
// and replays that one.
func TestCreditAllPaysEachSourceOnce(t *testing.T) {
	h := testutil.New(t)
	tree := h.MustTree()
	ctx := context.Background()
	l := ledger.New()
	var users []int64
	for i := range 3 {
		users = append(users, h.MustLogin(testutil.UniqueOpenID(fmt.Sprint("all", i))).UserID)
	}
	community := tree.CommunityA.ID
	credits := func(prefix string, users []int64) []ledger.Credit {
		var cs []ledger.Credit
		for _, u := range users {
			src := ledger.Source{Kind: "test", ID: fmt.Sprint(prefix, u)}
			cs = append(cs,
				ledger.Credit{UserID: u, CommunityID: community, Currency: model.CurrencyMinutes, Amount: 60, Source: src, Memo: "批量"},
				ledger.Credit{UserID: u, CommunityID: community, Currency: model.CurrencyPoints, Amount: 10, Source: src, Memo: "批量"})
		}
		return cs
	}
	post := func(cs []ledger.Credit) ([]*ledger.Receipt, error) {
		var out []*ledger.Receipt
		err := dbtx.Run(ctx, h.DB, func(tx *gorm.DB) error {
			var keys []ledger.AccountKey
			for _, c := range cs {
				keys = append(keys, ledger.AccountKey{Owner: model.OwnerUser, OwnerID: c.UserID, Currency: c.Currency},
					ledger.AccountKey{Owner: model.OwnerCommunity, OwnerID: c.CommunityID, Currency: c.Currency})
			}
			locked, err := l.Lock(ctx, tx, keys...)
			if err != nil {
				return err
			}
			for i := range cs {
				cs[i].Locked = locked
			}
			out, err = l.CreditAll(ctx, tx, cs)
			return err
		})
		return out, err
	}
	before := balance(t, h, model.OwnerCommunity, community, model.CurrencyMinutes).Balance

	var wg sync.WaitGroup
	var fresh, replayed, failed atomic.Int64
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			recs, err := post(credits("all-", users))
			if err != nil {
				failed.Add(1)
				t.Log(err)
				return
			}
			for _, r := range recs {
				if r.Replayed {
					replayed.Add(1)
				} else {
					fresh.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if fresh.Load() != 6 || replayed.Load() != 19*6 || failed.Load() != 0 {
		t.Fatalf("fresh %d replayed %d failed %d", fresh.Load(), replayed.Load(), failed.Load())
	}
	for _, u := range users {
		m, p := balance(t, h, model.OwnerUser, u, model.CurrencyMinutes), balance(t, h, model.OwnerUser, u, model.CurrencyPoints)
		if m.Balance != 60 || m.Earned != 60 || p.Balance != 10 {
			t.Fatalf("user %d: minutes %+v points %+v", u, m, p)
		}
	}
	if got := balance(t, h, model.OwnerCommunity, community, model.CurrencyMinutes).Balance; got != before-180 {
		t.Fatalf("community minutes %d, want %d", got, before-180)
	}

	// One source of the next batch was posted alone before.
	next := credits("next-", users)
	if _, err := post(next[:1]); err != nil {
		t.Fatal(err)
	}
	recs, err := post(next)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		if r.Replayed != (i == 0) || r.TxnID == 0 || len(r.Entries) != 2 {
			t.Fatalf("receipt %d: %+v", i, r)
		}
	}
	if n := h.Count(&model.LedgerEntry{}, "source_kind = ? AND source_id LIKE ?", "test", "next-%"); n != 12 {
		t.Fatalf("entries of the next batch = %d, want 12", n)
	}

	// A fresh batch over existing accounts: the lock's two statements and
	// the batch's four, for six credits.
	tr := h.Trips(func() { recs, err = post(credits("third-", users)) })
	if err != nil || len(recs) != 6 || tr.SQL != 6 {
		t.Fatalf("fresh batch: %d receipts, %d statements (%v):\n%v", len(recs), tr.SQL, err, tr.Statements)
	}
	// Every account of the test holds the sum of its entries (the whole
	// database's reconcile would see other tests' deliberate damage on a
	// shared server).
	var off int64
	if err := h.DB.Raw(`SELECT COUNT(*) FROM accounts a WHERE (a.owner_kind = 'user' AND a.owner_id IN ?
		OR a.owner_kind = 'community' AND a.owner_id = ?)
		AND a.balance <> (SELECT COALESCE(SUM(e.amount), 0) FROM ledger_entries e WHERE e.account_id = a.id)`,
		users, community).Scan(&off).Error; err != nil || off != 0 {
		t.Fatalf("%d accounts differ from their entries (%v)", off, err)
	}
}
