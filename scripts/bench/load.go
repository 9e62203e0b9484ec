package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

func redisZ(member, score int64) redis.Z {
	return redis.Z{Member: strconv.FormatInt(member, 10), Score: float64(score)}
}

// request is one HTTP call of a scenario.
type request struct {
	method, path, token string
	body                []byte
}

// nextFunc returns worker w's next request, or false when its pool is used up.
type nextFunc func(w int) (request, bool)

// result is what one scenario did against one target.
type result struct {
	n, errs   int
	lat       []time.Duration
	elapsed   time.Duration
	exhausted bool
	firstErr  string
	rssKB     int64
}

// merge adds the measurements of o to r (nil: none yet) and returns r.
func (r *result) merge(o *result) *result {
	if r == nil {
		return o
	}
	r.n += o.n
	r.errs += o.errs
	r.lat = append(r.lat, o.lat...)
	sort.Slice(r.lat, func(i, j int) bool { return r.lat[i] < r.lat[j] })
	r.elapsed += o.elapsed
	r.exhausted = r.exhausted || o.exhausted
	if r.firstErr == "" {
		r.firstErr = o.firstErr
	}
	r.rssKB = max(r.rssKB, o.rssKB)
	return r
}

func (r *result) rps() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.n) / r.elapsed.Seconds()
}

// pct returns the p-th percentile latency (p in 0..100).
func (r *result) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	i := int(float64(len(r.lat))*p/100+0.5) - 1
	i = max(0, min(i, len(r.lat)-1))
	return r.lat[i]
}

// do sends one request and reports whether it succeeded (2xx and envelope
// code 0) with, on failure, a description.
func (b *bench) do(ctx context.Context, base string, rq request) (bool, string) {
	var body io.Reader
	if rq.body != nil {
		body = bytes.NewReader(rq.body)
	}
	req, err := http.NewRequestWithContext(ctx, rq.method, base+rq.path, body)
	if err != nil {
		return false, err.Error()
	}
	if rq.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if rq.token != "" {
		req.Header.Set("Authorization", "Bearer "+rq.token)
	}
	res, err := b.client.Do(req)
	if err != nil {
		return false, err.Error()
	}
	raw, err := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if err != nil {
		return false, err.Error()
	}
	var env struct {
		Code int `json:"code"`
	}
	if res.StatusCode/100 != 2 || json.Unmarshal(raw, &env) != nil || env.Code != 0 {
		return false, fmt.Sprintf("%s %s: HTTP %d %.200s", rq.method, rq.path, res.StatusCode, raw)
	}
	return true, ""
}

// drive runs conns workers against base for d (or until every worker's pool
// is used up) and measures them: no request starts after d, the ones in
// flight then are waited for.
func (b *bench) drive(ctx context.Context, s *server, conns int, d time.Duration, next nextFunc) *result {
	resetPeakRSS(s.pid())
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	type part struct {
		n, errs   int
		lat       []time.Duration
		exhausted bool
		firstErr  string
	}
	parts := make([]part, conns)
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := 0; w < conns; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := &parts[w]
			p.lat = make([]time.Duration, 0, 4096)
			for ctx.Err() == nil {
				rq, ok := next(w)
				if !ok {
					p.exhausted = true
					return
				}
				start := time.Now()
				// A request in flight at the end completes and counts; the
				// elapsed time runs until the last one is answered.
				good, why := b.do(context.WithoutCancel(ctx), s.base, rq)
				p.lat = append(p.lat, time.Since(start))
				p.n++
				if !good {
					p.errs++
					if p.firstErr == "" {
						p.firstErr = why
					}
				}
			}
		}()
	}
	wg.Wait()
	r := &result{elapsed: time.Since(t0)}
	for _, p := range parts {
		r.n += p.n
		r.errs += p.errs
		r.lat = append(r.lat, p.lat...)
		r.exhausted = r.exhausted || p.exhausted
		if r.firstErr == "" {
			r.firstErr = p.firstErr
		}
	}
	sort.Slice(r.lat, func(i, j int) bool { return r.lat[i] < r.lat[j] })
	r.rssKB = peakRSS(s.pid())
	return r
}

// burst fires one request per token at once and measures them all.
func (b *bench) burst(ctx context.Context, s *server, reqs []request) *result {
	resetPeakRSS(s.pid())
	var wg sync.WaitGroup
	lat := make([]time.Duration, len(reqs))
	ok := make([]bool, len(reqs))
	why := make([]string, len(reqs))
	startGate := make(chan struct{})
	for i, rq := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-startGate
			start := time.Now()
			ok[i], why[i] = b.do(ctx, s.base, rq)
			lat[i] = time.Since(start)
		}()
	}
	t0 := time.Now()
	close(startGate)
	wg.Wait()
	r := &result{elapsed: time.Since(t0), n: len(reqs), lat: lat}
	for i := range ok {
		if !ok[i] {
			r.errs++
			if r.firstErr == "" {
				r.firstErr = why[i]
			}
		}
	}
	sort.Slice(r.lat, func(i, j int) bool { return r.lat[i] < r.lat[j] })
	r.rssKB = peakRSS(s.pid())
	return r
}

// resetPeakRSS resets the peak resident set size of pid (Linux: writing 5 to
// clear_refs), so that VmHWM afterwards is the peak of the scenario.
func resetPeakRSS(pid int) {
	if pid > 0 {
		_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
	}
}

// peakRSS returns VmHWM of pid in KiB (0 when unknown).
func peakRSS(pid int) int64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}
