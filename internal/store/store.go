// Package store opens linli's database and Redis from the configuration:
// the embedded pair (SQLite file + in-process miniredis) by default, or
// MySQL/MariaDB and a real Redis (single, cluster or sentinel).
package store

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/glebarez/sqlite"
	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"
	"gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"linli/config"
	"linli/internal/replica"
)

// SQLiteDSN returns the DSN of linli's SQLite file at path: WAL (readers do
// not wait for the writer), a busy timeout (a writer waits up to 5 s for the
// lock instead of failing), foreign keys, and immediate transactions (every
// transaction takes the write lock at BEGIN, so two transactions never
// deadlock upgrading a read lock; they run one after another).
func SQLiteDSN(path string) string {
	return path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_txlock=immediate"
}

// MySQLParams are the DSN parameters linli needs; MySQLDSN adds missing ones.
// interpolateParams makes every statement one round trip instead of three
// (prepare, execute, close): the driver quotes the arguments itself, for the
// utf8mb4 connection charset and the server's backslash-escape mode (see
// TestHostileStringsStayInert). multiStatements lets a transaction send the
// rows it only appends in one round trip (service/pipeline.go); linli never
// builds SQL text from input, so a quoted argument cannot end a statement
// and start another either way. An operator's explicit value is kept.
const MySQLParams = "parseTime=true&loc=Local&charset=utf8mb4&clientFoundRows=true&interpolateParams=true&multiStatements=true"

// Pipelines reports whether db may send several statements in one round
// trip: MySQL/MariaDB with multiStatements and interpolateParams both on
// (a prepared statement holds one statement only). It is false for SQLite,
// where a statement costs no round trip, and for a DSN it cannot parse.
func Pipelines(db *gorm.DB) bool {
	d, ok := db.Dialector.(*mysql.Dialector)
	if !ok || d.Config == nil {
		return false
	}
	cfg := d.Config.DSNConfig
	if cfg == nil {
		var err error
		if cfg, err = mysqldrv.ParseDSN(d.Config.DSN); err != nil {
			return false
		}
	}
	return cfg.MultiStatements && cfg.InterpolateParams
}

// MySQLDSN adds linli's required parameters to a DSN that lacks them.
func MySQLDSN(dsn string) string {
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	for _, p := range strings.Split(MySQLParams, "&") {
		name, _, _ := strings.Cut(p, "=")
		if !strings.Contains(dsn, name+"=") {
			dsn += sep + p
			sep = "&"
		}
	}
	return dsn
}

// OpenDB opens the configured database with pool limits and gorm's
// TranslateError on, and attaches the read replicas of database.replicas for
// the reads marked lag-tolerant (replica.Lagging; replica.Close closes
// them). It returns a description of the store for the start-up
// log, or an error naming what failed.
func OpenDB(cfg *config.Config, log *slog.Logger) (*gorm.DB, string, error) {
	gcfg := &gorm.Config{
		TranslateError: true,
		Logger: logger.NewSlogLogger(log, logger.Config{
			SlowThreshold:             cfg.Database.SlowThreshold,
			LogLevel:                  logger.Warn,
			IgnoreRecordNotFoundError: true,
			ParameterizedQueries:      true, // never log values: they may be phones or names
		}),
	}
	var (
		db   *gorm.DB
		desc string
		err  error
	)
	switch cfg.Database.Driver {
	case "mysql":
		db, err = gorm.Open(mysql.Open(MySQLDSN(cfg.Database.DSN)), gcfg)
		desc = "MySQL/MariaDB"
	default:
		if err := os.MkdirAll(cfg.Data.Dir, 0o750); err != nil {
			return nil, "", fmt.Errorf("create data dir %s: %w", cfg.Data.Dir, err)
		}
		path := filepath.Join(cfg.Data.Dir, "linli.db")
		db, err = gorm.Open(sqlite.Open(SQLiteDSN(path)), gcfg)
		desc = "SQLite file " + path
	}
	if err != nil {
		return nil, "", fmt.Errorf("open database (%s): %w", desc, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, "", err
	}
	sqlDB.SetMaxOpenConns(cfg.Database.MaxOpenConns)
	sqlDB.SetMaxIdleConns(cfg.Database.MaxIdleConns)
	sqlDB.SetConnMaxLifetime(cfg.Database.ConnMaxLifetime)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sqlDB.PingContext(ctx); err != nil {
		return nil, "", fmt.Errorf("reach database (%s): %w", desc, err)
	}
	if dsns := cfg.Database.ReplicaDSNs(); len(dsns) > 0 {
		for i := range dsns {
			dsns[i] = MySQLDSN(dsns[i])
		}
		pools, err := replica.Attach(db, dsns, replica.Options{
			Timeout: cfg.Database.ReplicaTimeout, Retry: cfg.Database.ReplicaRetry,
			MaxOpenConns: cfg.Database.MaxOpenConns, MaxIdleConns: cfg.Database.MaxIdleConns,
			ConnMaxLifetime: cfg.Database.ConnMaxLifetime,
		})
		if err != nil {
			_ = sqlDB.Close()
			return nil, "", err
		}
		addrs := make([]string, len(pools))
		for i, p := range pools {
			addrs[i] = p.Addr
		}
		desc += fmt.Sprintf(" with %d read replica(s) %s for lag-tolerant reads", len(pools), strings.Join(addrs, ", "))
	}
	return db, desc, nil
}

// retries maps redis.max_retries to go-redis, where 0 means its default (3)
// and -1 none.
func retries(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// Redis is an open Redis client and what to close when done.
type Redis struct {
	Client redis.UniversalClient
	// Embedded is the in-process server when no address was configured.
	Embedded *miniredis.Miniredis
	Desc     string
}

// Close closes the client and the embedded server, if any.
func (r *Redis) Close() error {
	err := r.Client.Close()
	if r.Embedded != nil {
		r.Embedded.Close()
	}
	return err
}

// RedisOptions returns the client options of rc (without addresses): its
// timeouts, retries and pool, and commands that stop at their context's
// deadline.
func RedisOptions(rc config.RedisConfig) *redis.UniversalOptions {
	return &redis.UniversalOptions{
		Username:     rc.Username,
		Password:     rc.Password,
		DB:           rc.DB,
		MasterName:   rc.MasterName,
		PoolSize:     rc.PoolSize,
		DialTimeout:  rc.DialTimeout,
		ReadTimeout:  rc.ReadTimeout,
		WriteTimeout: rc.WriteTimeout,
		// A command gives up at its context's deadline (the request's
		// redis.budget) as well as at the timeouts above.
		ContextTimeoutEnabled: true,
		MaxRetries:            retries(rc.MaxRetries),
		MinRetryBackoff:       rc.MinRetryBackoff,
		MaxRetryBackoff:       rc.MaxRetryBackoff,
		DialerRetries:         rc.DialRetries,
	}
}

// OpenRedis connects to the configured Redis, or starts an in-process
// miniredis (with TTLs following the clock) when redis.addr is empty.
func OpenRedis(cfg *config.Config) (*Redis, error) {
	rc := cfg.Redis
	opts := RedisOptions(rc)
	if rc.Addr == "" {
		// The in-process server listens on a loopback port of its own: its
		// Dial (a synchronous net.Pipe) stalls a pipeline of many commands,
		// because the server cannot answer until the client stops writing.
		m := miniredis.NewMiniRedis()
		m.ClockTTL(true)
		if err := m.StartAddr("127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("start in-process redis: %w", err)
		}
		opts.Addrs = []string{m.Addr()}
		return &Redis{Client: redis.NewUniversalClient(opts), Embedded: m,
			Desc: "in-process Redis (sessions and rate limits are forgotten on restart)"}, nil
	}
	opts.Addrs = strings.Split(rc.Addr, ",")
	for i := range opts.Addrs {
		opts.Addrs[i] = strings.TrimSpace(opts.Addrs[i])
	}
	client := redis.NewUniversalClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		return nil, fmt.Errorf("reach redis %s: %w", rc.Addr, err)
	}
	return &Redis{Client: client, Desc: "Redis " + rc.Addr}, nil
}
