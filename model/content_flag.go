package model

import "time"

// ContentFlag marks a user text stored without a clean content check — the
// checker asked for review, or could not be reached — for staff to look at.
// Wishes and cases carry their own flag column; every other text others
// can see (nicknames, unit names, needs, resources, fulfilment notes, wish
// comments, case ratings, service-record notes) is flagged here, in the
// transaction that stores it.
type ContentFlag struct {
	ID int64 `gorm:"primaryKey"`
	// ObjectKind and ObjectID name the row holding the text ("user", 12);
	// Field names the column ("nickname").
	ObjectKind string `gorm:"size:32;not null"`
	ObjectID   int64  `gorm:"not null"`
	Field      string `gorm:"size:32;not null"`
	// Excerpt is the start of the text as stored, for the reviewer.
	Excerpt string `gorm:"size:255;not null;default:''"`
	// Flag is content_review or check_unavailable (the wish flags).
	Flag   string `gorm:"size:32;not null"`
	UserID int64  `gorm:"not null"` // the writer
	// CommunityID is whose staff review it: the object's community, or the
	// writer's home; 0 when there is neither.
	CommunityID int64  `gorm:"not null;index:ix_content_flag_community_status,priority:1"`
	Status      string `gorm:"size:16;not null;index:ix_content_flag_community_status,priority:2"` // pending, cleared
	ClearedBy   *int64
	ClearedAt   *time.Time
	CreatedAt   time.Time
}

// Content flag states.
const (
	ContentFlagPending = "pending"
	ContentFlagCleared = "cleared"
)
