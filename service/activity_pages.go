package service

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"

	"linli/model"
)

// activityPages is this instance's copy of the first page of the public
// activities list of each org (a community, or every community beneath a
// street or district) and status filter, so that the page residents open
// most often is answered without a query.
//
// Every community has a token in Redis ("activities:ver:<id>"). Every change
// to what its list shows — an activity published, cancelled or finished, a
// seat taken or freed, the waitlist joined, left or promoted — sets a new
// random token after its commit (Changed). A page is kept with the tokens
// read before it was queried (from the primary, never a lagging replica)
// and served only while the tokens read for the request are the same, until
// the first of its activities not yet ended ends (it then moves to the
// ended half), and for at most activity.list_cache_max_age (which heals a
// change written around the service, e.g. by hand in SQL). So a change made
// on any instance is seen by the very next list on every instance.
type activityPages struct {
	deps   Deps
	maxAge time.Duration // 0: nothing is kept (keeps; tokens are still set on changes)

	mu    sync.Mutex
	pages map[activityPageKey]*activityPage
}

// activityPageKey names a kept page: the org listed and the statuses
// asked for, joined.
type activityPageKey struct {
	org      int64
	statuses string
}

// activityPage is one kept first page: the rows in list order (the upcoming
// half soonest first, then the ended half latest first), at most limit of
// each half, read at the tokens; valid before until.
type activityPage struct {
	tokens string
	limit  int
	until  time.Time
	rows   []model.Activity
}

func newActivityPages(d Deps) *activityPages {
	return &activityPages{deps: d, maxAge: d.Config.Activity.ListCacheMaxAge, pages: map[activityPageKey]*activityPage{}}
}

// keeps reports whether pages are kept at all (activity.list_cache_max_age
// above 0); when not, the lists read as any later page does.
func (p *activityPages) keeps() bool { return p.maxAge > 0 }

func (p *activityPages) key(community int64) string {
	return p.deps.redisKey("activities", "ver", strconv.FormatInt(community, 10))
}

// Changed sets new tokens for the communities after tx commits (once per
// community and transaction), so that no instance serves a page read
// before the change. A Redis failure is logged: the pages then stay as they
// were for at most activity.list_cache_max_age.
func (p *activityPages) Changed(tx *gorm.DB, community int64) {
	afterCommitBatch(tx, "activity-pages", community, func(ids []int64) {
		if err := p.deps.renewTokens(p.keys(ids)...); err != nil {
			p.deps.Logger.Error("activity list tokens not set; other instances may show old seat counts for a while",
				"error", err.Error())
		}
	})
}

// keys are the token keys of the communities.
func (p *activityPages) keys(communities []int64) []string {
	keys := make([]string, len(communities))
	for i, c := range communities {
		keys[i] = p.key(c)
	}
	return keys
}

// tokens reads the communities' tokens in one round trip (readTokens),
// joined. It returns Redis's error, if any.
func (p *activityPages) tokens(ctx context.Context, communities []int64) (string, error) {
	toks, err := p.deps.readTokens(ctx, p.keys(communities)...)
	return strings.Join(toks, ","), err
}

// first returns the first page's rows of org's list of statuses, at most
// limit of each half, in list order: the kept page when it is still valid at
// now, else the rows load reads from the primary, then kept. The rows are
// shared: callers must not change them. Without a token (Redis failing) it
// answers from load and keeps nothing. It returns load's error, if any.
func (p *activityPages) first(ctx context.Context, org int64, communities []int64, statuses []model.ActivityStatus,
	limit int, now time.Time, load func(db *gorm.DB, limit int) ([]model.Activity, error)) ([]model.Activity, error) {
	primary := p.deps.DB.WithContext(ctx)
	tokens, err := p.tokens(ctx, communities)
	if err != nil {
		p.deps.Logger.Warn("activity list tokens unreadable; listing without the kept page", "error", err.Error())
		return load(primary, limit)
	}
	names := make([]string, len(statuses))
	for i, st := range statuses {
		names[i] = string(st)
	}
	key := activityPageKey{org: org, statuses: strings.Join(names, ",")}
	p.mu.Lock()
	kept := p.pages[key]
	p.mu.Unlock()
	if kept != nil && kept.tokens == tokens && kept.limit >= limit && now.Before(kept.until) {
		return kept.rows, nil
	}
	limit = max(limit, DefaultPageSize+1) // a page of the default size from any kept page
	rows, err := load(primary, limit)
	if err != nil {
		return nil, err
	}
	until := now.Add(p.maxAge)
	for _, r := range rows {
		if r.EndAt.After(now) && r.EndAt.Before(until) {
			until = r.EndAt
		}
	}
	p.mu.Lock()
	p.pages[key] = &activityPage{tokens: tokens, limit: limit, until: until, rows: rows}
	p.mu.Unlock()
	return rows, nil
}
