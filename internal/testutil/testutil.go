// Package testutil builds a real linli instance for end-to-end tests: the
// real router and services over the embedded stores (a SQLite file per test
// and an in-process Redis), or over MySQL/MariaDB and Redis when
// LINLI_TEST_MYSQL_DSN / LINLI_TEST_REDIS_ADDR are set. WeChat is a local
// fake server. Every test package calls Main from its TestMain.
package testutil

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/gin-gonic/gin"
	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"
	"gorm.io/gorm"

	"linli/config"
	"linli/internal/ratelimit"
	"linli/internal/replica"
	"linli/internal/reqlog"
	"linli/internal/store"
	"linli/internal/wechat"
	"linli/model"
	"linli/router"
	"linli/service"
)

// Environment variables that switch the tests to real servers.
const (
	EnvMySQLDSN  = "LINLI_TEST_MYSQL_DSN"  // e.g. linli:linli@tcp(127.0.0.1:3306)/
	EnvRedisAddr = "LINLI_TEST_REDIS_ADDR" // e.g. 127.0.0.1:6379
)

// process holds what Main sets up once for a test binary; it is written
// before any test runs and only read afterwards.
var process struct {
	wechat   *FakeWeChat
	mysqlDSN string // DSN of this package's fresh database, "" for SQLite
}

// Main runs a test package: it starts the fake WeChat, creates a fresh
// MySQL database for the package when LINLI_TEST_MYSQL_DSN is set (dropped
// afterwards), runs the tests and exits. Under CI=true a real server that
// cannot be reached fails the run instead of falling back.
func Main(m *testing.M) {
	gin.SetMode(gin.ReleaseMode)
	// go-redis prints pool dial failures itself; tests that stop Redis would
	// fill the output with them, and the answers already say what failed.
	redis.SetLogger(quietRedis{})
	process.wechat = NewFakeWeChat()
	wechat.UseHTTPClient(process.wechat.Client())
	drop := func() {}
	if dsn := os.Getenv(EnvMySQLDSN); dsn != "" {
		var err error
		process.mysqlDSN, drop, err = createDatabase(dsn)
		if err != nil {
			fmt.Fprintln(os.Stderr, "testutil: MySQL:", err)
			os.Exit(2)
		}
	}
	if addr := os.Getenv(EnvRedisAddr); addr != "" {
		c := redis.NewClient(&redis.Options{Addr: addr})
		err := c.Ping(context.Background()).Err()
		c.Close()
		if err != nil {
			fmt.Fprintln(os.Stderr, "testutil: Redis:", err)
			os.Exit(2)
		}
	}
	code := m.Run()
	drop()
	process.wechat.Server.Close()
	os.Exit(code)
}

// quietRedis drops go-redis's internal log messages.
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

// createDatabase makes a uniquely named, migrated database on the server
// of dsn and returns a DSN for it and a function that drops it.
func createDatabase(dsn string) (string, func(), error) {
	dsn, dropFn, err := emptyDatabase(dsn)
	if err != nil {
		return "", nil, err
	}
	// Migrate once for the package; harnesses then share the tables.
	db, err := gormOpenMySQL(dsn)
	if err != nil {
		dropFn()
		return "", nil, err
	}
	defer func() {
		if sqlDB, err := db.DB(); err == nil {
			sqlDB.Close()
		}
	}()
	if err := model.Migrate(db); err != nil {
		dropFn()
		return "", nil, err
	}
	return dsn, dropFn, nil
}

// EmptyDatabase returns a configuration whose database is new and empty (no
// table): a SQLite file under the test's temporary directory, or a new
// database on the LINLI_TEST_MYSQL_DSN server, dropped when the test ends.
// Tests of the schema steps open it as several instances would.
func EmptyDatabase(t testing.TB) *config.Config {
	t.Helper()
	cfg := testConfig(map[string]any{"data.dir": t.TempDir()})
	if dsn := os.Getenv(EnvMySQLDSN); dsn != "" {
		db, drop, err := emptyDatabase(dsn)
		if err != nil {
			t.Fatalf("testutil: empty database: %v", err)
		}
		t.Cleanup(drop)
		cfg.Database.Driver, cfg.Database.DSN = "mysql", db
	}
	return cfg
}

// OpenDatabase opens the database of cfg as an instance would (closed when
// the test ends), without migrating it.
func OpenDatabase(t testing.TB, cfg *config.Config) *gorm.DB {
	t.Helper()
	db, _, err := store.OpenDB(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("testutil: open database: %v", err)
	}
	t.Cleanup(func() {
		if sqlDB, err := db.DB(); err == nil {
			sqlDB.Close()
		}
	})
	return db
}

// emptyDatabase makes a uniquely named database on the server of dsn and
// returns a DSN for it and a function that drops it.
func emptyDatabase(dsn string) (string, func(), error) {
	cfg, err := mysqldrv.ParseDSN(store.MySQLDSN(dsn))
	if err != nil {
		return "", nil, fmt.Errorf("parse %s: %w", EnvMySQLDSN, err)
	}
	cfg.DBName = ""
	admin, err := gormOpenMySQL(cfg.FormatDSN())
	if err != nil {
		return "", nil, err
	}
	name := fmt.Sprintf("linli_t_%s_%d_%s", sanitize(filepath.Base(os.Args[0])), os.Getpid(), randomHex(3))
	if err := admin.Exec("CREATE DATABASE `" + name + "` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci").Error; err != nil {
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	cfg.DBName = name
	dropFn := func() {
		_ = admin.Exec("DROP DATABASE IF EXISTS `" + name + "`").Error
		if sqlDB, err := admin.DB(); err == nil {
			sqlDB.Close()
		}
	}
	return cfg.FormatDSN(), dropFn, nil
}

func gormOpenMySQL(dsn string) (*gorm.DB, error) {
	cfg := testConfig(nil)
	cfg.Database.Driver = "mysql"
	cfg.Database.DSN = dsn
	db, _, err := store.OpenDB(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	return db, err
}

func sanitize(s string) string {
	s = strings.TrimSuffix(s, ".test")
	var b strings.Builder
	for _, r := range s {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
		if b.Len() >= 16 {
			break
		}
	}
	return b.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// testConfig returns a dev-mode configuration with a fixed secret.
func testConfig(overrides map[string]any) *config.Config {
	o := map[string]any{"dev": true, "jwt.secret": strings.Repeat("t", 40), "log.level": "error"}
	for k, v := range overrides {
		o[k] = v
	}
	if _, set := o["report.verify_base_url"]; o["dev"] == false && !set {
		o["report.verify_base_url"] = "https://linli.test/api/v1/certificates/verify" // required outside dev mode
	}
	cfg, err := config.LoadFromEnviron("", nil, o)
	if err != nil {
		panic(err)
	}
	return cfg
}

// Clock is a clock tests can move; it starts at the real time.
type Clock struct {
	mu     sync.Mutex
	offset time.Duration
}

// Now returns the real time plus every Advance so far.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// Harness is one linli instance over test stores.
type Harness struct {
	T      testing.TB
	Config *config.Config
	DB     *gorm.DB
	Redis  redis.UniversalClient
	// Mini is the in-process Redis (nil on a real Redis); tests may close it.
	Mini   *miniredis.Miniredis
	Clock  *Clock
	WeChat *FakeWeChat
	Svc    *service.Service
	Router http.Handler
	// Logger is what every instance of the harness logs to: nowhere, unless
	// WithLogWriter was given.
	Logger *slog.Logger
	// RealStores reports whether MySQL and Redis servers are in use.
	RealMySQL, RealRedis bool
	// trips counts round trips for Trips.
	trips tripCounter
	// Objects is the object store of every instance; nil: the local disk
	// store under the harness's upload.dir.
	Objects service.ObjectStore
}

// Option changes how New builds a harness.
type Option func(*options)

type options struct {
	overrides map[string]any
	noWeChat  bool
	logWriter io.Writer
	objects   service.ObjectStore
}

// WithConfig sets configuration keys (key path → value) before validation.
func WithConfig(kv map[string]any) Option {
	return func(o *options) {
		for k, v := range kv {
			o.overrides[k] = v
		}
	}
}

// WithoutWeChat builds the instance as if no WeChat credentials were set.
func WithoutWeChat() Option { return func(o *options) { o.noWeChat = true } }

// WithLogWriter sends every log line of the harness's instances (JSON, debug
// level, with request ids) to w, so a test can read what would be logged.
func WithLogWriter(w io.Writer) Option { return func(o *options) { o.logWriter = w } }

// New builds a harness; everything it opens is closed when the test ends.
func New(t testing.TB, opts ...Option) *Harness {
	t.Helper()
	if process.wechat == nil {
		t.Fatal("testutil: call testutil.Main(m) from the package's TestMain")
	}
	o := &options{overrides: map[string]any{
		"data.dir":     t.TempDir(),
		"redis.prefix": "t" + randomHex(6) + ":",
		// Tests log many users in from one address within a minute: the
		// limits are high unless a test sets them with WithConfig.
		"ratelimit.login_per_minute": 100000,
		"ratelimit.write_per_minute": 100000,
		// The storms of the concurrency tests share two cores with other
		// work: the deadlines are generous unless a test sets them.
		"http.request_timeout": "25s",
		"redis.budget":         "10s",
		// Images are shown at once unless a test of the image check turns
		// the review (and upload.public_base_url, for WeChat's check) on.
		"content.images_require_review": false,
	}}
	for _, opt := range opts {
		opt(o)
	}
	if !o.noWeChat {
		o.overrides["wechat.appid"] = "wx-test-app"
		o.overrides["wechat.secret"] = "wx-test-secret"
	}
	if process.mysqlDSN != "" {
		o.overrides["database.driver"] = "mysql"
		o.overrides["database.dsn"] = process.mysqlDSN
	}
	if addr := os.Getenv(EnvRedisAddr); addr != "" {
		o.overrides["redis.addr"] = addr
	}
	cfg := testConfig(o.overrides)
	h := &Harness{T: t, Config: cfg, Clock: &Clock{}, WeChat: process.wechat,
		RealMySQL: process.mysqlDSN != "", RealRedis: cfg.Redis.Addr != "", Objects: o.objects}

	w, level := io.Discard, slog.LevelError
	if o.logWriter != nil {
		w, level = o.logWriter, slog.LevelDebug
	} else if os.Getenv(EnvTestLog) != "" {
		w, level = os.Stderr, slog.LevelDebug
	}
	log := slog.New(reqlog.NewHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})))
	h.Logger = log
	db, _, err := store.OpenDB(cfg, log)
	if err != nil {
		t.Fatalf("testutil: open database: %v", err)
	}
	h.DB = db
	t.Cleanup(func() {
		replica.Close(db)
		if sqlDB, err := db.DB(); err == nil {
			sqlDB.Close()
		}
	})
	if !h.RealMySQL {
		if err := model.Migrate(db); err != nil {
			t.Fatalf("testutil: migrate: %v", err)
		}
	}
	rdb, err := store.OpenRedis(cfg)
	if err != nil {
		t.Fatalf("testutil: open redis: %v", err)
	}
	h.Redis, h.Mini = rdb.Client, rdb.Embedded
	t.Cleanup(func() {
		if h.RealRedis {
			deleteKeys(rdb.Client, cfg.Redis.Prefix)
		}
		_ = rdb.Close()
	})
	h.Svc, h.Router = h.NewInstance()
	return h
}

// deleteKeys removes every key a harness wrote to a shared Redis.
func deleteKeys(rdb redis.UniversalClient, prefix string) {
	ctx := context.Background()
	for _, pattern := range []string{prefix + "*", "rate:" + prefix + "*"} {
		iter := rdb.Scan(ctx, 0, pattern, 500).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
	}
}

// NewInstance builds another service and router over the same stores, as a
// second API instance would be: tests use it to show that nothing that
// matters lives in one process.
func (h *Harness) NewInstance() (*service.Service, http.Handler) {
	h.T.Helper()
	return h.instanceOver(h.DB, h.Redis)
}

// instanceOver builds an instance over db and rdb.
func (h *Harness) instanceOver(db *gorm.DB, rdb redis.UniversalClient) (*service.Service, http.Handler) {
	h.T.Helper()
	deps := service.Deps{
		DB: db, Redis: rdb, Config: h.Config, Clock: h.Clock,
		Logger: h.Logger, Objects: h.Objects,
	}
	if h.Config.WeChat.Enabled() {
		deps.WeChat = wechat.New(h.Config.WeChat.AppID, h.Config.WeChat.Secret, rdb, h.Config.Redis.Prefix)
	}
	svc := service.New(deps)
	sqlDB, _ := db.DB()
	r, err := router.New(router.Options{
		Service: svc, Config: h.Config, Logger: deps.Logger,
		Limiter: ratelimit.New(rdb, h.Config.Redis.Prefix),
		SQLDB:   sqlDB, Redis: rdb,
	})
	if err != nil {
		h.T.Fatalf("testutil: router: %v", err)
	}
	return svc, r
}

// StopRedis makes Redis unreachable for the harness: h.Svc and h.Router are
// rebuilt over a Redis client whose address is a closed port, and the
// in-process Redis, if any, is closed. (A real Redis is shared with other
// tests and stays up; a closed miniredis would restart on the next dial of
// its in-memory pipe, so closing it alone is not enough.) Instances made
// earlier with NewInstance keep their working client.
func (h *Harness) StopRedis() {
	h.T.Helper()
	if h.Mini != nil {
		h.Mini.Close()
	}
	addr := h.freePort()
	dead := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs: []string{addr}, MaxRetries: -1, DialTimeout: time.Second, DialerRetries: 1,
	})
	h.T.Cleanup(func() { _ = dead.Close() })
	h.Redis = dead
	h.Svc, h.Router = h.NewInstance()
}

// EnvTestLog, when set, sends the instances' logs to stderr (to see the
// cause of a 500 while debugging a test).
const EnvTestLog = "LINLI_TEST_LOG"

// Response is a decoded answer.
type Response struct {
	Status    int
	Header    http.Header
	Raw       []byte
	Code      int             `json:"code"`
	Message   string          `json:"message"`
	Data      json.RawMessage `json:"data"`
	RequestID string          `json:"requestId"`
}

// Decode unmarshals Data into v or fails the test.
func (r *Response) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Data, v); err != nil {
		t.Fatalf("decode %s: %v", r.Raw, err)
	}
}

// Request describes one call; Body may be a string (sent as is), []byte, or
// any value (sent as JSON).
type Request struct {
	Method, Path string
	Body         any
	Token        string
	Header       map[string]string
	RemoteAddr   string
}

// Do sends a request to the harness's router. Path is relative to /api/v1
// unless it starts with "/healthz", "/readyz", "/metrics" or "/api/".
func (h *Harness) Do(method, path string, body any, token string) *Response {
	return Send(h.T, h.Router, Request{Method: method, Path: path, Body: body, Token: token})
}

// TryDo is Do without a test to fail: safe from any goroutine (see TrySend).
func (h *Harness) TryDo(method, path string, body any, token string) (*Response, error) {
	return TrySend(h.Router, Request{Method: method, Path: path, Body: body, Token: token})
}

// Send sends req to the harness's router (see the function Send).
func (h *Harness) Send(req Request) *Response {
	return Send(h.T, h.Router, req)
}

// Send sends req to handler and decodes the envelope (failing the test when
// the body is not one). It may stop the test: never call it from another
// goroutine than the test's own (use TrySend there, e.g. inside Race).
func Send(t testing.TB, handler http.Handler, req Request) *Response {
	t.Helper()
	res, err := TrySend(handler, req)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TrySend sends req to handler and decodes the envelope like Send, but
// returns an error instead of failing a test (the answer, when there is one,
// is returned too), so it is safe from any goroutine.
func TrySend(handler http.Handler, req Request) (*Response, error) {
	var rd io.Reader
	switch b := req.Body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return nil, fmt.Errorf("marshal body: %w", err)
		}
		rd = bytes.NewReader(j)
	}
	path := req.Path
	if !strings.HasPrefix(path, "/healthz") && !strings.HasPrefix(path, "/readyz") && !strings.HasPrefix(path, "/metrics") && !strings.HasPrefix(path, "/api/") {
		path = "/api/v1" + path
	}
	r := httptest.NewRequest(req.Method, path, rd)
	if rd != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	if req.Token != "" {
		r.Header.Set("Authorization", "Bearer "+req.Token)
	}
	for k, v := range req.Header {
		r.Header.Set(k, v)
	}
	if req.RemoteAddr != "" {
		r.RemoteAddr = req.RemoteAddr
	}
	w := httptest.NewRecorder()
	handler.ServeHTTP(w, r)
	res := &Response{Status: w.Code, Header: w.Header(), Raw: w.Body.Bytes()}
	if strings.HasPrefix(path, "/metrics") || !strings.Contains(w.Header().Get("Content-Type"), "json") {
		return res, nil
	}
	if err := json.Unmarshal(res.Raw, res); err != nil {
		return res, fmt.Errorf("%s %s: body is not an envelope: %v: %s", req.Method, path, err, res.Raw)
	}
	return res, nil
}

// Answer is "status/code" of a response, the key tests count race outcomes
// by ("200/0", "409/20001"); a send that failed is "error: …".
func Answer(r *Response, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	return fmt.Sprintf("%d/%d", r.Status, r.Code)
}

// Answers returns the Answer of each response.
func Answers(rs []*Response) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = Answer(r, nil)
	}
	return out
}

// Tally counts answers by value (e.g. the Answer strings Race returned).
func Tally[K comparable](answers []K) map[K]int {
	out := make(map[K]int, 4)
	for _, a := range answers {
		out[a]++
	}
	return out
}

// Expect fails the test unless r has the status and envelope code.
func (r *Response) Expect(t testing.TB, status, code int) *Response {
	t.Helper()
	if r.Status != status || r.Code != code {
		t.Fatalf("want HTTP %d code %d, got HTTP %d code %d: %s", status, code, r.Status, r.Code, r.Raw)
	}
	return r
}

// Login is a signed-in test user.
type Login struct {
	UserID       int64
	AccessToken  string
	RefreshToken string
}

// MustLogin signs in openid through the fake WeChat and returns the tokens.
func (h *Harness) MustLogin(openid string) Login {
	h.T.Helper()
	res := h.Do("POST", "/auth/wechat-login", map[string]string{"code": openid}, "").Expect(h.T, 200, 0)
	var out struct {
		AccessToken, RefreshToken string
		User                      struct{ ID int64 }
	}
	res.Decode(h.T, &out)
	return Login{UserID: out.User.ID, AccessToken: out.AccessToken, RefreshToken: out.RefreshToken}
}

// UniqueOpenID returns an openid no other test uses (tests may share a
// MySQL database).
func UniqueOpenID(prefix string) string { return prefix + "-" + randomHex(5) }

// MustMakeStaff appoints userID as role (staff or admin) of orgID directly
// in the database.
func (h *Harness) MustMakeStaff(userID, orgID int64, role model.StaffRoleKind) {
	h.T.Helper()
	if err := h.DB.Create(&model.StaffRole{UserID: userID, OrgID: orgID, Role: role}).Error; err != nil {
		h.T.Fatalf("make staff: %v", err)
	}
	h.Changed(userID)
}

// Changed tells every instance that the given users' rows were changed
// directly in the database, as the services do after their own changes
// (the cached Caller of each is rebuilt on its next request).
func (h *Harness) Changed(userIDs ...int64) {
	h.Svc.Callers.Changed(h.DB, userIDs...)
}

// Tree is a small org tree made by MustTree.
type Tree struct {
	District, Street, OtherStreet model.OrgUnit
	// CommunityA and CommunityB are in Street; CommunityC is in OtherStreet.
	CommunityA, CommunityB, CommunityC model.OrgUnit
	GridA                              model.OrgUnit
}

// MustTree creates district → two streets → communities A, B (street 1) and
// C (street 2) → a grid of A, directly in the database.
func (h *Harness) MustTree() *Tree {
	h.T.Helper()
	tag := randomHex(3)
	mk := func(parent *model.OrgUnit, level model.OrgLevel, name string) model.OrgUnit {
		o := model.OrgUnit{Level: level, Name: name + tag}
		path := "/"
		if parent != nil {
			o.ParentID, path = &parent.ID, parent.Path
		}
		if err := h.DB.Create(&o).Error; err != nil {
			h.T.Fatalf("tree: %v", err)
		}
		o.Path = fmt.Sprintf("%s%d/", path, o.ID)
		if err := h.DB.Model(&o).Update("path", o.Path).Error; err != nil {
			h.T.Fatalf("tree: %v", err)
		}
		return o
	}
	t := &Tree{}
	t.District = mk(nil, model.LevelDistrict, "区")
	t.Street = mk(&t.District, model.LevelStreet, "街道")
	t.OtherStreet = mk(&t.District, model.LevelStreet, "另一街道")
	t.CommunityA = mk(&t.Street, model.LevelCommunity, "社区A")
	t.CommunityB = mk(&t.Street, model.LevelCommunity, "社区B")
	t.CommunityC = mk(&t.OtherStreet, model.LevelCommunity, "社区C")
	t.GridA = mk(&t.CommunityA, model.LevelGrid, "网格")
	return t
}

// MustSetHome sets a user's home community directly in the database.
func (h *Harness) MustSetHome(userID, communityID int64) {
	h.T.Helper()
	if err := h.DB.Model(&model.User{}).Where("id = ?", userID).Update("home_community_id", communityID).Error; err != nil {
		h.T.Fatalf("set home: %v", err)
	}
	h.Changed(userID)
}

// Count returns the number of rows of model matching where.
func (h *Harness) Count(m any, where string, args ...any) int64 {
	h.T.Helper()
	var n int64
	q := h.DB.Model(m)
	if where != "" {
		q = q.Where(where, args...)
	}
	if err := q.Count(&n).Error; err != nil {
		h.T.Fatalf("count: %v", err)
	}
	return n
}

// Rival returns the handle through which a test makes a competing change
// while the service is inside its transaction tx (from a test hook between
// a read and the conditional write that must not trust it). On MySQL it is
// another connection, so the change commits before the service writes; on
// SQLite, which lets one transaction write at a time, a second connection
// would wait for tx, so the change is made in tx itself — either way the
// service's earlier read is stale and only its conditional UPDATE or a
// unique key can refuse.
func (h *Harness) Rival(tx *gorm.DB) *gorm.DB {
	if h.RealMySQL {
		return h.DB
	}
	return tx
}
