package api

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"linli/model"
	"linli/service"
)

// 双报到 handlers: units, agreements, member reports, posts, service records,
// obligations, certificates, the unit report-back and the three lists.

// ---- Units ----

type createUnitRequest struct {
	Name         string `json:"name" binding:"required,max=128"`
	Kind         string `json:"kind" binding:"required,oneof=机关 事业单位 国企 非公企业 社会组织"`
	PartyOrg     string `json:"partyOrg" binding:"required,max=128"`
	CommunityID  int64  `json:"communityId" binding:"required,gt=0"`
	ContactName  string `json:"contactName" binding:"required,max=64"`
	ContactPhone string `json:"contactPhone" binding:"required,max=20"`
}

// CreateUnit serves POST /units: a unit registers with its community.
func (h *Handler) CreateUnit(c *gin.Context) {
	var req createUnitRequest
	if !bindJSON(c, &req) {
		return
	}
	v, err := h.svc.Reports.CreateUnit(c.Request.Context(), userID(c), service.UnitInput{
		Name: req.Name, Kind: model.UnitKind(req.Kind), PartyOrg: req.PartyOrg, CommunityID: req.CommunityID,
		ContactName: req.ContactName, ContactPhone: req.ContactPhone,
	})
	reply(c, http.StatusCreated, v, err)
}

// ListUnits serves GET /units?communityId=&status=.
func (h *Handler) ListUnits(c *gin.Context) {
	community, ok := queryID(c, "communityId")
	if !ok {
		return
	}
	p, ok := queryPage(c)
	if !ok {
		return
	}
	list, err := h.svc.Reports.ListUnits(c.Request.Context(), userID(c), community, c.Query("status"), p)
	reply(c, http.StatusOK, list, err)
}

// MyUnits serves GET /units/mine: units the caller registered or speaks for.
func (h *Handler) MyUnits(c *gin.Context) {
	units, err := h.svc.Reports.MyUnits(c.Request.Context(), userID(c))
	reply(c, http.StatusOK, gin.H{"list": units}, err)
}

// GetUnit serves GET /units/{id}.
func (h *Handler) GetUnit(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	v, err := h.svc.Reports.GetUnit(c.Request.Context(), userID(c), id)
	reply(c, http.StatusOK, v, err)
}

type reviewReasonRequest struct {
	Reason string `json:"reason" binding:"required,max=255"`
}

// ApproveUnit serves POST /units/{id}/approve [staff].
func (h *Handler) ApproveUnit(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	v, err := h.svc.Reports.ReviewUnit(c.Request.Context(), userID(c), id, true, "")
	reply(c, http.StatusOK, v, err)
}

// RejectUnit serves POST /units/{id}/reject {reason} [staff].
func (h *Handler) RejectUnit(c *gin.Context) {
	id, req, ok := idAndBody[reviewReasonRequest](c, bindJSON)
	if !ok {
		return
	}
	v, err := h.svc.Reports.ReviewUnit(c.Request.Context(), userID(c), id, false, req.Reason)
	reply(c, http.StatusOK, v, err)
}

type addLiaisonRequest struct {
	UserID int64 `json:"userId" binding:"required,gt=0"`
}

// AddLiaison serves POST /units/{id}/liaisons {userId} [unit_liaison, staff].
func (h *Handler) AddLiaison(c *gin.Context) {
	id, req, ok := idAndBody[addLiaisonRequest](c, bindJSON)
	if !ok {
		return
	}
	v, err := h.svc.Reports.AddLiaison(c.Request.Context(), userID(c), id, req.UserID)
	reply(c, http.StatusCreated, v, err)
}

type createAgreementRequest struct {
	CommunityID *int64 `json:"communityId" binding:"omitempty,gt=0"`
	Scope       string `json:"scope" binding:"required,max=1000"`
	StartOn     string `json:"startOn" binding:"required,max=10"`
	EndOn       string `json:"endOn" binding:"required,max=10"`
}

// CreateAgreement serves POST /units/{id}/agreements [staff].
func (h *Handler) CreateAgreement(c *gin.Context) {
	id, req, ok := idAndBody[createAgreementRequest](c, bindJSON)
	if !ok {
		return
	}
	v, err := h.svc.Reports.CreateAgreement(c.Request.Context(), userID(c), id, service.AgreementInput{
		CommunityID: req.CommunityID, Scope: req.Scope, StartOn: req.StartOn, EndOn: req.EndOn,
	})
	reply(c, http.StatusCreated, v, err)
}

// ListAgreements serves GET /units/{id}/agreements.
func (h *Handler) ListAgreements(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	list, err := h.svc.Reports.ListAgreements(c.Request.Context(), id)
	reply(c, http.StatusOK, gin.H{"list": list}, err)
}

type advanceAgreementRequest struct {
	Status string `json:"status" binding:"required,oneof=signed performing evaluated"`
}

// AdvanceAgreement serves POST /agreements/{id}/advance {status} [staff].
func (h *Handler) AdvanceAgreement(c *gin.Context) {
	id, req, ok := idAndBody[advanceAgreementRequest](c, bindJSON)
	if !ok {
		return
	}
	v, err := h.svc.Reports.AdvanceAgreement(c.Request.Context(), userID(c), id, model.AgreementStatus(req.Status))
	reply(c, http.StatusOK, v, err)
}

// UnitReport serves GET /units/{id}/report?period=&format=json|xlsx
// [unit_liaison, staff].
func (h *Handler) UnitReport(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	format := c.DefaultQuery("format", "json")
	if format != "json" && format != "xlsx" {
		abortWith(c, http.StatusBadRequest, service.CodeInvalid, "参数 format 需为 json 或 xlsx")
		return
	}
	v, err := h.svc.Reports.UnitReport(c.Request.Context(), userID(c), id, c.Query("period"))
	if err != nil {
		fail(c, err)
		return
	}
	if format == "json" {
		respond(c, http.StatusOK, v)
		return
	}
	b, err := service.UnitReportXLSX(v)
	if err != nil {
		fail(c, err)
		return
	}
	name := fmt.Sprintf("双报告-%d-%s.xlsx", v.Unit.ID, v.Period)
	c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="unit-report-%d-%s.xlsx"; filename*=UTF-8''%s`,
		v.Unit.ID, v.Period, url.PathEscape(name)))
	c.Data(http.StatusOK, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", b)
}

// ---- Member reports ----

type createReportRequest struct {
	CommunityID int64  `json:"communityId" binding:"required,gt=0"`
	RealName    string `json:"realName" binding:"required,max=32"`
	Phone       string `json:"phone" binding:"required,max=20"`
	UnitID      *int64 `json:"unitId" binding:"omitempty,gt=0"`
	UnitName    string `json:"unitName" binding:"max=128"`
	Branch      string `json:"branch" binding:"required,max=128"`
	Mode        string `json:"mode" binding:"required,oneof=daily centralized"`
}

// CreateReport serves POST /member-reports: a Party member reports to their
// residential community.
func (h *Handler) CreateReport(c *gin.Context) {
	var req createReportRequest
	if !bindJSON(c, &req) {
		return
	}
	v, err := h.svc.Reports.SubmitReport(c.Request.Context(), userID(c), service.ReportInput{
		CommunityID: req.CommunityID, RealName: req.RealName, Phone: req.Phone, UnitID: req.UnitID,
		UnitName: req.UnitName, Branch: req.Branch, Mode: model.ReportMode(req.Mode),
	})
	reply(c, http.StatusCreated, v, err)
}

// MyReports serves GET /member-reports/mine.
func (h *Handler) MyReports(c *gin.Context) {
	list, err := h.svc.Reports.MyReports(c.Request.Context(), userID(c))
	reply(c, http.StatusOK, gin.H{"list": list}, err)
}

// ListReports serves GET /member-reports?communityId=&status= [staff].
func (h *Handler) ListReports(c *gin.Context) {
	community, ok := requiredQueryID(c, "communityId")
	if !ok {
		return
	}
	p, ok := queryPage(c)
	if !ok {
		return
	}
	list, err := h.svc.Reports.ListReports(c.Request.Context(), userID(c), community, c.Query("status"), p)
	reply(c, http.StatusOK, list, err)
}

// GetReport serves GET /member-reports/{id} [the member, staff, the
// member's unit liaisons].
func (h *Handler) GetReport(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	v, err := h.svc.Reports.GetReport(c.Request.Context(), userID(c), id)
	reply(c, http.StatusOK, v, err)
}

// ApproveReport serves POST /member-reports/{id}/approve [staff].
func (h *Handler) ApproveReport(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	v, err := h.svc.Reports.ReviewReport(c.Request.Context(), userID(c), id, true, "")
	reply(c, http.StatusOK, v, err)
}

// RejectReport serves POST /member-reports/{id}/reject {reason} [staff].
func (h *Handler) RejectReport(c *gin.Context) {
	id, req, ok := idAndBody[reviewReasonRequest](c, bindJSON)
	if !ok {
		return
	}
	v, err := h.svc.Reports.ReviewReport(c.Request.Context(), userID(c), id, false, req.Reason)
	reply(c, http.StatusOK, v, err)
}

// WithdrawReport serves POST /member-reports/{id}/withdraw [the member].
func (h *Handler) WithdrawReport(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	v, err := h.svc.Reports.WithdrawReport(c.Request.Context(), userID(c), id)
	reply(c, http.StatusOK, v, err)
}

// ---- Posts ----

type createPostRequest struct {
	CommunityID int64  `json:"communityId" binding:"required,gt=0"`
	Name        string `json:"name" binding:"required,max=64"`
	Description string `json:"description" binding:"max=500"`
	Capacity    int    `json:"capacity" binding:"required,gt=0"`
}

// CreatePost serves POST /posts [staff].
func (h *Handler) CreatePost(c *gin.Context) {
	var req createPostRequest
	if !bindJSON(c, &req) {
		return
	}
	v, err := h.svc.Reports.CreatePost(c.Request.Context(), userID(c), req.CommunityID, req.Name, req.Description, req.Capacity)
	reply(c, http.StatusCreated, v, err)
}

// ListPosts serves GET /posts?communityId=.
func (h *Handler) ListPosts(c *gin.Context) {
	community, ok := requiredQueryID(c, "communityId")
	if !ok {
		return
	}
	p, ok := queryPage(c)
	if !ok {
		return
	}
	list, err := h.svc.Reports.ListPosts(c.Request.Context(), userID(c), community, p)
	reply(c, http.StatusOK, list, err)
}

// MyPosts serves GET /posts/mine.
func (h *Handler) MyPosts(c *gin.Context) {
	list, err := h.svc.Reports.MyPosts(c.Request.Context(), userID(c))
	reply(c, http.StatusOK, gin.H{"list": list}, err)
}

// ClaimPost serves POST /posts/{id}/claim [party_member].
func (h *Handler) ClaimPost(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	v, err := h.svc.Reports.ClaimPost(c.Request.Context(), userID(c), id)
	reply(c, http.StatusOK, v, err)
}

// ReleasePost serves POST /posts/{id}/release [holder].
func (h *Handler) ReleasePost(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	v, err := h.svc.Reports.ReleasePost(c.Request.Context(), userID(c), id)
	reply(c, http.StatusOK, v, err)
}

// PostHolders serves GET /posts/{id}/holders [staff].
func (h *Handler) PostHolders(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	list, err := h.svc.Reports.PostHolders(c.Request.Context(), userID(c), id)
	reply(c, http.StatusOK, gin.H{"list": list}, err)
}

// ---- Service records ----

type logServiceRequest struct {
	Kind       string     `json:"kind" binding:"required,oneof=contact_help post_duty public_activity practical_deed"`
	OccurredOn string     `json:"occurredOn" binding:"max=10"`
	OccurredAt *time.Time `json:"occurredAt"`
	Minutes    int        `json:"minutes" binding:"required"`
	Note       string     `json:"note" binding:"max=500"`
	Images     []int64    `json:"images" binding:"max=9"`
	PostID     *int64     `json:"postId" binding:"omitempty,gt=0"`
}

// LogService serves POST /services [party_member].
func (h *Handler) LogService(c *gin.Context) {
	var req logServiceRequest
	if !bindJSON(c, &req) {
		return
	}
	v, err := h.svc.Reports.LogService(c.Request.Context(), userID(c), service.RecordInput{
		Kind: model.ServiceKind(req.Kind), OccurredOn: req.OccurredOn, OccurredAt: req.OccurredAt,
		Minutes: req.Minutes, Note: req.Note, Images: req.Images, PostID: req.PostID,
	})
	reply(c, http.StatusCreated, v, err)
}

// MyServices serves GET /services/mine?status=&period=.
func (h *Handler) MyServices(c *gin.Context) {
	p, ok := queryPage(c)
	if !ok {
		return
	}
	list, err := h.svc.Reports.MyRecords(c.Request.Context(), userID(c), c.Query("status"), c.Query("period"), p)
	reply(c, http.StatusOK, list, err)
}

// ListServices serves GET /services?communityId=&status=&period= [staff]:
// the review queue (status defaults to pending).
func (h *Handler) ListServices(c *gin.Context) {
	community, ok := requiredQueryID(c, "communityId")
	if !ok {
		return
	}
	p, ok := queryPage(c)
	if !ok {
		return
	}
	list, err := h.svc.Reports.ListRecords(c.Request.Context(), userID(c), community, c.Query("status"), c.Query("period"), p)
	reply(c, http.StatusOK, list, err)
}

// ApproveService serves POST /services/{id}/approve [staff].
func (h *Handler) ApproveService(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	v, err := h.svc.Reports.ReviewRecord(c.Request.Context(), userID(c), id, true, "")
	reply(c, http.StatusOK, v, err)
}

// RejectService serves POST /services/{id}/reject {reason} [staff].
func (h *Handler) RejectService(c *gin.Context) {
	id, req, ok := idAndBody[reviewReasonRequest](c, bindJSON)
	if !ok {
		return
	}
	v, err := h.svc.Reports.ReviewRecord(c.Request.Context(), userID(c), id, false, req.Reason)
	reply(c, http.StatusOK, v, err)
}

// ---- Obligations ----

// MyObligations serves GET /me/obligations?period=.
func (h *Handler) MyObligations(c *gin.Context) {
	v, err := h.svc.Reports.MyObligations(c.Request.Context(), userID(c), c.Query("period"))
	reply(c, http.StatusOK, v, err)
}

// AdminObligations serves GET /admin/obligations?orgId=&period=&view=
// &compliant=&unitId=&sort=&order=&page=&pageSize= [staff].
func (h *Handler) AdminObligations(c *gin.Context) {
	org, ok := requiredQueryID(c, "orgId")
	if !ok {
		return
	}
	unit, ok := queryID(c, "unitId")
	if !ok {
		return
	}
	p, ok := queryPage(c)
	if !ok {
		return
	}
	var compliant *bool
	if v := c.Query("compliant"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			abortWith(c, http.StatusBadRequest, service.CodeInvalid, "参数 compliant 需为 true 或 false")
			return
		}
		compliant = &b
	}
	v, err := h.svc.Reports.AdminObligations(c.Request.Context(), userID(c), service.ObligationQuery{
		OrgID: org, Period: c.Query("period"), View: c.Query("view"), Compliant: compliant, UnitID: unit,
		Sort: c.Query("sort"), Order: c.Query("order"), Page: p,
	})
	reply(c, http.StatusOK, v, err)
}

// ---- Certificates ----

type issueCertificateRequest struct {
	Period string `json:"period" binding:"required,max=8"`
}

// IssueCertificate serves POST /me/certificates {period} [party_member]:
// 201 when issued now, 200 with the same certificate when issued before.
func (h *Handler) IssueCertificate(c *gin.Context) {
	var req issueCertificateRequest
	if !bindJSON(c, &req) {
		return
	}
	v, created, err := h.svc.Reports.IssueCertificate(c.Request.Context(), userID(c), req.Period)
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	reply(c, status, v, err)
}

// MyCertificates serves GET /me/certificates.
func (h *Handler) MyCertificates(c *gin.Context) {
	list, err := h.svc.Reports.MyCertificates(c.Request.Context(), userID(c))
	reply(c, http.StatusOK, gin.H{"list": list}, err)
}

// CertificateQRCode serves GET /me/certificates/{id}/qrcode: a PNG QR code
// of the certificate's verify address.
func (h *Handler) CertificateQRCode(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	png, err := h.svc.Reports.CertificateQRCode(c.Request.Context(), userID(c), id)
	if err != nil {
		fail(c, err)
		return
	}
	c.Header("Cache-Control", "private, max-age=3600")
	c.Data(http.StatusOK, "image/png", png)
}

// VerifyCertificate serves GET /certificates/verify?number=&code= without
// sign-in.
func (h *Handler) VerifyCertificate(c *gin.Context) {
	if service.IsVolunteerCertificateNumber(c.Query("number")) {
		v, err := h.svc.Records.VerifyCertificate(c.Request.Context(), c.Query("number"), c.Query("code"))
		reply(c, http.StatusOK, v, err)
		return
	}
	v, err := h.svc.Reports.VerifyCertificate(c.Request.Context(), c.Query("number"), c.Query("code"))
	reply(c, http.StatusOK, v, err)
}

// ---- Three lists ----

type createNeedRequest struct {
	CommunityID int64  `json:"communityId" binding:"required,gt=0"`
	Title       string `json:"title" binding:"required,max=64"`
	Content     string `json:"content" binding:"max=1000"`
}

// CreateNeed serves POST /needs [staff].
func (h *Handler) CreateNeed(c *gin.Context) {
	var req createNeedRequest
	if !bindJSON(c, &req) {
		return
	}
	v, err := h.svc.Reports.CreateNeed(c.Request.Context(), userID(c), req.CommunityID, req.Title, req.Content)
	reply(c, http.StatusCreated, v, err)
}

// ListNeeds serves GET /needs?communityId=&status=.
func (h *Handler) ListNeeds(c *gin.Context) {
	community, ok := requiredQueryID(c, "communityId")
	if !ok {
		return
	}
	p, ok := queryPage(c)
	if !ok {
		return
	}
	list, err := h.svc.Reports.ListNeeds(c.Request.Context(), community, c.Query("status"), p)
	reply(c, http.StatusOK, list, err)
}

type claimNeedRequest struct {
	UnitID int64 `json:"unitId" binding:"required,gt=0"`
}

// ClaimNeed serves POST /needs/{id}/claim {unitId} [unit_liaison]: 201 with
// the new project.
func (h *Handler) ClaimNeed(c *gin.Context) {
	id, req, ok := idAndBody[claimNeedRequest](c, bindJSON)
	if !ok {
		return
	}
	v, err := h.svc.Reports.ClaimNeed(c.Request.Context(), userID(c), id, req.UnitID)
	reply(c, http.StatusCreated, v, err)
}

type createResourceRequest struct {
	UnitID  int64  `json:"unitId" binding:"required,gt=0"`
	Title   string `json:"title" binding:"required,max=64"`
	Content string `json:"content" binding:"max=1000"`
}

// CreateResource serves POST /resources [unit_liaison].
func (h *Handler) CreateResource(c *gin.Context) {
	var req createResourceRequest
	if !bindJSON(c, &req) {
		return
	}
	v, err := h.svc.Reports.CreateResource(c.Request.Context(), userID(c), req.UnitID, req.Title, req.Content)
	reply(c, http.StatusCreated, v, err)
}

// ListResources serves GET /resources?communityId=&unitId=&status=.
func (h *Handler) ListResources(c *gin.Context) {
	community, ok := queryID(c, "communityId")
	if !ok {
		return
	}
	unit, ok := queryID(c, "unitId")
	if !ok {
		return
	}
	p, ok := queryPage(c)
	if !ok {
		return
	}
	list, err := h.svc.Reports.ListResources(c.Request.Context(), community, unit, c.Query("status"), p)
	reply(c, http.StatusOK, list, err)
}

// ClaimResource serves POST /resources/{id}/claim [staff]: 201 with the new
// project.
func (h *Handler) ClaimResource(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	v, err := h.svc.Reports.ClaimResource(c.Request.Context(), userID(c), id)
	reply(c, http.StatusCreated, v, err)
}

// ListProjects serves GET /projects?communityId=&unitId=&status=.
func (h *Handler) ListProjects(c *gin.Context) {
	community, ok := queryID(c, "communityId")
	if !ok {
		return
	}
	unit, ok := queryID(c, "unitId")
	if !ok {
		return
	}
	p, ok := queryPage(c)
	if !ok {
		return
	}
	list, err := h.svc.Reports.ListProjects(c.Request.Context(), community, unit, c.Query("status"), p)
	reply(c, http.StatusOK, list, err)
}

type completeProjectRequest struct {
	Note        string `json:"note" binding:"required,max=1000"`
	CompletedOn string `json:"completedOn" binding:"max=10"`
}

// CompleteProject serves POST /projects/{id}/complete {note, completedOn?}
// [staff, unit_liaison]: the project then awaits the community's
// confirmation.
func (h *Handler) CompleteProject(c *gin.Context) {
	id, req, ok := idAndBody[completeProjectRequest](c, bindJSON)
	if !ok {
		return
	}
	v, err := h.svc.Reports.CompleteProject(c.Request.Context(), userID(c), id, req.Note, req.CompletedOn)
	reply(c, http.StatusOK, v, err)
}

type confirmProjectRequest struct {
	CompletedOn string `json:"completedOn" binding:"max=10"`
}

// ConfirmProject serves POST /projects/{id}/confirm {completedOn?} [staff of
// the project's community]: the project becomes done and counts.
func (h *Handler) ConfirmProject(c *gin.Context) {
	id, req, ok := idAndBody[confirmProjectRequest](c, bindOptionalJSON)
	if !ok {
		return
	}
	v, err := h.svc.Reports.ConfirmProject(c.Request.Context(), userID(c), id, req.CompletedOn)
	reply(c, http.StatusOK, v, err)
}

type returnProjectRequest struct {
	Reason string `json:"reason" binding:"required,max=255"`
}

// ReturnProject serves POST /projects/{id}/return {reason} [staff of the
// project's community]: the completion is sent back, the project is ongoing
// again.
func (h *Handler) ReturnProject(c *gin.Context) {
	id, req, ok := idAndBody[returnProjectRequest](c, bindJSON)
	if !ok {
		return
	}
	v, err := h.svc.Reports.ReturnProject(c.Request.Context(), userID(c), id, req.Reason)
	reply(c, http.StatusOK, v, err)
}
