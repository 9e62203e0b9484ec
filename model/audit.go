package model

import "time"

// AuditEntry is one staff or admin action, appended in the same transaction
// as the action itself; nothing updates or deletes an entry. OrgPath is the
// materialised path of the org unit the action concerns (the object's
// community, or the unit itself), so "entries of this subtree" is a prefix
// match. Before and After are small JSON snapshots of the fields the action
// changed ("" when there is nothing to show).
type AuditEntry struct {
	ID         int64     `gorm:"primaryKey"`
	ActorID    int64     `gorm:"not null;index:ix_audit_actor,priority:1"`
	OrgID      int64     `gorm:"not null"`
	OrgPath    string    `gorm:"size:255;not null;index:ix_audit_path,priority:1"`
	Action     string    `gorm:"size:48;not null"`
	ObjectKind string    `gorm:"size:32;not null;index:ix_audit_object,priority:1"`
	ObjectID   int64     `gorm:"not null;index:ix_audit_object,priority:2"`
	Before     string    `gorm:"type:text"`
	After      string    `gorm:"type:text"`
	Reason     string    `gorm:"size:255;not null;default:''"`
	RequestID  string    `gorm:"size:64;not null;default:''"`
	CreatedAt  time.Time `gorm:"index:ix_audit_path,priority:2;index:ix_audit_actor,priority:2"`
}
