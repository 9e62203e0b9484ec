// Package config loads linli's settings: built-in defaults, then an optional
// YAML file, then LINLI_* environment variables, and validates the result.
package config

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
)

// Config is the whole configuration of one linli process.
type Config struct {
	Dev       bool            `koanf:"dev"`
	Timezone  string          `koanf:"timezone"`
	HTTP      HTTPConfig      `koanf:"http"`
	Data      DataConfig      `koanf:"data"`
	Database  DatabaseConfig  `koanf:"database"`
	Redis     RedisConfig     `koanf:"redis"`
	Bootstrap BootstrapConfig `koanf:"bootstrap"`
	JWT       JWTConfig       `koanf:"jwt"`
	WeChat    WeChatConfig    `koanf:"wechat"`
	RateLimit RateLimitConfig `koanf:"ratelimit"`
	Log       LogConfig       `koanf:"log"`
	Wish      WishConfig      `koanf:"wish"`
	Upload    UploadConfig    `koanf:"upload"`
	Content   ContentConfig   `koanf:"content"`
	Activity  ActivityConfig  `koanf:"activity"`
	TimeBank  TimeBankConfig  `koanf:"timebank"`
	Mall      MallConfig      `koanf:"mall"`
	Report    ReportConfig    `koanf:"report"`
	Debug     DebugConfig     `koanf:"debug"`
	User      UserConfig      `koanf:"user"`
	Case      CaseConfig      `koanf:"case"`
	Notify    NotifyConfig    `koanf:"notify"`
	Privacy   PrivacyConfig   `koanf:"privacy"`

	// Location is Timezone resolved by Load; business periods use it.
	Location *time.Location `koanf:"-"`
}

// HTTPConfig holds the listener settings.
type HTTPConfig struct {
	Addr            string        `koanf:"addr"`
	MaxBodyBytes    int64         `koanf:"max_body_bytes"`
	ShutdownTimeout time.Duration `koanf:"shutdown_timeout"`
	ReadTimeout     time.Duration `koanf:"read_timeout"`
	WriteTimeout    time.Duration `koanf:"write_timeout"`
	// RequestTimeout is every request's deadline: the database and Redis
	// work it starts is cancelled when it passes, and the answer is 503
	// 10503. It must be shorter than WriteTimeout.
	RequestTimeout time.Duration `koanf:"request_timeout"`
	// TrustedProxies lists proxy addresses whose X-Forwarded-For is believed
	// (comma-separated CIDRs or IPs); empty trusts none.
	TrustedProxies string `koanf:"trusted_proxies"`
}

// DataConfig says where local files live.
type DataConfig struct {
	Dir string `koanf:"dir"`
}

// DatabaseConfig selects and tunes the relational store.
type DatabaseConfig struct {
	Driver          string        `koanf:"driver"`
	DSN             string        `koanf:"dsn"`
	MaxOpenConns    int           `koanf:"max_open_conns"`
	MaxIdleConns    int           `koanf:"max_idle_conns"`
	ConnMaxLifetime time.Duration `koanf:"conn_max_lifetime"`
	SlowThreshold   time.Duration `koanf:"slow_threshold"`
	// Replicas is a comma-separated list of read-replica DSNs (MySQL/MariaDB
	// only); empty reads everything from the primary. Only reads that
	// tolerate lag go there (see internal/replica).
	Replicas string `koanf:"replicas"`
	// ReplicaTimeout bounds dialling a replica whose DSN sets no timeout;
	// ReplicaRetry is how long a failed replica is left alone before one
	// read tries it again (reads go to the primary meanwhile).
	ReplicaTimeout time.Duration `koanf:"replica_timeout"`
	ReplicaRetry   time.Duration `koanf:"replica_retry"`
}

// ReplicaDSNs returns the configured read-replica DSNs.
func (d DatabaseConfig) ReplicaDSNs() []string { return splitList(d.Replicas) }

// RedisConfig selects and tunes Redis. An empty Addr means an in-process Redis.
type RedisConfig struct {
	// Addr is one address or a comma-separated list (cluster or sentinel).
	Addr         string        `koanf:"addr"`
	MasterName   string        `koanf:"master_name"`
	Username     string        `koanf:"username"`
	Password     string        `koanf:"password"`
	DB           int           `koanf:"db"`
	PoolSize     int           `koanf:"pool_size"`
	DialTimeout  time.Duration `koanf:"dial_timeout"`
	ReadTimeout  time.Duration `koanf:"read_timeout"`
	WriteTimeout time.Duration `koanf:"write_timeout"`
	// MaxRetries is how often a failed command is retried (0: never);
	// MinRetryBackoff and MaxRetryBackoff bound the wait between tries.
	MaxRetries      int           `koanf:"max_retries"`
	MinRetryBackoff time.Duration `koanf:"min_retry_backoff"`
	MaxRetryBackoff time.Duration `koanf:"max_retry_backoff"`
	// DialRetries is how many times one connection is dialled before the
	// command fails.
	DialRetries int `koanf:"dial_retries"`
	// Budget is the most one Redis step of a request (the session check, a
	// rate-limit check, a login's session write) may take, retries
	// included; when it passes the request is answered 503 10503.
	Budget time.Duration `koanf:"budget"`
	// Prefix is put before every key linli writes, so several deployments can
	// share one Redis.
	Prefix string `koanf:"prefix"`
}

// BootstrapConfig names the first administrators.
type BootstrapConfig struct {
	// Admins is a comma-separated list of openids that administer the root org.
	Admins string `koanf:"admins"`
}

// AdminOpenIDs returns the bootstrap admin openids, trimmed, without blanks.
func (b BootstrapConfig) AdminOpenIDs() []string { return splitList(b.Admins) }

// JWTConfig holds token settings.
type JWTConfig struct {
	Secret     string        `koanf:"secret"`
	AccessTTL  time.Duration `koanf:"access_ttl"`
	RefreshTTL time.Duration `koanf:"refresh_ttl"`
}

// WeChatConfig holds the mini-program credentials. Empty AppID disables WeChat.
type WeChatConfig struct {
	AppID   string        `koanf:"appid"`
	Secret  string        `koanf:"secret"`
	Timeout time.Duration `koanf:"timeout"`
	// APIBase receives every WeChat API call of the process (login, phone,
	// content checks, wxacode, tokens, subscribe messages): WeChat's own by
	// default, or a staging stand-in, an egress gateway or a fake.
	APIBase string `koanf:"api_base"`
	// MiniprogramState and Lang are sent with every subscribe message.
	MiniprogramState string `koanf:"miniprogram_state"`
	Lang             string `koanf:"lang"`
	// MessagePage is the page a subscribe message opens.
	MessagePage string `koanf:"message_page"`
	// Templates maps an event (NotificationEvents) to its subscribe
	// template id; an event without one is inbox-only.
	Templates map[string]string `koanf:"templates"`
	// Fields maps an event to its template's field mapping
	// (ParseMessageFields).
	Fields map[string]string `koanf:"fields"`
	// PushToken is the token of the mini-program's message push (消息推送,
	// plain-text mode), which signs WeChat's callbacks to
	// /api/v1/wechat/push; empty refuses every callback.
	PushToken string `koanf:"push_token"`
}

// Enabled reports whether WeChat credentials are configured.
func (w WeChatConfig) Enabled() bool { return w.AppID != "" && w.Secret != "" }

// RateLimitConfig holds request limits; zero disables a limit.
type RateLimitConfig struct {
	LoginPerMinute int `koanf:"login_per_minute"`
	WritePerMinute int `koanf:"write_per_minute"`
	// WishCreatePerMinute limits POST /wishes per user.
	WishCreatePerMinute int `koanf:"wish_create_per_minute"`
}

// WishConfig holds the rules of micro-wishes (微心愿).
type WishConfig struct {
	// BudgetMaxFen is the largest budget a wish may name, in fen.
	BudgetMaxFen int64 `koanf:"budget_max_fen"`
	// MaxOpenPerPoster is how many wishes a poster may have open at once.
	MaxOpenPerPoster int `koanf:"max_open_per_poster"`
	// MaxActiveClaims is how many claimed, unfulfilled wishes a claimer may hold.
	MaxActiveClaims int `koanf:"max_active_claims"`
	// ClaimDeadline is how long a claimer has to fulfil a wish.
	ClaimDeadline time.Duration `koanf:"claim_deadline"`
	// AutoConfirmAfter is how long after fulfilment a wish confirms itself.
	AutoConfirmAfter time.Duration `koanf:"auto_confirm_after"`
	// ExpireAfter is how long after publication an unclaimed wish expires;
	// zero never expires wishes.
	ExpireAfter time.Duration `koanf:"expire_after"`
	// CompletionPoints are credited to the claimer when a wish completes.
	CompletionPoints int64 `koanf:"completion_points"`
	// SweepInterval is how often serve runs the wish sweeps; zero disables.
	SweepInterval time.Duration `koanf:"sweep_interval"`
	// ReleaseLimit is how many claims a claimer may give back (released or
	// lapsed) within ReleaseWindow before they may claim no more until the
	// oldest drops out of the window; zero means no limit.
	ReleaseLimit  int           `koanf:"release_limit"`
	ReleaseWindow time.Duration `koanf:"release_window"`
}

// UploadConfig holds image upload settings.
type UploadConfig struct {
	// MaxBytes is the largest accepted image.
	MaxBytes int64 `koanf:"max_bytes"`
	// Dir is where the local object store keeps files; empty means
	// <data.dir>/uploads.
	Dir string `koanf:"dir"`
	// DailyCount and DailyBytes cap what one user may upload per day (in
	// Location); zero means no cap.
	DailyCount int   `koanf:"daily_count"`
	DailyBytes int64 `koanf:"daily_bytes"`
	// MaxPixels is the largest image (width × height) accepted for decoding.
	MaxPixels int64 `koanf:"max_pixels"`
	// URLSecret keys the signed URLs of private photos (fulfilment and
	// service-record photos); empty derives one from jwt.secret.
	URLSecret string `koanf:"url_secret"`
	// URLTTL is how long a signed URL stays valid.
	URLTTL time.Duration `koanf:"url_ttl"`
	// UnusedTTL is how long an upload attached to nothing is kept before
	// the upload sweep removes it.
	UnusedTTL time.Duration `koanf:"unused_ttl"`
	// SweepInterval is how often serve runs the upload sweep; zero disables.
	SweepInterval time.Duration `koanf:"sweep_interval"`
	// Store is where uploads live: local (upload.dir, one host) or s3 (an
	// S3-compatible bucket every instance shares).
	Store string   `koanf:"store"`
	S3    S3Config `koanf:"s3"`
	// PublicBaseURL is the external https address of this API
	// (https://linli.example.org) that WeChat fetches images from for the
	// media check; empty leaves images to staff review
	// (content.images_require_review).
	PublicBaseURL string `koanf:"public_base_url"`
	// CheckInterval is how often serve submits images waiting for the media
	// check to WeChat (and retries failed submissions); zero disables.
	CheckInterval time.Duration `koanf:"check_interval"`
}

// ContentConfig holds the local content check used when WeChat is not
// configured.
type ContentConfig struct {
	// WordsFile is a word list (one per line); empty uses the built-in list.
	WordsFile string `koanf:"words_file"`
	// ImagesRequireReview: when the media check cannot run (WeChat or
	// upload.public_base_url not configured), an image others could see
	// waits for a staff member's approval; false shows it at once.
	ImagesRequireReview bool `koanf:"images_require_review"`
}

// LogConfig holds logging settings.
type LogConfig struct {
	Level string `koanf:"level"`
}

// TimeBankConfig holds the rules of the time bank and points.
type TimeBankConfig struct {
	// StarHours is the comma-separated list of cumulative approved hours
	// that earn 1★, 2★, …; strictly increasing.
	StarHours string `koanf:"star_hours"`
	// GiftDailyLimitMinutes and GiftDailyLimitPoints cap what one user may
	// give away per day (in cfg.Location) in each currency; 0 means no cap.
	GiftDailyLimitMinutes int64 `koanf:"gift_daily_limit_minutes"`
	GiftDailyLimitPoints  int64 `koanf:"gift_daily_limit_points"`
	// LeaderboardSize is how many leaders GET /leaderboards returns.
	LeaderboardSize int `koanf:"leaderboard_size"`
	// LeaderboardCheckInterval is how often serve compares the leaderboards
	// with the ledger and rebuilds those that drifted; zero disables.
	LeaderboardCheckInterval time.Duration `koanf:"leaderboard_check_interval"`
	// ManualCredit caps what staff credit by hand (POST /admin/credits).
	ManualCredit ManualCreditConfig `koanf:"manual_credit"`

	// StarMinutes is StarHours in minutes, resolved by Validate.
	StarMinutes []int64 `koanf:"-"`
}

// ManualCreditConfig caps manual credits per issuing community. Zero
// disables a cap; an approval threshold of zero posts every credit at once.
type ManualCreditConfig struct {
	// MaxMinutesPerRequest and MaxPointsPerRequest are the largest single
	// manual credit (request) in each currency.
	MaxMinutesPerRequest int64 `koanf:"max_minutes_per_request"`
	MaxPointsPerRequest  int64 `koanf:"max_points_per_request"`
	// MaxMinutesPerMonth and MaxPointsPerMonth cap what one community issues
	// by hand per calendar month (in cfg.Location), pending requests
	// included.
	MaxMinutesPerMonth int64 `koanf:"max_minutes_per_month"`
	MaxPointsPerMonth  int64 `koanf:"max_points_per_month"`
	// ApprovalAboveMinutes and ApprovalAbovePoints: a larger manual credit
	// is a request that a second staff member (or an admin above) approves.
	ApprovalAboveMinutes int64 `koanf:"approval_above_minutes"`
	ApprovalAbovePoints  int64 `koanf:"approval_above_points"`
}

// Limits returns the per-request cap, the monthly cap and the approval
// threshold of a currency ("minutes" or "points"); zero means none.
func (m ManualCreditConfig) Limits(currency string) (perRequest, perMonth, approvalAbove int64) {
	if currency == "minutes" {
		return m.MaxMinutesPerRequest, m.MaxMinutesPerMonth, m.ApprovalAboveMinutes
	}
	return m.MaxPointsPerRequest, m.MaxPointsPerMonth, m.ApprovalAbovePoints
}

// MallConfig holds the rules of the points mall (爱心超市).
type MallConfig struct {
	// OrderTTL is how long an order waits for pickup before the sweep
	// expires and refunds it.
	OrderTTL time.Duration `koanf:"order_ttl"`
	// SweepInterval is how often `serve` runs the expiry sweep; 0 disables
	// the background loop (run it elsewhere then).
	SweepInterval time.Duration `koanf:"sweep_interval"`
}

// ActivityConfig holds the rules of volunteer activities (SPEC §4).
type ActivityConfig struct {
	// DefaultRadiusM is the check-in radius of an activity that names none.
	DefaultRadiusM int `koanf:"default_radius_m"`
	// DefaultPointsPerHour is the points rate of an activity that names none.
	DefaultPointsPerHour int `koanf:"default_points_per_hour"`
	// CheckinCodeTTL is how long a check-in code stays valid.
	CheckinCodeTTL time.Duration `koanf:"checkin_code_ttl"`
	// CheckinOpensBefore is how long before the start check-in opens.
	CheckinOpensBefore time.Duration `koanf:"checkin_opens_before"`
	// CheckoutGrace is how long after the end check-out stays open; anyone
	// still checked in then is checked out at the end and flagged.
	CheckoutGrace time.Duration `koanf:"checkout_grace"`
	// NoShowLimit absences within NoShowWindow block sign-ups for NoShowBlock.
	NoShowLimit  int           `koanf:"noshow_limit"`
	NoShowWindow time.Duration `koanf:"noshow_window"`
	NoShowBlock  time.Duration `koanf:"noshow_block"`
	// SweepInterval is how often serve runs the attendance sweep; 0 disables.
	SweepInterval time.Duration `koanf:"sweep_interval"`
	// SignupGroupMax is how many sign-ups for one activity that queue on an
	// instance while another is written are written together in one
	// transaction; 1 writes each alone.
	SignupGroupMax int `koanf:"signup_group_max"`
	// ListCacheMaxAge is how long an instance may keep the first page of a
	// public activities list at most; every change to what it shows ends
	// it at once on every instance (see service.activityPages), so this
	// bounds only a change written around linli. 0 keeps nothing.
	ListCacheMaxAge time.Duration `koanf:"list_cache_max_age"`
	// WXACodePage is the mini-program page a check-in wxacode opens.
	WXACodePage string `koanf:"wxacode_page"`
}

// DebugConfig holds diagnostics that are off in production.
type DebugConfig struct {
	// PProf mounts net/http/pprof under /debug/pprof (CPU and heap
	// profiles, goroutine dumps). It exposes internals without any sign-in:
	// turn it on only where the port is not public.
	PProf bool `koanf:"pprof"`
}

// DefaultFile is read when no --config is given and it exists.
const DefaultFile = "config.yaml"

// ReportConfig holds the settings of 双报到: service records, quarterly
// obligations and certificates.
type ReportConfig struct {
	// ServiceMaxAgeDays is how many days back a member may log a service.
	ServiceMaxAgeDays int `koanf:"service_max_age_days"`
	// PointsPerHour is what an approved self-logged hour earns in points.
	PointsPerHour int `koanf:"points_per_hour"`
	// Obligations is the requirements table (000:L197, 000:L189).
	Obligations ObligationConfig `koanf:"obligations"`
	// CertificateSecret keys the certificates' verification codes; empty
	// derives one from jwt.secret.
	CertificateSecret string `koanf:"certificate_secret"`
	// VerifyBaseURL is the public address of GET /certificates/verify put in
	// certificates and their QR codes. It is required outside dev mode; in
	// dev mode an empty one is resolved by Validate to this server's local
	// address (from http.addr). The request's Host header is never used.
	VerifyBaseURL string `koanf:"verify_base_url"`
	// UnitClaimScope is where a unit may claim needs: "community" (only the
	// community it reported to) or "street" (any community of that street).
	UnitClaimScope string `koanf:"unit_claim_scope"`
}

// Unit claim scopes (report.unit_claim_scope).
const (
	UnitClaimCommunity = "community"
	UnitClaimStreet    = "street"
)

// UserConfig holds the rules of users' own profiles.
type UserConfig struct {
	// HomeChangeMinInterval is how long after a home community was set a
	// user must wait before moving to another one; setting the first home is
	// free, and 0 disables the limit.
	HomeChangeMinInterval time.Duration `koanf:"home_change_min_interval"`
}

// ObligationConfig is the quarterly requirements table: how many approved
// service records of each kind a reported member needs per quarter, how many
// records a daily (日常报到) member needs in each month, and how many
// unit-organised activities or completed projects a unit needs per quarter.
type ObligationConfig struct {
	ContactHelp    int `koanf:"contact_help"`
	PostDuty       int `koanf:"post_duty"`
	PublicActivity int `koanf:"public_activity"`
	PracticalDeed  int `koanf:"practical_deed"`
	DailyPerMonth  int `koanf:"daily_per_month"`
	UnitPerQuarter int `koanf:"unit_per_quarter"`
}

// MinJWTSecretLen is the shortest JWT secret accepted outside dev mode.
const MinJWTSecretLen = 32

// defaults returns every key with its default value; a key missing here is
// not a key (environment variables are mapped through this list).
func defaults() map[string]any {
	d := baseDefaults()
	notifyDefaults(d)
	imageCheckDefaults(d)
	return d
}

// baseDefaults returns the defaults of every key but the notification ones.
func baseDefaults() map[string]any {
	d := map[string]any{
		"dev":                        false,
		"timezone":                   "Asia/Shanghai",
		"http.addr":                  ":8080",
		"http.max_body_bytes":        1 << 20,
		"http.shutdown_timeout":      "20s",
		"http.read_timeout":          "15s",
		"http.write_timeout":         "30s",
		"http.request_timeout":       "15s",
		"http.trusted_proxies":       "",
		"data.dir":                   "./data",
		"database.driver":            "sqlite",
		"database.dsn":               "",
		"database.max_open_conns":    50,
		"database.max_idle_conns":    50,
		"database.conn_max_lifetime": "30m",
		"database.slow_threshold":    "500ms",
		"database.replicas":          "",
		"database.replica_timeout":   "1s",
		"database.replica_retry":     "10s",
		"redis.addr":                 "",
		"redis.master_name":          "",
		"redis.username":             "",
		"redis.password":             "",
		"redis.db":                   0,
		"redis.pool_size":            50,
		"redis.dial_timeout":         "3s",
		"redis.read_timeout":         "2s",
		"redis.write_timeout":        "2s",
		"redis.max_retries":          1,
		"redis.min_retry_backoff":    "8ms",
		"redis.max_retry_backoff":    "64ms",
		"redis.dial_retries":         1,
		"redis.budget":               "2s",
		"redis.prefix":               "linli:",
		"bootstrap.admins":           "",
		"jwt.secret":                 "",
		"jwt.access_ttl":             "2h",
		"jwt.refresh_ttl":            "720h",
		"wechat.appid":               "",
		"wechat.secret":              "",
		"wechat.timeout":             "5s",
		"ratelimit.login_per_minute": 30,
		"ratelimit.write_per_minute": 120,
		"log.level":                  "info",
		"debug.pprof":                false,

		// Micro-wishes, uploads and the local content check.
		"ratelimit.wish_create_per_minute": 5,
		"wish.budget_max_fen":              50000,
		"wish.max_open_per_poster":         3,
		"wish.max_active_claims":           3,
		"wish.claim_deadline":              "168h",
		"wish.auto_confirm_after":          "72h",
		"wish.expire_after":                "720h",
		"wish.completion_points":           10,
		"wish.sweep_interval":              "1m",
		"wish.release_limit":               3,
		"wish.release_window":              "720h",
		"upload.max_bytes":                 5 << 20,
		"upload.dir":                       "",
		"upload.daily_count":               100,
		"upload.daily_bytes":               100 << 20,
		"upload.max_pixels":                40_000_000,
		"upload.url_secret":                "",
		"upload.url_ttl":                   "1h",
		"upload.unused_ttl":                "24h",
		"upload.sweep_interval":            "10m",
		"upload.store":                     "local",
		"upload.s3.endpoint":               "",
		"upload.s3.bucket":                 "",
		"upload.s3.region":                 "",
		"upload.s3.access_key":             "",
		"upload.s3.secret_key":             "",
		"upload.s3.use_ssl":                true,
		"content.words_file":               "",

		// Volunteer activities.
		"activity.default_radius_m":        500,
		"activity.default_points_per_hour": 10,
		"activity.checkin_code_ttl":        "60s",
		"activity.checkin_opens_before":    "60m",
		"activity.checkout_grace":          "2h",
		"activity.noshow_limit":            3,
		"activity.noshow_window":           "2160h",
		"activity.noshow_block":            "720h",
		"activity.sweep_interval":          "1m",
		"activity.signup_group_max":        100,
		"activity.list_cache_max_age":      "1m",
		"activity.wxacode_page":            "pages/activity/checkin",

		// Time bank, points and the points mall.
		"timebank.star_hours":                            "100,300,600,1000,1500",
		"timebank.gift_daily_limit_minutes":              600,
		"timebank.gift_daily_limit_points":               1000,
		"timebank.leaderboard_size":                      50,
		"timebank.leaderboard_check_interval":            "10m",
		"timebank.manual_credit.max_minutes_per_request": 6000,
		"timebank.manual_credit.max_points_per_request":  10000,
		"timebank.manual_credit.max_minutes_per_month":   30000,
		"timebank.manual_credit.max_points_per_month":    50000,
		"timebank.manual_credit.approval_above_minutes":  600,
		"timebank.manual_credit.approval_above_points":   1000,
		"mall.order_ttl":                                 "168h",
		"mall.sweep_interval":                            "1m",

		// 双报到.
		"report.service_max_age_days":         60,
		"report.points_per_hour":              10,
		"report.obligations.contact_help":     1,
		"report.obligations.post_duty":        1,
		"report.obligations.public_activity":  1,
		"report.obligations.practical_deed":   1,
		"report.obligations.daily_per_month":  1,
		"report.obligations.unit_per_quarter": 1,
		"report.certificate_secret":           "",
		"report.verify_base_url":              "",
		"report.unit_claim_scope":             "community",
		"user.home_change_min_interval":       "720h",
	}
	for k, v := range caseDefaults() {
		d[k] = v
	}
	for k, v := range privacyDefaults() {
		d[k] = v
	}
	return d
}

// EnvName returns the environment variable that overrides a key path.
func EnvName(key string) string {
	return "LINLI_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// Keys returns every configuration key path, sorted.
func Keys() []string {
	d := defaults()
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Load reads defaults, then the YAML file at path (skipped when path is
// empty), then LINLI_* variables from environ (os.Environ when nil), then
// applies overrides (key path → value, e.g. from --dev). It returns an error
// naming the key when a value cannot be parsed or fails validation.
func Load(path string, overrides map[string]any) (*Config, error) {
	return load(path, os.Environ(), overrides)
}

// LoadFromEnviron is Load with an explicit environment (tests use it).
func LoadFromEnviron(path string, environ []string, overrides map[string]any) (*Config, error) {
	return load(path, environ, overrides)
}

func load(path string, environ []string, overrides map[string]any) (*Config, error) {
	k := koanf.New(".")
	for key, v := range defaults() {
		if err := k.Set(key, v); err != nil {
			return nil, fmt.Errorf("config: default %s: %w", key, err)
		}
	}
	if path != "" {
		if err := k.Load(file.Provider(path), yaml.Parser()); err != nil {
			return nil, fmt.Errorf("config: read %s: %w", path, err)
		}
		for _, key := range k.Keys() {
			if _, ok := defaults()[key]; !ok {
				return nil, fmt.Errorf("config: unknown key %q in %s", key, path)
			}
		}
		// A YAML list is accepted where a comma-separated string is expected.
		for _, key := range k.Keys() {
			if list, ok := k.Get(key).([]any); ok {
				parts := make([]string, len(list))
				for i, v := range list {
					parts[i] = fmt.Sprint(v)
				}
				if err := k.Set(key, strings.Join(parts, ",")); err != nil {
					return nil, fmt.Errorf("config: %s: %w", key, err)
				}
			}
		}
	}
	byEnv := make(map[string]string)
	for _, key := range Keys() {
		byEnv[EnvName(key)] = key
	}
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		if key, known := byEnv[name]; known {
			if err := k.Set(key, value); err != nil {
				return nil, fmt.Errorf("config: %s: %w", name, err)
			}
		}
	}
	for key, v := range overrides {
		if err := k.Set(key, v); err != nil {
			return nil, fmt.Errorf("config: %s: %w", key, err)
		}
	}
	var c Config
	if err := k.Unmarshal("", &c); err != nil {
		return nil, badValue(k, err)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Validate checks every value and resolves Location. The error names the key
// (as its LINLI_* variable) and says what is wrong.
func (c *Config) Validate() error {
	bad := func(key, why string) error {
		return fmt.Errorf("config: %s (%s): %s", key, EnvName(key), why)
	}
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		return bad("timezone", "unknown time zone "+c.Timezone)
	}
	c.Location = loc
	if c.HTTP.Addr == "" {
		return bad("http.addr", "must not be empty")
	}
	if c.HTTP.MaxBodyBytes < 1024 {
		return bad("http.max_body_bytes", "must be at least 1024")
	}
	switch c.Database.Driver {
	case "sqlite":
	case "mysql":
		if c.Database.DSN == "" {
			return bad("database.dsn", "is required when the driver is mysql")
		}
	default:
		return bad("database.driver", "must be sqlite or mysql, not "+c.Database.Driver)
	}
	if len(c.Database.ReplicaDSNs()) > 0 && c.Database.Driver != "mysql" {
		return bad("database.replicas", "read replicas need database.driver mysql; the embedded sqlite store has none (leave it empty)")
	}
	if c.Database.ReplicaTimeout <= 0 {
		return bad("database.replica_timeout", "must be a positive duration such as 1s")
	}
	if c.Database.ReplicaRetry <= 0 {
		return bad("database.replica_retry", "must be a positive duration such as 10s")
	}
	if c.Database.MaxOpenConns < 1 {
		return bad("database.max_open_conns", "must be at least 1")
	}
	if c.Database.MaxIdleConns < 0 {
		return bad("database.max_idle_conns", "must not be negative")
	}
	if c.Database.ConnMaxLifetime < 0 {
		return bad("database.conn_max_lifetime", "must not be negative (0 keeps connections forever)")
	}
	if c.Redis.PoolSize < 1 {
		return bad("redis.pool_size", "must be at least 1")
	}
	if c.Redis.DB < 0 {
		return bad("redis.db", "must not be negative")
	}
	for key, d := range map[string]time.Duration{
		"http.shutdown_timeout": c.HTTP.ShutdownTimeout,
		"http.read_timeout":     c.HTTP.ReadTimeout,
		"http.write_timeout":    c.HTTP.WriteTimeout,
		"redis.dial_timeout":    c.Redis.DialTimeout,
		"redis.read_timeout":    c.Redis.ReadTimeout,
		"redis.write_timeout":   c.Redis.WriteTimeout,
	} {
		if d <= 0 {
			return bad(key, "must be a positive duration such as 5s")
		}
	}
	if c.Data.Dir == "" {
		return bad("data.dir", "must not be empty")
	}
	if c.JWT.AccessTTL < time.Minute {
		return bad("jwt.access_ttl", "must be at least 1m")
	}
	if c.JWT.RefreshTTL < c.JWT.AccessTTL {
		return bad("jwt.refresh_ttl", "must not be shorter than jwt.access_ttl")
	}
	if !c.Dev {
		if c.JWT.Secret == "" {
			return bad("jwt.secret", "is required outside dev mode (use --dev for a generated one)")
		}
		if len(c.JWT.Secret) < MinJWTSecretLen {
			return bad("jwt.secret", fmt.Sprintf("must be at least %d bytes, got %d", MinJWTSecretLen, len(c.JWT.Secret)))
		}
	}
	if (c.WeChat.AppID == "") != (c.WeChat.Secret == "") {
		return bad("wechat.secret", "wechat.appid and wechat.secret must be set together")
	}
	if c.WeChat.Timeout <= 0 {
		return bad("wechat.timeout", "must be positive")
	}
	if c.RateLimit.LoginPerMinute < 0 {
		return bad("ratelimit.login_per_minute", "must not be negative (0 disables)")
	}
	if c.RateLimit.WritePerMinute < 0 {
		return bad("ratelimit.write_per_minute", "must not be negative (0 disables)")
	}
	if c.RateLimit.WishCreatePerMinute < 0 {
		return bad("ratelimit.wish_create_per_minute", "must not be negative (0 disables)")
	}
	if err := c.validateWish(bad); err != nil {
		return err
	}
	if err := c.Activity.validate(bad); err != nil {
		return err
	}
	if err := c.validateTimeBank(bad); err != nil {
		return err
	}
	if err := c.validateReport(bad); err != nil {
		return err
	}
	if err := c.validateCase(bad); err != nil {
		return err
	}
	if err := c.validateNotify(bad); err != nil {
		return err
	}
	if err := c.validateFaults(bad); err != nil {
		return err
	}
	if err := c.validatePrivacy(bad); err != nil {
		return err
	}
	if err := c.validateImageCheck(bad); err != nil {
		return err
	}
	if c.User.HomeChangeMinInterval < 0 {
		return bad("user.home_change_min_interval", "must not be negative (0 disables the limit)")
	}
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "error":
	default:
		return bad("log.level", "must be debug, info, warn or error")
	}
	return nil
}

// validateTimeBank checks the time bank and mall keys and resolves
// TimeBank.StarMinutes.
func (c *Config) validateTimeBank(bad func(key, why string) error) error {
	c.TimeBank.StarMinutes = nil
	prev := int64(0)
	for _, p := range splitList(c.TimeBank.StarHours) {
		h, err := strconv.ParseInt(p, 10, 64)
		if err != nil || h <= prev || h > 1_000_000 {
			return bad("timebank.star_hours", "must be a comma-separated list of strictly increasing positive hours, e.g. 100,300,600,1000,1500")
		}
		prev = h
		c.TimeBank.StarMinutes = append(c.TimeBank.StarMinutes, h*60)
	}
	if len(c.TimeBank.StarMinutes) == 0 || len(c.TimeBank.StarMinutes) > 10 {
		return bad("timebank.star_hours", "must list 1 to 10 thresholds")
	}
	if c.TimeBank.GiftDailyLimitMinutes < 0 {
		return bad("timebank.gift_daily_limit_minutes", "must not be negative (0 disables)")
	}
	if c.TimeBank.GiftDailyLimitPoints < 0 {
		return bad("timebank.gift_daily_limit_points", "must not be negative (0 disables)")
	}
	if c.TimeBank.LeaderboardSize < 1 || c.TimeBank.LeaderboardSize > 200 {
		return bad("timebank.leaderboard_size", "must be between 1 and 200")
	}
	m := c.TimeBank.ManualCredit
	for key, v := range map[string]int64{
		"max_minutes_per_request": m.MaxMinutesPerRequest, "max_points_per_request": m.MaxPointsPerRequest,
		"max_minutes_per_month": m.MaxMinutesPerMonth, "max_points_per_month": m.MaxPointsPerMonth,
		"approval_above_minutes": m.ApprovalAboveMinutes, "approval_above_points": m.ApprovalAbovePoints,
	} {
		if v < 0 {
			return bad("timebank.manual_credit."+key, "must not be negative (0 disables)")
		}
	}
	if c.Mall.OrderTTL < time.Minute {
		return bad("mall.order_ttl", "must be at least 1m")
	}
	if c.Mall.SweepInterval < 0 {
		return bad("mall.sweep_interval", "must not be negative (0 disables)")
	}
	return nil
}

// validate checks the activity rules; bad names the key.
func (a ActivityConfig) validate(bad func(key, why string) error) error {
	switch {
	case a.DefaultRadiusM < 50 || a.DefaultRadiusM > 5000:
		return bad("activity.default_radius_m", "must be between 50 and 5000")
	case a.DefaultPointsPerHour < 0 || a.DefaultPointsPerHour > 1000:
		return bad("activity.default_points_per_hour", "must be between 0 and 1000")
	case a.CheckinCodeTTL < 10*time.Second || a.CheckinCodeTTL > time.Hour:
		return bad("activity.checkin_code_ttl", "must be between 10s and 1h")
	case a.CheckinOpensBefore < 0:
		return bad("activity.checkin_opens_before", "must not be negative")
	case a.CheckoutGrace < 0:
		return bad("activity.checkout_grace", "must not be negative")
	case a.NoShowLimit < 1:
		return bad("activity.noshow_limit", "must be at least 1")
	case a.NoShowWindow <= 0:
		return bad("activity.noshow_window", "must be positive")
	case a.NoShowBlock < 0:
		return bad("activity.noshow_block", "must not be negative (0 disables the block)")
	case a.SweepInterval < 0:
		return bad("activity.sweep_interval", "must not be negative (0 disables the sweep loop)")
	case a.SignupGroupMax < 1 || a.SignupGroupMax > 1000:
		return bad("activity.signup_group_max", "must be between 1 and 1000")
	case a.ListCacheMaxAge < 0 || a.ListCacheMaxAge > time.Hour:
		return bad("activity.list_cache_max_age", "must be between 0 (keep nothing) and 1h")
	case a.WXACodePage == "" || strings.HasPrefix(a.WXACodePage, "/"):
		return bad("activity.wxacode_page", "must be a mini-program page path without a leading /")
	}
	return nil
}

// badValue finds the key whose value could not be decoded and says so with
// its environment name; err is the decoder's error for the whole set.
func badValue(k *koanf.Koanf, err error) error {
	for _, key := range Keys() {
		one := koanf.New(".")
		for dk, dv := range defaults() {
			_ = one.Set(dk, dv)
		}
		v := k.Get(key)
		_ = one.Set(key, v)
		var c Config
		if one.Unmarshal("", &c) != nil {
			return fmt.Errorf("config: %s (%s): cannot use %q: want %s", key, EnvName(key), fmt.Sprint(v), kindOf(defaults()[key]))
		}
	}
	return fmt.Errorf("config: %w", err)
}

// kindOf describes the type of a default value for an error message.
func kindOf(def any) string {
	switch d := def.(type) {
	case bool:
		return "true or false"
	case int, int64:
		return "an integer"
	case string:
		if _, err := time.ParseDuration(d); err == nil {
			return "a duration such as 30s, 5m or 2h"
		}
	}
	return "a valid value"
}

// validateWish checks the wish, upload and content keys.
func (c *Config) validateWish(bad func(key, why string) error) error {
	w := c.Wish
	switch {
	case w.BudgetMaxFen < 0:
		return bad("wish.budget_max_fen", "must not be negative")
	case w.MaxOpenPerPoster < 1:
		return bad("wish.max_open_per_poster", "must be at least 1")
	case w.MaxActiveClaims < 1:
		return bad("wish.max_active_claims", "must be at least 1")
	case w.ClaimDeadline < time.Minute:
		return bad("wish.claim_deadline", "must be at least 1m")
	case w.AutoConfirmAfter < time.Minute:
		return bad("wish.auto_confirm_after", "must be at least 1m")
	case w.ExpireAfter < 0:
		return bad("wish.expire_after", "must not be negative (0 disables)")
	case w.CompletionPoints < 0:
		return bad("wish.completion_points", "must not be negative")
	case w.SweepInterval < 0:
		return bad("wish.sweep_interval", "must not be negative (0 disables)")
	case w.ReleaseLimit < 0:
		return bad("wish.release_limit", "must not be negative (0: no limit)")
	case w.ReleaseLimit > 0 && w.ReleaseWindow < time.Minute:
		return bad("wish.release_window", "must be at least 1m")
	case c.Upload.MaxBytes < 1024:
		return bad("upload.max_bytes", "must be at least 1024")
	case c.Upload.DailyCount < 0:
		return bad("upload.daily_count", "must not be negative (0: no cap)")
	case c.Upload.DailyBytes < 0:
		return bad("upload.daily_bytes", "must not be negative (0: no cap)")
	case c.Upload.MaxPixels < 1:
		return bad("upload.max_pixels", "must be at least 1")
	case c.Upload.URLTTL < time.Minute:
		return bad("upload.url_ttl", "must be at least 1m")
	case c.Upload.UnusedTTL < time.Hour:
		return bad("upload.unused_ttl", "must be at least 1h")
	case c.Upload.SweepInterval < 0:
		return bad("upload.sweep_interval", "must not be negative (0 disables)")
	}
	if f := c.Content.WordsFile; f != "" {
		if _, err := os.Stat(f); err != nil {
			return bad("content.words_file", "cannot be read: "+err.Error())
		}
	}
	return nil
}

// UploadDir returns the local upload directory: upload.dir, or
// <data.dir>/uploads when it is empty.
func (c *Config) UploadDir() string {
	if c.Upload.Dir != "" {
		return c.Upload.Dir
	}
	return filepath.Join(c.Data.Dir, "uploads")
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// validateReport checks the 双报到 keys.
func (c *Config) validateReport(bad func(key, why string) error) error {
	if c.Report.ServiceMaxAgeDays < 1 || c.Report.ServiceMaxAgeDays > 3660 {
		return bad("report.service_max_age_days", "must be between 1 and 3660")
	}
	if c.Report.PointsPerHour < 0 {
		return bad("report.points_per_hour", "must not be negative")
	}
	for _, o := range []struct {
		key string
		n   int
	}{
		{"report.obligations.contact_help", c.Report.Obligations.ContactHelp},
		{"report.obligations.post_duty", c.Report.Obligations.PostDuty},
		{"report.obligations.public_activity", c.Report.Obligations.PublicActivity},
		{"report.obligations.practical_deed", c.Report.Obligations.PracticalDeed},
		{"report.obligations.daily_per_month", c.Report.Obligations.DailyPerMonth},
		{"report.obligations.unit_per_quarter", c.Report.Obligations.UnitPerQuarter},
	} {
		if o.n < 0 || o.n > 1000 {
			return bad(o.key, "must be between 0 and 1000")
		}
	}
	if c.Report.CertificateSecret != "" && len(c.Report.CertificateSecret) < MinJWTSecretLen {
		return bad("report.certificate_secret", fmt.Sprintf("must be at least %d bytes when set", MinJWTSecretLen))
	}
	switch u := c.Report.VerifyBaseURL; {
	case u == "" && !c.Dev:
		return bad("report.verify_base_url", "is required outside dev mode: the public https address of /api/v1/certificates/verify printed on certificates")
	case u == "":
		c.Report.VerifyBaseURL = localVerifyURL(c.HTTP.Addr)
	case !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://"):
		return bad("report.verify_base_url", "must be an http(s) URL")
	}
	switch c.Report.UnitClaimScope {
	case UnitClaimCommunity, UnitClaimStreet:
	default:
		return bad("report.unit_claim_scope", "must be community or street")
	}
	return nil
}

// localVerifyURL is the dev-mode address of GET /certificates/verify on this
// process, built from http.addr alone (":8080" → http://127.0.0.1:8080/…).
func localVerifyURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		host, port = addr, "8080"
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/api/v1/certificates/verify"
}
