package router_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"linli/internal/testutil"
	"linli/router"
)

// TestEndpointGuideMatchesRoutes checks both ways that the endpoint guide
// (the tables of docs/areas/*.md) lists exactly the registered routes: a row
// is either "| `METHOD /path…` | …" or "| METHOD[, METHOD…] | `/path…` | …",
// paths relative to /api/v1 except the platform ones.
func TestEndpointGuideMatchesRoutes(t *testing.T) {
	files, err := filepath.Glob("../docs/areas/*.md")
	if err != nil || len(files) == 0 {
		t.Fatalf("no endpoint guide: %v", err)
	}
	inline := regexp.MustCompile("^`(GET|POST|PUT|DELETE|PATCH) (/[^ `?]*)")
	path := regexp.MustCompile("^`(/[^ `?]*)")
	documented := map[string]string{}
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(text), "\n") {
			cells := strings.Split(line, " | ")
			if !strings.HasPrefix(line, "| ") || len(cells) < 3 {
				continue
			}
			first := strings.TrimPrefix(cells[0], "| ")
			if m := inline.FindStringSubmatch(first); m != nil {
				documented[m[1]+" "+m[2]] = filepath.Base(f)
				continue
			}
			m := path.FindStringSubmatch(cells[1])
			if m == nil {
				continue
			}
			for _, method := range strings.Split(first, ", ") {
				documented[method+" "+m[1]] = filepath.Base(f)
			}
		}
	}
	h := testutil.New(t)
	ginParam := regexp.MustCompile(`[:*]([A-Za-z0-9_]+)`)
	registered := map[string]bool{}
	for _, r := range router.Routes(h.Router) {
		p := ginParam.ReplaceAllString(r.Path, "{$1}")
		if p != "/api/v1/openapi.json" {
			p = strings.TrimPrefix(p, "/api/v1")
		}
		key := r.Method + " " + p
		registered[key] = true
		if documented[key] == "" {
			t.Errorf("route %s is not in the endpoint guide docs/areas/*.md", key)
		}
	}
	for key, file := range documented {
		if !registered[key] {
			t.Errorf("docs/areas/%s lists %s, which is not a route", file, key)
		}
	}
}
