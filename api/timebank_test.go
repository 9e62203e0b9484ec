package api_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"linli/internal/testutil"
	"linli/model"
	"linli/service"
)

// tbEnv is a world (see testutil.World) with an admin, staff of community
// A and helpers to credit and check the ledger through the API.
type tbEnv struct {
	w     *testutil.World
	h     *testutil.Harness
	tree  *testutil.Tree
	admin testutil.Login
	staff testutil.Login
	seq   atomic.Int64
}

func newTBEnv(t testing.TB, config ...map[string]any) *tbEnv {
	t.Helper()
	adminOpenID := testutil.UniqueOpenID("tb-admin")
	cfg := map[string]any{
		"bootstrap.admins": adminOpenID,
		// Tests move the clock by days and weeks.
		"jwt.access_ttl":  "10000h",
		"jwt.refresh_ttl": "20000h",
	}
	for _, c := range config {
		for k, v := range c {
			cfg[k] = v
		}
	}
	w := testutil.NewWorld(t, testutil.WithConfig(cfg))
	e := &tbEnv{w: w, h: w.Harness, tree: w.Tree}
	e.admin = w.LoginAs(adminOpenID)
	e.staff = w.Staff("tb-staff", w.Tree.CommunityA.ID)
	return e
}

// resident signs in a new user living in community (none when 0).
func (e *tbEnv) resident(t testing.TB, community int64) testutil.Login {
	t.Helper()
	return e.w.Login("tb-res", community)
}

// credit issues amount to the user from community A through POST /admin/credits.
func (e *tbEnv) credit(t testing.TB, userID int64, currency string, amount int64) {
	t.Helper()
	e.creditFrom(t, e.staff, e.tree.CommunityA.ID, userID, currency, amount)
}

func (e *tbEnv) creditFrom(t testing.TB, staff testutil.Login, community, userID int64, currency string, amount int64) {
	t.Helper()
	e.h.Do("POST", "/admin/credits", map[string]any{
		"userId": userID, "communityId": community, "currency": currency, "amount": amount,
		"reason": "纸质台账补录", "requestId": fmt.Sprintf("req-%d-%d", userID, e.seq.Add(1)),
	}, staff.AccessToken).Expect(t, 201, 0)
}

type accountView struct {
	Minutes, Points, EarnedMinutes, EarnedPoints int64
	Stars, MaxStars                              int
	NextStarMinutes, ToNextStarMinutes           *int64
}

func (e *tbEnv) account(t testing.TB, l testutil.Login) accountView {
	t.Helper()
	var a accountView
	e.h.Do("GET", "/me/account", nil, l.AccessToken).Expect(t, 200, 0).Decode(t, &a)
	return a
}

// reconcileClean asserts GET /admin/reconcile finds no mismatch.
func (e *tbEnv) reconcileClean(t testing.TB) {
	t.Helper()
	var rep struct {
		Accounts   int64
		Mismatches int
		Details    []string
	}
	e.h.Do("GET", "/admin/reconcile", nil, e.admin.AccessToken).Expect(t, 200, 0).Decode(t, &rep)
	if rep.Mismatches != 0 || rep.Accounts == 0 {
		t.Fatalf("reconcile: %+v", rep)
	}
}

// entries counts the ledger entries of a user's accounts.
func (e *tbEnv) entries(t testing.TB, userID int64) int64 {
	t.Helper()
	return e.h.Count(&model.LedgerEntry{}, "account_id IN (SELECT id FROM accounts WHERE owner_kind = 'user' AND owner_id = ?)", userID)
}

func TestConcurrentIdenticalCreditsPayOnce(t *testing.T) {
	e := newTBEnv(t)
	u := e.resident(t, e.tree.CommunityA.ID)
	body := map[string]any{"userId": u.UserID, "currency": "minutes", "amount": 90, "reason": "3 月纸质记录",
		"requestId": "paper-2026-03-" + fmt.Sprint(u.UserID)}
	got := testutil.Tally(testutil.Race(t, 200, func(int) string {
		return testutil.Answer(e.h.TryDo("POST", "/admin/credits", body, e.staff.AccessToken))
	}))
	if got["201/0"] != 1 || got["200/0"] != 199 {
		t.Fatalf("results %v", got)
	}
	if n := e.entries(t, u.UserID); n != 1 {
		t.Fatalf("user entries = %d, want 1", n)
	}
	if n := e.h.Count(&model.ManualCredit{}, "actor_id = ?", e.staff.UserID); n != 1 {
		t.Fatalf("manual credit rows = %d, want 1", n)
	}
	a := e.account(t, u)
	if a.Minutes != 90 || a.EarnedMinutes != 90 {
		t.Fatalf("account %+v", a)
	}
	e.reconcileClean(t)
}

func TestConcurrentGiftsNeverOverdraw(t *testing.T) {
	e := newTBEnv(t)
	from := e.resident(t, e.tree.CommunityA.ID)
	to := e.resident(t, e.tree.CommunityC.ID)
	e.credit(t, from.UserID, "points", 50)
	got := testutil.Tally(testutil.Race(t, 200, func(int) string {
		return testutil.Answer(e.h.TryDo("POST", "/me/gifts", map[string]any{"toUserId": to.UserID, "currency": "points", "amount": 1}, from.AccessToken))
	}))
	if got["201/0"] != 50 || got[fmt.Sprintf("409/%d", service.CodeInsufficientBalance)] != 150 {
		t.Fatalf("results %v", got)
	}
	if a := e.account(t, from); a.Points != 0 || a.EarnedPoints != 50 {
		t.Fatalf("giver %+v", a)
	}
	if a := e.account(t, to); a.Points != 50 || a.EarnedPoints != 0 {
		t.Fatalf("receiver %+v (gifts are not earned)", a)
	}
	e.reconcileClean(t)
}

func TestStarsAtThresholds(t *testing.T) {
	// Thousands of hours by hand: the caps and the two-person rule are off
	// here (TestManualCreditLimits covers them).
	e := newTBEnv(t, map[string]any{
		"timebank.manual_credit.max_minutes_per_request": 0, "timebank.manual_credit.max_minutes_per_month": 0,
		"timebank.manual_credit.approval_above_minutes": 0,
	})
	u := e.resident(t, e.tree.CommunityA.ID)
	e.credit(t, u.UserID, "minutes", 100*60-1) // 99:59 h
	a := e.account(t, u)
	if a.Stars != 0 || a.MaxStars != 5 || a.NextStarMinutes == nil || *a.NextStarMinutes != 6000 || *a.ToNextStarMinutes != 1 {
		t.Fatalf("at 99:59 h: %+v", a)
	}
	e.credit(t, u.UserID, "minutes", 1) // 100 h
	a = e.account(t, u)
	if a.Stars != 1 || *a.NextStarMinutes != 300*60 || *a.ToNextStarMinutes != 200*60 {
		t.Fatalf("at 100 h: %+v", a)
	}
	e.credit(t, u.UserID, "minutes", 1400*60) // 1500 h
	a = e.account(t, u)
	if a.Stars != 5 || a.NextStarMinutes != nil || a.ToNextStarMinutes != nil {
		t.Fatalf("at 1500 h: %+v", a)
	}
	// Giving minutes away lowers the balance, not the stars.
	other := e.resident(t, e.tree.CommunityA.ID)
	e.h.Do("POST", "/me/gifts", map[string]any{"toUserId": other.UserID, "currency": "minutes", "amount": 600}, u.AccessToken).Expect(t, 201, 0)
	if a = e.account(t, u); a.Stars != 5 || a.Minutes != 1500*60-600 {
		t.Fatalf("after gift: %+v", a)
	}
	if a = e.account(t, other); a.Stars != 0 || a.EarnedMinutes != 0 {
		t.Fatalf("receiver: %+v", a)
	}
}

func TestStarThresholdsFromConfig(t *testing.T) {
	e := newTBEnv(t, map[string]any{"timebank.star_hours": "1,2"})
	u := e.resident(t, e.tree.CommunityA.ID)
	e.credit(t, u.UserID, "minutes", 60)
	if a := e.account(t, u); a.Stars != 1 || a.MaxStars != 2 || *a.NextStarMinutes != 120 {
		t.Fatalf("%+v", a)
	}
}

type ledgerLine struct {
	ID, TxnID                  int64
	Kind, Currency             string
	Amount                     int64
	SourceKind, SourceID, Memo string
	CounterpartyKind           string
	CounterpartyID             int64
	CreatedAt                  time.Time
}

type ledgerPage struct {
	List           []ledgerLine
	Total          int64
	Page, PageSize int
}

func TestLedgerNewestFirstOnBothSides(t *testing.T) {
	e := newTBEnv(t)
	a := e.resident(t, e.tree.CommunityA.ID)
	b := e.resident(t, e.tree.CommunityB.ID)
	e.credit(t, a.UserID, "points", 30)
	e.credit(t, a.UserID, "minutes", 120)
	e.h.Do("POST", "/me/gifts", map[string]any{"toUserId": b.UserID, "currency": "points", "amount": 7, "note": "给妈妈"}, a.AccessToken).Expect(t, 201, 0)

	var pa ledgerPage
	e.h.Do("GET", "/me/ledger", nil, a.AccessToken).Expect(t, 200, 0).Decode(t, &pa)
	if pa.Total != 3 || len(pa.List) != 3 || pa.List[0].Kind != "transfer" || pa.List[0].Amount != -7 ||
		pa.List[1].Currency != "minutes" || pa.List[2].Amount != 30 || pa.List[2].Kind != "credit" {
		t.Fatalf("giver ledger %+v", pa)
	}
	if g := pa.List[0]; g.SourceKind != service.SourceGift || g.Memo != "转赠：给妈妈" || g.CounterpartyKind != "user" || g.CounterpartyID != b.UserID {
		t.Fatalf("gift line %+v", g)
	}
	if c := pa.List[2]; c.SourceKind != service.SourceManualCredit || c.CounterpartyKind != "community" ||
		c.CounterpartyID != e.tree.CommunityA.ID || !strings.HasPrefix(c.Memo, "补录") {
		t.Fatalf("credit line %+v", c)
	}
	e.h.Do("GET", "/me/ledger?currency=points&pageSize=1&page=2", nil, a.AccessToken).Expect(t, 200, 0).Decode(t, &pa)
	if pa.Total != 2 || len(pa.List) != 1 || pa.List[0].Amount != 30 || pa.PageSize != 1 {
		t.Fatalf("points page 2 %+v", pa)
	}
	var pb ledgerPage
	e.h.Do("GET", "/me/ledger?currency=points", nil, b.AccessToken).Expect(t, 200, 0).Decode(t, &pb)
	if pb.Total != 1 || pb.List[0].Amount != 7 || pb.List[0].Kind != "transfer" {
		t.Fatalf("receiver ledger %+v", pb)
	}
	if pb.List[0].CounterpartyID != a.UserID || pb.List[0].Memo != "转赠：给妈妈" {
		t.Fatalf("receiver line %+v", pb.List[0])
	}
	e.h.Do("GET", "/me/ledger?currency=gold", nil, a.AccessToken).Expect(t, 400, service.CodeInvalid)
	fresh := e.resident(t, 0)
	e.h.Do("GET", "/me/ledger", nil, fresh.AccessToken).Expect(t, 200, 0).Decode(t, &pb)
	if pb.Total != 0 || pb.List == nil {
		t.Fatalf("empty ledger %+v", pb)
	}
}

func TestGiftBadInputWritesNothing(t *testing.T) {
	e := newTBEnv(t)
	from := e.resident(t, e.tree.CommunityA.ID)
	to := e.resident(t, e.tree.CommunityA.ID)
	e.credit(t, from.UserID, "points", 20)
	cases := []struct {
		name         string
		body         any
		status, code int
	}{
		{"negative", map[string]any{"toUserId": to.UserID, "currency": "points", "amount": -5}, 400, service.CodeInvalid},
		{"zero", map[string]any{"toUserId": to.UserID, "currency": "points", "amount": 0}, 400, service.CodeInvalid},
		{"huge", map[string]any{"toUserId": to.UserID, "currency": "points", "amount": 10_000_000}, 400, service.CodeInvalid},
		{"beyond int64", `{"toUserId": 1, "currency": "points", "amount": 1e30}`, 400, service.CodeInvalid},
		{"fraction", `{"toUserId": 1, "currency": "points", "amount": 1.5}`, 400, service.CodeInvalid},
		{"string amount", map[string]any{"toUserId": to.UserID, "currency": "points", "amount": "5"}, 400, service.CodeInvalid},
		{"bad currency", map[string]any{"toUserId": to.UserID, "currency": "yuan", "amount": 5}, 400, service.CodeInvalid},
		{"missing recipient", map[string]any{"currency": "points", "amount": 5}, 400, service.CodeInvalid},
		{"to self", map[string]any{"toUserId": from.UserID, "currency": "points", "amount": 5}, 403, service.CodeSelfAction},
		{"unknown user", map[string]any{"toUserId": 999_999_999, "currency": "points", "amount": 5}, 404, service.CodeNotFound},
		{"more than balance", map[string]any{"toUserId": to.UserID, "currency": "points", "amount": 21}, 409, service.CodeInsufficientBalance},
		{"no minutes", map[string]any{"toUserId": to.UserID, "currency": "minutes", "amount": 1}, 409, service.CodeInsufficientBalance},
		{"long note", map[string]any{"toUserId": to.UserID, "currency": "points", "amount": 1, "note": strings.Repeat("长", 101)}, 400, service.CodeInvalid},
		{"bad request id", map[string]any{"toUserId": to.UserID, "currency": "points", "amount": 1, "requestId": "a b"}, 400, service.CodeInvalid},
		{"not json", "amount=5", 400, service.CodeInvalid},
	}
	before := e.entries(t, from.UserID)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.h.Do("POST", "/me/gifts", c.body, from.AccessToken).Expect(t, c.status, c.code)
		})
	}
	if n := e.entries(t, from.UserID); n != before {
		t.Fatalf("entries %d → %d", before, n)
	}
	if n := e.h.Count(&model.GiftDailyTotal{}, "user_id = ?", from.UserID); n != 0 {
		t.Fatalf("gift totals written: %d", n)
	}
	if a := e.account(t, from); a.Points != 20 {
		t.Fatalf("balance %+v", a)
	}
	e.h.Do("POST", "/me/gifts", map[string]any{"toUserId": to.UserID, "currency": "points", "amount": 1}, "").Expect(t, 401, service.CodeUnauthenticated)
	e.reconcileClean(t)
}

func TestGiftRequestIDPaysOnce(t *testing.T) {
	e := newTBEnv(t)
	from := e.resident(t, e.tree.CommunityA.ID)
	to := e.resident(t, e.tree.CommunityA.ID)
	e.credit(t, from.UserID, "points", 20)
	body := map[string]any{"toUserId": to.UserID, "currency": "points", "amount": 5, "requestId": "gift-1"}
	var first, second struct {
		TxnID    int64
		Balance  int64
		Replayed bool
	}
	e.h.Do("POST", "/me/gifts", body, from.AccessToken).Expect(t, 201, 0).Decode(t, &first)
	e.h.Do("POST", "/me/gifts", body, from.AccessToken).Expect(t, 201, 0).Decode(t, &second)
	if first.Replayed || !second.Replayed || first.TxnID != second.TxnID || second.Balance != 15 {
		t.Fatalf("first %+v second %+v", first, second)
	}
	// The same request id with another amount or recipient is refused, not
	// silently answered with the first gift.
	other := e.resident(t, e.tree.CommunityA.ID)
	e.h.Do("POST", "/me/gifts", map[string]any{"toUserId": to.UserID, "currency": "points", "amount": 6, "requestId": "gift-1"},
		from.AccessToken).Expect(t, 409, service.CodeRequestIDReused)
	e.h.Do("POST", "/me/gifts", map[string]any{"toUserId": other.UserID, "currency": "points", "amount": 5, "requestId": "gift-1"},
		from.AccessToken).Expect(t, 409, service.CodeRequestIDReused)
	var bal struct{ Points int64 }
	e.h.Do("GET", "/me/account", nil, from.AccessToken).Expect(t, 200, 0).Decode(t, &bal)
	if bal.Points != 15 {
		t.Fatalf("points after refused repeats = %d, want 15", bal.Points)
	}
	e.reconcileClean(t)
}

func TestGiftDailyLimit(t *testing.T) {
	e := newTBEnv(t, map[string]any{"timebank.gift_daily_limit_points": 5})
	from := e.resident(t, e.tree.CommunityA.ID)
	to := e.resident(t, e.tree.CommunityA.ID)
	e.credit(t, from.UserID, "points", 100)
	gift := func(amount int64) *testutil.Response {
		return e.h.Do("POST", "/me/gifts", map[string]any{"toUserId": to.UserID, "currency": "points", "amount": amount}, from.AccessToken)
	}
	gift(3).Expect(t, 201, 0)
	gift(3).Expect(t, 409, service.CodeGiftDailyLimit)
	gift(2).Expect(t, 201, 0)
	gift(1).Expect(t, 409, service.CodeGiftDailyLimit)
	if a := e.account(t, from); a.Points != 95 {
		t.Fatalf("balance %+v", a)
	}
	e.h.Clock.Advance(24 * time.Hour)
	gift(5).Expect(t, 201, 0)
	e.reconcileClean(t)
}

func TestManualCreditRules(t *testing.T) {
	e := newTBEnv(t)
	u := e.resident(t, e.tree.CommunityA.ID)
	homeless := e.resident(t, 0)
	streetStaff := e.h.MustLogin(testutil.UniqueOpenID("tb-street"))
	e.h.MustMakeStaff(streetStaff.UserID, e.tree.Street.ID, model.RoleStaff)
	staffB := e.h.MustLogin(testutil.UniqueOpenID("tb-staffb"))
	e.h.MustMakeStaff(staffB.UserID, e.tree.CommunityB.ID, model.RoleStaff)
	ok := func(extra map[string]any) map[string]any {
		b := map[string]any{"userId": u.UserID, "currency": "points", "amount": 10, "reason": "补录", "requestId": "r-" + testutil.UniqueOpenID("x")}
		for k, v := range extra {
			b[k] = v
		}
		return b
	}
	cases := []struct {
		name         string
		who          testutil.Login
		body         any
		status, code int
	}{
		{"resident", u, ok(nil), 403, service.CodeForbidden},
		{"staff of another community", staffB, ok(nil), 403, service.CodeForbidden},
		{"issuer is a street", streetStaff, ok(map[string]any{"communityId": e.tree.Street.ID}), 400, service.CodeInvalid},
		{"unknown community", e.staff, ok(map[string]any{"communityId": 999_999_999}), 404, service.CodeNotFound},
		{"unknown user", e.staff, ok(map[string]any{"userId": 999_999_999}), 404, service.CodeNotFound},
		{"no home, no community", e.staff, ok(map[string]any{"userId": homeless.UserID}), 409, service.CodeNoHomeCommunity},
		{"zero", e.staff, ok(map[string]any{"amount": 0}), 400, service.CodeInvalid},
		{"negative", e.staff, ok(map[string]any{"amount": -10}), 400, service.CodeInvalid},
		{"huge", e.staff, ok(map[string]any{"amount": 1_000_001}), 400, service.CodeInvalid},
		{"no reason", e.staff, ok(map[string]any{"reason": "  "}), 400, service.CodeInvalid},
		{"no request id", e.staff, ok(map[string]any{"requestId": ""}), 400, service.CodeInvalid},
		{"bad currency", e.staff, ok(map[string]any{"currency": "hours"}), 400, service.CodeInvalid},
		{"wrong type", e.staff, ok(map[string]any{"userId": "abc"}), 400, service.CodeInvalid},
		{"resident of another community", streetStaff, ok(map[string]any{"communityId": e.tree.CommunityB.ID}), 403, service.CodeRecipientOutside},
		{"no home, never served here", e.staff, ok(map[string]any{"userId": homeless.UserID, "communityId": e.tree.CommunityA.ID}), 403, service.CodeRecipientOutside},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.h.Do("POST", "/admin/credits", c.body, c.who.AccessToken).Expect(t, c.status, c.code)
		})
	}
	if n := e.entries(t, u.UserID) + e.entries(t, homeless.UserID); n != 0 {
		t.Fatalf("entries written: %d", n)
	}
	if n := e.h.Count(&model.ManualCredit{}, "user_id IN ?", []int64{u.UserID, homeless.UserID}); n != 0 {
		t.Fatalf("manual credits written: %d", n)
	}
	// Street staff act on the communities beneath; a homeless user needs an
	// issuer where they served.
	e.h.Do("POST", "/admin/credits", ok(map[string]any{"communityId": e.tree.CommunityA.ID, "requestId": "s-1"}), streetStaff.AccessToken).Expect(t, 201, 0)
	served := model.ServiceRecord{UserID: homeless.UserID, CommunityID: e.tree.CommunityA.ID, Kind: model.ServiceContactHelp,
		OccurredAt: e.h.Clock.Now(), Minutes: 30, Status: model.RecordApproved}
	if err := e.h.DB.Create(&served).Error; err != nil {
		t.Fatal(err)
	}
	e.h.Do("POST", "/admin/credits", ok(map[string]any{"userId": homeless.UserID, "communityId": e.tree.CommunityA.ID, "requestId": "h-1"}), e.staff.AccessToken).Expect(t, 201, 0)
	// The same request id with other content is refused.
	body := ok(map[string]any{"requestId": "dup-1"})
	var v struct {
		ID, TxnID, CreatedBy int64
		Replayed             bool
	}
	e.h.Do("POST", "/admin/credits", body, e.staff.AccessToken).Expect(t, 201, 0).Decode(t, &v)
	if v.TxnID == 0 || v.CreatedBy != e.staff.UserID || v.Replayed {
		t.Fatalf("credit %+v", v)
	}
	body["amount"] = 11
	e.h.Do("POST", "/admin/credits", body, e.staff.AccessToken).Expect(t, 409, service.CodeRequestIDReused)
	if a := e.account(t, u); a.Points != 20 || a.EarnedPoints != 20 {
		t.Fatalf("account %+v", a)
	}
	var audit model.ManualCredit
	if err := e.h.DB.Where("actor_id = ? AND request_id = ?", e.staff.UserID, "dup-1").First(&audit).Error; err != nil {
		t.Fatal(err)
	}
	if audit.UserID != u.UserID || audit.Amount != 10 || audit.Reason != "补录" || audit.TxnID != v.TxnID || audit.CreatedAt.IsZero() {
		t.Fatalf("audit row %+v", audit)
	}
	e.reconcileClean(t)
}

func TestReconcileNeedsRootAdmin(t *testing.T) {
	e := newTBEnv(t)
	u := e.resident(t, e.tree.CommunityA.ID)
	e.h.Do("GET", "/admin/reconcile", nil, u.AccessToken).Expect(t, 403, service.CodeForbidden)
	e.h.Do("GET", "/admin/reconcile", nil, e.staff.AccessToken).Expect(t, 403, service.CodeForbidden)
	districtAdmin := e.h.MustLogin(testutil.UniqueOpenID("tb-dadmin"))
	e.h.MustMakeStaff(districtAdmin.UserID, e.tree.District.ID, model.RoleAdmin)
	e.h.Do("GET", "/admin/reconcile", nil, districtAdmin.AccessToken).Expect(t, 200, 0)
	// A broken cached balance is reported.
	e.credit(t, u.UserID, "points", 5)
	if err := e.h.DB.Model(&model.Account{}).Where("owner_kind = 'user' AND owner_id = ? AND currency = 'points'", u.UserID).
		Update("balance", 6).Error; err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Mismatches int
		Details    []string
	}
	e.h.Do("GET", "/admin/reconcile", nil, e.admin.AccessToken).Expect(t, 200, 0).Decode(t, &rep)
	if rep.Mismatches != 1 || len(rep.Details) != 1 || !strings.Contains(rep.Details[0], "balance 6") {
		t.Fatalf("report %+v", rep)
	}
	if err := e.h.DB.Model(&model.Account{}).Where("owner_kind = 'user' AND owner_id = ? AND currency = 'points'", u.UserID).
		Update("balance", 5).Error; err != nil {
		t.Fatal(err)
	}
	e.reconcileClean(t)
}

type board struct {
	OrgID     int64
	Period    string
	PeriodKey string
	By        string
	List      []struct {
		Rank     int
		UserID   int64
		Nickname string
		Score    int64
	}
	Me struct {
		Rank  *int
		Score int64
	}
}

// ranking is a leaderboard computed from the ledger: what the users whose
// home community lies under org earned (credits, net of reversed credits).
func ledgerRanking(t *testing.T, h *testutil.Harness, org model.OrgUnit, currency string, users []int64) [][2]int64 {
	t.Helper()
	var rows []struct {
		UserID int64
		Total  int64
	}
	err := h.DB.Raw(`SELECT a.owner_id AS user_id, SUM(e.amount) AS total
		FROM ledger_entries e JOIN accounts a ON a.id = e.account_id
		JOIN ledger_txns t ON t.id = e.txn_id
		JOIN users u ON u.id = a.owner_id JOIN org_units c ON c.id = u.home_community_id
		WHERE a.owner_kind = 'user' AND a.currency = ? AND t.kind = 'credit' AND c.path LIKE ? AND a.owner_id IN ?
		GROUP BY a.owner_id`, currency, org.Path+"%", users).Scan(&rows).Error
	if err != nil {
		t.Fatal(err)
	}
	var out [][2]int64
	for _, r := range rows {
		if r.Total > 0 {
			out = append(out, [2]int64{r.UserID, r.Total})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i][1] != out[j][1] {
			return out[i][1] > out[j][1]
		}
		return out[i][0] < out[j][0]
	})
	return out
}

func (e *tbEnv) board(t *testing.T, who testutil.Login, org int64, period, by string) board {
	t.Helper()
	var b board
	e.h.Do("GET", fmt.Sprintf("/leaderboards?orgId=%d&period=%s&by=%s", org, period, by), nil, who.AccessToken).
		Expect(t, 200, 0).Decode(t, &b)
	return b
}

func boardPairs(b board) [][2]int64 {
	var out [][2]int64
	for _, l := range b.List {
		out = append(out, [2]int64{l.UserID, l.Score})
	}
	return out
}

func TestLeaderboardsEqualLedgerRanking(t *testing.T) {
	e := newTBEnv(t)
	staffC := e.h.MustLogin(testutil.UniqueOpenID("tb-staffc"))
	e.h.MustMakeStaff(staffC.UserID, e.tree.CommunityC.ID, model.RoleStaff)
	staffB := e.h.MustLogin(testutil.UniqueOpenID("tb-staffb"))
	e.h.MustMakeStaff(staffB.UserID, e.tree.CommunityB.ID, model.RoleStaff)
	// Each community credits its own residents (a manual credit's recipient
	// must live or have served in the issuing community).
	issuers := []testutil.Login{e.staff, staffB, staffC}
	communities := []int64{e.tree.CommunityA.ID, e.tree.CommunityB.ID, e.tree.CommunityC.ID}
	var users []testutil.Login
	var ids []int64
	for i := range 12 {
		u := e.resident(t, communities[i%3])
		users, ids = append(users, u), append(ids, u.UserID)
		if i == 11 {
			continue // earns nothing
		}
		e.creditFrom(t, issuers[i%3], communities[i%3], u.UserID, "minutes", int64(30*(i%5+1)))
		e.creditFrom(t, issuers[i%3], communities[i%3], u.UserID, "points", int64(7*(i%4+1)))
	}
	// Credits issued by community C count for its residents' boards too.
	e.creditFrom(t, staffC, e.tree.CommunityC.ID, users[2].UserID, "minutes", 45)
	// Gifts do not count, neither for the giver nor the receiver.
	e.h.Do("POST", "/me/gifts", map[string]any{"toUserId": users[1].UserID, "currency": "minutes", "amount": 20}, users[0].AccessToken).Expect(t, 201, 0)

	check := func(stage string) {
		t.Helper()
		for _, org := range []model.OrgUnit{e.tree.CommunityA, e.tree.CommunityC, e.tree.Street, e.tree.District} {
			for _, by := range []string{"minutes", "points"} {
				want := ledgerRanking(t, e.h, org, by, ids)
				for _, period := range []string{"month", "year", "all"} {
					b := e.board(t, users[0], org.ID, period, by)
					got := boardPairs(b)
					// Other tests' users may share the MySQL database but not this tree.
					if !slices.Equal(got, want) {
						t.Fatalf("%s: org %s %s %s: board %v, ledger %v", stage, org.Name, period, by, got, want)
					}
					for i, l := range b.List {
						if i > 0 && l.Score == b.List[i-1].Score && l.Rank != b.List[i-1].Rank || l.Rank < 1 || l.Rank > i+1 {
							t.Fatalf("%s: ranks %+v", stage, b.List)
						}
					}
				}
			}
		}
	}
	check("incremental")

	// The caller's own rank, and nothing for one who earned nothing.
	b := e.board(t, users[0], e.tree.District.ID, "all", "minutes")
	if b.Me.Rank == nil || b.Me.Score != 30 {
		t.Fatalf("me %+v", b.Me)
	}
	if b := e.board(t, users[11], e.tree.District.ID, "all", "minutes"); b.Me.Rank != nil || b.Me.Score != 0 {
		t.Fatalf("me without credits %+v", b.Me)
	}
	// Home community is the default org.
	var def board
	e.h.Do("GET", "/leaderboards", nil, users[2].AccessToken).Expect(t, 200, 0).Decode(t, &def)
	if def.OrgID != e.tree.CommunityC.ID || def.Period != "month" || def.By != "minutes" {
		t.Fatalf("default board %+v", def)
	}

	deleteLeaderboardKeys(t, e.h)
	check("rebuilt after the keys were deleted")
	deleteLeaderboardKeys(t, e.h)
	if n, err := e.h.Svc.TimeBank.RebuildLeaderboards(context.Background()); err != nil || n < 6 {
		t.Fatalf("rebuild: %d %v", n, err)
	}
	check("rebuilt by the command")

	// Moving home moves the user's scores.
	e.h.Do("PUT", "/me/community", map[string]any{"communityId": e.tree.CommunityC.ID}, users[0].AccessToken).Expect(t, 200, 0)
	check("after a move")

	// A new month starts empty; all time keeps everything.
	e.h.Clock.Advance(32 * 24 * time.Hour)
	if b := e.board(t, users[0], e.tree.District.ID, "month", "minutes"); len(b.List) != 0 {
		t.Fatalf("next month %+v", b.List)
	}
	if b := e.board(t, users[0], e.tree.District.ID, "all", "minutes"); !slices.Equal(boardPairs(b), ledgerRanking(t, e.h, e.tree.District, "minutes", ids)) {
		t.Fatalf("all time next month %+v", b.List)
	}
	e.creditFrom(t, staffC, e.tree.CommunityC.ID, users[5].UserID, "minutes", 5)
	// The district's board was built before: the credit lands by the update,
	// the other street's by a rebuild.
	if b := e.board(t, users[0], e.tree.District.ID, "month", "minutes"); len(b.List) != 1 || b.List[0].UserID != users[5].UserID || b.List[0].Score != 5 {
		t.Fatalf("district next month after a credit %+v", b.List)
	}
	if b := e.board(t, users[0], e.tree.OtherStreet.ID, "month", "minutes"); len(b.List) != 1 || b.List[0].UserID != users[5].UserID || b.List[0].Score != 5 {
		t.Fatalf("next month after a credit %+v", b.List)
	}
}

func TestLeaderboardBadInput(t *testing.T) {
	e := newTBEnv(t)
	u := e.resident(t, e.tree.CommunityA.ID)
	homeless := e.resident(t, 0)
	for _, c := range []struct {
		query        string
		who          testutil.Login
		status, code int
	}{
		{"?period=week", u, 400, service.CodeInvalid},
		{"?by=hours", u, 400, service.CodeInvalid},
		{"?orgId=abc", u, 400, service.CodeInvalid},
		{"?orgId=-1", u, 400, service.CodeInvalid},
		{fmt.Sprintf("?orgId=%d", e.tree.GridA.ID), u, 400, service.CodeInvalid},
		{"?orgId=999999999", u, 404, service.CodeNotFound},
		{"", homeless, 409, service.CodeNoHomeCommunity},
	} {
		e.h.Do("GET", "/leaderboards"+c.query, nil, c.who.AccessToken).Expect(t, c.status, c.code)
	}
}

// deleteLeaderboardKeys removes every leaderboard key of the harness.
func deleteLeaderboardKeys(t *testing.T, h *testutil.Harness) {
	t.Helper()
	ctx := context.Background()
	keys, err := h.Redis.Keys(ctx, h.Config.Redis.Prefix+"lb:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) == 0 {
		t.Fatal("no leaderboard keys to delete")
	}
	if err := h.Redis.Del(ctx, keys...).Err(); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentMovesLeaveOneHomeOnTheBoards fires moves of one user's home
// community to B and to C at once: however they interleave, the user ends up
// on the boards of their final home (and the orgs above it) only.
func TestConcurrentMovesLeaveOneHomeOnTheBoards(t *testing.T) {
	// The boards, not the residency limit, are under test: moves are free.
	e := newTBEnv(t, map[string]any{"user.home_change_min_interval": "0s"})
	for round := range 3 {
		u := e.resident(t, e.tree.CommunityA.ID)
		e.credit(t, u.UserID, "minutes", 40)
		orgs := []model.OrgUnit{e.tree.CommunityA, e.tree.CommunityB, e.tree.CommunityC, e.tree.Street, e.tree.OtherStreet, e.tree.District}
		for _, org := range orgs { // build every board, so that moves update them
			e.board(t, u, org.ID, "all", "minutes")
		}
		targets := []int64{e.tree.CommunityB.ID, e.tree.CommunityC.ID}
		res := testutil.Tally(testutil.Race(t, 16, func(i int) string {
			return testutil.Answer(e.h.TryDo("PUT", "/me/community", map[string]any{"communityId": targets[i%2]}, u.AccessToken))
		}))
		if res["200/0"] != 16 {
			t.Fatalf("round %d: moves %v", round, res)
		}
		for _, org := range orgs {
			want := ledgerRanking(t, e.h, org, "minutes", []int64{u.UserID})
			var got [][2]int64
			for _, p := range boardPairs(e.board(t, u, org.ID, "all", "minutes")) {
				if p[0] == u.UserID {
					got = append(got, p)
				}
			}
			if !slices.Equal(got, want) {
				var home model.User
				e.h.DB.First(&home, u.UserID)
				t.Fatalf("round %d: board of %s: %v, ledger %v (home %d)", round, org.Name, got, want, *home.HomeCommunityID)
			}
		}
	}
}
