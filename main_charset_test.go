package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"

	mysqldrv "github.com/go-sql-driver/mysql"
	"gorm.io/driver/mysql"
	"gorm.io/gorm"

	"linli/internal/store"
)

// TestLatin1DatabaseServes: on a MySQL/MariaDB database created with
// CHARACTER SET latin1 (a server's default), linli creates its tables in
// utf8mb4 and seeds the demo, whose Chinese text is compared in queries;
// a database holding a linli table in latin1 is refused with a message
// naming it. Runs when LINLI_TEST_MYSQL_DSN is set.
func TestLatin1DatabaseServes(t *testing.T) {
	dsn := os.Getenv("LINLI_TEST_MYSQL_DSN")
	if dsn == "" {
		t.Skip("LINLI_TEST_MYSQL_DSN not set")
	}
	base, err := mysqldrv.ParseDSN(store.MySQLDSN(dsn))
	if err != nil {
		t.Fatal(err)
	}
	base.DBName = ""
	admin, err := gorm.Open(mysql.Open(base.FormatDSN()), &gorm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if sqlDB, err := admin.DB(); err == nil {
			sqlDB.Close()
		}
	})
	latin1 := func(suffix string) string {
		name := fmt.Sprintf("linli_t_latin1_%d_%s", os.Getpid(), suffix)
		if err := admin.Exec("CREATE DATABASE `" + name + "` CHARACTER SET latin1 COLLATE latin1_swedish_ci").Error; err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { admin.Exec("DROP DATABASE IF EXISTS `" + name + "`") })
		cfg := *base
		cfg.DBName = name
		return cfg.FormatDSN()
	}
	t.Setenv("LINLI_DATA_DIR", t.TempDir())
	t.Setenv("LINLI_REDIS_ADDR", "")
	t.Setenv("LINLI_LOG_LEVEL", "error")
	t.Setenv("LINLI_DATABASE_DRIVER", "mysql")
	t.Setenv("LINLI_DATABASE_DSN", latin1("fresh"))
	cfg, err := loadConfig("", true)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := open(cfg, log)
	if err != nil {
		t.Fatalf("open on a latin1 database: %v", err)
	}
	defer a.close()
	if err := seedDemo(context.Background(), cfg, a.svc, log); err != nil {
		t.Fatalf("seed on a latin1 database: %v", err)
	}
	var odd int64
	a.db.Raw(`SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_COLLATION NOT LIKE 'utf8mb4%'`).Scan(&odd)
	if odd != 0 {
		t.Fatalf("%d tables are not utf8mb4", odd)
	}

	old := latin1("old")
	olddb, err := gorm.Open(mysql.Open(old), &gorm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	err = olddb.Exec("CREATE TABLE users (id BIGINT PRIMARY KEY, nickname VARCHAR(64))").Error
	if sqlDB, _ := olddb.DB(); sqlDB != nil {
		sqlDB.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	cfg.Database.DSN = old
	if _, err := open(cfg, log); err == nil || !strings.Contains(err.Error(), "users (latin1") || !strings.Contains(err.Error(), "utf8mb4") {
		t.Fatalf("open with a latin1 users table: %v", err)
	}
}
