package service

import (
	"context"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"

	"linli/model"
)

// DashboardFigures are the figures of one org unit (a community, or the sum
// of the communities beneath a street or district). See
// docs/areas/oversight.md for where each comes from and how fresh it is.
type DashboardFigures struct {
	OrgID           int64               `json:"orgId"`
	Name            string              `json:"name"`
	Level           model.OrgLevel      `json:"level"`
	Communities     int                 `json:"communities"`
	Residents       int64               `json:"residents"`
	Volunteers      int64               `json:"volunteers"`
	ReportedMembers int64               `json:"reportedMembers"`
	ReportedUnits   int64               `json:"reportedUnits"`
	Wishes          DashboardWishes     `json:"wishes"`
	Activities      int64               `json:"activities"`
	Signups         int64               `json:"signups"`
	ApprovedMinutes int64               `json:"approvedMinutes"`
	ApprovedHours   float64             `json:"approvedHours"`
	Obligations     DashboardCompliance `json:"obligations"`
	Stars           map[string]int64    `json:"stars"`
	PointsIssued    int64               `json:"pointsIssued"`
	PointsRedeemed  int64               `json:"pointsRedeemed"`
	MallOrders      DashboardOrders     `json:"mallOrders"`
}

// DashboardWishes are the wishes posted in the period by their state now,
// with the median hours from publication to the first claim and from the
// claim to completion (nil when none got that far).
type DashboardWishes struct {
	Total                 int64            `json:"total"`
	ByStatus              map[string]int64 `json:"byStatus"`
	MedianHoursToClaim    *float64         `json:"medianHoursToClaim"`
	MedianHoursToComplete *float64         `json:"medianHoursToComplete"`
}

// DashboardCompliance is the 双报到 obligation compliance of the current
// quarter: reported members, those who meet every requirement, and the rate
// (0 without members).
type DashboardCompliance struct {
	Period    string  `json:"period"`
	Members   int64   `json:"members"`
	Compliant int64   `json:"compliant"`
	Rate      float64 `json:"rate"`
}

// DashboardOrders are the mall orders placed in the period that were not
// cancelled or expired, the picked-up ones among them, and their points.
type DashboardOrders struct {
	Orders int64 `json:"orders"`
	Picked int64 `json:"picked"`
	Points int64 `json:"points"`
}

// Dashboard is the dashboard of an org unit for a period: its figures and
// the same figures for each child unit (a district's streets, a street's
// communities; a community's figures are not split by grid).
type Dashboard struct {
	From     time.Time          `json:"from"`
	To       time.Time          `json:"to"`
	Total    DashboardFigures   `json:"total"`
	Children []DashboardFigures `json:"children"`
}

// commFigures collects the figures of one community.
type commFigures struct {
	DashboardFigures
	toClaim, toComplete map[int]int64 // duration histograms (bucket → wishes)
}

// Dashboard returns the figures of orgID (a district, street or community)
// and of each child unit for [from, to); nil bounds mean the current
// quarter. Figures of the ledger (approved minutes, points) count whole days
// of the configured zone from the day of from to the day before to. It
// returns 10001 for a grid or bounds out of order or more than 400 days
// apart, 10004 unless the caller is staff or admin of orgID or above and
// 10005 for an unknown org.
func (s *OversightService) Dashboard(ctx context.Context, actorID, orgID int64, from, to *time.Time) (*Dashboard, error) {
	db := s.deps.DB.WithContext(ctx)
	org, err := s.authz.RequireStaff(ctx, db, actorID, orgID)
	if err != nil {
		return nil, err
	}
	if org.Level == model.LevelGrid {
		return nil, invalid("看板仅支持区、街道和社区")
	}
	start, end, err := s.period(from, to)
	if err != nil {
		return nil, err
	}
	tree, err := s.orgs.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	// The communities beneath org, each under the child it belongs to.
	var ids []int64
	childOf := map[int64]int64{}
	for _, u := range tree {
		if u.Level != model.LevelCommunity || !strings.HasPrefix(u.Path, org.Path) {
			continue
		}
		ids = append(ids, u.ID)
		if u.ID != org.ID {
			if p := model.PathIDs(u.Path); len(p) > len(model.PathIDs(org.Path)) {
				childOf[u.ID] = p[len(model.PathIDs(org.Path))]
			}
		}
	}
	comm, err := s.communityFigures(ctx, ids, start, end)
	if err != nil {
		return nil, err
	}
	out := &Dashboard{From: start.In(s.deps.Config.Location), To: end.In(s.deps.Config.Location), Children: []DashboardFigures{}}
	out.Total = sumFigures(org, comm, ids)
	if org.Level != model.LevelCommunity {
		byChild := map[int64][]int64{}
		for _, id := range ids {
			byChild[childOf[id]] = append(byChild[childOf[id]], id)
		}
		for _, u := range tree {
			if u.ParentID != nil && *u.ParentID == org.ID {
				out.Children = append(out.Children, sumFigures(u, comm, byChild[u.ID]))
			}
		}
		sortFigures(out.Children)
	}
	// Every rating from 1 star up is shown, zero or not.
	for i := range len(out.Children) + 1 {
		f := &out.Total
		if i > 0 {
			f = &out.Children[i-1]
		}
		for n := 1; n <= len(s.deps.Config.TimeBank.StarMinutes); n++ {
			f.Stars[starKey(n)] += 0
		}
	}
	return out, nil
}

// period resolves the dashboard's bounds: the current quarter by default.
func (s *OversightService) period(from, to *time.Time) (time.Time, time.Time, error) {
	q := quarterOf(s.deps.Clock.Now(), s.deps.Config.Location)
	start, end := q.Start, q.End
	if from != nil {
		start = *from
	}
	if to != nil {
		end = *to
	}
	if !start.Before(end) || end.Sub(start) > 400*24*time.Hour {
		return time.Time{}, time.Time{}, invalid("from 需早于 to，且相隔不超过 400 天")
	}
	return start, end, nil
}

// sortFigures orders figures by org id.
func sortFigures(fs []DashboardFigures) {
	for i := 1; i < len(fs); i++ {
		for j := i; j > 0 && fs[j].OrgID < fs[j-1].OrgID; j-- {
			fs[j], fs[j-1] = fs[j-1], fs[j]
		}
	}
}

// sumFigures adds up the figures of the communities ids as those of org;
// medians are taken over the wishes of all of them.
func sumFigures(org *model.OrgUnit, comm map[int64]*commFigures, ids []int64) DashboardFigures {
	f := emptyFigures()
	f.OrgID, f.Name, f.Level, f.Communities = org.ID, org.Name, org.Level, len(ids)
	toClaim, toComplete := map[int]int64{}, map[int]int64{}
	for _, id := range ids {
		c := comm[id]
		if c == nil {
			continue
		}
		f.Residents += c.Residents
		f.Volunteers += c.Volunteers
		f.ReportedMembers += c.ReportedMembers
		f.ReportedUnits += c.ReportedUnits
		f.Wishes.Total += c.Wishes.Total
		for k, v := range c.Wishes.ByStatus {
			f.Wishes.ByStatus[k] += v
		}
		for b, n := range c.toClaim {
			toClaim[b] += n
		}
		for b, n := range c.toComplete {
			toComplete[b] += n
		}
		f.Activities += c.Activities
		f.Signups += c.Signups
		f.ApprovedMinutes += c.ApprovedMinutes
		f.Obligations.Period = c.Obligations.Period
		f.Obligations.Members += c.Obligations.Members
		f.Obligations.Compliant += c.Obligations.Compliant
		for k, v := range c.Stars {
			f.Stars[k] += v
		}
		f.PointsIssued += c.PointsIssued
		f.PointsRedeemed += c.PointsRedeemed
		f.MallOrders.Orders += c.MallOrders.Orders
		f.MallOrders.Picked += c.MallOrders.Picked
		f.MallOrders.Points += c.MallOrders.Points
	}
	f.Wishes.MedianHoursToClaim = histogramMedian(toClaim)
	f.Wishes.MedianHoursToComplete = histogramMedian(toComplete)
	f.ApprovedHours = float64(f.ApprovedMinutes*10/60) / 10
	if f.Obligations.Members > 0 {
		f.Obligations.Rate = float64(f.Obligations.Compliant*1000/f.Obligations.Members) / 1000
	}
	return f
}

func emptyFigures() DashboardFigures {
	f := DashboardFigures{Wishes: DashboardWishes{ByStatus: map[string]int64{}}, Stars: map[string]int64{}}
	for _, st := range model.WishStatuses() {
		f.Wishes.ByStatus[string(st)] = 0
	}
	return f
}

// communityFigures computes the figures of every community in ids. Its
// queries are independent and run side by side, each on its own
// connection, so the answer takes about as long as the slowest.
func (s *OversightService) communityFigures(ctx context.Context, ids []int64, start, end time.Time) (map[int64]*commFigures, error) {
	out := map[int64]*commFigures{}
	for _, id := range ids {
		c := &commFigures{DashboardFigures: emptyFigures(), toClaim: map[int]int64{}, toComplete: map[int]int64{}}
		c.OrgID = id
		out[id] = c
	}
	if len(ids) == 0 {
		return out, nil
	}
	db := s.deps.laggingRead(ctx) // a dashboard tolerates lag
	loc := s.deps.Config.Location
	q := quarterOf(s.deps.Clock.Now(), loc)
	var mu sync.Mutex
	type idN struct {
		CommunityID int64
		N           int64
		M           int64
	}
	// grouped runs a query of (community_id, n, m) rows and hands each
	// row to add under the lock.
	grouped := func(add func(c *commFigures, n, m int64), build func() *gorm.DB) func() error {
		return func() error {
			var rows []idN
			if err := build().Scan(&rows).Error; err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			for _, r := range rows {
				if c := out[r.CommunityID]; c != nil {
					add(c, r.N, r.M)
				}
			}
			return nil
		}
	}
	ended := []model.ActivityStatus{model.ActivityDraft, model.ActivityProposed, model.ActivityCancelled}
	jobs := []func() error{
		grouped(func(c *commFigures, n, m int64) { c.Residents, c.Volunteers = n, m }, func() *gorm.DB {
			return db.Model(&model.CommunityStats{}).Select("community_id, residents AS n, volunteers AS m").
				Where("community_id IN ?", ids)
		}),
		grouped(func(c *commFigures, n, _ int64) { c.ReportedMembers = n }, func() *gorm.DB {
			return db.Model(&model.MemberReport{}).Select("community_id, COUNT(*) AS n").
				Where("community_id IN ? AND status = ?", ids, model.ReviewApproved).Group("community_id")
		}),
		grouped(func(c *commFigures, n, _ int64) { c.ReportedUnits = n }, func() *gorm.DB {
			return db.Model(&model.Unit{}).Select("community_id, COUNT(*) AS n").
				Where("community_id IN ? AND status = ?", ids, model.ReviewApproved).Group("community_id")
		}),
		grouped(func(c *commFigures, n, m int64) { c.Activities, c.Signups = n, m }, func() *gorm.DB {
			return db.Model(&model.Activity{}).Select("community_id, COUNT(*) AS n, COALESCE(SUM(signed), 0) AS m").
				Where("community_id IN ? AND start_at >= ? AND start_at < ? AND status NOT IN ?", ids, start.UTC(), end.UTC(), ended).
				Group("community_id")
		}),
		grouped(func(c *commFigures, n, m int64) { c.ApprovedMinutes = n; c.PointsIssued = m }, func() *gorm.DB {
			return db.Model(&model.CommunityDayStats{}).
				Select("community_id, COALESCE(SUM(minutes_issued), 0) AS n, COALESCE(SUM(points_issued), 0) AS m").
				Where("community_id IN ? AND day >= ? AND day < ?", ids, dayKey(start, loc), dayKey(end, loc)).Group("community_id")
		}),
		grouped(func(c *commFigures, n, _ int64) { c.PointsRedeemed = n }, func() *gorm.DB {
			return db.Model(&model.CommunityDayStats{}).Select("community_id, COALESCE(SUM(points_redeemed), 0) AS n").
				Where("community_id IN ? AND day >= ? AND day < ?", ids, dayKey(start, loc), dayKey(end, loc)).Group("community_id")
		}),
		grouped(func(c *commFigures, n, _ int64) { c.Obligations.Members = n }, func() *gorm.DB { return approvedMembers(db, ids) }),
		grouped(func(c *commFigures, n, _ int64) { c.Obligations.Compliant = n }, func() *gorm.DB { return s.compliance(db, ids, q) }),
		grouped(func(c *commFigures, n, m int64) {
			c.MallOrders.Orders += n
			c.MallOrders.Points += m
		}, func() *gorm.DB {
			return db.Model(&model.MallOrder{}).Select("community_id, COUNT(*) AS n, COALESCE(SUM(points_total), 0) AS m").
				Where("community_id IN ? AND created_at >= ? AND created_at < ? AND status IN ?", ids, start.UTC(), end.UTC(),
					[]model.MallOrderStatus{model.OrderOpen, model.OrderPicked}).Group("community_id")
		}),
		grouped(func(c *commFigures, n, _ int64) { c.MallOrders.Picked = n }, func() *gorm.DB {
			return db.Model(&model.MallOrder{}).Select("community_id, COUNT(*) AS n").
				Where("community_id IN ? AND created_at >= ? AND created_at < ? AND status = ?", ids, start.UTC(), end.UTC(), model.OrderPicked).
				Group("community_id")
		}),
		func() error { return s.wishFigures(db, ids, start, end, out, &mu) },
		func() error { return s.starFigures(db, ids, out, &mu) },
	}
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for i, job := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = job()
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	for _, c := range out {
		c.Obligations.Period = q.String()
	}
	return out, nil
}

// wishFigures counts the wishes posted in [start, end) by community and
// state (grouped in SQL over the covering index ix_wish_dashboard) and adds
// up their times to claim and to complete from the histograms of
// wish_day_durations, whole days of the configured zone from the day of
// start to the day before end.
func (s *OversightService) wishFigures(db *gorm.DB, ids []int64, start, end time.Time, out map[int64]*commFigures, mu *sync.Mutex) error {
	var counts []struct {
		CommunityID int64
		Status      string
		N           int64
	}
	// MySQL's planner prefers ix_wish_community_list, whose order saves
	// the GROUP BY's sort but reads every wish of the communities (0.6 s
	// for a district's 200,000 against 0.1 s through ix_wish_dashboard).
	table := "wishes"
	if s.deps.Config.Database.Driver == "mysql" {
		table = "wishes FORCE INDEX (ix_wish_dashboard)"
	}
	err := db.Table(table).Select("community_id, status, COUNT(*) AS n").
		Where("community_id IN ? AND created_at >= ? AND created_at < ?", ids, start.UTC(), end.UTC()).
		Group("community_id, status").Scan(&counts).Error
	if err != nil {
		return err
	}
	loc := s.deps.Config.Location
	var hist []struct {
		CommunityID int64
		Kind        int
		Bucket      int
		N           int64
	}
	err = db.Model(&model.WishDayDurations{}).Select("community_id, kind, bucket, SUM(n) AS n").
		Where("community_id IN ? AND day >= ? AND day < ?", ids, dayKey(start, loc), dayKey(end, loc)).
		Group("community_id, kind, bucket").Scan(&hist).Error
	if err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	for _, r := range counts {
		if c := out[r.CommunityID]; c != nil { // nil: a community created since the tree was read
			c.Wishes.Total += r.N
			c.Wishes.ByStatus[r.Status] += r.N
		}
	}
	for _, r := range hist {
		c := out[r.CommunityID]
		switch {
		case c == nil:
		case r.Kind == durationToClaim:
			c.toClaim[r.Bucket] += r.N
		case r.Kind == durationToComplete:
			c.toComplete[r.Bucket] += r.N
		}
	}
	return nil
}

// approvedMembers counts the approved member reports of each community
// (ix_report_community_status, read from the index alone).
func approvedMembers(db *gorm.DB, ids []int64) *gorm.DB {
	return db.Model(&model.MemberReport{}).Select("community_id, COUNT(*) AS n").
		Where("community_id IN ? AND status = ?", ids, model.ReviewApproved).Group("community_id")
}

// compliance counts, per community, the approved members meeting quarter
// q's obligations, from each member's counts in member_quarter_stats. The
// quarter's rows that meet the four kinds' requirements are found in
// ix_mqs_quarter alone, and only those are joined to their reports (the
// daily mode's months, the community): a district's 50,000 members cost
// one index range, not 50,000 look-ups. When no requirement is above zero
// every approved member complies, with or without a row.
func (s *OversightService) compliance(db *gorm.DB, ids []int64, q quarter) *gorm.DB {
	r := s.deps.Config.Report.Obligations
	if r.ContactHelp <= 0 && r.PostDuty <= 0 && r.PublicActivity <= 0 && r.PracticalDeed <= 0 && r.DailyPerMonth <= 0 {
		return approvedMembers(db, ids)
	}
	return db.Table("member_quarter_stats AS qs").
		Joins("JOIN member_reports AS mr ON mr.user_id = qs.user_id AND mr.status = ?", model.ReviewApproved).
		Select("mr.community_id, COUNT(*) AS n").
		Where("qs.quarter = ? AND qs.contact_help >= ? AND qs.post_duty >= ? AND qs.public_activity >= ? AND qs.practical_deed >= ?",
			q.Year*10+q.Q, r.ContactHelp, r.PostDuty, r.PublicActivity, r.PracticalDeed).
		Where("mr.community_id IN ? AND (mr.mode <> ? OR (qs.month1 >= ? AND qs.month2 >= ? AND qs.month3 >= ?))",
			ids, model.ModeDaily, r.DailyPerMonth, r.DailyPerMonth, r.DailyPerMonth).
		Group("mr.community_id")
}

// starFigures counts the residents of each community by star rating: the
// minutes accounts whose earned minutes reach the first star, through
// ix_account_earned, joined to their owners' homes.
func (s *OversightService) starFigures(db *gorm.DB, ids []int64, out map[int64]*commFigures, mu *sync.Mutex) error {
	stars := s.deps.Config.TimeBank.StarMinutes
	if len(stars) == 0 {
		return nil
	}
	var rows []struct {
		CommunityID int64
		Earned      int64
	}
	err := db.Table("accounts AS a").Joins("JOIN users AS u ON u.id = a.owner_id").
		Select("u.home_community_id AS community_id, a.earned").
		Where("a.currency = ? AND a.owner_kind = ? AND a.earned >= ? AND u.home_community_id IN ?",
			model.CurrencyMinutes, model.OwnerUser, stars[0], ids).Scan(&rows).Error
	if err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	for _, r := range rows {
		c := out[r.CommunityID]
		if c == nil {
			continue
		}
		n := 0
		for _, t := range stars {
			if r.Earned >= t {
				n++
			}
		}
		c.Stars[starKey(n)]++
	}
	return nil
}

// starKey names a star rating in the stars map ("1".."10").
func starKey(n int) string {
	if n >= 10 {
		return "10"
	}
	return string(rune('0' + n))
}
