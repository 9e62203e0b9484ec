package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"linli/service"
)

// ---- Volunteer records: record, certificates, training, awards ----

type volunteerCertificateRequest struct {
	From string `json:"from" binding:"max=10"`
	To   string `json:"to" binding:"max=10"`
}

// MyVolunteerRecord serves GET /me/volunteer-record?from=&to=: the caller's
// live record (services, training, awards, totals).
func (h *Handler) MyVolunteerRecord(c *gin.Context) {
	v, err := h.svc.Records.MyRecord(c.Request.Context(), userID(c), c.Query("from"), c.Query("to"))
	reply(c, http.StatusOK, v, err)
}

// IssueVolunteerCertificate serves POST /me/volunteer-certificates
// {from?, to?}: 201 with a new numbered certificate.
func (h *Handler) IssueVolunteerCertificate(c *gin.Context) {
	var req volunteerCertificateRequest
	if !bindJSON(c, &req) {
		return
	}
	v, err := h.svc.Records.IssueCertificate(c.Request.Context(), userID(c), req.From, req.To)
	reply(c, http.StatusCreated, v, err)
}

// MyVolunteerCertificates serves GET /me/volunteer-certificates.
func (h *Handler) MyVolunteerCertificates(c *gin.Context) {
	list, err := h.svc.Records.MyCertificates(c.Request.Context(), userID(c))
	reply(c, http.StatusOK, gin.H{"list": list}, err)
}

// VolunteerCertificateQRCode serves GET
// /me/volunteer-certificates/{id}/qrcode: a PNG QR code of the verify
// address.
func (h *Handler) VolunteerCertificateQRCode(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	png, err := h.svc.Records.CertificateQRCode(c.Request.Context(), userID(c), id)
	if err != nil {
		fail(c, err)
		return
	}
	c.Header("Cache-Control", "private, max-age=3600")
	c.Data(http.StatusOK, "image/png", png)
}

// IssueVolunteerCertificateFor serves POST
// /admin/volunteers/{userId}/certificates {from?, to?} [staff]: a
// certificate issued on the volunteer's behalf (代办).
func (h *Handler) IssueVolunteerCertificateFor(c *gin.Context) {
	uid, ok := pathID(c, "userId")
	if !ok {
		return
	}
	var req volunteerCertificateRequest
	if !bindJSON(c, &req) {
		return
	}
	v, err := h.svc.Records.IssueCertificateFor(c.Request.Context(), userID(c), uid, req.From, req.To)
	reply(c, http.StatusCreated, v, err)
}

// VolunteerRecordFor serves GET /admin/volunteers/{userId}/record?from=&to=
// [staff].
func (h *Handler) VolunteerRecordFor(c *gin.Context) {
	uid, ok := pathID(c, "userId")
	if !ok {
		return
	}
	v, err := h.svc.Records.VolunteerRecordFor(c.Request.Context(), userID(c), uid, c.Query("from"), c.Query("to"))
	reply(c, http.StatusOK, v, err)
}

type trainingRequest struct {
	Title     string  `json:"title" binding:"required,max=64"`
	Hours     float64 `json:"hours" binding:"required"`
	Date      string  `json:"date" binding:"required,max=10"`
	Organiser string  `json:"organiser" binding:"required,max=64"`
}

// RecordTraining serves POST /admin/volunteers/{userId}/trainings {title,
// hours, date, organiser} [staff].
func (h *Handler) RecordTraining(c *gin.Context) {
	uid, ok := pathID(c, "userId")
	if !ok {
		return
	}
	var req trainingRequest
	if !bindJSON(c, &req) {
		return
	}
	v, err := h.svc.Records.RecordTraining(c.Request.Context(), userID(c), uid, service.TrainingInput{
		Title: req.Title, Hours: req.Hours, Date: req.Date, Organiser: req.Organiser})
	reply(c, http.StatusCreated, v, err)
}

type awardRequest struct {
	Title  string `json:"title" binding:"required,max=64"`
	Level  string `json:"level" binding:"required,max=16"`
	Date   string `json:"date" binding:"required,max=10"`
	Issuer string `json:"issuer" binding:"required,max=64"`
}

// RecordAward serves POST /admin/volunteers/{userId}/awards {title, level,
// date, issuer} [staff].
func (h *Handler) RecordAward(c *gin.Context) {
	uid, ok := pathID(c, "userId")
	if !ok {
		return
	}
	var req awardRequest
	if !bindJSON(c, &req) {
		return
	}
	v, err := h.svc.Records.RecordAward(c.Request.Context(), userID(c), uid, service.AwardInput{
		Title: req.Title, Level: req.Level, Date: req.Date, Issuer: req.Issuer})
	reply(c, http.StatusCreated, v, err)
}

// ClearContentFlag serves POST /admin/content-flags/{id}/clear [staff]:
// the flagged text was looked at.
func (h *Handler) ClearContentFlag(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	v, err := h.svc.ContentReview.Clear(c.Request.Context(), userID(c), id)
	reply(c, http.StatusOK, v, err)
}

// ---- Corrections ----

type correctionRequest struct {
	AttendanceID *int64 `json:"attendanceId" binding:"omitempty,gt=0"`
	ServiceID    *int64 `json:"serviceId" binding:"omitempty,gt=0"`
	Minutes      *int   `json:"minutes"`
	Reason       string `json:"reason" binding:"required,max=500"`
}

// RequestCorrection serves POST /me/record-corrections {attendanceId |
// serviceId, minutes?, reason}.
func (h *Handler) RequestCorrection(c *gin.Context) {
	var req correctionRequest
	if !bindJSON(c, &req) {
		return
	}
	v, err := h.svc.Records.RequestCorrection(c.Request.Context(), userID(c), service.CorrectionInput{
		AttendanceID: req.AttendanceID, ServiceID: req.ServiceID, Minutes: req.Minutes, Reason: req.Reason})
	reply(c, http.StatusCreated, v, err)
}

// MyCorrections serves GET /me/record-corrections: the caller's requests
// and their decisions.
func (h *Handler) MyCorrections(c *gin.Context) {
	p, ok := queryPage(c)
	if !ok {
		return
	}
	list, err := h.svc.Records.MyCorrections(c.Request.Context(), userID(c), p)
	reply(c, http.StatusOK, list, err)
}

// AdminCorrections serves GET /admin/record-corrections?orgId=&status=
// [staff].
func (h *Handler) AdminCorrections(c *gin.Context) {
	org, ok := requiredQueryID(c, "orgId")
	if !ok {
		return
	}
	p, ok := queryPage(c)
	if !ok {
		return
	}
	list, err := h.svc.Records.AdminCorrections(c.Request.Context(), userID(c), org, c.Query("status"), p)
	reply(c, http.StatusOK, list, err)
}

type acceptCorrectionRequest struct {
	Minutes *int   `json:"minutes"`
	Note    string `json:"note" binding:"max=500"`
}

// AcceptCorrection serves POST /admin/record-corrections/{id}/accept
// {minutes?, note?} [staff].
func (h *Handler) AcceptCorrection(c *gin.Context) {
	id, req, ok := idAndBody[acceptCorrectionRequest](c, bindOptionalJSON)
	if !ok {
		return
	}
	v, err := h.svc.Records.AcceptCorrection(c.Request.Context(), userID(c), id, req.Minutes, req.Note)
	reply(c, http.StatusOK, v, err)
}

type refuseCorrectionRequest struct {
	Reason string `json:"reason" binding:"required,max=500"`
}

// RefuseCorrection serves POST /admin/record-corrections/{id}/refuse
// {reason} [staff].
func (h *Handler) RefuseCorrection(c *gin.Context) {
	id, req, ok := idAndBody[refuseCorrectionRequest](c, bindJSON)
	if !ok {
		return
	}
	v, err := h.svc.Records.RefuseCorrection(c.Request.Context(), userID(c), id, req.Reason)
	reply(c, http.StatusOK, v, err)
}
