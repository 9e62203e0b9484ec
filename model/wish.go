package model

import "time"

// WishStatus is the state of a micro-wish (微心愿).
type WishStatus string

// Wish states: pending_review → published → claimed → fulfilled → completed,
// with rejected, cancelled and expired as ends; a release goes from claimed
// back to published.
const (
	WishPendingReview WishStatus = "pending_review"
	WishPublished     WishStatus = "published"
	WishClaimed       WishStatus = "claimed"
	WishFulfilled     WishStatus = "fulfilled"
	WishCompleted     WishStatus = "completed"
	WishRejected      WishStatus = "rejected"
	WishCancelled     WishStatus = "cancelled"
	WishExpired       WishStatus = "expired"
)

// WishStatuses lists every state, in lifecycle order.
func WishStatuses() []WishStatus {
	return []WishStatus{WishPendingReview, WishPublished, WishClaimed, WishFulfilled,
		WishCompleted, WishRejected, WishCancelled, WishExpired}
}

// Valid reports whether s is a known state.
func (s WishStatus) Valid() bool {
	for _, v := range WishStatuses() {
		if v == s {
			return true
		}
	}
	return false
}

// Open reports whether a wish in state s counts toward its poster's open
// wishes.
func (s WishStatus) Open() bool {
	return s == WishPendingReview || s == WishPublished || s == WishClaimed || s == WishFulfilled
}

// WishCategories is the fixed list of categories.
func WishCategories() []string {
	return []string{"助老", "助残", "助学", "助孤", "助困", "生活", "维修", "其他"}
}

// Review flags tell staff why a pending wish deserves a closer look.
const (
	WishFlagContentReview    = "content_review"    // the content check said "review"
	WishFlagCheckUnavailable = "check_unavailable" // the content check could not be reached
)

// Wish is a resident's small need. Contact details (phone, address) are
// private to the poster, the current claimer and staff. StreetID and
// CommunityPath copy the community's place in the tree so the street-wide
// list and the staff queue are single indexed queries. The list indexes
// (street or community, status, published_at, id, category) serve the
// public list newest first without a sort, its count, and its category
// filter from the index. No other index starts with (status, published_at):
// MySQL would prefer it for the list's ORDER BY and scan every street.
type Wish struct {
	ID            int64      `gorm:"primaryKey;index:ix_wish_community_list,priority:4;index:ix_wish_street_list,priority:4"`
	CommunityID   int64      `gorm:"index:ix_wish_dashboard,priority:1;not null;index:ix_wish_community_list,priority:1"`
	StreetID      int64      `gorm:"not null;index:ix_wish_street_list,priority:1"`
	CommunityPath string     `gorm:"size:255;not null"`
	Title         string     `gorm:"size:64;not null"`
	Content       string     `gorm:"size:500;not null"`
	Category      string     `gorm:"size:16;not null;index:ix_wish_community_list,priority:5;index:ix_wish_street_list,priority:5"`
	BudgetFen     int64      `gorm:"not null;default:0"`
	Images        string     `gorm:"size:512;not null;default:''"` // JSON array of upload ids
	ContactPhone  string     `gorm:"size:32;not null"`
	Address       string     `gorm:"size:255;not null"`
	PosterID      *int64     `gorm:"index:ix_wish_poster,priority:1"` // the resident's account; nil for a proxy post without one
	PosterName    string     `gorm:"size:64;not null;default:''"`
	CreatedBy     int64      `gorm:"not null;index"`
	ProxyBy       *int64     // staff who posted on the resident's behalf
	ProxyPhone    string     `gorm:"size:32;not null;default:'';index"` // onBehalfOf.phone of a proxy post
	Status        WishStatus `gorm:"index:ix_wish_dashboard,priority:3;size:16;not null;index:ix_wish_community_list,priority:2;index:ix_wish_street_list,priority:2;index:ix_wish_poster,priority:2;index:ix_wish_claimer,priority:2;index:ix_wish_status_created,priority:1;index:ix_wish_status_deadline,priority:1;index:ix_wish_status_fulfilled,priority:1"`
	ReviewFlag    string     `gorm:"size:32;not null;default:''"`
	RejectReason  string     `gorm:"size:255;not null;default:''"`
	ReviewedBy    *int64
	ReviewedAt    *time.Time
	// PublishedAt is when staff approved the wish (kept across releases).
	PublishedAt    *time.Time `gorm:"index:ix_wish_dashboard,priority:4;index:ix_wish_community_list,priority:3;index:ix_wish_street_list,priority:3"`
	ClaimerID      *int64     `gorm:"index:ix_wish_claimer,priority:1"`
	ClaimUnitID    *int64
	ClaimedAt      *time.Time `gorm:"index:ix_wish_dashboard,priority:6"`
	FirstClaimedAt *time.Time `gorm:"index:ix_wish_dashboard,priority:5"`
	ClaimDeadline  *time.Time `gorm:"index:ix_wish_status_deadline,priority:2"`
	FulfilledAt    *time.Time `gorm:"index:ix_wish_status_fulfilled,priority:2"`
	FulfilNote     string     `gorm:"size:500;not null;default:''"`
	FulfilImages   string     `gorm:"size:512;not null;default:''"`
	CompletedAt    *time.Time `gorm:"index:ix_wish_dashboard,priority:7"`
	AutoConfirmed  bool       `gorm:"not null;default:false"`
	Rating         *int       // 1–5; nil when confirmed automatically
	Comment        string     `gorm:"size:255;not null;default:''"`
	ClosedAt       *time.Time `gorm:"index:ix_wish_retention,priority:2"`
	// ContactRedacted is set once contact_phone, address and proxy_phone
	// were blanked: by the retention sweep privacy.wish_contact_retention
	// after the wish closed, or by the poster's account erasure.
	ContactRedacted bool      `gorm:"not null;default:false;index:ix_wish_retention,priority:1"`
	CreatedAt       time.Time `gorm:"index:ix_wish_dashboard,priority:2;index:ix_wish_status_created,priority:2"`
	UpdatedAt       time.Time
}

// WishClaimStatus is the state of one claim of a wish.
type WishClaimStatus string

// Claim states: a claim is active until it is released by the claimer,
// lapses at its deadline, or is fulfilled (and then completed).
const (
	ClaimActive    WishClaimStatus = "active"
	ClaimReleased  WishClaimStatus = "released"
	ClaimLapsed    WishClaimStatus = "lapsed"
	ClaimFulfilled WishClaimStatus = "fulfilled"
	ClaimCompleted WishClaimStatus = "completed"
)

// WishClaim is one claim of a wish by a Party member or, for a unit, its
// liaison. ActiveWishID equals WishID while the claim is active and is NULL
// otherwise; its unique index allows one active claim per wish. A lapsed
// claim is the claimer's lapse.
type WishClaim struct {
	ID           int64           `gorm:"primaryKey"`
	WishID       int64           `gorm:"not null;index"`
	ActiveWishID *int64          `gorm:"uniqueIndex"`
	ClaimerID    int64           `gorm:"not null;index:ix_wish_claim_claimer,priority:1"`
	UnitID       *int64          `gorm:"index"`
	Status       WishClaimStatus `gorm:"size:16;not null;index:ix_wish_claim_claimer,priority:2"`
	ClaimedAt    time.Time       `gorm:"not null"`
	Deadline     time.Time       `gorm:"not null"`
	EndedAt      *time.Time
	CreatedAt    time.Time
}

// WishEvent is one line of a wish's timeline. ActorID is nil for the system
// (sweeps).
type WishEvent struct {
	ID        int64  `gorm:"primaryKey"`
	WishID    int64  `gorm:"not null;index:ix_wish_event_wish,priority:1"`
	ActorID   *int64 `gorm:"index"`
	ActorRole string `gorm:"size:16;not null;default:''"` // poster, staff, claimer or system
	Action    string `gorm:"size:24;not null"`
	Note      string `gorm:"size:500;not null;default:''"`
	CreatedAt time.Time
}

// WishContactReveal records that a wish's contact details (the poster's
// phone and address) were shown to a claimer: who, when, which wish and in
// which claim. A claimer is shown them in one claim of a wish only; the
// unique index keeps one row per wish and claimer. Staff of the wish's
// community read these rows.
type WishContactReveal struct {
	ID        int64 `gorm:"primaryKey"`
	WishID    int64 `gorm:"not null;uniqueIndex:ux_wish_contact_reveal,priority:1"`
	ViewerID  int64 `gorm:"not null;uniqueIndex:ux_wish_contact_reveal,priority:2;index"`
	ClaimID   int64 `gorm:"not null"`
	CreatedAt time.Time
}
