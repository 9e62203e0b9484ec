package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"linli/service"
)

// Me serves GET /me.
func (h *Handler) Me(c *gin.Context) {
	me, err := h.svc.Users.Me(c.Request.Context(), userID(c))
	reply(c, http.StatusOK, me, err)
}

type updateMeRequest struct {
	Nickname  *string `json:"nickname" binding:"omitempty,max=32"`
	AvatarURL *string `json:"avatarUrl" binding:"omitempty,max=512"`
}

// UpdateMe serves PUT /me {nickname?, avatarUrl?}.
func (h *Handler) UpdateMe(c *gin.Context) {
	var req updateMeRequest
	if !bindJSON(c, &req) {
		return
	}
	me, err := h.svc.Users.UpdateProfile(c.Request.Context(), userID(c), service.ProfileUpdate{Nickname: req.Nickname, AvatarURL: req.AvatarURL})
	reply(c, http.StatusOK, me, err)
}

type setCommunityRequest struct {
	CommunityID int64  `json:"communityId" binding:"required,gt=0"`
	GridID      *int64 `json:"gridId" binding:"omitempty,gt=0"`
}

// SetCommunity serves PUT /me/community {communityId, gridId?}.
func (h *Handler) SetCommunity(c *gin.Context) {
	var req setCommunityRequest
	if !bindJSON(c, &req) {
		return
	}
	me, err := h.svc.Users.SetCommunity(c.Request.Context(), userID(c), req.CommunityID, req.GridID)
	reply(c, http.StatusOK, me, err)
}

type bindPhoneRequest struct {
	Code string `json:"code" binding:"required,max=128"`
}

// BindPhone serves POST /me/phone {code}: the verified number is stored and
// answered masked.
func (h *Handler) BindPhone(c *gin.Context) {
	var req bindPhoneRequest
	if !bindJSON(c, &req) {
		return
	}
	me, err := h.svc.Users.BindPhone(c.Request.Context(), userID(c), req.Code)
	reply(c, http.StatusOK, me, err)
}

// SearchUsers serves GET /admin/users?q=&page=&pageSize= [admin].
func (h *Handler) SearchUsers(c *gin.Context) {
	p, ok := queryPage(c)
	if !ok {
		return
	}
	list, err := h.svc.Users.Search(c.Request.Context(), userID(c), c.Query("q"), p)
	reply(c, http.StatusOK, list, err)
}

type verifyHomeRequest struct {
	CommunityID int64 `json:"communityId" binding:"required,gt=0"`
}

// VerifyHome serves POST /admin/residents/{userId}/verify-home {communityId}
// [staff of the user's home community]: the user's home is confirmed
// (homeVerified) until they move.
func (h *Handler) VerifyHome(c *gin.Context) {
	id, ok := pathID(c, "userId")
	if !ok {
		return
	}
	var req verifyHomeRequest
	if !bindJSON(c, &req) {
		return
	}
	v, err := h.svc.Users.VerifyHome(c.Request.Context(), userID(c), id, req.CommunityID)
	reply(c, http.StatusOK, v, err)
}
