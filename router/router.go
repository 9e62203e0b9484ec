// Package router wires linli's routes and middleware in one place.
package router

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"linli/api"
	"linli/config"
	"linli/docs"
	"linli/service"
)

// Options are what the router needs; main and the tests build them alike.
type Options struct {
	Service *service.Service
	Config  *config.Config
	Logger  *slog.Logger
	Limiter api.Limiter
	// SQLDB and Redis feed the pool gauges of /metrics.
	SQLDB *sql.DB
	Redis redis.UniversalClient
}

// New returns the HTTP handler of one linli instance. Call
// gin.SetMode(gin.ReleaseMode) once before, as main does. Each call has its own
// metrics registry, so several instances can live in one test process.
func New(o Options) (http.Handler, error) {
	o.Limiter = api.WithBudget(o.Limiter, o.Config.Redis.Budget)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	if err := r.SetTrustedProxies(splitList(o.Config.HTTP.TrustedProxies)); err != nil {
		return nil, fmt.Errorf("http.trusted_proxies: %w", err)
	}
	openapi, err := docs.OpenAPIJSON()
	if err != nil {
		return nil, err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if o.SQLDB != nil {
		reg.MustRegister(collectors.NewDBStatsCollector(o.SQLDB, "linli"))
	}
	if o.Redis != nil {
		registerRedisPool(reg, o.Redis)
	}
	metrics := api.NewMetrics(reg)
	reg.MustRegister(newOutboxCollector(o.Service.Notifications))

	h := api.NewHandler(o.Service, api.HandlerOptions{Location: o.Config.Location, UploadMaxBytes: o.Config.Upload.MaxBytes})
	// Metrics and the access log sit outside Recovery so that they see the
	// 500 of a panic.
	r.Use(api.RequestID(o.Logger), metrics.Middleware(), api.AccessLog(), api.Recovery())
	r.NoRoute(api.NoRoute)
	r.NoMethod(api.NoMethod)

	r.GET("/healthz", h.Healthz)
	r.GET("/readyz", h.Readyz)
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
	if o.Config.Debug.PProf {
		mountPProf(r)
	}

	// Every route but the upload reads JSON bodies of at most http.max_body_bytes;
	// POST /uploads has its own, larger limit.
	// Every API request has the deadline http.request_timeout.
	base := r.Group("/api/v1", api.Deadline(o.Config.HTTP.RequestTimeout))
	v1 := base.Group("", api.BodyLimit(o.Config.HTTP.MaxBodyBytes))
	v1.GET("/openapi.json", api.OpenAPI(openapi))
	base.GET("/files/:name", h.ServeFile)

	// Public routes: login is limited per client address.
	loginLimit := api.RateLimit(o.Limiter, "login", o.Config.RateLimit.LoginPerMinute, api.ByClientIP)
	v1.POST("/auth/wechat-login", loginLimit, h.WeChatLogin)
	if o.Config.Dev {
		v1.POST("/auth/dev-login", loginLimit, h.DevLogin)
	}
	v1.POST("/auth/refresh", loginLimit, h.Refresh)
	v1.GET("/certificates/verify", api.RateLimit(o.Limiter, "verify", o.Config.RateLimit.LoginPerMinute, api.ByClientIP), h.VerifyCertificate)

	// Signed-in routes: writes are limited per user.
	requireAuth := api.RequireAuth(o.Service.Auth)
	writeLimit := api.RateLimit(o.Limiter, "write", o.Config.RateLimit.WritePerMinute, api.ByUserOnWrites)
	authed := v1.Group("", requireAuth, writeLimit)
	base.POST("/uploads", api.BodyLimit(api.UploadBodyLimit(o.Config.Upload.MaxBytes)), requireAuth, writeLimit, h.Upload)
	authed.POST("/auth/logout", h.Logout)
	authed.GET("/me", h.Me)
	authed.PUT("/me", h.UpdateMe)
	authed.PUT("/me/community", h.SetCommunity)
	authed.POST("/me/phone", h.BindPhone)

	authed.GET("/orgs", h.ListOrgs)
	authed.POST("/admin/orgs", h.CreateOrg)
	authed.POST("/admin/staff", h.AppointStaff)
	authed.DELETE("/admin/staff/:id", h.RemoveStaff)
	authed.GET("/admin/users", h.SearchUsers)
	authed.POST("/admin/residents/:userId/verify-home", h.VerifyHome)

	authed.GET("/volunteers/options", h.VolunteerOptions)
	authed.GET("/volunteers/me", h.GetVolunteer)
	authed.PUT("/volunteers/me", h.RegisterVolunteer)
	authed.POST("/activities", h.CreateActivity)
	authed.GET("/activities", h.ListActivities)
	authed.GET("/activities/:id", h.GetActivity)
	authed.POST("/activities/:id/publish", h.PublishActivity)
	authed.POST("/activities/:id/cancel", h.CancelActivity)
	authed.POST("/activities/:id/signup", h.Signup)
	authed.DELETE("/activities/:id/signup", h.CancelSignup)
	authed.GET("/activities/:id/checkin-code", h.CheckinCode)
	authed.POST("/activities/:id/checkin", h.Checkin)
	authed.POST("/activities/:id/checkout", h.Checkout)
	authed.GET("/activities/:id/attendances", h.ListAttendances)
	authed.POST("/activities/:id/attendances/approve", h.ApproveAttendances)
	authed.POST("/activities/:id/attendances/:userId/checkin", h.ManualCheckin)
	authed.POST("/activities/:id/attendances/:userId/checkout", h.ManualCheckout)
	authed.POST("/activities/:id/attendances/:userId/approve", h.ApproveAttendance)
	authed.POST("/activities/:id/attendances/:userId/absent", h.MarkAbsent)
	authed.GET("/me/activities", h.MyActivities)
	wishLimit := api.RateLimit(o.Limiter, "wish_create", o.Config.RateLimit.WishCreatePerMinute, api.ByUserOnWrites)
	authed.POST("/wishes", wishLimit, h.CreateWish)
	authed.GET("/wishes", h.ListWishes)
	authed.GET("/wishes/mine", h.MyWishes)
	authed.GET("/wishes/claimed", h.ClaimedWishes)
	authed.GET("/wishes/:id", h.GetWish)
	authed.GET("/wishes/:id/timeline", h.WishTimeline)
	authed.GET("/wishes/:id/contact-reveals", h.WishContactReveals)
	authed.POST("/wishes/:id/approve", h.ApproveWish)
	authed.POST("/wishes/:id/reject", h.RejectWish)
	authed.POST("/wishes/:id/claim", h.ClaimWish)
	authed.POST("/wishes/:id/release", h.ReleaseWish)
	authed.POST("/wishes/:id/fulfil", h.FulfilWish)
	authed.POST("/wishes/:id/confirm", h.ConfirmWish)
	authed.POST("/wishes/:id/cancel", h.CancelWish)
	authed.GET("/admin/wish-stats", h.WishStats)

	authed.GET("/me/account", h.MyAccount)
	authed.GET("/me/ledger", h.MyLedger)
	authed.POST("/me/gifts", h.Gift)
	authed.GET("/leaderboards", h.Leaderboard)
	authed.GET("/admin/reconcile", h.Reconcile)
	authed.POST("/admin/credits", h.ManualCredit)
	authed.GET("/admin/credits", h.ManualCredits)
	authed.POST("/admin/credit-requests/:id/approve", h.ApproveCreditRequest)
	authed.POST("/admin/credit-requests/:id/reject", h.RejectCreditRequest)
	authed.POST("/mall/goods", h.CreateGoods)
	authed.GET("/mall/goods", h.ListGoods)
	authed.GET("/mall/goods/:id", h.GetGoods)
	authed.PUT("/mall/goods/:id", h.UpdateGoods)
	authed.DELETE("/mall/goods/:id", h.DeleteGoods)
	authed.POST("/mall/orders", h.PlaceOrder)
	authed.GET("/mall/orders", h.CommunityOrders)
	authed.GET("/mall/orders/mine", h.MyOrders)
	authed.POST("/mall/orders/verify", h.VerifyPickup)
	authed.POST("/mall/orders/:id/cancel", h.CancelOrder)

	// 双报到: units, member reports, posts, services, obligations,
	// certificates, unit report-back, three lists.
	authed.POST("/units", h.CreateUnit)
	authed.GET("/units", h.ListUnits)
	authed.GET("/units/mine", h.MyUnits)
	authed.GET("/units/:id", h.GetUnit)
	authed.POST("/units/:id/approve", h.ApproveUnit)
	authed.POST("/units/:id/reject", h.RejectUnit)
	authed.POST("/units/:id/liaisons", h.AddLiaison)
	authed.POST("/units/:id/agreements", h.CreateAgreement)
	authed.GET("/units/:id/agreements", h.ListAgreements)
	authed.GET("/units/:id/report", h.UnitReport)
	authed.POST("/agreements/:id/advance", h.AdvanceAgreement)
	authed.POST("/member-reports", h.CreateReport)
	authed.GET("/member-reports", h.ListReports)
	authed.GET("/member-reports/mine", h.MyReports)
	authed.GET("/member-reports/:id", h.GetReport)
	authed.POST("/member-reports/:id/approve", h.ApproveReport)
	authed.POST("/member-reports/:id/reject", h.RejectReport)
	authed.POST("/member-reports/:id/withdraw", h.WithdrawReport)
	authed.POST("/posts", h.CreatePost)
	authed.GET("/posts", h.ListPosts)
	authed.GET("/posts/mine", h.MyPosts)
	authed.POST("/posts/:id/claim", h.ClaimPost)
	authed.POST("/posts/:id/release", h.ReleasePost)
	authed.GET("/posts/:id/holders", h.PostHolders)
	authed.POST("/services", h.LogService)
	authed.GET("/services", h.ListServices)
	authed.GET("/services/mine", h.MyServices)
	authed.POST("/services/:id/approve", h.ApproveService)
	authed.POST("/services/:id/reject", h.RejectService)
	authed.GET("/me/obligations", h.MyObligations)
	authed.GET("/admin/obligations", h.AdminObligations)
	authed.POST("/me/certificates", h.IssueCertificate)
	authed.GET("/me/certificates", h.MyCertificates)
	authed.GET("/me/certificates/:id/qrcode", h.CertificateQRCode)
	authed.POST("/needs", h.CreateNeed)
	authed.GET("/needs", h.ListNeeds)
	authed.POST("/needs/:id/claim", h.ClaimNeed)
	authed.POST("/resources", h.CreateResource)
	authed.GET("/resources", h.ListResources)
	authed.POST("/resources/:id/claim", h.ClaimResource)
	authed.GET("/projects", h.ListProjects)
	authed.POST("/projects/:id/complete", h.CompleteProject)
	authed.POST("/projects/:id/confirm", h.ConfirmProject)
	authed.POST("/projects/:id/return", h.ReturnProject)

	// 随手拍 / 吹哨报到: cases, departments and their staff.
	authed.POST("/cases", h.CreateCase)
	authed.GET("/cases", h.ListCases)
	authed.GET("/cases/mine", h.MyCases)
	authed.GET("/cases/:id", h.GetCase)
	authed.POST("/cases/:id/accept", h.AcceptCase)
	authed.POST("/cases/:id/assign", h.AssignCase)
	authed.POST("/cases/:id/resolve", h.ResolveCase)
	authed.POST("/cases/:id/whistle", h.WhistleCase)
	authed.POST("/cases/:id/merge", h.MergeCase)
	authed.POST("/cases/:id/dispatch", h.DispatchCase)
	authed.POST("/cases/:id/escalate", h.EscalateCase)
	authed.POST("/cases/:id/report-in", h.ReportInCase)
	authed.POST("/cases/:id/return", h.ReturnCase)
	authed.POST("/cases/:id/rate", h.RateCase)
	authed.POST("/cases/:id/reopen", h.ReopenCase)
	authed.GET("/admin/case-stats", h.CaseStats)
	authed.POST("/admin/departments", h.CreateDepartment)
	authed.POST("/admin/departments/:id/staff", h.AddDeptStaff)
	authed.DELETE("/admin/departments/:id/staff/:userId", h.RemoveDeptStaff)
	// Staff oversight: the review queue, the audit log, dashboards, exports.
	authed.GET("/admin/queue", h.Queue)
	authed.GET("/admin/audit", h.Audit)
	authed.GET("/admin/dashboard", h.Dashboard)
	for _, kind := range []string{service.ExportHours, service.ExportObligations, service.ExportWishes, service.ExportVolunteerRecords} {
		authed.GET("/admin/exports/"+kind+".xlsx", h.Export(kind))
	}
	// Notifications: the inbox, subscribe acceptances, the outbox.
	authed.GET("/me/notifications", h.MyNotifications)
	authed.POST("/me/notifications/read-all", h.ReadAllNotifications)
	authed.POST("/me/notifications/:id/read", h.ReadNotification)
	authed.POST("/me/subscriptions", h.Subscribe)
	authed.GET("/admin/outbox", h.AdminOutbox)
	// Volunteer records (民政部令第67号): the record, certificates (verified
	// by GET /certificates/verify), training, awards, corrections.
	authed.GET("/me/volunteer-record", h.MyVolunteerRecord)
	authed.POST("/me/volunteer-certificates", h.IssueVolunteerCertificate)
	authed.GET("/me/volunteer-certificates", h.MyVolunteerCertificates)
	authed.GET("/me/volunteer-certificates/:id/qrcode", h.VolunteerCertificateQRCode)
	authed.POST("/me/record-corrections", h.RequestCorrection)
	authed.GET("/me/record-corrections", h.MyCorrections)
	authed.GET("/admin/volunteers/:userId/record", h.VolunteerRecordFor)
	authed.POST("/admin/volunteers/:userId/certificates", h.IssueVolunteerCertificateFor)
	authed.POST("/admin/volunteers/:userId/trainings", h.RecordTraining)
	authed.POST("/admin/volunteers/:userId/awards", h.RecordAward)
	authed.GET("/admin/record-corrections", h.AdminCorrections)
	authed.POST("/admin/record-corrections/:id/accept", h.AcceptCorrection)
	authed.POST("/admin/record-corrections/:id/refuse", h.RefuseCorrection)
	authed.POST("/admin/content-flags/:id/clear", h.ClearContentFlag)

	// Personal information (PIPL): export, erasure, consent.
	authed.GET("/me/data-export", h.DataExport)
	authed.GET("/me/data-export.zip", h.DataExportZip)
	authed.DELETE("/me", h.EraseMe)
	authed.POST("/me/consent", h.Consent)

	// The image check: WeChat's message push (public, signed by
	// wechat.push_token) and staff decisions on images.
	v1.GET("/wechat/push", h.WeChatPushVerify)
	v1.POST("/wechat/push", h.WeChatPush)
	authed.POST("/admin/images/:id/approve", h.ApproveImage)
	authed.POST("/admin/images/:id/reject", h.RejectImage)

	return r, nil
}

// Route is one registered method and path (gin syntax: /admin/staff/:id).
type Route struct {
	Method, Path string
}

// Routes lists the routes of a handler made by New, for the test that checks
// each is documented in docs/openapi.yaml; it returns nil for any other
// handler.
func Routes(h http.Handler) []Route {
	e, ok := h.(*gin.Engine)
	if !ok {
		return nil
	}
	var out []Route
	for _, r := range e.Routes() {
		out = append(out, Route{Method: r.Method, Path: r.Path})
	}
	return out
}

// outboxCollector exposes the outbox depth by status (counted at each
// scrape) and this instance's send outcomes.
type outboxCollector struct {
	svc          *service.NotificationService
	depth, sends *prometheus.Desc
}

func newOutboxCollector(svc *service.NotificationService) outboxCollector {
	return outboxCollector{svc: svc,
		depth: prometheus.NewDesc("linli_outbox_depth", "Outbox rows by status.", []string{"status"}, nil),
		sends: prometheus.NewDesc("linli_outbox_sends_total",
			"Outbox sends finished by this instance, by outcome (sent, retried, failed, refused, inbox_only).", []string{"outcome"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c outboxCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.depth
	ch <- c.sends
}

// Collect implements prometheus.Collector; a database that does not answer
// within a second leaves the depth out of this scrape.
func (c outboxCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if depth, err := c.svc.Depth(ctx); err == nil {
		for st, n := range depth {
			ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(n), string(st))
		}
	}
	for outcome, n := range c.svc.Outcomes() {
		ch <- prometheus.MustNewConstMetric(c.sends, prometheus.CounterValue, float64(n), outcome)
	}
}

// registerRedisPool exposes the Redis connection pool as gauges.
func registerRedisPool(reg prometheus.Registerer, rdb redis.UniversalClient) {
	gauge := func(name, help string, f func(*redis.PoolStats) uint32) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help},
			func() float64 { return float64(f(rdb.PoolStats())) }))
	}
	gauge("linli_redis_pool_total_conns", "Connections in the Redis pool.", func(s *redis.PoolStats) uint32 { return s.TotalConns })
	gauge("linli_redis_pool_idle_conns", "Idle connections in the Redis pool.", func(s *redis.PoolStats) uint32 { return s.IdleConns })
	gauge("linli_redis_pool_hits_total", "Times a free connection was found in the Redis pool.", func(s *redis.PoolStats) uint32 { return s.Hits })
	gauge("linli_redis_pool_misses_total", "Times no free connection was found in the Redis pool.", func(s *redis.PoolStats) uint32 { return s.Misses })
	gauge("linli_redis_pool_timeouts_total", "Times a wait for a Redis connection timed out.", func(s *redis.PoolStats) uint32 { return s.Timeouts })
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// mountPProf serves Go's profiler under /debug/pprof (debug.pprof): the
// index, the named profiles (heap, goroutine, allocs, block, mutex, …), a
// CPU profile (?seconds=N) and an execution trace. No sign-in guards it.
func mountPProf(r *gin.Engine) {
	g := r.Group("/debug/pprof")
	g.GET("/", gin.WrapF(pprof.Index))
	g.GET("/cmdline", gin.WrapF(pprof.Cmdline))
	g.GET("/profile", gin.WrapF(pprof.Profile))
	g.GET("/symbol", gin.WrapF(pprof.Symbol))
	g.POST("/symbol", gin.WrapF(pprof.Symbol))
	g.GET("/trace", gin.WrapF(pprof.Trace))
	g.GET("/:name", gin.WrapF(pprof.Index)) // pprof.Index serves a named profile from the path
}
