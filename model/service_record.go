package model

import "time"

// ServiceKind is the kind of a service record; the quarterly obligations of
// a reported Party member count one of each.
type ServiceKind string

// The four kinds of service (SPEC §3).
const (
	ServiceContactHelp    ServiceKind = "contact_help"    // 联系帮扶群众
	ServicePostDuty       ServiceKind = "post_duty"       // 服务认领岗位
	ServicePublicActivity ServiceKind = "public_activity" // 参加公益活动
	ServicePracticalDeed  ServiceKind = "practical_deed"  // 办实事（含微心愿）
)

// Valid reports whether k is one of the four kinds.
func (k ServiceKind) Valid() bool {
	switch k {
	case ServiceContactHelp, ServicePostDuty, ServicePublicActivity, ServicePracticalDeed:
		return true
	}
	return false
}

// RecordStatus is the review state of a service record.
type RecordStatus string

// Review states: self-logged records start pending; records made by wishes
// and activities are approved when created.
const (
	RecordPending  RecordStatus = "pending"
	RecordApproved RecordStatus = "approved"
	RecordRejected RecordStatus = "rejected"
)

// ServiceRecord is one service a user did. SourceKey ("wish:12",
// "attendance:34") is unique, so the area that creates a record for its own
// object does so once; self-logged records have none. ix_record_obligation
// covers the quarterly obligation counts (per user, approved, by time, kind
// and minutes) so they never read the rows themselves.
type ServiceRecord struct {
	ID           int64        `gorm:"primaryKey"`
	UserID       int64        `gorm:"not null;index:ix_record_user_time,priority:1;index:ix_record_obligation,priority:1"`
	CommunityID  int64        `gorm:"not null;index:ix_record_community_time,priority:1"`
	Kind         ServiceKind  `gorm:"size:24;not null;index:ix_record_obligation,priority:4"`
	OccurredAt   time.Time    `gorm:"not null;index:ix_record_user_time,priority:2;index:ix_record_community_time,priority:2;index:ix_record_obligation,priority:3"`
	Minutes      int          `gorm:"not null;default:0;index:ix_record_obligation,priority:5"`
	Note         string       `gorm:"size:500;not null;default:''"`
	Images       string       `gorm:"size:1024;not null;default:''"` // JSON array of upload ids
	PostID       *int64       `gorm:"index"`
	UnitID       *int64       `gorm:"index"` // the member's unit when the record was made
	Status       RecordStatus `gorm:"size:16;not null;index;index:ix_record_obligation,priority:2"`
	RejectReason string       `gorm:"size:255;not null;default:''"`
	ReviewedBy   *int64
	ReviewedAt   *time.Time
	SourceKey    *string `gorm:"size:64;uniqueIndex"`
	CreatedAt    time.Time
	UpdatedAt    time.Time
}
