package testutil

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"linli/internal/wechat"
)

// FakeWeChat is a local stand-in for api.weixin.qq.com. Its answers depend on
// what the test sends, so one server serves every test of a process:
//
//   - code2session: code "bad…" → 40029, "used…" → 40163, "ratelimited…" →
//     45011, "down…" → the connection is dropped (WeChat unreachable); any other
//     code is taken as the openid; "union:X" logs in openid X with unionid "u-X".
//   - getuserphonenumber: code "bad…" → 40029; "phone:N" → N; else 13812345678.
//   - msg_sec_check: content with "RISKY" → suggest risky, "REVIEW" → review,
//     "WXDOWN" → dropped connection, else pass.
//   - subscribe send: errcode 0, recorded, unless FailSubscribe scripted
//     failures for the receiver; getwxacodeunlimit: a JPEG body.
//   - media_check_async: recorded (MediaChecks) and answered with a new
//     trace_id; the test fires the verdict with Harness.PushMediaCheck.
type FakeWeChat struct {
	Server *httptest.Server

	mu    sync.Mutex
	calls map[string]int
	sent  []map[string]any
	// script holds, per openid, the errcodes its next subscribe sends get.
	script map[string][]int
	// attempts counts subscribe sends per openid, failed ones included.
	attempts map[string]int
	// media holds the media_check_async requests, in order; mediaFail
	// counts, per openid, the submissions still to refuse.
	media     []MediaCheck
	mediaFail map[string]int
}

// FailMediaCheck makes the next n media_check_async submissions for
// openid fail with errcode -1 (system busy).
func (f *FakeWeChat) FailMediaCheck(openid string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mediaFail[openid] += n
}

// MediaCheck is one media_check_async request the fake received and the
// trace_id it answered.
type MediaCheck struct {
	OpenID, MediaURL, TraceID string
	MediaType, Scene, Version int
}

// MediaChecks returns the media checks submitted so far whose media_url
// contains substr (an upload's key).
func (f *FakeWeChat) MediaChecks(substr string) []MediaCheck {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []MediaCheck
	for _, m := range f.media {
		if strings.Contains(m.MediaURL, substr) {
			out = append(out, m)
		}
	}
	return out
}

// FakeDrop, in FailSubscribe, drops the connection instead of answering.
const FakeDrop = -999

// FailSubscribe makes the next len(errcodes) subscribe sends to openid
// fail, in order, with these errcodes (FakeDrop: no answer at all); later
// sends succeed.
func (f *FakeWeChat) FailSubscribe(openid string, errcodes ...int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script[openid] = append(f.script[openid], errcodes...)
}

// SentTo returns the subscribe messages delivered to openid.
func (f *FakeWeChat) SentTo(openid string) []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []map[string]any
	for _, m := range f.sent {
		if m["touser"] == openid {
			out = append(out, m)
		}
	}
	return out
}

// SubscribeAttempts returns how many subscribe sends to openid arrived,
// failed ones included.
func (f *FakeWeChat) SubscribeAttempts(openid string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attempts[openid]
}

// SessionKeyPrefix starts every session_key the fake hands out, so tests can
// assert it never leaks.
const SessionKeyPrefix = "FAKE-SESSION-KEY-"

// FakeJPEG returns the body the fake answers wxacode requests with.
func FakeJPEG() []byte {
	return []byte{0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0x00, 0xFF, 0xD9}
}

// NewFakeWeChat starts the fake server.
func NewFakeWeChat() *FakeWeChat {
	f := &FakeWeChat{calls: map[string]int{}, script: map[string][]int{}, attempts: map[string]int{}, mediaFail: map[string]int{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	return f
}

// Calls returns how often a path (e.g. "/sns/jscode2session") was called.
func (f *FakeWeChat) Calls(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[path]
}

// Sent returns the bodies of subscribe messages sent so far.
func (f *FakeWeChat) Sent() []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]map[string]any(nil), f.sent...)
}

// Client returns the HTTP client main would build with wechat.api_base set
// to the fake's address: every request goes to the fake, whatever host the
// SDK names.
func (f *FakeWeChat) Client() *http.Client {
	c, err := wechat.HTTPClient(f.Server.URL, 10*time.Second)
	if err != nil {
		panic(err)
	}
	return c
}

func (f *FakeWeChat) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.calls[r.URL.Path]++
	f.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	var in map[string]any
	_ = json.Unmarshal(body, &in)
	str := func(k string) string { s, _ := in[k].(string); return s }
	reply := func(v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	errcode := func(code int, msg string) { reply(map[string]any{"errcode": code, "errmsg": msg}) }

	switch r.URL.Path {
	case "/cgi-bin/stable_token", "/cgi-bin/token":
		reply(map[string]any{"access_token": "FAKE-ACCESS-TOKEN", "expires_in": 7200})
	case "/sns/jscode2session":
		code := r.URL.Query().Get("js_code")
		switch {
		case strings.HasPrefix(code, "bad"):
			errcode(40029, "invalid code")
		case strings.HasPrefix(code, "used"):
			errcode(40163, "code been used")
		case strings.HasPrefix(code, "ratelimited"):
			errcode(45011, "api minute-quota reach limit")
		case strings.HasPrefix(code, "down"):
			drop(w)
		default:
			openid, unionid := code, ""
			if rest, ok := strings.CutPrefix(code, "union:"); ok {
				openid, unionid = rest, "u-"+rest
			}
			reply(map[string]any{"openid": openid, "unionid": unionid, "session_key": SessionKeyPrefix + openid})
		}
	case "/wxa/business/getuserphonenumber":
		code := str("code")
		switch {
		case strings.HasPrefix(code, "bad"):
			errcode(40029, "invalid code")
		case strings.HasPrefix(code, "down"):
			drop(w)
		default:
			phone := "13812345678"
			if p, ok := strings.CutPrefix(code, "phone:"); ok {
				phone = p
			}
			reply(map[string]any{"errcode": 0, "errmsg": "ok", "phone_info": map[string]any{
				"phoneNumber": phone, "purePhoneNumber": phone, "countryCode": "86"}})
		}
	case "/wxa/msg_sec_check":
		content := str("content")
		suggest := "pass"
		switch {
		case strings.Contains(content, "WXDOWN"):
			drop(w)
			return
		case strings.Contains(content, "RISKY"):
			suggest = "risky"
		case strings.Contains(content, "REVIEW"):
			suggest = "review"
		}
		reply(map[string]any{"errcode": 0, "errmsg": "ok", "trace_id": "fake",
			"result": map[string]any{"suggest": suggest, "label": 100}})
	case "/cgi-bin/message/subscribe/send":
		to := str("touser")
		f.mu.Lock()
		f.attempts[to]++
		code := 0
		if q := f.script[to]; len(q) > 0 {
			code, f.script[to] = q[0], q[1:]
		} else {
			f.sent = append(f.sent, in)
		}
		f.mu.Unlock()
		switch code {
		case 0:
			errcode(0, "ok")
		case FakeDrop:
			drop(w)
		default:
			errcode(code, "scripted failure")
		}
	case "/wxa/media_check_async":
		num := func(k string) int { n, _ := in[k].(float64); return int(n) }
		f.mu.Lock()
		if f.mediaFail[str("openid")] > 0 {
			f.mediaFail[str("openid")]--
			f.mu.Unlock()
			errcode(-1, "system error")
			return
		}
		m := MediaCheck{OpenID: str("openid"), MediaURL: str("media_url"), MediaType: num("media_type"),
			Scene: num("scene"), Version: num("version"), TraceID: "fake-trace-" + randomHex(8)}
		f.media = append(f.media, m)
		f.mu.Unlock()
		reply(map[string]any{"errcode": 0, "errmsg": "ok", "trace_id": m.TraceID})
	case "/wxa/getwxacodeunlimit":
		w.Header().Set("Content-Type", "image/jpeg")
		_, _ = w.Write(FakeJPEG())
	default:
		errcode(40066, "invalid url")
	}
}

// drop closes the connection without an answer, as an unreachable WeChat would.
func drop(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	w.WriteHeader(http.StatusBadGateway)
}
