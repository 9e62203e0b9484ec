package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"linli/model"
)

// demoRowCounts counts the rows of every table of a.
func demoRowCounts(t *testing.T, a *app) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, table := range model.Tables() {
		var n int64
		if err := a.db.Model(table).Count(&n).Error; err != nil {
			t.Fatal(err)
		}
		out[fmt.Sprintf("%T", table)] = n
	}
	return out
}

// TestDemoSeedOnlyInDevMode: outside dev mode seedDemo writes no row; in dev
// mode it seeds the story, and a second start (a second seedDemo over the
// same data dir) adds no row; the seeded ledger reconciles.
func TestDemoSeedOnlyInDevMode(t *testing.T) {
	t.Setenv("LINLI_DATA_DIR", t.TempDir())
	t.Setenv("LINLI_DATABASE_DRIVER", "sqlite")
	t.Setenv("LINLI_REDIS_ADDR", "")
	t.Setenv("LINLI_JWT_SECRET", strings.Repeat("s", 32))
	t.Setenv("LINLI_REPORT_VERIFY_BASE_URL", "https://linli.test/api/v1/certificates/verify") // required outside dev mode
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()
	start := func(dev bool) (*app, map[string]int64) {
		cfg, err := loadConfig("", dev)
		if err != nil {
			t.Fatal(err)
		}
		a, err := open(cfg, log)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(a.close)
		if err := seedDemo(ctx, cfg, a.svc, log); err != nil {
			t.Fatal(err)
		}
		return a, demoRowCounts(t, a)
	}

	_, prod := start(false)
	for table, n := range prod {
		if n != 0 {
			t.Errorf("outside dev mode %s has %d rows", table, n)
		}
	}

	a, first := start(true)
	for _, table := range []any{&model.User{}, &model.Wish{}, &model.Activity{}, &model.Attendance{},
		&model.MallGoods{}, &model.LedgerEntry{}, &model.ServiceRecord{}} {
		if first[fmt.Sprintf("%T", table)] == 0 {
			t.Errorf("dev mode seeded no %T", table)
		}
	}
	_, again := start(true)
	for table, n := range first {
		if again[table] != n {
			t.Errorf("second dev start: %s has %d rows, first had %d", table, again[table], n)
		}
	}
	rep, err := a.svc.TimeBank.Reconcile(ctx)
	if err != nil || rep.Mismatches != 0 {
		t.Fatalf("reconcile after seeding: %+v, %v", rep, err)
	}
}
