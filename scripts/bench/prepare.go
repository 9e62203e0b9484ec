package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gorm.io/gorm"

	"linli/internal/ledger"
	"linli/model"
)

// noShowWindow is activity.noshow_window's default: users with an absence
// within it may be blocked from signing up, so the bench leaves them out.
const noShowWindow = 2160 * time.Hour

// prepare picks and signs in the residents, the admin and the staff, and
// gives the residents points to spend.
func (b *bench) prepare(ctx context.Context) error {
	t0 := time.Now()
	db := b.db.WithContext(ctx)
	var cands []struct {
		UserID, HomeCommunityID, StreetID int64
	}
	err := db.Raw(`SELECT r.user_id, u.home_community_id, o.parent_id AS street_id FROM member_reports r
		JOIN users u ON u.id = r.user_id JOIN org_units o ON o.id = u.home_community_id
		JOIN volunteer_profiles v ON v.user_id = r.user_id
		WHERE r.status = 'approved' AND r.active_user_id IS NOT NULL AND r.user_id > 100
		AND NOT EXISTS (SELECT 1 FROM attendances t WHERE t.user_id = r.user_id AND t.absent_at > ?)
		ORDER BY r.user_id LIMIT 20000`, b.now.Add(-noShowWindow)).Scan(&cands).Error
	if err != nil {
		return fmt.Errorf("pick residents: %w", err)
	}
	// Round robin over communities: residents spread like the population.
	byCommunity := map[int64][]int{}
	var order []int64
	for i, c := range cands {
		if _, ok := byCommunity[c.HomeCommunityID]; !ok {
			order = append(order, c.HomeCommunityID)
		}
		byCommunity[c.HomeCommunityID] = append(byCommunity[c.HomeCommunityID], i)
	}
	for round := 0; len(b.residents) < b.o.users; round++ {
		added := false
		for _, cid := range order {
			if l := byCommunity[cid]; round < len(l) && len(b.residents) < b.o.users {
				c := cands[l[round]]
				b.residents = append(b.residents, resident{id: c.UserID, community: c.HomeCommunityID, street: c.StreetID})
				added = true
			}
		}
		if !added {
			return fmt.Errorf("only %d eligible residents (Party members and volunteers without recent absences), --users %d", len(b.residents), b.o.users)
		}
	}
	ids := make([]int64, len(b.residents))
	for i := range b.residents {
		ids[i] = b.residents[i].id
	}
	toks, err := b.mint(ctx, ids)
	if err != nil {
		return err
	}
	for i := range b.residents {
		b.residents[i].token = toks[i]
	}
	// The district admin (user 1) and every community's staff (seed.StaffOf).
	var comms []int64
	if err := db.Raw(`SELECT id FROM org_units WHERE level = 'community' ORDER BY id`).Scan(&comms).Error; err != nil {
		return err
	}
	var staffIDs []int64
	var staffComm []int64
	if err := db.Raw(`SELECT user_id FROM staff_roles WHERE role = 'admin' ORDER BY id LIMIT 1`).Scan(&staffIDs).Error; err != nil || len(staffIDs) == 0 {
		return fmt.Errorf("no admin in the data set: %v", err)
	}
	var staff []struct{ UserID, OrgID int64 }
	if err := db.Raw(`SELECT s.user_id, s.org_id FROM staff_roles s JOIN org_units o ON o.id = s.org_id
		WHERE o.level = 'community' AND s.role = 'staff' ORDER BY s.id`).Scan(&staff).Error; err != nil {
		return err
	}
	seen := map[int64]bool{}
	for _, s := range staff {
		if !seen[s.OrgID] {
			seen[s.OrgID] = true
			staffIDs = append(staffIDs, s.UserID)
			staffComm = append(staffComm, s.OrgID)
		}
	}
	toks, err = b.mint(ctx, staffIDs)
	if err != nil {
		return err
	}
	b.admin = toks[0]
	for i, cid := range staffComm {
		b.staff[cid] = toks[i+1]
	}
	// Points to spend in the mall, as a proper ledger credit.
	l := ledger.New()
	run := strings.TrimSuffix(strings.TrimPrefix(b.o.prefix, "linlibench:"), ":")
	for _, r := range b.residents {
		err := b.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			_, err := l.Credit(ctx, tx, ledger.Credit{UserID: r.id, CommunityID: r.community, Currency: model.CurrencyPoints,
				Amount: 10_000_000, Source: ledger.Source{Kind: "bench_topup", ID: fmt.Sprintf("%s:%d", run, r.id)}, Memo: "压测充值"})
			return err
		})
		if err != nil {
			return fmt.Errorf("top up %d: %w", r.id, err)
		}
	}
	// An inbox of 40 notifications per resident, the newer half unread, for
	// GET /me/notifications (written once: a rerun finds them there).
	if err := b.fillInboxes(ctx); err != nil {
		return err
	}
	// The baseline's leaderboard: a sorted set of what users earned.
	var earned []struct{ OwnerID, Earned int64 }
	if err := db.Raw(`SELECT owner_id, earned FROM accounts WHERE owner_kind = 'user' AND currency = 'minutes'
		AND earned > 0`).Scan(&earned).Error; err != nil {
		return err
	}
	key := b.o.prefix + "bl:lb"
	for i := 0; i < len(earned); i += 5000 {
		pipe := b.redis.Client.Pipeline()
		for _, e := range earned[i:min(i+5000, len(earned))] {
			pipe.ZAdd(ctx, key, redisZ(e.OwnerID, e.Earned))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return fmt.Errorf("baseline leaderboard: %w", err)
		}
	}
	b.redis.Client.Expire(ctx, key, 24*time.Hour)
	fmt.Fprintf(os.Stderr, "bench: %d residents in %d communities, %d staff signed in (%.1fs)\n",
		len(b.residents), len(byCommunityOf(b.residents)), len(b.staff), time.Since(t0).Seconds())
	return nil
}

func byCommunityOf(rs []resident) map[int64]bool {
	m := map[int64]bool{}
	for _, r := range rs {
		m[r.community] = true
	}
	return m
}

// mint signs users in the way linli does (a session in Redis, an access
// token signed with jwt.secret) and returns their access tokens in order.
func (b *bench) mint(ctx context.Context, ids []int64) ([]string, error) {
	var found []struct {
		ID     int64
		OpenID string
	}
	if err := b.db.WithContext(ctx).Raw(`SELECT id, open_id FROM users WHERE id IN ?`, ids).Scan(&found).Error; err != nil {
		return nil, err
	}
	byID := map[int64]string{}
	for _, f := range found {
		byID[f.ID] = f.OpenID
	}
	openIDs := make([]string, len(ids))
	for i, id := range ids {
		if openIDs[i] = byID[id]; openIDs[i] == "" {
			return nil, fmt.Errorf("mint: no user %d", id)
		}
	}
	out := make([]string, len(ids))
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(ids) {
					return
				}
				t, err := b.svc.Auth.DevLogin(ctx, openIDs[i], "")
				if err != nil {
					mu.Lock()
					firstErr = fmt.Errorf("sign in user %d: %w", ids[i], err)
					mu.Unlock()
					return
				}
				out[i] = t.AccessToken
			}
		}()
	}
	wg.Wait()
	return out, firstErr
}

// inboxSize is how many notifications each resident's inbox holds.
const inboxSize = 40

// fillInboxes gives each resident inboxSize notifications (the newer half
// unread) unless they have some already.
func (b *bench) fillInboxes(ctx context.Context) error {
	now := time.Now().UTC()
	var rows [][]any
	for _, r := range b.residents {
		var n int64
		if err := b.db.WithContext(ctx).Model(&model.Notification{}).Where("user_id = ?", r.id).Count(&n).Error; err != nil {
			return err
		}
		for i := int(n); i < inboxSize; i++ {
			at := now.Add(time.Duration(i-inboxSize) * time.Hour)
			var read any
			if i < inboxSize/2 {
				read = at.Add(time.Minute)
			}
			rows = append(rows, []any{r.id, "wish_claimed", "心愿已被认领", "您的微心愿「给独居老人送餐」已被认领", "wish", int64(i + 1), read, at})
		}
	}
	return b.insertRows(ctx, "notifications", []string{"user_id", "event", "title", "body", "object_kind", "object_id", "read_at", "created_at"}, rows)
}

// insertRows writes rows with multi-row INSERTs of 1000 rows.
func (b *bench) insertRows(ctx context.Context, table string, cols []string, rows [][]any) error {
	row := "(" + strings.TrimSuffix(strings.Repeat("?,", len(cols)), ",") + ")"
	for i := 0; i < len(rows); i += 1000 {
		chunk := rows[i:min(i+1000, len(rows))]
		vals := make([]any, 0, len(chunk)*len(cols))
		ph := make([]string, len(chunk))
		for j, r := range chunk {
			vals = append(vals, r...)
			ph[j] = row
		}
		q := "INSERT IGNORE INTO `" + table + "` (`" + strings.Join(cols, "`,`") + "`) VALUES " + strings.Join(ph, ",")
		if err := b.db.WithContext(ctx).Exec(q, vals...).Error; err != nil {
			return fmt.Errorf("insert into %s: %w", table, err)
		}
	}
	return nil
}

// pool hands out the items of one target's write storm: per resident a queue
// (claims, sign-ups) or one shared queue (approvals).
type pool struct {
	per  [][]int64
	next []atomic.Int64
}

func newPool(queues [][]int64) *pool {
	return &pool{per: queues, next: make([]atomic.Int64, len(queues))}
}

// take returns the next item of queue q, or false when it is used up.
func (p *pool) take(q int) (int64, bool) {
	i := p.next[q].Add(1) - 1
	if i >= int64(len(p.per[q])) {
		return 0, false
	}
	return p.per[q][i], true
}

// poolSize is how many items a storm at rate items/s may use in the
// scenario's duration (with the warm-up).
func (b *bench) poolSize(rate float64) int {
	return int(math.Ceil(rate * (b.o.duration + time.Second).Seconds()))
}

// claimPools inserts published wishes in each resident's street for both
// targets (posted by users who are not residents) and returns the queues.
func (b *bench) claimPools(ctx context.Context) ([2]*pool, error) {
	perResident := b.poolSize(4000) / len(b.residents)
	var comms []struct{ ID, ParentID int64 }
	if err := b.db.WithContext(ctx).Raw(`SELECT id, parent_id FROM org_units WHERE level = 'community' ORDER BY id`).
		Scan(&comms).Error; err != nil {
		return [2]*pool{}, err
	}
	inStreet := map[int64][]int64{}
	for _, c := range comms {
		inStreet[c.ParentID] = append(inStreet[c.ParentID], c.ID)
	}
	var maxID int64
	if err := b.db.WithContext(ctx).Raw(`SELECT COALESCE(MAX(id), 0) FROM wishes`).Scan(&maxID).Error; err != nil {
		return [2]*pool{}, err
	}
	cols := []string{"id", "community_id", "street_id", "community_path", "title", "content", "category", "budget_fen",
		"contact_phone", "address", "poster_id", "poster_name", "created_by", "status", "reviewed_by", "reviewed_at",
		"published_at", "created_at", "updated_at"}
	var rows [][]any
	var out [2]*pool
	id := maxID
	now := time.Now().Add(-time.Minute)
	for t := 0; t < 2; t++ {
		queues := make([][]int64, len(b.residents))
		for ri, r := range b.residents {
			cs := inStreet[r.street]
			for x := 0; x < perResident; x++ {
				id++
				cid := cs[x%len(cs)]
				poster := int64(2 + x%98) // community staff users: never residents
				rows = append(rows, []any{id, cid, r.street, fmt.Sprintf("/1/%d/%d/", r.street, cid), fmt.Sprintf("压测心愿%d", id),
					"压测用心愿", "其他", 0, "13900000000", "压测地址", poster, "压测", poster, model.WishPublished, poster, now, now, now, now})
				queues[ri] = append(queues[ri], id)
			}
		}
		out[t] = newPool(queues)
	}
	return out, b.insertRows(ctx, "wishes", cols, rows)
}

// activityRows returns n published activities for a target in far-future,
// non-overlapping windows (no schedule clash) of the first community.
func (b *bench) activityRows(ctx context.Context, n, capacity int, waitlist bool, title string) ([]int64, error) {
	var maxID int64
	if err := b.db.WithContext(ctx).Raw(`SELECT COALESCE(MAX(id), 0) FROM activities`).Scan(&maxID).Error; err != nil {
		return nil, err
	}
	var cid, staff int64
	for c := range b.staff {
		if cid == 0 || c < cid {
			cid = c
		}
	}
	if err := b.db.WithContext(ctx).Raw(`SELECT user_id FROM staff_roles WHERE org_id = ? LIMIT 1`, cid).Scan(&staff).Error; err != nil {
		return nil, err
	}
	cols := []string{"id", "community_id", "title", "content", "category", "address", "radius_m", "start_at", "end_at",
		"signup_deadline", "capacity", "waitlist", "audience", "points_per_hour", "status", "created_by", "published_by",
		"published_at", "created_at", "updated_at"}
	// Windows after every earlier bench activity: 3 h apart from 500 days on.
	var last time.Time
	if err := b.db.WithContext(ctx).Raw(`SELECT COALESCE(MAX(end_at), NOW()) FROM activities`).Scan(&last).Error; err != nil {
		return nil, err
	}
	base := last.Add(3 * time.Hour)
	if min := time.Now().Add(500 * 24 * time.Hour); base.Before(min) {
		base = min
	}
	base = base.Truncate(time.Hour)
	var rows [][]any
	ids := make([]int64, n)
	now := time.Now()
	for i := 0; i < n; i++ {
		id := maxID + int64(i) + 1
		ids[i] = id
		start := base.Add(time.Duration(i) * 3 * time.Hour)
		rows = append(rows, []any{id, cid, fmt.Sprintf("%s%d", title, id), "压测活动", "社区治理", "压测地址", 500, start,
			start.Add(time.Hour), start.Add(-time.Hour), capacity, waitlist, model.AudienceAll, 10, model.ActivityPublished,
			staff, staff, now, now, now})
	}
	return ids, b.insertRows(ctx, "activities", cols, rows)
}

// signupPools: per target, activities every resident signs up for in turn.
func (b *bench) signupPools(ctx context.Context) ([2]*pool, error) {
	n := b.poolSize(3000)/len(b.residents) + 1
	var out [2]*pool
	for t := 0; t < 2; t++ {
		ids, err := b.activityRows(ctx, n, len(b.residents), false, "压测报名")
		if err != nil {
			return out, err
		}
		queues := make([][]int64, len(b.residents))
		for i := range queues {
			queues[i] = ids
		}
		out[t] = newPool(queues)
	}
	return out, nil
}

// approveBatch is one batch approval: an activity, its staff and users.
type approveBatch struct {
	activity int64
	token    string
	users    []int64
}

// approvePools: per target, finished activities (one per community in turn)
// with 50 checked-out attendances each, cut into batches.
func (b *bench) approvePools(ctx context.Context) ([2][]approveBatch, error) {
	var out [2][]approveBatch
	const perActivity = 50
	batches := b.poolSize(600)
	nAct := (batches*b.o.batch + perActivity - 1) / perActivity
	var users int64
	if err := b.db.WithContext(ctx).Raw(`SELECT MAX(id) FROM users`).Scan(&users).Error; err != nil {
		return out, err
	}
	var comms []int64
	for c := range b.staff {
		comms = append(comms, c)
	}
	var maxAct, maxAtt int64
	if err := b.db.WithContext(ctx).Raw(`SELECT COALESCE(MAX(id), 0) FROM activities`).Scan(&maxAct).Error; err != nil {
		return out, err
	}
	if err := b.db.WithContext(ctx).Raw(`SELECT COALESCE(MAX(id), 0) FROM attendances`).Scan(&maxAtt).Error; err != nil {
		return out, err
	}
	actCols := []string{"id", "community_id", "title", "content", "category", "address", "radius_m", "start_at", "end_at",
		"signup_deadline", "capacity", "waitlist", "audience", "points_per_hour", "status", "signed", "created_by",
		"published_at", "created_at", "updated_at"}
	attCols := []string{"id", "activity_id", "user_id", "status", "signed_up_at", "state", "checkin_at", "checkin_source",
		"checkout_at", "checkout_source", "computed_minutes", "activity_end_at", "created_at", "updated_at"}
	accCols := []string{"owner_kind", "owner_id", "currency", "balance", "earned", "created_at", "updated_at"}
	var actRows, attRows, accRows [][]any
	start := time.Now().Add(-48 * time.Hour).Truncate(time.Hour)
	end := start.Add(time.Hour)
	now := time.Now()
	u := int64(0)
	needAcc := map[int64]bool{}
	for t := 0; t < 2; t++ {
		byActivity := make([][]approveBatch, nAct)
		for a := 0; a < nAct; a++ {
			maxAct++
			cid := comms[a%len(comms)]
			actRows = append(actRows, []any{maxAct, cid, fmt.Sprintf("压测审核%d", maxAct), "压测活动", "社区治理", "压测地址",
				500, start, end, start.Add(-time.Hour), perActivity, false, model.AudienceAll, 10, model.ActivityFinished,
				perActivity, 1, start.Add(-72 * time.Hour), now, now})
			var members []int64
			for x := 0; x < perActivity; x++ {
				uid := 101 + u%(users-100)
				u++
				maxAtt++
				members = append(members, uid)
				needAcc[uid] = true
				attRows = append(attRows, []any{maxAtt, maxAct, uid, model.SignupSigned, start.Add(-24 * time.Hour),
					model.AttendCheckedOut, start, model.SourceQRCode, end, model.SourceQRCode, 60, end, now, now})
			}
			for x := 0; x+b.o.batch <= perActivity; x += b.o.batch {
				byActivity[a] = append(byActivity[a], approveBatch{activity: maxAct, token: b.staff[cid], users: members[x : x+b.o.batch]})
			}
		}
		// Interleaved: consecutive batches are of different communities, as
		// when many staff approve at once.
		for x := 0; ; x++ {
			added := false
			for a := range byActivity {
				if x < len(byActivity[a]) {
					out[t] = append(out[t], byActivity[a][x])
					added = true
				}
			}
			if !added {
				break
			}
		}
	}
	for uid := range needAcc {
		for _, c := range []model.Currency{model.CurrencyMinutes, model.CurrencyPoints} {
			accRows = append(accRows, []any{model.OwnerUser, uid, c, 0, 0, now, now})
		}
	}
	for _, cid := range comms {
		for _, c := range []model.Currency{model.CurrencyMinutes, model.CurrencyPoints} {
			accRows = append(accRows, []any{model.OwnerCommunity, cid, c, 0, 0, now, now})
		}
	}
	for _, ins := range []struct {
		t    string
		cols []string
		rows [][]any
	}{{"activities", actCols, actRows}, {"attendances", attCols, attRows}, {"accounts", accCols, accRows}} {
		if err := b.insertRows(ctx, ins.t, ins.cols, ins.rows); err != nil {
			return out, err
		}
	}
	return out, nil
}

// goodsOf returns the cheapest goods of each resident's home community.
func (b *bench) goodsOf(ctx context.Context) ([]int64, error) {
	out := make([]int64, len(b.residents))
	for i, r := range b.residents {
		if err := b.db.WithContext(ctx).Raw(`SELECT id FROM mall_goods WHERE community_id = ? AND on_sale = 1
			AND deleted_at IS NULL ORDER BY points_price, id LIMIT 1`, r.community).Scan(&out[i]).Error; err != nil {
			return nil, err
		}
		if out[i] == 0 {
			return nil, fmt.Errorf("no goods in community %d", r.community)
		}
	}
	return out, nil
}

// burstUsers returns n users without recent absences who are not residents,
// registered as volunteers, and signed in.
func (b *bench) burstUsers(ctx context.Context, n int) ([]string, error) {
	var ids []int64
	if err := b.db.WithContext(ctx).Raw(`SELECT u.id FROM users u WHERE u.id > 100
		AND NOT EXISTS (SELECT 1 FROM attendances t WHERE t.user_id = u.id AND t.absent_at > ?)
		AND NOT EXISTS (SELECT 1 FROM member_reports r WHERE r.user_id = u.id)
		ORDER BY u.id DESC LIMIT ?`, b.now.Add(-noShowWindow), n).Scan(&ids).Error; err != nil {
		return nil, err
	}
	if len(ids) < n {
		return nil, fmt.Errorf("only %d users for a burst of %d", len(ids), n)
	}
	now := time.Now()
	var rows [][]any
	for _, id := range ids {
		rows = append(rows, []any{id, fmt.Sprintf("用户%d", id), "13900000000", "[]", now, now})
	}
	if err := b.insertRows(ctx, "volunteer_profiles", []string{"user_id", "real_name", "phone", "skills", "created_at", "updated_at"}, rows); err != nil {
		return nil, err
	}
	return b.mint(ctx, ids)
}
