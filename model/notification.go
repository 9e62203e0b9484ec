package model

import "time"

// Notification is one message in a user's inbox. It is written in the
// transaction of the change it tells about; only its user reads it.
type Notification struct {
	// ix_notification_user (user_id, id) serves the inbox newest first;
	// ix_notification_unread (user_id, read_at) its unread count.
	ID     int64 `gorm:"primaryKey;index:ix_notification_user,priority:2"`
	UserID int64 `gorm:"not null;index:ix_notification_user,priority:1;index:ix_notification_unread,priority:1"`
	// Event is one of config.NotificationEvents.
	Event      string     `gorm:"size:32;not null"`
	Title      string     `gorm:"size:64;not null"`
	Body       string     `gorm:"size:255;not null;default:''"`
	ObjectKind string     `gorm:"size:32;not null;default:''"`
	ObjectID   int64      `gorm:"not null;default:0"`
	ReadAt     *time.Time `gorm:"index:ix_notification_unread,priority:2"`
	CreatedAt  time.Time
}

// OutboxStatus is the state of an outbox row.
type OutboxStatus string

// Outbox states: pending (due at NextAttemptAt), sending (leased by a worker
// until LeaseUntil), and the final ones: sent, failed (retries exhausted, see
// LastError), refused (the user refused the template, 43101) and
// inbox_only (the user held no unused acceptance of the template).
const (
	OutboxPending   OutboxStatus = "pending"
	OutboxSending   OutboxStatus = "sending"
	OutboxSent      OutboxStatus = "sent"
	OutboxFailed    OutboxStatus = "failed"
	OutboxRefused   OutboxStatus = "refused"
	OutboxInboxOnly OutboxStatus = "inbox_only"
)

// OutboxStatuses returns every outbox state.
func OutboxStatuses() []OutboxStatus {
	return []OutboxStatus{OutboxPending, OutboxSending, OutboxSent, OutboxFailed, OutboxRefused, OutboxInboxOnly}
}

// OutboxMessage is a WeChat subscribe message to send, written in the same
// transaction as its notification. Workers lease rows by a conditional
// UPDATE (status and lease), so each row is sent by one worker at a time.
type OutboxMessage struct {
	ID             int64  `gorm:"primaryKey"`
	NotificationID int64  `gorm:"not null;index"`
	UserID         int64  `gorm:"not null"`
	Event          string `gorm:"size:32;not null"`
	TemplateID     string `gorm:"size:64;not null"`
	// Payload is the message as JSON: {"page": …, "data": {"thing1": …}},
	// values already cut to WeChat's limits.
	Payload       string       `gorm:"type:text;not null"`
	Status        OutboxStatus `gorm:"size:16;not null;index:ix_outbox_due,priority:1"`
	NextAttemptAt time.Time    `gorm:"not null;index:ix_outbox_due,priority:2"`
	LeaseToken    string       `gorm:"size:32;not null;default:''"`
	LeaseUntil    *time.Time
	Attempts      int `gorm:"not null;default:0"`
	// GrantTaken records that one acceptance of the template was used for
	// this row, so a retry does not use another.
	GrantTaken bool   `gorm:"not null;default:false"`
	LastError  string `gorm:"size:255;not null;default:''"`
	SentAt     *time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// SubscriptionGrant counts a user's unused acceptances of one subscribe
// template: each acceptance (wx.requestSubscribeMessage) allows one message.
type SubscriptionGrant struct {
	ID         int64  `gorm:"primaryKey"`
	UserID     int64  `gorm:"not null;uniqueIndex:ux_subscription_grant,priority:1"`
	TemplateID string `gorm:"size:64;not null;uniqueIndex:ux_subscription_grant,priority:2"`
	Remaining  int    `gorm:"not null;default:0"`
	UpdatedAt  time.Time
}

// Reminder records that a reminder was made; its unique key makes a second
// one for the same (kind, period, object, user) impossible, whatever the
// number of instances sweeping.
type Reminder struct {
	ID       int64  `gorm:"primaryKey"`
	Kind     string `gorm:"size:32;not null;uniqueIndex:ux_reminder,priority:1"`
	Period   string `gorm:"size:16;not null;default:'';uniqueIndex:ux_reminder,priority:2"`
	ObjectID int64  `gorm:"not null;default:0;uniqueIndex:ux_reminder,priority:3"`
	UserID   int64  `gorm:"not null;uniqueIndex:ux_reminder,priority:4"`
	// NotificationID is the inbox row the reminder made.
	NotificationID int64 `gorm:"not null;default:0"`
	CreatedAt      time.Time
}
