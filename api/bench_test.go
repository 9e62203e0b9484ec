package api_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"

	"linli/api"
	"linli/internal/testutil"
)

// authOnly is an engine with nothing but the auth middleware in front of an
// empty handler, so a request costs the JWT check and the Redis session
// lookup.
func authOnly(h *testutil.Harness) http.Handler {
	r := gin.New()
	r.Use(api.RequireAuth(h.Svc.Auth))
	r.GET("/x", func(c *gin.Context) { c.Status(http.StatusNoContent) })
	return r
}

func authedRequest(path, token string) *http.Request {
	req := httptest.NewRequest("GET", path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	return req
}

// BenchmarkAuthMiddleware measures api.RequireAuth per request: HS256 verify
// plus one Redis HGET of the session.
func BenchmarkAuthMiddleware(b *testing.B) {
	h := testutil.New(b)
	login := h.MustLogin(testutil.UniqueOpenID("bench"))
	r := authOnly(h)
	req := authedRequest("/x", login.AccessToken)
	for b.Loop() {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		if w.Code != http.StatusNoContent {
			b.Fatalf("status %d: %s", w.Code, w.Body.String())
		}
	}
}

// BenchmarkAuthMiddlewareParallel is BenchmarkAuthMiddleware from all cores.
func BenchmarkAuthMiddlewareParallel(b *testing.B) {
	h := testutil.New(b)
	login := h.MustLogin(testutil.UniqueOpenID("bench"))
	r := authOnly(h)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req := authedRequest("/x", login.AccessToken)
		for pb.Next() {
			w := httptest.NewRecorder()
			r.ServeHTTP(w, req)
			if w.Code != http.StatusNoContent {
				b.Errorf("status %d", w.Code)
				return
			}
		}
	})
}

// BenchmarkGetMe measures GET /api/v1/me through the whole router: request
// id, metrics, access log (written, to io.Discard), recovery, body limit,
// auth, the write limiter (a no-op for GET) and the profile reads.
func BenchmarkGetMe(b *testing.B) {
	h := testutil.New(b, testutil.WithLogWriter(io.Discard))
	login := h.MustLogin(testutil.UniqueOpenID("bench"))
	req := authedRequest("/api/v1/me", login.AccessToken)
	for b.Loop() {
		w := httptest.NewRecorder()
		h.Router.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body.String())
		}
	}
}

// BenchmarkGetMeParallel is BenchmarkGetMe from all cores.
func BenchmarkGetMeParallel(b *testing.B) {
	h := testutil.New(b, testutil.WithLogWriter(io.Discard))
	login := h.MustLogin(testutil.UniqueOpenID("bench"))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req := authedRequest("/api/v1/me", login.AccessToken)
		for pb.Next() {
			w := httptest.NewRecorder()
			h.Router.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Errorf("status %d", w.Code)
				return
			}
		}
	})
}
