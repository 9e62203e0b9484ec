package router_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"linli/internal/testutil"
)

// get sends a GET for path to the harness's router and returns the recorder.
func get(h *testutil.Harness, path string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.Router.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	return w
}

// TestPProfOffByDefault: without debug.pprof, /debug/pprof is an unknown
// route (404 with the envelope code 10005), like any other.
func TestPProfOffByDefault(t *testing.T) {
	h := testutil.New(t)
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/cmdline"} {
		w := get(h, path)
		var env struct{ Code int }
		if w.Code != http.StatusNotFound || json.Unmarshal(w.Body.Bytes(), &env) != nil || env.Code != 10005 {
			t.Errorf("GET %s with pprof off: HTTP %d %s, want 404 code 10005", path, w.Code, w.Body.Bytes())
		}
	}
}

// TestPProfOn: with debug.pprof the index, a named profile and the command
// line are served.
func TestPProfOn(t *testing.T) {
	h := testutil.New(t, testutil.WithConfig(map[string]any{"debug.pprof": true}))
	w := get(h, "/debug/pprof/")
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "goroutine") {
		t.Errorf("GET /debug/pprof/: HTTP %d, want 200 with the profile index: %.200s", w.Code, w.Body.String())
	}
	w = get(h, "/debug/pprof/goroutine?debug=1")
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "goroutine profile:") {
		t.Errorf("GET /debug/pprof/goroutine: HTTP %d, want 200 with a goroutine dump: %.200s", w.Code, w.Body.String())
	}
	w = get(h, "/debug/pprof/heap")
	if w.Code != http.StatusOK || w.Body.Len() == 0 {
		t.Errorf("GET /debug/pprof/heap: HTTP %d, %d bytes, want 200 with a profile", w.Code, w.Body.Len())
	}
	if w = get(h, "/debug/pprof/cmdline"); w.Code != http.StatusOK {
		t.Errorf("GET /debug/pprof/cmdline: HTTP %d, want 200", w.Code)
	}
	if w = get(h, "/debug/pprof/nosuchprofile"); w.Code != http.StatusNotFound {
		t.Errorf("GET /debug/pprof/nosuchprofile: HTTP %d, want 404", w.Code)
	}
}
