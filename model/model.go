// Package model holds linli's tables, enums and the migration list. It knows
// gorm and nothing of HTTP or business rules.
package model

// tables lists every table in migration order. A new area appends its models
// here and nothing else: the repeatable step "tables" of Migrate creates or
// extends them on the next start (see docs/migrations.md).
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
		&DeptStaff{},
		&Case{},
		&CaseDept{},
		&CaseFollower{},
		&CaseEvent{},
		&AuditEntry{},
		&CommunityStats{},
		&CommunityDayStats{},
		&Notification{},
		&OutboxMessage{},
		&SubscriptionGrant{},
		&Reminder{},
		// Oversight: dashboard roll-ups (issue 13).
		&MemberQuarterStats{},
		&WishDayDurations{},
		&CaseDayStats{},
		// Volunteer records (issue 16).
		&VolunteerCertificate{},
		&CertificateCounter{},
		&VolunteerTraining{},
		&VolunteerAward{},
		&RecordCorrection{},
		&ContentFlag{},
	}
}

// Tables returns a fresh value of every table's model, in migration order
// (tests count rows of each to show that a refused request wrote nothing).
func Tables() []any { return tables() }
