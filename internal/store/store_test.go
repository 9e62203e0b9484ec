package store_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
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

// TestHostileStringsStayInert stores strings that would break out of a
// quoted literal if the arguments were spliced carelessly, through the same
// DSN the server uses (on MySQL: client-side interpolation), and reads each
// back unchanged, with the table and its neighbours intact. It runs on
// SQLite, and on MySQL/MariaDB too when LINLI_TEST_MYSQL_DSN is set.
func TestHostileStringsStayInert(t *testing.T) {
	over := map[string]any{"dev": true, "data.dir": t.TempDir()}
	if dsn := os.Getenv("LINLI_TEST_MYSQL_DSN"); dsn != "" {
		cfg, err := mysqldrv.ParseDSN(store.MySQLDSN(dsn))
		if err != nil {
			t.Fatal(err)
		}
		if !cfg.InterpolateParams {
			t.Fatal("MySQLDSN did not turn on interpolateParams")
		}
		if cfg.DBName == "" {
			cfg.DBName = "test"
		}
		over["database.driver"], over["database.dsn"] = "mysql", cfg.FormatDSN()
	}
	cfg, err := config.LoadFromEnviron("", nil, over)
	if err != nil {
		t.Fatal(err)
	}
	db, _, err := store.OpenDB(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Skipf("database not reachable: %v", err)
	}
	table := fmt.Sprintf("hostile_%d", time.Now().UnixNano())
	if err := db.Exec("CREATE TABLE " + table + " (id INT PRIMARY KEY, s VARCHAR(255))").Error; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Exec("DROP TABLE " + table) })
	hostile := []string{
		`'; DROP TABLE ` + table + `; --`,
		`\'; DELETE FROM ` + table + `; #`,
		`\\' OR '1'='1`,
		"\x00\n\r\x1a\"`",
		`%_\%\_`,
		"张三' /* 注释 */ 😀",
		`\`,
	}
	for i, s := range hostile {
		if err := db.Exec("INSERT INTO "+table+" (id, s) VALUES (?, ?)", i+1, s).Error; err != nil {
			t.Fatalf("insert %q: %v", s, err)
		}
	}
	for i, s := range hostile {
		var got []string
		if err := db.Raw("SELECT s FROM "+table+" WHERE s = ?", s).Scan(&got).Error; err != nil {
			t.Fatalf("select %q: %v", s, err)
		}
		if len(got) != 1 || got[0] != s {
			t.Errorf("string %d: stored %q, read back %q", i, s, got)
		}
	}
	var n int64
	if err := db.Raw("SELECT COUNT(*) FROM " + table).Scan(&n).Error; err != nil || n != int64(len(hostile)) {
		t.Fatalf("rows = %d, %v; want %d", n, err, len(hostile))
	}
}
