package api_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/gin-gonic/gin"

	"linli/docs"
	"linli/internal/testutil"
)

// reportPrefixes are the paths of the 双报到 area.
func reportPrefixes() []string {
	return []string{"/api/v1/units", "/api/v1/agreements", "/api/v1/member-reports", "/api/v1/posts", "/api/v1/services",
		"/api/v1/me/obligations", "/api/v1/admin/obligations", "/api/v1/me/certificates", "/api/v1/certificates",
		"/api/v1/needs", "/api/v1/resources", "/api/v1/projects"}
}

func isReportPath(p string) bool {
	for _, prefix := range reportPrefixes() {
		if p == prefix || strings.HasPrefix(p, prefix+"/") {
			return true
		}
	}
	return false
}

// loadReportDoc parses and validates docs/openapi.yaml.
func loadReportDoc(t testing.TB) *openapi3.T {
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

// TestReportRoutesDocumented checks both ways that every 双报到 route is an
// operation of docs/openapi.yaml, with an id, a summary and its error
// answers.
func TestReportRoutesDocumented(t *testing.T) {
	doc := loadReportDoc(t)
	h := testutil.New(t)
	engine, ok := h.Router.(*gin.Engine)
	if !ok {
		t.Fatalf("router is %T", h.Router)
	}
	param := regexp.MustCompile(`:([A-Za-z0-9_]+)`)
	registered := map[string]bool{}
	for _, r := range engine.Routes() {
		path := param.ReplaceAllString(r.Path, "{$1}")
		if !isReportPath(path) {
			continue
		}
		registered[r.Method+" "+path] = true
		item := doc.Paths.Find(path)
		if item == nil || item.GetOperation(r.Method) == nil {
			t.Errorf("route %s %s is not in docs/openapi.yaml", r.Method, path)
		}
	}
	if len(registered) < 40 {
		t.Fatalf("only %d 双报到 routes registered", len(registered))
	}
	for path, item := range doc.Paths.Map() {
		if !isReportPath(path) {
			continue
		}
		for method, op := range item.Operations() {
			if !registered[method+" "+path] {
				t.Errorf("docs/openapi.yaml documents %s %s, which is not a route", method, path)
			}
			if op.OperationID == "" || op.Summary == "" || (op.Responses.Value("400") == nil && op.Responses.Value("401") == nil) {
				t.Errorf("%s %s needs an operationId, a summary and its error answers", method, path)
			}
		}
	}
}

// docValidating checks every 双报到 answer against docs/openapi.yaml: status
// documented, body matching its schema. The report tests send everything
// through it.
type docValidating struct {
	t      testing.TB
	next   http.Handler
	router routers.Router
}

func newDocValidating(t testing.TB, next http.Handler) http.Handler {
	rt, err := legacy.NewRouter(loadReportDoc(t))
	if err != nil {
		t.Fatal(err)
	}
	return &docValidating{t: t, next: next, router: rt}
}

func (v *docValidating) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var reqBody []byte
	if r.Body != nil {
		reqBody, _ = io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	rec := httptest.NewRecorder()
	v.next.ServeHTTP(rec, r)
	if isReportPath(r.URL.Path) {
		probe := r.Clone(context.Background())
		probe.Body = io.NopCloser(bytes.NewReader(reqBody))
		probe.Host = "localhost"
		route, params, err := v.router.FindRoute(probe)
		if err != nil {
			v.t.Errorf("%s %s: not in the document: %v", r.Method, r.URL.Path, err)
		} else {
			in := &openapi3filter.ResponseValidationInput{
				RequestValidationInput: &openapi3filter.RequestValidationInput{Request: probe, PathParams: params, Route: route,
					Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}},
				Status: rec.Code, Header: rec.Header(), Body: io.NopCloser(bytes.NewReader(rec.Body.Bytes())),
				Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true, ExcludeResponseBody: !strings.Contains(rec.Header().Get("Content-Type"), "json")},
			}
			if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
				v.t.Errorf("%s %s → %d does not match the document: %v\nbody: %.300s", r.Method, r.URL.Path, rec.Code, err, rec.Body.String())
			}
		}
	}
	for k, vals := range rec.Header() {
		w.Header()[k] = vals
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}
