package service

import (
	"context"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"linli/model"
)

// case_day_stats counts each day's timeline events per community,
// department, action and step (model.CaseDayStats). Every event adds to
// its row in the event's transaction; GET /admin/case-stats over whole days
// reads these rows instead of the events; RebuildCaseDayStats recomputes
// them from case_events.

// dayStatsOf returns the day-stat row one event adds.
func (s *CaseService) dayStatsOf(e *model.CaseEvent) model.CaseDayStats {
	row := model.CaseDayStats{Day: dayKey(e.CreatedAt, s.deps.Config.Location), CommunityID: e.CommunityID,
		Action: e.Action, Step: e.Step, StreetID: e.StreetID, DistrictID: e.DistrictID, N: 1}
	if e.DeptID != nil {
		row.DeptID = *e.DeptID
	}
	if e.OnTime != nil && *e.OnTime {
		row.OnTime = 1
	}
	if e.Rating != nil {
		row.RatingSum, row.Rated = int64(*e.Rating), 1
	}
	return row
}

// addDayStats adds event e to its day's row inside tx (one upsert).
func (s *CaseService) addDayStats(tx *gorm.DB, e *model.CaseEvent) error {
	row := s.dayStatsOf(e)
	return tx.Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "day"}, {Name: "community_id"}, {Name: "dept_id"}, {Name: "action"}, {Name: "step"}},
		DoUpdates: clause.Assignments(map[string]any{
			"n":          gorm.Expr("n + ?", row.N),
			"on_time":    gorm.Expr("on_time + ?", row.OnTime),
			"rating_sum": gorm.Expr("rating_sum + ?", row.RatingSum),
			"rated":      gorm.Expr("rated + ?", row.Rated),
		}),
	}).Create(&row).Error
}

// RebuildCaseDayStats recomputes case_day_stats from case_events — the
// backfill after a bulk load or a restore, run by `linli rebuild-stats` —
// reading the events in pages of id and replacing the table in one
// transaction. It returns the number of rows written and the database's
// error, if any.
func (s *CaseService) RebuildCaseDayStats(ctx context.Context) (int, error) {
	db := s.deps.DB.WithContext(ctx)
	type key struct {
		day             int
		community, dept int64
		action, step    string
	}
	rows := map[key]*model.CaseDayStats{}
	var last int64
	for {
		var evs []model.CaseEvent
		err := db.Select("id", "community_id", "street_id", "district_id", "dept_id", "action", "step", "on_time", "rating", "created_at").
			Where("id > ?", last).Order("id").Limit(5000).Find(&evs).Error
		if err != nil {
			return 0, err
		}
		for i := range evs {
			r := s.dayStatsOf(&evs[i])
			k := key{r.Day, r.CommunityID, r.DeptID, r.Action, r.Step}
			if have := rows[k]; have != nil {
				have.N += r.N
				have.OnTime += r.OnTime
				have.RatingSum += r.RatingSum
				have.Rated += r.Rated
			} else {
				rows[k] = &r
			}
		}
		if len(evs) < 5000 {
			break
		}
		last = evs[len(evs)-1].ID
	}
	out := make([]model.CaseDayStats, 0, len(rows))
	for _, r := range rows {
		out = append(out, *r)
	}
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Where("1 = 1").Delete(&model.CaseDayStats{}).Error; err != nil {
			return err
		}
		if len(out) == 0 {
			return nil
		}
		return tx.CreateInBatches(out, 500).Error
	})
	return len(out), err
}

// wholeDays returns the day keys [fromDay, toDay) of a period whose ends
// are midnights in loc (or open), and whether it is one: only then can the
// figures be read from case_day_stats. Open ends are 0.
func wholeDays(from, to *time.Time, loc *time.Location) (fromDay, toDay int, ok bool) {
	midnight := func(t time.Time) bool {
		l := t.In(loc)
		return l.Hour() == 0 && l.Minute() == 0 && l.Second() == 0 && l.Nanosecond() == 0
	}
	if from != nil {
		if !midnight(*from) {
			return 0, 0, false
		}
		fromDay = dayKey(*from, loc)
	}
	if to != nil {
		if !midnight(*to) {
			return 0, 0, false
		}
		toDay = dayKey(*to, loc)
	}
	return fromDay, toDay, true
}
