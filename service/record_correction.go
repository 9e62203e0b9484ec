package service

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"linli/internal/ledger"
	"linli/model"
)

// CorrectionInput is a volunteer's correction request: exactly one of
// AttendanceID and ServiceID, the minutes asked for (nil: no change of
// minutes, e.g. a wrong activity) and the reason.
type CorrectionInput struct {
	AttendanceID *int64
	ServiceID    *int64
	Minutes      *int
	Reason       string
}

// CorrectionView is a correction request with its decision, as both the
// volunteer and staff of the organiser see it.
type CorrectionView struct {
	ID             int64                  `json:"id"`
	UserID         int64                  `json:"userId"`
	CommunityID    int64                  `json:"communityId"`
	AttendanceID   *int64                 `json:"attendanceId"`
	ServiceID      *int64                 `json:"serviceId"`
	Title          string                 `json:"title"`
	OldMinutes     int                    `json:"oldMinutes"`
	NewMinutes     *int                   `json:"newMinutes"`
	Reason         string                 `json:"reason"`
	Status         model.CorrectionStatus `json:"status"`
	DecidedBy      *int64                 `json:"decidedBy"`
	DecidedAt      *time.Time             `json:"decidedAt"`
	GrantedMinutes *int                   `json:"grantedMinutes"`
	DecisionNote   string                 `json:"decisionNote"`
	CreatedAt      time.Time              `json:"createdAt"`
}

func (s *VolunteerRecordService) correctionView(c *model.RecordCorrection) CorrectionView {
	v := CorrectionView{ID: c.ID, UserID: c.UserID, CommunityID: c.CommunityID, AttendanceID: c.AttendanceID,
		ServiceID: c.ServiceID, Title: c.Title, OldMinutes: c.OldMinutes, NewMinutes: c.NewMinutes, Reason: c.Reason,
		Status: c.Status, DecidedBy: c.DecidedBy, GrantedMinutes: c.GrantedMinutes, DecisionNote: c.DecisionNote,
		CreatedAt: c.CreatedAt.In(s.deps.Config.Location)}
	if c.DecidedAt != nil {
		t := c.DecidedAt.In(s.deps.Config.Location)
		v.DecidedAt = &t
	}
	return v
}

// RequestCorrection files the caller's request to correct one of their
// records: an approved (or marked absent) activity attendance, or an
// approved service record. A record has at most one pending request. It
// returns 10001 for a bad field (neither or both ids, minutes outside 1–720
// or beyond the activity's length or equal to the recorded ones, a reason
// not of 2–500 characters), 10005 for a record that is not the caller's,
// 80004 for a record that is not approved or whose minutes are not credited
// (a wish, a case) when minutes are asked for, and 80002 when a request for
// the record is already pending.
func (s *VolunteerRecordService) RequestCorrection(ctx context.Context, actorID int64, in CorrectionInput) (*CorrectionView, error) {
	if (in.AttendanceID == nil) == (in.ServiceID == nil) {
		return nil, invalid("请提供 attendanceId 或 serviceId 之一")
	}
	reason, err := textField(in.Reason, 2, 500, "更正理由")
	if err != nil {
		return nil, err
	}
	if in.Minutes != nil && (*in.Minutes < 1 || *in.Minutes > MaxRecordMinutes) {
		return nil, invalid("更正后的时长需为 1 到 %d 分钟", MaxRecordMinutes)
	}
	var out CorrectionView
	err = s.deps.tx(ctx, func(tx *gorm.DB) error {
		c := model.RecordCorrection{UserID: actorID, NewMinutes: in.Minutes, Reason: reason, Status: model.CorrectionPending}
		attID := in.AttendanceID
		if in.ServiceID != nil {
			var r model.ServiceRecord
			if err := tx.Where("id = ? AND user_id = ?", *in.ServiceID, actorID).First(&r).Error; err != nil {
				return notFoundOr(err, "服务记录")
			}
			if r.Status != model.RecordApproved {
				return Errorf(CodeRecordNotCorrectable, "只有已通过审核的服务记录可以申请更正")
			}
			id := r.ID
			c.ServiceID, c.CommunityID, c.OldMinutes = &id, r.CommunityID, r.Minutes
			c.Title = kindLabel(r.Kind) + " " + r.OccurredAt.In(s.deps.Config.Location).Format(time.DateOnly)
			if r.SourceKey != nil {
				kind, idText, _ := strings.Cut(*r.SourceKey, ":")
				n, _ := strconv.ParseInt(idText, 10, 64)
				switch {
				case kind == "attendance":
					attID = &n
				case in.Minutes != nil:
					return Errorf(CodeRecordNotCorrectable, "该记录不按服务时长入账，不能更正时长；如内容有误请只填写理由")
				}
			}
		}
		if attID != nil {
			var att model.Attendance
			if err := tx.Where("id = ? AND user_id = ?", *attID, actorID).First(&att).Error; err != nil {
				return notFoundOr(err, "考勤记录")
			}
			if att.State != model.AttendApproved && att.State != model.AttendAbsent {
				return Errorf(CodeRecordNotCorrectable, "考勤尚未审核，请等待工作人员审核后再申请更正")
			}
			a, err := loadActivity(ctx, tx, att.ActivityID)
			if err != nil {
				return err
			}
			if in.Minutes != nil && *in.Minutes > wholeMinutes(a.EndAt.Sub(a.StartAt)) {
				return invalid("更正后的时长不能超过活动时长 %d 分钟", wholeMinutes(a.EndAt.Sub(a.StartAt)))
			}
			id := att.ID
			c.AttendanceID, c.CommunityID, c.OldMinutes, c.Title = &id, a.CommunityID, att.Minutes, a.Title
			if c.ServiceID == nil {
				var r model.ServiceRecord
				if err := tx.Where("source_key = ?", activityRecordKey(&att)).Limit(1).Find(&r).Error; err != nil {
					return err
				}
				if r.ID != 0 {
					c.ServiceID = &r.ID
				}
			}
		}
		if in.Minutes != nil && *in.Minutes == c.OldMinutes {
			return invalid("更正后的时长与记录相同（%d 分钟）", c.OldMinutes)
		}
		key := fmt.Sprintf("service:%d", derefOr(c.ServiceID))
		if c.AttendanceID != nil {
			key = fmt.Sprintf("attendance:%d", *c.AttendanceID)
		}
		c.OpenKey = &key
		if err := tx.Create(&c).Error; err != nil {
			if isDuplicate(err) {
				return Errorf(CodeCorrectionOpen, "该记录已有待处理的更正申请，请等待处理结果")
			}
			return err
		}
		out = s.correctionView(&c)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

func derefOr(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

// MyCorrections lists the caller's correction requests with their
// decisions, newest first.
func (s *VolunteerRecordService) MyCorrections(ctx context.Context, actorID int64, p Page) (List[CorrectionView], error) {
	q := s.deps.DB.WithContext(ctx).Model(&model.RecordCorrection{}).Where("user_id = ?", actorID)
	rows, total, err := findPage[model.RecordCorrection](q, "id DESC", p)
	if err != nil {
		return List[CorrectionView]{}, err
	}
	out := make([]CorrectionView, 0, len(rows))
	for i := range rows {
		out = append(out, s.correctionView(&rows[i]))
	}
	return NewList(out, total, p), nil
}

// AdminCorrections lists the correction requests of the organisers in
// orgID's subtree for its staff, oldest first; status defaults to pending
// ("all" lists every one). It returns 10001 for an unknown status, 10005 for
// an unknown org and 10004 unless the caller is its staff.
func (s *VolunteerRecordService) AdminCorrections(ctx context.Context, actorID, orgID int64, status string, p Page) (List[CorrectionView], error) {
	db := s.deps.DB.WithContext(ctx)
	org, err := s.authz.RequireStaff(ctx, db, actorID, orgID)
	if err != nil {
		return List[CorrectionView]{}, err
	}
	subtree := db.Session(&gorm.Session{NewDB: true}).Model(&model.OrgUnit{}).Select("id").Where("path LIKE ?", org.Path+"%")
	q := db.Model(&model.RecordCorrection{}).Where("community_id IN (?)", subtree)
	switch model.CorrectionStatus(status) {
	case "":
		q = q.Where("status = ?", model.CorrectionPending)
	case model.CorrectionPending, model.CorrectionAccepted, model.CorrectionRefused:
		q = q.Where("status = ?", status)
	case "all":
	default:
		return List[CorrectionView]{}, invalid("status 需为 pending、accepted、refused 或 all")
	}
	rows, total, err := findPage[model.RecordCorrection](q, "id", p)
	if err != nil {
		return List[CorrectionView]{}, err
	}
	out := make([]CorrectionView, 0, len(rows))
	for i := range rows {
		out = append(out, s.correctionView(&rows[i]))
	}
	return NewList(out, total, p), nil
}

// AcceptCorrection accepts a pending correction request, by staff of the
// organiser's community or above. With minutes (the staff's figure, else
// the minutes asked for) the record is corrected through the ledger as
// staff corrections already are: for an attendance, a re-approval with the
// new minutes (reversal of the credits in force plus a new credit); for a
// self-logged record, the reversal of its credits in force and a new credit
// keyed by the correction. Without minutes the decision is recorded only.
// The volunteer is notified and the decision audited in the same
// transaction; only one decision is ever taken (a conditional UPDATE). It
// returns 10001 for bad minutes or an over-long note, 10005 for an unknown
// request, 10004 unless the caller is staff of the organiser, 30012 for the
// caller's own record, 80003 when it is already decided and 30001 when the
// reversal would take back points already spent.
func (s *VolunteerRecordService) AcceptCorrection(ctx context.Context, actorID, id int64, minutes *int, note string) (*CorrectionView, error) {
	note, err := textField(note, 0, 500, "处理说明")
	if err != nil {
		return nil, err
	}
	if minutes != nil && (*minutes < 1 || *minutes > MaxRecordMinutes) {
		return nil, invalid("时长需为 1 到 %d 分钟", MaxRecordMinutes)
	}
	return s.decide(ctx, actorID, id, true, minutes, note)
}

// RefuseCorrection refuses a pending correction request with a reason; the
// volunteer is notified and the decision audited in the same transaction.
// It returns 10001 for a reason not of 2–500 characters and the other codes
// of AcceptCorrection but 30001.
func (s *VolunteerRecordService) RefuseCorrection(ctx context.Context, actorID, id int64, reason string) (*CorrectionView, error) {
	reason, err := textField(reason, 2, 500, "驳回理由")
	if err != nil {
		return nil, err
	}
	return s.decide(ctx, actorID, id, false, nil, reason)
}

func (s *VolunteerRecordService) decide(ctx context.Context, actorID, id int64, accept bool, minutes *int, note string) (*CorrectionView, error) {
	var out CorrectionView
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		var c model.RecordCorrection
		if err := tx.First(&c, id).Error; err != nil {
			return notFoundOr(err, "更正申请")
		}
		if _, err := s.authz.RequireStaff(ctx, tx, actorID, c.CommunityID); err != nil {
			return err
		}
		if c.UserID == actorID {
			return selfAction("处理自己记录的更正申请")
		}
		if c.Status != model.CorrectionPending {
			return Errorf(CodeCorrectionDecided, "该更正申请已处理，不能重复处理")
		}
		granted := c.NewMinutes
		if minutes != nil {
			granted = minutes
		}
		if !accept {
			granted = nil
		}
		now := s.deps.Clock.Now().UTC()
		status := model.CorrectionRefused
		if accept {
			status = model.CorrectionAccepted
		}
		// One decision: the first UPDATE to find the request pending wins;
		// a concurrent one waits for it and then matches no row.
		res := tx.Model(&model.RecordCorrection{}).Where("id = ? AND status = ?", id, model.CorrectionPending).
			Updates(map[string]any{"status": status, "open_key": nil, "decided_by": actorID, "decided_at": now,
				"granted_minutes": granted, "decision_note": note, "updated_at": now})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return Errorf(CodeCorrectionDecided, "该更正申请已处理，不能重复处理")
		}
		if granted != nil && *granted != c.OldMinutes {
			if err := s.applyMinutes(ctx, tx, &c, actorID, *granted, note); err != nil {
				return err
			}
		}
		action, event := AuditCorrectionRefuse, EventCorrectionRefused
		if accept {
			action, event = AuditCorrectionAccept, EventCorrectionAccepted
		}
		after := map[string]any{"status": status}
		if granted != nil {
			after["minutes"] = *granted
		}
		if err := s.deps.audit(ctx, tx, auditEvent{Actor: actorID, Org: c.CommunityID, Action: action,
			ObjectKind: "record_correction", ObjectID: c.ID,
			Before: map[string]any{"status": c.Status, "minutes": c.OldMinutes}, After: after, Reason: note}); err != nil {
			return err
		}
		if err := s.notify.Notify(tx, Notice{UserID: c.UserID, Event: event, ObjectKind: "record_correction",
			ObjectID: c.ID, Subject: c.Title, Note: note}); err != nil {
			return err
		}
		if err := tx.First(&c, id).Error; err != nil {
			return err
		}
		out = s.correctionView(&c)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// applyMinutes corrects the record of c to minutes through the ledger
// inside tx; see AcceptCorrection.
func (s *VolunteerRecordService) applyMinutes(ctx context.Context, tx *gorm.DB, c *model.RecordCorrection, actorID int64, minutes int, note string) error {
	reason := fmt.Sprintf("更正申请 #%d", c.ID)
	if note != "" {
		reason += "：" + note
	}
	if c.AttendanceID != nil {
		var att model.Attendance
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).First(&att, *c.AttendanceID).Error; err != nil {
			return err
		}
		a, err := loadActivity(ctx, tx, att.ActivityID)
		if err != nil {
			return err
		}
		score := att.Score
		if score == 0 { // an absence corrected to attendance: the middle score
			score = 3
		}
		return s.activities.approveAlone(ctx, tx, a, actorID,
			ApprovalItem{UserID: att.UserID, Minutes: minutes, Score: score, Reason: truncateRunes(reason, 200)}, &att)
	}
	var r model.ServiceRecord
	if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).First(&r, derefOr(c.ServiceID)).Error; err != nil {
		return err
	}
	if r.SourceKey != nil || r.Status != model.RecordApproved {
		return Errorf(CodeRecordNotCorrectable, "该记录已不能按时长更正")
	}
	// The credits in force: those of the last accepted correction of the
	// record, else those of its approval.
	var inForce []int64
	var last model.RecordCorrection
	if err := tx.Where("service_id = ? AND status = ? AND minutes_txn_id IS NOT NULL AND id <> ?",
		r.ID, model.CorrectionAccepted, c.ID).Order("id DESC").Limit(1).Find(&last).Error; err != nil {
		return err
	}
	if last.ID != 0 {
		for _, p := range []*int64{last.MinutesTxnID, last.PointsTxnID} {
			if p != nil {
				inForce = append(inForce, *p)
			}
		}
	} else if err := tx.Model(&model.LedgerTxn{}).Where("source_kind = ? AND source_id = ? AND kind = ?",
		recordSource, strconv.FormatInt(r.ID, 10), ledger.KindCredit).Order("id").Pluck("id", &inForce).Error; err != nil {
		return err
	}
	src := ledger.Source{Kind: SourceRecordCorrectionReversal, ID: strconv.FormatInt(c.ID, 10)}
	for _, txn := range inForce {
		if _, err := s.timeBank.Reverse(ctx, tx, txn, src, "服务记录更正"); err != nil {
			if ErrorCode(err) == CodeInsufficientBalance {
				return Wrap(CodeInsufficientBalance, "该志愿者的余额已不足以冲正此前入账的时长或积分", err)
			}
			return err
		}
	}
	credit := ledger.Source{Kind: SourceRecordCorrection, ID: strconv.FormatInt(c.ID, 10)}
	memo := "服务记录更正：" + kindLabel(r.Kind)
	mrec, err := s.timeBank.Credit(ctx, tx, ledger.Credit{UserID: r.UserID, CommunityID: r.CommunityID,
		Currency: model.CurrencyMinutes, Amount: int64(minutes), Source: credit, Memo: memo})
	if err != nil {
		return err
	}
	updates := map[string]any{"minutes_txn_id": mrec.TxnID}
	if points := int64(minutes) * int64(s.deps.Config.Report.PointsPerHour) / 60; points > 0 {
		prec, err := s.timeBank.Credit(ctx, tx, ledger.Credit{UserID: r.UserID, CommunityID: r.CommunityID,
			Currency: model.CurrencyPoints, Amount: points, Source: credit, Memo: memo})
		if err != nil {
			return err
		}
		updates["points_txn_id"] = prec.TxnID
	}
	if err := tx.Model(&model.RecordCorrection{}).Where("id = ?", c.ID).Updates(updates).Error; err != nil {
		return err
	}
	return tx.Model(&model.ServiceRecord{}).Where("id = ?", r.ID).
		Updates(map[string]any{"minutes": minutes, "reviewed_by": actorID, "reviewed_at": s.deps.Clock.Now().UTC()}).Error
}
