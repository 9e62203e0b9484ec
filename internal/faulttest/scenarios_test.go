package faulttest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"linli/internal/testutil"
	"linli/model"
	"linli/service"
)

const workers = 8

// slowestAllowed is the longest answer tolerated while a store is down:
// the request deadline plus scheduling slack on a loaded machine.
const slowestAllowed = requestTimeout + 1500*time.Millisecond

// phases runs a storm through a healthy phase, then calls breakIt, keeps
// the storm on for the outage, calls repair and measures the recovery,
// then a healthy phase again. It returns the tally of the outage and the
// seconds to recover.
func phases(t *testing.T, w *world, breakIt, repair func()) (*tally, time.Duration) {
	t.Helper()
	var phase atomic.Pointer[tally]
	before, during, after := newTally(), newTally(), newTally()
	phase.Store(before)
	stop := make(chan struct{})
	wg := w.storm(workers, &phase, stop)
	time.Sleep(time.Second)
	phase.Store(during)
	breakIt()
	time.Sleep(outage())
	repair()
	rec := recoverAfter(t, w.l)
	phase.Store(after)
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	t.Logf("before: %s\nduring: %s (slowest %v)\nafter: %s", before, during, during.slowest, after)
	if !before.only("201/0", "200/0") {
		t.Errorf("healthy phase before the fault: %s", before)
	}
	return during, rec
}

// TestRedisKilledUnderLoad: Redis SIGKILLed under signed-in reads and
// writes: answers are 503 10503 (never 500, never slower than the request
// deadline), /readyz names Redis; a new Redis (empty: nothing persisted)
// is used without a restart, old sessions answer 401 and a new login
// works.
func TestRedisKilledUnderLoad(t *testing.T) {
	l := startLinli(t)
	defer l.kill()
	w := newWorld(t, l)
	during, rec := phases(t, w, func() {
		env.redis.kill()
		a := l.call("GET", "/readyz", "", nil)
		if a.status != 503 || !strings.Contains(a.message, "redis") {
			t.Errorf("readyz with Redis down: %s %q", a.key(), a.message)
		}
	}, func() { env.redis = startRedis() })
	if !during.only("503/10503", "201/0", "200/0", "401/10002") || during.slowest > slowestAllowed {
		t.Errorf("during the outage: %s, slowest %v", during, during.slowest)
	}
	old := l.call("GET", "/me", w.resTok, nil)
	if old.key() != "401/10002" {
		t.Errorf("a session lost with Redis: %s, want 401/10002", old.key())
	}
	w.relogin(t)
	if a := l.call("GET", "/me", w.resTok, nil); a.status != 200 {
		t.Errorf("after a new login: %s", a.key())
	}
	inv := w.checkInvariants(t)
	record("Redis SIGKILLed for "+outage().String()+", then a new empty Redis", fmt.Sprintf("during: %s (slowest %.2f s); /readyz 503 naming redis; ready again %.2f s after the new Redis started, no restart; old session 401 10002, re-login 200", during, during.slowest.Seconds(), rec.Seconds()), inv)
}

// TestMySQLKilledAndRestartedUnderLoad: MariaDB SIGKILLed under credits
// and gifts, restarted after the outage: 503 10503 meanwhile, recovery by
// itself, and no half-written change (reconcile 0; every acknowledged
// credit and gift is there once).
func TestMySQLKilledAndRestartedUnderLoad(t *testing.T) {
	l := startLinli(t)
	defer l.kill()
	w := newWorld(t, l)
	during, rec := phases(t, w, func() { env.mysql.kill() }, func() { env.mysql = startMySQL() })
	if !during.only("503/10503", "201/0", "200/0") || during.slowest > slowestAllowed {
		t.Errorf("during the outage: %s, slowest %v", during, during.slowest)
	}
	inv := w.checkInvariants(t)
	record("MariaDB SIGKILLed for "+outage().String()+", then restarted (crash recovery)", fmt.Sprintf("during: %s (slowest %.2f s); ready again %.2f s after mariadbd started, no restart of linli", during, during.slowest.Seconds(), rec.Seconds()), inv)
}

// TestMySQLFrozenUnderLoad: MariaDB SIGSTOPped: every request ends at the
// request deadline with 503 10503, not when the client gives up; SIGCONT
// and it serves again.
func TestMySQLFrozenUnderLoad(t *testing.T) {
	l := startLinli(t)
	defer l.kill()
	w := newWorld(t, l)
	during, rec := phases(t, w, func() { env.mysql.signal(syscall.SIGSTOP) }, func() { env.mysql.signal(syscall.SIGCONT) })
	if !during.only("503/10503", "201/0", "200/0") || during.slowest > slowestAllowed {
		t.Errorf("during the freeze: %s, slowest %v", during, during.slowest)
	}
	inv := w.checkInvariants(t)
	record("MariaDB frozen (SIGSTOP) for "+outage().String()+", then SIGCONT", fmt.Sprintf("during: %s (slowest %.2f s, deadline %v); ready again %.2f s after SIGCONT", during, during.slowest.Seconds(), requestTimeout, rec.Seconds()), inv)
}

// TestLinliKilledMidStorm: linli SIGKILLed in the middle of credits and
// gifts, restarted; clients retry with the same requestIds. Every
// transaction is complete, nothing is paid twice, and the leaderboards
// (possibly missing an update lost in the kill) are repaired by the
// periodic check: reconcile finds nothing.
func TestLinliKilledMidStorm(t *testing.T) {
	l := startLinli(t)
	w := newWorld(t, l)
	var phase atomic.Pointer[tally]
	storm := newTally()
	phase.Store(storm)
	stop := make(chan struct{})
	wg := w.storm(workers, &phase, stop)
	time.Sleep(2 * time.Second)
	l.kill()
	time.Sleep(500 * time.Millisecond)
	start := time.Now()
	l2 := startLinli(t)
	defer l2.kill()
	up := time.Since(start)
	w.l = l2 // the workers' next calls (and retries) go to the new process
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	time.Sleep(1500 * time.Millisecond) // one leaderboard check
	t.Logf("storm: %s", storm)
	if !storm.only("201/0", "200/0", "connection refused", "connection closed", "error") {
		t.Errorf("storm answers: %s", storm)
	}
	inv := w.checkInvariants(t)
	record("linli SIGKILLed mid credits and gifts, restarted; clients retry with the same requestId", fmt.Sprintf("%s; the new process ready in %.2f s", storm, up.Seconds()), inv+"; leaderboards equal to the ledger after one check (1 s)")
}

// TestSIGTERMUnderLoad: requests in flight when SIGTERM arrives finish,
// new connections are refused, and the process exits within
// http.shutdown_timeout.
func TestSIGTERMUnderLoad(t *testing.T) {
	l := startLinli(t)
	w := newWorld(t, l)
	var phase atomic.Pointer[tally]
	storm := newTally()
	phase.Store(storm)
	stop := make(chan struct{})
	wg := w.storm(workers, &phase, stop)
	time.Sleep(time.Second)
	start := time.Now()
	l.signal(syscall.SIGTERM)
	select {
	case <-l.done:
	case <-time.After(shutdownTimeout + 2*time.Second):
		t.Fatalf("still running %v after SIGTERM", time.Since(start))
	}
	exit := time.Since(start)
	close(stop)
	wg.Wait()
	after := l.call("GET", "/me", w.resTok, nil)
	t.Logf("storm: %s; exit after %v (%v); then %s", storm, exit, l.err, after.key())
	if after.key() != "connection refused" || l.err != nil {
		t.Errorf("after shutdown: %s, exit status %v", after.key(), l.err)
	}
	if !storm.only("201/0", "200/0", "connection refused") {
		t.Errorf("answers around SIGTERM: %s (an in-flight request was cut)", storm)
	}
	inv := w.checkInvariants(t)
	record("SIGTERM under load", fmt.Sprintf("%s; exit status 0 after %.2f s (shutdown_timeout %v); afterwards connection refused", storm, exit.Seconds(), shutdownTimeout), inv+"; no in-flight request cut")
}

// killMidRetries sends every item of work (n of them) from workers, each
// request again after 50 ms until its answer is one of accepted (as a
// client retries a request that got no answer), SIGKILLs l once a third are
// accepted, starts a new linli and points the workers at it, and waits for
// them. It returns the answers, how many were accepted at the kill, how
// long the new process took to be ready, and the new process.
func killMidRetries[T any](t *testing.T, l *linli, n int, work chan T, send func(*linli, T) answer, accepted ...string) (*tally, int64, time.Duration, *linli) {
	t.Helper()
	var cur atomic.Pointer[linli]
	cur.Store(l)
	storm := newTally()
	var acked atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				var item T
				select {
				case item = <-work:
				default:
					return
				}
				for {
					a := send(cur.Load(), item)
					storm.add(a)
					if slices.Contains(accepted, a.key()) {
						acked.Add(1)
						break
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}
	if err := waitFor(60*time.Second, func() error {
		if acked.Load() < int64(n/3) {
			return fmt.Errorf("%d of %d acknowledged; answers %s", acked.Load(), n, storm)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	killedAt := acked.Load()
	l.kill()
	time.Sleep(500 * time.Millisecond)
	start := time.Now()
	l2 := startLinli(t)
	up := time.Since(start)
	cur.Store(l2)
	wg.Wait()
	return storm, killedAt, up, l2
}

// TestLinliKilledMidApprovals: staff files large manual credits (each
// waiting for a second person), an administrator approves them from
// several workers at once, and linli is SIGKILLed when a third are
// acknowledged; after the restart the workers retry every approval that
// got no answer. Every request ends approved with exactly one ledger
// transaction, every transaction has entries summing to zero, and
// reconcile finds nothing.
func TestLinliKilledMidApprovals(t *testing.T) {
	const n = 120
	l := startLinli(t)
	w := newWorld(t, l)
	adminTok, _ := l.login(t, service.DemoAdmin)
	ids := make(chan int64, n)
	var all []int64
	for i := range n {
		a := l.call("POST", "/admin/credits", w.staffTok, map[string]any{
			"userId": w.memID, "communityId": w.community, "currency": "minutes", "amount": 601,
			"reason": "故障演练：待审批", "requestId": fmt.Sprintf("ap%d-%s", i, w.prefix)})
		var v struct {
			ID     int64
			Status string
		}
		if a.status != 202 || json.Unmarshal(a.data, &v) != nil || v.Status != "pending" {
			t.Fatalf("request %d: %s %s", i, a.key(), a.data)
		}
		ids <- v.ID
		all = append(all, v.ID)
	}
	// 200: approved now; 409 10006: approved by an earlier try whose
	// answer the kill swallowed.
	storm, killedAt, up, l2 := killMidRetries(t, l, n, ids, func(l *linli, id int64) answer {
		return l.call("POST", fmt.Sprintf("/admin/credit-requests/%d/approve", id), adminTok, nil)
	}, "200/0", fmt.Sprintf("409/%d", service.CodeConflict))
	defer l2.kill()
	t.Logf("approvals: %s; killed after %d of %d acknowledged", storm, killedAt, n)
	if !storm.only("200/0", fmt.Sprintf("409/%d", service.CodeConflict), "connection refused", "connection closed", "error") {
		t.Errorf("approval answers: %s", storm)
	}
	var approved, paid, dup, unbalanced, empty int64
	env.db.Raw("SELECT COUNT(*) FROM manual_credits WHERE id IN ? AND status = 'approved' AND txn_id <> 0", all).Scan(&approved)
	srcs := make([]string, len(all))
	for i, id := range all {
		srcs[i] = fmt.Sprint(id)
	}
	env.db.Raw("SELECT COUNT(DISTINCT source_id) FROM ledger_txns WHERE source_kind = ? AND source_id IN ?", service.SourceManualCredit, srcs).Scan(&paid)
	env.db.Raw("SELECT COUNT(*) FROM (SELECT source_id FROM ledger_txns WHERE source_kind = ? AND source_id IN ? GROUP BY source_id HAVING COUNT(*) > 1) d", service.SourceManualCredit, srcs).Scan(&dup)
	env.db.Raw("SELECT COUNT(*) FROM (SELECT txn_id FROM ledger_entries GROUP BY txn_id, currency HAVING SUM(amount) <> 0) d").Scan(&unbalanced)
	env.db.Raw("SELECT COUNT(*) FROM ledger_txns t WHERE NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.txn_id = t.id)").Scan(&empty)
	if approved != n || paid != n || dup != 0 || unbalanced != 0 || empty != 0 {
		t.Fatalf("%d of %d approved with a transaction, %d paid, %d paid twice, %d transactions not summing to zero, %d without entries",
			approved, n, paid, dup, unbalanced, empty)
	}
	out, err := reconcile()
	if err != nil {
		t.Fatalf("reconcile: %v\n%s", err, out)
	}
	record(fmt.Sprintf("linli SIGKILLed mid approval storm (%d credit requests, %d workers, killed after %d acknowledged), restarted; approvals retried", n, workers, killedAt),
		fmt.Sprintf("%s; the new process ready in %.2f s", storm, up.Seconds()),
		fmt.Sprintf("%d/%d approved, one ledger transaction each (none twice); every transaction has entries summing to zero; reconcile 0 mismatches", approved, n))
}

// TestLinliKilledMidSignups: volunteers sign up for one activity with 30
// seats and a waitlist, 8 at a time; linli is SIGKILLed when a third are
// acknowledged and restarted, and every sign-up that got no answer is sent
// again (409 40007 then means an earlier try committed). No seat is given
// twice: the activity's signed counter equals its signed rows and stays
// within capacity, every volunteer has exactly one row, and the waitlist
// holds the rest.
func TestLinliKilledMidSignups(t *testing.T) {
	const n, capacity = 150, 30
	l := startLinli(t)
	w := newWorld(t, l)
	start := time.Now().Add(48 * time.Hour)
	a := l.call("POST", "/activities", w.staffTok, map[string]any{
		"communityId": w.community, "title": "故障演练报名", "content": "故障演练", "category": "环境保护", "address": "社区广场",
		"startAt": start, "endAt": start.Add(time.Hour), "signupDeadline": start.Add(-time.Hour), "capacity": capacity, "waitlist": true})
	var act struct{ ID int64 }
	if a.status != 201 || json.Unmarshal(a.data, &act) != nil {
		t.Fatalf("activity: %s %s", a.key(), a.data)
	}
	if p := l.call("POST", fmt.Sprintf("/activities/%d/publish", act.ID), w.staffTok, nil); p.status != 200 {
		t.Fatalf("publish: %s %s", p.key(), p.data)
	}
	toks := make(chan string, n)
	var users []int64
	for i := range n {
		tok, id := l.login(t, fmt.Sprintf("signup-%s-%d", w.prefix, i))
		if err := env.db.Exec(`INSERT INTO volunteer_profiles (user_id, real_name, phone, skills, availability, created_at, updated_at)
			VALUES (?, ?, '13800000000', '["其他"]', '周末', NOW(), NOW())`, id, fmt.Sprintf("演练志愿者%d", i)).Error; err != nil {
			t.Fatal(err)
		}
		toks <- tok
		users = append(users, id)
	}
	// 201: signed up now; 409 40007: an earlier try committed.
	storm, killedAt, up, l2 := killMidRetries(t, l, n, toks, func(l *linli, tok string) answer {
		return l.call("POST", fmt.Sprintf("/activities/%d/signup", act.ID), tok, nil)
	}, "201/0", fmt.Sprintf("409/%d", service.CodeAlreadySignedUp))
	defer l2.kill()
	t.Logf("sign-ups: %s; killed after %d of %d acknowledged", storm, killedAt, n)
	if !storm.only("201/0", fmt.Sprintf("409/%d", service.CodeAlreadySignedUp), "connection refused", "connection closed", "error") {
		t.Errorf("sign-up answers: %s", storm)
	}
	var counter, signed, waitlisted, rows, people int64
	env.db.Raw("SELECT signed FROM activities WHERE id = ?", act.ID).Scan(&counter)
	env.db.Raw("SELECT COUNT(*) FROM attendances WHERE activity_id = ? AND status = 'signed'", act.ID).Scan(&signed)
	env.db.Raw("SELECT COUNT(*) FROM attendances WHERE activity_id = ? AND status = 'waitlisted'", act.ID).Scan(&waitlisted)
	env.db.Raw("SELECT COUNT(*) FROM attendances WHERE activity_id = ?", act.ID).Scan(&rows)
	env.db.Raw("SELECT COUNT(DISTINCT user_id) FROM attendances WHERE activity_id = ? AND user_id IN ?", act.ID, users).Scan(&people)
	if counter != signed || signed != capacity || waitlisted != n-capacity || rows != n || people != n {
		t.Fatalf("counter %d, %d signed rows (capacity %d), %d waitlisted, %d rows for %d volunteers (%d distinct)",
			counter, signed, capacity, waitlisted, rows, n, people)
	}
	record(fmt.Sprintf("linli SIGKILLed mid sign-up storm (%d volunteers, %d seats with a waitlist, %d workers, killed after %d acknowledged), restarted; sign-ups retried", n, capacity, workers, killedAt),
		fmt.Sprintf("%s; the new process ready in %.2f s", storm, up.Seconds()),
		fmt.Sprintf("signed counter %d = %d signed rows = capacity; %d waitlisted; one row per volunteer", counter, signed, waitlisted))
}

// TestLinliKilledMidBatchApprovals: staff approve the attendances of a
// finished activity in batches of 5 from several workers; linli is
// SIGKILLed when a third of the batches are acknowledged and restarted, and
// every batch that got no answer is sent again (a batch already approved
// answers 200 again without crediting twice). Every attendance ends
// approved with one minutes and one points transaction, none twice, and
// reconcile finds nothing.
func TestLinliKilledMidBatchApprovals(t *testing.T) {
	const n, batch = 200, 5
	l := startLinli(t)
	w := newWorld(t, l)
	end := time.Now().Add(-time.Hour).UTC()
	start := end.Add(-2 * time.Hour)
	act := model.Activity{CommunityID: w.community, Title: "故障演练审批", Content: "故障演练", Category: "环境保护",
		Address: "社区广场", StartAt: start, EndAt: end, SignupDeadline: start.Add(-time.Hour), Capacity: n,
		Audience: model.AudienceAll, PointsPerHour: 10, Status: model.ActivityPublished, CreatedBy: w.staffID}
	if err := env.db.Omit("Waitlisted").Create(&act).Error; err != nil {
		t.Fatal(err)
	}
	var users []int64
	for i := range n {
		_, id := l.login(t, fmt.Sprintf("approve-%s-%d", w.prefix, i))
		if err := env.db.Exec(`INSERT INTO attendances (activity_id, user_id, status, signed_up_at, state, created_at, updated_at)
			VALUES (?, ?, 'signed', ?, 'none', ?, ?)`, act.ID, id, start.Add(-2*time.Hour), start, start).Error; err != nil {
			t.Fatal(err)
		}
		users = append(users, id)
	}
	env.db.Exec("UPDATE activities SET signed = ? WHERE id = ?", n, act.ID)
	batches := make(chan []int64, n/batch)
	for i := 0; i < n; i += batch {
		batches <- users[i : i+batch]
	}
	// 200: approved now, or a batch approved by an earlier try whose answer
	// the kill swallowed (the credits stand).
	storm, killedAt, up, l2 := killMidRetries(t, l, n/batch, batches, func(l *linli, us []int64) answer {
		items := make([]map[string]any, len(us))
		for i, u := range us {
			items[i] = map[string]any{"userId": u, "minutes": 60, "score": 5, "reason": "故障演练：未扫码，现场核实"}
		}
		return l.call("POST", fmt.Sprintf("/activities/%d/attendances/approve", act.ID), w.staffTok, map[string]any{"items": items})
	}, "200/0")
	defer l2.kill()
	t.Logf("batch approvals: %s; killed after %d of %d batches acknowledged", storm, killedAt, n/batch)
	if !storm.only("200/0", "connection refused", "connection closed", "error") {
		t.Errorf("approval answers: %s", storm)
	}
	var approved, txns, sources int64
	env.db.Raw("SELECT COUNT(*) FROM attendances WHERE activity_id = ? AND state = 'approved' AND approval_version = 1", act.ID).Scan(&approved)
	env.db.Raw(`SELECT COUNT(*), COUNT(DISTINCT t.source_id) FROM ledger_txns t JOIN attendances a
		ON t.source_kind = 'attendance' AND t.source_id = CONCAT(a.id, ':v1') WHERE a.activity_id = ?`, act.ID).Row().Scan(&txns, &sources)
	if approved != n || sources != n || txns != 2*n {
		t.Fatalf("%d of %d attendances approved; %d ledger transactions for %d attendances (want %d for %d)", approved, n, txns, sources, 2*n, n)
	}
	out, err := reconcile()
	if err != nil {
		t.Fatalf("reconcile: %v\n%s", err, out)
	}
	record(fmt.Sprintf("linli SIGKILLed mid batch approvals of attendances (%d attendances in batches of %d, %d workers, killed after %d batches acknowledged), restarted; batches retried", n, batch, workers, killedAt),
		fmt.Sprintf("%s; the new process ready in %.2f s", storm, up.Seconds()),
		fmt.Sprintf("%d/%d approved once (approval version 1); %d ledger transactions, one minutes and one points per attendance; reconcile 0 mismatches", approved, n, txns))
}

// TestOutboxUnderSIGTERM: linli runs with WeChat (a local fake whose
// subscribe sends take 100 ms each) and a template for credit_received;
// credits to a subscribed member fill the outbox while two workers send,
// and SIGTERM arrives mid-batch. At exit no row is left leased (the
// workers hand unsent rows back to pending); after a restart every row
// reaches a final state, and there is one row per credit: none lost.
func TestOutboxUnderSIGTERM(t *testing.T) {
	fake := testutil.NewFakeWeChat()
	defer fake.Server.Close()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/cgi-bin/message/subscribe/send" {
			time.Sleep(100 * time.Millisecond)
		}
		fake.Server.Config.Handler.ServeHTTP(w, r)
	}))
	defer slow.Close()
	const tmpl = "tmpl-credit-received"
	extra := []string{"LINLI_WECHAT_APPID=wx-fault", "LINLI_WECHAT_SECRET=fault-secret",
		"LINLI_WECHAT_API_BASE=" + slow.URL, "LINLI_WECHAT_TEMPLATES_CREDIT_RECEIVED=" + tmpl,
		"LINLI_NOTIFY_WORKERS=2", "LINLI_NOTIFY_POLL_INTERVAL=100ms", "LINLI_NOTIFY_BATCH_SIZE=5",
		"LINLI_NOTIFY_LEASE=60s", "LINLI_NOTIFY_RETRY_BASE=1s"}
	l := startLinliWith(t, extra)
	w := newWorld(t, l)
	var base int64
	env.db.Raw("SELECT COALESCE(MAX(id), 0) FROM outbox_messages").Scan(&base)
	const n = 40
	for range n { // one acceptance per call: one per message to come
		if a := l.call("POST", "/me/subscriptions", w.memTok, map[string]any{"templateIds": []string{tmpl}}); a.status >= 300 {
			t.Fatalf("subscribe: %s %s", a.key(), a.message)
		}
	}
	for i := range n {
		a := l.call("POST", "/admin/credits", w.staffTok, map[string]any{
			"userId": w.memID, "communityId": w.community, "currency": "minutes", "amount": 1,
			"reason": "故障演练：通知", "requestId": fmt.Sprintf("ob%d-%s", i, w.prefix)})
		if a.status != 201 {
			t.Fatalf("credit %d: %s %s", i, a.key(), a.message)
		}
	}
	if err := waitFor(30*time.Second, func() error {
		if k := len(fake.SentTo(service.DemoMember)); k < 5 {
			return fmt.Errorf("%d sent", k)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	statuses := func() outboxStatuses {
		var rows []struct {
			Status string
			N      int64
		}
		env.db.Raw("SELECT status, COUNT(*) AS n FROM outbox_messages WHERE id > ? GROUP BY status", base).Scan(&rows)
		out := outboxStatuses{}
		for _, r := range rows {
			out[r.Status] = r.N
		}
		return out
	}
	atTerm := statuses()
	start := time.Now()
	l.signal(syscall.SIGTERM)
	select {
	case <-l.done:
	case <-time.After(shutdownTimeout + 2*time.Second):
		t.Fatalf("still running %v after SIGTERM", time.Since(start))
	}
	exit := time.Since(start)
	atExit := statuses()
	if atExit["sending"] != 0 || l.err != nil {
		t.Fatalf("at exit (status %v): %v, rows left leased", l.err, atExit)
	}
	l2 := startLinliWith(t, extra)
	defer l2.kill()
	restart := time.Now()
	if err := waitFor(30*time.Second, func() error {
		if st := statuses(); st["pending"]+st["sending"] > 0 {
			return fmt.Errorf("not final: %v", st)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	drained := time.Since(restart)
	final := statuses()
	var rows int64
	env.db.Raw("SELECT COUNT(*) FROM outbox_messages WHERE id > ? AND user_id = ? AND event = 'credit_received'", base, w.memID).Scan(&rows)
	delivered := int64(len(fake.SentTo(service.DemoMember)))
	t.Logf("at SIGTERM %v; at exit %v after %v; after restart %v (drained in %v); %d delivered", atTerm, atExit, exit, final, drained, delivered)
	if rows != n || final["failed"]+final["refused"] != 0 || final["sent"]+final["inbox_only"] != n || delivered < final["sent"] {
		t.Fatalf("%d outbox rows for %d credits; final %v; %d delivered", rows, n, final, delivered)
	}
	record("SIGTERM while the outbox sends (40 credits → 40 subscribe messages, 2 workers, fake WeChat 100 ms per send)",
		fmt.Sprintf("at SIGTERM %v; exit status 0 after %.2f s with %v; restarted: every row final in %.2f s: %v; %d deliveries at the fake",
			atTerm, exit.Seconds(), atExit, drained.Seconds(), final, delivered),
		fmt.Sprintf("no row left leased at exit; %d rows for %d credits (none lost); none failed; deliveries ≥ rows sent (%d duplicates)", rows, n, delivered-final["sent"]))
}

// outboxStatuses counts outbox rows by status.
type outboxStatuses map[string]int64

// String lists the counts as "pending 28, sending 10, sent 2".
func (o outboxStatuses) String() string {
	keys := make([]string, 0, len(o))
	for k := range o {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, o[k])
	}
	return strings.Join(parts, ", ")
}
