package service

import (
	"context"
	"errors"
	"time"
)

// WeChat is what linli asks of the WeChat mini-program API. internal/wechat
// implements it over the silenceper SDK; tests point that at a fake server.
type WeChat interface {
	// Code2Session exchanges a wx.login code for the user's identity.
	Code2Session(ctx context.Context, code string) (WeChatSession, error)
	// PhoneNumber exchanges a getPhoneNumber code for the verified number.
	PhoneNumber(ctx context.Context, code string) (string, error)
	// GetWXACodeUnlimit returns the image (JPEG) of a mini-program code that
	// opens page with scene (≤32 characters) as its parameter.
	GetWXACodeUnlimit(ctx context.Context, scene, page string) ([]byte, error)
	// MsgSecCheck runs the text security check v2 (msgSecCheck, scene 2) on
	// title and content for the user openID, and returns WeChat's suggestion:
	// "pass", "review" or "risky". An error means no verdict was given.
	MsgSecCheck(ctx context.Context, openID, title, content string) (string, error)
	// SendSubscribe sends one subscribe message. A WeChat refusal is a
	// WeChatAPIError (43101: the user has not accepted the template).
	SendSubscribe(ctx context.Context, m SubscribeMessage) error
	// MediaCheckAsync submits the image at mediaURL (which WeChat fetches)
	// to the asynchronous media check v2 for the user openID, and returns
	// the trace_id its verdict will name on the message-push callback.
	MediaCheckAsync(ctx context.Context, openID, mediaURL string) (string, error)
}

// SubscribeMessage is one WeChat subscribe message.
type SubscribeMessage struct {
	ToUser, TemplateID, Page string
	// Data maps template keys (thing1, time2, …) to values already cut to
	// WeChat's limits.
	Data map[string]string
	// MiniprogramState (formal, trial, developer) and Lang come from config.
	MiniprogramState, Lang string
}

// WeChatSession is the result of code2session. SessionKey is secret: no
// feature needs it, so the login drops it — it is never stored, returned or
// logged (see docs/areas/privacy.md).
type WeChatSession struct {
	OpenID     string
	UnionID    string
	SessionKey string
}

// WeChatAPIError is implemented by errors that carry a WeChat errcode; any
// other error from a WeChat call means WeChat could not be reached.
type WeChatAPIError interface {
	error
	WeChatErrCode() int
}

// WeChat errcodes linli treats specially.
const (
	wxErrInvalidCode = 40029
	wxErrCodeUsed    = 40163
	wxErrRateLimited = 45011
	wxErrBusy        = -1
)

// wechatError maps a failed WeChat call to a client error: a bad or used code
// is 401, WeChat's own rate limit is 429, everything else (unreachable, busy,
// misconfigured) is 503.
func wechatError(err error, badCodeMessage string) *Error {
	var apiErr WeChatAPIError
	if errors.As(err, &apiErr) {
		switch apiErr.WeChatErrCode() {
		case wxErrInvalidCode, wxErrCodeUsed:
			return Wrap(CodeUnauthenticated, badCodeMessage, err)
		case wxErrRateLimited:
			e := Wrap(CodeRateLimited, "微信接口调用过于频繁，请稍后再试", err)
			e.RetryAfter = time.Minute
			return e
		}
	}
	return unavailable("微信服务暂时不可用，请稍后再试", err)
}
