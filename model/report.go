package model

import "time"

// UnitKind is the kind of a unit in the community (驻区单位).
type UnitKind string

// Unit kinds.
const (
	UnitGovernment  UnitKind = "机关"
	UnitInstitution UnitKind = "事业单位"
	UnitStateOwned  UnitKind = "国企"
	UnitPrivate     UnitKind = "非公企业"
	UnitSocial      UnitKind = "社会组织"
)

// Valid reports whether k is one of the five kinds.
func (k UnitKind) Valid() bool {
	switch k {
	case UnitGovernment, UnitInstitution, UnitStateOwned, UnitPrivate, UnitSocial:
		return true
	}
	return false
}

// ReviewStatus is the state of something staff approve or reject.
type ReviewStatus string

// Review states of units and member reports. A member report ends as
// withdrawn (by the member) or closed (superseded by a report elsewhere).
const (
	ReviewPending   ReviewStatus = "pending"
	ReviewApproved  ReviewStatus = "approved"
	ReviewRejected  ReviewStatus = "rejected"
	ReviewWithdrawn ReviewStatus = "withdrawn"
	ReviewClosed    ReviewStatus = "closed"
)

// Unit is a work unit reporting to the community it sits in (单位报到).
type Unit struct {
	ID           int64        `gorm:"primaryKey"`
	Name         string       `gorm:"size:128;not null"`
	Kind         UnitKind     `gorm:"size:16;not null"`
	PartyOrg     string       `gorm:"size:128;not null;default:''"`
	CommunityID  int64        `gorm:"not null;index"`
	ContactName  string       `gorm:"size:64;not null;default:''"`
	ContactPhone string       `gorm:"size:32;not null;default:''"`
	Status       ReviewStatus `gorm:"size:16;not null;index"`
	RejectReason string       `gorm:"size:255;not null;default:''"`
	CreatedBy    int64        `gorm:"not null;index"`
	ReviewedBy   *int64
	ReviewedAt   *time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// UnitLiaison lets a user speak for an approved unit (unit_liaison role).
type UnitLiaison struct {
	ID        int64 `gorm:"primaryKey"`
	UnitID    int64 `gorm:"not null;uniqueIndex:ux_liaison,priority:1"`
	UserID    int64 `gorm:"not null;uniqueIndex:ux_liaison,priority:2;index"`
	CreatedBy int64 `gorm:"not null;default:0"`
	CreatedAt time.Time
}

// ReportMode is how a Party member reports.
type ReportMode string

// Report modes: 日常报到 (needs a service every month) and 集中报到 (organised
// by the unit).
const (
	ModeDaily       ReportMode = "daily"
	ModeCentralized ReportMode = "centralized"
)

// MemberReport is an in-office Party member reporting to their residential
// community (党员报到). ActiveUserID equals UserID while the report is the
// member's approved one and is NULL otherwise; its unique index keeps one
// active report per member.
type MemberReport struct {
	ID           int64        `gorm:"primaryKey"`
	UserID       int64        `gorm:"not null;index"`
	CommunityID  int64        `gorm:"not null;index:ix_report_community_status,priority:1"`
	RealName     string       `gorm:"size:64;not null"`
	Phone        string       `gorm:"size:32;not null"`
	UnitID       *int64       `gorm:"index"`
	UnitName     string       `gorm:"size:128;not null;default:''"`
	Branch       string       `gorm:"size:128;not null;default:''"`
	Mode         ReportMode   `gorm:"size:16;not null"`
	Status       ReviewStatus `gorm:"size:16;not null;index:ix_report_community_status,priority:2"`
	ActiveUserID *int64       `gorm:"uniqueIndex"`
	RejectReason string       `gorm:"size:255;not null;default:''"`
	ReviewedBy   *int64
	ReviewedAt   *time.Time
	ClosedAt     *time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
}
