package model

import (
	"gorm.io/gorm"
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

// StaffRoleKind is staff, admin or whistle_officer.
type StaffRoleKind string

// The scoped roles an org unit can grant.
const (
	RoleStaff StaffRoleKind = "staff"
	RoleAdmin StaffRoleKind = "admin"
	// RoleWhistleOfficer (吹哨办) of a street or district dispatches and
	// escalates the cases whistled to it; it grants no staff rights.
	RoleWhistleOfficer StaffRoleKind = "whistle_officer"
)

// StaffRole grants a user staff or admin rights on an org unit and everything
// beneath it. Removing an appointment ends it rather than deleting it, so the
// audit log still names who held it: EndedAt is gorm's soft-delete column
// (every query through the model skips ended rows), and EndedKey, 0 while
// the role is held and the row's id once ended, keeps one held role per user,
// org and kind while ended ones pile up beside it.
type StaffRole struct {
	ID        int64         `gorm:"primaryKey"`
	UserID    int64         `gorm:"not null;uniqueIndex:ux_staff_role_held,priority:1"`
	OrgID     int64         `gorm:"not null;uniqueIndex:ux_staff_role_held,priority:2;index"`
	Role      StaffRoleKind `gorm:"size:16;not null;uniqueIndex:ux_staff_role_held,priority:3"`
	EndedKey  int64         `gorm:"not null;default:0;uniqueIndex:ux_staff_role_held,priority:4"`
	CreatedBy int64         `gorm:"not null;default:0"`
	CreatedAt time.Time
	EndedAt   gorm.DeletedAt
	EndedBy   *int64
}
