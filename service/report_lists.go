package service

import (
	"context"
	"time"

	"gorm.io/gorm"

	"linli/config"
	"linli/model"
)

// The three lists (三张清单): communities publish needs, units publish
// resources; a unit claims a need or a community claims a resource (双向认领)
// and the match becomes a project.

// ListItemView is a need or a resource.
type ListItemView struct {
	ID          int64            `json:"id"`
	CommunityID int64            `json:"communityId"`
	UnitID      *int64           `json:"unitId,omitempty"`
	Title       string           `json:"title"`
	Content     string           `json:"content"`
	Status      model.ListStatus `json:"status"`
	ProjectID   *int64           `json:"projectId"`
	CreatedAt   time.Time        `json:"createdAt"`
}

// ProjectView is a project of the three lists.
type ProjectView struct {
	ID             int64               `json:"id"`
	UnitID         int64               `json:"unitId"`
	UnitName       string              `json:"unitName"`
	CommunityID    int64               `json:"communityId"`
	NeedID         *int64              `json:"needId"`
	ResourceID     *int64              `json:"resourceId"`
	Title          string              `json:"title"`
	Status         model.ProjectStatus `json:"status"`
	CompletionNote string              `json:"completionNote"`
	CompletedOn    string              `json:"completedOn"`
	ConfirmedAt    *time.Time          `json:"confirmedAt"`
	ReturnReason   string              `json:"returnReason"`
	CreatedAt      time.Time           `json:"createdAt"`
}

func (s *ReportService) projectView(p *model.Project, unitName string) ProjectView {
	v := ProjectView{ID: p.ID, UnitID: p.UnitID, UnitName: unitName, CommunityID: p.CommunityID, NeedID: p.NeedID,
		ResourceID: p.ResourceID, Title: p.Title, Status: p.Status, CompletionNote: p.CompletionNote,
		ConfirmedAt: p.ConfirmedAt, ReturnReason: p.ReturnReason, CreatedAt: p.CreatedAt}
	if p.CompletedAt != nil {
		v.CompletedOn = p.CompletedAt.In(s.deps.Config.Location).Format("2006-01-02")
	}
	return v
}

// listText checks the title (1–64) and content (≤1000) of a list item.
func listText(title, content string) (string, string, error) {
	title, err := textField(title, 1, 64, "标题")
	if err != nil {
		return "", "", err
	}
	content, err = textField(content, 0, 1000, "内容")
	return title, content, err
}

// CreateNeed publishes a need of a community; title and content pass the
// content check. It returns 10001 for a bad field or an org that is not a
// community, 10005 for an unknown community, 10004 unless the caller is its
// staff and 10008 for risky text (nothing stored).
func (s *ReportService) CreateNeed(ctx context.Context, actorID, communityID int64, title, content string) (*ListItemView, error) {
	title, content, err := listText(title, content)
	if err != nil {
		return nil, err
	}
	flagged, err := s.content.checkUserText(ctx, s.deps.DB, actorID, map[string]string{"title": title, "content": content})
	if err != nil {
		return nil, err
	}
	var out ListItemView
	err = s.deps.tx(ctx, func(tx *gorm.DB) error {
		if _, err := requireCommunity(ctx, tx, communityID); err != nil {
			return err
		}
		if _, err := s.authz.RequireStaff(ctx, tx, actorID, communityID); err != nil {
			return err
		}
		n := model.Need{CommunityID: communityID, Title: title, Content: content, Status: model.ListOpen, CreatedBy: actorID}
		if err := tx.Create(&n).Error; err != nil {
			return err
		}
		if err := s.content.flagTexts(tx, flagged, "need", n.ID, actorID, communityID); err != nil {
			return err
		}
		out = ListItemView{ID: n.ID, CommunityID: n.CommunityID, Title: n.Title, Content: n.Content, Status: n.Status, CreatedAt: n.CreatedAt}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateResource publishes a resource of an approved unit, offered to the
// unit's community; title and content pass the content check. It returns
// 10001 for a bad field, 10005 for an unknown unit, 50007 unless the caller
// is a liaison of the unit, 50014 when it is not approved and 10008 for
// risky text (nothing stored).
func (s *ReportService) CreateResource(ctx context.Context, actorID, unitID int64, title, content string) (*ListItemView, error) {
	title, content, err := listText(title, content)
	if err != nil {
		return nil, err
	}
	flagged, err := s.content.checkUserText(ctx, s.deps.DB, actorID, map[string]string{"title": title, "content": content})
	if err != nil {
		return nil, err
	}
	var out ListItemView
	err = s.deps.tx(ctx, func(tx *gorm.DB) error {
		u, err := loadUnit(ctx, tx, unitID)
		if err != nil {
			return err
		}
		if u.Status != model.ReviewApproved {
			return Errorf(CodeUnitNotApproved, "单位尚未通过审核")
		}
		ok, err := isLiaison(ctx, tx, actorID, unitID)
		if err != nil {
			return err
		}
		if !ok {
			return Errorf(CodeNotLiaison, "您不是该单位的联络员")
		}
		r := model.Resource{UnitID: unitID, CommunityID: u.CommunityID, Title: title, Content: content,
			Status: model.ListOpen, CreatedBy: actorID}
		if err := tx.Create(&r).Error; err != nil {
			return err
		}
		if err := s.content.flagTexts(tx, flagged, "resource", r.ID, actorID, r.CommunityID); err != nil {
			return err
		}
		out = ListItemView{ID: r.ID, CommunityID: r.CommunityID, UnitID: &r.UnitID, Title: r.Title,
			Content: r.Content, Status: r.Status, CreatedAt: r.CreatedAt}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// listStatus checks an optional list status filter.
func listStatus(status string) error {
	switch model.ListStatus(status) {
	case "", model.ListOpen, model.ListClaimed:
		return nil
	}
	return invalid("status 需为 open 或 claimed")
}

// projectIDs maps list item ids to the project made of them.
func projectIDs(db *gorm.DB, column string, ids []int64) (map[int64]int64, error) {
	out := map[int64]int64{}
	if len(ids) == 0 {
		return out, nil
	}
	var rows []model.Project
	if err := db.Select("id", column).Where(column+" IN ?", ids).Find(&rows).Error; err != nil {
		return nil, err
	}
	for _, p := range rows {
		if p.NeedID != nil {
			out[*p.NeedID] = p.ID
		}
		if p.ResourceID != nil {
			out[*p.ResourceID] = p.ID
		}
	}
	return out, nil
}

// ListNeeds lists the needs of a community (anyone signed in), optionally by
// status. It returns 10001 for an unknown status.
func (s *ReportService) ListNeeds(ctx context.Context, communityID int64, status string, p Page) (List[ListItemView], error) {
	if err := listStatus(status); err != nil {
		return List[ListItemView]{}, err
	}
	db := s.deps.DB.WithContext(ctx)
	q := db.Model(&model.Need{}).Where("community_id = ?", communityID)
	if status != "" {
		q = q.Where("status = ?", status)
	}
	rows, total, err := findPage[model.Need](q, "id DESC", p)
	if err != nil {
		return List[ListItemView]{}, err
	}
	ids := make([]int64, 0, len(rows))
	for _, r := range rows {
		ids = append(ids, r.ID)
	}
	projects, err := projectIDs(db, "need_id", ids)
	if err != nil {
		return List[ListItemView]{}, err
	}
	out := make([]ListItemView, 0, len(rows))
	for _, r := range rows {
		v := ListItemView{ID: r.ID, CommunityID: r.CommunityID, Title: r.Title, Content: r.Content, Status: r.Status, CreatedAt: r.CreatedAt}
		if pid, ok := projects[r.ID]; ok {
			v.ProjectID = &pid
		}
		out = append(out, v)
	}
	return NewList(out, total, p), nil
}

// ListResources lists resources offered to a community or by a unit (anyone
// signed in), optionally by status. It returns 10001 for an unknown status or
// when neither communityId nor unitId is given.
func (s *ReportService) ListResources(ctx context.Context, communityID, unitID *int64, status string, p Page) (List[ListItemView], error) {
	if err := listStatus(status); err != nil {
		return List[ListItemView]{}, err
	}
	db := s.deps.DB.WithContext(ctx)
	q, err := listScope(db.Model(&model.Resource{}), communityID, unitID, status)
	if err != nil {
		return List[ListItemView]{}, err
	}
	rows, total, err := findPage[model.Resource](q, "id DESC", p)
	if err != nil {
		return List[ListItemView]{}, err
	}
	ids := make([]int64, 0, len(rows))
	for _, r := range rows {
		ids = append(ids, r.ID)
	}
	projects, err := projectIDs(db, "resource_id", ids)
	if err != nil {
		return List[ListItemView]{}, err
	}
	out := make([]ListItemView, 0, len(rows))
	for _, r := range rows {
		unit := r.UnitID
		v := ListItemView{ID: r.ID, CommunityID: r.CommunityID, UnitID: &unit, Title: r.Title, Content: r.Content, Status: r.Status, CreatedAt: r.CreatedAt}
		if pid, ok := projects[r.ID]; ok {
			v.ProjectID = &pid
		}
		out = append(out, v)
	}
	return NewList(out, total, p), nil
}

// ClaimNeed lets a liaison claim a community's need for their approved unit;
// exactly one claim wins and it creates an ongoing project. A unit claims
// only needs of the community it reported to (or, with
// report.unit_claim_scope street, of that community's street). It returns
// 10005 for an unknown need or unit, 50007 unless the caller is a liaison of
// the unit, 50014 when the unit is not approved, 50016 for a need outside
// the unit's area and 50008 when the need was claimed already.
func (s *ReportService) ClaimNeed(ctx context.Context, actorID, needID, unitID int64) (*ProjectView, error) {
	var out ProjectView
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		var n model.Need
		if err := tx.First(&n, needID).Error; err != nil {
			return notFoundOr(err, "需求")
		}
		u, err := loadUnit(ctx, tx, unitID)
		if err != nil {
			return err
		}
		ok, err := isLiaison(ctx, tx, actorID, unitID)
		if err != nil {
			return err
		}
		if !ok {
			if u.Status != model.ReviewApproved {
				return Errorf(CodeUnitNotApproved, "单位尚未通过审核")
			}
			return Errorf(CodeNotLiaison, "您不是该单位的联络员")
		}
		if err := s.needInArea(ctx, tx, u, n.CommunityID); err != nil {
			return err
		}
		if err := s.takeListItem(tx, &model.Need{}, needID); err != nil {
			return err
		}
		nid := needID
		p := model.Project{UnitID: unitID, CommunityID: n.CommunityID, NeedID: &nid, Title: n.Title,
			Status: model.ProjectOngoing, ClaimedBy: actorID}
		if err := tx.Create(&p).Error; err != nil {
			if isDuplicate(err) {
				return Errorf(CodeListItemClaimed, "该需求已被认领")
			}
			return err
		}
		out = s.projectView(&p, u.Name)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ClaimResource lets staff of the resource's community claim a unit's
// resource for it; exactly one claim wins and it creates an ongoing project.
// It returns 10005 for an unknown resource, 10004 unless the caller is staff
// of its community and 50008 when it was claimed already.
func (s *ReportService) ClaimResource(ctx context.Context, actorID, resourceID int64) (*ProjectView, error) {
	var out ProjectView
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		var r model.Resource
		if err := tx.First(&r, resourceID).Error; err != nil {
			return notFoundOr(err, "资源")
		}
		if _, err := s.authz.RequireStaff(ctx, tx, actorID, r.CommunityID); err != nil {
			return err
		}
		u, err := loadUnit(ctx, tx, r.UnitID)
		if err != nil {
			return err
		}
		if err := s.takeListItem(tx, &model.Resource{}, resourceID); err != nil {
			return err
		}
		rid := resourceID
		p := model.Project{UnitID: r.UnitID, CommunityID: r.CommunityID, ResourceID: &rid, Title: r.Title,
			Status: model.ProjectOngoing, ClaimedBy: actorID}
		if err := tx.Create(&p).Error; err != nil {
			if isDuplicate(err) {
				return Errorf(CodeListItemClaimed, "该资源已被认领")
			}
			return err
		}
		out = s.projectView(&p, u.Name)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// takeListItem marks an open need or resource claimed by one conditional
// UPDATE, or returns 50008.
func (s *ReportService) takeListItem(tx *gorm.DB, m any, id int64) error {
	res := tx.Model(m).Where("id = ? AND status = ?", id, model.ListOpen).
		Updates(map[string]any{"status": model.ListClaimed, "updated_at": s.deps.Clock.Now().UTC()})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return Errorf(CodeListItemClaimed, "已被认领")
	}
	return nil
}

// needInArea returns nil when unit u may claim a need of community: the
// community it reported to, or with report.unit_claim_scope street any
// community of the same street; otherwise 50016.
func (s *ReportService) needInArea(ctx context.Context, tx *gorm.DB, u *model.Unit, community int64) error {
	if community == u.CommunityID {
		return nil
	}
	if s.deps.Config.Report.UnitClaimScope == config.UnitClaimStreet {
		home, err := loadOrg(ctx, tx, u.CommunityID)
		if err != nil {
			return err
		}
		there, err := loadOrg(ctx, tx, community)
		if err != nil {
			return err
		}
		if home.ParentID != nil && there.ParentID != nil && *home.ParentID == *there.ParentID {
			return nil
		}
		return Errorf(CodeNeedOutOfArea, "单位只能认领所在街道各社区的需求")
	}
	return Errorf(CodeNeedOutOfArea, "单位只能认领报到社区的需求")
}

// projectDate parses a completion date (today when empty): not in the
// future and not before the day the project was claimed. It returns 10001
// otherwise.
func (s *ReportService) projectDate(p *model.Project, completedOn string) (time.Time, error) {
	loc := s.deps.Config.Location
	now := s.deps.Clock.Now().In(loc)
	if completedOn == "" {
		return now, nil
	}
	d, err := parseDate(completedOn, loc, "完成日期")
	if err != nil {
		return time.Time{}, err
	}
	if d.After(now) {
		return time.Time{}, invalid("完成日期不能晚于今天")
	}
	c := p.CreatedAt.In(loc)
	if d.Before(time.Date(c.Year(), c.Month(), c.Day(), 0, 0, 0, 0, loc)) {
		return time.Time{}, invalid("完成日期不能早于认领日期 %s", c.Format("2006-01-02"))
	}
	return d, nil
}

// CompleteProject reports an ongoing project completed with a note and a
// date (today when empty; not in the future, not before the claim): it then
// awaits confirmation by the community's staff (ConfirmProject) and counts
// toward nothing until confirmed. Staff of the project's community or a
// liaison of its unit may do it; the note passes the content check. It
// returns 10001 for a bad note or date, 10005 for an unknown project, 10004
// for anyone else, 50013 when it was completed already and 10008 for a risky
// note (nothing changes).
func (s *ReportService) CompleteProject(ctx context.Context, actorID, id int64, note, completedOn string) (*ProjectView, error) {
	note, err := textField(note, 1, 1000, "完成情况")
	if err != nil {
		return nil, err
	}
	flagged, err := s.content.checkUserText(ctx, s.deps.DB, actorID, map[string]string{"completion_note": note})
	if err != nil {
		return nil, err
	}
	var out ProjectView
	err = s.deps.tx(ctx, func(tx *gorm.DB) error {
		var p model.Project
		if err := tx.First(&p, id).Error; err != nil {
			return notFoundOr(err, "项目")
		}
		ok, err := isLiaison(ctx, tx, actorID, p.UnitID)
		if err != nil {
			return err
		}
		if !ok {
			if _, err := s.authz.RequireStaff(ctx, tx, actorID, p.CommunityID); err != nil {
				return err
			}
		}
		at, err := s.projectDate(&p, completedOn)
		if err != nil {
			return err
		}
		res := tx.Model(&model.Project{}).Where("id = ? AND status = ?", id, model.ProjectOngoing).
			Updates(map[string]any{"status": model.ProjectAwaitingConfirmation, "completion_note": note, "completed_at": at.UTC(),
				"completed_by": actorID, "updated_at": s.deps.Clock.Now().UTC()})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return Errorf(CodeProjectDone, "项目已提交完成")
		}
		if err := s.content.flagTexts(tx, flagged, "project", id, actorID, p.CommunityID); err != nil {
			return err
		}
		return s.reloadProject(ctx, tx, id, &out)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ConfirmProject lets staff of the project's community confirm a completed
// project: it becomes done and counts toward its unit's obligation for the
// quarter of its completion date, which staff may correct (completedOn; not
// in the future, not before the claim). Whoever reported it completed, or a
// liaison of its unit, may not confirm it. It returns 10001 for a bad date,
// 10005 for an unknown project, 10004 unless the caller may confirm and
// 50017 unless it awaits confirmation.
func (s *ReportService) ConfirmProject(ctx context.Context, actorID, id int64, completedOn string) (*ProjectView, error) {
	var out ProjectView
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		p, err := s.projectForReview(ctx, tx, actorID, id)
		if err != nil {
			return err
		}
		updates := map[string]any{"status": model.ProjectDone, "confirmed_by": actorID,
			"confirmed_at": s.deps.Clock.Now().UTC(), "updated_at": s.deps.Clock.Now().UTC()}
		if completedOn != "" {
			at, err := s.projectDate(p, completedOn)
			if err != nil {
				return err
			}
			updates["completed_at"] = at.UTC()
		}
		if err := s.moveAwaiting(tx, id, updates); err != nil {
			return err
		}
		if err := s.deps.audit(ctx, tx, reviewEvent(actorID, p.CommunityID, true, "project", id,
			model.ProjectAwaitingConfirmation, model.ProjectDone, "")); err != nil {
			return err
		}
		return s.reloadProject(ctx, tx, id, &out)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ReturnProject lets staff of the project's community send a completion
// back (ongoing again, the reason kept) for the unit to complete it anew.
// The same people as for ConfirmProject may do it. It returns 10001 for a
// blank or over-long reason, 10005 for an unknown project, 10004 unless the
// caller may review it and 50017 unless it awaits confirmation.
func (s *ReportService) ReturnProject(ctx context.Context, actorID, id int64, reason string) (*ProjectView, error) {
	reason, err := textField(reason, 1, 255, "退回原因")
	if err != nil {
		return nil, err
	}
	var out ProjectView
	err = s.deps.tx(ctx, func(tx *gorm.DB) error {
		p, err := s.projectForReview(ctx, tx, actorID, id)
		if err != nil {
			return err
		}
		updates := map[string]any{"status": model.ProjectOngoing, "return_reason": reason, "completion_note": "",
			"completed_at": nil, "completed_by": nil, "updated_at": s.deps.Clock.Now().UTC()}
		if err := s.moveAwaiting(tx, id, updates); err != nil {
			return err
		}
		if err := s.deps.audit(ctx, tx, reviewEvent(actorID, p.CommunityID, false, "project", id,
			model.ProjectAwaitingConfirmation, model.ProjectOngoing, reason)); err != nil {
			return err
		}
		return s.reloadProject(ctx, tx, id, &out)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// projectForReview loads a project for confirmation or return by actorID:
// staff of its community who neither reported it completed nor speak for
// its unit. It returns 10005 for an unknown project and 10004 otherwise.
func (s *ReportService) projectForReview(ctx context.Context, tx *gorm.DB, actorID, id int64) (*model.Project, error) {
	var p model.Project
	if err := tx.First(&p, id).Error; err != nil {
		return nil, notFoundOr(err, "项目")
	}
	if _, err := s.authz.RequireStaff(ctx, tx, actorID, p.CommunityID); err != nil {
		return nil, err
	}
	if p.CompletedBy != nil && *p.CompletedBy == actorID {
		return nil, forbidden("不能确认自己提交的完成情况，请由社区其他工作人员确认")
	}
	liaison, err := isLiaison(ctx, tx, actorID, p.UnitID)
	if err != nil {
		return nil, err
	}
	if liaison {
		return nil, forbidden("单位联络员不能确认本单位的项目")
	}
	return &p, nil
}

// moveAwaiting applies updates to a project awaiting confirmation by one
// conditional UPDATE, or returns 50017.
func (s *ReportService) moveAwaiting(tx *gorm.DB, id int64, updates map[string]any) error {
	res := tx.Model(&model.Project{}).Where("id = ? AND status = ?", id, model.ProjectAwaitingConfirmation).Updates(updates)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return Errorf(CodeProjectNotAwaited, "项目不在待确认状态")
	}
	return nil
}

// reloadProject reads a project and its unit's name into out.
func (s *ReportService) reloadProject(ctx context.Context, tx *gorm.DB, id int64, out *ProjectView) error {
	var p model.Project
	if err := tx.First(&p, id).Error; err != nil {
		return err
	}
	u, err := loadUnit(ctx, tx, p.UnitID)
	if err != nil {
		return err
	}
	*out = s.projectView(&p, u.Name)
	return nil
}

// ListProjects lists projects of a community and/or a unit (anyone signed
// in), newest first, optionally by status. It returns 10001 for an unknown
// status or when neither communityId nor unitId is given.
func (s *ReportService) ListProjects(ctx context.Context, communityID, unitID *int64, status string, p Page) (List[ProjectView], error) {
	switch model.ProjectStatus(status) {
	case "", model.ProjectOngoing, model.ProjectAwaitingConfirmation, model.ProjectDone:
	default:
		return List[ProjectView]{}, invalid("status 需为 ongoing、awaiting_confirmation 或 done")
	}
	db := s.deps.DB.WithContext(ctx)
	q, err := listScope(db.Model(&model.Project{}), communityID, unitID, status)
	if err != nil {
		return List[ProjectView]{}, err
	}
	rows, total, err := findPage[model.Project](q, "id DESC", p)
	if err != nil {
		return List[ProjectView]{}, err
	}
	unitIDs := make([]int64, 0, len(rows))
	for _, r := range rows {
		unitIDs = append(unitIDs, r.UnitID)
	}
	names := map[int64]string{}
	if len(unitIDs) > 0 {
		var units []model.Unit
		if err := db.Select("id", "name").Where("id IN ?", uniqueIDs(unitIDs)).Find(&units).Error; err != nil {
			return List[ProjectView]{}, err
		}
		for _, u := range units {
			names[u.ID] = u.Name
		}
	}
	out := make([]ProjectView, 0, len(rows))
	for i := range rows {
		out = append(out, s.projectView(&rows[i], names[rows[i].UnitID]))
	}
	return NewList(out, total, p), nil
}

// listScope narrows a list of resources or projects to a community and/or a
// unit and, when given, a status. It returns 10001 when neither communityID
// nor unitID is given.
func listScope(q *gorm.DB, communityID, unitID *int64, status string) (*gorm.DB, error) {
	if communityID == nil && unitID == nil {
		return nil, invalid("请指定 communityId 或 unitId")
	}
	if communityID != nil {
		q = q.Where("community_id = ?", *communityID)
	}
	if unitID != nil {
		q = q.Where("unit_id = ?", *unitID)
	}
	if status != "" {
		q = q.Where("status = ?", status)
	}
	return q, nil
}
