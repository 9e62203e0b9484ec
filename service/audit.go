package service

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"gorm.io/gorm"

	"linli/internal/reqlog"
	"linli/model"
)

// Audit actions: what a staff member or admin did. The object kinds name
// the table of the object.
const (
	AuditWishApprove        = "wish.approve"
	AuditWishReject         = "wish.reject"
	AuditReportApprove      = "member_report.approve"
	AuditReportReject       = "member_report.reject"
	AuditUnitApprove        = "unit.approve"
	AuditUnitReject         = "unit.reject"
	AuditServiceApprove     = "service.approve"
	AuditServiceReject      = "service.reject"
	AuditAttendanceApprove  = "attendance.approve"
	AuditAttendanceCheckin  = "attendance.checkin"
	AuditAttendanceCheckout = "attendance.checkout"
	AuditAttendanceAbsent   = "attendance.absent"
	AuditCreditRequest      = "credit_request.create"
	AuditCreditApprove      = "credit_request.approve"
	AuditCreditReject       = "credit_request.reject"
	AuditStaffAppoint       = "staff.appoint"
	AuditStaffRemove        = "staff.remove"
	AuditOrgCreate          = "org.create"
	AuditGoodsCreate        = "goods.create"
	AuditGoodsUpdate        = "goods.update"
	AuditGoodsDelete        = "goods.delete"
	AuditPickupVerify       = "order.verify_pickup"
	AuditHomeVerify         = "user.verify_home"
	AuditProjectConfirm     = "project.approve"
	AuditProjectReturn      = "project.reject"
	AuditActivityPublish    = "activity.publish"
	AuditActivityCancel     = "activity.cancel"
	AuditExport             = "export"
	AuditDeptStaffAppoint   = "dept_staff.appoint"
	AuditDeptStaffRemove    = "dept_staff.remove"
)

// auditEvent is what an action tells the audit log. Org is the org unit the
// action concerns (the object's community, or the unit itself); Before and
// After are small snapshots (nil for none) stored as JSON.
type auditEvent struct {
	Actor      int64
	Org        int64
	Action     string
	ObjectKind string
	ObjectID   int64
	Before     any
	After      any
	Reason     string
}

// audit appends events to the audit log inside tx, the transaction of the
// action itself, so the entries commit with the action or not at all. The
// request id comes from ctx. One statement for any number of events: each
// row reads its org's path by a subquery (an org that does not exist gets
// an entry with an empty path), kept for the end of the transaction
// (appendLater). It returns the database's error.
func (d Deps) audit(ctx context.Context, tx *gorm.DB, events ...auditEvent) error {
	if len(events) == 0 {
		return nil
	}
	const row = "(?, ?, COALESCE((SELECT path FROM org_units WHERE id = ?), ''), ?, ?, ?, ?, ?, ?, ?, ?)"
	rows := make([]string, len(events))
	args := make([]any, 0, 11*len(events))
	requestID, now := reqlog.RequestID(ctx), d.Clock.Now()
	for i, e := range events {
		rows[i] = row
		args = append(args, e.Actor, e.Org, e.Org, e.Action, e.ObjectKind, e.ObjectID, auditJSON(e.Before), auditJSON(e.After),
			truncateRunes(e.Reason, 255), requestID, now)
	}
	return appendLater(tx.WithContext(ctx), func(db *gorm.DB) *gorm.DB {
		return db.Exec("INSERT INTO audit_entries (`actor_id`, `org_id`, `org_path`, `action`, `object_kind`, "+
			"`object_id`, `before`, `after`, `reason`, `request_id`, `created_at`) VALUES "+strings.Join(rows, ", "), args...)
	})
}

// auditJSON returns v as JSON, or "" for nil.
func auditJSON(v any) string {
	if v == nil {
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

// truncateRunes cuts s to at most n characters.
func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}

// AuditService reads the audit log; the areas write it through Deps.audit.
type AuditService struct {
	deps  Deps
	authz *Authz
}

// AuditFilter selects audit entries; zero fields do not filter. To is
// exclusive.
type AuditFilter struct {
	OrgID      int64
	ActorID    *int64
	Action     string
	ObjectKind string
	ObjectID   *int64
	From, To   *time.Time
}

// AuditView is one audit entry as the API shows it; Before and After are the
// JSON snapshots as objects.
type AuditView struct {
	ID         int64           `json:"id"`
	ActorID    int64           `json:"actorId"`
	ActorName  string          `json:"actorName"`
	OrgID      int64           `json:"orgId"`
	Action     string          `json:"action"`
	ObjectKind string          `json:"objectKind"`
	ObjectID   int64           `json:"objectId"`
	Before     json.RawMessage `json:"before"`
	After      json.RawMessage `json:"after"`
	Reason     string          `json:"reason"`
	RequestID  string          `json:"requestId"`
	CreatedAt  time.Time       `json:"createdAt"`
}

// List returns a page of the audit entries of f.OrgID's subtree, newest
// first. It returns 10001 for a filter value that is too long, 10004 unless
// the caller is staff or admin of f.OrgID or above and 10005 for an unknown
// org.
func (s *AuditService) List(ctx context.Context, actorID int64, f AuditFilter, p Page) (List[AuditView], error) {
	if len(f.Action) > 48 || len(f.ObjectKind) > 32 {
		return List[AuditView]{}, invalid("筛选条件过长")
	}
	db := s.deps.DB.WithContext(ctx)
	org, err := s.authz.RequireStaff(ctx, db, actorID, f.OrgID)
	if err != nil {
		return List[AuditView]{}, err
	}
	q := db.Model(&model.AuditEntry{}).Where("org_path LIKE ?", org.Path+"%")
	if f.ActorID != nil {
		q = q.Where("actor_id = ?", *f.ActorID)
	}
	if f.Action != "" {
		q = q.Where("action = ?", f.Action)
	}
	if f.ObjectKind != "" {
		q = q.Where("object_kind = ?", f.ObjectKind)
	}
	if f.ObjectID != nil {
		q = q.Where("object_id = ?", *f.ObjectID)
	}
	if f.From != nil {
		q = q.Where("created_at >= ?", *f.From)
	}
	if f.To != nil {
		q = q.Where("created_at < ?", *f.To)
	}
	rows, total, err := findPage[model.AuditEntry](q, "id DESC", p)
	if err != nil {
		return List[AuditView]{}, err
	}
	ids := make([]int64, 0, len(rows))
	for _, r := range rows {
		ids = append(ids, r.ActorID)
	}
	names, err := nicknames(ctx, db, ids)
	if err != nil {
		return List[AuditView]{}, err
	}
	out := make([]AuditView, 0, len(rows))
	for _, r := range rows {
		out = append(out, AuditView{
			ID: r.ID, ActorID: r.ActorID, ActorName: names[r.ActorID], OrgID: r.OrgID, Action: r.Action,
			ObjectKind: r.ObjectKind, ObjectID: r.ObjectID, Before: rawJSON(r.Before), After: rawJSON(r.After),
			Reason: r.Reason, RequestID: r.RequestID, CreatedAt: r.CreatedAt,
		})
	}
	return NewList(out, total, p), nil
}

// rawJSON returns a stored snapshot as raw JSON, null when empty.
func rawJSON(s string) json.RawMessage {
	if s == "" {
		return json.RawMessage("null")
	}
	return json.RawMessage(s)
}

// nicknames returns the nicknames of users by id (one query).
func nicknames(ctx context.Context, db *gorm.DB, ids []int64) (map[int64]string, error) {
	out := map[int64]string{}
	if len(ids) == 0 {
		return out, nil
	}
	var users []model.User
	if err := db.WithContext(ctx).Select("id", "nickname").Where("id IN ?", ids).Find(&users).Error; err != nil {
		return nil, err
	}
	for _, u := range users {
		out[u.ID] = u.Nickname
	}
	return out, nil
}

// reviewEvent is the audit event of an approval or rejection of object kind
// (whose actions are kind+".approve" and kind+".reject") moving its status
// from one state to another.
func reviewEvent(actor, org int64, approve bool, kind string, id int64, from, to any, reason string) auditEvent {
	verb := ".approve"
	if !approve {
		verb = ".reject"
	}
	return auditEvent{Actor: actor, Org: org, Action: kind + verb, ObjectKind: kind, ObjectID: id,
		Before: map[string]any{"status": from}, After: map[string]any{"status": to}, Reason: reason}
}
