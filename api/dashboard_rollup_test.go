package api_test

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"testing"
	"time"

	"linli/internal/testutil"
	"linli/model"
	"linli/service"
)

// directCompliance counts, from the rows, a community's approved member
// reports and those meeting the current quarter's obligations (one of each
// kind; a daily member one record in each month) — what the dashboard reads
// from member_quarter_stats.
func directCompliance(t *testing.T, h *testutil.Harness, communityID int64) (members, compliant int64) {
	t.Helper()
	loc := h.Config.Location
	now := h.Clock.Now().In(loc)
	qs := time.Date(now.Year(), time.Month((int(now.Month())-1)/3*3+1), 1, 0, 0, 0, 0, loc)
	var reports []model.MemberReport
	h.DB.Where("community_id = ? AND status = 'approved'", communityID).Find(&reports)
	for _, r := range reports {
		var recs []model.ServiceRecord
		h.DB.Where("user_id = ? AND status = 'approved' AND occurred_at >= ? AND occurred_at < ?", r.UserID,
			qs.UTC(), qs.AddDate(0, 3, 0).UTC()).Find(&recs)
		kinds := map[model.ServiceKind]int{}
		months := [3]int{}
		for _, rec := range recs {
			kinds[rec.Kind]++
			months[(int(rec.OccurredAt.In(loc).Month())-1)%3]++
		}
		ok := kinds[model.ServiceContactHelp] >= 1 && kinds[model.ServicePostDuty] >= 1 &&
			kinds[model.ServicePublicActivity] >= 1 && kinds[model.ServicePracticalDeed] >= 1
		if r.Mode == model.ModeDaily {
			ok = ok && months[0] >= 1 && months[1] >= 1 && months[2] >= 1
		}
		members++
		if ok {
			compliant++
		}
	}
	return members, compliant
}

// sameRollups fails unless the running roll-ups equal a rebuild from the
// rows.
func sameRollups(t *testing.T, h *testutil.Harness) {
	t.Helper()
	var liveQ, rebuiltQ []model.MemberQuarterStats
	var liveW, rebuiltW []model.WishDayDurations
	// A member whose counts went back to zero keeps a row of zeros; a
	// rebuild writes none.
	nonzero := "contact_help + post_duty + public_activity + practical_deed + month1 + month2 + month3 <> 0"
	h.DB.Where(nonzero).Order("user_id, quarter").Find(&liveQ)
	h.DB.Order("community_id, day, kind, bucket").Find(&liveW)
	if err := h.Svc.Oversight.RebuildStats(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.DB.Where(nonzero).Order("user_id, quarter").Find(&rebuiltQ)
	h.DB.Order("community_id, day, kind, bucket").Find(&rebuiltW)
	if fmt.Sprint(liveQ) != fmt.Sprint(rebuiltQ) {
		t.Errorf("member_quarter_stats running %v, rebuilt %v", liveQ, rebuiltQ)
	}
	if fmt.Sprint(liveW) != fmt.Sprint(rebuiltW) {
		t.Errorf("wish_day_durations running %v, rebuilt %v", liveW, rebuiltW)
	}
}

// TestDashboardRollupsFollowTheServices: the roll-ups behind the dashboard's
// obligation compliance and wish medians change in the transactions of the
// services (a first claim, a completion, an approved service, an attendance
// withdrawn), equal a rebuild from the rows, and the dashboard's figures
// equal the counts made here.
func TestDashboardRollupsFollowTheServices(t *testing.T) {
	w := newWishWorld(t)
	h, tree := w.h, w.tree
	A := tree.CommunityA.ID
	// The world's homes and reports were written directly: the backfill.
	// w.member reports in centralized mode (no monthly requirement).
	if err := h.DB.Model(&model.MemberReport{}).Where("user_id = ?", w.member.UserID).Update("mode", model.ModeCentralized).Error; err != nil {
		t.Fatal(err)
	}
	if err := h.Svc.Oversight.RebuildStats(context.Background()); err != nil {
		t.Fatal(err)
	}
	loc := h.Config.Location
	today := h.Clock.Now().In(loc)
	query := fmt.Sprintf("&from=%s&to=%s", today.AddDate(0, 0, -1).Format("2006-01-02"), today.AddDate(0, 0, 2).Format("2006-01-02"))

	// Wish 1: claimed 3 hours after publication, completed 5 hours later.
	// Wish 2: claimed at once, released, claimed again by another member:
	// only the first claim counts.
	id1 := w.published(t, "修水管")
	id2 := w.published(t, "换灯泡")
	w.act(t, w.member.AccessToken, id2, "claim", nil, 200, 0)
	w.act(t, w.member.AccessToken, id2, "release", nil, 200, 0)
	w.act(t, w.member2.AccessToken, id2, "claim", nil, 200, 0)
	w.advance(3*time.Hour, &w.member, &w.poster, &w.staff, &w.member2)
	w.act(t, w.member.AccessToken, id1, "claim", nil, 200, 0)
	w.advance(5*time.Hour, &w.member, &w.poster, &w.staff)
	w.act(t, w.member.AccessToken, id1, "fulfil", map[string]any{"note": "已修好"}, 200, 0)
	w.act(t, w.poster.AccessToken, id1, "confirm", map[string]any{"rating": 5}, 200, 0)

	d := getDashboard(t, h, w.staff, A, query)
	var wishes []model.Wish
	h.DB.Where("id IN ?", []int64{id1, id2}).Find(&wishes)
	var toClaim, toComplete []float64
	for _, x := range wishes {
		toClaim = append(toClaim, x.FirstClaimedAt.Sub(*x.PublishedAt).Hours())
		if x.CompletedAt != nil {
			toComplete = append(toComplete, x.CompletedAt.Sub(*x.ClaimedAt).Hours())
		}
	}
	got := d.Total.Wishes
	if want := service.HistogramMedian(toClaim); got.MedianHoursToClaim == nil || want == nil || *got.MedianHoursToClaim != *want ||
		*want != 2 { // buckets [0,1) and [3,4): (0.5 + 3.5) / 2
		t.Errorf("median hours to claim %v, want %v (of %v)", got.MedianHoursToClaim, want, toClaim)
	}
	if want := service.HistogramMedian(toComplete); got.MedianHoursToComplete == nil || *got.MedianHoursToComplete != *want ||
		math.Abs(*want-toComplete[0]) > 0.5 {
		t.Errorf("median hours to complete %v, want %v (of %v)", got.MedianHoursToComplete, want, toComplete)
	}
	if got.Total != 2 || got.ByStatus["completed"] != 1 || got.ByStatus["claimed"] != 1 {
		t.Errorf("wishes %+v", got)
	}

	// Obligations: w.member has the wish's practical deed; approved services
	// of the other three kinds make them compliant; a daily member in A with
	// one public activity is not.
	f := &reportFixture{w: w.world, h: h, tree: tree, staffA: w.staff, staffB: w.world.Staff("rb", tree.CommunityB.ID),
		staffC: w.otherStaff}
	var post struct{ ID int64 }
	h.Do("POST", "/posts", map[string]any{"communityId": A, "name": "楼道长", "capacity": 5}, w.staff.AccessToken).Expect(t, 201, 0).Decode(t, &post)
	h.Do("POST", fmt.Sprintf("/posts/%d/claim", post.ID), nil, w.member.AccessToken).Expect(t, 200, 0)
	at := h.Clock.Now().Add(-time.Hour)
	f.record(t, w.member, A, "contact_help", at, nil)
	f.record(t, w.member, A, "post_duty", at, &post.ID)
	f.record(t, w.member, A, "public_activity", at, nil)
	daily := f.member(t, A, "daily", nil)
	f.record(t, daily, A, "public_activity", at, nil)
	// A service logged and rejected counts nowhere.
	var rejected struct{ ID int64 }
	h.Do("POST", "/services", map[string]any{"kind": "contact_help", "occurredAt": at.Format(time.RFC3339), "minutes": 30},
		daily.AccessToken).Expect(t, 201, 0).Decode(t, &rejected)
	h.Do("POST", fmt.Sprintf("/services/%d/reject", rejected.ID), map[string]any{"reason": "重复"}, w.staff.AccessToken).Expect(t, 200, 0)

	d = getDashboard(t, h, w.staff, A, query)
	members, compliant := directCompliance(t, h, A)
	if d.Total.Obligations.Members != members || d.Total.Obligations.Compliant != compliant || compliant != 1 || members < 2 {
		t.Errorf("compliance %+v, counted %d of %d", d.Total.Obligations, compliant, members)
	}
	sameRollups(t, h)
	// After the rebuild the dashboard says the same.
	again := getDashboard(t, h, w.staff, A, query).Total
	if again.Obligations != d.Total.Obligations || *again.Wishes.MedianHoursToClaim != *d.Total.Wishes.MedianHoursToClaim ||
		*again.Wishes.MedianHoursToComplete != *d.Total.Wishes.MedianHoursToComplete || again.Residents != d.Total.Residents {
		t.Errorf("after rebuild %+v, before %+v", again, d.Total)
	}
}

// deref shows a figure that may be nil.
func deref(f *float64) any {
	if f == nil {
		return nil
	}
	return *f
}

// TestDashboardRollupsFollowAttendance: an attendance's service record
// counts once in member_quarter_stats when approved, not at all after the
// volunteer is marked absent, once again when staff approve it after all,
// and a change of minutes alone changes no count; each state equals a
// rebuild.
func TestDashboardRollupsFollowAttendance(t *testing.T) {
	e := newActEnv(t)
	h := e.h
	if err := h.Svc.Oversight.RebuildStats(context.Background()); err != nil {
		t.Fatal(err)
	}
	u := e.volunteer("rollup")
	id := attended(t, e, 60, u)
	counted := func(want int) {
		t.Helper()
		var n int64
		h.DB.Model(&model.MemberQuarterStats{}).Where("user_id = ?", u.id).Select("COALESCE(SUM(public_activity), 0)").Scan(&n)
		if n != int64(want) {
			t.Fatalf("public activities counted %d, want %d", n, want)
		}
		sameRollups(t, h)
	}
	p := fmt.Sprintf("/activities/%d/attendances/%d/", id, u.id)
	h.Do("POST", p+"approve", map[string]any{"minutes": 60, "score": 5}, e.staff()).Expect(t, 200, 0)
	counted(1)
	h.Do("POST", p+"absent", nil, e.staff()).Expect(t, 200, 0)
	counted(0)
	h.Do("POST", p+"approve", map[string]any{"minutes": 60, "score": 3, "reason": "现场登记遗漏"}, e.staff()).Expect(t, 200, 0)
	counted(1)
	h.Do("POST", p+"approve", map[string]any{"minutes": 45, "score": 3, "reason": "时长更正"}, e.staff()).Expect(t, 200, 0)
	counted(1)
}

// TestDashboardRollupsUnderRacingApprovals: ten pending services of one
// member, each approved twice at once on two instances: ten approvals win,
// ten get 409 50006, and member_quarter_stats counts each record once.
func TestDashboardRollupsUnderRacingApprovals(t *testing.T) {
	f := newReportFixture(t)
	h := f.h
	A := f.tree.CommunityA.ID
	if err := h.Svc.Oversight.RebuildStats(context.Background()); err != nil {
		t.Fatal(err)
	}
	m := f.member(t, A, "centralized", nil)
	at := h.Clock.Now().Add(-time.Hour).Format(time.RFC3339)
	kinds := []string{"contact_help", "public_activity", "practical_deed"}
	ids := make([]int64, 10)
	for i := range ids {
		var r struct{ ID int64 }
		h.Do("POST", "/services", map[string]any{"kind": kinds[i%3], "occurredAt": at, "minutes": 30}, m.AccessToken).
			Expect(t, 201, 0).Decode(t, &r)
		ids[i] = r.ID
	}
	_, second := h.NewInstance()
	routers := []http.Handler{h.Router, second}
	res := testutil.Race(t, 20, func(i int) *testutil.Response {
		return send(routers[i%2], "POST", fmt.Sprintf("/services/%d/approve", ids[i/2]), f.staffA.AccessToken, nil)
	})
	won, refused := 0, 0
	for i, r := range res {
		switch {
		case r.Status == 200 && r.Code == 0:
			won++
		case r.Status == 409 && r.Code == service.CodeAlreadyReviewed:
			refused++
		default:
			t.Errorf("approval %d: HTTP %d code %d", i, r.Status, r.Code)
		}
	}
	if won != 10 || refused != 10 {
		t.Fatalf("%d approvals won, %d refused", won, refused)
	}
	var n int64
	h.DB.Model(&model.MemberQuarterStats{}).Where("user_id = ?", m.UserID).
		Select("COALESCE(SUM(contact_help + public_activity + practical_deed), 0)").Scan(&n)
	if n != 10 {
		t.Fatalf("%d records counted, want 10", n)
	}
	sameRollups(t, h)
}
