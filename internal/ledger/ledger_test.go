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
