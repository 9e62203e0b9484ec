package api

import (
	"archive/zip"
	"fmt"
	"io"
	"net/http"
	"path"

	"github.com/gin-gonic/gin"
)

// EraseMe serves DELETE /me: the caller's account is erased (see
// service.PrivacyService.Erase) and every session of it ends; asked again
// with the same token it is 401, the session being gone.
func (h *Handler) EraseMe(c *gin.Context) {
	p, _ := principal(c)
	err := h.svc.Privacy.Erase(c.Request.Context(), p.UserID, p.SessionID)
	reply(c, http.StatusOK, gin.H{"erased": true}, err)
}

// DataExport serves GET /me/data-export: everything linli holds about the
// caller as one JSON document.
func (h *Handler) DataExport(c *gin.Context) {
	x, err := h.svc.Privacy.Export(c.Request.Context(), userID(c))
	reply(c, http.StatusOK, x, err)
}

// DataExportZip serves GET /me/data-export.zip: a zip of the files the
// caller uploaded, one entry per upload named <id>-<key>, streamed as each
// is read from the object store. A file missing from the store is left
// out (and logged); an error after the first byte can only cut the
// download short.
func (h *Handler) DataExportZip(c *gin.Context) {
	ctx := c.Request.Context()
	uid := userID(c)
	rows, err := h.svc.Privacy.ExportUploads(ctx, uid)
	if err != nil {
		fail(c, err)
		return
	}
	c.Header("Content-Type", "application/zip")
	c.Header("Content-Disposition", `attachment; filename="linli-uploads.zip"`)
	c.Status(http.StatusOK)
	zw := zip.NewWriter(c.Writer)
	for _, r := range rows {
		f, err := h.svc.Privacy.OpenUpload(ctx, r.Key)
		if err != nil {
			logger(c).WarnContext(ctx, "data export: upload not readable", "upload", r.ID, "error", err.Error())
			continue
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: fmt.Sprintf("%d-%s", r.ID, path.Base(r.Key)), Method: zip.Store, Modified: r.CreatedAt})
		if err == nil {
			_, err = io.Copy(w, f)
		}
		_ = f.Close()
		if err != nil {
			logger(c).ErrorContext(ctx, "data export cut short", "error", err.Error())
			return
		}
	}
	if err := zw.Close(); err != nil {
		logger(c).ErrorContext(ctx, "data export cut short", "error", err.Error())
	}
}

type consentRequest struct {
	Version string `json:"version" binding:"required,max=32"`
}

// Consent serves POST /me/consent {version}: the caller accepts the
// privacy policy of that version (the current one).
func (h *Handler) Consent(c *gin.Context) {
	var req consentRequest
	if !bindJSON(c, &req) {
		return
	}
	v, err := h.svc.Privacy.Consent(c.Request.Context(), userID(c), req.Version)
	reply(c, http.StatusOK, v, err)
}
