package service

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"linli/model"
)

// Domain codes of volunteer activities (4xxxx). They are never renumbered;
// api/envelope.go maps the ones that are not 409.
const (
	CodeActivityFull         = 40001 // no seat left and no waitlist
	CodeVolunteerRequired    = 40002 // register as a volunteer first (open the registration page)
	CodeSignupClosed         = 40003 // not open for sign-up, or the deadline has passed
	CodeAudienceRestricted   = 40004 // for Party members only (403)
	CodeScheduleOverlap      = 40005 // signed up for an overlapping activity
	CodeNoShowBlocked        = 40006 // sign-ups blocked after repeated no-shows (403)
	CodeAlreadySignedUp      = 40007
	CodeNotSignedUp          = 40008 // no seat: not signed up, cancelled or still waitlisted
	CodeCancelClosed         = 40009 // the sign-up can no longer be cancelled
	CodeCheckinCodeInvalid   = 40010 // malformed or forged check-in code (400)
	CodeCheckinCodeExpired   = 40011
	CodeCheckinCodeMismatch  = 40012 // the code belongs to another activity (400)
	CodeCheckinWindow        = 40013 // outside the check-in or check-out window
	CodeTooFar               = 40014 // farther from the activity than its radius
	CodeLocationRequired     = 40015 // the activity needs the caller's location (400)
	CodeAlreadyCheckedIn     = 40016
	CodeNotCheckedIn         = 40017
	CodeAlreadyCheckedOut    = 40018
	CodeApprovalNotReady     = 40019 // the attendance cannot be approved yet
	CodeMinutesReasonMissing = 40020 // final minutes differ from the computed ones without a reason (400)
	CodeActivityState        = 40021 // the activity's state does not allow the action
)

// ActivityCategories returns the categories an activity may have.
func ActivityCategories() []string {
	return []string{"助老助残", "关爱儿童", "环境保护", "文明实践", "平安巡逻", "文体活动", "教育助学", "医疗健康", "应急救援", "其他"}
}

// ActivityService runs volunteer activities: creation and publication,
// sign-up with capacity and waitlist, check-in and check-out, approval of
// the hours and their credit to the time bank.
type ActivityService struct {
	deps       Deps
	authz      *Authz
	timeBank   *TimeBankService
	volunteers *VolunteerService
	reports    *ReportService
	// callers and orgs answer the list without a query for the caller or
	// the communities beneath an org.
	callers *CallerService
	orgs    *OrgTree
	notify  *NotificationService
	// pages keeps the first page of the public lists (activityPages);
	// every change to what a list shows calls pages.Changed.
	pages *activityPages
	// groups writes the sign-ups of a crowd together; nil when
	// activity.signup_group_max is 1 (each sign-up alone).
	groups *signupGroups
	// beforeTakeSeat, when set (by tests only), runs in Signup between the
	// checks on the loaded activity and the conditional UPDATEs of its
	// counters.
	beforeTakeSeat func(ctx context.Context, tx *gorm.DB)
}

// ActivityInput is a new activity (POST /activities). Nil RadiusM and
// PointsPerHour take the configured defaults; an empty Audience is "all".
type ActivityInput struct {
	CommunityID    int64
	UnitID         *int64
	Title          string
	Content        string
	Category       string
	Address        string
	Lat, Lng       *float64
	RadiusM        *int
	StartAt        time.Time
	EndAt          time.Time
	SignupDeadline time.Time
	Capacity       int
	Waitlist       bool
	Audience       string
	PointsPerHour  *int
}

// ActivityView is an activity as the API shows it. SeatsLeft is null when
// the capacity is unlimited. MySignup is the caller's own sign-up (detail
// view only).
type ActivityView struct {
	ID             int64                `json:"id"`
	CommunityID    int64                `json:"communityId"`
	UnitID         *int64               `json:"unitId"`
	Title          string               `json:"title"`
	Content        string               `json:"content"`
	Category       string               `json:"category"`
	Address        string               `json:"address"`
	Lat            *float64             `json:"lat"`
	Lng            *float64             `json:"lng"`
	RadiusM        int                  `json:"radiusM"`
	StartAt        time.Time            `json:"startAt"`
	EndAt          time.Time            `json:"endAt"`
	SignupDeadline time.Time            `json:"signupDeadline"`
	Capacity       int                  `json:"capacity"`
	Waitlist       bool                 `json:"waitlist"`
	Audience       string               `json:"audience"`
	PointsPerHour  int                  `json:"pointsPerHour"`
	Status         model.ActivityStatus `json:"status"`
	Signed         int                  `json:"signed"`
	Waitlisted     int                  `json:"waitlisted"`
	SeatsLeft      *int                 `json:"seatsLeft"`
	SignupOpen     bool                 `json:"signupOpen"`
	CancelReason   string               `json:"cancelReason,omitempty"`
	CreatedBy      int64                `json:"createdBy"`
	CreatedAt      time.Time            `json:"createdAt"`
	MySignup       *SignupView          `json:"mySignup,omitempty"`
}

func (s *ActivityService) activityView(a *model.Activity) ActivityView {
	loc := s.deps.Config.Location
	v := ActivityView{
		ID: a.ID, CommunityID: a.CommunityID, UnitID: a.UnitID, Title: a.Title, Content: a.Content,
		Category: a.Category, Address: a.Address, Lat: a.Lat, Lng: a.Lng, RadiusM: a.RadiusM,
		StartAt: a.StartAt.In(loc), EndAt: a.EndAt.In(loc), SignupDeadline: a.SignupDeadline.In(loc),
		Capacity: a.Capacity, Waitlist: a.Waitlist, Audience: a.Audience, PointsPerHour: a.PointsPerHour,
		Status: a.Status, Signed: a.Signed, Waitlisted: a.Waitlisted, CancelReason: a.CancelReason,
		CreatedBy: a.CreatedBy, CreatedAt: a.CreatedAt.In(loc),
	}
	if a.Capacity > 0 {
		left := max(a.Capacity-a.Signed, 0)
		v.SeatsLeft = &left
	}
	v.SignupOpen = a.Status == model.ActivityPublished && s.deps.Clock.Now().Before(a.SignupDeadline)
	return v
}

// SignupView is a user's sign-up and attendance as they see it. Position is
// the place in the waitlist (1 = next to be promoted). Approval is none
// (not checked out yet), pending (awaiting staff), approved or absent.
type SignupView struct {
	Status          model.SignupStatus `json:"status"`
	Position        *int               `json:"position,omitempty"`
	State           model.AttendState  `json:"state"`
	Approval        string             `json:"approval"`
	SignedUpAt      time.Time          `json:"signedUpAt"`
	CheckinAt       *time.Time         `json:"checkinAt"`
	CheckoutAt      *time.Time         `json:"checkoutAt"`
	CheckoutSource  string             `json:"checkoutSource,omitempty"`
	Flagged         bool               `json:"flagged"`
	ComputedMinutes int                `json:"computedMinutes"`
	Minutes         int                `json:"minutes"`
	Points          int64              `json:"points"`
	Score           int                `json:"score"`
}

func approvalOf(s model.AttendState) string {
	switch s {
	case model.AttendCheckedOut:
		return "pending"
	case model.AttendApproved:
		return "approved"
	case model.AttendAbsent:
		return "absent"
	}
	return "none"
}

func (s *ActivityService) signupView(a *model.Attendance, position *int) SignupView {
	loc := s.deps.Config.Location
	return SignupView{
		Status: a.Status, Position: position, State: a.State, Approval: approvalOf(a.State),
		SignedUpAt: a.SignedUpAt.In(loc), CheckinAt: inLoc(a.CheckinAt, loc), CheckoutAt: inLoc(a.CheckoutAt, loc),
		CheckoutSource: a.CheckoutSource, Flagged: a.Flagged, ComputedMinutes: a.ComputedMinutes,
		Minutes: a.Minutes, Points: a.Points, Score: a.Score,
	}
}

func inLoc(t *time.Time, loc *time.Location) *time.Time {
	if t == nil {
		return nil
	}
	v := t.In(loc)
	return &v
}

// utcSecond normalises a time for storage: UTC, whole seconds, so that
// stored times compare correctly on every store.
func utcSecond(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }

// validateActivity checks the fields of a new activity and fills defaults.
func (s *ActivityService) validateActivity(in *ActivityInput) error {
	cfg := s.deps.Config.Activity
	in.Title = strings.TrimSpace(in.Title)
	in.Content = strings.TrimSpace(in.Content)
	in.Address = strings.TrimSpace(in.Address)
	in.Category = strings.TrimSpace(in.Category)
	switch {
	case in.CommunityID <= 0:
		return invalid("请选择社区")
	case !textFits(in.Title, 1, 50):
		return invalid("活动标题需为 1 到 50 个字符")
	case !textFits(in.Content, 0, 2000):
		return invalid("活动内容最多 2000 个字符")
	case !slices.Contains(ActivityCategories(), in.Category):
		return invalid("活动类别需为 %s 之一", strings.Join(ActivityCategories(), "、"))
	case !textFits(in.Address, 1, 128):
		return invalid("活动地址需为 1 到 128 个字符")
	case (in.Lat == nil) != (in.Lng == nil):
		return invalid("经纬度需同时提供")
	case in.Lat != nil && (math.IsNaN(*in.Lat) || *in.Lat < -90 || *in.Lat > 90):
		return invalid("纬度需在 -90 到 90 之间")
	case in.Lng != nil && (math.IsNaN(*in.Lng) || *in.Lng < -180 || *in.Lng > 180):
		return invalid("经度需在 -180 到 180 之间")
	case in.RadiusM != nil && (*in.RadiusM < 50 || *in.RadiusM > 5000):
		return invalid("签到半径需在 50 到 5000 米之间")
	case in.StartAt.IsZero() || in.EndAt.IsZero() || in.SignupDeadline.IsZero():
		return invalid("请填写开始时间、结束时间和报名截止时间")
	case !in.EndAt.After(in.StartAt):
		return invalid("结束时间需晚于开始时间")
	case in.SignupDeadline.After(in.StartAt):
		return invalid("报名截止时间不能晚于开始时间")
	case !in.SignupDeadline.After(s.deps.Clock.Now()):
		return invalid("报名截止时间需晚于当前时间")
	case in.Capacity < 0 || in.Capacity > 100000:
		return invalid("名额需在 0 到 100000 之间（0 表示不限）")
	case in.Audience != "" && in.Audience != model.AudienceAll && in.Audience != model.AudiencePartyMembers:
		return invalid("参与对象需为 all 或 party_members")
	case in.PointsPerHour != nil && (*in.PointsPerHour < 0 || *in.PointsPerHour > 1000):
		return invalid("每小时积分需在 0 到 1000 之间")
	}
	if in.RadiusM == nil {
		r := cfg.DefaultRadiusM
		in.RadiusM = &r
	}
	if in.PointsPerHour == nil {
		p := cfg.DefaultPointsPerHour
		in.PointsPerHour = &p
	}
	if in.Audience == "" {
		in.Audience = model.AudienceAll
	}
	return nil
}

// Create adds an activity. Staff of the community create a draft (for a
// unit when UnitID names an approved unit of the community); a liaison of an
// approved unit of the community creates a proposal that staff publish. It
// returns 10001 for invalid fields (nothing written), 10005 for an unknown
// community and 10004 when the caller is neither.
func (s *ActivityService) Create(ctx context.Context, actorID int64, in ActivityInput) (*ActivityView, error) {
	if err := s.validateActivity(&in); err != nil {
		return nil, err
	}
	var a model.Activity
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		community, err := loadOrg(ctx, tx, in.CommunityID)
		if err != nil {
			return err
		}
		if community.Level != model.LevelCommunity {
			return invalid("活动需属于一个社区")
		}
		staff, err := s.authz.IsStaff(ctx, tx, actorID, community)
		if err != nil {
			return err
		}
		status := model.ActivityDraft
		unitID := in.UnitID
		if staff {
			if unitID != nil {
				var n int64
				if err := tx.Model(&model.Unit{}).
					Where("id = ? AND community_id = ? AND status = ?", *unitID, community.ID, model.ReviewApproved).
					Count(&n).Error; err != nil {
					return err
				}
				if n == 0 {
					return invalid("单位不存在或未在本社区通过报到")
				}
			}
		} else {
			status = model.ActivityProposed
			ids, err := s.reports.liaisonUnits(ctx, tx, actorID)
			if err != nil {
				return err
			}
			var units []int64
			if len(ids) > 0 {
				if err := tx.Model(&model.Unit{}).
					Where("id IN ? AND community_id = ?", ids, community.ID).Order("id").Pluck("id", &units).Error; err != nil {
					return err
				}
			}
			switch {
			case len(units) == 0:
				return forbidden("只有社区工作人员或本社区驻区单位联络员可以发起活动")
			case unitID != nil && !slices.Contains(units, *unitID):
				return forbidden("您不是该单位的联络员")
			case unitID == nil && len(units) > 1:
				return invalid("您联络多个单位，请指定 unitId")
			case unitID == nil:
				unitID = &units[0]
			}
		}
		a = model.Activity{
			CommunityID: community.ID, UnitID: unitID, Title: in.Title, Content: in.Content,
			Category: in.Category, Address: in.Address, Lat: in.Lat, Lng: in.Lng, RadiusM: *in.RadiusM,
			StartAt: utcSecond(in.StartAt), EndAt: utcSecond(in.EndAt), SignupDeadline: utcSecond(in.SignupDeadline),
			Capacity: in.Capacity, Waitlist: in.Waitlist, Audience: in.Audience, PointsPerHour: *in.PointsPerHour,
			Status: status, CreatedBy: actorID,
		}
		return tx.Create(&a).Error
	})
	if err != nil {
		return nil, err
	}
	v := s.activityView(&a)
	return &v, nil
}

// Publish opens a draft or a unit's proposal for sign-up. It returns 10004
// unless the caller is staff of the activity's community, 10005 for an
// unknown activity, and 40021 when it is not a draft or proposal or its
// sign-up deadline has passed.
func (s *ActivityService) Publish(ctx context.Context, actorID, id int64) (*ActivityView, error) {
	var a *model.Activity
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		var err error
		if a, err = s.staffActivity(ctx, tx, actorID, id); err != nil {
			return err
		}
		now := s.deps.Clock.Now()
		if !now.Before(a.SignupDeadline) {
			return Errorf(CodeActivityState, "报名截止时间已过，不能发布")
		}
		res := tx.Model(&model.Activity{}).
			Where("id = ? AND status IN ?", id, []model.ActivityStatus{model.ActivityDraft, model.ActivityProposed}).
			Updates(map[string]any{"status": model.ActivityPublished, "published_by": actorID, "published_at": utcSecond(now)})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return Errorf(CodeActivityState, "活动当前状态（%s）不能发布", a.Status)
		}
		s.pages.Changed(tx, a.CommunityID)
		if err := s.deps.audit(ctx, tx, auditEvent{Actor: actorID, Org: a.CommunityID, Action: AuditActivityPublish,
			ObjectKind: "activity", ObjectID: id, Before: map[string]any{"status": a.Status},
			After: map[string]any{"status": model.ActivityPublished}}); err != nil {
			return err
		}
		a, err = loadActivity(ctx, tx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	v := s.activityView(a)
	return &v, nil
}

// Cancel cancels a draft, proposal or published activity that has not ended
// and notifies every signed-up and waitlisted user. It returns
// 10004 unless the caller is staff of its community, 10005 for an unknown
// activity, 10001 for an over-long reason and 40021 when it is finished or
// already cancelled.
func (s *ActivityService) Cancel(ctx context.Context, actorID, id int64, reason string) (*ActivityView, error) {
	reason = strings.TrimSpace(reason)
	if !textFits(reason, 0, 200) {
		return nil, invalid("取消原因最多 200 个字符")
	}
	var a *model.Activity
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		var err error
		if a, err = s.staffActivity(ctx, tx, actorID, id); err != nil {
			return err
		}
		now := s.deps.Clock.Now()
		res := tx.Model(&model.Activity{}).
			Where("id = ? AND end_at > ? AND status IN ?", id, now.UTC(),
				[]model.ActivityStatus{model.ActivityDraft, model.ActivityProposed, model.ActivityPublished}).
			Updates(map[string]any{"status": model.ActivityCancelled, "cancelled_by": actorID,
				"cancelled_at": utcSecond(now), "cancel_reason": reason})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return Errorf(CodeActivityState, "活动已结束或已取消，不能取消")
		}
		s.pages.Changed(tx, a.CommunityID)
		var users []int64
		if err := tx.Model(&model.Attendance{}).
			Where("activity_id = ? AND status IN ?", id, []model.SignupStatus{model.SignupSigned, model.SignupWaitlisted}).
			Order("user_id").Pluck("user_id", &users).Error; err != nil {
			return err
		}
		if err := s.noticeActivity(tx, id, a.Title, EventActivityCancelled, reason, users...); err != nil {
			return err
		}
		if err := s.deps.audit(ctx, tx, auditEvent{Actor: actorID, Org: a.CommunityID, Action: AuditActivityCancel,
			ObjectKind: "activity", ObjectID: id, Before: map[string]any{"status": a.Status},
			After: map[string]any{"status": model.ActivityCancelled}, Reason: reason}); err != nil {
			return err
		}
		a, err = loadActivity(ctx, tx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	v := s.activityView(a)
	return &v, nil
}

// noticeActivity tells users about an activity, inside tx; title is the
// activity's (read when empty).
func (s *ActivityService) noticeActivity(tx *gorm.DB, activityID int64, title, event, note string, users ...int64) error {
	if len(users) == 0 {
		return nil
	}
	if title == "" {
		if err := tx.Model(&model.Activity{}).Where("id = ?", activityID).Select("title").Scan(&title).Error; err != nil {
			return err
		}
	}
	ns := make([]Notice, len(users))
	for i, u := range users {
		ns[i] = Notice{UserID: u, Event: event, ObjectKind: "activity", ObjectID: activityID, Subject: title, Note: note}
	}
	return s.notify.Notify(tx, ns...)
}

// staffActivity loads an activity for an action of its community's staff:
// 10005 when unknown, 10004 when the caller is not staff there.
func (s *ActivityService) staffActivity(ctx context.Context, db *gorm.DB, actorID, id int64) (*model.Activity, error) {
	a, err := loadActivity(ctx, db, id)
	if err != nil {
		return nil, err
	}
	if _, err := s.authz.RequireStaff(ctx, db, actorID, a.CommunityID); err != nil {
		return nil, err
	}
	return a, nil
}

// loadActivity returns an activity or 10005.
func loadActivity(ctx context.Context, db *gorm.DB, id int64) (*model.Activity, error) {
	var a model.Activity
	if err := withWaitlisted(db.WithContext(ctx)).First(&a, id).Error; err != nil {
		return nil, notFoundOr(err, "活动")
	}
	return &a, nil
}

// withWaitlisted selects whole activities with their waitlist's length.
func withWaitlisted(db *gorm.DB) *gorm.DB {
	return db.Model(&model.Activity{}).Select("activities.*, " + model.WaitlistedColumn)
}

// visibleActivity loads an activity the caller may see: drafts and
// proposals only to their creator and the community's staff (10005 to
// anyone else, as if they did not exist).
func (s *ActivityService) visibleActivity(ctx context.Context, db *gorm.DB, actorID, id int64) (*model.Activity, error) {
	a, err := loadActivity(ctx, db, id)
	if err != nil {
		return nil, err
	}
	if a.Status != model.ActivityDraft && a.Status != model.ActivityProposed || a.CreatedBy == actorID {
		return a, nil
	}
	org, err := loadOrg(ctx, db, a.CommunityID)
	if err != nil {
		return nil, err
	}
	ok, err := s.authz.IsStaff(ctx, db, actorID, org)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, notFound("活动")
	}
	return a, nil
}

// Get returns an activity with the caller's own sign-up, if any. It returns
// 10005 for an unknown activity or a draft the caller may not see.
func (s *ActivityService) Get(ctx context.Context, actorID, id int64) (*ActivityView, error) {
	db := s.deps.DB.WithContext(ctx)
	a, err := s.visibleActivity(ctx, db, actorID, id)
	if err != nil {
		return nil, err
	}
	v := s.activityView(a)
	var att model.Attendance
	if err := db.Where("activity_id = ? AND user_id = ?", id, actorID).Limit(1).Find(&att).Error; err != nil {
		return nil, err
	}
	if att.ID != 0 {
		pos, err := waitlistPosition(ctx, db, &att)
		if err != nil {
			return nil, err
		}
		sv := s.signupView(&att, pos)
		v.MySignup = &sv
	}
	return &v, nil
}

// waitlistPosition returns the current place of a waitlisted sign-up (1 =
// next), or nil when it is not waitlisted.
func waitlistPosition(ctx context.Context, db *gorm.DB, a *model.Attendance) (*int, error) {
	if a.Status != model.SignupWaitlisted {
		return nil, nil
	}
	var ahead int64
	err := db.WithContext(ctx).Model(&model.Attendance{}).
		Where("activity_id = ? AND status = ? AND id < ?", a.ActivityID, model.SignupWaitlisted, a.ID).
		Count(&ahead).Error
	if err != nil {
		return nil, err
	}
	p := int(ahead) + 1
	return &p, nil
}

// ActivityFilter selects activities for a list. OrgID is a community, or a
// street or district for every community beneath it; nil means the caller's
// home community. Status empty means published and finished.
type ActivityFilter struct {
	OrgID  *int64
	Status string
}

// List returns the activities of a community or of every community beneath
// an org: those not yet ended first (soonest start first), then the ended
// ones (latest first), with the seats left. Drafts and proposals are listed
// only to staff of the org. It returns 10001 for an unknown status or when no
// org is given and the caller has no home community, 10005 for an unknown
// org and 10004 for drafts or proposals asked by non-staff.
func (s *ActivityService) List(ctx context.Context, actorID int64, f ActivityFilter, p Page) (List[ActivityView], error) {
	db := s.deps.DB.WithContext(ctx)
	statuses := []model.ActivityStatus{model.ActivityPublished, model.ActivityFinished}
	if f.Status != "" {
		st := model.ActivityStatus(f.Status)
		if !st.Valid() {
			return List[ActivityView]{}, invalid("status 需为 proposed、draft、published、finished 或 cancelled")
		}
		statuses = []model.ActivityStatus{st}
	}
	orgID := f.OrgID
	if orgID == nil {
		caller, err := s.callers.Get(ctx, actorID)
		if err != nil {
			return List[ActivityView]{}, err
		}
		if caller.HomeCommunityID == nil {
			return List[ActivityView]{}, invalid("请指定社区（communityId）或先设置所在社区")
		}
		orgID = caller.HomeCommunityID
	}
	org, err := s.orgs.Get(ctx, *orgID)
	if err != nil {
		return List[ActivityView]{}, err
	}
	staffList := slices.Contains(statuses, model.ActivityDraft) || slices.Contains(statuses, model.ActivityProposed)
	if staffList {
		if _, err := s.authz.RequireStaff(ctx, db, actorID, org.ID); err != nil {
			return List[ActivityView]{}, err
		}
		p.ByCursor = false // staff lists keep their total
	}
	communities, err := s.orgs.Communities(ctx, org.ID)
	if err != nil {
		return List[ActivityView]{}, err
	}
	if len(communities) == 0 {
		if p.ByCursor {
			return NewFeed([]ActivityView{}, p, nil), nil
		}
		return NewList([]ActivityView{}, 0, p), nil
	}
	now := s.deps.Clock.Now().UTC()
	// The public list tolerates lag (a replica when configured); the staff
	// lists of drafts and proposals are read from the primary.
	list := db
	if !staffList {
		list = s.deps.laggingRead(ctx)
	}
	on := func(db *gorm.DB) *gorm.DB {
		return db.Model(&model.Activity{}).Where("community_id IN ? AND status IN ?", communities, statuses)
	}
	base := func() *gorm.DB { return on(list) }
	if p.ByCursor {
		if p.Cursor == "" && !staffList && s.pages.keeps() {
			// The first page of a public list: the kept copy while nothing
			// it shows has changed (activityPages).
			rows, err := s.pages.first(ctx, org.ID, communities, statuses, p.PageSize+1, now,
				func(db *gorm.DB, limit int) ([]model.Activity, error) { return bothHalves(on(db), now, nil, limit) })
			if err != nil {
				return List[ActivityView]{}, err
			}
			return s.feedPage(rows, now, p), nil
		}
		return s.feed(base, now, p)
	}
	var nUpcoming, nPast int64
	if err := base().Where("end_at > ?", now).Count(&nUpcoming).Error; err != nil {
		return List[ActivityView]{}, err
	}
	if err := base().Where("end_at <= ?", now).Count(&nPast).Error; err != nil {
		return List[ActivityView]{}, err
	}
	// Page ids come from the covering index alone; the rows are read by id.
	var ids []int64
	offset, limit := int64(p.Offset()), int64(p.PageSize)
	if offset < nUpcoming {
		if err := base().Where("end_at > ?", now).Order("start_at ASC, id ASC").
			Offset(int(offset)).Limit(int(limit)).Pluck("id", &ids).Error; err != nil {
			return List[ActivityView]{}, err
		}
	}
	if rest := limit - int64(len(ids)); rest > 0 && nPast > 0 {
		var past []int64
		if err := base().Where("end_at <= ?", now).Order("start_at DESC, id DESC").
			Offset(int(max(offset-nUpcoming, 0))).Limit(int(rest)).Pluck("id", &past).Error; err != nil {
			return List[ActivityView]{}, err
		}
		ids = append(ids, past...)
	}
	rows := make([]model.Activity, 0, len(ids))
	if len(ids) > 0 {
		if err := withWaitlisted(list).Where("id IN ?", ids).Find(&rows).Error; err != nil {
			return List[ActivityView]{}, err
		}
		pos := make(map[int64]int, len(ids))
		for i, id := range ids {
			pos[id] = i
		}
		slices.SortFunc(rows, func(x, y model.Activity) int { return pos[x.ID] - pos[y.ID] })
	}
	out := make([]ActivityView, 0, len(rows))
	for i := range rows {
		out = append(out, s.activityView(&rows[i]))
	}
	return NewList(out, nUpcoming+nPast, p), nil
}

// feed reads a page of the activities list by cursor: those not yet ended
// (soonest first), then the ended ones (latest first), both halves in one
// query and nothing counted. The cursor says which half it is in. It
// returns 10001 for a cursor it did not make.
func (s *ActivityService) feed(base func() *gorm.DB, now time.Time, p Page) (List[ActivityView], error) {
	past, after := false, (*timeCursor)(nil)
	if p.Cursor != "" {
		half, rest := p.Cursor[:1], p.Cursor[1:]
		c, err := parseTimeCursor(rest)
		if err != nil || (half != "u" && half != "p") {
			return List[ActivityView]{}, invalid("cursor 无效，请从第一页重新加载")
		}
		past, after = half == "p", &c
	}
	n := p.PageSize + 1
	var rows []model.Activity
	var err error
	if past {
		rows, err = scanListedActivities(endedHalf(base(), now, after, n))
	} else {
		rows, err = bothHalves(base(), now, after, n)
	}
	if err != nil {
		return List[ActivityView]{}, err
	}
	return s.feedPage(rows, now, p), nil
}

// feedPage is the page of p.PageSize from rows in list order (more rows
// mean there is a next page), with each row's cursor. It does not change
// rows (a kept page's are shared).
func (s *ActivityService) feedPage(rows []model.Activity, now time.Time, p Page) List[ActivityView] {
	rows = rows[:min(len(rows), p.PageSize+1)]
	out := make([]ActivityView, 0, len(rows))
	for i := range rows {
		out = append(out, s.activityView(&rows[i]))
	}
	return NewFeed(out, p, func(i int) string {
		half := "p"
		if rows[i].EndAt.After(now) {
			half = "u"
		}
		return half + timeCursor{At: rows[i].StartAt, ID: rows[i].ID}.String()
	})
}

// bothHalves reads, in one round trip, up to limit activities of q not yet
// ended at now (soonest first, after the cursor when one is given) and up to
// limit ended ones (latest first), in list order. It returns the database's
// error, if any.
func bothHalves(q *gorm.DB, now time.Time, after *timeCursor, limit int) ([]model.Activity, error) {
	upcoming := q.Session(&gorm.Session{}).Where("end_at > ?", now)
	if after != nil {
		upcoming = upcoming.Where("(start_at > ? OR (start_at = ? AND id > ?))", after.At, after.At, after.ID)
	}
	upcoming = upcoming.Select(activityListColumns).Order("start_at ASC").Order("id ASC").Limit(limit)
	rows, err := scanListedActivities(q.Session(&gorm.Session{NewDB: true}).
		Raw("SELECT * FROM (?) AS upcoming UNION ALL SELECT * FROM (?) AS ended", upcoming, endedHalf(q, now, nil, limit)))
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(rows, func(x, y model.Activity) int {
		xu, yu := x.EndAt.After(now), y.EndAt.After(now)
		switch {
		case xu && !yu:
			return -1
		case !xu && yu:
			return 1
		case xu:
			return cmp.Or(x.StartAt.Compare(y.StartAt), cmp.Compare(x.ID, y.ID))
		default:
			return cmp.Or(y.StartAt.Compare(x.StartAt), cmp.Compare(y.ID, x.ID))
		}
	})
	return rows, nil
}

// endedHalf is the query of up to limit activities of q ended at now,
// latest first, after the cursor when one is given.
func endedHalf(q *gorm.DB, now time.Time, after *timeCursor, limit int) *gorm.DB {
	older := q.Session(&gorm.Session{}).Where("end_at <= ?", now)
	if after != nil {
		older = older.Where("(start_at < ? OR (start_at = ? AND id < ?))", after.At, after.At, after.ID)
	}
	return older.Select(activityListColumns).Order("start_at DESC").Order("id DESC").Limit(limit)
}

// activityListColumns are the columns activityView shows, in the order
// scanListedActivities reads them.
const activityListColumns = "id, community_id, unit_id, title, content, category, address, lat, lng, radius_m, " +
	"start_at, end_at, signup_deadline, capacity, waitlist, audience, points_per_hour, status, signed, " +
	model.WaitlistedColumn + ", cancel_reason, created_by, created_at"

// scanListedActivities runs q, which selects activityListColumns, and reads
// them straight into the rows (gorm's reflective scan of every column was
// most of the feed's CPU). It returns the database's error, if any.
func scanListedActivities(q *gorm.DB) ([]model.Activity, error) {
	rows, err := q.Rows()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []model.Activity
	for rows.Next() {
		var a model.Activity
		if err := rows.Scan(&a.ID, &a.CommunityID, &a.UnitID, &a.Title, &a.Content, &a.Category, &a.Address,
			&a.Lat, &a.Lng, &a.RadiusM, &a.StartAt, &a.EndAt, &a.SignupDeadline, &a.Capacity, &a.Waitlist,
			&a.Audience, &a.PointsPerHour, &a.Status, &a.Signed, &a.Waitlisted, &a.CancelReason, &a.CreatedBy,
			&a.CreatedAt); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// MyActivityView is one of the caller's sign-ups with its activity.
type MyActivityView struct {
	Activity ActivityView `json:"activity"`
	Signup   SignupView   `json:"signup"`
}

// Mine lists the caller's sign-ups, latest activity first: signed,
// waitlisted (with the place), attended with minutes and approval state.
// status filters by sign-up state (signed, waitlisted, cancelled); empty
// means every sign-up not cancelled. It returns 10001 for another status.
func (s *ActivityService) Mine(ctx context.Context, userID int64, status string, p Page) (List[MyActivityView], error) {
	db := s.deps.DB.WithContext(ctx)
	statuses := []model.SignupStatus{model.SignupSigned, model.SignupWaitlisted}
	switch model.SignupStatus(status) {
	case "":
	case model.SignupSigned, model.SignupWaitlisted, model.SignupCancelled:
		statuses = []model.SignupStatus{model.SignupStatus(status)}
	default:
		return List[MyActivityView]{}, invalid("status 需为 signed、waitlisted 或 cancelled")
	}
	q := func() *gorm.DB {
		return db.Model(&model.Attendance{}).
			Joins("JOIN activities ON activities.id = attendances.activity_id").
			Where("attendances.user_id = ? AND attendances.status IN ?", userID, statuses)
	}
	var total int64
	if err := q().Count(&total).Error; err != nil {
		return List[MyActivityView]{}, err
	}
	var atts []model.Attendance
	if err := q().Order("activities.start_at DESC, attendances.id DESC").Offset(p.Offset()).Limit(p.PageSize).
		Select("attendances.*").Find(&atts).Error; err != nil {
		return List[MyActivityView]{}, err
	}
	ids := make([]int64, 0, len(atts))
	for _, a := range atts {
		ids = append(ids, a.ActivityID)
	}
	acts := map[int64]*model.Activity{}
	if len(ids) > 0 {
		var rows []model.Activity
		if err := withWaitlisted(db).Where("id IN ?", ids).Find(&rows).Error; err != nil {
			return List[MyActivityView]{}, err
		}
		for i := range rows {
			acts[rows[i].ID] = &rows[i]
		}
	}
	out := make([]MyActivityView, 0, len(atts))
	for i := range atts {
		a, ok := acts[atts[i].ActivityID]
		if !ok {
			return List[MyActivityView]{}, fmt.Errorf("activity %d of attendance %d is missing", atts[i].ActivityID, atts[i].ID)
		}
		pos, err := waitlistPosition(ctx, db, &atts[i])
		if err != nil {
			return List[MyActivityView]{}, err
		}
		out = append(out, MyActivityView{Activity: s.activityView(a), Signup: s.signupView(&atts[i], pos)})
	}
	return NewList(out, total, p), nil
}

// prefixError keeps an *Error's code and puts prefix before its message; other
// errors pass unchanged.
func prefixError(err error, prefix string) error {
	var e *Error
	if errors.As(err, &e) {
		c := *e
		c.Message = prefix + e.Message
		return &c
	}
	return err
}
