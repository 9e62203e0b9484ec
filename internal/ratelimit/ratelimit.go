// Package ratelimit limits request rates with GCRA counters in Redis
// (redis_rate), so a limit holds across every instance sharing the Redis.
package ratelimit

import (
	"context"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// Limiter checks per-key rates.
type Limiter struct {
	l      *redis_rate.Limiter
	prefix string
}

// New returns a limiter whose keys start with prefix.
func New(rdb redis.UniversalClient, prefix string) *Limiter {
	return &Limiter{l: redis_rate.NewLimiter(rdb), prefix: prefix}
}

// Allow takes one request from key's budget of perMinute. It returns whether
// the request may go on and, when not, how long to wait. A non-positive
// perMinute always allows. An error means Redis could not be asked; the caller
// decides whether to let the request through.
func (r *Limiter) Allow(ctx context.Context, key string, perMinute int) (bool, time.Duration, error) {
	if perMinute <= 0 {
		return true, 0, nil
	}
	res, err := r.l.Allow(ctx, r.prefix+key, redis_rate.PerMinute(perMinute))
	if err != nil {
		return true, 0, err
	}
	if res.Allowed > 0 {
		return true, 0, nil
	}
	wait := res.RetryAfter
	if wait < time.Second {
		wait = time.Second
	}
	return false, wait, nil
}
