package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"linli/internal/testutil"
	"linli/model"
	"linli/service"
)

// BenchmarkOutboxDrain measures outbox throughput: rows sent per second to
// the local fake WeChat (an in-process HTTP server) by 1 and by 4 workers,
// each row a lease (batched), an acceptance taken, an HTTPS-less POST
// through the SDK and the row marked sent. Every iteration writes 400 rows
// (not timed) and drains them.
func BenchmarkOutboxDrain(b *testing.B) {
	const rows = 400
	for _, workers := range []int{1, 4} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			w := testutil.NewWorld(b, notifyConfig(nil))
			h := w.Harness
			u := w.Login("bench", 0)
			var elapsed time.Duration
			sent := 0
			for b.Loop() {
				b.StopTimer()
				if err := h.DB.Create(&model.SubscriptionGrant{UserID: u.UserID, TemplateID: tplGift, Remaining: rows}).Error; err != nil {
					b.Fatal(err)
				}
				ns := make([]service.Notice, rows)
				for i := range ns {
					ns[i] = service.Notice{UserID: u.UserID, Event: service.EventGiftReceived, Subject: fmt.Sprintf("b-%d", i)}
				}
				if err := h.DB.Transaction(func(tx *gorm.DB) error { return h.Svc.Notifications.Notify(tx, ns...) }); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				start := time.Now()
				var wg sync.WaitGroup
				counts := make([]int, workers)
				for i := range workers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						n, err := h.Svc.Notifications.Drain(context.Background())
						if err != nil {
							b.Error(err)
						}
						counts[i] = n
					}()
				}
				wg.Wait()
				elapsed += time.Since(start)
				for _, n := range counts {
					sent += n
				}
				b.StopTimer()
				h.DB.Where("user_id = ?", u.UserID).Delete(&model.SubscriptionGrant{})
				b.StartTimer()
			}
			if sent != rows*b.N {
				b.Fatalf("sent %d of %d rows", sent, rows*b.N)
			}
			b.ReportMetric(float64(sent)/elapsed.Seconds(), "rows/s")
		})
	}
}

// BenchmarkInboxRead times GET /me/notifications (the first page of 20 of
// an inbox of 500, with the unread count) against GET /me/account on the
// same instance, for a ratio measured in one run.
func BenchmarkInboxRead(b *testing.B) {
	w := testutil.NewWorld(b)
	h := w.Harness
	u := w.Login("inbox", w.Tree.CommunityA.ID)
	ns := make([]service.Notice, 500)
	for i := range ns {
		ns[i] = service.Notice{UserID: u.UserID, Event: service.EventWishClaimed, ObjectKind: "wish", ObjectID: int64(i + 1), Subject: "修水管"}
	}
	if err := h.Svc.Notifications.Notify(h.DB, ns...); err != nil {
		b.Fatal(err)
	}
	for _, path := range []string{"/api/v1/me/notifications", "/api/v1/me/account"} {
		b.Run(path, func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				req := authedRequest(path, u.AccessToken)
				for pb.Next() {
					rec := httptest.NewRecorder()
					h.Router.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK {
						b.Errorf("%s: %d %s", path, rec.Code, rec.Body.String())
						return
					}
				}
			})
		})
	}
}
