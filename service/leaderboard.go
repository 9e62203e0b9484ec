package service

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"gorm.io/gorm"

	"linli/internal/ledger"
	"linli/model"
)

// Leaderboards rank users by what they earned: the credits a community
// issued to them (activities, wishes, manual credits), net of reversals of
// such credits. Gifts, mall orders and their refunds do not count. A user
// is ranked under their home community and every org above it (street,
// district), for the current month, the current year (both in
// cfg.Location) and all time, by minutes and by points.
//
// The rankings live in Redis sorted sets, one per (org, currency, period):
// {prefix}lb:{<org>}:<currency>:m202611 | y2026 | all. The braces keep an
// org's keys in one Redis Cluster slot. A marker {prefix}lb:{<org>}:ready
// says the org's sets were built from the ledger and are kept up to date:
// every credit (and reversal of a credit) adds to the sets of its period
// after its transaction commits, so a new month or year starts with an
// empty set and needs no rebuild. A read that finds no marker (keys
// deleted, Redis restarted, an org unread and uncredited for 400 days)
// rebuilds the org's sets from the ledger first. A credit committing while a
// rebuild runs may be missing from the rebuilt sets until the next rebuild
// (`linli rebuild-leaderboards`); the ledger stays the truth. Every key has
// a TTL: Redis must not evict keys early (maxmemory-policy noeviction, or
// enough memory), or boards read short until the next rebuild.
type leaderboards struct {
	deps       Deps
	bumpScript *redis.Script
	swapScript *redis.Script
	setScript  *redis.Script
}

// Leaderboard periods and rankings of the API.
const (
	PeriodMonth = "month"
	PeriodYear  = "year"
	PeriodAll   = "all"
)

// allTimeTTL bounds how long an all-time set of an org nobody reads lives.
const allTimeTTL = 400 * 24 * time.Hour

// BumpLua adds ARGV[2] to member ARGV[1] in KEYS[2..4] when the marker
// KEYS[1] exists, dropping members that reach zero, and renews the TTLs
// ARGV[3..5] (seconds; the marker lives as long as the all-time set).
// Exported for the benchmark's baseline, which updates the same sets.
const BumpLua = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for i = 2, #KEYS do
  local v = redis.call('ZINCRBY', KEYS[i], ARGV[2], ARGV[1])
  if tonumber(v) <= 0 then redis.call('ZREM', KEYS[i], ARGV[1]) end
  redis.call('EXPIRE', KEYS[i], ARGV[i + 1])
end
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1`

// swapLua finishes a rebuild: KEYS[1] is the marker, then pairs (set, temp
// set). Each temp set replaces its set (or the set is deleted when the temp
// set is empty) and gets its TTL ARGV[i+1]; the marker is set with TTL ARGV[1].
const swapLua = `
for i = 1, (#KEYS - 1) / 2 do
  local k, t = KEYS[2 * i], KEYS[2 * i + 1]
  if redis.call('EXISTS', t) == 1 then
    redis.call('RENAME', t, k)
    redis.call('EXPIRE', k, ARGV[i + 1])
  else
    redis.call('DEL', k)
  end
end
redis.call('SET', KEYS[1], '1', 'EX', ARGV[1])
return 1`

// setLua sets member ARGV[1]'s score to ARGV[2..4] in KEYS[2..4] (removing
// it at zero) when the marker KEYS[1] exists, with TTLs ARGV[5..7].
const setLua = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for i = 2, #KEYS do
  local s = tonumber(ARGV[i])
  if s > 0 then redis.call('ZADD', KEYS[i], s, ARGV[1]) else redis.call('ZREM', KEYS[i], ARGV[1]) end
  redis.call('EXPIRE', KEYS[i], ARGV[i + 3])
end
redis.call('EXPIRE', KEYS[1], ARGV[7])
return 1`

func newLeaderboards(d Deps) *leaderboards {
	return &leaderboards{deps: d, bumpScript: redis.NewScript(BumpLua), swapScript: redis.NewScript(swapLua), setScript: redis.NewScript(setLua)}
}

// periods names the month and year a time falls in, with the TTLs their sets
// get (until the period ends, plus a day).
type periods struct {
	month, year           string
	monthStart, yearStart time.Time
	monthTTL, yearTTL     time.Duration
}

func (b *leaderboards) periodsAt(t time.Time) periods {
	loc := b.deps.Config.Location
	lt := t.In(loc)
	ms := time.Date(lt.Year(), lt.Month(), 1, 0, 0, 0, 0, loc)
	ys := time.Date(lt.Year(), 1, 1, 0, 0, 0, 0, loc)
	now := b.deps.Clock.Now()
	ttl := func(end time.Time) time.Duration { return max(end.Sub(now), 0) + 24*time.Hour }
	return periods{
		month: "m" + lt.Format("200601"), year: "y" + lt.Format("2006"),
		monthStart: ms, yearStart: ys,
		monthTTL: ttl(ms.AddDate(0, 1, 0)), yearTTL: ttl(ys.AddDate(1, 0, 0)),
	}
}

func (b *leaderboards) key(org int64, parts ...string) string {
	return b.deps.redisKey(append([]string{"lb", "{" + strconv.FormatInt(org, 10) + "}"}, parts...)...)
}

func (b *leaderboards) marker(org int64) string { return b.key(org, "ready") }

// setKeys returns the month, year and all-time sets of org in currency.
func (b *leaderboards) setKeys(org int64, c model.Currency, p periods) [3]string {
	return [3]string{b.key(org, string(c), p.month), b.key(org, string(c), p.year), b.key(org, string(c), "all")}
}

func secs(d time.Duration) int64 { return int64(d / time.Second) }

// homeOrgs returns the ids of the user's home community and every org above
// it, or nil when the user has none.
func (b *leaderboards) homeOrgs(ctx context.Context, db *gorm.DB, userID int64) ([]int64, error) {
	var paths []string
	err := db.WithContext(ctx).Table("users u").Select("o.path").
		Joins("JOIN org_units o ON o.id = u.home_community_id").
		Where("u.id = ?", userID).Limit(1).Pluck("o.path", &paths).Error
	if err != nil || len(paths) == 0 {
		return nil, err
	}
	return model.PathIDs(paths[0]), nil
}

// boardBump is amount (negative for a reversal) of currency c a user
// earned at At.
type boardBump struct {
	UserID int64
	C      model.Currency
	Amount int64
	At     time.Time
}

// bumpAll adds each bump to its user's sets in every org they are ranked
// under: one query for the users' home orgs, one Redis pipeline. Failures
// are logged: a rebuild repairs the sets.
func (b *leaderboards) bumpAll(ctx context.Context, bumps []boardBump) {
	users := make([]int64, 0, len(bumps))
	for _, x := range bumps {
		if !slices.Contains(users, x.UserID) {
			users = append(users, x.UserID)
		}
	}
	var rows []struct {
		ID   int64
		Path string
	}
	err := b.deps.DB.WithContext(ctx).Table("users u").Select("u.id, o.path").
		Joins("JOIN org_units o ON o.id = u.home_community_id").
		Where("u.id IN ?", users).Scan(&rows).Error
	if err != nil {
		b.deps.Logger.Warn("leaderboard: read home communities", "users", len(users), "error", err.Error())
		return
	}
	if len(rows) == 0 {
		return
	}
	orgsOf := make(map[int64][]int64, len(rows))
	for _, r := range rows {
		orgsOf[r.ID] = model.PathIDs(r.Path)
	}
	pipe := b.deps.Redis.Pipeline()
	for _, x := range bumps {
		p := b.periodsAt(x.At)
		for _, org := range orgsOf[x.UserID] {
			k := b.setKeys(org, x.C, p)
			b.bumpScript.Eval(ctx, pipe, []string{b.marker(org), k[0], k[1], k[2]},
				x.UserID, x.Amount, secs(p.monthTTL), secs(p.yearTTL), secs(allTimeTTL))
		}
	}
	if pipe.Len() == 0 {
		return
	}
	if _, err := pipe.Exec(ctx); err != nil {
		b.deps.Logger.Warn("leaderboard: update", "users", len(users), "error", err.Error())
	}
}

// userScore is what one user earned in one currency, all time and in the
// current year and month.
type userScore struct {
	UserID   int64
	Currency model.Currency
	All      int64 `gorm:"column:total_all"`
	Year     int64 `gorm:"column:total_year"`
	Month    int64 `gorm:"column:total_month"`
}

// scores returns what the users selected by where (over users u and their
// home community c) earned. All time is the accounts' Earned total (credits
// net of reversed credits, kept by the ledger); the year and the month sum
// the same entries since the year began. It reads db (bound to ctx).
func (b *leaderboards) scores(db *gorm.DB, p periods, where string, args ...any) ([]userScore, error) {
	users := func() *gorm.DB {
		return db.Table("org_units c").
			Joins("JOIN users u ON u.home_community_id = c.id").
			Joins("JOIN accounts a ON a.owner_kind = ? AND a.owner_id = u.id", model.OwnerUser).
			Where(where, args...)
	}
	var rows []userScore
	err := users().Select("a.owner_id AS user_id, a.currency AS currency, a.earned AS total_all").
		Where("a.earned <> 0").Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	var recent []userScore
	err = users().Select(`a.owner_id AS user_id, a.currency AS currency,
			SUM(e.amount) AS total_year,
			SUM(CASE WHEN e.created_at >= ? THEN e.amount ELSE 0 END) AS total_month`, p.monthStart.UTC()).
		Joins("JOIN ledger_entries e ON e.account_id = a.id").
		Joins("JOIN ledger_txns t ON t.id = e.txn_id").
		Joins("LEFT JOIN ledger_txns r ON r.id = t.reverses_id").
		Where("e.created_at >= ?", p.yearStart.UTC()).
		Where("t.kind = ? OR (t.kind = ? AND r.kind = ?)", ledger.KindCredit, ledger.KindReversal, ledger.KindCredit).
		Group("a.owner_id, a.currency").Scan(&recent).Error
	if err != nil {
		return nil, err
	}
	type key struct {
		user     int64
		currency model.Currency
	}
	at := make(map[key]int, len(rows))
	for i, r := range rows {
		at[key{r.UserID, r.Currency}] = i
	}
	for _, r := range recent {
		if i, ok := at[key{r.UserID, r.Currency}]; ok {
			rows[i].Year, rows[i].Month = r.Year, r.Month
		} else {
			rows = append(rows, r)
		}
	}
	return rows, nil
}

// rebuild replaces org's six sets with rankings computed from the ledger and
// sets its marker.
func (b *leaderboards) rebuild(ctx context.Context, org *model.OrgUnit) error {
	p := b.periodsAt(b.deps.Clock.Now())
	var where string
	var arg any
	if org.Level == model.LevelCommunity {
		where, arg = "c.id = ?", org.ID
	} else {
		where, arg = "c.path LIKE ?", org.Path+"%" // paths hold only digits and slashes
	}
	// A whole org's rankings tolerate lag (a replica when configured): a
	// credit the replica has not seen yet is set again by the next check
	// (timebank.leaderboard_check_interval), which reads the primary.
	rows, err := b.scores(b.deps.laggingRead(ctx), p, where, arg)
	if err != nil {
		return err
	}
	tag := randomHex(6)
	keys := []string{b.marker(org.ID)}
	ttls := []any{secs(allTimeTTL)}
	sets := map[string][]redis.Z{}
	for _, c := range []model.Currency{model.CurrencyMinutes, model.CurrencyPoints} {
		k := b.setKeys(org.ID, c, p)
		for i, ttl := range []time.Duration{p.monthTTL, p.yearTTL, allTimeTTL} {
			tmp := b.key(org.ID, "tmp", tag, strconv.Itoa(i), string(c))
			keys = append(keys, k[i], tmp)
			ttls = append(ttls, secs(ttl))
			sets[tmp] = nil
		}
		for _, r := range rows {
			if r.Currency != c {
				continue
			}
			for i, score := range []int64{r.Month, r.Year, r.All} {
				if score > 0 {
					tmp := b.key(org.ID, "tmp", tag, strconv.Itoa(i), string(c))
					sets[tmp] = append(sets[tmp], redis.Z{Score: float64(score), Member: r.UserID})
				}
			}
		}
	}
	pipe := b.deps.Redis.Pipeline()
	for tmp, zs := range sets {
		for start := 0; start < len(zs); start += 1000 {
			pipe.ZAdd(ctx, tmp, zs[start:min(start+1000, len(zs))]...)
		}
		if len(zs) > 0 {
			pipe.Expire(ctx, tmp, 10*time.Minute)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("leaderboard: write org %d: %w", org.ID, err)
	}
	return b.swapScript.Run(ctx, b.deps.Redis, keys, ttls...).Err()
}

// ensure rebuilds org's sets when its marker is missing. One caller
// rebuilds (to the end, even if its client goes away) while others wait for
// it (up to 5 s, then they rebuild themselves).
func (b *leaderboards) ensure(ctx context.Context, org *model.OrgUnit) error {
	marker := b.marker(org.ID)
	n, err := b.deps.Redis.Exists(ctx, marker).Result()
	if err != nil || n == 1 {
		return err
	}
	lock := b.key(org.ID, "rebuilding")
	got, err := b.deps.Redis.SetNX(ctx, lock, "1", 5*time.Minute).Result()
	if err != nil {
		return err
	}
	if got {
		ctx := context.WithoutCancel(ctx)
		defer b.deps.Redis.Del(ctx, lock)
		return b.rebuild(ctx, org)
	}
	timeout := time.After(5 * time.Second)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timeout:
			return b.rebuild(ctx, org)
		case <-time.After(50 * time.Millisecond):
		}
		if n, err := b.deps.Redis.Exists(ctx, marker).Result(); err != nil || n == 1 {
			return err
		}
	}
}

// moveUser re-ranks a user whose home community changed from `from` to
// `to`: they leave the sets of the orgs above either that are not above
// their home community as the database has it now, and get their ledger
// totals in the sets of that home. Moves of one user commit one at a time
// but their calls may run in any order, so each call ranks the user under
// the home it reads, then reads the home again and starts over when another
// move committed meanwhile: the last call to finish leaves the current home.
func (b *leaderboards) moveUser(ctx context.Context, userID int64, from, to *int64) {
	warn := func(err error) { b.deps.Logger.Warn("leaderboard: move user", "user", userID, "error", err.Error()) }
	var stale []int64 // orgs the user may still be ranked under
	for _, id := range []*int64{from, to} {
		if id == nil {
			continue
		}
		var o model.OrgUnit
		if err := b.deps.DB.WithContext(ctx).Select("id", "path").First(&o, *id).Error; err != nil {
			warn(err)
			return
		}
		stale = append(stale, model.PathIDs(o.Path)...)
	}
	home, err := b.homeOrgs(ctx, b.deps.DB, userID)
	if err != nil {
		warn(err)
		return
	}
	for range 5 {
		if err := b.rankUnder(ctx, userID, stale, home); err != nil {
			warn(err)
			return
		}
		again, err := b.homeOrgs(ctx, b.deps.DB, userID)
		if err != nil {
			warn(err)
			return
		}
		if slices.Equal(again, home) {
			return
		}
		stale, home = append(stale, home...), again
	}
}

// rankUnder removes the user from the sets of the orgs in stale that are not
// in home and sets their ledger totals in the sets of the orgs in home.
func (b *leaderboards) rankUnder(ctx context.Context, userID int64, stale, home []int64) error {
	p := b.periodsAt(b.deps.Clock.Now())
	rows, err := b.scores(b.deps.DB.WithContext(ctx), p, "u.id = ?", userID)
	if err != nil {
		return err
	}
	// Two round trips rather than one long pipeline: the in-process Redis
	// answers over a synchronous pipe and stalls on long pipelines.
	pipe := b.deps.Redis.Pipeline()
	for _, org := range slices.Compact(slices.Sorted(slices.Values(stale))) {
		if slices.Contains(home, org) {
			continue
		}
		for _, c := range []model.Currency{model.CurrencyMinutes, model.CurrencyPoints} {
			for _, k := range b.setKeys(org, c, p) {
				pipe.ZRem(ctx, k, userID)
			}
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return err
	}
	pipe = b.deps.Redis.Pipeline()
	for _, org := range home {
		for _, c := range []model.Currency{model.CurrencyMinutes, model.CurrencyPoints} {
			var s userScore
			for _, r := range rows {
				if r.Currency == c {
					s = r
				}
			}
			k := b.setKeys(org, c, p)
			b.setScript.Eval(ctx, pipe, []string{b.marker(org), k[0], k[1], k[2]},
				userID, s.Month, s.Year, s.All, secs(p.monthTTL), secs(p.yearTTL), secs(allTimeTTL))
		}
	}
	_, err = pipe.Exec(ctx)
	return err
}

// LeaderboardQuery selects a leaderboard; OrgID 0 means the caller's home
// community, an empty Period "month" and an empty By "minutes".
type LeaderboardQuery struct {
	OrgID  int64
	Period string
	By     string
}

// LeaderView is one ranked user. Ranks are competition ranks: equal scores
// share a rank.
type LeaderView struct {
	Rank      int    `json:"rank"`
	UserID    int64  `json:"userId"`
	Nickname  string `json:"nickname"`
	AvatarURL string `json:"avatarUrl"`
	Score     int64  `json:"score"`
}

// MyRankView is the caller's own place; Rank is null when they earned
// nothing in the period or are not ranked under the org.
type MyRankView struct {
	Rank  *int  `json:"rank"`
	Score int64 `json:"score"`
}

// LeaderboardView is the top of a leaderboard and the caller's own rank.
// PeriodKey names the period: "2026-11", "2026" or "all".
type LeaderboardView struct {
	OrgID     int64          `json:"orgId"`
	OrgName   string         `json:"orgName"`
	Level     model.OrgLevel `json:"level"`
	Period    string         `json:"period"`
	PeriodKey string         `json:"periodKey"`
	By        string         `json:"by"`
	List      []LeaderView   `json:"list"`
	Me        MyRankView     `json:"me"`
}

// Leaderboard returns the top users (timebank.leaderboard_size) of an org
// for a period, ranked by earned minutes or points, and the caller's rank.
// It rebuilds the org's rankings from the ledger when Redis has none. It
// returns 10001 for a bad period, by or a grid, 10005 for an unknown org,
// 30004 when no org is given and the caller has no home community, and
// 10503 when Redis is down.
func (s *LeaderboardService) Get(ctx context.Context, callerID int64, q LeaderboardQuery) (*LeaderboardView, error) {
	if q.Period == "" {
		q.Period = PeriodMonth
	}
	if q.By == "" {
		q.By = string(model.CurrencyMinutes)
	}
	if q.Period != PeriodMonth && q.Period != PeriodYear && q.Period != PeriodAll {
		return nil, invalid("period 需为 month、year 或 all")
	}
	cur, err := parseCurrency(q.By)
	if err != nil {
		return nil, invalid("by 需为 minutes 或 points")
	}
	db := s.deps.DB.WithContext(ctx)
	if q.OrgID == 0 {
		caller, err := s.callers.Get(ctx, callerID)
		if err != nil {
			return nil, err
		}
		if caller.HomeCommunityID == nil {
			return nil, Errorf(CodeNoHomeCommunity, "请先设置所在社区，或指定要查看的组织")
		}
		q.OrgID = *caller.HomeCommunityID
	}
	org, err := s.orgs.Get(ctx, q.OrgID)
	if err != nil {
		return nil, err
	}
	if org.Level == model.LevelGrid {
		return nil, invalid("排行榜按社区及以上组织统计，请选择社区、街道或区")
	}
	b := s.boards
	now := s.deps.Clock.Now()
	p := b.periodsAt(now)
	keys := b.setKeys(org.ID, cur, p)
	v := &LeaderboardView{OrgID: org.ID, OrgName: org.Name, Level: org.Level, Period: q.Period, By: q.By, List: []LeaderView{}}
	var key string
	switch q.Period {
	case PeriodMonth:
		key, v.PeriodKey = keys[0], now.In(s.deps.Config.Location).Format("2006-01")
	case PeriodYear:
		key, v.PeriodKey = keys[1], now.In(s.deps.Config.Location).Format("2006")
	default:
		key, v.PeriodKey = keys[2], PeriodAll
	}
	// One round trip: the board, the caller's score and rank, or nil when
	// the org's boards were never built (then built, and read again).
	member := strconv.FormatInt(callerID, 10)
	keysArgs := []string{b.marker(org.ID), key}
	res, err := s.read.Run(ctx, s.deps.Redis, keysArgs, member, s.deps.Config.TimeBank.LeaderboardSize).Slice()
	if errors.Is(err, redis.Nil) {
		if err := b.ensure(ctx, org); err != nil {
			return nil, redisError(err)
		}
		res, err = s.read.Run(ctx, s.deps.Redis, keysArgs, member, s.deps.Config.TimeBank.LeaderboardSize).Slice()
	}
	if err != nil {
		return nil, redisError(err)
	}
	top, rank, score := boardRead(res)
	if rank > 0 {
		v.Me = MyRankView{Rank: &rank, Score: score}
	}
	ids := make([]int64, 0, len(top))
	for _, l := range top {
		ids = append(ids, l.UserID)
	}
	v.List = append(v.List, top...)
	// Equal scores: lower user id first, whatever order Redis keeps.
	slices.SortStableFunc(v.List, func(a, b LeaderView) int {
		return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(a.UserID, b.UserID))
	})
	var users []model.User
	if len(ids) > 0 {
		if err := db.Select("id", "nickname", "avatar_url").Where("id IN ?", ids).Find(&users).Error; err != nil {
			return nil, err
		}
	}
	byID := make(map[int64]model.User, len(users))
	for _, u := range users {
		byID[u.ID] = u
	}
	for i := range v.List {
		l := &v.List[i]
		if i > 0 && l.Score == v.List[i-1].Score {
			l.Rank = v.List[i-1].Rank
		} else {
			l.Rank = i + 1
		}
		l.Nickname, l.AvatarURL = byID[l.UserID].Nickname, byID[l.UserID].AvatarURL
	}
	return v, nil
}

// LeaderboardService reads the leaderboards the time bank keeps: the caller
// and the org come from caches, the board and the caller's rank from one
// Redis script, the names from one query.
type LeaderboardService struct {
	deps    Deps
	boards  *leaderboards
	callers *CallerService
	orgs    *OrgTree
	read    *redis.Script
}

// readBoardLua returns {top (member, score, …), caller's score or false,
// members strictly above the caller or -1}, or nil when the org's boards
// were never built. KEYS: the ready marker, the set (same hash slot);
// ARGV: the caller, the board's size.
const readBoardLua = `
if redis.call('EXISTS', KEYS[1]) == 0 then return nil end
local top = redis.call('ZREVRANGE', KEYS[2], 0, tonumber(ARGV[2]) - 1, 'WITHSCORES')
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
local above = -1
if score then above = redis.call('ZCOUNT', KEYS[2], '(' .. score, '+inf') end
return {top, score or false, above}`

func newLeaderboardService(d Deps, boards *leaderboards, callers *CallerService, orgs *OrgTree) *LeaderboardService {
	return &LeaderboardService{deps: d, boards: boards, callers: callers, orgs: orgs, read: redis.NewScript(readBoardLua)}
}

// boardRead decodes readBoardLua's answer: the top entries (unranked), and
// the caller's rank and score (rank 0 when not on the board).
func boardRead(res []any) ([]LeaderView, int, int64) {
	var top []LeaderView
	if len(res) != 3 {
		return top, 0, 0
	}
	pairs, _ := res[0].([]any)
	for i := 0; i+1 < len(pairs); i += 2 {
		id, _ := strconv.ParseInt(fmt.Sprint(pairs[i]), 10, 64)
		sc, _ := strconv.ParseFloat(fmt.Sprint(pairs[i+1]), 64)
		top = append(top, LeaderView{UserID: id, Score: int64(sc)})
	}
	above, _ := res[2].(int64)
	s, ok := res[1].(string)
	if !ok || above < 0 {
		return top, 0, 0
	}
	sc, _ := strconv.ParseFloat(s, 64)
	return top, int(above) + 1, int64(sc)
}

// RebuildLeaderboards rebuilds every org's rankings (communities, streets,
// districts) from the ledger, for `linli rebuild-leaderboards`. It returns
// how many orgs were rebuilt.
func (s *TimeBankService) RebuildLeaderboards(ctx context.Context) (int, error) {
	var orgs []model.OrgUnit
	err := s.deps.DB.WithContext(ctx).Where("level NOT IN ?", []model.OrgLevel{model.LevelGrid, model.LevelDepartment}).Order("id").Find(&orgs).Error
	if err != nil {
		return 0, err
	}
	for i := range orgs {
		if err := s.boards.rebuild(ctx, &orgs[i]); err != nil {
			return i, err
		}
	}
	return len(orgs), nil
}

// HomeChanged re-ranks a user whose home community changed from `from` to
// `to` (either may be nil). UserService calls it after the change.
func (s *TimeBankService) HomeChanged(ctx context.Context, userID int64, from, to *int64) {
	s.boards.moveUser(ctx, userID, from, to)
}

// redisError turns a Redis failure into 10503.
func redisError(err error) error {
	var se *Error
	if errors.As(err, &se) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return unavailable("排行榜暂时不可用，请稍后再试", err)
}
