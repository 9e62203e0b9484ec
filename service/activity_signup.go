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
// conditional updates of the activity's counter, so the capacity is never
// exceeded however many sign up at once on however many instances; when the
// activity is full the caller is waitlisted, last in the queue, or refused
// when it has no waitlist. It returns 10005 for an unknown activity, 40002
// when the caller has not registered as a volunteer, 40003 when sign-up is
// not open (not published, or past the deadline), 40004 when the activity is
// for Party members only, 40006 while blocked for no-shows, 40007 when
// already signed up or waitlisted, 40005 when it overlaps another activity
// of the caller, and 40001 when full without a waitlist; the context's
// error when the caller goes away while waiting (the sign-up may still be
// made if its group had started).
//
// Sign-ups for an activity that arrive while another is being written on
// this instance wait and are written together (signupGroups,
// signupTogether), up to activity.signup_group_max at a time, with the same
// answers as one at a time.
func (s *ActivityService) Signup(ctx context.Context, userID, activityID int64) (*SignupResult, error) {
	if s.groups == nil {
		return s.signupOne(ctx, userID, activityID)
	}
	c := &signupCall{ctx: ctx, userID: userID, done: make(chan struct{})}
	s.groups.submit(activityID, c)
	select {
	case <-c.done:
		return c.out, c.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// signupOne is Signup for one caller in a transaction of its own.
//
// The transaction runs at READ COMMITTED on MySQL so that a crowd signing
// up at once does not queue on the activity's row: a seat UPDATE that finds
// the activity full leaves the row unlocked, and joining the waitlist only
// inserts the caller's own row under a shared lock of the activity (shared
// with every other newcomer; see joinWaitlist).
func (s *ActivityService) signupOne(ctx context.Context, userID, activityID int64) (*SignupResult, error) {
	var out SignupResult
	err := s.deps.txReadCommitted(ctx, func(tx *gorm.DB) error {
		// Locking the registration first serialises the caller's own
		// sign-ups, so the overlap check below cannot race.
		var profile model.VolunteerProfile
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Select("id").Where("user_id = ?", userID).Limit(1).Find(&profile).Error; err != nil {
			return err
		}
		if profile.ID == 0 {
			return Errorf(CodeVolunteerRequired, "请先完成志愿者注册")
		}
		f, err := s.signupFacts(ctx, tx, userID, activityID)
		if err != nil {
			return err
		}
		if err := s.admit(ctx, tx, userID, f); err != nil {
			return err
		}
		a := &f.Activity
		full := a.Capacity > 0 && a.Signed >= a.Capacity
		if full && !a.Waitlist {
			return Errorf(CodeActivityFull, "活动名额已满")
		}
		if s.beforeTakeSeat != nil {
			s.beforeTakeSeat(ctx, tx)
		}
		seated := false
		if !full {
			if seated, err = s.takeSeat(tx, a.ID); err != nil {
				return err
			}
		}
		if !seated {
			if seated, err = s.joinWaitlist(tx, a); err != nil {
				return err
			}
		}
		out.Status = model.SignupWaitlisted
		if seated {
			out.Status = model.SignupSigned
		}
		if f.Who.ExistingID != nil {
			// A sign-up made again is a new row, so that it queues at the end
			// of the waitlist (model.WaitlistOrder); the cancelled one held
			// nothing (cancelling is refused once checked in).
			res := tx.Where("id = ? AND status = ?", *f.Who.ExistingID, model.SignupCancelled).Delete(&model.Attendance{})
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected != 1 {
				return Errorf(CodeAlreadySignedUp, "您已报名该活动")
			}
		}
		now := s.deps.Clock.Now().UTC()
		err = tx.Model(&model.Attendance{}).Create(map[string]any{"activity_id": a.ID, "user_id": userID,
			"status": out.Status, "signed_up_at": now, "state": model.AttendNone, "activity_end_at": a.EndAt,
			"created_at": now, "updated_at": now}).Error
		if isDuplicate(err) {
			return Errorf(CodeAlreadySignedUp, "您已报名该活动")
		}
		if err == nil {
			s.pages.Changed(tx, a.CommunityID)
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

// admit returns why userID may not sign up for f's activity, whatever the
// seats: 40003, 40004, 40006, 40007 or 40005 as Signup documents, or the
// database's error; nil when the caller may.
func (s *ActivityService) admit(ctx context.Context, tx *gorm.DB, userID int64, f *signupFacts) error {
	a := &f.Activity
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
	if limit := s.deps.Config.Activity.NoShowLimit; limit > 0 && f.Who.Absences >= limit {
		block, err := s.volunteers.noShowBlock(ctx, tx, userID)
		if err != nil {
			return err
		}
		if block.until != nil {
			return Errorf(CodeNoShowBlocked, "您近期多次报名后未到场，%s 前暂停报名", block.until.Format("2006-01-02 15:04"))
		}
	}
	if f.Who.ExistingID != nil && f.Who.ExistingStatus != model.SignupCancelled {
		return Errorf(CodeAlreadySignedUp, "您已报名该活动")
	}
	if f.Who.Clash != nil {
		return Errorf(CodeScheduleOverlap, "您已报名同一时段的活动“%s”", *f.Who.Clash)
	}
	return nil
}

// signupFacts is what a sign-up decides on, read in one statement: the
// activity, and the caller's facts (signupUserFacts).
type signupFacts struct {
	model.Activity
	Who signupUserFacts `gorm:"embedded"`
}

// signupUserFacts is what a sign-up needs to know of its caller: the
// caller's earlier sign-up for the activity; the title of another activity
// the caller is signed up or waitlisted for at an overlapping time; and how
// many absences the caller has within reach of a no-show block.
type signupUserFacts struct {
	UserID         int64
	ExistingID     *int64
	ExistingStatus model.SignupStatus
	Clash          *string
	Absences       int
}

// signupFactColumns selects signupUserFacts of the user u for the activity
// activities; signupFactArgs are its arguments. The overlap reads only the
// caller's sign-ups whose activity ends after this one starts
// (ix_attendance_user_end), not their whole history.
const signupFactColumns = `(SELECT e.id FROM attendances e WHERE e.activity_id = activities.id AND e.user_id = u.id) AS existing_id,
	(SELECT e.status FROM attendances e WHERE e.activity_id = activities.id AND e.user_id = u.id) AS existing_status,
	(SELECT c.title FROM attendances x JOIN activities c ON c.id = x.activity_id
		WHERE x.user_id = u.id AND (x.activity_end_at > activities.start_at OR x.activity_end_at IS NULL)
		AND x.status IN ? AND c.status IN ? AND c.id <> activities.id
		AND c.start_at < activities.end_at AND c.end_at > activities.start_at LIMIT 1) AS clash,
	(SELECT COUNT(*) FROM attendances b WHERE b.user_id = u.id AND b.state = ? AND b.absent_at >= ?) AS absences`

// signupFactArgs are the arguments of signupFactColumns.
func (s *ActivityService) signupFactArgs() []any {
	cfg := s.deps.Config.Activity
	since := s.deps.Clock.Now().UTC().Add(-cfg.NoShowWindow - cfg.NoShowBlock)
	active := []model.SignupStatus{model.SignupSigned, model.SignupWaitlisted}
	held := []model.ActivityStatus{model.ActivityPublished, model.ActivityFinished}
	return []any{active, held, model.AttendAbsent, since}
}

// signupFacts reads the facts of userID signing up for activityID. It
// returns 10005 for an unknown activity, or for a draft or proposal the
// caller may not see (see visibleActivity).
func (s *ActivityService) signupFacts(ctx context.Context, tx *gorm.DB, userID, activityID int64) (*signupFacts, error) {
	var f signupFacts
	q := "SELECT activities.*, " + signupFactColumns + " FROM activities JOIN users u ON u.id = ? WHERE activities.id = ?"
	if err := tx.WithContext(ctx).Raw(q, append(s.signupFactArgs(), userID, activityID)...).Scan(&f).Error; err != nil {
		return nil, err
	}
	if f.ID == 0 {
		return nil, notFound("活动")
	}
	if (f.Status == model.ActivityDraft || f.Status == model.ActivityProposed) && f.CreatedBy != userID {
		if _, err := s.visibleActivity(ctx, tx, userID, activityID); err != nil {
			return nil, err
		}
	}
	return &f, nil
}

// takeSeat takes a seat of a published activity by the conditional UPDATE
// of its counter and reports whether there was one.
func (s *ActivityService) takeSeat(tx *gorm.DB, activityID int64) (bool, error) {
	res := tx.Model(&model.Activity{}).
		Where("id = ? AND status = ? AND (capacity = 0 OR signed < capacity)", activityID, model.ActivityPublished).
		Update("signed", gorm.Expr("signed + 1"))
	return res.RowsAffected == 1, res.Error
}

// joinWaitlist decides, for a sign-up that found no seat, between a seat
// freed meanwhile (true) and the waitlist (false). It reads the activity
// under a shared lock, held to commit: newcomers share it and do not wait
// for each other, while a cancellation or a freed seat's promotion (which
// lock the row exclusively) waits for the newcomers before it looks for the
// head of the waitlist, so a seat is never left free while someone waits,
// and a cancelled activity keeps no waitlist. It returns 40001 when the
// activity is full and has no waitlist, 40003 when it is no longer
// published, or the database's error.
func (s *ActivityService) joinWaitlist(tx *gorm.DB, a *model.Activity) (bool, error) {
	var now model.Activity
	if err := tx.Clauses(clause.Locking{Strength: "SHARE"}).Select("id", "status", "capacity", "signed", "waitlist").
		Where("id = ?", a.ID).Limit(1).Find(&now).Error; err != nil {
		return false, err
	}
	if now.Status != model.ActivityPublished {
		return false, Errorf(CodeSignupClosed, "活动已不在报名中")
	}
	if now.Capacity == 0 || now.Signed < now.Capacity {
		seated, err := s.takeSeat(tx, a.ID)
		if err != nil || seated {
			return seated, err
		}
	}
	if !now.Waitlist {
		return false, Errorf(CodeActivityFull, "活动名额已满")
	}
	return false, nil
}

// queuePlace sets out to the caller's sign-up as it stands now: the place in
// the waitlist, or signed when a freed seat has promoted the caller
// meanwhile. Every sign-up joins the waitlist under a shared lock of the
// activity's row (joinWaitlist), taken before its row (and id) exists and
// held to its commit; queuePlace takes the row exclusively, in a read-only
// transaction that has no log to flush, so it waits for every sign-up
// still committing that may hold an earlier id, and the count of the
// waitlisted rows up to the caller's is exact: two sign-ups never learn the
// same place. The default isolation suffices (and saves READ COMMITTED's
// extra round trip): the locking read makes no snapshot, so the count that
// follows it sees everything committed before the lock was granted. It
// returns the database's error on failure.
func (s *ActivityService) queuePlace(ctx context.Context, activityID, userID int64, out *SignupResult) error {
	return s.deps.tx(ctx, func(tx *gorm.DB) error {
		if err := lockRow(tx, &model.Activity{}, activityID); err != nil {
			return err
		}
		var row struct {
			Status model.SignupStatus
			Place  int
		}
		err := tx.Raw(`SELECT me.status AS status, COUNT(w.id) AS place FROM attendances me
			LEFT JOIN attendances w ON w.activity_id = me.activity_id AND w.status = me.status AND w.id <= me.id
			WHERE me.activity_id = ? AND me.user_id = ? GROUP BY me.status`, activityID, userID).Scan(&row).Error
		if err != nil {
			return err
		}
		out.Status, out.Position = row.Status, nil
		if row.Status == model.SignupWaitlisted {
			out.Position = &row.Place
		}
		return nil
	})
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
		s.pages.Changed(tx, a.CommunityID)
		if att.Status == model.SignupWaitlisted {
			return nil
		}
		res = tx.Model(&model.Activity{}).Where("id = ? AND signed > 0", a.ID).Update("signed", gorm.Expr("signed - 1"))
		if res.Error != nil {
			return res.Error
		}
		return s.promote(ctx, tx, a.ID)
	})
}

// promote gives a free seat of a published activity to the first waitlisted
// user, if any. The caller holds the activity row exclusively (it has just
// updated it), so promotions of one activity happen one at a time and in
// order, and only after every newcomer joining the waitlist under the
// shared lock has committed (see joinWaitlist).
func (s *ActivityService) promote(ctx context.Context, db *gorm.DB, activityID int64) error {
	var next model.Attendance
	if err := db.Clauses(clause.Locking{Strength: "UPDATE"}).
		Where("activity_id = ? AND status = ?", activityID, model.SignupWaitlisted).
		Order(model.WaitlistOrder).Limit(1).Find(&next).Error; err != nil {
		return err
	}
	if next.ID == 0 {
		return nil
	}
	res := db.Model(&model.Activity{}).
		Where("id = ? AND status = ? AND (capacity = 0 OR signed < capacity)", activityID, model.ActivityPublished).
		Update("signed", gorm.Expr("signed + 1"))
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
