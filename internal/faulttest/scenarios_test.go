package faulttest

import (
	"fmt"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
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
