package service

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"linli/internal/ledger"
	"linli/model"
)

// Domain codes of micro-wishes (2xxxx). They are never renumbered;
// docs/errors.md lists them with their HTTP status.
const (
	CodeWishAlreadyClaimed = 20001 // 409: someone else claimed it first
	CodeWishTooManyOpen    = 20002 // 409: the poster has wish.max_open_per_poster open wishes
	CodeWishTooManyClaims  = 20003 // 409: the claimer holds wish.max_active_claims claims
	CodeWishOwnWish        = 20004 // 403: a poster cannot claim their own wish
	CodeWishNotEligible    = 20005 // 403: only reported Party members and unit liaisons of the street claim
	CodeWishClaimOverdue   = 20006 // 409: the claim passed its deadline; it will be released
)

// Timeline actions and actor roles.
const (
	wishActCreate      = "create"
	wishActApprove     = "approve"
	wishActReject      = "reject"
	wishActClaim       = "claim"
	wishActRelease     = "release"
	wishActLapse       = "lapse"
	wishActFulfil      = "fulfil"
	wishActConfirm     = "confirm"
	wishActAutoConfirm = "auto_confirm"
	wishActCancel      = "cancel"
	wishActExpire      = "expire"

	roleSystem  = "system"
	rolePoster  = "poster"
	roleStaff   = "staff"
	roleClaimer = "claimer"
)

// WishService runs micro-wishes: posting, review, claims, fulfilment,
// confirmation, the timeout sweeps and the staff counts. Every transition is
// one conditional UPDATE on the wish's status, so two requests (or two
// instances, or a request and a sweep) never both make the same one.
type WishService struct {
	deps     Deps
	authz    *Authz
	timeBank *TimeBankService
	uploads  *UploadService
	reports  *ReportService
	content  *ContentService
	// callers and orgs answer the public feed without a query for the
	// caller or the org names.
	callers *CallerService
	orgs    *OrgTree
	notify  *NotificationService
	// beforeClaimUpdate, when set (by tests only), runs in Claim between
	// the checks on the loaded wish and the conditional UPDATE.
	beforeClaimUpdate func(ctx context.Context, tx *gorm.DB)
}

// OnBehalfOf names the resident a staff member posts for (代办).
type OnBehalfOf struct {
	Name  string
	Phone string
}

// WishInput is a new wish.
type WishInput struct {
	Title        string
	Content      string
	Category     string
	BudgetFen    int64
	Images       []int64
	ContactPhone string
	Address      string
	CommunityID  *int64
	OnBehalfOf   *OnBehalfOf
}

// WishContact is a wish's private contact details.
type WishContact struct {
	Name    string `json:"name"`
	Phone   string `json:"phone"`
	Address string `json:"address"`
}

// WishClaimerView names who claimed a wish: masked for the public, in full
// for the poster and staff.
type WishClaimerView struct {
	UserID   *int64 `json:"userId,omitempty"`
	Name     string `json:"name"`
	UnitID   *int64 `json:"unitId,omitempty"`
	UnitName string `json:"unitName,omitempty"`
}

// WishView is a wish as the API shows it. Contact, FulfilNote and
// FulfilImages are present only for the poster, the current claimer and
// staff; ReviewFlag and ProxyPosted only for staff. PosterName is masked
// (张**) for everyone else.
type WishView struct {
	ID            int64            `json:"id"`
	CommunityID   int64            `json:"communityId"`
	CommunityName string           `json:"communityName"`
	Title         string           `json:"title"`
	Content       string           `json:"content"`
	Category      string           `json:"category"`
	BudgetFen     int64            `json:"budgetFen"`
	Images        []UploadView     `json:"images"`
	Status        model.WishStatus `json:"status"`
	PosterName    string           `json:"posterName"`
	Mine          bool             `json:"mine"`
	ClaimedByMe   bool             `json:"claimedByMe"`
	Claimer       *WishClaimerView `json:"claimer,omitempty"`
	CreatedAt     time.Time        `json:"createdAt"`
	PublishedAt   *time.Time       `json:"publishedAt,omitempty"`
	ClaimedAt     *time.Time       `json:"claimedAt,omitempty"`
	ClaimDeadline *time.Time       `json:"claimDeadline,omitempty"`
	FulfilledAt   *time.Time       `json:"fulfilledAt,omitempty"`
	CompletedAt   *time.Time       `json:"completedAt,omitempty"`
	AutoConfirmed bool             `json:"autoConfirmed,omitempty"`
	Rating        *int             `json:"rating,omitempty"`
	Comment       string           `json:"comment,omitempty"`
	RejectReason  string           `json:"rejectReason,omitempty"`
	FulfilNote    string           `json:"fulfilNote,omitempty"`
	FulfilImages  []UploadView     `json:"fulfilImages,omitempty"`
	Contact       *WishContact     `json:"contact,omitempty"`
	ReviewFlag    string           `json:"reviewFlag,omitempty"`
	ProxyPosted   bool             `json:"proxyPosted,omitempty"`
}

// wishAccess is what the caller is to one wish.
type wishAccess struct {
	callerID              int64
	poster, creator       bool
	claimer, staff, proxy bool
}

// contact reports whether the caller sees contact details.
func (a wishAccess) contact() bool { return a.poster || a.creator || a.claimer || a.staff }

// actsAsPoster reports whether the caller may confirm or cancel: the poster,
// or staff of the community for a wish they (or a colleague) posted on a
// resident's behalf.
func (a wishAccess) actsAsPoster() bool { return a.poster || (a.proxy && (a.staff || a.creator)) }

func (a wishAccess) role() string {
	switch {
	case a.poster:
		return rolePoster
	case a.staff, a.creator:
		return roleStaff
	case a.claimer:
		return roleClaimer
	}
	return ""
}

// publicStatus reports whether wishes in state st are visible to everyone.
func publicStatus(st model.WishStatus) bool {
	switch st {
	case model.WishPublished, model.WishClaimed, model.WishFulfilled, model.WishCompleted, model.WishExpired:
		return true
	}
	return false
}

func (in *WishInput) normalize() {
	in.Title = strings.TrimSpace(in.Title)
	in.Content = strings.TrimSpace(in.Content)
	in.Category = strings.TrimSpace(in.Category)
	in.ContactPhone = strings.TrimSpace(in.ContactPhone)
	in.Address = strings.TrimSpace(in.Address)
	if in.OnBehalfOf != nil {
		in.OnBehalfOf.Name = strings.TrimSpace(in.OnBehalfOf.Name)
		in.OnBehalfOf.Phone = strings.TrimSpace(in.OnBehalfOf.Phone)
		if in.ContactPhone == "" {
			in.ContactPhone = in.OnBehalfOf.Phone
		}
	}
}

func (s *WishService) validate(in *WishInput) error {
	switch {
	case !textFits(in.Title, 1, 30):
		return invalid("标题需为 1 到 30 个字")
	case !textFits(in.Content, 1, 500):
		return invalid("内容需为 1 到 500 个字")
	case !slices.Contains(model.WishCategories(), in.Category):
		return invalid("类别需为 %s 之一", strings.Join(model.WishCategories(), "、"))
	case in.BudgetFen < 0 || in.BudgetFen > s.deps.Config.Wish.BudgetMaxFen:
		return invalid("预算需在 0 到 %d 分之间", s.deps.Config.Wish.BudgetMaxFen)
	case len(in.Images) > MaxImagesPerItem:
		return invalid("最多上传 %d 张图片", MaxImagesPerItem)
	case !validPhone(in.ContactPhone):
		return invalid("请填写正确的联系电话")
	case !textFits(in.Address, 1, 100):
		return invalid("地址需为 1 到 100 个字")
	}
	if b := in.OnBehalfOf; b != nil {
		if !textFits(b.Name, 1, 32) {
			return invalid("代办居民姓名需为 1 到 32 个字")
		}
		if !validPhone(b.Phone) {
			return invalid("请填写代办居民的正确电话")
		}
	}
	return nil
}

// displayName is the name a user goes by: the real name when known, else
// the nickname.
func displayName(u *model.User) string {
	if u.RealName != "" {
		return u.RealName
	}
	if u.Nickname != "" {
		return u.Nickname
	}
	return "居民"
}

// Create posts a wish for the caller, or, with OnBehalfOf, for a resident
// the caller (staff of the community) speaks for. The community defaults to
// the caller's home community. Title and content pass the content check: a
// "review" verdict or an unreachable checker stores the wish flagged for
// staff. The wish starts pending_review. It returns 10001 for bad input or
// images that do not exist, 10004 for someone else's image or a proxy post
// by non-staff, 10005 for an unknown community, 10008 for refused content
// and 20002 when the poster already has wish.max_open_per_poster open wishes.
func (s *WishService) Create(ctx context.Context, actorID int64, in WishInput) (*WishView, error) {
	in.normalize()
	if err := s.validate(&in); err != nil {
		return nil, err
	}
	db := s.deps.DB.WithContext(ctx)
	actor, err := loadUser(ctx, db, actorID)
	if err != nil {
		return nil, err
	}
	communityID := in.CommunityID
	if communityID == nil {
		communityID = actor.HomeCommunityID
	}
	if communityID == nil {
		return nil, invalid("请先设置所在社区或指定社区")
	}
	community, err := loadOrg(ctx, db, *communityID)
	if err != nil {
		return nil, err
	}
	if community.Level != model.LevelCommunity || community.ParentID == nil {
		return nil, invalid("请选择一个社区")
	}
	w := model.Wish{
		CommunityID: community.ID, StreetID: *community.ParentID, CommunityPath: community.Path,
		Title: in.Title, Content: in.Content, Category: in.Category, BudgetFen: in.BudgetFen,
		ContactPhone: in.ContactPhone, Address: in.Address, CreatedBy: actorID,
		Status: model.WishPendingReview,
	}
	if b := in.OnBehalfOf; b != nil {
		if _, err := s.authz.RequireStaff(ctx, db, actorID, community.ID); err != nil {
			return nil, forbidden("只有该社区的工作人员可以代居民发布心愿")
		}
		w.ProxyBy, w.ProxyPhone, w.PosterName = &actorID, b.Phone, b.Name
		// The resident's own account, when exactly one has this verified phone,
		// owns the wish: it is theirs in "my wishes" and they confirm it.
		var ids []int64
		if err := db.Model(&model.User{}).Where("phone = ?", b.Phone).Limit(2).Pluck("id", &ids).Error; err != nil {
			return nil, err
		}
		if len(ids) == 1 {
			w.PosterID = &ids[0]
		}
	} else {
		w.PosterID, w.PosterName = &actorID, displayName(actor)
	}
	images, err := s.uploads.ownImages(ctx, db, actorID, in.Images)
	if err != nil {
		return nil, err
	}
	w.Images = encodeIDs(images)
	if w.ReviewFlag, err = s.content.check(ctx, actor.OpenID, in.Title, in.Content); err != nil {
		return nil, err
	}
	err = s.deps.tx(ctx, func(tx *gorm.DB) error {
		// Lock the poster (or, for a proxy post without an account, the
		// community) first, so concurrent posts count each other's wishes.
		var openStatuses []model.WishStatus
		for _, st := range model.WishStatuses() {
			if st.Open() {
				openStatuses = append(openStatuses, st)
			}
		}
		open := tx.Model(&model.Wish{}).Where("status IN ?", openStatuses)
		if w.PosterID != nil {
			if err := lockRow(tx, &model.User{}, *w.PosterID); err != nil {
				return err
			}
			open = open.Where("poster_id = ?", *w.PosterID)
		} else {
			if err := lockRow(tx, &model.OrgUnit{}, community.ID); err != nil {
				return err
			}
			open = open.Where("poster_id IS NULL AND proxy_phone = ?", w.ProxyPhone)
		}
		var n int64
		if err := open.Count(&n).Error; err != nil {
			return err
		}
		if max := s.deps.Config.Wish.MaxOpenPerPoster; n >= int64(max) {
			return Errorf(CodeWishTooManyOpen, "每位居民最多同时有 %d 个进行中的心愿", max)
		}
		if err := tx.Create(&w).Error; err != nil {
			return err
		}
		if err := s.uploads.attach(ctx, tx, images, model.UploadWish, w.CommunityID); err != nil {
			return err
		}
		note := ""
		if w.ProxyBy != nil {
			note = "工作人员代居民发布"
		}
		role := rolePoster
		if w.ProxyBy != nil {
			role = roleStaff
		}
		return s.addEvent(ctx, tx, w.ID, &actorID, role, wishActCreate, note)
	})
	if err != nil {
		return nil, err
	}
	return s.view(ctx, db, &w, wishAccess{callerID: actorID, poster: w.PosterID != nil && *w.PosterID == actorID,
		creator: true, proxy: w.ProxyBy != nil, staff: w.ProxyBy != nil})
}

// lockRow takes a write lock on one row (a no-op on SQLite, whose
// transactions are serialised anyway). As the first statement of a MySQL
// transaction it also makes the later plain reads see everything committed
// before the lock was granted.
func lockRow(tx *gorm.DB, m any, id int64) error {
	var got []int64
	return tx.Model(m).Clauses(clause.Locking{Strength: "UPDATE"}).Where("id = ?", id).Pluck("id", &got).Error
}

// notifyWish tells each recipient (nil ones skipped) about event on wish w,
// inside tx.
func (s *WishService) notifyWish(tx *gorm.DB, w *model.Wish, event, note string, recipients ...*int64) error {
	var ns []Notice
	for _, r := range recipients {
		if r != nil {
			ns = append(ns, Notice{UserID: *r, Event: event, ObjectKind: "wish", ObjectID: w.ID, Subject: w.Title, Note: note})
		}
	}
	return s.notify.Notify(tx, ns...)
}

// ptrs returns pointers to the values of ids.
func ptrs(ids []int64) []*int64 {
	out := make([]*int64, len(ids))
	for i := range ids {
		out[i] = &ids[i]
	}
	return out
}

// addEvent appends a line to a wish's timeline.
func (s *WishService) addEvent(ctx context.Context, tx *gorm.DB, wishID int64, actorID *int64, role, action, note string) error {
	if !textFits(note, 0, 500) {
		note = string([]rune(note)[:500])
	}
	ev := model.WishEvent{WishID: wishID, ActorID: actorID, ActorRole: role, Action: action, Note: note, CreatedAt: s.deps.Clock.Now()}
	return appendLater(tx, func(db *gorm.DB) *gorm.DB { return db.Create(&ev) })
}

// loadWish returns a wish or 10005.
func loadWish(ctx context.Context, db *gorm.DB, id int64) (*model.Wish, error) {
	var w model.Wish
	if err := db.WithContext(ctx).First(&w, id).Error; err != nil {
		return nil, notFoundOr(err, "心愿")
	}
	return &w, nil
}

// access works out what the caller is to w.
func (s *WishService) access(ctx context.Context, db *gorm.DB, callerID int64, w *model.Wish) (wishAccess, error) {
	a := wishAccess{
		callerID: callerID,
		poster:   w.PosterID != nil && *w.PosterID == callerID,
		creator:  w.CreatedBy == callerID,
		claimer:  w.ClaimerID != nil && *w.ClaimerID == callerID,
		proxy:    w.ProxyBy != nil,
	}
	staff, err := s.authz.IsStaff(ctx, db, callerID, &model.OrgUnit{ID: w.CommunityID, Path: w.CommunityPath})
	a.staff = staff
	return a, err
}

// loadVisible returns the wish and the caller's access, or 10005 when the
// wish does not exist or the caller may not see it (pending, rejected and
// cancelled wishes are visible to their poster and staff only).
func (s *WishService) loadVisible(ctx context.Context, db *gorm.DB, callerID, id int64) (*model.Wish, wishAccess, error) {
	w, err := loadWish(ctx, db, id)
	if err != nil {
		return nil, wishAccess{}, err
	}
	a, err := s.access(ctx, db, callerID, w)
	if err != nil {
		return nil, a, err
	}
	if !publicStatus(w.Status) && !a.contact() {
		return nil, a, notFound("心愿")
	}
	return w, a, nil
}

// Get returns one wish: in full for its poster, its current claimer and
// staff of its community, masked (no phone, no address) for anyone else. It
// returns 10005 for an unknown wish or one the caller may not see.
func (s *WishService) Get(ctx context.Context, callerID, id int64) (*WishView, error) {
	db := s.deps.DB.WithContext(ctx)
	w, a, err := s.loadVisible(ctx, db, callerID, id)
	if err != nil {
		return nil, err
	}
	return s.view(ctx, db, w, a)
}

// view builds the view of one wish, with its claimer.
func (s *WishService) view(ctx context.Context, db *gorm.DB, w *model.Wish, a wishAccess) (*WishView, error) {
	vs, err := s.views(ctx, db, []model.Wish{*w}, func(*model.Wish) wishAccess { return a })
	if err != nil {
		return nil, err
	}
	if err := s.gateContacts(ctx, db, []model.Wish{*w}, vs, func(*model.Wish) wishAccess { return a }); err != nil {
		return nil, err
	}
	v := vs[0]
	if w.ClaimerID != nil {
		c := &WishClaimerView{UnitID: w.ClaimUnitID}
		u, err := loadUser(ctx, db, *w.ClaimerID)
		if err != nil {
			return nil, err
		}
		if a.contact() {
			c.UserID, c.Name = w.ClaimerID, displayName(u)
		} else {
			c.Name = MaskName(displayName(u))
		}
		if w.ClaimUnitID != nil {
			var unit model.Unit
			if err := db.Select("id", "name").Limit(1).Find(&unit, *w.ClaimUnitID).Error; err != nil {
				return nil, err
			}
			c.UnitName = unit.Name
		}
		v.Claimer = c
	}
	return &v, nil
}

// views builds the views of a page of wishes with one query for their
// images; community names come from the org tree.
func (s *WishService) views(ctx context.Context, db *gorm.DB, ws []model.Wish, accessOf func(*model.Wish) wishAccess) ([]WishView, error) {
	var imageIDs []int64
	communities := map[int64]string{}
	for i := range ws {
		imageIDs = append(imageIDs, decodeIDs(ws[i].Images)...)
		if accessOf(&ws[i]).contact() {
			imageIDs = append(imageIDs, decodeIDs(ws[i].FulfilImages)...)
		}
		communities[ws[i].CommunityID] = ""
	}
	urls, err := s.uploads.urls(ctx, db, imageIDs)
	if err != nil {
		return nil, err
	}
	if len(ws) > 0 {
		ids := make([]int64, 0, len(communities))
		for id := range communities {
			ids = append(ids, id)
		}
		names, err := s.orgs.Names(ctx, ids...)
		if err != nil {
			return nil, err
		}
		maps.Copy(communities, names)
	}
	loc := s.deps.Config.Location
	at := func(t *time.Time) *time.Time {
		if t == nil {
			return nil
		}
		x := t.In(loc)
		return &x
	}
	out := make([]WishView, 0, len(ws))
	for i := range ws {
		w := &ws[i]
		a := accessOf(w)
		v := WishView{
			ID: w.ID, CommunityID: w.CommunityID, CommunityName: communities[w.CommunityID],
			Title: w.Title, Content: w.Content, Category: w.Category, BudgetFen: w.BudgetFen,
			Images: imageViews(urls, decodeIDs(w.Images), a.poster || a.creator || a.staff), Status: w.Status,
			PosterName: MaskName(w.PosterName), Mine: a.poster, ClaimedByMe: a.claimer,
			CreatedAt: w.CreatedAt.In(loc), PublishedAt: at(w.PublishedAt), ClaimedAt: at(w.ClaimedAt),
			ClaimDeadline: at(w.ClaimDeadline), FulfilledAt: at(w.FulfilledAt), CompletedAt: at(w.CompletedAt),
			AutoConfirmed: w.AutoConfirmed, Rating: w.Rating, Comment: w.Comment,
		}
		if a.contact() {
			v.PosterName = w.PosterName
			v.Contact = &WishContact{Name: w.PosterName, Phone: w.ContactPhone, Address: w.Address}
			v.FulfilNote = w.FulfilNote
			v.FulfilImages = imageViews(urls, decodeIDs(w.FulfilImages), a.claimer || a.staff)
		}
		if a.poster || a.creator || a.staff {
			v.RejectReason = w.RejectReason
		}
		if a.staff {
			v.ReviewFlag = w.ReviewFlag
			v.ProxyPosted = w.ProxyBy != nil
		}
		out = append(out, v)
	}
	return out, nil
}

// WishFilter narrows GET /wishes.
type WishFilter struct {
	CommunityID *int64
	Status      string
	Category    string
}

// List returns wishes. Without a status it lists published wishes of the
// caller's street (that of their home community, else of the community they
// reported to), or of CommunityID, newest first, masked. Status claimed,
// fulfilled, completed or expired lists those, masked, the same way.
// Status pending_review, rejected or cancelled is the staff view of the
// communities the caller is staff of (or of CommunityID): the review queue
// of pending wishes is oldest first. It returns 10001 for an unknown status
// or category or a caller with no community, 10004 for a staff view asked by
// non-staff and 10005 for an unknown community.
func (s *WishService) List(ctx context.Context, callerID int64, f WishFilter, p Page) (List[WishView], error) {
	db := s.deps.DB.WithContext(ctx)
	status := model.WishStatus(f.Status)
	if status == "" {
		status = model.WishPublished
	}
	if !status.Valid() {
		return List[WishView]{}, invalid("状态需为 %s 之一", joinStatuses())
	}
	staffView := !publicStatus(status)
	// The public feed tolerates lag (a replica when configured); the staff
	// views and the caller checks are read from the primary.
	list := db
	if !staffView {
		list = s.deps.laggingRead(ctx)
	}
	q := list.Model(&model.Wish{}).Where("status = ?", status)
	if f.Category != "" {
		if !slices.Contains(model.WishCategories(), f.Category) {
			return List[WishView]{}, invalid("类别需为 %s 之一", strings.Join(model.WishCategories(), "、"))
		}
		q = q.Where("category = ?", f.Category)
	}
	switch {
	case staffView && f.CommunityID != nil:
		if _, err := s.authz.RequireStaff(ctx, db, callerID, *f.CommunityID); err != nil {
			return List[WishView]{}, err
		}
		q = q.Where("community_id = ?", *f.CommunityID)
	case staffView:
		paths, err := s.staffPaths(ctx, db, callerID)
		if err != nil {
			return List[WishView]{}, err
		}
		if len(paths) == 0 {
			return List[WishView]{}, forbidden("仅社区工作人员可查看待审核的心愿")
		}
		cond := db.Where("community_path LIKE ?", escapeLike(paths[0])+"%")
		for _, p := range paths[1:] {
			cond = cond.Or("community_path LIKE ?", escapeLike(p)+"%")
		}
		q = q.Where(cond)
	case f.CommunityID != nil:
		if _, err := s.orgs.Get(ctx, *f.CommunityID); err != nil {
			return List[WishView]{}, err
		}
		q = q.Where("community_id = ?", *f.CommunityID)
	default:
		caller, err := s.callers.Get(ctx, callerID)
		if err != nil {
			return List[WishView]{}, err
		}
		street, err := caller.Street()
		if err != nil {
			return List[WishView]{}, err
		}
		q = q.Where("street_id = ?", street)
	}
	if !staffView && p.ByCursor {
		return s.feed(ctx, list, q, callerID, p)
	}
	var total int64
	if err := q.Session(&gorm.Session{}).Count(&total).Error; err != nil {
		return List[WishView]{}, err
	}
	switch {
	case status == model.WishPendingReview:
		q = q.Order("created_at ASC").Order("id ASC")
	case staffView:
		q = q.Order("created_at DESC").Order("id DESC")
	default:
		q = q.Order("published_at DESC").Order("id DESC")
	}
	// The page's ids come from the list index alone; only those rows are
	// read, so a deep page does not read every row before it.
	var ids []int64
	if err := q.Offset(p.Offset()).Limit(p.PageSize).Pluck("id", &ids).Error; err != nil {
		return List[WishView]{}, err
	}
	ws, err := wishesByID(ctx, list, ids)
	if err != nil {
		return List[WishView]{}, err
	}
	var views []WishView
	if staffView {
		views, err = s.views(ctx, db, ws, func(w *model.Wish) wishAccess {
			return wishAccess{callerID: callerID, poster: w.PosterID != nil && *w.PosterID == callerID, staff: true}
		})
	} else {
		views, err = s.publicViews(ctx, list, ws, callerID)
	}
	if err != nil {
		return List[WishView]{}, err
	}
	return NewList(views, total, p), nil
}

// feed reads a page of the public list q by cursor, newest published first:
// one indexed query of the page's rows and one more, nothing counted. It
// returns 10001 for a cursor it did not make.
func (s *WishService) feed(ctx context.Context, db *gorm.DB, q *gorm.DB, callerID int64, p Page) (List[WishView], error) {
	if p.Cursor != "" {
		c, err := parseTimeCursor(p.Cursor)
		if err != nil {
			return List[WishView]{}, err
		}
		q = q.Where("(published_at < ? OR (published_at = ? AND id < ?))", c.At, c.At, c.ID)
	}
	ws, err := scanPublicWishes(q.Order("published_at DESC").Order("id DESC").Limit(p.PageSize + 1))
	if err != nil {
		return List[WishView]{}, err
	}
	views, err := s.publicViews(ctx, db, ws, callerID)
	if err != nil {
		return List[WishView]{}, err
	}
	return NewFeed(views, p, func(i int) string {
		var at time.Time
		if ws[i].PublishedAt != nil {
			at = *ws[i].PublishedAt
		}
		return timeCursor{At: at, ID: ws[i].ID}.String()
	}), nil
}

// scanPublicWishes runs q and reads the columns a public view shows, and
// no others, straight into the rows: the feed's page is the hottest read
// there is, and gorm's reflective scan of every column was most of its CPU.
// It returns the database's error, if any.
func scanPublicWishes(q *gorm.DB) ([]model.Wish, error) {
	rows, err := q.Select("id, community_id, title, content, category, budget_fen, images, poster_id, poster_name, " +
		"status, reject_reason, published_at, claimer_id, claimed_at, claim_deadline, fulfilled_at, fulfil_note, " +
		"fulfil_images, completed_at, auto_confirmed, rating, comment, created_at").Rows()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ws []model.Wish
	for rows.Next() {
		var w model.Wish
		if err := rows.Scan(&w.ID, &w.CommunityID, &w.Title, &w.Content, &w.Category, &w.BudgetFen, &w.Images,
			&w.PosterID, &w.PosterName, &w.Status, &w.RejectReason, &w.PublishedAt, &w.ClaimerID, &w.ClaimedAt,
			&w.ClaimDeadline, &w.FulfilledAt, &w.FulfilNote, &w.FulfilImages, &w.CompletedAt, &w.AutoConfirmed,
			&w.Rating, &w.Comment, &w.CreatedAt); err != nil {
			return nil, err
		}
		ws = append(ws, w)
	}
	return ws, rows.Err()
}

// publicViews returns the public views of ws: masked poster, no contact
// details, even the caller's own.
func (s *WishService) publicViews(ctx context.Context, db *gorm.DB, ws []model.Wish, callerID int64) ([]WishView, error) {
	views, err := s.views(ctx, db, ws, func(w *model.Wish) wishAccess {
		return wishAccess{callerID: callerID, poster: w.PosterID != nil && *w.PosterID == callerID}
	})
	if err != nil {
		return nil, err
	}
	for i := range views {
		views[i].Contact = nil
		views[i].PosterName = MaskName(ws[i].PosterName)
	}
	return views, nil
}

// wishesByID loads wishes in the order of ids.
func wishesByID(ctx context.Context, db *gorm.DB, ids []int64) ([]model.Wish, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var rows []model.Wish
	if err := db.WithContext(ctx).Where("id IN ?", ids).Find(&rows).Error; err != nil {
		return nil, err
	}
	pos := make(map[int64]int, len(ids))
	for i, id := range ids {
		pos[id] = i
	}
	sort.Slice(rows, func(i, j int) bool { return pos[rows[i].ID] < pos[rows[j].ID] })
	return rows, nil
}

func joinStatuses() string {
	var s []string
	for _, st := range model.WishStatuses() {
		s = append(s, string(st))
	}
	return strings.Join(s, "、")
}

// staffPaths returns the materialised paths of the orgs the caller is staff
// or admin of (every root for a bootstrap admin).
func (s *WishService) staffPaths(ctx context.Context, db *gorm.DB, callerID int64) ([]string, error) {
	roles, err := s.authz.StaffRoles(ctx, db, callerID)
	if err != nil || len(roles) == 0 {
		return nil, err
	}
	ids := make([]int64, 0, len(roles))
	for _, r := range roles {
		if r.Role == string(model.RoleStaff) || r.Role == string(model.RoleAdmin) {
			ids = append(ids, r.OrgID)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	var paths []string
	err = db.Model(&model.OrgUnit{}).Where("id IN ? AND path <> ''", ids).Order("path").Pluck("path", &paths).Error
	return paths, err
}

// Mine lists the wishes the caller posted (or that staff posted for them),
// newest first, with their contact details.
func (s *WishService) Mine(ctx context.Context, callerID int64, p Page) (List[WishView], error) {
	q := s.deps.DB.WithContext(ctx).Model(&model.Wish{}).Where("poster_id = ?", callerID)
	return s.ownList(ctx, q.Order("id DESC"), p, func(w *model.Wish) wishAccess {
		return wishAccess{callerID: callerID, poster: true, claimer: w.ClaimerID != nil && *w.ClaimerID == callerID}
	})
}

// Claimed lists the wishes the caller currently holds as claimer (claimed,
// fulfilled or completed), most recently claimed first, with the poster's
// contact details.
func (s *WishService) Claimed(ctx context.Context, callerID int64, p Page) (List[WishView], error) {
	q := s.deps.DB.WithContext(ctx).Model(&model.Wish{}).Where("claimer_id = ?", callerID)
	return s.ownList(ctx, q.Order("claimed_at DESC").Order("id DESC"), p, func(w *model.Wish) wishAccess {
		return wishAccess{callerID: callerID, claimer: true, poster: w.PosterID != nil && *w.PosterID == callerID}
	})
}

func (s *WishService) ownList(ctx context.Context, q *gorm.DB, p Page, accessOf func(*model.Wish) wishAccess) (List[WishView], error) {
	var total int64
	if err := q.Session(&gorm.Session{}).Count(&total).Error; err != nil {
		return List[WishView]{}, err
	}
	var ws []model.Wish
	if err := q.Offset(p.Offset()).Limit(p.PageSize).Find(&ws).Error; err != nil {
		return List[WishView]{}, err
	}
	views, err := s.views(ctx, s.deps.DB.WithContext(ctx), ws, accessOf)
	if err != nil {
		return List[WishView]{}, err
	}
	if err := s.gateContacts(ctx, s.deps.DB, ws, views, accessOf); err != nil {
		return List[WishView]{}, err
	}
	return NewList(views, total, p), nil
}

// transition is one conditional UPDATE of a wish's status: it changes the
// row only while the WHERE still holds and reports whether it did.
func transition(ctx context.Context, tx *gorm.DB, id int64, from []model.WishStatus, extra func(*gorm.DB) *gorm.DB, set map[string]any) (bool, error) {
	q := tx.Model(&model.Wish{}).Where("id = ? AND status IN ?", id, from)
	if extra != nil {
		q = extra(q)
	}
	res := q.Updates(set)
	return res.RowsAffected == 1, res.Error
}

func wrongState(w *model.Wish) *Error {
	return conflict(fmt.Sprintf("心愿当前状态为%s，不能进行此操作", statusName(w.Status)))
}

func statusName(st model.WishStatus) string {
	switch st {
	case model.WishPendingReview:
		return "待审核"
	case model.WishPublished:
		return "已发布"
	case model.WishClaimed:
		return "已认领"
	case model.WishFulfilled:
		return "已完成待确认"
	case model.WishCompleted:
		return "已完成"
	case model.WishRejected:
		return "未通过审核"
	case model.WishCancelled:
		return "已取消"
	case model.WishExpired:
		return "已过期"
	}
	return string(st)
}

// reload re-reads a wish after a failed conditional update with a locking
// read, which on MySQL sees the latest committed row rather than the
// transaction's snapshot.
func reload(ctx context.Context, tx *gorm.DB, id int64) (*model.Wish, error) {
	var w model.Wish
	if err := tx.Clauses(clause.Locking{Strength: "SHARE"}).First(&w, id).Error; err != nil {
		return nil, notFoundOr(err, "心愿")
	}
	return &w, nil
}

// refusal explains why a conditional transition of wish id changed no row:
// it returns the wrong-state error of the wish as it is now, or the error of
// reading it.
func refusal(ctx context.Context, tx *gorm.DB, id int64) error {
	w, err := reload(ctx, tx, id)
	if err != nil {
		return err
	}
	return wrongState(w)
}

// review runs approve and reject.
func (s *WishService) review(ctx context.Context, actorID, id int64, approve bool, reason string) (*WishView, error) {
	var w *model.Wish
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		var err error
		if w, err = loadWish(ctx, tx, id); err != nil {
			return err
		}
		if _, err := s.authz.RequireStaff(ctx, tx, actorID, w.CommunityID); err != nil {
			return err
		}
		now := s.deps.Clock.Now()
		set := map[string]any{"reviewed_by": actorID, "reviewed_at": now, "updated_at": now}
		action := wishActApprove
		if approve {
			set["status"], set["published_at"] = model.WishPublished, now
		} else {
			set["status"], set["reject_reason"], set["closed_at"] = model.WishRejected, reason, now
			action = wishActReject
		}
		ok, err := transition(ctx, tx, id, []model.WishStatus{model.WishPendingReview}, nil, set)
		if err != nil {
			return err
		}
		if !ok {
			return refusal(ctx, tx, id)
		}
		if w, err = reload(ctx, tx, id); err != nil {
			return err
		}
		if err := s.deps.audit(ctx, tx, reviewEvent(actorID, w.CommunityID, approve, "wish", id,
			model.WishPendingReview, w.Status, reason)); err != nil {
			return err
		}
		event := EventWishApproved
		if !approve {
			event = EventWishRejected
		}
		if err := s.notifyWish(tx, w, event, reason, w.PosterID); err != nil {
			return err
		}
		return s.addEvent(ctx, tx, id, &actorID, roleStaff, action, reason)
	})
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, actorID, w.ID)
}

// Approve publishes a pending wish. It returns 10004 unless the caller is
// staff of the wish's community, 10005 for an unknown wish and 10006 unless
// the wish is pending_review.
func (s *WishService) Approve(ctx context.Context, actorID, id int64) (*WishView, error) {
	return s.review(ctx, actorID, id, true, "")
}

// Reject refuses a pending wish with a reason shown to the poster. It
// returns 10001 without a reason, 10004 unless the caller is staff of the
// wish's community, 10005 for an unknown wish and 10006 unless the wish is
// pending_review.
func (s *WishService) Reject(ctx context.Context, actorID, id int64, reason string) (*WishView, error) {
	reason = strings.TrimSpace(reason)
	if !textFits(reason, 1, 200) {
		return nil, invalid("请填写 1 到 200 字的驳回理由")
	}
	return s.review(ctx, actorID, id, false, reason)
}

// claimFacts is a wish read for a claim, with what the claim decides on,
// all read by one statement (claimFacts.load).
type claimFacts struct {
	model.Wish
	// ActiveClaims counts the wishes the caller holds claimed; GivenBack
	// their claims released or lapsed within wish.release_window.
	ActiveClaims, GivenBack int64
	// MemberCommunity is the community of the caller's approved, active
	// member report (nil: none); LiaisonUnits how many approved units they
	// are liaison of.
	MemberCommunity *int64
	LiaisonUnits    int64
	// RevealedIn is the claim in which the caller was first shown the
	// wish's contact, nil when never.
	RevealedIn *int64
}

// read builds the read of wish id and the caller's facts into f on db.
func (f *claimFacts) read(db *gorm.DB, actorID, id int64, givenBackSince time.Time) *gorm.DB {
	return db.Model(&model.Wish{}).Select(`wishes.*,
		(SELECT COUNT(*) FROM wishes mine WHERE mine.claimer_id = ? AND mine.status = ?) AS active_claims,
		(SELECT COUNT(*) FROM wish_claims WHERE claimer_id = ? AND status IN ? AND ended_at >= ?) AS given_back,
		(SELECT community_id FROM member_reports WHERE active_user_id = ? AND status = ? LIMIT 1) AS member_community,
		(SELECT COUNT(*) FROM unit_liaisons JOIN units ON units.id = unit_liaisons.unit_id
			WHERE unit_liaisons.user_id = ? AND units.status = ?) AS liaison_units,
		(SELECT claim_id FROM wish_contact_reveals WHERE viewer_id = ? AND wish_id = wishes.id LIMIT 1) AS revealed_in`,
		actorID, model.WishClaimed,
		actorID, []model.WishClaimStatus{model.ClaimReleased, model.ClaimLapsed}, givenBackSince,
		actorID, model.ReviewApproved,
		actorID, model.ReviewApproved,
		actorID).
		Where("wishes.id = ?", id).Take(f)
}

// claimAs works out in whose name the caller claims a wish of street
// streetID, from the facts f read in tx: for unitID when given (they must be
// its liaison), else as an approved Party member reported to a community of
// the street, else for the one unit of the street they are liaison of. It
// returns the unit (nil for a member's own claim) and its name, 20005 when
// they may not claim and 10001 when they speak for several units and named
// none. Whether a community lies in the street comes from the org tree.
func (s *WishService) claimAs(ctx context.Context, tx *gorm.DB, actorID, streetID int64, unitID *int64, f *claimFacts) (*int64, string, error) {
	notEligible := Errorf(CodeWishNotEligible, "只有在本街道报到的党员或驻区单位联络员可以认领心愿")
	inStreet := func(communityID int64) (bool, error) {
		street, err := s.orgs.StreetOf(ctx, communityID)
		if ErrorCode(err) == CodeNotFound {
			return false, nil
		}
		return err == nil && street == streetID, err
	}
	// The units the caller is liaison of, read only when they are one.
	units := func() ([]model.Unit, error) {
		var us []model.Unit
		if f.LiaisonUnits == 0 {
			return nil, nil
		}
		err := tx.Model(&model.Unit{}).Select("units.id", "units.community_id", "units.name").
			Joins("JOIN unit_liaisons ON unit_liaisons.unit_id = units.id").
			Where("unit_liaisons.user_id = ? AND units.status = ?", actorID, model.ReviewApproved).
			Order("units.id").Find(&us).Error
		return us, err
	}
	if unitID != nil {
		us, err := units()
		if err != nil {
			return nil, "", err
		}
		i := slices.IndexFunc(us, func(u model.Unit) bool { return u.ID == *unitID })
		if i < 0 {
			return nil, "", Errorf(CodeWishNotEligible, "您不是该单位的联络员")
		}
		ok, err := inStreet(us[i].CommunityID)
		if err != nil {
			return nil, "", err
		}
		if !ok {
			return nil, "", notEligible
		}
		return unitID, us[i].Name, nil
	}
	if f.MemberCommunity != nil {
		ok, err := inStreet(*f.MemberCommunity)
		if err != nil || ok {
			return nil, "", err
		}
	}
	us, err := units()
	if err != nil {
		return nil, "", err
	}
	var eligible []model.Unit
	for _, u := range us {
		ok, err := inStreet(u.CommunityID)
		if err != nil {
			return nil, "", err
		}
		if ok {
			eligible = append(eligible, u)
		}
	}
	switch len(eligible) {
	case 0:
		return nil, "", notEligible
	case 1:
		return &eligible[0].ID, eligible[0].Name, nil
	}
	return nil, "", invalid("您是多个单位的联络员，请指定 unitId")
}

// Claim takes a published wish for the caller (or, with unitID, for a unit
// they are liaison of). Exactly one of any number of concurrent claimers
// wins: the claim is one conditional UPDATE ... WHERE status = 'published'.
// The claim must be fulfilled within wish.claim_deadline. It returns 20001
// when the wish is already claimed, 20003 when the caller holds
// wish.max_active_claims claims, 20007 when the caller gave back
// wish.release_limit claims within wish.release_window (see
// wish_contact.go), 20004 for the caller's own wish, 20005 when
// the caller is neither a Party member reported in the wish's street nor a
// liaison of a unit there, 10005 for an unknown wish and 10006 when the
// wish is not published. The answer is built from what the transaction
// read and wrote, with no second read of the wish.
func (s *WishService) Claim(ctx context.Context, actorID, id int64, unitID *int64) (*WishView, error) {
	var f claimFacts
	var claimer model.User
	var unitName string
	var showContact bool
	now := s.deps.Clock.Now()
	deadline := now.Add(s.deps.Config.Wish.ClaimDeadline)
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		// The claimer's row is locked first (and their name read for the
		// answer): their claims are counted one transaction at a time, and
		// on MySQL the counts read a snapshot taken after the lock was
		// granted. Both reads go in one round trip where pipelined; the
		// server still runs the second once the first has its lock.
		claimer, f = model.User{}, claimFacts{}
		err := readTogether(tx,
			oneRow{dest: &claimer, build: func(db *gorm.DB) *gorm.DB {
				return db.Model(&model.User{}).Clauses(clause.Locking{Strength: "UPDATE"}).
					Select("id", "nickname", "real_name").Where("id = ?", actorID).Find(&claimer)
			}},
			oneRow{dest: &f, required: true, build: func(db *gorm.DB) *gorm.DB {
				return f.read(db, actorID, id, now.Add(-s.deps.Config.Wish.ReleaseWindow))
			}})
		if err != nil {
			return notFoundOr(err, "心愿")
		}
		w := &f.Wish
		switch w.Status {
		case model.WishPublished:
		case model.WishClaimed, model.WishFulfilled, model.WishCompleted:
			return alreadyClaimed()
		default:
			return wrongState(w)
		}
		if (w.PosterID != nil && *w.PosterID == actorID) || w.CreatedBy == actorID {
			return Errorf(CodeWishOwnWish, "不能认领自己发布的心愿")
		}
		unit, name, err := s.claimAs(ctx, tx, actorID, w.StreetID, unitID, &f)
		if err != nil {
			return err
		}
		if max := s.deps.Config.Wish.MaxActiveClaims; f.ActiveClaims >= int64(max) {
			return Errorf(CodeWishTooManyClaims, "您最多同时认领 %d 个心愿，请先完成已认领的心愿", max)
		}
		if limit := s.deps.Config.Wish.ReleaseLimit; limit > 0 && f.GivenBack >= int64(limit) {
			return releaseLimitReached(limit)
		}
		if s.beforeClaimUpdate != nil {
			s.beforeClaimUpdate(ctx, tx)
		}
		ok, err := transition(ctx, tx, id, []model.WishStatus{model.WishPublished}, nil, map[string]any{
			"status": model.WishClaimed, "claimer_id": actorID, "claim_unit_id": unit,
			"claimed_at": now, "claim_deadline": deadline, "updated_at": now,
			"first_claimed_at": gorm.Expr("COALESCE(first_claimed_at, ?)", now),
		})
		if err != nil {
			return err
		}
		if !ok {
			if w, err = reload(ctx, tx, id); err != nil {
				return err
			}
			if w.Status == model.WishClaimed || w.Status == model.WishFulfilled || w.Status == model.WishCompleted {
				return alreadyClaimed()
			}
			return wrongState(w)
		}
		// The first claim ever, as this transaction read the wish, counts
		// in the dashboard's time-to-claim histogram (one upsert; see
		// docs/areas/oversight.md for the one race that could count a wish
		// twice until rebuild-stats).
		if w.FirstClaimedAt == nil && w.PublishedAt != nil {
			if err := s.deps.addWishDuration(tx, w.CommunityID, w.CreatedAt, durationToClaim, now.Sub(*w.PublishedAt)); err != nil {
				return err
			}
		}
		// The claim's row and what follows it only append (kept for the
		// end of the transaction, one round trip on MySQL): the UPDATE
		// above is the claim's one decision, and the wish's active claim
		// is unique.
		claim := model.WishClaim{WishID: id, ActiveWishID: &id, ClaimerID: actorID, UnitID: unit,
			Status: model.ClaimActive, ClaimedAt: now, Deadline: deadline}
		if err := appendLater(tx, func(db *gorm.DB) *gorm.DB { return db.Create(&claim) }); err != nil {
			return err
		}
		unitName = name
		w.Status, w.ClaimerID, w.ClaimUnitID = model.WishClaimed, &actorID, unit
		w.ClaimedAt, w.ClaimDeadline, w.UpdatedAt = &now, &deadline, now
		if w.FirstClaimedAt == nil {
			w.FirstClaimedAt = &now
		}
		note := ""
		if unit != nil {
			note = "代表单位认领：" + name
		}
		if err := s.notifyWish(tx, w, EventWishClaimed, "", w.PosterID); err != nil {
			return err
		}
		if err := s.addEvent(ctx, tx, id, &actorID, roleClaimer, wishActClaim, note); err != nil {
			return err
		}
		// The one-claim rule of contact details (wish_contact.go): shown in
		// this claim unless an earlier claim of the caller was shown it.
		// Staff see it anyway and record nothing.
		caller, err := s.callers.Get(ctx, actorID)
		if err != nil {
			return err
		}
		staff := caller.IsStaffOf(&model.OrgUnit{ID: w.CommunityID, Path: w.CommunityPath})
		showContact = staff || f.RevealedIn == nil
		if staff || f.RevealedIn != nil {
			return nil
		}
		// The reveal names the claim by its row, found by the wish's active
		// claim. No other reveal of the caller for this wish can exist:
		// Claim writes one only when it read none under the caller's lock,
		// and the claimer's reads (gateContacts) write one only once the
		// claim has committed.
		return appendLater(tx, func(db *gorm.DB) *gorm.DB {
			return db.Exec(`INSERT INTO wish_contact_reveals (wish_id, viewer_id, claim_id, created_at)
				VALUES (?, ?, (SELECT id FROM wish_claims WHERE active_wish_id = ?), ?)`, id, actorID, id, now)
		})
	})
	if err != nil {
		return nil, err
	}
	caller, err := s.callers.Get(ctx, actorID)
	if err != nil {
		return nil, err
	}
	a := wishAccess{callerID: actorID, claimer: true, proxy: f.ProxyBy != nil,
		staff: caller.IsStaffOf(&model.OrgUnit{ID: f.CommunityID, Path: f.CommunityPath})}
	vs, err := s.views(ctx, s.deps.DB.WithContext(ctx), []model.Wish{f.Wish}, func(*model.Wish) wishAccess { return a })
	if err != nil {
		return nil, err
	}
	v := vs[0]
	if !showContact {
		v.Contact = nil
	}
	v.Claimer = &WishClaimerView{UserID: &actorID, Name: displayName(&claimer), UnitID: f.ClaimUnitID, UnitName: unitName}
	return &v, nil
}

func alreadyClaimed() *Error {
	return Errorf(CodeWishAlreadyClaimed, "手慢了，该心愿已被认领")
}

// claimerAction loads a wish for an action of its claimer: 10006 when it has
// no claimer, 10004 when the caller is not the claimer.
func claimerAction(ctx context.Context, tx *gorm.DB, actorID, id int64) (*model.Wish, error) {
	w, err := loadWish(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	if w.ClaimerID == nil {
		return nil, wrongState(w)
	}
	if *w.ClaimerID != actorID {
		return nil, forbidden("只有认领人可以进行此操作")
	}
	return w, nil
}

// endClaim moves the wish's active claim to status.
func endClaim(ctx context.Context, tx *gorm.DB, wishID int64, status model.WishClaimStatus, now time.Time) error {
	return tx.Model(&model.WishClaim{}).Where("active_wish_id = ?", wishID).
		Updates(map[string]any{"status": status, "active_wish_id": nil, "ended_at": now}).Error
}

// unclaim are the columns a release or a lapse resets.
func unclaim(now time.Time) map[string]any {
	return map[string]any{"status": model.WishPublished, "claimer_id": nil, "claim_unit_id": nil,
		"claimed_at": nil, "claim_deadline": nil, "updated_at": now}
}

// Release gives a claimed wish back (it is published again). It returns
// 10004 unless the caller is the claimer, 10005 for an unknown wish and
// 10006 unless the wish is claimed (a fulfilled wish cannot be released).
func (s *WishService) Release(ctx context.Context, actorID, id int64, reason string) (*WishView, error) {
	reason = strings.TrimSpace(reason)
	if !textFits(reason, 0, 200) {
		return nil, invalid("原因不能超过 200 字")
	}
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		w, err := claimerAction(ctx, tx, actorID, id)
		if err != nil {
			return err
		}
		now := s.deps.Clock.Now()
		ok, err := transition(ctx, tx, id, []model.WishStatus{model.WishClaimed}, func(q *gorm.DB) *gorm.DB {
			return q.Where("claimer_id = ?", actorID)
		}, unclaim(now))
		if err != nil {
			return err
		}
		if !ok {
			return refusal(ctx, tx, id)
		}
		if err := endClaim(ctx, tx, id, model.ClaimReleased, now); err != nil {
			return err
		}
		if err := s.notifyWish(tx, w, EventWishReleased, reason, w.PosterID); err != nil {
			return err
		}
		return s.addEvent(ctx, tx, id, &actorID, roleClaimer, wishActRelease, reason)
	})
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, actorID, id)
}

// Fulfil marks a claimed wish done, with a note and photos (the caller's
// uploads), for the poster to confirm. It returns 10001 for a missing note
// or bad images, 10004 unless the caller is the claimer (or for someone
// else's image), 10005 for an unknown wish, 10006 unless the wish is claimed,
// 20006 when the claim has passed its deadline and 10008 for a risky note
// (nothing changes; the note passes the content check).
func (s *WishService) Fulfil(ctx context.Context, actorID, id int64, note string, images []int64) (*WishView, error) {
	note = strings.TrimSpace(note)
	if !textFits(note, 1, 500) {
		return nil, invalid("请填写 1 到 500 字的完成说明")
	}
	flagged, err := s.content.checkUserText(ctx, s.deps.DB, actorID, map[string]string{"fulfil_note": note})
	if err != nil {
		return nil, err
	}
	err = s.deps.tx(ctx, func(tx *gorm.DB) error {
		w, err := claimerAction(ctx, tx, actorID, id)
		if err != nil {
			return err
		}
		imgs, err := s.uploads.ownImages(ctx, tx, actorID, images)
		if err != nil {
			return err
		}
		if err := s.uploads.attach(ctx, tx, imgs, model.UploadFulfil, w.CommunityID); err != nil {
			return err
		}
		now := s.deps.Clock.Now()
		ok, err := transition(ctx, tx, id, []model.WishStatus{model.WishClaimed}, func(q *gorm.DB) *gorm.DB {
			return q.Where("claimer_id = ? AND claim_deadline >= ?", actorID, now)
		}, map[string]any{"status": model.WishFulfilled, "fulfilled_at": now, "fulfil_note": note,
			"fulfil_images": encodeIDs(imgs), "updated_at": now})
		if err != nil {
			return err
		}
		if !ok {
			w, err := reload(ctx, tx, id)
			if err != nil {
				return err
			}
			if w.Status == model.WishClaimed && w.ClaimerID != nil && *w.ClaimerID == actorID {
				return Errorf(CodeWishClaimOverdue, "认领已超过期限，无法标记完成")
			}
			return wrongState(w)
		}
		if err := tx.Model(&model.WishClaim{}).Where("active_wish_id = ?", id).
			Updates(map[string]any{"status": model.ClaimFulfilled, "active_wish_id": nil}).Error; err != nil {
			return err
		}
		if err := s.notifyWish(tx, w, EventWishFulfilled, "", w.PosterID); err != nil {
			return err
		}
		if err := s.content.flagTexts(tx, flagged, "wish", id, actorID, w.CommunityID); err != nil {
			return err
		}
		return s.addEvent(ctx, tx, id, &actorID, roleClaimer, wishActFulfil, note)
	})
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, actorID, id)
}

// posterAction loads a wish for an action of its poster: 10004 unless the
// caller is the poster (or staff of the community, for a wish posted on a
// resident's behalf).
func (s *WishService) posterAction(ctx context.Context, tx *gorm.DB, actorID, id int64) (*model.Wish, wishAccess, error) {
	w, err := loadWish(ctx, tx, id)
	if err != nil {
		return nil, wishAccess{}, err
	}
	a, err := s.access(ctx, tx, actorID, w)
	if err != nil {
		return nil, a, err
	}
	if !a.actsAsPoster() {
		return nil, a, forbidden("只有发布人可以进行此操作")
	}
	return w, a, nil
}

// Confirm completes a fulfilled wish with a rating of 1 to 5 and an
// optional comment; the claimer is credited wish.completion_points and
// gets an approved practical_deed service record, in the same transaction.
// It returns 10001 for a bad rating or comment, 10004 unless the caller is
// the poster, 30012 when staff confirm (代办) a wish they claimed
// themselves, 10005 for an unknown wish, 10006 unless the wish is
// fulfilled (e.g. when the automatic confirmation came first) and 10008 for
// a risky comment (nothing changes; the comment passes the content check).
func (s *WishService) Confirm(ctx context.Context, actorID, id int64, rating int, comment string) (*WishView, error) {
	comment = strings.TrimSpace(comment)
	if rating < 1 || rating > 5 {
		return nil, invalid("评分需为 1 到 5")
	}
	if !textFits(comment, 0, 200) {
		return nil, invalid("评价不能超过 200 字")
	}
	flagged, err := s.content.checkUserText(ctx, s.deps.DB, actorID, map[string]string{"comment": comment})
	if err != nil {
		return nil, err
	}
	err = s.deps.tx(ctx, func(tx *gorm.DB) error {
		w0, a, err := s.posterAction(ctx, tx, actorID, id)
		if err != nil {
			return err
		}
		if w0.ClaimerID != nil && *w0.ClaimerID == actorID {
			return selfAction("确认自己认领的心愿")
		}
		now := s.deps.Clock.Now()
		ok, err := transition(ctx, tx, id, []model.WishStatus{model.WishFulfilled}, nil, map[string]any{
			"status": model.WishCompleted, "completed_at": now, "rating": rating, "comment": comment,
			"closed_at": now, "updated_at": now,
		})
		if err != nil {
			return err
		}
		if !ok {
			return refusal(ctx, tx, id)
		}
		// The row is ours now; read it again in case the snapshot predates
		// the fulfilment.
		w, err := reload(ctx, tx, id)
		if err != nil {
			return err
		}
		if w.ClaimerID != nil && *w.ClaimerID == actorID {
			return selfAction("确认自己认领的心愿")
		}
		note := fmt.Sprintf("评分 %d 星", rating)
		if comment != "" {
			note += "：" + comment
		}
		if err := s.addEvent(ctx, tx, id, &actorID, a.role(), wishActConfirm, note); err != nil {
			return err
		}
		if err := s.content.flagTexts(tx, flagged, "wish", id, actorID, w.CommunityID); err != nil {
			return err
		}
		if err := s.notifyWish(tx, w, EventWishCompleted, "", w.ClaimerID); err != nil {
			return err
		}
		return s.complete(ctx, tx, w, now)
	})
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, actorID, id)
}

// complete pays a completed wish's claimer inside tx: the points (once per
// wish, by its ledger source) and the approved practical_deed record (once,
// by its source key). w is the wish as it was before completion.
func (s *WishService) complete(ctx context.Context, tx *gorm.DB, w *model.Wish, now time.Time) error {
	if w.ClaimerID == nil {
		return fmt.Errorf("complete wish %d: no claimer", w.ID)
	}
	if w.ClaimedAt != nil { // the dashboard's time-to-complete histogram
		done := now
		if w.CompletedAt != nil {
			done = *w.CompletedAt
		}
		if err := s.deps.addWishDuration(tx, w.CommunityID, w.CreatedAt, durationToComplete, done.Sub(*w.ClaimedAt)); err != nil {
			return err
		}
	}
	if err := tx.Model(&model.WishClaim{}).
		Where("wish_id = ? AND claimer_id = ? AND status = ?", w.ID, *w.ClaimerID, model.ClaimFulfilled).
		Updates(map[string]any{"status": model.ClaimCompleted, "ended_at": now}).Error; err != nil {
		return err
	}
	if pts := s.deps.Config.Wish.CompletionPoints; pts > 0 {
		_, err := s.timeBank.Credit(ctx, tx, ledger.Credit{
			UserID: *w.ClaimerID, CommunityID: w.CommunityID, Currency: model.CurrencyPoints, Amount: pts,
			Source: ledger.Source{Kind: "wish", ID: strconv.FormatInt(w.ID, 10)},
			Memo:   "完成微心愿：" + w.Title,
		})
		if err != nil {
			return err
		}
	}
	occurred := now
	if w.FulfilledAt != nil {
		occurred = *w.FulfilledAt
	}
	_, err := s.reports.addApprovedRecord(ctx, tx, ApprovedRecord{
		UserID: *w.ClaimerID, CommunityID: w.CommunityID, Kind: model.ServicePracticalDeed,
		OccurredAt: occurred, Note: "微心愿：" + w.Title, SourceKey: "wish:" + strconv.FormatInt(w.ID, 10),
	})
	return err
}

// Cancel withdraws a wish that is pending review or published. It returns
// 10004 unless the caller is the poster, 10005 for an unknown wish and 10006
// once the wish is claimed or closed.
func (s *WishService) Cancel(ctx context.Context, actorID, id int64, reason string) (*WishView, error) {
	reason = strings.TrimSpace(reason)
	if !textFits(reason, 0, 200) {
		return nil, invalid("原因不能超过 200 字")
	}
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		_, a, err := s.posterAction(ctx, tx, actorID, id)
		if err != nil {
			return err
		}
		now := s.deps.Clock.Now()
		ok, err := transition(ctx, tx, id, []model.WishStatus{model.WishPendingReview, model.WishPublished}, nil,
			map[string]any{"status": model.WishCancelled, "closed_at": now, "updated_at": now})
		if err != nil {
			return err
		}
		if !ok {
			return refusal(ctx, tx, id)
		}
		return s.addEvent(ctx, tx, id, &actorID, a.role(), wishActCancel, reason)
	})
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, actorID, id)
}

// WishEventView is one line of a wish's timeline.
type WishEventView struct {
	ID        int64     `json:"id"`
	Action    string    `json:"action"`
	ActorID   *int64    `json:"actorId,omitempty"`
	ActorRole string    `json:"actorRole"`
	Note      string    `json:"note"`
	At        time.Time `json:"at"`
}

// Timeline returns every transition of a wish, oldest first, to its poster,
// its current claimer and staff of its community. It returns 10004 for
// anyone else and 10005 for an unknown wish (or one they may not see).
func (s *WishService) Timeline(ctx context.Context, callerID, id int64) ([]WishEventView, error) {
	db := s.deps.DB.WithContext(ctx)
	_, a, err := s.loadVisible(ctx, db, callerID, id)
	if err != nil {
		return nil, err
	}
	if !a.contact() {
		return nil, forbidden("只有发布人、认领人和社区工作人员可以查看心愿进度")
	}
	var evs []model.WishEvent
	if err := db.Where("wish_id = ?", id).Order("id").Find(&evs).Error; err != nil {
		return nil, err
	}
	out := make([]WishEventView, 0, len(evs))
	for _, e := range evs {
		out = append(out, WishEventView{ID: e.ID, Action: e.Action, ActorID: e.ActorID, ActorRole: e.ActorRole,
			Note: e.Note, At: e.CreatedAt.In(s.deps.Config.Location)})
	}
	return out, nil
}

// SweepResult counts what one sweep changed.
type SweepResult struct {
	Lapsed        int `json:"lapsed"`
	AutoConfirmed int `json:"autoConfirmed"`
	Expired       int `json:"expired"`
}

// sweepBatch is how many due wishes a sweep reads at a time.
const sweepBatch = 200

// Sweep makes the time-driven transitions that are due: claims past their
// deadline are released (and counted as a lapse of the claimer), fulfilled
// wishes unconfirmed after wish.auto_confirm_after are completed without a
// rating (paying the claimer), and, when wish.expire_after is set, wishes
// published longer than that without a claim expire. Each transition is its
// own transaction and a conditional UPDATE, so sweeps running at the same
// time on several instances (and requests racing them) make each one once.
func (s *WishService) Sweep(ctx context.Context) (SweepResult, error) {
	var res SweepResult
	now := s.deps.Clock.Now()
	cfg := s.deps.Config.Wish
	var err error
	if res.Lapsed, err = s.sweep(ctx, "claim_deadline", "status = ? AND claim_deadline < ?",
		[]any{model.WishClaimed, now}, s.lapse); err != nil {
		return res, err
	}
	cutoff := now.Add(-cfg.AutoConfirmAfter)
	if res.AutoConfirmed, err = s.sweep(ctx, "fulfilled_at", "status = ? AND fulfilled_at < ?",
		[]any{model.WishFulfilled, cutoff},
		func(ctx context.Context, id int64) (bool, error) { return s.autoConfirm(ctx, id, cutoff) }); err != nil {
		return res, err
	}
	if cfg.ExpireAfter > 0 {
		cutoff := now.Add(-cfg.ExpireAfter)
		// created_at ≤ published_at, so the created_at bound only lets the
		// (status, created_at) index find the candidates.
		if res.Expired, err = s.sweep(ctx, "created_at", "status = ? AND created_at < ? AND published_at < ?",
			[]any{model.WishPublished, cutoff, cutoff},
			func(ctx context.Context, id int64) (bool, error) { return s.expire(ctx, id, cutoff) }); err != nil {
			return res, err
		}
	}
	return res, nil
}

// sweep applies one transition to the wishes matching where (served by an
// index on status and orderCol), a batch at a time, and counts the ones
// this call changed. A changed wish leaves the set, so each batch reads the
// next due ones; a batch in which nothing changed (another instance holds
// those wishes) ends the sweep.
func (s *WishService) sweep(ctx context.Context, orderCol, where string, args []any, apply func(context.Context, int64) (bool, error)) (int, error) {
	done := 0
	for {
		var ids []int64
		err := s.deps.DB.WithContext(ctx).Model(&model.Wish{}).Where(where, args...).
			Order(orderCol).Order("id").Limit(sweepBatch).Pluck("id", &ids).Error
		if err != nil {
			return done, err
		}
		changed := 0
		for _, id := range ids {
			ok, err := apply(ctx, id)
			if err != nil {
				return done, err
			}
			if ok {
				changed++
			}
		}
		done += changed
		if len(ids) < sweepBatch || changed == 0 {
			return done, nil
		}
	}
}

// lapse releases one overdue claim; it reports whether this call did.
func (s *WishService) lapse(ctx context.Context, id int64) (bool, error) {
	changed := false
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		now := s.deps.Clock.Now()
		ok, err := transition(ctx, tx, id, []model.WishStatus{model.WishClaimed}, func(q *gorm.DB) *gorm.DB {
			return q.Where("claim_deadline < ?", now)
		}, unclaim(now))
		if err != nil || !ok {
			changed = false
			return err
		}
		changed = true
		var claimers []int64
		if err := tx.Model(&model.WishClaim{}).Where("active_wish_id = ?", id).Pluck("claimer_id", &claimers).Error; err != nil {
			return err
		}
		if err := endClaim(ctx, tx, id, model.ClaimLapsed, now); err != nil {
			return err
		}
		w, err := reload(ctx, tx, id)
		if err != nil {
			return err
		}
		const lapsed = "认领超过期限未完成，已自动释放"
		recipients := append([]*int64{w.PosterID}, ptrs(claimers)...)
		if err := s.notifyWish(tx, w, EventWishReleased, lapsed, recipients...); err != nil {
			return err
		}
		return s.addEvent(ctx, tx, id, nil, roleSystem, wishActLapse, "认领超过期限未完成，已自动释放")
	})
	return changed, err
}

// autoConfirm completes one fulfilled wish unconfirmed since before cutoff.
func (s *WishService) autoConfirm(ctx context.Context, id int64, cutoff time.Time) (bool, error) {
	changed := false
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		now := s.deps.Clock.Now()
		ok, err := transition(ctx, tx, id, []model.WishStatus{model.WishFulfilled}, func(q *gorm.DB) *gorm.DB {
			return q.Where("fulfilled_at < ?", cutoff)
		}, map[string]any{"status": model.WishCompleted, "completed_at": now, "auto_confirmed": true,
			"closed_at": now, "updated_at": now})
		if err != nil || !ok {
			changed = false
			return err
		}
		changed = true
		w, err := reload(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := s.addEvent(ctx, tx, id, nil, roleSystem, wishActAutoConfirm, "发布人未在期限内确认，系统自动确认完成"); err != nil {
			return err
		}
		if err := s.notifyWish(tx, w, EventWishCompleted, "系统自动确认", w.PosterID, w.ClaimerID); err != nil {
			return err
		}
		return s.complete(ctx, tx, w, now)
	})
	return changed, err
}

// expire closes one wish published since before cutoff and never claimed.
func (s *WishService) expire(ctx context.Context, id int64, cutoff time.Time) (bool, error) {
	changed := false
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		now := s.deps.Clock.Now()
		ok, err := transition(ctx, tx, id, []model.WishStatus{model.WishPublished}, func(q *gorm.DB) *gorm.DB {
			return q.Where("published_at < ?", cutoff)
		}, map[string]any{"status": model.WishExpired, "closed_at": now, "updated_at": now})
		if err != nil || !ok {
			changed = false
			return err
		}
		changed = true
		return s.addEvent(ctx, tx, id, nil, roleSystem, wishActExpire, "长期无人认领，已过期")
	})
	return changed, err
}

// WishCommunityStats are one community's wish counts.
type WishCommunityStats struct {
	CommunityID int64            `json:"communityId"`
	Name        string           `json:"name"`
	Total       int64            `json:"total"`
	ByStatus    map[string]int64 `json:"byStatus"`
	// MedianHoursToClaim is the median time from publication to the first
	// claim; MedianHoursToComplete from the (last) claim to completion. Nil
	// when no wish has got that far.
	MedianHoursToClaim    *float64 `json:"medianHoursToClaim"`
	MedianHoursToComplete *float64 `json:"medianHoursToComplete"`
	Lapses                int64    `json:"lapses"`
}

// WishStats are the counts of every community beneath an org unit.
type WishStats struct {
	OrgID       int64                `json:"orgId"`
	From        *time.Time           `json:"from"`
	To          *time.Time           `json:"to"`
	Communities []WishCommunityStats `json:"communities"`
}

// Stats counts, for every community beneath orgID, its wishes by status, the
// median hours from publication to claim and from claim to completion, and
// the lapsed claims. from and to (optional) limit the wishes to those posted
// in [from, to). It returns 10004 unless the caller is staff of orgID or
// above and 10005 for an unknown org.
func (s *WishService) Stats(ctx context.Context, actorID, orgID int64, from, to *time.Time) (*WishStats, error) {
	db := s.deps.DB.WithContext(ctx)
	org, err := s.authz.RequireStaff(ctx, db, actorID, orgID)
	if err != nil {
		return nil, err
	}
	var communities []model.OrgUnit
	q := db.Where("path LIKE ? AND level = ?", escapeLike(org.Path)+"%", model.LevelCommunity).Order("id")
	if err := q.Find(&communities).Error; err != nil {
		return nil, err
	}
	out := &WishStats{OrgID: orgID, From: from, To: to, Communities: []WishCommunityStats{}}
	if len(communities) == 0 {
		return out, nil
	}
	ids := make([]int64, 0, len(communities))
	byID := map[int64]*WishCommunityStats{}
	for _, c := range communities {
		ids = append(ids, c.ID)
	}
	out.Communities = make([]WishCommunityStats, len(communities))
	for i, c := range communities {
		out.Communities[i] = WishCommunityStats{CommunityID: c.ID, Name: c.Name, ByStatus: map[string]int64{}}
		for _, st := range model.WishStatuses() {
			out.Communities[i].ByStatus[string(st)] = 0
		}
		byID[c.ID] = &out.Communities[i]
	}
	scope := func() *gorm.DB {
		q := db.Model(&model.Wish{}).Where("wishes.community_id IN ?", ids)
		if from != nil {
			q = q.Where("wishes.created_at >= ?", *from)
		}
		if to != nil {
			q = q.Where("wishes.created_at < ?", *to)
		}
		return q
	}
	var counts []struct {
		CommunityID int64
		Status      string
		N           int64
	}
	if err := scope().Select("community_id, status, COUNT(*) AS n").Group("community_id, status").Scan(&counts).Error; err != nil {
		return nil, err
	}
	for _, c := range counts {
		cs := byID[c.CommunityID]
		cs.ByStatus[c.Status] += c.N
		cs.Total += c.N
	}
	var times []struct {
		CommunityID    int64
		PublishedAt    *time.Time
		FirstClaimedAt *time.Time
		ClaimedAt      *time.Time
		CompletedAt    *time.Time
	}
	if err := scope().Where("first_claimed_at IS NOT NULL").
		Select("community_id, published_at, first_claimed_at, claimed_at, completed_at").Scan(&times).Error; err != nil {
		return nil, err
	}
	toClaim := map[int64][]float64{}
	toComplete := map[int64][]float64{}
	for _, t := range times {
		if t.PublishedAt != nil && t.FirstClaimedAt != nil {
			toClaim[t.CommunityID] = append(toClaim[t.CommunityID], t.FirstClaimedAt.Sub(*t.PublishedAt).Hours())
		}
		if t.ClaimedAt != nil && t.CompletedAt != nil {
			toComplete[t.CommunityID] = append(toComplete[t.CommunityID], t.CompletedAt.Sub(*t.ClaimedAt).Hours())
		}
	}
	var lapses []struct {
		CommunityID int64
		N           int64
	}
	if err := scope().Joins("JOIN wish_claims ON wish_claims.wish_id = wishes.id AND wish_claims.status = ?", model.ClaimLapsed).
		Select("wishes.community_id AS community_id, COUNT(*) AS n").Group("wishes.community_id").Scan(&lapses).Error; err != nil {
		return nil, err
	}
	for _, l := range lapses {
		byID[l.CommunityID].Lapses = l.N
	}
	for id, cs := range byID {
		cs.MedianHoursToClaim = median(toClaim[id])
		cs.MedianHoursToComplete = median(toComplete[id])
	}
	return out, nil
}

// median returns the median of xs rounded to 0.1, or nil for none.
func median(xs []float64) *float64 {
	if len(xs) == 0 {
		return nil
	}
	sort.Float64s(xs)
	m := xs[len(xs)/2]
	if len(xs)%2 == 0 {
		m = (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
	}
	m = float64(int64(m*10+0.5)) / 10
	return &m
}
