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

// Manual credit states. A credit within the approval threshold is posted at
// once; a larger one is a pending request that a second staff member
// approves (then posted) or refuses.
const (
	ManualCreditPosted   = "posted"
	ManualCreditPending  = "pending"
	ManualCreditApproved = "approved"
	ManualCreditRejected = "rejected"
)

// ManualCredit is a credit staff entered by hand (补录, e.g. from paper
// records), or the request for one (credit request). It is the audit record
// of that action — who (ActorID, and DecidedBy for a request), what (user,
// community, currency, amount, reason, ledger transaction), when (CreatedAt,
// DecidedAt) — and its unique (actor, request id) makes a retried request
// pay once. A request moves pending → approved|rejected by one conditional
// UPDATE; the ledger source manual_credit:<id> pays it once.
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
	Status      string   `gorm:"size:16;not null;default:'posted';index"`
	DecidedBy   *int64
	DecidedAt   *time.Time
	// RejectReason says why a request was refused.
	RejectReason string `gorm:"size:255;not null;default:''"`
	CreatedAt    time.Time
}

// ManualCreditMonthTotal is what one community issued by hand in one
// currency in one month (YYYYMM in the configured time zone), pending
// requests included. A manual credit raises Amount by one conditional
// UPDATE (amount + credit <= monthly cap), so the cap holds however many
// credits race; a refused request gives its amount back.
type ManualCreditMonthTotal struct {
	ID          int64    `gorm:"primaryKey"`
	CommunityID int64    `gorm:"not null;uniqueIndex:ux_manual_credit_month,priority:1"`
	Month       string   `gorm:"size:6;not null;uniqueIndex:ux_manual_credit_month,priority:2"`
	Currency    Currency `gorm:"size:16;not null;uniqueIndex:ux_manual_credit_month,priority:3"`
	Amount      int64    `gorm:"not null;default:0"`
}
