package service

import (
	"context"
	"slices"

	"gorm.io/gorm"

	"linli/model"
)

// Authz answers "may user U act as staff or admin on org unit C". Every area
// asks it; the answer comes from C's materialised path and the user's scoped
// roles, plus the bootstrap admins of the configuration (admins of every root).
type Authz struct {
	deps Deps
}

// RequireStaff returns the org unit when userID is staff or admin of it or of
// an org above it. It returns 10005 for an unknown org and 10004 otherwise.
func (a *Authz) RequireStaff(ctx context.Context, db *gorm.DB, userID, orgID int64) (*model.OrgUnit, error) {
	return a.require(ctx, db, userID, orgID, model.RoleStaff, model.RoleAdmin)
}

// RequireAdmin is RequireStaff for the admin role only.
func (a *Authz) RequireAdmin(ctx context.Context, db *gorm.DB, userID, orgID int64) (*model.OrgUnit, error) {
	return a.require(ctx, db, userID, orgID, model.RoleAdmin)
}

// IsStaff reports whether userID is staff or admin of org (a loaded unit).
// It returns an error only when the database fails.
func (a *Authz) IsStaff(ctx context.Context, db *gorm.DB, userID int64, org *model.OrgUnit) (bool, error) {
	return a.holds(ctx, db, userID, org, model.RoleStaff, model.RoleAdmin)
}

func (a *Authz) require(ctx context.Context, db *gorm.DB, userID, orgID int64, roles ...model.StaffRoleKind) (*model.OrgUnit, error) {
	org, err := loadOrg(ctx, db, orgID)
	if err != nil {
		return nil, err
	}
	ok, err := a.holds(ctx, db, userID, org, roles...)
	if err != nil {
		return nil, err
	}
	if !ok {
		if slices.Contains(roles, model.RoleStaff) {
			return nil, forbidden("您不是该社区的工作人员，无权操作")
		}
		return nil, forbidden("您不是该组织的管理员，无权操作")
	}
	return org, nil
}

func (a *Authz) holds(ctx context.Context, db *gorm.DB, userID int64, org *model.OrgUnit, roles ...model.StaffRoleKind) (bool, error) {
	var n int64
	err := db.WithContext(ctx).Model(&model.StaffRole{}).
		Where("user_id = ? AND org_id IN ? AND role IN ?", userID, org.AncestorIDs(), roles).
		Count(&n).Error
	if err != nil {
		return false, err
	}
	if n > 0 {
		return true, nil
	}
	return a.isBootstrapAdmin(ctx, db, userID)
}

// isBootstrapAdmin reports whether the user's openid is listed in
// bootstrap.admins.
func (a *Authz) isBootstrapAdmin(ctx context.Context, db *gorm.DB, userID int64) (bool, error) {
	admins := a.deps.Config.Bootstrap.AdminOpenIDs()
	if len(admins) == 0 {
		return false, nil
	}
	var n int64
	err := db.WithContext(ctx).Model(&model.User{}).
		Where("id = ? AND open_id IN ?", userID, admins).Count(&n).Error
	return n > 0, err
}

// ScopedRole is one role a user holds, with the org it applies to. UnitID
// names the unit of a unit_liaison role.
type ScopedRole struct {
	Role   string `json:"role"`
	OrgID  int64  `json:"orgId"`
	UnitID *int64 `json:"unitId,omitempty"`
}

// StaffRoles returns the staff and admin roles of a user, including admin of
// every root org for a bootstrap admin.
func (a *Authz) StaffRoles(ctx context.Context, db *gorm.DB, userID int64) ([]ScopedRole, error) {
	var rows []model.StaffRole
	if err := db.WithContext(ctx).Where("user_id = ?", userID).Order("id").Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]ScopedRole, 0, len(rows))
	for _, r := range rows {
		out = append(out, ScopedRole{Role: string(r.Role), OrgID: r.OrgID})
	}
	boot, err := a.isBootstrapAdmin(ctx, db, userID)
	if err != nil || !boot {
		return out, err
	}
	var roots []int64
	if err := db.WithContext(ctx).Model(&model.OrgUnit{}).Where("parent_id IS NULL").Order("id").Pluck("id", &roots).Error; err != nil {
		return nil, err
	}
	for _, id := range roots {
		r := ScopedRole{Role: string(model.RoleAdmin), OrgID: id}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out, nil
}

// loadOrg returns an org unit or 10005.
func loadOrg(ctx context.Context, db *gorm.DB, id int64) (*model.OrgUnit, error) {
	var org model.OrgUnit
	if err := db.WithContext(ctx).First(&org, id).Error; err != nil {
		return nil, notFoundOr(err, "组织")
	}
	return &org, nil
}

// isRootAdmin reports whether the user administers a root org (or is a
// bootstrap admin).
func (a *Authz) isRootAdmin(ctx context.Context, userID int64) (bool, error) {
	db := a.deps.DB.WithContext(ctx)
	if ok, err := a.isBootstrapAdmin(ctx, db, userID); err != nil || ok {
		return ok, err
	}
	var n int64
	err := db.Model(&model.StaffRole{}).
		Joins("JOIN org_units o ON o.id = staff_roles.org_id").
		Where("staff_roles.user_id = ? AND staff_roles.role = ? AND o.parent_id IS NULL", userID, model.RoleAdmin).
		Count(&n).Error
	return n > 0, err
}
