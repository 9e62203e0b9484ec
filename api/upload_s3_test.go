package api_test

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"linli/internal/testutil"
)

// TestUploadServedByAnotherInstanceFromS3: with upload.store s3 (here an
// in-process S3 server reached through minio-go), a file uploaded through
// instance A is served through instance B, which has its own client; no
// file lands on the local disk, and /readyz checks the bucket.
func TestUploadServedByAnotherInstanceFromS3(t *testing.T) {
	o := testutil.FakeS3(t)
	w := testutil.NewWorld(t, testutil.WithObjectStore(testutil.NewS3Store(t, o)))
	h := w.Harness
	resident := w.Login("s3", w.Tree.CommunityA.ID)
	var up struct {
		ID  int64
		URL string
	}
	h.Upload(resident.AccessToken, "a.png", testutil.PNG()).Expect(t, 201, 0).Decode(t, &up)

	h.Objects = testutil.NewS3Store(t, o)
	_, instanceB := h.NewInstance()
	res := testutil.Send(t, instanceB, testutil.Request{Method: "GET", Path: up.URL})
	if res.Status != 200 {
		t.Fatalf("GET %s on instance B: %d %s", up.URL, res.Status, res.Raw)
	}
	if _, err := png.Decode(bytes.NewReader(res.Raw)); err != nil {
		t.Fatalf("instance B served no PNG: %v", err)
	}
	if files, _ := filepath.Glob(filepath.Join(h.Config.UploadDir(), "*", "*")); len(files) != 0 {
		t.Fatalf("files on the local disk: %v", files)
	}
	if _, err := os.Stat(h.Config.UploadDir()); err == nil {
		t.Fatalf("the local upload dir %s was created", h.Config.UploadDir())
	}
	testutil.Send(t, instanceB, testutil.Request{Method: "GET", Path: "/readyz"}).Expect(t, 200, 0)
}
