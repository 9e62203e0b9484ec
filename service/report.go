package service

import (
	"context"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"linli/model"
)

// Domain codes of 双报到 (5xxxx). They are never renumbered; api/envelope.go
// maps 50005, 50007 and 50016 to 403 and the others to 409.
const (
	CodePostFull          = 50001 // the post has no free place
	CodePostClaimed       = 50002 // the caller already holds the post
	CodePostNotClaimed    = 50003 // the caller does not hold the post
	CodeReportPending     = 50004 // a report of the caller awaits review
	CodeNotReported       = 50005 // the caller is no reported Party member (403)
	CodeAlreadyReviewed   = 50006 // the unit, report or record is no longer pending
	CodeNotLiaison        = 50007 // the caller is no liaison of the unit (403)
	CodeListItemClaimed   = 50008 // the need or resource was claimed already
	CodeLiaisonLimit      = 50009 // the unit has its two liaisons
	CodePeriodNotEnded    = 50010 // a certificate for a quarter not yet over
	CodeAgreementStep     = 50011 // agreement stages move one step forward only
	CodeAlreadyReported   = 50012 // the caller is already reported to that community
	CodeProjectDone       = 50013 // the project was completed already (awaiting confirmation or done)
	CodeUnitNotApproved   = 50014 // the unit is not approved
	CodeReportNotWithdraw = 50015 // the report is neither pending nor approved
	CodeNeedOutOfArea     = 50016 // the need is outside the communities the unit may serve (403)
	CodeProjectNotAwaited = 50017 // the project is not awaiting confirmation
)

// ReportService runs 双报到: units and in-office Party members reporting to
// their community, posts, service records, quarterly obligations,
// certificates, the unit report-back and the three lists. Its methods are
// spread over service/report*.go.
type ReportService struct {
	deps     Deps
	authz    *Authz
	timeBank *TimeBankService
	// callers is told when a report or a liaison changes someone's roles.
	callers *CallerCache
	uploads *UploadService
	notify  *NotificationService
	// content checks the texts others see (unit names, needs, resources,
	// service notes).
	content *ContentService
}

// requireCommunity returns the org unit id when it is a community: 10005 for
// an unknown org, 10001 for another level.
func requireCommunity(ctx context.Context, db *gorm.DB, id int64) (*model.OrgUnit, error) {
	org, err := loadOrg(ctx, db, id)
	if err != nil {
		return nil, err
	}
	if org.Level != model.LevelCommunity {
		return nil, invalid("请选择一个社区")
	}
	return org, nil
}

// isLiaison reports whether userID is a liaison of the approved unit unitID.
func isLiaison(ctx context.Context, db *gorm.DB, userID, unitID int64) (bool, error) {
	var n int64
	err := db.WithContext(ctx).Model(&model.UnitLiaison{}).
		Joins("JOIN units ON units.id = unit_liaisons.unit_id").
		Where("unit_liaisons.user_id = ? AND unit_liaisons.unit_id = ? AND units.status = ?", userID, unitID, model.ReviewApproved).
		Count(&n).Error
	return n > 0, err
}

// isStaffOf reports whether userID is staff of the org orgID (or above).
func (s *ReportService) isStaffOf(ctx context.Context, db *gorm.DB, userID, orgID int64) (bool, error) {
	org, err := loadOrg(ctx, db, orgID)
	if err != nil {
		return false, err
	}
	return s.authz.IsStaff(ctx, db, userID, org)
}

// reportRoles returns the party_member and unit_liaison roles of a user for
// GET /me: party_member in the community of the approved active report,
// unit_liaison in the community of each approved unit (with its id).
func (s *ReportService) reportRoles(ctx context.Context, db *gorm.DB, userID int64) ([]ScopedRole, error) {
	var out []ScopedRole
	member, err := s.partyMembership(ctx, db, userID)
	if err != nil {
		return nil, err
	}
	if member != nil {
		out = append(out, ScopedRole{Role: "party_member", OrgID: member.CommunityID})
	}
	var units []model.Unit
	err = db.WithContext(ctx).
		Joins("JOIN unit_liaisons ON unit_liaisons.unit_id = units.id").
		Where("unit_liaisons.user_id = ? AND units.status = ?", userID, model.ReviewApproved).
		Order("units.id").Find(&units).Error
	if err != nil {
		return nil, err
	}
	for _, u := range units {
		id := u.ID
		out = append(out, ScopedRole{Role: "unit_liaison", OrgID: u.CommunityID, UnitID: &id})
	}
	return out, nil
}

// orgNames returns the names of the given org units by id.
func orgNames(ctx context.Context, db *gorm.DB, ids []int64) (map[int64]string, error) {
	out := make(map[int64]string, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var rows []model.OrgUnit
	if err := db.WithContext(ctx).Select("id", "name").Where("id IN ?", uniqueIDs(ids)).Find(&rows).Error; err != nil {
		return nil, err
	}
	for _, r := range rows {
		out[r.ID] = r.Name
	}
	return out, nil
}

// uniqueIDs returns ids without repeats, in first-seen order.
func uniqueIDs(ids []int64) []int64 {
	seen := make(map[int64]bool, len(ids))
	out := make([]int64, 0, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// ---- Units ----

// UnitInput is what POST /units carries.
type UnitInput struct {
	Name         string
	Kind         model.UnitKind
	PartyOrg     string
	CommunityID  int64
	ContactName  string
	ContactPhone string
}

// UnitView is a unit as the API shows it. ContactPhone is masked unless the
// caller is staff of the unit's community or one of its liaisons.
type UnitView struct {
	ID            int64              `json:"id"`
	Name          string             `json:"name"`
	Kind          model.UnitKind     `json:"kind"`
	PartyOrg      string             `json:"partyOrg"`
	CommunityID   int64              `json:"communityId"`
	CommunityName string             `json:"communityName"`
	ContactName   string             `json:"contactName"`
	ContactPhone  string             `json:"contactPhone"`
	Status        model.ReviewStatus `json:"status"`
	RejectReason  string             `json:"rejectReason"`
	LiaisonCount  int                `json:"liaisonCount"`
	CreatedAt     time.Time          `json:"createdAt"`
	ReviewedAt    *time.Time         `json:"reviewedAt"`
}

func unitView(u *model.Unit, communityName string, privileged bool) UnitView {
	v := UnitView{
		ID: u.ID, Name: u.Name, Kind: u.Kind, PartyOrg: u.PartyOrg, CommunityID: u.CommunityID,
		CommunityName: communityName, ContactName: u.ContactName, ContactPhone: u.ContactPhone,
		Status: u.Status, RejectReason: u.RejectReason, LiaisonCount: u.LiaisonCount,
		CreatedAt: u.CreatedAt, ReviewedAt: u.ReviewedAt,
	}
	if !privileged {
		v.ContactPhone = MaskPhone(u.ContactPhone)
		v.ContactName = MaskName(u.ContactName)
	}
	return v
}

// unitViews builds views with community names; privileged says per unit
// whether the caller may see the contact.
func unitViews(ctx context.Context, db *gorm.DB, units []model.Unit, privileged func(*model.Unit) bool) ([]UnitView, error) {
	ids := make([]int64, 0, len(units))
	for _, u := range units {
		ids = append(ids, u.CommunityID)
	}
	names, err := orgNames(ctx, db, ids)
	if err != nil {
		return nil, err
	}
	out := make([]UnitView, 0, len(units))
	for i := range units {
		out = append(out, unitView(&units[i], names[units[i].CommunityID], privileged(&units[i])))
	}
	return out, nil
}

// loadUnit returns a unit or 10005.
func loadUnit(ctx context.Context, db *gorm.DB, id int64) (*model.Unit, error) {
	var u model.Unit
	if err := db.WithContext(ctx).First(&u, id).Error; err != nil {
		return nil, notFoundOr(err, "单位")
	}
	return &u, nil
}

// CreateUnit registers a unit with the community it sits in; it awaits
// review and its creator becomes its liaison once approved. Name and Party
// organisation pass the content check. It returns 10001 for a bad field or
// an org that is not a community, 10005 for an unknown community and 10008
// for a risky name (nothing stored).
func (s *ReportService) CreateUnit(ctx context.Context, actorID int64, in UnitInput) (*UnitView, error) {
	var err error
	if in.Name, err = textField(in.Name, 1, 128, "单位名称"); err != nil {
		return nil, err
	}
	if !in.Kind.Valid() {
		return nil, invalid("单位类型需为 机关、事业单位、国企、非公企业 或 社会组织")
	}
	if in.PartyOrg, err = textField(in.PartyOrg, 1, 128, "党组织名称"); err != nil {
		return nil, err
	}
	if in.ContactName, err = textField(in.ContactName, 1, 64, "联系人"); err != nil {
		return nil, err
	}
	in.ContactPhone = strings.TrimSpace(in.ContactPhone)
	if !validPhone(in.ContactPhone) {
		return nil, invalid("联系电话格式不正确")
	}
	flagged, err := s.content.checkUserText(ctx, s.deps.DB, actorID, map[string]string{"name": in.Name, "party_org": in.PartyOrg})
	if err != nil {
		return nil, err
	}
	var out UnitView
	err = s.deps.tx(ctx, func(tx *gorm.DB) error {
		community, err := requireCommunity(ctx, tx, in.CommunityID)
		if err != nil {
			return err
		}
		u := model.Unit{
			Name: in.Name, Kind: in.Kind, PartyOrg: in.PartyOrg, CommunityID: community.ID,
			ContactName: in.ContactName, ContactPhone: in.ContactPhone,
			Status: model.ReviewPending, CreatedBy: actorID,
		}
		if err := tx.Create(&u).Error; err != nil {
			return err
		}
		if err := s.content.flagTexts(tx, flagged, "unit", u.ID, actorID, community.ID); err != nil {
			return err
		}
		out = unitView(&u, community.Name, true)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ListUnits lists units. Without a status it shows approved units (of
// communityID when given) to anyone signed in, contacts masked; a status
// other than approved needs communityID and the caller to be its staff, who
// see contacts in full. It returns 10001 for an unknown status or a status
// filter without communityID, 10005 for an unknown community and 10004 for a
// non-staff status filter.
func (s *ReportService) ListUnits(ctx context.Context, actorID int64, communityID *int64, status string, p Page) (List[UnitView], error) {
	db := s.deps.DB.WithContext(ctx)
	staff := false
	if communityID != nil {
		ok, err := s.isStaffOf(ctx, db, actorID, *communityID)
		if err != nil {
			return List[UnitView]{}, err
		}
		staff = ok
	}
	q := db.Model(&model.Unit{})
	switch model.ReviewStatus(status) {
	case "":
		if !staff {
			q = q.Where("status = ?", model.ReviewApproved)
		}
	case model.ReviewApproved:
		q = q.Where("status = ?", model.ReviewApproved)
	case model.ReviewPending, model.ReviewRejected:
		if communityID == nil {
			return List[UnitView]{}, invalid("按状态筛选需指定 communityId")
		}
		if !staff {
			return List[UnitView]{}, forbidden("您不是该社区的工作人员，无权查看")
		}
		q = q.Where("status = ?", status)
	default:
		return List[UnitView]{}, invalid("status 需为 pending、approved 或 rejected")
	}
	if communityID != nil {
		q = q.Where("community_id = ?", *communityID)
	}
	units, total, err := findPage[model.Unit](q, "id DESC", p)
	if err != nil {
		return List[UnitView]{}, err
	}
	views, err := unitViews(ctx, db, units, func(*model.Unit) bool { return staff })
	if err != nil {
		return List[UnitView]{}, err
	}
	return NewList(views, total, p), nil
}

// MyUnits lists the units the caller registered or speaks for, with full
// contacts.
func (s *ReportService) MyUnits(ctx context.Context, actorID int64) ([]UnitView, error) {
	db := s.deps.DB.WithContext(ctx)
	var units []model.Unit
	err := db.Where("created_by = ? OR id IN (?)", actorID,
		db.Model(&model.UnitLiaison{}).Select("unit_id").Where("user_id = ?", actorID)).
		Order("id").Find(&units).Error
	if err != nil {
		return nil, err
	}
	return unitViews(ctx, db, units, func(*model.Unit) bool { return true })
}

// GetUnit returns one unit. Approved units are visible to anyone signed in
// (contact masked); staff of its community, its creator and its liaisons see
// any status and the full contact. It returns 10005 for an unknown unit or
// one the caller may not see.
func (s *ReportService) GetUnit(ctx context.Context, actorID, id int64) (*UnitView, error) {
	db := s.deps.DB.WithContext(ctx)
	u, err := loadUnit(ctx, db, id)
	if err != nil {
		return nil, err
	}
	privileged, err := s.unitPrivileged(ctx, db, actorID, u)
	if err != nil {
		return nil, err
	}
	if !privileged && u.Status != model.ReviewApproved {
		return nil, notFound("单位")
	}
	views, err := unitViews(ctx, db, []model.Unit{*u}, func(*model.Unit) bool { return privileged })
	if err != nil {
		return nil, err
	}
	return &views[0], nil
}

// unitPrivileged reports whether actorID is the unit's creator, one of its
// liaisons or staff of its community.
func (s *ReportService) unitPrivileged(ctx context.Context, db *gorm.DB, actorID int64, u *model.Unit) (bool, error) {
	if u.CreatedBy == actorID {
		return true, nil
	}
	ok, err := isLiaison(ctx, db, actorID, u.ID)
	if err != nil || ok {
		return ok, err
	}
	return s.isStaffOf(ctx, db, actorID, u.CommunityID)
}

// ReviewUnit approves or rejects (with a reason) a pending unit; approval
// makes its creator its first liaison. It returns 10001 for a rejection
// without a reason, 10005 for an unknown unit, 10004 unless the caller is
// staff of the unit's community and 50006 when the unit is no longer
// pending.
func (s *ReportService) ReviewUnit(ctx context.Context, actorID, id int64, approve bool, reason string) (*UnitView, error) {
	reason, err := reviewReason(approve, reason)
	if err != nil {
		return nil, err
	}
	var out UnitView
	err = s.deps.tx(ctx, func(tx *gorm.DB) error {
		u, err := loadUnit(ctx, tx, id)
		if err != nil {
			return err
		}
		community, err := s.authz.RequireStaff(ctx, tx, actorID, u.CommunityID)
		if err != nil {
			return err
		}
		now := s.deps.Clock.Now().UTC()
		updates := map[string]any{"reviewed_by": actorID, "reviewed_at": now, "updated_at": now}
		if approve {
			updates["status"] = model.ReviewApproved
			updates["liaison_count"] = 1
		} else {
			updates["status"] = model.ReviewRejected
			updates["reject_reason"] = reason
		}
		res := tx.Model(&model.Unit{}).Where("id = ? AND status = ?", id, model.ReviewPending).Updates(updates)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return Errorf(CodeAlreadyReviewed, "该单位已审核，不能重复操作")
		}
		if approve {
			if err := tx.Create(&model.UnitLiaison{UnitID: id, UserID: u.CreatedBy, CreatedBy: actorID}).Error; err != nil {
				return err
			}
			s.callers.Changed(tx, u.CreatedBy)
			err := s.notify.Notify(tx, Notice{UserID: u.CreatedBy, Event: EventUnitApproved, ObjectKind: "unit", ObjectID: id, Subject: u.Name})
			if err != nil {
				return err
			}
		}
		if err := tx.First(u, id).Error; err != nil {
			return err
		}
		out = unitView(u, community.Name, true)
		return s.deps.audit(ctx, tx, reviewEvent(actorID, u.CommunityID, approve, "unit", id,
			model.ReviewPending, u.Status, reason))
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// reviewReason checks the reason of a review: required (1–255 characters)
// for a rejection, ignored for an approval.
func reviewReason(approve bool, reason string) (string, error) {
	if approve {
		return "", nil
	}
	return textField(reason, 1, 255, "驳回理由")
}

// LiaisonView is one liaison of a unit.
type LiaisonView struct {
	UnitID    int64     `json:"unitId"`
	UserID    int64     `json:"userId"`
	Nickname  string    `json:"nickname"`
	CreatedAt time.Time `json:"createdAt"`
}

// AddLiaison makes userID a liaison of the approved unit unitID. A liaison
// of the unit or staff of its community may do it; a unit has at most
// model.MaxUnitLiaisons liaisons. It returns 10005 for an unknown unit or
// user, 50007 unless the caller is a liaison or staff, 50014 when the unit
// is not approved, 10006 when the user is already a liaison and 50009 when
// the unit has its liaisons.
func (s *ReportService) AddLiaison(ctx context.Context, actorID, unitID, userID int64) (*LiaisonView, error) {
	var out LiaisonView
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		u, err := loadUnit(ctx, tx, unitID)
		if err != nil {
			return err
		}
		ok, err := isLiaison(ctx, tx, actorID, unitID)
		if err != nil {
			return err
		}
		if !ok {
			if ok, err = s.isStaffOf(ctx, tx, actorID, u.CommunityID); err != nil {
				return err
			}
		}
		if !ok {
			return Errorf(CodeNotLiaison, "您不是该单位的联络员")
		}
		if u.Status != model.ReviewApproved {
			return Errorf(CodeUnitNotApproved, "单位尚未通过审核")
		}
		user, err := loadUser(ctx, tx, userID)
		if err != nil {
			return err
		}
		var n int64
		if err := tx.Model(&model.UnitLiaison{}).Where("unit_id = ? AND user_id = ?", unitID, userID).Count(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return conflict("该用户已是本单位联络员")
		}
		res := tx.Model(&model.Unit{}).
			Where("id = ? AND status = ? AND liaison_count < ?", unitID, model.ReviewApproved, model.MaxUnitLiaisons).
			Update("liaison_count", gorm.Expr("liaison_count + 1"))
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return Errorf(CodeLiaisonLimit, "每个单位最多 %d 名联络员", model.MaxUnitLiaisons)
		}
		l := model.UnitLiaison{UnitID: unitID, UserID: userID, CreatedBy: actorID}
		if err := tx.Create(&l).Error; err != nil {
			if isDuplicate(err) {
				return conflict("该用户已是本单位联络员")
			}
			return err
		}
		s.callers.Changed(tx, userID)
		out = LiaisonView{UnitID: unitID, UserID: userID, Nickname: user.Nickname, CreatedAt: l.CreatedAt}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ---- Co-building agreements ----

// AgreementInput is what POST /units/{id}/agreements carries.
type AgreementInput struct {
	// CommunityID defaults to the unit's community.
	CommunityID *int64
	Scope       string
	StartOn     string
	EndOn       string
}

// AgreementView is a co-building agreement.
type AgreementView struct {
	ID          int64                 `json:"id"`
	UnitID      int64                 `json:"unitId"`
	CommunityID int64                 `json:"communityId"`
	Scope       string                `json:"scope"`
	StartOn     string                `json:"startOn"`
	EndOn       string                `json:"endOn"`
	Status      model.AgreementStatus `json:"status"`
	StatusLabel string                `json:"statusLabel"`
	CreatedAt   time.Time             `json:"createdAt"`
	UpdatedAt   time.Time             `json:"updatedAt"`
}

func agreementView(a *model.UnitAgreement) AgreementView {
	return AgreementView{
		ID: a.ID, UnitID: a.UnitID, CommunityID: a.CommunityID, Scope: a.Scope,
		StartOn: a.StartOn, EndOn: a.EndOn, Status: a.Status, StatusLabel: a.Status.Label(),
		CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt,
	}
}

// parseDate parses YYYY-MM-DD in loc.
func parseDate(s string, loc *time.Location, name string) (time.Time, error) {
	t, err := time.ParseInLocation("2006-01-02", strings.TrimSpace(s), loc)
	if err != nil {
		return time.Time{}, invalid("%s需为 YYYY-MM-DD 格式的日期", name)
	}
	return t, nil
}

// CreateAgreement starts a co-building agreement (status 商约) between an
// approved unit and a community. It returns 10001 for a bad field or dates
// out of order, 10005 for an unknown unit or community, 10004 unless the
// caller is staff of the community, 50014 when the unit is not approved and
// 10006 when the unit and community already have an agreement starting that
// day.
func (s *ReportService) CreateAgreement(ctx context.Context, actorID, unitID int64, in AgreementInput) (*AgreementView, error) {
	loc := s.deps.Config.Location
	scope, err := textField(in.Scope, 1, 1000, "共建内容")
	if err != nil {
		return nil, err
	}
	start, err := parseDate(in.StartOn, loc, "开始日期")
	if err != nil {
		return nil, err
	}
	end, err := parseDate(in.EndOn, loc, "结束日期")
	if err != nil {
		return nil, err
	}
	if end.Before(start) {
		return nil, invalid("结束日期不能早于开始日期")
	}
	var out AgreementView
	err = s.deps.tx(ctx, func(tx *gorm.DB) error {
		u, err := loadUnit(ctx, tx, unitID)
		if err != nil {
			return err
		}
		communityID := u.CommunityID
		if in.CommunityID != nil {
			communityID = *in.CommunityID
		}
		if _, err := requireCommunity(ctx, tx, communityID); err != nil {
			return err
		}
		if _, err := s.authz.RequireStaff(ctx, tx, actorID, communityID); err != nil {
			return err
		}
		if u.Status != model.ReviewApproved {
			return Errorf(CodeUnitNotApproved, "单位尚未通过审核，不能签订共建协议")
		}
		a := model.UnitAgreement{
			UnitID: unitID, CommunityID: communityID, Scope: scope,
			StartOn: start.Format("2006-01-02"), EndOn: end.Format("2006-01-02"),
			Status: model.AgreementNegotiating, CreatedBy: actorID, UpdatedBy: actorID,
		}
		if err := tx.Create(&a).Error; err != nil {
			if isDuplicate(err) {
				return conflict("该单位与社区在同一开始日期已有共建协议")
			}
			return err
		}
		out = agreementView(&a)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// AdvanceAgreement moves an agreement to the next stage (商约→签约→履约→评约);
// to must be exactly the next one. It returns 10001 for an unknown stage,
// 10005 for an unknown agreement, 10004 unless the caller is staff of its
// community and 50011 when to is not the next stage.
func (s *ReportService) AdvanceAgreement(ctx context.Context, actorID, id int64, to model.AgreementStatus) (*AgreementView, error) {
	switch to {
	case model.AgreementSigned, model.AgreementPerforming, model.AgreementEvaluated:
	default:
		return nil, invalid("status 需为 signed、performing 或 evaluated")
	}
	var out AgreementView
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		var a model.UnitAgreement
		if err := tx.First(&a, id).Error; err != nil {
			return notFoundOr(err, "共建协议")
		}
		if _, err := s.authz.RequireStaff(ctx, tx, actorID, a.CommunityID); err != nil {
			return err
		}
		if a.Status.Next() != to {
			return Errorf(CodeAgreementStep, "协议当前为「%s」，只能推进到下一阶段", a.Status.Label())
		}
		res := tx.Model(&model.UnitAgreement{}).Where("id = ? AND status = ?", id, a.Status).
			Updates(map[string]any{"status": to, "updated_by": actorID, "updated_at": s.deps.Clock.Now().UTC()})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return Errorf(CodeAgreementStep, "协议状态已变化，请刷新后再试")
		}
		if err := tx.First(&a, id).Error; err != nil {
			return err
		}
		out = agreementView(&a)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ListAgreements lists a unit's agreements (anyone signed in: they are
// public). It returns 10005 for an unknown unit.
func (s *ReportService) ListAgreements(ctx context.Context, unitID int64) ([]AgreementView, error) {
	db := s.deps.DB.WithContext(ctx)
	if _, err := loadUnit(ctx, db, unitID); err != nil {
		return nil, err
	}
	var rows []model.UnitAgreement
	if err := db.Where("unit_id = ?", unitID).Order("start_on DESC, id DESC").Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]AgreementView, 0, len(rows))
	for i := range rows {
		out = append(out, agreementView(&rows[i]))
	}
	return out, nil
}

// ---- Member reports ----

// ReportInput is what POST /member-reports carries.
type ReportInput struct {
	CommunityID int64
	RealName    string
	Phone       string
	UnitID      *int64
	UnitName    string
	Branch      string
	Mode        model.ReportMode
}

// MemberReportView is a member report. It carries the real name and the
// phone, so it is shown only to the member, staff of the report's community
// and liaisons of the member's unit.
type MemberReportView struct {
	ID            int64              `json:"id"`
	UserID        int64              `json:"userId"`
	CommunityID   int64              `json:"communityId"`
	CommunityName string             `json:"communityName"`
	RealName      string             `json:"realName"`
	Phone         string             `json:"phone"`
	UnitID        *int64             `json:"unitId"`
	UnitName      string             `json:"unitName"`
	Branch        string             `json:"branch"`
	Mode          model.ReportMode   `json:"mode"`
	Status        model.ReviewStatus `json:"status"`
	Active        bool               `json:"active"`
	RejectReason  string             `json:"rejectReason"`
	CreatedAt     time.Time          `json:"createdAt"`
	ReviewedAt    *time.Time         `json:"reviewedAt"`
	ClosedAt      *time.Time         `json:"closedAt"`
}

func reportViews(ctx context.Context, db *gorm.DB, rows []model.MemberReport) ([]MemberReportView, error) {
	ids := make([]int64, 0, len(rows))
	for _, r := range rows {
		ids = append(ids, r.CommunityID)
	}
	names, err := orgNames(ctx, db, ids)
	if err != nil {
		return nil, err
	}
	out := make([]MemberReportView, 0, len(rows))
	for _, r := range rows {
		out = append(out, MemberReportView{
			ID: r.ID, UserID: r.UserID, CommunityID: r.CommunityID, CommunityName: names[r.CommunityID],
			RealName: r.RealName, Phone: r.Phone, UnitID: r.UnitID, UnitName: r.UnitName, Branch: r.Branch,
			Mode: r.Mode, Status: r.Status, Active: r.ActiveUserID != nil, RejectReason: r.RejectReason,
			CreatedAt: r.CreatedAt, ReviewedAt: r.ReviewedAt, ClosedAt: r.ClosedAt,
		})
	}
	return out, nil
}

func (s *ReportService) reportView(ctx context.Context, db *gorm.DB, r *model.MemberReport) (*MemberReportView, error) {
	v, err := reportViews(ctx, db, []model.MemberReport{*r})
	if err != nil {
		return nil, err
	}
	return &v[0], nil
}

// loadReport returns a member report or 10005.
func loadReport(ctx context.Context, db *gorm.DB, id int64) (*model.MemberReport, error) {
	var r model.MemberReport
	if err := db.WithContext(ctx).First(&r, id).Error; err != nil {
		return nil, notFoundOr(err, "报到记录")
	}
	return &r, nil
}

// SubmitReport files a Party member's report to their residential community;
// it awaits review. The work unit is an approved unit (unitId) or free text
// (unitName). It returns 10001 for a bad field, an org that is not a
// community or a unit that is not approved, 10005 for an unknown community
// or unit, 50012 when the caller is already reported to that community and
// 50004 when another report of theirs awaits review.
func (s *ReportService) SubmitReport(ctx context.Context, actorID int64, in ReportInput) (*MemberReportView, error) {
	var err error
	if in.RealName, err = textField(in.RealName, 1, 32, "姓名"); err != nil {
		return nil, err
	}
	in.Phone = strings.TrimSpace(in.Phone)
	if !validPhone(in.Phone) {
		return nil, invalid("手机号格式不正确")
	}
	if in.Branch, err = textField(in.Branch, 1, 128, "所在党支部"); err != nil {
		return nil, err
	}
	if in.UnitName, err = textField(in.UnitName, 0, 128, "工作单位"); err != nil {
		return nil, err
	}
	if in.UnitID == nil && in.UnitName == "" {
		return nil, invalid("请选择已报到的单位或填写工作单位名称")
	}
	if in.Mode != model.ModeDaily && in.Mode != model.ModeCentralized {
		return nil, invalid("报到方式需为 daily 或 centralized")
	}
	var out *MemberReportView
	err = s.deps.tx(ctx, func(tx *gorm.DB) error {
		if _, err := requireCommunity(ctx, tx, in.CommunityID); err != nil {
			return err
		}
		if in.UnitID != nil {
			u, err := loadUnit(ctx, tx, *in.UnitID)
			if err != nil {
				return err
			}
			if u.Status != model.ReviewApproved {
				return invalid("所选单位尚未通过审核")
			}
			in.UnitName = u.Name
		}
		active, err := s.partyMembership(ctx, tx, actorID)
		if err != nil {
			return err
		}
		if active != nil && active.CommunityID == in.CommunityID {
			return Errorf(CodeAlreadyReported, "您已在该社区报到")
		}
		uid := actorID
		r := model.MemberReport{
			UserID: actorID, CommunityID: in.CommunityID, RealName: in.RealName, Phone: in.Phone,
			UnitID: in.UnitID, UnitName: in.UnitName, Branch: in.Branch, Mode: in.Mode,
			Status: model.ReviewPending, PendingUserID: &uid,
		}
		if err := tx.Create(&r).Error; err != nil {
			if isDuplicate(err) {
				return Errorf(CodeReportPending, "您已有待审核的报到申请")
			}
			return err
		}
		out, err = s.reportView(ctx, tx, &r)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// MyReports lists the caller's reports, newest first, history included.
func (s *ReportService) MyReports(ctx context.Context, actorID int64) ([]MemberReportView, error) {
	db := s.deps.DB.WithContext(ctx)
	var rows []model.MemberReport
	if err := db.Where("user_id = ?", actorID).Order("id DESC").Find(&rows).Error; err != nil {
		return nil, err
	}
	return reportViews(ctx, db, rows)
}

// ListReports lists the reports of a community for its staff, newest first,
// optionally by status. It returns 10001 for an unknown status, 10005 for an
// unknown community and 10004 unless the caller is its staff.
func (s *ReportService) ListReports(ctx context.Context, actorID, communityID int64, status string, p Page) (List[MemberReportView], error) {
	db := s.deps.DB.WithContext(ctx)
	if _, err := s.authz.RequireStaff(ctx, db, actorID, communityID); err != nil {
		return List[MemberReportView]{}, err
	}
	q := db.Model(&model.MemberReport{}).Where("community_id = ?", communityID)
	switch model.ReviewStatus(status) {
	case "":
	case model.ReviewPending, model.ReviewApproved, model.ReviewRejected, model.ReviewWithdrawn, model.ReviewClosed:
		q = q.Where("status = ?", status)
	default:
		return List[MemberReportView]{}, invalid("status 需为 pending、approved、rejected、withdrawn 或 closed")
	}
	rows, total, err := findPage[model.MemberReport](q, "id DESC", p)
	if err != nil {
		return List[MemberReportView]{}, err
	}
	views, err := reportViews(ctx, db, rows)
	if err != nil {
		return List[MemberReportView]{}, err
	}
	return NewList(views, total, p), nil
}

// canSeeReport reports whether actorID may see a report's real name and
// phone: the member, staff of the report's community, or a liaison of the
// member's (approved) unit.
func (s *ReportService) canSeeReport(ctx context.Context, db *gorm.DB, actorID int64, r *model.MemberReport) (bool, error) {
	if r.UserID == actorID {
		return true, nil
	}
	ok, err := s.isStaffOf(ctx, db, actorID, r.CommunityID)
	if err != nil || ok {
		return ok, err
	}
	if r.UnitID != nil {
		return isLiaison(ctx, db, actorID, *r.UnitID)
	}
	return false, nil
}

// GetReport returns one report to the member, staff of its community or a
// liaison of the member's unit. It returns 10005 for an unknown report and
// 10004 for anyone else.
func (s *ReportService) GetReport(ctx context.Context, actorID, id int64) (*MemberReportView, error) {
	db := s.deps.DB.WithContext(ctx)
	r, err := loadReport(ctx, db, id)
	if err != nil {
		return nil, err
	}
	ok, err := s.canSeeReport(ctx, db, actorID, r)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, forbidden("无权查看该党员的报到信息")
	}
	return s.reportView(ctx, db, r)
}

// ReviewReport approves or rejects (with a reason) a pending report.
// Approval makes the member a party_member of the report's community and
// closes their previous approved report elsewhere (kept as history, its
// posts released). It returns 10001 for a rejection without a reason, 10005
// for an unknown report, 10004 unless the caller is staff of its community
// and 50006 when the report is no longer pending.
func (s *ReportService) ReviewReport(ctx context.Context, actorID, id int64, approve bool, reason string) (*MemberReportView, error) {
	reason, err := reviewReason(approve, reason)
	if err != nil {
		return nil, err
	}
	var out *MemberReportView
	err = s.deps.tx(ctx, func(tx *gorm.DB) error {
		r, err := loadReport(ctx, tx, id)
		if err != nil {
			return err
		}
		community, err := s.authz.RequireStaff(ctx, tx, actorID, r.CommunityID)
		if err != nil {
			return err
		}
		now := s.deps.Clock.Now().UTC()
		updates := map[string]any{"pending_user_id": nil, "reviewed_by": actorID, "reviewed_at": now, "updated_at": now}
		if approve {
			updates["status"] = model.ReviewApproved
		} else {
			updates["status"] = model.ReviewRejected
			updates["reject_reason"] = reason
		}
		res := tx.Model(&model.MemberReport{}).Where("id = ? AND status = ?", id, model.ReviewPending).Updates(updates)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return Errorf(CodeAlreadyReviewed, "该报到申请已处理，不能重复操作")
		}
		if approve {
			// Close the member's previous active report, then make this one active.
			err := tx.Model(&model.MemberReport{}).Where("active_user_id = ? AND id <> ?", r.UserID, id).
				Updates(map[string]any{"status": model.ReviewClosed, "active_user_id": nil, "closed_at": now, "updated_at": now}).Error
			if err != nil {
				return err
			}
			if err := tx.Model(&model.MemberReport{}).Where("id = ?", id).Update("active_user_id", r.UserID).Error; err != nil {
				return err
			}
			if err := s.releaseClaims(ctx, tx, r.UserID, &r.CommunityID); err != nil {
				return err
			}
			s.callers.Changed(tx, r.UserID)
		}
		event := EventReportApproved
		if !approve {
			event = EventReportRejected
		}
		err = s.notify.Notify(tx, Notice{UserID: r.UserID, Event: event, ObjectKind: "member_report", ObjectID: id,
			Subject: community.Name, Note: reason})
		if err != nil {
			return err
		}
		if err := tx.First(r, id).Error; err != nil {
			return err
		}
		if err := s.deps.audit(ctx, tx, reviewEvent(actorID, r.CommunityID, approve, "member_report", id,
			model.ReviewPending, r.Status, reason)); err != nil {
			return err
		}
		out, err = s.reportView(ctx, tx, r)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// WithdrawReport lets a member withdraw their pending or approved report;
// withdrawing the approved one ends their party_member role and releases
// their posts. It returns 10005 for an unknown report or one of someone else
// and 50015 when the report is already rejected, withdrawn or closed.
func (s *ReportService) WithdrawReport(ctx context.Context, actorID, id int64) (*MemberReportView, error) {
	var out *MemberReportView
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		// Locked, so an approval cannot slip in between this read and the
		// update and leave the member's posts claimed.
		r, err := loadReport(ctx, tx.Clauses(clause.Locking{Strength: "UPDATE"}), id)
		if err != nil {
			return err
		}
		if r.UserID != actorID {
			return notFound("报到记录")
		}
		now := s.deps.Clock.Now().UTC()
		res := tx.Model(&model.MemberReport{}).
			Where("id = ? AND status IN ?", id, []model.ReviewStatus{model.ReviewPending, model.ReviewApproved}).
			Updates(map[string]any{"status": model.ReviewWithdrawn, "active_user_id": nil, "pending_user_id": nil, "closed_at": now, "updated_at": now})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return Errorf(CodeReportNotWithdraw, "该报到记录已结束，不能撤回")
		}
		if r.Status == model.ReviewApproved {
			if err := s.releaseClaims(ctx, tx, actorID, nil); err != nil {
				return err
			}
			s.callers.Changed(tx, actorID)
		}
		if err := tx.First(r, id).Error; err != nil {
			return err
		}
		out, err = s.reportView(ctx, tx, r)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
