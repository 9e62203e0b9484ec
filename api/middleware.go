package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"linli/internal/reqlog"
	"linli/service"
)

// Context keys set by the middleware.
const (
	ctxRequestID = "linli.requestID"
	ctxPrincipal = "linli.principal"
	ctxLogger    = "linli.logger"
)

// RequestIDHeader carries the request id in and out.
const RequestIDHeader = "X-Request-Id"

// RequestID takes a sane X-Request-Id from the client or makes one, echoes
// it in the response and puts it in the request's context, where the
// reqlog handler adds it to every line logged with that context (the access
// log, services, slow SQL).
func RequestID(log *slog.Logger) gin.HandlerFunc {
	log = reqlog.New(log)
	return func(c *gin.Context) {
		id := c.GetHeader(RequestIDHeader)
		if !saneRequestID(id) {
			b := make([]byte, 8)
			_, _ = rand.Read(b)
			id = hex.EncodeToString(b)
		}
		c.Set(ctxRequestID, id)
		c.Set(ctxLogger, log)
		c.Request = c.Request.WithContext(reqlog.WithRequestID(c.Request.Context(), id))
		c.Header(RequestIDHeader, id)
		c.Next()
	}
}

func saneRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r == '-' || r == '_' || r == '.' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')) {
			return false
		}
	}
	return true
}

func requestID(c *gin.Context) string { return c.GetString(ctxRequestID) }

// logger returns the request's logger; log with its ...Context methods and
// c.Request.Context() so that the line carries the request id.
func logger(c *gin.Context) *slog.Logger {
	if l, ok := c.Get(ctxLogger); ok {
		return l.(*slog.Logger)
	}
	return slog.Default()
}

// AccessLog writes one structured line per request: method, route, status,
// latency and user id — never the body, headers, tokens or personal data.
// Causes of 5xx answers are logged as errors.
func AccessLog() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		status := c.Writer.Status()
		attrs := []any{
			"method", c.Request.Method,
			"route", routeOf(c),
			"status", status,
			"latency_ms", float64(time.Since(start).Microseconds()) / 1000,
			"bytes", c.Writer.Size(),
		}
		if p, ok := principal(c); ok {
			attrs = append(attrs, "user_id", p.UserID)
		}
		log, ctx := logger(c), c.Request.Context()
		switch {
		case status == StatusClientClosed:
			if len(c.Errors) > 0 {
				attrs = append(attrs, "error", c.Errors.Last().Err.Error())
			}
			log.InfoContext(ctx, "request: client went away", attrs...)
		case status >= 500:
			if len(c.Errors) > 0 {
				attrs = append(attrs, "error", c.Errors.Last().Err.Error())
			}
			log.ErrorContext(ctx, "request", attrs...)
		case status == http.StatusTooManyRequests || status == http.StatusRequestEntityTooLarge:
			log.WarnContext(ctx, "request", attrs...)
		default:
			log.InfoContext(ctx, "request", attrs...)
		}
	}
}

// routeOf returns the matched route pattern, or "unmatched".
func routeOf(c *gin.Context) string {
	if r := c.FullPath(); r != "" {
		return r
	}
	return "unmatched"
}

// Deadline gives every request the deadline d (http.request_timeout): the
// database and Redis work it starts is cancelled when it passes, and fail
// answers 503 10503 for it (service.AsError).
func Deadline(d time.Duration) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), d)
		defer cancel()
		c.Request = c.Request.WithContext(ctx)
		c.Next()
	}
}

// Recovery turns a panic into a 10500 envelope and logs the stack.
func Recovery() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				logger(c).ErrorContext(c.Request.Context(), "panic", "route", routeOf(c), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				if !c.Writer.Written() {
					abortWith(c, http.StatusInternalServerError, service.CodeInternal, "服务器开小差了，请稍后再试")
				} else {
					c.Abort()
				}
			}
		}()
		c.Next()
	}
}

// Metrics counts requests by route and status and observes their latency.
type Metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// NewMetrics registers the HTTP metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "linli_http_requests_total", Help: "HTTP requests by route, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "linli_http_request_duration_seconds", Help: "HTTP request latency by route and method.",
			Buckets: []float64{.002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method"}),
	}
	reg.MustRegister(m.requests, m.latency)
	return m
}

// Middleware records every request.
func (m *Metrics) Middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := routeOf(c)
		m.requests.WithLabelValues(route, c.Request.Method, strconv.Itoa(c.Writer.Status())).Inc()
		m.latency.WithLabelValues(route, c.Request.Method).Observe(time.Since(start).Seconds())
	}
}

// BodyLimit caps request bodies at max bytes; reading past it fails and
// bindJSON answers 413.
func BodyLimit(max int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.ContentLength > max {
			abortWith(c, http.StatusRequestEntityTooLarge, service.CodeInvalid, "请求内容过大")
			return
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, max)
		c.Next()
	}
}

// Authenticator checks access tokens (service.AuthService implements it).
type Authenticator interface {
	Authenticate(ctx context.Context, accessToken string) (service.Principal, error)
}

// RequireAuth lets a request through only with a valid access token of a
// live session: 401 10002/10003 otherwise, 503 10503 when the session store
// is down.
func RequireAuth(auth Authenticator) gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.GetHeader("Authorization")
		scheme, token, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
			abortWith(c, http.StatusUnauthorized, service.CodeUnauthenticated, "请先登录")
			return
		}
		p, err := auth.Authenticate(c.Request.Context(), strings.TrimSpace(token))
		if err != nil {
			fail(c, err)
			return
		}
		c.Set(ctxPrincipal, p)
		c.Request = c.Request.WithContext(service.WithPrincipal(c.Request.Context(), p))
		c.Next()
	}
}

// principal returns the signed-in caller set by RequireAuth.
func principal(c *gin.Context) (service.Principal, bool) {
	v, ok := c.Get(ctxPrincipal)
	if !ok {
		return service.Principal{}, false
	}
	p, ok := v.(service.Principal)
	return p, ok
}

// userID returns the caller's user id; only for routes behind RequireAuth.
func userID(c *gin.Context) int64 {
	p, _ := principal(c)
	return p.UserID
}

// Limiter is a shared rate limiter (internal/ratelimit implements it).
type Limiter interface {
	Allow(ctx context.Context, key string, perMinute int) (bool, time.Duration, error)
}

// WithBudget bounds every Allow of l by budget (redis.budget), so a Redis
// that answers nothing delays a rate-limited request by at most that much.
func WithBudget(l Limiter, budget time.Duration) Limiter { return budgetLimiter{l, budget} }

type budgetLimiter struct {
	l      Limiter
	budget time.Duration
}

func (b budgetLimiter) Allow(ctx context.Context, key string, perMinute int) (bool, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, b.budget)
	defer cancel()
	return b.l.Allow(ctx, key, perMinute)
}

// RateLimit answers 429 10007 with Retry-After once key(c) has used its
// perMinute budget. If Redis cannot be asked, the request goes on and the
// failure is logged (sessions already fail closed). A key of "" is not limited.
func RateLimit(l Limiter, name string, perMinute int, key func(*gin.Context) string) gin.HandlerFunc {
	return func(c *gin.Context) {
		k := key(c)
		if k == "" || perMinute <= 0 {
			c.Next()
			return
		}
		ok, wait, err := l.Allow(c.Request.Context(), "rl:"+name+":"+k, perMinute)
		if err != nil {
			logger(c).WarnContext(c.Request.Context(), "rate limiter unavailable; request let through", "limit", name, "error", err.Error())
		}
		if !ok {
			e := service.Errorf(service.CodeRateLimited, "操作太频繁，请稍后再试")
			e.RetryAfter = wait
			fail(c, e)
			return
		}
		c.Next()
	}
}

// ByClientIP keys a limit by the client address.
func ByClientIP(c *gin.Context) string { return c.ClientIP() }

// ByUserOnWrites keys a limit by the caller for POST, PUT, PATCH and DELETE,
// and does not limit reads.
func ByUserOnWrites(c *gin.Context) string {
	switch c.Request.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		if p, ok := principal(c); ok {
			return strconv.FormatInt(p.UserID, 10)
		}
	}
	return ""
}
