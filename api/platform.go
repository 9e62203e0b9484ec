package api

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"linli/service"
)

// Healthz serves GET /healthz: the process is up.
func (h *Handler) Healthz(c *gin.Context) {
	respond(c, http.StatusOK, gin.H{"status": "up"})
}

// Readyz serves GET /readyz: 200 when the database, Redis and the upload
// store answer, else 503 naming the store that is down.
func (h *Handler) Readyz(c *gin.Context) {
	if down := h.svc.Ready(c.Request.Context()); len(down) > 0 {
		abortWith(c, http.StatusServiceUnavailable, service.CodeUnavailable, "依赖服务不可用："+strings.Join(down, "、"))
		return
	}
	respond(c, http.StatusOK, gin.H{"database": "up", "redis": "up", "uploads": "up"})
}

// NoRoute answers unknown paths with a 10005 envelope.
func NoRoute(c *gin.Context) {
	abortWith(c, http.StatusNotFound, service.CodeNotFound, "接口不存在")
}

// NoMethod answers a known path with the wrong method: 405 with 10005.
func NoMethod(c *gin.Context) {
	abortWith(c, http.StatusMethodNotAllowed, service.CodeNotFound, "接口不支持该请求方法")
}

// OpenAPI serves the OpenAPI document (JSON) given at construction.
func OpenAPI(doc []byte) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Data(http.StatusOK, "application/json; charset=utf-8", doc)
	}
}
