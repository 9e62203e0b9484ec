package service

import (
	"fmt"

	"gorm.io/gorm"

	"linli/model"
)

// Events that tell a case's reporter (and the reporters of cases merged
// into it) how it goes; each is in config.NotificationEvents.
const (
	EventCaseAccepted   = "case_accepted"
	EventCaseAssigned   = "case_assigned"
	EventCaseWhistled   = "case_whistled"
	EventCaseDispatched = "case_dispatched"
	EventCaseReportedIn = "case_reported_in"
	EventCaseReturned   = "case_returned"
	EventCaseEscalated  = "case_escalated"
	EventCaseResolved   = "case_resolved"
	EventCaseClosed     = "case_closed"
	EventCaseReopened   = "case_reopened"
	EventCaseMerged     = "case_merged"
)

// caseEventText returns the inbox title, the status phrase (≤ 5
// characters) and the body's format of a case event, and whether event is
// one.
func caseEventText(event string) (title, status, body string, ok bool) {
	switch event {
	case EventCaseAccepted:
		return "问题已受理", "已受理", "您反映的问题%s已由社区受理", true
	case EventCaseAssigned:
		return "问题已派人办理", "办理中", "您反映的问题%s已交由党员或报到单位办理", true
	case EventCaseWhistled:
		return "问题已吹哨", "已吹哨", "您反映的问题%s已上报街道吹哨办", true
	case EventCaseDispatched:
		return "问题已派单", "已派单", "您反映的问题%s已派给职能部门", true
	case EventCaseReportedIn:
		return "部门已报到", "已报到", "职能部门已报到，办理您反映的问题%s", true
	case EventCaseReturned:
		return "问题待重新派单", "待重派", "您反映的问题%s被部门退回，吹哨办将重新派单", true
	case EventCaseEscalated:
		return "问题已上报区级", "已上报", "您反映的问题%s已上报区级吹哨办", true
	case EventCaseResolved:
		return "问题已办结", "待评价", "您反映的问题%s已办结，请评价", true
	case EventCaseClosed:
		return "问题已结案", "已结案", "您反映的问题%s已结案", true
	case EventCaseReopened:
		return "问题已重新办理", "重新办理", "您关注的问题%s已重新打开办理", true
	case EventCaseMerged:
		return "问题已合并", "已合并", "您反映的问题%s与另一案件为同一问题，已合并", true
	}
	return "", "", "", false
}

// caseSubject names a case in a notification: its number and category.
func caseSubject(c *model.Case) string {
	return fmt.Sprintf("#%d（%s）", c.ID, c.Category)
}

// tell notifies the people who follow case c of event, inside tx: its
// reporter and the reporters of cases merged into it, except actorID (the
// reporter is not told of their own rating or reopening; nil is the
// sweep). It returns the database's error.
func (s *CaseService) tell(tx *gorm.DB, c *model.Case, actorID *int64, event, note string) error {
	var to []int64
	if err := tx.Model(&model.CaseFollower{}).Where("case_id = ?", c.ID).Order("user_id").Pluck("user_id", &to).Error; err != nil {
		return err
	}
	to = append([]int64{c.ReporterID}, to...)
	ns := make([]Notice, 0, len(to))
	for _, u := range to {
		if actorID != nil && u == *actorID {
			continue
		}
		ns = append(ns, Notice{UserID: u, Event: event, ObjectKind: "case", ObjectID: c.ID, Subject: caseSubject(c), Note: note})
	}
	return s.notify.Notify(tx, ns...)
}
