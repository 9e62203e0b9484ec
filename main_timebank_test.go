package main

import (
	"io"
	"log/slog"
	"strings"
	"testing"

	"linli/internal/store"
	"linli/model"
)

// TestReconcileAndRebuildCommands runs the time bank subcommands on the
// embedded stores: a clean ledger passes, a cached balance that disagrees
// with its entries fails reconcile.
func TestReconcileAndRebuildCommands(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("LINLI_DATA_DIR", dir)
	t.Setenv("LINLI_DATABASE_DRIVER", "sqlite")
	t.Setenv("LINLI_REDIS_ADDR", "")
	t.Setenv("LINLI_LOG_LEVEL", "error")
	for _, cmd := range []string{"reconcile", "rebuild-leaderboards"} {
		if err := run([]string{cmd, "--dev"}); err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
	}
	cfg, err := loadConfig("", true)
	if err != nil {
		t.Fatal(err)
	}
	db, _, err := store.OpenDB(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	err = db.Create(&model.Account{OwnerKind: model.OwnerUser, OwnerID: 1, Currency: model.CurrencyPoints, Balance: 5}).Error
	if sqlDB, _ := db.DB(); sqlDB != nil {
		sqlDB.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := run([]string{"reconcile", "--dev"}); err == nil || !strings.Contains(err.Error(), "1 mismatches") {
		t.Fatalf("reconcile of a broken balance: %v", err)
	}
}
