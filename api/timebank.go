package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"linli/service"
)

// MyAccount serves GET /me/account → {minutes, points, earnedMinutes,
// earnedPoints, stars, maxStars, nextStarMinutes, toNextStarMinutes}.
func (h *Handler) MyAccount(c *gin.Context) {
	v, err := h.svc.TimeBank.Account(c.Request.Context(), userID(c))
	reply(c, http.StatusOK, v, err)
}

// MyLedger serves GET /me/ledger?currency=minutes|points&page=&pageSize=,
// newest first.
func (h *Handler) MyLedger(c *gin.Context) {
	p, ok := queryPage(c)
	if !ok {
		return
	}
	list, err := h.svc.TimeBank.Ledger(c.Request.Context(), userID(c), c.Query("currency"), p)
	reply(c, http.StatusOK, list, err)
}

type giftRequest struct {
	ToUserID  int64  `json:"toUserId" binding:"required,gt=0"`
	Currency  string `json:"currency" binding:"required,oneof=minutes points"`
	Amount    int64  `json:"amount" binding:"required,gt=0,max=1000000"`
	Note      string `json:"note" binding:"max=100"`
	RequestID string `json:"requestId" binding:"max=40"`
}

// Gift serves POST /me/gifts {toUserId, currency, amount, note?, requestId?}.
func (h *Handler) Gift(c *gin.Context) {
	var req giftRequest
	if !bindJSON(c, &req) {
		return
	}
	v, err := h.svc.TimeBank.Gift(c.Request.Context(), userID(c), service.GiftInput{
		ToUserID: req.ToUserID, Currency: req.Currency, Amount: req.Amount, Note: req.Note, RequestID: req.RequestID})
	reply(c, http.StatusCreated, v, err)
}

// Leaderboard serves GET /leaderboards?orgId=&period=month|year|all&by=minutes|points.
func (h *Handler) Leaderboard(c *gin.Context) {
	org, ok := queryID(c, "orgId")
	if !ok {
		return
	}
	q := service.LeaderboardQuery{Period: c.Query("period"), By: c.Query("by")}
	if org != nil {
		q.OrgID = *org
	}
	v, err := h.svc.Leaderboards.Get(c.Request.Context(), userID(c), q)
	reply(c, http.StatusOK, v, err)
}

// Reconcile serves GET /admin/reconcile [admin of a root org] →
// {accounts, mismatches, details}.
func (h *Handler) Reconcile(c *gin.Context) {
	rep, err := h.svc.TimeBank.ReconcileAsAdmin(c.Request.Context(), userID(c))
	reply(c, http.StatusOK, rep, err)
}

type manualCreditRequest struct {
	UserID      int64  `json:"userId" binding:"required,gt=0"`
	CommunityID int64  `json:"communityId" binding:"omitempty,gt=0"`
	Currency    string `json:"currency" binding:"required,oneof=minutes points"`
	Amount      int64  `json:"amount" binding:"required,gt=0,max=1000000"`
	Reason      string `json:"reason" binding:"required,max=200"`
	RequestID   string `json:"requestId" binding:"required,max=40"`
}

// ManualCredit serves POST /admin/credits {userId, communityId?, currency,
// amount, reason, requestId} [staff of the issuing community]: 201 for a new
// credit, 200 for a replay of the same request id.
func (h *Handler) ManualCredit(c *gin.Context) {
	var req manualCreditRequest
	if !bindJSON(c, &req) {
		return
	}
	v, err := h.svc.TimeBank.ManualCredit(c.Request.Context(), userID(c), service.ManualCreditInput{
		UserID: req.UserID, CommunityID: req.CommunityID, Currency: req.Currency, Amount: req.Amount,
		Reason: req.Reason, RequestID: req.RequestID})
	status := http.StatusCreated
	if v != nil && v.Replayed {
		status = http.StatusOK
	}
	reply(c, status, v, err)
}
