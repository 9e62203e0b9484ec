package api

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

type wechatLoginRequest struct {
	Code string `json:"code" binding:"required,max=128"`
}

// WeChatLogin serves POST /auth/wechat-login {code} → tokens and the user.
func (h *Handler) WeChatLogin(c *gin.Context) {
	var req wechatLoginRequest
	if !bindJSON(c, &req) {
		return
	}
	tokens, err := h.svc.Auth.WeChatLogin(c.Request.Context(), req.Code)
	reply(c, http.StatusOK, tokens, err)
}

type devLoginRequest struct {
	OpenID   string `json:"openid" binding:"required,max=64"`
	Nickname string `json:"nickname" binding:"max=32"`
}

// DevLogin serves POST /auth/dev-login {openid, nickname?}; dev mode only.
func (h *Handler) DevLogin(c *gin.Context) {
	var req devLoginRequest
	if !bindJSON(c, &req) {
		return
	}
	tokens, err := h.svc.Auth.DevLogin(c.Request.Context(), req.OpenID, req.Nickname)
	reply(c, http.StatusOK, tokens, err)
}

type refreshRequest struct {
	RefreshToken string `json:"refreshToken" binding:"required,max=256"`
}

// Refresh serves POST /auth/refresh {refreshToken} → a new pair.
func (h *Handler) Refresh(c *gin.Context) {
	var req refreshRequest
	if !bindJSON(c, &req) {
		return
	}
	tokens, err := h.svc.Auth.Refresh(c.Request.Context(), req.RefreshToken)
	reply(c, http.StatusOK, tokens, err)
}

// Logout serves POST /auth/logout: the session ends on every instance.
func (h *Handler) Logout(c *gin.Context) {
	p, _ := principal(c)
	err := h.svc.Auth.Logout(c.Request.Context(), p)
	reply(c, http.StatusOK, gin.H{"loggedOut": true}, err)
}
