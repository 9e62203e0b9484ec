package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"linli/service"
)

type createGoodsRequest struct {
	CommunityID int64  `json:"communityId" binding:"required,gt=0"`
	Name        string `json:"name" binding:"required,max=64"`
	Description string `json:"description" binding:"max=500"`
	ImageID     *int64 `json:"imageId" binding:"omitempty,gte=0"`
	// Image is refused: images are uploads, named by imageId.
	Image        any    `json:"image"`
	PointsPrice  int64  `json:"pointsPrice" binding:"required,gt=0,max=1000000"`
	Stock        *int64 `json:"stock" binding:"required,gte=0,max=1000000"`
	PerUserLimit int64  `json:"perUserLimit" binding:"gte=0,max=1000000"`
	OnSale       *bool  `json:"onSale"`
	// ResidentsOnly goods need a home confirmed by staff.
	ResidentsOnly bool `json:"residentsOnly"`
}

// CreateGoods serves POST /mall/goods {communityId, name, description?,
// imageId?, pointsPrice, stock, perUserLimit?, onSale?, residentsOnly?}
// [staff]; the view shows the image's URL as image. A string image is 400
// 10001.
func (h *Handler) CreateGoods(c *gin.Context) {
	var req createGoodsRequest
	if !bindJSON(c, &req) || !noImageString(c, req.Image) {
		return
	}
	v, err := h.svc.Mall.CreateGoods(c.Request.Context(), userID(c), service.GoodsInput{
		CommunityID: req.CommunityID, Name: req.Name, Description: req.Description, ImageID: req.ImageID,
		PointsPrice: req.PointsPrice, Stock: *req.Stock, PerUserLimit: req.PerUserLimit, OnSale: req.OnSale,
		ResidentsOnly: req.ResidentsOnly})
	reply(c, http.StatusCreated, v, err)
}

// ListGoods serves GET /mall/goods?communityId= (the caller's home community
// when absent).
func (h *Handler) ListGoods(c *gin.Context) {
	community, ok := queryID(c, "communityId")
	if !ok {
		return
	}
	p, ok := queryPage(c)
	if !ok {
		return
	}
	list, err := h.svc.Mall.ListGoods(c.Request.Context(), userID(c), community, p)
	reply(c, http.StatusOK, list, err)
}

// GetGoods serves GET /mall/goods/{id}.
func (h *Handler) GetGoods(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	v, err := h.svc.Mall.GetGoods(c.Request.Context(), userID(c), id)
	reply(c, http.StatusOK, v, err)
}

type updateGoodsRequest struct {
	Name         *string `json:"name" binding:"omitempty,max=64"`
	Description  *string `json:"description" binding:"omitempty,max=500"`
	ImageID      *int64  `json:"imageId" binding:"omitempty,gte=0"`
	Image        any     `json:"image"`
	PointsPrice  *int64  `json:"pointsPrice" binding:"omitempty,gt=0,max=1000000"`
	Stock        *int64  `json:"stock" binding:"omitempty,gte=0,max=1000000"`
	PerUserLimit *int64  `json:"perUserLimit" binding:"omitempty,gte=0,max=1000000"`
	OnSale       *bool   `json:"onSale"`

	ResidentsOnly *bool `json:"residentsOnly"`
}

// UpdateGoods serves PUT /mall/goods/{id} with any of the fields of
// POST /mall/goods except communityId [staff].
func (h *Handler) UpdateGoods(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	var req updateGoodsRequest
	if !bindJSON(c, &req) || !noImageString(c, req.Image) {
		return
	}
	v, err := h.svc.Mall.UpdateGoods(c.Request.Context(), userID(c), id, service.GoodsUpdate{
		Name: req.Name, Description: req.Description, ImageID: req.ImageID, PointsPrice: req.PointsPrice,
		Stock: req.Stock, PerUserLimit: req.PerUserLimit, OnSale: req.OnSale, ResidentsOnly: req.ResidentsOnly})
	reply(c, http.StatusOK, v, err)
}

// noImageString refuses a request that names its image by anything but an
// upload id (imageId): a URL or path in image is 400 10001. It reports
// whether the request may go on.
func noImageString(c *gin.Context, image any) bool {
	if image == nil {
		return true
	}
	abortWith(c, http.StatusBadRequest, service.CodeInvalid, "商品图片请先上传，再以 imageId 提交上传编号")
	return false
}

// DeleteGoods serves DELETE /mall/goods/{id} [staff].
func (h *Handler) DeleteGoods(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	err := h.svc.Mall.DeleteGoods(c.Request.Context(), userID(c), id)
	reply(c, http.StatusOK, gin.H{"id": id, "deleted": true}, err)
}

type placeOrderRequest struct {
	GoodsID   int64  `json:"goodsId" binding:"required,gt=0"`
	Quantity  *int64 `json:"quantity" binding:"omitempty,gt=0,max=99"`
	RequestID string `json:"requestId" binding:"max=40"`
}

// PlaceOrder serves POST /mall/orders {goodsId, quantity?, requestId?} →
// 201 {id, pickupCode, status, ...}; quantity defaults to 1, and a repeated
// requestId answers the first order (replayed) without buying again.
func (h *Handler) PlaceOrder(c *gin.Context) {
	var req placeOrderRequest
	if !bindJSON(c, &req) {
		return
	}
	qty := int64(1)
	if req.Quantity != nil {
		qty = *req.Quantity
	}
	v, err := h.svc.Mall.PlaceOrder(c.Request.Context(), userID(c), req.GoodsID, qty, req.RequestID)
	reply(c, http.StatusCreated, v, err)
}

// MyOrders serves GET /mall/orders/mine?status=.
func (h *Handler) MyOrders(c *gin.Context) {
	p, ok := queryPage(c)
	if !ok {
		return
	}
	list, err := h.svc.Mall.MyOrders(c.Request.Context(), userID(c), c.Query("status"), p)
	reply(c, http.StatusOK, list, err)
}

// CommunityOrders serves GET /mall/orders?communityId=&status= [staff].
func (h *Handler) CommunityOrders(c *gin.Context) {
	community, ok := requiredQueryID(c, "communityId")
	if !ok {
		return
	}
	p, ok := queryPage(c)
	if !ok {
		return
	}
	list, err := h.svc.Mall.CommunityOrders(c.Request.Context(), userID(c), community, c.Query("status"), p)
	reply(c, http.StatusOK, list, err)
}

// CancelOrder serves POST /mall/orders/{id}/cancel [buyer].
func (h *Handler) CancelOrder(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	v, err := h.svc.Mall.CancelOrder(c.Request.Context(), userID(c), id)
	reply(c, http.StatusOK, v, err)
}

type verifyPickupRequest struct {
	CommunityID int64  `json:"communityId" binding:"required,gt=0"`
	PickupCode  string `json:"pickupCode" binding:"required,max=32"`
}

// VerifyPickup serves POST /mall/orders/verify {communityId, pickupCode}
// [staff].
func (h *Handler) VerifyPickup(c *gin.Context) {
	var req verifyPickupRequest
	if !bindJSON(c, &req) {
		return
	}
	v, err := h.svc.Mall.VerifyPickup(c.Request.Context(), userID(c), req.CommunityID, req.PickupCode)
	reply(c, http.StatusOK, v, err)
}
