package service

import (
	"cmp"
	"context"
	"slices"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"linli/internal/ledger"
	"linli/model"
)

// The running figures the dashboard reads instead of counting large tables
// (see docs/areas/oversight.md): community_stats (residents and volunteers
// per community) and community_day_stats (what each community's ledger
// accounts issued and took in per day). Each changes in the transaction of
// the row it counts; RebuildStats recomputes both from the rows.

// addCommunityStats adds to a community's resident and volunteer counts
// inside tx (one upsert).
func addCommunityStats(tx *gorm.DB, communityID, residents, volunteers int64) error {
	if residents == 0 && volunteers == 0 {
		return nil
	}
	row := model.CommunityStats{CommunityID: communityID, Residents: residents, Volunteers: volunteers}
	return tx.Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "community_id"}},
		DoUpdates: clause.Assignments(map[string]any{
			"residents":  gorm.Expr("residents + ?", residents),
			"volunteers": gorm.Expr("volunteers + ?", volunteers),
		}),
	}).Create(&row).Error
}

// dayKey is the day of t in loc as yyyymmdd.
func dayKey(t time.Time, loc *time.Location) int {
	y, m, d := t.In(loc).Date()
	return y*10000 + int(m)*100 + d
}

// addDayStats adds to a community's figures of the day of at inside tx.
// In a transaction of Deps.tx the write is deferred to its end
// (beforeCommitBatch): the day's row, which every posting of the community
// updates, is locked only while the transaction commits, and the
// transaction's postings of one community and day cost one upsert. It
// returns the database's error when it writes at once.
func (d Deps) addDayStats(tx *gorm.DB, communityID int64, at time.Time, minutes, issued, redeemed int64) error {
	if minutes == 0 && issued == 0 && redeemed == 0 {
		return nil
	}
	row := model.CommunityDayStats{CommunityID: communityID, Day: dayKey(at, d.Config.Location),
		MinutesIssued: minutes, PointsIssued: issued, PointsRedeemed: redeemed}
	return beforeCommitBatch(tx, "community_day_stats", row, writeDayStats)
}

// writeDayStats adds rows to the figures of their community and day: one
// upsert per community and day, in that order (so that transactions
// touching several lock them in the same order), kept by appendLater. It
// returns the database's error.
func writeDayStats(tx *gorm.DB, rows []model.CommunityDayStats) error {
	type key struct {
		community int64
		day       int
	}
	sum := map[key]*model.CommunityDayStats{}
	var keys []key
	for _, r := range rows {
		k := key{r.CommunityID, r.Day}
		if s := sum[k]; s != nil {
			s.MinutesIssued += r.MinutesIssued
			s.PointsIssued += r.PointsIssued
			s.PointsRedeemed += r.PointsRedeemed
			continue
		}
		sum[k] = &r
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		return cmp.Or(cmp.Compare(a.community, b.community), cmp.Compare(a.day, b.day))
	})
	for _, k := range keys {
		row := sum[k]
		err := addCounts(tx, row, []string{"community_id", "day"}, map[string]any{
			"minutes_issued": row.MinutesIssued, "points_issued": row.PointsIssued, "points_redeemed": row.PointsRedeemed})
		if err != nil {
			return err
		}
	}
	return nil
}

// issuedStats returns the day-stat deltas of a posting of kind (credit or
// debit) moving amount of currency between a user and a community:
// credits issue minutes or points, debits take points in.
func issuedStats(kind string, currency model.Currency, amount int64) (minutes, issued, redeemed int64) {
	switch {
	case kind == ledger.KindCredit && currency == model.CurrencyMinutes:
		return amount, 0, 0
	case kind == ledger.KindCredit && currency == model.CurrencyPoints:
		return 0, amount, 0
	case kind == ledger.KindDebit && currency == model.CurrencyPoints:
		return 0, 0, amount
	}
	return 0, 0, 0
}

// RebuildStats recomputes community_stats from users and volunteer
// profiles, community_day_stats from the ledger, member_quarter_stats from
// the approved service records and wish_day_durations from the wishes —
// the backfill after a
// bulk load (scripts/seed) or a restore, run by `linli rebuild-stats`. It
// reads the ledger's community legs in pages of id, so memory stays flat,
// and replaces the tables in one transaction per pair. It returns the
// database's error, if any.
func (s *OversightService) RebuildStats(ctx context.Context) error {
	db := s.deps.DB.WithContext(ctx)
	type count struct {
		CommunityID int64
		N           int64
	}
	var residents, volunteers []count
	if err := db.Model(&model.User{}).Select("home_community_id AS community_id, COUNT(*) AS n").
		Where("home_community_id IS NOT NULL").Group("home_community_id").Scan(&residents).Error; err != nil {
		return err
	}
	if err := db.Table("volunteer_profiles AS v").Joins("JOIN users AS u ON u.id = v.user_id").
		Select("u.home_community_id AS community_id, COUNT(*) AS n").
		Where("u.home_community_id IS NOT NULL").Group("u.home_community_id").Scan(&volunteers).Error; err != nil {
		return err
	}
	stats := map[int64]*model.CommunityStats{}
	row := func(id int64) *model.CommunityStats {
		if stats[id] == nil {
			stats[id] = &model.CommunityStats{CommunityID: id}
		}
		return stats[id]
	}
	for _, c := range residents {
		row(c.CommunityID).Residents = c.N
	}
	for _, c := range volunteers {
		row(c.CommunityID).Volunteers = c.N
	}
	days, err := s.ledgerDays(ctx)
	if err != nil {
		return err
	}
	err = s.deps.tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Where("1 = 1").Delete(&model.CommunityStats{}).Error; err != nil {
			return err
		}
		if err := tx.Where("1 = 1").Delete(&model.CommunityDayStats{}).Error; err != nil {
			return err
		}
		rows := make([]model.CommunityStats, 0, len(stats))
		for _, r := range stats {
			rows = append(rows, *r)
		}
		if len(rows) > 0 {
			if err := tx.CreateInBatches(rows, 500).Error; err != nil {
				return err
			}
		}
		dayRows := make([]model.CommunityDayStats, 0, len(days))
		for _, r := range days {
			dayRows = append(dayRows, *r)
		}
		if len(dayRows) > 0 {
			return tx.CreateInBatches(dayRows, 500).Error
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.rebuildRollups(ctx)
}

type dayStatsKey struct {
	community int64
	day       int
}

// ledgerDays sums the community legs of the ledger by community and day,
// reading the entries in ranges of 20,000 ids (a range of the primary key
// each, whatever plan the database would pick for a join with LIMIT).
func (s *OversightService) ledgerDays(ctx context.Context) (map[dayStatsKey]*model.CommunityDayStats, error) {
	db := s.deps.DB.WithContext(ctx)
	out := map[dayStatsKey]*model.CommunityDayStats{}
	var maxID int64
	if err := db.Model(&model.LedgerEntry{}).Select("COALESCE(MAX(id), 0)").Scan(&maxID).Error; err != nil {
		return nil, err
	}
	const span = 20000
	for last := int64(0); last < maxID; last += span {
		var rows []struct {
			ID          int64
			Amount      int64
			Currency    model.Currency
			CreatedAt   time.Time
			CommunityID int64
			Kind        string
			OrigKind    *string
		}
		err := db.Table("ledger_entries AS e").
			Joins("JOIN accounts AS a ON a.id = e.account_id").
			Joins("JOIN ledger_txns AS t ON t.id = e.txn_id").
			Joins("LEFT JOIN ledger_txns AS o ON o.id = t.reverses_id").
			Select("e.id, e.amount, e.currency, e.created_at, a.owner_id AS community_id, t.kind, o.kind AS orig_kind").
			Where("e.id > ? AND e.id <= ? AND a.owner_kind = ?", last, last+span, model.OwnerCommunity).
			Scan(&rows).Error
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			// The community's leg: a credit takes from it (negative), a
			// debit pays it. A reversal's leg has the opposite sign of the
			// original's, so read as the original's kind it undoes its
			// figure.
			kind := r.Kind
			if r.Kind == ledger.KindReversal && r.OrigKind != nil {
				kind = *r.OrigKind
			}
			amount := r.Amount
			if kind == ledger.KindCredit {
				amount = -amount
			}
			m, i, rd := issuedStats(kind, r.Currency, amount)
			if m == 0 && i == 0 && rd == 0 {
				continue
			}
			k := dayStatsKey{r.CommunityID, dayKey(r.CreatedAt, s.deps.Config.Location)}
			d := out[k]
			if d == nil {
				d = &model.CommunityDayStats{CommunityID: k.community, Day: k.day}
				out[k] = d
			}
			d.MinutesIssued += m
			d.PointsIssued += i
			d.PointsRedeemed += rd
		}
	}
	return out, nil
}

// addCounts inserts row, a running figure keyed by the columns keys, or,
// when that key exists, adds to its counts (column → amount): one upsert,
// kept for the end of the transaction (appendLater). It returns the
// database's error.
func addCounts(tx *gorm.DB, row any, keys []string, adds map[string]any) error {
	cols := make([]clause.Column, len(keys))
	for i, k := range keys {
		cols[i] = clause.Column{Name: k}
	}
	set := make(map[string]any, len(adds))
	for col, n := range adds {
		set[col] = gorm.Expr(col+" + ?", n)
	}
	return appendLater(tx, func(db *gorm.DB) *gorm.DB {
		return db.Clauses(clause.OnConflict{Columns: cols, DoUpdates: clause.Assignments(set)}).Create(row)
	})
}
