package ledger

import (
	"context"

	"gorm.io/gorm"
)

// SetBeforeInsert makes l's postings call fn between the look-up of their
// source and the insert of their rows (nil removes it).
func SetBeforeInsert(l *Ledger, fn func(ctx context.Context, tx *gorm.DB)) { l.beforeInsert = fn }
