package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"linli/service"
)

type createCaseRequest struct {
	CommunityID int64    `json:"communityId" binding:"required,gt=0"`
	Category    string   `json:"category" binding:"required,max=16"`
	Content     string   `json:"content" binding:"required"`
	Images      []int64  `json:"images" binding:"max=9,dive,gt=0"`
	Lat         *float64 `json:"lat"`
	Lng         *float64 `json:"lng"`
	Address     string   `json:"address" binding:"required"`
}

// CreateCase serves POST /cases → 201 with the case (status submitted) and
// duplicateOf, the open cases nearby it may repeat.
func (h *Handler) CreateCase(c *gin.Context) {
	var req createCaseRequest
	if !bindJSON(c, &req) {
		return
	}
	v, err := h.svc.Cases.Create(c.Request.Context(), userID(c), service.CaseInput{
		CommunityID: req.CommunityID, Category: req.Category, Content: req.Content, Images: req.Images,
		Lat: req.Lat, Lng: req.Lng, Address: req.Address,
	})
	reply(c, http.StatusCreated, v, err)
}

// MyCases serves GET /cases/mine: the caller's reports and the cases they
// follow.
func (h *Handler) MyCases(c *gin.Context) {
	p, ok := queryPage(c)
	if !ok {
		return
	}
	list, err := h.svc.Cases.Mine(c.Request.Context(), userID(c), p)
	reply(c, http.StatusOK, list, err)
}

// ListCases serves GET /cases?orgId=&status=&category=&overdue= [staff of
// orgId, or dept_staff of a department].
func (h *Handler) ListCases(c *gin.Context) {
	org, ok := requiredQueryID(c, "orgId")
	if !ok {
		return
	}
	p, ok := queryPage(c)
	if !ok {
		return
	}
	f := service.CaseFilter{OrgID: org, Status: c.Query("status"), Category: c.Query("category")}
	if v := c.Query("overdue"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			abortWith(c, http.StatusBadRequest, service.CodeInvalid, "参数 overdue 需为 true 或 false")
			return
		}
		f.Overdue = &b
	}
	list, err := h.svc.Cases.List(c.Request.Context(), userID(c), f, p)
	reply(c, http.StatusOK, list, err)
}

// GetCase serves GET /cases/{id} with its timeline.
func (h *Handler) GetCase(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	v, err := h.svc.Cases.Get(c.Request.Context(), userID(c), id)
	reply(c, http.StatusOK, v, err)
}

// AcceptCase serves POST /cases/{id}/accept [staff].
func (h *Handler) AcceptCase(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	v, err := h.svc.Cases.Accept(c.Request.Context(), userID(c), id)
	reply(c, http.StatusOK, v, err)
}

type assignCaseRequest struct {
	UserID *int64 `json:"userId" binding:"omitempty,gt=0"`
	UnitID *int64 `json:"unitId" binding:"omitempty,gt=0"`
}

// AssignCase serves POST /cases/{id}/assign {userId|unitId} [staff].
func (h *Handler) AssignCase(c *gin.Context) {
	id, req, ok := idAndBody[assignCaseRequest](c, bindJSON)
	if !ok {
		return
	}
	v, err := h.svc.Cases.Assign(c.Request.Context(), userID(c), id, service.Assignment{UserID: req.UserID, UnitID: req.UnitID})
	reply(c, http.StatusOK, v, err)
}

type resolveCaseRequest struct {
	Note   string  `json:"note" binding:"required"`
	Images []int64 `json:"images" binding:"max=9,dive,gt=0"`
}

// ResolveCase serves POST /cases/{id}/resolve {note, images?} [staff, the
// assignee, dept_staff of the lead department].
func (h *Handler) ResolveCase(c *gin.Context) {
	id, req, ok := idAndBody[resolveCaseRequest](c, bindJSON)
	if !ok {
		return
	}
	v, err := h.svc.Cases.Resolve(c.Request.Context(), userID(c), id, req.Note, req.Images)
	reply(c, http.StatusOK, v, err)
}

// WhistleCase serves POST /cases/{id}/whistle {reason} [staff].
func (h *Handler) WhistleCase(c *gin.Context) {
	id, req, ok := idAndBody[requiredReasonRequest](c, bindJSON)
	if !ok {
		return
	}
	v, err := h.svc.Cases.Whistle(c.Request.Context(), userID(c), id, req.Reason)
	reply(c, http.StatusOK, v, err)
}

type mergeCaseRequest struct {
	IntoID int64 `json:"intoId" binding:"required,gt=0"`
}

// MergeCase serves POST /cases/{id}/merge {intoId} [staff].
func (h *Handler) MergeCase(c *gin.Context) {
	id, req, ok := idAndBody[mergeCaseRequest](c, bindJSON)
	if !ok {
		return
	}
	v, err := h.svc.Cases.Merge(c.Request.Context(), userID(c), id, req.IntoID)
	reply(c, http.StatusOK, v, err)
}

type dispatchCaseRequest struct {
	DepartmentIDs []int64    `json:"departmentIds" binding:"required,min=1,max=10,dive,gt=0"`
	LeadID        int64      `json:"leadId" binding:"required,gt=0"`
	Deadline      *time.Time `json:"deadline"`
}

// DispatchCase serves POST /cases/{id}/dispatch {departmentIds, leadId,
// deadline?} [admin of the whistle office].
func (h *Handler) DispatchCase(c *gin.Context) {
	id, req, ok := idAndBody[dispatchCaseRequest](c, bindJSON)
	if !ok {
		return
	}
	v, err := h.svc.Cases.Dispatch(c.Request.Context(), userID(c), id,
		service.Dispatch{DepartmentIDs: req.DepartmentIDs, LeadID: req.LeadID, Deadline: req.Deadline})
	reply(c, http.StatusOK, v, err)
}

// EscalateCase serves POST /cases/{id}/escalate [admin of the street's
// whistle office].
func (h *Handler) EscalateCase(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	v, err := h.svc.Cases.Escalate(c.Request.Context(), userID(c), id)
	reply(c, http.StatusOK, v, err)
}

// ReportInCase serves POST /cases/{id}/report-in [dept_staff].
func (h *Handler) ReportInCase(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	v, err := h.svc.Cases.ReportIn(c.Request.Context(), userID(c), id)
	reply(c, http.StatusOK, v, err)
}

// ReturnCase serves POST /cases/{id}/return {reason} [dept_staff of the
// lead department].
func (h *Handler) ReturnCase(c *gin.Context) {
	id, req, ok := idAndBody[requiredReasonRequest](c, bindJSON)
	if !ok {
		return
	}
	v, err := h.svc.Cases.Return(c.Request.Context(), userID(c), id, req.Reason)
	reply(c, http.StatusOK, v, err)
}

type rateCaseRequest struct {
	Rating  int    `json:"rating" binding:"required,min=1,max=5"`
	Comment string `json:"comment" binding:"max=200"`
}

// RateCase serves POST /cases/{id}/rate {rating, comment?} [reporter].
func (h *Handler) RateCase(c *gin.Context) {
	id, req, ok := idAndBody[rateCaseRequest](c, bindJSON)
	if !ok {
		return
	}
	v, err := h.svc.Cases.Rate(c.Request.Context(), userID(c), id, req.Rating, req.Comment)
	reply(c, http.StatusOK, v, err)
}

// ReopenCase serves POST /cases/{id}/reopen {reason} [reporter].
func (h *Handler) ReopenCase(c *gin.Context) {
	id, req, ok := idAndBody[requiredReasonRequest](c, bindJSON)
	if !ok {
		return
	}
	v, err := h.svc.Cases.Reopen(c.Request.Context(), userID(c), id, req.Reason)
	reply(c, http.StatusOK, v, err)
}

// CaseStats serves GET /admin/case-stats?orgId=&from=&to= [staff of orgId].
// from and to are dates (YYYY-MM-DD, to inclusive) or RFC 3339 times.
func (h *Handler) CaseStats(c *gin.Context) {
	org, from, to, ok := h.orgPeriod(c)
	if !ok {
		return
	}
	st, err := h.svc.Cases.Stats(c.Request.Context(), userID(c), org, from, to)
	reply(c, http.StatusOK, st, err)
}

type createDepartmentRequest struct {
	ParentID int64  `json:"parentId" binding:"required,gt=0"`
	Name     string `json:"name" binding:"required,max=64"`
}

// CreateDepartment serves POST /admin/departments {parentId, name} → 201
// [admin of the street or district].
func (h *Handler) CreateDepartment(c *gin.Context) {
	var req createDepartmentRequest
	if !bindJSON(c, &req) {
		return
	}
	v, err := h.svc.Cases.CreateDepartment(c.Request.Context(), userID(c), req.ParentID, req.Name)
	reply(c, http.StatusCreated, v, err)
}

type deptStaffRequest struct {
	UserID int64 `json:"userId" binding:"required,gt=0"`
}

// AddDeptStaff serves POST /admin/departments/{id}/staff {userId} → 201
// [admin of the department's street or district].
func (h *Handler) AddDeptStaff(c *gin.Context) {
	id, req, ok := idAndBody[deptStaffRequest](c, bindJSON)
	if !ok {
		return
	}
	v, err := h.svc.Cases.AddDeptStaff(c.Request.Context(), userID(c), id, req.UserID)
	reply(c, http.StatusCreated, v, err)
}

// RemoveDeptStaff serves DELETE /admin/departments/{id}/staff/{userId} →
// {departmentId, userId, removed} [admin of the department's street or
// district].
func (h *Handler) RemoveDeptStaff(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	user, ok := pathID(c, "userId")
	if !ok {
		return
	}
	err := h.svc.Cases.RemoveDeptStaff(c.Request.Context(), userID(c), id, user)
	reply(c, http.StatusOK, gin.H{"departmentId": id, "userId": user, "removed": true}, err)
}
