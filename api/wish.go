package api

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"linli/service"
)

type onBehalfOfRequest struct {
	Name  string `json:"name" binding:"required,max=32"`
	Phone string `json:"phone" binding:"required,max=20"`
}

type createWishRequest struct {
	Title        string             `json:"title" binding:"required"`
	Content      string             `json:"content" binding:"required"`
	Category     string             `json:"category" binding:"required"`
	BudgetFen    int64              `json:"budgetFen" binding:"gte=0"`
	Images       []int64            `json:"images" binding:"max=6,dive,gt=0"`
	ContactPhone string             `json:"contactPhone" binding:"max=20"`
	Address      string             `json:"address" binding:"required"`
	CommunityID  *int64             `json:"communityId" binding:"omitempty,gt=0"`
	OnBehalfOf   *onBehalfOfRequest `json:"onBehalfOf"`
}

// CreateWish serves POST /wishes → 201 with the wish, status pending_review.
func (h *Handler) CreateWish(c *gin.Context) {
	var req createWishRequest
	if !bindJSON(c, &req) {
		return
	}
	in := service.WishInput{
		Title: req.Title, Content: req.Content, Category: req.Category, BudgetFen: req.BudgetFen,
		Images: req.Images, ContactPhone: req.ContactPhone, Address: req.Address, CommunityID: req.CommunityID,
	}
	if req.OnBehalfOf != nil {
		in.OnBehalfOf = &service.OnBehalfOf{Name: req.OnBehalfOf.Name, Phone: req.OnBehalfOf.Phone}
	}
	v, err := h.svc.Wishes.Create(c.Request.Context(), userID(c), in)
	reply(c, http.StatusCreated, v, err)
}

// ListWishes serves GET /wishes?communityId=&status=&category=&page=&pageSize=.
func (h *Handler) ListWishes(c *gin.Context) {
	community, ok := queryID(c, "communityId")
	if !ok {
		return
	}
	p, ok := queryPage(c)
	if !ok {
		return
	}
	f := service.WishFilter{CommunityID: community, Status: c.Query("status"), Category: c.Query("category")}
	list, err := h.svc.Wishes.List(c.Request.Context(), userID(c), f, p)
	reply(c, http.StatusOK, list, err)
}

// MyWishes serves GET /wishes/mine.
func (h *Handler) MyWishes(c *gin.Context) {
	p, ok := queryPage(c)
	if !ok {
		return
	}
	list, err := h.svc.Wishes.Mine(c.Request.Context(), userID(c), p)
	reply(c, http.StatusOK, list, err)
}

// ClaimedWishes serves GET /wishes/claimed.
func (h *Handler) ClaimedWishes(c *gin.Context) {
	p, ok := queryPage(c)
	if !ok {
		return
	}
	list, err := h.svc.Wishes.Claimed(c.Request.Context(), userID(c), p)
	reply(c, http.StatusOK, list, err)
}

// GetWish serves GET /wishes/{id}.
func (h *Handler) GetWish(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	v, err := h.svc.Wishes.Get(c.Request.Context(), userID(c), id)
	reply(c, http.StatusOK, v, err)
}

// WishTimeline serves GET /wishes/{id}/timeline → {list: [...]}.
func (h *Handler) WishTimeline(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	evs, err := h.svc.Wishes.Timeline(c.Request.Context(), userID(c), id)
	reply(c, http.StatusOK, gin.H{"list": evs}, err)
}

// WishContactReveals serves GET /wishes/{id}/contact-reveals [staff] →
// {list: [{userId, name, claimId, revealedAt}]}: which claimers were shown
// the poster's contact details, and when.
func (h *Handler) WishContactReveals(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	rs, err := h.svc.Wishes.ContactReveals(c.Request.Context(), userID(c), id)
	reply(c, http.StatusOK, gin.H{"list": rs}, err)
}

// bindOptionalJSON is bindJSON for a body the client may leave out.
func bindOptionalJSON(c *gin.Context, dst any) bool {
	if c.Request.Body == nil || c.Request.ContentLength == 0 {
		return true
	}
	return bindJSON(c, dst)
}

// ApproveWish serves POST /wishes/{id}/approve [staff].
func (h *Handler) ApproveWish(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	v, err := h.svc.Wishes.Approve(c.Request.Context(), userID(c), id)
	reply(c, http.StatusOK, v, err)
}

type reasonRequest struct {
	Reason string `json:"reason" binding:"max=200"`
}

type requiredReasonRequest struct {
	Reason string `json:"reason" binding:"required,max=200"`
}

// RejectWish serves POST /wishes/{id}/reject {reason} [staff].
func (h *Handler) RejectWish(c *gin.Context) {
	id, req, ok := idAndBody[requiredReasonRequest](c, bindJSON)
	if !ok {
		return
	}
	v, err := h.svc.Wishes.Reject(c.Request.Context(), userID(c), id, req.Reason)
	reply(c, http.StatusOK, v, err)
}

type claimWishRequest struct {
	UnitID *int64 `json:"unitId" binding:"omitempty,gt=0"`
}

// ClaimWish serves POST /wishes/{id}/claim {unitId?} [party_member, unit_liaison].
func (h *Handler) ClaimWish(c *gin.Context) {
	id, req, ok := idAndBody[claimWishRequest](c, bindOptionalJSON)
	if !ok {
		return
	}
	v, err := h.svc.Wishes.Claim(c.Request.Context(), userID(c), id, req.UnitID)
	reply(c, http.StatusOK, v, err)
}

// ReleaseWish serves POST /wishes/{id}/release {reason?} [claimer].
func (h *Handler) ReleaseWish(c *gin.Context) {
	id, req, ok := idAndBody[reasonRequest](c, bindOptionalJSON)
	if !ok {
		return
	}
	v, err := h.svc.Wishes.Release(c.Request.Context(), userID(c), id, req.Reason)
	reply(c, http.StatusOK, v, err)
}

type fulfilWishRequest struct {
	Note   string  `json:"note" binding:"required"`
	Images []int64 `json:"images" binding:"max=6,dive,gt=0"`
}

// FulfilWish serves POST /wishes/{id}/fulfil {note, images?} [claimer].
func (h *Handler) FulfilWish(c *gin.Context) {
	id, req, ok := idAndBody[fulfilWishRequest](c, bindJSON)
	if !ok {
		return
	}
	v, err := h.svc.Wishes.Fulfil(c.Request.Context(), userID(c), id, req.Note, req.Images)
	reply(c, http.StatusOK, v, err)
}

type confirmWishRequest struct {
	Rating  int    `json:"rating" binding:"required,min=1,max=5"`
	Comment string `json:"comment" binding:"max=200"`
}

// ConfirmWish serves POST /wishes/{id}/confirm {rating, comment?} [poster].
func (h *Handler) ConfirmWish(c *gin.Context) {
	id, req, ok := idAndBody[confirmWishRequest](c, bindJSON)
	if !ok {
		return
	}
	v, err := h.svc.Wishes.Confirm(c.Request.Context(), userID(c), id, req.Rating, req.Comment)
	reply(c, http.StatusOK, v, err)
}

// CancelWish serves POST /wishes/{id}/cancel {reason?} [poster].
func (h *Handler) CancelWish(c *gin.Context) {
	id, req, ok := idAndBody[reasonRequest](c, bindOptionalJSON)
	if !ok {
		return
	}
	v, err := h.svc.Wishes.Cancel(c.Request.Context(), userID(c), id, req.Reason)
	reply(c, http.StatusOK, v, err)
}

// WishStats serves GET /admin/wish-stats?orgId=&from=&to= [staff of orgId].
// from and to are dates (YYYY-MM-DD, to inclusive) or RFC 3339 times.
func (h *Handler) WishStats(c *gin.Context) {
	org, from, to, ok := h.orgPeriod(c)
	if !ok {
		return
	}
	st, err := h.svc.Wishes.Stats(c.Request.Context(), userID(c), org, from, to)
	reply(c, http.StatusOK, st, err)
}

// queryTime parses an optional date (in the configured time zone) or RFC
// 3339 time. A date given as an end (endOfDay) means the end of that day.
func (h *Handler) queryTime(c *gin.Context, name string, endOfDay bool) (*time.Time, bool) {
	v := c.Query(name)
	if v == "" {
		return nil, true
	}
	if t, err := time.ParseInLocation("2006-01-02", v, h.opts.Location); err == nil {
		if endOfDay {
			t = t.AddDate(0, 0, 1)
		}
		return &t, true
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		abortWith(c, http.StatusBadRequest, service.CodeInvalid, "参数 "+name+" 需为日期（2006-01-02）或 RFC 3339 时间")
		return nil, false
	}
	return &t, true
}
