package service

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"linli/internal/ledger"
	"linli/model"
)

// MallService runs each community's points mall (爱心超市): staff list
// goods; residents of the community redeem them with points and pick them up
// with a 6-digit code staff verify; unpicked orders expire and are refunded.
type MallService struct {
	deps     Deps
	authz    *Authz
	timeBank *TimeBankService
	// callers and orgs answer the goods list without a query for the
	// caller, their roles or the community.
	callers *CallerService
	orgs    *OrgTree
	uploads *UploadService
	notify  *NotificationService
}

// Limits of the mall.
const (
	MaxOrderQuantity = 99
	maxStock         = 1_000_000
	codeAttempts     = 20
	mallSweepBatch   = 100
)

// GoodsInput describes new goods. OnSale nil means on sale.
type GoodsInput struct {
	CommunityID int64
	Name        string
	Description string
	// ImageID is an upload of the caller or of another staff member of the
	// community; nil or 0 means no image.
	ImageID      *int64
	PointsPrice  int64
	Stock        int64
	PerUserLimit int64
	OnSale       *bool
	// ResidentsOnly goods need a home confirmed by staff (POST
	// /admin/residents/{userId}/verify-home) to be redeemed.
	ResidentsOnly bool
}

// GoodsUpdate holds the fields staff may change; nil leaves one alone. Stock
// is set to the given count (staff counted the shelf), under the row lock
// orders take, so no order is lost.
type GoodsUpdate struct {
	Name        *string
	Description *string
	// ImageID replaces the image (as GoodsInput.ImageID); 0 removes it.
	ImageID      *int64
	PointsPrice  *int64
	Stock        *int64
	PerUserLimit *int64
	OnSale       *bool

	ResidentsOnly *bool
}

// GoodsView is goods as the API shows them.
type GoodsView struct {
	ID           int64     `json:"id"`
	CommunityID  int64     `json:"communityId"`
	Name         string    `json:"name"`
	Description  string    `json:"description"`
	Image        string    `json:"image"`
	PointsPrice  int64     `json:"pointsPrice"`
	Stock        int64     `json:"stock"`
	PerUserLimit int64     `json:"perUserLimit"`
	OnSale       bool      `json:"onSale"`
	CreatedAt    time.Time `json:"createdAt"`
	UpdatedAt    time.Time `json:"updatedAt"`

	// ResidentsOnly: only residents with a home confirmed by staff redeem them.
	ResidentsOnly bool `json:"residentsOnly"`
}

func (s *MallService) goodsView(g *model.MallGoods) GoodsView {
	loc := s.deps.Config.Location
	return GoodsView{ID: g.ID, CommunityID: g.CommunityID, Name: g.Name, Description: g.Description, Image: g.Image,
		PointsPrice: g.PointsPrice, Stock: g.Stock, PerUserLimit: g.PerUserLimit, OnSale: g.OnSale, ResidentsOnly: g.ResidentsOnly,
		CreatedAt: g.CreatedAt.In(loc), UpdatedAt: g.UpdatedAt.In(loc)}
}

// checkGoods validates the fields of goods; it returns 10001 naming the
// first bad one.
func checkGoods(name, description, image string, price, stock, limit int64) error {
	switch {
	case !textFits(name, 1, 64):
		return invalid("商品名称需为 1 到 64 个字符")
	case !textFits(description, 0, 500):
		return invalid("商品描述不能超过 500 个字符")
	case len(image) > 512 || (image != "" && !strings.HasPrefix(image, "https://") && !strings.HasPrefix(image, "/")):
		return invalid("商品图片需为 https 链接或站内路径")
	case price <= 0 || price > MaxAmount:
		return invalid("兑换积分需为 1 到 %d 之间的整数", MaxAmount)
	case stock < 0 || stock > maxStock:
		return invalid("库存需为 0 到 %d 之间的整数", maxStock)
	case limit < 0 || limit > maxStock:
		return invalid("每人限兑需为 0（不限）到 %d 之间的整数", maxStock)
	}
	return nil
}

// CreateGoods lists new goods in a community's mall. It returns 10001 for
// bad fields, an image id that is not an upload or an org that is not a
// community, 10005 for an unknown community and 10004 unless the caller is
// staff of it or for an image uploaded by someone who is not.
func (s *MallService) CreateGoods(ctx context.Context, actorID int64, in GoodsInput) (*GoodsView, error) {
	in.Name, in.Description = strings.TrimSpace(in.Name), strings.TrimSpace(in.Description)
	if err := checkGoods(in.Name, in.Description, "", in.PointsPrice, in.Stock, in.PerUserLimit); err != nil {
		return nil, err
	}
	g := model.MallGoods{CommunityID: in.CommunityID, Name: in.Name, Description: in.Description,
		PointsPrice: in.PointsPrice, Stock: in.Stock, PerUserLimit: in.PerUserLimit, OnSale: in.OnSale == nil || *in.OnSale,
		ResidentsOnly: in.ResidentsOnly, CreatedBy: actorID}
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		org, err := s.authz.RequireStaff(ctx, tx, actorID, in.CommunityID)
		if err != nil {
			return err
		}
		if org.Level != model.LevelCommunity {
			return invalid("商品需上架到具体社区")
		}
		if in.ImageID != nil && *in.ImageID != 0 {
			if g.Image, err = s.uploads.goodsImage(ctx, tx, s.authz, actorID, org, *in.ImageID); err != nil {
				return err
			}
		}
		if err := tx.Create(&g).Error; err != nil {
			return err
		}
		return s.deps.audit(ctx, tx, auditEvent{Actor: actorID, Org: g.CommunityID, Action: AuditGoodsCreate,
			ObjectKind: "goods", ObjectID: g.ID, After: goodsSnapshot(&g)})
	})
	if err != nil {
		return nil, err
	}
	v := s.goodsView(&g)
	return &v, nil
}

// loadGoods returns goods that are not deleted, or 10005.
func loadGoods(ctx context.Context, db *gorm.DB, id int64, lock bool) (*model.MallGoods, error) {
	var g model.MallGoods
	q := db.WithContext(ctx)
	if lock {
		q = q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	if err := q.First(&g, id).Error; err != nil {
		return nil, notFoundOr(err, "商品")
	}
	return &g, nil
}

// UpdateGoods changes goods. It returns 10001 for bad fields (an image id
// that is not an upload among them), 10005 for unknown goods and 10004
// unless the caller is staff of their community or for an image uploaded by
// someone who is not.
func (s *MallService) UpdateGoods(ctx context.Context, actorID, id int64, in GoodsUpdate) (*GoodsView, error) {
	var g *model.MallGoods
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		var err error
		if g, err = loadGoods(ctx, tx, id, true); err != nil {
			return err
		}
		org, err := s.authz.RequireStaff(ctx, tx, actorID, g.CommunityID)
		if err != nil {
			return err
		}
		before := goodsSnapshot(g)
		set := func(dst *string, v *string) {
			if v != nil {
				*dst = strings.TrimSpace(*v)
			}
		}
		set(&g.Name, in.Name)
		set(&g.Description, in.Description)
		switch {
		case in.ImageID == nil:
		case *in.ImageID == 0:
			g.Image = ""
		default:
			if g.Image, err = s.uploads.goodsImage(ctx, tx, s.authz, actorID, org, *in.ImageID); err != nil {
				return err
			}
		}
		for _, f := range []struct {
			dst *int64
			v   *int64
		}{{&g.PointsPrice, in.PointsPrice}, {&g.Stock, in.Stock}, {&g.PerUserLimit, in.PerUserLimit}} {
			if f.v != nil {
				*f.dst = *f.v
			}
		}
		if in.OnSale != nil {
			g.OnSale = *in.OnSale
		}
		if in.ResidentsOnly != nil {
			g.ResidentsOnly = *in.ResidentsOnly
		}
		if err := checkGoods(g.Name, g.Description, g.Image, g.PointsPrice, g.Stock, g.PerUserLimit); err != nil {
			return err
		}
		if err := tx.Model(g).Select("name", "description", "image", "points_price", "stock",
			"per_user_limit", "on_sale", "residents_only").Updates(g).Error; err != nil {
			return err
		}
		return s.deps.audit(ctx, tx, auditEvent{Actor: actorID, Org: g.CommunityID, Action: AuditGoodsUpdate,
			ObjectKind: "goods", ObjectID: g.ID, Before: before, After: goodsSnapshot(g)})
	})
	if err != nil {
		return nil, err
	}
	v := s.goodsView(g)
	return &v, nil
}

// DeleteGoods removes goods from the mall; their orders stay valid. It
// returns 10005 for unknown goods and 10004 unless the caller is staff of
// their community.
func (s *MallService) DeleteGoods(ctx context.Context, actorID, id int64) error {
	return s.deps.tx(ctx, func(tx *gorm.DB) error {
		g, err := loadGoods(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if _, err := s.authz.RequireStaff(ctx, tx, actorID, g.CommunityID); err != nil {
			return err
		}
		if err := tx.Delete(g).Error; err != nil {
			return err
		}
		return s.deps.audit(ctx, tx, auditEvent{Actor: actorID, Org: g.CommunityID, Action: AuditGoodsDelete,
			ObjectKind: "goods", ObjectID: g.ID, Before: goodsSnapshot(g)})
	})
}

// goodsSnapshot is what the audit log keeps of goods before and after a
// change: the fields staff set, stock included.
func goodsSnapshot(g *model.MallGoods) map[string]any {
	return map[string]any{"name": g.Name, "pointsPrice": g.PointsPrice, "stock": g.Stock,
		"perUserLimit": g.PerUserLimit, "onSale": g.OnSale, "residentsOnly": g.ResidentsOnly}
}

// GetGoods returns goods; goods off sale are visible to staff only. It
// returns 10005 otherwise.
func (s *MallService) GetGoods(ctx context.Context, callerID, id int64) (*GoodsView, error) {
	db := s.deps.DB.WithContext(ctx)
	g, err := loadGoods(ctx, db, id, false)
	if err != nil {
		return nil, err
	}
	if !g.OnSale {
		org, err := loadOrg(ctx, db, g.CommunityID)
		if err != nil {
			return nil, err
		}
		staff, err := s.authz.IsStaff(ctx, db, callerID, org)
		if err != nil {
			return nil, err
		}
		if !staff {
			return nil, notFound("商品")
		}
	}
	v := s.goodsView(g)
	return &v, nil
}

// ListGoods lists a community's goods, newest first: on-sale goods for
// everyone, every goods for its staff. communityID nil means the caller's
// home community. It returns 10005 for an unknown community and 30004 when
// none is given and the caller has no home community.
func (s *MallService) ListGoods(ctx context.Context, callerID int64, communityID *int64, p Page) (List[GoodsView], error) {
	db := s.deps.DB.WithContext(ctx)
	caller, err := s.callers.Get(ctx, callerID)
	if err != nil {
		return List[GoodsView]{}, err
	}
	if communityID == nil && caller.HomeCommunityID == nil {
		return List[GoodsView]{}, Errorf(CodeNoHomeCommunity, "请先设置所在社区")
	}
	cid := cmp.Or(communityID, caller.HomeCommunityID)
	org, err := s.orgs.Get(ctx, *cid)
	if err != nil {
		return List[GoodsView]{}, err
	}
	q := db.Model(&model.MallGoods{}).Where("community_id = ?", org.ID)
	if !caller.IsStaffOf(org) {
		// What is on sale tolerates lag (a replica when configured); the
		// staff's own list, right after their edits, is read from the
		// primary.
		q = s.deps.laggingRead(ctx).Model(&model.MallGoods{}).Where("community_id = ? AND on_sale = ?", org.ID, true)
	}
	views := func(rows []model.MallGoods) []GoodsView {
		out := make([]GoodsView, 0, len(rows))
		for i := range rows {
			out = append(out, s.goodsView(&rows[i]))
		}
		return out
	}
	if p.ByCursor { // newest first, by id: one query, nothing counted
		if p.Cursor != "" {
			before, err := strconv.ParseInt(p.Cursor, 10, 64)
			if err != nil || before < 1 {
				return List[GoodsView]{}, invalid("cursor 无效，请从第一页重新加载")
			}
			q = q.Where("id < ?", before)
		}
		var rows []model.MallGoods
		if err := q.Order("id DESC").Limit(p.PageSize + 1).Find(&rows).Error; err != nil {
			return List[GoodsView]{}, err
		}
		return NewFeed(views(rows), p, func(i int) string { return strconv.FormatInt(rows[i].ID, 10) }), nil
	}
	rows, total, err := findPage[model.MallGoods](q, "id DESC", p)
	if err != nil {
		return List[GoodsView]{}, err
	}
	return NewList(views(rows), total, p), nil
}

// OrderView is a mall order. PickupCode is shown to the buyer only.
type OrderView struct {
	ID          int64                 `json:"id"`
	CommunityID int64                 `json:"communityId"`
	GoodsID     int64                 `json:"goodsId"`
	GoodsName   string                `json:"goodsName"`
	GoodsImage  string                `json:"goodsImage"`
	UserID      int64                 `json:"userId"`
	Nickname    string                `json:"nickname,omitempty"`
	Quantity    int64                 `json:"quantity"`
	UnitPrice   int64                 `json:"unitPrice"`
	PointsTotal int64                 `json:"pointsTotal"`
	Status      model.MallOrderStatus `json:"status"`
	PickupCode  string                `json:"pickupCode,omitempty"`
	ExpiresAt   time.Time             `json:"expiresAt"`
	ClosedAt    *time.Time            `json:"closedAt"`
	CreatedAt   time.Time             `json:"createdAt"`
	// Replayed is set when a repeated requestId returned an earlier order.
	Replayed bool `json:"replayed,omitempty"`
}

func (s *MallService) orderView(o *model.MallOrder, g *model.MallGoods, showCode bool) OrderView {
	loc := s.deps.Config.Location
	v := OrderView{ID: o.ID, CommunityID: o.CommunityID, GoodsID: o.GoodsID, UserID: o.UserID, Quantity: o.Quantity,
		UnitPrice: o.UnitPrice, PointsTotal: o.PointsTotal, Status: o.Status,
		ExpiresAt: o.ExpiresAt.In(loc), CreatedAt: o.CreatedAt.In(loc)}
	if g != nil {
		v.GoodsName, v.GoodsImage = g.Name, g.Image
	}
	if showCode {
		v.PickupCode = o.PickupCode
	}
	if o.ClosedAt != nil {
		t := o.ClosedAt.In(loc)
		v.ClosedAt = &t
	}
	return v
}

// pickupCode returns a random 6-digit code.
func pickupCode() string {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return fmt.Sprintf("%06d", n.Int64())
}

// PlaceOrder redeems quantity of goods for the caller: in one transaction
// the stock is taken (never below zero), the caller's holding of the goods
// rises within its per-user limit, the order gets a pickup code unique among
// the community's open orders, and the points are debited. It returns 10001
// for a bad quantity, 10005 for unknown goods, 30004 when the caller has no
// home community, 30008 (403) for goods of another community, 30021 (403)
// for residentsOnly goods when staff have not confirmed the home, 30005 when
// the goods are off sale, 30006 when the stock is short, 30007 when the
// per-user limit would be passed and 30001 when the points are short. With
// a requestId, a repeat (a retry after a lost answer, a double tap) returns
// the first order and buys nothing; the same requestId for other goods or
// another quantity is 30003.
func (s *MallService) PlaceOrder(ctx context.Context, userID, goodsID, quantity int64, requestID string) (*OrderView, error) {
	if quantity < 1 || quantity > MaxOrderQuantity {
		return nil, invalid("兑换数量需为 1 到 %d", MaxOrderQuantity)
	}
	if requestID != "" && !validRequestID(requestID) {
		return nil, invalid("requestId 需为 1 到 40 个字母、数字或 _.:- 字符")
	}
	var order model.MallOrder
	var goods *model.MallGoods
	var replay *model.MallOrder
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		replay = nil
		if requestID != "" {
			// Locking read: under REPEATABLE READ it sees an order another
			// transaction committed with this key while we waited.
			var prior model.MallOrder
			if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).
				Where("user_id = ? AND request_id = ?", userID, requestID).Limit(1).Find(&prior).Error; err != nil {
				return err
			}
			if prior.ID != 0 {
				replay = &prior
				return nil
			}
			order.RequestID = &requestID
		}
		var home *buyerHome
		var err error
		if goods, home, err = goodsForBuyer(ctx, tx, goodsID, userID); err != nil {
			return err
		}
		if home.ID == nil {
			return Errorf(CodeNoHomeCommunity, "请先设置所在社区")
		}
		if *home.ID != goods.CommunityID {
			return Errorf(CodeGoodsOtherCommunity, "只能兑换本社区爱心超市的商品")
		}
		if goods.ResidentsOnly && !home.Verified { // residency: confirmed by staff, cleared on a move
			return Errorf(CodeHomeNotVerified, "该商品仅限经社区确认的居民兑换，请联系社区工作人员确认居住信息")
		}
		if !goods.OnSale {
			return Errorf(CodeGoodsOffSale, "该商品已下架")
		}
		if err := s.takeStock(ctx, tx, goods, quantity); err != nil {
			return err
		}
		if err := s.hold(ctx, tx, userID, goods, quantity); err != nil {
			return err
		}
		now := s.deps.Clock.Now().UTC()
		order = model.MallOrder{CommunityID: goods.CommunityID, GoodsID: goods.ID, UserID: userID, Quantity: quantity,
			RequestID: order.RequestID, UnitPrice: goods.PointsPrice, PointsTotal: goods.PointsPrice * quantity, Status: model.OrderOpen,
			ExpiresAt: now.Add(s.deps.Config.Mall.OrderTTL), CreatedAt: now, UpdatedAt: now}
		if err := s.insertWithCode(ctx, tx, &order); err != nil {
			return err
		}
		rec, err := s.timeBank.Debit(ctx, tx, ledger.Debit{UserID: userID, CommunityID: goods.CommunityID,
			Currency: model.CurrencyPoints, Amount: order.PointsTotal,
			Source: ledger.Source{Kind: SourceMallOrder, ID: strconv.FormatInt(order.ID, 10)},
			Memo:   fmt.Sprintf("兑换 %s ×%d", goods.Name, quantity)})
		if err != nil {
			return err
		}
		order.DebitTxnID = rec.TxnID
		if err := tx.Model(&order).Update("debit_txn_id", rec.TxnID).Error; err != nil {
			return err
		}
		return s.notify.Notify(tx, Notice{UserID: userID, Event: EventOrderReady, ObjectKind: "mall_order", ObjectID: order.ID,
			Subject: goods.Name, Note: "取货码 " + order.PickupCode})
	})
	if err != nil {
		return nil, err
	}
	if replay != nil {
		if replay.GoodsID != goodsID || replay.Quantity != quantity {
			return nil, Errorf(CodeRequestIDReused, "该请求号已用于另一笔兑换，请换一个 requestId")
		}
		g, err := loadGoods(ctx, s.deps.DB, replay.GoodsID, false)
		if err != nil {
			return nil, err
		}
		v := s.orderView(replay, g, true)
		v.Replayed = true
		return &v, nil
	}
	v := s.orderView(&order, goods, true)
	return &v, nil
}

// goodsForBuyer returns goods that are not deleted and the buyer's home
// (community nil when they have none, and whether staff confirmed it), read
// by one statement. It returns 10005 for unknown goods.
func goodsForBuyer(ctx context.Context, db *gorm.DB, goodsID, userID int64) (*model.MallGoods, *buyerHome, error) {
	var row struct {
		model.MallGoods
		BuyerHomeID         *int64
		BuyerHomeVerifiedAt *time.Time
	}
	err := db.WithContext(ctx).Model(&model.MallGoods{}).
		Select("mall_goods.*, users.home_community_id AS buyer_home_id, users.home_verified_at AS buyer_home_verified_at").
		Joins("LEFT JOIN users ON users.id = ?", userID).
		Where("mall_goods.id = ?", goodsID).Take(&row).Error
	if err != nil {
		return nil, nil, notFoundOr(err, "商品")
	}
	return &row.MallGoods, &buyerHome{ID: row.BuyerHomeID, Verified: row.BuyerHomeVerifiedAt != nil}, nil
}

// buyerHome is the buyer's home community (nil: none) and whether staff
// confirmed it.
type buyerHome struct {
	ID       *int64
	Verified bool
}

// takeStock takes quantity from the stock of the goods g, read without a
// lock, by one conditional UPDATE that also requires the price and the
// per-user limit read, so that on success g is what the order is charged by
// and no second read is needed. When that UPDATE matches nothing the goods
// are read again under a row lock (g is refreshed) to tell why: 30005 when
// off sale, 30006 when the stock is short; when only the price or the limit
// changed meanwhile the stock is taken at the new ones.
func (s *MallService) takeStock(ctx context.Context, tx *gorm.DB, g *model.MallGoods, quantity int64) error {
	for range 2 {
		res := tx.Model(&model.MallGoods{}).
			Where("id = ? AND stock >= ? AND on_sale = ? AND points_price = ? AND per_user_limit = ?",
				g.ID, quantity, true, g.PointsPrice, g.PerUserLimit).
			Update("stock", gorm.Expr("stock - ?", quantity))
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 1 {
			return nil
		}
		cur, err := loadGoods(ctx, tx, g.ID, true)
		if err != nil {
			return err
		}
		*g = *cur
		if !g.OnSale {
			return Errorf(CodeGoodsOffSale, "该商品已下架")
		}
		if g.Stock < quantity {
			return Errorf(CodeOutOfStock, "库存不足")
		}
	}
	// The row is locked since the second read: the retry cannot miss.
	return unavailable("商品信息变化，请稍后再试", errors.New("mall: stock update missed under lock"))
}

// hold raises the user's holding of the goods by quantity with one
// conditional UPDATE, or returns 30007 when that passes the per-user limit.
func (s *MallService) hold(ctx context.Context, tx *gorm.DB, userID int64, g *model.MallGoods, quantity int64) error {
	row := model.MallHolding{UserID: userID, GoodsID: g.ID}
	if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error; err != nil {
		return err
	}
	q := tx.Model(&model.MallHolding{}).Where("user_id = ? AND goods_id = ?", userID, g.ID)
	if g.PerUserLimit > 0 {
		q = q.Where("quantity + ? <= ?", quantity, g.PerUserLimit)
	}
	res := q.Update("quantity", gorm.Expr("quantity + ?", quantity))
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected != 1 {
		return Errorf(CodePerUserLimit, "该商品每人限兑 %d 件", g.PerUserLimit)
	}
	return nil
}

// insertWithCode inserts an open order with a fresh pickup code, drawing
// another code when the community already has an open order with it.
func (s *MallService) insertWithCode(ctx context.Context, tx *gorm.DB, o *model.MallOrder) error {
	for range codeAttempts {
		code := pickupCode()
		o.ID, o.PickupCode, o.OpenCode = 0, code, &code
		err := tx.Create(o).Error
		if err == nil || !isDuplicate(err) {
			return err
		}
	}
	return unavailable("核销码生成失败，请稍后再试", errors.New("no free pickup code"))
}

// MyOrders lists the caller's orders, newest first, optionally of one
// status. It returns 10001 for an unknown status.
func (s *MallService) MyOrders(ctx context.Context, userID int64, status string, p Page) (List[OrderView], error) {
	q := s.deps.DB.WithContext(ctx).Model(&model.MallOrder{}).Where("user_id = ?", userID)
	return s.listOrders(ctx, q, status, p, true)
}

// CommunityOrders lists a community's orders for its staff, newest first,
// without pickup codes. It returns 10001 for an unknown status, 10005 for an
// unknown community and 10004 unless the caller is staff of it.
func (s *MallService) CommunityOrders(ctx context.Context, actorID, communityID int64, status string, p Page) (List[OrderView], error) {
	db := s.deps.DB.WithContext(ctx)
	if _, err := s.authz.RequireStaff(ctx, db, actorID, communityID); err != nil {
		return List[OrderView]{}, err
	}
	return s.listOrders(ctx, db.Model(&model.MallOrder{}).Where("community_id = ?", communityID), status, p, false)
}

func (s *MallService) listOrders(ctx context.Context, q *gorm.DB, status string, p Page, buyer bool) (List[OrderView], error) {
	if status != "" {
		switch model.MallOrderStatus(status) {
		case model.OrderOpen, model.OrderPicked, model.OrderCancelled, model.OrderExpired:
		default:
			return List[OrderView]{}, invalid("status 需为 open、picked、cancelled 或 expired")
		}
		q = q.Where("status = ?", status)
	}
	rows, total, err := findPage[model.MallOrder](q, "id DESC", p)
	if err != nil {
		return List[OrderView]{}, err
	}
	out, err := s.orderViews(ctx, rows, buyer)
	return NewList(out, total, p), err
}

// orderViews adds goods names (and, for staff, buyer nicknames) to orders.
func (s *MallService) orderViews(ctx context.Context, rows []model.MallOrder, buyer bool) ([]OrderView, error) {
	db := s.deps.DB.WithContext(ctx)
	goodsIDs, userIDs := []int64{}, []int64{}
	for _, o := range rows {
		goodsIDs, userIDs = append(goodsIDs, o.GoodsID), append(userIDs, o.UserID)
	}
	goods := map[int64]*model.MallGoods{}
	nick := map[int64]string{}
	if len(rows) > 0 {
		var gs []model.MallGoods
		if err := db.Unscoped().Where("id IN ?", goodsIDs).Find(&gs).Error; err != nil {
			return nil, err
		}
		for i := range gs {
			goods[gs[i].ID] = &gs[i]
		}
		if !buyer {
			var us []model.User
			if err := db.Select("id", "nickname").Where("id IN ?", userIDs).Find(&us).Error; err != nil {
				return nil, err
			}
			for _, u := range us {
				nick[u.ID] = u.Nickname
			}
		}
	}
	out := make([]OrderView, 0, len(rows))
	for i := range rows {
		v := s.orderView(&rows[i], goods[rows[i].GoodsID], buyer && rows[i].Status == model.OrderOpen)
		v.Nickname = nick[rows[i].UserID]
		out = append(out, v)
	}
	return out, nil
}

// closeOpen moves an open order to status by one conditional UPDATE that
// also clears its open code; extra narrows the WHERE. It reports whether
// this call made the transition.
func (s *MallService) closeOpen(ctx context.Context, tx *gorm.DB, id int64, status model.MallOrderStatus, updates map[string]any, extra func(*gorm.DB) *gorm.DB) (bool, error) {
	now := s.deps.Clock.Now().UTC()
	if updates == nil {
		updates = map[string]any{}
	}
	updates["status"], updates["open_code"], updates["closed_at"], updates["updated_at"] = status, nil, now, now
	q := tx.Model(&model.MallOrder{}).Where("id = ? AND status = ?", id, model.OrderOpen)
	if extra != nil {
		q = extra(q)
	}
	res := q.Updates(updates)
	return res.RowsAffected == 1, res.Error
}

// refund gives a closed order's points, stock and holding back, inside the
// transaction that closed it (so exactly once).
func (s *MallService) refund(ctx context.Context, tx *gorm.DB, id int64, memo string) (*model.MallOrder, error) {
	var o model.MallOrder
	if err := tx.First(&o, id).Error; err != nil {
		return nil, err
	}
	rec, err := s.timeBank.Reverse(ctx, tx, o.DebitTxnID,
		ledger.Source{Kind: SourceMallRefund, ID: strconv.FormatInt(o.ID, 10)}, memo)
	if err != nil {
		return nil, err
	}
	if err := tx.Model(&o).Update("refund_txn_id", rec.TxnID).Error; err != nil {
		return nil, err
	}
	err = tx.Unscoped().Model(&model.MallGoods{}).Where("id = ?", o.GoodsID).
		Update("stock", gorm.Expr("stock + ?", o.Quantity)).Error
	if err != nil {
		return nil, err
	}
	err = tx.Model(&model.MallHolding{}).Where("user_id = ? AND goods_id = ? AND quantity >= ?", o.UserID, o.GoodsID, o.Quantity).
		Update("quantity", gorm.Expr("quantity - ?", o.Quantity)).Error
	return &o, err
}

// orderStateError explains why an order could not leave the open state:
// 30010 when it was picked up, 30009 when it was cancelled or expired.
func orderStateError(o *model.MallOrder) error {
	if o.Status == model.OrderPicked {
		return Errorf(CodeOrderPicked, "该订单已核销")
	}
	if o.Status == model.OrderExpired {
		return Errorf(CodeOrderNotOpen, "该订单已过期，积分已退还")
	}
	return Errorf(CodeOrderNotOpen, "该订单已取消")
}

// lockedOrder reads an order with a locking read, which sees the latest
// committed state even inside a REPEATABLE READ transaction.
func lockedOrder(ctx context.Context, tx *gorm.DB, where string, args ...any) (*model.MallOrder, error) {
	var o model.MallOrder
	err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where(where, args...).
		Order("id DESC").Limit(1).Find(&o).Error
	return &o, err
}

// CancelOrder lets the buyer cancel an order not yet picked up: the points
// are refunded and the stock put back, once. It returns 10005 for an
// unknown order or someone else's, 30010 when it was picked up and 30009
// when it is already cancelled or expired.
func (s *MallService) CancelOrder(ctx context.Context, userID, orderID int64) (*OrderView, error) {
	var o *model.MallOrder
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		ok, err := s.closeOpen(ctx, tx, orderID, model.OrderCancelled, nil,
			func(q *gorm.DB) *gorm.DB { return q.Where("user_id = ?", userID) })
		if err != nil {
			return err
		}
		if !ok {
			cur, err := lockedOrder(ctx, tx, "id = ?", orderID)
			if err != nil {
				return err
			}
			if cur.ID == 0 || cur.UserID != userID {
				return notFound("订单")
			}
			return orderStateError(cur)
		}
		o, err = s.refund(ctx, tx, orderID, "取消兑换，积分退还")
		return err
	})
	if err != nil {
		return nil, err
	}
	views, err := s.orderViews(ctx, []model.MallOrder{*o}, true)
	if err != nil {
		return nil, err
	}
	return &views[0], nil
}

// VerifyPickup lets staff of the community hand over an order: the open
// order with this pickup code becomes picked, once. It returns 10001 for a
// code that is not 6 digits, 10005 for an unknown community, 10004 unless
// the caller is staff of it, 30010 when the order was already picked up,
// 30009 when it was cancelled or expired, and 30011 (404) when no order has
// this code.
func (s *MallService) VerifyPickup(ctx context.Context, actorID, communityID int64, code string) (*OrderView, error) {
	if len(code) != 6 || strings.Trim(code, "0123456789") != "" {
		return nil, invalid("核销码需为 6 位数字")
	}
	var o *model.MallOrder
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		if _, err := s.authz.RequireStaff(ctx, tx, actorID, communityID); err != nil {
			return err
		}
		var err error
		if o, err = lockedOrder(ctx, tx, "community_id = ? AND open_code = ?", communityID, code); err != nil {
			return err
		}
		if o.ID != 0 {
			ok, err := s.closeOpen(ctx, tx, o.ID, model.OrderPicked, map[string]any{"picked_by": actorID}, nil)
			if err != nil {
				return err
			}
			if ok {
				before := o.Status
				if err := tx.First(o, o.ID).Error; err != nil {
					return err
				}
				return s.deps.audit(ctx, tx, auditEvent{Actor: actorID, Org: communityID, Action: AuditPickupVerify,
					ObjectKind: "order", ObjectID: o.ID, Before: map[string]any{"status": before}, After: map[string]any{"status": o.Status}})
			}
		}
		last, err := lockedOrder(ctx, tx, "community_id = ? AND pickup_code = ?", communityID, code)
		if err != nil {
			return err
		}
		if last.ID == 0 {
			return Errorf(CodePickupCodeInvalid, "核销码无效，请核对后再试")
		}
		return orderStateError(last)
	})
	if err != nil {
		return nil, err
	}
	views, err := s.orderViews(ctx, []model.MallOrder{*o}, false)
	if err != nil {
		return nil, err
	}
	return &views[0], nil
}

// ExpireOrders expires the open orders whose pickup time (mall.order_ttl)
// has passed and refunds them. Each order moves by its own conditional
// UPDATE in its own transaction, so sweeps running at once on several
// instances refund every order exactly once. It returns how many orders this
// call expired.
func (s *MallService) ExpireOrders(ctx context.Context) (int, error) {
	done := 0
	for {
		now := s.deps.Clock.Now().UTC()
		var ids []int64
		err := s.deps.DB.WithContext(ctx).Model(&model.MallOrder{}).
			Where("status = ? AND expires_at <= ?", model.OrderOpen, now).
			Order("id").Limit(mallSweepBatch).Pluck("id", &ids).Error
		if err != nil {
			return done, err
		}
		for _, id := range ids {
			var expired bool
			err := s.deps.tx(ctx, func(tx *gorm.DB) error {
				var err error
				expired, err = s.closeOpen(ctx, tx, id, model.OrderExpired, nil,
					func(q *gorm.DB) *gorm.DB { return q.Where("expires_at <= ?", now) })
				if err != nil || !expired {
					return err
				}
				if _, err = s.refund(ctx, tx, id, "兑换超时未领取，积分退还"); err != nil {
					return err
				}
				var o struct {
					UserID int64
					Name   string
				}
				if err := tx.Table("mall_orders o").Select("o.user_id, g.name").Joins("JOIN mall_goods g ON g.id = o.goods_id").
					Where("o.id = ?", id).Take(&o).Error; err != nil {
					return err
				}
				return s.notify.Notify(tx, Notice{UserID: o.UserID, Event: EventOrderExpired, ObjectKind: "mall_order", ObjectID: id, Subject: o.Name})
			})
			if err != nil {
				return done, fmt.Errorf("expire order %d: %w", id, err)
			}
			if expired {
				done++
			}
		}
		if len(ids) < mallSweepBatch {
			return done, nil
		}
	}
}
