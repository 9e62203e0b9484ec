package model

import "time"

// VolunteerProfile is a user's volunteer registration (志愿服务条例 art. 7):
// required before signing up for an activity. RealName and Phone are
// personal data: only the owner and staff see them.
type VolunteerProfile struct {
	ID       int64  `gorm:"primaryKey"`
	UserID   int64  `gorm:"not null;uniqueIndex"`
	RealName string `gorm:"size:64;not null"`
	Phone    string `gorm:"size:32;not null"`
	// Skills is a JSON array of tags from the service's skill list.
	Skills       string `gorm:"size:512;not null;default:'[]'"`
	SkillsNote   string `gorm:"size:255;not null;default:''"`
	Availability string `gorm:"size:255;not null;default:''"`
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// ActivityStatus is the state of a volunteer activity.
type ActivityStatus string

// Activity states: a unit liaison's proposal waits as proposed, staff drafts
// start as draft; both are published by staff, finish after their end, or are
// cancelled.
const (
	ActivityProposed  ActivityStatus = "proposed"
	ActivityDraft     ActivityStatus = "draft"
	ActivityPublished ActivityStatus = "published"
	ActivityFinished  ActivityStatus = "finished"
	ActivityCancelled ActivityStatus = "cancelled"
)

// Valid reports whether s is one of the activity states.
func (s ActivityStatus) Valid() bool {
	switch s {
	case ActivityProposed, ActivityDraft, ActivityPublished, ActivityFinished, ActivityCancelled:
		return true
	}
	return false
}

// Activity audiences.
const (
	AudienceAll          = "all"
	AudiencePartyMembers = "party_members"
)

// Activity is a volunteer activity of a community. ix_activity_list
// (community, status, end, start) covers the counted list queries and the
// ended half of the feed; ix_activity_community_start serves the feed's
// upcoming half in start order without sorting a community's many
// activities (the feed reads pageSize + 1 of them). Signed counts the seats
// taken and changes only by conditional UPDATEs, so the capacity is never
// exceeded. The waitlist is the waitlisted sign-ups themselves, in the
// order they signed up (WaitlistOrder): joining it touches no shared
// row, so a crowd signing up for a full activity does not queue on the
// activity's row lock. Waitlisted is counted from them when read
// (WaitlistedColumn); older databases may still hold the retired columns
// waitlisted and wait_seq, which nothing reads.
// UnitID is set when a unit organises it (a liaison's proposal, or staff on
// the unit's behalf): 双报到 counts those for the unit's obligation.
type Activity struct {
	ID             int64  `gorm:"primaryKey"`
	CommunityID    int64  `gorm:"not null;index:ix_activity_list,priority:1;index:ix_activity_community_start,priority:1;index:ix_activity_dashboard,priority:1"`
	UnitID         *int64 `gorm:"index"`
	Title          string `gorm:"size:64;not null"`
	Content        string `gorm:"size:4000;not null;default:''"`
	Category       string `gorm:"size:16;not null"`
	Address        string `gorm:"size:255;not null;default:''"`
	Lat            *float64
	Lng            *float64
	RadiusM        int            `gorm:"not null"`
	StartAt        time.Time      `gorm:"not null;index:ix_activity_list,priority:4;index:ix_activity_community_start,priority:2;index:ix_activity_dashboard,priority:2"`
	EndAt          time.Time      `gorm:"not null;index:ix_activity_list,priority:3;index:ix_activity_status_end,priority:2"`
	SignupDeadline time.Time      `gorm:"not null"`
	Capacity       int            `gorm:"not null;default:0"` // 0 = unlimited
	Waitlist       bool           `gorm:"not null;default:false"`
	Audience       string         `gorm:"size:16;not null"`
	PointsPerHour  int            `gorm:"not null"`
	Status         ActivityStatus `gorm:"size:16;not null;index:ix_activity_list,priority:2;index:ix_activity_status_end,priority:1;index:ix_activity_dashboard,priority:3"`
	Signed         int            `gorm:"not null;default:0;index:ix_activity_dashboard,priority:4"`
	// Waitlisted is read through WaitlistedColumn, never stored.
	Waitlisted   int   `gorm:"column:waitlisted_now;->;-:migration"`
	CreatedBy    int64 `gorm:"not null;index"`
	PublishedBy  *int64
	PublishedAt  *time.Time
	CancelledBy  *int64
	CancelledAt  *time.Time
	CancelReason string `gorm:"size:255;not null;default:''"`
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// WaitlistedColumn selects an activity's waitlist length as the column
// Waitlisted reads, next to the columns of `activities` in the FROM clause.
// A waitlist exists only while every seat is taken, so the count runs
// (over ix_attendance_wait) only for full activities with a waitlist.
const WaitlistedColumn = "CASE WHEN activities.waitlist AND activities.capacity > 0 AND activities.signed >= activities.capacity " +
	"THEN (SELECT COUNT(*) FROM attendances w WHERE w.activity_id = activities.id AND w.status = 'waitlisted') " +
	"ELSE 0 END AS waitlisted_now"

// SignupStatus is the state of a user's sign-up for an activity.
type SignupStatus string

// Sign-up states.
const (
	SignupSigned     SignupStatus = "signed"
	SignupWaitlisted SignupStatus = "waitlisted"
	SignupCancelled  SignupStatus = "cancelled"
)

// AttendState is how far a signed-up user's attendance has come.
type AttendState string

// Attendance states: none → checked_in → checked_out → approved; absent when
// never checked in after the end or when staff say so.
const (
	AttendNone       AttendState = "none"
	AttendCheckedIn  AttendState = "checked_in"
	AttendCheckedOut AttendState = "checked_out"
	AttendAbsent     AttendState = "absent"
	AttendApproved   AttendState = "approved"
)

// Check-in and check-out sources.
const (
	SourceQRCode = "qrcode"
	SourceManual = "manual"
	SourceAuto   = "auto"
)

// WaitlistOrder is the order of an activity's waitlist: first come, first
// served, by the sign-up row's id, which the database hands out in order (a
// sign-up made again after a cancellation is a new row, at the end).
const WaitlistOrder = "id"

// Attendance is one user's sign-up for one activity and, once signed, their
// attendance: check-in, check-out, approval. (ActivityID, UserID) is unique;
// a cancelled sign-up is replaced by a new row when the user signs up
// again. ix_attendance_wait (activity, status, and the id every secondary
// index carries) serves the waitlist in WaitlistOrder.
// ApprovalVersion counts the approvals that changed the credited minutes;
// MinutesTxnID and PointsTxnID name the ledger credits in force.
type Attendance struct {
	ID         int64        `gorm:"primaryKey"`
	ActivityID int64        `gorm:"not null;uniqueIndex:ux_attendance,priority:1;index:ix_attendance_wait,priority:1"`
	UserID     int64        `gorm:"not null;uniqueIndex:ux_attendance,priority:2;index:ix_attendance_user,priority:1;index:ix_attendance_user_end,priority:1"`
	Status     SignupStatus `gorm:"size:16;not null;index:ix_attendance_wait,priority:2"`
	// ActivityEndAt copies the activity's end (an activity's times never
	// change once created): ix_attendance_user_end finds a user's sign-ups
	// not yet over without reading the rest of their history (the
	// sign-up's overlap check). NULL only on rows written before it
	// existed and not backfilled (migration 0004), which the check reads
	// too.
	ActivityEndAt   *time.Time `gorm:"index:ix_attendance_user_end,priority:2"`
	SignedUpAt      time.Time  `gorm:"not null"`
	PromotedAt      *time.Time
	CancelledAt     *time.Time
	State           AttendState `gorm:"size:16;not null;index:ix_attendance_state"`
	CheckinAt       *time.Time
	CheckinSource   string `gorm:"size:16;not null;default:''"`
	CheckinBy       *int64
	CheckoutAt      *time.Time
	CheckoutSource  string `gorm:"size:16;not null;default:''"`
	CheckoutBy      *int64
	Flagged         bool       `gorm:"not null;default:false"`
	ComputedMinutes int        `gorm:"not null;default:0"`
	Minutes         int        `gorm:"not null;default:0"`
	Points          int64      `gorm:"not null;default:0"`
	Score           int        `gorm:"not null;default:0"`
	Reason          string     `gorm:"size:255;not null;default:''"`
	AbsentAt        *time.Time `gorm:"index:ix_attendance_user,priority:2"`
	ReviewedBy      *int64
	ReviewedAt      *time.Time
	ApprovalVersion int `gorm:"not null;default:0"`
	MinutesTxnID    *int64
	PointsTxnID     *int64
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// ActivityNotice is the former record that a user was to be told about an
// activity (cancelled, promoted from the waitlist), kept before the inbox
// existed. It is no longer in Tables(): the schema step
// 0002_activity_notices_to_inbox moves its rows into the inbox once; notices
// are now notifications written by the activity service.
type ActivityNotice struct {
	ID         int64  `gorm:"primaryKey"`
	ActivityID int64  `gorm:"not null;uniqueIndex:ux_activity_notice,priority:1"`
	UserID     int64  `gorm:"not null;uniqueIndex:ux_activity_notice,priority:2;index"`
	Kind       string `gorm:"size:32;not null;uniqueIndex:ux_activity_notice,priority:3"`
	Note       string `gorm:"size:255;not null;default:''"`
	// DeliveredAt is set by whoever delivers the notice (the inbox).
	DeliveredAt *time.Time `gorm:"index"`
	CreatedAt   time.Time
}
