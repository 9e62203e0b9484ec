package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"linli/internal/testutil"
	"linli/model"
	"linli/service"
)

const pushToken = "linli-push-token"

// imageCheckConfig turns WeChat's media check on: images are fetched from
// upload.public_base_url and verdicts are signed with wechat.push_token.
func imageCheckConfig() testutil.Option {
	return testutil.WithConfig(map[string]any{
		"upload.public_base_url": "https://linli.test", "wechat.push_token": pushToken,
		"content.images_require_review": true,
	})
}

type imageView struct {
	ID    int64
	URL   string
	Check string
}

// wishImages returns the images of wish id as token sees them.
func wishImages(t *testing.T, h *testutil.Harness, token string, id int64) []imageView {
	t.Helper()
	var v struct{ Images []imageView }
	h.Do("GET", fmt.Sprintf("/wishes/%d", id), nil, token).Expect(t, 200, 0).Decode(t, &v)
	return v.Images
}

// publishedWithImage has the poster post a wish with one new image, staff
// approve it, and returns the wish id and the image's id and URL.
func publishedWithImage(t *testing.T, w *wishWorld) (wishID, imgID int64, imgURL string) {
	t.Helper()
	imgID, imgURL = upload(t, w.h, w.poster.AccessToken, "p.png", testutil.PNG())
	body := wishBody("修水管")
	body["images"] = []int64{imgID}
	wishID = w.post(t, w.poster.AccessToken, body)
	w.act(t, w.staff.AccessToken, wishID, "approve", nil, 200, 0)
	return wishID, imgID, imgURL
}

func imageRejections(h *testutil.Harness, userID int64) int64 {
	return h.Count(&model.Notification{}, "user_id = ? AND event = ?", userID, service.EventImageRejected)
}

// TestImageCheckHidesUntilWeChatPasses: a wish image is submitted to the
// fake media check after the commit, with the poster's openid and a URL
// WeChat can fetch; until the pass arrives only the poster and staff see
// it, then everyone who sees the wish does.
func TestImageCheckHidesUntilWeChatPasses(t *testing.T) {
	w := newWishWorld(t, imageCheckConfig())
	h := w.h
	id, imgID, imgURL := publishedWithImage(t, w)
	key := imgURL[strings.LastIndex(imgURL, "/")+1:]

	if got := wishImages(t, h, w.member.AccessToken, id); len(got) != 0 {
		t.Fatalf("another resident sees an unchecked image: %+v", got)
	}
	for _, tok := range []string{w.poster.AccessToken, w.staff.AccessToken} {
		if got := wishImages(t, h, tok, id); len(got) != 1 || got[0].Check != "pending" || got[0].URL == "" {
			t.Fatalf("owner/staff view of a pending image: %+v", got)
		}
	}
	// Nothing was sent in the request; the sender submits it.
	if n := len(h.WeChat.MediaChecks(key)); n != 0 {
		t.Fatalf("submitted during the request: %d", n)
	}
	n, err := h.Svc.Uploads.SubmitChecks(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("SubmitChecks = %d, %v", n, err)
	}
	if n, _ := h.Svc.Uploads.SubmitChecks(context.Background()); n != 0 {
		t.Fatalf("a second pass submitted %d again", n)
	}
	checks := h.WeChat.MediaChecks(key)
	if len(checks) != 1 {
		t.Fatalf("media checks: %+v", checks)
	}
	mc := checks[0]
	var owner model.User
	h.DB.First(&owner, w.poster.UserID)
	if mc.OpenID != owner.OpenID || mc.MediaType != 2 || mc.Version != 2 || mc.Scene != 3 ||
		!strings.HasPrefix(mc.MediaURL, "https://linli.test/api/v1/files/"+key) {
		t.Fatalf("media check request: %+v", mc)
	}
	// WeChat can fetch what it was given.
	u, _ := url.Parse(mc.MediaURL)
	testutil.Send(t, h.Router, testutil.Request{Method: "GET", Path: u.RequestURI()}).Expect(t, 200, 0)
	if h.Count(&model.Upload{}, "id = ? AND trace_id = ? AND check_status = ?", imgID, mc.TraceID, model.CheckPending) != 1 {
		t.Fatal("the trace id is not recorded on the upload")
	}

	r := h.PushMediaCheck(mc.TraceID, "pass").Expect(t, 200, 0)
	if string(r.Raw) != "success" {
		t.Fatalf("push answer %q", r.Raw)
	}
	got := wishImages(t, h, w.member.AccessToken, id)
	if len(got) != 1 || got[0].ID != imgID || got[0].URL == "" || got[0].Check != "" {
		t.Fatalf("after pass, another resident sees %+v", got)
	}
	if got := wishImages(t, h, w.poster.AccessToken, id); len(got) != 1 || got[0].Check != "" {
		t.Fatalf("after pass, the poster sees %+v", got)
	}
}

// TestImageCheckRiskyHidesAndTellsTheOwnerOnce: a risky verdict hides the
// image from everyone (its owner sees it marked, without a URL; the file
// is not served) and tells the owner, once however often it arrives.
func TestImageCheckRiskyHidesAndTellsTheOwnerOnce(t *testing.T) {
	w := newWishWorld(t, imageCheckConfig())
	h := w.h
	id, _, imgURL := publishedWithImage(t, w)
	key := imgURL[strings.LastIndex(imgURL, "/")+1:]
	if _, err := h.Svc.Uploads.SubmitChecks(context.Background()); err != nil {
		t.Fatal(err)
	}
	trace := h.WeChat.MediaChecks(key)[0].TraceID

	h.PushMediaCheck(trace, "risky").Expect(t, 200, 0)
	h.PushMediaCheck(trace, "risky").Expect(t, 200, 0)
	h.PushMediaCheck(trace, "pass").Expect(t, 200, 0) // a later, different verdict changes nothing either
	if n := imageRejections(h, w.poster.UserID); n != 1 {
		t.Fatalf("image_rejected notifications = %d, want 1", n)
	}
	for _, tok := range []string{w.member.AccessToken, w.citizen.AccessToken} {
		if got := wishImages(t, h, tok, id); len(got) != 0 {
			t.Fatalf("a risky image is shown: %+v", got)
		}
	}
	for _, tok := range []string{w.poster.AccessToken, w.staff.AccessToken} {
		if got := wishImages(t, h, tok, id); len(got) != 1 || got[0].Check != "risky" || got[0].URL != "" {
			t.Fatalf("owner/staff view of a risky image: %+v", got)
		}
	}
	testutil.Send(t, h.Router, testutil.Request{Method: "GET", Path: imgURL}).Expect(t, 404, service.CodeNotFound)
}

// TestWeChatPushSignature: the push address answers WeChat's handshake
// only with a valid signature; a wrong or missing signature is 403 and
// changes nothing; an unknown trace is acknowledged and ignored.
func TestWeChatPushSignature(t *testing.T) {
	w := newWishWorld(t, imageCheckConfig())
	h := w.h
	ts, nonce := "1700000000", "abc"
	sig := testutil.PushSignature(pushToken, ts, nonce)
	r := testutil.Send(t, h.Router, testutil.Request{Method: "GET",
		Path: "/api/v1/wechat/push?signature=" + sig + "&timestamp=" + ts + "&nonce=" + nonce + "&echostr=hello123"}).Expect(t, 200, 0)
	if string(r.Raw) != "hello123" {
		t.Fatalf("echostr answer %q", r.Raw)
	}
	testutil.Send(t, h.Router, testutil.Request{Method: "GET",
		Path: "/api/v1/wechat/push?signature=" + sig + "&timestamp=" + ts + "&nonce=" + nonce}).Expect(t, 400, service.CodeInvalid)
	bad := testutil.PushSignature("wrong-token", ts, nonce)
	testutil.Send(t, h.Router, testutil.Request{Method: "GET",
		Path: "/api/v1/wechat/push?signature=" + bad + "&timestamp=" + ts + "&nonce=" + nonce + "&echostr=x"}).Expect(t, 403, service.CodeForbidden)

	id, _, imgURL := publishedWithImage(t, w)
	key := imgURL[strings.LastIndex(imgURL, "/")+1:]
	if _, err := h.Svc.Uploads.SubmitChecks(context.Background()); err != nil {
		t.Fatal(err)
	}
	trace := h.WeChat.MediaChecks(key)[0].TraceID
	event := map[string]any{"MsgType": "event", "Event": "wxa_media_check", "trace_id": trace,
		"result": map[string]any{"suggest": "risky"}}
	h.Do("POST", "/api/v1/wechat/push?signature="+bad+"&timestamp="+ts+"&nonce="+nonce, event, "").Expect(t, 403, service.CodeForbidden)
	h.Do("POST", "/api/v1/wechat/push", event, "").Expect(t, 403, service.CodeForbidden)
	if n := imageRejections(h, w.poster.UserID); n != 0 {
		t.Fatalf("a refused push notified %d", n)
	}
	if got := wishImages(t, h, w.poster.AccessToken, id); len(got) != 1 || got[0].Check != "pending" {
		t.Fatalf("a refused push changed the image: %+v", got)
	}
	h.PushMediaCheck("no-such-trace", "risky").Expect(t, 200, 0)
}

// TestImageReviewByStaffWithoutWeChat: without WeChat an image waits in
// the review queue; only staff of the community decide, once; approval
// shows it, rejection hides it and tells the owner.
func TestImageReviewByStaffWithoutWeChat(t *testing.T) {
	w := newWishWorld(t, testutil.WithoutWeChat(), testutil.WithConfig(map[string]any{"content.images_require_review": true}))
	h := w.h
	okID, _ := upload(t, h, w.poster.AccessToken, "a.png", testutil.PNG())
	badID, _ := upload(t, h, w.poster.AccessToken, "b.png", testutil.PNG())
	body := wishBody("修水管")
	body["images"] = []int64{okID, badID}
	id := w.post(t, w.poster.AccessToken, body)
	w.act(t, w.staff.AccessToken, id, "approve", nil, 200, 0)
	if got := wishImages(t, h, w.member.AccessToken, id); len(got) != 0 {
		t.Fatalf("unreviewed images shown: %+v", got)
	}
	if got := wishImages(t, h, w.poster.AccessToken, id); len(got) != 2 || got[0].Check != "review" {
		t.Fatalf("the owner's view: %+v", got)
	}

	var q struct {
		List []struct {
			Kind     string
			ObjectID int64
			Title    string
		}
		Counts map[string]int64
	}
	h.Do("GET", fmt.Sprintf("/admin/queue?orgId=%d&kind=image", w.tree.CommunityA.ID), nil, w.staff.AccessToken).Expect(t, 200, 0).Decode(t, &q)
	if q.Counts["image"] != 2 || len(q.List) != 2 || q.List[0].Kind != "image" || q.List[0].Title != "心愿图片" {
		t.Fatalf("queue: %+v", q)
	}

	approve := func(img int64) string { return fmt.Sprintf("/admin/images/%d/approve", img) }
	reject := func(img int64) string { return fmt.Sprintf("/admin/images/%d/reject", img) }
	h.Do("POST", approve(okID), nil, w.member.AccessToken).Expect(t, 403, service.CodeForbidden)
	h.Do("POST", approve(okID), nil, w.otherStaff.AccessToken).Expect(t, 403, service.CodeForbidden)
	h.Do("POST", approve(1<<40), nil, w.staff.AccessToken).Expect(t, 404, service.CodeNotFound)
	h.Do("POST", reject(badID), map[string]any{"reason": ""}, w.staff.AccessToken).Expect(t, 400, service.CodeInvalid)
	h.Do("POST", approve(okID), nil, w.staff.AccessToken).Expect(t, 200, 0)
	h.Do("POST", approve(okID), nil, w.staff.AccessToken).Expect(t, 409, service.CodeConflict)
	h.Do("POST", reject(badID), map[string]any{"reason": "含有他人隐私"}, w.staff.AccessToken).Expect(t, 200, 0)
	h.Do("POST", reject(badID), map[string]any{"reason": "含有他人隐私"}, w.staff.AccessToken).Expect(t, 409, service.CodeConflict)

	if got := wishImages(t, h, w.member.AccessToken, id); len(got) != 1 || got[0].ID != okID || got[0].URL == "" {
		t.Fatalf("after review, another resident sees %+v", got)
	}
	if got := wishImages(t, h, w.poster.AccessToken, id); len(got) != 2 || got[1].Check != "risky" || got[1].URL != "" {
		t.Fatalf("after review, the owner sees %+v", got)
	}
	if n := imageRejections(h, w.poster.UserID); n != 1 {
		t.Fatalf("image_rejected notifications = %d, want 1", n)
	}
	if n := h.Count(&model.AuditEntry{}, "action IN ? AND object_kind = ?", []string{service.AuditImageApprove, service.AuditImageReject}, "image"); n != 2 {
		t.Fatalf("audit entries = %d, want 2", n)
	}
	h.Do("GET", fmt.Sprintf("/admin/queue?orgId=%d&kind=image", w.tree.CommunityA.ID), nil, w.staff.AccessToken).Expect(t, 200, 0).Decode(t, &q)
	if q.Counts["image"] != 0 {
		t.Fatalf("queue after review: %+v", q.Counts)
	}
}

// TestImagesShownAtOnceWhenReviewIsOff: without WeChat and with
// content.images_require_review false, images are shown at once and
// nothing waits in the queue.
func TestImagesShownAtOnceWhenReviewIsOff(t *testing.T) {
	w := newWishWorld(t, testutil.WithoutWeChat(), testutil.WithConfig(map[string]any{"content.images_require_review": false}))
	h := w.h
	id, imgID, _ := publishedWithImage(t, w)
	if got := wishImages(t, h, w.member.AccessToken, id); len(got) != 1 || got[0].ID != imgID || got[0].Check != "" {
		t.Fatalf("another resident sees %+v", got)
	}
	if n := h.Count(&model.Upload{}, "check_status = ?", model.CheckReview); n != 0 {
		t.Fatalf("%d images wait for review", n)
	}
	h.Do("POST", fmt.Sprintf("/admin/images/%d/approve", imgID), nil, w.staff.AccessToken).Expect(t, 409, service.CodeConflict)
}

// TestImageCheckOnServiceRecordPhotos: a service record's photo (private:
// its member and staff see it) carries its check state in both their
// views; a risky one is marked without a URL and its member told.
func TestImageCheckOnServiceRecordPhotos(t *testing.T) {
	w := newWishWorld(t, imageCheckConfig())
	h := w.h
	imgID, imgURL := upload(t, h, w.member.AccessToken, "r.png", testutil.PNG())
	key := imgURL[strings.LastIndex(imgURL, "/")+1:]
	var rec struct {
		ID     int64
		Images []imageView
	}
	h.Do("POST", "/services", map[string]any{"kind": "contact_help", "occurredAt": h.Clock.Now().Add(-time.Hour).Format(time.RFC3339),
		"minutes": 60, "note": "走访", "images": []int64{imgID}}, w.member.AccessToken).Expect(t, 201, 0).Decode(t, &rec)
	if len(rec.Images) != 1 || rec.Images[0].Check != "pending" || rec.Images[0].URL == "" {
		t.Fatalf("created record's images: %+v", rec.Images)
	}
	if _, err := h.Svc.Uploads.SubmitChecks(context.Background()); err != nil {
		t.Fatal(err)
	}
	mc := h.WeChat.MediaChecks(key)
	if len(mc) != 1 || !strings.Contains(mc[0].MediaURL, "sig=") {
		t.Fatalf("a private photo is submitted with a signed URL: %+v", mc)
	}
	u, _ := url.Parse(mc[0].MediaURL)
	testutil.Send(t, h.Router, testutil.Request{Method: "GET", Path: u.RequestURI()}).Expect(t, 200, 0)
	h.PushMediaCheck(mc[0].TraceID, "risky").Expect(t, 200, 0)

	var list struct {
		List []struct {
			ID     int64
			Images []imageView
		}
	}
	h.Do("GET", "/services/mine", nil, w.member.AccessToken).Expect(t, 200, 0).Decode(t, &list)
	if len(list.List) != 1 || len(list.List[0].Images) != 1 || list.List[0].Images[0].Check != "risky" || list.List[0].Images[0].URL != "" {
		t.Fatalf("the member's view after risky: %+v", list.List)
	}
	if n := imageRejections(h, w.member.UserID); n != 1 {
		t.Fatalf("image_rejected notifications = %d, want 1", n)
	}
}

// TestImageCheckSubmissionRetries: a refused submission is retried after
// the backoff; after every attempt failed the image waits for staff.
func TestImageCheckSubmissionRetries(t *testing.T) {
	w := newWishWorld(t, imageCheckConfig())
	h := w.h
	var owner model.User
	h.DB.First(&owner, w.poster.UserID)
	h.WeChat.FailMediaCheck(owner.OpenID, 1)
	_, imgID, imgURL := publishedWithImage(t, w)
	key := imgURL[strings.LastIndex(imgURL, "/")+1:]
	ctx := context.Background()
	if n, err := h.Svc.Uploads.SubmitChecks(ctx); n != 0 || err != nil {
		t.Fatalf("first, refused submission: %d, %v", n, err)
	}
	if n, _ := h.Svc.Uploads.SubmitChecks(ctx); n != 0 {
		t.Fatal("retried before the backoff")
	}
	h.Clock.Advance(31 * time.Second)
	if n, err := h.Svc.Uploads.SubmitChecks(ctx); n != 1 || err != nil {
		t.Fatalf("retry: %d, %v", n, err)
	}
	if len(h.WeChat.MediaChecks(key)) != 1 || h.Count(&model.Upload{}, "id = ? AND check_attempts = 2 AND trace_id IS NOT NULL", imgID) != 1 {
		t.Fatal("the retry is not recorded")
	}

	// Every attempt refused: staff decide.
	h.WeChat.FailMediaCheck(owner.OpenID, 8)
	other, _ := upload(t, h, w.poster.AccessToken, "q.png", testutil.PNG())
	body := wishBody("换灯泡")
	body["images"] = []int64{other}
	w.post(t, w.poster.AccessToken, body)
	for i := 0; i < 8; i++ {
		if _, err := h.Svc.Uploads.SubmitChecks(ctx); err != nil {
			t.Fatal(err)
		}
		h.Clock.Advance(2 * time.Hour)
	}
	if h.Count(&model.Upload{}, "id = ? AND check_status = ? AND trace_id IS NULL", other, model.CheckReview) != 1 {
		t.Fatal("an image WeChat never took does not wait for staff")
	}
}

// TestImageCheckVerdictRacesOnTwoInstances: the same risky verdict
// delivered many times at once to two instances hides the image once and
// tells the owner once.
func TestImageCheckVerdictRacesOnTwoInstances(t *testing.T) {
	w := newWishWorld(t, imageCheckConfig())
	h := w.h
	_, imgID, imgURL := publishedWithImage(t, w)
	key := imgURL[strings.LastIndex(imgURL, "/")+1:]
	_, second := h.NewInstance()
	if _, err := h.Svc.Uploads.SubmitChecks(context.Background()); err != nil {
		t.Fatal(err)
	}
	trace := h.WeChat.MediaChecks(key)[0].TraceID
	ts, nonce := "1700000000", "race"
	path := "/api/v1/wechat/push?signature=" + testutil.PushSignature(pushToken, ts, nonce) + "&timestamp=" + ts + "&nonce=" + nonce
	event := map[string]any{"MsgType": "event", "Event": "wxa_media_check", "trace_id": trace, "result": map[string]any{"suggest": "risky"}}
	res := testutil.RaceSend(t, 12, func(i int) (http.Handler, testutil.Request) {
		handler := h.Router
		if i%2 == 1 {
			handler = second
		}
		return handler, testutil.Request{Method: "POST", Path: path, Body: event}
	})
	for _, r := range res {
		if r.Status != 200 {
			t.Fatalf("a delivery answered %d %s", r.Status, r.Raw)
		}
	}
	if n := imageRejections(h, w.poster.UserID); n != 1 {
		t.Fatalf("image_rejected notifications = %d, want 1", n)
	}
	if h.Count(&model.Upload{}, "id = ? AND check_status = ?", imgID, model.CheckRisky) != 1 {
		t.Fatal("the image is not risky")
	}
}
