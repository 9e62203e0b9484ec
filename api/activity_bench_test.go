package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"linli/internal/testutil"
	"linli/model"
	"linli/service"
)

// BenchmarkSignupContention fires 2,000 sign-ups at once (through two API
// instances) at an activity with 100 seats, per iteration, and reports the
// throughput and latency percentiles. Every iteration checks that exactly 100
// won. Run on MySQL+Redis:
//
//	LINLI_TEST_MYSQL_DSN=… LINLI_TEST_REDIS_ADDR=… go test -run '^$' -bench SignupContention -benchtime 3x ./api/
func BenchmarkSignupContention(b *testing.B) {
	const requests, seats = 2000, 100
	e := newActEnv(b)
	users := e.volunteers(requests)
	_, second := e.h.NewInstance()
	routers := []http.Handler{e.h.Router, second}
	for _, waitlist := range []bool{false, true} {
		b.Run(fmt.Sprintf("waitlist=%v", waitlist), func(b *testing.B) {
			var lat []time.Duration
			var elapsed time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				now := e.h.Clock.Now()
				start := now.Add(time.Duration(2+2*i) * time.Hour)
				id := e.newActivity(map[string]any{"capacity": seats, "waitlist": waitlist,
					"startAt": start, "endAt": start.Add(time.Hour), "signupDeadline": now.Add(time.Hour)})
				b.StartTimer()
				took := make([]time.Duration, requests)
				t0 := time.Now()
				answers := testutil.Race(b, requests, func(j int) *testutil.Response {
					s := time.Now()
					defer func() { took[j] = time.Since(s) }()
					return send(routers[j%2], "POST", fmt.Sprintf("/activities/%d/signup", id), users[j].token, nil)
				})
				elapsed += time.Since(t0)
				b.StopTimer()
				won, other := 0, 0
				for _, a := range answers {
					switch {
					case a.Status == 201 && (!waitlist || string(a.Data) == `{"status":"signed"}`):
						won++
					case a.Status == 201 || a.Code == service.CodeActivityFull:
					default:
						other++
					}
				}
				if won != seats || other != 0 {
					b.Fatalf("%d won, %d failed otherwise; want %d and 0", won, other, seats)
				}
				if a := e.activity(id); a.Signed != seats {
					b.Fatalf("signed counter %d", a.Signed)
				}
				lat = append(lat, took...)
				// Free the users for the next iteration's activity.
				e.h.DB.Model(&model.Attendance{}).Where("activity_id = ?", id).Update("status", model.SignupCancelled)
				b.StartTimer()
			}
			slices.Sort(lat)
			b.ReportMetric(float64(requests*b.N)/elapsed.Seconds(), "req/s")
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(elapsed.Milliseconds())/float64(b.N), "ms/2000req")
		})
	}
}

// BenchmarkListActivities measures GET /activities over 50,000 activities
// of a district: 10 streets × 10 communities × 500 activities, starting from
// about two years ago to eleven weeks ahead (a tenth still to come). It asks
// for one community, one street and the whole district (first and 100th
// page).
func BenchmarkListActivities(b *testing.B) {
	const streets, perStreet, total = 10, 10, 50000
	const communities = streets * perStreet
	e := newActEnv(b)
	h := e.h
	mkOrg := func(parent *model.OrgUnit, level model.OrgLevel, name string) model.OrgUnit {
		o := model.OrgUnit{ParentID: &parent.ID, Level: level, Name: name}
		if err := h.DB.Create(&o).Error; err != nil {
			b.Fatal(err)
		}
		o.Path = fmt.Sprintf("%s%d/", parent.Path, o.ID)
		if err := h.DB.Model(&o).Update("path", o.Path).Error; err != nil {
			b.Fatal(err)
		}
		return o
	}
	var streetIDs []int64
	ids := make([]int64, 0, communities)
	for i := range streets {
		st := mkOrg(&e.tree.District, model.LevelStreet, fmt.Sprintf("bench-street-%d", i))
		streetIDs = append(streetIDs, st.ID)
		for j := range perStreet {
			ids = append(ids, mkOrg(&st, model.LevelCommunity, fmt.Sprintf("bench-%d-%d", i, j)).ID)
		}
	}
	now := h.Clock.Now().UTC().Truncate(time.Second)
	rows := make([]model.Activity, 0, total)
	for i := range total {
		start := now.Add(time.Duration(i-total*9/10) * 23 * time.Minute)
		st := model.ActivityFinished
		if start.After(now) {
			st = model.ActivityPublished
		}
		rows = append(rows, model.Activity{
			CommunityID: ids[i%communities], Title: fmt.Sprintf("活动 %d", i), Content: "内容", Category: "其他",
			Address: "社区广场", RadiusM: 500, StartAt: start, EndAt: start.Add(2 * time.Hour),
			SignupDeadline: start.Add(-time.Hour), Capacity: 30, Audience: model.AudienceAll, PointsPerHour: 10,
			Status: st, Signed: i % 30, CreatedBy: e.staffID,
		})
	}
	t0 := time.Now()
	parts := 1 // SQLite takes one writer at a time
	if h.RealMySQL {
		parts = 4
	}
	var wg sync.WaitGroup
	for part := range parts {
		wg.Go(func() {
			chunk := rows[part*total/parts : (part+1)*total/parts]
			if err := h.DB.CreateInBatches(&chunk, 1000).Error; err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	b.Logf("seeded %d activities in %s", total, time.Since(t0).Round(time.Millisecond))
	u := e.login("bench-lister")

	for _, c := range []struct {
		name  string
		query string
		want  int
	}{
		{"community", fmt.Sprintf("/activities?communityId=%d", ids[0]), total / communities},
		{"street", fmt.Sprintf("/activities?communityId=%d", streetIDs[0]), total / streets},
		{"street-page-100", fmt.Sprintf("/activities?communityId=%d&page=100", streetIDs[0]), total / streets},
		{"district", fmt.Sprintf("/activities?communityId=%d", e.tree.District.ID), total},
		{"district-page-100", fmt.Sprintf("/activities?communityId=%d&page=100", e.tree.District.ID), total},
	} {
		b.Run(c.name, func(b *testing.B) {
			var list struct {
				Total int
				List  []struct{ ID int64 }
			}
			for b.Loop() {
				res := send(h.Router, "GET", c.query, u.token, nil)
				if res.Status != 200 {
					b.Fatalf("HTTP %d code %d", res.Status, res.Code)
				}
				list.List = nil
				if err := json.Unmarshal(res.Data, &list); err != nil {
					b.Fatal(err)
				}
			}
			if list.Total < c.want || len(list.List) != 20 {
				b.Fatalf("total %d with %d rows, want ≥ %d and 20", list.Total, len(list.List), c.want)
			}
		})
	}
}
