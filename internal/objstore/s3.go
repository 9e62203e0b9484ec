package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3 stores objects in an S3-compatible bucket (MinIO, or a cloud's
// S3-compatible endpoint) that every instance shares; files are still
// served through linli's own file route (URLPrefix + key), so private
// photos keep their signed URLs.
type S3 struct {
	client    *minio.Client
	bucket    string
	URLPrefix string
}

// S3Options reach one bucket.
type S3Options struct {
	// Endpoint is host[:port] without a scheme.
	Endpoint, Region, Bucket string
	AccessKey, SecretKey     string
	UseSSL                   bool
}

// NewS3 returns a store over the bucket of o whose URLs are urlPrefix +
// key. It does not contact the endpoint (see Check).
func NewS3(o S3Options, urlPrefix string) (*S3, error) {
	c, err := minio.New(o.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(o.AccessKey, o.SecretKey, ""),
		Secure: o.UseSSL,
		Region: o.Region,
	})
	if err != nil {
		return nil, fmt.Errorf("objstore: s3 endpoint %s: %w", o.Endpoint, err)
	}
	return &S3{client: c, bucket: o.Bucket, URLPrefix: urlPrefix}, nil
}

// Put uploads r under key. A reader that knows its length (bytes.Reader)
// is sent in one request.
func (s *S3) Put(ctx context.Context, key, contentType string, r io.Reader) error {
	if !ValidKey(key) {
		return fmt.Errorf("objstore: invalid key %q", key)
	}
	size := int64(-1)
	if l, ok := r.(interface{ Len() int }); ok {
		size = int64(l.Len())
	}
	_, err := s.client.PutObject(ctx, s.bucket, key, r, size, minio.PutObjectOptions{ContentType: contentType})
	if err != nil {
		return fmt.Errorf("objstore: put %s: %w", key, err)
	}
	return nil
}

// Open returns the object's content and size, or ErrNotFound.
func (s *S3) Open(ctx context.Context, key string) (io.ReadSeekCloser, int64, error) {
	if !ValidKey(key) {
		return nil, 0, ErrNotFound
	}
	obj, err := s.client.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, 0, fmt.Errorf("objstore: get %s: %w", key, err)
	}
	st, err := obj.Stat()
	if err != nil {
		obj.Close()
		if minio.ToErrorResponse(err).Code == "NoSuchKey" {
			return nil, 0, ErrNotFound
		}
		return nil, 0, fmt.Errorf("objstore: stat %s: %w", key, err)
	}
	return obj, st.Size, nil
}

// URL returns where clients fetch key.
func (s *S3) URL(key string) string { return s.URLPrefix + key }

// Delete removes key; a missing key is not an error.
func (s *S3) Delete(ctx context.Context, key string) error {
	if !ValidKey(key) {
		return fmt.Errorf("objstore: invalid key %q", key)
	}
	if err := s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}); err != nil &&
		minio.ToErrorResponse(err).Code != "NoSuchKey" {
		return fmt.Errorf("objstore: delete %s: %w", key, err)
	}
	return nil
}

// Check fails when the bucket cannot be reached or does not exist; /readyz
// reports it.
func (s *S3) Check(ctx context.Context) error {
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("objstore: s3: %w", err)
	}
	if !ok {
		return errors.New("objstore: s3 bucket " + s.bucket + " does not exist")
	}
	return nil
}
