package api

import (
	"encoding/json"
	"io"
	"net/http"

	"github.com/gin-gonic/gin"

	"linli/service"
)

// maxPushBody bounds a message-push body: WeChat's events are small.
const maxPushBody = 64 << 10

// pushSigned checks the signature of a message-push request (query
// signature, timestamp, nonce) and, when it is wrong, answers 403 10004.
func (h *Handler) pushSigned(c *gin.Context) bool {
	if h.svc.Uploads.VerifyPushSignature(c.Query("signature"), c.Query("timestamp"), c.Query("nonce")) {
		return true
	}
	abortWith(c, http.StatusForbidden, service.CodeForbidden, "消息推送签名无效")
	return false
}

// WeChatPushVerify serves GET /wechat/push?signature=&timestamp=&nonce=
// &echostr= [public, signed]: WeChat's check of the message-push address
// when it is saved in the console. It answers echostr as plain text; a
// wrong signature is 403 10004 and a signed request without echostr 400
// 10001.
func (h *Handler) WeChatPushVerify(c *gin.Context) {
	if !h.pushSigned(c) {
		return
	}
	if c.Query("echostr") == "" {
		abortWith(c, http.StatusBadRequest, service.CodeInvalid, "缺少 echostr")
		return
	}
	c.String(http.StatusOK, "%s", c.Query("echostr"))
}

// pushEvent is the part of a message-push event (JSON, plain-text mode)
// linli reads.
type pushEvent struct {
	MsgType string `json:"MsgType"`
	Event   string `json:"Event"`
	TraceID string `json:"trace_id"`
	Result  struct {
		Suggest string `json:"suggest"`
	} `json:"result"`
}

// WeChatPush serves POST /wechat/push?signature=&timestamp=&nonce=
// [public, signed]: WeChat's message push. The event wxa_media_check
// (the verdict of an image check) is applied to the image of its trace_id;
// any other event, an unknown trace or a repeated verdict is ignored. It
// answers "success" as plain text, as WeChat expects; a body that is not a
// JSON event (read first, at most 64 KiB, nothing applied) is 400 10001 and
// a wrong signature 403 10004.
func (h *Handler) WeChatPush(c *gin.Context) {
	body, err := io.ReadAll(io.LimitReader(c.Request.Body, maxPushBody+1))
	if err != nil {
		fail(c, err)
		return
	}
	var ev pushEvent
	if len(body) > maxPushBody {
		abortWith(c, http.StatusRequestEntityTooLarge, service.CodeInvalid, "请求内容过大")
		return
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		abortWith(c, http.StatusBadRequest, service.CodeInvalid, "请求内容不是合法的 JSON 事件")
		return
	}
	if !h.pushSigned(c) {
		return
	}
	if ev.Event == "wxa_media_check" {
		if _, err := h.svc.Uploads.MediaCheckResult(c.Request.Context(), ev.TraceID, ev.Result.Suggest); err != nil {
			fail(c, err)
			return
		}
	}
	c.String(http.StatusOK, "success")
}

// ApproveImage serves POST /admin/images/{id}/approve [staff]: the image
// is shown to everyone who may see its item.
func (h *Handler) ApproveImage(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	v, err := h.svc.Uploads.ReviewImage(c.Request.Context(), userID(c), id, true, "")
	reply(c, http.StatusOK, v, err)
}

// RejectImage serves POST /admin/images/{id}/reject {reason} [staff]: the
// image is hidden everywhere and its owner told.
func (h *Handler) RejectImage(c *gin.Context) {
	id, req, ok := idAndBody[reviewReasonRequest](c, bindJSON)
	if !ok {
		return
	}
	v, err := h.svc.Uploads.ReviewImage(c.Request.Context(), userID(c), id, false, req.Reason)
	reply(c, http.StatusOK, v, err)
}
