package model

import "time"

// Upload is an image a user uploaded. Key names the object in the object
// store; only the owner may attach it to a wish or a proof.
type Upload struct {
	ID          int64  `gorm:"primaryKey"`
	OwnerID     int64  `gorm:"not null;index"`
	Key         string `gorm:"size:96;not null;uniqueIndex"`
	ContentType string `gorm:"size:32;not null"`
	Size        int64  `gorm:"not null"`
	CreatedAt   time.Time
}
