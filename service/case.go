package service

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"linli/model"
)

// Domain codes of cases (7xxxx, 70001–70099). They are never renumbered;
// docs/errors.md lists them with their HTTP status.
const (
	CodeCaseNotDispatched     = 70001 // 403: the caller's department is not (the lead) on this case
	CodeCaseAlreadyDispatched = 70002 // 409: another officer dispatched it first
	CodeCaseAlreadyReportedIn = 70003 // 409: the department already reported in
	CodeCaseRatingClosed      = 70004 // 409: the rating window has passed
	CodeCaseReopenedOnce      = 70005 // 409: a case is reopened once
	CodeCaseMergeTarget       = 70006 // 409: the target is no open case of the same community
	CodeCaseDeptOutside       = 70007 // 403: a department outside the whistle office's area
	CodeCaseAssigneeInvalid   = 70008 // 409: neither a reported Party member nor an approved unit of the community
)

// MaxCaseImages is how many photos a report or a resolution may carry.
const MaxCaseImages = 9

// Timeline actions of a case.
const (
	caseActCreate   = "create"
	caseActAccept   = "accept"
	caseActAssign   = "assign"
	caseActResolve  = "resolve"
	caseActWhistle  = "whistle"
	caseActMerge    = "merge"
	caseActMergeIn  = "merge_in"
	caseActDispatch = "dispatch"
	caseActEscalate = "escalate"
	caseActReportIn = "report_in"
	caseActReturn   = "return"
	caseActRate     = "rate"
	caseActReopen   = "reopen"
	caseActClose    = "auto_close"
	caseActOverdue  = "overdue"

	roleReporter = "reporter"
	roleOfficer  = "officer"
	roleDept     = "department"
	roleAssignee = "assignee"
)

// CaseService runs cases (随手拍 / 吹哨报到): reports, community handling,
// the whistle to the street, dispatch to departments, their report-in,
// return and resolution, rating, reopening, the overdue and auto-close
// sweep and the figures. Every transition is one conditional UPDATE on the
// case's status and StepSeq, with its timeline event in the same
// transaction, so two requests (or instances, or a request and the sweep)
// never both make it.
type CaseService struct {
	deps     Deps
	authz    *Authz
	timeBank *TimeBankService
	uploads  *UploadService
	reports  *ReportService
	content  *ContentService
	orgs     *OrgTree
	notify   *NotificationService
	// callers is who the caller is (cached); appointing or removing
	// dept_staff changes it.
	callers *CallerService
}

// CaseInput is a new report.
type CaseInput struct {
	CommunityID int64
	Category    string
	Content     string
	Images      []int64
	Lat, Lng    *float64
	Address     string
}

// caseAccess is what the caller is to one case.
type caseAccess struct {
	callerID int64
	// reporter: the case's reporter; follower: the reporter of a case merged
	// into it.
	reporter, follower bool
	// staff of the case's community or above.
	staff bool
	// officer: a whistle officer of the case's street or district, once
	// the case has been whistled (it acts only where the case is now:
	// requireOfficer).
	officer bool
	// depts are the caller's departments dispatched in the current round.
	depts    []int64
	assignee bool
}

// handler reports whether the caller handles the case: staff, a
// dispatched department or the assignee.
func (a caseAccess) handler() bool { return a.staff || a.officer || len(a.depts) > 0 || a.assignee }

// identity reports whether the caller may see who reported the case.
func (a caseAccess) identity() bool { return a.reporter || a.staff || a.officer || len(a.depts) > 0 }

// photos reports whether the caller may see the case's photos.
func (a caseAccess) photos() bool { return a.reporter || a.handler() }

func (a caseAccess) visible() bool { return a.reporter || a.follower || a.handler() }

// CaseReporterView names the reporter, for those handling the case.
type CaseReporterView struct {
	UserID int64  `json:"userId"`
	Name   string `json:"name"`
	Phone  string `json:"phone"`
}

// CaseAssigneeView names who the community gave the case to.
type CaseAssigneeView struct {
	UserID *int64 `json:"userId,omitempty"`
	UnitID *int64 `json:"unitId,omitempty"`
	Name   string `json:"name"`
}

// CaseDeptView is one dispatched department of the current round.
type CaseDeptView struct {
	DepartmentID int64                `json:"departmentId"`
	Name         string               `json:"name"`
	Lead         bool                 `json:"lead"`
	Status       model.CaseDeptStatus `json:"status"`
	ReportedInAt *time.Time           `json:"reportedInAt,omitempty"`
}

// CaseDuplicate is an open case a new report may repeat.
type CaseDuplicate struct {
	ID        int64 `json:"id"`
	DistanceM int   `json:"distanceM"`
}

// CaseEventView is one line of a case's timeline. The actor is named only
// to those handling the case; the reporter sees the role (and the
// department's name).
type CaseEventView struct {
	Action         string           `json:"action"`
	ActorRole      string           `json:"actorRole"`
	ActorID        *int64           `json:"actorId,omitempty"`
	ActorName      string           `json:"actorName,omitempty"`
	DepartmentID   *int64           `json:"departmentId,omitempty"`
	DepartmentName string           `json:"departmentName,omitempty"`
	FromStatus     model.CaseStatus `json:"fromStatus,omitempty"`
	ToStatus       model.CaseStatus `json:"toStatus,omitempty"`
	OnTime         *bool            `json:"onTime,omitempty"`
	Rating         *int             `json:"rating,omitempty"`
	Note           string           `json:"note,omitempty"`
	At             time.Time        `json:"at"`
}

// CaseView is a case as the API shows it. Reporter is present for staff and
// departments only; Images and ResolveImages for the reporter and those
// handling the case; Timeline on GET /cases/{id}; DuplicateOf on creation.
type CaseView struct {
	ID            int64             `json:"id"`
	CommunityID   int64             `json:"communityId"`
	CommunityName string            `json:"communityName"`
	Category      string            `json:"category"`
	Content       string            `json:"content"`
	Images        []UploadView      `json:"images"`
	Lat           *float64          `json:"lat,omitempty"`
	Lng           *float64          `json:"lng,omitempty"`
	Address       string            `json:"address"`
	Status        model.CaseStatus  `json:"status"`
	Level         string            `json:"level"`
	Step          string            `json:"step,omitempty"`
	StepDeadline  *time.Time        `json:"stepDeadline,omitempty"`
	Overdue       bool              `json:"overdue"`
	OverdueCount  int               `json:"overdueCount"`
	Mine          bool              `json:"mine"`
	Reporter      *CaseReporterView `json:"reporter,omitempty"`
	Assignee      *CaseAssigneeView `json:"assignee,omitempty"`
	LeadDeptID    *int64            `json:"leadDepartmentId,omitempty"`
	LeadDeptName  string            `json:"leadDepartmentName,omitempty"`
	Departments   []CaseDeptView    `json:"departments,omitempty"`
	DeptDeadline  *time.Time        `json:"departmentDeadline,omitempty"`
	AcceptedAt    *time.Time        `json:"acceptedAt,omitempty"`
	ResolvedAt    *time.Time        `json:"resolvedAt,omitempty"`
	ResolveNote   string            `json:"resolveNote,omitempty"`
	ResolveImages []UploadView      `json:"resolveImages,omitempty"`
	RateBefore    *time.Time        `json:"rateBefore,omitempty"`
	Reopened      bool              `json:"reopened"`
	Rating        *int              `json:"rating,omitempty"`
	Comment       string            `json:"comment,omitempty"`
	AutoClosed    bool              `json:"autoClosed,omitempty"`
	ClosedAt      *time.Time        `json:"closedAt,omitempty"`
	MergedInto    *int64            `json:"mergedInto,omitempty"`
	ReviewFlag    string            `json:"reviewFlag,omitempty"`
	CreatedAt     time.Time         `json:"createdAt"`
	DuplicateOf   []CaseDuplicate   `json:"duplicateOf,omitempty"`
	Timeline      []CaseEventView   `json:"timeline,omitempty"`
}

func (in *CaseInput) normalize() {
	in.Category = strings.TrimSpace(in.Category)
	in.Content = strings.TrimSpace(in.Content)
	in.Address = strings.TrimSpace(in.Address)
}

func (s *CaseService) validate(in *CaseInput) error {
	cats := s.deps.Config.Case.CategoryList
	switch {
	case !slices.Contains(cats, in.Category):
		return invalid("类别需为 %s 之一", strings.Join(cats, "、"))
	case !textFits(in.Content, 1, 500):
		return invalid("问题描述需为 1 到 500 个字")
	case len(in.Images) > MaxCaseImages:
		return invalid("最多上传 %d 张照片", MaxCaseImages)
	case !textFits(in.Address, 1, 100):
		return invalid("地址需为 1 到 100 个字")
	case (in.Lat == nil) != (in.Lng == nil):
		return invalid("经纬度需同时填写")
	case in.Lat != nil && (math.IsNaN(*in.Lat) || *in.Lat < -90 || *in.Lat > 90 || math.IsNaN(*in.Lng) || *in.Lng < -180 || *in.Lng > 180):
		return invalid("经纬度超出范围")
	}
	return nil
}

// Create files a report by the caller in a community (the caller need not
// live there). The text passes the content check; a "review" verdict or an
// unreachable checker stores the case flagged for staff. Photos are the
// caller's uploads. Open cases of the same category within
// case.duplicate_radius_m reported within case.duplicate_window come back
// in DuplicateOf, for the reporter to see and staff to merge. It returns
// 10001 for bad input, unknown images or a unit that is not a community,
// 10004 for someone else's image, 10005 for an unknown community and 10008
// for refused content.
func (s *CaseService) Create(ctx context.Context, actorID int64, in CaseInput) (*CaseView, error) {
	in.normalize()
	if err := s.validate(&in); err != nil {
		return nil, err
	}
	db := s.deps.DB.WithContext(ctx)
	actor, err := loadUser(ctx, db, actorID)
	if err != nil {
		return nil, err
	}
	community, err := loadOrg(ctx, db, in.CommunityID)
	if err != nil {
		return nil, err
	}
	if community.Level != model.LevelCommunity || community.ParentID == nil {
		return nil, invalid("请选择一个社区")
	}
	ids := community.AncestorIDs()
	if len(ids) < 2 {
		return nil, invalid("请选择一个社区")
	}
	rows, err := s.uploads.ownUploads(ctx, db, actorID, in.Images, MaxCaseImages)
	if err != nil {
		return nil, err
	}
	images := make([]int64, 0, len(rows))
	for _, r := range rows {
		images = append(images, r.ID)
	}
	flag, err := s.content.check(ctx, actor.OpenID, "", in.Content)
	if err != nil {
		return nil, err
	}
	now := s.deps.Clock.Now()
	c := model.Case{
		CommunityID: community.ID, StreetID: *community.ParentID, DistrictID: ids[0], CommunityPath: community.Path,
		Category: in.Category, Content: in.Content, Images: encodeIDs(images), Lat: in.Lat, Lng: in.Lng,
		Address: in.Address, ReporterID: actorID, ReviewFlag: flag, Status: model.CaseSubmitted,
		Level: model.CaseLevelCommunity, Step: model.StepAccept, StepDeadline: s.deadline(in.Category, model.StepAccept, now),
		CreatedAt: now, UpdatedAt: now,
	}
	dups, err := s.duplicates(ctx, db, &c)
	if err != nil {
		return nil, err
	}
	err = s.deps.tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Create(&c).Error; err != nil {
			return err
		}
		if err := s.uploads.attach(ctx, tx, images, model.UploadCase, c.CommunityID); err != nil {
			return err
		}
		note := ""
		if len(dups) > 0 {
			note = fmt.Sprintf("疑似与 #%d 重复", dups[0].ID)
		}
		return s.event(tx, &c, &actorID, roleReporter, caseActCreate, "", model.CaseSubmitted, eventOpt{note: note})
	})
	if err != nil {
		return nil, err
	}
	v, err := s.view(ctx, db, &c, caseAccess{callerID: actorID, reporter: true}, false)
	if err != nil {
		return nil, err
	}
	v.DuplicateOf = dups
	return v, nil
}

// deadline returns when step of a case of category, started at now, is due
// (see stepDue).
func (s *CaseService) deadline(category, step string, now time.Time) *time.Time {
	cfg := s.deps.Config
	t := stepDue(now, cfg.Case.StepDeadline(category, step), cfg.Case.Calendar, cfg.Location)
	return &t
}

// duplicates returns the open cases of c's street and category reported
// within case.duplicate_window and case.duplicate_radius_m of c, nearest
// first (none when c has no coordinates).
func (s *CaseService) duplicates(ctx context.Context, db *gorm.DB, c *model.Case) ([]CaseDuplicate, error) {
	cfg := s.deps.Config.Case
	if c.Lat == nil || cfg.DuplicateRadiusM == 0 || cfg.DuplicateWindow == 0 {
		return nil, nil
	}
	// A degree of latitude is ~111 km; the box is cut to the circle below.
	dLat := float64(cfg.DuplicateRadiusM) / 111_000
	dLng := dLat / math.Max(math.Cos(*c.Lat*math.Pi/180), 0.01)
	var rows []model.Case
	err := db.Select("id", "lat", "lng").
		Where("street_id = ? AND category = ? AND created_at >= ? AND status NOT IN ?", c.StreetID, c.Category,
			c.CreatedAt.Add(-cfg.DuplicateWindow), []model.CaseStatus{model.CaseResolved, model.CaseClosed, model.CaseMerged}).
		Where("lat BETWEEN ? AND ? AND lng BETWEEN ? AND ?", *c.Lat-dLat, *c.Lat+dLat, *c.Lng-dLng, *c.Lng+dLng).
		Order("created_at DESC").Limit(20).Find(&rows).Error
	if err != nil {
		return nil, err
	}
	var out []CaseDuplicate
	for _, r := range rows {
		if r.Lat == nil || r.Lng == nil {
			continue
		}
		if d := haversineM(*c.Lat, *c.Lng, *r.Lat, *r.Lng); d <= float64(cfg.DuplicateRadiusM) {
			out = append(out, CaseDuplicate{ID: r.ID, DistanceM: int(math.Round(d))})
		}
	}
	slices.SortStableFunc(out, func(a, b CaseDuplicate) int { return a.DistanceM - b.DistanceM })
	return out, nil
}

// eventOpt are the optional fields of a timeline event.
type eventOpt struct {
	dept   *int64
	step   string
	onTime *bool
	rating *int
	note   string
}

// event appends a line to c's timeline inside tx.
func (s *CaseService) event(tx *gorm.DB, c *model.Case, actorID *int64, role, action string, from, to model.CaseStatus, o eventOpt) error {
	note := o.note
	if r := []rune(note); len(r) > 500 {
		note = string(r[:500])
	}
	e := model.CaseEvent{
		CaseID: c.ID, CommunityID: c.CommunityID, StreetID: c.StreetID, DistrictID: c.DistrictID, DeptID: o.dept,
		ActorID: actorID, ActorRole: role, Action: action, Step: o.step, FromStatus: from, ToStatus: to,
		OnTime: o.onTime, Rating: o.rating, Note: note, CreatedAt: s.deps.Clock.Now(),
	}
	if err := tx.Create(&e).Error; err != nil {
		return err
	}
	return s.addDayStats(tx, &e)
}

// onTime reports whether c's current step is done at now, as a pointer for
// the event (nil when the step has no deadline).
func onTime(c *model.Case, now time.Time) *bool {
	if c.StepDeadline == nil {
		return nil
	}
	ok := !now.After(*c.StepDeadline)
	return &ok
}

// loadCase returns a case or 10005.
func loadCase(ctx context.Context, db *gorm.DB, id int64) (*model.Case, error) {
	var c model.Case
	if err := db.WithContext(ctx).First(&c, id).Error; err != nil {
		return nil, notFoundOr(err, "案件")
	}
	return &c, nil
}

// deptIDsOf returns the departments userID is dept_staff of.
func deptIDsOf(ctx context.Context, db *gorm.DB, userID int64) ([]int64, error) {
	var ids []int64
	err := db.WithContext(ctx).Model(&model.DeptStaff{}).Where("user_id = ?", userID).Order("dept_id").Pluck("dept_id", &ids).Error
	return ids, err
}

// access works out what the caller is to c.
func (s *CaseService) access(ctx context.Context, db *gorm.DB, callerID int64, c *model.Case) (caseAccess, error) {
	a := caseAccess{callerID: callerID, reporter: c.ReporterID == callerID}
	var err error
	community := &model.OrgUnit{ID: c.CommunityID, Path: c.CommunityPath}
	if a.staff, err = s.authz.IsStaff(ctx, db, callerID, community); err != nil {
		return a, err
	}
	if !a.staff && c.WhistleOrgID != 0 {
		if a.officer, err = s.authz.holds(ctx, db, callerID, community, model.RoleWhistleOfficer); err != nil {
			return a, err
		}
	}
	if c.AssigneeUserID != nil && *c.AssigneeUserID == callerID {
		a.assignee = true
	}
	if c.AssigneeUnitID != nil && !a.assignee {
		var n int64
		if err := db.Model(&model.UnitLiaison{}).Where("unit_id = ? AND user_id = ?", *c.AssigneeUnitID, callerID).Count(&n).Error; err != nil {
			return a, err
		}
		a.assignee = n > 0
	}
	if c.DispatchRound > 0 {
		err := db.Model(&model.CaseDept{}).
			Where("case_id = ? AND round = ? AND dept_id IN (?)", c.ID, c.DispatchRound,
				db.Session(&gorm.Session{NewDB: true}).Model(&model.DeptStaff{}).Select("dept_id").Where("user_id = ?", callerID)).
			Order("dept_id").Pluck("dept_id", &a.depts).Error
		if err != nil {
			return a, err
		}
	}
	if !a.reporter {
		var n int64
		if err := db.Model(&model.CaseFollower{}).Where("case_id = ? AND user_id = ?", c.ID, callerID).Count(&n).Error; err != nil {
			return a, err
		}
		a.follower = n > 0
	}
	return a, nil
}

// loadVisible returns the case and the caller's access, or 10005 when it
// does not exist or the caller may not see it.
func (s *CaseService) loadVisible(ctx context.Context, db *gorm.DB, callerID, id int64) (*model.Case, caseAccess, error) {
	c, err := loadCase(ctx, db, id)
	if err != nil {
		return nil, caseAccess{}, err
	}
	a, err := s.access(ctx, db, callerID, c)
	if err != nil {
		return nil, a, err
	}
	if !a.visible() {
		return nil, a, notFound("案件")
	}
	return c, a, nil
}

// Get returns one case with its timeline, to its reporter (and the
// reporters of cases merged into it), staff of its community or above, the
// departments it is dispatched to and its assignee. It returns 10005 for an
// unknown case or one the caller may not see.
func (s *CaseService) Get(ctx context.Context, callerID, id int64) (*CaseView, error) {
	db := s.deps.DB.WithContext(ctx)
	c, a, err := s.loadVisible(ctx, db, callerID, id)
	if err != nil {
		return nil, err
	}
	return s.view(ctx, db, c, a, true)
}

// view builds the full view of one case; with timeline, its events too.
func (s *CaseService) view(ctx context.Context, db *gorm.DB, c *model.Case, a caseAccess, timeline bool) (*CaseView, error) {
	vs, err := s.views(ctx, db, []model.Case{*c}, func(*model.Case) caseAccess { return a }, nil)
	if err != nil {
		return nil, err
	}
	v := vs[0]
	if a.handler() || a.reporter || a.follower {
		if c.AssigneeUserID != nil || c.AssigneeUnitID != nil {
			as, err := s.assigneeView(ctx, db, c, a.handler())
			if err != nil {
				return nil, err
			}
			v.Assignee = as
		}
		if c.DispatchRound > 0 {
			var rows []model.CaseDept
			if err := db.Where("case_id = ? AND round = ?", c.ID, c.DispatchRound).Order("id").Find(&rows).Error; err != nil {
				return nil, err
			}
			ids := make([]int64, 0, len(rows))
			for _, r := range rows {
				ids = append(ids, r.DeptID)
			}
			names, err := s.orgs.Names(ctx, ids...)
			if err != nil {
				return nil, err
			}
			for _, r := range rows {
				v.Departments = append(v.Departments, CaseDeptView{DepartmentID: r.DeptID, Name: names[r.DeptID],
					Lead: r.Lead, Status: r.Status, ReportedInAt: s.at(r.ReportedInAt)})
			}
		}
	}
	if timeline {
		if v.Timeline, err = s.timeline(ctx, db, c.ID, a); err != nil {
			return nil, err
		}
	}
	return &v, nil
}

// assigneeView names the assignee: in full for those handling the case,
// masked for the reporter.
func (s *CaseService) assigneeView(ctx context.Context, db *gorm.DB, c *model.Case, full bool) (*CaseAssigneeView, error) {
	out := &CaseAssigneeView{}
	if c.AssigneeUnitID != nil {
		var unit model.Unit
		if err := db.Select("id", "name").Limit(1).Find(&unit, *c.AssigneeUnitID).Error; err != nil {
			return nil, err
		}
		out.UnitID, out.Name = c.AssigneeUnitID, unit.Name
		return out, nil
	}
	u, err := loadUser(ctx, db, *c.AssigneeUserID)
	if err != nil {
		return nil, err
	}
	if full {
		out.UserID, out.Name = c.AssigneeUserID, displayName(u)
	} else {
		out.Name = MaskName(displayName(u)) + "（党员）"
	}
	return out, nil
}

func (s *CaseService) at(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	x := t.In(s.deps.Config.Location)
	return &x
}

// views builds the views of a page of cases with one query for their
// photos and, unless known holds them (read with the page), one for their
// reporters; names of communities and departments come from the org tree.
func (s *CaseService) views(ctx context.Context, db *gorm.DB, cs []model.Case, accessOf func(*model.Case) caseAccess,
	known map[int64]model.User) ([]CaseView, error) {
	var imageIDs, reporterIDs, orgIDs []int64
	for i := range cs {
		a := accessOf(&cs[i])
		if a.photos() {
			imageIDs = append(imageIDs, decodeIDs(cs[i].Images)...)
			imageIDs = append(imageIDs, decodeIDs(cs[i].ResolveImages)...)
		}
		if a.identity() {
			reporterIDs = append(reporterIDs, cs[i].ReporterID)
		}
		orgIDs = append(orgIDs, cs[i].CommunityID)
		if cs[i].LeadDeptID != nil {
			orgIDs = append(orgIDs, *cs[i].LeadDeptID)
		}
	}
	urls, err := s.uploads.urls(ctx, db, imageIDs)
	if err != nil {
		return nil, err
	}
	names := map[int64]string{}
	if len(orgIDs) > 0 {
		if names, err = s.orgs.Names(ctx, orgIDs...); err != nil {
			return nil, err
		}
	}
	reporters := known
	if reporters == nil {
		reporters = map[int64]model.User{}
	}
	if known == nil && len(reporterIDs) > 0 {
		var us []model.User
		if err := db.Select("id", "nickname", "real_name", "phone").Where("id IN ?", reporterIDs).Find(&us).Error; err != nil {
			return nil, err
		}
		for _, u := range us {
			reporters[u.ID] = u
		}
	}
	window := s.deps.Config.Case.RatingWindow
	out := make([]CaseView, 0, len(cs))
	for i := range cs {
		c := &cs[i]
		a := accessOf(c)
		v := CaseView{
			ID: c.ID, CommunityID: c.CommunityID, CommunityName: names[c.CommunityID], Category: c.Category,
			Content: c.Content, Images: []UploadView{}, Address: c.Address, Status: c.Status, Level: c.Level,
			Step: c.Step, StepDeadline: s.at(c.StepDeadline), Overdue: c.Overdue, OverdueCount: c.OverdueCount,
			Mine: a.reporter, LeadDeptID: c.LeadDeptID, DeptDeadline: s.at(c.DeptDeadline),
			AcceptedAt: s.at(c.AcceptedAt), ResolvedAt: s.at(c.ResolvedAt), ResolveNote: c.ResolveNote,
			Reopened: c.Reopened, Rating: c.Rating, Comment: c.Comment, AutoClosed: c.AutoClosed,
			ClosedAt: s.at(c.ClosedAt), MergedInto: c.MergedInto, CreatedAt: c.CreatedAt.In(s.deps.Config.Location),
		}
		if c.LeadDeptID != nil {
			v.LeadDeptName = names[*c.LeadDeptID]
		}
		if a.photos() {
			v.Images = imageViews(urls, decodeIDs(c.Images), a.reporter || a.staff)
			v.ResolveImages = imageViews(urls, decodeIDs(c.ResolveImages), a.staff)
			v.Lat, v.Lng = c.Lat, c.Lng
		} else {
			v.Address = maskAddress(c.Address)
		}
		if a.identity() {
			u := reporters[c.ReporterID]
			v.Reporter = &CaseReporterView{UserID: c.ReporterID, Name: displayName(&u), Phone: u.Phone}
		}
		if a.staff {
			v.ReviewFlag = c.ReviewFlag
		}
		if c.Status == model.CaseResolved && c.ResolvedAt != nil {
			v.RateBefore = s.at(new(c.ResolvedAt.Add(window)))
		}
		out = append(out, v)
	}
	return out, nil
}

// maskAddress keeps the first few characters of an address (the street or
// compound) and hides the rest.
func maskAddress(addr string) string {
	r := []rune(addr)
	if len(r) <= 4 {
		return strings.Repeat("*", len(r))
	}
	return string(r[:len(r)/2]) + "***"
}

// timeline returns the events of case id as the caller may see them.
func (s *CaseService) timeline(ctx context.Context, db *gorm.DB, id int64, a caseAccess) ([]CaseEventView, error) {
	var evs []model.CaseEvent
	if err := db.Where("case_id = ?", id).Order("id").Find(&evs).Error; err != nil {
		return nil, err
	}
	var actorIDs, deptIDs []int64
	for _, e := range evs {
		if e.ActorID != nil {
			actorIDs = append(actorIDs, *e.ActorID)
		}
		if e.DeptID != nil {
			deptIDs = append(deptIDs, *e.DeptID)
		}
	}
	actors := map[int64]string{}
	if a.handler() && len(actorIDs) > 0 {
		var us []model.User
		if err := db.Select("id", "nickname", "real_name").Where("id IN ?", actorIDs).Find(&us).Error; err != nil {
			return nil, err
		}
		for i := range us {
			actors[us[i].ID] = displayName(&us[i])
		}
	}
	depts := map[int64]string{}
	if len(deptIDs) > 0 {
		var err error
		if depts, err = s.orgs.Names(ctx, deptIDs...); err != nil {
			return nil, err
		}
	}
	out := make([]CaseEventView, 0, len(evs))
	for _, e := range evs {
		v := CaseEventView{Action: e.Action, ActorRole: e.ActorRole, FromStatus: e.FromStatus, ToStatus: e.ToStatus,
			OnTime: e.OnTime, Rating: e.Rating, Note: e.Note, DepartmentID: e.DeptID, At: e.CreatedAt.In(s.deps.Config.Location)}
		if e.DeptID != nil {
			v.DepartmentName = depts[*e.DeptID]
		}
		// Those handling the case see who acted; a reporter sees their own
		// steps and the roles of the others.
		if e.ActorID != nil && (a.handler() || *e.ActorID == a.callerID) {
			v.ActorID = e.ActorID
			v.ActorName = actors[*e.ActorID]
		}
		out = append(out, v)
	}
	return out, nil
}
