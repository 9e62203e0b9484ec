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
}

// Me returns the caller's profile with every role they hold. It returns 10005
// when the user no longer exists.
func (s *UserService) Me(ctx context.Context, userID int64) (*MeView, error) {
	c, err := s.callers.Get(ctx, userID)
	if err != nil {
		return nil, err
	}
	return c.Me(), nil
}

// fresh returns the caller's profile read from the database, for answers
// that show a change this request made.
func (s *UserService) fresh(ctx context.Context, userID int64) (*MeView, error) {
	c, err := s.callers.Fresh(ctx, userID)
	if err != nil {
		return nil, err
	}
	return c.Me(), nil
}

// ProfileUpdate holds the fields PUT /me may change; nil leaves a field alone.
type ProfileUpdate struct {
	Nickname  *string
	AvatarURL *string
}

// UpdateProfile changes nickname and avatar. It returns 10001 for a blank or
// over-long nickname or a non-https avatar URL.
func (s *UserService) UpdateProfile(ctx context.Context, userID int64, in ProfileUpdate) (*MeView, error) {
	updates := map[string]any{}
	if in.Nickname != nil {
		n := strings.TrimSpace(*in.Nickname)
		if !textFits(n, 1, 32) {
			return nil, invalid("昵称需为 1 到 32 个字符")
		}
		updates["nickname"] = n
	}
	if in.AvatarURL != nil {
		a := strings.TrimSpace(*in.AvatarURL)
		if len(a) > 512 || (a != "" && !strings.HasPrefix(a, "https://")) {
			return nil, invalid("头像地址需为 https 链接")
		}
		updates["avatar_url"] = a
	}
	if len(updates) > 0 {
		db := s.deps.DB.WithContext(ctx)
		if err := db.Model(&model.User{}).Where("id = ?", userID).Updates(updates).Error; err != nil {
			return nil, err
		}
		s.callers.Changed(db, userID)
	}
	return s.fresh(ctx, userID)
}

// SetCommunity sets the caller's home community and, optionally, a grid of
// it. It returns 10005 for an unknown org and 10001 when communityID is not a
// community or gridID is not a grid inside it.
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
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Select("id", "home_community_id").
			First(&before, userID).Error; err != nil {
			return notFoundOr(err, "用户")
		}
		err := tx.Model(&model.User{}).Where("id = ?", userID).
			Updates(map[string]any{"home_community_id": communityID, "home_grid_id": gridID}).Error
		if err != nil {
			return err
		}
		s.callers.Changed(tx, userID)
		if before.HomeCommunityID == nil || *before.HomeCommunityID != communityID {
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
// phone or the real name.
type UserSummary struct {
	ID              int64  `json:"id"`
	Nickname        string `json:"nickname"`
	Phone           string `json:"phone"`
	HomeCommunityID *int64 `json:"homeCommunityId"`
}

// Search lists users whose nickname contains q, or whose id is q, for an
// admin picking someone to appoint. It returns 10004 when the caller is no
// admin anywhere.
func (s *UserService) Search(ctx context.Context, actorID int64, q string, p Page) (List[UserSummary], error) {
	db := s.deps.DB.WithContext(ctx)
	roles, err := s.authz.StaffRoles(ctx, db, actorID)
	if err != nil {
		return List[UserSummary]{}, err
	}
	isAdmin := false
	for _, r := range roles {
		isAdmin = isAdmin || r.Role == string(model.RoleAdmin)
	}
	if !isAdmin {
		return List[UserSummary]{}, forbidden("仅管理员可查询用户")
	}
	query := db.Model(&model.User{})
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
	for _, u := range users {
		out = append(out, UserSummary{ID: u.ID, Nickname: u.Nickname, Phone: MaskPhone(u.Phone), HomeCommunityID: u.HomeCommunityID})
	}
	return NewList(out, total, p), nil
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
