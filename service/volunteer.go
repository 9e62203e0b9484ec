package service

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"linli/model"
)

// VolunteerService keeps volunteer registrations (志愿者注册) and tells
// whether a volunteer is blocked for no-shows.
type VolunteerService struct {
	deps Deps
	// callers is told when someone becomes a volunteer.
	callers *CallerCache
}

// VolunteerSkills returns the skill tags a volunteer picks from; anything
// else goes into the free-text note.
func VolunteerSkills() []string {
	return []string{"助老助残", "儿童关爱", "教育辅导", "医疗护理", "心理疏导", "法律咨询",
		"家电维修", "文艺表演", "环境保护", "治安巡逻", "交通引导", "信息技术", "应急救援", "其他"}
}

// VolunteerInput is a registration or its update (PUT /volunteers/me).
type VolunteerInput struct {
	RealName     string
	Phone        string
	Skills       []string
	SkillsNote   string
	Availability string
}

// VolunteerView is the caller's own registration: the full name and phone,
// since only the owner sees it, and the no-show block when one is in force.
type VolunteerView struct {
	UserID       int64      `json:"userId"`
	RealName     string     `json:"realName"`
	Phone        string     `json:"phone"`
	Skills       []string   `json:"skills"`
	SkillsNote   string     `json:"skillsNote"`
	Availability string     `json:"availability"`
	Blocked      bool       `json:"blocked"`
	BlockedUntil *time.Time `json:"blockedUntil"`
	// RecentAbsences counts absences within the no-show window.
	RecentAbsences int       `json:"recentAbsences"`
	CreatedAt      time.Time `json:"createdAt"`
	UpdatedAt      time.Time `json:"updatedAt"`
}

// Register creates or updates the caller's volunteer registration. It
// returns 10001 for a missing or malformed name, phone, skill or
// availability; nothing is written then.
func (s *VolunteerService) Register(ctx context.Context, userID int64, in VolunteerInput) (*VolunteerView, error) {
	in.RealName = strings.TrimSpace(in.RealName)
	in.Phone = strings.TrimSpace(in.Phone)
	in.SkillsNote = strings.TrimSpace(in.SkillsNote)
	in.Availability = strings.TrimSpace(in.Availability)
	if !textFits(in.RealName, 2, 32) {
		return nil, invalid("姓名需为 2 到 32 个字符")
	}
	if !validMobile(in.Phone) {
		return nil, invalid("请填写正确的手机号")
	}
	if len(in.Skills) == 0 && in.SkillsNote == "" {
		return nil, invalid("请至少选择一项服务技能或填写特长")
	}
	if len(in.Skills) > 10 {
		return nil, invalid("服务技能最多选择 10 项")
	}
	allowed := VolunteerSkills()
	skills := make([]string, 0, len(in.Skills))
	for _, sk := range in.Skills {
		sk = strings.TrimSpace(sk)
		if !slices.Contains(allowed, sk) {
			return nil, invalid("服务技能“%s”不在可选列表中", sk)
		}
		if !slices.Contains(skills, sk) {
			skills = append(skills, sk)
		}
	}
	if !textFits(in.SkillsNote, 0, 200) {
		return nil, invalid("特长说明最多 200 个字符")
	}
	if !textFits(in.Availability, 1, 200) {
		return nil, invalid("可服务时间需为 1 到 200 个字符")
	}
	skillsJSON, _ := json.Marshal(skills)
	p := model.VolunteerProfile{
		UserID: userID, RealName: in.RealName, Phone: in.Phone, Skills: string(skillsJSON),
		SkillsNote: in.SkillsNote, Availability: in.Availability,
	}
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		s.callers.Changed(tx, userID)
		// The user's row is locked first, as a move of home does, so that
		// a first registration and a move count the volunteer once, in the
		// right community.
		var u model.User
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Select("id", "home_community_id").First(&u, userID).Error; err != nil {
			return notFoundOr(err, "用户")
		}
		var n int64
		if err := tx.Model(&model.VolunteerProfile{}).Where("user_id = ?", userID).Count(&n).Error; err != nil {
			return err
		}
		if n == 0 && u.HomeCommunityID != nil {
			if err := addCommunityStats(tx, *u.HomeCommunityID, 0, 1); err != nil {
				return err
			}
		}
		return tx.Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "user_id"}},
			DoUpdates: clause.AssignmentColumns([]string{"real_name", "phone", "skills", "skills_note", "availability", "updated_at"}),
		}).Create(&p).Error
	})
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, userID)
}

// Get returns the caller's registration with their no-show block. It
// returns 10005 when the caller has not registered.
func (s *VolunteerService) Get(ctx context.Context, userID int64) (*VolunteerView, error) {
	db := s.deps.DB.WithContext(ctx)
	p, err := loadVolunteer(ctx, db, userID)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, notFound("志愿者登记")
	}
	v := &VolunteerView{
		UserID: p.UserID, RealName: p.RealName, Phone: p.Phone, Skills: decodeSkills(p.Skills),
		SkillsNote: p.SkillsNote, Availability: p.Availability, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt,
	}
	block, err := s.noShowBlock(ctx, db, userID)
	if err != nil {
		return nil, err
	}
	v.RecentAbsences = block.recent
	if block.until != nil {
		v.Blocked, v.BlockedUntil = true, block.until
	}
	return v, nil
}

// loadVolunteer returns the user's registration or nil.
func loadVolunteer(ctx context.Context, db *gorm.DB, userID int64) (*model.VolunteerProfile, error) {
	var p model.VolunteerProfile
	err := db.WithContext(ctx).Where("user_id = ?", userID).Limit(1).Find(&p).Error
	if err != nil || p.ID == 0 {
		return nil, err
	}
	return &p, nil
}

func decodeSkills(s string) []string {
	out := []string{}
	_ = json.Unmarshal([]byte(s), &out)
	if out == nil {
		out = []string{}
	}
	return out
}

// noShow is a user's no-show situation at a moment.
type noShow struct {
	recent int        // absences within the window before now
	until  *time.Time // end of the block in force, nil when none
}

// noShowBlock computes, from the user's absences, whether sign-ups are
// blocked: whenever activity.noshow_limit absences fall within
// activity.noshow_window, sign-ups are blocked for activity.noshow_block from
// the last of them. It is computed, not stored, so a corrected absence lifts
// the block by itself.
func (s *VolunteerService) noShowBlock(ctx context.Context, db *gorm.DB, userID int64) (noShow, error) {
	cfg := s.deps.Config.Activity
	now := s.deps.Clock.Now().UTC()
	var times []time.Time
	err := db.WithContext(ctx).Model(&model.Attendance{}).
		Where("user_id = ? AND state = ? AND absent_at >= ?", userID, model.AttendAbsent, now.Add(-cfg.NoShowWindow-cfg.NoShowBlock)).
		Order("absent_at").Pluck("absent_at", &times).Error
	if err != nil {
		return noShow{}, err
	}
	var out noShow
	for i, t := range times {
		if !t.Before(now.Add(-cfg.NoShowWindow)) && !t.After(now) {
			out.recent++
		}
		if i+1 < cfg.NoShowLimit {
			continue
		}
		first := times[i+1-cfg.NoShowLimit]
		if t.Sub(first) > cfg.NoShowWindow {
			continue
		}
		end := t.Add(cfg.NoShowBlock)
		if now.Before(end) && (out.until == nil || end.After(*out.until)) {
			e := end.In(s.deps.Config.Location)
			out.until = &e
		}
	}
	return out, nil
}
