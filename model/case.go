package model

import "time"

// LevelDepartment is the level of a department (职能部门): an org unit
// attached to a street or to the district, outside the four-level tree of
// residents (OrgLevel.Valid is false for it, so POST /admin/orgs cannot make
// one; POST /admin/departments does).
const LevelDepartment OrgLevel = "department"

// DeptStaff makes a user staff of a department (dept_staff): they report
// in, return and resolve the cases dispatched to it. One row per department
// and user.
type DeptStaff struct {
	ID        int64 `gorm:"primaryKey"`
	DeptID    int64 `gorm:"not null;uniqueIndex:ux_dept_staff,priority:1"`
	UserID    int64 `gorm:"not null;uniqueIndex:ux_dept_staff,priority:2;index"`
	CreatedBy int64 `gorm:"not null"`
	CreatedAt time.Time
}

// TableName names the table dept_staff.
func (DeptStaff) TableName() string { return "dept_staff" }

// CaseStatus is the state of a case (随手拍 / 吹哨报到).
type CaseStatus string

// Case states. In the community: submitted → accepted → in_progress →
// resolved → closed. Beyond it: whistled (to the street's whistle office) →
// dispatched (to departments) → reported_in (the lead department accepted)
// → resolved; returned (a department sent it back) and escalated (to the
// district's whistle office) wait for a new dispatch. merged: folded into
// another case of the same community.
const (
	CaseSubmitted  CaseStatus = "submitted"
	CaseAccepted   CaseStatus = "accepted"
	CaseInProgress CaseStatus = "in_progress"
	CaseWhistled   CaseStatus = "whistled"
	CaseDispatched CaseStatus = "dispatched"
	CaseReportedIn CaseStatus = "reported_in"
	CaseReturned   CaseStatus = "returned"
	CaseEscalated  CaseStatus = "escalated"
	CaseResolved   CaseStatus = "resolved"
	CaseClosed     CaseStatus = "closed"
	CaseMerged     CaseStatus = "merged"
)

// CaseStatuses lists every state in lifecycle order.
func CaseStatuses() []CaseStatus {
	return []CaseStatus{CaseSubmitted, CaseAccepted, CaseInProgress, CaseWhistled, CaseDispatched,
		CaseReportedIn, CaseReturned, CaseEscalated, CaseResolved, CaseClosed, CaseMerged}
}

// Valid reports whether s is a known state.
func (s CaseStatus) Valid() bool {
	for _, v := range CaseStatuses() {
		if v == s {
			return true
		}
	}
	return false
}

// Open reports whether a case in state s still waits for a resolution.
func (s CaseStatus) Open() bool {
	return s != CaseResolved && s != CaseClosed && s != CaseMerged
}

// Case levels: who handles the case now.
const (
	CaseLevelCommunity = "community"
	CaseLevelStreet    = "street"
	CaseLevelDistrict  = "district"
)

// Case steps: what the current deadline (StepDeadline) is for.
const (
	StepAccept      = "accept"       // the community accepts
	StepResolve     = "resolve"      // the community resolves
	StepDispatch    = "dispatch"     // the whistle office dispatches
	StepReportIn    = "report_in"    // the lead department reports in
	StepDeptResolve = "dept_resolve" // the lead department resolves
)

// CaseSteps lists the steps that have a deadline.
func CaseSteps() []string {
	return []string{StepAccept, StepResolve, StepDispatch, StepReportIn, StepDeptResolve}
}

// Case is a problem reported with photos and a place. The reporter is
// visible to staff handling the case only. StreetID and DistrictID copy the
// community's place so a street's or district's list is one indexed query.
// StepSeq counts transitions: the overdue sweep's conditional UPDATE names
// the step it read, so a step is escalated once however many instances
// sweep. DispatchRound numbers the dispatches; CaseDept rows belong to one.
type Case struct {
	ID            int64      `gorm:"primaryKey;index:ix_case_community_list,priority:4;index:ix_case_street_list,priority:4;index:ix_case_district_list,priority:4;index:ix_case_community_recent,priority:3;index:ix_case_street_recent,priority:3;index:ix_case_district_recent,priority:3"`
	CommunityID   int64      `gorm:"not null;index:ix_case_community_list,priority:1;index:ix_case_community_recent,priority:1"`
	StreetID      int64      `gorm:"not null;index:ix_case_street_list,priority:1;index:ix_case_street_recent,priority:1;index:ix_case_dup,priority:1"`
	DistrictID    int64      `gorm:"not null;index:ix_case_district_list,priority:1;index:ix_case_district_recent,priority:1"`
	CommunityPath string     `gorm:"size:255;not null"`
	Category      string     `gorm:"size:16;not null;index:ix_case_dup,priority:2"`
	Content       string     `gorm:"size:500;not null"`
	Images        string     `gorm:"size:512;not null;default:''"` // JSON array of upload ids
	Lat           *float64   `gorm:""`
	Lng           *float64   `gorm:""`
	Address       string     `gorm:"size:255;not null"`
	ReporterID    int64      `gorm:"not null;index:ix_case_reporter,priority:1"`
	ReviewFlag    string     `gorm:"size:32;not null;default:''"`
	Status        CaseStatus `gorm:"size:16;not null;index:ix_case_community_list,priority:2;index:ix_case_street_list,priority:2;index:ix_case_district_list,priority:2;index:ix_case_status_resolved,priority:1"`
	Level         string     `gorm:"size:16;not null"`
	// WhistleOrgID is the street or district whose whistle office has the
	// case (0 while it is the community's).
	WhistleOrgID int64      `gorm:"not null;default:0"`
	Step         string     `gorm:"size:16;not null;default:''"`
	StepSeq      int        `gorm:"not null;default:0"`
	StepDeadline *time.Time `gorm:"index"`
	// Overdue is set once any step of the case ran past its deadline (督办);
	// OverdueCount counts such steps.
	Overdue      bool `gorm:"not null;default:false"`
	OverdueCount int  `gorm:"not null;default:0"`
	// AssigneeUserID or AssigneeUnitID is who the community gave the case to.
	AssigneeUserID *int64 `gorm:"index"`
	AssigneeUnitID *int64 `gorm:"index"`
	DispatchRound  int    `gorm:"not null;default:0"`
	LeadDeptID     *int64 `gorm:"index"`
	// DeptDeadline is the resolution deadline the whistle office set.
	DeptDeadline *time.Time
	AcceptedAt   *time.Time
	ResolvedAt   *time.Time `gorm:"index:ix_case_status_resolved,priority:2"`
	// ResolvedBy is who resolved it; ResolvedFrom the state it was resolved
	// from (a reopen goes back there); ResolvedDept the department.
	ResolvedBy    *int64
	ResolvedFrom  CaseStatus `gorm:"size:16;not null;default:''"`
	ResolvedDept  *int64
	ResolvedUnit  *int64
	ResolveNote   string `gorm:"size:500;not null;default:''"`
	ResolveImages string `gorm:"size:512;not null;default:''"`
	Reopened      bool   `gorm:"not null;default:false"`
	Rating        *int
	Comment       string `gorm:"size:255;not null;default:''"`
	AutoClosed    bool   `gorm:"not null;default:false"`
	ClosedAt      *time.Time
	MergedInto    *int64    `gorm:"index"`
	CreatedAt     time.Time `gorm:"index:ix_case_community_list,priority:3;index:ix_case_street_list,priority:3;index:ix_case_district_list,priority:3;index:ix_case_dup,priority:3;index:ix_case_community_recent,priority:2;index:ix_case_street_recent,priority:2;index:ix_case_district_recent,priority:2"`
	UpdatedAt     time.Time
}

// CaseDeptStatus is where one dispatched department stands.
type CaseDeptStatus string

// States of a dispatched department.
const (
	DeptDispatched CaseDeptStatus = "dispatched"
	DeptReportedIn CaseDeptStatus = "reported_in"
	DeptReturned   CaseDeptStatus = "returned"
)

// CaseDept is one department a case was dispatched to in one round. The
// unique key keeps one row per case, round and department, so a department
// reports in once per round.
type CaseDept struct {
	ID           int64          `gorm:"primaryKey"`
	CaseID       int64          `gorm:"not null;uniqueIndex:ux_case_dept,priority:1"`
	Round        int            `gorm:"not null;uniqueIndex:ux_case_dept,priority:2"`
	DeptID       int64          `gorm:"not null;uniqueIndex:ux_case_dept,priority:3;index:ix_case_dept_dept,priority:1"`
	Lead         bool           `gorm:"not null;default:false"`
	Status       CaseDeptStatus `gorm:"size:16;not null;index:ix_case_dept_dept,priority:2"`
	ReportedInAt *time.Time
	ReportedBy   *int64
	CreatedAt    time.Time `gorm:"index:ix_case_dept_dept,priority:3"`
}

// CaseFollower is a reporter who follows a case: the reporter of a case
// merged into it. Followers see the case and its timeline as its reporter
// does.
type CaseFollower struct {
	ID        int64 `gorm:"primaryKey"`
	CaseID    int64 `gorm:"not null;uniqueIndex:ux_case_follower,priority:1"`
	UserID    int64 `gorm:"not null;uniqueIndex:ux_case_follower,priority:2;index"`
	FromCase  int64 `gorm:"not null"`
	CreatedAt time.Time
}

// CaseEvent is one line of a case's timeline, and the fact the figures are
// counted from (GET /admin/case-stats): the community, street and district
// are copied so the figures of a unit are one indexed query. OnTime is set
// on the steps that have a deadline (accept, report_in, resolve); Rating on
// a rating; DeptID on a department's steps (and on a rating of a
// department's resolution). The district and street indexes cover the
// figures' grouped read (unit, period, then the grouped columns), so a
// district's figures scan an index, not the table.
type CaseEvent struct {
	ID          int64  `gorm:"primaryKey"`
	CaseID      int64  `gorm:"not null;index:ix_case_event_case,priority:1"`
	CommunityID int64  `gorm:"not null;index:ix_case_event_community,priority:1;index:ix_case_event_street,priority:3;index:ix_case_event_district,priority:3"`
	StreetID    int64  `gorm:"not null;index:ix_case_event_street,priority:1"`
	DistrictID  int64  `gorm:"not null;index:ix_case_event_district,priority:1"`
	DeptID      *int64 `gorm:"index:ix_case_event_dept,priority:1;index:ix_case_event_street,priority:4;index:ix_case_event_district,priority:4"`
	ActorID     *int64 `gorm:"index"`
	ActorRole   string `gorm:"size:16;not null;default:''"`
	Action      string `gorm:"size:24;not null;index:ix_case_event_street,priority:5;index:ix_case_event_district,priority:5"`
	// Step is the deadline step this event completed, if any (accept,
	// resolve, dispatch, report_in, dept_resolve); OnTime says whether it
	// met its deadline.
	Step       string     `gorm:"size:16;not null;default:'';index:ix_case_event_street,priority:6;index:ix_case_event_district,priority:6"`
	FromStatus CaseStatus `gorm:"size:16;not null;default:''"`
	ToStatus   CaseStatus `gorm:"size:16;not null;default:''"`
	OnTime     *bool      `gorm:"index:ix_case_event_street,priority:7;index:ix_case_event_district,priority:7"`
	Rating     *int       `gorm:"index:ix_case_event_street,priority:8;index:ix_case_event_district,priority:8"`
	Note       string     `gorm:"size:500;not null;default:''"`
	CreatedAt  time.Time  `gorm:"index:ix_case_event_community,priority:2;index:ix_case_event_street,priority:2;index:ix_case_event_district,priority:2;index:ix_case_event_dept,priority:2"`
}

// CaseDayStats counts one day's timeline events (Day is yyyymmdd in the
// configured zone) of one community, department (0: none), action and step,
// with how many met their deadline and the ratings given, for GET
// /admin/case-stats over whole days. The case service adds to the row in
// the transaction of each event; `linli rebuild-stats` recomputes every
// row from case_events.
type CaseDayStats struct {
	Day         int    `gorm:"primaryKey;autoIncrement:false;index:ix_case_day_street,priority:2;index:ix_case_day_district,priority:2;index:ix_case_day_dept,priority:2"`
	CommunityID int64  `gorm:"primaryKey;autoIncrement:false"`
	DeptID      int64  `gorm:"primaryKey;autoIncrement:false;index:ix_case_day_dept,priority:1"`
	Action      string `gorm:"primaryKey;size:24"`
	Step        string `gorm:"primaryKey;size:16"`
	StreetID    int64  `gorm:"not null;index:ix_case_day_street,priority:1"`
	DistrictID  int64  `gorm:"not null;index:ix_case_day_district,priority:1"`
	N           int64  `gorm:"not null;default:0"`
	OnTime      int64  `gorm:"not null;default:0"`
	RatingSum   int64  `gorm:"not null;default:0"`
	Rated       int64  `gorm:"not null;default:0"`
}
