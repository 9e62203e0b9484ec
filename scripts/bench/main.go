// Command bench is linli's load benchmark on MySQL/MariaDB + Redis (issue
// 10): it drives each scenario at a fixed concurrency for a fixed time
// against linli and against the baseline (scripts/bench/baseline, the fewest
// round trips the endpoint needs) in the same run, and prints per scenario
// req/s, p50/p95/p99, errors, the server's peak RSS and the ratio
// linli/baseline. After each write storm it checks the invariants (one
// claimer per wish, no activity over capacity, the ledger reconciles).
//
//	go run ./scripts/seed --scale small          # once: the data set
//	go run ./scripts/bench [--duration 10s] [--connections 64] [--scenarios REGEXP] [--scale small]
//
// By default it builds linli and the baseline from this tree and starts both
// (linli with `serve` on the seeded database and a fresh Redis key prefix);
// --target and --baseline-target point it at running servers instead (then
// --secret and --prefix must be theirs). Sessions are minted the way linli
// mints them (service.AuthService.DevLogin on a dev-mode service instance
// over the same database and Redis), so linli itself runs without dev mode.
//
// Every run adds rows (the write storms' wishes, activities, sign-ups,
// orders and credits): seed again for a run on the pristine data set.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"gorm.io/gorm"

	"linli/config"
	"linli/internal/store"
	"linli/service"
)

// opts are the command-line settings.
type opts struct {
	dsn, redisAddr           string
	target, baselineTarget   string
	secret, prefix           string
	duration, warmup         time.Duration
	conns, users, batch      int
	rounds                   int
	burst, burstSeats        int
	scenarios                *regexp.Regexp
	scale, out, reconcile    string
	linliAddr, baselineAddr  string
	pprof, keep, interpolate bool
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var o opts
	fs.StringVar(&o.dsn, "dsn", "root@tcp(127.0.0.1:3306)/linli_bench", "MySQL DSN of the seeded database")
	fs.StringVar(&o.redisAddr, "redis", "127.0.0.1:6379", "Redis address")
	fs.StringVar(&o.target, "target", "", "base URL of a running linli (default: build and start one)")
	fs.StringVar(&o.baselineTarget, "baseline-target", "", "base URL of a running baseline (default: build and start one)")
	fs.StringVar(&o.secret, "secret", "", "jwt.secret of a running linli (default: a fresh one)")
	fs.StringVar(&o.prefix, "prefix", "", "redis.prefix of a running linli (default: a fresh linlibench:<run>: prefix)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long each scenario runs per target")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "warm-up before each read scenario (not measured)")
	fs.IntVar(&o.conns, "connections", 64, "concurrent connections (one request in flight each)")
	fs.IntVar(&o.rounds, "rounds", 4, "slices of --duration per target, alternating linli and the baseline")
	fs.IntVar(&o.users, "users", 64, "signed-in residents (Party members and volunteers spread over communities)")
	fs.IntVar(&o.batch, "approve-batch", 10, "attendances per batch approval")
	fs.IntVar(&o.burst, "burst", 2000, "sign-ups fired at once in the burst scenario")
	fs.IntVar(&o.burstSeats, "burst-seats", 100, "seats of the burst activity (waitlist on)")
	filter := fs.String("scenarios", ".", "regular expression selecting scenarios by name")
	fs.StringVar(&o.scale, "scale", "small", "the seeded data set (small or district): the label of the report")
	fs.StringVar(&o.reconcile, "reconcile", "each", "reconcile the ledger after each write storm (each) or once after the last (end)")
	fs.StringVar(&o.out, "out", "", "also write the Markdown table to this file")
	fs.StringVar(&o.linliAddr, "linli-addr", "127.0.0.1:18080", "listen address of the linli it starts")
	fs.StringVar(&o.baselineAddr, "baseline-addr", "127.0.0.1:18081", "listen address of the baseline it starts")
	fs.BoolVar(&o.pprof, "pprof", false, "start linli with debug.pprof on (profile it at /debug/pprof meanwhile)")
	fs.BoolVar(&o.interpolate, "interpolate", false, "start linli with interpolateParams=true in its DSN")
	fs.BoolVar(&o.keep, "keep", false, "keep the started servers' logs (printed at the end)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var err error
	if o.scenarios, err = regexp.Compile(*filter); err != nil {
		return fmt.Errorf("--scenarios: %w", err)
	}
	if o.rounds < 1 {
		o.rounds = 1
	}
	if (o.target != "") != (o.secret != "") || (o.target != "" && o.prefix == "") {
		return errors.New("--target needs the --secret and --prefix of that linli")
	}
	run := randomHex(4)
	if o.secret == "" {
		o.secret = randomHex(32)
	}
	if o.prefix == "" {
		o.prefix = "linlibench:" + run + ":"
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b, err := newBench(ctx, o)
	if err != nil {
		return err
	}
	defer b.close()

	dir, err := os.MkdirTemp("", "linli-bench-")
	if err != nil {
		return err
	}
	var b2 *bench
	defer func() {
		if !o.keep && !b2.anyErrors() {
			_ = os.RemoveAll(dir)
		} else {
			fmt.Fprintln(os.Stderr, "bench: server logs kept in", dir)
		}
	}()
	linli := &server{name: "linli", base: o.target}
	base := &server{name: "baseline", base: o.baselineTarget}
	if o.target == "" {
		if err := b.startLinli(ctx, dir, linli); err != nil {
			return err
		}
		defer linli.stop()
	}
	if o.baselineTarget == "" {
		if err := b.startBaseline(ctx, dir, base); err != nil {
			return err
		}
		defer base.stop()
	}
	b.targets = [2]*server{linli, base}
	b2 = b
	if err := b.prepare(ctx); err != nil {
		return err
	}
	return b.runAll(ctx)
}

// bench holds the stores, the minted sessions and the write pools.
type bench struct {
	o       opts
	db      *gorm.DB
	redis   *store.Redis
	svc     *service.Service
	zone    string     // linli's timezone (config), for the baseline's leaderboards
	targets [2]*server // linli, baseline
	client  *http.Client

	now       time.Time
	residents []resident
	admin     string           // token of the district admin (user 1)
	staff     map[int64]string // community id → token of its staff
	rows      []row
}

// resident is a signed-in user the read and write scenarios act as.
type resident struct {
	id, community, street int64
	token                 string
}

func newBench(ctx context.Context, o opts) (*bench, error) {
	cfg, err := config.LoadFromEnviron("", nil, map[string]any{
		"dev": true, "database.driver": "mysql", "database.dsn": o.dsn, "redis.addr": o.redisAddr,
		"redis.prefix": o.prefix, "jwt.secret": o.secret, "database.max_open_conns": 4,
	})
	if err != nil {
		return nil, err
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, _, err := store.OpenDB(cfg, log)
	if err != nil {
		return nil, err
	}
	rdb, err := store.OpenRedis(cfg)
	if err != nil {
		return nil, err
	}
	var users int64
	if err := db.WithContext(ctx).Table("users").Count(&users).Error; err != nil {
		return nil, fmt.Errorf("count users (did you run scripts/seed?): %w", err)
	}
	if users < 1000 {
		return nil, fmt.Errorf("the database has %d users: run `go run ./scripts/seed --scale %s` first", users, o.scale)
	}
	tr := &http.Transport{MaxIdleConns: 4096, MaxIdleConnsPerHost: 4096, IdleConnTimeout: time.Minute}
	return &bench{
		o: o, db: db, redis: rdb, zone: cfg.Timezone, now: time.Now(), staff: map[int64]string{},
		svc:    service.New(service.Deps{DB: db, Redis: rdb.Client, Config: cfg, Clock: service.SystemClock{}, Logger: log}),
		client: &http.Client{Transport: tr, Timeout: 60 * time.Second},
	}, nil
}

func (b *bench) close() {
	if s, err := b.db.DB(); err == nil {
		_ = s.Close()
	}
	_ = b.redis.Close()
}

// server is a target: a base URL, and the process when the bench started it.
type server struct {
	name, base string
	cmd        *exec.Cmd
}

func (s *server) pid() int {
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

func (s *server) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
		}
	}
}

// build compiles pkg of this module into dir and returns the binary.
func build(ctx context.Context, dir, name, pkg string) (string, error) {
	bin := filepath.Join(dir, name)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build %s: %w", pkg, err)
	}
	return bin, nil
}

// start runs bin with env, its output to dir/name.log, and waits until
// base+readyz answers 200.
func start(ctx context.Context, s *server, dir, bin, readyz string, env []string, args ...string) error {
	logf, err := os.Create(filepath.Join(dir, s.name+".log"))
	if err != nil {
		return err
	}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Env = append(os.Environ(), env...)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		return err
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if res, err := http.Get(s.base + readyz); err == nil {
			_ = res.Body.Close()
			if res.StatusCode == 200 {
				return nil
			}
		}
		if s.cmd.ProcessState != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	out, _ := os.ReadFile(logf.Name())
	return fmt.Errorf("%s did not become ready: %s", s.name, tail(string(out), 2000))
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func (b *bench) startLinli(ctx context.Context, dir string, s *server) error {
	bin, err := build(ctx, dir, "linli", ".")
	if err != nil {
		return err
	}
	dsn := b.o.dsn
	if b.o.interpolate {
		dsn = withParam(dsn, "interpolateParams=true")
	}
	s.base = "http://" + b.o.linliAddr
	env := []string{
		"LINLI_DEV=false", "LINLI_DATABASE_DRIVER=mysql", "LINLI_DATABASE_DSN=" + dsn,
		"LINLI_REDIS_ADDR=" + b.o.redisAddr, "LINLI_REDIS_PREFIX=" + b.o.prefix, "LINLI_JWT_SECRET=" + b.o.secret,
		"LINLI_HTTP_ADDR=" + b.o.linliAddr, "LINLI_DATA_DIR=" + filepath.Join(dir, "data"),
		// Out of the way of a load test: per-user write limits, the claim
		// cap (the residents claim thousands) and the sweeps (the data set
		// is relative to the seed's clock; a sweep would be noise).
		"LINLI_RATELIMIT_WRITE_PER_MINUTE=0", "LINLI_RATELIMIT_LOGIN_PER_MINUTE=0",
		"LINLI_WISH_MAX_ACTIVE_CLAIMS=1000000", "LINLI_WISH_SWEEP_INTERVAL=0", "LINLI_ACTIVITY_SWEEP_INTERVAL=0",
		"LINLI_MALL_SWEEP_INTERVAL=0", fmt.Sprintf("LINLI_DEBUG_PPROF=%t", b.o.pprof),
		"LINLI_REPORT_VERIFY_BASE_URL=https://bench.invalid/api/v1/certificates/verify",
	}
	fmt.Fprintf(os.Stderr, "bench: starting linli on %s (redis prefix %s)\n", b.o.linliAddr, b.o.prefix)
	return start(ctx, s, dir, bin, "/readyz", env, "serve")
}

func (b *bench) startBaseline(ctx context.Context, dir string, s *server) error {
	bin, err := build(ctx, dir, "baseline", "./scripts/bench/baseline")
	if err != nil {
		return err
	}
	s.base = "http://" + b.o.baselineAddr
	fmt.Fprintf(os.Stderr, "bench: starting the baseline on %s\n", b.o.baselineAddr)
	return start(ctx, s, dir, bin, "/readyz", nil, "--addr", b.o.baselineAddr, "--dsn", b.o.dsn,
		"--redis", b.o.redisAddr, "--prefix", b.o.prefix, "--secret", b.o.secret, "--timezone", b.zone)
}

func withParam(dsn, p string) string {
	if strings.Contains(dsn, "?") {
		return dsn + "&" + p
	}
	return dsn + "?" + p
}

func randomHex(n int) string {
	buf := make([]byte, n)
	_, _ = rand.Read(buf)
	return hex.EncodeToString(buf)
}

// anyErrors reports whether a request failed in some scenario (then the
// servers' logs are kept).
func (b *bench) anyErrors() bool {
	if b == nil {
		return false
	}
	for _, r := range b.rows {
		if r.res != nil && r.res.errs > 0 {
			return true
		}
	}
	return false
}
