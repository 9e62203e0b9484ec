// Package objstore keeps uploaded files. Local stores them on disk under one
// directory and serves them back through linli's own file route; an
// S3-compatible store would implement the same methods (see
// service.ObjectStore) and hand out its own URLs.
package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// ErrNotFound is returned by Open for a key that is not stored.
var ErrNotFound = errors.New("objstore: not found")

// ValidKey reports whether key has the shape of every key linli makes: 16
// to 64 lower-case hex digits, a dot and jpg, png or webp. Anything else
// (slashes, "..") is refused before it can reach the file system.
func ValidKey(key string) bool {
	name, ext, ok := strings.Cut(key, ".")
	if !ok || len(name) < 16 || len(name) > 64 {
		return false
	}
	switch ext {
	case "jpg", "png", "webp":
	default:
		return false
	}
	for _, r := range name {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return false
		}
	}
	return true
}

// Local stores objects as files under Dir, sharded by the key's first two
// characters, and names them by URLPrefix + key.
type Local struct {
	Dir       string
	URLPrefix string
}

// NewLocal returns a store under dir (created on first write) whose URLs are
// urlPrefix + key.
func NewLocal(dir, urlPrefix string) *Local { return &Local{Dir: dir, URLPrefix: urlPrefix} }

func (l *Local) path(key string) (string, error) {
	if !ValidKey(key) {
		return "", fmt.Errorf("objstore: invalid key %q", key)
	}
	return filepath.Join(l.Dir, key[:2], key), nil
}

// Put writes r under key: to a temporary file first, renamed into place once
// complete, so a reader never sees half a file.
func (l *Local) Put(ctx context.Context, key, contentType string, r io.Reader) error {
	p, err := l.path(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		return fmt.Errorf("objstore: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".upload-*")
	if err != nil {
		return fmt.Errorf("objstore: %w", err)
	}
	tmp := f.Name()
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = ctx.Err()
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("objstore: write %s: %w", key, err)
	}
	return nil
}

// Open returns the object's content and size, or ErrNotFound.
func (l *Local) Open(ctx context.Context, key string) (io.ReadSeekCloser, int64, error) {
	p, err := l.path(key)
	if err != nil {
		return nil, 0, ErrNotFound
	}
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, ErrNotFound
	}
	if err != nil {
		return nil, 0, fmt.Errorf("objstore: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("objstore: %w", err)
	}
	return f, st.Size(), nil
}

// URL returns where clients fetch key.
func (l *Local) URL(key string) string { return l.URLPrefix + key }

// Delete removes key's file; a missing file is not an error.
func (l *Local) Delete(ctx context.Context, key string) error {
	p, err := l.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("objstore: %w", err)
	}
	return nil
}

// Check writes and removes a small probe file under Dir: it fails when the
// directory cannot take writes (read-only, full, gone), which /readyz
// reports.
func (l *Local) Check(ctx context.Context) error {
	if err := os.MkdirAll(l.Dir, 0o750); err != nil {
		return fmt.Errorf("objstore: %w", err)
	}
	f, err := os.CreateTemp(l.Dir, ".ready-*")
	if err != nil {
		return fmt.Errorf("objstore: %w", err)
	}
	_, err = f.Write([]byte("ok"))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if rerr := os.Remove(f.Name()); err == nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("objstore: %w", err)
	}
	return ctx.Err()
}
