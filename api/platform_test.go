package api_test

import (
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"linli/api"
	"linli/internal/testutil"
)

func TestHealthAndReady(t *testing.T) {
	h := testutil.New(t)
	h.Do("GET", "/healthz", nil, "").Expect(t, 200, 0)
	var ready map[string]string
	h.Do("GET", "/readyz", nil, "").Expect(t, 200, 0).Decode(t, &ready)
	if ready["database"] != "up" || ready["redis"] != "up" {
		t.Fatalf("readyz = %v", ready)
	}
}

func TestReadyzNamesRedisWhenDown(t *testing.T) {
	h := testutil.New(t)
	h.StopRedis()
	res := h.Do("GET", "/readyz", nil, "").Expect(t, 503, 10503)
	if !strings.Contains(res.Message, "redis") || strings.Contains(res.Message, "database") {
		t.Fatalf("message %q should name redis only", res.Message)
	}
	h.Do("GET", "/healthz", nil, "").Expect(t, 200, 0) // the process is still up
}

func TestReadyzNamesDatabaseWhenDown(t *testing.T) {
	h := testutil.New(t)
	sqlDB, err := h.DB.DB()
	if err != nil {
		t.Fatal(err)
	}
	sqlDB.Close()
	res := h.Do("GET", "/readyz", nil, "").Expect(t, 503, 10503)
	if !strings.Contains(res.Message, "database") || strings.Contains(res.Message, "redis") {
		t.Fatalf("message %q should name the database only", res.Message)
	}
}

func TestUnknownRouteAndMethodEnvelopes(t *testing.T) {
	h := testutil.New(t)
	for _, path := range []string{"/api/v1/nope", "/nope", "/api/v1/admin/staff/1/extra"} {
		res := h.Do("GET", path, nil, "").Expect(t, 404, 10005)
		if res.RequestID == "" || string(res.Data) != "null" {
			t.Fatalf("404 envelope incomplete: %s", res.Raw)
		}
	}
	res := h.Do("DELETE", "/orgs", nil, "").Expect(t, 405, 10005)
	if res.Message == "" || res.RequestID == "" {
		t.Fatalf("405 envelope incomplete: %s", res.Raw)
	}
	h.Do("POST", "/healthz", nil, "").Expect(t, 405, 10005)
}

func TestPanicBecomes10500(t *testing.T) {
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	r := gin.New()
	r.Use(api.RequestID(log), api.AccessLog(), api.Recovery())
	r.GET("/boom", func(c *gin.Context) { panic("kaboom") })
	w := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/boom", nil)
	req.Header.Set("X-Request-Id", "panic-test-1")
	r.ServeHTTP(w, req)
	if w.Code != 500 {
		t.Fatalf("status %d", w.Code)
	}
	var env api.Envelope
	if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil {
		t.Fatalf("not an envelope: %s", w.Body.String())
	}
	if env.Code != 10500 || env.Data != nil || env.RequestID != "panic-test-1" || env.Message == "" || strings.Contains(env.Message, "kaboom") {
		t.Fatalf("envelope = %+v", env)
	}
	out := logs.String()
	if !strings.Contains(out, `"msg":"panic"`) || !strings.Contains(out, "kaboom") || !strings.Contains(out, `"request_id":"panic-test-1"`) {
		t.Fatalf("panic not logged with its request id:\n%s", out)
	}
	if !strings.Contains(out, `"status":500`) {
		t.Fatalf("access log did not see the 500:\n%s", out)
	}
}

func TestMetrics(t *testing.T) {
	h := testutil.New(t)
	u := h.MustLogin(testutil.UniqueOpenID("metrics"))
	me(t, h, u.AccessToken)
	h.Do("GET", "/api/v1/nope", nil, "")
	res := h.Do("GET", "/metrics", nil, "")
	if res.Status != 200 {
		t.Fatalf("status %d", res.Status)
	}
	body := string(res.Raw)
	for _, want := range []string{
		`linli_http_requests_total{method="GET",route="/api/v1/me",status="200"} 1`,
		`linli_http_requests_total{method="POST",route="/api/v1/auth/wechat-login",status="200"} 1`,
		`linli_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`linli_http_request_duration_seconds_bucket{method="GET",route="/api/v1/me",le="0.005"}`,
		`linli_http_request_duration_seconds_count{method="GET",route="/api/v1/me"} 1`,
		`go_sql_open_connections{db_name="linli"}`,
		`go_sql_in_use_connections{db_name="linli"}`,
		`go_sql_max_open_connections{db_name="linli"} 50`,
		`linli_redis_pool_total_conns`,
		`linli_redis_pool_idle_conns`,
		`linli_redis_pool_timeouts_total`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// Each instance has its own registry: a second one starts at zero.
	_, second := h.NewInstance()
	res = testutil.Send(t, second, testutil.Request{Method: "GET", Path: "/metrics"})
	if strings.Contains(string(res.Raw), `route="/api/v1/me"`) {
		t.Fatalf("second instance shares the first's counters")
	}
}

func TestRequestIDEchoed(t *testing.T) {
	h := testutil.New(t)
	res := h.Send(testutil.Request{Method: "GET", Path: "/me", Header: map[string]string{"X-Request-Id": "client-id_42.a"}}).Expect(t, 401, 10002)
	if got := res.Header.Get("X-Request-Id"); got != "client-id_42.a" || res.RequestID != got {
		t.Fatalf("header %q, envelope %q", got, res.RequestID)
	}
	// Without one, or with one that is not sane, the server makes one.
	hexID := regexp.MustCompile(`^[0-9a-f]{16}$`)
	for _, sent := range []string{"", "has space", strings.Repeat("a", 65), "quote\"s"} {
		res := h.Send(testutil.Request{Method: "GET", Path: "/healthz", Header: map[string]string{"X-Request-Id": sent}}).Expect(t, 200, 0)
		if got := res.Header.Get("X-Request-Id"); !hexID.MatchString(got) {
			t.Fatalf("sent %q, got id %q", sent, got)
		}
	}
}

func TestOpenAPIServed(t *testing.T) {
	h := testutil.New(t)
	res := h.Send(testutil.Request{Method: "GET", Path: "/openapi.json"})
	var doc struct {
		OpenAPI string         `json:"openapi"`
		Paths   map[string]any `json:"paths"`
	}
	if res.Status != 200 || json.Unmarshal(res.Raw, &doc) != nil || !strings.HasPrefix(doc.OpenAPI, "3.") || len(doc.Paths) == 0 {
		t.Fatalf("openapi.json: %d %.200s", res.Status, res.Raw)
	}
}

// TestLogsCarryNoSecrets drives logins, a refresh, a phone binding, WeChat
// failures and a logout with the log captured, then checks every line: JSON,
// with a request id, and without phone numbers, tokens, session keys, codes
// or the app secret.
func TestLogsCarryNoSecrets(t *testing.T) {
	logs := &syncBuffer{}
	h := testutil.New(t, testutil.WithLogWriter(logs))
	openid := testutil.UniqueOpenID("logs")
	res := h.Do("POST", "/auth/wechat-login", map[string]string{"code": openid}, "").Expect(t, 200, 0)
	tok := decodeTokens(t, res)
	next := decodeTokens(t, h.Do("POST", "/auth/refresh", map[string]string{"refreshToken": tok.RefreshToken}, "").Expect(t, 200, 0))
	h.Do("POST", "/me/phone", map[string]string{"code": "phone:13987654321"}, next.AccessToken).Expect(t, 200, 0)
	h.Do("POST", "/me/phone", map[string]string{"code": "down-phone-code"}, next.AccessToken).Expect(t, 503, 10503)
	h.Do("POST", "/auth/wechat-login", map[string]string{"code": "down-secret-code"}, "").Expect(t, 503, 10503)
	h.Do("POST", "/auth/wechat-login", map[string]string{"code": "bad-secret-code"}, "").Expect(t, 401, 10002)
	h.Do("GET", "/me", nil, next.AccessToken+"x").Expect(t, 401, 10002)
	h.Do("POST", "/auth/logout", nil, next.AccessToken).Expect(t, 200, 0)

	lines := logs.lines()
	if len(lines) < 8 {
		t.Fatalf("only %d log lines:\n%s", len(lines), logs.String())
	}
	secrets := []string{
		"13987654321", "987654321", tok.AccessToken, tok.RefreshToken, next.AccessToken, next.RefreshToken,
		testutil.SessionKeyPrefix, "down-secret-code", "down-phone-code", h.Config.WeChat.Secret, "FAKE-ACCESS-TOKEN",
	}
	// Token pieces: the signature of each JWT and the secret half of each refresh token.
	for _, tk := range []string{tok.AccessToken, next.AccessToken} {
		secrets = append(secrets, tk[strings.LastIndex(tk, ".")+1:])
	}
	for _, rt := range []string{tok.RefreshToken, next.RefreshToken} {
		secrets = append(secrets, rt[strings.Index(rt, ".")+1:])
	}
	requests := 0
	for _, line := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %s", line)
		}
		for _, s := range secrets {
			if strings.Contains(line, s) {
				t.Errorf("log line contains %q: %s", s, line)
			}
		}
		if rec["msg"] == "request" {
			requests++
			for _, k := range []string{"method", "route", "status", "latency_ms", "request_id"} {
				if _, ok := rec[k]; !ok {
					t.Errorf("request line lacks %s: %s", k, line)
				}
			}
		}
	}
	if requests != 8 {
		t.Fatalf("%d request lines, want 8:\n%s", requests, logs.String())
	}
	// The signed-in requests carry the user id; the 503s carry their cause.
	if !strings.Contains(logs.String(), `"user_id":`) || !strings.Contains(logs.String(), "jscode2session") {
		t.Fatalf("log lacks user id or error cause:\n%s", logs.String())
	}
}
