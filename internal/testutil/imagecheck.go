package testutil

import (
	"crypto/sha1"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// PushSignature signs a message-push request as WeChat does: the hex SHA-1
// of token, timestamp and nonce sorted and joined.
func PushSignature(token, timestamp, nonce string) string {
	parts := []string{token, timestamp, nonce}
	sort.Strings(parts)
	sum := sha1.Sum([]byte(strings.Join(parts, "")))
	return hex.EncodeToString(sum[:])
}

// PushMediaCheck sends WeChat's wxa_media_check event for traceID with
// suggest (pass, risky, review) to POST /api/v1/wechat/push, signed with
// the configured wechat.push_token.
func (h *Harness) PushMediaCheck(traceID, suggest string) *Response {
	ts, nonce := "1700000000", "n"+randomHex(4)
	q := url.Values{"signature": {PushSignature(h.Config.WeChat.PushToken, ts, nonce)}, "timestamp": {ts}, "nonce": {nonce}}
	return h.Do(http.MethodPost, "/api/v1/wechat/push?"+q.Encode(), map[string]any{
		"ToUserName": "gh_test", "FromUserName": "o-system", "CreateTime": 1700000000, "MsgType": "event",
		"Event": "wxa_media_check", "appid": "wx-test-app", "trace_id": traceID, "version": 2,
		"detail":  []map[string]any{{"strategy": "content_model", "errcode": 0, "suggest": suggest, "label": 100}},
		"errcode": 0, "errmsg": "ok", "result": map[string]any{"suggest": suggest, "label": 100},
	}, "")
}
