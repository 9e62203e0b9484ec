package testutil

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"linli/docs"
)

// OpenAPIDoc returns docs/openapi.yaml parsed and validated as OpenAPI 3, or
// fails the test.
func OpenAPIDoc(t testing.TB) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(docs.OpenAPIYAML())
	if err != nil {
		t.Fatalf("docs/openapi.yaml does not parse: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("docs/openapi.yaml is not valid OpenAPI 3: %v", err)
	}
	return doc
}

// DocChecker wraps a handler and checks every answer against
// docs/openapi.yaml: the status must be documented for the operation and a
// JSON or text body must match its schema (binary bodies such as PNG or xlsx
// are checked for status and content type only). Failures are test errors.
type DocChecker struct {
	t      testing.TB
	next   http.Handler
	router routers.Router
	only   func(path string) bool

	mu   sync.Mutex
	seen map[string]bool
}

// NewDocChecker wraps next. only, when not nil, limits the checks to the
// request paths it accepts; other answers pass through unchecked.
func NewDocChecker(t testing.TB, next http.Handler, only func(path string) bool) *DocChecker {
	t.Helper()
	rt, err := legacy.NewRouter(OpenAPIDoc(t))
	if err != nil {
		t.Fatal(err)
	}
	return &DocChecker{t: t, next: next, router: rt, only: only, seen: map[string]bool{}}
}

// Checked returns how many distinct operation/status pairs were checked.
func (v *DocChecker) Checked() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.seen)
}

// ServeHTTP passes the request on and checks the answer.
func (v *DocChecker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var reqBody []byte
	if r.Body != nil {
		reqBody, _ = io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	rec := httptest.NewRecorder()
	v.next.ServeHTTP(rec, r)
	if v.only == nil || v.only(r.URL.Path) {
		v.check(r, reqBody, rec)
	}
	for k, vals := range rec.Header() {
		w.Header()[k] = vals
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

func (v *DocChecker) check(r *http.Request, reqBody []byte, rec *httptest.ResponseRecorder) {
	probe := r.Clone(context.Background())
	probe.Body = io.NopCloser(bytes.NewReader(reqBody))
	probe.Host = "localhost"
	route, params, err := v.router.FindRoute(probe)
	if err != nil {
		v.t.Errorf("%s %s: not in the document: %v", r.Method, r.URL.Path, err)
		return
	}
	v.mu.Lock()
	v.seen[r.Method+" "+route.Path+" "+strconv.Itoa(rec.Code)] = true
	v.mu.Unlock()
	ct := rec.Header().Get("Content-Type")
	binary := !strings.Contains(ct, "json") && !strings.HasPrefix(ct, "text/")
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: probe, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		},
		Status: rec.Code,
		Header: rec.Header(),
		Body:   io.NopCloser(bytes.NewReader(rec.Body.Bytes())),
		Options: &openapi3filter.Options{
			IncludeResponseStatus: true,
			MultiError:            true,
			ExcludeResponseBody:   binary,
		},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		v.t.Errorf("%s %s → %d does not match the document: %v\nbody: %.300s", r.Method, r.URL.Path, rec.Code, err, rec.Body.String())
	}
}
