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
	// LiaisonCount is how many liaisons the unit has; it changes by a
	// conditional UPDATE so the cap (MaxUnitLiaisons) holds under concurrency.
	LiaisonCount int `gorm:"not null;default:0"`
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// MaxUnitLiaisons is how many liaisons a unit may have: its creator and one
// more.
const MaxUnitLiaisons = 2

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
// active report per member. ix_report_dashboard (community, status, user,
// mode) covers the dashboard's compliance count, which joins each member to
// their member_quarter_stats row.
type MemberReport struct {
	ID           int64        `gorm:"primaryKey"`
	UserID       int64        `gorm:"not null;index;index:ix_report_dashboard,priority:3"`
	CommunityID  int64        `gorm:"not null;index:ix_report_community_status,priority:1;index:ix_report_dashboard,priority:1"`
	RealName     string       `gorm:"size:64;not null"`
	Phone        string       `gorm:"size:32;not null"`
	UnitID       *int64       `gorm:"index"`
	UnitName     string       `gorm:"size:128;not null;default:''"`
	Branch       string       `gorm:"size:128;not null;default:''"`
	Mode         ReportMode   `gorm:"size:16;not null;index:ix_report_dashboard,priority:4"`
	Status       ReviewStatus `gorm:"size:16;not null;index:ix_report_community_status,priority:2;index:ix_report_dashboard,priority:2"`
	ActiveUserID *int64       `gorm:"uniqueIndex"`
	// PendingUserID equals UserID while the report awaits review and is NULL
	// otherwise; its unique index keeps one pending report per member.
	PendingUserID *int64 `gorm:"uniqueIndex"`
	RejectReason  string `gorm:"size:255;not null;default:''"`
	ReviewedBy    *int64
	ReviewedAt    *time.Time
	ClosedAt      *time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// AgreementStatus is the stage of a co-building agreement (共建协议).
type AgreementStatus string

// Agreement stages, in order: 商约 → 签约 → 履约 → 评约.
const (
	AgreementNegotiating AgreementStatus = "negotiating" // 商约
	AgreementSigned      AgreementStatus = "signed"      // 签约
	AgreementPerforming  AgreementStatus = "performing"  // 履约
	AgreementEvaluated   AgreementStatus = "evaluated"   // 评约
)

// Next returns the stage after s, or "" at the last stage or for an unknown
// one.
func (s AgreementStatus) Next() AgreementStatus {
	switch s {
	case AgreementNegotiating:
		return AgreementSigned
	case AgreementSigned:
		return AgreementPerforming
	case AgreementPerforming:
		return AgreementEvaluated
	}
	return ""
}

// Label returns the Chinese name of the stage.
func (s AgreementStatus) Label() string {
	switch s {
	case AgreementNegotiating:
		return "商约"
	case AgreementSigned:
		return "签约"
	case AgreementPerforming:
		return "履约"
	case AgreementEvaluated:
		return "评约"
	}
	return string(s)
}

// UnitAgreement is a co-building agreement between an approved unit and a
// community; staff move it through its stages. StartOn and EndOn are dates
// (YYYY-MM-DD). One agreement per unit, community and start date.
type UnitAgreement struct {
	ID          int64           `gorm:"primaryKey"`
	UnitID      int64           `gorm:"not null;uniqueIndex:ux_agreement,priority:1"`
	CommunityID int64           `gorm:"not null;uniqueIndex:ux_agreement,priority:2;index"`
	StartOn     string          `gorm:"size:10;not null;uniqueIndex:ux_agreement,priority:3"`
	EndOn       string          `gorm:"size:10;not null"`
	Scope       string          `gorm:"size:1000;not null;default:''"`
	Status      AgreementStatus `gorm:"size:16;not null"`
	CreatedBy   int64           `gorm:"not null;default:0"`
	UpdatedBy   int64           `gorm:"not null;default:0"`
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// PostStatus says whether members may claim a post.
type PostStatus string

// Post states.
const (
	PostOpen   PostStatus = "open"
	PostClosed PostStatus = "closed"
)

// Post is a duty (岗位) a community publishes for reported members: 楼栋长,
// 网格协管员, 垃圾分类督导… Taken counts the active claims and never exceeds
// Capacity: it changes only by a conditional UPDATE.
type Post struct {
	ID          int64      `gorm:"primaryKey"`
	CommunityID int64      `gorm:"not null;index"`
	Name        string     `gorm:"size:64;not null"`
	Description string     `gorm:"size:500;not null;default:''"`
	Capacity    int        `gorm:"not null"`
	Taken       int        `gorm:"not null;default:0"`
	Status      PostStatus `gorm:"size:16;not null"`
	CreatedBy   int64      `gorm:"not null;default:0"`
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// PostClaim is a member holding a post. ActiveUserID equals UserID while the
// claim holds and is NULL once released; the unique (post, active user) key
// stops a member from holding one post twice. Released claims are kept.
type PostClaim struct {
	ID           int64  `gorm:"primaryKey"`
	PostID       int64  `gorm:"not null;uniqueIndex:ux_post_claim_active,priority:1"`
	UserID       int64  `gorm:"not null;index"`
	ActiveUserID *int64 `gorm:"uniqueIndex:ux_post_claim_active,priority:2"`
	ReleasedAt   *time.Time
	CreatedAt    time.Time
}

// Certificate is a numbered service certificate (格式打卡证明) of a member
// for one quarter. Content is the frozen JSON of what it certifies; it never
// changes once issued. One certificate per member and period.
type Certificate struct {
	ID          int64  `gorm:"primaryKey"`
	Number      string `gorm:"size:32;not null;uniqueIndex"`
	UserID      int64  `gorm:"not null;uniqueIndex:ux_certificate_user_period,priority:1"`
	Period      string `gorm:"size:8;not null;uniqueIndex:ux_certificate_user_period,priority:2"`
	ReportID    int64  `gorm:"not null"`
	CommunityID int64  `gorm:"not null;index"`
	Content     string `gorm:"type:text;not null"`
	CreatedAt   time.Time
}

// ListStatus is the state of a need or a resource of the three lists.
type ListStatus string

// List item states: open until claimed once.
const (
	ListOpen    ListStatus = "open"
	ListClaimed ListStatus = "claimed"
)

// Need is something a community asks units for (需求清单).
type Need struct {
	ID          int64      `gorm:"primaryKey"`
	CommunityID int64      `gorm:"not null;index"`
	Title       string     `gorm:"size:64;not null"`
	Content     string     `gorm:"size:1000;not null;default:''"`
	Status      ListStatus `gorm:"size:16;not null"`
	CreatedBy   int64      `gorm:"not null;default:0"`
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Resource is something a unit offers its community (资源清单).
type Resource struct {
	ID          int64      `gorm:"primaryKey"`
	UnitID      int64      `gorm:"not null;index"`
	CommunityID int64      `gorm:"not null;index"`
	Title       string     `gorm:"size:64;not null"`
	Content     string     `gorm:"size:1000;not null;default:''"`
	Status      ListStatus `gorm:"size:16;not null"`
	CreatedBy   int64      `gorm:"not null;default:0"`
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// ProjectStatus is the state of a project (项目清单).
type ProjectStatus string

// Project states: ongoing until the unit or the community reports it
// completed, then awaiting_confirmation until staff of the community confirm
// it (done) or return it (ongoing again). Only done projects count.
const (
	ProjectOngoing              ProjectStatus = "ongoing"
	ProjectAwaitingConfirmation ProjectStatus = "awaiting_confirmation"
	ProjectDone                 ProjectStatus = "done"
)

// Project is a matched need or resource (双向认领): a unit and a community
// working on it. Exactly one of NeedID and ResourceID is set and unique, so
// a list item becomes at most one project. A done (confirmed) project whose
// CompletedAt falls in a quarter counts toward the unit's obligation of that
// quarter; ConfirmedBy is the community staff member who confirmed it.
type Project struct {
	ID             int64         `gorm:"primaryKey"`
	UnitID         int64         `gorm:"not null;index:ix_project_unit_done,priority:1"`
	CommunityID    int64         `gorm:"not null;index"`
	NeedID         *int64        `gorm:"uniqueIndex"`
	ResourceID     *int64        `gorm:"uniqueIndex"`
	Title          string        `gorm:"size:64;not null"`
	Status         ProjectStatus `gorm:"size:32;not null"`
	ClaimedBy      int64         `gorm:"not null;default:0"`
	CompletionNote string        `gorm:"size:1000;not null;default:''"`
	CompletedAt    *time.Time    `gorm:"index:ix_project_unit_done,priority:2"`
	CompletedBy    *int64
	ConfirmedBy    *int64
	ConfirmedAt    *time.Time
	// ReturnReason is why staff last returned a completion (empty if never).
	ReturnReason string `gorm:"size:255;not null;default:''"`
	CreatedAt    time.Time
	UpdatedAt    time.Time
}
