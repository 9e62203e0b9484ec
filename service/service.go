// Package service holds linli's business rules. Exported methods own their
// transaction; unexported helpers take a *gorm.DB that may be a transaction.
// Errors a client should see are *Error values with a code from errors.go.
package service

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"gorm.io/gorm"

	"linli/config"
	"linli/internal/dbtx"
	"linli/internal/objstore"
	"linli/internal/replica"
	"linli/internal/store"
)

// Clock tells the time; tests pass one they can move.
type Clock interface {
	Now() time.Time
}

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// Deps are the outside things every service needs. main builds them once.
type Deps struct {
	DB     *gorm.DB
	Redis  redis.UniversalClient
	Config *config.Config
	Clock  Clock
	// WeChat is nil when no mini-program credentials are configured.
	WeChat WeChat
	Logger *slog.Logger
	// Content checks user text; nil picks WeChat's check when WeChat is
	// configured, else the word list of content.words_file (or the built-in
	// one).
	Content ContentChecker
	// Objects stores uploaded files; nil means local disk under
	// config.UploadDir().
	Objects ObjectStore

	// pipelined is set by New from DB (store.Pipelines): a transaction
	// sends the writes it kept in one round trip.
	pipelined bool
}

// Service groups the area services. Build it with New.
type Service struct {
	deps  Deps
	Authz *Authz
	// Callers caches who the caller is; OrgTree is this instance's copy
	// of the org tree.
	Callers  *CallerService
	OrgTree  *OrgTree
	Auth     *AuthService
	Users    *UserService
	Orgs     *OrgService
	TimeBank *TimeBankService
	// Leaderboards reads the rankings the time bank keeps.
	Leaderboards *LeaderboardService
	Uploads      *UploadService
	Wishes       *WishService
	// Volunteers and Activities run volunteer registration and activities.
	Volunteers *VolunteerService
	Activities *ActivityService
	Mall       *MallService
	// Reports runs 双报到.
	Reports *ReportService
	// Cases runs 随手拍 / 吹哨报到 and the departments.
	Cases *CaseService
	// Audit reads the audit log every staff action appends to; Oversight
	// is staff's review queue, dashboards and exports.
	Audit     *AuditService
	Oversight *OversightService
	// Records keeps volunteer records: certificates, training, awards
	// and correction requests.
	Records *VolunteerRecordService
	// ContentReview lets staff clear flagged user texts.
	ContentReview *ContentReviewService
	// Notifications keeps the inbox, the outbox of subscribe messages and
	// the reminders; every area notifies through it.
	Notifications *NotificationService
	// Privacy answers a person's rights over their data: export, erasure,
	// consent; and runs the retention sweep.
	Privacy *PrivacyService
}

// New builds every area service over the same dependencies.
func New(d Deps) *Service {
	if d.Clock == nil {
		d.Clock = SystemClock{}
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Content == nil {
		d.Content = defaultContentChecker(d)
	}
	if d.Objects == nil {
		d.Objects = objstore.NewLocal(d.Config.UploadDir(), FilesURLPrefix)
	}
	d.pipelined = store.Pipelines(d.DB)
	// Leaves first: services that need only the dependencies.
	authz := &Authz{deps: d}
	orgs := newOrgTree(d)
	callerCache := newCallerCache(d)
	content := &ContentService{checker: d.Content, logger: d.Logger}
	volunteers := &VolunteerService{deps: d, callers: callerCache}
	// The time bank credits points; 双报到 owns Party membership, unit
	// liaisons and service records, which the other areas consult.
	// Every area tells people about its changes through notify, in the
	// change's own transaction.
	notify := newNotificationService(d, authz)
	// Uploads run the image check, which tells owners of hidden images.
	uploads := &UploadService{deps: d, authz: authz, notify: notify}
	boards := newLeaderboards(d)
	timeBank := newTimeBankService(d, authz, boards, notify)
	reports := &ReportService{deps: d, authz: authz, timeBank: timeBank, uploads: uploads, callers: callerCache, notify: notify, content: content}
	// Who the caller is (GET /me, and every read that depends on the
	// caller's home or roles) comes from a cache every area above keeps true.
	callers := &CallerService{deps: d, cache: callerCache, authz: authz, orgs: orgs, reports: reports}
	users := &UserService{deps: d, authz: authz, timeBank: timeBank, callers: callers, content: content}
	leaderboards := newLeaderboardService(d, boards, callers, orgs)
	wishes := &WishService{deps: d, authz: authz, timeBank: timeBank, uploads: uploads, reports: reports, content: content, callers: callers, orgs: orgs, notify: notify}
	auth := &AuthService{deps: d, users: users, callers: callers, orgs: orgs, rotate: redis.NewScript(rotateLua)}
	activities := &ActivityService{deps: d, authz: authz, timeBank: timeBank, volunteers: volunteers, reports: reports, callers: callers, orgs: orgs, notify: notify,
		pages: newActivityPages(d)}
	if n := d.Config.Activity.SignupGroupMax; n > 1 {
		activities.groups = newSignupGroups(n, activities.signupAll)
	}
	mall := &MallService{deps: d, authz: authz, timeBank: timeBank, uploads: uploads, callers: callers, orgs: orgs, notify: notify}
	cases := &CaseService{deps: d, authz: authz, timeBank: timeBank, uploads: uploads, reports: reports, content: content, orgs: orgs, notify: notify, callers: callers}
	// Volunteer records read every area's services and correct them through
	// the activities' approval and the time bank.
	records := &VolunteerRecordService{deps: d, authz: authz, reports: reports, activities: activities,
		timeBank: timeBank, notify: notify, orgs: orgs}
	// Personal data (PIPL): the export and the erasure walk every area that
	// holds rows about a person, in this order (the users row is the
	// privacy service's own, erased after them).
	privacy := &PrivacyService{deps: d, auth: auth, callers: callers, timeBank: timeBank, wishes: wishes,
		activities: activities, mall: mall, reports: reports, uploads: uploads,
		areas: []personalData{reports, volunteers, activities, wishes, timeBank, mall, cases, records, notify, uploads}}
	return &Service{
		deps:          d,
		Authz:         authz,
		Callers:       callers,
		OrgTree:       orgs,
		Auth:          auth,
		Users:         users,
		Orgs:          &OrgService{deps: d, authz: authz, tree: orgs, callers: callerCache},
		TimeBank:      timeBank,
		Leaderboards:  leaderboards,
		Mall:          mall,
		Uploads:       uploads,
		Wishes:        wishes,
		Volunteers:    volunteers,
		Activities:    activities,
		Reports:       reports,
		Notifications: notify,
		Cases:         cases,
		Audit:         &AuditService{deps: d, authz: authz},
		Oversight:     &OversightService{deps: d, authz: authz, orgs: orgs, reports: reports, wishes: wishes},
		Privacy:       privacy,
		Records:       records,
		ContentReview: &ContentReviewService{deps: d, authz: authz},
	}
}

// redisKey joins parts after the configured prefix.
func (d Deps) redisKey(parts ...string) string {
	return d.Config.Redis.Prefix + strings.Join(parts, ":")
}

// redisBudget bounds one Redis step of a request (the session check, a
// login's session write) by redis.budget, retries included.
func (d Deps) redisBudget(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d.Config.Redis.Budget)
}

// laggingRead returns a handle bound to ctx for reads that tolerate lag:
// they go to a read replica when database.replicas is set (falling back to
// the primary when it is down), to the primary otherwise. Only public lists,
// leaderboard rebuilds, dashboards and exports use it; never a transaction,
// a session or caller check, a read that decides a rule, or a read that must
// see the caller's own write.
func (d Deps) laggingRead(ctx context.Context) *gorm.DB {
	return replica.Lagging(d.DB.WithContext(ctx))
}

// afterCommitKey holds, on a transaction opened by Deps.tx, the functions to
// run once it has committed.
const afterCommitKey = "linli:after_commit"

// tx runs fn in a transaction bound to ctx, retried as a whole when the
// database aborts it to break a deadlock (see dbtx.Run), so fn must change
// the database only through tx. Functions registered with afterCommit run
// once, after the commit that succeeded.
func (d Deps) tx(ctx context.Context, fn func(tx *gorm.DB) error) error {
	return d.txWith(ctx, nil, fn)
}

// txReadCommitted is tx at READ COMMITTED on MySQL: every read sees what
// has committed by then, and an UPDATE whose WHERE does not match a row
// leaves that row unlocked instead of holding it until commit. (SQLite runs
// one writer at a time and has nothing to choose.)
func (d Deps) txReadCommitted(ctx context.Context, fn func(tx *gorm.DB) error) error {
	if d.DB.Dialector.Name() != "mysql" {
		return d.tx(ctx, fn)
	}
	return d.txWith(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted}, fn)
}

func (d Deps) txWith(ctx context.Context, opts *sql.TxOptions, fn func(tx *gorm.DB) error) error {
	var hooks txHooks
	var options []*sql.TxOptions
	if opts != nil {
		options = append(options, opts)
	}
	err := dbtx.Run(ctx, d.DB, func(tx *gorm.DB) error {
		hooks = txHooks{pipelined: d.pipelined}
		// Set returns a statement that chained calls would mutate; Session
		// makes every later call start from a clean copy again.
		tx = tx.Set(afterCommitKey, &hooks).Session(&gorm.Session{})
		if err := fn(tx); err != nil {
			return err
		}
		if err := hooks.writeDeferred(tx); err != nil {
			return err
		}
		return hooks.sendKept(tx)
	}, options...)
	if err != nil {
		return err
	}
	for _, h := range hooks.fns {
		h()
	}
	return nil
}

// txHooks is what runs after a transaction of Deps.tx commits: functions,
// and batches of items collected by afterCommitBatch; and the writes
// deferred to the end of the transaction by beforeCommitBatch.
type txHooks struct {
	fns     []func()
	batches map[string]any
	// deferred write their batches (pending, by key) once the
	// transaction's work is done, just before the commit.
	deferred []func(tx *gorm.DB) error
	pending  map[string]any
	// kept are the writes appendLater keeps for the end (pipeline.go),
	// sent in one round trip when pipelined.
	kept      []builtStmt
	pipelined bool
}

// afterCommit runs fn after the transaction tx (opened by Deps.tx) commits;
// nothing runs if it rolls back. Outside such a transaction fn runs at once.
// Use it for side effects outside the database (Redis caches, leaderboards).
func afterCommit(tx *gorm.DB, fn func()) {
	if hooks := hooksOf(tx); hooks != nil {
		hooks.fns = append(hooks.fns, fn)
		return
	}
	fn()
}

// hooksOf returns the hooks of the transaction tx when Deps.tx opened it,
// else nil.
func hooksOf(tx *gorm.DB) *txHooks {
	v, _ := tx.Get(afterCommitKey)
	hooks, _ := v.(*txHooks)
	return hooks
}

// afterCommitBatch adds item to the batch named key of the transaction tx
// (opened by Deps.tx) and, for its first item, schedules flush to run once
// with all of them after the commit, where afterCommit would run it.
// Outside such a transaction flush runs at once with item alone.
func afterCommitBatch[T any](tx *gorm.DB, key string, item T, flush func([]T)) {
	hooks := hooksOf(tx)
	if hooks == nil {
		flush([]T{item})
		return
	}
	if items, ok := hooks.batches[key].(*[]T); ok {
		*items = append(*items, item)
		return
	}
	items := &[]T{item}
	if hooks.batches == nil {
		hooks.batches = map[string]any{}
	}
	hooks.batches[key] = items
	hooks.fns = append(hooks.fns, func() { flush(*items) })
}

// beforeCommitBatch adds item to the batch named key of the transaction tx
// (opened by Deps.tx) and, for its first item, schedules write to write
// them all inside the transaction once its work is done, just before the
// commit: a row many transactions update (a running figure) is then locked
// only for the end of each, and once for all the items. Outside such a
// transaction write runs at once with item alone. It returns write's error
// when it runs at once, else nil (the transaction fails with write's error).
func beforeCommitBatch[T any](tx *gorm.DB, key string, item T, write func(tx *gorm.DB, items []T) error) error {
	hooks := hooksOf(tx)
	if hooks == nil {
		return write(tx, []T{item})
	}
	if items, ok := hooks.pending[key].(*[]T); ok {
		*items = append(*items, item)
		return nil
	}
	items := &[]T{item}
	if hooks.pending == nil {
		hooks.pending = map[string]any{}
	}
	hooks.pending[key] = items
	hooks.deferred = append(hooks.deferred, func(tx *gorm.DB) error { return write(tx, *items) })
	return nil
}

// writeDeferred runs the writes beforeCommitBatch deferred, in the order
// they were first asked for (a write may defer another).
func (h *txHooks) writeDeferred(tx *gorm.DB) error {
	for i := 0; i < len(h.deferred); i++ {
		if err := h.deferred[i](tx); err != nil {
			return err
		}
	}
	return nil
}

// randomHex returns n random bytes as hex.
func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b)
}

// Page is a normalised page request. A feed (see Feed) reads by Cursor
// when ByCursor is set, which the api layer does when the request names no
// page; other lists ignore both and read page Page.
type Page struct {
	Page     int
	PageSize int
	Cursor   string
	ByCursor bool
}

// Pagination limits of the API contract.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

// NewPage clamps page to ≥1 and size to 1..MaxPageSize (0 means the default).
func NewPage(page, size int) Page {
	if page < 1 {
		page = 1
	}
	if size <= 0 {
		size = DefaultPageSize
	}
	if size > MaxPageSize {
		size = MaxPageSize
	}
	return Page{Page: page, PageSize: size}
}

// Offset returns the row offset of the page.
func (p Page) Offset() int { return (p.Page - 1) * p.PageSize }

// List is one page of results; List is never nil. A counted page has Total
// and Page; a feed page read by cursor has neither (nothing counts the whole
// set) but NextCursor, to ask for the page after it, and HasMore.
type List[T any] struct {
	List       []T    `json:"list"`
	Total      *int64 `json:"total,omitempty"`
	Page       int    `json:"page,omitempty"`
	PageSize   int    `json:"pageSize"`
	NextCursor string `json:"nextCursor,omitempty"`
	HasMore    *bool  `json:"hasMore,omitempty"`
}

// NewList returns a counted page of items, turning nil into an empty list.
func NewList[T any](items []T, total int64, p Page) List[T] {
	if items == nil {
		items = []T{}
	}
	return List[T]{List: items, Total: &total, Page: p.Page, PageSize: p.PageSize}
}

// NewFeed returns a feed page of items read with one row more than the page
// size: the extra row, dropped here, tells that there is more. cursorOf(i)
// makes the cursor that follows item i.
func NewFeed[T any](items []T, p Page, cursorOf func(i int) string) List[T] {
	more := len(items) > p.PageSize
	if more {
		items = items[:p.PageSize]
	}
	if items == nil {
		items = []T{}
	}
	l := List[T]{List: items, PageSize: p.PageSize, HasMore: &more}
	if more {
		l.NextCursor = cursorOf(len(items) - 1)
	}
	return l
}

// findPage counts the rows q matches and reads page p of them in order. It
// returns the database's error, if any.
func findPage[T any](q *gorm.DB, order string, p Page) ([]T, int64, error) {
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, err
	}
	var rows []T
	err := q.Order(order).Offset(p.Offset()).Limit(p.PageSize).Find(&rows).Error
	return rows, total, err
}

// MaskPhone returns a phone number as 138****1234; short inputs are fully masked.
func MaskPhone(phone string) string {
	r := []rune(phone)
	if len(r) == 0 {
		return ""
	}
	if len(r) < 7 {
		return strings.Repeat("*", len(r))
	}
	return string(r[:3]) + "****" + string(r[len(r)-4:])
}

// MaskName returns a name as 张** (first character, then one star per rune).
func MaskName(name string) string {
	r := []rune(name)
	if len(r) == 0 {
		return ""
	}
	return string(r[:1]) + strings.Repeat("*", max(len(r)-1, 1))
}
