package service

import (
	"context"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"linli/internal/ledger"
	"linli/model"
)

// ---- Posts (岗位) ----

// PostView is a post with its free places; ClaimedByMe says whether the
// caller holds it.
type PostView struct {
	ID          int64            `json:"id"`
	CommunityID int64            `json:"communityId"`
	Name        string           `json:"name"`
	Description string           `json:"description"`
	Capacity    int              `json:"capacity"`
	Taken       int              `json:"taken"`
	Status      model.PostStatus `json:"status"`
	ClaimedByMe bool             `json:"claimedByMe"`
	CreatedAt   time.Time        `json:"createdAt"`
}

func postView(p *model.Post, mine bool) PostView {
	return PostView{
		ID: p.ID, CommunityID: p.CommunityID, Name: p.Name, Description: p.Description,
		Capacity: p.Capacity, Taken: p.Taken, Status: p.Status, ClaimedByMe: mine, CreatedAt: p.CreatedAt,
	}
}

// MaxPostCapacity is the largest capacity of a post.
const MaxPostCapacity = 10000

// CreatePost publishes a post of a community with a capacity. It returns
// 10001 for a bad field or an org that is not a community, 10005 for an
// unknown community and 10004 unless the caller is its staff.
func (s *ReportService) CreatePost(ctx context.Context, actorID, communityID int64, name, description string, capacity int) (*PostView, error) {
	name, err := textField(name, 1, 64, "岗位名称")
	if err != nil {
		return nil, err
	}
	if description, err = textField(description, 0, 500, "岗位说明"); err != nil {
		return nil, err
	}
	if capacity < 1 || capacity > MaxPostCapacity {
		return nil, invalid("岗位名额需为 1 到 %d", MaxPostCapacity)
	}
	var out PostView
	err = s.deps.tx(ctx, func(tx *gorm.DB) error {
		if _, err := requireCommunity(ctx, tx, communityID); err != nil {
			return err
		}
		if _, err := s.authz.RequireStaff(ctx, tx, actorID, communityID); err != nil {
			return err
		}
		p := model.Post{CommunityID: communityID, Name: name, Description: description, Capacity: capacity,
			Status: model.PostOpen, CreatedBy: actorID}
		if err := tx.Create(&p).Error; err != nil {
			return err
		}
		out = postView(&p, false)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ListPosts lists the posts of a community (anyone signed in). It returns
// 10005 for an unknown community.
func (s *ReportService) ListPosts(ctx context.Context, actorID, communityID int64, p Page) (List[PostView], error) {
	db := s.deps.DB.WithContext(ctx)
	if _, err := loadOrg(ctx, db, communityID); err != nil {
		return List[PostView]{}, err
	}
	q := db.Model(&model.Post{}).Where("community_id = ?", communityID)
	rows, total, err := findPage[model.Post](q, "id DESC", p)
	if err != nil {
		return List[PostView]{}, err
	}
	ids := make([]int64, 0, len(rows))
	for _, r := range rows {
		ids = append(ids, r.ID)
	}
	var mine []int64
	if len(ids) > 0 {
		err := db.Model(&model.PostClaim{}).Where("post_id IN ? AND active_user_id = ?", ids, actorID).Pluck("post_id", &mine).Error
		if err != nil {
			return List[PostView]{}, err
		}
	}
	held := make(map[int64]bool, len(mine))
	for _, id := range mine {
		held[id] = true
	}
	out := make([]PostView, 0, len(rows))
	for i := range rows {
		out = append(out, postView(&rows[i], held[rows[i].ID]))
	}
	return NewList(out, total, p), nil
}

// MyPosts lists the posts the caller holds.
func (s *ReportService) MyPosts(ctx context.Context, actorID int64) ([]PostView, error) {
	var rows []model.Post
	err := s.deps.DB.WithContext(ctx).
		Joins("JOIN post_claims ON post_claims.post_id = posts.id").
		Where("post_claims.active_user_id = ?", actorID).Order("posts.id").Find(&rows).Error
	if err != nil {
		return nil, err
	}
	out := make([]PostView, 0, len(rows))
	for i := range rows {
		out = append(out, postView(&rows[i], true))
	}
	return out, nil
}

// ClaimPost lets a reported member of the post's community take a place.
// Places are taken by one conditional UPDATE (never over capacity, however
// many claim at once) and the claim's unique key stops a second claim by the
// same member. It returns 10005 for an unknown post, 50005 unless the caller
// is a reported member, 10004 when they are reported to another community,
// 10006 for a closed post, 50002 when they hold it already and 50001 when it
// is full.
func (s *ReportService) ClaimPost(ctx context.Context, actorID, postID int64) (*PostView, error) {
	var out PostView
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		var p model.Post
		if err := tx.First(&p, postID).Error; err != nil {
			return notFoundOr(err, "岗位")
		}
		member, err := s.partyMembership(ctx, tx, actorID)
		if err != nil {
			return err
		}
		if member == nil {
			return Errorf(CodeNotReported, "您还不是已报到的在职党员，请先到社区报到")
		}
		if member.CommunityID != p.CommunityID {
			return forbidden("只能认领报到社区的岗位")
		}
		if p.Status != model.PostOpen {
			return conflict("该岗位已关闭")
		}
		var held int64
		if err := tx.Model(&model.PostClaim{}).Where("post_id = ? AND active_user_id = ?", postID, actorID).Count(&held).Error; err != nil {
			return err
		}
		if held > 0 {
			return Errorf(CodePostClaimed, "您已认领该岗位")
		}
		res := tx.Model(&model.Post{}).
			Where("id = ? AND status = ? AND taken < capacity", postID, model.PostOpen).
			Updates(map[string]any{"taken": gorm.Expr("taken + 1"), "updated_at": s.deps.Clock.Now().UTC()})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return Errorf(CodePostFull, "岗位名额已满")
		}
		uid := actorID
		if err := tx.Create(&model.PostClaim{PostID: postID, UserID: actorID, ActiveUserID: &uid}).Error; err != nil {
			if isDuplicate(err) {
				return Errorf(CodePostClaimed, "您已认领该岗位")
			}
			return err
		}
		if err := tx.First(&p, postID).Error; err != nil {
			return err
		}
		out = postView(&p, true)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ReleasePost gives up the caller's place on a post. It returns 10005 for an
// unknown post and 50003 when the caller does not hold it.
func (s *ReportService) ReleasePost(ctx context.Context, actorID, postID int64) (*PostView, error) {
	var out PostView
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		var p model.Post
		if err := tx.First(&p, postID).Error; err != nil {
			return notFoundOr(err, "岗位")
		}
		ok, err := s.releaseClaim(ctx, tx, actorID, postID)
		if err != nil {
			return err
		}
		if !ok {
			return Errorf(CodePostNotClaimed, "您未认领该岗位")
		}
		if err := tx.First(&p, postID).Error; err != nil {
			return err
		}
		out = postView(&p, false)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// releaseClaim ends the user's active claim on a post and frees its place;
// false when there was none.
func (s *ReportService) releaseClaim(ctx context.Context, tx *gorm.DB, userID, postID int64) (bool, error) {
	now := s.deps.Clock.Now().UTC()
	res := tx.Model(&model.PostClaim{}).Where("post_id = ? AND active_user_id = ?", postID, userID).
		Updates(map[string]any{"active_user_id": nil, "released_at": now})
	if res.Error != nil || res.RowsAffected == 0 {
		return false, res.Error
	}
	err := tx.Model(&model.Post{}).Where("id = ? AND taken > 0", postID).
		Updates(map[string]any{"taken": gorm.Expr("taken - 1"), "updated_at": now}).Error
	return err == nil, err
}

// releaseClaims releases every post the user holds outside keepCommunity
// (all of them when nil): a member who withdraws or moves gives up the posts
// of the community they leave.
func (s *ReportService) releaseClaims(ctx context.Context, tx *gorm.DB, userID int64, keepCommunity *int64) error {
	q := tx.Model(&model.PostClaim{}).
		Joins("JOIN posts ON posts.id = post_claims.post_id").
		Where("post_claims.active_user_id = ?", userID)
	if keepCommunity != nil {
		q = q.Where("posts.community_id <> ?", *keepCommunity)
	}
	var postIDs []int64
	if err := q.Pluck("post_claims.post_id", &postIDs).Error; err != nil {
		return err
	}
	for _, id := range postIDs {
		if _, err := s.releaseClaim(ctx, tx, userID, id); err != nil {
			return err
		}
	}
	return nil
}

// PostHolderView is one member holding a post, as its community's staff see
// it.
type PostHolderView struct {
	UserID    int64     `json:"userId"`
	RealName  string    `json:"realName"`
	ClaimedAt time.Time `json:"claimedAt"`
}

// PostHolders lists who holds a post, for staff of its community. It returns
// 10005 for an unknown post and 10004 unless the caller is its staff.
func (s *ReportService) PostHolders(ctx context.Context, actorID, postID int64) ([]PostHolderView, error) {
	db := s.deps.DB.WithContext(ctx)
	var p model.Post
	if err := db.First(&p, postID).Error; err != nil {
		return nil, notFoundOr(err, "岗位")
	}
	if _, err := s.authz.RequireStaff(ctx, db, actorID, p.CommunityID); err != nil {
		return nil, err
	}
	var rows []struct {
		UserID    int64
		RealName  string
		CreatedAt time.Time
	}
	err := db.Model(&model.PostClaim{}).
		Select("post_claims.user_id, COALESCE(member_reports.real_name, '') AS real_name, post_claims.created_at").
		Joins("LEFT JOIN member_reports ON member_reports.active_user_id = post_claims.user_id").
		Where("post_claims.post_id = ? AND post_claims.active_user_id IS NOT NULL", postID).
		Order("post_claims.id").Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	out := make([]PostHolderView, 0, len(rows))
	for _, r := range rows {
		out = append(out, PostHolderView{UserID: r.UserID, RealName: r.RealName, ClaimedAt: r.CreatedAt})
	}
	return out, nil
}

// ---- Service records ----

// RecordInput is what POST /services carries. Exactly one of OccurredOn (a
// date, YYYY-MM-DD, meaning its start in the configured zone) and OccurredAt
// is set.
type RecordInput struct {
	Kind       model.ServiceKind
	OccurredOn string
	OccurredAt *time.Time
	Minutes    int
	Note       string
	Images     []int64
	PostID     *int64
}

// Limits of a self-logged service record.
const (
	MaxRecordMinutes = 720
	MaxRecordImages  = 9
)

// RecordView is a service record.
type RecordView struct {
	ID           int64              `json:"id"`
	UserID       int64              `json:"userId"`
	CommunityID  int64              `json:"communityId"`
	Kind         model.ServiceKind  `json:"kind"`
	KindLabel    string             `json:"kindLabel"`
	OccurredAt   time.Time          `json:"occurredAt"`
	Minutes      int                `json:"minutes"`
	Note         string             `json:"note"`
	Images       []UploadView       `json:"images"`
	PostID       *int64             `json:"postId"`
	UnitID       *int64             `json:"unitId"`
	Status       model.RecordStatus `json:"status"`
	RejectReason string             `json:"rejectReason"`
	Source       string             `json:"source"`
	CreatedAt    time.Time          `json:"createdAt"`
	ReviewedAt   *time.Time         `json:"reviewedAt"`
}

// kindLabel returns the Chinese name of a service kind.
func kindLabel(k model.ServiceKind) string {
	switch k {
	case model.ServiceContactHelp:
		return "联系帮扶群众"
	case model.ServicePostDuty:
		return "服务认领岗位"
	case model.ServicePublicActivity:
		return "参加公益活动"
	case model.ServicePracticalDeed:
		return "办实事"
	}
	return string(k)
}

// recordView is the view of r for its member or staff; checks holds the
// image check state of its images (UploadService.checksOf).
func (s *ReportService) recordView(r *model.ServiceRecord, checks map[int64]model.UploadCheck) RecordView {
	images := s.uploads.privateViews(r.Images, checks)
	source := "self"
	if r.SourceKey != nil {
		source, _, _ = strings.Cut(*r.SourceKey, ":")
	}
	return RecordView{
		ID: r.ID, UserID: r.UserID, CommunityID: r.CommunityID, Kind: r.Kind, KindLabel: kindLabel(r.Kind),
		OccurredAt: r.OccurredAt.In(s.deps.Config.Location), Minutes: r.Minutes, Note: r.Note, Images: images,
		PostID: r.PostID, UnitID: r.UnitID, Status: r.Status, RejectReason: r.RejectReason, Source: source,
		CreatedAt: r.CreatedAt, ReviewedAt: r.ReviewedAt,
	}
}

// occurredAt resolves and checks the time of a self-logged service: not in
// the future and not before the start of the day report.service_max_age_days
// ago (in the configured zone).
func (s *ReportService) occurredAt(in RecordInput) (time.Time, error) {
	loc := s.deps.Config.Location
	var at time.Time
	switch {
	case in.OccurredAt != nil && in.OccurredOn != "":
		return time.Time{}, invalid("occurredOn 与 occurredAt 只能填写一个")
	case in.OccurredAt != nil:
		at = *in.OccurredAt
	case in.OccurredOn != "":
		d, err := parseDate(in.OccurredOn, loc, "服务日期")
		if err != nil {
			return time.Time{}, err
		}
		at = d
	default:
		return time.Time{}, invalid("缺少服务日期 occurredOn")
	}
	now := s.deps.Clock.Now().In(loc)
	if at.After(now) {
		return time.Time{}, invalid("服务日期不能晚于今天")
	}
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc)
	maxAge := s.deps.Config.Report.ServiceMaxAgeDays
	if at.Before(today.AddDate(0, 0, -maxAge)) {
		return time.Time{}, invalid("只能登记 %d 天内的服务", maxAge)
	}
	return at.UTC(), nil
}

// LogService records a service the caller did; it awaits staff approval. A
// post_duty record names a post the caller holds. It returns 10001 for a bad
// field (kind, date in the future or too old, minutes outside 1–720, note
// over 500 characters, more than 9 images, an image id that is not an
// unattached upload, a post on another kind), 10004 for an image someone
// else uploaded, 50005 unless the caller is a reported member, 50003 when
// they do not hold the named post and 10008 for a risky note (nothing
// stored; the note passes the content check). The photos are private: views carry
// signed URLs.
func (s *ReportService) LogService(ctx context.Context, actorID int64, in RecordInput) (*RecordView, error) {
	if !in.Kind.Valid() {
		return nil, invalid("服务类型需为 contact_help、post_duty、public_activity 或 practical_deed")
	}
	at, err := s.occurredAt(in)
	if err != nil {
		return nil, err
	}
	if in.Minutes < 1 || in.Minutes > MaxRecordMinutes {
		return nil, invalid("服务时长需为 1 到 %d 分钟", MaxRecordMinutes)
	}
	note, err := textField(in.Note, 0, 500, "服务说明")
	if err != nil {
		return nil, err
	}
	flagged, err := s.content.checkUserText(ctx, s.deps.DB, actorID, map[string]string{"note": note})
	if err != nil {
		return nil, err
	}
	if len(in.Images) > MaxRecordImages {
		return nil, invalid("图片最多 %d 张", MaxRecordImages)
	}
	if in.Kind == model.ServicePostDuty && in.PostID == nil {
		return nil, invalid("服务认领岗位需选择所认领的岗位 postId")
	}
	if in.Kind != model.ServicePostDuty && in.PostID != nil {
		return nil, invalid("只有服务认领岗位才需填写 postId")
	}
	var out RecordView
	err = s.deps.tx(ctx, func(tx *gorm.DB) error {
		member, err := s.partyMembership(ctx, tx, actorID)
		if err != nil {
			return err
		}
		if member == nil {
			return Errorf(CodeNotReported, "您还不是已报到的在职党员，请先到社区报到")
		}
		if in.PostID != nil {
			var n int64
			if err := tx.Model(&model.PostClaim{}).Where("post_id = ? AND active_user_id = ?", *in.PostID, actorID).Count(&n).Error; err != nil {
				return err
			}
			if n == 0 {
				return Errorf(CodePostNotClaimed, "您未认领该岗位，不能登记岗位服务")
			}
		}
		imgs, err := s.uploads.attachOwn(ctx, tx, actorID, in.Images, MaxRecordImages, model.UploadRecord, member.CommunityID)
		if err != nil {
			return err
		}
		r := model.ServiceRecord{
			UserID: actorID, CommunityID: member.CommunityID, Kind: in.Kind, OccurredAt: at,
			Minutes: in.Minutes, Note: note, Images: encodeStored(imgs), PostID: in.PostID, UnitID: member.UnitID,
			Status: model.RecordPending,
		}
		if err := tx.Create(&r).Error; err != nil {
			return err
		}
		if err := s.content.flagTexts(tx, flagged, "service_record", r.ID, actorID, r.CommunityID); err != nil {
			return err
		}
		checks, err := s.uploads.checksOf(ctx, tx, storedIDs(r.Images))
		if err != nil {
			return err
		}
		out = s.recordView(&r, checks)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// MyRecords lists the caller's service records, newest first, optionally by
// status and quarter. It returns 10001 for an unknown status or period.
func (s *ReportService) MyRecords(ctx context.Context, actorID int64, status, period string, p Page) (List[RecordView], error) {
	q := s.deps.DB.WithContext(ctx).Model(&model.ServiceRecord{}).Where("user_id = ?", actorID)
	return s.listRecords(q, status, period, p)
}

// ListRecords lists the service records of a community for its staff (the
// review queue), newest first; status defaults to pending. It returns 10001
// for an unknown status or period, 10005 for an unknown community and 10004
// unless the caller is its staff.
func (s *ReportService) ListRecords(ctx context.Context, actorID, communityID int64, status, period string, p Page) (List[RecordView], error) {
	db := s.deps.DB.WithContext(ctx)
	if _, err := s.authz.RequireStaff(ctx, db, actorID, communityID); err != nil {
		return List[RecordView]{}, err
	}
	if status == "" {
		status = string(model.RecordPending)
	}
	return s.listRecords(db.Model(&model.ServiceRecord{}).Where("community_id = ?", communityID), status, period, p)
}

func (s *ReportService) listRecords(q *gorm.DB, status, period string, p Page) (List[RecordView], error) {
	switch model.RecordStatus(status) {
	case "":
	case model.RecordPending, model.RecordApproved, model.RecordRejected:
		q = q.Where("status = ?", status)
	default:
		return List[RecordView]{}, invalid("status 需为 pending、approved 或 rejected")
	}
	if period != "" {
		qt, err := parseQuarter(period, s.deps.Config.Location)
		if err != nil {
			return List[RecordView]{}, err
		}
		q = q.Where("occurred_at >= ? AND occurred_at < ?", qt.Start.UTC(), qt.End.UTC())
	}
	rows, total, err := findPage[model.ServiceRecord](q, "occurred_at DESC, id DESC", p)
	if err != nil {
		return List[RecordView]{}, err
	}
	var ids []int64
	for i := range rows {
		ids = append(ids, storedIDs(rows[i].Images)...)
	}
	checks, err := s.uploads.checksOf(q.Statement.Context, s.deps.DB, ids)
	if err != nil {
		return List[RecordView]{}, err
	}
	out := make([]RecordView, 0, len(rows))
	for i := range rows {
		out = append(out, s.recordView(&rows[i], checks))
	}
	return NewList(out, total, p), nil
}

// recordSource is the ledger source kind of an approved self-logged record.
const recordSource = "service_record"

// ReviewRecord approves or rejects (with a reason) a pending self-logged
// record. Approval credits the record's minutes to the member's time bank
// and report.points_per_hour points per hour, once: the status changes by a
// conditional UPDATE and the credits are keyed by the record id. It returns
// 10001 for a rejection without a reason, 10005 for an unknown record, 10004
// unless the caller is staff of the record's community, 30012 when staff
// approve their own record, and 50006 when the record is no longer pending.
func (s *ReportService) ReviewRecord(ctx context.Context, actorID, id int64, approve bool, reason string) (*RecordView, error) {
	reason, err := reviewReason(approve, reason)
	if err != nil {
		return nil, err
	}
	var out RecordView
	err = s.deps.tx(ctx, func(tx *gorm.DB) error {
		var r model.ServiceRecord
		if err := tx.First(&r, id).Error; err != nil {
			return notFoundOr(err, "服务记录")
		}
		if _, err := s.authz.RequireStaff(ctx, tx, actorID, r.CommunityID); err != nil {
			return err
		}
		if approve && r.UserID == actorID {
			return selfAction("审核通过自己的服务记录")
		}
		now := s.deps.Clock.Now().UTC()
		updates := map[string]any{"reviewed_by": actorID, "reviewed_at": now, "updated_at": now}
		if approve {
			updates["status"] = model.RecordApproved
		} else {
			updates["status"] = model.RecordRejected
			updates["reject_reason"] = reason
		}
		res := tx.Model(&model.ServiceRecord{}).Where("id = ? AND status = ?", id, model.RecordPending).Updates(updates)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return Errorf(CodeAlreadyReviewed, "该服务记录已审核，不能重复操作")
		}
		if approve {
			if err := s.creditRecord(ctx, tx, &r); err != nil {
				return err
			}
			if err := s.deps.addRecordStats(tx, r.UserID, r.Kind, r.OccurredAt, 1); err != nil {
				return err
			}
		}
		event := EventServiceApproved
		if !approve {
			event = EventServiceRejected
		}
		subject := kindLabel(r.Kind) + " " + r.OccurredAt.In(s.deps.Config.Location).Format("01-02")
		err := s.notify.Notify(tx, Notice{UserID: r.UserID, Event: event, ObjectKind: "service_record", ObjectID: id,
			Subject: subject, Note: reason})
		if err != nil {
			return err
		}
		if err := tx.First(&r, id).Error; err != nil {
			return err
		}
		checks, err := s.uploads.checksOf(ctx, tx, storedIDs(r.Images))
		if err != nil {
			return err
		}
		out = s.recordView(&r, checks)
		return s.deps.audit(ctx, tx, reviewEvent(actorID, r.CommunityID, approve, "service", id,
			model.RecordPending, r.Status, reason))
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// creditRecord credits an approved record's minutes and points, keyed by the
// record id so a replay writes nothing.
func (s *ReportService) creditRecord(ctx context.Context, tx *gorm.DB, r *model.ServiceRecord) error {
	src := ledger.Source{Kind: recordSource, ID: strconv.FormatInt(r.ID, 10)}
	memo := "服务记录：" + kindLabel(r.Kind)
	if r.Minutes > 0 {
		_, err := s.timeBank.Credit(ctx, tx, ledger.Credit{UserID: r.UserID, CommunityID: r.CommunityID,
			Currency: model.CurrencyMinutes, Amount: int64(r.Minutes), Source: src, Memo: memo})
		if err != nil {
			return err
		}
	}
	if points := int64(r.Minutes) * int64(s.deps.Config.Report.PointsPerHour) / 60; points > 0 {
		_, err := s.timeBank.Credit(ctx, tx, ledger.Credit{UserID: r.UserID, CommunityID: r.CommunityID,
			Currency: model.CurrencyPoints, Amount: points, Source: src, Memo: memo})
		if err != nil {
			return err
		}
	}
	return nil
}
