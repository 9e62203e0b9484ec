package api_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"linli/internal/testutil"
	"linli/model"
	"linli/service"
)

// auditView is an entry of GET /admin/audit.
type auditView struct {
	ID, ActorID, OrgID, ObjectID int64
	Action, ObjectKind, Reason   string
	RequestID                    string
	Before, After                map[string]any
}

// audits reads the audit log of org as who, with a query string.
func audits(t testing.TB, h *testutil.Harness, who testutil.Login, org int64, query string) []auditView {
	t.Helper()
	var page struct {
		List  []auditView
		Total int64
	}
	h.Do("GET", fmt.Sprintf("/admin/audit?orgId=%d&pageSize=100%s", org, query), nil, who.AccessToken).
		Expect(t, 200, 0).Decode(t, &page)
	return page.List
}

// mustAudit asserts that exactly one entry of action on the object names
// actor, and returns it.
func mustAudit(t testing.TB, h *testutil.Harness, actor int64, action, kind string, id int64) model.AuditEntry {
	t.Helper()
	var rows []model.AuditEntry
	if err := h.DB.Where("action = ? AND object_kind = ? AND object_id = ?", action, kind, id).Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].ActorID != actor {
		t.Fatalf("audit %s %s/%d: want one entry by %d, got %+v", action, kind, id, actor, rows)
	}
	return rows[0]
}

func decodeID(t testing.TB, res *testutil.Response) int64 {
	t.Helper()
	var v struct{ ID int64 }
	res.Decode(t, &v)
	return v.ID
}

// TestAuditEveryStaffAction runs each staff and admin action through the
// API and finds its entry: actor, action, object, org, snapshots, reason and
// the request id.
func TestAuditEveryStaffAction(t *testing.T) {
	e := newTBEnv(t, map[string]any{"timebank.manual_credit.approval_above_points": 50})
	h, tree, staff, admin := e.h, e.tree, e.staff, e.admin
	A := tree.CommunityA.ID

	// Wishes: approve one, reject another (the request id is the client's).
	poster := e.resident(t, A)
	wish1 := decodeID(t, h.Do("POST", "/wishes", wishBody("修水管"), poster.AccessToken).Expect(t, 201, 0))
	wish2 := decodeID(t, h.Do("POST", "/wishes", wishBody("换灯泡"), poster.AccessToken).Expect(t, 201, 0))
	h.Send(testutil.Request{Method: "POST", Path: fmt.Sprintf("/wishes/%d/approve", wish1), Token: staff.AccessToken,
		Header: map[string]string{"X-Request-Id": "audit-req-1"}}).Expect(t, 200, 0)
	h.Do("POST", fmt.Sprintf("/wishes/%d/reject", wish2), map[string]any{"reason": "重复发布"}, staff.AccessToken).Expect(t, 200, 0)
	a := mustAudit(t, h, staff.UserID, service.AuditWishApprove, "wish", wish1)
	if a.RequestID != "audit-req-1" || a.OrgID != A || a.OrgPath != tree.CommunityA.Path ||
		a.Before != `{"status":"pending_review"}` || a.After != `{"status":"published"}` {
		t.Fatalf("wish approval entry: %+v", a)
	}
	if r := mustAudit(t, h, staff.UserID, service.AuditWishReject, "wish", wish2); r.Reason != "重复发布" {
		t.Fatalf("rejection reason: %+v", r)
	}

	// 双报到: a member report, a unit, a self-logged service.
	f := &reportFixture{w: e.w, h: h, tree: tree, staffA: staff}
	m := h.MustLogin(testutil.UniqueOpenID("aud-member"))
	report := f.submitReport(t, m, A, "daily", nil)
	h.Do("POST", fmt.Sprintf("/member-reports/%d/approve", report), nil, staff.AccessToken).Expect(t, 200, 0)
	mustAudit(t, h, staff.UserID, service.AuditReportApprove, "member_report", report)
	liaison := h.MustLogin(testutil.UniqueOpenID("aud-liaison"))
	unit := decodeID(t, h.Do("POST", "/units", map[string]any{"name": "审计单位", "kind": "国企", "partyOrg": "党委",
		"communityId": A, "contactName": "李四", "contactPhone": "13900001111"}, liaison.AccessToken).Expect(t, 201, 0))
	h.Do("POST", fmt.Sprintf("/units/%d/reject", unit), map[string]any{"reason": "材料不全"}, staff.AccessToken).Expect(t, 200, 0)
	mustAudit(t, h, staff.UserID, service.AuditUnitReject, "unit", unit)
	rec := decodeID(t, h.Do("POST", "/services", map[string]any{"kind": "contact_help",
		"occurredAt": h.Clock.Now().Add(-time.Hour).Format(time.RFC3339), "minutes": 60, "note": "走访"}, m.AccessToken).Expect(t, 201, 0))
	h.Do("POST", fmt.Sprintf("/services/%d/approve", rec), nil, staff.AccessToken).Expect(t, 200, 0)
	mustAudit(t, h, staff.UserID, service.AuditServiceApprove, "service", rec)

	// Manual credit: a small one posts at once, a large one waits for a
	// second person (an admin), who approves it.
	u := e.resident(t, A)
	e.credit(t, u.UserID, "points", 10)
	var small model.ManualCredit
	if err := h.DB.Where("user_id = ?", u.UserID).First(&small).Error; err != nil {
		t.Fatal(err)
	}
	mustAudit(t, h, staff.UserID, service.AuditCreditRequest, "credit_request", small.ID)
	var big struct{ ID int64 }
	h.Do("POST", "/admin/credits", map[string]any{"userId": u.UserID, "communityId": A, "currency": "points", "amount": 80,
		"reason": "大额补录", "requestId": "big-1"}, staff.AccessToken).Expect(t, 202, 0).Decode(t, &big)
	h.Do("POST", fmt.Sprintf("/admin/credit-requests/%d/approve", big.ID), nil, admin.AccessToken).Expect(t, 200, 0)
	mustAudit(t, h, admin.UserID, service.AuditCreditApprove, "credit_request", big.ID)

	// Staff appointments and org units: the removed role stays, ended.
	newbie := e.resident(t, A)
	var role struct{ ID int64 }
	h.Do("POST", "/admin/staff", map[string]any{"userId": newbie.UserID, "orgId": A, "role": "staff"}, admin.AccessToken).
		Expect(t, 201, 0).Decode(t, &role)
	mustAudit(t, h, admin.UserID, service.AuditStaffAppoint, "staff_role", role.ID)
	h.Do("DELETE", fmt.Sprintf("/admin/staff/%d", role.ID), nil, admin.AccessToken).Expect(t, 200, 0)
	mustAudit(t, h, admin.UserID, service.AuditStaffRemove, "staff_role", role.ID)
	var ended model.StaffRole
	if err := h.DB.Unscoped().First(&ended, role.ID).Error; err != nil || !ended.EndedAt.Valid || ended.EndedBy == nil || *ended.EndedBy != admin.UserID {
		t.Fatalf("removed role: %+v %v", ended, err)
	}
	h.Do("DELETE", fmt.Sprintf("/admin/staff/%d", role.ID), nil, admin.AccessToken).Expect(t, 404, service.CodeNotFound)
	h.Do("GET", fmt.Sprintf("/admin/queue?orgId=%d", A), nil, newbie.AccessToken).Expect(t, 403, service.CodeForbidden)
	// Appointed again after the end: a new row beside the ended one.
	h.Do("POST", "/admin/staff", map[string]any{"userId": newbie.UserID, "orgId": A, "role": "staff"}, admin.AccessToken).Expect(t, 201, 0)
	if n := h.Count(&model.StaffRole{}, "user_id = ?", newbie.UserID); n != 1 {
		t.Fatalf("held roles after re-appointment: %d", n)
	}
	org := decodeID(t, h.Do("POST", "/admin/orgs", map[string]any{"parentId": A, "level": "grid", "name": "新网格"},
		admin.AccessToken).Expect(t, 201, 0))
	mustAudit(t, h, admin.UserID, service.AuditOrgCreate, "org", org)

	// The mall: goods created, changed (stock), deleted; a pickup verified.
	g := e.goods(t, map[string]any{"stock": 5})
	mustAudit(t, h, staff.UserID, service.AuditGoodsCreate, "goods", g.ID)
	h.Do("PUT", fmt.Sprintf("/mall/goods/%d", g.ID), map[string]any{"stock": 9}, staff.AccessToken).Expect(t, 200, 0)
	up := mustAudit(t, h, staff.UserID, service.AuditGoodsUpdate, "goods", g.ID)
	if up.Before == up.After {
		t.Fatalf("stock change not in the snapshots: %+v", up)
	}
	o := e.order(t, u, g.ID)
	h.Do("POST", "/mall/orders/verify", map[string]any{"communityId": A, "pickupCode": o.PickupCode}, staff.AccessToken).Expect(t, 200, 0)
	mustAudit(t, h, staff.UserID, service.AuditPickupVerify, "order", o.ID)
	g2 := e.goods(t, nil)
	h.Do("DELETE", fmt.Sprintf("/mall/goods/%d", g2.ID), nil, staff.AccessToken).Expect(t, 200, 0)
	mustAudit(t, h, staff.UserID, service.AuditGoodsDelete, "goods", g2.ID)

	// A resident's home confirmed.
	h.Do("POST", fmt.Sprintf("/admin/residents/%d/verify-home", u.UserID), map[string]any{"communityId": A}, staff.AccessToken).Expect(t, 200, 0)
	mustAudit(t, h, staff.UserID, service.AuditHomeVerify, "user", u.UserID)

	// Attendances: manual check-in and -out, approval with changed minutes,
	// absence.
	now := h.Clock.Now()
	act := decodeID(t, h.Do("POST", "/activities", map[string]any{"communityId": A, "title": "清洁家园", "content": "打扫",
		"category": "环境保护", "address": "广场", "startAt": now.Add(2 * time.Hour), "endAt": now.Add(4 * time.Hour),
		"signupDeadline": now.Add(time.Hour), "capacity": 0, "waitlist": false}, staff.AccessToken).Expect(t, 201, 0))
	h.Do("POST", fmt.Sprintf("/activities/%d/publish", act), nil, staff.AccessToken).Expect(t, 200, 0)
	mustAudit(t, h, staff.UserID, service.AuditActivityPublish, "activity", act)
	v1, v2 := e.w.Volunteer("aud-v1", A), e.w.Volunteer("aud-v2", A)
	for _, v := range []testutil.Login{v1, v2} {
		h.Do("POST", fmt.Sprintf("/activities/%d/signup", act), nil, v.AccessToken).Expect(t, 201, 0)
	}
	h.Clock.Advance(5 * time.Hour)
	in, out := now.Add(2*time.Hour), now.Add(3*time.Hour)
	h.Do("POST", fmt.Sprintf("/activities/%d/attendances/%d/checkin", act, v1.UserID), map[string]any{"at": in}, staff.AccessToken).Expect(t, 200, 0)
	h.Do("POST", fmt.Sprintf("/activities/%d/attendances/%d/checkout", act, v1.UserID), map[string]any{"at": out}, staff.AccessToken).Expect(t, 200, 0)
	var att1, att2 model.Attendance
	h.DB.Where("activity_id = ? AND user_id = ?", act, v1.UserID).First(&att1)
	h.DB.Where("activity_id = ? AND user_id = ?", act, v2.UserID).First(&att2)
	mustAudit(t, h, staff.UserID, service.AuditAttendanceCheckin, "attendance", att1.ID)
	mustAudit(t, h, staff.UserID, service.AuditAttendanceCheckout, "attendance", att1.ID)
	h.Do("POST", fmt.Sprintf("/activities/%d/attendances/%d/approve", act, v1.UserID),
		map[string]any{"minutes": 50, "score": 5, "reason": "迟到十分钟"}, staff.AccessToken).Expect(t, 200, 0)
	ap := mustAudit(t, h, staff.UserID, service.AuditAttendanceApprove, "attendance", att1.ID)
	if ap.Reason != "迟到十分钟" || ap.Before == "" || ap.After == "" {
		t.Fatalf("approval entry: %+v", ap)
	}
	h.Do("POST", fmt.Sprintf("/activities/%d/attendances/%d/absent", act, v2.UserID), map[string]any{}, staff.AccessToken).Expect(t, 200, 0)
	mustAudit(t, h, staff.UserID, service.AuditAttendanceAbsent, "attendance", att2.ID)

	// The log through the API: filters, newest first, the actor named.
	list := audits(t, h, staff, A, "&objectKind=wish")
	if len(list) != 2 || list[0].ObjectID != wish2 || list[1].ObjectID != wish1 || list[1].Before["status"] != "pending_review" {
		t.Fatalf("wish entries: %+v", list)
	}
	if got := audits(t, h, admin, tree.District.ID, fmt.Sprintf("&actor=%d&action=%s", admin.UserID, service.AuditCreditApprove)); len(got) != 1 || got[0].ObjectID != big.ID {
		t.Fatalf("admin's credit approvals: %+v", got)
	}
	if got := audits(t, h, staff, A, "&from=2000-01-01&to=2000-01-02"); len(got) != 0 {
		t.Fatalf("entries of 2000: %+v", got)
	}
}

// TestAuditScopeAndNoWriteRoute: staff of a community read their subtree
// only; the log has no route that changes it.
func TestAuditScopeAndNoWriteRoute(t *testing.T) {
	e := newTBEnv(t)
	h, tree := e.h, e.tree
	staffC := e.w.Staff("aud-c", tree.CommunityC.ID)
	streetAdmin := e.w.Staff("aud-street", tree.Street.ID)
	poster := e.resident(t, tree.CommunityA.ID)
	wish := decodeID(t, h.Do("POST", "/wishes", wishBody("修水管"), poster.AccessToken).Expect(t, 201, 0))
	h.Do("POST", fmt.Sprintf("/wishes/%d/approve", wish), nil, e.staff.AccessToken).Expect(t, 200, 0)

	h.Do("GET", fmt.Sprintf("/admin/audit?orgId=%d", tree.CommunityA.ID), nil, staffC.AccessToken).Expect(t, 403, service.CodeForbidden)
	h.Do("GET", fmt.Sprintf("/admin/audit?orgId=%d", tree.CommunityA.ID), nil, poster.AccessToken).Expect(t, 403, service.CodeForbidden)
	h.Do("GET", "/admin/audit", nil, e.staff.AccessToken).Expect(t, 400, service.CodeInvalid)
	if got := audits(t, h, staffC, tree.CommunityC.ID, ""); len(got) != 0 {
		t.Fatalf("C sees A's entries: %+v", got)
	}
	if got := audits(t, h, streetAdmin, tree.Street.ID, ""); len(got) != 1 || got[0].ObjectID != wish {
		t.Fatalf("the street's entries: %+v", got)
	}
	for _, m := range []string{"POST", "PUT", "DELETE"} {
		res := h.Do(m, "/admin/audit", map[string]any{}, e.admin.AccessToken)
		if res.Status != http.StatusMethodNotAllowed && res.Status != http.StatusNotFound {
			t.Fatalf("%s /admin/audit: %d", m, res.Status)
		}
	}
}

// TestAuditRollsBackWithItsAction: an action that fails after its audit
// entry was written leaves no entry, and an audit entry that cannot be
// written undoes the action.
func TestAuditRollsBackWithItsAction(t *testing.T) {
	e := newActEnv(t)
	h := e.h
	id := e.newActivity(map[string]any{"startAt": h.Clock.Now().Add(2 * time.Hour), "endAt": h.Clock.Now().Add(3 * time.Hour)})
	vs := e.volunteers(2)
	for _, v := range vs {
		e.signup(id, v)
	}
	h.Clock.Advance(4 * time.Hour)
	staff := e.staff()
	// A batch: the first approval is written (with its entry), the second
	// is refused, so the transaction rolls back both.
	before := h.Count(&model.AuditEntry{}, "")
	h.Do("POST", fmt.Sprintf("/activities/%d/attendances/approve", id), map[string]any{"items": []map[string]any{
		{"userId": vs[0].id, "minutes": 60, "score": 5, "reason": "未扫码，现场核实"}, {"userId": vs[1].id, "minutes": 9999, "score": 5}}}, staff).
		Expect(t, 400, service.CodeInvalid)
	if n := h.Count(&model.AuditEntry{}, ""); n != before {
		t.Fatalf("audit entries after a rolled-back batch: %d, before %d", n, before)
	}
	if a := e.attendance(id, vs[0].id); a.State == model.AttendApproved {
		t.Fatal("first approval of the batch committed")
	}

	// The entry cannot be written: the approval does not happen either.
	// (The entry is written by a raw INSERT … SELECT, or by a create.)
	fail := errors.New("audit store down")
	failAudit := func(db *gorm.DB) {
		if db.Statement.Table == "audit_entries" || strings.Contains(db.Statement.SQL.String(), "INSERT INTO audit_entries") {
			_ = db.AddError(fail)
		}
	}
	if err := h.DB.Callback().Create().Before("gorm:create").Register("test:fail_audit", failAudit); err != nil {
		t.Fatal(err)
	}
	if err := h.DB.Callback().Raw().Before("gorm:raw").Register("test:fail_audit", failAudit); err != nil {
		t.Fatal(err)
	}
	res := h.Do("POST", fmt.Sprintf("/activities/%d/attendances/%d/approve", id, vs[0].id), map[string]any{"minutes": 60, "score": 5, "reason": "未扫码，现场核实"}, staff)
	if err := errors.Join(h.DB.Callback().Create().Remove("test:fail_audit"), h.DB.Callback().Raw().Remove("test:fail_audit")); err != nil {
		t.Fatal(err)
	}
	res.Expect(t, 500, service.CodeInternal)
	if a := e.attendance(id, vs[0].id); a.State == model.AttendApproved || e.balance(vs[0].id, model.CurrencyMinutes) != 0 {
		t.Fatalf("approved without its audit entry: %+v", a)
	}
	h.Do("POST", fmt.Sprintf("/activities/%d/attendances/%d/approve", id, vs[0].id), map[string]any{"minutes": 60, "score": 5, "reason": "未扫码，现场核实"}, staff).Expect(t, 200, 0)
	mustAudit(t, h, e.staffID, service.AuditAttendanceApprove, "attendance", e.attendance(id, vs[0].id).ID)
}

type queueView struct {
	List []struct {
		Kind                 string
		ID, ObjectID, UserID int64
		CommunityID          int64
		CommunityName, Title string
		WaitingSince         time.Time
	}
	Total  int64
	Counts map[string]int64
}

// TestQueueScopeAndCounts: an item shows to the staff of its community and
// the admins above, not to staff elsewhere; counts equal the list lengths;
// oldest first.
func TestQueueScopeAndCounts(t *testing.T) {
	e := newTBEnv(t, map[string]any{"timebank.manual_credit.approval_above_points": 50})
	h, tree := e.h, e.tree
	A, C := tree.CommunityA.ID, tree.CommunityC.ID
	staffC := e.w.Staff("q-c", C)
	streetAdmin := e.w.Login("q-street", 0)
	h.MustMakeStaff(streetAdmin.UserID, tree.Street.ID, model.RoleAdmin)
	otherStreet := e.w.Staff("q-other", tree.OtherStreet.ID)

	poster := e.resident(t, A)
	wishA := decodeID(t, h.Do("POST", "/wishes", wishBody("修水管"), poster.AccessToken).Expect(t, 201, 0))
	h.Clock.Advance(time.Minute)
	posterC := e.resident(t, C)
	wishC := decodeID(t, h.Do("POST", "/wishes", wishBody("换灯泡"), posterC.AccessToken).Expect(t, 201, 0))
	h.Clock.Advance(time.Minute)
	f := &reportFixture{w: e.w, h: h, tree: tree, staffA: e.staff}
	report := f.submitReport(t, h.MustLogin(testutil.UniqueOpenID("q-m")), A, "daily", nil)
	h.Clock.Advance(time.Minute)
	liaison := h.MustLogin(testutil.UniqueOpenID("q-l"))
	unit := decodeID(t, h.Do("POST", "/units", map[string]any{"name": "队列单位", "kind": "国企", "partyOrg": "党委",
		"communityId": A, "contactName": "李四", "contactPhone": "13900001111"}, liaison.AccessToken).Expect(t, 201, 0))
	h.Clock.Advance(time.Minute)
	u := e.resident(t, A)
	var req struct{ ID int64 }
	h.Do("POST", "/admin/credits", map[string]any{"userId": u.UserID, "communityId": A, "currency": "points", "amount": 80,
		"reason": "大额补录", "requestId": "q-big"}, e.staff.AccessToken).Expect(t, 202, 0).Decode(t, &req)

	queue := func(who testutil.Login, org int64, kind string) queueView {
		t.Helper()
		var q queueView
		h.Do("GET", fmt.Sprintf("/admin/queue?orgId=%d&kind=%s&pageSize=100", org, kind), nil, who.AccessToken).Expect(t, 200, 0).Decode(t, &q)
		return q
	}
	ids := func(q queueView) []string {
		var out []string
		for _, it := range q.List {
			out = append(out, fmt.Sprintf("%s:%d", it.Kind, it.ID))
		}
		return out
	}
	// Staff of A: their four items, oldest first; the credit request they
	// made themselves is not theirs to decide.
	qa := queue(e.staff, A, "")
	want := []string{fmt.Sprintf("wish:%d", wishA), fmt.Sprintf("member_report:%d", report), fmt.Sprintf("unit:%d", unit)}
	if fmt.Sprint(ids(qa)) != fmt.Sprint(want) || qa.Total != 3 {
		t.Fatalf("staff A's queue: %v (total %d), want %v", ids(qa), qa.Total, want)
	}
	if qa.List[0].CommunityName != tree.CommunityA.Name || qa.List[0].Title != "修水管" {
		t.Fatalf("first item: %+v", qa.List[0])
	}
	// The street admin sees A's items and the credit request; the district
	// admin also C's wish.
	qs := queue(streetAdmin, tree.Street.ID, "")
	if qs.Total != 4 || qs.Counts["credit_request"] != 1 || qs.Counts["wish"] != 1 {
		t.Fatalf("street admin's queue: %v %v", ids(qs), qs.Counts)
	}
	qd := queue(e.admin, tree.District.ID, "")
	if qd.Total != 5 || qd.Counts["wish"] != 2 {
		t.Fatalf("district admin's queue: %v %v", ids(qd), qd.Counts)
	}
	// Staff elsewhere see nothing of A, and may not ask for A.
	qc := queue(staffC, C, "")
	if fmt.Sprint(ids(qc)) != fmt.Sprint([]string{fmt.Sprintf("wish:%d", wishC)}) {
		t.Fatalf("staff C's queue: %v", ids(qc))
	}
	if q := queue(otherStreet, tree.OtherStreet.ID, "wish"); q.Total != 1 || q.List[0].ID != wishC {
		t.Fatalf("other street's wishes: %v", ids(q))
	}
	h.Do("GET", fmt.Sprintf("/admin/queue?orgId=%d", A), nil, staffC.AccessToken).Expect(t, 403, service.CodeForbidden)
	h.Do("GET", fmt.Sprintf("/admin/queue?orgId=%d", A), nil, poster.AccessToken).Expect(t, 403, service.CodeForbidden)
	h.Do("GET", fmt.Sprintf("/admin/queue?orgId=%d&kind=nope", A), nil, e.staff.AccessToken).Expect(t, 400, service.CodeInvalid)
	// Counts equal the list length of each kind.
	for _, k := range service.QueueKinds() {
		q := queue(e.admin, tree.District.ID, k)
		if int64(len(q.List)) != qd.Counts[k] || q.Total != qd.Counts[k] {
			t.Fatalf("kind %s: list %d, total %d, count %d", k, len(q.List), q.Total, qd.Counts[k])
		}
	}
	// A decision takes the item off the queue.
	h.Do("POST", fmt.Sprintf("/wishes/%d/approve", wishA), nil, e.staff.AccessToken).Expect(t, 200, 0)
	if q := queue(e.staff, A, ""); q.Counts["wish"] != 0 || q.Total != 2 {
		t.Fatalf("after the approval: %v %v", ids(q), q.Counts)
	}
}
