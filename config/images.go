package config

import (
	"net/url"
	"strings"
	"time"
)

// imageCheckDefaults are the default values of the image check keys (issue
// 16 item 6, docs/areas/uploads.md).
func imageCheckDefaults(d map[string]any) {
	d["wechat.push_token"] = ""
	d["upload.public_base_url"] = ""
	d["upload.check_interval"] = "5s"
	d["content.images_require_review"] = true
}

// validateImageCheck checks the image check keys.
func (c *Config) validateImageCheck(bad func(key, why string) error) error {
	if b := c.Upload.PublicBaseURL; b != "" {
		u, err := url.Parse(b)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || strings.HasSuffix(b, "/") {
			return bad("upload.public_base_url", "must be an http(s) base URL without a trailing / such as https://linli.example.org")
		}
	}
	if c.Upload.CheckInterval < 0 || (c.Upload.CheckInterval > 0 && c.Upload.CheckInterval < 100*time.Millisecond) {
		return bad("upload.check_interval", "must be 0 (disabled) or at least 100ms")
	}
	if t := c.WeChat.PushToken; t != "" && (len(t) < 3 || len(t) > 32) {
		return bad("wechat.push_token", "must be 3 to 32 characters, as WeChat's message push accepts")
	}
	return nil
}
