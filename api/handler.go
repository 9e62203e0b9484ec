package api

import (
	"linli/config"
	"linli/service"
)

// Handler serves every endpoint; one method per route, grouped by area in
// files named like the service areas.
type Handler struct {
	svc *service.Service
	cfg *config.Config
}

// NewHandler returns the handlers over svc.
func NewHandler(svc *service.Service, cfg *config.Config) *Handler {
	return &Handler{svc: svc, cfg: cfg}
}
