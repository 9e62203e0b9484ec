package service

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"linli/model"
)

// CheckLeaderboards compares the leaderboards of every org whose sets are
// built (its marker exists) with the ledger, and returns one line per
// difference ("leaderboard org 7 minutes all: user 12 ranked 292, ledger
// 302"). With repair, each org that differs is rebuilt from the ledger.
// A credit whose after-commit update was lost (the process died between
// the commit and the Redis write, or Redis did not answer) leaves such a
// difference; serve runs this with repair every
// timebank.leaderboard_check_interval. A credit committing while an org is
// checked may show as a difference too: repairing it is harmless. It
// returns the database's error, or 10503 when Redis cannot be read.
func (s *TimeBankService) CheckLeaderboards(ctx context.Context, repair bool) ([]string, error) {
	var orgs []model.OrgUnit
	err := s.deps.DB.WithContext(ctx).Where("level <> ?", model.LevelGrid).Order("id").Find(&orgs).Error
	if err != nil {
		return nil, err
	}
	details := []string{}
	for i := range orgs {
		diff, err := s.boards.check(ctx, &orgs[i])
		if err != nil {
			return nil, redisError(err)
		}
		details = append(details, diff...)
		if len(diff) > 0 && repair {
			if err := s.boards.rebuild(ctx, &orgs[i]); err != nil {
				return nil, redisError(err)
			}
		}
	}
	return details, nil
}

// check compares org's six sets with the ledger and describes each
// difference; an org whose sets are not built (no marker) has none.
func (b *leaderboards) check(ctx context.Context, org *model.OrgUnit) ([]string, error) {
	p := b.periodsAt(b.deps.Clock.Now())
	pipe := b.deps.Redis.Pipeline()
	marker := pipe.Exists(ctx, b.marker(org.ID))
	type set struct {
		currency model.Currency
		period   int // 0 month, 1 year, 2 all time
		cmd      *redis.ZSliceCmd
	}
	var sets []set
	for _, c := range []model.Currency{model.CurrencyMinutes, model.CurrencyPoints} {
		for i, k := range b.setKeys(org.ID, c, p) {
			sets = append(sets, set{c, i, pipe.ZRangeWithScores(ctx, k, 0, -1)})
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return nil, err
	}
	if marker.Val() == 0 {
		return nil, nil
	}
	where, arg := "c.path LIKE ?", any(org.Path+"%")
	if org.Level == model.LevelCommunity {
		where, arg = "c.id = ?", org.ID
	}
	rows, err := b.scores(b.deps.DB.WithContext(ctx), p, where, arg)
	if err != nil {
		return nil, err
	}
	names := [3]string{p.month, p.year, "all"}
	var out []string
	for _, st := range sets {
		want := map[int64]int64{}
		for _, r := range rows {
			if r.Currency == st.currency {
				if v := [3]int64{r.Month, r.Year, r.All}[st.period]; v > 0 {
					want[r.UserID] = v
				}
			}
		}
		got := map[int64]int64{}
		for _, z := range st.cmd.Val() {
			id, _ := strconv.ParseInt(fmt.Sprint(z.Member), 10, 64)
			got[id] = int64(z.Score)
		}
		for id, v := range want {
			if got[id] != v {
				out = append(out, fmt.Sprintf("leaderboard org %d %s %s: user %d ranked %d, ledger %d", org.ID, st.currency, names[st.period], id, got[id], v))
			}
		}
		for id, v := range got {
			if _, ok := want[id]; !ok {
				out = append(out, fmt.Sprintf("leaderboard org %d %s %s: user %d ranked %d, ledger 0", org.ID, st.currency, names[st.period], id, v))
			}
		}
	}
	return out, nil
}
