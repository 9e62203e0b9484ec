package service

import (
	"context"
	"fmt"
	"strings"

	"gorm.io/gorm"

	"linli/model"
)

// OrgService keeps the org tree and the staff appointments on it.
type OrgService struct {
	deps  Deps
	authz *Authz
	// tree and callers are told of new org units and changed staff roles.
	tree    *OrgTree
	callers *CallerCache
}

// OrgView is an org unit as the API shows it.
type OrgView struct {
	ID       int64          `json:"id"`
	ParentID *int64         `json:"parentId"`
	Level    model.OrgLevel `json:"level"`
	Name     string         `json:"name"`
	Path     string         `json:"path"`
}

func orgView(o *model.OrgUnit) OrgView {
	return OrgView{ID: o.ID, ParentID: o.ParentID, Level: o.Level, Name: o.Name, Path: o.Path}
}

// CreateOrg adds a unit under parentID (nil for a root district). The level
// must be the one below the parent's. It returns 10001 for a bad level or
// name, 10005 for an unknown parent, and 10004 unless the caller is admin of
// the parent (a root needs a bootstrap admin).
func (s *OrgService) CreateOrg(ctx context.Context, actorID int64, parentID *int64, level model.OrgLevel, name string) (*OrgView, error) {
	name = strings.TrimSpace(name)
	if !textFits(name, 1, 64) {
		return nil, invalid("名称需为 1 到 64 个字符")
	}
	if !level.Valid() {
		return nil, invalid("层级需为 district、street、community 或 grid")
	}
	var out model.OrgUnit
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		parentPath := "/"
		if parentID == nil {
			ok, err := s.authz.isBootstrapAdmin(ctx, tx, actorID)
			if err != nil {
				return err
			}
			if !ok {
				return forbidden("只有系统管理员可以创建根组织")
			}
			if level != model.LevelDistrict {
				return invalid("根组织的层级必须是 district")
			}
		} else {
			parent, err := s.authz.RequireAdmin(ctx, tx, actorID, *parentID)
			if err != nil {
				return err
			}
			if want := parent.Level.ChildLevel(); want != level {
				if want == "" {
					return invalid("网格下不能再建下级组织")
				}
				return invalid("%s 的下级层级必须是 %s", parent.Level, want)
			}
			parentPath = parent.Path
		}
		out = model.OrgUnit{ParentID: parentID, Level: level, Name: name}
		if err := tx.Create(&out).Error; err != nil {
			return err
		}
		out.Path = fmt.Sprintf("%s%d/", parentPath, out.ID)
		s.tree.Changed(tx)
		if err := tx.Model(&out).Update("path", out.Path).Error; err != nil {
			return err
		}
		return s.deps.audit(ctx, tx, auditEvent{Actor: actorID, Org: out.ID, Action: AuditOrgCreate, ObjectKind: "org",
			ObjectID: out.ID, After: map[string]any{"parentId": parentID, "level": level, "name": name}})
	})
	if err != nil {
		return nil, err
	}
	v := orgView(&out)
	return &v, nil
}

// ListOrgs returns a page of the children of parentID, or of the roots when
// it is nil, in creation order.
func (s *OrgService) ListOrgs(ctx context.Context, parentID *int64, p Page) (List[OrgView], error) {
	// Departments (职能部门) are not places people live in: not listed here.
	q := s.deps.DB.WithContext(ctx).Model(&model.OrgUnit{}).Where("level <> ?", model.LevelDepartment)
	if parentID == nil {
		q = q.Where("parent_id IS NULL")
	} else {
		q = q.Where("parent_id = ?", *parentID)
	}
	rows, total, err := findPage[model.OrgUnit](q, "id", p)
	if err != nil {
		return List[OrgView]{}, err
	}
	out := make([]OrgView, 0, len(rows))
	for i := range rows {
		out = append(out, orgView(&rows[i]))
	}
	return NewList(out, total, p), nil
}

// StaffView is a staff or admin appointment.
type StaffView struct {
	ID     int64  `json:"id"`
	UserID int64  `json:"userId"`
	OrgID  int64  `json:"orgId"`
	Role   string `json:"role"`
}

// AppointStaff makes userID staff, admin or whistle officer of orgID (a
// whistle officer only of a street or district). An admin may appoint
// only inside their own scope. Appointing twice returns the existing row. It
// returns 10001 for a bad role (or a whistle officer of another level),
// 10005 for an unknown user or org, and 10004 when the caller is not admin
// of orgID or above.
func (s *OrgService) AppointStaff(ctx context.Context, actorID, userID, orgID int64, role model.StaffRoleKind) (*StaffView, error) {
	if role != model.RoleStaff && role != model.RoleAdmin && role != model.RoleWhistleOfficer {
		return nil, invalid("角色需为 staff、admin 或 whistle_officer")
	}
	var out model.StaffRole
	exists := false
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		org, err := s.authz.RequireAdmin(ctx, tx, actorID, orgID)
		if err != nil {
			return err
		}
		if role == model.RoleWhistleOfficer && org.Level != model.LevelStreet && org.Level != model.LevelDistrict {
			return invalid("吹哨办工作人员只能设在街道或区")
		}
		if _, err := loadUser(ctx, tx, userID); err != nil {
			return err
		}
		out = model.StaffRole{UserID: userID, OrgID: orgID, Role: role, CreatedBy: actorID}
		err = tx.Create(&out).Error
		exists = isDuplicate(err)
		if exists {
			return nil // nothing was written
		}
		if err != nil {
			return err
		}
		s.callers.Changed(tx, userID)
		return s.deps.audit(ctx, tx, auditEvent{Actor: actorID, Org: orgID, Action: AuditStaffAppoint, ObjectKind: "staff_role",
			ObjectID: out.ID, After: map[string]any{"userId": userID, "orgId": orgID, "role": role}})
	})
	if err != nil {
		return nil, err
	}
	if exists {
		// Read the existing row after the transaction: inside it, under
		// MySQL's REPEATABLE READ, a plain read may not see a row another
		// transaction just committed, and a locking one deadlocks with the
		// other appointers waiting on the same key.
		out = model.StaffRole{}
		err := s.deps.DB.WithContext(ctx).
			Where("user_id = ? AND org_id = ? AND role = ?", userID, orgID, role).First(&out).Error
		if err != nil {
			return nil, err
		}
	}
	return &StaffView{ID: out.ID, UserID: out.UserID, OrgID: out.OrgID, Role: string(out.Role)}, nil
}

// RemoveStaff ends an appointment: the row stays, marked ended by whom and
// when, so the audit log and the history still name who held it. It returns
// 10005 for an unknown or already ended appointment and 10004 unless the
// caller is admin of the appointment's org or above.
func (s *OrgService) RemoveStaff(ctx context.Context, actorID, id int64) error {
	return s.deps.tx(ctx, func(tx *gorm.DB) error {
		var r model.StaffRole
		if err := tx.First(&r, id).Error; err != nil {
			return notFoundOr(err, "任职记录")
		}
		if _, err := s.authz.RequireAdmin(ctx, tx, actorID, r.OrgID); err != nil {
			return err
		}
		res := tx.Model(&model.StaffRole{}).Where("id = ?", id).
			Updates(map[string]any{"ended_at": s.deps.Clock.Now().UTC(), "ended_by": actorID, "ended_key": id})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return notFound("任职记录")
		}
		s.callers.Changed(tx, r.UserID)
		return s.deps.audit(ctx, tx, auditEvent{Actor: actorID, Org: r.OrgID, Action: AuditStaffRemove, ObjectKind: "staff_role",
			ObjectID: id, Before: map[string]any{"userId": r.UserID, "orgId": r.OrgID, "role": r.Role}, After: map[string]any{"ended": true}})
	})
}
