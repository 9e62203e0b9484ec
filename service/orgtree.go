package service

import (
	"context"
	"slices"
	"sync"

	"github.com/redis/go-redis/v9"
	"gorm.io/gorm"

	"linli/model"
)

// OrgTree is this instance's copy of the org units (a district has about a
// thousand), so that hot reads name and place communities without a query.
//
// The copy is tagged with the epoch token kept in Redis under "orgs:epoch".
// Every change to an org unit sets a new random token after its commit; the
// session check reads the token in the same pipeline as the session (see
// AuthService.Authenticate) and puts it in the request's context, and Get
// reloads the whole tree when the copy's token differs. So a change made on
// any instance is seen by the very next request on every instance, and a
// copy is never trusted without a token read in the same request.
type OrgTree struct {
	deps Deps

	mu    sync.RWMutex
	token string
	byID  map[int64]*model.OrgUnit
}

func newOrgTree(d Deps) *OrgTree { return &OrgTree{deps: d} }

func (t *OrgTree) epochKey() string { return t.deps.redisKey("orgs", "epoch") }

// Changed sets a new epoch after tx commits, so that every instance reloads
// its copy on its next request. A Redis failure is logged: the copies then
// stay as they were until the next change.
func (t *OrgTree) Changed(tx *gorm.DB) {
	afterCommit(tx, func() {
		if err := t.deps.renewTokens(t.epochKey()); err != nil {
			t.deps.Logger.Error("org epoch not bumped; other instances may show old org names until the next change", "error", err.Error())
		}
	})
}

// epochCmd queues the read of the epoch token on a pipeline.
func (t *OrgTree) epochCmd(ctx context.Context, pipe redis.Pipeliner) *redis.StringCmd {
	return pipe.Get(ctx, t.epochKey())
}

// currentEpoch returns the epoch token, creating one when Redis has none
// (a new or flushed Redis), so that an empty token never stands for a tree.
// It returns Redis's error, if any.
func (t *OrgTree) currentEpoch(ctx context.Context) (string, error) {
	toks, err := t.deps.readTokens(ctx, t.epochKey())
	if err != nil {
		return "", err
	}
	return toks[0], nil
}

// snapshot returns the tree as of the request's epoch: the copy when its
// token matches the one read for this request, else a fresh load. Outside a
// request (no token in ctx) the epoch is read from Redis first. It returns
// the database's or Redis's error, if any.
func (t *OrgTree) snapshot(ctx context.Context) (map[int64]*model.OrgUnit, error) {
	return t.load(ctx, false)
}

// unit returns org unit id from the snapshot. A unit missing from it is
// looked up by id (one indexed query, as before there was a copy): when the
// database has it after all, a unit was written without the epoch being
// bumped (a script, a test fixture) and the copy is reloaded. It returns
// 10005 for a unit that does not exist.
func (t *OrgTree) unit(ctx context.Context, id int64) (map[int64]*model.OrgUnit, *model.OrgUnit, error) {
	m, err := t.snapshot(ctx)
	if err != nil {
		return nil, nil, err
	}
	if o, ok := m[id]; ok {
		return m, o, nil
	}
	if _, err := loadOrg(ctx, t.deps.DB, id); err != nil {
		return nil, nil, err
	}
	if m, err = t.load(ctx, true); err != nil {
		return nil, nil, err
	}
	if o, ok := m[id]; ok {
		return m, o, nil
	}
	return nil, nil, notFound("组织")
}

func (t *OrgTree) load(ctx context.Context, force bool) (map[int64]*model.OrgUnit, error) {
	tok := requestOrgEpoch(ctx)
	if tok == "" {
		var err error
		if tok, err = t.currentEpoch(ctx); err != nil {
			return nil, unavailable("服务暂时不可用，请稍后再试", err)
		}
	}
	t.mu.RLock()
	if !force && t.byID != nil && t.token == tok {
		m := t.byID
		t.mu.RUnlock()
		return m, nil
	}
	t.mu.RUnlock()
	var rows []model.OrgUnit
	if err := t.deps.DB.WithContext(ctx).Find(&rows).Error; err != nil {
		return nil, err
	}
	m := make(map[int64]*model.OrgUnit, len(rows))
	for i := range rows {
		m[rows[i].ID] = &rows[i]
	}
	t.mu.Lock()
	t.token, t.byID = tok, m
	t.mu.Unlock()
	return m, nil
}

// Get returns a copy of org unit id, or 10005 when there is none. It returns
// the database's or Redis's error, if any.
func (t *OrgTree) Get(ctx context.Context, id int64) (*model.OrgUnit, error) {
	_, o, err := t.unit(ctx, id)
	if err != nil {
		return nil, err
	}
	c := *o
	return &c, nil
}

// Names returns the names of the given org units by id; unknown ids are
// left out. It returns the database's or Redis's error, if any.
func (t *OrgTree) Names(ctx context.Context, ids ...int64) (map[int64]string, error) {
	m, err := t.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if _, ok := m[id]; !ok { // one unit written behind the copy's back: reload once
			fresh, _, err := t.unit(ctx, id)
			if err == nil {
				m = fresh
			} else if ErrorCode(err) != CodeNotFound {
				return nil, err
			}
			break
		}
	}
	out := make(map[int64]string, len(ids))
	for _, id := range ids {
		if o, ok := m[id]; ok {
			out[id] = o.Name
		}
	}
	return out, nil
}

// StreetOf returns the unit above community id — its street, the street_id
// of its wishes — or 0 when id is not a community with a parent. It returns
// 10005 for an unknown unit.
func (t *OrgTree) StreetOf(ctx context.Context, id int64) (int64, error) {
	_, o, err := t.unit(ctx, id)
	if err != nil {
		return 0, err
	}
	if o.Level != model.LevelCommunity || o.ParentID == nil {
		return 0, nil
	}
	return *o.ParentID, nil
}

// Communities returns the ids of the communities at or beneath org unit id
// (the parent community of a grid), in id order. It returns 10005 for an
// unknown unit.
func (t *OrgTree) Communities(ctx context.Context, id int64) ([]int64, error) {
	m, o, err := t.unit(ctx, id)
	if err != nil {
		return nil, err
	}
	switch o.Level {
	case model.LevelCommunity:
		return []int64{o.ID}, nil
	case model.LevelGrid:
		if o.ParentID == nil {
			return nil, nil
		}
		return []int64{*o.ParentID}, nil
	}
	var out []int64
	for _, u := range m {
		if u.Level == model.LevelCommunity && o.Contains(u) {
			out = append(out, u.ID)
		}
	}
	slices.Sort(out)
	return out, nil
}
