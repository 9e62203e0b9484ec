package service

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"
	"gorm.io/gorm"

	"linli/model"
)

// UnitReportMember is one member of a unit in the report-back: their
// standing and records for the period.
type UnitReportMember struct {
	MemberObligationView
	Branch  string       `json:"branch"`
	Hours   string       `json:"hours"`
	Details []RecordLine `json:"details"`
}

// RecordLine is one approved service of a member in the report-back.
type RecordLine struct {
	ID         int64             `json:"id"`
	OccurredAt time.Time         `json:"occurredAt"`
	Kind       model.ServiceKind `json:"kind"`
	KindLabel  string            `json:"kindLabel"`
	Minutes    int               `json:"minutes"`
	Note       string            `json:"note"`
}

// UnitReportCommunity groups a unit's members by the community they report to.
type UnitReportCommunity struct {
	CommunityID   int64              `json:"communityId"`
	CommunityName string             `json:"communityName"`
	Members       []UnitReportMember `json:"members"`
}

// UnitReportView is the unit report-back (双报告) of one quarter or year.
type UnitReportView struct {
	Period      string                `json:"period"`
	Unit        UnitView              `json:"unit"`
	Obligation  UnitObligationView    `json:"obligation"`
	Members     int                   `json:"members"`
	Compliant   int                   `json:"compliant"`
	Communities []UnitReportCommunity `json:"communities"`
}

// UnitReport returns, for one quarter (2026Q3) or year (2026; the current
// quarter when period is empty), every member of a unit with their
// records, hours and obligation standing, grouped by community, and the
// unit's own standing. The unit's liaisons see all its members; staff see
// the members reporting to communities they are staff of (and the unit's
// standing when they are staff of its community or of a member's). It
// returns 10001 for a bad period, 10005 for an unknown unit and 10004 for
// anyone else.
func (s *ReportService) UnitReport(ctx context.Context, actorID, unitID int64, period string) (*UnitReportView, error) {
	q, err := s.period(period)
	if err != nil {
		return nil, err
	}
	db := s.deps.DB.WithContext(ctx)
	u, err := loadUnit(ctx, db, unitID)
	if err != nil {
		return nil, err
	}
	liaison, err := isLiaison(ctx, db, actorID, unitID)
	if err != nil {
		return nil, err
	}
	filter := memberFilter{UnitID: &unitID}
	if !liaison {
		visible, err := s.staffCommunities(ctx, db, actorID, u)
		if err != nil {
			return nil, err
		}
		if len(visible) == 0 {
			return nil, forbidden("只有单位联络员和成员所在社区的工作人员可以查看")
		}
		filter.CommunityIDs = visible
	}
	var rows []obligationRow
	if err := s.memberObligations(db, q, filter).Order("g.community_id, g.report_id").Scan(&rows).Error; err != nil {
		return nil, err
	}
	details, err := s.recordLines(db, q, rows)
	if err != nil {
		return nil, err
	}
	ids := []int64{u.CommunityID}
	for _, r := range rows {
		ids = append(ids, r.CommunityID)
	}
	names, err := orgNames(ctx, db, ids)
	if err != nil {
		return nil, err
	}
	branches := map[int64]string{}
	if len(rows) > 0 {
		var reports []model.MemberReport
		reportIDs := make([]int64, 0, len(rows))
		for _, r := range rows {
			reportIDs = append(reportIDs, r.ReportID)
		}
		if err := db.Select("id", "branch").Where("id IN ?", reportIDs).Find(&reports).Error; err != nil {
			return nil, err
		}
		for _, r := range reports {
			branches[r.ID] = r.Branch
		}
	}
	standing, err := s.unitStanding(ctx, db, u, q)
	if err != nil {
		return nil, err
	}
	out := &UnitReportView{
		Period: q.String(), Unit: unitView(u, names[u.CommunityID], true), Obligation: standing,
		Communities: []UnitReportCommunity{},
	}
	for i := range rows {
		r := &rows[i]
		n := len(out.Communities)
		if n == 0 || out.Communities[n-1].CommunityID != r.CommunityID {
			out.Communities = append(out.Communities, UnitReportCommunity{CommunityID: r.CommunityID,
				CommunityName: names[r.CommunityID], Members: []UnitReportMember{}})
			n++
		}
		m := UnitReportMember{MemberObligationView: s.memberView(r, q, names[r.CommunityID]),
			Branch: branches[r.ReportID], Hours: hours(r.Minutes), Details: details[r.UserID]}
		if m.Details == nil {
			m.Details = []RecordLine{}
		}
		out.Communities[n-1].Members = append(out.Communities[n-1].Members, m)
		out.Members++
		if m.Compliant {
			out.Compliant++
		}
	}
	return out, nil
}

// staffCommunities returns the communities, among the unit's own and those
// its members report to, of which actorID is staff.
func (s *ReportService) staffCommunities(ctx context.Context, db *gorm.DB, actorID int64, u *model.Unit) ([]int64, error) {
	var ids []int64
	err := db.Model(&model.MemberReport{}).Distinct("community_id").
		Where("unit_id = ? AND status = ?", u.ID, model.ReviewApproved).Pluck("community_id", &ids).Error
	if err != nil {
		return nil, err
	}
	if !slices.Contains(ids, u.CommunityID) {
		ids = append(ids, u.CommunityID)
	}
	var out []int64
	for _, id := range ids {
		ok, err := s.isStaffOf(ctx, db, actorID, id)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, id)
		}
	}
	return out, nil
}

// recordLines loads the approved records of the period of the rows'
// members, by user, in one query.
func (s *ReportService) recordLines(db *gorm.DB, q quarter, rows []obligationRow) (map[int64][]RecordLine, error) {
	out := map[int64][]RecordLine{}
	if len(rows) == 0 {
		return out, nil
	}
	users := make([]int64, 0, len(rows))
	for _, r := range rows {
		users = append(users, r.UserID)
	}
	var recs []model.ServiceRecord
	err := db.Where("user_id IN ? AND status = ? AND occurred_at >= ? AND occurred_at < ?",
		users, model.RecordApproved, q.Start.UTC(), q.End.UTC()).Order("occurred_at, id").Find(&recs).Error
	if err != nil {
		return nil, err
	}
	loc := s.deps.Config.Location
	for _, r := range recs {
		out[r.UserID] = append(out[r.UserID], RecordLine{ID: r.ID, OccurredAt: r.OccurredAt.In(loc),
			Kind: r.Kind, KindLabel: kindLabel(r.Kind), Minutes: r.Minutes, Note: r.Note})
	}
	return out, nil
}

// unitReportHeader is the header row of the report-back spreadsheet.
func unitReportHeader() []string {
	return []string{"姓名", "所在社区", "党支部", "报到方式", "服务次数", "服务时长（小时）",
		"联系帮扶群众", "服务认领岗位", "参加公益活动", "办实事", "每月服务次数", "是否达标", "服务明细"}
}

// modeLabel returns the Chinese name of a report mode.
func modeLabel(m model.ReportMode) string {
	if m == model.ModeDaily {
		return "日常报到"
	}
	return "集中报到"
}

// sheetName makes a valid, unique Excel sheet name (≤31 characters, none of
// : \ / ? * [ ]).
func sheetName(name string, used map[string]bool) string {
	name = strings.Map(func(r rune) rune {
		if strings.ContainsRune(`:\/?*[]`, r) {
			return '_'
		}
		return r
	}, strings.TrimSpace(name))
	if name == "" {
		name = "社区"
	}
	base := []rune(name)
	if len(base) > 31 {
		base = base[:31]
	}
	out := string(base)
	for i := 2; used[strings.ToLower(out)]; i++ {
		suffix := fmt.Sprintf("(%d)", i)
		out = string(base[:min(len(base), 31-len(suffix))]) + suffix
	}
	used[strings.ToLower(out)] = true
	return out
}

// UnitReportXLSX renders a report-back as an .xlsx workbook: one sheet per
// community (one empty sheet when the unit has no members), each with a
// header row of Chinese column names and one row per member.
func UnitReportXLSX(v *UnitReportView) ([]byte, error) {
	f := excelize.NewFile()
	defer f.Close()
	used := map[string]bool{}
	communities := v.Communities
	if len(communities) == 0 {
		communities = []UnitReportCommunity{{CommunityName: v.Unit.CommunityName}}
	}
	for i, c := range communities {
		name := sheetName(c.CommunityName, used)
		if i == 0 {
			if err := f.SetSheetName("Sheet1", name); err != nil {
				return nil, err
			}
		} else if _, err := f.NewSheet(name); err != nil {
			return nil, err
		}
		header := unitReportHeader()
		row := make([]any, len(header))
		for j, h := range header {
			row[j] = h
		}
		if err := f.SetSheetRow(name, "A1", &row); err != nil {
			return nil, err
		}
		for j, m := range c.Members {
			months := make([]string, 0, len(m.Months))
			for _, mo := range m.Months {
				months = append(months, fmt.Sprintf("%s:%d", mo.Month, mo.Done))
			}
			lines := make([]string, 0, len(m.Details))
			for _, d := range m.Details {
				lines = append(lines, fmt.Sprintf("%s %s %d分钟", d.OccurredAt.Format("2006-01-02"), d.KindLabel, d.Minutes))
			}
			compliant := "未达标"
			if m.Compliant {
				compliant = "达标"
			}
			cells := []any{m.RealName, c.CommunityName, m.Branch, modeLabel(m.Mode), m.Records, m.Hours,
				m.Items[0].Done, m.Items[1].Done, m.Items[2].Done, m.Items[3].Done,
				strings.Join(months, "；"), compliant, strings.Join(lines, "\n")}
			cell, err := excelize.CoordinatesToCellName(1, j+2)
			if err != nil {
				return nil, err
			}
			if err := f.SetSheetRow(name, cell, &cells); err != nil {
				return nil, err
			}
		}
	}
	var buf bytes.Buffer
	if err := f.Write(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
