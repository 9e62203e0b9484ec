package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"time"
)

// scenario is one benchmarked route; setup returns each target's request
// source (linli first, then the baseline).
type scenario struct {
	name  string
	write bool
	setup func(ctx context.Context) ([2]nextFunc, error)
}

// read returns a read scenario: every worker acts as a resident in turn.
func (b *bench) read(name string, path func(r resident) string) scenario {
	return scenario{name: name, setup: func(context.Context) ([2]nextFunc, error) {
		f := func(w int) (request, bool) {
			r := b.residents[w%len(b.residents)]
			return request{method: "GET", path: path(r), token: r.token}, true
		}
		return [2]nextFunc{f, f}, nil
	}}
}

// asAdmin returns a read scenario sent by the district admin to the path
// that path finds in the data set.
func (b *bench) asAdmin(name string, path func(context.Context) (string, error)) scenario {
	return scenario{name: name, setup: func(ctx context.Context) ([2]nextFunc, error) {
		p, err := path(ctx)
		f := func(int) (request, bool) { return request{method: "GET", path: p, token: b.admin}, true }
		return [2]nextFunc{f, f}, err
	}}
}

// pooled is a write storm in which each resident POSTs to path (a format
// with the object's id) for one object after another from their queue of
// the pools that pools prepares, one pool per target.
func (b *bench) pooled(name string, pools func(context.Context) ([2]*pool, error), path string, body []byte) scenario {
	return scenario{name: name, write: true, setup: func(ctx context.Context) ([2]nextFunc, error) {
		ps, err := pools(ctx)
		var out [2]nextFunc
		for t := range ps {
			p := ps[t]
			out[t] = func(w int) (request, bool) {
				ri := w % len(b.residents)
				id, ok := p.take(ri)
				return request{method: "POST", path: fmt.Sprintf(path, id), token: b.residents[ri].token, body: body}, ok
			}
		}
		return out, err
	}}
}

func (b *bench) scenarios() []scenario {
	return []scenario{
		b.read("GET /wishes?communityId=", func(r resident) string { return fmt.Sprintf("/api/v1/wishes?communityId=%d", r.community) }),
		b.read("GET /wishes (street)", func(resident) string { return "/api/v1/wishes" }),
		b.read("GET /activities", func(resident) string { return "/api/v1/activities" }),
		b.read("GET /me", func(resident) string { return "/api/v1/me" }),
		b.read("GET /me/account", func(resident) string { return "/api/v1/me/account" }),
		b.read("GET /me/notifications", func(resident) string { return "/api/v1/me/notifications" }),
		b.read("GET /leaderboards", func(resident) string { return "/api/v1/leaderboards" }),
		b.read("GET /mall/goods", func(resident) string { return "/api/v1/mall/goods" }),
		b.asAdmin("GET /cases (street)", func(ctx context.Context) (string, error) {
			var street int64
			err := b.db.WithContext(ctx).Raw("SELECT street_id FROM cases ORDER BY id LIMIT 1").Scan(&street).Error
			return fmt.Sprintf("/api/v1/cases?orgId=%d", street), err
		}),
		b.asAdmin("GET /admin/case-stats (district)", func(ctx context.Context) (string, error) {
			var district int64
			err := b.db.WithContext(ctx).Raw("SELECT district_id FROM cases ORDER BY id LIMIT 1").Scan(&district).Error
			return fmt.Sprintf("/api/v1/admin/case-stats?orgId=%d", district), err
		}),
		b.pooled("POST /wishes/:id/claim", b.claimPools, "/api/v1/wishes/%d/claim", []byte("{}")),
		b.pooled("POST /activities/:id/signup", b.signupPools, "/api/v1/activities/%d/signup", nil),
		{name: fmt.Sprintf("POST approve %d attendances", b.o.batch), write: true, setup: func(ctx context.Context) ([2]nextFunc, error) {
			pools, err := b.approvePools(ctx)
			var out [2]nextFunc
			for t := range pools {
				batches := pools[t]
				var next atomic.Int64
				out[t] = func(int) (request, bool) {
					i := next.Add(1) - 1
					if i >= int64(len(batches)) {
						return request{}, false
					}
					bt := batches[i]
					items := make([]map[string]any, len(bt.users))
					for j, u := range bt.users {
						items[j] = map[string]any{"userId": u, "minutes": 60, "score": 5}
					}
					body, _ := json.Marshal(map[string]any{"items": items})
					return request{method: "POST", path: fmt.Sprintf("/api/v1/activities/%d/attendances/approve", bt.activity),
						token: bt.token, body: body}, true
				}
			}
			return out, err
		}},
		{name: "POST /mall/orders", write: true, setup: func(ctx context.Context) ([2]nextFunc, error) {
			goods, err := b.goodsOf(ctx)
			f := func(w int) (request, bool) {
				ri := w % len(b.residents)
				return request{method: "POST", path: "/api/v1/mall/orders", token: b.residents[ri].token,
					body: []byte(fmt.Sprintf(`{"goodsId":%d}`, goods[ri]))}, true
			}
			return [2]nextFunc{f, f}, err
		}},
	}
}

// row is one line of the report.
type row struct {
	scenario, target string
	res              *result
	ratio            float64 // linli req/s ÷ baseline req/s (linli rows)
	note             string
}

func (b *bench) runAll(ctx context.Context) error {
	fmt.Fprintf(os.Stderr, "bench: %d connections, %s per scenario and target, %s warm-up for reads\n",
		b.o.conns, b.o.duration, b.o.warmup)
	wrote := false
	for _, sc := range b.scenarios() {
		if !b.o.scenarios.MatchString(sc.name) {
			continue
		}
		nexts, err := sc.setup(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", sc.name, err)
		}
		var res [2]*result
		for t, s := range b.targets {
			if !sc.write && b.o.warmup > 0 {
				b.drive(ctx, s, b.o.conns, b.o.warmup, nexts[t])
			}
		}
		// Alternating slices, so that both targets share the machine's
		// background load alike.
		slice := b.o.duration / time.Duration(b.o.rounds)
		for round := 0; round < b.o.rounds; round++ {
			for t, s := range b.targets {
				res[t] = res[t].merge(b.drive(ctx, s, b.o.conns, slice, nexts[t]))
			}
		}
		b.add(sc.name, res)
		if sc.write {
			wrote = true
			if err := b.checkInvariants(ctx, sc.name, false); err != nil {
				return err
			}
		}
	}
	name := fmt.Sprintf("burst: %d sign-ups, %d seats, waitlist", b.o.burst, b.o.burstSeats)
	if b.o.scenarios.MatchString(name) || b.o.scenarios.MatchString("burst") {
		if err := b.runBurst(ctx, name); err != nil {
			return err
		}
	} else if b.o.reconcile == "end" && wrote {
		if err := b.checkInvariants(ctx, "the last write storm", true); err != nil {
			return err
		}
	}
	b.print(os.Stdout)
	if b.o.out != "" {
		f, err := os.Create(b.o.out)
		if err != nil {
			return err
		}
		defer f.Close()
		b.print(f)
	}
	return nil
}

func (b *bench) add(name string, res [2]*result) {
	ratio := 0.0
	if res[1].rps() > 0 {
		ratio = res[0].rps() / res[1].rps()
	}
	for t, s := range b.targets {
		note := ""
		if res[t].exhausted {
			note = "pool used up before the end"
		}
		if res[t].errs > 0 {
			note = strings.TrimSpace(note + " first error: " + res[t].firstErr)
		}
		r := row{scenario: name, target: s.name, res: res[t], note: note}
		if t == 0 {
			r.ratio = ratio
		}
		b.rows = append(b.rows, r)
		fmt.Fprintf(os.Stderr, "bench: %-32s %-8s %8.0f req/s  p50 %6.1f ms  p95 %6.1f ms  p99 %7.1f ms  errors %d  RSS %s  %s\n",
			name, s.name, res[t].rps(), ms(res[t].pct(50)), ms(res[t].pct(95)), ms(res[t].pct(99)), res[t].errs,
			rss(res[t].rssKB), note)
	}
}

// runBurst fires the burst at a fresh activity per target and checks that
// exactly the seats were given and everyone else was waitlisted.
func (b *bench) runBurst(ctx context.Context, name string) error {
	tokens, err := b.burstUsers(ctx, b.o.burst)
	if err != nil {
		return err
	}
	var res [2]*result
	for t, s := range b.targets {
		ids, err := b.activityRows(ctx, 1, b.o.burstSeats, true, "压测抢报")
		if err != nil {
			return err
		}
		reqs := make([]request, len(tokens))
		for i, tok := range tokens {
			reqs[i] = request{method: "POST", path: fmt.Sprintf("/api/v1/activities/%d/signup", ids[0]), token: tok}
		}
		res[t] = b.burst(ctx, s, reqs)
		var got struct{ Signed, SignedRows, WaitlistedRows, NRows int }
		if err := b.db.WithContext(ctx).Raw(`SELECT a.signed,
			(SELECT COUNT(*) FROM attendances t WHERE t.activity_id = a.id AND t.status = 'signed') AS signed_rows,
			(SELECT COUNT(*) FROM attendances t WHERE t.activity_id = a.id AND t.status = 'waitlisted') AS waitlisted_rows,
			(SELECT COUNT(*) FROM attendances t WHERE t.activity_id = a.id) AS n_rows
			FROM activities a WHERE a.id = ?`, ids[0]).Scan(&got).Error; err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "bench: burst on %s: %d signed (seats %d, %d signed rows), %d waitlisted, %d rows, %.1fs for the burst\n",
			s.name, got.Signed, b.o.burstSeats, got.SignedRows, got.WaitlistedRows, got.NRows, res[t].elapsed.Seconds())
		if got.Signed > b.o.burstSeats || got.Signed != got.SignedRows || got.NRows != len(reqs) {
			return fmt.Errorf("burst on %s: %d signed (%d rows) for %d seats, %d rows for %d sign-ups",
				s.name, got.Signed, got.SignedRows, b.o.burstSeats, got.NRows, len(reqs))
		}
	}
	// A burst's req/s is the burst size over its wall time.
	for _, r := range res {
		r.elapsed = max(r.elapsed, time.Millisecond)
	}
	b.add(name, res)
	return b.checkInvariants(ctx, name, true)
}

// checkInvariants prints (and fails on) a broken invariant: one claimer per
// claimed wish, no activity over capacity or with a signed count other than
// its sign-ups, and the ledger reconciled through linli's own check.
func (b *bench) checkInvariants(ctx context.Context, after string, final bool) error {
	db := b.db.WithContext(ctx)
	var badWish, badClaim, over, miscount int64
	q := []struct {
		dst *int64
		sql string
	}{
		{&badWish, `SELECT COUNT(*) FROM wishes w WHERE w.status = 'claimed' AND (SELECT COUNT(*) FROM wish_claims c
			WHERE c.active_wish_id = w.id AND c.claimer_id = w.claimer_id AND c.status = 'active') <> 1`},
		{&badClaim, `SELECT COUNT(*) FROM wish_claims c JOIN wishes w ON w.id = c.active_wish_id
			WHERE w.status <> 'claimed' OR w.claimer_id <> c.claimer_id`},
		{&over, `SELECT COUNT(*) FROM activities WHERE capacity > 0 AND signed > capacity`},
		{&miscount, `SELECT COUNT(*) FROM activities a WHERE a.status = 'published' AND a.signed <> (SELECT COUNT(*)
			FROM attendances t WHERE t.activity_id = a.id AND t.status = 'signed')`},
	}
	for _, x := range q {
		if err := db.Raw(x.sql).Scan(x.dst).Error; err != nil {
			return err
		}
	}
	mismatches, accounts, err := b.reconcile(ctx, final)
	if err != nil {
		return err
	}
	line := fmt.Sprintf("claimed wishes without exactly one matching active claim: %d; active claims on another state or claimer: %d; "+
		"activities over capacity: %d; published activities whose signed count differs from their sign-ups: %d; "+
		"reconcile: %d mismatches over %d accounts", badWish, badClaim, over, miscount, mismatches, accounts)
	if mismatches < 0 {
		line = strings.Replace(line, "reconcile: -1 mismatches over -1 accounts", "reconcile: at the end (--reconcile end)", 1)
		mismatches = 0
	}
	fmt.Fprintf(os.Stderr, "bench: invariants after %s: %s\n", after, line)
	b.rows = append(b.rows, row{scenario: after, target: "invariants", note: line})
	if badWish+badClaim+over+miscount+int64(mismatches) > 0 {
		return fmt.Errorf("invariant broken after %s: %s", after, line)
	}
	return nil
}

// reconcile runs linli's ledger reconciliation (what `linli reconcile` and
// GET /admin/reconcile run) in-process: over millions of entries it takes
// longer than an HTTP request may. With --reconcile end it runs only after
// the last storm (it returns -1, -1 before).
func (b *bench) reconcile(ctx context.Context, final bool) (mismatches, accounts int, err error) {
	if b.o.reconcile == "end" && !final {
		return -1, -1, nil
	}
	rep, err := b.svc.TimeBank.Reconcile(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("reconcile: %w", err)
	}
	return rep.Mismatches, int(rep.Accounts), nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func rss(kb int64) string {
	if kb == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f MB", float64(kb)/1024)
}

// print writes the report as Markdown.
func (b *bench) print(w io.Writer) {
	host, _ := os.Hostname()
	fmt.Fprintf(w, "\nlinli load benchmark, %s, scale %s, %d connections, %s per scenario, %d residents; %s, %d CPUs, %s\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), b.o.scale, b.o.conns, b.o.duration, len(b.residents), host,
		runtime.NumCPU(), runtime.Version())
	fmt.Fprintln(w, "| scenario | target | req/s | p50 ms | p95 ms | p99 ms | errors | peak RSS | ratio |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|")
	var notes []string
	for _, r := range b.rows {
		if r.res == nil {
			notes = append(notes, fmt.Sprintf("- after %s: %s", r.scenario, r.note))
			continue
		}
		ratio := ""
		if r.target == "linli" && r.ratio > 0 {
			ratio = fmt.Sprintf("%.2f", r.ratio)
		}
		fmt.Fprintf(w, "| %s | %s | %.0f | %.1f | %.1f | %.1f | %d | %s | %s |\n", r.scenario, r.target, r.res.rps(),
			ms(r.res.pct(50)), ms(r.res.pct(95)), ms(r.res.pct(99)), r.res.errs, rss(r.res.rssKB), ratio)
		if r.note != "" {
			notes = append(notes, fmt.Sprintf("- %s on %s: %s", r.scenario, r.target, r.note))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, strings.Join(notes, "\n"))
	}
}
