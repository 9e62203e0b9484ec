package api

import (
	"time"

	"linli/service"
)

// HandlerOptions are the settings the handlers read; router.New fills them
// from the configuration.
type HandlerOptions struct {
	// Location is the time zone in which a date parameter (YYYY-MM-DD) is
	// read.
	Location *time.Location
	// UploadMaxBytes is the largest file POST /uploads accepts.
	UploadMaxBytes int64
}

// Handler serves every endpoint; one method per route, grouped by area in
// files named like the service areas.
type Handler struct {
	svc  *service.Service
	opts HandlerOptions
}

// NewHandler returns the handlers over svc.
func NewHandler(svc *service.Service, opts HandlerOptions) *Handler {
	return &Handler{svc: svc, opts: opts}
}
