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
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
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
	// Locked, when set, holds accounts the transaction locked before
	// (Ledger.Lock); the posting reads and locks none of them again.
	Locked *Accounts
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
	// Locked: as for Credit.
	Locked *Accounts
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
	return l.post(ctx, tx, c.Locked, KindCredit, c.Source, c.Memo, nil, c.Currency, []leg{
		{owner: model.OwnerUser, ownerID: c.UserID, amount: c.Amount, earned: c.Amount, primary: true},
		{owner: model.OwnerCommunity, ownerID: c.CommunityID, amount: -c.Amount},
	})
}

// CreditAll posts credits as Credit would, one after the other, each once
// per source, and returns their receipts in order. When every credit's
// accounts are in its Locked and no source was posted before, it takes four
// statements however many credits there are: one look-up of their sources,
// one insert of their transactions, one of their entries, one UPDATE of the
// balances (each account moved once by its sum). Otherwise — a replay among
// them, accounts not locked, a source given twice, or a concurrent posting
// of one of the sources committing first (the entries' unique key) — it
// takes back what it wrote and posts them one by one with Credit, with the
// same results. It returns ErrInvalidAmount for a non-positive amount;
// after any other error the caller must roll back.
func (l *Ledger) CreditAll(ctx context.Context, tx *gorm.DB, credits []Credit) ([]*Receipt, error) {
	type accounts struct{ user, community int64 }
	accts := make([]accounts, len(credits))
	batch := l.beforeInsert == nil
	type sourceKey struct {
		Source
		model.Currency
	}
	sources := map[sourceKey]bool{}
	for i, c := range credits {
		if c.Amount <= 0 {
			return nil, ErrInvalidAmount
		}
		u, okU := c.Locked.id(tx, AccountKey{model.OwnerUser, c.UserID, c.Currency})
		m, okM := c.Locked.id(tx, AccountKey{model.OwnerCommunity, c.CommunityID, c.Currency})
		batch = batch && okU && okM && c.Source.Valid() && c.Currency.Valid() && !sources[sourceKey{c.Source, c.Currency}]
		sources[sourceKey{c.Source, c.Currency}] = true
		accts[i] = accounts{u, m}
	}
	if !batch || len(credits) < 2 {
		return l.creditEach(ctx, tx, credits)
	}
	db := tx.WithContext(ctx)
	conds := make([]string, len(credits))
	args := make([]any, 0, 4*len(credits))
	for i, c := range credits {
		conds[i] = "(source_kind = ? AND source_id = ? AND account_id = ? AND currency = ?)"
		args = append(args, c.Source.Kind, c.Source.ID, accts[i].user, c.Currency)
	}
	var posted int64
	if err := db.Model(&model.LedgerEntry{}).Where(strings.Join(conds, " OR "), args...).Count(&posted).Error; err != nil {
		return nil, err
	}
	if posted > 0 {
		return l.creditEach(ctx, tx, credits)
	}
	now := l.now().UTC()
	txns := make([]model.LedgerTxn, len(credits))
	for i, c := range credits {
		txns[i] = model.LedgerTxn{Kind: KindCredit, SourceKind: c.Source.Kind, SourceID: c.Source.ID,
			Memo: cutMemo(c.Memo), CreatedAt: now}
	}
	if err := db.Create(&txns).Error; err != nil {
		return nil, err
	}
	entries := make([]model.LedgerEntry, 0, 2*len(credits))
	for i, c := range credits {
		for _, lg := range []struct {
			account, amount int64
		}{{accts[i].user, c.Amount}, {accts[i].community, -c.Amount}} {
			entries = append(entries, model.LedgerEntry{TxnID: txns[i].ID, AccountID: lg.account, Currency: c.Currency,
				Amount: lg.amount, SourceKind: c.Source.Kind, SourceID: c.Source.ID, Memo: txns[i].Memo, CreatedAt: now})
		}
	}
	if err := db.Create(&entries).Error; err != nil {
		if !errors.Is(err, gorm.ErrDuplicatedKey) {
			return nil, err
		}
		// A posting of one of the sources committed meanwhile (the insert
		// waited for it): the failed statement wrote nothing; the
		// transactions go, and Credit finds the replay.
		ids := make([]int64, len(txns))
		for i := range txns {
			ids[i] = txns[i].ID
		}
		if err := db.Delete(&model.LedgerTxn{}, ids).Error; err != nil {
			return nil, err
		}
		return l.creditEach(ctx, tx, credits)
	}
	// Each account moves once, by the sum of its legs (the community's
	// account is in every credit of its currency).
	var moves []leg
	at := map[int64]int{} // account → its move
	for i, c := range credits {
		for _, lg := range []leg{{account: accts[i].user, amount: c.Amount, earned: c.Amount}, {account: accts[i].community, amount: -c.Amount}} {
			if j, ok := at[lg.account]; ok {
				moves[j].amount += lg.amount
				moves[j].earned += lg.earned
				continue
			}
			at[lg.account] = len(moves)
			moves = append(moves, lg)
		}
	}
	n, err := moveBalances(db, moves)
	if err != nil {
		return nil, err
	}
	if n != len(moves) {
		return nil, fmt.Errorf("ledger: %d of %d accounts of %d credits changed", n, len(moves), len(credits))
	}
	out := make([]*Receipt, len(credits))
	for i := range credits {
		out[i] = &Receipt{TxnID: txns[i].ID, Entries: entries[2*i : 2*i+2 : 2*i+2]}
	}
	return out, nil
}

// creditEach posts credits one by one with Credit.
func (l *Ledger) creditEach(ctx context.Context, tx *gorm.DB, credits []Credit) ([]*Receipt, error) {
	out := make([]*Receipt, len(credits))
	for i, c := range credits {
		rec, err := l.Credit(ctx, tx, c)
		if err != nil {
			return nil, err
		}
		out[i] = rec
	}
	return out, nil
}

// cutMemo cuts a memo to the 255 characters a ledger row holds.
func cutMemo(memo string) string {
	if len([]rune(memo)) > 255 {
		return string([]rune(memo)[:255])
	}
	return memo
}

// Debit moves d.Amount from the user to the community. It returns
// ErrInsufficientBalance when the user's balance is short (nothing written)
// and ErrInvalidAmount for a non-positive amount.
func (l *Ledger) Debit(ctx context.Context, tx *gorm.DB, d Debit) (*Receipt, error) {
	if d.Amount <= 0 {
		return nil, ErrInvalidAmount
	}
	return l.post(ctx, tx, d.Locked, KindDebit, d.Source, d.Memo, nil, d.Currency, []leg{
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
	return l.post(ctx, tx, nil, KindTransfer, t.Source, t.Memo, nil, t.Currency, []leg{
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
	return l.post(ctx, tx, nil, KindReversal, src, memo, &orig.ID, currency, legs)
}

// AccountKey names an account: its owner and currency.
type AccountKey struct {
	Owner    model.OwnerKind
	OwnerID  int64
	Currency model.Currency
}

// Accounts are accounts a transaction created where missing and locked, by
// Lock. It belongs to that transaction only.
type Accounts struct {
	tx  gorm.ConnPool
	ids map[AccountKey]int64
}

// id returns the account of key when a is of the transaction tx.
func (a *Accounts) id(tx *gorm.DB, key AccountKey) (int64, bool) {
	if a == nil || a.tx != tx.Statement.ConnPool {
		return 0, false
	}
	id, ok := a.ids[key]
	return id, ok
}

// Lock creates the accounts of keys that do not exist yet and locks all of
// them, in id order, until the transaction tx ends: with two statements
// when they all exist. Postings of tx given the result (Credit.Locked,
// Debit.Locked) then read and lock none of them again, so a batch of
// postings over the same accounts reads them once. Lock before the
// postings: locking more accounts later, in another order, can deadlock
// with another transaction.
func (l *Ledger) Lock(ctx context.Context, tx *gorm.DB, keys ...AccountKey) (*Accounts, error) {
	ids, err := lockAccounts(tx.WithContext(ctx), keys)
	if err != nil {
		return nil, err
	}
	return &Accounts{tx: tx.Statement.ConnPool, ids: ids}, nil
}

// lockAccounts returns the ids of the accounts of keys, creating the
// missing ones however many callers race, locked in id order. Accounts are
// first read without a lock: a locking read of a missing row would take a
// gap lock on MySQL, and two transactions holding the same gap deadlock on
// their inserts. The missing ones are inserted (a concurrent creator's row
// is kept) and read back by a locking read, which sees another
// transaction's committed row even under REPEATABLE READ.
func lockAccounts(db *gorm.DB, keys []AccountKey) (map[AccountKey]int64, error) {
	ids := make(map[AccountKey]int64, len(keys))
	for _, k := range keys {
		if k.OwnerID <= 0 {
			return nil, fmt.Errorf("ledger: invalid %s id %d", k.Owner, k.OwnerID)
		}
		ids[k] = 0
	}
	read := func(q *gorm.DB, want []AccountKey) error {
		var rows []model.Account
		if err := keysWhere(q, want).Find(&rows).Error; err != nil {
			return err
		}
		for _, a := range rows {
			if k := (AccountKey{a.OwnerKind, a.OwnerID, a.Currency}); hasKey(ids, k) {
				ids[k] = a.ID
			}
		}
		return nil
	}
	if err := read(db.Select("id", "owner_kind", "owner_id", "currency"), slices.Collect(maps.Keys(ids))); err != nil {
		return nil, err
	}
	var missing []AccountKey
	for k, id := range ids {
		if id == 0 {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		slices.SortFunc(missing, compareKeys)
		rows := make([]model.Account, 0, len(missing))
		for _, k := range missing {
			rows = append(rows, model.Account{OwnerKind: k.Owner, OwnerID: k.OwnerID, Currency: k.Currency})
		}
		// All in one INSERT; when another transaction created one of them
		// meanwhile, one INSERT each, skipping the duplicates. (Not INSERT
		// ... ON DUPLICATE KEY UPDATE: its exclusive lock on the existing
		// row deadlocks concurrent creators on MySQL.)
		if err := db.Create(&rows).Error; errors.Is(err, gorm.ErrDuplicatedKey) {
			for _, a := range rows {
				a.ID = 0
				if err := db.Create(&a).Error; err != nil && !errors.Is(err, gorm.ErrDuplicatedKey) {
					return nil, err
				}
			}
		} else if err != nil {
			return nil, err
		}
		if err := read(db.Clauses(clause.Locking{Strength: "UPDATE"}).Select("id", "owner_kind", "owner_id", "currency"), missing); err != nil {
			return nil, err
		}
	}
	lock := make([]int64, 0, len(ids))
	for k, id := range ids {
		if id == 0 {
			return nil, fmt.Errorf("ledger: account %+v not found after its insert", k)
		}
		lock = append(lock, id)
	}
	slices.Sort(lock)
	var locked []int64
	if err := db.Model(&model.Account{}).Clauses(clause.Locking{Strength: "UPDATE"}).Where("id IN ?", lock).
		Order("id").Pluck("id", &locked).Error; err != nil {
		return nil, err
	}
	return ids, nil
}

func hasKey(m map[AccountKey]int64, k AccountKey) bool { _, ok := m[k]; return ok }

func compareKeys(a, b AccountKey) int {
	return cmp.Or(cmp.Compare(a.Owner, b.Owner), cmp.Compare(a.Currency, b.Currency), cmp.Compare(a.OwnerID, b.OwnerID))
}

// keysWhere narrows q to the accounts of keys: one condition per owner kind
// and currency, with the owners' ids in a list.
func keysWhere(q *gorm.DB, keys []AccountKey) *gorm.DB {
	keys = slices.Clone(keys)
	slices.SortFunc(keys, compareKeys)
	var conds []string
	var args []any
	for i := 0; i < len(keys); {
		j := i
		var owners []int64
		for j < len(keys) && keys[j].Owner == keys[i].Owner && keys[j].Currency == keys[i].Currency {
			owners = append(owners, keys[j].OwnerID)
			j++
		}
		conds = append(conds, "(owner_kind = ? AND currency = ? AND owner_id IN ?)")
		args = append(args, keys[i].Owner, keys[i].Currency, owners)
		i = j
	}
	return q.Model(&model.Account{}).Where(strings.Join(conds, " OR "), args...)
}

// post writes one transaction. Its accounts are created on first use and
// locked in id order (unless locked is of this transaction and holds them),
// then the primary leg's (source, account, currency) is looked up: found
// means a replay and the first receipt is returned without writing.
// Otherwise the transaction and its entries are inserted (the unique source
// key turns a concurrent replay into the first receipt) and one conditional
// UPDATE changes every account, refusing to overdraw a no-debt leg. A
// refused or replayed posting deletes the rows it inserted, so it leaves
// nothing behind in the caller's transaction (the rows were never visible
// to anyone else); after any other error the caller must roll back. Two
// transactions creating the same account at once can deadlock on MySQL: run
// postings in dbtx.Run, which retries the loser.
func (l *Ledger) post(ctx context.Context, tx *gorm.DB, locked *Accounts, kind string, src Source, memo string, reverses *int64, currency model.Currency, legs []leg) (*Receipt, error) {
	if !src.Valid() {
		return nil, fmt.Errorf("ledger: invalid source %+v", src)
	}
	if !currency.Valid() {
		return nil, fmt.Errorf("ledger: invalid currency %q", currency)
	}
	memo = cutMemo(memo)
	var sum int64
	var toLock []AccountKey
	for i := range legs {
		legs[i].currency = currency
		if legs[i].ownerID <= 0 {
			return nil, fmt.Errorf("ledger: invalid %s id %d", legs[i].owner, legs[i].ownerID)
		}
		key := AccountKey{legs[i].owner, legs[i].ownerID, currency}
		if id, ok := locked.id(tx, key); ok {
			legs[i].account = id
		} else {
			toLock = append(toLock, key)
		}
		sum += legs[i].amount
	}
	if sum != 0 {
		return nil, fmt.Errorf("ledger: legs of %s %s/%s sum to %d", kind, src.Kind, src.ID, sum)
	}
	if len(toLock) > 0 {
		ids, err := lockAccounts(tx, toLock)
		if err != nil {
			return nil, err
		}
		for i := range legs {
			if legs[i].account == 0 {
				legs[i].account = ids[AccountKey{legs[i].owner, legs[i].ownerID, currency}]
			}
		}
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

	// Legs that may not go below zero move first, each by one conditional
	// UPDATE, so a refusal has written nothing; the other legs move by one
	// UPDATE after the inserts.
	var guarded, rest []leg
	for _, lg := range legs {
		if lg.noDebt && lg.amount < 0 {
			guarded = append(guarded, lg)
		} else {
			rest = append(rest, lg)
		}
	}
	// undo takes back what this posting wrote before it failed (a failed
	// statement is undone by the database itself) and returns cause: the
	// guarded legs' moves, its entries, its transaction. None of it was ever
	// visible to another transaction.
	var moved []leg
	var txnID int64
	entriesIn := false
	undo := func(cause error) error {
		if len(moved) > 0 {
			back := make([]leg, len(moved))
			for i, lg := range moved {
				back[i] = lg
				back[i].amount, back[i].earned = -lg.amount, -lg.earned
			}
			if _, err := moveBalances(tx, back); err != nil {
				return errors.Join(cause, err)
			}
		}
		if entriesIn {
			if err := tx.Where("txn_id = ?", txnID).Delete(&model.LedgerEntry{}).Error; err != nil {
				return errors.Join(cause, err)
			}
		}
		if txnID != 0 {
			if err := tx.Delete(&model.LedgerTxn{}, txnID).Error; err != nil {
				return errors.Join(cause, err)
			}
		}
		return cause
	}
	for _, lg := range guarded {
		n, err := moveBalances(tx.Where("balance >= ?", -lg.amount), []leg{lg})
		if err != nil {
			return nil, undo(err)
		}
		if n != 1 {
			return nil, undo(ErrInsufficientBalance)
		}
		moved = append(moved, lg)
	}

	// Stamped in UTC so that SQLite, which compares times as text, orders
	// every entry alike.
	txn := model.LedgerTxn{Kind: kind, SourceKind: src.Kind, SourceID: src.ID, Memo: memo, ReversesID: reverses,
		CreatedAt: l.now().UTC()}
	if err := tx.Create(&txn).Error; err != nil {
		if reverses != nil && errors.Is(err, gorm.ErrDuplicatedKey) {
			return nil, undo(ErrAlreadyReversed) // a concurrent reversal committed
		}
		return nil, undo(err)
	}
	txnID = txn.ID
	entries := make([]model.LedgerEntry, 0, len(legs))
	for _, lg := range legs {
		entries = append(entries, model.LedgerEntry{
			TxnID: txn.ID, AccountID: lg.account, Currency: currency, Amount: lg.amount,
			SourceKind: src.Kind, SourceID: src.ID, Memo: memo, CreatedAt: txn.CreatedAt,
		})
	}
	err = tx.Create(&entries).Error
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
	entriesIn = true
	if len(rest) > 0 {
		n, err := moveBalances(tx, rest)
		if err != nil {
			return nil, undo(err)
		}
		if n != len(rest) {
			return nil, undo(fmt.Errorf("ledger: %d of %d accounts of %s/%s changed", n, len(rest), src.Kind, src.ID))
		}
	}
	return &Receipt{TxnID: txn.ID, Entries: entries}, nil
}

// moveBalances changes the balances (and earned totals) of the legs'
// accounts, which are distinct, by one UPDATE on q; it returns how many
// accounts it changed.
func moveBalances(q *gorm.DB, legs []leg) (int, error) {
	ids := make([]int64, 0, len(legs))
	balance, earned := "balance + CASE id", "earned + CASE id"
	var bArgs, eArgs []any
	for _, lg := range legs {
		if slices.Contains(ids, lg.account) {
			return 0, fmt.Errorf("ledger: account %d in two legs", lg.account)
		}
		ids = append(ids, lg.account)
		balance += " WHEN ? THEN ?"
		bArgs = append(bArgs, lg.account, lg.amount)
		if lg.earned != 0 {
			earned += " WHEN ? THEN ?"
			eArgs = append(eArgs, lg.account, lg.earned)
		}
	}
	updates := map[string]any{"balance": gorm.Expr(balance+" ELSE 0 END", bArgs...)}
	if len(eArgs) > 0 {
		updates["earned"] = gorm.Expr(earned+" ELSE 0 END", eArgs...)
	}
	res := q.Model(&model.Account{}).Where("id IN ?", ids).Updates(updates)
	return int(res.RowsAffected), res.Error
}

func receipt(db *gorm.DB, txnID int64, replayed bool) (*Receipt, error) {
	var entries []model.LedgerEntry
	if err := db.Where("txn_id = ?", txnID).Order("id").Find(&entries).Error; err != nil {
		return nil, err
	}
	return &Receipt{TxnID: txnID, Replayed: replayed, Entries: entries}, nil
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
