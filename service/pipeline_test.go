package service_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"linli/internal/testutil"
	"linli/model"
	"linli/service"
)

// TestAppendLater keeps writes for the end of a transaction: they commit
// with it, in the order kept, hostile strings intact; on MySQL/MariaDB they
// go in one round trip (one statement counted), on SQLite one by one. A kept
// write that fails fails the transaction and nothing of it stays, the
// immediate writes before it included.
func TestAppendLater(t *testing.T) {
	w := testutil.NewWorld(t)
	ctx := context.Background()
	user := w.Login("appendlater", w.Tree.CommunityA.ID).UserID
	now := time.Now().UTC().Truncate(time.Second)
	notice := func(body string) model.Notification {
		return model.Notification{UserID: user, Event: "test", Title: "t", Body: body, ObjectKind: "test", CreatedAt: now}
	}
	hostile := []string{`'); DELETE FROM notifications; --`, `\'; DROP TABLE reminders; #`, "张三' /* 注释 */ 😀", `\`}

	var err error
	tr := w.Trips(func() {
		err = service.InTx(w.Svc, ctx, func(tx *gorm.DB) error {
			first := notice("immediate")
			if err := tx.Create(&first).Error; err != nil {
				return err
			}
			for _, s := range hostile {
				n := notice(s)
				if err := service.AppendLater(tx, func(db *gorm.DB) *gorm.DB { return db.Create(&n) }); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	want := 1 + len(hostile) // the immediate insert, then each kept one
	if mysql := w.DB.Dialector.Name() == "mysql"; mysql != service.Pipelined(w.Svc) {
		t.Fatalf("pipelined %t on %s", service.Pipelined(w.Svc), w.DB.Dialector.Name())
	}
	if service.Pipelined(w.Svc) {
		want = 2 // the immediate insert, then the kept ones in one round trip
	}
	if tr.SQL != want {
		t.Errorf("sent %d statements, want %d:\n%v", tr.SQL, want, tr.Statements)
	}
	var bodies []string
	if err := w.DB.Model(&model.Notification{}).Where("user_id = ? AND event = ?", user, "test").Order("id").
		Pluck("body", &bodies).Error; err != nil {
		t.Fatal(err)
	}
	if got, want := bodies, append([]string{"immediate"}, hostile...); !slices.Equal(got, want) {
		t.Fatalf("rows %q, want %q", got, want)
	}

	// A kept write refused by a unique key: the whole transaction goes.
	dup := model.Reminder{Kind: "test", Period: "p", ObjectID: 1, UserID: user, CreatedAt: now}
	if err := w.DB.Create(&dup).Error; err != nil {
		t.Fatal(err)
	}
	err = service.InTx(w.Svc, ctx, func(tx *gorm.DB) error {
		n := notice("rolled back")
		if err := tx.Create(&n).Error; err != nil {
			return err
		}
		again := model.Reminder{Kind: "test", Period: "p", ObjectID: 1, UserID: user, CreatedAt: now}
		later := notice("kept, rolled back")
		if err := service.AppendLater(tx, func(db *gorm.DB) *gorm.DB { return db.Create(&later) }); err != nil {
			return err
		}
		return service.AppendLater(tx, func(db *gorm.DB) *gorm.DB { return db.Create(&again) })
	})
	if err == nil {
		t.Fatal("a kept duplicate committed")
	}
	var n int64
	if err := w.DB.Model(&model.Notification{}).Where("user_id = ? AND body LIKE ?", user, "%rolled back").Count(&n).Error; err != nil || n != 0 {
		t.Fatalf("%d rows of the failed transaction stayed (%v)", n, err)
	}

	// Outside a transaction of Deps.tx the write runs at once.
	direct := notice("direct")
	if err := service.AppendLater(w.DB, func(db *gorm.DB) *gorm.DB { return db.Create(&direct) }); err != nil || direct.ID == 0 {
		t.Fatalf("direct write: id %d, %v", direct.ID, err)
	}
}

// TestReadTogether reads a locked row and another in one round trip on
// MySQL/MariaDB (one by one on SQLite), each into its destination; a
// required row that is missing is gorm.ErrRecordNotFound, an optional one
// leaves its destination alone.
func TestReadTogether(t *testing.T) {
	w := testutil.NewWorld(t)
	ctx := context.Background()
	a, b := w.Login("together-a", w.Tree.CommunityA.ID).UserID, w.Login("together-b", w.Tree.CommunityB.ID).UserID
	read := func(first, second int64, required bool) (model.User, model.User, error) {
		var x, y model.User
		err := service.InTx(w.Svc, ctx, func(tx *gorm.DB) error {
			return service.ReadTogether(tx, []bool{true, required}, []any{&x, &y}, []func(*gorm.DB) *gorm.DB{
				func(db *gorm.DB) *gorm.DB {
					return db.Clauses(clause.Locking{Strength: "UPDATE"}).Where("id = ?", first).Take(&x)
				},
				func(db *gorm.DB) *gorm.DB { return db.Where("id = ?", second).Limit(1).Find(&y) },
			})
		})
		return x, y, err
	}
	var x, y model.User
	var err error
	tr := w.Trips(func() { x, y, err = read(a, b, true) })
	if err != nil || x.ID != a || y.ID != b || *y.HomeCommunityID != w.Tree.CommunityB.ID {
		t.Fatalf("read %d and %d: %v", x.ID, y.ID, err)
	}
	if want := map[bool]int{true: 1, false: 2}[service.Pipelined(w.Svc)]; tr.SQL != want {
		t.Errorf("%d statements, want %d:\n%v", tr.SQL, want, tr.Statements)
	}
	if _, y, err := read(a, -1, false); err != nil || y.ID != 0 {
		t.Fatalf("optional missing row: %+v, %v", y, err)
	}
	if _, _, err := read(a, -1, true); !errors.Is(err, gorm.ErrRecordNotFound) {
		t.Fatalf("required missing row: %v", err)
	}
	if _, _, err := read(-1, b, false); !errors.Is(err, gorm.ErrRecordNotFound) {
		t.Fatalf("required missing first row: %v", err)
	}
}
