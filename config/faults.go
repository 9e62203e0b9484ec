package config

import "time"

// S3Config reaches an S3-compatible bucket (MinIO, or a cloud's
// S3-compatible endpoint) for upload.store = s3.
type S3Config struct {
	// Endpoint is host[:port], without a scheme.
	Endpoint  string `koanf:"endpoint"`
	Bucket    string `koanf:"bucket"`
	Region    string `koanf:"region"`
	AccessKey string `koanf:"access_key"`
	SecretKey string `koanf:"secret_key"`
	// UseSSL speaks https to the endpoint.
	UseSSL bool `koanf:"use_ssl"`
}

// Upload stores.
const (
	UploadStoreLocal = "local"
	UploadStoreS3    = "s3"
)

// validateFaults checks the keys that bound how linli waits for and falls
// back from its dependencies: the request deadline, Redis retries and
// budget, the upload store.
func (c *Config) validateFaults(bad func(key, why string) error) error {
	switch {
	case c.HTTP.RequestTimeout < 100*time.Millisecond:
		return bad("http.request_timeout", "must be at least 100ms")
	case c.HTTP.RequestTimeout >= c.HTTP.WriteTimeout:
		return bad("http.request_timeout", "must be shorter than http.write_timeout, or answers past the deadline are lost")
	case c.Redis.MaxRetries < 0 || c.Redis.MaxRetries > 10:
		return bad("redis.max_retries", "must be between 0 and 10")
	case c.Redis.MinRetryBackoff < 0 || c.Redis.MaxRetryBackoff < c.Redis.MinRetryBackoff:
		return bad("redis.max_retry_backoff", "must not be negative nor below redis.min_retry_backoff")
	case c.Redis.DialRetries < 1 || c.Redis.DialRetries > 10:
		return bad("redis.dial_retries", "must be between 1 and 10")
	case c.Redis.Budget < 10*time.Millisecond || c.Redis.Budget > c.HTTP.RequestTimeout:
		return bad("redis.budget", "must be at least 10ms and at most http.request_timeout")
	case c.TimeBank.LeaderboardCheckInterval < 0:
		return bad("timebank.leaderboard_check_interval", "must not be negative (0 disables)")
	}
	switch c.Upload.Store {
	case UploadStoreLocal:
	case UploadStoreS3:
		s := c.Upload.S3
		if s.Endpoint == "" || s.Bucket == "" || s.AccessKey == "" || s.SecretKey == "" {
			return bad("upload.s3.endpoint", "upload.s3.endpoint, bucket, access_key and secret_key are required when upload.store is s3")
		}
	default:
		return bad("upload.store", "must be local or s3")
	}
	return nil
}
