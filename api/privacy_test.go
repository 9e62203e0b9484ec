package api_test

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"linli/internal/testutil"
	"linli/model"
	"linli/service"
)

// privacyWorld is a person with a row of every kind linli keeps (the one
// who will ask for their data and then erase their account), staff and an
// admin of community A, and a neighbour whose wishes the person claims.
type privacyWorld struct {
	w                 *testutil.World
	h                 *testutil.Harness
	tree              *testutil.Tree
	person            testutil.Login
	openid            string
	staff, admin, nbr testutil.Login
	// secrets are the identifying strings of the person that must be gone
	// from every table after the erasure.
	secrets []string
	// openWish is the neighbour's wish the person holds claimed;
	// activity the one they are signed up to; order their open order.
	openWish, ownWish, activity, goods, order int64
	phone, wishPhone                          string
}

func isPrivacyPath(p string) bool { return strings.HasPrefix(p, "/api/v1/me") }

func newPrivacyWorld(t *testing.T, opts ...testutil.Option) *privacyWorld {
	t.Helper()
	w := testutil.NewWorld(t, opts...)
	w.Router = testutil.NewDocChecker(t, w.Router, isPrivacyPath)
	h, tree := w.Harness, w.Tree
	A := tree.CommunityA.ID
	p := &privacyWorld{w: w, h: h, tree: tree}
	tag := strings.ToUpper(testutil.UniqueOpenID("x")[2:])
	p.openid = "union:" + testutil.UniqueOpenID("privacy")
	p.person = w.LoginAs(p.openid)
	p.openid = strings.TrimPrefix(p.openid, "union:")
	h.MustSetHome(p.person.UserID, A)
	p.staff = w.Staff("pstaff", A)
	p.admin = w.Staff("padmin", tree.District.ID)
	h.MustMakeStaff(p.admin.UserID, tree.District.ID, model.RoleAdmin)
	p.nbr = w.Login("pnbr", A)
	tok := p.person.AccessToken
	nick, name := "隐私昵称"+tag, "隐私实名"+tag
	// Numbers of this run only: tests may share a MySQL database.
	digits := fmt.Sprintf("%07d", time.Now().UnixNano()%10_000_000)
	phone, vphone, rphone, wphone := "1371"+digits, "1372"+digits, "1373"+digits, "1374"+digits
	p.phone, p.wishPhone = phone, wphone
	address := "隐私路" + tag + "号"
	p.secrets = []string{p.openid, "u-" + p.openid, nick, name, phone, vphone, rphone, wphone, address}

	h.Do("PUT", "/me", map[string]any{"nickname": nick}, tok).Expect(t, 200, 0)
	h.Do("POST", "/me/phone", map[string]any{"code": "phone:" + phone}, tok).Expect(t, 200, 0)
	h.Do("PUT", "/volunteers/me", map[string]any{"realName": name, "phone": vphone, "skills": []string{"其他"},
		"availability": "周末"}, tok).Expect(t, 200, 0)
	var unit struct{ ID int64 }
	h.Do("POST", "/units", map[string]any{"name": "隐私单位" + tag, "kind": "国企", "partyOrg": "党委",
		"communityId": A, "contactName": name, "contactPhone": rphone}, tok).Expect(t, 201, 0).Decode(t, &unit)
	h.Do("POST", fmt.Sprintf("/units/%d/approve", unit.ID), nil, p.staff.AccessToken).Expect(t, 200, 0)
	var report struct{ ID int64 }
	h.Do("POST", "/member-reports", map[string]any{"communityId": A, "realName": name, "phone": rphone,
		"branch": "第一党支部", "mode": "daily", "unitId": unit.ID}, tok).Expect(t, 201, 0).Decode(t, &report)
	h.Do("POST", fmt.Sprintf("/member-reports/%d/approve", report.ID), nil, p.staff.AccessToken).Expect(t, 200, 0)
	var rec struct{ ID int64 }
	h.Do("POST", "/services", map[string]any{"kind": "contact_help", "occurredAt": h.Clock.Now().Add(-time.Hour).Format(time.RFC3339),
		"minutes": 60, "note": "走访"}, tok).Expect(t, 201, 0).Decode(t, &rec)
	h.Do("POST", fmt.Sprintf("/services/%d/approve", rec.ID), nil, p.staff.AccessToken).Expect(t, 200, 0)

	// A wish of the person's own, with a photo.
	var img struct{ ID int64 }
	h.Upload(tok, "a.png", testutil.PNG()).Expect(t, 201, 0).Decode(t, &img)
	body := wishBody("隐私心愿")
	body["contactPhone"], body["address"], body["images"] = wphone, address, []int64{img.ID}
	var ww struct{ ID int64 }
	h.Do("POST", "/wishes", body, tok).Expect(t, 201, 0).Decode(t, &ww)
	h.Do("POST", fmt.Sprintf("/wishes/%d/approve", ww.ID), nil, p.staff.AccessToken).Expect(t, 200, 0)
	p.ownWish = ww.ID
	// The neighbour's wishes: one the person fulfils (points on the
	// ledger), one they still hold claimed.
	newWish := func(title string) int64 {
		var x struct{ ID int64 }
		h.Do("POST", "/wishes", wishBody(title), p.nbr.AccessToken).Expect(t, 201, 0).Decode(t, &x)
		h.Do("POST", fmt.Sprintf("/wishes/%d/approve", x.ID), nil, p.staff.AccessToken).Expect(t, 200, 0)
		return x.ID
	}
	done := newWish("修水管")
	h.Do("POST", fmt.Sprintf("/wishes/%d/claim", done), nil, tok).Expect(t, 200, 0)
	h.Do("POST", fmt.Sprintf("/wishes/%d/fulfil", done), map[string]any{"note": "已修好"}, tok).Expect(t, 200, 0)
	h.Do("POST", fmt.Sprintf("/wishes/%d/confirm", done), map[string]any{"rating": 5}, p.nbr.AccessToken).Expect(t, 200, 0)
	p.openWish = newWish("换灯泡")
	h.Do("POST", fmt.Sprintf("/wishes/%d/claim", p.openWish), nil, tok).Expect(t, 200, 0)

	// An activity they are signed up to, an open mall order, a case.
	now := h.Clock.Now()
	var act struct{ ID int64 }
	h.Do("POST", "/activities", map[string]any{"communityId": A, "title": "清洁家园", "content": "打扫", "category": "环境保护",
		"address": "社区广场", "startAt": now.Add(3 * time.Hour), "endAt": now.Add(4 * time.Hour),
		"signupDeadline": now.Add(2 * time.Hour), "capacity": 5, "waitlist": false}, p.staff.AccessToken).Expect(t, 201, 0).Decode(t, &act)
	h.Do("POST", fmt.Sprintf("/activities/%d/publish", act.ID), nil, p.staff.AccessToken).Expect(t, 200, 0)
	h.Do("POST", fmt.Sprintf("/activities/%d/signup", act.ID), nil, tok).Expect(t, 201, 0)
	p.activity = act.ID
	var g struct{ ID int64 }
	h.Do("POST", "/mall/goods", map[string]any{"communityId": A, "name": "大米", "pointsPrice": 1, "stock": 3},
		p.staff.AccessToken).Expect(t, 201, 0).Decode(t, &g)
	p.goods = g.ID
	var o struct{ ID int64 }
	h.Do("POST", "/mall/orders", map[string]any{"goodsId": g.ID}, tok).Expect(t, 201, 0).Decode(t, &o)
	p.order = o.ID
	h.Do("POST", "/cases", map[string]any{"communityId": A, "category": "公共设施", "content": "路灯坏了",
		"address": "幸福路东门"}, tok).Expect(t, 201, 0)
	return p
}

// TestDataExportHasEveryKindOfRow: GET /me/data-export holds a row of
// every kind the person has, with their contacts; the zip holds their
// upload.
func TestDataExportHasEveryKindOfRow(t *testing.T) {
	p := newPrivacyWorld(t)
	var x struct {
		UserID  int64
		Profile map[string]any
		Data    map[string][]map[string]any
	}
	p.h.Do("GET", "/me/data-export", nil, p.person.AccessToken).Expect(t, 200, 0).Decode(t, &x)
	if x.UserID != p.person.UserID || x.Profile["openId"] != p.openid || x.Profile["phone"] != p.phone {
		t.Fatalf("profile: %v %v", x.UserID, x.Profile)
	}
	for _, kind := range []string{"volunteerProfile", "memberReports", "unitLiaisons", "unitsRegistered", "services",
		"wishes", "wishesClaimed", "wishClaims", "attendances", "accounts", "ledger", "orders", "cases",
		"notifications", "uploads"} {
		if len(x.Data[kind]) == 0 {
			t.Errorf("export has no %s: %v", kind, x.Data[kind])
		}
	}
	if got := x.Data["wishes"][0]["contactPhone"]; got != p.wishPhone {
		t.Errorf("own wish contact in export = %v", got)
	}
	for _, w := range x.Data["wishesClaimed"] {
		if _, ok := w["contactPhone"]; ok {
			t.Errorf("export shows another poster's contact: %v", w)
		}
	}
	// Someone else's export holds none of it.
	var other struct{ Data map[string][]map[string]any }
	p.h.Do("GET", "/me/data-export", nil, p.nbr.AccessToken).Expect(t, 200, 0).Decode(t, &other)
	if len(other.Data["volunteerProfile"]) != 0 || len(other.Data["orders"]) != 0 {
		t.Errorf("neighbour's export: %v", other.Data)
	}
	res := p.h.Do("GET", "/me/data-export.zip", nil, p.person.AccessToken)
	if res.Status != 200 {
		t.Fatalf("zip: %d %s", res.Status, res.Raw)
	}
	zr, err := zip.NewReader(bytes.NewReader(res.Raw), int64(len(res.Raw)))
	if err != nil {
		t.Fatal(err)
	}
	if len(zr.File) != 1 || zr.File[0].UncompressedSize64 == 0 {
		t.Fatalf("zip entries: %v", zr.File)
	}
	p.h.Do("GET", "/me/data-export", nil, "").Expect(t, 401, service.CodeUnauthenticated)
}

// TestEraseAccount: DELETE /me releases what the person holds through the
// areas' own paths, leaves no identifying string of theirs in any table,
// keeps the ledger reconciled and the community counts right, ends every
// session, hides them from search, and a new login with the same WeChat
// account starts an empty account.
func TestEraseAccount(t *testing.T) {
	p := newPrivacyWorld(t)
	h := p.h
	A := p.tree.CommunityA.ID
	second := p.w.LoginAs("union:" + p.openid) // another device
	var before model.CommunityStats
	h.DB.First(&before, A)
	act0 := h.Count(&model.Activity{}, "id = ? AND signed = 1", p.activity)

	// Before the erasure the scan finds every identifying string.
	held := map[string]bool{}
	for _, hit := range p.holders(t) {
		held[hit[:strings.Index(hit, " in ")]] = true
	}
	for _, secret := range p.secrets {
		if !held[secret] {
			t.Fatalf("the scan does not find %q before the erasure", secret)
		}
	}

	h.Do("DELETE", "/me", nil, p.person.AccessToken).Expect(t, 200, 0)

	// Every session ends; asking again is 401.
	h.Do("DELETE", "/me", nil, p.person.AccessToken).Expect(t, 401, service.CodeUnauthenticated)
	h.Do("GET", "/me", nil, second.AccessToken).Expect(t, 401, service.CodeUnauthenticated)
	h.Do("POST", "/auth/refresh", map[string]any{"refreshToken": second.RefreshToken}, "").Expect(t, 401, service.CodeUnauthenticated)

	// Released through the areas' paths.
	if act0 != 1 || h.Count(&model.Activity{}, "id = ? AND signed = 0", p.activity) != 1 {
		t.Errorf("sign-up not released (signed before: %d)", act0)
	}
	if h.Count(&model.Wish{}, "id = ? AND status = ? AND claimer_id IS NULL", p.openWish, model.WishPublished) != 1 {
		t.Error("claimed wish not given back")
	}
	if h.Count(&model.Wish{}, "id = ? AND status = ?", p.ownWish, model.WishCancelled) != 1 {
		t.Error("own open wish not cancelled")
	}
	if h.Count(&model.MallOrder{}, "id = ? AND status = ? AND refund_txn_id IS NOT NULL", p.order, model.OrderCancelled) != 1 ||
		h.Count(&model.MallGoods{}, "id = ? AND stock = 3", p.goods) != 1 {
		t.Error("open order not cancelled and refunded")
	}
	if h.Count(&model.MemberReport{}, "user_id = ? AND status IN ?", p.person.UserID,
		[]model.ReviewStatus{model.ReviewPending, model.ReviewApproved}) != 0 {
		t.Error("member report still live")
	}

	// No identifying string of the person is left anywhere.
	for _, hit := range p.holders(t) {
		t.Errorf("still held after erasure: %s", hit)
	}
	// The ledger still reconciles, and the rows others rely on are there.
	rep, err := h.Svc.TimeBank.Reconcile(context.Background())
	if err != nil || rep.Mismatches != 0 {
		t.Fatalf("reconcile: %+v %v", rep, err)
	}
	if h.Count(&model.LedgerEntry{}, "account_id IN (?)", h.DB.Model(&model.Account{}).Select("id").
		Where("owner_kind = ? AND owner_id = ?", model.OwnerUser, p.person.UserID)) == 0 {
		t.Error("the person's ledger entries are gone")
	}
	if h.Count(&model.ServiceRecord{}, "user_id = ?", p.person.UserID) == 0 {
		t.Error("service records are gone")
	}
	// The counts of the community drop them.
	var after model.CommunityStats
	h.DB.First(&after, A)
	if after.Residents != before.Residents-1 || after.Volunteers != before.Volunteers-1 {
		t.Errorf("community stats %+v → %+v", before, after)
	}
	if h.Count(&model.AuditEntry{}, "actor_id = ? AND action = ? AND object_id = ?", p.person.UserID,
		service.AuditAccountErase, p.person.UserID) != 1 {
		t.Error("no audit entry")
	}
	// Search does not find them.
	var found struct{ List []struct{ ID int64 } }
	h.Do("GET", fmt.Sprintf("/admin/users?q=%d", p.person.UserID), nil, p.admin.AccessToken).Expect(t, 200, 0).Decode(t, &found)
	for _, u := range found.List {
		if u.ID == p.person.UserID {
			t.Errorf("search finds the erased user: %v", found.List)
		}
	}
	// The same WeChat account starts afresh.
	again := p.w.LoginAs("union:" + p.openid)
	if again.UserID == p.person.UserID {
		t.Fatal("login came back to the erased account")
	}
	var me struct {
		Phone, Nickname string
		Roles           []struct{ Role string }
	}
	h.Do("GET", "/me", nil, again.AccessToken).Expect(t, 200, 0).Decode(t, &me)
	if me.Phone != "" || me.Nickname != "" || len(me.Roles) != 0 {
		t.Errorf("new account is not empty: %+v", me)
	}
	var x struct{ Data map[string][]map[string]any }
	h.Do("GET", "/me/data-export", nil, again.AccessToken).Expect(t, 200, 0).Decode(t, &x)
	if len(x.Data["wishes"]) != 0 || len(x.Data["ledger"]) != 0 {
		t.Errorf("new account's export: %v", x.Data)
	}
}

// holders scans every column of every table of model.Tables() for the
// person's identifying strings and returns "secret in table.column: value"
// for each row holding one.
func (p *privacyWorld) holders(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, m := range model.Tables() {
		var rows []map[string]any
		if err := p.h.DB.Model(m).Find(&rows).Error; err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			for col, v := range r {
				s := fmt.Sprint(v)
				if b, ok := v.([]byte); ok {
					s = string(b)
				}
				for _, secret := range p.secrets {
					if strings.Contains(s, secret) {
						out = append(out, fmt.Sprintf("%s in %T.%s: %.80s", secret, m, col, s))
					}
				}
			}
		}
	}
	return out
}

// TestRetentionSweepBlanksClosedWishContactsOnce: a closed wish keeps its
// contact for privacy.wish_contact_retention, then the sweep blanks it —
// once, however many instances sweep at the same moment; an open wish
// keeps its contact.
func TestRetentionSweepBlanksClosedWishContactsOnce(t *testing.T) {
	w := testutil.NewWorld(t)
	h := w.Harness
	poster := w.Login("rposter", w.Tree.CommunityA.ID)
	ids := make([]int64, 3)
	for i := range ids {
		var x struct{ ID int64 }
		h.Do("POST", "/wishes", wishBody(fmt.Sprintf("心愿%d", i)), poster.AccessToken).Expect(t, 201, 0).Decode(t, &x)
		ids[i] = x.ID
	}
	for _, id := range ids[:2] {
		h.Do("POST", fmt.Sprintf("/wishes/%d/cancel", id), map[string]any{"reason": "不需要了"}, poster.AccessToken).Expect(t, 200, 0)
	}
	svc2, _ := h.NewInstance()
	sweepBoth := func() int64 {
		got := testutil.Race(t, 8, func(i int) int64 {
			svc := h.Svc
			if i%2 == 1 {
				svc = svc2
			}
			res, err := svc.Privacy.SweepRetention(context.Background())
			if err != nil {
				t.Error(err)
			}
			return res.WishContacts
		})
		var n int64
		for _, g := range got {
			n += g
		}
		return n
	}
	h.Clock.Advance(179 * 24 * time.Hour)
	sweepBoth() // on a shared MySQL database, other tests' wishes may be due already
	if h.Count(&model.Wish{}, "id IN ? AND contact_phone = ? AND address = ?", ids, wishPhone, wishAddress) != 3 {
		t.Fatal("contacts changed before the retention ended")
	}
	h.Clock.Advance(2 * 24 * time.Hour)
	// Due: these two, and on a shared MySQL database other tests' old ones.
	due := h.Count(&model.Wish{}, "contact_redacted = ? AND closed_at < ?", false,
		h.Clock.Now().Add(-h.Config.Privacy.WishContactRetention))
	if due < 2 {
		t.Fatalf("%d wishes due", due)
	}
	if n := sweepBoth(); n != due {
		t.Fatalf("the instances blanked %d wishes together, want %d", n, due)
	}
	if h.Count(&model.Wish{}, "id IN ? AND contact_phone = '' AND address = '' AND contact_redacted = ?", ids[:2], true) != 2 {
		t.Error("closed wishes keep their contact")
	}
	if h.Count(&model.Wish{}, "id = ? AND contact_phone = ? AND contact_redacted = ?", ids[2], wishPhone, false) != 1 {
		t.Error("the open wish lost its contact")
	}
	if n := sweepBoth(); n != 0 {
		t.Errorf("a second sweep blanked %d", n)
	}
}

// TestConsentToPrivacyPolicy: GET /me asks for consent until the current
// policy version is accepted; another version is refused with 80010 and
// changes nothing; a new policy version asks again.
func TestConsentToPrivacyPolicy(t *testing.T) {
	w := testutil.NewWorld(t, testutil.WithConfig(map[string]any{"privacy.policy_version": "2026-01"}))
	w.Router = testutil.NewDocChecker(t, w.Router, isPrivacyPath)
	h := w.Harness
	u := w.Login("consent", 0)
	type meConsent struct {
		ConsentVersion  string
		ConsentRequired bool
	}
	me := func() meConsent {
		var m meConsent
		h.Do("GET", "/me", nil, u.AccessToken).Expect(t, 200, 0).Decode(t, &m)
		return m
	}
	if m := me(); !m.ConsentRequired || m.ConsentVersion != "" {
		t.Fatalf("new user: %+v", m)
	}
	rows := h.Rows()
	h.Do("POST", "/me/consent", map[string]any{"version": "2025-06"}, u.AccessToken).Expect(t, 409, service.CodeConsentVersion)
	h.Do("POST", "/me/consent", map[string]any{}, u.AccessToken).Expect(t, 400, service.CodeInvalid)
	rows.WroteNothing(t, "refused consent")
	if h.Count(&model.User{}, "id = ? AND consent_version = '' AND consent_at IS NULL", u.UserID) != 1 {
		t.Fatal("refused consent was recorded")
	}
	var c struct {
		Version    string
		AcceptedAt time.Time
	}
	h.Do("POST", "/me/consent", map[string]any{"version": "2026-01"}, u.AccessToken).Expect(t, 200, 0).Decode(t, &c)
	if c.Version != "2026-01" || c.AcceptedAt.Sub(h.Clock.Now()).Abs() > time.Second {
		t.Fatalf("consent answer %+v", c)
	}
	if m := me(); m.ConsentRequired || m.ConsentVersion != "2026-01" {
		t.Fatalf("after consent: %+v", m)
	}
	if h.Count(&model.User{}, "id = ? AND consent_version = ? AND consent_at IS NOT NULL", u.UserID, "2026-01") != 1 {
		t.Fatal("consent not stored")
	}
	// A new policy version asks again.
	h.Config.Privacy.PolicyVersion = "2026-07"
	if m := me(); !m.ConsentRequired {
		t.Fatalf("after a policy update: %+v", m)
	}
}

// TestConcurrentErasureOnTwoInstances: the same session erases its account
// from many requests on two instances at once: each answers 200 (or 401
// once the session is gone), the account is erased once — one audit entry,
// the community counts drop by exactly one resident and one volunteer.
func TestConcurrentErasureOnTwoInstances(t *testing.T) {
	w := testutil.NewWorld(t)
	h := w.Harness
	A := w.Tree.CommunityA.ID
	u := w.Volunteer("ecc", A)
	var before model.CommunityStats
	h.DB.First(&before, A)
	_, second := h.NewInstance()
	answers := testutil.Answers(testutil.RaceSend(t, 8, func(i int) (http.Handler, testutil.Request) {
		on := h.Router
		if i%2 == 1 {
			on = second
		}
		return on, testutil.Request{Method: "DELETE", Path: "/api/v1/me", Token: u.AccessToken}
	}))
	tally := testutil.Tally(answers)
	if tally["200/0"] == 0 || tally["200/0"]+tally["401/10002"] != 8 {
		t.Fatalf("answers: %v", tally)
	}
	if n := h.Count(&model.AuditEntry{}, "action = ? AND object_id = ?", service.AuditAccountErase, u.UserID); n != 1 {
		t.Errorf("%d audit entries", n)
	}
	var after model.CommunityStats
	h.DB.First(&after, A)
	if after.Residents != before.Residents-1 || after.Volunteers != before.Volunteers-1 {
		t.Errorf("community stats %+v → %+v", before, after)
	}
	h.Do("GET", "/me", nil, u.AccessToken).Expect(t, 401, service.CodeUnauthenticated)
}

// TestDataExportZipAndErasureOnS3: with the S3 object store, the zip of
// GET /me/data-export.zip holds the caller's files byte for byte, and an
// erasure removes them from the bucket.
func TestDataExportZipAndErasureOnS3(t *testing.T) {
	store := testutil.NewS3Store(t, testutil.FakeS3(t))
	w := testutil.NewWorld(t, testutil.WithObjectStore(store))
	h := w.Harness
	u := w.Login("pzip", w.Tree.CommunityA.ID)
	var ups []struct {
		ID  int64
		URL string
	}
	for range 2 {
		var up struct {
			ID  int64
			URL string
		}
		h.Upload(u.AccessToken, "a.png", testutil.PNG()).Expect(t, 201, 0).Decode(t, &up)
		ups = append(ups, up)
	}
	res := h.Do("GET", "/me/data-export.zip", nil, u.AccessToken)
	if res.Status != 200 || res.Header.Get("Content-Type") != "application/zip" {
		t.Fatalf("zip: %d %s", res.Status, res.Header.Get("Content-Type"))
	}
	zr, err := zip.NewReader(bytes.NewReader(res.Raw), int64(len(res.Raw)))
	if err != nil || len(zr.File) != 2 {
		t.Fatalf("zip: %v %v", zr, err)
	}
	var keys []string
	h.DB.Model(&model.Upload{}).Where("owner_id = ?", u.UserID).Order("id").Pluck("key", &keys)
	for i, f := range zr.File {
		r, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		_, _ = got.ReadFrom(r)
		obj, _, err := store.Open(context.Background(), keys[i])
		if err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		_, _ = want.ReadFrom(obj)
		_ = obj.Close()
		if f.Name != fmt.Sprintf("%d-%s", ups[i].ID, keys[i]) || !bytes.Equal(got.Bytes(), want.Bytes()) || got.Len() == 0 {
			t.Errorf("entry %s: %d bytes, want %d", f.Name, got.Len(), want.Len())
		}
	}
	h.Do("DELETE", "/me", nil, u.AccessToken).Expect(t, 200, 0)
	for _, k := range keys {
		if _, _, err := store.Open(context.Background(), k); err == nil {
			t.Errorf("file %s is still in the bucket", k)
		}
	}
	if h.Count(&model.Upload{}, "owner_id = ?", u.UserID) != 0 {
		t.Error("upload rows remain")
	}
}
