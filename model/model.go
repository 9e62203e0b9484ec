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
		&ManualCreditMonthTotal{},
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
	db, err := forMySQL(db)
	if err != nil {
		return err
	}
	for _, t := range tables() {
		if err := db.AutoMigrate(t); err != nil {
			return fmt.Errorf("migrate %T: %w", t, err)
		}
	}
	return migrateProjectConfirmation(db)
}

// migrateProjectConfirmation brings projects marked done before staff had to
// confirm them under the rule that only confirmed projects count: a done
// project completed by anyone but a liaison of its unit (community staff)
// counts as confirmed by that person; one a liaison completed goes back to
// awaiting_confirmation for the community's staff. Both statements touch
// only done projects without a confirmation, so running them again (every
// start, several instances) changes nothing.
func migrateProjectConfirmation(db *gorm.DB) error {
	liaisonDone := "status = ? AND confirmed_at IS NULL AND completed_by IN " +
		"(SELECT l.user_id FROM unit_liaisons l WHERE l.unit_id = projects.unit_id)"
	if err := db.Model(&Project{}).Where(liaisonDone, ProjectDone).
		UpdateColumn("status", ProjectAwaitingConfirmation).Error; err != nil {
		return fmt.Errorf("migrate project confirmation: %w", err)
	}
	err := db.Model(&Project{}).Where("status = ? AND confirmed_at IS NULL", ProjectDone).
		UpdateColumns(map[string]any{"confirmed_at": gorm.Expr("updated_at"), "confirmed_by": gorm.Expr("completed_by")}).Error
	if err != nil {
		return fmt.Errorf("migrate project confirmation: %w", err)
	}
	return nil
}
