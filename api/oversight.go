package api

import (
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/gin-gonic/gin"

	"linli/service"
)

// Audit serves GET /admin/audit [staff]: the audit log of an org's subtree,
// newest first, filtered by actor, action, object and time.
func (h *Handler) Audit(c *gin.Context) {
	org, ok := requiredQueryID(c, "orgId")
	if !ok {
		return
	}
	actor, ok := queryID(c, "actor")
	if !ok {
		return
	}
	object, ok := queryID(c, "objectId")
	if !ok {
		return
	}
	from, to, ok := h.queryPeriod(c)
	if !ok {
		return
	}
	p, ok := queryPage(c)
	if !ok {
		return
	}
	list, err := h.svc.Audit.List(c.Request.Context(), userID(c), service.AuditFilter{
		OrgID: org, ActorID: actor, Action: c.Query("action"), ObjectKind: c.Query("objectKind"),
		ObjectID: object, From: from, To: to}, p)
	reply(c, http.StatusOK, list, err)
}

// Queue serves GET /admin/queue [staff]: everything awaiting the caller's
// decision in an org's subtree, oldest first, with the count of each kind.
func (h *Handler) Queue(c *gin.Context) {
	org, ok := requiredQueryID(c, "orgId")
	if !ok {
		return
	}
	p, ok := queryPage(c)
	if !ok {
		return
	}
	q, err := h.svc.Oversight.Queue(c.Request.Context(), userID(c), org, c.Query("kind"), p)
	reply(c, http.StatusOK, q, err)
}

// Dashboard serves GET /admin/dashboard [staff]: the figures of a district,
// street or community for a period (default: this quarter) and of each of
// its child units.
func (h *Handler) Dashboard(c *gin.Context) {
	org, from, to, ok := h.orgPeriod(c)
	if !ok {
		return
	}
	d, err := h.svc.Oversight.Dashboard(c.Request.Context(), userID(c), org, from, to)
	reply(c, http.StatusOK, d, err)
}

// Export returns the handler of GET /admin/exports/{kind}.xlsx [staff]: a
// spreadsheet of an org's subtree for a period (default: this quarter),
// streamed as it is read. The export is in the audit log before the first
// byte is sent; an error after that can only cut the download short (it is
// logged).
func (h *Handler) Export(kind string) gin.HandlerFunc {
	return func(c *gin.Context) {
		org, from, to, ok := h.orgPeriod(c)
		if !ok {
			return
		}
		ctx := c.Request.Context()
		x, err := h.svc.Oversight.PrepareExport(ctx, userID(c), kind, org, from, to)
		if err != nil {
			fail(c, err)
			return
		}
		c.Header("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
		c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="%s"; filename*=UTF-8''%s`, x.Filename, url.PathEscape(x.Filename)))
		c.Status(http.StatusOK)
		if err := x.WriteTo(ctx, c.Writer); err != nil {
			logger(c).ErrorContext(ctx, "export cut short", "kind", kind, "error", err.Error())
		}
	}
}

// queryPeriod reads the optional from and to of a period (see queryTime).
func (h *Handler) queryPeriod(c *gin.Context) (from, to *time.Time, ok bool) {
	if from, ok = h.queryTime(c, "from", false); !ok {
		return nil, nil, false
	}
	to, ok = h.queryTime(c, "to", true)
	return from, to, ok
}

// orgPeriod reads the required orgId and the optional period of a staff
// report.
func (h *Handler) orgPeriod(c *gin.Context) (org int64, from, to *time.Time, ok bool) {
	if org, ok = requiredQueryID(c, "orgId"); !ok {
		return 0, nil, nil, false
	}
	from, to, ok = h.queryPeriod(c)
	return org, from, to, ok
}
