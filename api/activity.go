package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"linli/service"
)

type createActivityRequest struct {
	CommunityID    int64     `json:"communityId" binding:"required,gt=0"`
	UnitID         *int64    `json:"unitId" binding:"omitempty,gt=0"`
	Title          string    `json:"title" binding:"required,max=50"`
	Content        string    `json:"content" binding:"max=2000"`
	Category       string    `json:"category" binding:"required,max=16"`
	Address        string    `json:"address" binding:"required,max=128"`
	Lat            *float64  `json:"lat"`
	Lng            *float64  `json:"lng"`
	RadiusM        *int      `json:"radiusM"`
	StartAt        time.Time `json:"startAt" binding:"required"`
	EndAt          time.Time `json:"endAt" binding:"required"`
	SignupDeadline time.Time `json:"signupDeadline" binding:"required"`
	Capacity       *int      `json:"capacity" binding:"required"`
	Waitlist       bool      `json:"waitlist"`
	Audience       string    `json:"audience" binding:"omitempty,oneof=all party_members"`
	PointsPerHour  *int      `json:"pointsPerHour"`
}

// CreateActivity serves POST /activities [staff, or a unit liaison proposing]
// → 201 with the draft (or proposal).
func (h *Handler) CreateActivity(c *gin.Context) {
	var req createActivityRequest
	if !bindJSON(c, &req) {
		return
	}
	v, err := h.svc.Activities.Create(c.Request.Context(), userID(c), service.ActivityInput{
		CommunityID: req.CommunityID, UnitID: req.UnitID, Title: req.Title, Content: req.Content,
		Category: req.Category, Address: req.Address, Lat: req.Lat, Lng: req.Lng, RadiusM: req.RadiusM,
		StartAt: req.StartAt, EndAt: req.EndAt, SignupDeadline: req.SignupDeadline, Capacity: *req.Capacity,
		Waitlist: req.Waitlist, Audience: req.Audience, PointsPerHour: req.PointsPerHour,
	})
	reply(c, http.StatusCreated, v, err)
}

// PublishActivity serves POST /activities/{id}/publish [staff].
func (h *Handler) PublishActivity(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	v, err := h.svc.Activities.Publish(c.Request.Context(), userID(c), id)
	reply(c, http.StatusOK, v, err)
}

// CancelActivity serves POST /activities/{id}/cancel {reason?} [staff].
func (h *Handler) CancelActivity(c *gin.Context) {
	id, req, ok := idAndBody[reasonRequest](c, bindOptionalJSON)
	if !ok {
		return
	}
	v, err := h.svc.Activities.Cancel(c.Request.Context(), userID(c), id, req.Reason)
	reply(c, http.StatusOK, v, err)
}

// ListActivities serves GET /activities?communityId=&status=&page=&pageSize=;
// communityId may name a street or district for every community beneath it.
func (h *Handler) ListActivities(c *gin.Context) {
	org, ok := queryID(c, "communityId")
	if !ok {
		return
	}
	p, ok := queryPage(c)
	if !ok {
		return
	}
	list, err := h.svc.Activities.List(c.Request.Context(), userID(c), service.ActivityFilter{OrgID: org, Status: c.Query("status")}, p)
	reply(c, http.StatusOK, list, err)
}

// GetActivity serves GET /activities/{id} with the caller's own sign-up.
func (h *Handler) GetActivity(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	v, err := h.svc.Activities.Get(c.Request.Context(), userID(c), id)
	reply(c, http.StatusOK, v, err)
}

// MyActivities serves GET /me/activities?status=&page=&pageSize=.
func (h *Handler) MyActivities(c *gin.Context) {
	p, ok := queryPage(c)
	if !ok {
		return
	}
	list, err := h.svc.Activities.Mine(c.Request.Context(), userID(c), c.Query("status"), p)
	reply(c, http.StatusOK, list, err)
}

// Signup serves POST /activities/{id}/signup → 201 {status, position?}.
func (h *Handler) Signup(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	v, err := h.svc.Activities.Signup(c.Request.Context(), userID(c), id)
	reply(c, http.StatusCreated, v, err)
}

// CancelSignup serves DELETE /activities/{id}/signup.
func (h *Handler) CancelSignup(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	err := h.svc.Activities.CancelSignup(c.Request.Context(), userID(c), id)
	reply(c, http.StatusOK, gin.H{"status": "cancelled"}, err)
}

// CheckinCode serves GET /activities/{id}/checkin-code [staff] →
// {token, expiresAt, qrcode?}.
func (h *Handler) CheckinCode(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	v, err := h.svc.Activities.CheckinCode(c.Request.Context(), userID(c), id)
	c.Header("Cache-Control", "no-store")
	reply(c, http.StatusOK, v, err)
}

type checkinRequest struct {
	Token string   `json:"token" binding:"required,max=64"`
	Lat   *float64 `json:"lat"`
	Lng   *float64 `json:"lng"`
}

// Checkin serves POST /activities/{id}/checkin {token, lat?, lng?}.
func (h *Handler) Checkin(c *gin.Context) {
	h.scan(c, h.svc.Activities.Checkin)
}

// Checkout serves POST /activities/{id}/checkout {token, lat?, lng?}.
func (h *Handler) Checkout(c *gin.Context) {
	h.scan(c, h.svc.Activities.Checkout)
}

func (h *Handler) scan(c *gin.Context, do func(ctx context.Context, userID, activityID int64, in service.CheckinInput) (*service.SignupView, error)) {
	id, req, ok := idAndBody[checkinRequest](c, bindJSON)
	if !ok {
		return
	}
	v, err := do(c.Request.Context(), userID(c), id, service.CheckinInput{Token: req.Token, Lat: req.Lat, Lng: req.Lng})
	reply(c, http.StatusOK, v, err)
}

type manualRequest struct {
	At *time.Time `json:"at"`
}

// ManualCheckin serves POST /activities/{id}/attendances/{userId}/checkin
// {at?} [staff].
func (h *Handler) ManualCheckin(c *gin.Context) {
	h.manual(c, h.svc.Activities.ManualCheckin)
}

// ManualCheckout serves POST /activities/{id}/attendances/{userId}/checkout
// {at?} [staff].
func (h *Handler) ManualCheckout(c *gin.Context) {
	h.manual(c, h.svc.Activities.ManualCheckout)
}

func (h *Handler) manual(c *gin.Context, do func(ctx context.Context, actorID, activityID, userID int64, at *time.Time) (*service.AttendanceView, error)) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	uid, ok := pathID(c, "userId")
	if !ok {
		return
	}
	var req manualRequest
	if !bindOptionalJSON(c, &req) {
		return
	}
	v, err := do(c.Request.Context(), userID(c), id, uid, req.At)
	reply(c, http.StatusOK, v, err)
}

type approveRequest struct {
	Minutes *int   `json:"minutes" binding:"required"`
	Score   int    `json:"score" binding:"required,min=1,max=5"`
	Reason  string `json:"reason" binding:"max=200"`
}

// ApproveAttendance serves POST /activities/{id}/attendances/{userId}/approve
// {minutes, score, reason?} [staff].
func (h *Handler) ApproveAttendance(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	uid, ok := pathID(c, "userId")
	if !ok {
		return
	}
	var req approveRequest
	if !bindJSON(c, &req) {
		return
	}
	v, err := h.svc.Activities.Approve(c.Request.Context(), userID(c), id, service.ApprovalItem{
		UserID: uid, Minutes: *req.Minutes, Score: req.Score, Reason: req.Reason,
	})
	reply(c, http.StatusOK, v, err)
}

type approveItemRequest struct {
	UserID  int64  `json:"userId" binding:"required,gt=0"`
	Minutes *int   `json:"minutes" binding:"required"`
	Score   int    `json:"score" binding:"required,min=1,max=5"`
	Reason  string `json:"reason" binding:"max=200"`
}

type approveBatchRequest struct {
	Items []approveItemRequest `json:"items" binding:"required,min=1,max=200,dive"`
}

// ApproveAttendances serves POST /activities/{id}/attendances/approve
// {items: [{userId, minutes, score, reason?}]} [staff]: all or none.
func (h *Handler) ApproveAttendances(c *gin.Context) {
	id, req, ok := idAndBody[approveBatchRequest](c, bindJSON)
	if !ok {
		return
	}
	items := make([]service.ApprovalItem, 0, len(req.Items))
	for _, it := range req.Items {
		items = append(items, service.ApprovalItem{UserID: it.UserID, Minutes: *it.Minutes, Score: it.Score, Reason: it.Reason})
	}
	list, err := h.svc.Activities.ApproveBatch(c.Request.Context(), userID(c), id, items)
	reply(c, http.StatusOK, gin.H{"list": list}, err)
}

// MarkAbsent serves POST /activities/{id}/attendances/{userId}/absent
// {reason?} [staff].
func (h *Handler) MarkAbsent(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	uid, ok := pathID(c, "userId")
	if !ok {
		return
	}
	var req reasonRequest
	if !bindOptionalJSON(c, &req) {
		return
	}
	v, err := h.svc.Activities.MarkAbsent(c.Request.Context(), userID(c), id, uid, req.Reason)
	reply(c, http.StatusOK, v, err)
}

// ListAttendances serves GET /activities/{id}/attendances?status=&state=&flagged=
// [staff].
func (h *Handler) ListAttendances(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	p, ok := queryPage(c)
	if !ok {
		return
	}
	f := service.AttendanceFilter{Status: c.Query("status"), State: c.Query("state")}
	if v := c.Query("flagged"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			abortWith(c, http.StatusBadRequest, service.CodeInvalid, "参数 flagged 需为 true 或 false")
			return
		}
		f.Flagged = &b
	}
	list, err := h.svc.Activities.Attendances(c.Request.Context(), userID(c), id, f, p)
	reply(c, http.StatusOK, list, err)
}
