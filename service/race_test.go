package service_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"gorm.io/gorm"

	"linli/internal/testutil"
	"linli/model"
	"linli/service"
)

// These tests make the competing change between a service's read and its
// conditional write (through a test hook), so that the conditional UPDATE
// itself must refuse: on SQLite, whose immediate transactions run one at a
// time, a plain race never reaches that point with a stale read.

// TestClaimOfAWishClaimedAfterTheRead: a rival claims the wish after Claim
// read it as published; the transition's "status = published" condition
// is all that stops a second claimer.
func TestClaimOfAWishClaimedAfterTheRead(t *testing.T) {
	w := testutil.NewWorld(t)
	a := w.Tree.CommunityA.ID
	staff := w.Staff("staff", a)
	poster := w.Login("poster", a)
	claimer := w.Member("claimer", a)
	rival := w.Member("rival", a)
	var wish struct{ ID int64 }
	w.Do("POST", "/wishes", map[string]any{
		"title": "修水管", "content": "家里水管漏水，需要帮忙修理", "category": "维修",
		"budgetFen": 2000, "contactPhone": "13811112222", "address": "幸福路8号",
	}, poster.AccessToken).Expect(t, 201, 0).Decode(t, &wish)
	w.Do("POST", fmt.Sprintf("/wishes/%d/approve", wish.ID), nil, staff.AccessToken).Expect(t, 200, 0)

	var hookErr error
	calls := 0
	service.SetBeforeClaimUpdate(w.Svc, func(ctx context.Context, tx *gorm.DB) {
		calls++
		now := w.Clock.Now()
		res := w.Rival(tx).WithContext(ctx).Model(&model.Wish{}).
			Where("id = ? AND status = ?", wish.ID, model.WishPublished).
			Updates(map[string]any{"status": model.WishClaimed, "claimer_id": rival.UserID,
				"claimed_at": now, "claim_deadline": now.Add(72 * time.Hour), "updated_at": now})
		if res.Error == nil && res.RowsAffected != 1 {
			hookErr = fmt.Errorf("rival claim changed %d rows", res.RowsAffected)
		} else if res.Error != nil {
			hookErr = res.Error
		}
	})
	w.Do("POST", fmt.Sprintf("/wishes/%d/claim", wish.ID), nil, claimer.AccessToken).
		Expect(t, 409, service.CodeWishAlreadyClaimed)
	if hookErr != nil || calls != 1 {
		t.Fatalf("hook: %d calls, %v", calls, hookErr)
	}
	var got model.Wish
	if err := w.DB.First(&got, wish.ID).Error; err != nil {
		t.Fatal(err)
	}
	// (On SQLite the rival's change was made in the refused transaction
	// and is gone with it; on MySQL it stays.)
	if got.ClaimerID != nil && *got.ClaimerID == claimer.UserID {
		t.Fatalf("the refused claimer holds the wish: %+v", got)
	}
	if n := w.Count(&model.WishClaim{}, "wish_id = ? AND claimer_id = ?", wish.ID, claimer.UserID); n != 0 {
		t.Fatalf("the refused claimer has %d claim rows", n)
	}
}

// TestSignupForASeatTakenAfterTheRead: the last seat of an activity is
// taken after Signup read it as free; the "signed < capacity" condition is
// all that keeps the activity from overfilling.
func TestSignupForASeatTakenAfterTheRead(t *testing.T) {
	for _, waitlist := range []bool{false, true} {
		t.Run(fmt.Sprintf("waitlist=%v", waitlist), func(t *testing.T) {
			w := testutil.NewWorld(t)
			a := w.Tree.CommunityA.ID
			staff := w.Staff("staff", a)
			late := w.Volunteer("late", a)
			rival := w.Volunteer("rival", a)
			now := w.Clock.Now().UTC().Truncate(time.Second)
			act := model.Activity{CommunityID: a, Title: "清洁家园", Content: "一起打扫社区", Category: "环境保护",
				Address: "社区广场", RadiusM: 500, StartAt: now.Add(2 * time.Hour), EndAt: now.Add(3 * time.Hour),
				SignupDeadline: now.Add(time.Hour), Capacity: 1, Waitlist: waitlist, Audience: "all", PointsPerHour: 10,
				Status: model.ActivityPublished, CreatedBy: staff.UserID, PublishedBy: &staff.UserID, PublishedAt: &now}
			if err := w.DB.Create(&act).Error; err != nil {
				t.Fatal(err)
			}

			var hookErr error
			calls := 0
			service.SetBeforeTakeSeat(w.Svc, func(ctx context.Context, tx *gorm.DB) {
				calls++
				db := w.Rival(tx).WithContext(ctx)
				hookErr = db.Create(&model.Attendance{ActivityID: act.ID, UserID: rival.UserID,
					Status: model.SignupSigned, SignedUpAt: now, State: model.AttendNone}).Error
				if hookErr == nil {
					hookErr = db.Model(&model.Activity{}).Where("id = ?", act.ID).
						Update("signed", gorm.Expr("signed + 1")).Error
				}
			})
			res := w.Do("POST", fmt.Sprintf("/activities/%d/signup", act.ID), nil, late.AccessToken)
			if waitlist {
				res.Expect(t, 201, 0)
				var out struct {
					Status   string
					Position int
				}
				res.Decode(t, &out)
				if out.Status != string(model.SignupWaitlisted) || out.Position != 1 {
					t.Fatalf("sign-up after the last seat went: %+v, want waitlisted at 1", out)
				}
			} else {
				res.Expect(t, 409, service.CodeActivityFull)
			}
			if hookErr != nil || calls != 1 {
				t.Fatalf("hook: %d calls, %v", calls, hookErr)
			}
			var got model.Activity
			if err := w.DB.Select("activities.*, "+model.WaitlistedColumn).First(&got, act.ID).Error; err != nil {
				t.Fatal(err)
			}
			// On SQLite the rival's seat was taken in the refused transaction
			// and is gone with it; on MySQL it stays.
			if got.Signed > got.Capacity {
				t.Fatalf("activity overfilled: signed %d of %d", got.Signed, got.Capacity)
			}
			if n := w.Count(&model.Attendance{}, "activity_id = ? AND user_id = ? AND status = ?", act.ID, late.UserID, model.SignupSigned); n != 0 {
				t.Fatalf("the late volunteer has a seat")
			}
			if waitlist && (got.Signed != 1 || got.Waitlisted != 1) {
				t.Fatalf("activity has signed %d waitlisted %d, want 1 and 1", got.Signed, got.Waitlisted)
			}
		})
	}
}
