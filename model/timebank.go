package model

import "time"

// GiftDailyTotal counts what a user gave away in one currency on one day
// (YYYYMMDD in the configured time zone). Gifts raise Amount by one
// conditional UPDATE (amount + gift <= daily limit), so the limit holds
// however many gifts race.
type GiftDailyTotal struct {
	ID       int64    `gorm:"primaryKey"`
	UserID   int64    `gorm:"not null;uniqueIndex:ux_gift_day,priority:1"`
	Day      string   `gorm:"size:8;not null;uniqueIndex:ux_gift_day,priority:2"`
	Currency Currency `gorm:"size:16;not null;uniqueIndex:ux_gift_day,priority:3"`
	Amount   int64    `gorm:"not null;default:0"`
}

// ManualCredit is a credit staff entered by hand (补录, e.g. from paper
// records). It is the audit record of that action — who (ActorID), what
// (user, community, currency, amount, reason, ledger transaction), when
// (CreatedAt) — and its unique (actor, request id) makes a retried request
// pay once.
type ManualCredit struct {
	ID          int64    `gorm:"primaryKey"`
	ActorID     int64    `gorm:"not null;uniqueIndex:ux_manual_credit_request,priority:1"`
	RequestID   string   `gorm:"size:64;not null;uniqueIndex:ux_manual_credit_request,priority:2"`
	UserID      int64    `gorm:"not null;index"`
	CommunityID int64    `gorm:"not null;index"`
	Currency    Currency `gorm:"size:16;not null"`
	Amount      int64    `gorm:"not null"`
	Reason      string   `gorm:"size:255;not null"`
	TxnID       int64    `gorm:"not null;default:0"`
	CreatedAt   time.Time
}
