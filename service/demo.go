package service

import (
	"context"
	"errors"
	"fmt"
	"time"

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

// SeedDemo creates, once, a district → street → two communities → grids,
// the demo users — demo-admin (admin of the district), demo-staff (staff of
// the first community), demo-resident and demo-member (living there) — and
// the story the README's walk-through shows (seedDemoStory). Running it
// again finds and returns the same data and adds nothing. It returns the
// first error of a store or of a service method.
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
		// Rows written directly: the org copies and cached callers of every
		// instance must forget what they knew.
		s.OrgTree.Changed(tx)
		for _, id := range out.Users {
			s.Callers.Changed(tx, id)
		}
		return s.seedDemoPeople(tx, out.Users, home)
	})
	if err != nil {
		return nil, err
	}
	if err := s.seedDemoStory(ctx, out); err != nil {
		return nil, err
	}
	return out, nil
}

// seedDemoPeople makes demo-member an approved Party member of the home
// community (so the walk-through can claim wishes and posts) and gives
// demo-resident and demo-member volunteer profiles (so they can sign up for
// activities). Existing rows are left as they are.
func (s *Service) seedDemoPeople(tx *gorm.DB, users map[string]int64, home int64) error {
	member := users[DemoMember]
	var reports int64
	if err := tx.Model(&model.MemberReport{}).Where("user_id = ?", member).Count(&reports).Error; err != nil {
		return err
	}
	if reports == 0 {
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

// demoClock is the clock of the demo's recent past: seedDemoStory moves it
// to play a finished activity through the real service methods.
type demoClock struct{ now time.Time }

// Now returns the time the demo is at.
func (c *demoClock) Now() time.Time { return c.now }

// seedDemoStory fills the first community with what the walk-through shows,
// each piece through the same service methods the API calls (so the ledger,
// the counters, the service records and the leaderboards agree): three
// wishes of demo-resident (one published, one claimed by demo-member, one
// completed, which credits demo-member's points and a 办实事 record), a
// finished activity both demo volunteers attended, with their hours
// approved into the time bank (and demo-member's 参加公益活动 record), an
// upcoming activity both signed up for, and goods in the points mall. So
// demo-member has met two of the quarter's four obligations. A piece that
// exists already (found by its title or name) is skipped. It returns the
// first error, naming the piece.
func (s *Service) seedDemoStory(ctx context.Context, d *DemoData) error {
	home := d.CommunityIDs[0]
	for _, step := range []func(context.Context, *DemoData, int64) error{s.demoWishes, s.demoFinishedActivity, s.demoUpcomingActivity, s.demoGoods} {
		if err := step(ctx, d, home); err != nil {
			return err
		}
	}
	return nil
}

// demoOnce runs play unless a row of table with column = value exists in the
// community (the piece was seeded before). It returns the first error,
// naming the piece.
func (s *Service) demoOnce(ctx context.Context, table any, community int64, column, value string, play func() error) error {
	var n int64
	err := s.deps.DB.WithContext(ctx).Model(table).Where("community_id = ? AND "+column+" = ?", community, value).Count(&n).Error
	if err == nil && n == 0 {
		err = play()
	}
	if err != nil {
		return fmt.Errorf("demo %s: %w", value, err)
	}
	return nil
}

// demoWishes posts demo-resident's wishes and takes each as far as its story
// goes: published, claimed by demo-member, or completed (fulfilled by
// demo-member and confirmed by demo-resident).
func (s *Service) demoWishes(ctx context.Context, d *DemoData, home int64) error {
	const (
		published = iota
		claimed
		completed
	)
	resident, staff, member := d.Users[DemoResident], d.Users[DemoStaff], d.Users[DemoMember]
	for _, w := range []struct {
		title, content, category, address string
		stage                             int
	}{
		{"陪老人去医院复查", "老伴腿脚不便，周三上午需要有人陪同去区医院复查、取药。", "助老", "和谐社区3号楼2单元501", completed},
		{"辅导孩子数学作业", "孩子上四年级，每周二、四晚上想请人辅导一小时数学。", "助学", "和谐社区5号楼1单元302", claimed},
		{"更换楼道灯泡", "3号楼2单元四楼楼道灯坏了，晚上上下楼看不清。", "维修", "和谐社区3号楼2单元", published},
	} {
		err := s.demoOnce(ctx, &model.Wish{}, home, "title", w.title, func() error {
			v, err := s.Wishes.Create(ctx, resident, WishInput{Title: w.title, Content: w.content, Category: w.category,
				ContactPhone: "13800000001", Address: w.address, CommunityID: &home})
			if err != nil {
				return err
			}
			if _, err := s.Wishes.Approve(ctx, staff, v.ID); err != nil || w.stage == published {
				return err
			}
			if _, err := s.Wishes.Claim(ctx, member, v.ID, nil); err != nil || w.stage == claimed {
				return err
			}
			if _, err := s.Wishes.Fulfil(ctx, member, v.ID, "已陪同复查并取回药品，医生说恢复得不错。", nil); err != nil {
				return err
			}
			_, err = s.Wishes.Confirm(ctx, resident, v.ID, 5, "非常感谢李同志！")
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// demoFinishedActivity plays an activity that ended an hour and more ago on
// a demo clock set five hours back: demo-staff publish it, both demo
// volunteers sign up, are checked in (demo-member half an hour late) and
// out by staff, and their minutes are approved, crediting minutes and
// points through the time bank; the sweep then marks it finished.
func (s *Service) demoFinishedActivity(ctx context.Context, d *DemoData, home int64) error {
	const title = "社区环境清扫"
	return s.demoOnce(ctx, &model.Activity{}, home, "title", title, func() error {
		return s.playFinishedActivity(ctx, d, home, title)
	})
}

// playFinishedActivity plays demoFinishedActivity's story of the activity
// title. It returns the first error of a service method.
func (s *Service) playFinishedActivity(ctx context.Context, d *DemoData, home int64, title string) error {
	clock := &demoClock{now: s.deps.Clock.Now().Add(-5 * time.Hour).Truncate(time.Minute)}
	deps := s.deps
	deps.Clock = clock
	past := New(deps)
	start := clock.now.Add(time.Hour)
	end := start.Add(3 * time.Hour)
	staff, resident, member := d.Users[DemoStaff], d.Users[DemoResident], d.Users[DemoMember]
	a, err := past.Activities.Create(ctx, staff, ActivityInput{CommunityID: home, Title: title,
		Content: "清理小区绿化带和楼道杂物，工具由社区提供，请穿方便活动的衣服。", Category: "环境保护",
		Address: "和谐社区中心广场", StartAt: start, EndAt: end, SignupDeadline: start.Add(-30 * time.Minute),
		Capacity: 20})
	if err != nil {
		return err
	}
	if _, err := past.Activities.Publish(ctx, staff, a.ID); err != nil {
		return err
	}
	for _, u := range []int64{resident, member} {
		if _, err := past.Activities.Signup(ctx, u, a.ID); err != nil {
			return err
		}
	}
	for _, step := range []struct {
		at   time.Time
		user int64
		in   bool
	}{{start, resident, true}, {start.Add(30 * time.Minute), member, true}, {end, resident, false}, {end, member, false}} {
		clock.now = step.at
		if step.in {
			_, err = past.Activities.ManualCheckin(ctx, staff, a.ID, step.user, nil)
		} else {
			_, err = past.Activities.ManualCheckout(ctx, staff, a.ID, step.user, nil)
		}
		if err != nil {
			return err
		}
	}
	// Approved now, so the points count in this month's leaderboard even in
	// the first hours of a month, when the activity itself was last month.
	clock.now = s.deps.Clock.Now()
	_, err = past.Activities.ApproveBatch(ctx, staff, a.ID, []ApprovalItem{
		{UserID: resident, Minutes: 180, Score: 5}, {UserID: member, Minutes: 150, Score: 5}})
	if err != nil {
		return err
	}
	_, err = past.Activities.Sweep(ctx)
	return err
}

// demoUpcomingActivity publishes an activity three days ahead with a
// waitlist, and signs both demo volunteers up.
func (s *Service) demoUpcomingActivity(ctx context.Context, d *DemoData, home int64) error {
	const title = "周末义诊进社区"
	staff := d.Users[DemoStaff]
	start := s.deps.Clock.Now().Add(72 * time.Hour).Truncate(time.Hour)
	return s.demoOnce(ctx, &model.Activity{}, home, "title", title, func() error {
		a, err := s.Activities.Create(ctx, staff, ActivityInput{CommunityID: home, Title: title,
			Content: "区医院医生来社区量血压、测血糖、解答用药问题，需要志愿者引导排队、登记。", Category: "医疗健康",
			Address: "和谐社区党群服务中心", StartAt: start, EndAt: start.Add(3 * time.Hour),
			SignupDeadline: start.Add(-24 * time.Hour), Capacity: 10, Waitlist: true})
		if err != nil {
			return err
		}
		if _, err := s.Activities.Publish(ctx, staff, a.ID); err != nil {
			return err
		}
		for _, u := range []int64{d.Users[DemoResident], d.Users[DemoMember]} {
			if _, err := s.Activities.Signup(ctx, u, a.ID); err != nil {
				return err
			}
		}
		return nil
	})
}

// demoGoods puts goods in the first community's points mall.
func (s *Service) demoGoods(ctx context.Context, d *DemoData, home int64) error {
	for _, g := range []GoodsInput{
		{Name: "东北大米 5kg", Description: "社区共建单位捐赠", PointsPrice: 30, Stock: 20, PerUserLimit: 1},
		{Name: "洗衣液 2L", PointsPrice: 20, Stock: 30, PerUserLimit: 2},
		{Name: "理发券", Description: "社区便民理发点使用", PointsPrice: 10, Stock: 50},
	} {
		g.CommunityID = home
		err := s.demoOnce(ctx, &model.MallGoods{}, home, "name", g.Name, func() error {
			_, err := s.Mall.CreateGoods(ctx, d.Users[DemoStaff], g)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}
