package model

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// SchemaMigration records one applied schema step. Numbered steps have one
// row each, written once; the repeatable step TablesStep has one row whose
// Checksum is the fingerprint of the table models it last built.
type SchemaMigration struct {
	Version   string `gorm:"primaryKey;size:64"`
	Name      string `gorm:"size:255;not null;default:''"`
	Checksum  string `gorm:"size:64;not null;default:''"`
	AppliedAt time.Time
}

// Step is one numbered schema change. Steps run once each, in the order of
// steps(), after the tables are up to date; a step and the row recording it
// commit together, so a data step (moving rows) runs exactly once. On
// MySQL a DDL statement commits by itself: a step doing DDL must be safe to
// run again after a crash.
type Step struct {
	// Version is unique and sorts the step after every earlier one
	// ("0003_…"); never renamed or renumbered.
	Version string
	Name    string
	Run     func(tx *gorm.DB) error
}

// TablesStep is the version of the repeatable step that AutoMigrates every
// model of Tables(): it runs when their fingerprint (types, fields, tags)
// differs from the one recorded, so a table or column added to Tables() is
// created on the next start without a numbered step.
const TablesStep = "0000_tables"

// steps is the append-only list of numbered schema steps.
func steps() []Step {
	return []Step{
		{Version: "0001_project_confirmation", Name: "projects done before confirmation was required count as confirmed by their staff", Run: migrateProjectConfirmation},
		{Version: "0002_activity_notices_to_inbox", Name: "activity notices become inbox notifications", Run: migrateActivityNotices},
		{Version: "0003_staff_roles_end", Name: "removed staff roles are ended, not deleted: the old unique key goes", Run: migrateStaffRolesEnd},
		{Version: "0004_attendance_activity_end", Name: "sign-ups copy their activity's end (the overlap check's index)", Run: migrateAttendanceActivityEnd},
	}
}

// Steps returns the numbered schema steps in order.
func Steps() []Step { return steps() }

// Fingerprint returns the checksum of the table models: it changes when a
// model is added or removed or a field or its tags change.
func Fingerprint() string {
	h := sha256.New()
	for _, m := range tables() {
		t := reflect.TypeOf(m)
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		fmt.Fprintf(h, "%s{", t.Name())
		writeFields(h, t)
		fmt.Fprint(h, "}")
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

func writeFields(h interface{ Write([]byte) (int, error) }, t reflect.Type) {
	for i := range t.NumField() {
		f := t.Field(i)
		fmt.Fprintf(h, "%s %s %q;", f.Name, f.Type.String(), f.Tag)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			writeFields(h, f.Type)
		}
	}
}

// Migrate brings the database up to date under a lock, so any number of
// instances may start at once: the first applies what is missing, the
// others wait for it and find nothing left. It returns the first error.
func Migrate(db *gorm.DB) error {
	_, err := migrate(db)
	return err
}

// migrate applies what is missing and returns the versions it applied.
func migrate(db *gorm.DB) ([]string, error) {
	var applied []string
	err := withMigrationLock(db, func(conn *gorm.DB) error {
		applied = nil
		conn, err := forMySQL(conn)
		if err != nil {
			return err
		}
		if err := conn.AutoMigrate(&SchemaMigration{}); err != nil {
			return fmt.Errorf("migrate schema_migrations: %w", err)
		}
		done, err := appliedSteps(conn)
		if err != nil {
			return err
		}
		now := time.Now().UTC()
		if fp := Fingerprint(); done[TablesStep] != fp {
			for _, t := range tables() {
				if err := conn.AutoMigrate(t); err != nil {
					return fmt.Errorf("migrate %T: %w", t, err)
				}
			}
			row := SchemaMigration{Version: TablesStep, Name: "tables of model.Tables()", Checksum: fp, AppliedAt: now}
			if err := conn.Clauses(clause.OnConflict{UpdateAll: true}).Create(&row).Error; err != nil {
				return fmt.Errorf("record %s: %w", TablesStep, err)
			}
			applied = append(applied, TablesStep)
		}
		for _, s := range steps() {
			if _, ok := done[s.Version]; ok {
				continue
			}
			err := conn.Transaction(func(tx *gorm.DB) error {
				if err := s.Run(tx); err != nil {
					return err
				}
				return tx.Create(&SchemaMigration{Version: s.Version, Name: s.Name, AppliedAt: now}).Error
			})
			if err != nil {
				return fmt.Errorf("migration %s: %w", s.Version, err)
			}
			applied = append(applied, s.Version)
		}
		return nil
	})
	return applied, err
}

// appliedSteps returns the recorded versions and their checksums.
func appliedSteps(db *gorm.DB) (map[string]string, error) {
	var rows []SchemaMigration
	if err := db.Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	done := make(map[string]string, len(rows))
	for _, r := range rows {
		done[r.Version] = r.Checksum
	}
	return done, nil
}

// MigrationState is one step as `linli migrate --status` lists it.
type MigrationState struct {
	Version   string     `json:"version"`
	Name      string     `json:"name"`
	AppliedAt *time.Time `json:"appliedAt"`
	// Current is false for the tables step when the models changed since it
	// last ran.
	Current bool `json:"current"`
}

// MigrationStatus lists the tables step and every numbered step, applied or
// not, without changing anything.
func MigrationStatus(db *gorm.DB) ([]MigrationState, error) {
	done := map[string]SchemaMigration{}
	if db.Migrator().HasTable(&SchemaMigration{}) {
		var rows []SchemaMigration
		if err := db.Find(&rows).Error; err != nil {
			return nil, fmt.Errorf("read schema_migrations: %w", err)
		}
		for _, r := range rows {
			done[r.Version] = r
		}
	}
	state := func(version, name string, current func(SchemaMigration) bool) MigrationState {
		st := MigrationState{Version: version, Name: name}
		if r, ok := done[version]; ok {
			at := r.AppliedAt
			st.AppliedAt, st.Current = &at, current(r)
		}
		return st
	}
	fp := Fingerprint()
	out := []MigrationState{state(TablesStep, "tables of model.Tables()", func(r SchemaMigration) bool { return r.Checksum == fp })}
	for _, s := range steps() {
		out = append(out, state(s.Version, s.Name, func(SchemaMigration) bool { return true }))
	}
	return out, nil
}

// migrationLockWait is how long an instance waits for another's migration.
const migrationLockWait = 10 * time.Minute

// withMigrationLock runs fn while this process holds the database's
// migration lock: on MySQL a named lock (GET_LOCK) held by one pinned
// connection, which fn must use; on SQLite one write transaction (the DSN
// begins them IMMEDIATE, taking the file's write lock), retried while
// another process holds it.
func withMigrationLock(db *gorm.DB, fn func(conn *gorm.DB) error) error {
	if db.Dialector.Name() != "mysql" {
		deadline := time.Now().Add(migrationLockWait)
		for {
			err := db.Transaction(func(tx *gorm.DB) error { return fn(tx.Session(&gorm.Session{})) })
			if err == nil || !isBusy(err) || time.Now().After(deadline) {
				return err
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return db.Connection(func(conn *gorm.DB) error {
		conn = conn.Session(&gorm.Session{})
		var dbName string
		if err := conn.Raw("SELECT DATABASE()").Scan(&dbName).Error; err != nil {
			return fmt.Errorf("migration lock: %w", err)
		}
		name := "linli_migrate:" + dbName
		if len(name) > 64 {
			name = name[:64]
		}
		var got sql.NullInt64
		if err := conn.Raw("SELECT GET_LOCK(?, ?)", name, int(migrationLockWait.Seconds())).Scan(&got).Error; err != nil {
			return fmt.Errorf("migration lock: %w", err)
		}
		if !got.Valid || got.Int64 != 1 {
			return errors.New("migration lock: another instance held it for " + migrationLockWait.String())
		}
		defer conn.Exec("DO RELEASE_LOCK(?)", name)
		// Session: every call on the pinned connection starts from a clean
		// statement (chained calls would otherwise share one).
		return fn(conn.Session(&gorm.Session{}))
	})
}

// isBusy reports whether err is SQLite's "database is locked".
func isBusy(err error) bool {
	s := err.Error()
	return strings.Contains(s, "SQLITE_BUSY") || strings.Contains(s, "database is locked")
}

// migrateStaffRolesEnd drops the unique key staff roles had before removal
// ended them instead of deleting them: it would refuse a second appointment
// after an ended one (ux_staff_role_held replaces it).
func migrateStaffRolesEnd(tx *gorm.DB) error {
	if !tx.Migrator().HasIndex(&StaffRole{}, "ux_staff_user_org_role") {
		return nil
	}
	return tx.Migrator().DropIndex(&StaffRole{}, "ux_staff_user_org_role")
}

// migrateProjectConfirmation brings projects marked done before staff had to
// confirm them under the rule that only confirmed projects count: a done
// project completed by anyone but a liaison of its unit (community staff)
// counts as confirmed by that person; one a liaison completed goes back to
// awaiting_confirmation for the community's staff.
func migrateProjectConfirmation(db *gorm.DB) error {
	liaisonDone := "status = ? AND confirmed_at IS NULL AND completed_by IN " +
		"(SELECT l.user_id FROM unit_liaisons l WHERE l.unit_id = projects.unit_id)"
	if err := db.Model(&Project{}).Where(liaisonDone, ProjectDone).
		UpdateColumn("status", ProjectAwaitingConfirmation).Error; err != nil {
		return err
	}
	return db.Model(&Project{}).Where("status = ? AND confirmed_at IS NULL", ProjectDone).
		UpdateColumns(map[string]any{"confirmed_at": gorm.Expr("updated_at"), "confirmed_by": gorm.Expr("completed_by")}).Error
}

// migrateActivityNotices turns the rows of the former activity_notices
// table (cancellations and waitlist promotions recorded before the inbox
// existed) into inbox notifications and marks them delivered. The table is
// no longer in Tables(): a database created since has none, and nothing is
// to move.
func migrateActivityNotices(tx *gorm.DB) error {
	if !tx.Migrator().HasTable(&ActivityNotice{}) {
		return nil
	}
	var lastID int64
	for {
		var rows []struct {
			ActivityNotice
			ActivityTitle string
		}
		err := tx.Table("activity_notices n").
			Select("n.*, COALESCE(a.title, '') AS activity_title").
			Joins("LEFT JOIN activities a ON a.id = n.activity_id").
			Where("n.id > ? AND n.delivered_at IS NULL", lastID).Order("n.id").Limit(500).Find(&rows).Error
		if err != nil || len(rows) == 0 {
			return err
		}
		out := make([]Notification, 0, len(rows))
		ids := make([]int64, 0, len(rows))
		for _, r := range rows {
			n := Notification{UserID: r.UserID, Event: r.Kind, ObjectKind: "activity", ObjectID: r.ActivityID, CreatedAt: r.CreatedAt}
			switch r.Kind {
			case "activity_cancelled":
				n.Title, n.Body = "活动已取消", cut("您报名的活动「"+r.ActivityTitle+"」已取消。"+r.Note, 255)
			default:
				n.Title, n.Body = "候补转正", cut("您候补的活动「"+r.ActivityTitle+"」已有名额，您已报名成功。", 255)
			}
			out = append(out, n)
			ids = append(ids, r.ID)
			lastID = r.ID
		}
		if err := tx.CreateInBatches(&out, 500).Error; err != nil {
			return err
		}
		if err := tx.Model(&ActivityNotice{}).Where("id IN ?", ids).Update("delivered_at", time.Now().UTC()).Error; err != nil {
			return err
		}
	}
}

// cut returns s cut to at most n characters.
func cut(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n])
	}
	return s
}

// migrateAttendanceActivityEnd fills Attendance.ActivityEndAt of the rows
// written before it existed from their activities, in ranges of ids (one
// statement per range, so that a table of millions is not one huge
// transaction's undo). Running it again changes nothing.
func migrateAttendanceActivityEnd(tx *gorm.DB) error {
	var maxID int64
	if err := tx.Model(&Attendance{}).Select("COALESCE(MAX(id), 0)").Scan(&maxID).Error; err != nil {
		return err
	}
	const span = 50000
	for from := int64(0); from < maxID; from += span {
		err := tx.Exec(`UPDATE attendances SET activity_end_at = (SELECT end_at FROM activities WHERE activities.id = attendances.activity_id)
			WHERE id > ? AND id <= ? AND activity_end_at IS NULL`, from, from+span).Error
		if err != nil {
			return err
		}
	}
	return nil
}
