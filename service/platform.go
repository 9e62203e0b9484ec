package service

import (
	"context"
	"time"
)

// Ready pings the database and Redis and checks that the upload store
// takes writes, and returns the names of the stores that did not answer
// within two seconds or failed ("database", "redis", "uploads"); none
// means ready.
func (s *Service) Ready(ctx context.Context) []string {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var down []string
	if sqlDB, err := s.deps.DB.DB(); err != nil || sqlDB.PingContext(ctx) != nil {
		down = append(down, "database")
	}
	if err := s.deps.Redis.Ping(ctx).Err(); err != nil {
		down = append(down, "redis")
	}
	if c, ok := s.deps.Objects.(interface{ Check(context.Context) error }); ok && c.Check(ctx) != nil {
		down = append(down, "uploads")
	}
	return down
}
