package api

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// MyNotifications serves GET /me/notifications?cursor=&pageSize= (or
// ?page=): the caller's inbox, newest first, with unreadCount.
func (h *Handler) MyNotifications(c *gin.Context) {
	p, ok := queryPage(c)
	if !ok {
		return
	}
	inbox, err := h.svc.Notifications.Inbox(c.Request.Context(), userID(c), p)
	reply(c, http.StatusOK, inbox, err)
}

// ReadNotification serves POST /me/notifications/{id}/read: 404 for a
// notification that is not the caller's.
func (h *Handler) ReadNotification(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	v, err := h.svc.Notifications.MarkRead(c.Request.Context(), userID(c), id)
	reply(c, http.StatusOK, v, err)
}

// ReadAllNotifications serves POST /me/notifications/read-all.
func (h *Handler) ReadAllNotifications(c *gin.Context) {
	v, err := h.svc.Notifications.MarkAllRead(c.Request.Context(), userID(c))
	reply(c, http.StatusOK, v, err)
}

type subscribeRequest struct {
	TemplateIDs []string `json:"templateIds" binding:"required,min=1,max=20,dive,required,max=64"`
}

// Subscribe serves POST /me/subscriptions {templateIds}: one acceptance of
// each template the mini-program reported accepted.
func (h *Handler) Subscribe(c *gin.Context) {
	var req subscribeRequest
	if !bindJSON(c, &req) {
		return
	}
	v, err := h.svc.Notifications.Subscribe(c.Request.Context(), userID(c), req.TemplateIDs)
	reply(c, http.StatusOK, v, err)
}

// AdminOutbox serves GET /admin/outbox?status=&page=&pageSize= [admin of a
// root org]: counts by status and a page of rows with their last error.
func (h *Handler) AdminOutbox(c *gin.Context) {
	p, ok := queryPage(c)
	if !ok {
		return
	}
	v, err := h.svc.Notifications.Outbox(c.Request.Context(), userID(c), c.Query("status"), p)
	reply(c, http.StatusOK, v, err)
}
