// Command oversightbench times the staff dashboard and a spreadsheet export
// on a seeded database (scripts/seed, then `linli rebuild-stats`):
//
//	go run ./scripts/oversightbench --dsn 'root@tcp(127.0.0.1:3306)/linli_bench_district' [--n 20] [--export wishes --from 2025-12-01 --to 2026-11-30]
//
// It calls the service methods the API calls (OversightService.Dashboard,
// PrepareExport + WriteTo) as the district admin of the seed (user 1), so
// the figures are the server's work without HTTP. The dashboard is timed
// for the district, a street and a community over the current quarter and
// over the last 365 days: the first call (cold) and the median and maximum
// of --n more. An export is written to --out (default: discarded) and its
// time, rows and size are printed; run it under /usr/bin/time -v for the
// peak RSS.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"linli/config"
	"linli/internal/store"
	"linli/service"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "oversightbench:", err)
		os.Exit(1)
	}
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func run() error {
	dsn := flag.String("dsn", "root@tcp(127.0.0.1:3306)/linli_bench_district", "MySQL DSN of a seeded database")
	redisAddr := flag.String("redis", "127.0.0.1:6379", "Redis address")
	n := flag.Int("n", 20, "timed calls per case after the first")
	export := flag.String("export", "", "export kind to time instead of the dashboard (hours, obligations, wishes, volunteer-records)")
	from := flag.String("from", "", "export: first day (YYYY-MM-DD)")
	to := flag.String("to", "", "export: last day (YYYY-MM-DD)")
	out := flag.String("out", "", "export: file to write (default: discarded)")
	flag.Parse()
	cfg, err := config.LoadFromEnviron("", nil, map[string]any{"database.driver": "mysql", "database.dsn": *dsn,
		"redis.addr": *redisAddr, "redis.prefix": "oversightbench:",
		"jwt.secret":             strings.Repeat("s", config.MinJWTSecretLen),
		"report.verify_base_url": "https://bench.invalid/api/v1/certificates/verify"})
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, _, err := store.OpenDB(cfg, log)
	if err != nil {
		return err
	}
	rdb, err := store.OpenRedis(cfg)
	if err != nil {
		return err
	}
	svc := service.New(service.Deps{DB: db, Redis: rdb.Client, Config: cfg, Logger: log})
	ctx := context.Background()
	const admin, district, street, community = 1, 1, 2, 12 // the seed's fixed ids
	if *export != "" {
		day := func(s string) (*time.Time, error) {
			if s == "" {
				return nil, nil
			}
			t, err := time.ParseInLocation("2006-01-02", s, cfg.Location)
			return &t, err
		}
		f, err := day(*from)
		if err != nil {
			return err
		}
		t, err := day(*to)
		if err != nil {
			return err
		}
		if t != nil {
			*t = t.AddDate(0, 0, 1)
		}
		var w io.Writer = io.Discard
		if *out != "" {
			file, err := os.Create(*out)
			if err != nil {
				return err
			}
			defer file.Close()
			w = file
		}
		cw := &countingWriter{w: w}
		t0 := time.Now()
		x, err := svc.Oversight.PrepareExport(ctx, admin, *export, district, f, t)
		if err != nil {
			return err
		}
		if err := x.WriteTo(ctx, cw); err != nil {
			return err
		}
		fmt.Printf("export %s (%s): %.1f s, %d bytes\n", *export, x.Filename, time.Since(t0).Seconds(), cw.n)
		return nil
	}
	now := time.Now().In(cfg.Location)
	yearFrom := now.AddDate(-1, 0, 0)
	for _, period := range []struct {
		name     string
		from, to *time.Time
	}{{"this quarter", nil, nil}, {"last 365 days", &yearFrom, &now}} {
		for _, org := range []struct {
			name string
			id   int64
		}{{"district (10 streets, 100 communities)", district}, {"street (10 communities)", street}, {"community", community}} {
			call := func() (time.Duration, *service.Dashboard, error) {
				t0 := time.Now()
				d, err := svc.Oversight.Dashboard(ctx, admin, org.id, period.from, period.to)
				return time.Since(t0), d, err
			}
			cold, d, err := call()
			if err != nil {
				return err
			}
			var times []time.Duration
			for range *n {
				dt, _, err := call()
				if err != nil {
					return err
				}
				times = append(times, dt)
			}
			slices.Sort(times)
			fmt.Printf("%-14s %-40s first %6.1f ms  median %6.1f ms  max %6.1f ms  (residents %d, wishes %d, minutes %d, members %d)\n",
				period.name, org.name, ms(cold), ms(times[len(times)/2]), ms(times[len(times)-1]),
				d.Total.Residents, d.Total.Wishes.Total, d.Total.ApprovedMinutes, d.Total.Obligations.Members)
		}
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
