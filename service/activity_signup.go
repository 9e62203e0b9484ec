package service

import (
	"context"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"linli/model"
)

// SignupResult is the answer to a sign-up: signed, or waitlisted with the
// place in the waitlist.
type SignupResult struct {
	Status   model.SignupStatus `json:"status"`
	Position *int               `json:"position,omitempty"`
}

// Signup signs the caller up for a published activity. Seats are taken by
// one conditional UPDATE of the activity's counter, so the capacity is never
// exceeded however many sign up at once on however many instances; when the
// activity is full the caller is waitlisted with the next place, or refused
// when it has no waitlist. It returns 10005 for an unknown activity, 40002
// when the caller has not registered as a volunteer, 40003 when sign-up is
// not open (not published, or past the deadline), 40004 when the activity is
// for Party members only, 40006 while blocked for no-shows, 40007 when
// already signed up or waitlisted, 40005 when it overlaps another activity
// of the caller, and 40001 when full without a waitlist.
func (s *ActivityService) Signup(ctx context.Context, userID, activityID int64) (*SignupResult, error) {
	var out SignupResult
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		// Locking the registration first serialises the caller's own
		// sign-ups, so the overlap check below cannot race, and (on MySQL)
		// makes the reads below see what those committed.
		var profile model.VolunteerProfile
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("user_id = ?", userID).Limit(1).Find(&profile).Error; err != nil {
			return err
		}
		if profile.ID == 0 {
			return Errorf(CodeVolunteerRequired, "请先完成志愿者注册")
		}
		a, err := s.visibleActivity(ctx, tx, userID, activityID)
		if err != nil {
			return err
		}
		if err := s.checkSignupOpen(a); err != nil {
			return err
		}
		if a.Audience == model.AudiencePartyMembers {
			m, err := s.reports.partyMembership(ctx, tx, userID)
			if err != nil {
				return err
			}
			if m == nil {
				return Errorf(CodeAudienceRestricted, "该活动仅限已报到的党员参加")
			}
		}
		block, err := s.volunteers.noShowBlock(ctx, tx, userID)
		if err != nil {
			return err
		}
		if block.until != nil {
			return Errorf(CodeNoShowBlocked, "您近期多次报名后未到场，%s 前暂停报名", block.until.Format("2006-01-02 15:04"))
		}
		var existing model.Attendance
		if err := tx.Where("activity_id = ? AND user_id = ?", a.ID, userID).Limit(1).Find(&existing).Error; err != nil {
			return err
		}
		if existing.ID != 0 && existing.Status != model.SignupCancelled {
			return Errorf(CodeAlreadySignedUp, "您已报名该活动")
		}
		var clash model.Activity
		err = tx.Model(&model.Activity{}).
			Joins("JOIN attendances ON attendances.activity_id = activities.id").
			Where("attendances.user_id = ? AND attendances.status IN ? AND activities.status IN ? AND activities.id <> ?",
				userID, []model.SignupStatus{model.SignupSigned, model.SignupWaitlisted},
				[]model.ActivityStatus{model.ActivityPublished, model.ActivityFinished}, a.ID).
			Where("activities.start_at < ? AND activities.end_at > ?", a.EndAt, a.StartAt).
			Select("activities.*").Limit(1).Find(&clash).Error
		if err != nil {
			return err
		}
		if clash.ID != 0 {
			return Errorf(CodeScheduleOverlap, "您已报名同一时段的活动“%s”", clash.Title)
		}

		// Take a seat, or a waitlist place, by conditional UPDATEs of the
		// activity's counters. The two conditions are complementary and the
		// first UPDATE locks the row, so when one matches nothing the other
		// matches (unless the activity stopped being published). The
		// snapshot read above only picks the likelier one first and turns
		// away the full-without-waitlist case without touching the hot row.
		// Every sign-up of the activity queues on that row lock until commit,
		// so it is taken last: after the UPDATE only the write of the sign-up
		// follows, and a waitlist ticket is copied from the locked row by that
		// same statement; the place in the queue is counted after commit.
		full := a.Capacity > 0 && a.Signed >= a.Capacity
		if full && !a.Waitlist {
			return Errorf(CodeActivityFull, "活动名额已满")
		}
		if s.beforeTakeSeat != nil {
			s.beforeTakeSeat(ctx, tx)
		}
		takeSeat := func() (bool, error) {
			res := tx.Model(&model.Activity{}).
				Where("id = ? AND status = ? AND (capacity = 0 OR signed < capacity)", a.ID, model.ActivityPublished).
				Update("signed", gorm.Expr("signed + 1"))
			return res.RowsAffected == 1, res.Error
		}
		takeWaitlist := func() (bool, error) {
			if !a.Waitlist {
				return false, nil
			}
			res := tx.Model(&model.Activity{}).
				Where("id = ? AND status = ? AND capacity > 0 AND signed >= capacity", a.ID, model.ActivityPublished).
				Updates(map[string]any{"waitlisted": gorm.Expr("waitlisted + 1"), "wait_seq": gorm.Expr("wait_seq + 1")})
			return res.RowsAffected == 1, res.Error
		}
		seated, waiting := false, false
		for _, seat := range []bool{!full, full} {
			take := takeWaitlist
			if seat {
				take = takeSeat
			}
			ok, err := take()
			if err != nil {
				return err
			}
			if ok {
				seated, waiting = seat, !seat
				break
			}
		}
		var seq any = int64(0)
		switch {
		case seated:
			out.Status = model.SignupSigned
		case waiting:
			// The row is locked by the UPDATE until commit: the ticket read by
			// the write below is ours alone, and the caller is last in the queue.
			out.Status = model.SignupWaitlisted
			seq = gorm.Expr("(SELECT wait_seq FROM activities WHERE id = ?)", a.ID)
		case !a.Waitlist:
			return Errorf(CodeActivityFull, "活动名额已满")
		default:
			return Errorf(CodeSignupClosed, "活动已不在报名中")
		}
		now := s.deps.Clock.Now().UTC()
		if existing.ID != 0 {
			res := tx.Model(&model.Attendance{}).Where("id = ? AND status = ?", existing.ID, model.SignupCancelled).
				Updates(map[string]any{"status": out.Status, "wait_seq": seq, "signed_up_at": now, "promoted_at": nil,
					"cancelled_at": nil, "state": model.AttendNone})
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected != 1 {
				return Errorf(CodeAlreadySignedUp, "您已报名该活动")
			}
			return nil
		}
		err = tx.Model(&model.Attendance{}).Create(map[string]any{"activity_id": a.ID, "user_id": userID,
			"status": out.Status, "wait_seq": seq, "signed_up_at": now, "state": model.AttendNone,
			"created_at": now, "updated_at": now}).Error
		if isDuplicate(err) {
			return Errorf(CodeAlreadySignedUp, "您已报名该活动")
		}
		return err
	})
	if err == nil && out.Status == model.SignupWaitlisted {
		err = s.queuePlace(ctx, activityID, userID, &out)
	}
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// queuePlace sets out to the caller's sign-up as it stands now: the place in
// the waitlist counted from the rows (waitlisted with a ticket not after the
// caller's), or signed when a freed seat has promoted the caller meanwhile.
// Tickets are handed out under the activity's row lock, so once the caller's
// sign-up has committed every earlier ticket has too and the count is exact.
// It returns the database's error on failure.
func (s *ActivityService) queuePlace(ctx context.Context, activityID, userID int64, out *SignupResult) error {
	var row struct {
		Status model.SignupStatus
		Place  int
	}
	err := s.deps.DB.WithContext(ctx).Raw(`SELECT me.status AS status, COUNT(w.id) AS place FROM attendances me
		LEFT JOIN attendances w ON w.activity_id = me.activity_id AND w.status = me.status AND w.wait_seq <= me.wait_seq
		WHERE me.activity_id = ? AND me.user_id = ? GROUP BY me.status`, activityID, userID).Scan(&row).Error
	if err != nil {
		return err
	}
	out.Status, out.Position = row.Status, nil
	if row.Status == model.SignupWaitlisted {
		out.Position = &row.Place
	}
	return nil
}

// checkSignupOpen returns 40003 unless the activity is published and its
// sign-up deadline has not passed.
func (s *ActivityService) checkSignupOpen(a *model.Activity) error {
	switch a.Status {
	case model.ActivityPublished:
	case model.ActivityCancelled:
		return Errorf(CodeSignupClosed, "活动已取消")
	case model.ActivityFinished:
		return Errorf(CodeSignupClosed, "活动已结束")
	default:
		return Errorf(CodeSignupClosed, "活动尚未发布")
	}
	if !s.deps.Clock.Now().Before(a.SignupDeadline) {
		return Errorf(CodeSignupClosed, "报名已截止")
	}
	return nil
}

// CancelSignup withdraws the caller's sign-up before the deadline. A freed
// seat goes to the first waitlisted user in the same transaction: exactly
// one promotion per freed seat, however many cancel at once. It returns
// 10005 for an unknown activity, 40008 when the caller is not signed up or
// waitlisted, 40021 when the activity is no longer published, and 40009
// after the deadline or once checked in.
func (s *ActivityService) CancelSignup(ctx context.Context, userID, activityID int64) error {
	return s.deps.tx(ctx, func(tx *gorm.DB) error {
		var att model.Attendance
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).
			Where("activity_id = ? AND user_id = ?", activityID, userID).Limit(1).Find(&att).Error; err != nil {
			return err
		}
		a, err := s.visibleActivity(ctx, tx, userID, activityID)
		if err != nil {
			return err
		}
		if att.ID == 0 || att.Status == model.SignupCancelled {
			return Errorf(CodeNotSignedUp, "您未报名该活动")
		}
		if a.Status != model.ActivityPublished {
			return Errorf(CodeActivityState, "活动已取消或已结束")
		}
		if !s.deps.Clock.Now().Before(a.SignupDeadline) {
			return Errorf(CodeCancelClosed, "报名已截止，不能取消报名，如有变动请联系工作人员")
		}
		if att.State != model.AttendNone {
			return Errorf(CodeCancelClosed, "您已签到，不能取消报名")
		}
		now := s.deps.Clock.Now().UTC()
		res := tx.Model(&model.Attendance{}).Where("id = ? AND status = ?", att.ID, att.Status).
			Updates(map[string]any{"status": model.SignupCancelled, "cancelled_at": now})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return Errorf(CodeNotSignedUp, "您未报名该活动")
		}
		if att.Status == model.SignupWaitlisted {
			return tx.Model(&model.Activity{}).Where("id = ? AND waitlisted > 0", a.ID).
				Update("waitlisted", gorm.Expr("waitlisted - 1")).Error
		}
		res = tx.Model(&model.Activity{}).Where("id = ? AND signed > 0", a.ID).Update("signed", gorm.Expr("signed - 1"))
		if res.Error != nil {
			return res.Error
		}
		return s.promote(ctx, tx, a.ID)
	})
}

// promote gives a free seat of a published activity to the first waitlisted
// user, if any. The caller holds the activity row (it has just updated it),
// so promotions of one activity happen one at a time and in order.
func (s *ActivityService) promote(ctx context.Context, db *gorm.DB, activityID int64) error {
	var next model.Attendance
	if err := db.Clauses(clause.Locking{Strength: "UPDATE"}).
		Where("activity_id = ? AND status = ?", activityID, model.SignupWaitlisted).
		Order("wait_seq").Limit(1).Find(&next).Error; err != nil {
		return err
	}
	if next.ID == 0 {
		return nil
	}
	res := db.Model(&model.Activity{}).
		Where("id = ? AND status = ? AND waitlisted > 0 AND (capacity = 0 OR signed < capacity)", activityID, model.ActivityPublished).
		Updates(map[string]any{"signed": gorm.Expr("signed + 1"), "waitlisted": gorm.Expr("waitlisted - 1")})
	if res.Error != nil || res.RowsAffected != 1 {
		return res.Error
	}
	res = db.Model(&model.Attendance{}).Where("id = ? AND status = ?", next.ID, model.SignupWaitlisted).
		Updates(map[string]any{"status": model.SignupSigned, "promoted_at": s.deps.Clock.Now().UTC()})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected != 1 {
		return errPromotionLost
	}
	return s.noticeActivity(db, activityID, "", EventWaitlistPromoted, "", next.UserID)
}

// errPromotionLost means the waitlisted row changed under a lock that should
// have prevented it; the transaction is rolled back.
const errPromotionLost = errorString("activity: waitlisted sign-up changed during promotion")

type errorString string

func (e errorString) Error() string { return string(e) }
