package service

import (
	"context"
	"slices"
	"time"

	"gorm.io/gorm"

	"linli/model"
)

// CaseFigures are the year's-review figures of one unit (or of all),
// counted from the timeline events: reports received, responses (accepted
// or whistled by the community) and how many within the accept deadline,
// resolutions and how many on time, steps that ran overdue, ratings and
// their average, whistles, and for departments dispatches, report-ins
// (the lead's on time or not) and returns. Rates are nil when nothing was
// counted.
type CaseFigures struct {
	Received         int      `json:"received"`
	Responded        int      `json:"responded"`
	RespondedOnTime  int      `json:"respondedOnTime"`
	ResponseRate     *float64 `json:"responseRate"`
	Resolved         int      `json:"resolved"`
	ResolvedOnTime   int      `json:"resolvedOnTime"`
	OnTimeRate       *float64 `json:"onTimeRate"`
	Overdue          int      `json:"overdue"`
	Rated            int      `json:"rated"`
	AvgRating        *float64 `json:"avgRating"`
	Whistled         int      `json:"whistled"`
	Dispatched       int      `json:"dispatched"`
	ReportedIn       int      `json:"reportedIn"`
	ReportedInOnTime int      `json:"reportedInOnTime"`
	Returned         int      `json:"returned"`
	ratingSum        int
}

// CaseCategoryCount counts the cases of one category by their state now.
type CaseCategoryCount struct {
	Category string           `json:"category"`
	Total    int64            `json:"total"`
	ByStatus map[string]int64 `json:"byStatus"`
}

// CaseUnitFigures are the figures of one community or department.
type CaseUnitFigures struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	CaseFigures
}

// CaseStats is GET /admin/case-stats.
type CaseStats struct {
	OrgID       int64               `json:"orgId"`
	From        *time.Time          `json:"from,omitempty"`
	To          *time.Time          `json:"to,omitempty"`
	Total       int64               `json:"total"`
	ByStatus    map[string]int64    `json:"byStatus"`
	ByCategory  []CaseCategoryCount `json:"byCategory"`
	Summary     CaseFigures         `json:"summary"`
	Communities []CaseUnitFigures   `json:"communities"`
	Departments []CaseUnitFigures   `json:"departments"`
}

// add counts one group of events into f.
func (f *CaseFigures) add(action, step string, n, onTime, ratingSum, rated int) {
	switch {
	case action == caseActCreate:
		f.Received += n
	case action == caseActOverdue:
		f.Overdue += n
	case action == caseActRate:
		f.Rated += rated
		f.ratingSum += ratingSum
	case action == caseActDispatch:
		f.Dispatched += n
	case action == caseActReturn:
		f.Returned += n
	}
	switch {
	case step == model.StepAccept && action != caseActOverdue:
		f.Responded += n
		f.RespondedOnTime += onTime
	case (step == model.StepResolve || step == model.StepDeptResolve) && action == caseActResolve:
		f.Resolved += n
		f.ResolvedOnTime += onTime
	case step == model.StepReportIn && action == caseActReportIn:
		f.ReportedInOnTime += onTime
	}
	if action == caseActReportIn {
		f.ReportedIn += n
	}
	if action == caseActWhistle {
		f.Whistled += n
	}
}

// finish computes the rates.
func (f *CaseFigures) finish() {
	ratio := func(a, b int) *float64 {
		if b == 0 {
			return nil
		}
		r := float64(a) / float64(b)
		return &r
	}
	f.ResponseRate = ratio(f.RespondedOnTime, f.Responded)
	f.OnTimeRate = ratio(f.ResolvedOnTime, f.Resolved)
	f.AvgRating = ratio(f.ratingSum, f.Rated)
}

// Stats returns the figures of the cases of a community, street, district
// or department for the year's review: cases reported in [from, to) by
// category and state, and from the timeline events of [from, to) the
// response rate, on-time resolution rate, overdue steps and average
// satisfaction, in all, per community and per department. Over whole days
// (dates, or open ends) the figures come from case_day_stats, else from
// the events themselves; both give the same numbers. It returns
// 10001 for a grid, 10004 unless the caller is staff of the unit (or
// above; dept_staff for a department) and 10005 for an unknown unit.
func (s *CaseService) Stats(ctx context.Context, actorID, orgID int64, from, to *time.Time) (*CaseStats, error) {
	db := s.deps.DB.WithContext(ctx)
	org, err := loadOrg(ctx, db, orgID)
	if err != nil {
		return nil, err
	}
	var col string
	switch org.Level {
	case model.LevelCommunity:
		col = "community_id"
	case model.LevelStreet:
		col = "street_id"
	case model.LevelDistrict:
		col = "district_id"
	case model.LevelDepartment:
		col = "dept_id"
	default:
		return nil, invalid("请选择社区、街道、区或职能部门")
	}
	if _, err := s.requireListAccess(ctx, db, actorID, org, org.Level == model.LevelDepartment); err != nil {
		return nil, err
	}
	db = s.deps.laggingRead(ctx) // the access check above read the primary; the figures tolerate lag
	out := &CaseStats{OrgID: orgID, From: from, To: to, ByStatus: map[string]int64{},
		ByCategory: []CaseCategoryCount{}, Communities: []CaseUnitFigures{}, Departments: []CaseUnitFigures{}}
	// The bounds go in the zone the rows' times were written in (the
	// clock's): SQLite compares stored times as text.
	stored := s.deps.Clock.Now().Location()
	span := func(q *gorm.DB) *gorm.DB {
		if from != nil {
			q = q.Where("created_at >= ?", from.In(stored))
		}
		if to != nil {
			q = q.Where("created_at < ?", to.In(stored))
		}
		return q
	}
	// Cases by category and state: a department's are those dispatched to it.
	cq := db.Model(&model.Case{})
	if col == "dept_id" {
		cq = cq.Where("id IN (?)", db.Session(&gorm.Session{NewDB: true}).Model(&model.CaseDept{}).Select("case_id").Where("dept_id = ?", orgID))
	} else {
		cq = cq.Where(col+" = ?", orgID)
	}
	var counts []struct {
		Category string
		Status   string
		N        int64
	}
	if err := span(cq).Select("category, status, COUNT(*) AS n").Group("category, status").Scan(&counts).Error; err != nil {
		return nil, err
	}
	byCat := map[string]*CaseCategoryCount{}
	for _, r := range counts {
		cc := byCat[r.Category]
		if cc == nil {
			cc = &CaseCategoryCount{Category: r.Category, ByStatus: map[string]int64{}}
			byCat[r.Category] = cc
		}
		cc.Total += r.N
		cc.ByStatus[r.Status] += r.N
		out.ByStatus[r.Status] += r.N
		out.Total += r.N
	}
	for _, cat := range s.deps.Config.Case.CategoryList {
		if cc := byCat[cat]; cc != nil {
			out.ByCategory = append(out.ByCategory, *cc)
			delete(byCat, cat)
		}
	}
	for _, cc := range byCat { // categories no longer configured
		out.ByCategory = append(out.ByCategory, *cc)
	}
	// The figures: one grouped read of the day rows for whole days, else
	// of the events.
	var groups []struct {
		CommunityID int64
		DeptID      *int64
		Action      string
		Step        string
		N           int
		OnTime      int
		RatingSum   int
		Rated       int
	}
	if fromDay, toDay, ok := wholeDays(from, to, s.deps.Config.Location); ok {
		q := db.Model(&model.CaseDayStats{}).Where(col+" = ?", orgID)
		if fromDay != 0 {
			q = q.Where("day >= ?", fromDay)
		}
		if toDay != 0 {
			q = q.Where("day < ?", toDay)
		}
		err = q.Select("community_id, CASE WHEN dept_id = 0 THEN NULL ELSE dept_id END AS dept_id, action, step, " +
			"SUM(n) AS n, SUM(on_time) AS on_time, SUM(rating_sum) AS rating_sum, SUM(rated) AS rated").
			Group("community_id, dept_id, action, step").Scan(&groups).Error
	} else {
		err = span(db.Model(&model.CaseEvent{}).Where(col+" = ?", orgID)).
			Select("community_id, dept_id, action, step, COUNT(*) AS n, " +
				"SUM(CASE WHEN on_time THEN 1 ELSE 0 END) AS on_time, " +
				"COALESCE(SUM(rating), 0) AS rating_sum, COUNT(rating) AS rated").
			Group("community_id, dept_id, action, step").Scan(&groups).Error
	}
	if err != nil {
		return nil, err
	}
	communities, depts := map[int64]*CaseFigures{}, map[int64]*CaseFigures{}
	figures := func(m map[int64]*CaseFigures, id int64) *CaseFigures {
		if m[id] == nil {
			m[id] = &CaseFigures{}
		}
		return m[id]
	}
	for _, g := range groups {
		out.Summary.add(g.Action, g.Step, g.N, g.OnTime, g.RatingSum, g.Rated)
		figures(communities, g.CommunityID).add(g.Action, g.Step, g.N, g.OnTime, g.RatingSum, g.Rated)
		if g.DeptID != nil {
			figures(depts, *g.DeptID).add(g.Action, g.Step, g.N, g.OnTime, g.RatingSum, g.Rated)
		}
	}
	out.Summary.finish()
	if out.Communities, err = s.unitFigures(ctx, communities); err != nil {
		return nil, err
	}
	if out.Departments, err = s.unitFigures(ctx, depts); err != nil {
		return nil, err
	}
	return out, nil
}

// unitFigures lists the figures of m in id order with the units' names.
func (s *CaseService) unitFigures(ctx context.Context, m map[int64]*CaseFigures) ([]CaseUnitFigures, error) {
	ids := make([]int64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make([]CaseUnitFigures, 0, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	names, err := s.orgs.Names(ctx, ids...)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		f := m[id]
		f.finish()
		out = append(out, CaseUnitFigures{ID: id, Name: names[id], CaseFigures: *f})
	}
	return out, nil
}
