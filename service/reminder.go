package service

import (
	"context"

	"gorm.io/gorm"

	"linli/model"
)

// Reminder kinds (model.Reminder.Kind).
const (
	reminderActivity   = "activity_start"
	reminderObligation = "obligation"
)

// reminderBatch is how many reminders one read of due targets returns.
const reminderBatch = 200

// ReminderResult counts the reminders one sweep made.
type ReminderResult struct {
	Activities  int `json:"activities"`
	Obligations int `json:"obligations"`
}

// SweepReminders makes the reminders that are due: participants of
// activities starting within notify.activity_reminder_before, and members
// not yet compliant within notify.obligation_reminder_days of the quarter's
// end. It is safe on every instance at once and run again: a reminder's
// unique key (model.Reminder) makes a second one impossible.
func (s *Service) SweepReminders(ctx context.Context) (ReminderResult, error) {
	var r ReminderResult
	var err error
	if r.Activities, err = s.Activities.remindUpcoming(ctx); err != nil {
		return r, err
	}
	r.Obligations, err = s.Reports.remindObligations(ctx)
	return r, err
}

// reminderTarget is one user to remind about one object.
type reminderTarget struct {
	UserID   int64
	ObjectID int64
	Subject  string
}

// remindAll makes the reminders of targets (read by next, a batch at a
// time, until one comes back short), each in its own transaction. It
// returns how many this call made.
func remindAll(ctx context.Context, d Deps, n *NotificationService, kind, period, event string, next func(db *gorm.DB) ([]reminderTarget, error)) (int, error) {
	made := 0
	for {
		targets, err := next(d.DB.WithContext(ctx))
		if err != nil || len(targets) == 0 {
			return made, err
		}
		// One short transaction per reminder: sweeps on other instances
		// that meet the same reminder wait for its row lock only briefly.
		for _, t := range targets {
			var ok bool
			err = d.tx(ctx, func(tx *gorm.DB) error {
				var err error
				ok, err = n.remind(tx, kind, period, t.ObjectID, Notice{UserID: t.UserID, Event: event,
					ObjectKind: objectKindOf(event), ObjectID: t.ObjectID, Subject: t.Subject})
				return err
			})
			if err != nil {
				return made, err
			}
			if ok {
				made++
			}
		}
		if err != nil || len(targets) < reminderBatch {
			return made, err
		}
	}
}

func objectKindOf(event string) string {
	if event == EventActivityReminder {
		return "activity"
	}
	return ""
}

// remindUpcoming reminds everyone signed up for a published activity that
// starts within notify.activity_reminder_before, once per activity and
// user.
func (s *ActivityService) remindUpcoming(ctx context.Context) (int, error) {
	before := s.deps.Config.Notify.ActivityReminderBefore
	if before <= 0 {
		return 0, nil
	}
	now := s.deps.Clock.Now().UTC()
	return remindAll(ctx, s.deps, s.notify, reminderActivity, "", EventActivityReminder, func(db *gorm.DB) ([]reminderTarget, error) {
		var out []reminderTarget
		err := db.Table("attendances AS t").Select("t.user_id, a.id AS object_id, a.title AS subject").
			Joins("JOIN activities a ON a.id = t.activity_id").
			Where("a.status = ? AND a.start_at > ? AND a.start_at <= ? AND t.status = ?",
				model.ActivityPublished, now, now.Add(before), model.SignupSigned).
			Where("NOT EXISTS (SELECT 1 FROM reminders r WHERE r.kind = ? AND r.period = '' AND r.object_id = a.id AND r.user_id = t.user_id)",
				reminderActivity).
			Order("a.id, t.user_id").Limit(reminderBatch).Scan(&out).Error
		return out, err
	})
}

// remindObligations reminds every member whose report is approved and who
// does not yet meet the quarter's requirements, once per member and
// quarter, from notify.obligation_reminder_days before the quarter ends.
func (s *ReportService) remindObligations(ctx context.Context) (int, error) {
	days := s.deps.Config.Notify.ObligationReminderDays
	now := s.deps.Clock.Now()
	q := quarterOf(now, s.deps.Config.Location)
	if days <= 0 || now.Before(q.End.AddDate(0, 0, -days)) {
		return 0, nil
	}
	period := q.String()
	return remindAll(ctx, s.deps, s.notify, reminderObligation, period, EventObligationReminder, func(db *gorm.DB) ([]reminderTarget, error) {
		var out []reminderTarget
		err := db.Table("(?) AS t", s.memberObligations(db, q, memberFilter{})).
			Select("DISTINCT t.user_id, ? AS subject", period+" 季度").
			Where("t.compliant = 0").
			Where("NOT EXISTS (SELECT 1 FROM reminders r WHERE r.kind = ? AND r.period = ? AND r.object_id = 0 AND r.user_id = t.user_id)",
				reminderObligation, period).
			Order("t.user_id").Limit(reminderBatch).Scan(&out).Error
		return out, err
	})
}
