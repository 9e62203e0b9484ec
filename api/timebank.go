package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"linli/model"
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
// credit, 202 for a credit above the approval threshold (a pending request,
// paid once a second staff member approves it), 200 for a replay of the
// same request id.
func (h *Handler) ManualCredit(c *gin.Context) {
	var req manualCreditRequest
	if !bindJSON(c, &req) {
		return
	}
	v, err := h.svc.TimeBank.ManualCredit(c.Request.Context(), userID(c), service.ManualCreditInput{
		UserID: req.UserID, CommunityID: req.CommunityID, Currency: req.Currency, Amount: req.Amount,
		Reason: req.Reason, RequestID: req.RequestID})
	status := http.StatusCreated
	switch {
	case v != nil && v.Replayed:
		status = http.StatusOK
	case v != nil && v.Status == model.ManualCreditPending:
		status = http.StatusAccepted
	}
	reply(c, status, v, err)
}

// ManualCredits serves GET /admin/credits?orgId=&status=&page=&pageSize=
// [staff of the org or above]: every manual credit and credit request of the
// org's subtree, newest first, with who requested and who decided.
func (h *Handler) ManualCredits(c *gin.Context) {
	org, ok := requiredQueryID(c, "orgId")
	if !ok {
		return
	}
	p, ok := queryPage(c)
	if !ok {
		return
	}
	list, err := h.svc.TimeBank.ManualCredits(c.Request.Context(), userID(c),
		service.ManualCreditFilter{OrgID: org, Status: c.Query("status")}, p)
	reply(c, http.StatusOK, list, err)
}

// ApproveCreditRequest serves POST /admin/credit-requests/{id}/approve
// [staff of the community other than the requester, or an admin above].
func (h *Handler) ApproveCreditRequest(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	v, err := h.svc.TimeBank.ApproveCreditRequest(c.Request.Context(), userID(c), id)
	reply(c, http.StatusOK, v, err)
}

// RejectCreditRequest serves POST /admin/credit-requests/{id}/reject
// {reason} [as approve; the requester may withdraw their own].
func (h *Handler) RejectCreditRequest(c *gin.Context) {
	id, req, ok := idAndBody[requiredReasonRequest](c, bindJSON)
	if !ok {
		return
	}
	v, err := h.svc.TimeBank.RejectCreditRequest(c.Request.Context(), userID(c), id, req.Reason)
	reply(c, http.StatusOK, v, err)
}
