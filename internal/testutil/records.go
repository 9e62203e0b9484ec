package testutil

import (
	"fmt"
	"time"

	"linli/model"
)

// MustPartyMember gives userID an approved, active member report in
// communityID directly in the database (the party_member role).
func (h *Harness) MustPartyMember(userID, communityID int64) model.MemberReport {
	h.T.Helper()
	now := time.Now()
	r := model.MemberReport{
		UserID: userID, CommunityID: communityID, RealName: "党员" + randomHex(2), Phone: "13900000000",
		Branch: "测试支部", Mode: model.ModeDaily, Status: model.ReviewApproved, ActiveUserID: &userID, ReviewedAt: &now,
	}
	if err := h.DB.Create(&r).Error; err != nil {
		h.T.Fatalf("party member: %v", err)
	}
	return r
}

// MustUnit creates an approved unit of communityID whose liaisons are the
// given users (the unit_liaison role), directly in the database.
func (h *Harness) MustUnit(communityID int64, liaisons ...int64) model.Unit {
	h.T.Helper()
	now := time.Now()
	u := model.Unit{
		Name: "测试单位" + randomHex(3), Kind: model.UnitStateOwned, CommunityID: communityID,
		Status: model.ReviewApproved, ReviewedAt: &now,
	}
	if len(liaisons) > 0 {
		u.CreatedBy = liaisons[0]
	}
	if err := h.DB.Create(&u).Error; err != nil {
		h.T.Fatalf("unit: %v", err)
	}
	for _, l := range liaisons {
		if err := h.DB.Create(&model.UnitLiaison{UnitID: u.ID, UserID: l}).Error; err != nil {
			h.T.Fatalf("unit liaison: %v", err)
		}
	}
	return u
}

// MustVolunteer registers userID as a volunteer directly in the database.
func (h *Harness) MustVolunteer(userID int64) model.VolunteerProfile {
	h.T.Helper()
	p := model.VolunteerProfile{
		UserID: userID, RealName: fmt.Sprintf("志愿者%d", userID), Phone: "13800000000",
		Skills: `["其他"]`, Availability: "周末",
	}
	if err := h.DB.Create(&p).Error; err != nil {
		h.T.Fatalf("volunteer: %v", err)
	}
	return p
}
