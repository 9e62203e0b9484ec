package service

import (
	"context"
	"math"
	"sort"
	"time"

	"gorm.io/gorm"

	"linli/model"
)

// The dashboard's roll-ups of issue 13 (see docs/areas/oversight.md):
// member_quarter_stats, each member's approved records per quarter, kind and
// month, for the obligation compliance; wish_day_durations, histograms of
// the wishes' times to claim and to complete per community and day posted,
// for the medians. Each changes in the transaction of the row it counts;
// RebuildStats recomputes both.

// quarterKey returns the member_quarter_stats key of t's quarter in loc
// (year*10+q, e.g. 20264) and the index (0–2) of t's month in it.
func quarterKey(t time.Time, loc *time.Location) (int, int) {
	t = t.In(loc)
	m := int(t.Month()) - 1
	return t.Year()*10 + m/3 + 1, m % 3
}

// recordStatsRow is the member_quarter_stats row that delta approved
// records of kind at a moment add up to.
func recordStatsRow(userID int64, kind model.ServiceKind, at time.Time, delta int, loc *time.Location) model.MemberQuarterStats {
	q, month := quarterKey(at, loc)
	row := model.MemberQuarterStats{UserID: userID, Quarter: q}
	switch kind {
	case model.ServiceContactHelp:
		row.ContactHelp = delta
	case model.ServicePostDuty:
		row.PostDuty = delta
	case model.ServicePublicActivity:
		row.PublicActivity = delta
	case model.ServicePracticalDeed:
		row.PracticalDeed = delta
	}
	switch month {
	case 0:
		row.Month1 = delta
	case 1:
		row.Month2 = delta
	default:
		row.Month3 = delta
	}
	return row
}

// addRecordStats adds delta (1 when a record becomes approved, -1 when an
// approval is taken back) to the member's counts of the record's quarter
// inside tx: one upsert, kept for the end of the transaction
// (appendLater). It returns the database's error.
func (d Deps) addRecordStats(tx *gorm.DB, userID int64, kind model.ServiceKind, at time.Time, delta int) error {
	row := recordStatsRow(userID, kind, at, delta, d.Config.Location)
	return addCounts(tx, &row, []string{"user_id", "quarter"}, map[string]any{
		"contact_help": row.ContactHelp, "post_duty": row.PostDuty, "public_activity": row.PublicActivity,
		"practical_deed": row.PracticalDeed, "month1": row.Month1, "month2": row.Month2, "month3": row.Month3})
}

// Kinds of wish_day_durations.
const (
	durationToClaim    = 1 // publication → first claim
	durationToComplete = 2 // (last) claim → completion
)

// Duration buckets: one hour wide below 48 hours, one day wide up to 90
// days, then one bucket for anything longer.
const (
	hourBuckets   = 48
	dayBuckets    = 88
	lastBucket    = hourBuckets + dayBuckets
	lastBucketLow = hourBuckets + 24*dayBuckets // 2160 hours, 90 days
)

// durationBucket returns the histogram bucket of a duration in hours
// (negative durations count as 0).
func durationBucket(hours float64) int {
	switch {
	case hours < 0 || math.IsNaN(hours):
		return 0
	case hours < hourBuckets:
		return int(hours)
	case hours < lastBucketLow:
		return hourBuckets + int((hours-hourBuckets)/24)
	}
	return lastBucket
}

// bucketValue is the value a bucket stands for in a median: its middle (the
// lower bound for the open last bucket).
func bucketValue(b int) float64 {
	switch {
	case b < hourBuckets:
		return float64(b) + 0.5
	case b < lastBucket:
		return hourBuckets + float64(b-hourBuckets)*24 + 12
	}
	return lastBucketLow
}

// histogramMedian returns the median of the durations counted in a
// histogram (bucket → count), each taken as its bucket's value; nil when it
// is empty. For an even count it is the mean of the two middle values, as a
// median of the raw durations would be.
func histogramMedian(h map[int]int64) *float64 {
	var n int64
	buckets := make([]int, 0, len(h))
	for b, c := range h {
		if c > 0 {
			n += c
			buckets = append(buckets, b)
		}
	}
	if n == 0 {
		return nil
	}
	sort.Ints(buckets)
	// at returns the value of the i-th duration (0-based) in order.
	at := func(i int64) float64 {
		for _, b := range buckets {
			if i < h[b] {
				return bucketValue(b)
			}
			i -= h[b]
		}
		return bucketValue(buckets[len(buckets)-1])
	}
	m := at(n / 2)
	if n%2 == 0 {
		m = (at(n/2-1) + m) / 2
	}
	m = math.Round(m*10) / 10
	return &m
}

// HistogramMedian returns the median the dashboard reports for these
// durations in hours: each put in its bucket, the median of the buckets'
// values (nil for none). Tests compare the dashboard with it.
func HistogramMedian(hours []float64) *float64 {
	h := map[int]int64{}
	for _, x := range hours {
		h[durationBucket(x)]++
	}
	return histogramMedian(h)
}

// addWishDuration counts one duration of kind for a wish of communityID
// posted at created, inside tx (one upsert, kept for the end of the
// transaction by appendLater). It returns the database's error.
func (d Deps) addWishDuration(tx *gorm.DB, communityID int64, created time.Time, kind int, dur time.Duration) error {
	row := model.WishDayDurations{CommunityID: communityID, Day: dayKey(created, d.Config.Location), Kind: kind,
		Bucket: durationBucket(dur.Hours()), N: 1}
	return addCounts(tx, &row, []string{"community_id", "day", "kind", "bucket"}, map[string]any{"n": 1})
}

// rebuildRollups recomputes member_quarter_stats from the approved service
// records and wish_day_durations from the wishes, each read in ranges of
// 20,000 ids, and replaces both tables in one transaction. It returns the
// database's error.
func (s *OversightService) rebuildRollups(ctx context.Context) error {
	db := s.deps.DB.WithContext(ctx)
	loc := s.deps.Config.Location
	const span = 20000
	type memberKey struct {
		user    int64
		quarter int
	}
	members := map[memberKey]*model.MemberQuarterStats{}
	var maxID int64
	if err := db.Model(&model.ServiceRecord{}).Select("COALESCE(MAX(id), 0)").Scan(&maxID).Error; err != nil {
		return err
	}
	for last := int64(0); last < maxID; last += span {
		var rows []struct {
			UserID     int64
			Kind       model.ServiceKind
			OccurredAt time.Time
		}
		if err := db.Model(&model.ServiceRecord{}).Select("user_id, kind, occurred_at").
			Where("id > ? AND id <= ? AND status = ?", last, last+span, model.RecordApproved).Scan(&rows).Error; err != nil {
			return err
		}
		for _, r := range rows {
			add := recordStatsRow(r.UserID, r.Kind, r.OccurredAt, 1, loc)
			k := memberKey{r.UserID, add.Quarter}
			m := members[k]
			if m == nil {
				m = &model.MemberQuarterStats{UserID: r.UserID, Quarter: add.Quarter}
				members[k] = m
			}
			m.ContactHelp += add.ContactHelp
			m.PostDuty += add.PostDuty
			m.PublicActivity += add.PublicActivity
			m.PracticalDeed += add.PracticalDeed
			m.Month1 += add.Month1
			m.Month2 += add.Month2
			m.Month3 += add.Month3
		}
	}
	durations := map[model.WishDayDurations]int64{} // key with N 0
	if err := db.Model(&model.Wish{}).Select("COALESCE(MAX(id), 0)").Scan(&maxID).Error; err != nil {
		return err
	}
	for last := int64(0); last < maxID; last += span {
		var rows []struct {
			CommunityID    int64
			CreatedAt      time.Time
			PublishedAt    *time.Time
			FirstClaimedAt *time.Time
			ClaimedAt      *time.Time
			CompletedAt    *time.Time
		}
		if err := db.Model(&model.Wish{}).
			Select("community_id, created_at, published_at, first_claimed_at, claimed_at, completed_at").
			Where("id > ? AND id <= ? AND first_claimed_at IS NOT NULL", last, last+span).Scan(&rows).Error; err != nil {
			return err
		}
		for _, r := range rows {
			day := dayKey(r.CreatedAt, loc)
			if r.PublishedAt != nil && r.FirstClaimedAt != nil {
				durations[model.WishDayDurations{CommunityID: r.CommunityID, Day: day, Kind: durationToClaim,
					Bucket: durationBucket(r.FirstClaimedAt.Sub(*r.PublishedAt).Hours())}]++
			}
			if r.ClaimedAt != nil && r.CompletedAt != nil {
				durations[model.WishDayDurations{CommunityID: r.CommunityID, Day: day, Kind: durationToComplete,
					Bucket: durationBucket(r.CompletedAt.Sub(*r.ClaimedAt).Hours())}]++
			}
		}
	}
	return s.deps.tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Where("1 = 1").Delete(&model.MemberQuarterStats{}).Error; err != nil {
			return err
		}
		if err := tx.Where("1 = 1").Delete(&model.WishDayDurations{}).Error; err != nil {
			return err
		}
		mrows := make([]model.MemberQuarterStats, 0, len(members))
		for _, m := range members {
			mrows = append(mrows, *m)
		}
		if len(mrows) > 0 {
			if err := tx.CreateInBatches(mrows, 500).Error; err != nil {
				return err
			}
		}
		drows := make([]model.WishDayDurations, 0, len(durations))
		for k, n := range durations {
			k.N = n
			drows = append(drows, k)
		}
		if len(drows) > 0 {
			return tx.CreateInBatches(drows, 500).Error
		}
		return nil
	})
}
