package objstore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"

	"linli/internal/objstore"
	"linli/internal/testutil"
)

// TestS3StoreAgainstFakeS3: Put, Open (content and size), a missing key,
// Delete (twice) and Check through minio-go against an in-process S3
// server; Check fails for a missing bucket and an endpoint that is down.
func TestS3StoreAgainstFakeS3(t *testing.T) {
	o := testutil.FakeS3(t)
	s := testutil.NewS3Store(t, o)
	ctx := context.Background()
	key := "0123456789abcdef0123456789abcdef.png"
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, key, "image/png", bytes.NewReader([]byte("png bytes"))); err != nil {
		t.Fatal(err)
	}
	other := testutil.NewS3Store(t, o) // another instance's client
	f, size, err := other.Open(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(f)
	f.Close()
	if string(b) != "png bytes" || size != 9 {
		t.Fatalf("read %q (%d)", b, size)
	}
	if _, _, err := other.Open(ctx, "fedcba9876543210fedcba9876543210.png"); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("missing key: %v", err)
	}
	for i := 0; i < 2; i++ {
		if err := s.Delete(ctx, key); err != nil {
			t.Fatalf("delete %d: %v", i, err)
		}
	}
	if _, _, err := s.Open(ctx, key); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	if err := s.Put(ctx, "../x.png", "image/png", bytes.NewReader(nil)); err == nil {
		t.Fatal("an invalid key was stored")
	}
	noBucket := o
	noBucket.Bucket = "missing"
	if err := testutil.NewS3Store(t, noBucket).Check(ctx); err == nil {
		t.Fatal("Check passed for a missing bucket")
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	down := o
	down.Endpoint = l.Addr().String()
	l.Close()
	if err := testutil.NewS3Store(t, down).Check(ctx); err == nil {
		t.Fatal("Check passed for an endpoint that is down")
	}
}
