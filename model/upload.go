package model

import "time"

// UploadPurpose says what an upload is attached to: nothing yet (the sweep
// removes it after upload.unused_ttl), a wish, a wish's fulfilment, a
// service record, mall goods or a case (随手拍). Fulfilment, record and case
// photos are private: served only through signed URLs handed to those who
// may see the object.
type UploadPurpose string

// Upload purposes.
const (
	UploadUnused UploadPurpose = ""
	UploadWish   UploadPurpose = "wish"
	UploadFulfil UploadPurpose = "fulfil"
	UploadRecord UploadPurpose = "record"
	UploadGoods  UploadPurpose = "goods"
	UploadCase   UploadPurpose = "case"
)

// Private reports whether uploads of purpose p are served only through
// signed URLs.
func (p UploadPurpose) Private() bool {
	return p == UploadFulfil || p == UploadRecord || p == UploadCase
}

// UploadCheck is where an attached image stands in the image check (issue
// 16 item 6): none (goods, unattached uploads and images attached before
// the check existed: shown as their purpose allows), waiting for WeChat's
// asynchronous media check, waiting for a staff member, passed or found
// risky. Until it passes an image is shown to its owner and staff only; a
// risky one to nobody (its owner and staff see it marked, without a URL).
type UploadCheck string

// Image check states.
const (
	CheckNone    UploadCheck = ""
	CheckPending UploadCheck = "pending"
	CheckReview  UploadCheck = "review"
	CheckPass    UploadCheck = "pass"
	CheckRisky   UploadCheck = "risky"
)

// Shown reports whether an image in state c is shown to everyone who may
// see the item it is attached to.
func (c UploadCheck) Shown() bool { return c == CheckNone || c == CheckPass }

// Upload is an image a user uploaded, decoded and re-encoded. Key names the
// object in the object store; only the owner may attach it (for goods, staff
// of the community), once.
//
// The check columns: CommunityID is the community of the item the image was
// attached to (whose staff decide on it); TraceID is the trace_id WeChat
// answered the media check with (its callback names it); CheckAttempts and
// CheckNextAt schedule the submission to WeChat (a pending row without a
// trace id and CheckNextAt due is submitted by the check sender).
type Upload struct {
	ID          int64         `gorm:"primaryKey"`
	OwnerID     int64         `gorm:"not null;index:ix_upload_owner_created,priority:1"`
	Key         string        `gorm:"size:96;not null;uniqueIndex"`
	ContentType string        `gorm:"size:32;not null"`
	Size        int64         `gorm:"not null"`
	Purpose     UploadPurpose `gorm:"size:16;not null;default:'';index:ix_upload_purpose_created,priority:1"`
	CreatedAt   time.Time     `gorm:"index:ix_upload_owner_created,priority:2;index:ix_upload_purpose_created,priority:2"`

	CommunityID   int64       `gorm:"not null;default:0"`
	CheckStatus   UploadCheck `gorm:"size:16;not null;default:'';index:ix_upload_check_due,priority:1"`
	TraceID       *string     `gorm:"size:64;uniqueIndex"`
	CheckAttempts int         `gorm:"not null;default:0"`
	CheckNextAt   *time.Time  `gorm:"index:ix_upload_check_due,priority:2"`
	CheckedAt     *time.Time
	CheckedBy     *int64
}
