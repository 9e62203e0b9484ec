package api_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"linli/internal/objstore"
	"linli/internal/testutil"
	"linli/model"
	"linli/service"
)

// TestDatabaseDownIs503: with the database server unreachable (connection
// refused), reads, writes and logins answer 503 10503 — a dependency is
// down — never 500, and /readyz names the database.
func TestDatabaseDownIs503(t *testing.T) {
	w := testutil.NewWorld(t)
	h := w.Harness
	resident := w.Login("dbdown", w.Tree.CommunityA.ID)
	wishes := h.Count(&model.Wish{}, "1 = 1")
	h.StopDB()
	h.Do("GET", "/wishes", nil, resident.AccessToken).Expect(t, 503, service.CodeUnavailable)
	h.Do("POST", "/wishes", wishBody("停库时的心愿"), resident.AccessToken).Expect(t, 503, service.CodeUnavailable)
	h.Do("POST", "/auth/dev-login", map[string]any{"openid": testutil.UniqueOpenID("dbdown-new")}, "").
		Expect(t, 503, service.CodeUnavailable)
	res := h.Do("GET", "/readyz", nil, "").Expect(t, 503, service.CodeUnavailable)
	if !strings.Contains(res.Message, "database") || strings.Contains(res.Message, "redis") {
		t.Fatalf("readyz message %q should name the database only", res.Message)
	}
	if n := h.Count(&model.Wish{}, "1 = 1"); n != wishes {
		t.Fatalf("wishes %d → %d while the database was down", wishes, n)
	}
}

// TestDatabaseErrorsThatMeanDown: the errors a dead or overloaded server
// gives are 10503, a statement's own failure stays 10500.
func TestDatabaseErrorsThatMeanDown(t *testing.T) {
	down := []error{
		&os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED},
		context.DeadlineExceeded,
		&os.PathError{Op: "write", Path: "/data/uploads/x", Err: syscall.ENOSPC},
		&os.PathError{Op: "open", Path: "/data/uploads/x", Err: syscall.EROFS},
	}
	for _, err := range down {
		if code := service.ErrorCode(err); code != service.CodeUnavailable {
			t.Errorf("%v: code %d, want 10503", err, code)
		}
	}
	if code := service.ErrorCode(os.ErrInvalid); code != service.CodeInternal {
		t.Errorf("a plain error: code %d, want 10500", code)
	}
}

// TestFrozenDatabaseAnswers503AtTheDeadline: a database that stops
// answering (SIGSTOP) holds a request only until http.request_timeout, then
// the answer is 503 10503; a client that goes away meanwhile is logged as
// such (499, info), never as a 500.
func TestFrozenDatabaseAnswers503AtTheDeadline(t *testing.T) {
	logs := &syncBuffer{}
	w := testutil.NewWorld(t, testutil.WithConfig(map[string]any{"http.request_timeout": "400ms", "redis.budget": "400ms"}),
		testutil.WithLogWriter(logs))
	h := w.Harness
	resident := w.Login("frozen", w.Tree.CommunityA.ID)
	thaw := h.FreezeDB()
	start := time.Now()
	h.Do("GET", "/wishes", nil, resident.AccessToken).Expect(t, 503, service.CodeUnavailable)
	h.Do("POST", "/wishes", wishBody("冻结时的心愿"), resident.AccessToken).Expect(t, 503, service.CodeUnavailable)
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("two requests on a frozen database took %v; the deadline is 400ms each", took)
	}

	// A client that gives up after 100 ms.
	ctx, cancel := context.WithCancel(context.Background())
	defer time.AfterFunc(100*time.Millisecond, cancel).Stop()
	req := httptest.NewRequest("GET", "/api/v1/wishes", nil).WithContext(ctx)
	req.Header.Set("Authorization", "Bearer "+resident.AccessToken)
	rec := httptest.NewRecorder()
	h.Router.ServeHTTP(rec, req)
	if rec.Code != 499 {
		t.Fatalf("a client that went away: status %d, want 499 (client closed request)", rec.Code)
	}
	thaw()
	h.Do("GET", "/wishes", nil, resident.AccessToken).Expect(t, 200, 0)

	var gone, errors int
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, `"level":"ERROR"`) && strings.Contains(line, `"status":500`) {
			errors++
		}
		if strings.Contains(line, "client went away") && strings.Contains(line, `"status":499`) && strings.Contains(line, `"level":"INFO"`) {
			gone++
		}
	}
	if errors != 0 || gone != 1 {
		t.Fatalf("log: %d lines of 500, %d of a client that went away (want 0 and 1):\n%s", errors, gone, logs.String())
	}
}

// failingStore is a local object store whose writes (and readiness
// probe) fail with err while it is set, as a full or read-only disk does.
type failingStore struct {
	*objstore.Local
	mu  sync.Mutex
	err error
}

func (f *failingStore) failure() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func (f *failingStore) Put(ctx context.Context, key, contentType string, r io.Reader) error {
	if err := f.failure(); err != nil {
		return err
	}
	return f.Local.Put(ctx, key, contentType, r)
}

func (f *failingStore) Check(ctx context.Context) error {
	if err := f.failure(); err != nil {
		return err
	}
	return f.Local.Check(ctx)
}

// TestUploadStoreFullOrReadOnlyIs503: an upload store that is full or
// read-only answers 503 10503 and writes no upload row, and /readyz names
// it.
func TestUploadStoreFullOrReadOnlyIs503(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.ENOSPC, syscall.EROFS} {
		t.Run(errno.Error(), func(t *testing.T) {
			store := &failingStore{Local: objstore.NewLocal(t.TempDir(), service.FilesURLPrefix),
				err: &os.PathError{Op: "open", Path: "/data/uploads/ab/.upload-1", Err: errno}}
			w := testutil.NewWorld(t, testutil.WithObjectStore(store))
			h := w.Harness
			resident := w.Login("upfull", w.Tree.CommunityA.ID)
			rows := h.Rows()
			h.Upload(resident.AccessToken, "a.png", testutil.PNG()).Expect(t, 503, service.CodeUnavailable)
			rows.WroteNothing(t, "an upload to a failed store")
			res := h.Do("GET", "/readyz", nil, "").Expect(t, 503, service.CodeUnavailable)
			if !strings.Contains(res.Message, "uploads") {
				t.Fatalf("readyz message %q should name the upload store", res.Message)
			}
			store.mu.Lock()
			store.err = nil
			store.mu.Unlock()
			h.Do("GET", "/readyz", nil, "").Expect(t, 200, 0)
			h.Upload(resident.AccessToken, "a.png", testutil.PNG()).Expect(t, 201, 0)
		})
	}
}

// TestSilentRedisCostsAtMostTheBudget: a Redis that accepts connections and
// answers nothing costs a signed-in read at most redis.budget (plus
// scheduling slack) before its 503 10503, and a login
// at most two budgets (its rate-limit check lets it through, then its
// session write fails), a refresh too (rate limit, then the rotation) —
// whatever redis.read_timeout and redis.max_retries say.
func TestSilentRedisCostsAtMostTheBudget(t *testing.T) {
	const budget = 300 * time.Millisecond
	w := testutil.NewWorld(t, testutil.WithConfig(map[string]any{
		"redis.budget": budget.String(), "redis.read_timeout": "3s", "redis.max_retries": 2,
		"ratelimit.login_per_minute": 1000,
	}))
	h := w.Harness
	resident := w.Login("silent", w.Tree.CommunityA.ID)
	h.SilenceRedis()
	for _, c := range []struct {
		name       string
		method     string
		path       string
		body       any
		token      string
		maxBudgets time.Duration
	}{
		{"GET /me", "GET", "/me", nil, resident.AccessToken, 1},
		{"refresh", "POST", "/auth/refresh", map[string]any{"refreshToken": resident.RefreshToken}, "", 2},
		{"dev-login", "POST", "/auth/dev-login", map[string]any{"openid": testutil.UniqueOpenID("silent")}, "", 2},
	} {
		start := time.Now()
		h.Do(c.method, c.path, c.body, c.token).Expect(t, http.StatusServiceUnavailable, service.CodeUnavailable)
		if took, limit := time.Since(start), c.maxBudgets*budget+250*time.Millisecond; took > limit {
			t.Errorf("%s on a silent Redis took %v, want at most %v", c.name, took, limit)
		}
	}
}

// TestLeaderboardDriftIsReportedAndRepaired: a credit whose after-commit
// leaderboard update was lost (the process died between the commit and the
// Redis write) shows in the reconciliation as a leaderboard mismatch, and
// the periodic check (CheckLeaderboards with repair) rebuilds the board.
func TestLeaderboardDriftIsReportedAndRepaired(t *testing.T) {
	e := newTBEnv(t)
	h := e.h
	u := e.resident(t, e.tree.CommunityA.ID)
	e.credit(t, u.UserID, "minutes", 300)
	if b := e.board(t, u, e.tree.CommunityA.ID, "all", "minutes"); len(b.List) != 1 || b.List[0].Score != 300 {
		t.Fatalf("board before the drift: %+v", b)
	}
	e.credit(t, u.UserID, "minutes", 20)
	// The second credit's update never reached Redis.
	key := h.Config.Redis.Prefix + "lb:{" + strconv.FormatInt(e.tree.CommunityA.ID, 10) + "}:minutes:all"
	if err := h.Redis.ZIncrBy(context.Background(), key, -20, strconv.FormatInt(u.UserID, 10)).Err(); err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Mismatches int
		Details    []string
	}
	h.Do("GET", "/admin/reconcile", nil, e.admin.AccessToken).Expect(t, 200, 0).Decode(t, &rep)
	want := "minutes all: user " + strconv.FormatInt(u.UserID, 10) + " ranked 300, ledger 320"
	if rep.Mismatches != 1 || !strings.Contains(strings.Join(rep.Details, "\n"), want) {
		t.Fatalf("reconcile: %+v, want one mismatch with %q", rep, want)
	}
	drift, err := h.Svc.TimeBank.CheckLeaderboards(context.Background(), true)
	if err != nil || len(drift) != 1 {
		t.Fatalf("check with repair: %v %v", drift, err)
	}
	e.reconcileClean(t)
	if b := e.board(t, u, e.tree.CommunityA.ID, "all", "minutes"); len(b.List) != 1 || b.List[0].Score != 320 {
		t.Fatalf("board after the repair: %+v", b)
	}
}
