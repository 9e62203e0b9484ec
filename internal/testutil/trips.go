package testutil

import (
	"context"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
	"gorm.io/gorm"
)

// Trips is what a piece of work cost in round trips to the stores: SQL
// statements sent to the database (a transaction's BEGIN and COMMIT are not
// counted) and Redis round trips (a pipeline or a MULTI block is one).
type Trips struct {
	SQL, Redis int
	// Statements are the SQL statements in the order they were sent, and
	// Commands the Redis commands (a pipeline's joined by " | "), for the
	// message of a test that fails.
	Statements, Commands []string
}

// tripCounter records round trips while a Trips call is running.
type tripCounter struct {
	once sync.Once
	mu   sync.Mutex
	on   bool
	got  Trips
}

// Trips runs fn and counts the statements and Redis round trips of every
// instance of the harness meanwhile (the instances share the stores). Only
// one Trips may run at a time; background work of the harness is counted
// too, so fn should be the only thing running.
func (h *Harness) Trips(fn func()) Trips {
	h.T.Helper()
	c := &h.trips
	c.once.Do(func() { h.installTripHooks(c) })
	c.mu.Lock()
	c.on, c.got = true, Trips{}
	c.mu.Unlock()
	fn()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.on = false
	return c.got
}

func (c *tripCounter) sql(stmt string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.on {
		c.got.SQL++
		c.got.Statements = append(c.got.Statements, stmt)
	}
}

func (c *tripCounter) redis(cmds ...redis.Cmder) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.on {
		return
	}
	names := make([]string, len(cmds))
	for i, cmd := range cmds {
		names[i] = cmd.Name()
	}
	c.got.Redis++
	c.got.Commands = append(c.got.Commands, strings.Join(names, " | "))
}

// installTripHooks registers a gorm callback after each kind of statement
// and a go-redis hook on the harness's client.
func (h *Harness) installTripHooks(c *tripCounter) {
	after := func(db *gorm.DB) {
		if !db.DryRun { // a subquery being built is not sent
			c.sql(db.Statement.SQL.String())
		}
	}
	cb := h.DB.Callback()
	for name, err := range map[string]error{
		"create": cb.Create().After("gorm:create").Register("testutil:trips", after),
		"query":  cb.Query().After("gorm:query").Register("testutil:trips", after),
		"update": cb.Update().After("gorm:update").Register("testutil:trips", after),
		"delete": cb.Delete().After("gorm:delete").Register("testutil:trips", after),
		"row":    cb.Row().After("gorm:row").Register("testutil:trips", after),
		"raw":    cb.Raw().After("gorm:raw").Register("testutil:trips", after),
	} {
		if err != nil {
			h.T.Fatalf("testutil: count %s statements: %v", name, err)
		}
	}
	h.Redis.AddHook(tripHook{c})
}

// tripHook counts Redis round trips.
type tripHook struct{ c *tripCounter }

func (tripHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (t tripHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		t.c.redis(cmd)
		return next(ctx, cmd)
	}
}

func (t tripHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		t.c.redis(cmds...)
		return next(ctx, cmds)
	}
}
