package testutil

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"gorm.io/driver/mysql"
	"gorm.io/gorm"

	"linli/internal/store"
	"linli/service"
)

// WithObjectStore makes every instance of the harness keep uploads in s.
func WithObjectStore(s service.ObjectStore) Option {
	return func(o *options) { o.objects = s }
}

// freePort returns a loopback address nothing listens on.
func (h *Harness) freePort() string {
	h.T.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		h.T.Fatalf("testutil: find a free port: %v", err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// StopDB makes the database unreachable for h.Svc and h.Router: they are
// rebuilt over a MySQL client whose address is a closed port (what an
// instance sees when its database server is down), on either store. h.DB
// stays the working database, for the test's own reads; h.Redis is kept.
func (h *Harness) StopDB() {
	h.T.Helper()
	dead, err := gorm.Open(mysql.New(mysql.Config{
		DSN:                       store.MySQLDSN("linli:linli@tcp(" + h.freePort() + ")/linli?timeout=1s"),
		SkipInitializeWithVersion: true,
	}), &gorm.Config{TranslateError: true, Logger: h.DB.Logger, DisableAutomaticPing: true})
	if err != nil {
		h.T.Fatalf("testutil: dead database: %v", err)
	}
	h.T.Cleanup(func() {
		if sqlDB, err := dead.DB(); err == nil {
			sqlDB.Close()
		}
	})
	h.Svc, h.Router = h.instanceOver(dead, h.Redis)
}

// FreezeDB makes every statement of the harness's database block until
// its context ends, as a database process stopped with SIGSTOP does (the
// driver gives up at the context's deadline), until thaw is called.
func (h *Harness) FreezeDB() (thaw func()) {
	h.T.Helper()
	var frozen atomic.Bool
	frozen.Store(true)
	block := func(db *gorm.DB) {
		if frozen.Load() {
			<-db.Statement.Context.Done()
			_ = db.AddError(db.Statement.Context.Err())
		}
	}
	cb := h.DB.Callback()
	name := "testutil:freeze"
	for _, err := range []error{
		cb.Query().Before("gorm:query").Register(name, block),
		cb.Create().Before("gorm:begin_transaction").Register(name, block),
		cb.Update().Before("gorm:begin_transaction").Register(name, block),
		cb.Delete().Before("gorm:begin_transaction").Register(name, block),
		cb.Row().Before("gorm:row").Register(name, block),
		cb.Raw().Before("gorm:raw").Register(name, block),
	} {
		if err != nil {
			h.T.Fatalf("testutil: freeze: %v", err)
		}
	}
	return func() { frozen.Store(false) }
}

// SilenceRedis makes Redis answer nothing for h.Svc and h.Router: they are
// rebuilt over a client with the harness's Redis settings (timeouts,
// retries) whose server accepts connections and never replies, as a Redis
// that is frozen or behind a black-holing network does. h.Redis stays the
// working client.
func (h *Harness) SilenceRedis() {
	h.T.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		h.T.Fatalf("testutil: listen: %v", err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go func() { _, _ = io.Copy(io.Discard, c) }() // read, never answer
		}
	}()
	opts := store.RedisOptions(h.Config.Redis)
	opts.Addrs = []string{l.Addr().String()}
	silent := redis.NewUniversalClient(opts)
	h.T.Cleanup(func() {
		_ = silent.Close()
		_ = l.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.SetDeadline(time.Now())
			_ = c.Close()
		}
		mu.Unlock()
	})
	h.Svc, h.Router = h.instanceOver(h.DB, silent)
}
