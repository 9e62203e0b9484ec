package main

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
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
// request is answered before serve returns. It waits on signals, never on
// the clock: the server's own log lines ("listening", "shutting down: …"),
// the 100 Continue the server sends once the handler reads the body, and
// the closed listener.
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
	logged := make(logSignals, 1024)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, slog.New(logged)) }()
	logged.waitFor(t, done, "listening")

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"openid":"demo-resident"}`
	fmt.Fprintf(conn, "POST /api/v1/auth/dev-login HTTP/1.1\r\nHost: linli\r\nContent-Type: application/json\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", len(body))
	// The server says 100 Continue when the handler starts reading the body:
	// from then on the request is in flight.
	rd := bufio.NewReader(conn)
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	interim, err := http.ReadResponse(rd, nil)
	if err != nil || interim.StatusCode != http.StatusContinue {
		t.Fatalf("want 100 Continue, got %v %v", interim, err)
	}
	fmt.Fprint(conn, body[:10])

	cancel() // SIGTERM
	logged.waitFor(t, done, "shutting down: finishing in-flight requests")
	// Shutdown closes the listener first; once new connections are refused
	// it is waiting for our request.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("still accepting connections after shutdown began")
		}
		runtime.Gosched()
	}
	select {
	case err := <-done:
		t.Fatalf("serve returned with a request in flight: %v", err)
	default:
	}
	fmt.Fprint(conn, body[10:])
	res, err := http.ReadResponse(rd, nil)
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

// logSignals is a slog handler that passes every message to the channel, so
// that a test waits for what the server says it is doing instead of
// sleeping. Messages beyond the buffer are dropped.
type logSignals chan string

func (c logSignals) Enabled(context.Context, slog.Level) bool { return true }

func (c logSignals) Handle(_ context.Context, r slog.Record) error {
	select {
	case c <- r.Message:
	default:
	}
	return nil
}

func (c logSignals) WithAttrs([]slog.Attr) slog.Handler { return c }

func (c logSignals) WithGroup(string) slog.Handler { return c }

// waitFor returns when msg has been logged; it fails the test if serve
// returns first or msg does not come within 30 seconds.
func (c logSignals) waitFor(t *testing.T, done <-chan error, msg string) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case m := <-c:
			if m == msg {
				return
			}
		case err := <-done:
			t.Fatalf("serve returned before logging %q: %v", msg, err)
		case <-timeout:
			t.Fatalf("no %q logged within 30 s", msg)
		}
	}
}
