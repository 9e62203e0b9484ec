// Command linli serves the linli API (邻里: Party-building-led community
// governance) and runs its maintenance subcommands.
//
//	linli [serve|migrate|reconcile|rebuild-leaderboards|rebuild-stats|version] [--config FILE] [--dev]
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"
	"gorm.io/gorm"

	"linli/config"
	"linli/internal/objstore"
	"linli/internal/ratelimit"
	"linli/internal/replica"
	"linli/internal/reqlog"
	"linli/internal/store"
	"linli/internal/wechat"
	"linli/model"
	"linli/router"
	"linli/service"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "linli:", err)
		os.Exit(1)
	}
}

const usage = `usage: linli [command] [--config FILE] [--dev]

commands:
  serve     serve the HTTP API (default)
  migrate   apply the schema steps that are missing, then exit;
            --status lists them and when each was applied (JSON)
  reconcile check every ledger account and transaction; print
            {accounts, mismatches, details} as JSON; exit 1 on mismatches
  rebuild-leaderboards
            rebuild every org's leaderboards in Redis from the ledger
  rebuild-stats
            recompute the dashboard's running figures (residents and
            volunteers per community, the ledger's per-day totals, the
            cases' per-day event counts) from the rows: after a bulk load
            such as scripts/seed, a restore, or the upgrade adding them
  version   print the version
`

// run parses the command line and runs one subcommand.
func run(args []string) error {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("linli", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), usage) }
	configPath := fs.String("config", "", "YAML configuration file (default: "+config.DefaultFile+" when it exists)")
	dev := fs.Bool("dev", false, "dev mode: dev login, generated JWT secret, demo data")
	status := fs.Bool("status", false, "with migrate: list the schema steps and when each was applied, change nothing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		if cmd != "serve" || fs.NArg() > 1 {
			return fmt.Errorf("unexpected arguments %q\n%s", fs.Args(), usage)
		}
		cmd = fs.Arg(0)
	}
	if cmd == "version" {
		fmt.Println("linli", version)
		return nil
	}
	path := *configPath
	if path == "" {
		if _, err := os.Stat(config.DefaultFile); err == nil {
			path = config.DefaultFile
		}
	}
	cfg, err := loadConfig(path, *dev)
	if err != nil {
		return err
	}
	log := newLogger(cfg)
	redis.SetLogger(redisLogger{log}) // go-redis's own warnings, as JSON lines too
	if path != "" {
		log.Info("configuration read", "file", path)
	}
	switch cmd {
	case "serve":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return serve(ctx, cfg, log)
	case "migrate":
		if *status {
			return migrationStatus(cfg, log)
		}
		a, err := open(cfg, log)
		if err != nil {
			return err
		}
		defer a.close()
		log.Info("migrations applied")
		return nil
	case "reconcile":
		return reconcile(cfg, log)
	case "rebuild-leaderboards":
		a, err := open(cfg, log)
		if err != nil {
			return err
		}
		defer a.close()
		n, err := a.svc.TimeBank.RebuildLeaderboards(context.Background())
		if err != nil {
			return fmt.Errorf("rebuild leaderboards: %w", err)
		}
		log.Info("leaderboards rebuilt", "orgs", n)
		return nil
	case "rebuild-stats":
		a, err := open(cfg, log)
		if err != nil {
			return err
		}
		defer a.close()
		if err := a.svc.Oversight.RebuildStats(context.Background()); err != nil {
			return fmt.Errorf("rebuild stats: %w", err)
		}
		log.Info("dashboard figures rebuilt")
		n, err := a.svc.Cases.RebuildCaseDayStats(context.Background())
		if err != nil {
			return fmt.Errorf("rebuild case day stats: %w", err)
		}
		log.Info("case figures rebuilt", "rows", n)
		return nil
	default:
		return fmt.Errorf("unknown command %q\n%s", cmd, usage)
	}
}

// loadConfig loads the configuration; in dev mode a missing JWT secret is
// generated once per data dir and kept there.
func loadConfig(path string, dev bool) (*config.Config, error) {
	overrides := map[string]any{}
	if dev {
		overrides["dev"] = true
	}
	cfg, err := config.Load(path, overrides)
	if err != nil {
		return nil, err
	}
	if cfg.Dev && cfg.JWT.Secret == "" {
		if cfg.JWT.Secret, err = devSecret(cfg.Data.Dir); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

// devSecret returns the dev JWT secret kept in dir, creating it if missing.
func devSecret(dir string) (string, error) {
	path := filepath.Join(dir, "dev-jwt-secret")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= config.MinJWTSecretLen {
		return strings.TrimSpace(string(b)), nil
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("create data dir: %w", err)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	secret := hex.EncodeToString(b)
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write dev JWT secret: %w", err)
	}
	return secret, nil
}

// newLogger returns the JSON logger of every command. It writes to stderr,
// so that what a command prints on stdout (reconcile's JSON) stays
// parseable.
func newLogger(cfg *config.Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	return slog.New(reqlog.NewHandler(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
}

// redisLogger sends go-redis's internal messages (pool dial failures and the
// like) to the structured log.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}

// app is one process's open stores and services.
type app struct {
	db    *gorm.DB
	redis *store.Redis
	svc   *service.Service
}

func (a *app) close() {
	replica.Close(a.db)
	if sqlDB, err := a.db.DB(); err == nil {
		_ = sqlDB.Close()
	}
	_ = a.redis.Close()
}

// open connects the stores, applies migrations and builds the services.
func open(cfg *config.Config, log *slog.Logger) (*app, error) {
	db, dbDesc, err := store.OpenDB(cfg, log)
	if err != nil {
		return nil, err
	}
	rdb, err := store.OpenRedis(cfg)
	if err != nil {
		return nil, err
	}
	log.Info("stores", "database", dbDesc, "redis", rdb.Desc)
	if rdb.Embedded != nil {
		log.Warn("using the in-process Redis: sessions and rate limits are forgotten on restart and not shared between instances; set LINLI_REDIS_ADDR for production")
	}
	if err := model.Migrate(db); err != nil {
		return nil, err
	}
	deps := service.Deps{DB: db, Redis: rdb.Client, Config: cfg, Clock: service.SystemClock{}, Logger: log}
	if deps.Objects, err = objectStore(cfg); err != nil {
		return nil, err
	}
	if cfg.WeChat.Enabled() {
		client, err := wechat.HTTPClient(cfg.WeChat.APIBase, cfg.WeChat.Timeout)
		if err != nil {
			return nil, err
		}
		wechat.UseHTTPClient(client)
		deps.WeChat = wechat.New(cfg.WeChat.AppID, cfg.WeChat.Secret, rdb.Client, cfg.Redis.Prefix)
		if cfg.Upload.PublicBaseURL == "" {
			log.Warn("upload.public_base_url is not set: WeChat cannot fetch images, so they skip its media check and wait for staff (content.images_require_review)")
		}
		if cfg.WeChat.PushToken == "" {
			log.Warn("wechat.push_token is not set: the media check's verdicts on /api/v1/wechat/push are refused")
		}
	} else {
		log.Warn("WeChat is not configured (LINLI_WECHAT_APPID/LINLI_WECHAT_SECRET): wechat-login answers 503; content is checked against the local word list")
		words, err := service.LoadWordList(cfg.Content.WordsFile)
		if err != nil {
			return nil, err
		}
		deps.Content = words
	}
	return &app{db: db, redis: rdb, svc: service.New(deps)}, nil
}

// migrationStatus prints every schema step and when it was applied, as
// JSON on stdout, without changing the database.
func migrationStatus(cfg *config.Config, log *slog.Logger) error {
	db, _, err := store.OpenDB(cfg, log)
	if err != nil {
		return err
	}
	defer func() {
		if sqlDB, err := db.DB(); err == nil {
			_ = sqlDB.Close()
		}
	}()
	st, err := model.MigrationStatus(db)
	if err != nil {
		return err
	}
	out, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	fmt.Println(string(out))
	return nil
}

// objectStore returns the S3 store of upload.s3 when upload.store is s3,
// and nil (service.New's local store under upload.dir) otherwise.
func objectStore(cfg *config.Config) (service.ObjectStore, error) {
	if cfg.Upload.Store != config.UploadStoreS3 {
		return nil, nil
	}
	s := cfg.Upload.S3
	return objstore.NewS3(objstore.S3Options{Endpoint: s.Endpoint, Region: s.Region, Bucket: s.Bucket,
		AccessKey: s.AccessKey, SecretKey: s.SecretKey, UseSSL: s.UseSSL}, service.FilesURLPrefix)
}

// reconcile prints the ledger reconciliation and fails when it found
// mismatches.
func reconcile(cfg *config.Config, log *slog.Logger) error {
	a, err := open(cfg, log)
	if err != nil {
		return err
	}
	defer a.close()
	rep, err := a.svc.TimeBank.Reconcile(context.Background())
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	out, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	fmt.Println(string(out))
	if rep.Mismatches > 0 {
		return fmt.Errorf("reconcile: %d mismatches", rep.Mismatches)
	}
	return nil
}

// seedDemo seeds the demo data (service.SeedDemo) in dev mode and does
// nothing otherwise. It returns the seeding's error.
func seedDemo(ctx context.Context, cfg *config.Config, svc *service.Service, log *slog.Logger) error {
	if !cfg.Dev {
		return nil
	}
	demo, err := svc.SeedDemo(ctx)
	if err != nil {
		return fmt.Errorf("seed demo data: %w", err)
	}
	log.Warn("DEV MODE: POST /api/v1/auth/dev-login is open; never run this in production")
	log.Info("demo data", "district", demo.DistrictID, "street", demo.StreetID,
		"communities", demo.CommunityIDs, "grids", demo.GridIDs,
		"openids", []string{service.DemoAdmin, service.DemoStaff, service.DemoResident, service.DemoMember})
	return nil
}

// serve runs the HTTP server until ctx ends (SIGINT or SIGTERM), then lets
// in-flight requests finish within http.shutdown_timeout.
func serve(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	a, err := open(cfg, log)
	if err != nil {
		return err
	}
	defer a.close()
	if err := seedDemo(ctx, cfg, a.svc, log); err != nil {
		return err
	}

	stopSweeps := runSweeps(ctx, log,
		sweep{name: "wishes", interval: cfg.Wish.SweepInterval, run: func(ctx context.Context) ([]any, error) {
			res, err := a.svc.Wishes.Sweep(ctx)
			if err != nil || res.Lapsed+res.AutoConfirmed+res.Expired == 0 {
				return nil, err
			}
			return []any{"lapsed", res.Lapsed, "auto_confirmed", res.AutoConfirmed, "expired", res.Expired}, nil
		}},
		sweep{name: "activities", interval: cfg.Activity.SweepInterval, run: func(ctx context.Context) ([]any, error) {
			res, err := a.svc.Activities.Sweep(ctx)
			if err != nil || res.Finished+res.Absent+res.AutoCheckedOut == 0 {
				return nil, err
			}
			return []any{"finished", res.Finished, "absent", res.Absent, "auto_checked_out", res.AutoCheckedOut}, nil
		}},
		sweep{name: "mall", interval: cfg.Mall.SweepInterval, run: func(ctx context.Context) ([]any, error) {
			n, err := a.svc.Mall.ExpireOrders(ctx)
			if n == 0 {
				return nil, err
			}
			return []any{"expired", n}, err
		}},
		sweep{name: "reminders", interval: cfg.Notify.ReminderInterval, run: func(ctx context.Context) ([]any, error) {
			res, err := a.svc.SweepReminders(ctx)
			if err != nil || res.Activities+res.Obligations == 0 {
				return nil, err
			}
			return []any{"activities", res.Activities, "obligations", res.Obligations}, nil
		}},
		sweep{name: "leaderboards", interval: cfg.TimeBank.LeaderboardCheckInterval, run: func(ctx context.Context) ([]any, error) {
			drift, err := a.svc.TimeBank.CheckLeaderboards(ctx, true)
			if len(drift) == 0 {
				return nil, err
			}
			return []any{"repaired_differences", len(drift), "first", drift[0]}, err
		}},
		sweep{name: "uploads", interval: cfg.Upload.SweepInterval, run: func(ctx context.Context) ([]any, error) {
			n, err := a.svc.Uploads.Sweep(ctx)
			if n == 0 {
				return nil, err
			}
			return []any{"removed_unused", n}, err
		}},
		sweep{name: "cases", interval: cfg.Case.SweepInterval, run: func(ctx context.Context) ([]any, error) {
			res, err := a.svc.Cases.Sweep(ctx)
			if err != nil || res.Escalated+res.Supervised+res.AutoClosed == 0 {
				return nil, err
			}
			return []any{"escalated", res.Escalated, "supervised", res.Supervised, "auto_closed", res.AutoClosed}, nil
		}},
		sweep{name: "privacy", interval: cfg.Privacy.SweepInterval, run: func(ctx context.Context) ([]any, error) {
			res, err := a.svc.Privacy.SweepRetention(ctx)
			if err != nil || res.WishContacts == 0 {
				return nil, err
			}
			return []any{"wish_contacts_blanked", res.WishContacts}, nil
		}},
		sweep{name: "image checks", interval: cfg.Upload.CheckInterval, run: func(ctx context.Context) ([]any, error) {
			n, err := a.svc.Uploads.SubmitChecks(ctx)
			if n == 0 {
				return nil, err
			}
			return []any{"submitted", n}, err
		}},
	)
	defer stopSweeps() // the sweeps end before the stores close
	stopOutbox := runOutbox(ctx, cfg, a.svc, log)
	defer stopOutbox()

	gin.SetMode(gin.ReleaseMode)
	sqlDB, _ := a.db.DB()
	handler, err := router.New(router.Options{
		Service: a.svc, Config: cfg, Logger: log,
		Limiter: ratelimit.New(a.redis.Client, cfg.Redis.Prefix),
		SQLDB:   sqlDB, Redis: a.redis.Client,
	})
	if err != nil {
		return err
	}
	srv := &http.Server{
		Addr:              cfg.HTTP.Addr,
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       cfg.HTTP.ReadTimeout,
		WriteTimeout:      cfg.HTTP.WriteTimeout,
		IdleTimeout:       2 * time.Minute,
	}
	ln, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		return fmt.Errorf("http.addr (LINLI_HTTP_ADDR): %w", err)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String(), "version", version, "dev", cfg.Dev)

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight requests", "timeout", cfg.HTTP.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.HTTP.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// runOutbox starts notify.workers outbox workers (none when WeChat is not
// configured: nothing is written to the outbox then) and returns a function
// that stops them and waits: a row being sent is finished, rows leased and
// not sent go back to pending.
func runOutbox(ctx context.Context, cfg *config.Config, svc *service.Service, log *slog.Logger) (stop func()) {
	n := cfg.Notify.Workers
	if !cfg.WeChat.Enabled() || n == 0 {
		log.Info("outbox workers not started", "workers", n, "wechat", cfg.WeChat.Enabled())
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		svc.Notifications.Run(ctx, n)
		close(done)
	}()
	return func() {
		cancel()
		<-done
	}
}

// sweep is one periodic background job. run returns log attributes
// describing what it changed (none: nothing worth a line).
type sweep struct {
	name     string
	interval time.Duration
	run      func(ctx context.Context) ([]any, error)
}

// runSweeps runs each sweep every interval (0 disables it, with a warning)
// until ctx ends, and returns a function that stops them and waits. Sweeps
// are safe on every instance at once: each transition is a conditional
// update.
func runSweeps(ctx context.Context, log *slog.Logger, sweeps ...sweep) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, sw := range sweeps {
		if sw.interval <= 0 {
			log.Warn("sweep disabled (interval 0)", "sweep", sw.name)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(sw.interval)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				sctx, done := context.WithTimeout(ctx, max(sw.interval, time.Minute))
				attrs, err := sw.run(sctx)
				done()
				switch {
				case err != nil && ctx.Err() == nil:
					log.Error("sweep", "sweep", sw.name, "error", err.Error())
				case len(attrs) > 0:
					log.Info("sweep", append([]any{"sweep", sw.name}, attrs...)...)
				}
			}
		}()
	}
	return func() {
		cancel()
		wg.Wait()
	}
}
