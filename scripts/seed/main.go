// Command seed fills a MySQL/MariaDB database with a deterministic,
// realistic linli data set for the load benchmark (scripts/bench):
//
//	go run ./scripts/seed --scale small|district [--dsn DSN]
//
// It drops and recreates the database named in the DSN (it refuses a name
// without "bench" in it unless --force), applies linli's own migrations
// (model.Migrate, as `linli migrate` does) and writes the rows the services
// would have written, with their invariants: activities' signed counts match
// their sign-ups, claimed wishes have their claimer fields and one active
// claim, every approved attendance has its two ledger credits (minutes and
// points, each a balanced pair of entries) and its service record, and every
// account's balance is the sum of its entries (`linli reconcile` reports 0
// mismatches).
//
// district: 1 district, 10 streets, 100 communities (5 grids each),
// 1,000,000 users (5 % approved Party members, 20 % volunteers), 200,000
// wishes in every state, 50,000 activities with 2,000,000 sign-ups, about
// 5,000,000 ledger entries, 10 mall goods per community, 2 departments per
// street and 100,000 cases (with about 300,000 timeline events), all in the
// first street. small: the same org tree and 1 % of every row count.
// --cases overrides the number of cases (e.g. small with 100,000 cases).
//
// Times are offsets from --now (default: the current hour), so claim
// deadlines, expiries and sign-up windows fit the clock of the run; every
// other value comes from the row numbers alone.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"linli/config"
	"linli/internal/store"
	"linli/model"
	"linli/service"
)

// Scale is the size of a data set.
type Scale struct {
	Users, Wishes, Activities, Signups, Entries int
	// Cases are all reported in one street (CaseStreet).
	Cases int
}

// Scales are the data sets by name.
var Scales = map[string]Scale{
	"district": {Users: 1_000_000, Wishes: 200_000, Activities: 50_000, Signups: 2_000_000, Entries: 5_000_000, Cases: 100_000},
	"small":    {Users: 10_000, Wishes: 2_000, Activities: 500, Signups: 20_000, Entries: 50_000, Cases: 1_000},
}

// Org tree: ids are fixed (the database is fresh).
const (
	DistrictID     = 1
	Streets        = 10
	Communities    = 100
	GridsPerComm   = 5
	GoodsPerComm   = 10
	firstStreet    = 2
	firstCommunity = firstStreet + Streets
	firstGrid      = firstCommunity + Communities
)

// CommunityID returns the id of community k (0..99).
func CommunityID(k int) int64 { return int64(firstCommunity + k) }

// StreetOf returns the street id of community k.
func StreetOf(k int) int64 { return int64(firstStreet + k/(Communities/Streets)) }

// HomeOf returns the community index (0..99) of user i.
func HomeOf(i int64) int { return int((i - 1) % Communities) }

// StaffOf returns the user who is staff of community k: user k+1, whose home
// it is. User 1 is also the district admin.
func StaffOf(k int) int64 { return int64(k + 1) }

// mix is a fixed integer hash (the "seed" of the data set).
func mix(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// IsMember reports whether user i is an approved Party member (5 %); the
// first 100 users (staff) never are.
func IsMember(i int64) bool { return i > 100 && mix(uint64(i))%20 == 0 }

// IsVolunteer reports whether user i registered as a volunteer (20 %, every
// Party member among them).
func IsVolunteer(i int64) bool { return IsMember(i) || (i > 100 && mix(uint64(i)+7)%20 < 3) }

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "seed:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	scaleName := fs.String("scale", "small", "small or district")
	dsn := fs.String("dsn", "root@tcp(127.0.0.1:3306)/linli_bench", "MySQL DSN of the database to (re)create")
	force := fs.Bool("force", false, "allow a database name without \"bench\" in it")
	nowFlag := fs.String("now", "", "RFC 3339 time the data is relative to (default: the current hour)")
	batch := fs.Int("batch", 2000, "rows per INSERT")
	cases := fs.Int("cases", -1, "cases to write (in one street); default: the scale's")
	if err := fs.Parse(args); err != nil {
		return err
	}
	sc, ok := Scales[*scaleName]
	if !ok {
		return fmt.Errorf("unknown --scale %q (small or district)", *scaleName)
	}
	if *cases >= 0 {
		sc.Cases = *cases
	}
	now := time.Now().UTC().Truncate(time.Hour)
	if *nowFlag != "" {
		t, err := time.Parse(time.RFC3339, *nowFlag)
		if err != nil {
			return fmt.Errorf("--now: %w", err)
		}
		now = t.UTC()
	}
	cfg, err := mysql.ParseDSN(*dsn)
	if err != nil {
		return fmt.Errorf("--dsn: %w", err)
	}
	if cfg.DBName == "" || (!strings.Contains(cfg.DBName, "bench") && !*force) {
		return fmt.Errorf("database %q: the seed drops it first; use a name containing \"bench\" or --force", cfg.DBName)
	}
	start := time.Now()
	if err := recreate(*cfg); err != nil {
		return err
	}
	// Migrations exactly as linli runs them.
	lcfg, err := config.LoadFromEnviron("", nil, map[string]any{"database.driver": "mysql", "database.dsn": *dsn,
		"jwt.secret":             strings.Repeat("s", config.MinJWTSecretLen), // unused: only the database is opened
		"report.verify_base_url": "https://bench.invalid/api/v1/certificates/verify"})
	if err != nil {
		return err
	}
	gdb, _, err := store.OpenDB(lcfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return err
	}
	if err := model.Migrate(gdb); err != nil {
		return err
	}
	defer func() {
		if s, err := gdb.DB(); err == nil {
			_ = s.Close()
		}
	}()
	db, err := sql.Open("mysql", withParam(store.MySQLDSN(*dsn), "interpolateParams=true"))
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(2)
	g := &gen{sc: sc, now: now, db: db, batch: *batch}
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"org tree", g.orgs},
		{"users", g.users},
		{"staff, volunteers, member reports", g.roles},
		{"wishes", g.wishes},
		{"activities, sign-ups, ledger", g.activities},
		{"mall goods", g.goods},
		{"departments, cases, case events", g.cases},
		// The running figures the services keep in their transactions, as
		// `linli rebuild-stats` recomputes them from the rows written above.
		{"running figures (linli rebuild-stats)", func(ctx context.Context) error {
			svc := service.New(service.Deps{DB: gdb, Config: lcfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err := svc.Oversight.RebuildStats(ctx); err != nil {
				return err
			}
			_, err := svc.Cases.RebuildCaseDayStats(ctx)
			return err
		}},
	}
	ctx := context.Background()
	for _, st := range steps {
		t0 := time.Now()
		if err := st.fn(ctx); err != nil {
			return fmt.Errorf("%s: %w", st.name, err)
		}
		fmt.Fprintf(os.Stderr, "seed: %-36s %8.1fs\n", st.name, time.Since(t0).Seconds())
	}
	fmt.Fprintf(os.Stderr, "seed: %s data set in %s (database %s) in %.1fs: %d users, %d wishes, %d activities, %d sign-ups, %d ledger entries (%d accounts), %d cases\n",
		*scaleName, cfg.Addr, cfg.DBName, time.Since(start).Seconds(), sc.Users, sc.Wishes, sc.Activities, g.signups, g.entries, g.accounts, sc.Cases)
	return nil
}

// recreate drops and creates the database of cfg.
func recreate(cfg mysql.Config) error {
	name := cfg.DBName
	cfg.DBName = ""
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return err
	}
	defer db.Close()
	q := "`" + strings.ReplaceAll(name, "`", "``") + "`"
	if _, err := db.Exec("DROP DATABASE IF EXISTS " + q); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	if _, err := db.Exec("CREATE DATABASE " + q + " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// withParam adds a DSN parameter.
func withParam(dsn, p string) string {
	if strings.Contains(dsn, "?") {
		return dsn + "&" + p
	}
	return dsn + "?" + p
}
