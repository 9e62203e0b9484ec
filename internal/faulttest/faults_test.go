// Package faulttest breaks linli's dependencies and linli itself under
// load, from outside: it builds the linli binary, starts its own MariaDB
// and Redis on spare loopback ports (never the shared 3306/6379), kills,
// freezes and restarts them and linli, and checks what the clients saw and
// the invariants afterwards. It runs only when LINLI_FAULTS is set
// (scripts/faults.sh; .ci/run runs the quick form); LINLI_FAULTS=long
// makes each outage longer. LINLI_FAULTS_REPORT names a file that receives
// the table of docs/RELIABILITY.md.
package faulttest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"linli/service"
)

// env is what TestMain set up for every scenario.
var env struct {
	dir, bin          string
	mysqlPort, rdPort int
	mysql, redis      *proc
	db                *gorm.DB
	long              bool
	report            []string
	// Requests acknowledged (201, or 200 for a replay) over every scenario.
	creditsAcked, giftsAcked sync.Map // requestId → true
	// run makes this run's requestIds unique in the database.
	run    string
	worlds int
}

// Timeouts linli runs with here.
const (
	requestTimeout  = 2 * time.Second
	shutdownTimeout = 5 * time.Second
)

func TestMain(m *testing.M) {
	mode := os.Getenv("LINLI_FAULTS")
	if mode == "" {
		fmt.Println("faulttest: LINLI_FAULTS not set; skipping (scripts/faults.sh runs them)")
		os.Exit(0)
	}
	env.long = mode == "long"
	env.run = fmt.Sprint(time.Now().Unix() % 100000)
	code := 0
	if err := setup(); err != nil {
		fmt.Fprintln(os.Stderr, "faulttest:", err)
		code = 2
	} else {
		code = m.Run()
	}
	if env.redis != nil {
		env.redis.kill()
	}
	if env.mysql != nil {
		env.mysql.kill()
	}
	if f := os.Getenv("LINLI_FAULTS_REPORT"); f != "" && len(env.report) > 0 {
		table := "| scenario | observed | invariant checked |\n|---|---|---|\n" + strings.Join(env.report, "\n") + "\n"
		_ = os.WriteFile(f, []byte(table), 0o644)
	}
	if code == 0 {
		_ = os.RemoveAll(env.dir)
	}
	os.Exit(code)
}

func setup() error {
	var err error
	if env.dir, err = os.MkdirTemp("", "linli-faults-"); err != nil {
		return err
	}
	env.bin = filepath.Join(env.dir, "linli")
	build := exec.Command("go", "build", "-o", env.bin, "linli")
	build.Dir = "../.."
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build: %v: %s", err, out)
	}
	env.mysqlPort, env.rdPort = freePort(), freePort()
	env.redis = startRedis()
	data := filepath.Join(env.dir, "mysql")
	install := exec.Command("mariadb-install-db", "--no-defaults", "--datadir="+data, "--user=root",
		"--auth-root-authentication-method=normal", "--skip-test-db")
	if out, err := install.CombinedOutput(); err != nil {
		return fmt.Errorf("mariadb-install-db: %v: %s", err, out)
	}
	env.mysql = startMySQL()
	if err := waitFor(60*time.Second, func() error {
		db, err := gorm.Open(mysql.Open(fmt.Sprintf("root@tcp(127.0.0.1:%d)/", env.mysqlPort)), &gorm.Config{Logger: logger.Discard})
		if err != nil {
			return err
		}
		err = db.Exec("CREATE DATABASE IF NOT EXISTS linli CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci").Error
		if sqlDB, _ := db.DB(); sqlDB != nil {
			sqlDB.Close()
		}
		return err
	}); err != nil {
		return fmt.Errorf("mariadb: %w", err)
	}
	env.db, err = gorm.Open(mysql.Open(dsn()), &gorm.Config{Logger: logger.Discard})
	return err
}

func dsn() string {
	return fmt.Sprintf("root@tcp(127.0.0.1:%d)/linli?parseTime=true&timeout=2s", env.mysqlPort)
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// proc is a process this test started; only these are ever signalled.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func start(name, logFile string, environ []string, bin string, args ...string) *proc {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), environ...)
	f, err := os.OpenFile(filepath.Join(env.dir, logFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		panic(err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		panic(fmt.Sprintf("start %s: %v", name, err))
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); f.Close(); close(p.done) }()
	return p
}

func (p *proc) signal(sig syscall.Signal) { _ = p.cmd.Process.Signal(sig) }

// kill SIGKILLs the process and waits for it.
func (p *proc) kill() {
	p.signal(syscall.SIGKILL)
	<-p.done
}

func startRedis() *proc {
	return start("redis", "redis.log", nil, "redis-server", "--port", fmt.Sprint(env.rdPort), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no")
}

func startMySQL() *proc {
	data := filepath.Join(env.dir, "mysql")
	return start("mariadb", "mariadb.log", nil, "mariadbd", "--no-defaults", "--datadir="+data, "--user=root",
		fmt.Sprintf("--port=%d", env.mysqlPort), "--bind-address=127.0.0.1", "--socket="+filepath.Join(env.dir, "mysql.sock"),
		"--skip-grant-tables", "--skip-log-bin", "--innodb-buffer-pool-size=64M")
}

// linli is one linli process and its address.
type linli struct {
	*proc
	base string
}

func linliEnv(port int) []string {
	return []string{
		"LINLI_DEV=true", "LINLI_DATA_DIR=" + filepath.Join(env.dir, "data"),
		"LINLI_HTTP_ADDR=127.0.0.1:" + fmt.Sprint(port),
		"LINLI_DATABASE_DRIVER=mysql", "LINLI_DATABASE_DSN=" + dsn(),
		"LINLI_REDIS_ADDR=127.0.0.1:" + fmt.Sprint(env.rdPort),
		"LINLI_HTTP_REQUEST_TIMEOUT=" + requestTimeout.String(),
		"LINLI_HTTP_SHUTDOWN_TIMEOUT=" + shutdownTimeout.String(),
		"LINLI_TIMEBANK_LEADERBOARD_CHECK_INTERVAL=1s",
		"LINLI_TIMEBANK_GIFT_DAILY_LIMIT_MINUTES=0",
		"LINLI_TIMEBANK_MANUAL_CREDIT_MAX_MINUTES_PER_MONTH=0",
		"LINLI_RATELIMIT_LOGIN_PER_MINUTE=0", "LINLI_RATELIMIT_WRITE_PER_MINUTE=0",
		"LINLI_LOG_LEVEL=warn",
	}
}

// startLinli starts `linli serve` and waits until /readyz answers 200.
func startLinli(t *testing.T) *linli {
	t.Helper()
	return startLinliWith(t, nil)
}

// startLinliWith is startLinli with extra LINLI_* variables (later ones win).
func startLinliWith(t *testing.T, extra []string) *linli {
	t.Helper()
	port := freePort()
	l := &linli{proc: start("linli", "linli.log", append(linliEnv(port), extra...), env.bin, "serve"),
		base: fmt.Sprintf("http://127.0.0.1:%d", port)}
	if err := waitFor(60*time.Second, func() error {
		select {
		case <-l.done:
			return fmt.Errorf("linli exited: %v (see %s)", l.err, filepath.Join(env.dir, "linli.log"))
		default:
		}
		return l.ready()
	}); err != nil {
		t.Fatal(err)
	}
	return l
}

func (l *linli) ready() error {
	res, err := http.Get(l.base + "/readyz")
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		return fmt.Errorf("readyz %d", res.StatusCode)
	}
	return nil
}

// answer is what a client saw: "201/0", "503/10503", "error: …".
type answer struct {
	status, code int
	data         json.RawMessage
	message      string
	err          error
	took         time.Duration
}

func (a answer) key() string {
	if a.err != nil {
		msg := a.err.Error()
		switch {
		case strings.Contains(msg, "connection refused"):
			return "connection refused"
		case strings.Contains(msg, "Timeout"), strings.Contains(msg, "deadline"):
			return "client timeout"
		case strings.Contains(msg, "EOF"), strings.Contains(msg, "reset"):
			return "connection closed"
		}
		return "error"
	}
	return fmt.Sprintf("%d/%d", a.status, a.code)
}

var client = &http.Client{Timeout: 10 * time.Second}

func (l *linli) call(method, path, token string, body any) answer {
	if !strings.HasPrefix(path, "/readyz") {
		path = "/api/v1" + path
	}
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, l.base+path, rd)
	req.Header.Set("Content-Type", "application/json")
	// A POST carrying a requestId is idempotent (the server answers a
	// replay with the first result), and saying so lets Go's client do
	// what it does for a GET: resend a request it wrote on a kept-alive
	// connection the server closed as idle at that very moment (a
	// shutdown's race that no server can close). A request the server
	// read and then lost is not resent: the test still sees it cut.
	if m, ok := body.(map[string]any); ok {
		if id, ok := m["requestId"].(string); ok {
			req.Header.Set("Idempotency-Key", id)
		}
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	start := time.Now()
	res, err := client.Do(req)
	a := answer{err: err}
	if err == nil {
		var env struct {
			Code    int             `json:"code"`
			Message string          `json:"message"`
			Data    json.RawMessage `json:"data"`
		}
		err = json.NewDecoder(res.Body).Decode(&env)
		res.Body.Close()
		a = answer{status: res.StatusCode, code: env.Code, data: env.Data, message: env.Message}
		if err != nil {
			a.err = fmt.Errorf("status %d, body not an envelope: %w", res.StatusCode, err)
		}
	}
	a.took = time.Since(start)
	return a
}

// login signs openid in (dev login) and returns the access token and id.
func (l *linli) login(t *testing.T, openid string) (string, int64) {
	t.Helper()
	a := l.call("POST", "/auth/dev-login", "", map[string]any{"openid": openid})
	if a.status != 200 {
		t.Fatalf("login %s: %s %s %v", openid, a.key(), a.message, a.err)
	}
	var tok struct {
		AccessToken string `json:"accessToken"`
		User        struct {
			ID int64 `json:"id"`
		} `json:"user"`
	}
	if err := json.Unmarshal(a.data, &tok); err != nil || tok.User.ID == 0 {
		t.Fatalf("login %s: %s", openid, a.data)
	}
	return tok.AccessToken, tok.User.ID
}

// tally counts answers by key, safely from many goroutines, and keeps the
// slowest.
type tally struct {
	mu      sync.Mutex
	counts  map[string]int
	slowest time.Duration
}

func newTally() *tally { return &tally{counts: map[string]int{}} }

func (t *tally) add(a answer) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.counts[a.key()]++
	t.slowest = max(t.slowest, a.took)
}

func (t *tally) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var keys []string
	for k := range t.counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s × %d", k, t.counts[k]))
	}
	return strings.Join(parts, ", ")
}

// only reports whether every answer counted has one of the keys.
func (t *tally) only(keys ...string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k := range t.counts {
		ok := false
		for _, want := range keys {
			ok = ok || k == want
		}
		if !ok {
			return false
		}
	}
	return true
}

func waitFor(limit time.Duration, f func() error) error {
	deadline := time.Now().Add(limit)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// outage is how long each outage lasts.
func outage() time.Duration {
	if env.long {
		return 15 * time.Second
	}
	return 3 * time.Second
}

// world is the demo's staff, resident and member signed in.
type world struct {
	l                        *linli
	staffTok, resTok, memTok string
	staffID, resID, memID    int64
	community                int64
	seq                      atomic.Int64
	prefix                   string
}

func newWorld(t *testing.T, l *linli) *world {
	env.worlds++
	w := &world{l: l, prefix: fmt.Sprintf("%s-%d", env.run, env.worlds)}
	w.relogin(t)
	if err := env.db.Raw("SELECT org_id FROM staff_roles WHERE user_id = ? LIMIT 1", w.staffID).Scan(&w.community).Error; err != nil || w.community == 0 {
		t.Fatalf("staff community: %v", err)
	}
	return w
}

func (w *world) relogin(t *testing.T) {
	w.staffTok, w.staffID = w.l.login(t, service.DemoStaff)
	w.resTok, w.resID = w.l.login(t, service.DemoResident)
	w.memTok, w.memID = w.l.login(t, service.DemoMember)
}

// credit issues one minute to the resident under requestId id.
func (w *world) credit(id string) answer {
	a := w.l.call("POST", "/admin/credits", w.staffTok, map[string]any{
		"userId": w.resID, "communityId": w.community, "currency": "minutes", "amount": 10,
		"reason": "故障演练", "requestId": id})
	if a.status == 201 || a.status == 200 {
		env.creditsAcked.Store(id, true)
	}
	return a
}

// gift gives one minute from the resident to the member under requestId id.
func (w *world) gift(id string) answer {
	a := w.l.call("POST", "/me/gifts", w.resTok, map[string]any{
		"toUserId": w.memID, "currency": "minutes", "amount": 1, "requestId": id})
	if a.status == 201 || a.status == 200 {
		env.giftsAcked.Store(id, true)
	}
	return a
}

// storm runs workers that each credit and gift (retrying every request
// that got no success with the same requestId, as a client would) and read
// GET /me, until stop is closed; every answer goes to the tally of the
// current phase.
func (w *world) storm(workers int, phase *atomic.Pointer[tally], stop chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var pendingCredit, pendingGift string
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				if pendingCredit == "" {
					pendingCredit = fmt.Sprintf("c%d-%s", w.seq.Add(1), w.prefix)
				}
				if pendingGift == "" {
					pendingGift = fmt.Sprintf("g%d-%s", w.seq.Add(1), w.prefix)
				}
				var a answer
				switch n % 3 {
				case 0:
					if a = w.credit(pendingCredit); a.status == 201 || a.status == 200 {
						pendingCredit = ""
					}
				case 1:
					if a = w.gift(pendingGift); a.status == 201 || a.status == 200 {
						pendingGift = ""
					}
				default:
					a = w.l.call("GET", "/me", w.resTok, nil)
				}
				phase.Load().add(a)
				if a.err != nil || a.status >= 500 {
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}
	return &wg
}

// checkInvariants runs `linli reconcile` (ledger and leaderboards) and
// compares the rows with the acknowledged requests.
func (w *world) checkInvariants(t *testing.T) string {
	t.Helper()
	var credits, gifts int64
	env.db.Raw("SELECT COUNT(*) FROM manual_credits WHERE actor_id = ?", w.staffID).Scan(&credits)
	env.db.Raw("SELECT COUNT(*) FROM ledger_txns WHERE kind = 'transfer'").Scan(&gifts)
	var ackedC, ackedG int64
	env.creditsAcked.Range(func(any, any) bool { ackedC++; return true })
	env.giftsAcked.Range(func(any, any) bool { ackedG++; return true })
	// A request committed just before a crash, never acknowledged, is a
	// row without an acknowledgement: allowed (its retry would be
	// answered replayed). The reverse — an acknowledged request without
	// its row, or two rows for one — is not.
	var dupC int64
	env.db.Raw("SELECT COUNT(*) FROM (SELECT request_id FROM manual_credits GROUP BY actor_id, request_id HAVING COUNT(*) > 1) d").Scan(&dupC)
	if credits < ackedC || gifts < ackedG || dupC > 0 {
		t.Fatalf("rows: %d credits for %d acknowledged (%d duplicated), %d gifts for %d acknowledged", credits, ackedC, dupC, gifts, ackedG)
	}
	out, err := reconcile()
	if err != nil {
		t.Fatalf("reconcile: %v\n%s", err, out)
	}
	return fmt.Sprintf("reconcile 0 mismatches (ledger and leaderboards); %d credits ≥ %d acknowledged, none twice; %d gifts ≥ %d acknowledged", credits, ackedC, gifts, ackedG)
}

// reconcile runs `linli reconcile` and checks that its stdout is one JSON
// report with no mismatch.
func reconcile() (string, error) {
	cmd := exec.Command(env.bin, "reconcile")
	cmd.Env = append(os.Environ(), linliEnv(freePort())...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var rep struct {
		Mismatches int      `json:"mismatches"`
		Details    []string `json:"details"`
	}
	if jerr := json.Unmarshal(stdout.Bytes(), &rep); jerr != nil {
		return stdout.String() + stderr.String(), fmt.Errorf("stdout is not JSON: %w", jerr)
	}
	if err != nil || rep.Mismatches != 0 {
		return stdout.String(), fmt.Errorf("exit %v, %d mismatches", err, rep.Mismatches)
	}
	return stdout.String(), nil
}

func record(scenario, observed, invariant string) {
	env.report = append(env.report, fmt.Sprintf("| %s | %s | %s |", scenario, observed, invariant))
}

// recoverAfter measures how long l takes to answer /readyz 200.
func recoverAfter(t *testing.T, l *linli) time.Duration {
	t.Helper()
	start := time.Now()
	if err := waitFor(60*time.Second, l.ready); err != nil {
		t.Fatalf("no recovery within 60 s: %v", err)
	}
	return time.Since(start)
}
