package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// TestGracefulShutdown starts the real server, begins a request, stops the
// server while the request's body is still arriving, and checks that the
// request is answered before serve returns.
func TestGracefulShutdown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg, err := config.LoadFromEnviron("", nil, map[string]any{
		"dev": true, "data.dir": t.TempDir(), "http.addr": addr, "jwt.secret": strings.Repeat("s", 40),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, slog.New(slog.NewJSONHandler(io.Discard, nil))) }()
	for i := 0; ; i++ {
		if res, err := http.Get("http://" + addr + "/healthz"); err == nil {
			res.Body.Close()
			break
		}
		if i > 200 {
			t.Fatal("server did not start")
		}
		time.Sleep(25 * time.Millisecond)
	}

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"openid":"demo-resident"}`
	fmt.Fprintf(conn, "POST /api/v1/auth/dev-login HTTP/1.1\r\nHost: linli\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body[:10])
	time.Sleep(100 * time.Millisecond)
	cancel() // SIGTERM
	time.Sleep(200 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("serve returned with a request in flight: %v", err)
	default:
	}
	fmt.Fprint(conn, body[10:])
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("in-flight request not answered: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("in-flight request: %d", res.StatusCode)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not return after the last request")
	}
	if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
		t.Fatal("still serving after shutdown")
	}
}
