package model

import (
	"time"

	"gorm.io/gorm"
)

// MallGoods is an item of a community's points mall (爱心超市). Stock only
// changes by conditional UPDATEs (stock >= quantity), so it never goes below
// zero. PerUserLimit caps the quantity one user may hold in open and picked
// orders (0: no cap). Deleted goods are kept for their orders.
type MallGoods struct {
	ID           int64  `gorm:"primaryKey"`
	CommunityID  int64  `gorm:"not null;index"`
	Name         string `gorm:"size:64;not null"`
	Description  string `gorm:"size:500;not null;default:''"`
	Image        string `gorm:"size:512;not null;default:''"`
	PointsPrice  int64  `gorm:"not null"`
	Stock        int64  `gorm:"not null;default:0"`
	PerUserLimit int64  `gorm:"not null;default:0"`
	OnSale       bool   `gorm:"not null;default:false"`
	CreatedBy    int64  `gorm:"not null;default:0"`
	CreatedAt    time.Time
	UpdatedAt    time.Time
	DeletedAt    gorm.DeletedAt `gorm:"index"`

	// ResidentsOnly goods are redeemed only by residents whose home in the
	// community staff confirmed.
	ResidentsOnly bool `gorm:"not null;default:false"`
}

// TableName keeps the plural that inflection would not produce.
func (MallGoods) TableName() string { return "mall_goods" }

// MallOrderStatus is the state of a mall order: open until picked up,
// cancelled by the buyer, or expired by the sweep.
type MallOrderStatus string

// Order states; every transition out of open is one conditional UPDATE.
const (
	OrderOpen      MallOrderStatus = "open"
	OrderPicked    MallOrderStatus = "picked"
	OrderCancelled MallOrderStatus = "cancelled"
	OrderExpired   MallOrderStatus = "expired"
)

// MallOrder is a redemption. PickupCode is its 6-digit 核销码; OpenCode
// holds the same code while the order is open and is NULL afterwards, so the
// unique (community, open code) index makes a code unique among the
// community's open orders and lets it be reused once the order closes.
type MallOrder struct {
	ID          int64 `gorm:"primaryKey"`
	CommunityID int64 `gorm:"not null;uniqueIndex:ux_order_open_code,priority:1;index:ix_order_community_code,priority:1;index:ix_order_community_status,priority:1;index:ix_order_dashboard,priority:1"`
	GoodsID     int64 `gorm:"not null;index"`
	UserID      int64 `gorm:"not null;index;uniqueIndex:ux_order_request,priority:1"`
	// RequestID is the client's idempotency key: a repeated order with it
	// returns the first order instead of buying again.
	RequestID   *string         `gorm:"size:40;uniqueIndex:ux_order_request,priority:2"`
	Quantity    int64           `gorm:"not null"`
	UnitPrice   int64           `gorm:"not null"`
	PointsTotal int64           `gorm:"not null"`
	Status      MallOrderStatus `gorm:"size:16;not null;index:ix_order_status_expiry,priority:1;index:ix_order_community_status,priority:2"`
	PickupCode  string          `gorm:"size:6;not null;index:ix_order_community_code,priority:2"`
	OpenCode    *string         `gorm:"size:6;uniqueIndex:ux_order_open_code,priority:2"`
	DebitTxnID  int64           `gorm:"not null;default:0"`
	RefundTxnID *int64
	ExpiresAt   time.Time `gorm:"not null;index:ix_order_status_expiry,priority:2"`
	PickedBy    *int64
	ClosedAt    *time.Time
	CreatedAt   time.Time `gorm:"index:ix_order_dashboard,priority:2"`
	UpdatedAt   time.Time
}

// MallHolding is the quantity of one goods a user holds in open and picked
// orders. An order raises it by one conditional UPDATE (quantity + n <=
// limit), so the per-user limit holds under any concurrency; a cancelled or
// expired order lowers it again.
type MallHolding struct {
	ID       int64 `gorm:"primaryKey"`
	UserID   int64 `gorm:"not null;uniqueIndex:ux_holding,priority:1"`
	GoodsID  int64 `gorm:"not null;uniqueIndex:ux_holding,priority:2"`
	Quantity int64 `gorm:"not null;default:0"`
}
