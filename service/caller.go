package service

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"gorm.io/gorm"

	"linli/model"
)

// Caller is what requests need to know about the signed-in user: profile,
// home, roles and the facts derived from them. It is built from the database
// and kept in Redis beside the session, so that a request reads it in the
// same round trip as the session check (see AuthService.Authenticate).
type Caller struct {
	UserID          int64  `json:"id"`
	Nickname        string `json:"n"`
	AvatarURL       string `json:"a"`
	Phone           string `json:"p"` // masked
	HomeCommunityID *int64 `json:"hc,omitempty"`
	HomeGridID      *int64 `json:"hg,omitempty"`
	// HomeStreetID is the street of the home community; 0 when none (or
	// when the home is not a community with a street).
	HomeStreetID int64 `json:"hs,omitempty"`
	// MemberCommunityID is the community of the approved member report.
	MemberCommunityID *int64 `json:"mc,omitempty"`
	MemberStreetID    int64  `json:"ms,omitempty"`
	// Roles are the roles GET /me lists, in its order.
	Roles []ScopedRole `json:"r"`
	// ConsentVersion is the privacy-policy version the user accepted.
	ConsentVersion string `json:"cv,omitempty"`
}

// Street returns the street of the caller's home community, else of the
// community of their approved member report. It returns 10001 when they have
// neither, or when that community is not one with a street.
func (c *Caller) Street() (int64, error) {
	community, street := c.HomeCommunityID, c.HomeStreetID
	if community == nil {
		community, street = c.MemberCommunityID, c.MemberStreetID
	}
	if community == nil {
		return 0, invalid("请先设置所在社区，或指定 communityId")
	}
	if street == 0 {
		return 0, invalid("所在社区设置有误，请重新选择社区")
	}
	return street, nil
}

// IsStaffOf reports whether the caller is staff or admin of org or of a unit
// above it (bootstrap admins hold admin of every root).
func (c *Caller) IsStaffOf(org *model.OrgUnit) bool {
	above := org.AncestorIDs()
	for _, r := range c.Roles {
		if (r.Role == string(model.RoleStaff) || r.Role == string(model.RoleAdmin)) && slices.Contains(above, r.OrgID) {
			return true
		}
	}
	return false
}

// Me returns the caller as GET /me shows them.
func (c *Caller) Me() *MeView {
	return &MeView{
		ID:              c.UserID,
		Nickname:        c.Nickname,
		AvatarURL:       c.AvatarURL,
		Phone:           c.Phone,
		HomeCommunityID: c.HomeCommunityID,
		HomeGridID:      c.HomeGridID,
		Roles:           append([]ScopedRole{}, c.Roles...),
		ConsentVersion:  c.ConsentVersion,
	}
}

// callerTTL bounds how long a cached Caller lives without being read again.
// Correctness does not rest on it: every change bumps the version.
const callerTTL = 30 * time.Minute

// storeCallerLua stores a built Caller only if the version it was built at is
// still current, so a build that raced with a change is never kept.
// KEYS[1] the caller key; ARGV: version, data, org epoch, ttl ms.
const storeCallerLua = `
local v = redis.call('HGET', KEYS[1], 'v')
if (v or '0') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'd', ARGV[2], 'dv', ARGV[1], 'e', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1`

// CallerCache keeps built Callers in Redis and invalidates them. An entry is
// a Redis hash per user: v (the version, bumped by every change), d (the JSON
// Caller), dv (the version d was built at) and e (the org epoch it was built
// at). An entry is used only when dv = v and e is the current org epoch. It is
// a leaf of the service graph: every area that changes what a Caller holds
// gets it, and CallerService builds what it stores.
type CallerCache struct {
	deps  Deps
	store *redis.Script
}

func newCallerCache(d Deps) *CallerCache {
	return &CallerCache{deps: d, store: redis.NewScript(storeCallerLua)}
}

func (s *CallerCache) key(userID int64) string {
	return s.deps.redisKey("caller", "{"+strconv.FormatInt(userID, 10)+"}")
}

// Changed marks the cached Callers of the given users stale once tx commits
// (nothing happens if it rolls back; outside a transaction, at once), on
// every instance. Call it in every transaction that changes what a Caller
// holds: profile, home, staff roles, member reports, unit liaisons, volunteer
// profile. A Redis failure is logged; the entry then lives until callerTTL
// at most.
func (s *CallerCache) Changed(tx *gorm.DB, userIDs ...int64) {
	afterCommit(tx, func() { s.bump(context.Background(), userIDs...) })
}

func (s *CallerCache) bump(ctx context.Context, userIDs ...int64) {
	if len(userIDs) == 0 {
		return
	}
	pipe := s.deps.Redis.Pipeline()
	for _, id := range userIDs {
		pipe.HIncrBy(ctx, s.key(id), "v", 1)
		pipe.PExpire(ctx, s.key(id), callerTTL)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		s.deps.Logger.Error("caller cache not invalidated; it expires on its own", "error", err.Error(), "users", len(userIDs))
	}
}

// put stores c as built at version, unless a change bumped the version
// meanwhile. It returns Redis's error, if any.
func (s *CallerCache) put(ctx context.Context, c *Caller, version, epoch string) error {
	data, _ := json.Marshal(c)
	err := s.store.Run(ctx, s.deps.Redis, []string{s.key(c.UserID)}, version, data, epoch, callerTTL.Milliseconds()).Err()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	return err
}

// CallerService answers "who is the caller" from the cache, building and
// storing a Caller when the cached one is missing or stale.
type CallerService struct {
	deps    Deps
	cache   *CallerCache
	authz   *Authz
	orgs    *OrgTree
	reports *ReportService
	decoded decodedCallers
}

// Changed is CallerCache.Changed, for the profile's own service and tests
// that change rows directly.
func (s *CallerService) Changed(tx *gorm.DB, userIDs ...int64) { s.cache.Changed(tx, userIDs...) }

// cachedCmd queues the read of a user's cache entry on a pipeline.
func (s *CallerCache) cachedCmd(ctx context.Context, pipe redis.Pipeliner, userID int64) *redis.SliceCmd {
	return pipe.HMGet(ctx, s.key(userID), "v", "d", "dv", "e")
}

// fromCache returns the Caller of a cache read when it is current for the
// org epoch, else nil, and the version to build a new one at. A Caller
// already decoded at the same version and epoch is reused (Callers are never
// changed once built), so a request pays no JSON decoding.
func (s *CallerService) fromCache(userID int64, cmd *redis.SliceCmd, epoch string) (*Caller, string) {
	vals, err := cmd.Result()
	if err != nil || len(vals) != 4 {
		return nil, "0"
	}
	str := func(i int) string { s, _ := vals[i].(string); return s }
	version := str(0)
	if version == "" {
		version = "0"
	}
	if str(1) == "" || str(2) != version || str(3) != epoch {
		return nil, version
	}
	if c := s.decoded.get(userID, version, epoch); c != nil {
		return c, version
	}
	var c Caller
	if json.Unmarshal([]byte(str(1)), &c) != nil {
		return nil, version
	}
	s.decoded.put(userID, version, epoch, &c)
	return &c, version
}

// decodedCallers keeps the Callers this instance decoded, by user, with the
// version and epoch they were stored at: a hit needs both to match what the
// request's own Redis read says is current, so it is never staler than the
// cache itself. It holds at most maxDecodedCallers and starts over when full.
type decodedCallers struct {
	mu sync.Mutex
	m  map[int64]decodedCaller
}

type decodedCaller struct {
	version, epoch string
	c              *Caller
}

const maxDecodedCallers = 100_000

func (d *decodedCallers) get(userID int64, version, epoch string) *Caller {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e, ok := d.m[userID]; ok && e.version == version && e.epoch == epoch {
		return e.c
	}
	return nil
}

func (d *decodedCallers) put(userID int64, version, epoch string, c *Caller) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil || len(d.m) >= maxDecodedCallers {
		d.m = make(map[int64]decodedCaller)
	}
	d.m[userID] = decodedCaller{version: version, epoch: epoch, c: c}
}

// resolve returns the Caller from a cache read made in the request's
// pipeline, or builds it and stores it at the version read. It returns 10005
// when the user no longer exists, and the database's or Redis's error.
func (s *CallerService) resolve(ctx context.Context, userID int64, cmd *redis.SliceCmd, epoch string) (*Caller, error) {
	c, version := s.fromCache(userID, cmd, epoch)
	if c != nil {
		return c, nil
	}
	c, err := s.build(ctx, userID)
	if err != nil {
		return nil, err
	}
	if err := s.cache.put(ctx, c, version, epoch); err != nil {
		return nil, unavailable("服务暂时不可用，请稍后再试", err)
	}
	return c, nil
}

// Get returns the Caller of userID: the one the request's session check put
// in ctx when it is the same user, else the cached or a freshly built one.
// Do not use it after changing the caller in the same request: use Fresh.
// It returns 10005 when the user does not exist, and the database's or
// Redis's error.
func (s *CallerService) Get(ctx context.Context, userID int64) (*Caller, error) {
	if st := requestStateOf(ctx); st != nil && st.caller != nil && st.caller.UserID == userID {
		return st.caller, nil
	}
	epoch, err := s.orgs.currentEpoch(ctx)
	if err != nil {
		return nil, unavailable("服务暂时不可用，请稍后再试", err)
	}
	pipe := s.deps.Redis.Pipeline()
	cmd := s.cache.cachedCmd(ctx, pipe, userID)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, unavailable("服务暂时不可用，请稍后再试", err)
	}
	return s.resolve(ctx, userID, cmd, epoch)
}

// Fresh builds the Caller of userID from the database, for answers that must
// show a change the same request just made. It returns 10005 when the user
// does not exist, and the database's error.
func (s *CallerService) Fresh(ctx context.Context, userID int64) (*Caller, error) {
	return s.build(ctx, userID)
}

// build reads a Caller from the database. It returns 10005 when the user
// does not exist, and the database's error.
func (s *CallerService) build(ctx context.Context, userID int64) (*Caller, error) {
	db := s.deps.DB.WithContext(ctx)
	u, err := loadUser(ctx, db, userID)
	if err != nil {
		return nil, err
	}
	if u.ErasedAt != nil { // an erased account resolves to nobody: its sessions are refused
		return nil, notFound("用户")
	}
	c := &Caller{
		UserID:          u.ID,
		Nickname:        u.Nickname,
		AvatarURL:       u.AvatarURL,
		Phone:           MaskPhone(u.Phone),
		HomeCommunityID: u.HomeCommunityID,
		HomeGridID:      u.HomeGridID,
		Roles:           []ScopedRole{},
		ConsentVersion:  u.ConsentVersion,
	}
	if u.HomeCommunityID != nil {
		c.Roles = append(c.Roles, ScopedRole{Role: "resident", OrgID: *u.HomeCommunityID})
		if c.HomeStreetID, err = s.streetOf(ctx, *u.HomeCommunityID); err != nil {
			return nil, err
		}
	}
	staff, err := s.authz.StaffRoles(ctx, db, userID)
	if err != nil {
		return nil, err
	}
	c.Roles = append(c.Roles, staff...)
	var volunteer int64
	if err := db.Model(&model.VolunteerProfile{}).Where("user_id = ?", userID).Count(&volunteer).Error; err != nil {
		return nil, err
	}
	if volunteer > 0 { // a volunteer serves anywhere; orgId is the home community, 0 when none
		var home int64
		if u.HomeCommunityID != nil {
			home = *u.HomeCommunityID
		}
		c.Roles = append(c.Roles, ScopedRole{Role: "volunteer", OrgID: home})
	}
	reported, err := s.reports.reportRoles(ctx, db, userID)
	if err != nil {
		return nil, err
	}
	for _, r := range reported {
		if r.Role == "party_member" {
			community := r.OrgID
			c.MemberCommunityID = &community
			if c.MemberStreetID, err = s.streetOf(ctx, community); err != nil {
				return nil, err
			}
		}
	}
	c.Roles = append(c.Roles, reported...)
	// dept_staff of departments (cases; orgId = the department).
	depts, err := deptIDsOf(ctx, db, userID)
	if err != nil {
		return nil, err
	}
	for _, d := range depts {
		c.Roles = append(c.Roles, ScopedRole{Role: roleDeptStaff, OrgID: d})
	}
	return c, nil
}

// streetOf is OrgTree.StreetOf with 0 for a unit that no longer exists, so
// that a user whose home was removed can still sign in and choose another.
func (s *CallerService) streetOf(ctx context.Context, community int64) (int64, error) {
	street, err := s.orgs.StreetOf(ctx, community)
	if ErrorCode(err) == CodeNotFound {
		return 0, nil
	}
	return street, err
}

// requestState is what the session check learnt for one request.
type requestState struct {
	caller   *Caller
	orgEpoch string
}

type requestStateKey struct{}

// WithPrincipal returns ctx carrying what Authenticate learnt of the caller
// (their Caller and the org epoch), for the services this request calls.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, requestStateKey{}, &requestState{caller: p.caller, orgEpoch: p.orgEpoch})
}

func requestStateOf(ctx context.Context) *requestState {
	st, _ := ctx.Value(requestStateKey{}).(*requestState)
	return st
}

// requestOrgEpoch returns the org epoch read with this request's session, or
// "" outside a signed-in request.
func requestOrgEpoch(ctx context.Context) string {
	if st := requestStateOf(ctx); st != nil {
		return st.orgEpoch
	}
	return ""
}
