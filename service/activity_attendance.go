package service

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"linli/internal/ledger"
	"linli/model"
)

// Check-in codes are "<activity id, base 36>.<expiry unix seconds, base
// 36>.<MAC>", the MAC being the first 12 bytes of HMAC-SHA256 over both
// (base64url): at most 31 characters for activity ids below 36^7, which fits
// a wxacode scene. Any instance can verify one; nothing is stored.
const checkinMACBytes = 12

// checkinKey derives the check-in signing key from the JWT secret, so no
// further secret has to be configured and every instance agrees.
func (s *ActivityService) checkinKey() []byte {
	m := hmac.New(sha256.New, []byte(s.deps.Config.JWT.Secret))
	m.Write([]byte("linli/activity-checkin/v1"))
	return m.Sum(nil)
}

func (s *ActivityService) checkinMAC(body string) string {
	m := hmac.New(sha256.New, s.checkinKey())
	m.Write([]byte(body))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:checkinMACBytes])
}

// signCheckin returns the code of an activity valid until exp.
func (s *ActivityService) signCheckin(activityID int64, exp time.Time) string {
	body := strconv.FormatInt(activityID, 36) + "." + strconv.FormatInt(exp.Unix(), 36)
	return body + "." + s.checkinMAC(body)
}

// verifyCheckin checks a code for activityID at now. It returns 40010 for a
// malformed or forged code, 40012 for another activity's code and 40011 for
// an expired one.
func (s *ActivityService) verifyCheckin(token string, activityID int64, now time.Time) error {
	bad := Errorf(CodeCheckinCodeInvalid, "签到码无效，请重新扫码")
	token = strings.TrimSpace(token)
	if len(token) > 64 {
		return bad
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return bad
	}
	body := parts[0] + "." + parts[1]
	if !hmac.Equal([]byte(parts[2]), []byte(s.checkinMAC(body))) {
		return bad
	}
	id, err1 := strconv.ParseInt(parts[0], 36, 64)
	exp, err2 := strconv.ParseInt(parts[1], 36, 64)
	if err1 != nil || err2 != nil {
		return bad
	}
	if id != activityID {
		return Errorf(CodeCheckinCodeMismatch, "该签到码不属于本活动")
	}
	if now.Unix() > exp {
		return Errorf(CodeCheckinCodeExpired, "签到码已过期，请扫描最新的二维码")
	}
	return nil
}

// CheckinCodeView is a rotating check-in code. QRCode is a data URL of the
// wxacode that opens the check-in page with the code as its scene; it is
// absent when WeChat is not configured or did not answer.
type CheckinCodeView struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expiresAt"`
	QRCode    string    `json:"qrcode,omitempty"`
}

// CheckinCode returns a fresh check-in code for the activity, valid for
// activity.checkin_code_ttl, with its wxacode when WeChat is configured. It
// returns 10005 for an unknown activity, 10004 unless the caller is staff of
// its community, and 40021 unless the activity is published or finished.
func (s *ActivityService) CheckinCode(ctx context.Context, actorID, activityID int64) (*CheckinCodeView, error) {
	a, err := s.staffActivity(ctx, s.deps.DB.WithContext(ctx), actorID, activityID)
	if err != nil {
		return nil, err
	}
	if a.Status != model.ActivityPublished && a.Status != model.ActivityFinished {
		return nil, Errorf(CodeActivityState, "活动未发布或已取消，不能签到")
	}
	now := s.deps.Clock.Now()
	exp := now.Add(s.deps.Config.Activity.CheckinCodeTTL).Truncate(time.Second)
	v := &CheckinCodeView{Token: s.signCheckin(a.ID, exp), ExpiresAt: exp.In(s.deps.Config.Location)}
	if s.deps.WeChat != nil {
		img, err := s.deps.WeChat.GetWXACodeUnlimit(ctx, v.Token, s.deps.Config.Activity.WXACodePage)
		if err != nil {
			s.deps.Logger.Warn("wxacode unavailable; check-in code answered without it", "activity_id", a.ID, "error", err.Error())
		} else {
			v.QRCode = "data:" + http.DetectContentType(img) + ";base64," + base64.StdEncoding.EncodeToString(img)
		}
	}
	return v, nil
}

// CheckinInput is a scan of the check-in code with the caller's location.
type CheckinInput struct {
	Token    string
	Lat, Lng *float64
}

// haversineM returns the great-circle distance in metres.
func haversineM(lat1, lng1, lat2, lng2 float64) float64 {
	const earthRadiusM = 6371008.8
	rad := math.Pi / 180
	dLat := (lat2 - lat1) * rad
	dLng := (lng2 - lng1) * rad
	h := math.Pow(math.Sin(dLat/2), 2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Pow(math.Sin(dLng/2), 2)
	return 2 * earthRadiusM * math.Asin(math.Min(1, math.Sqrt(h)))
}

// checkLocation returns 40015 when the activity has coordinates and the
// caller sent none (or invalid ones), and 40014 when they are farther than
// the radius.
func checkLocation(a *model.Activity, lat, lng *float64) error {
	if a.Lat == nil || a.Lng == nil {
		return nil
	}
	if lat == nil || lng == nil || math.IsNaN(*lat) || math.IsNaN(*lng) || *lat < -90 || *lat > 90 || *lng < -180 || *lng > 180 {
		return Errorf(CodeLocationRequired, "请允许获取位置后再签到")
	}
	if d := haversineM(*a.Lat, *a.Lng, *lat, *lng); d > float64(a.RadiusM) {
		return Errorf(CodeTooFar, "您距离活动地点约 %.0f 米，需在 %d 米内签到", d, a.RadiusM)
	}
	return nil
}

// activityMinutes is min(out, end) − max(in, start) rounded to the nearest
// minute, never negative.
func activityMinutes(a *model.Activity, in, out time.Time) int {
	from, to := in, out
	if a.StartAt.After(from) {
		from = a.StartAt
	}
	if a.EndAt.Before(to) {
		to = a.EndAt
	}
	if !to.After(from) {
		return 0
	}
	return wholeMinutes(to.Sub(from))
}

// wholeMinutes rounds d to the nearest minute.
func wholeMinutes(d time.Duration) int { return int(d.Round(time.Minute) / time.Minute) }

// lockedAttendance loads the user's sign-up for the activity with a row
// lock. It returns 40008 unless the user holds a seat (signed).
func lockedAttendance(ctx context.Context, db *gorm.DB, activityID, userID int64) (*model.Attendance, error) {
	var att model.Attendance
	if err := db.WithContext(ctx).Clauses(clause.Locking{Strength: "UPDATE"}).
		Where("activity_id = ? AND user_id = ?", activityID, userID).Limit(1).Find(&att).Error; err != nil {
		return nil, err
	}
	if err := holdsSeat(&att); err != nil {
		return nil, err
	}
	return &att, nil
}

// holdsSeat returns 40008 unless att (the zero value when there is none) is
// a sign-up with a seat.
func holdsSeat(att *model.Attendance) error {
	switch {
	case att.ID == 0 || att.Status == model.SignupCancelled:
		return Errorf(CodeNotSignedUp, "未报名该活动")
	case att.Status == model.SignupWaitlisted:
		return Errorf(CodeNotSignedUp, "仍在候补名单中，未获得名额")
	}
	return nil
}

// attendanceActivity loads an activity for check-in, check-out or approval:
// 10005 for unknown ones and drafts, 40021 for cancelled ones.
func attendanceActivity(ctx context.Context, db *gorm.DB, id int64) (*model.Activity, error) {
	a, err := loadActivity(ctx, db, id)
	if err != nil {
		return nil, err
	}
	if err := attendanceOpen(a); err != nil {
		return nil, err
	}
	return a, nil
}

// attendanceOpen returns nil for a published or finished activity, 40021
// for a cancelled one and 10005 for a draft or proposal.
func attendanceOpen(a *model.Activity) error {
	switch a.Status {
	case model.ActivityPublished, model.ActivityFinished:
		return nil
	case model.ActivityCancelled:
		return Errorf(CodeActivityState, "活动已取消")
	}
	return notFound("活动")
}

// Checkin checks the caller in with a scanned code: from
// activity.checkin_opens_before the start until the end, within the radius
// when the activity has coordinates, once. It returns 40010/40011/40012 for a
// bad, expired or foreign code, 10005 for an unknown activity, 40021 when it
// is cancelled, 40008 when the caller holds no seat, 40013 outside the
// window, 40015 without a location, 40014 when too far and 40016 when
// already checked in.
func (s *ActivityService) Checkin(ctx context.Context, userID, activityID int64, in CheckinInput) (*SignupView, error) {
	now := s.deps.Clock.Now()
	if err := s.verifyCheckin(in.Token, activityID, now); err != nil {
		return nil, err
	}
	return s.checkin(ctx, activityID, userID, now, model.SourceQRCode, nil, &in)
}

// ManualCheckin checks a signed-up user in on their behalf, at `at` (now
// when nil), recorded as manual with the staff member. It returns 10004
// unless the caller is staff of the community, 10001 for a time in the
// future, and otherwise the codes of Checkin that concern the attendance.
func (s *ActivityService) ManualCheckin(ctx context.Context, actorID, activityID, userID int64, at *time.Time) (*AttendanceView, error) {
	return s.manual(ctx, actorID, activityID, userID, at, "签到时间不能晚于当前时间", s.checkin)
}

// manual runs a staff check-in or check-out (step) for userID at `at` (now
// when nil), recorded as manual with the staff member, and returns the
// attendance. It returns 10001 with futureMsg for a time in the future, 10004
// unless the caller is staff of the activity's community, 30012 when staff
// check themselves in or out (their minutes would rest on their own word),
// and step's codes.
func (s *ActivityService) manual(ctx context.Context, actorID, activityID, userID int64, at *time.Time, futureMsg string,
	step func(ctx context.Context, activityID, userID int64, t time.Time, source string, by *int64, in *CheckinInput) (*SignupView, error),
) (*AttendanceView, error) {
	t := s.deps.Clock.Now()
	if at != nil {
		if at.After(t) {
			return nil, invalid("%s", futureMsg)
		}
		t = *at
	}
	if _, err := s.staffActivity(ctx, s.deps.DB.WithContext(ctx), actorID, activityID); err != nil {
		return nil, err
	}
	if userID == actorID {
		return nil, selfAction("为自己补签到或签退")
	}
	if _, err := step(ctx, activityID, userID, t, model.SourceManual, &actorID, nil); err != nil {
		return nil, err
	}
	return s.attendance(ctx, activityID, userID)
}

func (s *ActivityService) checkin(ctx context.Context, activityID, userID int64, t time.Time, source string, by *int64, in *CheckinInput) (*SignupView, error) {
	var out SignupView
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		a, err := attendanceActivity(ctx, tx, activityID)
		if err != nil {
			return err
		}
		att, err := lockedAttendance(ctx, tx, activityID, userID)
		if err != nil {
			return err
		}
		switch att.State {
		case model.AttendNone:
		case model.AttendAbsent:
			return Errorf(CodeAlreadyCheckedIn, "考勤已由工作人员处理，如有疑问请联系工作人员")
		default:
			return Errorf(CodeAlreadyCheckedIn, "已签到，无需重复签到")
		}
		opens := a.StartAt.Add(-s.deps.Config.Activity.CheckinOpensBefore)
		if t.Before(opens) {
			return Errorf(CodeCheckinWindow, "签到尚未开始，%s 起可签到", opens.In(s.deps.Config.Location).Format("01-02 15:04"))
		}
		if t.After(a.EndAt) {
			return Errorf(CodeCheckinWindow, "活动已结束，签到已关闭")
		}
		if in != nil {
			if err := checkLocation(a, in.Lat, in.Lng); err != nil {
				return err
			}
		}
		res := tx.Model(&model.Attendance{}).Where("id = ? AND state = ?", att.ID, model.AttendNone).
			Updates(map[string]any{"state": model.AttendCheckedIn, "checkin_at": t.UTC(), "checkin_source": source, "checkin_by": by})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return Errorf(CodeAlreadyCheckedIn, "已签到，无需重复签到")
		}
		if by != nil {
			err := s.deps.audit(ctx, tx, attendanceEvent(*by, a, att, AuditAttendanceCheckin,
				map[string]any{"state": att.State}, map[string]any{"state": model.AttendCheckedIn, "checkinAt": t.UTC()}, ""))
			if err != nil {
				return err
			}
		}
		if err := tx.First(att, att.ID).Error; err != nil {
			return err
		}
		out = s.signupView(att, nil)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Checkout checks the caller out with a scanned code, up to
// activity.checkout_grace after the end, within the radius when the activity
// has coordinates, once; the minutes are computed then. It returns the codes
// of Checkin, with 40017 when not checked in and 40018 when already out.
func (s *ActivityService) Checkout(ctx context.Context, userID, activityID int64, in CheckinInput) (*SignupView, error) {
	now := s.deps.Clock.Now()
	if err := s.verifyCheckin(in.Token, activityID, now); err != nil {
		return nil, err
	}
	return s.checkout(ctx, activityID, userID, now, model.SourceQRCode, nil, &in)
}

// ManualCheckout checks a user out on their behalf at `at` (now when nil),
// recorded as manual. It returns 10004 unless the caller is staff, 10001 for
// a time in the future or before the check-in, and the codes of Checkout.
func (s *ActivityService) ManualCheckout(ctx context.Context, actorID, activityID, userID int64, at *time.Time) (*AttendanceView, error) {
	return s.manual(ctx, actorID, activityID, userID, at, "签退时间不能晚于当前时间", s.checkout)
}

func (s *ActivityService) checkout(ctx context.Context, activityID, userID int64, t time.Time, source string, by *int64, in *CheckinInput) (*SignupView, error) {
	var out SignupView
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		a, err := attendanceActivity(ctx, tx, activityID)
		if err != nil {
			return err
		}
		att, err := lockedAttendance(ctx, tx, activityID, userID)
		if err != nil {
			return err
		}
		switch att.State {
		case model.AttendNone:
			return Errorf(CodeNotCheckedIn, "尚未签到，不能签退")
		case model.AttendCheckedIn:
		default:
			return Errorf(CodeAlreadyCheckedOut, "已签退，无需重复签退")
		}
		if t.After(a.EndAt.Add(s.deps.Config.Activity.CheckoutGrace)) {
			return Errorf(CodeCheckinWindow, "签退时间已过，请联系工作人员")
		}
		if att.CheckinAt != nil && t.Before(*att.CheckinAt) {
			return invalid("签退时间不能早于签到时间")
		}
		if in != nil {
			if err := checkLocation(a, in.Lat, in.Lng); err != nil {
				return err
			}
		}
		minutes := activityMinutes(a, *att.CheckinAt, t)
		res := tx.Model(&model.Attendance{}).Where("id = ? AND state = ?", att.ID, model.AttendCheckedIn).
			Updates(map[string]any{"state": model.AttendCheckedOut, "checkout_at": t.UTC(), "checkout_source": source,
				"checkout_by": by, "computed_minutes": minutes})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return Errorf(CodeAlreadyCheckedOut, "已签退，无需重复签退")
		}
		if by != nil {
			err := s.deps.audit(ctx, tx, attendanceEvent(*by, a, att, AuditAttendanceCheckout,
				map[string]any{"state": att.State}, map[string]any{"state": model.AttendCheckedOut, "checkoutAt": t.UTC(), "computedMinutes": minutes}, ""))
			if err != nil {
				return err
			}
		}
		if err := tx.First(att, att.ID).Error; err != nil {
			return err
		}
		out = s.signupView(att, nil)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ApprovalItem is staff's decision on one attendance: final minutes (a
// change from the computed ones needs a reason) and a score 1–5.
type ApprovalItem struct {
	UserID  int64
	Minutes int
	Score   int
	Reason  string
}

// Approve approves one attendance. Approval writes the public_activity
// service record and credits minutes and points (points per hour × hours,
// rounded down) through the ledger, once: a retry or a concurrent approval
// with the same minutes changes nothing, and different minutes later are a
// correction (reversal of the credits in force plus a new credit). It
// returns 10005 for an unknown activity, 10004 unless the caller is staff,
// 10001 for minutes outside 1..duration or a score outside 1..5, 40021 for a
// cancelled activity, 40008 when the user holds no seat, 40019 while the
// attendance cannot be approved yet (checked in but not out, or not checked
// in before the end), 40020 when changed minutes come without a reason,
// 30012 when the caller approves their own attendance, and 30001 when a
// correction would take back points already spent.
func (s *ActivityService) Approve(ctx context.Context, actorID, activityID int64, item ApprovalItem) (*AttendanceView, error) {
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		a, err := s.approvalActivity(ctx, tx, actorID, activityID)
		if err != nil {
			return err
		}
		if item.UserID == actorID {
			return selfAction("审核自己的考勤")
		}
		atts, err := lockAttendances(ctx, tx, activityID, []int64{item.UserID})
		if err != nil {
			return err
		}
		return s.approveAlone(ctx, tx, a, actorID, item, atts[item.UserID])
	})
	if err != nil {
		return nil, err
	}
	return s.attendance(ctx, activityID, item.UserID)
}

// MaxBatchApprovals is the largest batch ApproveBatch takes.
const MaxBatchApprovals = 200

// ApproveBatch approves several attendances of one activity in one
// transaction: all or none. It returns the codes of Approve (the message
// names the user concerned) and 10001 for an empty, over-long or repeated
// list.
func (s *ActivityService) ApproveBatch(ctx context.Context, actorID, activityID int64, items []ApprovalItem) ([]AttendanceView, error) {
	if len(items) == 0 || len(items) > MaxBatchApprovals {
		return nil, invalid("每次需审核 1 到 %d 条考勤", MaxBatchApprovals)
	}
	items = slices.Clone(items)
	slices.SortFunc(items, func(x, y ApprovalItem) int { return cmp.Compare(x.UserID, y.UserID) })
	for i := range items {
		if items[i].UserID <= 0 {
			return nil, invalid("userId 需为正整数")
		}
		if i > 0 && items[i].UserID == items[i-1].UserID {
			return nil, invalid("用户 %d 重复出现", items[i].UserID)
		}
	}
	users := make([]int64, 0, len(items))
	for _, it := range items {
		users = append(users, it.UserID)
	}
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		a, err := s.approvalActivity(ctx, tx, actorID, activityID)
		if err != nil {
			return err
		}
		if _, self := slices.BinarySearchFunc(items, actorID, func(it ApprovalItem, id int64) int { return cmp.Compare(it.UserID, id) }); self {
			return selfAction("审核自己的考勤")
		}
		// Lock every attendance of the batch first, in user order, so a
		// single approval racing the batch waits for it (or it for the single
		// one) instead of deadlocking on the ledger's accounts. The locked
		// rows are the ones approved: one read for the batch.
		atts, err := lockAttendances(ctx, tx, activityID, users)
		if err != nil {
			return err
		}
		// Then the ledger accounts of the batch, all at once in id order:
		// the credits below read and lock none of them again.
		accounts, err := s.timeBank.lockCreditAccounts(ctx, tx, a.CommunityID, a.PointsPerHour > 0, users)
		if err != nil {
			return err
		}
		return s.approveAll(ctx, tx, a, actorID, items, atts, accounts, true)
	})
	if err != nil {
		return nil, err
	}
	db := s.deps.DB.WithContext(ctx)
	var atts []model.Attendance
	if err := db.Where("activity_id = ? AND user_id IN ?", activityID, users).Order("user_id").Find(&atts).Error; err != nil {
		return nil, err
	}
	return s.attendanceViews(ctx, db, atts)
}

// lockAttendances loads the sign-ups of the users for the activity with row
// locks taken in user order, by user; a user without one is missing from
// the map. It returns the database's error on failure.
func lockAttendances(ctx context.Context, tx *gorm.DB, activityID int64, users []int64) (map[int64]*model.Attendance, error) {
	var rows []model.Attendance
	if err := tx.WithContext(ctx).Clauses(clause.Locking{Strength: "UPDATE"}).
		Where("activity_id = ? AND user_id IN ?", activityID, users).Order("user_id").Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make(map[int64]*model.Attendance, len(rows))
	for i := range rows {
		out[rows[i].UserID] = &rows[i]
	}
	return out, nil
}

// MarkAbsent records that a signed-up user did not attend: 0 minutes, no
// credit; an earlier approval is reversed in the ledger and its service
// record withdrawn. Absences count toward the no-show block. It returns
// 10005, 10004, 40021 and 40008 as Approve does, 10001 for an over-long
// reason, 40019 before the activity starts, and 30001 when the reversal
// would take back points already spent.
func (s *ActivityService) MarkAbsent(ctx context.Context, actorID, activityID, userID int64, reason string) (*AttendanceView, error) {
	reason = strings.TrimSpace(reason)
	if !textFits(reason, 0, 200) {
		return nil, invalid("原因最多 200 个字符")
	}
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		a, err := s.approvalActivity(ctx, tx, actorID, activityID)
		if err != nil {
			return err
		}
		att, err := lockedAttendance(ctx, tx, activityID, userID)
		if err != nil {
			return err
		}
		now := s.deps.Clock.Now()
		if now.Before(a.StartAt) {
			return Errorf(CodeApprovalNotReady, "活动尚未开始，不能标记缺席")
		}
		if att.State == model.AttendAbsent {
			if reason != "" && reason != att.Reason {
				return tx.Model(&model.Attendance{}).Where("id = ?", att.ID).Update("reason", reason).Error
			}
			return nil
		}
		version := att.ApprovalVersion
		if att.State == model.AttendApproved {
			if err := s.reverseCredits(ctx, tx, att); err != nil {
				return err
			}
			version++
			if err := s.withdrawRecord(ctx, tx, att, actorID); err != nil {
				return err
			}
		}
		res := tx.Model(&model.Attendance{}).Where("id = ? AND approval_version = ?", att.ID, att.ApprovalVersion).
			Updates(map[string]any{"state": model.AttendAbsent, "minutes": 0, "points": 0, "score": 0, "reason": reason,
				"absent_at": a.EndAt.UTC(), "reviewed_by": actorID, "reviewed_at": now.UTC(), "approval_version": version,
				"minutes_txn_id": nil, "points_txn_id": nil})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return conflict("考勤已被他人修改，请刷新后重试")
		}
		return s.deps.audit(ctx, tx, attendanceEvent(actorID, a, att, AuditAttendanceAbsent,
			map[string]any{"state": att.State, "minutes": att.Minutes}, map[string]any{"state": model.AttendAbsent, "minutes": 0}, reason))
	})
	if err != nil {
		return nil, err
	}
	return s.attendance(ctx, activityID, userID)
}

// approvalActivity loads an activity for approval by its staff: the codes
// of staffActivity, then those of attendanceOpen.
func (s *ActivityService) approvalActivity(ctx context.Context, tx *gorm.DB, actorID, activityID int64) (*model.Activity, error) {
	a, err := s.staffActivity(ctx, tx, actorID, activityID)
	if err != nil {
		return nil, err
	}
	if err := attendanceOpen(a); err != nil {
		return nil, err
	}
	return a, nil
}

// approvalWrites are the audit entries and the volunteers' notifications of
// the approvals of one transaction, written together by writeApprovals.
type approvalWrites struct {
	audits  []auditEvent
	notices []Notice
}

// writeApprovals writes w inside tx: one statement for the audit entries,
// one for the notifications (and one for their outbox rows). It returns the
// database's error.
func (s *ActivityService) writeApprovals(ctx context.Context, tx *gorm.DB, w *approvalWrites) error {
	if err := s.deps.audit(ctx, tx, w.audits...); err != nil {
		return err
	}
	return s.notify.Notify(tx, w.notices...)
}

// approveAlone approves a single attendance, with its audit entry and
// notification written.
func (s *ActivityService) approveAlone(ctx context.Context, tx *gorm.DB, a *model.Activity, actorID int64, it ApprovalItem, att *model.Attendance) error {
	return s.approveAll(ctx, tx, a, actorID, []ApprovalItem{it}, map[int64]*model.Attendance{it.UserID: att}, nil, false)
}

// approveAll approves the items inside tx: each checked (prepareApproval),
// then their credits posted together and the rest written
// (creditApprovals), then the audit entries and notifications
// (writeApprovals). atts are the users' sign-ups, locked by the caller;
// accounts, when not nil, the ledger accounts tx locked for the credits.
// An error names the user concerned when named (a batch).
func (s *ActivityService) approveAll(ctx context.Context, tx *gorm.DB, a *model.Activity, actorID int64, items []ApprovalItem,
	atts map[int64]*model.Attendance, accounts *ledger.Accounts, named bool) error {
	var w approvalWrites
	var ps []*approval
	for _, it := range items {
		p, err := s.prepareApproval(ctx, tx, a, actorID, it, atts[it.UserID], accounts, &w)
		if err != nil {
			return userError(err, it.UserID, named)
		}
		if p != nil {
			ps = append(ps, p)
		}
	}
	if len(ps) > 0 {
		if err := s.creditApprovals(ctx, tx, a, actorID, ps, named, &w); err != nil {
			return err
		}
	}
	return s.writeApprovals(ctx, tx, &w)
}

// approval is an attendance on its way to approval: checked by
// prepareApproval, then credited with the others of its transaction and
// written by creditApprovals.
type approval struct {
	it      ApprovalItem
	att     *model.Attendance
	points  int64
	credits []ledger.Credit // the minutes, then the points when there are any
}

// prepareApproval checks the approval of one attendance inside tx (see
// Approve) and returns what remains to write, or nil when nothing does (a
// replay, or a change of score or reason only, written here). att is the
// user's sign-up, locked by the caller, or nil when there is none; accounts,
// when not nil, are the ledger accounts tx locked for the credits. An
// earlier approval with other minutes is reversed here. Audit entries go
// to w for the caller to write (writeApprovals).
func (s *ActivityService) prepareApproval(ctx context.Context, tx *gorm.DB, a *model.Activity, actorID int64, it ApprovalItem, att *model.Attendance, accounts *ledger.Accounts, w *approvalWrites) (*approval, error) {
	it.Reason = strings.TrimSpace(it.Reason)
	duration := wholeMinutes(a.EndAt.Sub(a.StartAt))
	switch {
	case it.Score < 1 || it.Score > 5:
		return nil, invalid("评分需为 1 到 5")
	case it.Minutes < 1 || it.Minutes > duration:
		return nil, invalid("时长需在 1 到 %d 分钟之间（缺席请用标记缺席）", duration)
	case !textFits(it.Reason, 0, 200):
		return nil, invalid("原因最多 200 个字符")
	}
	if att == nil {
		att = &model.Attendance{}
	}
	if err := holdsSeat(att); err != nil {
		return nil, err
	}
	now := s.deps.Clock.Now()
	switch att.State {
	case model.AttendCheckedIn:
		return nil, Errorf(CodeApprovalNotReady, "尚未签退，请先签退后再审核")
	case model.AttendNone:
		if now.Before(a.EndAt) {
			return nil, Errorf(CodeApprovalNotReady, "尚未签到，活动结束后才能直接审核")
		}
	}
	if att.State == model.AttendApproved && att.Minutes == it.Minutes {
		// A replay, or a change of score or reason only: the credits stand.
		updates := map[string]any{}
		if att.Score != it.Score {
			updates["score"] = it.Score
		}
		if it.Reason != "" && it.Reason != att.Reason {
			updates["reason"] = it.Reason
		}
		if len(updates) == 0 {
			return nil, nil
		}
		updates["reviewed_by"], updates["reviewed_at"] = actorID, now.UTC()
		if err := tx.Model(&model.Attendance{}).Where("id = ?", att.ID).Updates(updates).Error; err != nil {
			return nil, err
		}
		w.audits = append(w.audits, attendanceEvent(actorID, a, att, AuditAttendanceApprove,
			map[string]any{"minutes": att.Minutes, "score": att.Score}, map[string]any{"minutes": it.Minutes, "score": it.Score}, it.Reason))
		return nil, nil
	}
	if it.Minutes != att.ComputedMinutes && it.Reason == "" {
		return nil, Errorf(CodeMinutesReasonMissing, "核定时长（%d 分钟）与签到记录（%d 分钟）不同，请填写原因", it.Minutes, att.ComputedMinutes)
	}
	if att.State == model.AttendApproved {
		if err := s.reverseCredits(ctx, tx, att); err != nil {
			return nil, err
		}
	}
	src := ledger.Source{Kind: "attendance", ID: fmt.Sprintf("%d:v%d", att.ID, att.ApprovalVersion+1)}
	memo := "志愿活动：" + a.Title
	p := &approval{it: it, att: att, points: int64(a.PointsPerHour) * int64(it.Minutes) / 60}
	p.credits = append(p.credits, ledger.Credit{UserID: att.UserID, CommunityID: a.CommunityID, Currency: model.CurrencyMinutes,
		Amount: int64(it.Minutes), Source: src, Memo: memo, Locked: accounts})
	if p.points > 0 {
		p.credits = append(p.credits, ledger.Credit{UserID: att.UserID, CommunityID: a.CommunityID, Currency: model.CurrencyPoints,
			Amount: p.points, Source: src, Memo: memo, Locked: accounts})
	}
	return p, nil
}

// creditApprovals posts the credits of ps together (TimeBankService.CreditAll),
// then writes each approval: its service record, the attendance (approved,
// with its credits' transactions), its audit entry and notification into w.
// An error names the user concerned when named (a batch).
func (s *ActivityService) creditApprovals(ctx context.Context, tx *gorm.DB, a *model.Activity, actorID int64, ps []*approval, named bool, w *approvalWrites) error {
	var credits []ledger.Credit
	for _, p := range ps {
		credits = append(credits, p.credits...)
	}
	recs, err := s.timeBank.CreditAll(ctx, tx, credits)
	if err != nil {
		return err
	}
	now := s.deps.Clock.Now()
	for _, p := range ps {
		minutesRec := recs[0]
		var pointsTxn *int64
		if len(p.credits) > 1 {
			pointsTxn = &recs[1].TxnID
		}
		recs = recs[len(p.credits):]
		if err := s.approveRecord(ctx, tx, a, p.att, p.it.Minutes, actorID); err != nil {
			return userError(err, p.it.UserID, named)
		}
		att, it := p.att, p.it
		res := tx.Model(&model.Attendance{}).Where("id = ? AND approval_version = ?", att.ID, att.ApprovalVersion).
			Updates(map[string]any{"state": model.AttendApproved, "minutes": it.Minutes, "points": p.points, "score": it.Score,
				"reason": it.Reason, "absent_at": nil, "reviewed_by": actorID, "reviewed_at": now.UTC(),
				"approval_version": att.ApprovalVersion + 1, "minutes_txn_id": minutesRec.TxnID, "points_txn_id": pointsTxn})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return userError(conflict("考勤已被他人修改，请刷新后重试"), p.it.UserID, named)
		}
		w.audits = append(w.audits, attendanceEvent(actorID, a, att, AuditAttendanceApprove,
			map[string]any{"state": att.State, "minutes": att.Minutes, "computedMinutes": att.ComputedMinutes},
			map[string]any{"state": model.AttendApproved, "minutes": it.Minutes, "score": it.Score, "points": p.points}, it.Reason))
		w.notices = append(w.notices, Notice{UserID: att.UserID, Event: EventHoursApproved, ObjectKind: "activity", ObjectID: a.ID,
			Subject: a.Title, Note: fmt.Sprintf("%d 分钟", it.Minutes)})
	}
	return nil
}

// userError prefixes err with the user it concerns when named.
func userError(err error, userID int64, named bool) error {
	if !named {
		return err
	}
	return prefixError(err, fmt.Sprintf("用户 %d：", userID))
}

// attendanceEvent is the audit event of a staff action on an attendance of
// activity a.
func attendanceEvent(actorID int64, a *model.Activity, att *model.Attendance, action string, before, after any, reason string) auditEvent {
	return auditEvent{Actor: actorID, Org: a.CommunityID, Action: action, ObjectKind: "attendance", ObjectID: att.ID,
		Before: before, After: after, Reason: reason}
}

// reverseCredits reverses the ledger credits in force on an approved
// attendance, under a source naming its approval version.
func (s *ActivityService) reverseCredits(ctx context.Context, db *gorm.DB, att *model.Attendance) error {
	src := ledger.Source{Kind: "attendance_reversal", ID: fmt.Sprintf("%d:v%d", att.ID, att.ApprovalVersion)}
	for _, id := range []*int64{att.MinutesTxnID, att.PointsTxnID} {
		if id == nil {
			continue
		}
		if _, err := s.timeBank.Reverse(ctx, db, *id, src, "志愿活动考勤更正"); err != nil {
			if ErrorCode(err) == CodeInsufficientBalance {
				return Wrap(CodeInsufficientBalance, "该志愿者的余额已不足以冲正此前入账的时长或积分", err)
			}
			return err
		}
	}
	return nil
}

// activityRecordKey is the source key of an attendance's service record.
func activityRecordKey(att *model.Attendance) string { return fmt.Sprintf("attendance:%d", att.ID) }

// approveRecord writes the approved public_activity record of an attendance,
// or brings an existing one (earlier approval or withdrawn) to the minutes.
func (s *ActivityService) approveRecord(ctx context.Context, db *gorm.DB, a *model.Activity, att *model.Attendance, minutes int, actorID int64) error {
	rec, err := s.reports.addApprovedRecord(ctx, db, ApprovedRecord{
		UserID: att.UserID, CommunityID: a.CommunityID, Kind: model.ServicePublicActivity, OccurredAt: a.StartAt,
		Minutes: minutes, Note: a.Title, SourceKey: activityRecordKey(att), ReviewedBy: &actorID,
		// Only an approval writes the record: before the first, none is there.
		New: att.ApprovalVersion == 0,
	})
	if err != nil {
		return err
	}
	if rec.Minutes == minutes && rec.Status == model.RecordApproved {
		return nil
	}
	updates := map[string]any{"minutes": minutes, "status": model.RecordApproved, "reject_reason": "",
		"reviewed_by": actorID, "reviewed_at": s.deps.Clock.Now().UTC()}
	// Approved again after a withdrawal: counts toward the obligations
	// again (the condition makes the count follow the row's own change).
	res := db.Model(&model.ServiceRecord{}).Where("id = ? AND status <> ?", rec.ID, model.RecordApproved).Updates(updates)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 1 {
		return s.deps.addRecordStats(db, rec.UserID, rec.Kind, rec.OccurredAt, 1)
	}
	return db.Model(&model.ServiceRecord{}).Where("id = ?", rec.ID).Updates(updates).Error
}

// withdrawRecord marks an attendance's service record rejected (absent), so
// it no longer counts (nor in the dashboard's obligation counts).
func (s *ActivityService) withdrawRecord(ctx context.Context, db *gorm.DB, att *model.Attendance, actorID int64) error {
	var rec model.ServiceRecord
	if err := db.Where("source_key = ?", activityRecordKey(att)).Limit(1).Find(&rec).Error; err != nil || rec.ID == 0 {
		return err
	}
	updates := map[string]any{"minutes": 0, "status": model.RecordRejected, "reject_reason": "志愿活动缺席",
		"reviewed_by": actorID, "reviewed_at": s.deps.Clock.Now().UTC()}
	res := db.Model(&model.ServiceRecord{}).Where("id = ? AND status = ?", rec.ID, model.RecordApproved).Updates(updates)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 1 {
		return s.deps.addRecordStats(db, rec.UserID, rec.Kind, rec.OccurredAt, -1)
	}
	return db.Model(&model.ServiceRecord{}).Where("id = ?", rec.ID).Updates(updates).Error
}

// AttendanceView is an attendance as staff see it: the volunteer's real
// name and full phone included (staff may see them).
type AttendanceView struct {
	UserID   int64  `json:"userId"`
	Nickname string `json:"nickname"`
	RealName string `json:"realName"`
	Phone    string `json:"phone"`
	SignupView
	CheckinSource   string     `json:"checkinSource,omitempty"`
	CheckinBy       *int64     `json:"checkinBy,omitempty"`
	CheckoutBy      *int64     `json:"checkoutBy,omitempty"`
	Reason          string     `json:"reason"`
	ReviewedBy      *int64     `json:"reviewedBy"`
	ReviewedAt      *time.Time `json:"reviewedAt"`
	ApprovalVersion int        `json:"approvalVersion"`
}

// attendance returns one attendance as staff see it.
func (s *ActivityService) attendance(ctx context.Context, activityID, userID int64) (*AttendanceView, error) {
	db := s.deps.DB.WithContext(ctx)
	var att model.Attendance
	if err := db.Where("activity_id = ? AND user_id = ?", activityID, userID).First(&att).Error; err != nil {
		return nil, notFoundOr(err, "考勤")
	}
	views, err := s.attendanceViews(ctx, db, []model.Attendance{att})
	if err != nil {
		return nil, err
	}
	return &views[0], nil
}

func (s *ActivityService) attendanceViews(ctx context.Context, db *gorm.DB, atts []model.Attendance) ([]AttendanceView, error) {
	out := make([]AttendanceView, 0, len(atts))
	if len(atts) == 0 {
		return out, nil
	}
	userIDs := make([]int64, 0, len(atts))
	for _, a := range atts {
		userIDs = append(userIDs, a.UserID)
	}
	var users []model.User
	if err := db.WithContext(ctx).Select("id", "nickname").Where("id IN ?", userIDs).Find(&users).Error; err != nil {
		return nil, err
	}
	nick := map[int64]string{}
	for _, u := range users {
		nick[u.ID] = u.Nickname
	}
	var profiles []model.VolunteerProfile
	if err := db.WithContext(ctx).Where("user_id IN ?", userIDs).Find(&profiles).Error; err != nil {
		return nil, err
	}
	prof := map[int64]model.VolunteerProfile{}
	for _, p := range profiles {
		prof[p.UserID] = p
	}
	// Waitlist places of this page's activities, from one query each.
	ranks := map[int64]map[int64]int{}
	for _, a := range atts {
		if a.Status != model.SignupWaitlisted || ranks[a.ActivityID] != nil {
			continue
		}
		var queue []int64
		if err := db.WithContext(ctx).Model(&model.Attendance{}).
			Where("activity_id = ? AND status = ?", a.ActivityID, model.SignupWaitlisted).
			Order(model.WaitlistOrder).Pluck("id", &queue).Error; err != nil {
			return nil, err
		}
		r := make(map[int64]int, len(queue))
		for i, id := range queue {
			r[id] = i + 1
		}
		ranks[a.ActivityID] = r
	}
	loc := s.deps.Config.Location
	for i := range atts {
		a := &atts[i]
		var pos *int
		if a.Status == model.SignupWaitlisted {
			if p, ok := ranks[a.ActivityID][a.ID]; ok {
				pos = &p
			}
		}
		p := prof[a.UserID]
		out = append(out, AttendanceView{
			UserID: a.UserID, Nickname: nick[a.UserID], RealName: p.RealName, Phone: p.Phone,
			SignupView: s.signupView(a, pos), CheckinSource: a.CheckinSource, CheckinBy: a.CheckinBy,
			CheckoutBy: a.CheckoutBy, Reason: a.Reason, ReviewedBy: a.ReviewedBy, ReviewedAt: inLoc(a.ReviewedAt, loc),
			ApprovalVersion: a.ApprovalVersion,
		})
	}
	return out, nil
}

// AttendanceFilter selects attendances of an activity. Status empty means
// signed and waitlisted; State and Flagged narrow further.
type AttendanceFilter struct {
	Status  string
	State   string
	Flagged *bool
}

// Attendances lists the sign-ups of an activity for its staff: signed first,
// then the waitlist in order. It returns 10005 for an unknown activity,
// 10004 unless the caller is staff and 10001 for an unknown status or state.
func (s *ActivityService) Attendances(ctx context.Context, actorID, activityID int64, f AttendanceFilter, p Page) (List[AttendanceView], error) {
	db := s.deps.DB.WithContext(ctx)
	if _, err := s.staffActivity(ctx, db, actorID, activityID); err != nil {
		return List[AttendanceView]{}, err
	}
	q := db.Model(&model.Attendance{}).Where("activity_id = ?", activityID)
	switch model.SignupStatus(f.Status) {
	case "":
		q = q.Where("status IN ?", []model.SignupStatus{model.SignupSigned, model.SignupWaitlisted})
	case model.SignupSigned, model.SignupWaitlisted, model.SignupCancelled:
		q = q.Where("status = ?", f.Status)
	default:
		return List[AttendanceView]{}, invalid("status 需为 signed、waitlisted 或 cancelled")
	}
	switch model.AttendState(f.State) {
	case "":
	case model.AttendNone, model.AttendCheckedIn, model.AttendCheckedOut, model.AttendAbsent, model.AttendApproved:
		q = q.Where("state = ?", f.State)
	default:
		return List[AttendanceView]{}, invalid("state 需为 none、checked_in、checked_out、absent 或 approved")
	}
	if f.Flagged != nil {
		q = q.Where("flagged = ?", *f.Flagged)
	}
	atts, total, err := findPage[model.Attendance](q, "status, "+model.WaitlistOrder, p)
	if err != nil {
		return List[AttendanceView]{}, err
	}
	views, err := s.attendanceViews(ctx, db, atts)
	if err != nil {
		return List[AttendanceView]{}, err
	}
	return NewList(views, total, p), nil
}

// ActivitySweepResult counts what one activity sweep changed.
type ActivitySweepResult struct {
	Finished       int `json:"finished"`
	Absent         int `json:"absent"`
	AutoCheckedOut int `json:"autoCheckedOut"`
}

// activitySweepBatch bounds the rows one sweep pass handles; the next pass takes the rest.
const activitySweepBatch = 500

// Sweep does the time-driven work of activities: a published activity that
// has ended becomes finished and its signed-up users never checked in are
// marked absent (in the same transaction), and anyone still checked in
// activity.checkout_grace after the end is checked out at the end and
// flagged for review. Every change is a conditional UPDATE, so any number of
// instances may sweep at once; serve runs it every activity.sweep_interval.
func (s *ActivityService) Sweep(ctx context.Context) (ActivitySweepResult, error) {
	var out ActivitySweepResult
	now := s.deps.Clock.Now().UTC()
	db := s.deps.DB.WithContext(ctx)
	var ended []model.Activity
	if err := db.Select("id", "community_id", "end_at").Where("status = ? AND end_at <= ?", model.ActivityPublished, now).
		Order("end_at").Limit(activitySweepBatch).Find(&ended).Error; err != nil {
		return out, err
	}
	for _, a := range ended {
		var finished, absent int
		err := s.deps.tx(ctx, func(tx *gorm.DB) error {
			finished, absent = 0, 0
			res := tx.Model(&model.Activity{}).Where("id = ? AND status = ?", a.ID, model.ActivityPublished).
				Update("status", model.ActivityFinished)
			if res.Error != nil || res.RowsAffected != 1 {
				return res.Error // another instance finished it
			}
			finished = 1
			s.pages.Changed(tx, a.CommunityID)
			res = tx.Model(&model.Attendance{}).
				Where("activity_id = ? AND status = ? AND state = ?", a.ID, model.SignupSigned, model.AttendNone).
				Updates(map[string]any{"state": model.AttendAbsent, "absent_at": a.EndAt.UTC()})
			absent = int(res.RowsAffected)
			return res.Error
		})
		if err != nil {
			return out, err
		}
		out.Finished += finished
		out.Absent += absent
	}

	type open struct {
		ID        int64
		CheckinAt time.Time
		StartAt   time.Time
		EndAt     time.Time
	}
	var rows []open
	err := db.Model(&model.Attendance{}).
		Joins("JOIN activities ON activities.id = attendances.activity_id").
		Where("attendances.state = ? AND activities.end_at <= ?", model.AttendCheckedIn, now.Add(-s.deps.Config.Activity.CheckoutGrace)).
		Select("attendances.id AS id, attendances.checkin_at AS checkin_at, activities.start_at AS start_at, activities.end_at AS end_at").
		Order("attendances.id").Limit(activitySweepBatch).Scan(&rows).Error
	if err != nil {
		return out, err
	}
	for _, r := range rows {
		minutes := activityMinutes(&model.Activity{StartAt: r.StartAt, EndAt: r.EndAt}, r.CheckinAt, r.EndAt)
		res := db.Model(&model.Attendance{}).Where("id = ? AND state = ?", r.ID, model.AttendCheckedIn).
			Updates(map[string]any{"state": model.AttendCheckedOut, "checkout_at": r.EndAt.UTC(),
				"checkout_source": model.SourceAuto, "flagged": true, "computed_minutes": minutes})
		if res.Error != nil {
			return out, res.Error
		}
		out.AutoCheckedOut += int(res.RowsAffected)
	}
	return out, nil
}
