package objstore

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestValidKey(t *testing.T) {
	for key, want := range map[string]bool{
		"0123456789abcdef0123456789abcdef.jpg":  true,
		"0123456789abcdef0123456789abcdef.webp": true,
		"0123456789abcdef.png":                  true,
		"0123456789abcde.png":                   false, // too short
		"0123456789ABCDEF0123456789abcdef.jpg":  false, // upper case
		"0123456789abcdef0123456789abcdef.gif":  false,
		"0123456789abcdef0123456789abcdef":      false,
		"../0123456789abcdef0123456789ab.jpg":   false,
		"01/23456789abcdef0123456789abcd.jpg":   false,
		"0123456789abcdef0123456789abcdef.jpg.": false,
		"":                                      false,
	} {
		if got := ValidKey(key); got != want {
			t.Errorf("ValidKey(%q) = %v, want %v", key, got, want)
		}
	}
}

func TestLocalPutOpen(t *testing.T) {
	ctx := context.Background()
	l := NewLocal(t.TempDir(), "/files/")
	key := "0123456789abcdef0123456789abcdef.png"
	if err := l.Put(ctx, key, "image/png", strings.NewReader("png-bytes")); err != nil {
		t.Fatal(err)
	}
	f, size, err := l.Open(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, _ := io.ReadAll(f)
	if string(b) != "png-bytes" || size != 9 {
		t.Fatalf("read %q (%d bytes)", b, size)
	}
	if l.URL(key) != "/files/"+key {
		t.Fatalf("URL = %s", l.URL(key))
	}
	if _, _, err := l.Open(ctx, "ffffffffffffffffffffffffffffffff.png"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing key: %v", err)
	}
	if _, _, err := l.Open(ctx, "../../etc/passwd"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("bad key: %v", err)
	}
	if err := l.Put(ctx, "../x.png", "image/png", strings.NewReader("x")); err == nil {
		t.Fatal("Put accepted a bad key")
	}
	if err := l.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Open(ctx, key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after Delete: %v", err)
	}
	if err := l.Delete(ctx, key); err != nil {
		t.Fatalf("deleting a missing key: %v", err)
	}
	if err := l.Delete(ctx, "../../etc/passwd"); err == nil {
		t.Fatal("Delete accepted a bad key")
	}
}
