package service

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"linli/model"
)

// ApprovedRecord describes a service record another area creates for its own
// object (a completed wish, an approved attendance).
type ApprovedRecord struct {
	UserID      int64
	CommunityID int64
	Kind        model.ServiceKind
	OccurredAt  time.Time
	Minutes     int
	Note        string
	// SourceKey identifies the object, e.g. "wish:12"; a second call with the
	// same key returns the first record.
	SourceKey  string
	ReviewedBy *int64
	// New says no record with SourceKey is expected: it is inserted without
	// looking first (one statement less); should one be there after all,
	// the failed insert still returns it.
	New bool
}

// addApprovedRecord writes an approved service record inside tx, once per
// SourceKey: a replay returns the existing record unchanged. The record
// carries the member's unit when they have an approved report. OccurredAt is
// stored in UTC (so SQLite compares times as text correctly); it counts
// toward the quarter it falls in, in the configured zone.
func (s *ReportService) addApprovedRecord(ctx context.Context, tx *gorm.DB, r ApprovedRecord) (*model.ServiceRecord, error) {
	if r.SourceKey == "" || !r.Kind.Valid() {
		return nil, errors.New("addApprovedRecord: source key and a valid kind are required")
	}
	// A plain read, not a locking one: FOR UPDATE on a key that is not
	// there takes a gap lock, and two approvals inserting keys into the
	// same gap then deadlock on each other's gap (seen under the batch
	// approval storm). The unique key decides instead: a concurrent insert
	// of the same key makes ours fail, and the row it wrote is returned.
	var existing model.ServiceRecord
	if !r.New {
		err := tx.Where("source_key = ?", r.SourceKey).Limit(1).Find(&existing).Error
		if err != nil || existing.ID != 0 {
			return &existing, err
		}
	}
	member, err := s.partyMembership(ctx, tx, r.UserID)
	if err != nil {
		return nil, err
	}
	key := r.SourceKey
	now := s.deps.Clock.Now()
	rec := model.ServiceRecord{
		UserID: r.UserID, CommunityID: r.CommunityID, Kind: r.Kind, OccurredAt: r.OccurredAt.UTC(),
		Minutes: r.Minutes, Note: r.Note, Status: model.RecordApproved, SourceKey: &key,
		ReviewedBy: r.ReviewedBy, ReviewedAt: &now,
	}
	if member != nil {
		rec.UnitID = member.UnitID
	}
	if err := tx.Create(&rec).Error; err != nil {
		if !isDuplicate(err) {
			return nil, err
		}
		err = tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("source_key = ?", r.SourceKey).Take(&existing).Error
		return &existing, err
	}
	// The dashboard's obligation counts (member_quarter_stats).
	if err := s.deps.addRecordStats(tx, rec.UserID, rec.Kind, rec.OccurredAt, 1); err != nil {
		return nil, err
	}
	return &rec, nil
}

// partyMembership returns the user's approved, active member report, or nil
// when they are not a reported Party member.
func (s *ReportService) partyMembership(ctx context.Context, db *gorm.DB, userID int64) (*model.MemberReport, error) {
	var r model.MemberReport
	err := db.WithContext(ctx).Where("active_user_id = ? AND status = ?", userID, model.ReviewApproved).Limit(1).Find(&r).Error
	if err != nil || r.ID == 0 {
		return nil, err
	}
	return &r, nil
}

// liaisonUnits returns the ids of the approved units the user is a liaison of.
func (s *ReportService) liaisonUnits(ctx context.Context, db *gorm.DB, userID int64) ([]int64, error) {
	var ids []int64
	err := db.WithContext(ctx).Model(&model.UnitLiaison{}).
		Joins("JOIN units ON units.id = unit_liaisons.unit_id").
		Where("unit_liaisons.user_id = ? AND units.status = ?", userID, model.ReviewApproved).
		Order("unit_liaisons.unit_id").Pluck("unit_liaisons.unit_id", &ids).Error
	return ids, err
}
