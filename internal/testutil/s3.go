package testutil

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"linli/internal/objstore"
)

// FakeS3 starts an in-process S3-compatible server (gofakes3, in memory)
// with one bucket, stopped when the test ends, and returns what reaches
// it. Stores made with objstore.NewS3 over these options talk to it
// through the real client (minio-go) over loopback HTTP.
func FakeS3(t testing.TB) objstore.S3Options {
	t.Helper()
	backend := s3mem.New()
	const bucket = "linli-uploads"
	if err := backend.CreateBucket(bucket); err != nil {
		t.Fatalf("testutil: fake S3 bucket: %v", err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	return objstore.S3Options{
		Endpoint: strings.TrimPrefix(srv.URL, "http://"), Bucket: bucket, Region: "us-east-1",
		AccessKey: "test-access", SecretKey: "test-secret-key",
	}
}

// NewS3Store returns a new client store over the fake S3 of o (another
// instance's client, when called again).
func NewS3Store(t testing.TB, o objstore.S3Options) *objstore.S3 {
	t.Helper()
	s, err := objstore.NewS3(o, "/api/v1/files/")
	if err != nil {
		t.Fatal(err)
	}
	return s
}
