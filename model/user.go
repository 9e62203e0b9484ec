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
	// HomeSetAt is when the home community last changed (NULL: never through
	// PUT /me/community, so the next setting is free).
	HomeSetAt *time.Time
	// HomeVerifiedAt and HomeVerifiedBy record the staff member of the home
	// community who confirmed the user lives there; a home change clears
	// them.
	HomeVerifiedAt *time.Time
	HomeVerifiedBy *int64
	CreatedAt      time.Time
	UpdatedAt      time.Time

	// ConsentVersion is the privacy-policy version the user last accepted
	// (POST /me/consent) and ConsentAt when; "" and nil: never.
	ConsentVersion string `gorm:"size:32;not null;default:''"`
	ConsentAt      *time.Time
	// ErasedAt is when the account was erased (DELETE /me): its identifying
	// fields are gone, open_id is "erased:<id>" and it can no longer sign in.
	ErasedAt *time.Time
}
