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

// Upload is an image a user uploaded, decoded and re-encoded. Key names the
// object in the object store; only the owner may attach it (for goods, staff
// of the community), once.
type Upload struct {
	ID          int64         `gorm:"primaryKey"`
	OwnerID     int64         `gorm:"not null;index:ix_upload_owner_created,priority:1"`
	Key         string        `gorm:"size:96;not null;uniqueIndex"`
	ContentType string        `gorm:"size:32;not null"`
	Size        int64         `gorm:"not null"`
	Purpose     UploadPurpose `gorm:"size:16;not null;default:'';index:ix_upload_purpose_created,priority:1"`
	CreatedAt   time.Time     `gorm:"index:ix_upload_owner_created,priority:2;index:ix_upload_purpose_created,priority:2"`
}
