package service

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"linli/model"
)

// UserService reads and changes the caller's own profile.
type UserService struct {
	deps  Deps
	authz *Authz
	// timeBank is told after a user's home community changed (it re-ranks
	// them on the leaderboards).
	timeBank *TimeBankService
	// callers answers GET /me and is told of every change to a profile.
	callers *CallerService
	// content checks nicknames, which leaderboards show.
	content *ContentService
}

// MeView is the caller's own profile. Phone is masked even here: the full
// number is never sent back once stored.
type MeView struct {
	ID              int64        `json:"id"`
	Nickname        string       `json:"nickname"`
	AvatarURL       string       `json:"avatarUrl"`
	Phone           string       `json:"phone"`
	HomeCommunityID *int64       `json:"homeCommunityId"`
	HomeGridID      *int64       `json:"homeGridId"`
	Roles           []ScopedRole `json:"roles"`
	// ConsentVersion is the privacy-policy version the user accepted ("":
	// none); ConsentRequired is set while it is not privacy.policy_version,
	// and the mini-program then asks for POST /me/consent.
	ConsentVersion  string `json:"consentVersion"`
	ConsentRequired bool   `json:"consentRequired"`
}

// Me returns the caller's profile with every role they hold. It returns 10005
// when the user no longer exists.
func (s *UserService) Me(ctx context.Context, userID int64) (*MeView, error) {
	c, err := s.callers.Get(ctx, userID)
	if err != nil {
		return nil, err
	}
	return s.withConsent(c.Me()), nil
}

// fresh returns the caller's profile read from the database, for answers
// that show a change this request made.
func (s *UserService) fresh(ctx context.Context, userID int64) (*MeView, error) {
	c, err := s.callers.Fresh(ctx, userID)
	if err != nil {
		return nil, err
	}
	return s.withConsent(c.Me()), nil
}

// ProfileUpdate holds the fields PUT /me may change; nil leaves a field alone.
type ProfileUpdate struct {
	Nickname  *string
	AvatarURL *string
}

// UpdateProfile changes nickname and avatar. The nickname (shown on
// leaderboards) passes the content check; one stored without a clean verdict
// is flagged for the staff of the user's home community. It returns 10001
// for a blank or over-long nickname or a non-https avatar URL and 10008 for
// a risky nickname (nothing changes).
func (s *UserService) UpdateProfile(ctx context.Context, userID int64, in ProfileUpdate) (*MeView, error) {
	updates := map[string]any{}
	var flagged []checkedText
	if in.Nickname != nil {
		n := strings.TrimSpace(*in.Nickname)
		if !textFits(n, 1, 32) {
			return nil, invalid("昵称需为 1 到 32 个字符")
		}
		updates["nickname"] = n
		var err error
		if flagged, err = s.content.checkUserText(ctx, s.deps.DB, userID, map[string]string{"nickname": n}); err != nil {
			return nil, err
		}
	}
	if in.AvatarURL != nil {
		a := strings.TrimSpace(*in.AvatarURL)
		if len(a) > 512 || (a != "" && !strings.HasPrefix(a, "https://")) {
			return nil, invalid("头像地址需为 https 链接")
		}
		updates["avatar_url"] = a
	}
	if len(updates) > 0 {
		err := s.deps.tx(ctx, func(tx *gorm.DB) error {
			if err := tx.Model(&model.User{}).Where("id = ?", userID).Updates(updates).Error; err != nil {
				return err
			}
			if len(flagged) > 0 {
				var u model.User
				if err := tx.Select("id", "home_community_id").First(&u, userID).Error; err != nil {
					return err
				}
				var home int64
				if u.HomeCommunityID != nil {
					home = *u.HomeCommunityID
				}
				if err := s.content.flagTexts(tx, flagged, "user", userID, userID, home); err != nil {
					return err
				}
			}
			s.callers.Changed(tx, userID)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return s.fresh(ctx, userID)
}

// SetCommunity sets the caller's home community and, optionally, a grid of
// it. A move to another community clears the staff's confirmation of the
// home and is allowed once per user.home_change_min_interval (the first home
// is free). It returns 10005 for an unknown org, 10001 when communityID is
// not a community or gridID is not a grid inside it, and 30020 when the
// previous move is too recent.
func (s *UserService) SetCommunity(ctx context.Context, userID, communityID int64, gridID *int64) (*MeView, error) {
	db := s.deps.DB.WithContext(ctx)
	community, err := loadOrg(ctx, db, communityID)
	if err != nil {
		return nil, err
	}
	if community.Level != model.LevelCommunity {
		return nil, invalid("请选择一个社区")
	}
	if gridID != nil {
		grid, err := loadOrg(ctx, db, *gridID)
		if err != nil {
			return nil, err
		}
		if grid.Level != model.LevelGrid || grid.ParentID == nil || *grid.ParentID != community.ID {
			return nil, invalid("网格不属于所选社区")
		}
	}
	// The user's row is locked while the home is read and changed, so
	// concurrent moves run one after another and each re-ranks the user
	// from where the previous one left them, once it has committed.
	err = s.deps.tx(ctx, func(tx *gorm.DB) error {
		var before model.User
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Select("id", "home_community_id", "home_set_at").
			First(&before, userID).Error; err != nil {
			return notFoundOr(err, "用户")
		}
		updates, err := s.homeChange(&before, communityID, gridID) // residency: limit, clear verification
		if err != nil {
			return err
		}
		if err := tx.Model(&model.User{}).Where("id = ?", userID).Updates(updates).Error; err != nil {
			return err
		}
		s.callers.Changed(tx, userID)
		if before.HomeCommunityID == nil || *before.HomeCommunityID != communityID {
			if err := s.movedHome(tx, userID, before.HomeCommunityID, communityID); err != nil {
				return err
			}
			from := before.HomeCommunityID
			afterCommit(tx, func() { s.timeBank.HomeChanged(context.WithoutCancel(ctx), userID, from, &communityID) })
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.fresh(ctx, userID)
}

// movedHome moves a user's count (and volunteer count, when they are one)
// from their old home community to the new one, inside the transaction of
// the move.
func (s *UserService) movedHome(tx *gorm.DB, userID int64, from *int64, to int64) error {
	var n int64
	if err := tx.Model(&model.VolunteerProfile{}).Where("user_id = ?", userID).Count(&n).Error; err != nil {
		return err
	}
	if from != nil {
		if err := addCommunityStats(tx, *from, -1, -n); err != nil {
			return err
		}
	}
	return addCommunityStats(tx, to, 1, n)
}

// Residency codes (3xxxx with the mall, whose goods residency unlocks).
// They are never renumbered; api/envelope.go maps 30021 to 403.
const (
	CodeHomeChangeTooSoon = 30020 // the home community changed too recently
	CodeHomeNotVerified   = 30021 // the goods need a home confirmed by staff (403)
)

// homeChange returns the columns PUT /me/community writes for a user whose
// home was before (locked). A move to another community stamps home_set_at
// and clears the staff's confirmation; it returns 30020 when the previous
// move (not the first setting) is younger than user.home_change_min_interval.
func (s *UserService) homeChange(before *model.User, communityID int64, gridID *int64) (map[string]any, error) {
	updates := map[string]any{"home_community_id": communityID, "home_grid_id": gridID}
	if before.HomeCommunityID != nil && *before.HomeCommunityID == communityID {
		return updates, nil // a grid change within the home community
	}
	now := s.deps.Clock.Now()
	if wait := s.deps.Config.User.HomeChangeMinInterval; wait > 0 && before.HomeCommunityID != nil && before.HomeSetAt != nil {
		if next := before.HomeSetAt.Add(wait); now.Before(next) {
			e := Errorf(CodeHomeChangeTooSoon, "所在社区 %s 后才能再次更换", next.In(s.deps.Config.Location).Format("2006-01-02 15:04"))
			e.RetryAfter = next.Sub(now)
			return nil, e
		}
	}
	updates["home_set_at"] = now.UTC()
	updates["home_verified_at"] = nil
	updates["home_verified_by"] = nil
	return updates, nil
}

// VerifyHome lets staff of a user's home community confirm that the user
// lives there (homeVerified; needed for residentsOnly goods). communityID is
// the home the staff member confirms: when the user has moved meanwhile the
// confirmation is refused. Confirming one's own home is refused. It returns
// 10005 for an unknown user or community, 10004 unless the caller is staff
// of communityID (or for oneself) and 10006 when communityID is not the
// user's home.
func (s *UserService) VerifyHome(ctx context.Context, actorID, userID, communityID int64) (*UserSummary, error) {
	var out UserSummary
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		if _, err := s.authz.RequireStaff(ctx, tx, actorID, communityID); err != nil {
			return err
		}
		if actorID == userID {
			return forbidden("不能确认自己的居住社区，请由其他工作人员确认")
		}
		var u model.User
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).First(&u, userID).Error; err != nil {
			return notFoundOr(err, "用户")
		}
		if u.HomeCommunityID == nil || *u.HomeCommunityID != communityID {
			return conflict("该用户的所在社区不是此社区，无法确认")
		}
		now := s.deps.Clock.Now().UTC()
		if err := tx.Model(&model.User{}).Where("id = ?", userID).
			Updates(map[string]any{"home_verified_at": now, "home_verified_by": actorID}).Error; err != nil {
			return err
		}
		before := map[string]any{"homeVerifiedAt": u.HomeVerifiedAt, "homeVerifiedBy": u.HomeVerifiedBy}
		u.HomeVerifiedAt, u.HomeVerifiedBy = &now, &actorID
		out = userSummary(&u)
		return s.deps.audit(ctx, tx, auditEvent{Actor: actorID, Org: communityID, Action: AuditHomeVerify, ObjectKind: "user",
			ObjectID: userID, Before: before, After: map[string]any{"homeVerifiedAt": now, "homeVerifiedBy": actorID}})
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// BindPhone exchanges a getPhoneNumber code for the verified number and stores
// it. It returns 10001 for a code WeChat refuses, 10007 when WeChat
// rate-limits us and 10503 when WeChat is unreachable or not configured.
func (s *UserService) BindPhone(ctx context.Context, userID int64, code string) (*MeView, error) {
	if s.deps.WeChat == nil {
		return nil, unavailable("未配置微信，无法获取手机号", nil)
	}
	phone, err := s.deps.WeChat.PhoneNumber(ctx, code)
	if err != nil {
		e := wechatError(err, "手机号授权码无效或已使用，请重新授权")
		if e.Code == CodeUnauthenticated {
			e.Code = CodeInvalid // the caller is signed in; the code is what is wrong
		}
		return nil, e
	}
	if phone == "" {
		return nil, unavailable("微信未返回手机号，请稍后再试", errors.New("empty phone"))
	}
	db := s.deps.DB.WithContext(ctx)
	if err := db.Model(&model.User{}).Where("id = ?", userID).Update("phone", phone).Error; err != nil {
		return nil, err
	}
	s.callers.Changed(db, userID)
	return s.fresh(ctx, userID)
}

// UserSummary is what admins see of a user when searching: never the full
// phone or the real name. HomeVerified says staff of the home community
// confirmed the user lives there.
type UserSummary struct {
	ID              int64  `json:"id"`
	Nickname        string `json:"nickname"`
	Phone           string `json:"phone"`
	HomeCommunityID *int64 `json:"homeCommunityId"`
	HomeVerified    bool   `json:"homeVerified"`
}

func userSummary(u *model.User) UserSummary {
	return UserSummary{ID: u.ID, Nickname: u.Nickname, Phone: MaskPhone(u.Phone), HomeCommunityID: u.HomeCommunityID,
		HomeVerified: u.HomeCommunityID != nil && u.HomeVerifiedAt != nil}
}

// Search lists users whose nickname contains q, or whose id is q, for an
// admin picking someone to appoint: only users who live in, or hold a role
// in (staff or admin, an approved member report, a unit's liaison, a
// volunteer sign-up), the subtrees the caller administers. A bootstrap admin
// or an admin of a root org sees every user. It returns 10004 when the
// caller is no admin anywhere.
func (s *UserService) Search(ctx context.Context, actorID int64, q string, p Page) (List[UserSummary], error) {
	db := s.deps.DB.WithContext(ctx)
	paths, all, err := s.adminSubtrees(ctx, db, actorID)
	if err != nil {
		return List[UserSummary]{}, err
	}
	if !all && len(paths) == 0 {
		return List[UserSummary]{}, forbidden("仅管理员可查询用户")
	}
	query := db.Model(&model.User{}).Where("erased_at IS NULL")
	if !all {
		query = query.Where(inSubtrees(db, paths))
	}
	if q = strings.TrimSpace(q); q != "" {
		like := "%" + escapeLike(q) + "%"
		if id, err := strconv.ParseInt(q, 10, 64); err == nil {
			query = query.Where("id = ? OR nickname LIKE ? ESCAPE '!'", id, like)
		} else {
			query = query.Where("nickname LIKE ? ESCAPE '!'", like)
		}
	}
	users, total, err := findPage[model.User](query, "id", p)
	if err != nil {
		return List[UserSummary]{}, err
	}
	out := make([]UserSummary, 0, len(users))
	for i := range users {
		out = append(out, userSummary(&users[i]))
	}
	return NewList(out, total, p), nil
}

// adminSubtrees returns the paths of the orgs actorID administers, or all
// true for a bootstrap admin or an admin of a root org.
func (s *UserService) adminSubtrees(ctx context.Context, db *gorm.DB, actorID int64) ([]string, bool, error) {
	boot, err := s.authz.isBootstrapAdmin(ctx, db, actorID)
	if err != nil || boot {
		return nil, boot, err
	}
	var orgs []model.OrgUnit
	err = db.Model(&model.OrgUnit{}).
		Where("id IN (?)", db.Session(&gorm.Session{NewDB: true}).Model(&model.StaffRole{}).Select("org_id").
			Where("user_id = ? AND role = ?", actorID, model.RoleAdmin)).
		Find(&orgs).Error
	if err != nil {
		return nil, false, err
	}
	paths := make([]string, 0, len(orgs))
	for _, o := range orgs {
		if o.ParentID == nil {
			return nil, true, nil
		}
		if o.Path != "" {
			paths = append(paths, o.Path)
		}
	}
	return paths, false, nil
}

// inSubtrees is the condition "the user lives in, or holds a role in, an
// org under one of paths": home community, staff or admin role, approved
// member report, liaison of a unit there, or a sign-up for an activity there.
func inSubtrees(db *gorm.DB, paths []string) *gorm.DB {
	fresh := func() *gorm.DB { return db.Session(&gorm.Session{NewDB: true}) }
	orgs := func() *gorm.DB {
		conds := make([]string, len(paths))
		args := make([]any, len(paths))
		for i, p := range paths {
			conds[i], args[i] = "path LIKE ? ESCAPE '!'", escapeLike(p)+"%"
		}
		return fresh().Model(&model.OrgUnit{}).Select("id").Where(strings.Join(conds, " OR "), args...)
	}
	return fresh().Where("home_community_id IN (?)", orgs()).
		Or("id IN (?)", fresh().Model(&model.StaffRole{}).Select("user_id").Where("org_id IN (?)", orgs())).
		Or("id IN (?)", fresh().Model(&model.MemberReport{}).Select("user_id").
			Where("status = ? AND community_id IN (?)", model.ReviewApproved, orgs())).
		Or("id IN (?)", fresh().Model(&model.UnitLiaison{}).Select("unit_liaisons.user_id").
			Joins("JOIN units ON units.id = unit_liaisons.unit_id").Where("units.community_id IN (?)", orgs())).
		Or("id IN (?)", fresh().Model(&model.Attendance{}).Select("attendances.user_id").
			Joins("JOIN activities ON activities.id = attendances.activity_id").Where("activities.community_id IN (?)", orgs()))
}

// escapeLike escapes LIKE wildcards with '!' so user text matches literally;
// use it with ESCAPE '!' (the same spelling on MySQL and SQLite, unlike a
// backslash).
func escapeLike(s string) string {
	return strings.NewReplacer(`!`, `!!`, `%`, `!%`, `_`, `!_`).Replace(s)
}

// loadUser returns a user or 10005.
func loadUser(ctx context.Context, db *gorm.DB, id int64) (*model.User, error) {
	var u model.User
	if err := db.WithContext(ctx).First(&u, id).Error; err != nil {
		return nil, notFoundOr(err, "用户")
	}
	return &u, nil
}
