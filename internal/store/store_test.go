package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"linli/config"
	"linli/internal/store"
)

// TestEmbeddedRedisTakesLongPipelines sends one pipeline of many commands to
// the in-process Redis. Over a synchronous pipe the server could not answer
// while the client was still writing, and the pipeline stalled until the
// write timeout.
func TestEmbeddedRedisTakesLongPipelines(t *testing.T) {
	cfg, err := config.LoadFromEnviron("", nil, map[string]any{"dev": true, "data.dir": t.TempDir(), "redis.write_timeout": "2s", "redis.read_timeout": "2s"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := store.OpenRedis(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Embedded == nil {
		t.Fatal("empty redis.addr did not start the in-process Redis")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pipe := r.Client.Pipeline()
	for i := range 5000 {
		pipe.ZAdd(ctx, "board", redisZ(float64(i), i))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatalf("pipeline of 5000 commands: %v", err)
	}
	if n, err := r.Client.ZCard(ctx, "board").Result(); err != nil || n != 5000 {
		t.Fatalf("zcard = %d, %v", n, err)
	}
}

func redisZ(score float64, member int) redis.Z { return redis.Z{Score: score, Member: member} }
