package api_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"linli/internal/testutil"
	"linli/model"
	"linli/service"
)

// Templates the notification tests configure.
const (
	tplWishApproved = "TPL-WISH-APPROVED"
	tplWishClaimed  = "TPL-WISH-CLAIMED"
	tplGift         = "TPL-GIFT"
)

// notifyConfig gives three events a template and makes retries quick.
func notifyConfig(extra map[string]any) testutil.Option {
	kv := map[string]any{
		"wechat.templates.wish_approved": tplWishApproved,
		"wechat.templates.wish_claimed":  tplWishClaimed,
		"wechat.templates.gift_received": tplGift,
		"wechat.miniprogram_state":       "trial",
		"wechat.lang":                    "zh_CN",
		"notify.retry_base":              "1s",
		"notify.retry_for":               "24h",
	}
	for k, v := range extra {
		kv[k] = v
	}
	return testutil.WithConfig(kv)
}

type inboxPage struct {
	List []struct {
		ID         int64
		Event      string
		Title      string
		Body       string
		ObjectKind string
		ObjectID   int64
		Read       bool
	}
	UnreadCount int64
	HasMore     bool
	NextCursor  string
}

func inbox(t *testing.T, h *testutil.Harness, token, query string) inboxPage {
	t.Helper()
	var p inboxPage
	h.Do("GET", "/me/notifications"+query, nil, token).Expect(t, 200, 0).Decode(t, &p)
	return p
}

// notifyUser logs a new user in and returns them with their openid.
func notifyUser(w *testutil.World, prefix string) (testutil.Login, string) {
	l := w.Login(prefix, w.Tree.CommunityA.ID)
	return l, w.OpenID(l.UserID)
}

// grant gives userID n acceptances of a template directly.
func grant(t *testing.T, h *testutil.Harness, userID int64, tpl string, n int) {
	t.Helper()
	if err := h.DB.Create(&model.SubscriptionGrant{UserID: userID, TemplateID: tpl, Remaining: n}).Error; err != nil {
		t.Fatal(err)
	}
}

func remaining(t *testing.T, h *testutil.Harness, userID int64, tpl string) int {
	t.Helper()
	var g model.SubscriptionGrant
	if err := h.DB.Where("user_id = ? AND template_id = ?", userID, tpl).Take(&g).Error; err != nil {
		t.Fatal(err)
	}
	return g.Remaining
}

func outboxOf(t *testing.T, h *testutil.Harness, userID int64) []model.OutboxMessage {
	t.Helper()
	var rows []model.OutboxMessage
	if err := h.DB.Where("user_id = ?", userID).Order("id").Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	return rows
}

func drain(t *testing.T, svc *service.Service) int {
	t.Helper()
	n, err := svc.Notifications.Drain(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// notifyGift notifies userID of a gift directly, as TimeBank.Gift does in
// its transaction.
func notifyGift(t *testing.T, h *testutil.Harness, userID int64, subject string) {
	t.Helper()
	err := h.Svc.Notifications.Notify(h.DB, service.Notice{UserID: userID, Event: service.EventGiftReceived, Subject: subject})
	if err != nil {
		t.Fatal(err)
	}
}

// TestWishEventsReachInboxOfOwnerOnly walks a wish through review, claim,
// fulfilment and confirmation: each step lands in the inbox of the poster
// or the claimer, in that order, newest first; nobody else sees them (404
// for another's notification); read and read-all change only the owner's.
func TestWishEventsReachInboxOfOwnerOnly(t *testing.T) {
	w := newWishWorld(t, notifyConfig(nil))
	h := w.h
	id := decodeWish(t, h.Do("POST", "/wishes", wishBody("修水管"), w.poster.AccessToken).Expect(t, 201, 0)).ID
	w.act(t, w.staff.AccessToken, id, "approve", nil, 200, 0)
	w.act(t, w.member.AccessToken, id, "claim", nil, 200, 0)
	w.act(t, w.member.AccessToken, id, "fulfil", map[string]any{"note": "已修好"}, 200, 0)
	w.act(t, w.poster.AccessToken, id, "confirm", map[string]any{"rating": 5}, 200, 0)

	p := inbox(t, h, w.poster.AccessToken, "")
	var events []string
	for _, n := range p.List {
		events = append(events, n.Event)
		if n.ObjectKind != "wish" || n.ObjectID != id || n.Read {
			t.Fatalf("poster's notification: %+v", n)
		}
	}
	if fmt.Sprint(events) != "[wish_fulfilled wish_claimed wish_approved]" || p.UnreadCount != 3 {
		t.Fatalf("poster's inbox: %v unread %d", events, p.UnreadCount)
	}
	c := inbox(t, h, w.member.AccessToken, "")
	if len(c.List) != 1 || c.List[0].Event != "wish_completed" || c.UnreadCount != 1 {
		t.Fatalf("claimer's inbox: %+v", c)
	}
	if s := inbox(t, h, w.stranger.AccessToken, ""); len(s.List) != 0 || s.UnreadCount != 0 {
		t.Fatalf("a stranger's inbox: %+v", s)
	}

	// Someone else's notification is not found, and stays unread.
	theirs := p.List[0].ID
	path := fmt.Sprintf("/me/notifications/%d/read", theirs)
	h.Do("POST", path, nil, w.member.AccessToken).Expect(t, 404, service.CodeNotFound)
	h.Do("POST", "/me/notifications/abc/read", nil, w.member.AccessToken).Expect(t, 400, service.CodeInvalid)
	if got := inbox(t, h, w.poster.AccessToken, ""); got.UnreadCount != 3 {
		t.Fatalf("another's read changed the poster's inbox: %+v", got)
	}
	var read struct {
		ID   int64
		Read bool
	}
	h.Do("POST", path, nil, w.poster.AccessToken).Expect(t, 200, 0).Decode(t, &read)
	h.Do("POST", path, nil, w.poster.AccessToken).Expect(t, 200, 0)
	if !read.Read || read.ID != theirs || inbox(t, h, w.poster.AccessToken, "").UnreadCount != 2 {
		t.Fatalf("read: %+v", read)
	}

	// Paging by cursor: one at a time, no gaps.
	first := inbox(t, h, w.poster.AccessToken, "?pageSize=1")
	second := inbox(t, h, w.poster.AccessToken, "?pageSize=1&cursor="+first.NextCursor)
	if !first.HasMore || len(second.List) != 1 || second.List[0].ID != p.List[1].ID || second.UnreadCount != 2 {
		t.Fatalf("cursor pages: %+v then %+v", first, second)
	}
	h.Do("GET", "/me/notifications?cursor=zz", nil, w.poster.AccessToken).Expect(t, 400, service.CodeInvalid)

	var all struct{ Updated, UnreadCount int64 }
	h.Do("POST", "/me/notifications/read-all", nil, w.member.AccessToken).Expect(t, 200, 0).Decode(t, &all)
	if all.Updated != 1 || inbox(t, h, w.poster.AccessToken, "").UnreadCount != 2 {
		t.Fatalf("the claimer's read-all: %+v", all)
	}
	h.Do("POST", "/me/notifications/read-all", nil, w.poster.AccessToken).Expect(t, 200, 0).Decode(t, &all)
	if all.Updated != 2 || inbox(t, h, w.poster.AccessToken, "").UnreadCount != 0 {
		t.Fatalf("the poster's read-all: %+v", all)
	}

	// A rejection carries its reason.
	id2 := decodeWish(t, h.Do("POST", "/wishes", wishBody("买菜"), w.poster.AccessToken).Expect(t, 201, 0)).ID
	w.act(t, w.staff.AccessToken, id2, "reject", map[string]any{"reason": "信息不全"}, 200, 0)
	if n := inbox(t, h, w.poster.AccessToken, "").List[0]; n.Event != "wish_rejected" || n.ObjectID != id2 || n.Body != "您的心愿「买菜」未通过审核：信息不全" {
		t.Fatalf("rejection: %+v", n)
	}
}

// TestOutboxRowOnlyWithCommittedChange: a refused approval and a
// transaction that rolls back after Notify leave no inbox or outbox row;
// an approval that commits has exactly one of each, with the template's
// fields cut to WeChat's limits.
func TestOutboxRowOnlyWithCommittedChange(t *testing.T) {
	w := newWishWorld(t, notifyConfig(nil))
	h := w.h
	title := "给独居老人修理厨房漏水的水管并更换客厅里的灯泡"
	id := decodeWish(t, h.Do("POST", "/wishes", wishBody(title), w.poster.AccessToken).Expect(t, 201, 0)).ID

	rows := h.Rows()
	w.act(t, w.otherStaff.AccessToken, id, "approve", nil, 403, service.CodeForbidden)
	rows.WroteNothing(t, "a refused approval")

	err := h.DB.Transaction(func(tx *gorm.DB) error {
		if err := h.Svc.Notifications.Notify(tx, service.Notice{UserID: w.poster.UserID, Event: service.EventWishApproved, Subject: "x"}); err != nil {
			return err
		}
		return errors.New("the change fails after Notify")
	})
	if err == nil {
		t.Fatal("the transaction did not fail")
	}
	rows.WroteNothing(t, "a rolled-back transaction")

	w.act(t, w.staff.AccessToken, id, "approve", nil, 200, 0)
	out := outboxOf(t, h, w.poster.UserID)
	if len(out) != 1 || out[0].Status != model.OutboxPending || out[0].TemplateID != tplWishApproved || out[0].Event != "wish_approved" {
		t.Fatalf("outbox after the approval: %+v", out)
	}
	if n := h.Count(&model.Notification{}, "id = ? AND user_id = ?", out[0].NotificationID, w.poster.UserID); n != 1 {
		t.Fatalf("the outbox row's notification: %d", n)
	}

	// Sent once the poster accepts the template, with the configured fields.
	openid := w.world.OpenID(w.poster.UserID)
	var sub struct {
		Accepted []struct {
			TemplateID string
			Remaining  int
		}
		Ignored []string
	}
	h.Do("POST", "/me/subscriptions", map[string]any{"templateIds": []string{tplWishApproved, tplWishApproved, "NOT-OURS"}},
		w.poster.AccessToken).Expect(t, 200, 0).Decode(t, &sub)
	if len(sub.Accepted) != 1 || sub.Accepted[0].Remaining != 1 || fmt.Sprint(sub.Ignored) != "[NOT-OURS]" {
		t.Fatalf("subscriptions: %+v", sub)
	}
	h.Do("POST", "/me/subscriptions", map[string]any{"templateIds": []string{}}, w.poster.AccessToken).Expect(t, 400, service.CodeInvalid)
	h.Do("POST", "/me/subscriptions", map[string]any{"templateIds": "x"}, w.poster.AccessToken).Expect(t, 400, service.CodeInvalid)
	drain(t, h.Svc)
	sent := h.WeChat.SentTo(openid)
	if len(sent) != 1 {
		t.Fatalf("sent %d messages", len(sent))
	}
	m := sent[0]
	data, _ := m["data"].(map[string]any)
	thing1, _ := data["thing1"].(map[string]any)
	phrase2, _ := data["phrase2"].(map[string]any)
	want := string([]rune(title)[:20])
	if m["template_id"] != tplWishApproved || m["miniprogram_state"] != "trial" || m["lang"] != "zh_CN" ||
		m["page"] != "pages/notifications/index" || thing1["value"] != want || phrase2["value"] != "已通过" {
		t.Fatalf("message: %v", m)
	}
	if out := outboxOf(t, h, w.poster.UserID); out[0].Status != model.OutboxSent || out[0].Attempts != 1 || remaining(t, h, w.poster.UserID, tplWishApproved) != 0 {
		t.Fatalf("after sending: %+v", out[0])
	}
}

// TestOutboxTwoInstancesSendEachRowOnce: workers on two instances drain the
// same 1,000 rows at once; the fake WeChat receives each message exactly
// once.
func TestOutboxTwoInstancesSendEachRowOnce(t *testing.T) {
	n := 1000
	if testing.Short() {
		n = 200
	}
	w := testutil.NewWorld(t, notifyConfig(map[string]any{"notify.batch_size": 20}))
	h := w.Harness
	u, openid := notifyUser(w, "bulk")
	grant(t, h, u.UserID, tplGift, n)
	notices := make([]service.Notice, n)
	for i := range notices {
		notices[i] = service.Notice{UserID: u.UserID, Event: service.EventGiftReceived, Subject: fmt.Sprintf("n-%04d", i)}
	}
	if err := h.DB.Transaction(func(tx *gorm.DB) error { return h.Svc.Notifications.Notify(tx, notices...) }); err != nil {
		t.Fatal(err)
	}
	other, _ := h.NewInstance()
	var wg sync.WaitGroup
	counts := make([]int, 4)
	errs := make([]error, 4)
	for i, svc := range []*service.Service{h.Svc, other, h.Svc, other} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			counts[i], errs[i] = svc.Notifications.Drain(context.Background())
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	sent := h.WeChat.SentTo(openid)
	seen := map[string]int{}
	for _, m := range sent {
		data, _ := m["data"].(map[string]any)
		v, _ := data["thing1"].(map[string]any)
		seen[fmt.Sprint(v["value"])]++
	}
	if len(sent) != n || len(seen) != n || h.WeChat.SubscribeAttempts(openid) != n {
		t.Fatalf("%d rows: %d sent, %d distinct, %d requests", n, len(sent), len(seen), h.WeChat.SubscribeAttempts(openid))
	}
	if got := h.Count(&model.OutboxMessage{}, "user_id = ? AND status = ? AND attempts = 1", u.UserID, model.OutboxSent); got != int64(n) {
		t.Fatalf("%d rows sent once, want %d", got, n)
	}
	if counts[0]+counts[1]+counts[2]+counts[3] != n || counts[0]+counts[2] == 0 || counts[1]+counts[3] == 0 {
		t.Logf("rows per worker: %v", counts)
	}
	if counts[0]+counts[1]+counts[2]+counts[3] != n {
		t.Fatalf("rows per worker %v do not add up to %d", counts, n)
	}
	if r := remaining(t, h, u.UserID, tplGift); r != 0 {
		t.Fatalf("%d acceptances left", r)
	}
}

// TestOutboxRetriesWithBackoff: a fake failing three times (busy, a dropped
// connection, a system error) then succeeding sends once, four attempts
// recorded, the backoff doubling, one acceptance used; an expired access
// token is refreshed and the send repeated at once; a row failing past
// notify.retry_for ends failed with its last error and gives the
// acceptance back.
func TestOutboxRetriesWithBackoff(t *testing.T) {
	w := testutil.NewWorld(t, notifyConfig(map[string]any{"notify.retry_for": "30s"}))
	h := w.Harness
	u, openid := notifyUser(w, "retry")
	grant(t, h, u.UserID, tplGift, 2)
	h.WeChat.FailSubscribe(openid, -1, testutil.FakeDrop, 45009)
	notifyGift(t, h, u.UserID, "30 分钟")

	var waits []time.Duration
	for i := 1; i <= 3; i++ {
		drain(t, h.Svc)
		r := outboxOf(t, h, u.UserID)[0]
		if r.Status != model.OutboxPending || r.Attempts != i || r.LastError == "" || r.LeaseToken != "" {
			t.Fatalf("after failure %d: %+v", i, r)
		}
		waits = append(waits, r.NextAttemptAt.Sub(h.Clock.Now()).Round(time.Second))
		if drain(t, h.Svc) != 0 {
			t.Fatal("a row was retried before its backoff passed")
		}
		h.Clock.Advance(r.NextAttemptAt.Sub(h.Clock.Now()) + time.Millisecond)
	}
	drain(t, h.Svc)
	r := outboxOf(t, h, u.UserID)[0]
	if r.Status != model.OutboxSent || r.Attempts != 4 || r.SentAt == nil || len(h.WeChat.SentTo(openid)) != 1 || h.WeChat.SubscribeAttempts(openid) != 4 {
		t.Fatalf("after success: %+v, %d sent, %d requests", r, len(h.WeChat.SentTo(openid)), h.WeChat.SubscribeAttempts(openid))
	}
	if fmt.Sprint(waits) != "[1s 2s 4s]" || remaining(t, h, u.UserID, tplGift) != 1 {
		t.Fatalf("backoff %v, %d acceptances left", waits, remaining(t, h, u.UserID, tplGift))
	}

	// 40001: the token is fetched again and the send repeated, one attempt.
	tokens := h.WeChat.Calls("/cgi-bin/stable_token")
	h.WeChat.FailSubscribe(openid, 40001)
	notifyGift(t, h, u.UserID, "40 分钟")
	drain(t, h.Svc)
	r = outboxOf(t, h, u.UserID)[1]
	if r.Status != model.OutboxSent || r.Attempts != 1 || h.WeChat.Calls("/cgi-bin/stable_token") <= tokens || len(h.WeChat.SentTo(openid)) != 2 {
		t.Fatalf("after 40001: %+v, token calls %d → %d", r, tokens, h.WeChat.Calls("/cgi-bin/stable_token"))
	}

	// Failing for longer than notify.retry_for (30s): failed, acceptance back.
	grant2, _ := notifyUser(w, "giveup")
	openid2 := w.OpenID(grant2.UserID)
	grant(t, h, grant2.UserID, tplGift, 1)
	h.WeChat.FailSubscribe(openid2, -1, -1, -1, -1, -1, -1, -1, -1)
	notifyGift(t, h, grant2.UserID, "50 分钟")
	for range 8 {
		drain(t, h.Svc)
		h.Clock.Advance(20 * time.Second)
	}
	r = outboxOf(t, h, grant2.UserID)[0]
	if r.Status != model.OutboxFailed || r.LastError == "" || r.Attempts < 2 || remaining(t, h, grant2.UserID, tplGift) != 1 || len(h.WeChat.SentTo(openid2)) != 0 {
		t.Fatalf("after giving up: %+v", r)
	}
	attempts := h.WeChat.SubscribeAttempts(openid2)
	h.Clock.Advance(48 * time.Hour)
	drain(t, h.Svc)
	if h.WeChat.SubscribeAttempts(openid2) != attempts {
		t.Fatal("a failed row was sent again")
	}
}

// TestOutboxCrashedWorkerBatchResent: a worker that died holding a batch
// (its lease passed; one row had taken its acceptance, one had not; a
// mixed batch of users with and without acceptances) loses nothing: once
// the lease passes another instance sends each row once, the row that had
// taken an acceptance takes no second one, and the user without any gets
// the row inbox-only. Before the lease passes nobody touches the batch.
func TestOutboxCrashedWorkerBatchResent(t *testing.T) {
	w := testutil.NewWorld(t, notifyConfig(nil))
	h := w.Harness
	u, openid := notifyUser(w, "crash")
	v, openid2 := notifyUser(w, "crash-none")
	grant(t, h, u.UserID, tplGift, 2)
	notifyGift(t, h, u.UserID, "10 分钟")
	notifyGift(t, h, u.UserID, "20 分钟")
	notifyGift(t, h, v.UserID, "30 分钟")
	rows := append(outboxOf(t, h, u.UserID), outboxOf(t, h, v.UserID)...)
	// The dead worker's state: all three leased under its token for 30 s,
	// the first row's acceptance taken (and used from the grant).
	now := h.Clock.Now().UTC()
	ids := []int64{rows[0].ID, rows[1].ID, rows[2].ID}
	if err := h.DB.Model(&model.OutboxMessage{}).Where("id IN ?", ids).Updates(map[string]any{"status": model.OutboxSending,
		"lease_token": "dead-worker", "lease_until": now.Add(30 * time.Second), "attempts": 1}).Error; err != nil {
		t.Fatal(err)
	}
	h.DB.Model(&model.OutboxMessage{}).Where("id = ?", rows[0].ID).Update("grant_taken", true)
	h.DB.Model(&model.SubscriptionGrant{}).Where("user_id = ?", u.UserID).Update("remaining", 1)

	other, _ := h.NewInstance()
	if n := drain(t, other); n != 0 || h.WeChat.SubscribeAttempts(openid) != 0 {
		t.Fatalf("a live lease was taken: %d rows, %d requests", n, h.WeChat.SubscribeAttempts(openid))
	}
	h.Clock.Advance(31 * time.Second)
	if n := drain(t, other); n != 3 {
		t.Fatalf("%d rows finished after the lease passed, want 3", n)
	}
	after := append(outboxOf(t, h, u.UserID), outboxOf(t, h, v.UserID)...)
	if after[0].Status != model.OutboxSent || after[1].Status != model.OutboxSent || after[2].Status != model.OutboxInboxOnly ||
		after[0].Attempts != 2 || after[0].LeaseToken != "" {
		t.Fatalf("rows after recovery: %+v", after)
	}
	if len(h.WeChat.SentTo(openid)) != 2 || h.WeChat.SubscribeAttempts(openid2) != 0 || remaining(t, h, u.UserID, tplGift) != 0 {
		t.Fatalf("%d sent to the user with acceptances, %d requests for the one without, %d acceptances left",
			len(h.WeChat.SentTo(openid)), h.WeChat.SubscribeAttempts(openid2), remaining(t, h, u.UserID, tplGift))
	}
	if n := drain(t, h.Svc); n != 0 || len(h.WeChat.SentTo(openid)) != 2 {
		t.Fatal("a recovered row was sent again")
	}
}

// TestOutboxRefusedAndInboxOnly: 43101 ends the row refused, not retried,
// the acceptance given back; without an acceptance the row is inbox-only
// and WeChat is not called.
func TestOutboxRefusedAndInboxOnly(t *testing.T) {
	w := testutil.NewWorld(t, notifyConfig(nil))
	h := w.Harness
	u, openid := notifyUser(w, "refuse")
	grant(t, h, u.UserID, tplGift, 1)
	h.WeChat.FailSubscribe(openid, 43101)
	notifyGift(t, h, u.UserID, "30 分钟")
	drain(t, h.Svc)
	h.Clock.Advance(48 * time.Hour)
	drain(t, h.Svc)
	r := outboxOf(t, h, u.UserID)[0]
	if r.Status != model.OutboxRefused || r.Attempts != 1 || h.WeChat.SubscribeAttempts(openid) != 1 || remaining(t, h, u.UserID, tplGift) != 1 {
		t.Fatalf("refused: %+v, %d requests, %d acceptances", r, h.WeChat.SubscribeAttempts(openid), remaining(t, h, u.UserID, tplGift))
	}

	v, openid2 := notifyUser(w, "noaccept")
	notifyGift(t, h, v.UserID, "30 分钟")
	drain(t, h.Svc)
	r = outboxOf(t, h, v.UserID)[0]
	if r.Status != model.OutboxInboxOnly || h.WeChat.SubscribeAttempts(openid2) != 0 {
		t.Fatalf("without acceptance: %+v, %d requests", r, h.WeChat.SubscribeAttempts(openid2))
	}
	if p := inbox(t, h, v.AccessToken, ""); len(p.List) != 1 || p.List[0].Event != "gift_received" {
		t.Fatalf("inbox: %+v", p)
	}
	// An event without a template writes no outbox row at all.
	if err := h.Svc.Notifications.Notify(h.DB, service.Notice{UserID: v.UserID, Event: service.EventCreditReceived, Subject: "1 积分"}); err != nil {
		t.Fatal(err)
	}
	if len(outboxOf(t, h, v.UserID)) != 1 || len(inbox(t, h, v.AccessToken, "").List) != 2 {
		t.Fatal("an event without a template wrote an outbox row")
	}
}

// TestAdminOutboxAndMetrics: an admin of the root org sees counts by status
// and failed rows' last error; staff of a community may not; /metrics has
// the depth and the outcomes.
func TestAdminOutboxAndMetrics(t *testing.T) {
	w := testutil.NewWorld(t, notifyConfig(map[string]any{"notify.retry_for": "1s"}))
	h := w.Harness
	u, openid := notifyUser(w, "adm")
	grant(t, h, u.UserID, tplGift, 1)
	h.WeChat.FailSubscribe(openid, -1)
	notifyGift(t, h, u.UserID, "1 分钟")
	drain(t, h.Svc)
	admin := w.Login("root", 0)
	h.MustMakeStaff(admin.UserID, w.Tree.District.ID, model.RoleAdmin)
	staff := w.Staff("cstaff", w.Tree.CommunityA.ID)
	h.Do("GET", "/admin/outbox", nil, staff.AccessToken).Expect(t, 403, service.CodeForbidden)
	h.Do("GET", "/admin/outbox?status=bogus", nil, admin.AccessToken).Expect(t, 400, service.CodeInvalid)
	var rep struct {
		Counts map[string]int64
		List   []struct {
			UserID    int64
			Status    string
			LastError string
		}
		Total int64
	}
	h.Do("GET", "/admin/outbox?status=failed", nil, admin.AccessToken).Expect(t, 200, 0).Decode(t, &rep)
	found := false
	for _, r := range rep.List {
		found = found || (r.UserID == u.UserID && r.Status == "failed" && r.LastError != "")
	}
	if !found || rep.Counts["failed"] < 1 || rep.Total < 1 {
		t.Fatalf("outbox report: %+v", rep)
	}
	m := string(h.Do("GET", "/metrics", nil, "").Raw)
	for _, want := range []string{`linli_outbox_depth{status="failed"}`, `linli_outbox_sends_total{outcome="failed"} 1`} {
		if !strings.Contains(m, want) {
			t.Fatalf("/metrics lacks %s", want)
		}
	}
}

// TestReminderSweepOncePerMember: the reminder sweep run twice and on two
// instances at once makes one activity reminder per participant and one
// obligation reminder per member who is not compliant.
func TestReminderSweepOncePerMember(t *testing.T) {
	e := newActEnv(t, notifyConfig(nil))
	h := e.h
	// Inside the reminder window of the current quarter.
	end := quarterEndOf(h)
	if d := end.Add(-10 * 24 * time.Hour).Sub(h.Clock.Now()); d > 0 {
		h.Clock.Advance(d)
	}
	members := []testutil.Login{e.w.Member("m1", e.tree.CommunityA.ID), e.w.Member("m2", e.tree.CommunityB.ID)}
	vols := e.volunteers(3)
	id := e.newActivity(nil)
	for _, v := range vols[:2] {
		e.signup(id, v)
	}

	other, _ := h.NewInstance()
	sweep := func(svc *service.Service) error { _, err := svc.SweepReminders(context.Background()); return err }
	errs := testutil.Race(t, 4, func(i int) error {
		if i%2 == 0 {
			return sweep(h.Svc)
		}
		return sweep(other)
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if err := sweep(h.Svc); err != nil {
		t.Fatal(err)
	}
	for _, m := range members {
		if n := h.Count(&model.Notification{}, "user_id = ? AND event = ?", m.UserID, service.EventObligationReminder); n != 1 {
			t.Fatalf("member %d: %d obligation reminders", m.UserID, n)
		}
	}
	for i, v := range vols {
		want := int64(1)
		if i == 2 {
			want = 0 // not signed up
		}
		if n := h.Count(&model.Notification{}, "user_id = ? AND event = ? AND object_id = ?", v.id, service.EventActivityReminder, id); n != want {
			t.Fatalf("volunteer %d: %d activity reminders, want %d", i, n, want)
		}
	}
	if n := h.Count(&model.Reminder{}, "kind = ? AND object_id = ?", "activity_start", id); n != 2 {
		t.Fatalf("%d activity reminder rows", n)
	}
}

// quarterEndOf returns the end of the current quarter in the configured
// zone.
func quarterEndOf(h *testutil.Harness) time.Time {
	now := h.Clock.Now().In(h.Config.Location)
	q := (int(now.Month()) - 1) / 3
	return time.Date(now.Year(), time.Month(q*3+1), 1, 0, 0, 0, 0, h.Config.Location).AddDate(0, 3, 0)
}

// TestAreaEventsNotify: the report, unit, service record, activity, mall,
// gift and manual credit events reach their users' inboxes.
func TestAreaEventsNotify(t *testing.T) {
	e := newActEnv(t, notifyConfig(nil))
	h := e.h
	events := func(userID int64) map[string]int {
		var rows []model.Notification
		if err := h.DB.Where("user_id = ?", userID).Find(&rows).Error; err != nil {
			t.Fatal(err)
		}
		out := map[string]int{}
		for _, r := range rows {
			out[r.Event]++
		}
		return out
	}
	staff := e.staff()

	// Activity: cancellation to everyone signed up or waitlisted; hours.
	vols := e.volunteers(2)
	id := e.newActivity(map[string]any{"capacity": 1, "waitlist": true})
	e.signup(id, vols[0])
	e.signup(id, vols[1])
	h.Do("DELETE", fmt.Sprintf("/activities/%d/signup", id), nil, vols[0].token).Expect(t, 200, 0)
	if ev := events(vols[1].id); ev["waitlist_promoted"] != 1 {
		t.Fatalf("promoted: %v", ev)
	}
	h.Do("POST", fmt.Sprintf("/activities/%d/cancel", id), map[string]any{"reason": "下雨"}, staff).Expect(t, 200, 0)
	if ev := events(vols[1].id); ev["activity_cancelled"] != 1 {
		t.Fatalf("cancelled: %v", ev)
	}

	// Member report and service record reviews.
	resident := e.login("rep")
	res := h.Do("POST", "/member-reports", map[string]any{"communityId": e.tree.CommunityA.ID, "realName": "李四", "phone": "13900001111",
		"unitName": "区税务局", "branch": "第一支部", "mode": "daily"}, resident.token).Expect(t, 201, 0)
	var rep struct{ ID int64 }
	res.Decode(t, &rep)
	h.Do("POST", fmt.Sprintf("/member-reports/%d/approve", rep.ID), nil, staff).Expect(t, 200, 0)
	e.relogin(resident)
	res = h.Do("POST", "/services", map[string]any{"kind": "contact_help", "occurredOn": h.Clock.Now().In(h.Config.Location).Format("2006-01-02"),
		"minutes": 60, "note": "帮助邻居"}, resident.token).Expect(t, 201, 0)
	var rec struct{ ID int64 }
	res.Decode(t, &rec)
	h.Do("POST", fmt.Sprintf("/services/%d/reject", rec.ID), map[string]any{"reason": "材料不足"}, staff).Expect(t, 200, 0)
	if ev := events(resident.id); ev["report_approved"] != 1 || ev["service_rejected"] != 1 {
		t.Fatalf("reports: %v", ev)
	}

	// Unit approval to its reporter.
	res = h.Do("POST", "/units", map[string]any{"name": "区图书馆", "kind": "事业单位", "partyOrg": "图书馆党支部", "communityId": e.tree.CommunityA.ID,
		"contactName": "王五", "contactPhone": "13900002222"}, resident.token).Expect(t, 201, 0)
	var unit struct{ ID int64 }
	res.Decode(t, &unit)
	h.Do("POST", fmt.Sprintf("/units/%d/approve", unit.ID), nil, staff).Expect(t, 200, 0)
	if ev := events(resident.id); ev["unit_approved"] != 1 {
		t.Fatalf("unit: %v", ev)
	}

	// Manual credit, gift, mall order.
	h.Do("POST", "/admin/credits", map[string]any{"userId": resident.id, "communityId": e.tree.CommunityA.ID, "currency": "points",
		"amount": 100, "reason": "社区活动补录", "requestId": "n-credit-1"}, staff).Expect(t, 201, 0)
	h.Do("POST", "/admin/credits", map[string]any{"userId": resident.id, "communityId": e.tree.CommunityA.ID, "currency": "points",
		"amount": 100, "reason": "社区活动补录", "requestId": "n-credit-1"}, staff).Expect(t, 200, 0)
	e.relogin(resident)
	h.Do("POST", "/me/gifts", map[string]any{"toUserId": vols[0].id, "currency": "points", "amount": 10, "requestId": "n-gift-1"}, resident.token).Expect(t, 201, 0)
	h.Do("POST", "/me/gifts", map[string]any{"toUserId": vols[0].id, "currency": "points", "amount": 10, "requestId": "n-gift-1"}, resident.token).Expect(t, 201, 0)
	res = h.Do("POST", "/mall/goods", map[string]any{"communityId": e.tree.CommunityA.ID, "name": "洗衣液", "pointsPrice": 20, "stock": 5}, staff).Expect(t, 201, 0)
	var goods struct{ ID int64 }
	res.Decode(t, &goods)
	h.Do("POST", "/mall/orders", map[string]any{"goodsId": goods.ID}, resident.token).Expect(t, 201, 0)
	if ev := events(resident.id); ev["credit_received"] != 1 || ev["order_ready"] != 1 {
		t.Fatalf("credit and order: %v", ev)
	}
	if ev := events(vols[0].id); ev["gift_received"] != 1 {
		t.Fatalf("gift (replayed once): %v", ev)
	}
	h.Clock.Advance(h.Config.Mall.OrderTTL + time.Minute)
	if _, err := h.Svc.Mall.ExpireOrders(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ev := events(resident.id); ev["order_expired"] != 1 {
		t.Fatalf("order expiry: %v", ev)
	}
}
