package testutil

import (
	"fmt"
	"net"
	"testing"

	mysqldrv "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"linli/internal/store"
	"linli/model"
)

// Replica is a stand-in read replica: a second database on the test MySQL
// server, named after the package's database plus "_replica", with the same
// schema and only the rows a test puts there.
type Replica struct {
	// DSN is the value for database.replicas.
	DSN string
	// DB is an open handle on the replica database; Primary and Name are
	// the two databases' names, for statements that copy rows across.
	DB            *gorm.DB
	Primary, Name string
}

// NewReplica creates the replica database (dropped when the test ends). It
// skips the test on the embedded store, where linli supports no replicas.
func NewReplica(t testing.TB) *Replica {
	t.Helper()
	if process.mysqlDSN == "" {
		t.Skip("read replicas need MySQL/MariaDB (set " + EnvMySQLDSN + "); the embedded SQLite store has none")
	}
	cfg, err := mysqldrv.ParseDSN(process.mysqlDSN)
	if err != nil {
		t.Fatal(err)
	}
	primary := cfg.DBName
	cfg.DBName = ""
	admin, err := gormOpenMySQL(cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	name := primary + "_replica"
	if err := admin.Exec("CREATE DATABASE `" + name + "` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci").Error; err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = admin.Exec("DROP DATABASE IF EXISTS `" + name + "`").Error
		if sqlDB, err := admin.DB(); err == nil {
			sqlDB.Close()
		}
	})
	cfg.DBName = name
	dsn := cfg.FormatDSN()
	db, err := gormOpenMySQL(dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if sqlDB, err := db.DB(); err == nil {
			sqlDB.Close()
		}
	})
	if err := model.Migrate(db); err != nil {
		t.Fatalf("migrate %s: %v", name, err)
	}
	return &Replica{DSN: store.MySQLDSN(dsn), DB: db, Primary: primary, Name: name}
}

// DeadReplicaDSN returns a replica DSN on the test MySQL server's user whose
// address is a closed loopback port: every dial is refused. It skips the
// test on the embedded store.
func DeadReplicaDSN(t testing.TB) string {
	t.Helper()
	if process.mysqlDSN == "" {
		t.Skip("read replicas need MySQL/MariaDB (set " + EnvMySQLDSN + "); the embedded SQLite store has none")
	}
	cfg, err := mysqldrv.ParseDSN(process.mysqlDSN)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Addr = l.Addr().String()
	l.Close()
	return store.MySQLDSN(cfg.FormatDSN())
}

// CopyToReplica copies the rows of table whose ids are given from the
// primary database into the replica.
func (r *Replica) CopyToReplica(t testing.TB, table string, ids ...int64) {
	t.Helper()
	q := fmt.Sprintf("INSERT INTO `%s`.`%s` SELECT * FROM `%s`.`%s` WHERE id IN ?", r.Name, table, r.Primary, table)
	if err := r.DB.Exec(q, ids).Error; err != nil {
		t.Fatalf("copy %s to the replica: %v", table, err)
	}
}
