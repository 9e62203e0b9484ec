package model

import "time"

// Currency is what a ledger account counts.
type Currency string

// The two currencies of the time bank.
const (
	CurrencyMinutes Currency = "minutes" // service time (时间银行)
	CurrencyPoints  Currency = "points"  // 爱心积分, spendable in the mall
)

// Valid reports whether c is minutes or points.
func (c Currency) Valid() bool { return c == CurrencyMinutes || c == CurrencyPoints }

// OwnerKind says who owns a ledger account.
type OwnerKind string

// Account owners: a user earns and spends; a community issues credits and
// receives redemptions.
const (
	OwnerUser      OwnerKind = "user"
	OwnerCommunity OwnerKind = "community"
)

// Account is one owner's balance in one currency. Balance always equals the
// sum of the account's ledger entries; Earned is the total credited to it by
// issuers (not gifts), net of reversals, and drives the star rating.
type Account struct {
	ID        int64     `gorm:"primaryKey"`
	OwnerKind OwnerKind `gorm:"size:16;not null;uniqueIndex:ux_account_owner,priority:1;index:ix_account_earned,priority:2"`
	OwnerID   int64     `gorm:"not null;uniqueIndex:ux_account_owner,priority:2"`
	Currency  Currency  `gorm:"size:16;not null;uniqueIndex:ux_account_owner,priority:3;index:ix_account_earned,priority:1"`
	Balance   int64     `gorm:"not null;default:0"`
	Earned    int64     `gorm:"not null;default:0;index:ix_account_earned,priority:3"`
	CreatedAt time.Time
	UpdatedAt time.Time
}

// LedgerTxn is one balanced posting: its entries sum to zero per currency.
// ReversesID names the transaction a reversal undoes (at most one reversal
// each).
type LedgerTxn struct {
	ID         int64  `gorm:"primaryKey"`
	Kind       string `gorm:"size:16;not null"`
	SourceKind string `gorm:"size:32;not null"`
	SourceID   string `gorm:"size:64;not null"`
	Memo       string `gorm:"size:255;not null;default:''"`
	ReversesID *int64 `gorm:"uniqueIndex"`
	CreatedAt  time.Time
}

// LedgerEntry is one line of a transaction. Entries are never updated or
// deleted. The unique key (source kind, source id, account, currency) makes a
// replayed posting a no-op.
type LedgerEntry struct {
	ID         int64     `gorm:"primaryKey"`
	TxnID      int64     `gorm:"not null;index"`
	AccountID  int64     `gorm:"not null;index:ix_entry_account,priority:1;uniqueIndex:ux_entry_source,priority:3"`
	Currency   Currency  `gorm:"size:16;not null;uniqueIndex:ux_entry_source,priority:4"`
	Amount     int64     `gorm:"not null"`
	SourceKind string    `gorm:"size:32;not null;uniqueIndex:ux_entry_source,priority:1"`
	SourceID   string    `gorm:"size:64;not null;uniqueIndex:ux_entry_source,priority:2"`
	Memo       string    `gorm:"size:255;not null;default:''"`
	CreatedAt  time.Time `gorm:"index"`
}
