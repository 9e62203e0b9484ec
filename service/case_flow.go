package service

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"linli/internal/ledger"
	"linli/model"
)

// caseStep is one transition: the case moves from one of from to to,
// provided nobody moved it since it was read (StepSeq).
type caseStep struct {
	from []model.CaseStatus
	to   model.CaseStatus
	set  map[string]any
}

// move applies st to c inside tx by one conditional UPDATE and reports
// whether it did; c is updated in memory on success.
func (s *CaseService) move(tx *gorm.DB, c *model.Case, st caseStep) (bool, error) {
	now := s.deps.Clock.Now()
	set := map[string]any{"status": st.to, "step_seq": gorm.Expr("step_seq + 1"), "updated_at": now}
	for k, v := range st.set {
		set[k] = v
	}
	res := tx.Model(&model.Case{}).Where("id = ? AND step_seq = ? AND status IN ?", c.ID, c.StepSeq, st.from).Updates(set)
	if res.Error != nil || res.RowsAffected != 1 {
		return false, res.Error
	}
	var fresh model.Case
	if err := tx.First(&fresh, c.ID).Error; err != nil {
		return false, err
	}
	*c = fresh
	return true, nil
}

// caseStatusName is the Chinese name of a case state.
func caseStatusName(st model.CaseStatus) string {
	switch st {
	case model.CaseSubmitted:
		return "待受理"
	case model.CaseAccepted:
		return "已受理"
	case model.CaseInProgress:
		return "处理中"
	case model.CaseWhistled:
		return "已吹哨待派单"
	case model.CaseDispatched:
		return "已派单待报到"
	case model.CaseReportedIn:
		return "部门已报到"
	case model.CaseReturned:
		return "部门已退回"
	case model.CaseEscalated:
		return "已上报区级"
	case model.CaseResolved:
		return "已办结待评价"
	case model.CaseClosed:
		return "已结案"
	case model.CaseMerged:
		return "已合并"
	}
	return string(st)
}

func caseWrongState(c *model.Case) *Error {
	return conflict(fmt.Sprintf("案件当前状态为%s，不能进行此操作", caseStatusName(c.Status)))
}

// caseRefusal explains why a conditional transition of case id changed no
// row: it reads the case again with a locking read (the latest committed
// row on MySQL) and returns its wrong-state error.
func caseRefusal(tx *gorm.DB, id int64) error {
	var c model.Case
	if err := tx.Clauses(clause.Locking{Strength: "SHARE"}).First(&c, id).Error; err != nil {
		return notFoundOr(err, "案件")
	}
	return caseWrongState(&c)
}

// transition runs one action on case id in a transaction: load, check
// (returns the step to take, or an error), the conditional UPDATE, then
// after (events and other rows). A lost race returns the wrong-state error
// of the case as it is now, or lost's error when given.
func (s *CaseService) transition(ctx context.Context, actorID, id int64,
	check func(tx *gorm.DB, c *model.Case, a caseAccess) (caseStep, error),
	after func(tx *gorm.DB, before, c *model.Case) error,
	lost func(now *model.Case) error,
) (*CaseView, error) {
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		c, err := loadCase(ctx, tx, id)
		if err != nil {
			return err
		}
		a, err := s.access(ctx, tx, actorID, c)
		if err != nil {
			return err
		}
		if !a.visible() {
			return s.invisible(ctx, tx, actorID)
		}
		st, err := check(tx, c, a)
		if err != nil {
			return err
		}
		if !slices.Contains(st.from, c.Status) {
			return caseWrongState(c)
		}
		before := *c
		ok, err := s.move(tx, c, st)
		if err != nil {
			return err
		}
		if !ok {
			if lost != nil {
				var now model.Case
				if err := tx.Clauses(clause.Locking{Strength: "SHARE"}).First(&now, id).Error; err != nil {
					return err
				}
				if err := lost(&now); err != nil {
					return err
				}
			}
			return caseRefusal(tx, id)
		}
		return after(tx, &before, c)
	})
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, actorID, id)
}

// invisible is the refusal of an action on a case the caller may not see:
// 70001 for dept_staff (a department acting on a case not dispatched to
// it), else 10005 as if it did not exist.
func (s *CaseService) invisible(ctx context.Context, tx *gorm.DB, actorID int64) error {
	mine, err := deptIDsOf(ctx, tx, actorID)
	if err != nil {
		return err
	}
	if len(mine) > 0 {
		return Errorf(CodeCaseNotDispatched, "该案件未派给您所在的部门")
	}
	return notFound("案件")
}

// requireCaseStaff returns 10004 unless a says the caller is staff of the
// case's community or above.
func requireCaseStaff(a caseAccess) error {
	if !a.staff {
		return forbidden("您不是该社区的工作人员，无权操作")
	}
	return nil
}

// Accept takes a submitted case on for the community. It returns 10004
// unless the caller is staff of the case's community (or above), 10005 for
// an unknown case or one the caller may not see and 10006 unless the case
// is submitted.
func (s *CaseService) Accept(ctx context.Context, actorID, id int64) (*CaseView, error) {
	var now time.Time
	return s.transition(ctx, actorID, id, func(tx *gorm.DB, c *model.Case, a caseAccess) (caseStep, error) {
		now = s.deps.Clock.Now()
		return caseStep{from: []model.CaseStatus{model.CaseSubmitted}, to: model.CaseAccepted, set: map[string]any{
			"accepted_at": now, "step": model.StepResolve, "step_deadline": s.deadline(c.Category, model.StepResolve, now),
		}}, requireCaseStaff(a)
	}, func(tx *gorm.DB, before, c *model.Case) error {
		if err := s.event(tx, c, &actorID, roleStaff, caseActAccept, before.Status, c.Status,
			eventOpt{step: model.StepAccept, onTime: onTime(before, now)}); err != nil {
			return err
		}
		return s.tell(tx, c, &actorID, EventCaseAccepted, "")
	}, nil)
}

// Assignment names who the community gives a case to: a Party member
// reported to the case's community (UserID) or an approved unit of it
// (UnitID), exactly one.
type Assignment struct {
	UserID *int64
	UnitID *int64
}

// Assign gives an accepted case to a Party member or a unit of the case's
// community; the case is then in_progress and the assignee (or a liaison
// of the unit) may resolve it. It returns 10001 unless exactly one of
// userId and unitId is given, 10004 unless the caller is staff of the
// community, 10005 for an unknown case, 10006 unless the case is accepted
// or in_progress and 70008 when the member is not reported to the
// community or the unit is not an approved unit of it.
func (s *CaseService) Assign(ctx context.Context, actorID, id int64, to Assignment) (*CaseView, error) {
	if (to.UserID == nil) == (to.UnitID == nil) {
		return nil, invalid("请指定一名党员（userId）或一个单位（unitId）")
	}
	var name string
	return s.transition(ctx, actorID, id, func(tx *gorm.DB, c *model.Case, a caseAccess) (caseStep, error) {
		if err := requireCaseStaff(a); err != nil {
			return caseStep{}, err
		}
		st := caseStep{from: []model.CaseStatus{model.CaseAccepted, model.CaseInProgress}, to: model.CaseInProgress,
			set: map[string]any{"assignee_user_id": to.UserID, "assignee_unit_id": to.UnitID}}
		if to.UserID != nil {
			var r model.MemberReport
			err := tx.Where("active_user_id = ? AND status = ? AND community_id = ?", *to.UserID, model.ReviewApproved, c.CommunityID).
				Limit(1).Find(&r).Error
			if err != nil {
				return st, err
			}
			if r.ID == 0 {
				return st, Errorf(CodeCaseAssigneeInvalid, "该用户不是报到到本社区的党员，不能指派")
			}
			name = r.RealName
		} else {
			var u model.Unit
			if err := tx.Where("id = ? AND status = ? AND community_id = ?", *to.UnitID, model.ReviewApproved, c.CommunityID).
				Limit(1).Find(&u).Error; err != nil {
				return st, err
			}
			if u.ID == 0 {
				return st, Errorf(CodeCaseAssigneeInvalid, "该单位不是本社区已审核的报到单位，不能指派")
			}
			name = u.Name
		}
		return st, nil
	}, func(tx *gorm.DB, before, c *model.Case) error {
		if err := s.event(tx, c, &actorID, roleStaff, caseActAssign, before.Status, c.Status, eventOpt{note: "指派给" + name}); err != nil {
			return err
		}
		return s.tell(tx, c, &actorID, EventCaseAssigned, "")
	}, nil)
}

// Resolve marks a case resolved with a note and optional photos: in the
// community (accepted or in_progress) by its staff or its assignee (the
// member, or a liaison of the unit); with the departments (reported_in) by
// dept_staff of the lead department. It returns 10001 for a bad note or
// photos, 10004 for anyone else who may see the case, 10005 for an unknown
// case or one the caller may not see, 10006 in any other state and 70001
// for staff of a department that is not the lead.
func (s *CaseService) Resolve(ctx context.Context, actorID, id int64, note string, images []int64) (*CaseView, error) {
	note = strings.TrimSpace(note)
	if !textFits(note, 1, 500) {
		return nil, invalid("请填写 1 到 500 字的办理结果")
	}
	if len(images) > MaxCaseImages {
		return nil, invalid("最多上传 %d 张照片", MaxCaseImages)
	}
	var now time.Time
	var role string
	var dept *int64
	var own []int64
	return s.transition(ctx, actorID, id, func(tx *gorm.DB, c *model.Case, a caseAccess) (caseStep, error) {
		now = s.deps.Clock.Now()
		set := map[string]any{"resolved_at": now, "resolved_by": actorID, "resolved_from": c.Status,
			"resolve_note": note, "step": "", "step_deadline": nil, "resolved_dept": nil, "resolved_unit": nil}
		st := caseStep{to: model.CaseResolved, set: set}
		switch c.Status {
		case model.CaseAccepted, model.CaseInProgress:
			st.from = []model.CaseStatus{model.CaseAccepted, model.CaseInProgress}
			switch {
			case a.assignee:
				role = roleAssignee
				set["resolved_unit"] = c.AssigneeUnitID
			case a.staff:
				role = roleStaff
			default:
				return st, forbidden("只有社区工作人员或被指派的党员、单位可以办结")
			}
		case model.CaseReportedIn:
			st.from = []model.CaseStatus{model.CaseReportedIn}
			if c.LeadDeptID == nil || !slices.Contains(a.depts, *c.LeadDeptID) {
				return st, s.notLead(a)
			}
			role, dept = roleDept, c.LeadDeptID
			set["resolved_dept"] = *c.LeadDeptID
		default:
			return st, caseWrongState(c)
		}
		rows, err := s.uploads.ownUploads(ctx, tx, actorID, images, MaxCaseImages)
		if err != nil {
			return st, err
		}
		for _, r := range rows {
			own = append(own, r.ID)
		}
		set["resolve_images"] = encodeIDs(own)
		return st, nil
	}, func(tx *gorm.DB, before, c *model.Case) error {
		if err := s.uploads.attach(ctx, tx, own, model.UploadCase, c.CommunityID); err != nil {
			return err
		}
		step := model.StepResolve
		if dept != nil {
			step = model.StepDeptResolve
		}
		if err := s.event(tx, c, &actorID, role, caseActResolve, before.Status, c.Status,
			eventOpt{dept: dept, step: step, onTime: onTime(before, now), note: note}); err != nil {
			return err
		}
		return s.tell(tx, c, &actorID, EventCaseResolved, note)
	}, nil)
}

// notLead is the refusal of a department action by someone who is not
// staff of the lead department: 70001 for dept_staff (of another
// department, or of one that is not the lead), 10004 for anyone else.
func (s *CaseService) notLead(a caseAccess) error {
	if len(a.depts) > 0 {
		return Errorf(CodeCaseNotDispatched, "只有牵头部门可以办理此操作")
	}
	return forbidden("您不是承办部门的工作人员，无权操作")
}

// Whistle sends a case the community cannot solve to the street's whistle
// office (吹哨) with a reason. It returns 10001 without a reason, 10004
// unless the caller is staff of the community, 10005 for an unknown case
// and 10006 unless the case is submitted, accepted or in_progress.
func (s *CaseService) Whistle(ctx context.Context, actorID, id int64, reason string) (*CaseView, error) {
	reason = strings.TrimSpace(reason)
	if !textFits(reason, 1, 200) {
		return nil, invalid("请填写 1 到 200 字的吹哨理由")
	}
	var now time.Time
	return s.transition(ctx, actorID, id, func(tx *gorm.DB, c *model.Case, a caseAccess) (caseStep, error) {
		now = s.deps.Clock.Now()
		return caseStep{from: []model.CaseStatus{model.CaseSubmitted, model.CaseAccepted, model.CaseInProgress},
			to: model.CaseWhistled, set: map[string]any{"level": model.CaseLevelStreet, "whistle_org_id": c.StreetID,
				"step": model.StepDispatch, "step_deadline": s.deadline(c.Category, model.StepDispatch, now)}}, requireCaseStaff(a)
	}, func(tx *gorm.DB, before, c *model.Case) error {
		o := eventOpt{note: reason}
		if before.Status == model.CaseSubmitted {
			// Blowing the whistle is the community's response to the report.
			o.step, o.onTime = model.StepAccept, onTime(before, now)
		}
		if err := s.event(tx, c, &actorID, roleStaff, caseActWhistle, before.Status, c.Status, o); err != nil {
			return err
		}
		return s.tell(tx, c, &actorID, EventCaseWhistled, "")
	}, nil)
}

// requireOfficer returns nil when the caller is of the whistle office
// (street or district) that has c: its admin or its whistle officer (or of
// an org above). It returns 10004 otherwise.
func (s *CaseService) requireOfficer(ctx context.Context, tx *gorm.DB, actorID int64, c *model.Case) error {
	if c.WhistleOrgID == 0 {
		return forbidden("该案件尚未吹哨，由社区办理")
	}
	office, err := loadOrg(ctx, tx, c.WhistleOrgID)
	if err != nil {
		return err
	}
	ok, err := s.authz.holds(ctx, tx, actorID, office, model.RoleAdmin, model.RoleWhistleOfficer)
	if err != nil {
		return err
	}
	if !ok {
		return forbidden("只有街道或区的吹哨办（管理员或吹哨办工作人员）可以派单或上报")
	}
	return nil
}

// Dispatch is the input of POST /cases/{id}/dispatch.
type Dispatch struct {
	DepartmentIDs []int64
	LeadID        int64
	Deadline      *time.Time
}

// Dispatch sends a whistled, escalated or returned case to departments,
// one of them leading; the lead reports in, resolves or returns it. Two
// officers dispatching at once: one dispatch. It returns 10001 for a bad
// list, a lead not in it or a deadline not in the future, 10004 unless the
// caller is admin of the whistle office that has the case, 10005 for an
// unknown case or department, 10006 in another state, 70002 when another
// officer dispatched it first and 70007 for a department outside the
// office's area (attached to neither the case's street nor its district).
func (s *CaseService) Dispatch(ctx context.Context, actorID, id int64, in Dispatch) (*CaseView, error) {
	depts := slices.Clone(in.DepartmentIDs)
	slices.Sort(depts)
	depts = slices.Compact(depts)
	if len(depts) == 0 || len(depts) > 10 {
		return nil, invalid("请选择 1 到 10 个职能部门")
	}
	if !slices.Contains(depts, in.LeadID) {
		return nil, invalid("牵头部门必须在派单部门之中")
	}
	var now time.Time
	return s.transition(ctx, actorID, id, func(tx *gorm.DB, c *model.Case, a caseAccess) (caseStep, error) {
		now = s.deps.Clock.Now()
		if in.Deadline != nil && (!in.Deadline.After(now) || in.Deadline.After(now.AddDate(1, 0, 0))) {
			return caseStep{}, invalid("办结期限需在今后一年之内")
		}
		if err := s.requireOfficer(ctx, tx, actorID, c); err != nil {
			return caseStep{}, err
		}
		if c.Status == model.CaseDispatched || c.Status == model.CaseReportedIn {
			return caseStep{}, Errorf(CodeCaseAlreadyDispatched, "该案件已由其他人派单")
		}
		area := model.PathIDs(c.CommunityPath)
		for _, d := range depts {
			org, err := loadOrg(ctx, tx, d)
			if err != nil || org.Level != model.LevelDepartment {
				return caseStep{}, notFound("职能部门")
			}
			if org.ParentID == nil || !slices.Contains(area, *org.ParentID) {
				return caseStep{}, Errorf(CodeCaseDeptOutside, "%s不属于本街道或本区，不能派单", org.Name)
			}
		}
		return caseStep{from: []model.CaseStatus{model.CaseWhistled, model.CaseEscalated, model.CaseReturned},
			to: model.CaseDispatched, set: map[string]any{
				"dispatch_round": gorm.Expr("dispatch_round + 1"), "lead_dept_id": in.LeadID, "dept_deadline": in.Deadline,
				"step": model.StepReportIn, "step_deadline": s.deadline(c.Category, model.StepReportIn, now)}}, nil
	}, func(tx *gorm.DB, before, c *model.Case) error {
		for _, d := range depts {
			if err := tx.Create(&model.CaseDept{CaseID: c.ID, Round: c.DispatchRound, DeptID: d, Lead: d == in.LeadID,
				Status: model.DeptDispatched, CreatedAt: now}).Error; err != nil {
				return err
			}
			o := eventOpt{dept: &d}
			if d == in.LeadID {
				o.step, o.onTime, o.note = model.StepDispatch, onTime(before, now), "牵头部门"
			}
			if err := s.event(tx, c, &actorID, roleOfficer, caseActDispatch, before.Status, c.Status, o); err != nil {
				return err
			}
		}
		return s.tell(tx, c, &actorID, EventCaseDispatched, "")
	}, func(now *model.Case) error {
		if now.Status == model.CaseDispatched || now.Status == model.CaseReportedIn {
			return Errorf(CodeCaseAlreadyDispatched, "该案件已由其他人派单")
		}
		return nil
	})
}

// Escalate sends a case the street's whistle office cannot dispatch (or
// one a department returned) to the district's. It returns 10004 unless the
// caller is admin of the street's whistle office, 10005 for an unknown case
// and 10006 unless the case is with the street and whistled, returned or
// dispatched.
func (s *CaseService) Escalate(ctx context.Context, actorID, id int64) (*CaseView, error) {
	var now time.Time
	return s.transition(ctx, actorID, id, func(tx *gorm.DB, c *model.Case, a caseAccess) (caseStep, error) {
		now = s.deps.Clock.Now()
		if err := s.requireOfficer(ctx, tx, actorID, c); err != nil {
			return caseStep{}, err
		}
		if c.Level != model.CaseLevelStreet {
			return caseStep{}, conflict("案件已在区级吹哨办，不能再上报")
		}
		return caseStep{from: []model.CaseStatus{model.CaseWhistled, model.CaseReturned, model.CaseDispatched},
			to: model.CaseEscalated, set: escalation(c, s.deadline(c.Category, model.StepDispatch, now))}, nil
	}, func(tx *gorm.DB, before, c *model.Case) error {
		if err := s.event(tx, c, &actorID, roleOfficer, caseActEscalate, before.Status, c.Status, eventOpt{note: "上报区级吹哨办"}); err != nil {
			return err
		}
		return s.tell(tx, c, &actorID, EventCaseEscalated, "")
	}, nil)
}

// escalation is what moving c to the district's whistle office sets.
func escalation(c *model.Case, deadline *time.Time) map[string]any {
	return map[string]any{"level": model.CaseLevelDistrict, "whistle_org_id": c.DistrictID,
		"step": model.StepDispatch, "step_deadline": deadline}
}

// deptOf returns the caller's department on case c for a department
// action (the lead's when lead is set, or when they are staff of it), or
// 70001 / 10004.
func (s *CaseService) deptOf(c *model.Case, a caseAccess, lead bool) (int64, error) {
	if lead {
		if c.LeadDeptID == nil || !slices.Contains(a.depts, *c.LeadDeptID) {
			return 0, s.notLead(a)
		}
		return *c.LeadDeptID, nil
	}
	if len(a.depts) == 0 {
		return 0, s.notDispatched()
	}
	if c.LeadDeptID != nil && slices.Contains(a.depts, *c.LeadDeptID) {
		return *c.LeadDeptID, nil
	}
	return a.depts[0], nil
}

func (s *CaseService) notDispatched() error {
	return forbidden("您不是承办部门的工作人员，无权操作")
}

// ReportIn records that the caller's department accepted a case dispatched
// to it (报到), once per dispatch; when the lead reports in the case is
// reported_in and its resolution deadline runs. It returns 10004 unless the
// caller is staff of a department the case is dispatched to (70001 for
// staff of another department), 10005 for an unknown case or one the
// caller may not see, 10006 unless the case is dispatched or reported_in
// and 70003 when the department already reported in.
func (s *CaseService) ReportIn(ctx context.Context, actorID, id int64) (*CaseView, error) {
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		c, a, err := s.deptCase(ctx, tx, actorID, id)
		if err != nil {
			return err
		}
		if c.Status != model.CaseDispatched && c.Status != model.CaseReportedIn {
			return caseWrongState(c)
		}
		dept, err := s.deptOf(c, a, false)
		if err != nil {
			return err
		}
		now := s.deps.Clock.Now()
		res := tx.Model(&model.CaseDept{}).Where("case_id = ? AND round = ? AND dept_id = ? AND status = ?",
			c.ID, c.DispatchRound, dept, model.DeptDispatched).
			Updates(map[string]any{"status": model.DeptReportedIn, "reported_in_at": now, "reported_by": actorID})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return Errorf(CodeCaseAlreadyReportedIn, "本部门已报到")
		}
		before := *c
		o := eventOpt{dept: &dept}
		if c.LeadDeptID != nil && dept == *c.LeadDeptID {
			deadline := c.DeptDeadline
			if deadline == nil {
				deadline = s.deadline(c.Category, model.StepDeptResolve, now)
			}
			ok, err := s.move(tx, c, caseStep{from: []model.CaseStatus{model.CaseDispatched}, to: model.CaseReportedIn,
				set: map[string]any{"step": model.StepDeptResolve, "step_deadline": deadline}})
			if err != nil {
				return err
			}
			if !ok {
				return caseRefusal(tx, id)
			}
			o.step, o.onTime, o.note = model.StepReportIn, onTime(&before, now), "牵头部门报到"
		}
		if err := s.event(tx, c, &actorID, roleDept, caseActReportIn, before.Status, c.Status, o); err != nil {
			return err
		}
		if c.Status == before.Status {
			// Only the lead's report-in moves the case; the others are
			// on the timeline.
			return nil
		}
		return s.tell(tx, c, &actorID, EventCaseReportedIn, "")
	})
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, actorID, id)
}

// deptCase loads a case for a department action: 10005 when it does not
// exist or the caller may not see it, 10004 for callers who are not
// dept_staff of any department and may see it, 70001 for dept_staff of a
// department the case is not dispatched to.
func (s *CaseService) deptCase(ctx context.Context, tx *gorm.DB, actorID, id int64) (*model.Case, caseAccess, error) {
	c, err := loadCase(ctx, tx, id)
	if err != nil {
		return nil, caseAccess{}, err
	}
	a, err := s.access(ctx, tx, actorID, c)
	if err != nil {
		return nil, a, err
	}
	if len(a.depts) > 0 {
		return c, a, nil
	}
	if !a.visible() {
		return nil, a, s.invisible(ctx, tx, actorID)
	}
	mine, err := deptIDsOf(ctx, tx, actorID)
	if err != nil {
		return nil, a, err
	}
	if len(mine) > 0 {
		return nil, a, Errorf(CodeCaseNotDispatched, "该案件未派给您所在的部门")
	}
	return nil, a, s.notDispatched()
}

// Return sends a dispatched case back to the whistle office with a reason
// (e.g. not the department's remit); the office dispatches it again. Only
// the lead department returns. It returns 10001 without a reason, 10004 or
// 70001 as ReportIn, 10005 for an unknown case and 10006 unless the case is
// dispatched or reported_in.
func (s *CaseService) Return(ctx context.Context, actorID, id int64, reason string) (*CaseView, error) {
	reason = strings.TrimSpace(reason)
	if !textFits(reason, 1, 200) {
		return nil, invalid("请填写 1 到 200 字的退回理由")
	}
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		c, a, err := s.deptCase(ctx, tx, actorID, id)
		if err != nil {
			return err
		}
		dept, err := s.deptOf(c, a, true)
		if err != nil {
			return err
		}
		before := *c
		now := s.deps.Clock.Now()
		from := []model.CaseStatus{model.CaseDispatched, model.CaseReportedIn}
		if !slices.Contains(from, c.Status) {
			return caseWrongState(c)
		}
		ok, err := s.move(tx, c, caseStep{from: from, to: model.CaseReturned, set: map[string]any{
			"step": model.StepDispatch, "step_deadline": s.deadline(c.Category, model.StepDispatch, now)}})
		if err != nil {
			return err
		}
		if !ok {
			return caseRefusal(tx, id)
		}
		if err := tx.Model(&model.CaseDept{}).Where("case_id = ? AND round = ? AND dept_id = ?", c.ID, c.DispatchRound, dept).
			Update("status", model.DeptReturned).Error; err != nil {
			return err
		}
		if err := s.event(tx, c, &actorID, roleDept, caseActReturn, before.Status, c.Status, eventOpt{dept: &dept, note: reason}); err != nil {
			return err
		}
		return s.tell(tx, c, &actorID, EventCaseReturned, "")
	})
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, actorID, id)
}

// Merge folds a case into another open case of the same community (the
// same problem reported twice): the case is merged and its reporter (and
// its followers) follow the other one, seeing its timeline. It returns
// 10004 unless the caller is staff of the community, 10005 for an unknown
// case, 10006 unless the case is submitted or accepted and 70006 when the
// target is the case itself, of another community, or no longer open.
func (s *CaseService) Merge(ctx context.Context, actorID, id, intoID int64) (*CaseView, error) {
	var into *model.Case
	return s.transition(ctx, actorID, id, func(tx *gorm.DB, c *model.Case, a caseAccess) (caseStep, error) {
		if err := requireCaseStaff(a); err != nil {
			return caseStep{}, err
		}
		var err error
		if into, err = loadCase(ctx, tx, intoID); err != nil {
			if ErrorCode(err) == CodeNotFound {
				return caseStep{}, Errorf(CodeCaseMergeTarget, "要合并到的案件不存在")
			}
			return caseStep{}, err
		}
		if into.ID == c.ID || into.CommunityID != c.CommunityID || !into.Status.Open() {
			return caseStep{}, Errorf(CodeCaseMergeTarget, "只能合并到本社区另一个未办结的案件")
		}
		return caseStep{from: []model.CaseStatus{model.CaseSubmitted, model.CaseAccepted}, to: model.CaseMerged,
			set: map[string]any{"merged_into": into.ID, "step": "", "step_deadline": nil, "closed_at": s.deps.Clock.Now()}}, nil
	}, func(tx *gorm.DB, before, c *model.Case) error {
		// The target must still be open: lock it and look again.
		var now model.Case
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).First(&now, into.ID).Error; err != nil {
			return err
		}
		if !now.Status.Open() {
			return Errorf(CodeCaseMergeTarget, "只能合并到本社区另一个未办结的案件")
		}
		var followers []int64
		if err := tx.Model(&model.CaseFollower{}).Where("case_id = ?", c.ID).Pluck("user_id", &followers).Error; err != nil {
			return err
		}
		followers = append(followers, c.ReporterID)
		for _, u := range followers {
			if u == now.ReporterID {
				continue
			}
			f := model.CaseFollower{CaseID: now.ID, UserID: u, FromCase: c.ID, CreatedAt: s.deps.Clock.Now()}
			if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&f).Error; err != nil {
				return err
			}
		}
		if err := s.event(tx, c, &actorID, roleStaff, caseActMerge, before.Status, c.Status,
			eventOpt{note: fmt.Sprintf("与 #%d 为同一问题，已合并，请关注 #%d 的办理进度", now.ID, now.ID)}); err != nil {
			return err
		}
		// The merged case's reporter and followers now follow the other
		// case: they are told which one.
		if err := s.tell(tx, c, &actorID, EventCaseMerged, fmt.Sprintf("请关注 #%d 的办理进度", now.ID)); err != nil {
			return err
		}
		return s.event(tx, &now, &actorID, roleStaff, caseActMergeIn, now.Status, now.Status,
			eventOpt{note: fmt.Sprintf("#%d 反映的同一问题已合并至此", c.ID)})
	}, nil)
}

// reporterCheck returns 10004 unless the caller is the reporter of c and
// 70004 when c's rating window has passed.
func (s *CaseService) reporterCheck(c *model.Case, a caseAccess) error {
	if !a.reporter {
		return forbidden("只有反映人可以评价或重新打开")
	}
	if c.Status == model.CaseResolved && c.ResolvedAt != nil &&
		s.deps.Clock.Now().After(c.ResolvedAt.Add(s.deps.Config.Case.RatingWindow)) {
		return Errorf(CodeCaseRatingClosed, "已超过评价期限")
	}
	return nil
}

// Rate closes a resolved case with the reporter's rating (1–5) and an
// optional comment, within case.rating_window of the resolution; a Party
// member or unit that resolved an assigned case is credited then. It
// returns 10001 for a bad rating or comment, 10004 unless the caller is the
// reporter, 10005 for an unknown case or one the caller may not see, 10006
// unless the case is resolved, 70004 after the window and 10008 for a risky
// comment (nothing changes; the comment passes the content check).
func (s *CaseService) Rate(ctx context.Context, actorID, id int64, rating int, comment string) (*CaseView, error) {
	comment = strings.TrimSpace(comment)
	if rating < 1 || rating > 5 {
		return nil, invalid("评分需为 1 到 5")
	}
	if !textFits(comment, 0, 200) {
		return nil, invalid("评价不能超过 200 字")
	}
	flagged, err := s.content.checkUserText(ctx, s.deps.DB, actorID, map[string]string{"comment": comment})
	if err != nil {
		return nil, err
	}
	var now time.Time
	return s.transition(ctx, actorID, id, func(tx *gorm.DB, c *model.Case, a caseAccess) (caseStep, error) {
		now = s.deps.Clock.Now()
		if err := s.reporterCheck(c, a); err != nil {
			return caseStep{}, err
		}
		return caseStep{from: []model.CaseStatus{model.CaseResolved}, to: model.CaseClosed,
			set: map[string]any{"rating": rating, "comment": comment, "closed_at": now}}, nil
	}, func(tx *gorm.DB, before, c *model.Case) error {
		note := fmt.Sprintf("评分 %d 星", rating)
		if comment != "" {
			note += "：" + comment
		}
		if err := s.event(tx, c, &actorID, roleReporter, caseActRate, before.Status, c.Status,
			eventOpt{dept: c.ResolvedDept, rating: &rating, note: note}); err != nil {
			return err
		}
		if err := s.content.flagTexts(tx, flagged, "case", c.ID, actorID, c.CommunityID); err != nil {
			return err
		}
		if err := s.tell(tx, c, &actorID, EventCaseClosed, note); err != nil {
			return err
		}
		return s.credit(ctx, tx, c)
	}, nil)
}

// Reopen sends a resolved case back to whoever resolved it, once, within
// case.rating_window, with the reporter's reason. It returns 10001 without
// a reason, 10004 unless the caller is the reporter, 10005 for an unknown
// case or one the caller may not see, 10006 unless the case is resolved,
// 70004 after the window and 70005 when it was reopened before.
func (s *CaseService) Reopen(ctx context.Context, actorID, id int64, reason string) (*CaseView, error) {
	reason = strings.TrimSpace(reason)
	if !textFits(reason, 1, 200) {
		return nil, invalid("请填写 1 到 200 字的理由")
	}
	return s.transition(ctx, actorID, id, func(tx *gorm.DB, c *model.Case, a caseAccess) (caseStep, error) {
		now := s.deps.Clock.Now()
		if err := s.reporterCheck(c, a); err != nil {
			return caseStep{}, err
		}
		if c.Reopened {
			return caseStep{}, Errorf(CodeCaseReopenedOnce, "每个案件只能重新打开一次")
		}
		to, step := model.CaseInProgress, model.StepResolve
		if c.ResolvedFrom == model.CaseReportedIn {
			to, step = model.CaseReportedIn, model.StepDeptResolve
		}
		return caseStep{from: []model.CaseStatus{model.CaseResolved}, to: to, set: map[string]any{
			"reopened": true, "resolved_at": nil, "resolved_by": nil, "resolved_dept": nil, "resolved_unit": nil,
			"step": step, "step_deadline": s.deadline(c.Category, step, now)}}, nil
	}, func(tx *gorm.DB, before, c *model.Case) error {
		if err := s.event(tx, c, &actorID, roleReporter, caseActReopen, before.Status, c.Status, eventOpt{dept: c.LeadDeptID, note: reason}); err != nil {
			return err
		}
		return s.tell(tx, c, &actorID, EventCaseReopened, reason)
	}, nil)
}

// credit pays whoever resolved an assigned case when it closes, inside tx:
// a Party member who was assigned it, or a liaison of the assigned unit,
// gets case.credit_points (once per case, by its ledger source) and an
// approved service record (contact_help, or practical_deed for the
// categories of case.practical_deed_categories; once, by its source key).
// Nobody is paid for a case they reported themselves; staff and
// departments are not paid. c is the case as closed.
func (s *CaseService) credit(ctx context.Context, tx *gorm.DB, c *model.Case) error {
	if c.ResolvedBy == nil || *c.ResolvedBy == c.ReporterID {
		return nil
	}
	by := *c.ResolvedBy
	assigned := (c.AssigneeUserID != nil && *c.AssigneeUserID == by) || (c.ResolvedUnit != nil && c.AssigneeUnitID != nil)
	if !assigned {
		return nil
	}
	src := strconv.FormatInt(c.ID, 10)
	if pts := s.deps.Config.Case.CreditPoints; pts > 0 {
		if _, err := s.timeBank.Credit(ctx, tx, ledger.Credit{
			UserID: by, CommunityID: c.CommunityID, Currency: model.CurrencyPoints, Amount: pts,
			Source: ledger.Source{Kind: "case", ID: src}, Memo: "办结随手拍案件 #" + src,
		}); err != nil {
			return err
		}
	}
	kind := model.ServiceContactHelp
	if s.deps.Config.Case.PracticalDeed(c.Category) {
		kind = model.ServicePracticalDeed
	}
	occurred := s.deps.Clock.Now()
	if c.ResolvedAt != nil {
		occurred = *c.ResolvedAt
	}
	_, err := s.reports.addApprovedRecord(ctx, tx, ApprovedRecord{
		UserID: by, CommunityID: c.CommunityID, Kind: kind, OccurredAt: occurred,
		Note: "办结随手拍案件：" + c.Category, SourceKey: "case:" + src,
	})
	return err
}
