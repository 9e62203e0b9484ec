package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"linli/config"
)

func TestDevSecretKeptPerDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	first, err := devSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) < config.MinJWTSecretLen {
		t.Fatalf("secret of %d bytes", len(first))
	}
	again, err := devSecret(dir)
	if err != nil || again != first {
		t.Fatalf("second call gave %q (%v), want the kept %q", again, err, first)
	}
	info, err := os.Stat(filepath.Join(dir, "dev-jwt-secret"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("secret file: %v %v", info, err)
	}
	other, _ := devSecret(filepath.Join(t.TempDir(), "other"))
	if other == first {
		t.Fatal("two data dirs share a secret")
	}
}

func TestLoadConfigDevGeneratesSecret(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("LINLI_DATA_DIR", dir)
	t.Setenv("LINLI_JWT_SECRET", "")
	cfg, err := loadConfig("", true)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Dev || len(cfg.JWT.Secret) < config.MinJWTSecretLen {
		t.Fatalf("dev = %v, secret length %d", cfg.Dev, len(cfg.JWT.Secret))
	}
	if _, err := loadConfig("", false); err == nil || !strings.Contains(err.Error(), "LINLI_JWT_SECRET") {
		t.Fatalf("without --dev and a secret: %v", err)
	}
}

func TestRunRefusesUnknownCommand(t *testing.T) {
	t.Setenv("LINLI_DATA_DIR", t.TempDir())
	if err := run([]string{"version"}); err != nil {
		t.Fatal(err)
	}
	if err := run([]string{"frobnicate", "--dev"}); err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Fatalf("unknown command: %v", err)
	}
	if err := run([]string{"--no-such-flag"}); err == nil {
		t.Fatal("unknown flag accepted")
	}
}
