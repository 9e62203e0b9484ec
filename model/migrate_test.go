package model_test

import (
	"errors"
	"sort"
	"sync"
	"testing"
	"time"

	"linli/internal/testutil"
	"linli/model"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// TestThreeInstancesMigrateAtOnce: three instances starting at once on an
// empty database (holding only rows of the former activity_notices table)
// leave one complete schema, one schema_migrations row per step, and each
// old notice in the inbox once; a later start changes nothing, and a
// changed set of models runs the tables step again.
func TestThreeInstancesMigrateAtOnce(t *testing.T) {
	cfg := testutil.EmptyDatabase(t)
	first := testutil.OpenDatabase(t, cfg)
	if err := first.AutoMigrate(&model.ActivityNotice{}); err != nil {
		t.Fatal(err)
	}
	for i, kind := range []string{"activity_cancelled", "waitlist_promoted", "activity_cancelled"} {
		n := model.ActivityNotice{ActivityID: int64(100 + i), UserID: int64(7 + i), Kind: kind, Note: "下雨", CreatedAt: time.Now()}
		if err := first.Create(&n).Error; err != nil {
			t.Fatal(err)
		}
	}

	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		db := testutil.OpenDatabase(t, cfg)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = model.Migrate(db)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}

	for _, m := range model.Tables() {
		if !first.Migrator().HasTable(m) {
			t.Errorf("table of %T is missing", m)
		}
	}
	var rows []model.SchemaMigration
	if err := first.Order("version").Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	want := []string{model.TablesStep}
	for _, s := range model.Steps() {
		want = append(want, s.Version)
	}
	sort.Strings(want)
	var got []string
	for _, r := range rows {
		got = append(got, r.Version)
	}
	if len(got) != len(want) || len(rows) != 1+len(model.Steps()) {
		t.Fatalf("schema_migrations: %v, want one row each of %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("schema_migrations: %v, want %v", got, want)
		}
	}
	if rows[0].Checksum != model.Fingerprint() {
		t.Fatalf("tables step checksum %q, want %q", rows[0].Checksum, model.Fingerprint())
	}

	// The old notices are in the inbox, once each, and marked delivered.
	var notes []model.Notification
	if err := first.Order("user_id").Find(&notes).Error; err != nil {
		t.Fatal(err)
	}
	if len(notes) != 3 || notes[0].UserID != 7 || notes[0].Event != "activity_cancelled" || notes[1].Title != "候补转正" || notes[0].ObjectID != 100 {
		t.Fatalf("notifications: %+v", notes)
	}
	var undelivered int64
	first.Model(&model.ActivityNotice{}).Where("delivered_at IS NULL").Count(&undelivered)
	if undelivered != 0 {
		t.Fatalf("%d notices not marked delivered", undelivered)
	}

	// Another start: nothing to do.
	if err := model.Migrate(testutil.OpenDatabase(t, cfg)); err != nil {
		t.Fatal(err)
	}
	var n int64
	first.Model(&model.Notification{}).Count(&n)
	var again []model.SchemaMigration
	first.Order("version").Find(&again)
	if n != 3 || len(again) != len(rows) || !again[0].AppliedAt.Equal(rows[0].AppliedAt) {
		t.Fatalf("a second start changed things: %d notifications, %+v", n, again)
	}
	st, err := model.MigrationStatus(first)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		if s.AppliedAt == nil || !s.Current {
			t.Fatalf("status: %+v", st)
		}
	}

	// Models that changed since (an older checksum): the tables step runs again.
	first.Model(&model.SchemaMigration{}).Where("version = ?", model.TablesStep).Update("checksum", "older")
	if st, _ := model.MigrationStatus(first); st[0].Current {
		t.Fatal("status says an outdated tables step is current")
	}
	if err := model.Migrate(first); err != nil {
		t.Fatal(err)
	}
	var tables model.SchemaMigration
	first.Where("version = ?", model.TablesStep).Take(&tables)
	if tables.Checksum != model.Fingerprint() {
		t.Fatalf("tables step not run again: %+v", tables)
	}
}

// TestAttendanceActivityEndBackfilled: sign-ups written before
// Attendance.ActivityEndAt existed get their activity's end from step 0004;
// a row that has it keeps it.
func TestAttendanceActivityEndBackfilled(t *testing.T) {
	cfg := testutil.EmptyDatabase(t)
	db := testutil.OpenDatabase(t, cfg)
	if err := model.Migrate(db); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 12, 5, 1, 0, 0, 0, time.UTC)
	a := model.Activity{CommunityID: 1, Title: "植树", Content: "植树", Category: "环境保护", Address: "公园",
		StartAt: start, EndAt: start.Add(2 * time.Hour), SignupDeadline: start.Add(-time.Hour),
		Audience: model.AudienceAll, Status: model.ActivityPublished, CreatedBy: 1}
	if err := db.Create(&a).Error; err != nil {
		t.Fatal(err)
	}
	kept := start.Add(time.Minute)
	rows := []model.Attendance{
		{ActivityID: a.ID, UserID: 7, Status: model.SignupSigned, SignedUpAt: start, State: model.AttendNone},
		{ActivityID: a.ID, UserID: 8, Status: model.SignupSigned, SignedUpAt: start, State: model.AttendNone, ActivityEndAt: &kept},
	}
	if err := db.Create(&rows).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Where("version = ?", "0004_attendance_activity_end").Delete(&model.SchemaMigration{}).Error; err != nil {
		t.Fatal(err)
	}
	if err := model.Migrate(db); err != nil {
		t.Fatal(err)
	}
	var got []model.Attendance
	if err := db.Order("user_id").Find(&got).Error; err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ActivityEndAt == nil || !got[0].ActivityEndAt.Equal(a.EndAt) ||
		got[1].ActivityEndAt == nil || !got[1].ActivityEndAt.Equal(kept) {
		t.Fatalf("activity ends after the step: %v, %v (want %v, %v)", got[0].ActivityEndAt, got[1].ActivityEndAt, a.EndAt, kept)
	}
}
