// Package ledger is linli's append-only, double-entry ledger of minutes and
// points. Every posting is a transaction of two or more entries summing to
// zero per currency; cached account balances change in the same database
// transaction as the entries; a posting is keyed by its source (kind, id), so
// a replayed, retried or raced posting is applied once and the later calls get
// the first result back.
//
// Callers pass their own *gorm.DB transaction: a wish completion, an
// attendance approval or a mall order posts inside the transaction that
// changes its own state, so both commit or neither does.
package ledger

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"linli/model"
)

// Errors returned by postings; the service layer maps them to client errors.
var (
	ErrInsufficientBalance = errors.New("ledger: insufficient balance")
	ErrInvalidAmount       = errors.New("ledger: amount must be positive")
	ErrSameAccount         = errors.New("ledger: from and to are the same account")
	ErrTxnNotFound         = errors.New("ledger: transaction not found")
	ErrAlreadyReversed     = errors.New("ledger: transaction already reversed")
)

// Transaction kinds.
const (
	KindCredit   = "credit"   // a community issues to a user
	KindDebit    = "debit"    // a user pays a community
	KindTransfer = "transfer" // a user gives to another user
	KindReversal = "reversal" // undoes an earlier transaction
)

// Source identifies what a posting is for; (Kind, ID) is its idempotency key.
type Source struct {
	Kind string
	ID   string
}

// Valid reports whether both parts are set and fit their columns.
func (s Source) Valid() bool {
	return s.Kind != "" && s.ID != "" && len(s.Kind) <= 32 && len(s.ID) <= 64
}

// Credit issues Amount from a community's account to a user's.
type Credit struct {
	UserID      int64
	CommunityID int64
	Currency    model.Currency
	Amount      int64
	Source      Source
	Memo        string
}

// Debit moves Amount from a user's account to a community's; it never
// overdraws the user.
type Debit struct {
	UserID      int64
	CommunityID int64
	Currency    model.Currency
	Amount      int64
	Source      Source
	Memo        string
}

// Transfer moves Amount between two users; it never overdraws the sender.
type Transfer struct {
	FromUserID int64
	ToUserID   int64
	Currency   model.Currency
	Amount     int64
	Source     Source
	Memo       string
}

// Receipt is the result of a posting. Replayed is true when the source had
// been posted before and nothing new was written.
type Receipt struct {
	TxnID    int64
	Replayed bool
	Entries  []model.LedgerEntry
}

// Ledger posts transactions. Its only state is the clock that stamps them
// (and a hook that only tests set).
type Ledger struct {
	now func() time.Time
	// beforeInsert, when set (by tests only), runs in a posting between the
	// look-up of its source and the insert of its rows.
	beforeInsert func(ctx context.Context, tx *gorm.DB)
}

// New returns a ledger stamping postings with the wall clock.
func New() *Ledger { return &Ledger{now: time.Now} }

// NewWithClock returns a ledger stamping postings with now (the services
// pass their clock, so tests that move time move the ledger too).
func NewWithClock(now func() time.Time) *Ledger { return &Ledger{now: now} }

// leg is one entry of a posting before it is written.
type leg struct {
	owner    model.OwnerKind
	ownerID  int64
	amount   int64
	earned   int64 // change of Account.Earned
	noDebt   bool  // the balance may not go below zero
	primary  bool  // the leg whose (source, account, currency) is checked for replays
	account  int64 // filled by post
	currency model.Currency
}

// Credit issues c.Amount from the community to the user. Minutes credited
// count toward the user's Earned total. It returns ErrInvalidAmount for a
// non-positive amount; a replay returns the first receipt.
func (l *Ledger) Credit(ctx context.Context, tx *gorm.DB, c Credit) (*Receipt, error) {
	if c.Amount <= 0 {
		return nil, ErrInvalidAmount
	}
	return l.post(ctx, tx, KindCredit, c.Source, c.Memo, nil, c.Currency, []leg{
		{owner: model.OwnerUser, ownerID: c.UserID, amount: c.Amount, earned: c.Amount, primary: true},
		{owner: model.OwnerCommunity, ownerID: c.CommunityID, amount: -c.Amount},
	})
}

// Debit moves d.Amount from the user to the community. It returns
// ErrInsufficientBalance when the user's balance is short (nothing written)
// and ErrInvalidAmount for a non-positive amount.
func (l *Ledger) Debit(ctx context.Context, tx *gorm.DB, d Debit) (*Receipt, error) {
	if d.Amount <= 0 {
		return nil, ErrInvalidAmount
	}
	return l.post(ctx, tx, KindDebit, d.Source, d.Memo, nil, d.Currency, []leg{
		{owner: model.OwnerUser, ownerID: d.UserID, amount: -d.Amount, noDebt: true, primary: true},
		{owner: model.OwnerCommunity, ownerID: d.CommunityID, amount: d.Amount},
	})
}

// Transfer moves t.Amount between users. It returns ErrInsufficientBalance
// when the sender is short, ErrSameAccount for a transfer to oneself and
// ErrInvalidAmount for a non-positive amount.
func (l *Ledger) Transfer(ctx context.Context, tx *gorm.DB, t Transfer) (*Receipt, error) {
	if t.Amount <= 0 {
		return nil, ErrInvalidAmount
	}
	if t.FromUserID == t.ToUserID {
		return nil, ErrSameAccount
	}
	return l.post(ctx, tx, KindTransfer, t.Source, t.Memo, nil, t.Currency, []leg{
		{owner: model.OwnerUser, ownerID: t.FromUserID, amount: -t.Amount, noDebt: true, primary: true},
		{owner: model.OwnerUser, ownerID: t.ToUserID, amount: t.Amount},
	})
}

// Reverse posts the negation of transaction txnID under source src. A user
// account may not go below zero by it (ErrInsufficientBalance: e.g. points
// already spent). It returns ErrTxnNotFound, ErrAlreadyReversed when another
// source reversed it before, and replays like every posting.
func (l *Ledger) Reverse(ctx context.Context, tx *gorm.DB, txnID int64, src Source, memo string) (*Receipt, error) {
	var orig model.LedgerTxn
	if err := tx.First(&orig, txnID).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, ErrTxnNotFound
		}
		return nil, err
	}
	var entries []model.LedgerEntry
	if err := tx.Where("txn_id = ?", txnID).Order("id").Find(&entries).Error; err != nil {
		return nil, err
	}
	if len(entries) == 0 {
		return nil, ErrTxnNotFound
	}
	accounts := make(map[int64]model.Account)
	var ids []int64
	for _, e := range entries {
		ids = append(ids, e.AccountID)
	}
	var rows []model.Account
	if err := tx.Where("id IN ?", ids).Find(&rows).Error; err != nil {
		return nil, err
	}
	for _, a := range rows {
		accounts[a.ID] = a
	}
	var legs []leg
	currency := entries[0].Currency
	for i, e := range entries {
		a := accounts[e.AccountID]
		lg := leg{owner: a.OwnerKind, ownerID: a.OwnerID, amount: -e.Amount, primary: i == 0,
			noDebt: a.OwnerKind == model.OwnerUser && e.Amount > 0}
		if orig.Kind == KindCredit && a.OwnerKind == model.OwnerUser {
			lg.earned = -e.Amount
		}
		legs = append(legs, lg)
	}
	return l.post(ctx, tx, KindReversal, src, memo, &orig.ID, currency, legs)
}

// post writes one transaction. Accounts are created on first use and locked
// in id order, then the primary leg's (source, account, currency) is looked
// up: found means a replay and the first receipt is returned without
// writing. Otherwise the transaction and its entries are inserted (the
// unique source key turns a concurrent replay into the first receipt) and
// each leg changes its account by one conditional UPDATE. Two transactions
// creating the same account at once can deadlock on MySQL: run postings in
// dbtx.Run, which retries the loser.
func (l *Ledger) post(ctx context.Context, tx *gorm.DB, kind string, src Source, memo string, reverses *int64, currency model.Currency, legs []leg) (*Receipt, error) {
	if !src.Valid() {
		return nil, fmt.Errorf("ledger: invalid source %+v", src)
	}
	if !currency.Valid() {
		return nil, fmt.Errorf("ledger: invalid currency %q", currency)
	}
	if len([]rune(memo)) > 255 {
		memo = string([]rune(memo)[:255])
	}
	var sum int64
	for i := range legs {
		legs[i].currency = currency
		id, err := ensureAccount(tx, legs[i].owner, legs[i].ownerID, currency)
		if err != nil {
			return nil, err
		}
		legs[i].account = id
		sum += legs[i].amount
	}
	if sum != 0 {
		return nil, fmt.Errorf("ledger: legs of %s %s/%s sum to %d", kind, src.Kind, src.ID, sum)
	}
	lockIDs := make([]int64, 0, len(legs))
	for _, lg := range legs {
		lockIDs = append(lockIDs, lg.account)
	}
	slices.Sort(lockIDs)
	var locked []model.Account
	if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("id IN ?", slices.Compact(lockIDs)).
		Order("id").Find(&locked).Error; err != nil {
		return nil, err
	}

	var primary leg
	for _, lg := range legs {
		if lg.primary {
			primary = lg
		}
	}
	// A plain read finds a posting committed before this transaction's
	// snapshot: the common replay. One committed later (or still running)
	// is caught by the unique source key of the entries below. No locking
	// read here: on a missing row MySQL would take a gap lock, and two
	// postings holding the same gap then deadlock on their inserts.
	lookup := func(q *gorm.DB) (model.LedgerEntry, error) {
		var prior model.LedgerEntry
		err := q.Where("source_kind = ? AND source_id = ? AND account_id = ? AND currency = ?", src.Kind, src.ID, primary.account, currency).
			Limit(1).Find(&prior).Error
		return prior, err
	}
	prior, err := lookup(tx)
	if err != nil {
		return nil, err
	}
	if prior.ID != 0 {
		return receipt(tx, prior.TxnID, true)
	}
	if reverses != nil {
		var n int64
		if err := tx.Model(&model.LedgerTxn{}).Where("reverses_id = ?", *reverses).Count(&n).Error; err != nil {
			return nil, err
		}
		if n > 0 {
			return nil, ErrAlreadyReversed
		}
	}

	if l.beforeInsert != nil {
		l.beforeInsert(ctx, tx)
	}

	// Entries first, under a savepoint: a duplicate source (a concurrent
	// replay that committed) or a refused debit rolls back to it, so a
	// failed posting leaves nothing behind in the caller's transaction.
	const savepoint = "ledger_post"
	if err := tx.SavePoint(savepoint).Error; err != nil {
		return nil, err
	}
	undo := func(cause error) error {
		if err := tx.RollbackTo(savepoint).Error; err != nil {
			return errors.Join(cause, err)
		}
		return cause
	}
	// Stamped in UTC so that SQLite, which compares times as text, orders
	// every entry alike.
	txn := model.LedgerTxn{Kind: kind, SourceKind: src.Kind, SourceID: src.ID, Memo: memo, ReversesID: reverses,
		CreatedAt: l.now().UTC()}
	err = tx.Create(&txn).Error
	var entries []model.LedgerEntry
	if err == nil {
		entries = make([]model.LedgerEntry, 0, len(legs))
		for _, lg := range legs {
			entries = append(entries, model.LedgerEntry{
				TxnID: txn.ID, AccountID: lg.account, Currency: currency, Amount: lg.amount,
				SourceKind: src.Kind, SourceID: src.ID, Memo: memo, CreatedAt: txn.CreatedAt,
			})
		}
		err = tx.Create(&entries).Error
	}
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		if err := undo(nil); err != nil {
			return nil, err
		}
		// The other posting has committed (the insert waited for it); a
		// locking read on its existing row sees it without a gap lock.
		prior, err := lookup(tx.Clauses(clause.Locking{Strength: "UPDATE"}))
		if err != nil {
			return nil, err
		}
		if prior.ID != 0 {
			return receipt(tx, prior.TxnID, true)
		}
		if reverses != nil {
			return nil, ErrAlreadyReversed
		}
		return nil, fmt.Errorf("ledger: duplicate posting %s/%s not found", src.Kind, src.ID)
	}
	if err != nil {
		return nil, undo(err)
	}

	for _, lg := range legs {
		q := tx.Model(&model.Account{}).Where("id = ?", lg.account)
		if lg.noDebt && lg.amount < 0 {
			q = q.Where("balance >= ?", -lg.amount)
		}
		updates := map[string]any{"balance": gorm.Expr("balance + ?", lg.amount)}
		if lg.earned != 0 {
			updates["earned"] = gorm.Expr("earned + ?", lg.earned)
		}
		res := q.Updates(updates)
		if res.Error != nil {
			return nil, undo(res.Error)
		}
		if res.RowsAffected != 1 {
			return nil, undo(ErrInsufficientBalance)
		}
	}
	return &Receipt{TxnID: txn.ID, Entries: entries}, nil
}

func receipt(db *gorm.DB, txnID int64, replayed bool) (*Receipt, error) {
	var entries []model.LedgerEntry
	if err := db.Where("txn_id = ?", txnID).Order("id").Find(&entries).Error; err != nil {
		return nil, err
	}
	return &Receipt{TxnID: txnID, Replayed: replayed, Entries: entries}, nil
}

// ensureAccount returns the id of the owner's account in currency, creating
// it once however many callers race.
func ensureAccount(db *gorm.DB, owner model.OwnerKind, ownerID int64, currency model.Currency) (int64, error) {
	if ownerID <= 0 {
		return 0, fmt.Errorf("ledger: invalid %s id %d", owner, ownerID)
	}
	var a model.Account
	err := db.Where("owner_kind = ? AND owner_id = ? AND currency = ?", owner, ownerID, currency).Limit(1).Find(&a).Error
	if err != nil || a.ID != 0 {
		return a.ID, err
	}
	a = model.Account{OwnerKind: owner, OwnerID: ownerID, Currency: currency}
	if err := db.Create(&a).Error; err != nil && !errors.Is(err, gorm.ErrDuplicatedKey) {
		return 0, err
	}
	// Read it back, whoever created it: a locking read sees another
	// transaction's committed row even under REPEATABLE READ.
	a = model.Account{}
	err = db.Clauses(clause.Locking{Strength: "UPDATE"}).
		Where("owner_kind = ? AND owner_id = ? AND currency = ?", owner, ownerID, currency).First(&a).Error
	return a.ID, err
}

// Account returns the owner's account in currency, or a zero account (ID 0)
// when it has never been used.
func (l *Ledger) Account(ctx context.Context, db *gorm.DB, owner model.OwnerKind, ownerID int64, currency model.Currency) (model.Account, error) {
	a := model.Account{OwnerKind: owner, OwnerID: ownerID, Currency: currency}
	err := db.WithContext(ctx).Where("owner_kind = ? AND owner_id = ? AND currency = ?", owner, ownerID, currency).
		Limit(1).Find(&a).Error
	return a, err
}

// Report is the result of a reconciliation.
type Report struct {
	Accounts   int64    `json:"accounts"`
	Mismatches int      `json:"mismatches"`
	Details    []string `json:"details"`
}

// Reconcile checks that every account's cached balance equals the sum of its
// entries and that every transaction sums to zero per currency. It reads
// only; an error means the database failed.
func (l *Ledger) Reconcile(ctx context.Context, db *gorm.DB) (*Report, error) {
	db = db.WithContext(ctx)
	rep := &Report{Details: []string{}}
	if err := db.Model(&model.Account{}).Count(&rep.Accounts).Error; err != nil {
		return nil, err
	}
	var bad []struct {
		ID      int64
		Balance int64
		Sum     int64
	}
	err := db.Raw(`SELECT a.id AS id, a.balance AS balance, COALESCE(SUM(e.amount), 0) AS sum
		FROM accounts a LEFT JOIN ledger_entries e ON e.account_id = a.id
		GROUP BY a.id, a.balance HAVING a.balance <> COALESCE(SUM(e.amount), 0)`).Scan(&bad).Error
	if err != nil {
		return nil, err
	}
	for _, b := range bad {
		rep.Details = append(rep.Details, fmt.Sprintf("account %d: balance %d, entries sum to %d", b.ID, b.Balance, b.Sum))
	}
	var unbalanced []struct {
		TxnID    int64
		Currency string
		Sum      int64
		N        int64
	}
	err = db.Raw(`SELECT txn_id, currency, SUM(amount) AS sum, COUNT(*) AS n FROM ledger_entries
		GROUP BY txn_id, currency HAVING SUM(amount) <> 0 OR COUNT(*) < 2`).Scan(&unbalanced).Error
	if err != nil {
		return nil, err
	}
	for _, u := range unbalanced {
		rep.Details = append(rep.Details, fmt.Sprintf("transaction %d (%s): %d entries summing to %d", u.TxnID, u.Currency, u.N, u.Sum))
	}
	rep.Mismatches = len(rep.Details)
	return rep, nil
}
