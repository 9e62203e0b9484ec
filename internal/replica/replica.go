// Package replica routes the reads that tolerate lag to MySQL/MariaDB read
// replicas through gorm's dbresolver plugin, and only those.
//
// dbresolver's usual set-up (a global resolver) sends every SELECT outside a
// transaction to a replica. linli must not do that: a read right after the
// caller's own write, the session and caller checks, and the reads that
// decide a rule must see the primary. So Attach registers one *named*
// resolver (Name) and nothing global: a statement goes to a replica only
// when it is marked with Lagging (dbresolver.Use(Name)); every other
// statement, and every statement inside a transaction, stays on the primary.
//
// A replica that is down costs little: each replica is a Pool that answers a
// failed read from the primary, and marks itself down on a connection error.
// A down replica is tried again by one read once Retry has passed (the
// others keep going to the primary); a dial is bounded by the replica DSN's
// timeout (Timeout unless the DSN sets one). So a dead replica costs at most
// one read per Retry per replica one dial attempt, and every read is still
// answered.
package replica

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
	gormmysql "gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/plugin/dbresolver"
)

// Name is the dbresolver name of the lag-tolerant reads.
const Name = "lagging"

// Options tunes the replicas.
type Options struct {
	// Timeout bounds dialling a replica when its DSN sets no timeout.
	Timeout time.Duration
	// Retry is how long a replica that failed is left alone before one
	// read tries it again.
	Retry time.Duration
	// MaxOpenConns and MaxIdleConns size each replica's pool.
	MaxOpenConns, MaxIdleConns int
	ConnMaxLifetime            time.Duration
}

// Attach registers the replicas (DSNs already carrying linli's required
// parameters) on db as the named resolver Name. It opens no connection: a
// replica that is down at start is found on its first read. It returns the
// pools (Close closes them) or an error for a DSN that does not parse.
func Attach(db *gorm.DB, dsns []string, o Options) ([]*Pool, error) {
	if len(dsns) == 0 {
		return nil, nil
	}
	pools := make([]*Pool, 0, len(dsns))
	dialectors := make([]gorm.Dialector, 0, len(dsns))
	for i, dsn := range dsns {
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			return nil, fmt.Errorf("database.replicas: entry %d: %w", i+1, err)
		}
		if cfg.Timeout == 0 {
			cfg.Timeout = o.Timeout
		}
		conn, err := sql.Open("mysql", cfg.FormatDSN())
		if err != nil {
			return nil, fmt.Errorf("database.replicas: entry %d: %w", i+1, err)
		}
		conn.SetMaxOpenConns(o.MaxOpenConns)
		conn.SetMaxIdleConns(o.MaxIdleConns)
		conn.SetConnMaxLifetime(o.ConnMaxLifetime)
		p := &Pool{Addr: cfg.Addr, replica: conn, primary: db.ConnPool, retry: o.Retry}
		pools = append(pools, p)
		// The dialector uses the pool as its connection and asks the server
		// nothing at start (replicas only read; the DDL quirks that the
		// version selects do not matter).
		dialectors = append(dialectors, gormmysql.New(gormmysql.Config{Conn: p, SkipInitializeWithVersion: true}))
	}
	resolver := dbresolver.Register(dbresolver.Config{Replicas: dialectors, Policy: healthyFirst{}}, Name)
	if err := db.Use(resolver); err != nil {
		for _, p := range pools {
			_ = p.Close()
		}
		return nil, fmt.Errorf("database.replicas: %w", err)
	}
	if err := db.Use(registry{pools}); err != nil {
		return nil, fmt.Errorf("database.replicas: %w", err)
	}
	return pools, nil
}

// registry keeps the pools of a *gorm.DB with it, so Pools and Close find
// them.
type registry struct{ pools []*Pool }

func (registry) Name() string                 { return "linli:replicas" }
func (registry) Initialize(db *gorm.DB) error { return nil }

// Pools returns the replica pools attached to db (none when no replica is
// configured).
func Pools(db *gorm.DB) []*Pool {
	if r, ok := db.Config.Plugins[registry{}.Name()].(registry); ok {
		return r.pools
	}
	return nil
}

// Close closes the replica pools attached to db (the primary stays open).
func Close(db *gorm.DB) {
	for _, p := range Pools(db) {
		_ = p.Close()
	}
}

// Lagging returns db (already bound to its context) marked so that its reads
// go to a replica when replicas are configured, and to the primary when not.
// Use it only for reads that tolerate lag, never for a transaction's handle.
func Lagging(db *gorm.DB) *gorm.DB {
	if _, ok := db.Config.Plugins["gorm:db_resolver"]; !ok {
		return db
	}
	// Session makes the marked handle safe to start many statements from.
	return db.Clauses(dbresolver.Use(Name)).Session(&gorm.Session{})
}

// healthyFirst picks a random replica that is not marked down, or a random
// one when all are (each answers from the primary then).
type healthyFirst struct{}

func (healthyFirst) Resolve(pools []gorm.ConnPool) gorm.ConnPool {
	start := rand.IntN(len(pools))
	for i := range pools {
		if p, ok := pools[(start+i)%len(pools)].(*Pool); ok && !p.down.Load() {
			return p
		}
	}
	return pools[start]
}

// Pool is one replica's connection pool: a gorm.ConnPool that answers from
// the primary when the replica fails.
type Pool struct {
	// Addr is the replica's host:port (for logs; no credentials).
	Addr    string
	replica *sql.DB
	primary gorm.ConnPool
	retry   time.Duration
	down    atomic.Bool
	// downSince is when the replica was last marked down (UnixNano); a read
	// that swaps it forward owns the next try.
	downSince atomic.Int64
	// Fallbacks counts the reads answered by the primary instead.
	Fallbacks atomic.Int64
}

// Down reports whether the replica is marked down.
func (p *Pool) Down() bool { return p.down.Load() }

// Close closes the replica's connections.
func (p *Pool) Close() error { return p.replica.Close() }

// useReplica reports whether this read should try the replica: yes when it
// is up, and for one read per retry period when it is down.
func (p *Pool) useReplica() bool {
	if !p.down.Load() {
		return true
	}
	since := p.downSince.Load()
	now := time.Now().UnixNano()
	return now-since >= int64(p.retry) && p.downSince.CompareAndSwap(since, now)
}

// failed decides what a replica error means: for a connection error the
// replica is marked down. It returns whether the read is to be answered by
// the primary: for any error but the caller's context ending (a statement
// the replica rejects, e.g. a schema behind the primary's, is tried on the
// primary too).
func (p *Pool) failed(ctx context.Context, err error) bool {
	if err == nil {
		p.down.Store(false)
		return false
	}
	if ctx.Err() != nil {
		return false
	}
	if unreachable(err) {
		p.downSince.Store(time.Now().UnixNano())
		p.down.Store(true)
	}
	p.Fallbacks.Add(1)
	return true
}

// unreachable reports whether err says the replica could not be reached or
// could not serve: refused, reset or broken connections, timeouts, a server
// refusing work (too many connections, shutting down, access denied).
func unreachable(err error) bool {
	var ne net.Error
	var me *mysql.MySQLError
	switch {
	case errors.As(err, &ne), errors.Is(err, driver.ErrBadConn), errors.Is(err, mysql.ErrInvalidConn),
		errors.Is(err, sql.ErrConnDone), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET):
		return true
	case errors.As(err, &me):
		switch me.Number {
		case 1040, 1045, 1049, 1053, 1129, 1130, 1203:
			return true
		}
	}
	return false
}

// QueryContext runs a read on the replica, or on the primary when the
// replica is down or fails.
func (p *Pool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if p.useReplica() {
		rows, err := p.replica.QueryContext(ctx, query, args...)
		if !p.failed(ctx, err) {
			return rows, err
		}
	} else {
		p.Fallbacks.Add(1)
	}
	return p.primary.QueryContext(ctx, query, args...)
}

// QueryRowContext is QueryContext for one row.
func (p *Pool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if p.useReplica() {
		row := p.replica.QueryRowContext(ctx, query, args...)
		if err := row.Err(); !p.failed(ctx, err) {
			return row
		}
	} else {
		p.Fallbacks.Add(1)
	}
	return p.primary.QueryRowContext(ctx, query, args...)
}

// ExecContext runs a statement on the primary: a replica never writes
// (dbresolver sends only reads here; this is a safety net).
func (p *Pool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return p.primary.ExecContext(ctx, query, args...)
}

// PrepareContext prepares on the primary (linli does not prepare
// statements; interpolateParams is on).
func (p *Pool) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return p.primary.PrepareContext(ctx, query)
}
