package service

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// Tokens are random strings in Redis that name the state of something kept
// in process on every instance (the org tree, the activities lists' first
// pages): a change sets a new token after its commit, and a copy is used
// only under the token it was read at.

// renewTokens sets a new random token under each key, in one round trip;
// callers run it after their change commits. It returns Redis's error, if
// any.
func (d Deps) renewTokens(keys ...string) error {
	pipe := d.Redis.Pipeline()
	for _, k := range keys {
		pipe.Set(context.Background(), k, randomHex(8), 0)
	}
	_, err := pipe.Exec(context.Background())
	return err
}

// readTokens returns the tokens under keys in one round trip, creating
// those Redis has none of (a new or flushed Redis) so that an absent token
// never stands for a state. It returns Redis's error, if any.
func (d Deps) readTokens(ctx context.Context, keys ...string) ([]string, error) {
	vals, err := d.Redis.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, err
	}
	pipe := d.Redis.Pipeline()
	for i, v := range vals {
		if v == nil {
			pipe.SetNX(ctx, keys[i], randomHex(8), 0)
		}
	}
	if pipe.Len() > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, err
		}
		if vals, err = d.Redis.MGet(ctx, keys...).Result(); err != nil {
			return nil, err
		}
	}
	out := make([]string, len(vals))
	for i, v := range vals {
		s, ok := v.(string)
		if !ok {
			return nil, redis.Nil // deleted between the SETNX and the read
		}
		out[i] = s
	}
	return out, nil
}
