package service

import (
	"context"
	"fmt"
	"sync"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"linli/model"
)

// signupGroups gathers the sign-ups for one activity that arrive on this
// instance while an earlier group for it is being written, so that a crowd
// signing up at once costs one transaction per group (one lock of the
// activity, one multi-row INSERT, one commit) instead of one per person,
// each queueing on the activity's row. A sign-up that finds nothing in
// flight for its activity starts at once, alone, through the single path
// (signupOne); the groups form only under load. Each instance groups its
// own requests; the database's locks order the groups of all instances.
type signupGroups struct {
	max int
	run func(activityID int64, group []*signupCall)

	mu     sync.Mutex
	queues map[int64]*signupQueue // by activity, while one of its groups runs
}

// signupQueue is the sign-ups waiting for an activity's running group.
type signupQueue struct {
	waiting []*signupCall
}

// signupCall is one caller's sign-up waiting for its group; done is closed
// once out or err is set.
type signupCall struct {
	ctx    context.Context
	userID int64
	out    *SignupResult
	err    error
	done   chan struct{}
}

// finish answers c.
func (c *signupCall) finish(out *SignupResult, err error) {
	c.out, c.err = out, err
	close(c.done)
}

// newSignupGroups returns groups of at most max sign-ups, each written by
// run.
func newSignupGroups(max int, run func(activityID int64, group []*signupCall)) *signupGroups {
	return &signupGroups{max: max, run: run, queues: map[int64]*signupQueue{}}
}

// submit queues c behind the activity's running group, or starts a group
// of its own when none runs.
func (g *signupGroups) submit(activityID int64, c *signupCall) {
	g.mu.Lock()
	if q := g.queues[activityID]; q != nil {
		q.waiting = append(q.waiting, c)
		g.mu.Unlock()
		return
	}
	g.queues[activityID] = &signupQueue{}
	g.mu.Unlock()
	go g.drain(activityID, []*signupCall{c})
}

// drain runs group, then the sign-ups that queued meanwhile, max at a
// time, until none is left.
func (g *signupGroups) drain(activityID int64, group []*signupCall) {
	for {
		g.run(activityID, group)
		g.mu.Lock()
		q := g.queues[activityID]
		if len(q.waiting) == 0 {
			delete(g.queues, activityID)
			g.mu.Unlock()
			return
		}
		n := min(len(q.waiting), g.max)
		group = q.waiting[:n:n]
		q.waiting = q.waiting[n:]
		g.mu.Unlock()
	}
}

// queued is how many sign-ups wait behind the activity's running group.
func (g *signupGroups) queued(activityID int64) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if q := g.queues[activityID]; q != nil {
		return len(q.waiting)
	}
	return 0
}

// hold marks a group of the activity as running, so that sign-ups queue
// until the returned release runs them (tests only).
func (g *signupGroups) hold(activityID int64) (release func()) {
	g.mu.Lock()
	g.queues[activityID] = &signupQueue{}
	g.mu.Unlock()
	return func() {
		g.mu.Lock()
		q := g.queues[activityID]
		n := min(len(q.waiting), g.max)
		group := q.waiting[:n:n]
		q.waiting = q.waiting[n:]
		g.mu.Unlock()
		go g.drain(activityID, group)
	}
}

// signupAll answers every sign-up of group: alone through signupOne, or
// together through signupTogether; a sign-up the group cannot decide (the
// same caller twice, a row that changed under it) is made again alone.
// A caller that has gone away before its group starts is not signed up.
func (s *ActivityService) signupAll(activityID int64, group []*signupCall) {
	live := make([]*signupCall, 0, len(group))
	for _, c := range group {
		if err := c.ctx.Err(); err != nil {
			c.finish(nil, err)
			continue
		}
		live = append(live, c)
	}
	if len(live) == 1 {
		c := live[0]
		c.finish(s.signupOne(c.ctx, c.userID, activityID))
		return
	}
	if len(live) == 0 {
		return
	}
	ctx, cancel := groupContext(live)
	defer cancel()
	alone, err := s.signupTogether(ctx, activityID, live)
	if err != nil {
		for _, c := range live {
			c.finish(nil, err)
		}
		return
	}
	for _, c := range alone {
		go func() { c.finish(s.signupOne(c.ctx, c.userID, activityID)) }()
	}
}

// groupContext is the context a group's transaction runs under: the first
// caller's values (request id, logging), not cancelled when that caller
// goes away, and bounded by the latest deadline among the callers.
func groupContext(calls []*signupCall) (context.Context, context.CancelFunc) {
	ctx := context.WithoutCancel(calls[0].ctx)
	var last time.Time
	for _, c := range calls {
		d, ok := c.ctx.Deadline()
		if !ok {
			return context.WithCancel(ctx)
		}
		if d.After(last) {
			last = d
		}
	}
	return context.WithDeadline(ctx, last)
}

// errSignupAlone rolls back a group that must be made again one sign-up at
// a time: the activity is not open (each caller gets the single path's
// answer), or a row changed under the group's locks.
const errSignupAlone = errorString("activity: group sign-up falls back to single sign-ups")

// signupDecision is what a group decided for one of its sign-ups.
type signupDecision struct {
	call *signupCall
	out  *SignupResult
	err  error
}

// signupTogether signs up calls (two or more, for one activity) in one
// transaction under an exclusive lock of the activity: the callers'
// registrations locked and their facts read in one statement each, every
// refusal decided as signupOne would, the seats taken by one UPDATE, the
// waitlisted placed after the waitlist as it stands under the lock, and
// every row inserted by one statement. Callers are answered after the
// commit. It returns the calls to make again alone (a caller's second
// sign-up in the group, or all of them when the group cannot decide), or
// the database's error, which answers every call.
func (s *ActivityService) signupTogether(ctx context.Context, activityID int64, calls []*signupCall) ([]*signupCall, error) {
	var decided []signupDecision
	var alone []*signupCall
	err := s.deps.txReadCommitted(ctx, func(tx *gorm.DB) error {
		decided, alone = decided[:0], alone[:0]
		seen := make(map[int64]bool, len(calls))
		var group []*signupCall
		var ids []int64
		for _, c := range calls {
			if seen[c.userID] {
				alone = append(alone, c)
				continue
			}
			seen[c.userID] = true
			group = append(group, c)
			ids = append(ids, c.userID)
		}
		var registered []int64
		if err := tx.Model(&model.VolunteerProfile{}).Clauses(clause.Locking{Strength: "UPDATE"}).
			Where("user_id IN ?", ids).Pluck("user_id", &registered).Error; err != nil {
			return err
		}
		var a model.Activity
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("id = ?", activityID).Limit(1).Find(&a).Error; err != nil {
			return err
		}
		if a.ID == 0 || a.Status != model.ActivityPublished {
			return errSignupAlone
		}
		facts, err := s.groupFacts(ctx, tx, &a, ids)
		if err != nil {
			return err
		}
		isRegistered := make(map[int64]bool, len(registered))
		for _, id := range registered {
			isRegistered[id] = true
		}
		var admitted []*signupCall
		var reused []int64
		for _, c := range group {
			var err error
			if !isRegistered[c.userID] {
				err = Errorf(CodeVolunteerRequired, "请先完成志愿者注册")
			} else {
				f := signupFacts{Activity: a, Who: facts[c.userID]}
				err = s.admit(ctx, tx, c.userID, &f)
				if err == nil && f.Who.ExistingID != nil {
					reused = append(reused, *f.Who.ExistingID)
				}
			}
			if err != nil {
				decided = append(decided, signupDecision{call: c, err: err})
				continue
			}
			admitted = append(admitted, c)
		}
		seats := len(admitted)
		if a.Capacity > 0 {
			seats = min(seats, max(a.Capacity-a.Signed, 0))
		}
		if !a.Waitlist && seats < len(admitted) {
			for _, c := range admitted[seats:] {
				decided = append(decided, signupDecision{call: c, err: Errorf(CodeActivityFull, "活动名额已满")})
			}
			admitted = admitted[:seats]
		}
		if len(admitted) == 0 {
			return nil
		}
		s.pages.Changed(tx, a.CommunityID)
		if len(reused) > 0 {
			// A sign-up made again is a new row (see signupOne).
			res := tx.Where("id IN ? AND status = ?", reused, model.SignupCancelled).Delete(&model.Attendance{})
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected != int64(len(reused)) {
				return errSignupAlone
			}
		}
		if seats > 0 {
			if err := tx.Model(&model.Activity{}).Where("id = ?", a.ID).
				Update("signed", gorm.Expr("signed + ?", seats)).Error; err != nil {
				return err
			}
		}
		var ahead int64
		if len(admitted) > seats {
			// Under the exclusive lock every earlier joiner of the waitlist
			// has committed (they hold the shared lock to commit; see
			// joinWaitlist) and no later one has started.
			if err := tx.Model(&model.Attendance{}).Where("activity_id = ? AND status = ?", a.ID, model.SignupWaitlisted).
				Count(&ahead).Error; err != nil {
				return err
			}
		}
		now := s.deps.Clock.Now().UTC()
		rows := make([]model.Attendance, len(admitted))
		for i, c := range admitted {
			out := &SignupResult{Status: model.SignupSigned}
			if i >= seats {
				place := int(ahead) + i - seats + 1
				out = &SignupResult{Status: model.SignupWaitlisted, Position: &place}
			}
			// Rows are inserted in this order, so ids (the waitlist's
			// order) follow the places.
			rows[i] = model.Attendance{ActivityID: a.ID, UserID: c.userID, Status: out.Status,
				SignedUpAt: now, State: model.AttendNone, ActivityEndAt: &a.EndAt, CreatedAt: now, UpdatedAt: now}
			decided = append(decided, signupDecision{call: c, out: out})
		}
		err = tx.Select("activity_id", "user_id", "status", "signed_up_at", "state", "activity_end_at", "created_at", "updated_at").Create(&rows).Error
		if isDuplicate(err) {
			return errSignupAlone
		}
		return err
	})
	if err == errSignupAlone {
		return calls, nil
	}
	if err != nil {
		return nil, err
	}
	for _, d := range decided {
		d.call.finish(d.out, d.err)
	}
	return alone, nil
}

// groupFacts reads, in one statement, the facts of each of userIDs signing
// up for a (see signupFacts), by user. It returns the database's error.
func (s *ActivityService) groupFacts(ctx context.Context, tx *gorm.DB, a *model.Activity, userIDs []int64) (map[int64]signupUserFacts, error) {
	var rows []signupUserFacts
	q := fmt.Sprintf("SELECT u.id AS user_id, %s FROM activities JOIN users u ON u.id IN ? WHERE activities.id = ?", signupFactColumns)
	if err := tx.WithContext(ctx).Raw(q, append(s.signupFactArgs(), userIDs, a.ID)...).Scan(&rows).Error; err != nil {
		return nil, err
	}
	out := make(map[int64]signupUserFacts, len(rows))
	for _, r := range rows {
		out[r.UserID] = r
	}
	return out, nil
}
