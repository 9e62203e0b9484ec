package service

import (
	"context"

	"gorm.io/gorm"
)

// SetBeforeClaimUpdate makes s's WishService.Claim call fn between its
// checks and the conditional UPDATE of the wish (nil removes it).
func SetBeforeClaimUpdate(s *Service, fn func(ctx context.Context, tx *gorm.DB)) {
	s.Wishes.beforeClaimUpdate = fn
}

// SetBeforeTakeSeat makes s's ActivityService.Signup call fn between its
// checks and the conditional UPDATEs of the activity's counters.
func SetBeforeTakeSeat(s *Service, fn func(ctx context.Context, tx *gorm.DB)) {
	s.Activities.beforeTakeSeat = fn
}

// HoldSignups makes sign-ups for the activity queue on s as if a group
// were being written, until release writes them as one group.
func HoldSignups(s *Service, activityID int64) (release func()) {
	return s.Activities.groups.hold(activityID)
}

// QueuedSignups is how many sign-ups for the activity wait on s.
func QueuedSignups(s *Service, activityID int64) int {
	return s.Activities.groups.queued(activityID)
}

// InTx runs fn in a transaction of s's dependencies (Deps.tx).
func InTx(s *Service, ctx context.Context, fn func(tx *gorm.DB) error) error {
	return s.deps.tx(ctx, fn)
}

// AppendLater is appendLater: build's write is kept for the end of tx.
func AppendLater(tx *gorm.DB, build func(*gorm.DB) *gorm.DB) error { return appendLater(tx, build) }

// Pipelined reports whether s sends a transaction's kept writes in one
// round trip.
func Pipelined(s *Service) bool { return s.deps.pipelined }

// ReadTogether reads one row into each dest in order (readTogether); a
// required read that finds none returns gorm.ErrRecordNotFound.
func ReadTogether(tx *gorm.DB, required []bool, dests []any, builds []func(*gorm.DB) *gorm.DB) error {
	reads := make([]oneRow, len(dests))
	for i := range dests {
		reads[i] = oneRow{dest: dests[i], required: required[i], build: builds[i]}
	}
	return readTogether(tx, reads...)
}
