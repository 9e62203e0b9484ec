package service

import (
	"context"
	"errors"
	"fmt"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"linli/model"
)

// Demo openids created by SeedDemo.
const (
	DemoAdmin    = "demo-admin"
	DemoStaff    = "demo-staff"
	DemoResident = "demo-resident"
	DemoMember   = "demo-member"
)

// DemoData names what SeedDemo created.
type DemoData struct {
	DistrictID, StreetID int64
	CommunityIDs         []int64
	GridIDs              []int64
	Users                map[string]int64
}

// SeedDemo creates, once, a district → street → two communities → grids and
// the demo users: demo-admin (admin of the district), demo-staff (staff of
// the first community), demo-resident and demo-member (living there). Running
// it again finds and returns the same data.
func (s *Service) SeedDemo(ctx context.Context) (*DemoData, error) {
	out := &DemoData{Users: map[string]int64{}}
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		district, err := demoOrg(tx, nil, model.LevelDistrict, "示范区")
		if err != nil {
			return err
		}
		street, err := demoOrg(tx, district, model.LevelStreet, "幸福街道")
		if err != nil {
			return err
		}
		out.DistrictID, out.StreetID = district.ID, street.ID
		for _, name := range []string{"和谐社区", "邻里社区"} {
			community, err := demoOrg(tx, street, model.LevelCommunity, name)
			if err != nil {
				return err
			}
			out.CommunityIDs = append(out.CommunityIDs, community.ID)
			for i := 1; i <= 2; i++ {
				grid, err := demoOrg(tx, community, model.LevelGrid, fmt.Sprintf("第%d网格", i))
				if err != nil {
					return err
				}
				out.GridIDs = append(out.GridIDs, grid.ID)
			}
		}
		home := out.CommunityIDs[0]
		grid := out.GridIDs[0]
		for _, u := range []struct {
			openID, nickname string
		}{
			{DemoAdmin, "区管理员"}, {DemoStaff, "社区工作者"}, {DemoResident, "王阿姨"}, {DemoMember, "李党员"},
		} {
			user := model.User{OpenID: u.openID, Nickname: u.nickname, HomeCommunityID: &home, HomeGridID: &grid}
			if err := tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "open_id"}}, DoNothing: true}).Create(&user).Error; err != nil {
				return err
			}
			var found model.User // fresh: see upsertUser on the id of a skipped insert
			if err := tx.Where("open_id = ?", u.openID).First(&found).Error; err != nil {
				return err
			}
			out.Users[u.openID] = found.ID
		}
		for _, r := range []model.StaffRole{
			{UserID: out.Users[DemoAdmin], OrgID: district.ID, Role: model.RoleAdmin},
			{UserID: out.Users[DemoStaff], OrgID: home, Role: model.RoleStaff},
		} {
			if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&r).Error; err != nil {
				return err
			}
		}
		return s.seedDemoPeople(tx, out.Users, home)
	})
	return out, err
}

// seedDemoPeople makes demo-member an approved Party member of the home
// community (so the walk-through can claim wishes and posts) and gives
// demo-resident and demo-member volunteer profiles (so they can sign up for
// activities). Existing rows are left as they are.
func (s *Service) seedDemoPeople(tx *gorm.DB, users map[string]int64, home int64) error {
	member := users[DemoMember]
	active, err := s.Reports.partyMembership(context.Background(), tx, member)
	if err != nil {
		return err
	}
	if active == nil {
		now := s.deps.Clock.Now().UTC()
		staff := users[DemoStaff]
		r := model.MemberReport{UserID: member, CommunityID: home, RealName: "李明", Phone: "13800000000",
			UnitName: "示范区政务服务中心", Branch: "第一党支部", Mode: model.ModeDaily,
			Status: model.ReviewApproved, ActiveUserID: &member, ReviewedBy: &staff, ReviewedAt: &now}
		if err := tx.Create(&r).Error; err != nil {
			return err
		}
	}
	for _, v := range []model.VolunteerProfile{
		{UserID: users[DemoResident], RealName: "王秀英", Phone: "13800000001", Skills: `["助老助残"]`, Availability: "工作日上午"},
		{UserID: member, RealName: "李明", Phone: "13800000000", Skills: `["法律咨询"]`, Availability: "周末"},
	} {
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&v).Error; err != nil {
			return err
		}
	}
	return nil
}

// demoOrg finds the child of parent with name, or creates it.
func demoOrg(tx *gorm.DB, parent *model.OrgUnit, level model.OrgLevel, name string) (*model.OrgUnit, error) {
	q := tx.Where("name = ? AND level = ?", name, level)
	var parentID *int64
	path := "/"
	if parent == nil {
		q = q.Where("parent_id IS NULL")
	} else {
		q = q.Where("parent_id = ?", parent.ID)
		parentID, path = &parent.ID, parent.Path
	}
	var org model.OrgUnit
	err := q.First(&org).Error
	if err == nil {
		return &org, nil
	}
	if !errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, err
	}
	org = model.OrgUnit{ParentID: parentID, Level: level, Name: name}
	if err := tx.Create(&org).Error; err != nil {
		return nil, err
	}
	org.Path = fmt.Sprintf("%s%d/", path, org.ID)
	return &org, tx.Model(&org).Update("path", org.Path).Error
}
