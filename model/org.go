package model

import (
	"strconv"
	"strings"
	"time"
)

// OrgLevel is the level of an org unit in the tree.
type OrgLevel string

// The levels of the org tree, from the root down.
const (
	LevelDistrict  OrgLevel = "district"
	LevelStreet    OrgLevel = "street"
	LevelCommunity OrgLevel = "community"
	LevelGrid      OrgLevel = "grid"
)

// ChildLevel returns the level a child of l must have, or "" for a grid.
func (l OrgLevel) ChildLevel() OrgLevel {
	switch l {
	case LevelDistrict:
		return LevelStreet
	case LevelStreet:
		return LevelCommunity
	case LevelCommunity:
		return LevelGrid
	}
	return ""
}

// Valid reports whether l is one of the four levels.
func (l OrgLevel) Valid() bool {
	switch l {
	case LevelDistrict, LevelStreet, LevelCommunity, LevelGrid:
		return true
	}
	return false
}

// OrgUnit is a node of the district → street → community → grid tree. Path is
// the materialised path of ids from the root, "/1/4/9/", so "is X inside Y" is
// a prefix match on an indexed column.
type OrgUnit struct {
	ID        int64    `gorm:"primaryKey"`
	ParentID  *int64   `gorm:"index"`
	Level     OrgLevel `gorm:"size:16;not null"`
	Name      string   `gorm:"size:64;not null"`
	Path      string   `gorm:"size:255;not null;default:'';index"`
	CreatedAt time.Time
}

// AncestorIDs returns the ids on the unit's path, root first, itself last.
func (o *OrgUnit) AncestorIDs() []int64 {
	return PathIDs(o.Path)
}

// Contains reports whether other is o or lies beneath it.
func (o *OrgUnit) Contains(other *OrgUnit) bool {
	return o.Path != "" && strings.HasPrefix(other.Path, o.Path)
}

// PathIDs parses a materialised path such as "/1/4/9/" into its ids.
func PathIDs(path string) []int64 {
	var ids []int64
	for _, p := range strings.Split(strings.Trim(path, "/"), "/") {
		if id, err := strconv.ParseInt(p, 10, 64); err == nil {
			ids = append(ids, id)
		}
	}
	return ids
}

// StaffRoleKind is staff or admin.
type StaffRoleKind string

// The scoped roles an org unit can grant.
const (
	RoleStaff StaffRoleKind = "staff"
	RoleAdmin StaffRoleKind = "admin"
)

// StaffRole grants a user staff or admin rights on an org unit and everything
// beneath it.
type StaffRole struct {
	ID        int64         `gorm:"primaryKey"`
	UserID    int64         `gorm:"not null;uniqueIndex:ux_staff_user_org_role,priority:1"`
	OrgID     int64         `gorm:"not null;uniqueIndex:ux_staff_user_org_role,priority:2;index"`
	Role      StaffRoleKind `gorm:"size:16;not null;uniqueIndex:ux_staff_user_org_role,priority:3"`
	CreatedBy int64         `gorm:"not null;default:0"`
	CreatedAt time.Time
}
