package main

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"linli/model"
)

// gen writes one data set; its fields count what it wrote.
type gen struct {
	sc    Scale
	now   time.Time
	db    *sql.DB
	batch int

	signups, entries, accounts int
	// members and volunteers by street (index 0..9), for claimers and
	// attendees.
	members, volunteers [Streets][]int64
}

// table buffers rows of one table and writes them as multi-row INSERTs of
// gen.batch rows, each its own transaction.
type table struct {
	db    *sql.DB
	name  string
	cols  []string
	batch int
	vals  []any
	n     int
}

func (g *gen) table(name string, cols ...string) *table {
	return &table{db: g.db, name: name, cols: cols, batch: g.batch, vals: make([]any, 0, g.batch*len(cols))}
}

// add buffers one row (values in column order; nil is NULL) and writes the
// batch when full. It returns the error of that write.
func (t *table) add(ctx context.Context, vals ...any) error {
	if len(vals) != len(t.cols) {
		return fmt.Errorf("%s: %d values for %d columns", t.name, len(vals), len(t.cols))
	}
	t.vals = append(t.vals, vals...)
	t.n++
	if t.n >= t.batch {
		return t.flush(ctx)
	}
	return nil
}

// flush writes the buffered rows.
func (t *table) flush(ctx context.Context) error {
	if t.n == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString("INSERT INTO `" + t.name + "` (`" + strings.Join(t.cols, "`,`") + "`) VALUES ")
	row := "(" + strings.TrimSuffix(strings.Repeat("?,", len(t.cols)), ",") + ")"
	for i := 0; i < t.n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(row)
	}
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, b.String(), t.vals...); err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("insert into %s: %w", t.name, err)
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	t.vals, t.n = t.vals[:0], 0
	return nil
}

// flushAll writes what every table still buffers.
func flushAll(ctx context.Context, ts ...*table) error {
	for _, t := range ts {
		if err := t.flush(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (g *gen) hours(h int) time.Time { return g.now.Add(time.Duration(h) * time.Hour) }

func (g *gen) orgs(ctx context.Context) error {
	t := g.table("org_units", "id", "parent_id", "level", "name", "path", "created_at")
	created := g.hours(-24 * 400)
	if err := t.add(ctx, DistrictID, nil, model.LevelDistrict, "示范区", fmt.Sprintf("/%d/", DistrictID), created); err != nil {
		return err
	}
	for s := 0; s < Streets; s++ {
		id := firstStreet + s
		if err := t.add(ctx, id, DistrictID, model.LevelStreet, fmt.Sprintf("第%d街道", s+1),
			fmt.Sprintf("/%d/%d/", DistrictID, id), created); err != nil {
			return err
		}
	}
	for k := 0; k < Communities; k++ {
		id, street := CommunityID(k), StreetOf(k)
		if err := t.add(ctx, id, street, model.LevelCommunity, fmt.Sprintf("第%d社区", k+1),
			fmt.Sprintf("/%d/%d/%d/", DistrictID, street, id), created); err != nil {
			return err
		}
		for gr := 0; gr < GridsPerComm; gr++ {
			gid := firstGrid + k*GridsPerComm + gr
			if err := t.add(ctx, gid, id, model.LevelGrid, fmt.Sprintf("第%d社区%d网格", k+1, gr+1),
				fmt.Sprintf("/%d/%d/%d/%d/", DistrictID, street, id, gid), created); err != nil {
				return err
			}
		}
	}
	return t.flush(ctx)
}

func phone(i int64) string { return fmt.Sprintf("139%08d", i) }

func (g *gen) users(ctx context.Context) error {
	t := g.table("users", "id", "open_id", "union_id", "nickname", "avatar_url", "phone", "real_name",
		"home_community_id", "home_grid_id", "created_at", "updated_at")
	for i := int64(1); i <= int64(g.sc.Users); i++ {
		k := HomeOf(i)
		grid := int64(firstGrid + k*GridsPerComm + int((i-1)/Communities)%GridsPerComm)
		created := g.hours(-int(mix(uint64(i)) % (24 * 365)))
		if err := t.add(ctx, i, fmt.Sprintf("bench-%d", i), "", fmt.Sprintf("居民%d", i), "", phone(i),
			fmt.Sprintf("用户%d", i), CommunityID(k), grid, created, created); err != nil {
			return err
		}
		street := int(StreetOf(k)) - firstStreet
		if IsMember(i) {
			g.members[street] = append(g.members[street], i)
		}
		if IsVolunteer(i) {
			g.volunteers[street] = append(g.volunteers[street], i)
		}
	}
	return t.flush(ctx)
}

func (g *gen) roles(ctx context.Context) error {
	staff := g.table("staff_roles", "id", "user_id", "org_id", "role", "created_by", "created_at")
	created := g.hours(-24 * 300)
	if err := staff.add(ctx, 1, 1, DistrictID, model.RoleAdmin, 0, created); err != nil {
		return err
	}
	for k := 0; k < Communities; k++ {
		if err := staff.add(ctx, k+2, StaffOf(k), CommunityID(k), model.RoleStaff, 1, created); err != nil {
			return err
		}
	}
	vol := g.table("volunteer_profiles", "id", "user_id", "real_name", "phone", "skills", "skills_note",
		"availability", "created_at", "updated_at")
	rep := g.table("member_reports", "id", "user_id", "community_id", "real_name", "phone", "unit_id", "unit_name",
		"branch", "mode", "status", "active_user_id", "pending_user_id", "reject_reason", "reviewed_by", "reviewed_at",
		"closed_at", "created_at", "updated_at")
	var vid, rid int64
	skills := []string{`["助老"]`, `["维修","助残"]`, `["助学"]`, `[]`}
	for i := int64(1); i <= int64(g.sc.Users); i++ {
		k := HomeOf(i)
		at := g.hours(-int(mix(uint64(i)+1) % (24 * 200)))
		if IsVolunteer(i) {
			vid++
			if err := vol.add(ctx, vid, i, fmt.Sprintf("用户%d", i), phone(i), skills[i%4], "", "周末",
				at, at); err != nil {
				return err
			}
		}
		if IsMember(i) {
			rid++
			mode := model.ModeDaily
			if i%3 == 0 {
				mode = model.ModeCentralized
			}
			if err := rep.add(ctx, rid, i, CommunityID(k), fmt.Sprintf("用户%d", i), phone(i), nil, "",
				fmt.Sprintf("第%d党支部", k%7+1), mode, model.ReviewApproved, i, nil, "", StaffOf(k), at.Add(time.Hour),
				nil, at, at.Add(time.Hour)); err != nil {
				return err
			}
		}
	}
	return flushAll(ctx, staff, vol, rep)
}

// Wish states by j % 20: 1 pending review, 8 published, 3 claimed,
// 2 fulfilled, 4 completed, 1 rejected, 1 cancelled or expired.
func wishStatus(j int64) model.WishStatus {
	switch r := j % 20; {
	case r == 0:
		return model.WishPendingReview
	case r <= 8:
		return model.WishPublished
	case r <= 11:
		return model.WishClaimed
	case r <= 13:
		return model.WishFulfilled
	case r <= 17:
		return model.WishCompleted
	case r == 18:
		return model.WishRejected
	case j%40 == 19:
		return model.WishCancelled
	default:
		return model.WishExpired
	}
}

func (g *gen) wishes(ctx context.Context) error {
	w := g.table("wishes", "id", "community_id", "street_id", "community_path", "title", "content", "category",
		"budget_fen", "images", "contact_phone", "address", "poster_id", "poster_name", "created_by", "proxy_by",
		"proxy_phone", "status", "review_flag", "reject_reason", "reviewed_by", "reviewed_at", "published_at",
		"claimer_id", "claim_unit_id", "claimed_at", "first_claimed_at", "claim_deadline", "fulfilled_at",
		"fulfil_note", "fulfil_images", "completed_at", "auto_confirmed", "rating", "comment", "closed_at",
		"created_at", "updated_at")
	claims := g.table("wish_claims", "id", "wish_id", "active_wish_id", "claimer_id", "unit_id", "status",
		"claimed_at", "deadline", "ended_at", "created_at")
	events := g.table("wish_events", "id", "wish_id", "actor_id", "actor_role", "action", "note", "created_at")
	cats := model.WishCategories()
	var claimID, eventID int64
	var nextClaimer [Streets]int
	U := int64(g.sc.Users)
	for j := int64(1); j <= int64(g.sc.Wishes); j++ {
		// Posters: an injective map of wish numbers onto users (one wish
		// each at most), skipping the staff users.
		poster := (j*7919)%(U-100) + 101
		k := HomeOf(poster)
		cid, sid := CommunityID(k), StreetOf(k)
		street := int(sid) - firstStreet
		st := wishStatus(j)
		// Hours before now of each step, so that no sweep has work to do:
		// claims within their 7-day deadline, fulfilments within the 3-day
		// auto-confirmation, published wishes within their 30 days.
		age := int(mix(uint64(j)) % 600) // hours since published, for open wishes
		var published, reviewed, claimedAt, deadline, fulfilled, completed, closed any
		var claimer, reviewer, rating any
		reviewer = StaffOf(k)
		created := g.hours(-age - 2)
		switch st {
		case model.WishPendingReview:
			reviewer = nil
			created = g.hours(-int(mix(uint64(j)) % 48))
		case model.WishClaimed:
			age = int(mix(uint64(j)) % 150)
			created = g.hours(-age - 20)
		case model.WishFulfilled:
			age = int(mix(uint64(j)) % 60)
			created = g.hours(-age - 40)
		case model.WishCompleted, model.WishExpired, model.WishCancelled, model.WishRejected:
			created = g.hours(-int(mix(uint64(j))%(24*330)) - 24*31)
		}
		ct := created
		if reviewer != nil {
			reviewed = ct.Add(time.Hour)
		}
		if st != model.WishPendingReview && st != model.WishRejected {
			published = ct.Add(time.Hour)
		}
		updated := ct.Add(time.Hour)
		switch st {
		case model.WishClaimed, model.WishFulfilled, model.WishCompleted:
			ms := g.members[street]
			c := ms[nextClaimer[street]%len(ms)]
			nextClaimer[street]++
			claimer = c
			at := ct.Add(10 * time.Hour)
			if st == model.WishClaimed {
				at = g.hours(-age)
			}
			claimedAt = at
			dl := at.Add(7 * 24 * time.Hour)
			deadline = dl
			updated = at
			claimID++
			var active, ended any
			cs := model.ClaimActive
			switch st {
			case model.WishClaimed:
				active = j
			case model.WishFulfilled:
				cs = model.ClaimFulfilled
				fulfilled = g.hours(-int(mix(uint64(j)+3) % 50))
				updated = fulfilled.(time.Time)
			case model.WishCompleted:
				cs = model.ClaimCompleted
				f := at.Add(48 * time.Hour)
				fulfilled, completed = f, f.Add(24*time.Hour)
				ended, updated = completed, f.Add(24*time.Hour)
				rating = 5 - int(j%3)
			}
			if err := claims.add(ctx, claimID, j, active, c, nil, cs, at, dl, ended, at); err != nil {
				return err
			}
			eventID++
			if err := events.add(ctx, eventID, j, c, "claimer", "claim", "", at); err != nil {
				return err
			}
		case model.WishRejected, model.WishCancelled, model.WishExpired:
			closed = ct.Add(24 * time.Hour)
			updated = closed.(time.Time)
		}
		reject := ""
		if st == model.WishRejected {
			reject = "内容不符合要求"
		}
		cat := cats[int(j)%len(cats)]
		if err := w.add(ctx, j, cid, sid, fmt.Sprintf("/%d/%d/%d/", DistrictID, sid, cid),
			fmt.Sprintf("%s心愿%d", cat, j), fmt.Sprintf("希望得到帮助：%s，第%d号心愿。", cat, j), cat,
			int64(j%50)*1000, "", phone(poster), fmt.Sprintf("第%d社区%d号楼", k+1, j%30+1), poster,
			fmt.Sprintf("居民%d", poster), poster, nil, "", st, "", reject, reviewer, reviewed, published,
			claimer, nil, claimedAt, claimedAt, deadline, fulfilled, "", "", completed, false, rating, "", closed,
			ct, updated); err != nil {
			return err
		}
		eventID++
		if err := events.add(ctx, eventID, j, poster, "poster", "create", "", ct); err != nil {
			return err
		}
	}
	return flushAll(ctx, w, claims, events)
}

// account is one ledger account being built.
type account struct {
	id              int64
	balance, earned int64
	created         time.Time
}

type accountKey struct {
	owner model.OwnerKind
	id    int64
	cur   model.Currency
}

func (g *gen) activities(ctx context.Context) error {
	acts := g.table("activities", "id", "community_id", "unit_id", "title", "content", "category", "address", "lat",
		"lng", "radius_m", "start_at", "end_at", "signup_deadline", "capacity", "waitlist", "audience",
		"points_per_hour", "status", "signed", "created_by", "published_by",
		"published_at", "cancelled_by", "cancelled_at", "cancel_reason", "created_at", "updated_at")
	atts := g.table("attendances", "id", "activity_id", "user_id", "status", "signed_up_at",
		"promoted_at", "cancelled_at", "state", "checkin_at", "checkin_source", "checkin_by", "checkout_at",
		"checkout_source", "checkout_by", "flagged", "computed_minutes", "minutes", "points", "score", "reason",
		"absent_at", "reviewed_by", "reviewed_at", "approval_version", "minutes_txn_id", "points_txn_id",
		"activity_end_at", "created_at", "updated_at")
	txns := g.table("ledger_txns", "id", "kind", "source_kind", "source_id", "memo", "reverses_id", "created_at")
	entries := g.table("ledger_entries", "id", "txn_id", "account_id", "currency", "amount", "source_kind",
		"source_id", "memo", "created_at")
	records := g.table("service_records", "id", "user_id", "community_id", "kind", "occurred_at", "minutes", "note",
		"images", "post_id", "unit_id", "status", "reject_reason", "reviewed_by", "reviewed_at", "source_key",
		"created_at", "updated_at")
	accounts := map[accountKey]*account{}
	var accountSeq int64
	acct := func(k accountKey, at time.Time) *account {
		a := accounts[k]
		if a == nil {
			accountSeq++
			a = &account{id: accountSeq, created: at}
			accounts[k] = a
		}
		return a
	}
	var attID, txnID, entryID, recID int64
	credit := func(userID int64, cid int64, cur model.Currency, amount int64, src, memo string, at time.Time) (int64, error) {
		txnID++
		if err := txns.add(ctx, txnID, "credit", "attendance", src, memo, nil, at); err != nil {
			return 0, err
		}
		u := acct(accountKey{model.OwnerUser, userID, cur}, at)
		c := acct(accountKey{model.OwnerCommunity, cid, cur}, at)
		u.balance += amount
		u.earned += amount
		c.balance -= amount
		for _, leg := range []struct {
			a   *account
			amt int64
		}{{u, amount}, {c, -amount}} {
			entryID++
			if err := entries.add(ctx, entryID, txnID, leg.a.id, cur, leg.amt, "attendance", src, memo, at); err != nil {
				return 0, err
			}
		}
		return txnID, nil
	}
	A := int64(g.sc.Activities)
	// Sign-ups spread over every activity but the drafts (a % 20 == 0).
	nonDraft := A - A/20
	perAct, extra := g.sc.Signups/int(nonDraft), g.sc.Signups%int(nonDraft)
	var nonDraftSeen int
	cats := []string{"环境整治", "助老服务", "文明劝导", "社区治理", "文化活动"}
	for a := int64(1); a <= A; a++ {
		k := int((a - 1) % Communities)
		cid, staff := CommunityID(k), StaffOf(k)
		street := int(StreetOf(k)) - firstStreet
		status := model.ActivityFinished
		switch r := a % 20; {
		case r == 0:
			status = model.ActivityDraft
		case r == 1:
			status = model.ActivityCancelled
		case r <= 3:
			status = model.ActivityPublished
		}
		var start time.Time
		if status == model.ActivityPublished || status == model.ActivityDraft {
			start = g.hours(24 + int(mix(uint64(a))%(24*30)))
		} else {
			start = g.hours(-24 - int(mix(uint64(a))%(24*360)))
		}
		end := start.Add(time.Duration(1+a%3) * time.Hour)
		created := start.Add(-10 * 24 * time.Hour)
		audience := model.AudienceAll
		pool := g.volunteers[street]
		if a%10 == 5 {
			audience, pool = model.AudiencePartyMembers, g.members[street]
		}
		capacity := perAct + 10
		n := 0
		if status != model.ActivityDraft {
			n = perAct
			if nonDraftSeen < extra {
				n++
			}
			nonDraftSeen++
			if n > len(pool) {
				n = len(pool)
			}
		}
		pph := 10
		title := fmt.Sprintf("%s活动%d", cats[a%5], a)
		var publishedBy, publishedAt, cancelledBy, cancelledAt any
		cancelReason := ""
		if status != model.ActivityDraft {
			publishedBy, publishedAt = staff, created.Add(time.Hour)
		}
		if status == model.ActivityCancelled {
			cancelledBy, cancelledAt, cancelReason = staff, start.Add(-24*time.Hour), "天气原因"
		}
		signed := 0
		off := int(mix(uint64(a)+11) % uint64(len(pool)))
		for x := 0; x < n; x++ {
			u := pool[(off+x)%len(pool)]
			attID++
			g.signups++
			signedUp := created.Add(time.Duration(2+x) * time.Hour)
			st := model.SignupSigned
			state := model.AttendNone
			var cancelled, checkin, checkout, absent, reviewedBy, reviewedAt, mTxn, pTxn any
			inSrc, outSrc := "", ""
			var inBy, outBy any
			computed, minutes, version := 0, 0, 0
			var points int64
			score := 0
			switch status {
			case model.ActivityCancelled:
				st, cancelled = model.SignupCancelled, start.Add(-24*time.Hour)
			case model.ActivityFinished:
				r := mix(uint64(attID)) % 100
				switch {
				case r < 5:
					state, absent = model.AttendAbsent, end
					reviewedBy, reviewedAt = staff, end.Add(2*time.Hour)
				case r < 83 && g.entries+4 <= g.sc.Entries:
					state = model.AttendApproved
					computed = int(end.Sub(start).Minutes())
					minutes, points, score, version = computed, int64(pph*computed/60), 5, 1
					reviewedBy, reviewedAt = staff, end.Add(24*time.Hour)
					src := fmt.Sprintf("%d:v1", attID)
					memo := "志愿活动：" + title
					at := end.Add(24 * time.Hour).UTC()
					mt, err := credit(u, cid, model.CurrencyMinutes, int64(minutes), src, memo, at)
					if err != nil {
						return err
					}
					pt, err := credit(u, cid, model.CurrencyPoints, points, src, memo, at)
					if err != nil {
						return err
					}
					mTxn, pTxn = mt, pt
					g.entries += 4
					recID++
					if err := records.add(ctx, recID, u, cid, model.ServicePublicActivity, start.UTC(), minutes, title,
						"", nil, nil, model.RecordApproved, "", staff, at, fmt.Sprintf("attendance:%d", attID), at, at); err != nil {
						return err
					}
				default:
					state = model.AttendCheckedOut
					computed = int(end.Sub(start).Minutes())
				}
				if state == model.AttendApproved || state == model.AttendCheckedOut {
					checkin, checkout = start, end
					inSrc, outSrc = model.SourceQRCode, model.SourceQRCode
				}
			}
			if st == model.SignupSigned {
				signed++
			}
			if err := atts.add(ctx, attID, a, u, st, signedUp, nil, cancelled, state, checkin, inSrc, inBy,
				checkout, outSrc, outBy, false, computed, minutes, points, score, "", absent, reviewedBy, reviewedAt,
				version, mTxn, pTxn, end, signedUp, signedUp); err != nil {
				return err
			}
		}
		if err := acts.add(ctx, a, cid, nil, title, "一起为社区出份力。", cats[a%5], fmt.Sprintf("第%d社区活动室", k+1),
			nil, nil, 500, start, end, start.Add(-2*time.Hour), capacity, a%4 == 0, audience, pph, status, signed,
			staff, publishedBy, publishedAt, cancelledBy, cancelledAt, cancelReason, created, created); err != nil {
			return err
		}
	}
	if err := flushAll(ctx, acts, atts, txns, entries, records); err != nil {
		return err
	}
	t := g.table("accounts", "id", "owner_kind", "owner_id", "currency", "balance", "earned", "created_at", "updated_at")
	for k, a := range accounts {
		if err := t.add(ctx, a.id, k.owner, k.id, k.cur, a.balance, a.earned, a.created, a.created); err != nil {
			return err
		}
	}
	g.accounts = len(accounts)
	return t.flush(ctx)
}

func (g *gen) goods(ctx context.Context) error {
	t := g.table("mall_goods", "id", "community_id", "name", "description", "image", "points_price", "stock",
		"per_user_limit", "on_sale", "created_by", "created_at", "updated_at", "deleted_at")
	names := []string{"洗衣液", "大米", "食用油", "毛巾", "牙膏", "抽纸", "雨伞", "保温杯", "环保袋", "香皂"}
	created := g.hours(-24 * 100)
	var id int64
	for k := 0; k < Communities; k++ {
		for x := 0; x < GoodsPerComm; x++ {
			id++
			if err := t.add(ctx, id, CommunityID(k), names[x], "爱心超市兑换商品", "", int64(5+x*5), 1_000_000_000, 0,
				true, StaffOf(k), created, created, nil); err != nil {
				return err
			}
		}
	}
	return t.flush(ctx)
}
