package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"linli/service"
)

type volunteerRequest struct {
	RealName     string   `json:"realName" binding:"required,max=32"`
	Phone        string   `json:"phone" binding:"required,max=20"`
	Skills       []string `json:"skills" binding:"max=10,dive,max=16"`
	SkillsNote   string   `json:"skillsNote" binding:"max=200"`
	Availability string   `json:"availability" binding:"required,max=200"`
}

// RegisterVolunteer serves PUT /volunteers/me {realName, phone, skills,
// skillsNote?, availability}: registers or updates the caller as a volunteer.
func (h *Handler) RegisterVolunteer(c *gin.Context) {
	var req volunteerRequest
	if !bindJSON(c, &req) {
		return
	}
	v, err := h.svc.Volunteers.Register(c.Request.Context(), userID(c), service.VolunteerInput{
		RealName: req.RealName, Phone: req.Phone, Skills: req.Skills, SkillsNote: req.SkillsNote, Availability: req.Availability,
	})
	reply(c, http.StatusOK, v, err)
}

// GetVolunteer serves GET /volunteers/me: the caller's registration and
// no-show block; 404 10005 when not registered.
func (h *Handler) GetVolunteer(c *gin.Context) {
	v, err := h.svc.Volunteers.Get(c.Request.Context(), userID(c))
	reply(c, http.StatusOK, v, err)
}

// VolunteerOptions serves GET /volunteers/options: the skill tags of the
// registration form and the activity categories.
func (h *Handler) VolunteerOptions(c *gin.Context) {
	respond(c, http.StatusOK, gin.H{"skills": service.VolunteerSkills(), "categories": service.ActivityCategories()})
}
