package service_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"gorm.io/gorm"

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
