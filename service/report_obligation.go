package service

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"linli/model"
)

// ---- Quarters and years ----

// quarter is an obligation period in the configured zone: a calendar
// quarter, or (Q 0) a whole calendar year (评先评优 is annual). End is
// exclusive.
type quarter struct {
	Year, Q    int
	Start, End time.Time
}

// String returns the period as the API writes it: 2026Q4 for a quarter,
// 2026 for a year.
func (q quarter) String() string {
	if q.Q == 0 {
		return strconv.Itoa(q.Year)
	}
	return fmt.Sprintf("%dQ%d", q.Year, q.Q)
}

// quarters returns how many quarters the period spans (1 or 4): each
// quarterly requirement is multiplied by it.
func (q quarter) quarters() int {
	if q.Q == 0 {
		return 4
	}
	return 1
}

// monthSpan is one month of a period; End is exclusive.
type monthSpan struct {
	Label      string // 2026-10
	Start, End time.Time
}

// months returns the months of the period: 3 for a quarter, 12 for a year.
func (q quarter) months() []monthSpan {
	out := make([]monthSpan, 3*q.quarters())
	for i := range out {
		start := q.Start.AddDate(0, i, 0)
		out[i] = monthSpan{Label: start.Format("2006-01"), Start: start, End: start.AddDate(0, 1, 0)}
	}
	return out
}

// quarterOf returns the quarter of t in loc.
func quarterOf(t time.Time, loc *time.Location) quarter {
	t = t.In(loc)
	q := (int(t.Month())-1)/3 + 1
	start := time.Date(t.Year(), time.Month((q-1)*3+1), 1, 0, 0, 0, 0, loc)
	return quarter{Year: t.Year(), Q: q, Start: start, End: start.AddDate(0, 3, 0)}
}

// parseQuarter parses a period such as 2026Q4 (the q may be lower case). It
// returns 10001 for anything else.
func parseQuarter(s string, loc *time.Location) (quarter, error) {
	year, q, ok := strings.Cut(strings.ToUpper(strings.TrimSpace(s)), "Q")
	y, err1 := strconv.Atoi(year)
	n, err2 := strconv.Atoi(q)
	if !ok || err1 != nil || err2 != nil || len(year) != 4 || y < 2000 || y > 2999 || len(q) != 1 || n < 1 || n > 4 {
		return quarter{}, invalid("period 需为季度，如 2026Q4")
	}
	start := time.Date(y, time.Month((n-1)*3+1), 1, 0, 0, 0, 0, loc)
	return quarter{Year: y, Q: n, Start: start, End: start.AddDate(0, 3, 0)}, nil
}

// parsePeriod parses a quarter (2026Q4) or a year (2026). It returns 10001
// for anything else.
func parsePeriod(s string, loc *time.Location) (quarter, error) {
	t := strings.TrimSpace(s)
	if len(t) == 4 && !strings.ContainsAny(t, "qQ") {
		y, err := strconv.Atoi(t)
		if err != nil || y < 2000 || y > 2999 {
			return quarter{}, invalid("period 需为季度（如 2026Q4）或年份（如 2026）")
		}
		start := time.Date(y, time.January, 1, 0, 0, 0, 0, loc)
		return quarter{Year: y, Start: start, End: start.AddDate(1, 0, 0)}, nil
	}
	q, err := parseQuarter(t, loc)
	if err != nil {
		return quarter{}, invalid("period 需为季度（如 2026Q4）或年份（如 2026）")
	}
	return q, nil
}

// period resolves an optional period, a quarter or a year: the current
// quarter when empty. It returns 10001 for a bad period.
func (s *ReportService) period(p string) (quarter, error) {
	if strings.TrimSpace(p) == "" {
		return quarterOf(s.deps.Clock.Now(), s.deps.Config.Location), nil
	}
	return parsePeriod(p, s.deps.Config.Location)
}

// ---- The set-based obligation query ----

// memberFilter selects the approved (active) reports whose obligations are
// computed; empty fields do not filter.
type memberFilter struct {
	OrgPath      string // reports of communities at or beneath this org path
	CommunityIDs []int64
	UnitID       *int64
	UserID       *int64
	// AfterReportID and Limit page the members by report id (an export);
	// zero does not page.
	AfterReportID int64
	Limit         int
}

// apply adds the filter to a query over member_reports aliased as alias
// (joined with org_units as orgAlias when OrgPath is set).
func (f memberFilter) apply(q *gorm.DB, alias, orgAlias string) *gorm.DB {
	q = q.Where(alias+".status = ?", model.ReviewApproved)
	if f.OrgPath != "" {
		q = q.Joins("JOIN org_units AS "+orgAlias+" ON "+orgAlias+".id = "+alias+".community_id").
			Where(orgAlias+".path LIKE ?", f.OrgPath+"%")
	}
	if len(f.CommunityIDs) > 0 {
		q = q.Where(alias+".community_id IN ?", f.CommunityIDs)
	}
	if f.UnitID != nil {
		q = q.Where(alias+".unit_id = ?", *f.UnitID)
	}
	if f.UserID != nil {
		q = q.Where(alias+".user_id = ?", *f.UserID)
	}
	if f.AfterReportID > 0 {
		q = q.Where(alias+".id > ?", f.AfterReportID)
	}
	if f.Limit > 0 {
		q = q.Order(alias + ".id").Limit(f.Limit)
	}
	return q
}

// memberObligations is one row per approved report the filter selects, with
// the member's counts of approved service records of the quarter and whether
// they comply with the requirements table (report.obligations). It is one
// set-based query: the members, each joined to their records of the quarter
// through the covering index ix_record_obligation, grouped by report — never
// a query per member.
func (s *ReportService) memberObligations(db *gorm.DB, q quarter, f memberFilter) *gorm.DB {
	m := q.months()
	var monthCols strings.Builder
	args := []any{model.ServiceContactHelp, model.ServicePostDuty, model.ServicePublicActivity, model.ServicePracticalDeed}
	for i := range m {
		fmt.Fprintf(&monthCols, "SUM(CASE WHEN r.occurred_at >= ? AND r.occurred_at < ? THEN 1 ELSE 0 END) AS month%d,\n", i+1)
		args = append(args, m[i].Start.UTC(), m[i].End.UTC())
	}
	counts := db.Table("member_reports AS mr").
		Joins("LEFT JOIN service_records AS r ON r.user_id = mr.user_id AND r.status = ? AND r.occurred_at >= ? AND r.occurred_at < ?",
			model.RecordApproved, q.Start.UTC(), q.End.UTC()).
		Select(`mr.id AS report_id, mr.user_id, mr.community_id, mr.unit_id, mr.unit_name, mr.real_name, mr.mode,
			SUM(CASE WHEN r.kind = ? THEN 1 ELSE 0 END) AS contact_help,
			SUM(CASE WHEN r.kind = ? THEN 1 ELSE 0 END) AS post_duty,
			SUM(CASE WHEN r.kind = ? THEN 1 ELSE 0 END) AS public_activity,
			SUM(CASE WHEN r.kind = ? THEN 1 ELSE 0 END) AS practical_deed,
			`+monthCols.String()+`
			COUNT(r.user_id) AS records,
			COALESCE(SUM(r.minutes), 0) AS minutes`, args...).
		Group("mr.id")
	counts = f.apply(counts, "mr", "o")
	r := s.deps.Config.Report.Obligations
	n := q.quarters()
	monthly := make([]string, len(m))
	for i := range m {
		monthly[i] = fmt.Sprintf("g.month%d >= %d", i+1, r.DailyPerMonth)
	}
	return db.Table("(?) AS g", counts).
		Select(`g.*,
			CASE WHEN g.contact_help >= ? AND g.post_duty >= ? AND g.public_activity >= ? AND g.practical_deed >= ?
				AND (g.mode <> ? OR (`+strings.Join(monthly, " AND ")+`))
				THEN 1 ELSE 0 END AS compliant`,
			n*r.ContactHelp, n*r.PostDuty, n*r.PublicActivity, n*r.PracticalDeed, model.ModeDaily)
}

// obligationRow is a scanned row of memberObligations.
type obligationRow struct {
	ReportID       int64
	UserID         int64
	CommunityID    int64
	UnitID         *int64
	UnitName       string
	RealName       string
	Mode           model.ReportMode
	ContactHelp    int
	PostDuty       int
	PublicActivity int
	PracticalDeed  int
	// Month1…Month12 count the records of each month of the period (a
	// quarter fills the first three).
	Month1, Month2, Month3, Month4, Month5, Month6    int
	Month7, Month8, Month9, Month10, Month11, Month12 int
	Records                                           int
	Minutes                                           int
	Compliant                                         int
	AllMembers                                        int64
	AllCompliant                                      int64
	TotalRows                                         int64
}

// ObligationItem is one requirement of a quarter and how far it is met.
type ObligationItem struct {
	Kind     model.ServiceKind `json:"kind"`
	Label    string            `json:"label"`
	Required int               `json:"required"`
	Done     int               `json:"done"`
	Met      bool              `json:"met"`
}

// MonthItem is one month of a quarter: a daily member needs
// report.obligations.daily_per_month records in it (Required is 0 for a
// centralized member).
type MonthItem struct {
	Month    string `json:"month"`
	Required int    `json:"required"`
	Done     int    `json:"done"`
	Met      bool   `json:"met"`
}

// MemberObligationView is a member's standing for a quarter.
type MemberObligationView struct {
	ReportID      int64            `json:"reportId"`
	UserID        int64            `json:"userId"`
	RealName      string           `json:"realName"`
	CommunityID   int64            `json:"communityId"`
	CommunityName string           `json:"communityName"`
	UnitID        *int64           `json:"unitId"`
	UnitName      string           `json:"unitName"`
	Mode          model.ReportMode `json:"mode"`
	Items         []ObligationItem `json:"items"`
	Months        []MonthItem      `json:"months"`
	Records       int              `json:"records"`
	Minutes       int              `json:"minutes"`
	Compliant     bool             `json:"compliant"`
}

// memberView turns a row into a view; communityName may be empty.
func (s *ReportService) memberView(r *obligationRow, q quarter, communityName string) MemberObligationView {
	req := s.deps.Config.Report.Obligations
	n := q.quarters()
	item := func(k model.ServiceKind, required, done int) ObligationItem {
		required *= n
		return ObligationItem{Kind: k, Label: kindLabel(k), Required: required, Done: done, Met: done >= required}
	}
	perMonth := 0
	if r.Mode == model.ModeDaily {
		perMonth = req.DailyPerMonth
	}
	m := q.months()
	done := [12]int{r.Month1, r.Month2, r.Month3, r.Month4, r.Month5, r.Month6,
		r.Month7, r.Month8, r.Month9, r.Month10, r.Month11, r.Month12}
	months := make([]MonthItem, 0, len(m))
	for i := range m {
		months = append(months, MonthItem{Month: m[i].Label, Required: perMonth, Done: done[i], Met: done[i] >= perMonth})
	}
	return MemberObligationView{
		ReportID: r.ReportID, UserID: r.UserID, RealName: r.RealName, CommunityID: r.CommunityID,
		CommunityName: communityName, UnitID: r.UnitID, UnitName: r.UnitName, Mode: r.Mode,
		Items: []ObligationItem{
			item(model.ServiceContactHelp, req.ContactHelp, r.ContactHelp),
			item(model.ServicePostDuty, req.PostDuty, r.PostDuty),
			item(model.ServicePublicActivity, req.PublicActivity, r.PublicActivity),
			item(model.ServicePracticalDeed, req.PracticalDeed, r.PracticalDeed),
		},
		Months: months, Records: r.Records, Minutes: r.Minutes, Compliant: r.Compliant == 1,
	}
}

// ---- A member's own obligations ----

// MyObligationView is GET /me/obligations: the caller's standing for a
// quarter.
type MyObligationView struct {
	Period string    `json:"period"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	MemberObligationView
}

// MyObligations returns the caller's obligations for a quarter (the current
// one when period is empty), counted over their approved records of that
// quarter in the configured zone. It returns 10001 for a bad period and 50005
// unless the caller is a reported member.
func (s *ReportService) MyObligations(ctx context.Context, actorID int64, period string) (*MyObligationView, error) {
	q, err := s.period(period)
	if err != nil {
		return nil, err
	}
	v, err := s.memberObligation(ctx, s.deps.DB.WithContext(ctx), actorID, q)
	if err != nil {
		return nil, err
	}
	return &MyObligationView{Period: q.String(), Start: q.Start, End: q.End, MemberObligationView: *v}, nil
}

// memberObligation computes one reported member's standing, or 50005.
func (s *ReportService) memberObligation(ctx context.Context, db *gorm.DB, userID int64, q quarter) (*MemberObligationView, error) {
	var rows []obligationRow
	if err := s.memberObligations(db, q, memberFilter{UserID: &userID}).Scan(&rows).Error; err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, Errorf(CodeNotReported, "您还不是已报到的在职党员，请先到社区报到")
	}
	names, err := orgNames(ctx, db, []int64{rows[0].CommunityID})
	if err != nil {
		return nil, err
	}
	v := s.memberView(&rows[0], q, names[rows[0].CommunityID])
	return &v, nil
}

// ---- Staff: who is behind ----

// ObligationQuery is GET /admin/obligations.
type ObligationQuery struct {
	OrgID  int64
	Period string
	// View is "members" (default) or "units".
	View string
	// Compliant filters by standing when set.
	Compliant *bool
	// UnitID narrows the members view to one unit's members.
	UnitID *int64
	// Sort is a column name (see sortColumns) and Order asc or desc.
	Sort, Order string
	Page        Page
}

// ObligationSummary counts the rows of a view before the compliant filter.
type ObligationSummary struct {
	Total     int64 `json:"total"`
	Compliant int64 `json:"compliant"`
}

// ObligationList is GET /admin/obligations: one page of members or units.
type ObligationList[T any] struct {
	Period  string            `json:"period"`
	View    string            `json:"view"`
	Summary ObligationSummary `json:"summary"`
	List[T]
}

// memberSorts and unitSorts map the API's sort names to columns.
func memberSorts() map[string]string {
	return map[string]string{
		"reportId": "report_id", "name": "real_name", "communityId": "community_id", "unitId": "unit_id",
		"records": "records", "minutes": "minutes", "compliant": "compliant",
	}
}

func unitSorts() map[string]string {
	return map[string]string{
		"unitId": "unit_id", "name": "unit_name", "communityId": "community_id", "done": "done",
		"members": "members", "compliantMembers": "compliant_members", "compliant": "compliant",
	}
}

// orderBy returns the ORDER BY clause for a sort name and direction; the
// default puts those behind first. It returns 10001 for an unknown name or
// direction.
func orderBy(sorts map[string]string, sort, order, tie string) (string, error) {
	dir := "ASC"
	switch strings.ToLower(order) {
	case "", "asc":
	case "desc":
		dir = "DESC"
	default:
		return "", invalid("order 需为 asc 或 desc")
	}
	if sort == "" {
		return "compliant " + dir + ", " + tie + " ASC", nil
	}
	col, ok := sorts[sort]
	if !ok {
		return "", invalid("sort 不支持 %s", sort)
	}
	if col == tie {
		return col + " " + dir, nil
	}
	return col + " " + dir + ", " + tie + " ASC", nil
}

// AdminObligations lists, for staff of an org, every reported member under
// it with their counts and standing for a quarter (view=members), or every
// approved unit sitting under it with its activities and projects and its
// members' standing (view=units). Rows can be filtered by standing, sorted
// and paginated; the whole list is computed by a few set-based queries. It
// returns 10001 for a bad period, view, sort or order, 10005 for an unknown
// org and 10004 unless the caller is staff of it.
func (s *ReportService) AdminObligations(ctx context.Context, actorID int64, in ObligationQuery) (any, error) {
	q, err := s.period(in.Period)
	if err != nil {
		return nil, err
	}
	db := s.deps.DB.WithContext(ctx)
	org, err := s.authz.RequireStaff(ctx, db, actorID, in.OrgID)
	if err != nil {
		return nil, err
	}
	switch in.View {
	case "", "members":
		return s.adminMembers(ctx, db, org, q, in)
	case "units":
		return s.adminUnits(ctx, db, org, q, in)
	}
	return nil, invalid("view 需为 members 或 units")
}

// pageOf runs the paged query over rows (a derived table carrying a
// compliant column): it adds the summary windows, the compliant filter, the
// total window, the order and the page.
func pageOf[T any](db *gorm.DB, rows *gorm.DB, compliant *bool, order string, p Page, out *[]T) error {
	withSummary := db.Table("(?) AS t0", rows).
		Select("t0.*, COUNT(*) OVER () AS all_members, SUM(t0.compliant) OVER () AS all_compliant")
	q := db.Table("(?) AS t1", withSummary).Select("t1.*, COUNT(*) OVER () AS total_rows")
	if compliant != nil {
		v := 0
		if *compliant {
			v = 1
		}
		q = q.Where("t1.compliant = ?", v)
	}
	return q.Order(order).Offset(p.Offset()).Limit(p.PageSize).Scan(out).Error
}

// summaryOf counts rows and compliant rows of a derived table; used when a
// page came back empty and carries no window values.
func summaryOf(db *gorm.DB, rows *gorm.DB, compliant *bool) (ObligationSummary, int64, error) {
	var s struct {
		Total, Compliant int64
	}
	if err := db.Table("(?) AS t0", rows).Select("COUNT(*) AS total, COALESCE(SUM(t0.compliant), 0) AS compliant").Scan(&s).Error; err != nil {
		return ObligationSummary{}, 0, err
	}
	total := s.Total
	if compliant != nil {
		total = s.Compliant
		if !*compliant {
			total = s.Total - s.Compliant
		}
	}
	return ObligationSummary{Total: s.Total, Compliant: s.Compliant}, total, nil
}

func (s *ReportService) adminMembers(ctx context.Context, db *gorm.DB, org *model.OrgUnit, q quarter, in ObligationQuery) (*ObligationList[MemberObligationView], error) {
	order, err := orderBy(memberSorts(), in.Sort, in.Order, "report_id")
	if err != nil {
		return nil, err
	}
	rows := s.memberObligations(db, q, memberFilter{OrgPath: org.Path, UnitID: in.UnitID})
	var page []obligationRow
	if err := pageOf(db, rows, in.Compliant, order, in.Page, &page); err != nil {
		return nil, err
	}
	out := &ObligationList[MemberObligationView]{Period: q.String(), View: "members"}
	var total int64
	if len(page) > 0 {
		out.Summary = ObligationSummary{Total: page[0].AllMembers, Compliant: page[0].AllCompliant}
		total = page[0].TotalRows
	} else if out.Summary, total, err = summaryOf(db, s.memberObligations(db, q, memberFilter{OrgPath: org.Path, UnitID: in.UnitID}), in.Compliant); err != nil {
		return nil, err
	}
	ids := make([]int64, 0, len(page))
	for _, r := range page {
		ids = append(ids, r.CommunityID)
	}
	names, err := orgNames(ctx, db, ids)
	if err != nil {
		return nil, err
	}
	views := make([]MemberObligationView, 0, len(page))
	for i := range page {
		views = append(views, s.memberView(&page[i], q, names[page[i].CommunityID]))
	}
	out.List = NewList(views, total, in.Page)
	return out, nil
}

// UnitObligationView is a unit's standing for a quarter: its unit-organised
// activities and completed projects against report.obligations.unit_per_quarter,
// and how many of its members (under the org asked about) comply.
type UnitObligationView struct {
	UnitID           int64  `json:"unitId"`
	UnitName         string `json:"unitName"`
	CommunityID      int64  `json:"communityId"`
	CommunityName    string `json:"communityName"`
	Required         int    `json:"required"`
	Projects         int    `json:"projects"`
	Activities       int    `json:"activities"`
	Done             int    `json:"done"`
	Compliant        bool   `json:"compliant"`
	Members          int    `json:"members"`
	CompliantMembers int    `json:"compliantMembers"`
}

type unitRow struct {
	UnitID           int64
	UnitName         string
	CommunityID      int64
	Projects         int
	Activities       int
	Done             int
	Members          int
	CompliantMembers int
	Compliant        int
	AllMembers       int64
	AllCompliant     int64
	TotalRows        int64
}

// unitWork is, per unit, the projects completed in the quarter; with the
// activities of unitActivities they make the unit's quarterly obligation.
func (s *ReportService) unitWork(db *gorm.DB, q quarter) *gorm.DB {
	return db.Model(&model.Project{}).
		Select("unit_id, COUNT(*) AS projects").
		Where("status = ? AND completed_at >= ? AND completed_at < ?", model.ProjectDone, q.Start.UTC(), q.End.UTC()).
		Group("unit_id")
}

// unitActivities counts, per unit, the activities it organised (000:L189)
// that took place in the quarter: activities.unit_id set (a liaison's
// proposal, or staff acting for the unit), published or finished, starting
// in the quarter and already ended. It returns (unit_id, activities) rows.
func (s *ReportService) unitActivities(db *gorm.DB, q quarter) *gorm.DB {
	return db.Model(&model.Activity{}).Select("unit_id, COUNT(*) AS activities").
		Where("unit_id IS NOT NULL AND status IN ? AND start_at >= ? AND start_at < ? AND end_at <= ?",
			[]model.ActivityStatus{model.ActivityPublished, model.ActivityFinished},
			q.Start.UTC(), q.End.UTC(), s.deps.Clock.Now().UTC()).
		Group("unit_id")
}

// unitRows is one row per approved unit sitting under orgPath (any when
// empty), or only unitID, with its counts for the quarter; its members are
// those reporting to communities under orgPath.
func (s *ReportService) unitRows(db *gorm.DB, q quarter, orgPath string, unitID *int64) *gorm.DB {
	req := s.deps.Config.Report.Obligations.UnitPerQuarter * q.quarters()
	members := db.Table("(?) AS m0", s.memberObligations(db, q, memberFilter{OrgPath: orgPath, UnitID: unitID})).
		Select("m0.unit_id, COUNT(*) AS members, SUM(m0.compliant) AS compliant_members").
		Where("m0.unit_id IS NOT NULL").Group("m0.unit_id")
	actCol := "COALESCE(a.activities, 0)"
	rows := db.Table("units AS u").
		Joins("LEFT JOIN (?) AS p ON p.unit_id = u.id", s.unitWork(db, q)).
		Joins("LEFT JOIN (?) AS mm ON mm.unit_id = u.id", members).
		Joins("LEFT JOIN (?) AS a ON a.unit_id = u.id", s.unitActivities(db, q))
	rows = rows.Select(`u.id AS unit_id, u.name AS unit_name, u.community_id,
			COALESCE(p.projects, 0) AS projects,
			`+actCol+` AS activities,
			COALESCE(p.projects, 0) + `+actCol+` AS done,
			COALESCE(mm.members, 0) AS members,
			COALESCE(mm.compliant_members, 0) AS compliant_members,
			CASE WHEN COALESCE(p.projects, 0) + `+actCol+` >= ? THEN 1 ELSE 0 END AS compliant`, req).
		Where("u.status = ?", model.ReviewApproved)
	if orgPath != "" {
		rows = rows.Joins("JOIN org_units AS uo ON uo.id = u.community_id").Where("uo.path LIKE ?", orgPath+"%")
	}
	if unitID != nil {
		rows = rows.Where("u.id = ?", *unitID)
	}
	return rows
}

// unitView turns a row of unitRows for period q into a view.
func (s *ReportService) unitView(r *unitRow, q quarter, communityName string) UnitObligationView {
	return UnitObligationView{
		UnitID: r.UnitID, UnitName: r.UnitName, CommunityID: r.CommunityID, CommunityName: communityName,
		Required: s.deps.Config.Report.Obligations.UnitPerQuarter * q.quarters(), Projects: r.Projects, Activities: r.Activities,
		Done: r.Done, Compliant: r.Compliant == 1, Members: r.Members, CompliantMembers: r.CompliantMembers,
	}
}

func (s *ReportService) adminUnits(ctx context.Context, db *gorm.DB, org *model.OrgUnit, q quarter, in ObligationQuery) (*ObligationList[UnitObligationView], error) {
	order, err := orderBy(unitSorts(), in.Sort, in.Order, "unit_id")
	if err != nil {
		return nil, err
	}
	var page []unitRow
	if err := pageOf(db, s.unitRows(db, q, org.Path, in.UnitID), in.Compliant, order, in.Page, &page); err != nil {
		return nil, err
	}
	out := &ObligationList[UnitObligationView]{Period: q.String(), View: "units"}
	var total int64
	if len(page) > 0 {
		out.Summary = ObligationSummary{Total: page[0].AllMembers, Compliant: page[0].AllCompliant}
		total = page[0].TotalRows
	} else if out.Summary, total, err = summaryOf(db, s.unitRows(db, q, org.Path, in.UnitID), in.Compliant); err != nil {
		return nil, err
	}
	ids := make([]int64, 0, len(page))
	for _, r := range page {
		ids = append(ids, r.CommunityID)
	}
	names, err := orgNames(ctx, db, ids)
	if err != nil {
		return nil, err
	}
	views := make([]UnitObligationView, 0, len(page))
	for i := range page {
		views = append(views, s.unitView(&page[i], q, names[page[i].CommunityID]))
	}
	out.List = NewList(views, total, in.Page)
	return out, nil
}

// unitStanding returns one unit's standing for a quarter with its members
// across all communities.
func (s *ReportService) unitStanding(ctx context.Context, db *gorm.DB, u *model.Unit, q quarter) (UnitObligationView, error) {
	var rows []unitRow
	if err := s.unitRows(db, q, "", &u.ID).Scan(&rows).Error; err != nil {
		return UnitObligationView{}, err
	}
	if len(rows) == 0 { // not approved: nothing counts
		return UnitObligationView{UnitID: u.ID, UnitName: u.Name, CommunityID: u.CommunityID,
			Required: s.deps.Config.Report.Obligations.UnitPerQuarter * q.quarters()}, nil
	}
	names, err := orgNames(ctx, db, []int64{u.CommunityID})
	if err != nil {
		return UnitObligationView{}, err
	}
	return s.unitView(&rows[0], q, names[u.CommunityID]), nil
}
