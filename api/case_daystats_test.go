package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"testing"
	"time"

	"linli/internal/testutil"
	"linli/model"
	"linli/service"
)

// TestCaseDayStatsEqualEvents: after a mix of every step (dispatch to two
// departments, report-ins, a return, an escalation, ratings, a reopening,
// overdue sweeps and an automatic close), the day rows kept with the events
// equal the events counted directly, and GET /admin/case-stats over whole
// days (read from the day rows) answers what it answers over the same
// period given to the second (read from the events), for the district, the
// street, a community and a department; a rebuild from the events gives
// the same rows.
func TestCaseDayStatsEqualEvents(t *testing.T) {
	f := newCaseFixture(t)
	h := f.h
	member := f.w.Member("member", f.tree.CommunityA.ID)
	distDept, dd := f.department(t, f.districtA, f.tree.District.ID, "区住建委")
	sh := h.Config.Location
	first := h.Clock.Now().In(sh)

	a := f.report(t, f.reporter, nil)
	f.act(t, a.ID, "accept", nil, f.staffA, 200, 0)
	f.act(t, a.ID, "whistle", map[string]any{"reason": "需要部门处理"}, f.staffA, 200, 0)
	f.act(t, a.ID, "dispatch", map[string]any{"departmentIds": []int64{f.dept1, f.dept2}, "leadId": f.dept1}, f.officer, 200, 0)
	f.act(t, a.ID, "report-in", nil, f.d2, 200, 0)
	f.act(t, a.ID, "report-in", nil, f.d1, 200, 0)
	f.act(t, a.ID, "resolve", map[string]any{"note": "已修"}, f.d1, 200, 0)
	f.act(t, a.ID, "rate", map[string]any{"rating": 4}, f.reporter, 200, 0)

	b := f.report(t, f.other, map[string]any{"category": "环境卫生"})
	f.act(t, b.ID, "accept", nil, f.staffA, 200, 0)
	f.act(t, b.ID, "assign", map[string]any{"userId": member.UserID}, f.staffA, 200, 0)
	f.act(t, b.ID, "resolve", map[string]any{"note": "清理完毕"}, member, 200, 0)
	f.act(t, b.ID, "reopen", map[string]any{"reason": "又脏了"}, f.other, 200, 0)
	f.act(t, b.ID, "resolve", map[string]any{"note": "再次清理"}, member, 200, 0)

	c := f.report(t, f.reporter, nil)
	f.act(t, c.ID, "whistle", map[string]any{"reason": "需要协调"}, f.staffA, 200, 0)
	f.act(t, c.ID, "dispatch", map[string]any{"departmentIds": []int64{f.dept1}, "leadId": f.dept1}, f.officer, 200, 0)
	f.act(t, c.ID, "return", map[string]any{"reason": "不属于本部门"}, f.d1, 200, 0)
	f.act(t, c.ID, "escalate", nil, f.officer, 200, 0)
	f.act(t, c.ID, "dispatch", map[string]any{"departmentIds": []int64{distDept}, "leadId": distDept}, f.districtA, 200, 0)
	f.act(t, c.ID, "report-in", nil, dd, 200, 0)

	d := f.report(t, f.reporter, map[string]any{"communityId": f.tree.CommunityB.ID})
	e := f.report(t, f.other, nil)
	f.act(t, e.ID, "merge", map[string]any{"intoId": d.ID}, f.staffA, 409, 70006)
	f.act(t, e.ID, "merge", map[string]any{"intoId": a.ID}, f.staffA, 409, 70006)
	_ = e

	// A day later the sweep escalates the overdue steps; a week later it
	// closes the unrated case: events on later days.
	f.advance(26*time.Hour, &member, &dd)
	if _, err := h.Svc.Cases.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.advance(h.Config.Case.RatingWindow+time.Hour, &member, &dd)
	if _, err := h.Svc.Cases.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	last := h.Clock.Now().In(sh)

	compareRows := func(when string) {
		t.Helper()
		type group struct {
			CommunityID, DeptID int64
			Action, Step        string
			N, OnTime, Rated    int64
			RatingSum           int64
		}
		var fromDays, fromEvents []group
		if err := h.DB.Model(&model.CaseDayStats{}).Where("district_id = ?", f.tree.District.ID).
			Select("community_id, dept_id, action, step, SUM(n) AS n, SUM(on_time) AS on_time, SUM(rated) AS rated, SUM(rating_sum) AS rating_sum").
			Group("community_id, dept_id, action, step").Order("community_id, dept_id, action, step").Scan(&fromDays).Error; err != nil {
			t.Fatal(err)
		}
		if err := h.DB.Model(&model.CaseEvent{}).Where("district_id = ?", f.tree.District.ID).
			Select("community_id, COALESCE(dept_id, 0) AS dept_id, action, step, COUNT(*) AS n, " +
				"SUM(CASE WHEN on_time THEN 1 ELSE 0 END) AS on_time, COUNT(rating) AS rated, COALESCE(SUM(rating), 0) AS rating_sum").
			Group("community_id, COALESCE(dept_id, 0), action, step").Order("community_id, dept_id, action, step").Scan(&fromEvents).Error; err != nil {
			t.Fatal(err)
		}
		if len(fromEvents) < 10 || fmt.Sprint(fromDays) != fmt.Sprint(fromEvents) {
			t.Fatalf("%s: day rows\n%v\nevents\n%v", when, fromDays, fromEvents)
		}
	}
	compareAPI := func(when string) {
		t.Helper()
		days := fmt.Sprintf("from=%s&to=%s", first.Format(time.DateOnly), last.Format(time.DateOnly))
		from := time.Date(first.Year(), first.Month(), first.Day(), 0, 0, 1, 0, sh)
		to := time.Date(last.Year(), last.Month(), last.Day()+1, 0, 0, -1, 0, sh)
		exact := fmt.Sprintf("from=%s&to=%s", url.QueryEscape(from.Format(time.RFC3339)), url.QueryEscape(to.Format(time.RFC3339)))
		for _, org := range []struct {
			id  int64
			who testutil.Login
		}{{f.tree.District.ID, f.districtA}, {f.tree.Street.ID, f.officer}, {f.tree.CommunityA.ID, f.staffA}, {f.dept1, f.d1}, {distDept, dd}} {
			var byDay, byEvent service.CaseStats
			h.Do("GET", fmt.Sprintf("/admin/case-stats?orgId=%d&%s", org.id, days), nil, org.who.AccessToken).Expect(t, 200, 0).Decode(t, &byDay)
			h.Do("GET", fmt.Sprintf("/admin/case-stats?orgId=%d&%s", org.id, exact), nil, org.who.AccessToken).Expect(t, 200, 0).Decode(t, &byEvent)
			x, _ := json.Marshal([]any{byDay.Summary, byDay.Communities, byDay.Departments})
			y, _ := json.Marshal([]any{byEvent.Summary, byEvent.Communities, byEvent.Departments})
			if string(x) != string(y) {
				t.Fatalf("%s, org %d: whole days\n%s\nto the second\n%s", when, org.id, x, y)
			}
			if byDay.Summary.Received == 0 && org.id != f.dept1 && org.id != distDept {
				t.Fatalf("%s, org %d: nothing counted: %s", when, org.id, x)
			}
		}
	}
	compareRows("kept with the events")
	compareAPI("kept with the events")
	if err := h.DB.Where("district_id = ?", f.tree.District.ID).Delete(&model.CaseDayStats{}).Error; err != nil {
		t.Fatal(err)
	}
	if _, err := h.Svc.Cases.RebuildCaseDayStats(context.Background()); err != nil {
		t.Fatal(err)
	}
	compareRows("rebuilt")
	compareAPI("rebuilt")
}
