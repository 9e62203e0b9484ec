package api_test

import (
	"strings"
)

// reportPrefixes are the paths of the 双报到 area.
func reportPrefixes() []string {
	return []string{"/api/v1/units", "/api/v1/agreements", "/api/v1/member-reports", "/api/v1/posts", "/api/v1/services",
		"/api/v1/me/obligations", "/api/v1/admin/obligations", "/api/v1/me/certificates", "/api/v1/certificates",
		"/api/v1/needs", "/api/v1/resources", "/api/v1/projects"}
}

func isReportPath(p string) bool {
	for _, prefix := range reportPrefixes() {
		if p == prefix || strings.HasPrefix(p, prefix+"/") {
			return true
		}
	}
	return false
}
