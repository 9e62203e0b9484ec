package config

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// NotifyConfig holds the notification outbox, its workers and the reminder
// sweep.
type NotifyConfig struct {
	// Workers is how many outbox workers each instance runs; 0 sends
	// nothing from this instance (another one may).
	Workers int `koanf:"workers"`
	// PollInterval is how long an idle worker waits before it looks for due
	// rows again (a commit on the same instance wakes it at once).
	PollInterval time.Duration `koanf:"poll_interval"`
	// BatchSize is how many rows a worker leases at a time.
	BatchSize int `koanf:"batch_size"`
	// Lease is how long a leased row is a worker's own; a worker that died
	// mid-send leaves it to another once the lease has passed.
	Lease time.Duration `koanf:"lease"`
	// RetryBase is the wait after the first failed send; it doubles with
	// every further failure.
	RetryBase time.Duration `koanf:"retry_base"`
	// RetryFor is how long after its creation a row is retried before it
	// is marked failed.
	RetryFor time.Duration `koanf:"retry_for"`
	// ReminderInterval is how often serve runs the reminder sweep; 0
	// disables the loop.
	ReminderInterval time.Duration `koanf:"reminder_interval"`
	// ActivityReminderBefore is how long before an activity starts its
	// participants are reminded.
	ActivityReminderBefore time.Duration `koanf:"activity_reminder_before"`
	// ObligationReminderDays is how many days before a quarter ends members
	// who are not yet compliant are reminded.
	ObligationReminderDays int `koanf:"obligation_reminder_days"`
}

// NotificationEvents returns every event that may reach a user, in the
// order of the documentation. Each has the keys wechat.templates.<event>
// and wechat.fields.<event>.
func NotificationEvents() []string {
	return []string{
		"wish_approved", "wish_rejected", "wish_claimed", "wish_released", "wish_fulfilled", "wish_completed",
		"report_approved", "report_rejected", "unit_approved",
		"service_approved", "service_rejected",
		"activity_cancelled", "activity_reminder", "waitlist_promoted", "hours_approved",
		"order_ready", "order_expired", "gift_received", "credit_received", "obligation_reminder",
		"case_accepted", "case_assigned", "case_whistled", "case_dispatched", "case_reported_in", "case_returned",
		"case_escalated", "case_resolved", "case_closed", "case_reopened", "case_merged",
		"correction_accepted", "correction_refused",
		"image_rejected",
	}
}

// DefaultMessageFields is the field mapping of an event whose
// wechat.fields.<event> is left at its default: the template's keys and the
// value each takes (see MessageFieldSources).
const DefaultMessageFields = "thing1=subject,phrase2=status,thing3=note,time4=time"

// MessageFieldSources returns the values a subscribe message field can
// take: the notification's subject (what it is about, e.g. the wish's
// title), status (a short phrase such as 已通过), note (a reason or an
// amount), title (the inbox title) and time (when it happened).
func MessageFieldSources() []string {
	return []string{"subject", "status", "note", "title", "time"}
}

// MessageField is one key of a subscribe template and where its value comes
// from.
type MessageField struct {
	Key, Source string
}

// messageKey is a WeChat template key: a type and a number (thing1, phrase2).
var messageKey = regexp.MustCompile(`^(thing|name|phrase|number|letter|symbol|character_string|time|date|amount|phone_number|car_number)[0-9]{1,2}$`)

// ParseMessageFields reads a field mapping "thing1=subject,time4=time".
func ParseMessageFields(s string) ([]MessageField, error) {
	var out []MessageField
	for _, p := range splitList(s) {
		key, src, ok := strings.Cut(p, "=")
		key, src = strings.TrimSpace(key), strings.TrimSpace(src)
		if !ok || !messageKey.MatchString(key) {
			return nil, fmt.Errorf("%q is not a template key=value pair such as thing1=subject", p)
		}
		known := false
		for _, s := range MessageFieldSources() {
			known = known || s == src
		}
		if !known {
			return nil, fmt.Errorf("%q: the value must be one of %s", p, strings.Join(MessageFieldSources(), ", "))
		}
		out = append(out, MessageField{Key: key, Source: src})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("names no field")
	}
	return out, nil
}

// WeChatAPIBase is WeChat's own API address, the default of wechat.api_base.
const WeChatAPIBase = "https://api.weixin.qq.com"

// notifyDefaults are the default values of the notification keys.
func notifyDefaults(d map[string]any) {
	d["wechat.api_base"] = WeChatAPIBase
	d["wechat.miniprogram_state"] = "formal"
	d["wechat.lang"] = "zh_CN"
	d["wechat.message_page"] = "pages/notifications/index"
	for _, e := range NotificationEvents() {
		d["wechat.templates."+e] = ""
		d["wechat.fields."+e] = DefaultMessageFields
	}
	d["notify.workers"] = 2
	d["notify.poll_interval"] = "2s"
	d["notify.batch_size"] = 20
	d["notify.lease"] = "60s"
	d["notify.retry_base"] = "30s"
	d["notify.retry_for"] = "24h"
	d["notify.reminder_interval"] = "5m"
	d["notify.activity_reminder_before"] = "24h"
	d["notify.obligation_reminder_days"] = 15
}

// validateNotify checks the notification keys.
func (c *Config) validateNotify(bad func(key, why string) error) error {
	u, err := url.Parse(c.WeChat.APIBase)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" {
		return bad("wechat.api_base", "must be an http(s) base URL such as "+WeChatAPIBase)
	}
	switch c.WeChat.MiniprogramState {
	case "formal", "trial", "developer":
	default:
		return bad("wechat.miniprogram_state", "must be formal, trial or developer")
	}
	switch c.WeChat.Lang {
	case "zh_CN", "en_US", "zh_HK", "zh_TW":
	default:
		return bad("wechat.lang", "must be zh_CN, en_US, zh_HK or zh_TW")
	}
	if c.WeChat.MessagePage == "" || strings.HasPrefix(c.WeChat.MessagePage, "/") {
		return bad("wechat.message_page", "must be a mini-program page path without a leading /")
	}
	for _, e := range NotificationEvents() {
		if len(c.WeChat.Templates[e]) > 64 {
			return bad("wechat.templates."+e, "must be at most 64 characters")
		}
		if _, err := ParseMessageFields(c.WeChat.Fields[e]); err != nil {
			return bad("wechat.fields."+e, err.Error())
		}
	}
	n := c.Notify
	switch {
	case n.Workers < 0 || n.Workers > 64:
		return bad("notify.workers", "must be between 0 and 64")
	case n.PollInterval < 10*time.Millisecond:
		return bad("notify.poll_interval", "must be at least 10ms")
	case n.BatchSize < 1 || n.BatchSize > 500:
		return bad("notify.batch_size", "must be between 1 and 500")
	case n.Lease < time.Second || n.Lease < c.WeChat.Timeout:
		return bad("notify.lease", "must be at least 1s and at least wechat.timeout")
	case n.RetryBase < time.Second:
		return bad("notify.retry_base", "must be at least 1s")
	case n.RetryFor < n.RetryBase:
		return bad("notify.retry_for", "must not be shorter than notify.retry_base")
	case n.ReminderInterval < 0:
		return bad("notify.reminder_interval", "must not be negative (0 disables the sweep loop)")
	case n.ActivityReminderBefore < 0:
		return bad("notify.activity_reminder_before", "must not be negative (0 sends no activity reminder)")
	case n.ObligationReminderDays < 0 || n.ObligationReminderDays > 80:
		return bad("notify.obligation_reminder_days", "must be between 0 (no reminder) and 80")
	}
	return nil
}

// Template returns the subscribe template of an event ("" when the event
// is inbox-only) and its field mapping.
func (w WeChatConfig) Template(event string) (string, []MessageField) {
	id := w.Templates[event]
	if id == "" {
		return "", nil
	}
	f, err := ParseMessageFields(w.Fields[event])
	if err != nil { // Validate refused it; an unknown event has none
		return "", nil
	}
	return id, f
}
