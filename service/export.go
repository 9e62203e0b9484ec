package service

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"
	"gorm.io/gorm"

	"linli/model"
)

// Export kinds: the spreadsheets of GET /admin/exports/{kind}.xlsx.
const (
	ExportHours            = "hours"
	ExportObligations      = "obligations"
	ExportWishes           = "wishes"
	ExportVolunteerRecords = "volunteer-records"
)

// exportPageSize is how many rows an export reads per query.
const exportPageSize = 2000

// Export is a spreadsheet ready to be written: its permission checked and
// its audit entry committed. Write it with WriteTo.
type Export struct {
	Kind     string
	Filename string
	s        *OversightService
	org      *model.OrgUnit
	from, to time.Time
}

// PrepareExport checks that the caller may export kind for orgID's subtree
// over [from, to) (nil bounds: the current quarter) and records the export
// in the audit log. It returns 10001 for an unknown kind or bounds out of
// order or more than 400 days apart, 10004 unless the caller is staff or
// admin of orgID or above and 10005 for an unknown org.
func (s *OversightService) PrepareExport(ctx context.Context, actorID int64, kind string, orgID int64, from, to *time.Time) (*Export, error) {
	switch kind {
	case ExportHours, ExportObligations, ExportWishes, ExportVolunteerRecords:
	default:
		return nil, notFound("导出类型")
	}
	start, end, err := s.period(from, to)
	if err != nil {
		return nil, err
	}
	var org *model.OrgUnit
	err = s.deps.tx(ctx, func(tx *gorm.DB) error {
		if org, err = s.authz.RequireStaff(ctx, tx, actorID, orgID); err != nil {
			return err
		}
		loc := s.deps.Config.Location
		return s.deps.audit(ctx, tx, auditEvent{Actor: actorID, Org: orgID, Action: AuditExport, ObjectKind: "export",
			ObjectID: orgID, After: map[string]any{"kind": kind, "from": start.In(loc).Format(time.DateOnly),
				"to": end.In(loc).Format(time.DateOnly)}})
	})
	if err != nil {
		return nil, err
	}
	loc := s.deps.Config.Location
	name := fmt.Sprintf("%s-%d-%s-%s.xlsx", kind, orgID, start.In(loc).Format("20060102"), end.Add(-time.Second).In(loc).Format("20060102"))
	return &Export{Kind: kind, Filename: name, s: s, org: org, from: start, to: end}, nil
}

// exportSheet is the rows of one export: its headers and a reader of the
// page after a cursor (nil rows when done).
type exportSheet struct {
	headers []string
	widths  []float64
	page    func(ctx context.Context, after int64) (rows [][]any, next int64, err error)
}

// WriteTo streams the spreadsheet to w: rows are read a page at a time and
// written through excelize's stream writer (which spills to a temporary file
// past its buffer), so memory stays flat however many rows there are. It
// returns the database's or the writer's error.
func (x *Export) WriteTo(ctx context.Context, w io.Writer) error {
	sheet := x.sheet()
	f := excelize.NewFile()
	defer f.Close()
	const name = "Sheet1"
	sw, err := f.NewStreamWriter(name)
	if err != nil {
		return err
	}
	for i, wd := range sheet.widths {
		if err := sw.SetColWidth(i+1, i+1, wd); err != nil {
			return err
		}
	}
	header := make([]any, len(sheet.headers))
	for i, h := range sheet.headers {
		header[i] = h
	}
	if err := sw.SetRow("A1", header); err != nil {
		return err
	}
	row := 2
	var after int64
	for {
		rows, next, err := sheet.page(ctx, after)
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			break
		}
		for _, r := range rows {
			cell, _ := excelize.CoordinatesToCellName(1, row)
			if err := sw.SetRow(cell, r); err != nil {
				return err
			}
			row++
		}
		after = next
	}
	if err := sw.Flush(); err != nil {
		return err
	}
	return f.Write(w)
}

func (x *Export) sheet() exportSheet {
	switch x.Kind {
	case ExportHours:
		return x.hoursSheet()
	case ExportObligations:
		return x.obligationsSheet()
	case ExportWishes:
		return x.wishesSheet()
	}
	return x.volunteerRecordsSheet()
}

// subtree is the ids of the org units beneath the export's org.
func (x *Export) subtree(db *gorm.DB) *gorm.DB {
	return db.Session(&gorm.Session{NewDB: true}).Model(&model.OrgUnit{}).Select("id").Where("path LIKE ?", x.org.Path+"%")
}

// names returns the org units by id from the instance's copy of the tree.
func (x *Export) names(ctx context.Context) map[int64]*model.OrgUnit {
	tree, err := x.s.orgs.snapshot(ctx)
	if err != nil {
		return map[int64]*model.OrgUnit{}
	}
	return tree
}

func orgName(tree map[int64]*model.OrgUnit, id int64) string {
	if o := tree[id]; o != nil {
		return o.Name
	}
	return ""
}

func (x *Export) localTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.In(x.s.deps.Config.Location).Format("2006-01-02 15:04")
}

// hoursSheet: one row per volunteer with approved service in the subtree in
// the period (by the day it took place): their records and minutes.
func (x *Export) hoursSheet() exportSheet {
	return exportSheet{
		headers: []string{"用户ID", "姓名", "手机号", "所在社区", "服务次数", "服务时长（分钟）", "服务时长（小时）"},
		widths:  []float64{10, 14, 16, 20, 10, 16, 16},
		page: func(ctx context.Context, after int64) ([][]any, int64, error) {
			db := x.s.deps.laggingRead(ctx) // an export tolerates lag
			var rows []struct {
				UserID          int64
				Records         int64
				Minutes         int64
				Nickname        string
				RealName        *string
				Phone           *string
				HomeCommunityID *int64
			}
			sums := db.Model(&model.ServiceRecord{}).Select("user_id, COUNT(*) AS records, SUM(minutes) AS minutes").
				Where("user_id > ? AND status = ? AND occurred_at >= ? AND occurred_at < ? AND community_id IN (?)",
					after, model.RecordApproved, x.from.UTC(), x.to.UTC(), x.subtree(db)).
				Group("user_id").Order("user_id").Limit(exportPageSize)
			err := db.Table("(?) AS s", sums).Joins("JOIN users AS u ON u.id = s.user_id").
				Joins("LEFT JOIN volunteer_profiles AS v ON v.user_id = s.user_id").
				Select("s.user_id, s.records, s.minutes, u.nickname, v.real_name, v.phone, u.home_community_id").
				Order("s.user_id").Scan(&rows).Error
			if err != nil || len(rows) == 0 {
				return nil, 0, err
			}
			tree := x.names(ctx)
			out := make([][]any, 0, len(rows))
			for _, r := range rows {
				name, phone := volunteerContact(r.Nickname, r.RealName, r.Phone)
				home := ""
				if r.HomeCommunityID != nil {
					home = orgName(tree, *r.HomeCommunityID)
				}
				out = append(out, []any{r.UserID, name, phone, home, r.Records, r.Minutes, float64(r.Minutes*10/60) / 10})
			}
			return out, rows[len(rows)-1].UserID, nil
		},
	}
}

// obligationsSheet: one row per reported member and quarter overlapping the
// period, with their records of each required kind and whether they comply.
func (x *Export) obligationsSheet() exportSheet {
	loc := x.s.deps.Config.Location
	var quarters []quarter
	for q := quarterOf(x.from, loc); q.Start.Before(x.to); q = quarterOf(q.End, loc) {
		quarters = append(quarters, q)
	}
	// The cursor packs the quarter's index with the last report id.
	const stride = int64(1) << 48
	return exportSheet{
		headers: []string{"季度", "姓名", "所在社区", "单位", "报到方式", "联系帮扶群众", "服务认领岗位", "参加公益活动", "办实事", "服务次数", "服务时长（分钟）", "是否达标"},
		widths:  []float64{10, 14, 20, 24, 10, 14, 14, 14, 10, 10, 16, 10},
		page: func(ctx context.Context, after int64) ([][]any, int64, error) {
			db := x.s.deps.laggingRead(ctx) // an export tolerates lag
			tree := x.names(ctx)
			for qi := int(after / stride); qi < len(quarters); qi, after = qi+1, int64(qi+1)*stride {
				q := quarters[qi]
				var rows []obligationRow
				f := memberFilter{OrgPath: x.org.Path, AfterReportID: after % stride, Limit: exportPageSize}
				if err := x.s.reports.memberObligations(db, q, f).Order("g.report_id").Scan(&rows).Error; err != nil {
					return nil, 0, err
				}
				if len(rows) == 0 {
					continue
				}
				out := make([][]any, 0, len(rows))
				for _, r := range rows {
					mode := "日常报到"
					if r.Mode == model.ModeCentralized {
						mode = "集中报到"
					}
					ok := "否"
					if r.Compliant == 1 {
						ok = "是"
					}
					out = append(out, []any{q.String(), r.RealName, orgName(tree, r.CommunityID), r.UnitName, mode,
						r.ContactHelp, r.PostDuty, r.PublicActivity, r.PracticalDeed, r.Records, r.Minutes, ok})
				}
				return out, int64(qi)*stride + rows[len(rows)-1].ReportID, nil
			}
			return nil, 0, nil
		},
	}
}

// wishActionLabel is the Chinese name of a wish timeline action.
func wishActionLabel(a string) string {
	switch a {
	case wishActCreate:
		return "发布"
	case wishActApprove:
		return "审核通过"
	case wishActReject:
		return "驳回"
	case wishActClaim:
		return "认领"
	case wishActRelease:
		return "放弃认领"
	case wishActLapse:
		return "认领超时"
	case wishActFulfil:
		return "完成"
	case wishActConfirm:
		return "确认"
	case wishActAutoConfirm:
		return "自动确认"
	case wishActCancel:
		return "取消"
	case wishActExpire:
		return "过期"
	}
	return a
}

// wishesSheet: one row per wish posted in the subtree in the period, with
// its timeline summarised (each step and its day, in order).
func (x *Export) wishesSheet() exportSheet {
	return exportSheet{
		headers: []string{"心愿编号", "所在社区", "标题", "类别", "状态", "提交时间", "发布时间", "认领时间", "完成时间", "评分", "时间线摘要"},
		widths:  []float64{10, 20, 30, 10, 12, 18, 18, 18, 18, 6, 60},
		page: func(ctx context.Context, after int64) ([][]any, int64, error) {
			db := x.s.deps.laggingRead(ctx) // an export tolerates lag
			var ws []model.Wish
			err := db.Select("id", "community_id", "title", "category", "status", "created_at", "published_at",
				"claimed_at", "completed_at", "rating").
				Where("id > ? AND created_at >= ? AND created_at < ? AND community_id IN (?)", after, x.from.UTC(), x.to.UTC(), x.subtree(db)).
				Order("id").Limit(exportPageSize).Find(&ws).Error
			if err != nil || len(ws) == 0 {
				return nil, 0, err
			}
			ids := make([]int64, len(ws))
			for i, w := range ws {
				ids[i] = w.ID
			}
			var events []model.WishEvent
			if err := db.Select("wish_id", "action", "created_at").Where("wish_id IN ?", ids).Order("wish_id, id").Find(&events).Error; err != nil {
				return nil, 0, err
			}
			timeline := map[int64][]string{}
			loc := x.s.deps.Config.Location
			for _, e := range events {
				timeline[e.WishID] = append(timeline[e.WishID], e.CreatedAt.In(loc).Format("01-02")+" "+wishActionLabel(e.Action))
			}
			tree := x.names(ctx)
			out := make([][]any, 0, len(ws))
			for _, w := range ws {
				rating := ""
				if w.Rating != nil {
					rating = fmt.Sprint(*w.Rating)
				}
				created := w.CreatedAt
				out = append(out, []any{w.ID, orgName(tree, w.CommunityID), w.Title, w.Category, statusName(w.Status),
					x.localTime(&created), x.localTime(w.PublishedAt), x.localTime(w.ClaimedAt), x.localTime(w.CompletedAt),
					rating, strings.Join(timeline[w.ID], " → ")})
			}
			return out, ws[len(ws)-1].ID, nil
		},
	}
}

// volunteerRecordsSheet: one row per approved service in the subtree in the
// period, in the columns the national volunteer-service information system
// (全国志愿服务信息系统) imports: the volunteer, their identity document
// (linli holds no ID numbers: the type and a masked phone stand in, to be
// completed by the district), the service, its date and hours, and the
// organiser.
func (x *Export) volunteerRecordsSheet() exportSheet {
	return exportSheet{
		headers: []string{"志愿者姓名", "证件类型", "证件号码", "联系电话", "服务项目名称", "服务日期", "服务时长（小时）", "组织单位"},
		widths:  []float64{14, 12, 20, 16, 30, 12, 16, 24},
		page: func(ctx context.Context, after int64) ([][]any, int64, error) {
			db := x.s.deps.laggingRead(ctx) // an export tolerates lag
			var rows []struct {
				ID          int64
				CommunityID int64
				Kind        model.ServiceKind
				OccurredAt  time.Time
				Minutes     int64
				Note        string
				Nickname    string
				RealName    *string
				Phone       *string
			}
			err := db.Table("service_records AS r").Joins("JOIN users AS u ON u.id = r.user_id").
				Joins("LEFT JOIN volunteer_profiles AS v ON v.user_id = r.user_id").
				Select("r.id, r.community_id, r.kind, r.occurred_at, r.minutes, r.note, u.nickname, v.real_name, v.phone").
				Where("r.id > ? AND r.status = ? AND r.occurred_at >= ? AND r.occurred_at < ? AND r.community_id IN (?)",
					after, model.RecordApproved, x.from.UTC(), x.to.UTC(), x.subtree(db)).
				Order("r.id").Limit(exportPageSize).Scan(&rows).Error
			if err != nil || len(rows) == 0 {
				return nil, 0, err
			}
			tree := x.names(ctx)
			loc := x.s.deps.Config.Location
			out := make([][]any, 0, len(rows))
			for _, r := range rows {
				name, phone := volunteerContact(r.Nickname, r.RealName, r.Phone)
				service := r.Note
				if service == "" {
					service = kindLabel(r.Kind)
				}
				out = append(out, []any{name, "居民身份证", "未采集", phone, truncateRunes(service, 60),
					r.OccurredAt.In(loc).Format(time.DateOnly), float64(r.Minutes*100/60) / 100, orgName(tree, r.CommunityID)})
			}
			return out, rows[len(rows)-1].ID, nil
		},
	}
}

// volunteerContact is the name (from the volunteer profile, else the
// nickname) and masked phone a spreadsheet shows of a volunteer.
func volunteerContact(nickname string, realName, phone *string) (string, string) {
	name, masked := nickname, ""
	if realName != nil && *realName != "" {
		name = *realName
	}
	if phone != nil {
		masked = MaskPhone(*phone)
	}
	return name, masked
}
