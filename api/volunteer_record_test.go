package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"linli/internal/testutil"
	"linli/model"
	"linli/service"
)

// recordEnv is an activity world (staff of community A, volunteers living
// in A) with helpers for volunteer records.
type recordEnv struct {
	*actEnv
}

func newRecordEnv(t testing.TB, opts ...testutil.Option) *recordEnv {
	return &recordEnv{newActEnv(t, opts...)}
}

// day formats the clock's day moved by days, in the configured zone.
func (e *recordEnv) day(days int) string {
	return e.h.Clock.Now().In(e.h.Config.Location).AddDate(0, 0, days).Format(time.DateOnly)
}

// approvedActivity has u attend a new activity of community A (an hour
// long) and staff approve minutes with score; it returns the activity and
// the attendance ids. The clock moves past the activity's end and u signs
// in again.
func (e *recordEnv) approvedActivity(u *user, title string, minutes, score int) (int64, int64) {
	e.t.Helper()
	id := e.newActivity(map[string]any{"title": title})
	e.signup(id, u)
	e.h.Clock.Advance(3*time.Hour + time.Minute)
	e.relogin(u)
	e.h.Do("POST", fmt.Sprintf("/activities/%d/attendances/%d/approve", id, u.id),
		map[string]any{"minutes": minutes, "score": score, "reason": "现场登记"}, e.staff()).Expect(e.t, 200, 0)
	return id, e.attendance(id, u.id).ID
}

// completedWish has a new resident of A post a wish that staff approve, u
// (a unit liaison) claim and fulfil and the poster confirm.
func (e *recordEnv) completedWish(u *user, title string) int64 {
	e.t.Helper()
	poster := e.login("poster")
	var w struct{ ID int64 }
	e.h.Do("POST", "/wishes", wishBody(title), poster.token).Expect(e.t, 201, 0).Decode(e.t, &w)
	e.h.Do("POST", fmt.Sprintf("/wishes/%d/approve", w.ID), nil, e.staff()).Expect(e.t, 200, 0)
	e.h.Do("POST", fmt.Sprintf("/wishes/%d/claim", w.ID), nil, u.token).Expect(e.t, 200, 0)
	e.h.Do("POST", fmt.Sprintf("/wishes/%d/fulfil", w.ID), map[string]any{"note": "已修好"}, u.token).Expect(e.t, 200, 0)
	e.h.Do("POST", fmt.Sprintf("/wishes/%d/confirm", w.ID), map[string]any{"rating": 5}, poster.token).Expect(e.t, 200, 0)
	return w.ID
}

// reconcile asserts the whole ledger reconciles.
func (e *recordEnv) reconcile() {
	e.t.Helper()
	rep, err := e.h.Svc.TimeBank.Reconcile(context.Background())
	if err != nil || rep.Mismatches != 0 {
		e.t.Fatalf("reconcile: %+v %v", rep, err)
	}
}

type certView struct {
	ID           int64
	Number       string
	VerifyCode   string
	VerifyURL    string
	HolderErased bool
	Content      struct {
		Number       string
		Name         string
		MaskedPhone  string
		TotalMinutes int
		ServiceCount int
		OnBehalf     bool
		Services     []struct {
			Source, Name, Organiser, Date, Evaluation string
			Minutes                                   int
		}
		Training []struct{ Title, Hours string }
		Awards   []struct{ Title, LevelLabel string }
	}
}

type certCheck struct {
	Genuine      bool
	Kind         string
	Name         string
	Records      int
	TotalMinutes int
	HolderErased bool
}

func (e *recordEnv) verify(number, code string) certCheck {
	e.t.Helper()
	var c certCheck
	e.h.Do("GET", "/certificates/verify?number="+url.QueryEscape(number)+"&code="+url.QueryEscape(code), nil, "").
		Expect(e.t, 200, 0).Decode(e.t, &c)
	return c
}

var volunteerNumber = regexp.MustCompile(`^LLV-\d{4}-\d{6}$`)

// TestVolunteerCertificate: a plain volunteer (no Party member) with an
// activity, a wish, training and an award gets a certificate listing all of
// them, verifiable in public; a later accepted correction changes the live
// record and the ledger but not the frozen certificate.
func TestVolunteerCertificate(t *testing.T) {
	e := newRecordEnv(t)
	h := e.h
	u := e.volunteer("plain")
	h.MustUnitLiaison(u.id, e.tree.CommunityA.ID) // wishes are claimed by members and liaisons
	_, attID := e.approvedActivity(u, "清洁家园", 60, 4)
	e.completedWish(u, "修水管")
	tok := e.staff()
	stranger := e.login("stranger")
	training := map[string]any{"title": "急救培训", "hours": 2.5, "date": e.day(0), "organiser": "区红十字会"}
	award := map[string]any{"title": "优秀志愿者", "level": "street", "date": e.day(0), "issuer": "幸福街道"}
	h.Do("POST", fmt.Sprintf("/admin/volunteers/%d/trainings", u.id), training, stranger.token).Expect(t, 403, 10004)
	h.Do("POST", fmt.Sprintf("/admin/volunteers/%d/trainings", u.id), training, tok).Expect(t, 201, 0)
	h.Do("POST", fmt.Sprintf("/admin/volunteers/%d/awards", u.id), award, tok).Expect(t, 201, 0)
	award["level"] = "galactic"
	h.Do("POST", fmt.Sprintf("/admin/volunteers/%d/awards", u.id), award, tok).Expect(t, 400, 10001)
	h.Do("POST", fmt.Sprintf("/admin/volunteers/%d/trainings", stranger.id), training, tok).Expect(t, 403, service.CodeNotVolunteer)
	if n := h.Count(&model.AuditEntry{}, "action IN ? AND actor_id = ?", []string{service.AuditTrainingRecord, service.AuditAwardRecord}, e.staffID); n != 2 {
		t.Fatalf("audit entries = %d, want 2", n)
	}

	var rec struct {
		ServiceCount, TotalMinutes, TrainingMinutes int
		Services                                    []struct{ Source, Name string }
		Awards                                      []struct{ Title string }
	}
	h.Do("GET", "/me/volunteer-record", nil, u.token).Expect(t, 200, 0).Decode(t, &rec)
	if rec.ServiceCount != 2 || rec.TotalMinutes != 60 || rec.TrainingMinutes != 150 || len(rec.Awards) != 1 ||
		rec.Services[0].Source != "activity" || rec.Services[0].Name != "清洁家园" || rec.Services[1].Name != "微心愿：修水管" {
		t.Fatalf("record: %+v", rec)
	}
	h.Do("GET", "/me/volunteer-record", nil, stranger.token).Expect(t, 403, service.CodeNotVolunteer)
	h.Do("POST", "/me/volunteer-certificates", map[string]any{"from": e.day(1), "to": e.day(0)}, u.token).Expect(t, 400, 10001)
	h.Do("POST", "/me/volunteer-certificates", map[string]any{"from": e.day(0), "to": e.day(1)}, u.token).Expect(t, 400, 10001)

	var cert certView
	h.Do("POST", "/me/volunteer-certificates", map[string]any{"from": e.day(-7), "to": e.day(0)}, u.token).
		Expect(t, 201, 0).Decode(t, &cert)
	c := cert.Content
	if !volunteerNumber.MatchString(cert.Number) || c.Number != cert.Number || c.ServiceCount != 2 || c.TotalMinutes != 60 ||
		c.Name != fmt.Sprintf("志愿者%d", u.id) || c.MaskedPhone != "138****0000" || len(c.Training) != 1 ||
		len(c.Awards) != 1 || c.Awards[0].LevelLabel != "街道级" || c.OnBehalf {
		t.Fatalf("certificate: %+v", cert)
	}
	if s := c.Services[0]; s.Evaluation != "评分 4/5" || s.Minutes != 60 || s.Organiser == "" || s.Date == "" {
		t.Fatalf("activity on the certificate: %+v", s)
	}
	if s := c.Services[1]; s.Source != "wish" || s.Name != "微心愿：修水管" {
		t.Fatalf("wish on the certificate: %+v", s)
	}
	if !strings.Contains(cert.VerifyURL, "number="+cert.Number) {
		t.Fatalf("verify url: %s", cert.VerifyURL)
	}
	qr := testutil.Send(t, h.Router, testutil.Request{Method: "GET", Path: fmt.Sprintf("/api/v1/me/volunteer-certificates/%d/qrcode", cert.ID), Token: u.token})
	if qr.Status != 200 || qr.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("qrcode: %d %s", qr.Status, qr.Header.Get("Content-Type"))
	}
	h.Do("GET", fmt.Sprintf("/me/volunteer-certificates/%d/qrcode", cert.ID), nil, stranger.token).Expect(t, 404, 10005)

	// Public verification: genuine with the name masked; a tampered code
	// or number is not.
	got := e.verify(cert.Number, cert.VerifyCode)
	if !got.Genuine || got.Kind != "volunteer" || got.Records != 2 || got.TotalMinutes != 60 || !strings.HasPrefix(got.Name, "志*") {
		t.Fatalf("verify: %+v", got)
	}
	tampered := []byte(cert.VerifyCode)
	tampered[0] ^= 1
	if got := e.verify(cert.Number, string(tampered)); got.Genuine || got.Name != "" {
		t.Fatalf("tampered code verifies: %+v", got)
	}
	if got := e.verify(cert.Number[:len(cert.Number)-1]+"9", cert.VerifyCode); got.Genuine {
		t.Fatalf("another number verifies: %+v", got)
	}

	// A correction accepted later: the ledger and the live record change,
	// the certificate does not.
	var corr struct{ ID int64 }
	h.Do("POST", "/me/record-corrections", map[string]any{"attendanceId": attID, "minutes": 45, "reason": "实际只服务了45分钟"}, u.token).
		Expect(t, 201, 0).Decode(t, &corr)
	h.Do("POST", fmt.Sprintf("/admin/record-corrections/%d/accept", corr.ID), map[string]any{"note": "核实无误"}, e.staff()).Expect(t, 200, 0)
	if got := e.balance(u.id, model.CurrencyMinutes); got != 45 {
		t.Fatalf("minutes after the correction = %d, want 45", got)
	}
	e.reconcile()
	h.Do("GET", "/me/volunteer-record", nil, u.token).Expect(t, 200, 0).Decode(t, &rec)
	if rec.TotalMinutes != 45 {
		t.Fatalf("live record after the correction: %d minutes", rec.TotalMinutes)
	}
	var list struct{ List []certView }
	h.Do("GET", "/me/volunteer-certificates", nil, u.token).Expect(t, 200, 0).Decode(t, &list)
	if len(list.List) != 1 || list.List[0].Content.TotalMinutes != 60 || list.List[0].Content.Services[0].Minutes != 60 ||
		list.List[0].VerifyCode != cert.VerifyCode {
		t.Fatalf("frozen certificate changed: %+v", list.List)
	}
	if got := e.verify(cert.Number, cert.VerifyCode); !got.Genuine || got.TotalMinutes != 60 {
		t.Fatalf("verify after the correction: %+v", got)
	}

	// Staff issue one on the volunteer's behalf (代办), audited; the new one
	// has the corrected minutes and the next number.
	var proxy certView
	h.Do("POST", fmt.Sprintf("/admin/volunteers/%d/certificates", u.id), map[string]any{"from": e.day(-7), "to": e.day(0)}, e.staff()).
		Expect(t, 201, 0).Decode(t, &proxy)
	if !proxy.Content.OnBehalf || proxy.Content.TotalMinutes != 45 || proxy.Number == cert.Number {
		t.Fatalf("proxy certificate: %+v", proxy)
	}
	h.Do("POST", fmt.Sprintf("/admin/volunteers/%d/certificates", u.id), map[string]any{}, stranger.token).Expect(t, 403, 10004)
	if n := h.Count(&model.AuditEntry{}, "action = ? AND object_id = ?", service.AuditVolunteerCertificate, proxy.ID); n != 1 {
		t.Fatalf("proxy issue audit entries = %d", n)
	}
	// A Party-member certificate number still goes to its own check.
	var party struct{ Genuine bool }
	h.Do("GET", "/certificates/verify?number=LL-2026Q1-000001&code=AAAA", nil, "").Expect(t, 200, 0).Decode(t, &party)
	if party.Genuine {
		t.Fatal("unknown party certificate verifies")
	}
}

// TestVolunteerCertificateNumbersUnderConcurrency: certificates issued at
// once through two instances get distinct, consecutive numbers.
func TestVolunteerCertificateNumbersUnderConcurrency(t *testing.T) {
	e := newRecordEnv(t)
	h := e.h
	const n = 12
	us := e.volunteers(n)
	_, second := h.NewInstance()
	routers := []http.Handler{h.Router, second}
	rs := testutil.RaceSend(t, n, func(i int) (http.Handler, testutil.Request) {
		return routers[i%2], testutil.Request{Method: "POST", Path: "/api/v1/me/volunteer-certificates",
			Token: us[i].token, Body: map[string]any{}}
	})
	seen := map[string]bool{}
	for i, r := range rs {
		if r.Status != 201 || r.Code != 0 {
			t.Fatalf("issue %d: %d %d %s", i, r.Status, r.Code, r.Raw)
		}
		var c certView
		r.Decode(t, &c)
		seen[c.Number] = true
	}
	// Consecutive in the year's series (the series may have started in an
	// earlier test on the same database).
	year := h.Clock.Now().In(h.Config.Location).Year()
	var first int
	for num := range seen {
		var k int
		if _, err := fmt.Sscanf(num, fmt.Sprintf("LLV-%d-%%06d", year), &k); err != nil {
			t.Fatalf("number %s: %v", num, err)
		}
		if first == 0 || k < first {
			first = k
		}
	}
	for i := first; i < first+n; i++ {
		if num := fmt.Sprintf("LLV-%d-%06d", year, i); !seen[num] {
			t.Fatalf("number %s missing from %v", num, seen)
		}
	}
}

// TestRecordCorrectionDecidedOnce: many staff deciding one request at once
// through two instances → one decision, one reversal and one new credit;
// the volunteer is notified once; nobody decides on their own record; a
// record has one open request at a time; both sides see the history.
func TestRecordCorrectionDecidedOnce(t *testing.T) {
	e := newRecordEnv(t)
	h := e.h
	u := e.volunteer("corr")
	actID, attID := e.approvedActivity(u, "助老服务", 60, 5)
	body := map[string]any{"attendanceId": attID, "minutes": 50, "reason": "提前离开了十分钟"}
	h.Do("POST", "/me/record-corrections", map[string]any{"attendanceId": attID, "serviceId": 1, "reason": "两个"}, u.token).Expect(t, 400, 10001)
	h.Do("POST", "/me/record-corrections", map[string]any{"attendanceId": attID, "minutes": 60, "reason": "相同时长"}, u.token).Expect(t, 400, 10001)
	h.Do("POST", "/me/record-corrections", map[string]any{"attendanceId": attID, "minutes": 600, "reason": "超过活动时长"}, u.token).Expect(t, 400, 10001)
	other := e.volunteer("other")
	h.Do("POST", "/me/record-corrections", body, other.token).Expect(t, 404, 10005)
	var corr struct{ ID int64 }
	h.Do("POST", "/me/record-corrections", body, u.token).Expect(t, 201, 0).Decode(t, &corr)
	h.Do("POST", "/me/record-corrections", body, u.token).Expect(t, 409, service.CodeCorrectionOpen)

	// In the review queue, as a new kind.
	var q struct {
		Counts map[string]int64
		List   []struct {
			Kind string
			ID   int64
		}
	}
	h.Do("GET", fmt.Sprintf("/admin/queue?orgId=%d&kind=record_correction", e.tree.CommunityA.ID), nil, e.staff()).
		Expect(t, 200, 0).Decode(t, &q)
	if q.Counts["record_correction"] != 1 || len(q.List) != 1 || q.List[0].ID != corr.ID {
		t.Fatalf("queue: %+v", q)
	}

	// Staff who is the volunteer cannot decide it.
	h.MustMakeStaff(u.id, e.tree.CommunityA.ID, model.RoleStaff)
	e.relogin(u)
	h.Do("POST", fmt.Sprintf("/admin/record-corrections/%d/accept", corr.ID), nil, u.token).Expect(t, 403, service.CodeSelfAction)

	const n = 10
	staff := make([]string, n)
	for i := range staff {
		staff[i] = e.w.Staff("decider", e.tree.CommunityA.ID).AccessToken
	}
	_, second := h.NewInstance()
	routers := []http.Handler{h.Router, second}
	rs := testutil.RaceSend(t, n, func(i int) (http.Handler, testutil.Request) {
		path := fmt.Sprintf("/api/v1/admin/record-corrections/%d/accept", corr.ID)
		var b any = map[string]any{"note": "同意"}
		if i%2 == 1 {
			path = fmt.Sprintf("/api/v1/admin/record-corrections/%d/refuse", corr.ID)
			b = map[string]any{"reason": "签到记录显示全程在场"}
		}
		return routers[i%2], testutil.Request{Method: "POST", Path: path, Token: staff[i], Body: b}
	})
	tally := map[string]int{}
	for _, r := range rs {
		tally[fmt.Sprintf("%d/%d", r.Status, r.Code)]++
	}
	if tally["200/0"] != 1 || tally[fmt.Sprintf("409/%d", service.CodeCorrectionDecided)] != n-1 {
		t.Fatalf("answers %v, want one 200/0 and %d × 409/%d", tally, n-1, service.CodeCorrectionDecided)
	}
	var c model.RecordCorrection
	h.DB.First(&c, corr.ID)
	att := e.attendance(actID, u.id)
	events := h.Count(&model.Notification{}, "user_id = ? AND event IN ?", u.id, []string{service.EventCorrectionAccepted, service.EventCorrectionRefused})
	reversals := h.Count(&model.LedgerTxn{}, "kind = ? AND source_kind = ? AND source_id LIKE ?", "reversal", "attendance_reversal", fmt.Sprintf("%d:v%%", attID))
	switch c.Status {
	case model.CorrectionAccepted:
		if att.Minutes != 50 || e.balance(u.id, model.CurrencyMinutes) != 50 || reversals == 0 {
			t.Fatalf("accepted: attendance %d minutes, balance %d, reversals %d", att.Minutes, e.balance(u.id, model.CurrencyMinutes), reversals)
		}
	case model.CorrectionRefused:
		if att.Minutes != 60 || e.balance(u.id, model.CurrencyMinutes) != 60 || reversals != 0 || c.DecisionNote == "" {
			t.Fatalf("refused: attendance %d minutes, reversals %d, %+v", att.Minutes, reversals, c)
		}
	default:
		t.Fatalf("correction status %s", c.Status)
	}
	if events != 1 || c.OpenKey != nil {
		t.Fatalf("notifications %d, open key %v", events, c.OpenKey)
	}
	if n := h.Count(&model.AuditEntry{}, "object_kind = ? AND object_id = ?", "record_correction", corr.ID); n != 1 {
		t.Fatalf("audit entries = %d", n)
	}
	e.reconcile()

	// Both sides see the history; a new request may follow.
	var mine, staffList struct {
		List []struct {
			ID     int64
			Status string
		}
	}
	h.Do("GET", "/me/record-corrections", nil, u.token).Expect(t, 200, 0).Decode(t, &mine)
	h.Do("GET", fmt.Sprintf("/admin/record-corrections?orgId=%d&status=all", e.tree.CommunityA.ID), nil, e.staff()).
		Expect(t, 200, 0).Decode(t, &staffList)
	if len(mine.List) != 1 || mine.List[0].Status != string(c.Status) || len(staffList.List) != 1 {
		t.Fatalf("history: mine %+v, staff %+v", mine, staffList)
	}
	body["minutes"] = 40
	h.Do("POST", "/me/record-corrections", body, u.token).Expect(t, 201, 0)
}

// TestRecordCorrectionOfSelfLoggedService: a reported member's approved
// self-logged record corrected through the ledger (reversal of the approval's
// credits and a new credit), twice, reconciling each time.
func TestRecordCorrectionOfSelfLoggedService(t *testing.T) {
	e := newRecordEnv(t)
	h := e.h
	m := e.user(e.w.Member("member", e.tree.CommunityA.ID))
	h.MustVolunteer(m.id)
	var rec struct{ ID int64 }
	h.Do("POST", "/services", map[string]any{"kind": "contact_help", "minutes": 90, "note": "走访独居老人",
		"occurredOn": e.day(0)}, m.token).Expect(t, 201, 0).Decode(t, &rec)
	h.Do("POST", fmt.Sprintf("/services/%d/approve", rec.ID), nil, e.staff()).Expect(t, 200, 0)
	if got := e.balance(m.id, model.CurrencyMinutes); got != 90 {
		t.Fatalf("minutes after approval = %d", got)
	}
	for _, minutes := range []int{120, 30} {
		var corr struct{ ID int64 }
		h.Do("POST", "/me/record-corrections", map[string]any{"serviceId": rec.ID, "minutes": minutes, "reason": "时长登记有误"}, m.token).
			Expect(t, 201, 0).Decode(t, &corr)
		h.Do("POST", fmt.Sprintf("/admin/record-corrections/%d/accept", corr.ID), nil, e.staff()).Expect(t, 200, 0)
		if got := e.balance(m.id, model.CurrencyMinutes); got != int64(minutes) {
			t.Fatalf("minutes after correcting to %d = %d", minutes, got)
		}
		var r model.ServiceRecord
		h.DB.First(&r, rec.ID)
		if r.Minutes != minutes {
			t.Fatalf("record minutes = %d, want %d", r.Minutes, minutes)
		}
		e.reconcile()
	}
	// Refused: nothing moves, the volunteer hears why.
	var corr struct{ ID int64 }
	h.Do("POST", "/me/record-corrections", map[string]any{"serviceId": rec.ID, "minutes": 200, "reason": "再改一次"}, m.token).
		Expect(t, 201, 0).Decode(t, &corr)
	h.Do("POST", fmt.Sprintf("/admin/record-corrections/%d/refuse", corr.ID), map[string]any{"reason": "无依据"}, e.staff()).Expect(t, 200, 0)
	h.Do("POST", fmt.Sprintf("/admin/record-corrections/%d/accept", corr.ID), nil, e.staff()).Expect(t, 409, service.CodeCorrectionDecided)
	if got := e.balance(m.id, model.CurrencyMinutes); got != 30 {
		t.Fatalf("minutes after a refusal = %d", got)
	}
	if n := h.Count(&model.Notification{}, "user_id = ? AND event = ?", m.id, service.EventCorrectionRefused); n != 1 {
		t.Fatalf("refusal notifications = %d", n)
	}
}
