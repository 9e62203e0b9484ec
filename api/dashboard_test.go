package api_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"linli/internal/testutil"
	"linli/model"
	"linli/service"
)

// figures is the part of a dashboard's figures the tests compare.
type figures struct {
	OrgID                                         int64
	Name                                          string
	Communities                                   int
	Residents, Volunteers                         int64
	ReportedMembers, ReportedUnits                int64
	Activities, Signups                           int64
	ApprovedMinutes, PointsIssued, PointsRedeemed int64
	Wishes                                        struct {
		Total                                     int64
		ByStatus                                  map[string]int64
		MedianHoursToClaim, MedianHoursToComplete *float64
	}
	Obligations struct{ Members, Compliant int64 }
	Stars       map[string]int64
	MallOrders  struct{ Orders, Picked, Points int64 }
}

type dashboardView struct {
	From, To time.Time
	Total    figures
	Children []figures
}

func getDashboard(t testing.TB, h *testutil.Harness, who testutil.Login, org int64, query string) dashboardView {
	t.Helper()
	var d dashboardView
	h.Do("GET", fmt.Sprintf("/admin/dashboard?orgId=%d%s", org, query), nil, who.AccessToken).Expect(t, 200, 0).Decode(t, &d)
	return d
}

// dashWorld generates a data set directly in the database (as the
// benchmark's seed does): residents, volunteers, member reports, units,
// wishes in every state, activities; and moves the ledger through the API.
type dashWorld struct {
	e     *tbEnv
	h     *testutil.Harness
	comms []model.OrgUnit
}

func newDashWorld(t *testing.T) *dashWorld {
	e := newTBEnv(t, map[string]any{"timebank.star_hours": "1,2,5"})
	h := e.h
	d := &dashWorld{e: e, h: h, comms: []model.OrgUnit{e.tree.CommunityA, e.tree.CommunityB, e.tree.CommunityC}}
	rng := rand.New(rand.NewPCG(7, 13))
	now := h.Clock.Now()
	mustCreate := func(v any) {
		t.Helper()
		if err := h.DB.Create(v).Error; err != nil {
			t.Fatal(err)
		}
	}
	for ci, c := range d.comms {
		n := 5 + ci*3
		for i := range n {
			u := model.User{OpenID: testutil.UniqueOpenID("dash"), Nickname: "居民", HomeCommunityID: &c.ID}
			mustCreate(&u)
			if i%2 == 0 {
				mustCreate(&model.VolunteerProfile{UserID: u.ID, RealName: "志愿者", Phone: "13800000000", Skills: "[]", Availability: "周末"})
			}
			if i%3 == 0 {
				status := model.ReviewApproved
				if i%2 == 1 {
					status = model.ReviewPending
				}
				mustCreate(&model.MemberReport{UserID: u.ID, CommunityID: c.ID, RealName: "党员", Phone: "13800000000",
					Branch: "支部", Mode: model.ModeCentralized, Status: status})
			}
		}
		for i := range 2 + ci {
			status := model.ReviewApproved
			if i == 0 {
				status = model.ReviewPending
			}
			mustCreate(&model.Unit{Name: fmt.Sprintf("单位%d", i), Kind: model.UnitStateOwned, CommunityID: c.ID, Status: status, CreatedBy: 1})
		}
		// Wishes: some posted before the period, the rest inside it.
		for i := range 12 + ci*4 {
			st := model.WishStatuses()[rng.IntN(len(model.WishStatuses()))]
			created := now.Add(-time.Duration(rng.IntN(60*24)) * time.Hour)
			w := model.Wish{CommunityID: c.ID, StreetID: *c.ParentID, CommunityPath: c.Path, Title: fmt.Sprintf("心愿%d", i),
				Content: "内容", Category: "维修", ContactPhone: "13800000000", Address: "地址", CreatedBy: 1, Status: st,
				CreatedAt: created}
			if st != model.WishPendingReview && st != model.WishRejected {
				p := created.Add(time.Hour)
				w.PublishedAt = &p
				if st == model.WishClaimed || st == model.WishFulfilled || st == model.WishCompleted {
					cl := p.Add(time.Duration(1+rng.IntN(48)) * time.Hour)
					w.ClaimedAt, w.FirstClaimedAt = &cl, &cl
					if st == model.WishCompleted {
						done := cl.Add(time.Duration(1+rng.IntN(72)) * time.Hour)
						w.CompletedAt = &done
					}
				}
			}
			mustCreate(&w)
		}
		for i := range 4 {
			st := []model.ActivityStatus{model.ActivityPublished, model.ActivityFinished, model.ActivityCancelled, model.ActivityDraft}[i]
			start := now.Add(-time.Duration(rng.IntN(40*24)) * time.Hour)
			mustCreate(&model.Activity{CommunityID: c.ID, Title: "活动", Category: "环境", RadiusM: 500, StartAt: start,
				EndAt: start.Add(time.Hour), SignupDeadline: start, Audience: "all", PointsPerHour: 10, Status: st,
				Signed: rng.IntN(20), CreatedBy: 1})
		}
	}
	return d
}

// want computes a community's figures directly from the rows.
func (d *dashWorld) want(t *testing.T, c model.OrgUnit, from, to time.Time) figures {
	t.Helper()
	h := d.h
	// Times are compared in UTC, as the services store them (SQLite
	// compares them as text).
	from, to = from.UTC(), to.UTC()
	var f figures
	f.Residents = h.Count(&model.User{}, "home_community_id = ?", c.ID)
	f.Volunteers = h.Count(&model.VolunteerProfile{}, "user_id IN (SELECT id FROM users WHERE home_community_id = ?)", c.ID)
	f.ReportedMembers = h.Count(&model.MemberReport{}, "community_id = ? AND status = 'approved'", c.ID)
	f.ReportedUnits = h.Count(&model.Unit{}, "community_id = ? AND status = 'approved'", c.ID)
	f.Wishes.ByStatus = map[string]int64{}
	for _, st := range model.WishStatuses() {
		n := h.Count(&model.Wish{}, "community_id = ? AND status = ? AND created_at >= ? AND created_at < ?", c.ID, st, from, to)
		f.Wishes.ByStatus[string(st)] = n
		f.Wishes.Total += n
	}
	f.Activities = h.Count(&model.Activity{}, "community_id = ? AND start_at >= ? AND start_at < ? AND status IN ('published', 'finished')", c.ID, from, to)
	var signed []int64
	h.DB.Model(&model.Activity{}).Where("community_id = ? AND start_at >= ? AND start_at < ? AND status IN ('published', 'finished')", c.ID, from, to).
		Pluck("signed", &signed)
	for _, s := range signed {
		f.Signups += s
	}
	// The ledger: what the community's accounts gave and took, entry by
	// entry.
	var legs []struct {
		Amount   int64
		Currency string
		Kind     string
		Orig     *string
	}
	h.DB.Raw(`SELECT e.amount, e.currency, t.kind, o.kind AS orig FROM ledger_entries e
		JOIN accounts a ON a.id = e.account_id JOIN ledger_txns t ON t.id = e.txn_id
		LEFT JOIN ledger_txns o ON o.id = t.reverses_id
		WHERE a.owner_kind = 'community' AND a.owner_id = ? AND e.created_at >= ? AND e.created_at < ?`, c.ID, from, to).Scan(&legs)
	for _, l := range legs {
		kind := l.Kind
		if l.Orig != nil {
			kind = *l.Orig
		}
		switch {
		case kind == "credit" && l.Currency == "minutes":
			f.ApprovedMinutes -= l.Amount
		case kind == "credit" && l.Currency == "points":
			f.PointsIssued -= l.Amount
		case kind == "debit" && l.Currency == "points":
			f.PointsRedeemed += l.Amount
		}
	}
	f.MallOrders.Orders = h.Count(&model.MallOrder{}, "community_id = ? AND status IN ('open', 'picked') AND created_at >= ? AND created_at < ?", c.ID, from, to)
	f.MallOrders.Picked = h.Count(&model.MallOrder{}, "community_id = ? AND status = 'picked' AND created_at >= ? AND created_at < ?", c.ID, from, to)
	return f
}

// same compares the counted figures of got and want.
func sameFigures(t *testing.T, what string, got, want figures) {
	t.Helper()
	type cmp struct {
		name    string
		got, wt int64
	}
	cs := []cmp{{"residents", got.Residents, want.Residents}, {"volunteers", got.Volunteers, want.Volunteers},
		{"members", got.ReportedMembers, want.ReportedMembers}, {"units", got.ReportedUnits, want.ReportedUnits},
		{"wishes", got.Wishes.Total, want.Wishes.Total}, {"activities", got.Activities, want.Activities},
		{"signups", got.Signups, want.Signups}, {"minutes", got.ApprovedMinutes, want.ApprovedMinutes},
		{"points issued", got.PointsIssued, want.PointsIssued}, {"points redeemed", got.PointsRedeemed, want.PointsRedeemed},
		{"orders", got.MallOrders.Orders, want.MallOrders.Orders}, {"picked", got.MallOrders.Picked, want.MallOrders.Picked}}
	for st, n := range want.Wishes.ByStatus {
		cs = append(cs, cmp{"wishes " + st, got.Wishes.ByStatus[st], n})
	}
	for _, c := range cs {
		if c.got != c.wt {
			t.Errorf("%s: %s = %d, want %d", what, c.name, c.got, c.wt)
		}
	}
}

func addFigures(a, b figures) figures {
	a.Residents += b.Residents
	a.Volunteers += b.Volunteers
	a.ReportedMembers += b.ReportedMembers
	a.ReportedUnits += b.ReportedUnits
	a.Wishes.Total += b.Wishes.Total
	if a.Wishes.ByStatus == nil {
		a.Wishes.ByStatus = map[string]int64{}
	}
	for k, v := range b.Wishes.ByStatus {
		a.Wishes.ByStatus[k] += v
	}
	a.Activities += b.Activities
	a.Signups += b.Signups
	a.ApprovedMinutes += b.ApprovedMinutes
	a.PointsIssued += b.PointsIssued
	a.PointsRedeemed += b.PointsRedeemed
	a.MallOrders.Orders += b.MallOrders.Orders
	a.MallOrders.Picked += b.MallOrders.Picked
	return a
}

// TestDashboardEqualsDirectCounts: on a generated data set, each figure of
// a community equals the count made from the rows in the test, a street's
// figures equal the sum of its communities, and the district's the sum of
// its streets; the running figures stay equal as the services change rows
// (a move of home, a volunteer registering, credits, a redemption and its
// refund), and a rebuild from the rows gives the same.
func TestDashboardEqualsDirectCounts(t *testing.T) {
	d := newDashWorld(t)
	e, h, tree := d.e, d.h, d.e.tree
	ctx := context.Background()
	// Service records of this quarter, written directly like the rest:
	// every approved member gets some kinds (all four for every other one),
	// a pending record that does not count, and one of last quarter.
	rng := rand.New(rand.NewPCG(3, 5))
	loc0 := h.Config.Location
	now0 := h.Clock.Now().In(loc0)
	qStart := time.Date(now0.Year(), time.Month((int(now0.Month())-1)/3*3+1), 1, 0, 0, 0, 0, loc0)
	var approved []model.MemberReport
	h.DB.Where("status = 'approved'").Order("id").Find(&approved)
	kinds := []model.ServiceKind{model.ServiceContactHelp, model.ServicePostDuty, model.ServicePublicActivity, model.ServicePracticalDeed}
	for i, r := range approved {
		n := 1 + rng.IntN(3)
		if i%2 == 0 {
			n = 4
		}
		for _, k := range kinds[:n] {
			approvedRecord(t, h, r.UserID, r.CommunityID, k, qStart.Add(time.Duration(1+rng.IntN(48))*time.Hour))
		}
		approvedRecord(t, h, r.UserID, r.CommunityID, kinds[3], qStart.Add(-time.Hour))
		key := fmt.Sprintf("pending:%d", r.ID)
		h.DB.Create(&model.ServiceRecord{UserID: r.UserID, CommunityID: r.CommunityID, Kind: kinds[0], OccurredAt: qStart.Add(time.Hour).UTC(),
			Minutes: 30, Status: model.RecordPending, SourceKey: &key})
	}
	// The rows above were written behind the services' back: the backfill.
	if err := h.Svc.Oversight.RebuildStats(ctx); err != nil {
		t.Fatal(err)
	}
	// The ledger through the services: credits in A and C, a star earner,
	// an order picked up in A and one cancelled (refunded) in C.
	a1, c1 := e.resident(t, tree.CommunityA.ID), e.resident(t, tree.CommunityC.ID)
	e.credit(t, a1.UserID, "minutes", 130)
	e.credit(t, a1.UserID, "points", 40)
	staffC := e.w.Staff("dash-c", tree.CommunityC.ID)
	e.creditFrom(t, staffC, tree.CommunityC.ID, c1.UserID, "points", 30)
	e.creditFrom(t, staffC, tree.CommunityC.ID, c1.UserID, "minutes", 60)
	g := e.goods(t, map[string]any{"pointsPrice": 15})
	o := e.order(t, a1, g.ID)
	h.Do("POST", "/mall/orders/verify", map[string]any{"communityId": tree.CommunityA.ID, "pickupCode": o.PickupCode}, e.staff.AccessToken).Expect(t, 200, 0)
	var gc goodsView
	h.Do("POST", "/mall/goods", map[string]any{"communityId": tree.CommunityC.ID, "name": "毛巾", "pointsPrice": 5, "stock": 3},
		staffC.AccessToken).Expect(t, 201, 0).Decode(t, &gc)
	oc := e.order(t, c1, gc.ID)
	h.Do("POST", fmt.Sprintf("/mall/orders/%d/cancel", oc.ID), nil, c1.AccessToken).Expect(t, 200, 0)
	// Live changes of the running counts: a move into B, a registration.
	mover := e.resident(t, tree.CommunityA.ID)
	if err := h.Svc.Oversight.RebuildStats(ctx); err != nil {
		t.Fatal(err)
	}
	h.Do("PUT", "/volunteers/me", map[string]any{"realName": "王志愿", "phone": "13812345678", "skills": []string{"助老助残"},
		"availability": "周末"}, mover.AccessToken).Expect(t, 200, 0)
	h.Do("PUT", "/me/community", map[string]any{"communityId": tree.CommunityB.ID}, mover.AccessToken).Expect(t, 200, 0)

	now := h.Clock.Now()
	loc := h.Config.Location
	from := time.Date(now.In(loc).Year(), now.In(loc).Month(), now.In(loc).Day(), 0, 0, 0, 0, loc).AddDate(0, 0, -30)
	to := from.AddDate(0, 0, 31)
	query := fmt.Sprintf("&from=%s&to=%s", from.Format("2006-01-02"), to.AddDate(0, 0, -1).Format("2006-01-02"))

	wants := map[int64]figures{}
	for _, c := range d.comms {
		wants[c.ID] = d.want(t, c, from, to)
	}
	admin := e.admin
	dist := getDashboard(t, h, admin, tree.District.ID, query)
	if !dist.From.Equal(from) || !dist.To.Equal(to) {
		t.Fatalf("period %v–%v, want %v–%v", dist.From, dist.To, from, to)
	}
	st := getDashboard(t, h, admin, tree.Street.ID, query)
	if len(st.Children) != 2 || st.Children[0].OrgID != tree.CommunityA.ID || st.Children[1].OrgID != tree.CommunityB.ID {
		t.Fatalf("street's children: %+v", st.Children)
	}
	var sum figures
	for _, ch := range st.Children {
		sameFigures(t, ch.Name, ch, wants[ch.OrgID])
		one := getDashboard(t, h, admin, ch.OrgID, query)
		sameFigures(t, ch.Name+" alone", one.Total, wants[ch.OrgID])
		if len(one.Children) != 0 {
			t.Errorf("a community's children: %+v", one.Children)
		}
		sum = addFigures(sum, ch)
	}
	sameFigures(t, "street = sum of its communities", st.Total, sum)
	if st.Total.Communities != 2 || dist.Total.Communities != 3 {
		t.Errorf("communities: street %d, district %d", st.Total.Communities, dist.Total.Communities)
	}
	var streets figures
	for _, ch := range dist.Children {
		streets = addFigures(streets, ch)
	}
	sameFigures(t, "district = sum of its streets", dist.Total, streets)
	sameFigures(t, "district = sum of the communities", dist.Total, addFigures(addFigures(wants[tree.CommunityA.ID], wants[tree.CommunityB.ID]), wants[tree.CommunityC.ID]))
	if dist.Total.ApprovedMinutes != 190 || dist.Total.PointsIssued != 70 || dist.Total.PointsRedeemed != 15 || st.Total.MallOrders.Picked != 1 {
		t.Errorf("ledger figures: %+v", dist.Total)
	}
	// a1 earned 130 minutes (two stars of 1, 2 and 5 hours), c1 60 (one).
	if got := dist.Total.Stars; got["1"] != 1 || got["2"] != 1 || got["3"] != 0 || st.Total.Stars["1"] != 0 {
		t.Errorf("stars: %v", got)
	}
	// Medians over the district's claimed wishes, recomputed here.
	var rows []model.Wish
	// (This test's communities only: on MySQL the package's tests share a
	// database.)
	h.DB.Where("community_id IN ? AND created_at >= ? AND created_at < ? AND first_claimed_at IS NOT NULL",
		[]int64{tree.CommunityA.ID, tree.CommunityB.ID, tree.CommunityC.ID}, from.UTC(), to.UTC()).Find(&rows)
	var hours []float64
	for _, w := range rows {
		hours = append(hours, w.FirstClaimedAt.Sub(*w.PublishedAt).Hours())
	}
	// The dashboard's median comes from hourly buckets (daily past 48
	// hours): the median of the bucketed durations, near the exact one.
	if m := service.HistogramMedian(hours); (m == nil) != (dist.Total.Wishes.MedianHoursToClaim == nil) ||
		(m != nil && *m != *dist.Total.Wishes.MedianHoursToClaim) {
		t.Errorf("median hours to claim: %v, want %v (of %v)", deref(dist.Total.Wishes.MedianHoursToClaim), deref(m), hours)
	}
	if m, exact := dist.Total.Wishes.MedianHoursToClaim, medianOf(hours); m != nil && math.Abs(*m-*exact) > 12 {
		t.Errorf("median hours to claim %v, exact %v", *m, *exact)
	}
	var done []float64
	for _, w := range rows {
		if w.CompletedAt != nil {
			done = append(done, w.CompletedAt.Sub(*w.ClaimedAt).Hours())
		}
	}
	if m := service.HistogramMedian(done); (m == nil) != (dist.Total.Wishes.MedianHoursToComplete == nil) ||
		(m != nil && *m != *dist.Total.Wishes.MedianHoursToComplete) {
		t.Errorf("median hours to complete: %v, want %v (of %v)", deref(dist.Total.Wishes.MedianHoursToComplete), deref(m), done)
	}
	// Obligation compliance of this quarter, counted from the records.
	var sumMembers, sumCompliant int64
	for _, c := range d.comms {
		one := getDashboard(t, h, admin, c.ID, query).Total
		members, compliant := directCompliance(t, h, c.ID)
		if one.Obligations.Members != members || one.Obligations.Compliant != compliant {
			t.Errorf("%s compliance %+v, counted %d of %d", c.Name, one.Obligations, compliant, members)
		}
		sumMembers, sumCompliant = sumMembers+members, sumCompliant+compliant
	}
	if dist.Total.Obligations.Members != sumMembers || dist.Total.Obligations.Compliant != sumCompliant {
		t.Errorf("district compliance %+v, counted %d of %d", dist.Total.Obligations, sumCompliant, sumMembers)
	}
	if dist.Total.Obligations.Compliant == 0 || dist.Total.Obligations.Compliant == dist.Total.Obligations.Members {
		t.Errorf("the data set should have members on both sides: %+v", dist.Total.Obligations)
	}
	sameRollups(t, h)

	// The running counts equal a rebuild from the rows.
	var live, rebuilt []model.CommunityStats
	var liveDays, rebuiltDays []model.CommunityDayStats
	h.DB.Order("community_id").Find(&live)
	h.DB.Order("community_id, day").Find(&liveDays)
	if err := h.Svc.Oversight.RebuildStats(ctx); err != nil {
		t.Fatal(err)
	}
	h.DB.Order("community_id").Find(&rebuilt)
	h.DB.Order("community_id, day").Find(&rebuiltDays)
	if fmt.Sprint(live) != fmt.Sprint(rebuilt) || fmt.Sprint(liveDays) != fmt.Sprint(rebuiltDays) {
		t.Fatalf("running figures %v %v, rebuilt %v %v", live, liveDays, rebuilt, rebuiltDays)
	}

	// Who may look, and bad bounds.
	h.Do("GET", fmt.Sprintf("/admin/dashboard?orgId=%d", tree.CommunityC.ID), nil, e.staff.AccessToken).Expect(t, 403, service.CodeForbidden)
	h.Do("GET", fmt.Sprintf("/admin/dashboard?orgId=%d", tree.GridA.ID), nil, e.staff.AccessToken).Expect(t, 400, service.CodeInvalid)
	h.Do("GET", fmt.Sprintf("/admin/dashboard?orgId=%d&from=2026-05-01&to=2026-04-01", tree.CommunityA.ID), nil, e.staff.AccessToken).Expect(t, 400, service.CodeInvalid)
	h.Do("GET", fmt.Sprintf("/admin/dashboard?orgId=%d&from=bad", tree.CommunityA.ID), nil, e.staff.AccessToken).Expect(t, 400, service.CodeInvalid)
	// The default period is the current quarter.
	def := getDashboard(t, h, e.staff, tree.CommunityA.ID, "")
	if _, compliant := directCompliance(t, h, tree.CommunityA.ID); def.Total.Obligations.Members != wants[tree.CommunityA.ID].ReportedMembers ||
		def.Total.Obligations.Compliant != compliant {
		t.Errorf("obligation members %d, reported %d", def.Total.Obligations.Members, wants[tree.CommunityA.ID].ReportedMembers)
	}
}

func medianOf(xs []float64) *float64 {
	if len(xs) == 0 {
		return nil
	}
	s := append([]float64(nil), xs...)
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	m = float64(int64(m*10+0.5)) / 10
	return &m
}

// readXLSX opens a downloaded spreadsheet and returns its rows.
func readXLSX(t *testing.T, res *testutil.Response) [][]string {
	t.Helper()
	if res.Status != 200 {
		t.Fatalf("export: HTTP %d %s", res.Status, res.Raw)
	}
	f, err := excelize.OpenReader(bytes.NewReader(res.Raw))
	if err != nil {
		t.Fatalf("open xlsx: %v", err)
	}
	defer f.Close()
	rows, err := f.GetRows("Sheet1")
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestExportsOpenWithHeadersAndRows: each spreadsheet opens with excelize,
// has its Chinese headers and one row per item of the org's subtree in the
// period, and is an audit entry; staff elsewhere get 403 and no entry.
func TestExportsOpenWithHeadersAndRows(t *testing.T) {
	d := newDashWorld(t)
	e, h, tree := d.e, d.h, d.e.tree
	A, C := tree.CommunityA.ID, tree.CommunityC.ID
	// Approved services: two volunteers of A with records, one of C.
	f := &reportFixture{w: e.w, h: h, tree: tree, staffA: e.staff, staffC: e.w.Staff("x-c", C)}
	m1, m2 := f.member(t, A, "daily", nil), f.member(t, A, "centralized", nil)
	m3 := f.member(t, C, "daily", nil)
	at := h.Clock.Now().Add(-2 * time.Hour)
	f.record(t, m1, A, "contact_help", at, nil)
	f.record(t, m1, A, "practical_deed", at, nil)
	f.record(t, m2, A, "contact_help", at, nil)
	f.record(t, m3, C, "contact_help", at, nil)

	// The period's days are the configured zone's (Asia/Shanghai), not the
	// clock's: in the evening UTC it is already tomorrow there.
	now := h.Clock.Now().In(h.Config.Location)
	from := now.AddDate(0, 0, -30).Format("2006-01-02")
	to := now.Format("2006-01-02")
	get := func(who testutil.Login, kind string, org int64) *testutil.Response {
		return h.Do("GET", fmt.Sprintf("/admin/exports/%s.xlsx?orgId=%d&from=%s&to=%s", kind, org, from, to), nil, who.AccessToken)
	}
	fromT, _ := time.ParseInLocation("2006-01-02", from, h.Config.Location)
	toT, _ := time.ParseInLocation("2006-01-02", to, h.Config.Location)
	toT = toT.AddDate(0, 0, 1)
	wishesA := h.Count(&model.Wish{}, "community_id = ? AND created_at >= ? AND created_at < ?", A, fromT.UTC(), toT.UTC())
	membersA := h.Count(&model.MemberReport{}, "community_id = ? AND status = 'approved'", A)
	quarters := int64(1)
	if q := func(t time.Time) int { return (int(t.In(h.Config.Location).Month())-1)/3 + t.Year()*4 }; q(fromT) != q(toT.Add(-time.Second)) {
		quarters = 2
	}
	cases := []struct {
		kind    string
		headers []string
		rows    int64
	}{
		{"hours", []string{"用户ID", "姓名", "手机号", "所在社区", "服务次数", "服务时长（分钟）", "服务时长（小时）"}, 2},
		{"obligations", []string{"季度", "姓名", "所在社区", "单位", "报到方式", "联系帮扶群众", "服务认领岗位", "参加公益活动", "办实事", "服务次数", "服务时长（分钟）", "是否达标"}, membersA * quarters},
		{"wishes", []string{"心愿编号", "所在社区", "标题", "类别", "状态", "提交时间", "发布时间", "认领时间", "完成时间", "评分", "时间线摘要"}, wishesA},
		{"volunteer-records", []string{"志愿者姓名", "证件类型", "证件号码", "联系电话", "服务项目名称", "服务日期", "服务时长（小时）", "组织单位"}, 3},
	}
	for _, c := range cases {
		rows := readXLSX(t, get(e.staff, c.kind, A))
		if fmt.Sprint(rows[0]) != fmt.Sprint(c.headers) {
			t.Errorf("%s headers: %v", c.kind, rows[0])
		}
		if int64(len(rows)-1) != c.rows {
			t.Errorf("%s: %d rows, want %d", c.kind, len(rows)-1, c.rows)
		}
		var n int64
		h.DB.Model(&model.AuditEntry{}).Where("action = ? AND actor_id = ? AND after LIKE ?", service.AuditExport, e.staff.UserID, "%\""+c.kind+"\"%").Count(&n)
		if n != 1 {
			t.Errorf("%s: %d audit entries", c.kind, n)
		}
	}
	// The district's hours: every volunteer with a record, A's and C's.
	if rows := readXLSX(t, get(e.admin, "hours", tree.District.ID)); len(rows)-1 != 3 {
		t.Errorf("district hours: %d rows", len(rows)-1)
	}
	before := h.Count(&model.AuditEntry{}, "")
	get(f.staffC, "wishes", A).Expect(t, 403, service.CodeForbidden)
	h.Do("GET", fmt.Sprintf("/admin/exports/wishes.xlsx?orgId=%d&from=2026-05-01&to=2026-04-01", A), nil, e.staff.AccessToken).Expect(t, 400, service.CodeInvalid)
	if n := h.Count(&model.AuditEntry{}, ""); n != before {
		t.Errorf("refused exports wrote %d audit entries", n-before)
	}
}
