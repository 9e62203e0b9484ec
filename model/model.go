// Package model holds linli's tables, enums and the migration list. It knows
// gorm and nothing of HTTP or business rules.
package model

import (
	"fmt"

	"gorm.io/gorm"
)

// tables lists every table in migration order. A new area appends its models
// here; Migrate creates or extends them.
func tables() []any {
	return []any{
		&User{},
		&OrgUnit{},
		&StaffRole{},
		&Account{},
		&LedgerTxn{},
		&LedgerEntry{},
		&ServiceRecord{},
		&Unit{},
		&UnitLiaison{},
		&MemberReport{},
		&VolunteerProfile{},
		&Activity{},
		&Attendance{},
		&ActivityNotice{},
		&Upload{},
		&Wish{},
		&WishClaim{},
		&WishEvent{},
		&GiftDailyTotal{},
		&ManualCredit{},
		&MallGoods{},
		&MallOrder{},
		&MallHolding{},
		&UnitAgreement{},
		&Post{},
		&PostClaim{},
		&Certificate{},
		&Need{},
		&Resource{},
		&Project{},
		&WishContactReveal{},
	}
}

// Tables returns a fresh value of every table's model, in migration order
// (tests count rows of each to show that a refused request wrote nothing).
func Tables() []any { return tables() }

// Migrate creates or updates every table and index. It is safe to run on every
// start and from several instances, and returns the first error it meets.
func Migrate(db *gorm.DB) error {
	for _, t := range tables() {
		if err := db.AutoMigrate(t); err != nil {
			return fmt.Errorf("migrate %T: %w", t, err)
		}
	}
	return nil
}
