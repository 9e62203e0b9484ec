package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"linli/config"
	"linli/model"
)

// Events a notification is about (config.NotificationEvents). Each may have
// a subscribe template, wechat.templates.<event>.
const (
	EventWishApproved       = "wish_approved"
	EventWishRejected       = "wish_rejected"
	EventWishClaimed        = "wish_claimed"
	EventWishReleased       = "wish_released"
	EventWishFulfilled      = "wish_fulfilled"
	EventWishCompleted      = "wish_completed"
	EventReportApproved     = "report_approved"
	EventReportRejected     = "report_rejected"
	EventUnitApproved       = "unit_approved"
	EventServiceApproved    = "service_approved"
	EventServiceRejected    = "service_rejected"
	EventActivityCancelled  = "activity_cancelled"
	EventActivityReminder   = "activity_reminder"
	EventWaitlistPromoted   = "waitlist_promoted"
	EventHoursApproved      = "hours_approved"
	EventOrderReady         = "order_ready"
	EventOrderExpired       = "order_expired"
	EventGiftReceived       = "gift_received"
	EventCreditReceived     = "credit_received"
	EventObligationReminder = "obligation_reminder"
	// Volunteer records.
	EventCorrectionAccepted = "correction_accepted"
	EventCorrectionRefused  = "correction_refused"
)

// eventText returns an event's inbox title, its status phrase (at most 5
// characters, WeChat's phrase limit) and the body's format, whose %s is the
// notice's subject.
func eventText(event string) (title, status, body string) {
	switch event {
	case EventWishApproved:
		return "心愿审核通过", "已通过", "您的心愿「%s」已通过审核并发布"
	case EventWishRejected:
		return "心愿未通过审核", "未通过", "您的心愿「%s」未通过审核"
	case EventWishClaimed:
		return "心愿已被认领", "已认领", "心愿「%s」已被认领"
	case EventWishReleased:
		return "心愿认领已释放", "已释放", "心愿「%s」的认领已释放"
	case EventWishFulfilled:
		return "心愿已实现", "待确认", "心愿「%s」已实现，请确认"
	case EventWishCompleted:
		return "心愿已完成", "已完成", "心愿「%s」已确认完成"
	case EventReportApproved:
		return "报到审核通过", "已通过", "您在「%s」的报到已通过审核"
	case EventReportRejected:
		return "报到未通过审核", "未通过", "您在「%s」的报到未通过审核"
	case EventUnitApproved:
		return "单位报到通过", "已通过", "单位「%s」的报到已通过审核"
	case EventServiceApproved:
		return "服务记录已通过", "已通过", "您的服务记录「%s」已通过审核"
	case EventServiceRejected:
		return "服务记录未通过", "未通过", "您的服务记录「%s」未通过审核"
	case EventActivityCancelled:
		return "活动已取消", "已取消", "您报名的活动「%s」已取消"
	case EventActivityReminder:
		return "活动即将开始", "即将开始", "您报名的活动「%s」即将开始"
	case EventWaitlistPromoted:
		return "候补转正", "已报名", "您候补的活动「%s」已有名额，您已报名成功"
	case EventHoursApproved:
		return "服务时长已确认", "已确认", "您参加的活动「%s」的服务时长已确认"
	case EventOrderReady:
		return "兑换订单待领取", "待领取", "您兑换的「%s」已备好，请凭取货码领取"
	case EventOrderExpired:
		return "兑换订单已过期", "已过期", "您兑换的「%s」超时未领取，积分已退回"
	case EventGiftReceived:
		return "收到赠送", "已到账", "您收到赠送的%s"
	case EventCreditReceived:
		return "收到奖励", "已到账", "您获得了%s"
	case EventObligationReminder:
		return "报到任务提醒", "待完成", "%s的报到任务尚未完成，请在季度结束前完成"
	case EventCorrectionAccepted:
		return "记录更正已通过", "已更正", "您对「%s」的更正申请已通过"
	case EventCorrectionRefused:
		return "记录更正未通过", "未通过", "您对「%s」的更正申请未通过"
	case EventImageRejected:
		return "图片未通过审核", "未通过", "您上传的%s未通过内容审核，已隐藏"
	}
	if title, status, body, ok := caseEventText(event); ok {
		return title, status, body
	}
	return "通知", "", "%s"
}

// Notice is one notification to one user, as an area hands it to
// NotificationService.Notify.
type Notice struct {
	UserID int64
	// Event is one of the Event constants.
	Event string
	// ObjectKind and ObjectID name what it is about ("wish", 12).
	ObjectKind string
	ObjectID   int64
	// Subject names it for people (the wish's title, "30 分钟"); Note adds
	// a reason or detail. Both may be empty.
	Subject, Note string
}

// NotificationService keeps every user's inbox, the outbox of WeChat
// subscribe messages and the users' acceptances of subscribe templates.
//
// An area tells a user something by calling Notify with its own
// transaction: the inbox row and, when the event has a template, the outbox
// row commit or roll back with the change. Workers (Run, Drain) send the
// outbox on any number of instances.
type NotificationService struct {
	deps  Deps
	authz *Authz
	// wake tells this instance's idle workers that rows were committed.
	wake     chan struct{}
	outcomes outboxOutcomes
}

// outboxOutcomes counts this instance's send outcomes since it started.
type outboxOutcomes struct {
	sent, retried, failed, refused, inboxOnly atomic.Uint64
}

func newNotificationService(d Deps, authz *Authz) *NotificationService {
	return &NotificationService{deps: d, authz: authz, wake: make(chan struct{}, 1)}
}

// Notify writes notices into their users' inboxes and, for events with a
// subscribe template (when WeChat is configured), an outbox row each, all
// through tx: call it inside the transaction of the change it tells about.
// Rows whose ids nothing needs are kept for the end of the transaction
// (appendLater). It returns the database's error.
func (s *NotificationService) Notify(tx *gorm.DB, notices ...Notice) error {
	if len(notices) == 0 {
		return nil
	}
	now := s.deps.Clock.Now().UTC()
	rows := make([]model.Notification, len(notices))
	for i, n := range notices {
		title, _, format := eventText(n.Event)
		body := fmt.Sprintf(format, n.Subject)
		if n.Note != "" {
			body += "：" + n.Note
		}
		rows[i] = model.Notification{UserID: n.UserID, Event: n.Event, Title: cutRunes(title, 64), Body: cutRunes(body, 255),
			ObjectKind: n.ObjectKind, ObjectID: n.ObjectID, CreatedAt: now}
	}
	// The notices that also go out as subscribe messages: their outbox
	// rows name the inbox rows, whose ids the insert must return first.
	var templated []int
	if s.deps.WeChat != nil {
		for i, n := range notices {
			if tmpl, _ := s.deps.Config.WeChat.Template(n.Event); tmpl != "" {
				templated = append(templated, i)
			}
		}
	}
	if len(templated) == 0 && len(rows) <= notifyBatch {
		return appendLater(tx, func(db *gorm.DB) *gorm.DB { return db.Create(&rows) })
	}
	if err := tx.CreateInBatches(&rows, notifyBatch).Error; err != nil {
		return err
	}
	if len(templated) == 0 {
		return nil
	}
	out := make([]model.OutboxMessage, 0, len(templated))
	for _, i := range templated {
		n := notices[i]
		tmpl, fields := s.deps.Config.WeChat.Template(n.Event)
		out = append(out, model.OutboxMessage{NotificationID: rows[i].ID, UserID: n.UserID, Event: n.Event,
			TemplateID: tmpl, Payload: s.payload(n, rows[i].Title, fields, now), Status: model.OutboxPending,
			NextAttemptAt: now, CreatedAt: now, UpdatedAt: now})
	}
	if len(out) <= notifyBatch {
		if err := appendLater(tx, func(db *gorm.DB) *gorm.DB { return db.Create(&out) }); err != nil {
			return err
		}
	} else if err := tx.CreateInBatches(&out, notifyBatch).Error; err != nil {
		return err
	}
	afterCommit(tx, s.poke)
	return nil
}

// notifyBatch is the most rows Notify inserts by one statement.
const notifyBatch = 200

// remind makes the reminder (kind, period, objectID) of n.UserID once: the
// reminder's unique key refuses a second one, from this sweep or another
// instance's, and then nothing is notified. It reports whether this call
// made it.
func (s *NotificationService) remind(tx *gorm.DB, kind, period string, objectID int64, n Notice) (bool, error) {
	// A plain INSERT: its duplicate-key error is the answer (on MySQL, with
	// clientFoundRows, an ON DUPLICATE KEY no-op would count one row).
	// Neither MySQL nor SQLite aborts the transaction for it.
	r := model.Reminder{Kind: kind, Period: period, ObjectID: objectID, UserID: n.UserID, CreatedAt: s.deps.Clock.Now().UTC()}
	if err := tx.Create(&r).Error; err != nil {
		if isDuplicate(err) {
			return false, nil
		}
		return false, err
	}
	if err := s.Notify(tx, n); err != nil {
		return false, err
	}
	return true, nil
}

// poke wakes one idle worker of this instance.
func (s *NotificationService) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// messagePayload is what an outbox row's Payload holds.
type messagePayload struct {
	Page string            `json:"page"`
	Data map[string]string `json:"data"`
}

// payload builds the subscribe message of n from the event's field mapping,
// each value cut to its field's limit.
func (s *NotificationService) payload(n Notice, title string, fields []config.MessageField, at time.Time) string {
	_, status, _ := eventText(n.Event)
	data := make(map[string]string, len(fields))
	for _, f := range fields {
		var v string
		switch f.Source {
		case "subject":
			v = n.Subject
		case "status":
			v = status
		case "note":
			v = n.Note
		case "title":
			v = title
		case "time":
			v = at.In(s.deps.Config.Location).Format("2006-01-02 15:04")
		}
		data[f.Key] = fitField(f.Key, v)
	}
	b, _ := json.Marshal(messagePayload{Page: s.deps.Config.WeChat.MessagePage, Data: data})
	return string(b)
}

// fitField cuts v to what WeChat accepts in a field of key's type: thing
// 20 characters, name 10, phrase 5, symbol 5, number, letter and
// character_string 32, phone_number 17, car_number 8, amount 11; a date
// keeps its date; an empty value becomes "-" (WeChat refuses empty ones).
func fitField(key, v string) string {
	v = strings.TrimSpace(v)
	if v == "" {
		return "-"
	}
	limit := 20
	switch strings.TrimRight(key, "0123456789") {
	case "thing":
		limit = 20
	case "name":
		limit = 10
	case "phrase", "symbol":
		limit = 5
	case "number", "letter", "character_string":
		limit = 32
	case "phone_number":
		limit = 17
	case "car_number":
		limit = 8
	case "amount":
		limit = 11
	case "date":
		limit = len("2006-01-02")
	case "time":
		limit = len("2006-01-02 15:04")
	}
	return cutRunes(v, limit)
}

// cutRunes returns s cut to at most n characters.
func cutRunes(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n])
	}
	return s
}

// ---- The inbox ----

// NotificationView is one inbox entry.
type NotificationView struct {
	ID         int64      `json:"id"`
	Event      string     `json:"event"`
	Title      string     `json:"title"`
	Body       string     `json:"body"`
	ObjectKind string     `json:"objectKind"`
	ObjectID   int64      `json:"objectId"`
	Read       bool       `json:"read"`
	ReadAt     *time.Time `json:"readAt"`
	CreatedAt  time.Time  `json:"createdAt"`
}

func notificationView(n *model.Notification) NotificationView {
	return NotificationView{ID: n.ID, Event: n.Event, Title: n.Title, Body: n.Body, ObjectKind: n.ObjectKind,
		ObjectID: n.ObjectID, Read: n.ReadAt != nil, ReadAt: n.ReadAt, CreatedAt: n.CreatedAt}
}

// Inbox is a page of the inbox, newest first, with the unread count.
type Inbox struct {
	List[NotificationView]
	UnreadCount int64 `json:"unreadCount"`
}

// Inbox returns a page of userID's notifications, newest first: by cursor
// (p.ByCursor, the cursor an id) or by page number, with the number of
// unread ones. It returns 10001 for a malformed cursor.
func (s *NotificationService) Inbox(ctx context.Context, userID int64, p Page) (*Inbox, error) {
	db := s.deps.DB.WithContext(ctx)
	unread := db.Model(&model.Notification{}).Select("COUNT(*)").Where("user_id = ? AND read_at IS NULL", userID)
	// One statement reads the page and the count (an uncorrelated subquery,
	// computed once); only an empty page asks for the count alone.
	q := db.Model(&model.Notification{}).
		Select("id, event, title, body, object_kind, object_id, read_at, created_at, (?) AS unread_count", unread).
		Where("user_id = ?", userID).Order("id DESC")
	var total int64
	if p.ByCursor {
		if p.Cursor != "" {
			before, err := strconv.ParseInt(p.Cursor, 10, 64)
			if err != nil || before < 1 {
				return nil, invalid("cursor 无效，请从第一页重新加载")
			}
			q = q.Where("id < ?", before)
		}
		q = q.Limit(p.PageSize + 1)
	} else {
		if err := db.Model(&model.Notification{}).Where("user_id = ?", userID).Count(&total).Error; err != nil {
			return nil, err
		}
		q = q.Offset(p.Offset()).Limit(p.PageSize)
	}
	// The listed columns are read straight into the views (gorm's
	// reflective scan would cost more than the query).
	rows, err := q.Rows()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := &Inbox{}
	views := make([]NotificationView, 0, p.PageSize+1)
	for rows.Next() {
		var v NotificationView
		if err := rows.Scan(&v.ID, &v.Event, &v.Title, &v.Body, &v.ObjectKind, &v.ObjectID, &v.ReadAt, &v.CreatedAt, &out.UnreadCount); err != nil {
			return nil, err
		}
		v.Read = v.ReadAt != nil
		views = append(views, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(views) == 0 {
		if err := unread.Scan(&out.UnreadCount).Error; err != nil {
			return nil, err
		}
	}
	if p.ByCursor {
		out.List = NewFeed(views, p, func(i int) string { return strconv.FormatInt(views[i].ID, 10) })
	} else {
		out.List = NewList(views, total, p)
	}
	return out, nil
}

// MarkRead marks one of userID's notifications read (again: no change) and
// returns it. It returns 10005 when userID has no such notification.
func (s *NotificationService) MarkRead(ctx context.Context, userID, id int64) (*NotificationView, error) {
	db := s.deps.DB.WithContext(ctx)
	now := s.deps.Clock.Now().UTC()
	if err := db.Model(&model.Notification{}).Where("id = ? AND user_id = ? AND read_at IS NULL", id, userID).
		Update("read_at", now).Error; err != nil {
		return nil, err
	}
	var n model.Notification
	if err := db.Where("id = ? AND user_id = ?", id, userID).Take(&n).Error; err != nil {
		return nil, notFoundOr(err, "通知")
	}
	v := notificationView(&n)
	return &v, nil
}

// ReadAllResult says how many notifications MarkAllRead marked.
type ReadAllResult struct {
	Updated     int64 `json:"updated"`
	UnreadCount int64 `json:"unreadCount"`
}

// MarkAllRead marks every unread notification of userID read.
func (s *NotificationService) MarkAllRead(ctx context.Context, userID int64) (*ReadAllResult, error) {
	res := s.deps.DB.WithContext(ctx).Model(&model.Notification{}).Where("user_id = ? AND read_at IS NULL", userID).
		Update("read_at", s.deps.Clock.Now().UTC())
	if res.Error != nil {
		return nil, res.Error
	}
	return &ReadAllResult{Updated: res.RowsAffected}, nil
}

// ---- Subscribe acceptances ----

// SubscriptionView is one template's unused acceptances.
type SubscriptionView struct {
	TemplateID string `json:"templateId"`
	Remaining  int    `json:"remaining"`
}

// SubscribeResult lists the acceptances recorded and the template ids that
// are no template of any event (ignored).
type SubscribeResult struct {
	Accepted []SubscriptionView `json:"accepted"`
	Ignored  []string           `json:"ignored"`
}

// Subscribe records one acceptance of each template id (as the
// mini-program's wx.requestSubscribeMessage reported them accepted; an id
// named twice counts once): each allows one subscribe message. Ids that are
// the template of no event are ignored. It returns 10001 for an empty id.
func (s *NotificationService) Subscribe(ctx context.Context, userID int64, templateIDs []string) (*SubscribeResult, error) {
	known := map[string]bool{}
	for _, e := range config.NotificationEvents() {
		if id := s.deps.Config.WeChat.Templates[e]; id != "" {
			known[id] = true
		}
	}
	out := &SubscribeResult{Accepted: []SubscriptionView{}, Ignored: []string{}}
	seen := map[string]bool{}
	var accept []string
	for _, id := range templateIDs {
		id = strings.TrimSpace(id)
		if id == "" {
			return nil, invalid("templateIds 不能含空值")
		}
		switch {
		case seen[id]:
		case known[id]:
			accept = append(accept, id)
		default:
			out.Ignored = append(out.Ignored, id)
		}
		seen[id] = true
	}
	if len(accept) == 0 {
		return out, nil
	}
	now := s.deps.Clock.Now().UTC()
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		for _, id := range accept {
			g := model.SubscriptionGrant{UserID: userID, TemplateID: id, Remaining: 1, UpdatedAt: now}
			err := tx.Clauses(clause.OnConflict{
				Columns:   []clause.Column{{Name: "user_id"}, {Name: "template_id"}},
				DoUpdates: clause.Assignments(map[string]any{"remaining": gorm.Expr("remaining + 1"), "updated_at": now}),
			}).Create(&g).Error
			if err != nil {
				return err
			}
		}
		return tx.Model(&model.SubscriptionGrant{}).Select("template_id, remaining").
			Where("user_id = ? AND template_id IN ?", userID, accept).Order("template_id").Scan(&out.Accepted).Error
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ---- Operators ----

// OutboxRowView is one outbox row as operators see it.
type OutboxRowView struct {
	ID            int64              `json:"id"`
	UserID        int64              `json:"userId"`
	Event         string             `json:"event"`
	TemplateID    string             `json:"templateId"`
	Status        model.OutboxStatus `json:"status"`
	Attempts      int                `json:"attempts"`
	NextAttemptAt time.Time          `json:"nextAttemptAt"`
	LastError     string             `json:"lastError"`
	SentAt        *time.Time         `json:"sentAt"`
	CreatedAt     time.Time          `json:"createdAt"`
}

// OutboxReport is a page of outbox rows and the count of rows by status.
type OutboxReport struct {
	List[OutboxRowView]
	Counts map[model.OutboxStatus]int64 `json:"counts"`
}

// Outbox returns the counts of outbox rows by status and a page of rows,
// newest first, of one status when status is set (failed rows carry their
// last error), for an admin of a root org. It returns 10004 for anyone
// else and 10001 for an unknown status.
func (s *NotificationService) Outbox(ctx context.Context, actorID int64, status string, p Page) (*OutboxReport, error) {
	if status != "" && !isOutboxStatus(status) {
		return nil, invalid("status 无效")
	}
	ok, err := s.authz.isRootAdmin(ctx, actorID)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, forbidden("仅区级管理员可以查看消息发送队列")
	}
	counts, err := s.Depth(ctx)
	if err != nil {
		return nil, err
	}
	q := s.deps.DB.WithContext(ctx).Model(&model.OutboxMessage{})
	if status != "" {
		q = q.Where("status = ?", status)
	}
	rows, total, err := findPage[model.OutboxMessage](q, "id DESC", p)
	if err != nil {
		return nil, err
	}
	views := make([]OutboxRowView, len(rows))
	for i, r := range rows {
		views[i] = OutboxRowView{ID: r.ID, UserID: r.UserID, Event: r.Event, TemplateID: r.TemplateID, Status: r.Status,
			Attempts: r.Attempts, NextAttemptAt: r.NextAttemptAt, LastError: r.LastError, SentAt: r.SentAt, CreatedAt: r.CreatedAt}
	}
	return &OutboxReport{List: NewList(views, total, p), Counts: counts}, nil
}

func isOutboxStatus(s string) bool {
	for _, st := range model.OutboxStatuses() {
		if string(st) == s {
			return true
		}
	}
	return false
}

// Depth counts outbox rows by status (every status, zero included).
func (s *NotificationService) Depth(ctx context.Context) (map[model.OutboxStatus]int64, error) {
	var rows []struct {
		Status model.OutboxStatus
		N      int64
	}
	err := s.deps.DB.WithContext(ctx).Model(&model.OutboxMessage{}).Select("status, COUNT(*) AS n").Group("status").Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	out := make(map[model.OutboxStatus]int64, len(model.OutboxStatuses()))
	for _, st := range model.OutboxStatuses() {
		out[st] = 0
	}
	for _, r := range rows {
		out[r.Status] = r.N
	}
	return out, nil
}

// Outcomes returns how many sends this instance finished, by outcome:
// sent, retried (failed, to be tried again), failed (retries exhausted),
// refused (43101) and inbox_only (no acceptance).
func (s *NotificationService) Outcomes() map[string]uint64 {
	o := &s.outcomes
	return map[string]uint64{"sent": o.sent.Load(), "retried": o.retried.Load(), "failed": o.failed.Load(),
		"refused": o.refused.Load(), "inbox_only": o.inboxOnly.Load()}
}

// ---- Workers ----

// wxErrRefused is WeChat's answer when the user has not accepted (or has
// refused) the template: nothing is consumed and it is not retried.
const wxErrRefused = 43101

// Run runs n outbox workers until ctx ends, then returns once they have
// stopped (a row being sent is finished; rows leased and not yet sent go
// back to pending). Each worker drains what is due, then waits for
// notify.poll_interval or a commit on this instance.
func (s *NotificationService) Run(ctx context.Context, n int) {
	done := make(chan struct{})
	for range n {
		go func() {
			defer func() { done <- struct{}{} }()
			for ctx.Err() == nil {
				if _, err := s.Drain(ctx); err != nil && ctx.Err() == nil {
					s.deps.Logger.Error("outbox", "error", err.Error())
				}
				t := time.NewTimer(s.deps.Config.Notify.PollInterval)
				select {
				case <-ctx.Done():
				case <-s.wake:
				case <-t.C:
				}
				t.Stop()
			}
		}()
	}
	for range n {
		<-done
	}
}

// Drain sends every due outbox row it can lease, batch after batch, until
// none is left or ctx ends, and returns how many rows it finished. A batch
// costs three commits whatever its size: the lease, the acceptances taken,
// and the outcomes.
func (s *NotificationService) Drain(ctx context.Context) (int, error) {
	total := 0
	for ctx.Err() == nil {
		rows, due, err := s.lease(ctx)
		if err != nil {
			return total, err
		}
		if !due {
			return total, nil
		}
		n, err := s.deliver(ctx, rows)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// leasedRow is an outbox row this worker holds, with its user's openid.
type leasedRow struct {
	model.OutboxMessage
	OpenID string
}

// outboxDue selects rows a worker may lease: pending and due, or sending
// with a lease that has passed (its worker died or hung).
const outboxDue = "((status = ? AND next_attempt_at <= ?) OR (status = ? AND lease_until < ?))"

// lease takes up to notify.batch_size due rows by one conditional UPDATE
// (another worker's lease is never taken before it passes) and counts the
// attempt. due is false when no row was due at all; a batch lost to other
// workers is empty with due true.
func (s *NotificationService) lease(ctx context.Context) (rows []leasedRow, due bool, err error) {
	db := s.deps.DB.WithContext(ctx)
	cfg := s.deps.Config.Notify
	now := s.deps.Clock.Now().UTC()
	args := []any{model.OutboxPending, now, model.OutboxSending, now}
	var ids []int64
	if err := db.Model(&model.OutboxMessage{}).Where(outboxDue, args...).Order("id").Limit(cfg.BatchSize).Pluck("id", &ids).Error; err != nil {
		return nil, false, err
	}
	if len(ids) == 0 {
		return nil, false, nil
	}
	token := randomHex(12)
	res := db.Model(&model.OutboxMessage{}).Where("id IN ?", ids).Where(outboxDue, args...).
		Updates(map[string]any{"status": model.OutboxSending, "lease_token": token, "lease_until": now.Add(cfg.Lease),
			"attempts": gorm.Expr("attempts + 1"), "updated_at": now})
	if res.Error != nil {
		return nil, true, res.Error
	}
	if res.RowsAffected == 0 {
		return nil, true, nil
	}
	err = db.Table("outbox_messages AS o").Select("o.*, u.open_id").Joins("JOIN users u ON u.id = o.user_id").
		Where("o.lease_token = ?", token).Order("o.id").Find(&rows).Error
	return rows, true, err
}

// unlease gives rows this worker leased and did not send back to pending
// (on shutdown), so no other worker waits for their lease to pass.
func (s *NotificationService) unlease(rows []leasedRow) {
	if len(rows) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.deps.DB.WithContext(ctx).Model(&model.OutboxMessage{}).Where("id IN ? AND lease_token = ?", rowIDs(rows), rows[0].LeaseToken).
		Updates(map[string]any{"status": model.OutboxPending, "lease_token": "", "lease_until": nil,
			"attempts": gorm.Expr("attempts - 1")}).Error
}

// rowIDs returns the ids of rows.
func rowIDs(rows []leasedRow) []int64 {
	ids := make([]int64, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	return ids
}

// errLeaseLost means another worker took a row after this one's lease
// passed: this worker leaves the batch alone.
var errLeaseLost = errors.New("outbox: lease lost")

// outcome is what became of one leased row: the columns to set, and whether
// the acceptance the row took is given back.
type outcome struct {
	row    leasedRow
	set    map[string]any
	refund bool
}

// deliver sends a leased batch (all rows hold one lease token): it takes
// one of each user's acceptances of the row's template (a row whose user
// holds none is inbox-only, with no WeChat call), sends the rest, and
// records every outcome in one transaction — sent; refused (43101: the
// acceptance is given back, no retry); or, for any other error, a retry
// after an exponential backoff, or failed once notify.retry_for has passed
// since the row was written. When ctx ends, the rows not yet sent go back
// to pending. A crash between a send and the record of its outcome sends
// that row again once its lease passes: at least once, never lost. It
// returns how many rows it finished, and only the database's errors.
func (s *NotificationService) deliver(ctx context.Context, rows []leasedRow) (int, error) {
	if len(rows) == 0 {
		return 0, nil
	}
	toSend, err := s.takeGrants(ctx, rows)
	if errors.Is(err, errLeaseLost) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	finished := len(rows) - len(toSend)
	outs := make([]outcome, 0, len(toSend))
	for i, r := range toSend {
		if ctx.Err() != nil {
			s.unlease(toSend[i:])
			break
		}
		// A send that started is recorded even when ctx ends meanwhile.
		outs = append(outs, s.send(context.WithoutCancel(ctx), r))
	}
	if err := s.finish(context.WithoutCancel(ctx), outs); err != nil {
		return finished, err
	}
	return finished + len(outs), nil
}

// send sends one row whose acceptance is taken and returns its outcome.
func (s *NotificationService) send(ctx context.Context, r leasedRow) outcome {
	var p messagePayload
	if err := json.Unmarshal([]byte(r.Payload), &p); err != nil {
		s.outcomes.failed.Add(1)
		return outcome{r, map[string]any{"status": model.OutboxFailed, "last_error": "payload: " + err.Error(), "grant_taken": false}, true}
	}
	wx := s.deps.Config.WeChat
	err := s.deps.WeChat.SendSubscribe(ctx, SubscribeMessage{ToUser: r.OpenID, TemplateID: r.TemplateID, Page: p.Page,
		Data: p.Data, MiniprogramState: wx.MiniprogramState, Lang: wx.Lang})
	now := s.deps.Clock.Now().UTC()
	if err == nil {
		s.outcomes.sent.Add(1)
		return outcome{r, map[string]any{"status": model.OutboxSent, "sent_at": now, "last_error": ""}, false}
	}
	msg := cutRunes(err.Error(), 255)
	var apiErr WeChatAPIError
	if errors.As(err, &apiErr) && apiErr.WeChatErrCode() == wxErrRefused {
		s.outcomes.refused.Add(1)
		return outcome{r, map[string]any{"status": model.OutboxRefused, "last_error": msg, "grant_taken": false}, true}
	}
	cfg := s.deps.Config.Notify
	wait := cfg.RetryBase << min(max(r.Attempts-1, 0), 30)
	if wait <= 0 || wait > cfg.RetryFor {
		wait = cfg.RetryFor
	}
	next := now.Add(wait)
	if next.After(r.CreatedAt.Add(cfg.RetryFor)) {
		s.outcomes.failed.Add(1)
		return outcome{r, map[string]any{"status": model.OutboxFailed, "last_error": msg, "grant_taken": false}, true}
	}
	s.outcomes.retried.Add(1)
	return outcome{r, map[string]any{"status": model.OutboxPending, "next_attempt_at": next, "last_error": msg}, false}
}

// takeGrants uses, in one transaction, one of each user's acceptances of
// the row's template for every row of the batch that has not taken one yet
// (a retried row keeps the one it took), records that on the rows, and
// finishes the rows whose user holds none as inbox-only. It returns the
// rows to send, and errLeaseLost (nothing changed) when some row is no
// longer this worker's.
func (s *NotificationService) takeGrants(ctx context.Context, rows []leasedRow) ([]leasedRow, error) {
	var send []leasedRow
	inboxOnly := 0
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		send, inboxOnly = send[:0], 0
		var took, none []int64
		for _, r := range rows {
			if r.GrantTaken {
				send = append(send, r)
				continue
			}
			res := tx.Model(&model.SubscriptionGrant{}).Where("user_id = ? AND template_id = ? AND remaining > 0", r.UserID, r.TemplateID).
				Update("remaining", gorm.Expr("remaining - 1"))
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected == 0 {
				none = append(none, r.ID)
				continue
			}
			took = append(took, r.ID)
			r.GrantTaken = true
			send = append(send, r)
		}
		token := rows[0].LeaseToken
		if err := setLeased(tx, took, token, map[string]any{"grant_taken": true}); err != nil {
			return err
		}
		inboxOnly = len(none)
		return setLeased(tx, none, token, map[string]any{"status": model.OutboxInboxOnly, "lease_token": "", "lease_until": nil,
			"updated_at": s.deps.Clock.Now().UTC()})
	})
	if err == nil {
		s.outcomes.inboxOnly.Add(uint64(inboxOnly))
	}
	return send, err
}

// setLeased sets columns on the rows ids that still hold the lease token,
// and returns errLeaseLost when one of them does not.
func setLeased(tx *gorm.DB, ids []int64, token string, set map[string]any) error {
	if len(ids) == 0 {
		return nil
	}
	res := tx.Model(&model.OutboxMessage{}).Where("id IN ? AND lease_token = ?", ids, token).Updates(set)
	if res.Error == nil && res.RowsAffected != int64(len(ids)) {
		return errLeaseLost
	}
	return res.Error
}

// finish records the outcomes of a batch in one transaction and ends their
// leases: the sent rows by one statement, the others one by one, each
// giving back the acceptance it took when its outcome says so. A row whose
// lease another worker took meanwhile is left to that worker.
func (s *NotificationService) finish(ctx context.Context, outs []outcome) error {
	if len(outs) == 0 {
		return nil
	}
	now := s.deps.Clock.Now().UTC()
	return s.deps.tx(ctx, func(tx *gorm.DB) error {
		var sent []int64
		for _, o := range outs {
			if o.set["status"] == model.OutboxSent {
				sent = append(sent, o.row.ID)
				continue
			}
			o.set["lease_token"], o.set["lease_until"], o.set["updated_at"] = "", nil, now
			res := tx.Model(&model.OutboxMessage{}).Where("id = ? AND lease_token = ?", o.row.ID, o.row.LeaseToken).Updates(o.set)
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected == 1 && o.refund && o.row.GrantTaken {
				if err := tx.Model(&model.SubscriptionGrant{}).Where("user_id = ? AND template_id = ?", o.row.UserID, o.row.TemplateID).
					Update("remaining", gorm.Expr("remaining + 1")).Error; err != nil {
					return err
				}
			}
		}
		if len(sent) == 0 {
			return nil
		}
		return tx.Model(&model.OutboxMessage{}).Where("id IN ? AND lease_token = ?", sent, outs[0].row.LeaseToken).
			Updates(map[string]any{"status": model.OutboxSent, "sent_at": now, "last_error": "", "lease_token": "",
				"lease_until": nil, "updated_at": now}).Error
	})
}
