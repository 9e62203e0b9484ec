// Command baseline is the yardstick of scripts/bench: a bare gin server that
// answers the benchmarked linli routes (same paths, same tokens, same
// database and Redis) with the fewest round trips each needs: one Redis
// HGET of the session (after verifying the JWT, as linli does) and one
// indexed SELECT for a read; for a write, the same rows written in one
// transaction. It skips everything else linli does (validation, access
// control, logging, metrics): the ratio linli/baseline is what those and the
// extra round trips cost.
//
//	go run ./scripts/bench/baseline --addr 127.0.0.1:18081 --dsn DSN --redis ADDR --prefix P --secret S
//
// Queries are sent with interpolateParams=true: one round trip per statement.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"
	"github.com/redis/go-redis/v9"

	"github.com/go-sql-driver/mysql"

	"linli/internal/store"
	"linli/model"
	"linli/service"
)

type server struct {
	db     *sql.DB
	rdb    *redis.Client
	prefix string
	secret []byte
	loc    *time.Location // linli's, for the leaderboards' periods
	bump   *redis.Script  // service.BumpLua
	seq    atomic.Int64   // pickup codes of the orders this process places
}

func main() {
	addr := flag.String("addr", "127.0.0.1:18081", "listen address")
	dsn := flag.String("dsn", "root@tcp(127.0.0.1:3306)/linli_bench", "MySQL DSN")
	raddr := flag.String("redis", "127.0.0.1:6379", "Redis address")
	prefix := flag.String("prefix", "linli:", "Redis key prefix of linli's sessions")
	secret := flag.String("secret", "", "linli's jwt.secret")
	conns := flag.Int("conns", 50, "database and Redis pool size (linli's defaults)")
	zone := flag.String("timezone", "Asia/Shanghai", "linli's timezone: the month and year of its leaderboards")
	flag.Parse()
	loc, err := time.LoadLocation(*zone)
	if err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		os.Exit(1)
	}
	db, err := sql.Open("mysql", store.MySQLDSN(*dsn)+"&interpolateParams=true")
	if err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		os.Exit(1)
	}
	db.SetMaxOpenConns(*conns)
	db.SetMaxIdleConns(*conns)
	s := &server{db: db, rdb: redis.NewClient(&redis.Options{Addr: *raddr, PoolSize: *conns}), prefix: *prefix,
		secret: []byte(*secret), loc: loc, bump: redis.NewScript(service.BumpLua)}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.GET("/readyz", func(c *gin.Context) { c.JSON(200, gin.H{"code": 0}) })
	a := r.Group("/api/v1", s.auth)
	a.GET("/wishes", s.wishes)
	a.GET("/activities", s.activities)
	a.GET("/me", s.me)
	a.GET("/me/account", s.account)
	a.GET("/me/notifications", s.inbox)
	a.GET("/leaderboards", s.leaderboard)
	a.GET("/mall/goods", s.goods)
	a.GET("/cases", s.cases)
	a.GET("/admin/case-stats", s.caseStats)
	a.POST("/wishes/:id/claim", s.claim)
	a.POST("/activities/:id/signup", s.signup)
	a.POST("/activities/:id/attendances/approve", s.approve)
	a.POST("/mall/orders", s.order)
	if err := http.ListenAndServe(*addr, r); err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		os.Exit(1)
	}
}

type claims struct {
	SessionID string `json:"sid"`
	jwt.RegisteredClaims
}

// auth verifies the access token and checks its session with one HGET.
func (s *server) auth(c *gin.Context) {
	tok, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
	var cl claims
	if ok {
		_, err := jwt.ParseWithClaims(tok, &cl, func(*jwt.Token) (any, error) { return s.secret, nil },
			jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired())
		ok = err == nil
	}
	uid, _ := strconv.ParseInt(cl.Subject, 10, 64)
	if ok {
		stored, err := s.rdb.HGet(c, s.prefix+"sess:{"+cl.SessionID+"}", "uid").Int64()
		ok = err == nil && stored == uid
	}
	if !ok {
		c.AbortWithStatusJSON(401, gin.H{"code": 10002, "message": "unauthenticated"})
		return
	}
	c.Set("uid", uid)
}

func ok(c *gin.Context, status int, data any) {
	c.JSON(status, gin.H{"code": 0, "message": "ok", "data": data})
}

func fail(c *gin.Context, err error) {
	c.JSON(500, gin.H{"code": 10500, "message": err.Error()})
}

// rows scans every row of a query into maps (column → value).
func rows(ctx context.Context, db *sql.DB, q string, args ...any) ([]map[string]any, error) {
	rs, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	cols, err := rs.Columns()
	if err != nil {
		return nil, err
	}
	out := []map[string]any{}
	for rs.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			return nil, err
		}
		m := make(map[string]any, len(cols))
		for i, col := range cols {
			if b, isBytes := vals[i].([]byte); isBytes {
				m[col] = string(b)
			} else {
				m[col] = vals[i]
			}
		}
		out = append(out, m)
	}
	return out, rs.Err()
}

func (s *server) list(c *gin.Context, q string, args ...any) {
	l, err := rows(c, s.db, q, args...)
	if err != nil {
		fail(c, err)
		return
	}
	ok(c, 200, gin.H{"list": l})
}

const wishCols = `w.id, w.community_id, w.title, w.content, w.category, w.budget_fen, w.images, w.poster_name,
	w.status, w.published_at, w.claimer_id, w.created_at`

// wishes: a community's feed (communityId) or the caller's street's.
func (s *server) wishes(c *gin.Context) {
	if cid := c.Query("communityId"); cid != "" {
		s.list(c, `SELECT `+wishCols+` FROM wishes w WHERE w.community_id = ? AND w.status = 'published'
			ORDER BY w.published_at DESC, w.id DESC LIMIT 20`, cid)
		return
	}
	s.list(c, `SELECT `+wishCols+` FROM wishes w WHERE w.street_id = (SELECT o.parent_id FROM users u
		JOIN org_units o ON o.id = u.home_community_id WHERE u.id = ?) AND w.status = 'published'
		ORDER BY w.published_at DESC, w.id DESC LIMIT 20`, c.GetInt64("uid"))
}

// activities: the home community's list as linli serves it — those not yet
// ended (soonest first), then the ended ones (latest first) — both halves
// in one statement.
func (s *server) activities(c *gin.Context) {
	const cols = `a.id, a.title, a.category, a.address, a.start_at, a.end_at, a.capacity, a.signed,
		a.status, a.audience`
	const half = `SELECT ` + cols + ` FROM activities a WHERE a.community_id = (SELECT home_community_id FROM users WHERE id = ?)
		AND a.status IN ('published', 'finished') AND a.end_at `
	now := time.Now()
	l, err := rows(c, s.db, `SELECT * FROM (`+half+`> ? ORDER BY a.start_at, a.id LIMIT 20) AS upcoming
		UNION ALL SELECT * FROM (`+half+`<= ? ORDER BY a.start_at DESC, a.id DESC LIMIT 20) AS ended`,
		c.GetInt64("uid"), now, c.GetInt64("uid"), now)
	if err != nil {
		fail(c, err)
		return
	}
	ok(c, 200, gin.H{"list": l[:min(len(l), 20)]})
}

func (s *server) me(c *gin.Context) {
	l, err := rows(c, s.db, `SELECT u.id, u.nickname, u.avatar_url, u.phone, u.real_name, u.home_community_id,
		u.home_grid_id, o.name AS community_name, o.parent_id AS street_id,
		EXISTS (SELECT 1 FROM member_reports r WHERE r.active_user_id = u.id AND r.status = 'approved') AS party_member,
		EXISTS (SELECT 1 FROM volunteer_profiles v WHERE v.user_id = u.id) AS volunteer,
		(SELECT GROUP_CONCAT(CONCAT(sr.org_id, ':', sr.role)) FROM staff_roles sr WHERE sr.user_id = u.id) AS roles
		FROM users u LEFT JOIN org_units o ON o.id = u.home_community_id WHERE u.id = ?`, c.GetInt64("uid"))
	if err != nil || len(l) == 0 {
		fail(c, errors.Join(err, errors.New("no user")))
		return
	}
	ok(c, 200, l[0])
}

func (s *server) account(c *gin.Context) {
	s.list(c, `SELECT currency, balance, earned FROM accounts WHERE owner_kind = 'user' AND owner_id = ?`, c.GetInt64("uid"))
}

// inbox: the newest page of the caller's notifications (pageSize+1 rows)
// with the unread count in the same statement.
func (s *server) inbox(c *gin.Context) {
	uid := c.GetInt64("uid")
	s.list(c, `SELECT id, event, title, body, object_kind, object_id, read_at, created_at,
		(SELECT COUNT(*) FROM notifications WHERE user_id = ? AND read_at IS NULL) AS unread_count
		FROM notifications WHERE user_id = ? ORDER BY id DESC LIMIT 21`, uid, uid)
}

// leaderboard: linli keeps rankings in Redis sorted sets; the baseline reads
// a sorted set the bench filled (prefix+"bl:lb") and the names of the top.
func (s *server) leaderboard(c *gin.Context) {
	uid := c.GetInt64("uid")
	pipe := s.rdb.Pipeline()
	top := pipe.ZRevRangeWithScores(c, s.prefix+"bl:lb", 0, 49)
	rank := pipe.ZRevRank(c, s.prefix+"bl:lb", strconv.FormatInt(uid, 10))
	if _, err := pipe.Exec(c); err != nil && !errors.Is(err, redis.Nil) {
		fail(c, err)
		return
	}
	ids := make([]string, 0, 50)
	for _, z := range top.Val() {
		ids = append(ids, z.Member.(string))
	}
	if len(ids) == 0 {
		ids = append(ids, "0")
	}
	names, err := rows(c, s.db, `SELECT id, nickname, avatar_url FROM users WHERE id IN (`+strings.Join(ids, ",")+`)`)
	if err != nil {
		fail(c, err)
		return
	}
	ok(c, 200, gin.H{"list": top.Val(), "users": names, "myRank": rank.Val()})
}

func (s *server) goods(c *gin.Context) {
	s.list(c, `SELECT g.id, g.name, g.description, g.image, g.points_price, g.stock, g.per_user_limit FROM mall_goods g
		WHERE g.community_id = (SELECT home_community_id FROM users WHERE id = ?) AND g.on_sale = 1
		AND g.deleted_at IS NULL ORDER BY g.id DESC LIMIT 20`, c.GetInt64("uid"))
}

// inTx runs fn in one transaction and answers it; like linli it retries the
// whole transaction (up to 3 times) after a deadlock.
func (s *server) inTx(c *gin.Context, status int, fn func(tx *sql.Tx) (any, int, error)) {
	s.inTxWith(c, status, nil, fn, nil)
}

// inTxWith is inTx with the transaction's options (its isolation level) and
// what to do after the commit, before the answer (nil: nothing).
func (s *server) inTxWith(c *gin.Context, status int, opts *sql.TxOptions, fn func(tx *sql.Tx) (any, int, error), then func()) {
	for attempt := 1; ; attempt++ {
		out, code, err := s.tryTx(c, opts, fn)
		var me *mysql.MySQLError
		if errors.As(err, &me) && (me.Number == 1213 || me.Number == 1205) && attempt < 3 {
			continue
		}
		switch {
		case err != nil:
			fail(c, err)
		case code != 0:
			c.JSON(409, gin.H{"code": code, "message": "refused"})
		default:
			if then != nil {
				then()
			}
			ok(c, status, out)
		}
		return
	}
}

func (s *server) tryTx(c *gin.Context, opts *sql.TxOptions, fn func(tx *sql.Tx) (any, int, error)) (any, int, error) {
	tx, err := s.db.BeginTx(c, opts)
	if err != nil {
		return nil, 0, err
	}
	out, code, err := fn(tx)
	if err != nil || code != 0 {
		_ = tx.Rollback()
		return nil, code, err
	}
	return out, 0, tx.Commit()
}

// claim: the rows linli writes, one statement each: the wish's status and
// claimer, the active claim, the contact reveal (the claim's id by
// LAST_INSERT_ID), the poster's notification, the time-to-claim histogram
// of the wish's community and day (a first claim), the event.
func (s *server) claim(c *gin.Context) {
	uid, id := c.GetInt64("uid"), c.Param("id")
	now := time.Now()
	day := dayKey(now, s.loc)
	s.inTx(c, 200, func(tx *sql.Tx) (any, int, error) {
		res, err := tx.ExecContext(c, `UPDATE wishes SET status = 'claimed', claimer_id = ?, claimed_at = ?,
			first_claimed_at = COALESCE(first_claimed_at, ?), claim_deadline = ?, updated_at = ?
			WHERE id = ? AND status = 'published'`, uid, now, now, now.Add(168*time.Hour), now, id)
		if err != nil {
			return nil, 0, err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return nil, 70002, nil
		}
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{`INSERT INTO wish_claims (wish_id, active_wish_id, claimer_id, status, claimed_at, deadline, created_at)
				VALUES (?, ?, ?, 'active', ?, ?, ?)`, []any{id, id, uid, now, now.Add(168 * time.Hour), now}},
			{`INSERT INTO wish_contact_reveals (wish_id, viewer_id, claim_id, created_at) VALUES (?, ?, LAST_INSERT_ID(), ?)`,
				[]any{id, uid, now}},
			{`INSERT INTO notifications (user_id, event, title, body, object_kind, object_id, created_at)
				SELECT poster_id, 'wish_claimed', '心愿已被认领', CONCAT('心愿「', title, '」已被认领'), 'wish', id, ?
				FROM wishes WHERE id = ?`, []any{now, id}},
			{`INSERT INTO wish_day_durations (community_id, day, kind, bucket, n)
				SELECT community_id, ?, 1, LEAST(GREATEST(TIMESTAMPDIFF(HOUR, published_at, ?), 0), 47), 1 FROM wishes WHERE id = ?
				ON DUPLICATE KEY UPDATE n = n + 1`, []any{day, now, id}},
			{`INSERT INTO wish_events (wish_id, actor_id, actor_role, action, created_at)
				VALUES (?, ?, 'claimer', 'claim', ?)`, []any{id, uid, now}},
		} {
			if _, err := tx.ExecContext(c, q.sql, q.args...); err != nil {
				return nil, 0, err
			}
		}
		return gin.H{"id": id, "status": "claimed"}, 0, nil
	})
}

// dayKey is linli's key of t's day in loc (service.dayKey): 20261201.
func dayKey(t time.Time, loc *time.Location) int {
	y, m, d := t.In(loc).Date()
	return y*10000 + int(m)*100 + d
}

// signup: a seat by the conditional counter UPDATE, and the sign-up row; when
// full, the waitlisted row alone (the waitlist is its rows, in sign-up order).
// READ COMMITTED, as linli: an UPDATE that finds the activity full leaves its
// row unlocked.
func (s *server) signup(c *gin.Context) {
	uid, id := c.GetInt64("uid"), c.Param("id")
	now := time.Now()
	s.inTxWith(c, 200, &sql.TxOptions{Isolation: sql.LevelReadCommitted}, func(tx *sql.Tx) (any, int, error) {
		res, err := tx.ExecContext(c, `UPDATE activities SET signed = signed + 1 WHERE id = ? AND status = 'published'
			AND (capacity = 0 OR signed < capacity)`, id)
		if err != nil {
			return nil, 0, err
		}
		status := "signed"
		if n, _ := res.RowsAffected(); n != 1 {
			status = "waitlisted"
		}
		_, err = tx.ExecContext(c, `INSERT INTO attendances (activity_id, user_id, status, signed_up_at, state,
			activity_end_at, created_at, updated_at)
			VALUES (?, ?, ?, ?, 'none', (SELECT end_at FROM activities WHERE id = ?), ?, ?)`, id, uid, status, now, id, now, now)
		return gin.H{"status": status}, 0, err
	}, nil)
}

type approveReq struct {
	Items []struct {
		UserID  int64 `json:"userId"`
		Minutes int   `json:"minutes"`
		Score   int   `json:"score"`
	} `json:"items"`
}

// approve: per attendance its state, two balanced ledger postings (minutes
// and points), the four account balances, the service record and its
// member's quarter counts; for the batch the audit entries, the
// notifications and the community's figures of the day.
func (s *server) approve(c *gin.Context) {
	var req approveReq
	if err := c.ShouldBindJSON(&req); err != nil {
		c.JSON(400, gin.H{"code": 10001, "message": err.Error()})
		return
	}
	staff, id := c.GetInt64("uid"), c.Param("id")
	now := time.Now().UTC()
	var credits []boardCredit
	s.inTxWith(c, 200, nil, func(tx *sql.Tx) (any, int, error) {
		credits = credits[:0]
		var minutes, issued int64
		var cid int64
		var pph int64
		var title string
		if err := tx.QueryRowContext(c, `SELECT community_id, points_per_hour, title FROM activities WHERE id = ?`, id).
			Scan(&cid, &pph, &title); err != nil {
			return nil, 0, err
		}
		// The community's accounts first, then the users' in id order (as
		// linli orders its locks): concurrent batches queue, never deadlock.
		if _, err := tx.ExecContext(c, `SELECT id FROM accounts WHERE owner_kind = 'community' AND owner_id = ?
			ORDER BY id FOR UPDATE`, cid); err != nil {
			return nil, 0, err
		}
		sort.Slice(req.Items, func(i, j int) bool { return req.Items[i].UserID < req.Items[j].UserID })
		for _, it := range req.Items {
			points := pph * int64(it.Minutes) / 60
			res, err := tx.ExecContext(c, `UPDATE attendances SET state = 'approved', minutes = ?, points = ?, score = ?,
				reviewed_by = ?, reviewed_at = ?, approval_version = approval_version + 1, updated_at = ?
				WHERE activity_id = ? AND user_id = ? AND state = 'checked_out'`,
				it.Minutes, points, it.Score, staff, now, now, id, it.UserID)
			if err != nil {
				return nil, 0, err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return nil, 40010, nil
			}
			src := fmt.Sprintf("bl:%s:%d", id, it.UserID)
			memo := "志愿活动：" + title
			var txn [2]int64
			for i, cur := range []string{"minutes", "points"} {
				r, err := tx.ExecContext(c, `INSERT INTO ledger_txns (kind, source_kind, source_id, memo, created_at)
					VALUES ('credit', 'attendance', ?, ?, ?)`, src, memo, now)
				if err != nil {
					return nil, 0, fmt.Errorf("txn %s: %w", cur, err)
				}
				txn[i], _ = r.LastInsertId()
			}
			// The accounts exist (the bench creates them): one statement
			// writes the four entries, one moves the four balances.
			if _, err := tx.ExecContext(c, `INSERT INTO ledger_entries (txn_id, account_id, currency, amount, source_kind,
				source_id, memo, created_at)
				SELECT IF(a.currency = 'minutes', ?, ?), a.id, a.currency,
					IF(a.currency = 'minutes', ?, ?) * IF(a.owner_kind = 'user', 1, -1), 'attendance', ?, ?, ?
				FROM accounts a WHERE (a.owner_kind = 'user' AND a.owner_id = ? OR a.owner_kind = 'community' AND a.owner_id = ?)
				AND a.currency IN ('minutes', 'points')`,
				txn[0], txn[1], it.Minutes, points, src, memo, now, it.UserID, cid); err != nil {
				return nil, 0, err
			}
			if _, err := tx.ExecContext(c, `UPDATE accounts a SET
				a.balance = a.balance + IF(a.currency = 'minutes', ?, ?) * IF(a.owner_kind = 'user', 1, -1),
				a.earned = a.earned + IF(a.owner_kind = 'user', IF(a.currency = 'minutes', ?, ?), 0), a.updated_at = ?
				WHERE (a.owner_kind = 'user' AND a.owner_id = ? OR a.owner_kind = 'community' AND a.owner_id = ?)
				AND a.currency IN ('minutes', 'points')`,
				it.Minutes, points, it.Minutes, points, now, it.UserID, cid); err != nil {
				return nil, 0, err
			}
			if _, err := tx.ExecContext(c, `INSERT INTO service_records (user_id, community_id, kind, occurred_at, minutes,
				note, status, reviewed_by, reviewed_at, source_key, created_at, updated_at)
				VALUES (?, ?, 'public_activity', ?, ?, ?, 'approved', ?, ?, ?, ?, ?)`,
				it.UserID, cid, now, it.Minutes, title, staff, now, src, now, now); err != nil {
				return nil, 0, err
			}
			// The dashboard's quarter counts of the record.
			month := int(now.In(s.loc).Month()) - 1
			monthCols := [3]string{"month1", "month2", "month3"}
			col := monthCols[month%3]
			if _, err := tx.ExecContext(c, `INSERT INTO member_quarter_stats (user_id, quarter, public_activity, `+col+`)
				VALUES (?, ?, 1, 1) ON DUPLICATE KEY UPDATE public_activity = public_activity + 1, `+col+` = `+col+` + 1`,
				it.UserID, now.In(s.loc).Year()*10+month/3+1); err != nil {
				return nil, 0, err
			}
			credits = append(credits, boardCredit{it.UserID, int64(it.Minutes), points})
			minutes += int64(it.Minutes)
			issued += points
		}
		// For the whole batch, as linli: the audit entries, the volunteers'
		// notifications, the community's figures of the day.
		audit := make([]string, len(req.Items))
		notes := make([]string, len(req.Items))
		var auditArgs, noteArgs []any
		for i, it := range req.Items {
			audit[i] = "(?, ?, COALESCE((SELECT path FROM org_units WHERE id = ?), ''), 'attendance.approve', 'attendance', ?, '', ?, '', '', ?)"
			auditArgs = append(auditArgs, staff, cid, cid, it.UserID, fmt.Sprintf(`{"minutes":%d,"score":%d}`, it.Minutes, it.Score), now)
			notes[i] = "(?, 'hours_approved', '服务时长已确认', ?, 'activity', ?, ?)"
			noteArgs = append(noteArgs, it.UserID, "您参加的活动「"+title+"」的服务时长已确认："+strconv.Itoa(it.Minutes)+" 分钟", id, now)
		}
		if _, err := tx.ExecContext(c, "INSERT INTO audit_entries (`actor_id`, `org_id`, `org_path`, `action`, `object_kind`, "+
			"`object_id`, `before`, `after`, `reason`, `request_id`, `created_at`) VALUES "+strings.Join(audit, ", "), auditArgs...); err != nil {
			return nil, 0, err
		}
		if _, err := tx.ExecContext(c, `INSERT INTO notifications (user_id, event, title, body, object_kind, object_id, created_at)
			VALUES `+strings.Join(notes, ", "), noteArgs...); err != nil {
			return nil, 0, err
		}
		if _, err := tx.ExecContext(c, `INSERT INTO community_day_stats (community_id, day, minutes_issued, points_issued)
			VALUES (?, ?, ?, ?) ON DUPLICATE KEY UPDATE minutes_issued = minutes_issued + ?, points_issued = points_issued + ?`,
			cid, dayKey(now, s.loc), minutes, issued, minutes, issued); err != nil {
			return nil, 0, err
		}
		return gin.H{"approved": len(req.Items)}, 0, nil
	}, func() { s.bumpBoards(c, now, credits) })
}

// boardCredit is what one user earned in a batch.
type boardCredit struct {
	userID, minutes, points int64
}

// bumpBoards does what linli does after the commit of credits: the users'
// home orgs in one query, then every leaderboard set of every org above them
// (month, year, all time, minutes and points) in one Redis pipeline. Like
// linli it only logs a failure.
func (s *server) bumpBoards(c *gin.Context, now time.Time, credits []boardCredit) {
	if len(credits) == 0 {
		return
	}
	ids := make([]string, len(credits))
	for i, cr := range credits {
		ids[i] = strconv.FormatInt(cr.userID, 10)
	}
	rs, err := s.db.QueryContext(c, `SELECT u.id, o.path FROM users u JOIN org_units o ON o.id = u.home_community_id
		WHERE u.id IN (`+strings.Join(ids, ",")+`)`)
	if err != nil {
		fmt.Fprintln(os.Stderr, "baseline: leaderboards:", err)
		return
	}
	paths := map[int64]string{}
	for rs.Next() {
		var id int64
		var path string
		if err := rs.Scan(&id, &path); err == nil {
			paths[id] = path
		}
	}
	rs.Close()
	lt := now.In(s.loc)
	month, year := "m"+lt.Format("200601"), "y"+lt.Format("2006")
	ms := time.Date(lt.Year(), lt.Month(), 1, 0, 0, 0, 0, s.loc)
	ttl := func(end time.Time) int64 { return int64((max(end.Sub(now), 0) + 24*time.Hour) / time.Second) }
	monthTTL, yearTTL, allTTL := ttl(ms.AddDate(0, 1, 0)), ttl(time.Date(lt.Year()+1, 1, 1, 0, 0, 0, 0, s.loc)), int64(400*24*3600)
	pipe := s.rdb.Pipeline()
	for _, cr := range credits {
		for _, org := range model.PathIDs(paths[cr.userID]) {
			k := s.prefix + "lb:{" + strconv.FormatInt(org, 10) + "}:"
			for _, x := range []struct {
				currency string
				amount   int64
			}{{"minutes", cr.minutes}, {"points", cr.points}} {
				s.bump.Eval(c, pipe, []string{k + "ready", k + x.currency + ":" + month, k + x.currency + ":" + year, k + x.currency + ":all"},
					cr.userID, x.amount, monthTTL, yearTTL, allTTL)
			}
		}
	}
	if _, err := pipe.Exec(c); err != nil {
		fmt.Fprintln(os.Stderr, "baseline: leaderboards:", err)
	}
}

type orderReq struct {
	GoodsID int64 `json:"goodsId"`
}

// order: stock, the balanced debit (entries and both balances), the holding,
// the order, the community's figures of the day and the buyer's
// notification.
func (s *server) order(c *gin.Context) {
	var req orderReq
	if err := c.ShouldBindJSON(&req); err != nil {
		c.JSON(400, gin.H{"code": 10001, "message": err.Error()})
		return
	}
	uid := c.GetInt64("uid")
	now := time.Now().UTC()
	s.inTx(c, 201, func(tx *sql.Tx) (any, int, error) {
		var cid, price int64
		if err := tx.QueryRowContext(c, `SELECT community_id, points_price FROM mall_goods WHERE id = ? FOR UPDATE`,
			req.GoodsID).Scan(&cid, &price); err != nil {
			return nil, 0, err
		}
		if _, err := tx.ExecContext(c, `UPDATE mall_goods SET stock = stock - 1 WHERE id = ? AND stock >= 1`, req.GoodsID); err != nil {
			return nil, 0, err
		}
		res, err := tx.ExecContext(c, `UPDATE accounts SET balance = balance - ?, updated_at = ? WHERE owner_kind = 'user'
			AND owner_id = ? AND currency = 'points' AND balance >= ?`, price, now, uid, price)
		if err != nil {
			return nil, 0, err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return nil, 50003, nil
		}
		if _, err := tx.ExecContext(c, `UPDATE accounts SET balance = balance + ?, updated_at = ? WHERE owner_kind = 'community'
			AND owner_id = ? AND currency = 'points'`, price, now, cid); err != nil {
			return nil, 0, err
		}
		code := fmt.Sprintf("B%05d", s.seq.Add(1)%100000)
		r, err := tx.ExecContext(c, `INSERT INTO mall_orders (community_id, goods_id, user_id, quantity, unit_price,
			points_total, status, pickup_code, open_code, expires_at, created_at, updated_at)
			VALUES (?, ?, ?, 1, ?, ?, 'open', ?, ?, ?, ?, ?)`, cid, req.GoodsID, uid, price, price, code, code,
			now.Add(168*time.Hour), now, now)
		if err != nil {
			return nil, 0, err
		}
		orderID, _ := r.LastInsertId()
		src := strconv.FormatInt(orderID, 10)
		r, err = tx.ExecContext(c, `INSERT INTO ledger_txns (kind, source_kind, source_id, memo, created_at)
			VALUES ('debit', 'mall_order', ?, '爱心超市兑换', ?)`, src, now)
		if err != nil {
			return nil, 0, err
		}
		txn, _ := r.LastInsertId()
		if _, err := tx.ExecContext(c, `INSERT INTO ledger_entries (txn_id, account_id, currency, amount, source_kind,
			source_id, memo, created_at)
			SELECT ?, a.id, 'points', IF(a.owner_kind = 'user', -?, ?), 'mall_order', ?, '爱心超市兑换', ?
			FROM accounts a WHERE (a.owner_kind = 'user' AND a.owner_id = ? OR a.owner_kind = 'community' AND a.owner_id = ?)
			AND a.currency = 'points'`, txn, price, price, src, now, uid, cid); err != nil {
			return nil, 0, err
		}
		if _, err := tx.ExecContext(c, `UPDATE mall_orders SET debit_txn_id = ? WHERE id = ?`, txn, orderID); err != nil {
			return nil, 0, err
		}
		if _, err := tx.ExecContext(c, `INSERT INTO mall_holdings (user_id, goods_id, quantity) VALUES (?, ?, 1)
			ON DUPLICATE KEY UPDATE quantity = quantity + 1`, uid, req.GoodsID); err != nil {
			return nil, 0, err
		}
		if _, err := tx.ExecContext(c, `INSERT INTO community_day_stats (community_id, day, points_redeemed) VALUES (?, ?, ?)
			ON DUPLICATE KEY UPDATE points_redeemed = points_redeemed + ?`, cid, dayKey(now, s.loc), price, price); err != nil {
			return nil, 0, err
		}
		_, err = tx.ExecContext(c, `INSERT INTO notifications (user_id, event, title, body, object_kind, object_id, created_at)
			SELECT ?, 'order_ready', '兑换订单待领取', CONCAT('您兑换的「', name, '」已备好，请凭取货码领取'), 'mall_order', ?, ?
			FROM mall_goods WHERE id = ?`, uid, orderID, now, req.GoodsID)
		return gin.H{"id": orderID, "pickupCode": code}, 0, err
	})
}

// cases: the first page of a street's cases as linli's feed reads it
// (pageSize+1 rows, newest first, nothing counted), with the reporter's
// name and phone that staff see.
func (s *server) cases(c *gin.Context) {
	s.list(c, `SELECT c.id, c.community_id, c.category, c.content, c.images, c.lat, c.lng, c.address, c.reporter_id,
		c.status, c.level, c.step, c.step_deadline, c.overdue, c.created_at, u.nickname, u.real_name, u.phone
		FROM cases c LEFT JOIN users u ON u.id = c.reporter_id WHERE c.street_id = ?
		ORDER BY c.created_at DESC, c.id DESC LIMIT 21`, c.Query("orgId"))
}

// caseStats: a district's cases by category and status, and its events
// grouped by community, department, action and step.
func (s *server) caseStats(c *gin.Context) {
	district := c.Query("orgId")
	counts, err := rows(c, s.db, `SELECT category, status, COUNT(*) AS n FROM cases WHERE district_id = ?
		GROUP BY category, status`, district)
	if err != nil {
		fail(c, err)
		return
	}
	groups, err := rows(c, s.db, `SELECT community_id, dept_id, action, step, COUNT(*) AS n,
		SUM(CASE WHEN on_time THEN 1 ELSE 0 END) AS on_time, COALESCE(SUM(rating), 0) AS rating_sum,
		COUNT(rating) AS rated FROM case_events WHERE district_id = ? GROUP BY community_id, dept_id, action, step`, district)
	if err != nil {
		fail(c, err)
		return
	}
	ok(c, 200, gin.H{"counts": counts, "groups": groups})
}
