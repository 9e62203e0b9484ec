package service

import (
	"context"
	"strings"

	"gorm.io/gorm"

	"linli/model"
)

// requireMember (org paths hold only digits and slashes, so a prefix match
// needs no escaping) returns 30015 unless the user lives in the issuing
// community's subtree or has an approved service record there (an approved
// activity attendance writes one).
func (s *TimeBankService) requireMember(ctx context.Context, tx *gorm.DB, user *model.User, org *model.OrgUnit) error {
	subtree := tx.Model(&model.OrgUnit{}).Select("id").Where("path LIKE ?", org.Path+"%")
	if user.HomeCommunityID != nil {
		var n int64
		if err := tx.WithContext(ctx).Model(&model.OrgUnit{}).
			Where("id = ? AND path LIKE ?", *user.HomeCommunityID, org.Path+"%").Count(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
	}
	var ids []int64
	if err := tx.WithContext(ctx).Model(&model.ServiceRecord{}).
		Where("user_id = ? AND status = ? AND community_id IN (?)", user.ID, model.RecordApproved, subtree).
		Limit(1).Pluck("id", &ids).Error; err != nil {
		return err
	}
	if len(ids) == 0 {
		return Errorf(CodeRecipientOutside, "该用户不在本社区居住，也没有在本社区服务的记录，不能由本社区补录")
	}
	return nil
}

// takeManualAllowance adds amount to what the community issued by hand this
// month by one conditional UPDATE, or returns 30014 when that would pass
// limit.
func (s *TimeBankService) takeManualAllowance(ctx context.Context, tx *gorm.DB, communityID int64, month string, cur model.Currency, amount, limit int64) error {
	fits, err := addWithinLimit(tx, &model.ManualCreditMonthTotal{CommunityID: communityID, Month: month, Currency: cur},
		&model.ManualCreditMonthTotal{}, map[string]any{"community_id": communityID, "month": month, "currency": cur}, amount, limit)
	if err == nil && !fits {
		return Errorf(CodeManualCreditMonthly, "本社区本月补录已达上限（每月最多 %d）", limit)
	}
	return err
}

// giveBackAllowance returns a refused request's amount to the month it was
// counted in.
func (s *TimeBankService) giveBackAllowance(ctx context.Context, tx *gorm.DB, row *model.ManualCredit) error {
	_, perMonth, _ := s.deps.Config.TimeBank.ManualCredit.Limits(string(row.Currency))
	if perMonth <= 0 {
		return nil
	}
	month := row.CreatedAt.In(s.deps.Config.Location).Format("200601")
	return tx.WithContext(ctx).Model(&model.ManualCreditMonthTotal{}).
		Where("community_id = ? AND month = ? AND currency = ? AND amount >= ?", row.CommunityID, month, row.Currency, row.Amount).
		Update("amount", gorm.Expr("amount - ?", row.Amount)).Error
}

// mayDecide returns nil when actorID may approve or refuse a credit request
// of the community: staff of the community itself or an admin of it or of
// an org above. It returns 10005 for an unknown community and 10004
// otherwise.
func (s *TimeBankService) mayDecide(ctx context.Context, tx *gorm.DB, actorID, communityID int64) error {
	if _, err := s.authz.RequireAdmin(ctx, tx, actorID, communityID); err == nil || ErrorCode(err) != CodeForbidden {
		return err
	}
	var n int64
	if err := tx.WithContext(ctx).Model(&model.StaffRole{}).
		Where("user_id = ? AND org_id = ? AND role = ?", actorID, communityID, model.RoleStaff).Count(&n).Error; err != nil {
		return err
	}
	if n == 0 {
		return forbidden("只有本社区的其他工作人员或上级管理员可以审批补录申请")
	}
	return nil
}

// decideCreditRequest loads a credit request for a decision by actorID. It
// returns 10005 for an unknown request (or one the actor may not see),
// 10004 unless mayDecide, and 30012 when the actor requested it or would
// receive it (unless allowOwn, for a requester withdrawing their request).
func (s *TimeBankService) decideCreditRequest(ctx context.Context, tx *gorm.DB, actorID, id int64, allowOwn bool) (*model.ManualCredit, error) {
	var row model.ManualCredit
	if err := tx.WithContext(ctx).First(&row, id).Error; err != nil {
		return nil, notFoundOr(err, "补录申请")
	}
	if _, err := s.authz.RequireStaff(ctx, tx, actorID, row.CommunityID); err != nil {
		return nil, notFound("补录申请")
	}
	if row.UserID == actorID {
		return nil, selfAction("审批给自己的补录")
	}
	if row.ActorID == actorID {
		if !allowOwn {
			return nil, selfAction("审批自己提交的补录申请")
		}
		return &row, nil
	}
	if err := s.mayDecide(ctx, tx, actorID, row.CommunityID); err != nil {
		return nil, err
	}
	return &row, nil
}

// ApproveCreditRequest approves a pending credit request and pays it, once:
// the request moves pending → approved by one conditional UPDATE that also
// requires a decider other than the requester, and the ledger source
// manual_credit:<id> is unique, so a concurrent second approval (on any
// instance) pays nothing. It returns 10005 for an unknown request, 10004
// unless the caller is staff of the community or an admin above, 30012 when
// the caller made the request or is its recipient, and 10006 when it is no
// longer pending.
func (s *TimeBankService) ApproveCreditRequest(ctx context.Context, actorID, id int64) (*ManualCreditView, error) {
	var row *model.ManualCredit
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		var err error
		if row, err = s.decideCreditRequest(ctx, tx, actorID, id, false); err != nil {
			return err
		}
		now := s.deps.Clock.Now()
		res := tx.Model(&model.ManualCredit{}).
			Where("id = ? AND status = ? AND actor_id <> ? AND user_id <> ?", id, model.ManualCreditPending, actorID, actorID).
			Updates(map[string]any{"status": model.ManualCreditApproved, "decided_by": actorID, "decided_at": now.UTC()})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return conflict("该补录申请已处理")
		}
		if err := tx.First(row, id).Error; err != nil {
			return err
		}
		if err := s.deps.audit(ctx, tx, reviewEvent(actorID, row.CommunityID, true, "credit_request", id,
			model.ManualCreditPending, row.Status, "")); err != nil {
			return err
		}
		return s.postManualCredit(ctx, tx, row)
	})
	if err != nil {
		return nil, err
	}
	v := s.manualCreditView(row)
	return &v, nil
}

// RejectCreditRequest refuses a pending credit request with a reason (the
// requester may withdraw their own); its amount no longer counts toward the
// monthly cap. It returns 10001 without a reason, 10005 for an unknown
// request, 10004 unless the caller may decide it, 30012 when the caller is
// its recipient, and 10006 when it is no longer pending.
func (s *TimeBankService) RejectCreditRequest(ctx context.Context, actorID, id int64, reason string) (*ManualCreditView, error) {
	reason = strings.TrimSpace(reason)
	if !textFits(reason, 1, 200) {
		return nil, invalid("请填写 1 到 200 个字符的原因")
	}
	var row *model.ManualCredit
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		var err error
		if row, err = s.decideCreditRequest(ctx, tx, actorID, id, true); err != nil {
			return err
		}
		now := s.deps.Clock.Now()
		res := tx.Model(&model.ManualCredit{}).Where("id = ? AND status = ?", id, model.ManualCreditPending).
			Updates(map[string]any{"status": model.ManualCreditRejected, "decided_by": actorID, "decided_at": now.UTC(),
				"reject_reason": reason})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return conflict("该补录申请已处理")
		}
		if err := s.giveBackAllowance(ctx, tx, row); err != nil {
			return err
		}
		if err := tx.First(row, id).Error; err != nil {
			return err
		}
		return s.deps.audit(ctx, tx, reviewEvent(actorID, row.CommunityID, false, "credit_request", id,
			model.ManualCreditPending, row.Status, reason))
	})
	if err != nil {
		return nil, err
	}
	v := s.manualCreditView(row)
	return &v, nil
}

// ManualCreditFilter selects manual credits of an org's subtree; Status
// empty means every state.
type ManualCreditFilter struct {
	OrgID  int64
	Status string
}

// ManualCredits lists the manual credits and credit requests issued by the
// communities in an org's subtree, newest first, with who requested and who
// decided. It returns 10001 without an org or for an unknown status, 10005
// for an unknown org and 10004 unless the caller is staff of the org or
// above.
func (s *TimeBankService) ManualCredits(ctx context.Context, actorID int64, f ManualCreditFilter, p Page) (List[ManualCreditView], error) {
	db := s.deps.DB.WithContext(ctx)
	if f.OrgID <= 0 {
		return List[ManualCreditView]{}, invalid("请指定 orgId")
	}
	switch f.Status {
	case "", model.ManualCreditPosted, model.ManualCreditPending, model.ManualCreditApproved, model.ManualCreditRejected:
	default:
		return List[ManualCreditView]{}, invalid("status 需为 posted、pending、approved 或 rejected")
	}
	org, err := s.authz.RequireStaff(ctx, db, actorID, f.OrgID)
	if err != nil {
		return List[ManualCreditView]{}, err
	}
	subtree := db.Model(&model.OrgUnit{}).Select("id").Where("path LIKE ?", org.Path+"%")
	q := db.Model(&model.ManualCredit{}).Where("community_id IN (?)", subtree)
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	rows, total, err := findPage[model.ManualCredit](q, "id DESC", p)
	if err != nil {
		return List[ManualCreditView]{}, err
	}
	out := make([]ManualCreditView, 0, len(rows))
	for i := range rows {
		out = append(out, s.manualCreditView(&rows[i]))
	}
	return NewList(out, total, p), nil
}
