package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"linli/model"
)

type createOrgRequest struct {
	ParentID *int64 `json:"parentId" binding:"omitempty,gt=0"`
	Level    string `json:"level" binding:"required,oneof=district street community grid"`
	Name     string `json:"name" binding:"required,max=64"`
}

// CreateOrg serves POST /admin/orgs {parentId, level, name} [admin of parent].
func (h *Handler) CreateOrg(c *gin.Context) {
	var req createOrgRequest
	if !bindJSON(c, &req) {
		return
	}
	org, err := h.svc.Orgs.CreateOrg(c.Request.Context(), userID(c), req.ParentID, model.OrgLevel(req.Level), req.Name)
	reply(c, http.StatusCreated, org, err)
}

// ListOrgs serves GET /orgs?parentId=&page=&pageSize= (roots when parentId
// is absent).
func (h *Handler) ListOrgs(c *gin.Context) {
	parent, ok := queryID(c, "parentId")
	if !ok {
		return
	}
	p, ok := queryPage(c)
	if !ok {
		return
	}
	orgs, err := h.svc.Orgs.ListOrgs(c.Request.Context(), parent, p)
	reply(c, http.StatusOK, orgs, err)
}

type appointStaffRequest struct {
	UserID int64  `json:"userId" binding:"required,gt=0"`
	OrgID  int64  `json:"orgId" binding:"required,gt=0"`
	Role   string `json:"role" binding:"required,oneof=staff admin whistle_officer"`
}

// AppointStaff serves POST /admin/staff {userId, orgId, role} [admin of org].
func (h *Handler) AppointStaff(c *gin.Context) {
	var req appointStaffRequest
	if !bindJSON(c, &req) {
		return
	}
	v, err := h.svc.Orgs.AppointStaff(c.Request.Context(), userID(c), req.UserID, req.OrgID, model.StaffRoleKind(req.Role))
	reply(c, http.StatusCreated, v, err)
}

// RemoveStaff serves DELETE /admin/staff/{id} [admin of the appointment's org].
func (h *Handler) RemoveStaff(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	err := h.svc.Orgs.RemoveStaff(c.Request.Context(), userID(c), id)
	reply(c, http.StatusOK, gin.H{"id": id, "removed": true}, err)
}
