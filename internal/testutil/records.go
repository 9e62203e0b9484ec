package testutil

import (
	"fmt"

	"linli/model"
)

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
	h.Changed(userID)
	return p
}
