package reqlog_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"linli/internal/reqlog"
)

func TestRequestIDAddedFromContext(t *testing.T) {
	var buf bytes.Buffer
	log := reqlog.New(slog.New(slog.NewJSONHandler(&buf, nil)))
	if reqlog.New(log) != log {
		t.Fatal("wrapping twice made a new logger")
	}
	ctx := reqlog.WithRequestID(context.Background(), "rid-1")
	log.InfoContext(ctx, "with")
	log.With("k", "v").WithGroup("g").InfoContext(ctx, "grouped", "x", 1)
	log.Info("without")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("lines: %q", lines)
	}
	if !strings.Contains(lines[0], `"request_id":"rid-1"`) || !strings.Contains(lines[1], "rid-1") || !strings.Contains(lines[1], `"k":"v"`) {
		t.Fatalf("request id missing: %q", lines[:2])
	}
	if strings.Contains(lines[2], "request_id") {
		t.Fatalf("request id without a context: %q", lines[2])
	}
	if reqlog.RequestID(context.Background()) != "" || reqlog.RequestID(ctx) != "rid-1" {
		t.Fatal("RequestID")
	}
}
