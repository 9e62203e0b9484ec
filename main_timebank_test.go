package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
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

// captureOutput runs fn with os.Stdout and os.Stderr sent to files and
// returns what each received.
func captureOutput(t *testing.T, fn func()) (stdout, stderr string) {
	t.Helper()
	dir := t.TempDir()
	files := [2]*os.File{}
	for i, name := range []string{"stdout", "stderr"} {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		files[i] = f
	}
	oldOut, oldErr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = files[0], files[1]
	func() {
		defer func() { os.Stdout, os.Stderr = oldOut, oldErr }()
		fn()
	}()
	var out [2]string
	for i, f := range files {
		f.Close()
		b, err := os.ReadFile(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		out[i] = string(b)
	}
	return out[0], out[1]
}

// TestReconcilePrintsOnlyJSONOnStdout: with the log at info, `linli
// reconcile` prints its report alone on stdout (a script parses it) and
// its log lines on stderr.
func TestReconcilePrintsOnlyJSONOnStdout(t *testing.T) {
	t.Setenv("LINLI_DATA_DIR", t.TempDir())
	t.Setenv("LINLI_DATABASE_DRIVER", "sqlite")
	t.Setenv("LINLI_REDIS_ADDR", "")
	t.Setenv("LINLI_LOG_LEVEL", "info")
	var err error
	stdout, stderr := captureOutput(t, func() { err = run([]string{"reconcile", "--dev"}) })
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Accounts   *int64
		Mismatches *int
		Details    []string
	}
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil || rep.Mismatches == nil || dec.More() {
		t.Fatalf("stdout is not one JSON report (%v):\n%s", err, stdout)
	}
	if !strings.Contains(stderr, `"msg":"stores"`) {
		t.Fatalf("the log did not go to stderr:\n%s", stderr)
	}
}
