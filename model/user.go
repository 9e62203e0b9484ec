package model

import "time"

// User is one WeChat account (openid) of the mini-program.
type User struct {
	ID              int64  `gorm:"primaryKey"`
	OpenID          string `gorm:"size:64;not null;uniqueIndex"`
	UnionID         string `gorm:"size:64;not null;default:'';index"`
	Nickname        string `gorm:"size:64;not null;default:''"`
	AvatarURL       string `gorm:"size:512;not null;default:''"`
	Phone           string `gorm:"size:32;not null;default:''"`
	RealName        string `gorm:"size:64;not null;default:''"`
	HomeCommunityID *int64 `gorm:"index"`
	HomeGridID      *int64
	CreatedAt       time.Time
	UpdatedAt       time.Time
}
