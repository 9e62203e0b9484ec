package service

import (
	"context"
	"strings"
	"time"

	"gorm.io/gorm"

	"linli/model"
)

// Queue kinds: what waits for a staff member's decision.
const (
	QueueWish          = "wish"
	QueueMemberReport  = "member_report"
	QueueUnit          = "unit"
	QueueService       = "service"
	QueueAttendance    = "attendance"
	QueueProject       = "project"
	QueueCreditRequest = "credit_request"
	QueueCorrection    = "record_correction"
	QueueContentFlag   = "content_flag"
	QueueImage         = "image"
)

// QueueKinds lists the queue kinds in the order counts are shown.
func QueueKinds() []string {
	return []string{QueueWish, QueueMemberReport, QueueUnit, QueueService, QueueAttendance, QueueProject, QueueCreditRequest, QueueCorrection, QueueContentFlag, QueueImage}
}

// OversightService gives staff one review queue, dashboards and spreadsheet
// exports over their part of the org tree.
type OversightService struct {
	deps    Deps
	authz   *Authz
	orgs    *OrgTree
	reports *ReportService
	wishes  *WishService
}

// QueueItem is one thing awaiting a decision. ObjectID is the id the
// decision's route takes (for an attendance: the activity, with UserID the
// attendee).
type QueueItem struct {
	Kind          string    `json:"kind"`
	ID            int64     `json:"id"`
	ObjectID      int64     `json:"objectId"`
	UserID        int64     `json:"userId,omitempty"`
	CommunityID   int64     `json:"communityId"`
	CommunityName string    `json:"communityName"`
	Title         string    `json:"title"`
	WaitingSince  time.Time `json:"waitingSince"`
}

// Queue is one page of the review queue with the count of every kind.
type Queue struct {
	List[QueueItem]
	Counts map[string]int64 `json:"counts"`
}

// queueSource is the SELECT of one kind: columns kind, id, object_id,
// user_id, community_id, title, waiting_since over the rows awaiting a
// decision in the communities of subtree (a subquery).
func (s *OversightService) queueSource(db *gorm.DB, kind string, subtree *gorm.DB, actorID int64) *gorm.DB {
	q := db.Session(&gorm.Session{NewDB: true})
	switch kind {
	case QueueWish:
		return q.Table("wishes").Select("'wish' AS kind, id, id AS object_id, poster_id AS user_id, community_id, title, created_at AS waiting_since").
			Where("status = ? AND community_id IN (?)", model.WishPendingReview, subtree)
	case QueueMemberReport:
		return q.Table("member_reports").Select("'member_report' AS kind, id, id AS object_id, user_id, community_id, real_name AS title, created_at AS waiting_since").
			Where("status = ? AND community_id IN (?)", model.ReviewPending, subtree)
	case QueueUnit:
		return q.Table("units").Select("'unit' AS kind, id, id AS object_id, created_by AS user_id, community_id, name AS title, created_at AS waiting_since").
			Where("status = ? AND community_id IN (?)", model.ReviewPending, subtree)
	case QueueService:
		return q.Table("service_records").Select("'service' AS kind, id, id AS object_id, user_id, community_id, note AS title, created_at AS waiting_since").
			Where("status = ? AND community_id IN (?)", model.RecordPending, subtree)
	case QueueAttendance:
		return q.Table("attendances AS t").Joins("JOIN activities AS a ON a.id = t.activity_id").
			Select("'attendance' AS kind, t.id, t.activity_id AS object_id, t.user_id, a.community_id, a.title, t.checkout_at AS waiting_since").
			Where("t.state = ? AND t.status = ? AND a.community_id IN (?)", model.AttendCheckedOut, model.SignupSigned, subtree)
	case QueueProject:
		return q.Table("projects").Select("'project' AS kind, id, id AS object_id, claimed_by AS user_id, community_id, title, updated_at AS waiting_since").
			Where("status = ? AND community_id IN (?)", model.ProjectAwaitingConfirmation, subtree)
	case QueueCorrection: // not a request about the actor's own record
		return q.Table("record_corrections").Select("'record_correction' AS kind, id, id AS object_id, user_id, community_id, title, created_at AS waiting_since").
			Where("status = ? AND user_id <> ? AND community_id IN (?)", model.CorrectionPending, actorID, subtree)
	case QueueContentFlag: // user texts stored without a clean content check
		return q.Table("content_flags").Select("'content_flag' AS kind, id, id AS object_id, user_id, community_id, excerpt AS title, created_at AS waiting_since").
			Where("status = ? AND community_id IN (?)", model.ContentFlagPending, subtree)
	case QueueImage: // images waiting for a staff member's decision (the image check)
		return q.Table("uploads").Select("'image' AS kind, id, id AS object_id, owner_id AS user_id, community_id, "+
			"CASE purpose WHEN 'wish' THEN '心愿图片' WHEN 'fulfil' THEN '心愿实现照片' WHEN 'record' THEN '服务记录照片' "+
			"WHEN 'case' THEN '随手拍照片' ELSE '图片' END AS title, created_at AS waiting_since").
			Where("check_status = ? AND community_id IN (?)", model.CheckReview, subtree)
	default: // QueueCreditRequest: not the actor's own request, nor one for them
		return q.Table("manual_credits").Select("'credit_request' AS kind, id, id AS object_id, user_id, community_id, reason AS title, created_at AS waiting_since").
			Where("status = ? AND actor_id <> ? AND user_id <> ? AND community_id IN (?)", model.ManualCreditPending, actorID, actorID, subtree)
	}
}

// Queue returns what awaits the caller's decision in orgID's subtree,
// oldest first: pending wishes, member reports, unit reports and
// self-logged services, checked-out attendances, projects awaiting
// confirmation, manual-credit requests made by someone else and images
// waiting for a staff decision (kind, when set, picks one of them). Counts
// has every kind, all counted in one query; Total is the count of the
// listed kinds. It returns 10001 for an unknown
// kind, 10004 unless the caller is staff or admin of orgID or above and
// 10005 for an unknown org.
func (s *OversightService) Queue(ctx context.Context, actorID, orgID int64, kind string, p Page) (*Queue, error) {
	kinds := QueueKinds()
	if kind != "" {
		if !isQueueKind(kind) {
			return nil, invalid("kind 需为 %s 之一", strings.Join(kinds, "、"))
		}
		kinds = []string{kind}
	}
	db := s.deps.DB.WithContext(ctx)
	org, err := s.authz.RequireStaff(ctx, db, actorID, orgID)
	if err != nil {
		return nil, err
	}
	subtree := func() *gorm.DB {
		return db.Session(&gorm.Session{NewDB: true}).Model(&model.OrgUnit{}).Select("id").Where("path LIKE ?", org.Path+"%")
	}
	// The counts: one row of one subquery per kind.
	var sel []string
	var args []any
	for _, k := range QueueKinds() {
		sel = append(sel, "(SELECT COUNT(*) FROM (?) AS q_"+k+") AS "+k)
		args = append(args, s.queueSource(db, k, subtree(), actorID))
	}
	row := map[string]any{}
	if err := db.Raw("SELECT "+strings.Join(sel, ", "), args...).Take(&row).Error; err != nil {
		return nil, err
	}
	out := &Queue{Counts: map[string]int64{}}
	var total int64
	for _, k := range QueueKinds() {
		n := toInt64(row[k])
		out.Counts[k] = n
		if kind == "" || kind == k {
			total += n
		}
	}
	var items []QueueItem
	if total > 0 {
		parts := make([]string, 0, len(kinds))
		uargs := make([]any, 0, len(kinds))
		for _, k := range kinds {
			parts = append(parts, "SELECT * FROM (?) AS u_"+k)
			uargs = append(uargs, s.queueSource(db, k, subtree(), actorID))
		}
		var rows []struct {
			Kind         string
			ID           int64
			ObjectID     int64
			UserID       int64
			CommunityID  int64
			Title        string
			WaitingSince *time.Time
		}
		sql := strings.Join(parts, " UNION ALL ") + " ORDER BY waiting_since, kind, id LIMIT ? OFFSET ?"
		uargs = append(uargs, p.PageSize, p.Offset())
		if err := db.Raw(sql, uargs...).Scan(&rows).Error; err != nil {
			return nil, err
		}
		tree, err := s.orgs.snapshot(ctx)
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			it := QueueItem{Kind: r.Kind, ID: r.ID, ObjectID: r.ObjectID, UserID: r.UserID, CommunityID: r.CommunityID,
				Title: truncateRunes(r.Title, 60)}
			if r.WaitingSince != nil {
				it.WaitingSince = r.WaitingSince.In(s.deps.Config.Location)
			}
			if c := tree[r.CommunityID]; c != nil {
				it.CommunityName = c.Name
			}
			items = append(items, it)
		}
	}
	out.List = NewList(items, total, p)
	return out, nil
}

// isQueueKind reports whether k is a queue kind.
func isQueueKind(k string) bool {
	for _, v := range QueueKinds() {
		if v == k {
			return true
		}
	}
	return false
}

// toInt64 reads a COUNT the drivers scan as int64, uint64, []byte or string.
func toInt64(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case int32:
		return int64(n)
	case int:
		return int64(n)
	case uint64:
		return int64(n)
	case float64:
		return int64(n)
	case []byte:
		return parseInt64(string(n))
	case string:
		return parseInt64(n)
	}
	return 0
}

func parseInt64(s string) int64 {
	var n int64
	for _, c := range s {
		if c < '0' || c > '9' {
			return n
		}
		n = n*10 + int64(c-'0')
	}
	return n
}
