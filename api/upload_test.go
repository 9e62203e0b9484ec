package api_test

import (
	"bytes"
	"fmt"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"linli/internal/testutil"
	"linli/model"
)

func TestUploadSniffsTheBytes(t *testing.T) {
	h := testutil.New(t, testutil.WithConfig(map[string]any{"upload.max_bytes": 4096}))
	l := h.MustLogin(testutil.UniqueOpenID("uploader"))
	before := h.Count(&model.Upload{}, "owner_id = ?", l.UserID)

	for name, data := range map[string][]byte{
		"photo.jpg":  []byte("this is a text file pretending to be a JPEG\n"),
		"photo.png":  []byte("<html><body>not an image</body></html>"),
		"photo.webp": []byte("RIFF\x10\x00\x00\x00WAVEfmt "), // RIFF but not WebP
		"real.webp":  testutil.WebP(),                        // WebP cannot be re-encoded: refused
		"cut.png":    testutil.PNG()[:40],                    // a PNG header, no picture
		"gif.png":    []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00"),
		"empty.jpg":  {},
	} {
		h.Upload(l.AccessToken, name, data).Expect(t, 400, 10001)
	}
	// Too large: over upload.max_bytes, with a valid JPEG header.
	big := append(testutil.FakeJPEG()[:4], bytes.Repeat([]byte{0}, 5000)...)
	h.Upload(l.AccessToken, "big.jpg", big).Expect(t, 413, 10001)
	// A body far over the route's limit is refused before it is read.
	huge := append(testutil.FakeJPEG()[:4], bytes.Repeat([]byte{0}, 200<<10)...)
	h.Upload(l.AccessToken, "huge.jpg", huge).Expect(t, 413, 10001)
	// Not multipart, or no "file" field.
	h.Do("POST", "/uploads", map[string]any{"file": "x"}, l.AccessToken).Expect(t, 400, 10001)
	body, ct := testutil.Multipart("other", "a.png", testutil.PNG())
	testutil.Send(t, h.Router, testutil.Request{Method: "POST", Path: "/uploads", Body: body, Token: l.AccessToken,
		Header: map[string]string{"Content-Type": ct}}).Expect(t, 400, 10001)
	// Not signed in.
	testutil.Send(t, h.Router, testutil.Request{Method: "POST", Path: "/uploads", Body: body,
		Header: map[string]string{"Content-Type": ct}}).Expect(t, 401, 10002)
	if n := h.Count(&model.Upload{}, "owner_id = ?", l.UserID); n != before {
		t.Fatalf("refused uploads stored %d rows", n-before)
	}

	// The type comes from the bytes, not the name.
	for name, want := range map[string]string{"a.txt": "image/jpeg", "b.jpg": "image/png"} {
		data := map[string][]byte{"image/jpeg": testutil.JPEG(), "image/png": testutil.PNG()}[want]
		var v struct {
			ID          int64
			URL         string
			ContentType string
		}
		h.Upload(l.AccessToken, name, data).Expect(t, 201, 0).Decode(t, &v)
		if v.ContentType != want || !strings.HasPrefix(v.URL, "/api/v1/files/") {
			t.Fatalf("%s: %+v", name, v)
		}
		r := testutil.Send(t, h.Router, testutil.Request{Method: "GET", Path: v.URL})
		_, format, err := image.DecodeConfig(bytes.NewReader(r.Raw))
		if r.Status != 200 || r.Header.Get("Content-Type") != want || err != nil || "image/"+format != want ||
			r.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("GET %s: %d %v", v.URL, r.Status, r.Header)
		}
	}
	for _, path := range []string{"/files/0123456789abcdef0123456789abcdef.png", "/files/..%2F..%2Fetc%2Fpasswd", "/files/linli.db"} {
		h.Do("GET", path, nil, "").Expect(t, 404, 10005)
	}
}

func TestUploadOfAnotherUserCannotBeAttached(t *testing.T) {
	w := newWishWorld(t)
	h := w.h
	var theirs struct{ ID int64 }
	h.Upload(w.stranger.AccessToken, "x.png", testutil.PNG()).Expect(t, 201, 0).Decode(t, &theirs)

	before := h.Count(&model.Wish{}, "created_by = ?", w.poster.UserID)
	body := wishBody("别人的图")
	body["images"] = []int64{theirs.ID}
	h.Do("POST", "/wishes", body, w.poster.AccessToken).Expect(t, 403, 10004)
	if n := h.Count(&model.Wish{}, "created_by = ?", w.poster.UserID); n != before {
		t.Fatal("a wish with someone else's image was stored")
	}

	id := w.published(t, "证明")
	w.act(t, w.member.AccessToken, id, "claim", nil, 200, 0)
	w.act(t, w.member.AccessToken, id, "fulfil", map[string]any{"note": "好了", "images": []int64{theirs.ID}}, 403, 10004)
	v := decodeWish(t, h.Do("GET", fmt.Sprintf("/wishes/%d", id), nil, w.member.AccessToken).Expect(t, 200, 0))
	if v.Status != "claimed" {
		t.Fatalf("refused fulfil changed the wish: %s", v.Status)
	}
}

// TestUploadLeavesNoFileWhenItsRowFails makes the uploads table unwritable
// (renamed away) and checks that the stored file is removed again: no row,
// no orphan file under the upload directory.
func TestUploadLeavesNoFileWhenItsRowFails(t *testing.T) {
	h := testutil.New(t)
	l := h.MustLogin(testutil.UniqueOpenID("orphan"))
	if err := h.DB.Exec("ALTER TABLE uploads RENAME TO uploads_away").Error; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.DB.Exec("ALTER TABLE uploads_away RENAME TO uploads").Error; err != nil {
			t.Errorf("restore uploads table: %v", err)
		}
	})
	h.Upload(l.AccessToken, "a.png", testutil.PNG()).Expect(t, 500, 10500)
	var files []string
	_ = filepath.WalkDir(h.Config.UploadDir(), func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, path)
		}
		return nil
	})
	if len(files) != 0 {
		t.Fatalf("orphan files left: %v", files)
	}
}
