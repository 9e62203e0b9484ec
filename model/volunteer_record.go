package model

import "time"

// VolunteerCertificate is a volunteer service certificate (民政部令第67号)
// of any registered volunteer for a period. Content is the JSON frozen at
// issue; ContentDigest is the SHA-256 of that JSON as issued, which the
// verification code signs, so erasing the holder's identifying data from
// Content later (HolderErased) leaves the certificate verifiable.
type VolunteerCertificate struct {
	ID     int64  `gorm:"primaryKey"`
	Number string `gorm:"size:32;not null;uniqueIndex"`
	UserID int64  `gorm:"not null;index"`
	// FromDate and ToDate are the period, both days included (YYYY-MM-DD).
	FromDate string `gorm:"size:10;not null"`
	ToDate   string `gorm:"size:10;not null"`
	// IssuedBy is the staff member who issued it on the volunteer's behalf
	// (代办); nil when the volunteer asked for it.
	IssuedBy      *int64
	Content       string `gorm:"type:text;not null"`
	ContentDigest string `gorm:"size:64;not null"`
	HolderErased  bool   `gorm:"not null;default:false"`
	CreatedAt     time.Time
}

// CertificateCounter numbers the certificates of one series (LLV-2026):
// N is the last number given out. The row is changed by one UPDATE n = n + 1,
// which serialises concurrent issues of the same series.
type CertificateCounter struct {
	Series string `gorm:"primaryKey;size:32"`
	N      int64  `gorm:"not null;default:0"`
}

// VolunteerTraining is a training session a volunteer attended, recorded by
// staff of the volunteer's home community or above.
type VolunteerTraining struct {
	ID          int64  `gorm:"primaryKey"`
	UserID      int64  `gorm:"not null;index:ix_training_user_day,priority:1"`
	CommunityID int64  `gorm:"not null;index"` // the org of the staff who recorded it
	Title       string `gorm:"size:64;not null"`
	Minutes     int    `gorm:"not null"`
	Day         string `gorm:"size:10;not null;index:ix_training_user_day,priority:2"` // YYYY-MM-DD
	Organiser   string `gorm:"size:64;not null"`
	RecordedBy  int64  `gorm:"not null"`
	CreatedAt   time.Time
}

// AwardLevel is the level of an award or commendation.
type AwardLevel string

// Award levels, from the nation down.
const (
	AwardNational   AwardLevel = "national"
	AwardProvincial AwardLevel = "provincial"
	AwardMunicipal  AwardLevel = "municipal"
	AwardDistrict   AwardLevel = "district"
	AwardStreet     AwardLevel = "street"
	AwardCommunity  AwardLevel = "community"
	AwardOther      AwardLevel = "other"
)

// VolunteerAward is an award or commendation of a volunteer, recorded by
// staff of the volunteer's home community or above.
type VolunteerAward struct {
	ID          int64      `gorm:"primaryKey"`
	UserID      int64      `gorm:"not null;index:ix_award_user_day,priority:1"`
	CommunityID int64      `gorm:"not null;index"`
	Title       string     `gorm:"size:64;not null"`
	Level       AwardLevel `gorm:"size:16;not null"`
	Day         string     `gorm:"size:10;not null;index:ix_award_user_day,priority:2"`
	Issuer      string     `gorm:"size:64;not null"`
	RecordedBy  int64      `gorm:"not null"`
	CreatedAt   time.Time
}

// CorrectionStatus is the state of a record correction request.
type CorrectionStatus string

// Correction states: pending until staff of the organiser accept or refuse.
const (
	CorrectionPending  CorrectionStatus = "pending"
	CorrectionAccepted CorrectionStatus = "accepted"
	CorrectionRefused  CorrectionStatus = "refused"
)

// RecordCorrection is a volunteer's request to correct one of their
// records: an activity attendance or a service record. OpenKey
// ("attendance:12", "service:34") is set while the request is pending and
// unique, so a record has at most one open request; a decision clears it.
type RecordCorrection struct {
	ID           int64  `gorm:"primaryKey"`
	UserID       int64  `gorm:"not null;index"`
	CommunityID  int64  `gorm:"not null;index:ix_correction_community_status,priority:1"` // the organiser's community
	AttendanceID *int64 `gorm:"index"`
	ServiceID    *int64 `gorm:"index"` // the service record concerned (also for an attendance, when it has one)
	Title        string `gorm:"size:128;not null"`
	OldMinutes   int    `gorm:"not null"`
	// NewMinutes is the minutes asked for; nil asks for no change of minutes.
	NewMinutes *int             `gorm:""`
	Reason     string           `gorm:"size:500;not null"`
	Status     CorrectionStatus `gorm:"size:16;not null;index:ix_correction_community_status,priority:2"`
	OpenKey    *string          `gorm:"size:64;uniqueIndex"`
	// The decision: who, when, the minutes granted and staff's note (the
	// reason of a refusal).
	DecidedBy      *int64
	DecidedAt      *time.Time
	GrantedMinutes *int
	DecisionNote   string `gorm:"size:500;not null;default:''"`
	// MinutesTxnID and PointsTxnID are the credits an accepted correction
	// of a self-logged record put in force (reversed by a later one).
	MinutesTxnID *int64
	PointsTxnID  *int64
	CreatedAt    time.Time
	UpdatedAt    time.Time
}
