package service

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"linli/model"
)

// Mine returns the caller's cases and the cases they follow (merged
// reports), newest first. It returns only database errors.
func (s *CaseService) Mine(ctx context.Context, callerID int64, p Page) (List[CaseView], error) {
	db := s.deps.DB.WithContext(ctx)
	q := db.Model(&model.Case{}).Where("reporter_id = ? OR id IN (?)", callerID,
		db.Session(&gorm.Session{NewDB: true}).Model(&model.CaseFollower{}).Select("case_id").Where("user_id = ?", callerID))
	cs, total, err := findPage[model.Case](q, "created_at DESC, id DESC", p)
	if err != nil {
		return List[CaseView]{}, err
	}
	views, err := s.views(ctx, db, cs, func(c *model.Case) caseAccess {
		return caseAccess{callerID: callerID, reporter: c.ReporterID == callerID, follower: c.ReporterID != callerID}
	}, nil)
	if err != nil {
		return List[CaseView]{}, err
	}
	return NewList(views, total, p), nil
}

// CaseFilter narrows GET /cases.
type CaseFilter struct {
	OrgID    int64
	Status   string
	Category string
	// Overdue: nil for all, true for cases that ran past a deadline (督办),
	// false for the others.
	Overdue *bool
}

// List returns the cases of an org unit for those handling them, newest
// first, with the reporter, as a feed read by cursor (p.ByCursor) or a
// counted page: a community, street or district for its staff
// (or staff above), a department for its dept_staff (the cases dispatched
// to it in any round), a street or district for its whistle officers (the
// cases whistled to it). Who the caller is comes from the cached caller and
// the unit from the org tree: a feed page is one statement (the page's
// rows with their reporters), plus one for photos when the page has any.
// It returns 10001 for an unknown status or category or a grid or a cursor
// it did not make, 10004 unless the caller may see the unit's cases and
// 10005 for an unknown unit.
func (s *CaseService) List(ctx context.Context, callerID int64, f CaseFilter, p Page) (List[CaseView], error) {
	db := s.deps.DB.WithContext(ctx)
	org, err := s.orgs.Get(ctx, f.OrgID)
	if err != nil {
		return List[CaseView]{}, err
	}
	q := db.Table("cases").Joins("LEFT JOIN users ON users.id = cases.reporter_id")
	if f.Status != "" {
		if !model.CaseStatus(f.Status).Valid() {
			return List[CaseView]{}, invalid("状态需为 %s 之一", joinCaseStatuses())
		}
		q = q.Where("cases.status = ?", f.Status)
	}
	if f.Category != "" {
		if !slices.Contains(s.deps.Config.Case.CategoryList, f.Category) {
			return List[CaseView]{}, invalid("类别需为 %s 之一", strings.Join(s.deps.Config.Case.CategoryList, "、"))
		}
		q = q.Where("cases.category = ?", f.Category)
	}
	if f.Overdue != nil {
		q = q.Where("cases.overdue = ?", *f.Overdue)
	}
	dept := false
	switch org.Level {
	case model.LevelCommunity:
		q = q.Where("cases.community_id = ?", org.ID)
	case model.LevelStreet:
		q = q.Where("cases.street_id = ?", org.ID)
	case model.LevelDistrict:
		q = q.Where("cases.district_id = ?", org.ID)
	case model.LevelDepartment:
		dept = true
		q = q.Where("cases.id IN (?)", db.Session(&gorm.Session{NewDB: true}).Model(&model.CaseDept{}).Select("case_id").Where("dept_id = ?", org.ID))
	default:
		return List[CaseView]{}, invalid("请选择社区、街道、区或职能部门")
	}
	caller, err := s.callers.Get(ctx, callerID)
	if err != nil {
		return List[CaseView]{}, err
	}
	access := caseListAccess(caller, org)
	switch access {
	case "":
		return List[CaseView]{}, forbidden("您无权查看该单位的案件")
	case roleOfficer:
		// A whistle officer sees the cases whistled to the street or
		// district, not those the communities handle themselves.
		q = q.Where("cases.whistle_org_id <> 0")
	}
	// Without a page number the list is a feed read by cursor: one query
	// of pageSize+1 rows in the order of the list index, nothing counted (a
	// street may have 100,000 cases); with one it is counted.
	var total int64
	limit := p.PageSize
	if p.ByCursor {
		limit++
		if p.Cursor != "" {
			cur, err := parseTimeCursor(p.Cursor)
			if err != nil {
				return List[CaseView]{}, err
			}
			q = q.Where("(cases.created_at < ? OR (cases.created_at = ? AND cases.id < ?))", cur.At, cur.At, cur.ID)
		}
	} else {
		if err := q.Session(&gorm.Session{}).Count(&total).Error; err != nil {
			return List[CaseView]{}, err
		}
		q = q.Offset(p.Offset())
	}
	rows, err := scanCaseList(q.Order("cases.created_at DESC").Order("cases.id DESC").Limit(limit))
	if err != nil {
		return List[CaseView]{}, err
	}
	cs := make([]model.Case, len(rows))
	reporters := make(map[int64]model.User, len(rows))
	for i, r := range rows {
		cs[i] = r.Case
		reporters[r.ReporterID] = model.User{ID: r.ReporterID, Nickname: r.ReporterNickname, RealName: r.ReporterRealName, Phone: r.ReporterPhone}
	}
	views, err := s.views(ctx, db, cs, func(c *model.Case) caseAccess {
		a := caseAccess{callerID: callerID, reporter: c.ReporterID == callerID, staff: access == roleStaff, officer: access == roleOfficer}
		if dept {
			a.depts = []int64{org.ID}
		}
		return a
	}, reporters)
	if err != nil {
		return List[CaseView]{}, err
	}
	if p.ByCursor {
		return NewFeed(views, p, func(i int) string { return timeCursor{At: cs[i].CreatedAt, ID: cs[i].ID}.String() }), nil
	}
	return NewList(views, total, p), nil
}

// caseWithReporter is a row of GET /cases: the case and its reporter's
// name and phone, read in one statement.
type caseWithReporter struct {
	model.Case
	ReporterNickname string
	ReporterRealName string
	ReporterPhone    string
}

// scanCaseList runs q (cases LEFT JOIN users on the reporter) and reads the
// columns a staff view of the list shows, and no others, straight into the
// rows: gorm's reflective scan of every column cost more than the query.
// It returns the database's error, if any.
func scanCaseList(q *gorm.DB) ([]caseWithReporter, error) {
	rows, err := q.Select("cases.id, cases.community_id, cases.category, cases.content, cases.images, cases.lat, cases.lng, " +
		"cases.address, cases.reporter_id, cases.review_flag, cases.status, cases.level, cases.step, cases.step_deadline, " +
		"cases.overdue, cases.overdue_count, cases.lead_dept_id, cases.dept_deadline, cases.accepted_at, cases.resolved_at, " +
		"cases.resolve_note, cases.resolve_images, cases.reopened, cases.rating, cases.comment, cases.auto_closed, " +
		"cases.closed_at, cases.merged_into, cases.created_at, " +
		"COALESCE(users.nickname, ''), COALESCE(users.real_name, ''), COALESCE(users.phone, '')").Rows()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []caseWithReporter
	for rows.Next() {
		var r caseWithReporter
		c := &r.Case
		if err := rows.Scan(&c.ID, &c.CommunityID, &c.Category, &c.Content, &c.Images, &c.Lat, &c.Lng,
			&c.Address, &c.ReporterID, &c.ReviewFlag, &c.Status, &c.Level, &c.Step, &c.StepDeadline,
			&c.Overdue, &c.OverdueCount, &c.LeadDeptID, &c.DeptDeadline, &c.AcceptedAt, &c.ResolvedAt,
			&c.ResolveNote, &c.ResolveImages, &c.Reopened, &c.Rating, &c.Comment, &c.AutoClosed,
			&c.ClosedAt, &c.MergedInto, &c.CreatedAt,
			&r.ReporterNickname, &r.ReporterRealName, &r.ReporterPhone); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// caseListAccess returns how the caller may list the cases of org, from
// the cached caller: roleStaff for staff or admin of it or above,
// roleDept for dept_staff of the department org, roleOfficer for a whistle
// officer of it or above, "" when they may not.
func caseListAccess(caller *Caller, org *model.OrgUnit) string {
	if org.Level == model.LevelDepartment {
		for _, r := range caller.Roles {
			if r.Role == roleDeptStaff && r.OrgID == org.ID {
				return roleDept
			}
		}
	}
	if caller.IsStaffOf(org) {
		return roleStaff
	}
	if org.Level == model.LevelDepartment {
		return ""
	}
	above := org.AncestorIDs()
	for _, r := range caller.Roles {
		if r.Role == string(model.RoleWhistleOfficer) && slices.Contains(above, r.OrgID) {
			return roleOfficer
		}
	}
	return ""
}

// requireListAccess returns nil when the caller may list the cases of org:
// staff of it or above, for a department its dept_staff, or a whistle
// officer of it or above (officer is then true). It returns 10004
// otherwise.
func (s *CaseService) requireListAccess(ctx context.Context, db *gorm.DB, callerID int64, org *model.OrgUnit, dept bool) (officer bool, err error) {
	if dept {
		var n int64
		if err := db.Model(&model.DeptStaff{}).Where("dept_id = ? AND user_id = ?", org.ID, callerID).Count(&n).Error; err != nil {
			return false, err
		}
		if n > 0 {
			return false, nil
		}
	}
	ok, err := s.authz.IsStaff(ctx, db, callerID, org)
	if err != nil || ok {
		return false, err
	}
	if !dept {
		if officer, err = s.authz.holds(ctx, db, callerID, org, model.RoleWhistleOfficer); err != nil || officer {
			return officer, err
		}
	}
	return false, forbidden("您无权查看该单位的案件")
}

func joinCaseStatuses() string {
	var out []string
	for _, st := range model.CaseStatuses() {
		out = append(out, string(st))
	}
	return strings.Join(out, "、")
}

// CaseSweepResult counts what one sweep did.
type CaseSweepResult struct {
	Escalated  int `json:"escalated"`
	Supervised int `json:"supervised"`
	AutoClosed int `json:"autoClosed"`
}

// Sweep escalates every step past its deadline by one level (community →
// the street's whistle office → the district's; at the district the case
// is marked for supervision, 督办) and counts it overdue, and closes
// resolved cases left unrated for case.rating_window, crediting as Rate
// does. Each case moves by a conditional UPDATE on the step it was read
// at, so several instances sweeping at once escalate a step once.
func (s *CaseService) Sweep(ctx context.Context) (CaseSweepResult, error) {
	var res CaseSweepResult
	now := s.deps.Clock.Now()
	for {
		var cs []model.Case
		err := s.deps.DB.WithContext(ctx).Where("step_deadline < ?", now).
			Order("step_deadline").Order("id").Limit(sweepBatch).Find(&cs).Error
		if err != nil {
			return res, err
		}
		changed := 0
		for i := range cs {
			kind, err := s.overdue(ctx, &cs[i], now)
			if err != nil {
				return res, err
			}
			switch kind {
			case caseActEscalate:
				res.Escalated++
			case caseActOverdue:
				res.Supervised++
			}
			if kind != "" {
				changed++
			}
		}
		if len(cs) < sweepBatch || changed == 0 {
			break
		}
	}
	cutoff := now.Add(-s.deps.Config.Case.RatingWindow)
	for {
		var ids []int64
		err := s.deps.DB.WithContext(ctx).Model(&model.Case{}).Where("status = ? AND resolved_at < ?", model.CaseResolved, cutoff).
			Order("resolved_at").Order("id").Limit(sweepBatch).Pluck("id", &ids).Error
		if err != nil {
			return res, err
		}
		changed := 0
		for _, id := range ids {
			ok, err := s.autoClose(ctx, id, cutoff)
			if err != nil {
				return res, err
			}
			if ok {
				changed++
			}
		}
		res.AutoClosed += changed
		if len(ids) < sweepBatch || changed == 0 {
			break
		}
	}
	return res, nil
}

// overdue escalates one overdue step of c (as read by the sweep); it
// returns what it did: caseActEscalate, caseActOverdue (supervised at the
// district, no level above) or "" when another instance (or a request)
// moved the case first.
func (s *CaseService) overdue(ctx context.Context, c *model.Case, now time.Time) (string, error) {
	kind := ""
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		kind = ""
		before := *c
		cur := *c
		set := map[string]any{"overdue": true, "overdue_count": gorm.Expr("overdue_count + 1")}
		st := caseStep{from: []model.CaseStatus{c.Status}, to: c.Status, set: set}
		var dept *int64
		if c.Step == model.StepReportIn || c.Step == model.StepDeptResolve {
			dept = c.LeadDeptID
		}
		note := "超过办理期限"
		switch {
		case c.Level == model.CaseLevelCommunity && slices.Contains([]model.CaseStatus{model.CaseSubmitted, model.CaseAccepted, model.CaseInProgress}, c.Status):
			st.to = model.CaseWhistled
			set["level"], set["whistle_org_id"] = model.CaseLevelStreet, c.StreetID
			set["step"], set["step_deadline"] = model.StepDispatch, s.deadline(c.Category, model.StepDispatch, now)
			kind, note = caseActEscalate, "社区超过办理期限，自动上报街道吹哨办（督办）"
		case c.Level == model.CaseLevelStreet && c.Status.Open():
			st.to = model.CaseEscalated
			for k, v := range escalation(c, s.deadline(c.Category, model.StepDispatch, now)) {
				set[k] = v
			}
			kind, note = caseActEscalate, "超过办理期限，自动上报区级吹哨办（督办）"
		default:
			// No level above: the step stays with its handler, marked
			// overdue for supervision, and is not swept again.
			set["step_deadline"] = nil
			kind, note = caseActOverdue, "超过办理期限，区级督办"
		}
		ok, err := s.move(tx, &cur, st)
		if err != nil || !ok {
			kind = ""
			return err
		}
		// Only a step still overdue is moved: the conditional UPDATE named
		// the StepSeq read above, and the deadline read then had passed.
		if err := s.event(tx, &cur, nil, roleSystem, caseActOverdue, before.Status, before.Status,
			eventOpt{dept: dept, step: before.Step, onTime: new(false), note: note}); err != nil {
			return err
		}
		if kind != caseActEscalate {
			return nil
		}
		if err := s.event(tx, &cur, nil, roleSystem, caseActEscalate, before.Status, cur.Status, eventOpt{note: note}); err != nil {
			return err
		}
		event := EventCaseEscalated
		if cur.Status == model.CaseWhistled {
			event = EventCaseWhistled
		}
		return s.tell(tx, &cur, nil, event, note)
	})
	return kind, err
}

// autoClose closes one case resolved before cutoff and never rated.
func (s *CaseService) autoClose(ctx context.Context, id int64, cutoff time.Time) (bool, error) {
	changed := false
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		changed = false
		now := s.deps.Clock.Now()
		res := tx.Model(&model.Case{}).Where("id = ? AND status = ? AND resolved_at < ?", id, model.CaseResolved, cutoff).
			Updates(map[string]any{"status": model.CaseClosed, "auto_closed": true, "closed_at": now,
				"step_seq": gorm.Expr("step_seq + 1"), "updated_at": now})
		if res.Error != nil || res.RowsAffected != 1 {
			return res.Error
		}
		changed = true
		c, err := loadCase(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := s.event(tx, c, nil, roleSystem, caseActClose, model.CaseResolved, model.CaseClosed,
			eventOpt{dept: c.ResolvedDept, note: "反映人未在期限内评价，系统自动结案"}); err != nil {
			return err
		}
		if err := s.tell(tx, c, nil, EventCaseClosed, "未在期限内评价，系统自动结案"); err != nil {
			return err
		}
		return s.credit(ctx, tx, c)
	})
	return changed, err
}

// DepartmentView is a department (职能部门).
type DepartmentView struct {
	ID       int64  `json:"id"`
	ParentID int64  `json:"parentId"`
	Name     string `json:"name"`
	Path     string `json:"path"`
}

// CreateDepartment adds a department under a street or the district. It
// returns 10001 for a bad name or a parent that is neither, 10004 unless
// the caller is admin of the parent (or above) and 10005 for an unknown
// parent.
func (s *CaseService) CreateDepartment(ctx context.Context, actorID, parentID int64, name string) (*DepartmentView, error) {
	name = strings.TrimSpace(name)
	if !textFits(name, 1, 64) {
		return nil, invalid("名称需为 1 到 64 个字符")
	}
	var out model.OrgUnit
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		parent, err := s.authz.RequireAdmin(ctx, tx, actorID, parentID)
		if err != nil {
			return err
		}
		if parent.Level != model.LevelStreet && parent.Level != model.LevelDistrict {
			return invalid("职能部门只能设在街道或区之下")
		}
		out = model.OrgUnit{ParentID: &parent.ID, Level: model.LevelDepartment, Name: name}
		if err := tx.Create(&out).Error; err != nil {
			return err
		}
		out.Path = parent.Path + strconv.FormatInt(out.ID, 10) + "/"
		s.orgs.Changed(tx)
		return tx.Model(&out).Update("path", out.Path).Error
	})
	if err != nil {
		return nil, err
	}
	return &DepartmentView{ID: out.ID, ParentID: parentID, Name: out.Name, Path: out.Path}, nil
}

// DeptStaffView is a dept_staff appointment.
type DeptStaffView struct {
	ID           int64 `json:"id"`
	DepartmentID int64 `json:"departmentId"`
	UserID       int64 `json:"userId"`
}

// roleDeptStaff is the role GET /me lists for each department a user is
// staff of (orgId = the department).
const roleDeptStaff = "dept_staff"

// AddDeptStaff makes userID staff of a department (dept_staff), with an
// audit entry, and drops the user's cached roles so that GET /me lists it;
// doing it twice returns the first appointment. It returns 10004 unless
// the caller is admin of the department's street or district (or above)
// and 10005 for an unknown department or user.
func (s *CaseService) AddDeptStaff(ctx context.Context, actorID, deptID, userID int64) (*DeptStaffView, error) {
	var out model.DeptStaff
	exists := false
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		if _, err := s.deptForAdmin(ctx, tx, actorID, deptID); err != nil {
			return err
		}
		if _, err := loadUser(ctx, tx, userID); err != nil {
			return err
		}
		out = model.DeptStaff{DeptID: deptID, UserID: userID, CreatedBy: actorID, CreatedAt: s.deps.Clock.Now()}
		err := tx.Create(&out).Error
		if exists = isDuplicate(err); exists {
			return nil
		}
		if err != nil {
			return err
		}
		s.callers.Changed(tx, userID)
		return s.deps.audit(ctx, tx, auditEvent{Actor: actorID, Org: deptID, Action: AuditDeptStaffAppoint, ObjectKind: "dept_staff",
			ObjectID: out.ID, After: map[string]any{"userId": userID, "departmentId": deptID}})
	})
	if err != nil {
		return nil, err
	}
	if exists {
		out = model.DeptStaff{}
		if err := s.deps.DB.WithContext(ctx).Where("dept_id = ? AND user_id = ?", deptID, userID).First(&out).Error; err != nil {
			return nil, err
		}
	}
	return &DeptStaffView{ID: out.ID, DepartmentID: out.DeptID, UserID: out.UserID}, nil
}

// RemoveDeptStaff ends userID's dept_staff appointment of a department,
// with an audit entry naming who held it, and drops the user's cached roles:
// from the commit on they act for the department no more and GET /me no
// longer lists it. It returns 10004 unless the caller is admin of the
// department's street or district (or above) and 10005 for an unknown
// department or a user who is not its staff (also when removed twice).
func (s *CaseService) RemoveDeptStaff(ctx context.Context, actorID, deptID, userID int64) error {
	return s.deps.tx(ctx, func(tx *gorm.DB) error {
		if _, err := s.deptForAdmin(ctx, tx, actorID, deptID); err != nil {
			return err
		}
		var row model.DeptStaff
		if err := tx.Where("dept_id = ? AND user_id = ?", deptID, userID).Limit(1).Find(&row).Error; err != nil {
			return err
		}
		if row.ID == 0 {
			return notFound("部门工作人员")
		}
		// Two removals at once: one deletes the row, the other finds none.
		res := tx.Where("id = ?", row.ID).Delete(&model.DeptStaff{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return notFound("部门工作人员")
		}
		s.callers.Changed(tx, userID)
		return s.deps.audit(ctx, tx, auditEvent{Actor: actorID, Org: deptID, Action: AuditDeptStaffRemove, ObjectKind: "dept_staff",
			ObjectID: row.ID, Before: map[string]any{"userId": userID, "departmentId": deptID}, After: map[string]any{"removed": true}})
	})
}

// deptForAdmin loads a department for an appointment by actorID: 10005
// unless it is a department, 10004 unless actorID is admin of it or above.
func (s *CaseService) deptForAdmin(ctx context.Context, tx *gorm.DB, actorID, deptID int64) (*model.OrgUnit, error) {
	dept, err := loadOrg(ctx, tx, deptID)
	if err != nil {
		return nil, err
	}
	if dept.Level != model.LevelDepartment {
		return nil, notFound("职能部门")
	}
	if _, err := s.authz.RequireAdmin(ctx, tx, actorID, deptID); err != nil {
		return nil, err
	}
	return dept, nil
}
