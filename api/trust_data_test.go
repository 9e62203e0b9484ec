package api_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	_ "image/png"
	"strings"
	"testing"
	"time"

	"linli/internal/testutil"
	"linli/model"
)

// TestDisplayTextRefusesHiddenCharacters: a nickname or any other display
// text carrying NUL, a bidi override or isolate, a zero-width run or a BOM
// is 400 10001 and nothing is written; an emoji joined by U+200D is fine.
func TestDisplayTextRefusesHiddenCharacters(t *testing.T) {
	w := newWishWorld(t, testutil.WithConfig(map[string]any{"ratelimit.wish_create_per_minute": 0}))
	bad := map[string]string{
		"nul":          "张\u0000三",
		"rlo":          "张三\u202egnp.exe",
		"lri":          "\u2066张三\u2069",
		"zero-width":   "张\u200b\u200b\u200b三",
		"rlm":          "张\u200f三",
		"bom":          "\ufeff张三",
		"bell":         "张\a三",
		"lone-zwj":     "张\u200d三",
		"line-sep":     "张\u2028三",
		"soft-hyphen":  "张\u00ad三",
		"invisible-op": "张\u2062三",
	}
	for name, text := range bad {
		t.Run(name, func(t *testing.T) {
			rows := w.h.Rows()
			w.h.Do("PUT", "/me", map[string]any{"nickname": text}, w.citizen.AccessToken).Expect(t, 400, 10001)
			var u model.User
			w.h.DB.First(&u, w.citizen.UserID)
			if u.Nickname == text {
				t.Fatalf("nickname %q was stored", text)
			}
			body := wishBody(text)
			w.h.Do("POST", "/wishes", body, w.poster.AccessToken).Expect(t, 400, 10001)
			body = wishBody("修水管")
			body["content"] = "家里水管漏水" + text
			w.h.Do("POST", "/wishes", body, w.poster.AccessToken).Expect(t, 400, 10001)
			rows.WroteNothing(t, "a wish with "+name)
		})
	}
	for _, good := range []string{"👨\u200d👩\u200d👧", "❤\ufe0f\u200d🔥 小王", "李四"} {
		w.h.Do("PUT", "/me", map[string]any{"nickname": good}, w.citizen.AccessToken).Expect(t, 200, 0)
	}
	body := wishBody("修水管")
	body["content"] = "家里水管漏水，\n需要帮忙修理\t谢谢"
	w.h.Do("POST", "/wishes", body, w.poster.AccessToken).Expect(t, 201, 0)
}

// TestWishContactHarvestByClaimRelease: a claimer is shown the poster's
// phone and address in their first claim of a wish only, every showing is
// recorded for staff, and after wish.release_limit claims given back a
// further claim is 409 20007 and writes nothing.
func TestWishContactHarvestByClaimRelease(t *testing.T) {
	w := newWishWorld(t)
	id := w.published(t, "修水管")
	path := fmt.Sprintf("/wishes/%d", id)

	v := decodeWish(t, w.act(t, w.member.AccessToken, id, "claim", nil, 200, 0))
	if v.Contact == nil || v.Contact.Phone != wishPhone {
		t.Fatalf("first claim: contact %+v, want the poster's", v.Contact)
	}
	w.h.Do("GET", path, nil, w.member.AccessToken).Expect(t, 200, 0) // seen again in the same claim: one record
	for cycle := 2; cycle <= 3; cycle++ {
		w.act(t, w.member.AccessToken, id, "release", nil, 200, 0)
		r := w.act(t, w.member.AccessToken, id, "claim", nil, 200, 0)
		for _, r := range []*testutil.Response{r, w.h.Do("GET", path, nil, w.member.AccessToken).Expect(t, 200, 0),
			w.h.Do("GET", "/wishes/claimed", nil, w.member.AccessToken).Expect(t, 200, 0)} {
			if strings.Contains(string(r.Raw), wishPhone) || strings.Contains(string(r.Raw), wishAddress) {
				t.Fatalf("claim %d shows the contact again: %s", cycle, r.Raw)
			}
		}
	}
	w.act(t, w.member.AccessToken, id, "release", nil, 200, 0)

	// Three claims given back: the fourth claim is refused and writes nothing.
	rows := w.h.Rows()
	w.act(t, w.member.AccessToken, id, "claim", nil, 409, 20007)
	rows.WroteNothing(t, "a claim over the release limit")

	// Another claimer sees the contact in their first claim.
	v = decodeWish(t, w.act(t, w.member2.AccessToken, id, "claim", nil, 200, 0))
	if v.Contact == nil || v.Contact.Address != wishAddress {
		t.Fatalf("a new claimer: contact %+v", v.Contact)
	}

	// Staff read who was shown it; nobody else may.
	var got struct {
		List []struct {
			UserID, ClaimID int64
			RevealedAt      time.Time
		}
	}
	w.h.Do("GET", path+"/contact-reveals", nil, w.staff.AccessToken).Expect(t, 200, 0).Decode(t, &got)
	if len(got.List) != 2 || got.List[0].UserID != w.member.UserID || got.List[1].UserID != w.member2.UserID ||
		got.List[0].RevealedAt.IsZero() || got.List[0].ClaimID == 0 {
		t.Fatalf("reveals = %+v, want member then member2", got.List)
	}
	for _, l := range []testutil.Login{w.member, w.member2, w.poster, w.otherStaff} {
		w.h.Do("GET", path+"/contact-reveals", nil, l.AccessToken).Expect(t, 403, 10004)
	}
}

// withExif returns jpg with an APP1 (EXIF) segment carrying a GPS position
// and marker inserted after the start-of-image marker.
func withExif(jpg []byte, marker string) []byte {
	payload := []byte("Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08GPSLatitude=39.9042N;GPSLongitude=116.4074E;" + marker)
	seg := []byte{0xFF, 0xE1, byte((len(payload) + 2) >> 8), byte(len(payload) + 2)}
	out := append([]byte{}, jpg[:2]...)
	out = append(out, seg...)
	out = append(out, payload...)
	return append(out, jpg[2:]...)
}

// upload posts data as token and returns the upload's id and URL.
func upload(t *testing.T, h *testutil.Harness, token, name string, data []byte) (int64, string) {
	t.Helper()
	var v struct {
		ID  int64
		URL string
	}
	h.Upload(token, name, data).Expect(t, 201, 0).Decode(t, &v)
	return v.ID, v.URL
}

// TestUploadStripsMetadataAndTrailingBytes: a JPEG's EXIF segment (with its
// GPS position) and bytes appended after a PNG's IEND are not stored; what
// is served is a clean image of the same type.
func TestUploadStripsMetadataAndTrailingBytes(t *testing.T) {
	w := newWishWorld(t)
	const gps, payload = "SECRET-GPS-MARKER", "<?php system($_GET['c']); ?>"
	jpg := withExif(testutil.JPEG(), gps)
	if _, err := jpeg.Decode(bytes.NewReader(jpg)); err != nil || !bytes.Contains(jpg, []byte("Exif")) {
		t.Fatalf("fixture: %v", err)
	}
	pngWithTail := append(testutil.PNG(), payload...)
	for _, c := range []struct {
		name   string
		data   []byte
		secret string
		format string
	}{{"gps.jpg", jpg, gps, "jpeg"}, {"tail.png", pngWithTail, payload, "png"}} {
		_, url := upload(t, w.h, w.poster.AccessToken, c.name, c.data)
		r := testutil.Send(t, w.h.Router, testutil.Request{Method: "GET", Path: url})
		if r.Status != 200 {
			t.Fatalf("GET %s: %d", url, r.Status)
		}
		if bytes.Contains(r.Raw, []byte(c.secret)) || bytes.Contains(r.Raw, []byte("Exif")) {
			t.Fatalf("%s: the stored file still carries the metadata or payload", c.name)
		}
		if _, format, err := image.Decode(bytes.NewReader(r.Raw)); err != nil || format != c.format {
			t.Fatalf("%s: stored %q, %v", c.name, format, err)
		}
	}
}

// TestUploadDailyQuota: past upload.daily_count images a day an upload is
// 429 10007 and stores nothing; the next day it works again.
func TestUploadDailyQuota(t *testing.T) {
	w := newWishWorld(t, testutil.WithConfig(map[string]any{"upload.daily_count": 2}))
	for i := 0; i < 2; i++ {
		upload(t, w.h, w.citizen.AccessToken, "a.png", testutil.PNG())
	}
	rows := w.h.Rows()
	r := w.h.Upload(w.citizen.AccessToken, "a.png", testutil.PNG()).Expect(t, 429, 10007)
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	rows.WroteNothing(t, "an upload over the daily quota")
	upload(t, w.h, w.stranger.AccessToken, "b.png", testutil.PNG()) // the quota is per user
	w.advance(24*time.Hour, &w.citizen)
	upload(t, w.h, w.citizen.AccessToken, "a.png", testutil.PNG())
}

// TestUploadSweepRemovesUnused: an upload attached to nothing is removed
// (row and file) once upload.unused_ttl has passed; attached ones stay.
func TestUploadSweepRemovesUnused(t *testing.T) {
	w := newWishWorld(t)
	unusedID, unusedURL := upload(t, w.h, w.poster.AccessToken, "a.png", testutil.PNG())
	usedID, usedURL := upload(t, w.h, w.poster.AccessToken, "b.png", testutil.PNG())
	body := wishBody("修水管")
	body["images"] = []int64{usedID}
	w.post(t, w.poster.AccessToken, body)

	// On a shared MySQL database the sweep also sees other tests' uploads:
	// count only this test's.
	w.h.Clock.Advance(23 * time.Hour)
	if _, err := w.h.Svc.Uploads.Sweep(context.Background()); err != nil || w.h.Count(&model.Upload{}, "id = ?", unusedID) != 1 {
		t.Fatalf("sweep before a day removed the upload (%v)", err)
	}
	w.h.Clock.Advance(2 * time.Hour)
	for pass, total := 0, 0; ; pass++ { // a pass takes a batch; run them until one finds nothing
		n, err := w.h.Svc.Uploads.Sweep(context.Background())
		if err != nil || pass > 1000 {
			t.Fatalf("sweep after a day: %v", err)
		}
		if total += n; n == 0 {
			if total < 1 {
				t.Fatal("the sweep removed nothing")
			}
			break
		}
	}
	if w.h.Count(&model.Upload{}, "id = ?", unusedID) != 0 || w.h.Count(&model.Upload{}, "id = ?", usedID) != 1 {
		t.Fatal("the sweep removed the wrong rows")
	}
	w.h.Do("GET", strings.TrimPrefix(unusedURL, "/api/v1"), nil, "").Expect(t, 404, 10005)
	if r := testutil.Send(t, w.h.Router, testutil.Request{Method: "GET", Path: usedURL}); r.Status != 200 {
		t.Fatalf("attached upload: %d", r.Status)
	}
	// A swept upload can no longer be attached.
	w.world.Relogin(&w.poster)
	body = wishBody("修门锁")
	body["images"] = []int64{unusedID}
	w.h.Do("POST", "/wishes", body, w.poster.AccessToken).Expect(t, 400, 10001)
}

// TestPrivatePhotosNeedSignedURLs: fulfilment and service-record photos are
// served only through the signed, expiring URLs their viewers get; the bare
// URL, a forged signature or an expired one is 403 10004.
func TestPrivatePhotosNeedSignedURLs(t *testing.T) {
	w := newWishWorld(t)
	id := w.published(t, "修水管")
	w.act(t, w.member.AccessToken, id, "claim", nil, 200, 0)
	proofID, bare := upload(t, w.h, w.member.AccessToken, "done.jpg", testutil.JPEG())
	w.act(t, w.member.AccessToken, id, "fulfil", map[string]any{"note": "已修好", "images": []int64{proofID}}, 200, 0)

	var v struct{ FulfilImages []struct{ URL string } }
	w.h.Do("GET", fmt.Sprintf("/wishes/%d", id), nil, w.poster.AccessToken).Expect(t, 200, 0).Decode(t, &v)
	if len(v.FulfilImages) != 1 || !strings.Contains(v.FulfilImages[0].URL, "sig=") {
		t.Fatalf("fulfil images %+v, want one signed URL", v.FulfilImages)
	}
	signed := v.FulfilImages[0].URL
	if r := testutil.Send(t, w.h.Router, testutil.Request{Method: "GET", Path: signed}); r.Status != 200 {
		t.Fatalf("signed URL: %d %s", r.Status, r.Raw)
	}
	if raw := w.h.Do("GET", fmt.Sprintf("/wishes/%d", id), nil, w.stranger.AccessToken).Expect(t, 200, 0).Raw; strings.Contains(string(raw), "sig=") {
		t.Fatalf("a stranger got a signed URL: %s", raw)
	}
	for _, u := range []string{bare, bare + "?exp=99999999999&sig=00000000000000000000000000000000",
		strings.Replace(signed, "exp=", "exp=9", 1)} {
		testutil.Send(t, w.h.Router, testutil.Request{Method: "GET", Path: u}).Expect(t, 403, 10004)
	}
	w.h.Clock.Advance(2 * time.Hour)
	testutil.Send(t, w.h.Router, testutil.Request{Method: "GET", Path: signed}).Expect(t, 403, 10004)

	// A service record's photos likewise.
	w.world.Relogin(&w.member)
	photoID, photoBare := upload(t, w.h, w.member.AccessToken, "duty.png", testutil.PNG())
	var rec struct{ Images []struct{ URL string } }
	w.h.Do("POST", "/services", map[string]any{"kind": "contact_help", "occurredOn": w.h.Clock.Now().In(w.h.Config.Location).Format("2006-01-02"),
		"minutes": 30, "images": []int64{photoID}}, w.member.AccessToken).Expect(t, 201, 0).Decode(t, &rec)
	if len(rec.Images) != 1 || !strings.Contains(rec.Images[0].URL, "sig=") {
		t.Fatalf("record images %+v", rec.Images)
	}
	testutil.Send(t, w.h.Router, testutil.Request{Method: "GET", Path: photoBare}).Expect(t, 403, 10004)
	if r := testutil.Send(t, w.h.Router, testutil.Request{Method: "GET", Path: rec.Images[0].URL}); r.Status != 200 {
		t.Fatalf("record photo: %d", r.Status)
	}
}

// TestImageFieldsTakeOwnUploadIDs: a service record's images and goods'
// image are upload ids of the caller (for goods, of the community's staff),
// never free strings; refusals write nothing.
func TestImageFieldsTakeOwnUploadIDs(t *testing.T) {
	w := newWishWorld(t)
	h := w.h
	today := h.Clock.Now().In(h.Config.Location).Format("2006-01-02")
	record := func(images any) map[string]any {
		return map[string]any{"kind": "contact_help", "occurredOn": today, "minutes": 30, "images": images}
	}
	theirs, _ := upload(t, h, w.citizen.AccessToken, "x.png", testutil.PNG())
	mine, _ := upload(t, h, w.member.AccessToken, "y.png", testutil.PNG())
	staffPhoto, _ := upload(t, h, w.staff.AccessToken, "rice.png", testutil.PNG())
	colleague := w.world.Staff("colleague", w.tree.CommunityA.ID)
	colleaguePhoto, _ := upload(t, h, colleague.AccessToken, "oil.png", testutil.PNG())
	otherStaffPhoto, _ := upload(t, h, w.otherStaff.AccessToken, "far.png", testutil.PNG())
	goods := func(extra map[string]any) map[string]any {
		b := map[string]any{"communityId": w.tree.CommunityA.ID, "name": "大米", "pointsPrice": 10, "stock": 5}
		for k, v := range extra {
			b[k] = v
		}
		return b
	}

	for _, c := range []struct {
		name         string
		token        string
		method, path string
		body         any
		status, code int
	}{
		{"record javascript", w.member.AccessToken, "POST", "/services", record([]string{"javascript:alert(1)"}), 400, 10001},
		{"record traversal", w.member.AccessToken, "POST", "/services", record([]string{"../../../etc/passwd"}), 400, 10001},
		{"record url", w.member.AccessToken, "POST", "/services", record([]string{"//evil.example/x.png"}), 400, 10001},
		{"record unknown id", w.member.AccessToken, "POST", "/services", record([]int64{1 << 40}), 400, 10001},
		{"record someone else's", w.member.AccessToken, "POST", "/services", record([]int64{theirs}), 403, 10004},
		{"goods protocol-relative", w.staff.AccessToken, "POST", "/mall/goods", goods(map[string]any{"image": "//evil.example/x.png"}), 400, 10001},
		{"goods javascript", w.staff.AccessToken, "POST", "/mall/goods", goods(map[string]any{"image": "javascript:alert(1)"}), 400, 10001},
		{"goods resident's upload", w.staff.AccessToken, "POST", "/mall/goods", goods(map[string]any{"imageId": theirs}), 403, 10004},
		{"goods other community's staff upload", w.staff.AccessToken, "POST", "/mall/goods", goods(map[string]any{"imageId": otherStaffPhoto}), 403, 10004},
		{"goods unknown upload", w.staff.AccessToken, "POST", "/mall/goods", goods(map[string]any{"imageId": 1 << 40}), 400, 10001},
	} {
		t.Run(c.name, func(t *testing.T) {
			rows := h.Rows()
			h.Do(c.method, c.path, c.body, c.token).Expect(t, c.status, c.code)
			rows.WroteNothing(t, c.name)
		})
	}

	// Accepted: the caller's own upload for a record; the caller's or a
	// colleague's upload for goods. Views show URLs.
	h.Do("POST", "/services", record([]int64{mine}), w.member.AccessToken).Expect(t, 201, 0)
	h.Do("POST", "/services", record([]int64{mine}), w.member.AccessToken).Expect(t, 400, 10001) // attached once
	var g struct {
		ID    int64
		Image string
	}
	h.Do("POST", "/mall/goods", goods(map[string]any{"imageId": staffPhoto}), w.staff.AccessToken).Expect(t, 201, 0).Decode(t, &g)
	if !strings.HasPrefix(g.Image, "/api/v1/files/") {
		t.Fatalf("goods image %q", g.Image)
	}
	path := fmt.Sprintf("/mall/goods/%d", g.ID)
	h.Do("PUT", path, map[string]any{"image": "//evil.example/x.png"}, w.staff.AccessToken).Expect(t, 400, 10001)
	h.Do("PUT", path, map[string]any{"imageId": theirs}, w.staff.AccessToken).Expect(t, 403, 10004)
	var again struct{ Image string }
	h.Do("GET", path, nil, w.staff.AccessToken).Expect(t, 200, 0).Decode(t, &again)
	if again.Image != g.Image {
		t.Fatalf("a refused update changed the image to %q", again.Image)
	}
	h.Do("PUT", path, map[string]any{"imageId": colleaguePhoto}, w.staff.AccessToken).Expect(t, 200, 0).Decode(t, &again)
	if again.Image == g.Image || !strings.HasPrefix(again.Image, "/api/v1/files/") {
		t.Fatalf("image after update %q", again.Image)
	}
}
