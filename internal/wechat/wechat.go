// Package wechat adapts the silenceper/wechat SDK (mini-program subpackages
// only) to linli's service.WeChat interface, with the SDK's access-token cache
// kept in linli's Redis.
package wechat

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/silenceper/wechat/v2/credential"
	"github.com/silenceper/wechat/v2/miniprogram/auth"
	"github.com/silenceper/wechat/v2/miniprogram/business"
	mpconfig "github.com/silenceper/wechat/v2/miniprogram/config"
	mpcontext "github.com/silenceper/wechat/v2/miniprogram/context"
	"github.com/silenceper/wechat/v2/miniprogram/qrcode"
	"github.com/silenceper/wechat/v2/miniprogram/security"
	"github.com/silenceper/wechat/v2/miniprogram/subscribe"
	"github.com/silenceper/wechat/v2/util"

	"linli/service"
)

// UseHTTPClient makes every SDK call go through client. The SDK keeps its HTTP
// client in a package variable, so this is process-wide: main calls it once
// with a client that has a timeout, and tests point it at a fake server.
func UseHTTPClient(client *http.Client) {
	util.DefaultHTTPClient = client
}

// HTTPClient returns the client the SDK should use: every request goes to
// apiBase (wechat.api_base) whatever host the SDK names (the SDK's URLs are
// constants for api.weixin.qq.com), and each call is bounded by timeout.
// With WeChat's own base the requests are left as they are.
func HTTPClient(apiBase string, timeout time.Duration) (*http.Client, error) {
	c := &http.Client{Timeout: timeout}
	base, err := url.Parse(strings.TrimSuffix(apiBase, "/"))
	if err != nil || base.Host == "" {
		return nil, fmt.Errorf("wechat: api base %q is not a URL", apiBase)
	}
	if base.String() != "https://api.weixin.qq.com" {
		c.Transport = rebase{base: base, next: http.DefaultTransport}
	}
	return c, nil
}

// rebase sends each request to base: its scheme and host, with base's path
// put before the request's.
type rebase struct {
	base *url.URL
	next http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (r rebase) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.URL.Scheme, req.URL.Host, req.Host = r.base.Scheme, r.base.Host, r.base.Host
	req.URL.Path = r.base.Path + req.URL.Path
	if req.URL.RawPath != "" {
		req.URL.RawPath = r.base.Path + req.URL.RawPath
	}
	return r.next.RoundTrip(req)
}

// Client calls the WeChat mini-program API.
type Client struct {
	ctx   *mpcontext.Context
	cache *RedisCache
	appID string
}

// New returns a client for one mini-program. Access tokens are the stable
// kind and are cached in rdb under prefix.
func New(appID, secret string, rdb redis.UniversalClient, prefix string) *Client {
	c := &RedisCache{rdb: rdb, prefix: prefix + "wx:"}
	cfg := &mpconfig.Config{AppID: appID, AppSecret: secret, Cache: c, UseStableAK: true}
	return &Client{
		ctx: &mpcontext.Context{
			Config:                   cfg,
			AccessTokenContextHandle: credential.NewStableAccessToken(appID, secret, credential.CacheKeyMiniProgramPrefix, c),
		},
		cache: c,
		appID: appID,
	}
}

// Error is a WeChat API answer with a non-zero errcode.
type Error struct {
	Code int
	Msg  string
	API  string
}

// Error implements error.
func (e *Error) Error() string {
	return fmt.Sprintf("wechat %s: errcode=%d errmsg=%s", e.API, e.Code, e.Msg)
}

// WeChatErrCode returns the errcode; service maps it to a client error.
func (e *Error) WeChatErrCode() int { return e.Code }

// asError turns an SDK error carrying an errcode into *Error; other errors
// (network, decoding) are returned through redact.
func asError(api string, err error) error {
	var ce *util.CommonError
	if errors.As(err, &ce) {
		return &Error{Code: int(ce.ErrCode), Msg: ce.ErrMsg, API: api}
	}
	return redact(api, err)
}

// redact removes query strings from the URLs in an SDK error: WeChat URLs
// carry the app secret, the login code or the access token, and the error
// ends up in the log. The result keeps only the text of err.
func redact(api string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("wechat %s: %s", api, stripQueries(err.Error()))
}

// stripQueries replaces the query of every http(s) URL in s with "?…".
func stripQueries(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "http")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		end := i + strings.IndexFunc(s[i:]+" ", func(r rune) bool { return r == ' ' || r == '"' || r == '\n' })
		u := s[i:end]
		if q := strings.IndexByte(u, '?'); q >= 0 {
			u = u[:q] + "?…"
		}
		b.WriteString(s[:i])
		b.WriteString(u)
		s = s[end:]
	}
}

// Code2Session implements service.WeChat. It returns *Error for an errcode
// and a plain error when WeChat cannot be reached.
func (c *Client) Code2Session(ctx context.Context, code string) (service.WeChatSession, error) {
	res, err := auth.NewAuth(c.ctx).Code2SessionContext(ctx, code)
	if res.ErrCode != 0 {
		return service.WeChatSession{}, &Error{Code: int(res.ErrCode), Msg: res.ErrMsg, API: "code2session"}
	}
	if err != nil {
		return service.WeChatSession{}, redact("code2session", err)
	}
	return service.WeChatSession{OpenID: res.OpenID, UnionID: res.UnionID, SessionKey: res.SessionKey}, nil
}

// PhoneNumber implements service.WeChat.
func (c *Client) PhoneNumber(ctx context.Context, code string) (string, error) {
	var info business.PhoneInfo
	err := c.withToken(ctx, func() error {
		var err error
		info, err = business.NewBusiness(c.ctx).GetPhoneNumberWithContext(ctx, &business.GetPhoneNumberRequest{Code: code})
		return asError("getuserphonenumber", err)
	})
	if err != nil {
		return "", err
	}
	if info.PurePhoneNumber != "" {
		return info.PurePhoneNumber, nil
	}
	return info.PhoneNumber, nil
}

// GetWXACodeUnlimit implements service.WeChat: the unlimited wxacode of page
// with scene, as JPEG bytes. check_path is off so codes work before the page
// is released. The SDK call takes no context; the HTTP client's timeout bounds
// it.
func (c *Client) GetWXACodeUnlimit(ctx context.Context, scene, page string) ([]byte, error) {
	var img []byte
	err := c.withToken(ctx, func() error {
		checkPath := false
		var err error
		img, err = qrcode.NewQRCode(c.ctx).GetWXACodeUnlimit(qrcode.QRCoder{
			Page: page, Scene: scene, CheckPath: &checkPath, Width: 430,
		})
		return qrcodeError(err)
	})
	if err != nil {
		return nil, err
	}
	return img, nil
}

// qrcodeError turns the SDK's wxacode error, which carries the errcode only
// in its text ("fetchCode error : errcode=40001 , errmsg=…"), into *Error.
func qrcodeError(err error) error {
	const api = "getwxacodeunlimit"
	if err == nil {
		return nil
	}
	var ce *util.CommonError
	if errors.As(err, &ce) {
		return &Error{Code: int(ce.ErrCode), Msg: ce.ErrMsg, API: api}
	}
	if _, rest, ok := strings.Cut(err.Error(), "errcode="); ok {
		var code int
		if _, serr := fmt.Sscanf(rest, "%d", &code); serr == nil && code != 0 {
			errmsg := ""
			if _, m, ok := strings.Cut(rest, "errmsg="); ok {
				errmsg = strings.TrimSpace(m)
			}
			return &Error{Code: code, Msg: errmsg, API: api}
		}
	}
	return redact(api, err)
}

// MsgSecCheck implements service.WeChat with msgSecCheck v2, scene 2
// (comments). errcode 0 only means the call worked: the verdict is
// Result.Suggest, and an answer without one is an error.
func (c *Client) MsgSecCheck(ctx context.Context, openID, title, content string) (string, error) {
	var res security.MsgCheckResponse
	err := c.withToken(ctx, func() error {
		var err error
		res, err = security.NewSecurity(c.ctx).MsgCheckContext(ctx, &security.MsgCheckRequest{
			OpenID: openID, Scene: security.MsgSceneComment, Title: title, Content: content,
		})
		if res.ErrCode != 0 {
			return &Error{Code: int(res.ErrCode), Msg: res.ErrMsg, API: "msg_sec_check"}
		}
		return asError("msg_sec_check", err)
	})
	if err != nil {
		return "", err
	}
	switch s := string(res.Result.Suggest); s {
	case "pass", "review", "risky":
		return s, nil
	default:
		return "", fmt.Errorf("wechat msg_sec_check: unexpected suggest %q", s)
	}
}

// MediaCheckAsync implements service.WeChat with mediaCheckAsync v2 for an
// image (media_type 2), scene 3 (forum: posts others see). errcode 0 only
// means the check was accepted: the verdict arrives on the message push.
func (c *Client) MediaCheckAsync(ctx context.Context, openID, mediaURL string) (string, error) {
	var trace string
	err := c.withToken(ctx, func() error {
		var err error
		trace, err = security.NewSecurity(c.ctx).MediaCheckAsyncContext(ctx, &security.MediaCheckAsyncRequest{
			MediaURL: mediaURL, MediaType: 2, OpenID: openID, Scene: uint8(security.MsgSceneForum),
		})
		return asError("media_check_async", err)
	})
	if err != nil {
		return "", err
	}
	if trace == "" {
		return "", fmt.Errorf("wechat media_check_async: no trace_id in the answer")
	}
	return trace, nil
}

// SendSubscribe implements service.WeChat with subscribeMessage.send. The
// SDK call takes no context; the HTTP client's timeout bounds it.
func (c *Client) SendSubscribe(ctx context.Context, m service.SubscribeMessage) error {
	data := make(map[string]*subscribe.DataItem, len(m.Data))
	for k, v := range m.Data {
		data[k] = &subscribe.DataItem{Value: v}
	}
	return c.withToken(ctx, func() error {
		err := subscribe.NewSubscribe(c.ctx).Send(&subscribe.Message{
			ToUser: m.ToUser, TemplateID: m.TemplateID, Page: m.Page, Data: data,
			MiniprogramState: m.MiniprogramState, Lang: m.Lang,
		})
		return asError("subscribe_send", err)
	})
}

// withToken runs call and, when WeChat says the cached access token is
// invalid or expired (40001, 42001), drops the cached token and runs it once
// more.
func (c *Client) withToken(ctx context.Context, call func() error) error {
	err := call()
	var we *Error
	if errors.As(err, &we) && (we.Code == 40001 || we.Code == 42001) {
		key := fmt.Sprintf("%s_stable_access_token_%s", credential.CacheKeyMiniProgramPrefix, c.appID)
		if derr := c.cache.DeleteContext(ctx, key); derr != nil {
			return err
		}
		return call()
	}
	return err
}

// RedisCache is the SDK's cache.Cache over go-redis v9; values are strings.
type RedisCache struct {
	rdb    redis.UniversalClient
	prefix string
}

const cacheTimeout = 3 * time.Second

func (r *RedisCache) bg() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), cacheTimeout)
}

// Get returns the string at key, or nil when missing or unreachable.
func (r *RedisCache) Get(key string) any {
	ctx, cancel := r.bg()
	defer cancel()
	return r.GetContext(ctx, key)
}

// Set stores val (formatted as a string) for timeout.
func (r *RedisCache) Set(key string, val any, timeout time.Duration) error {
	ctx, cancel := r.bg()
	defer cancel()
	return r.SetContext(ctx, key, val, timeout)
}

// IsExist reports whether key exists.
func (r *RedisCache) IsExist(key string) bool {
	ctx, cancel := r.bg()
	defer cancel()
	return r.IsExistContext(ctx, key)
}

// Delete removes key.
func (r *RedisCache) Delete(key string) error {
	ctx, cancel := r.bg()
	defer cancel()
	return r.DeleteContext(ctx, key)
}

// GetContext returns the string at key, or nil when missing or unreachable.
func (r *RedisCache) GetContext(ctx context.Context, key string) any {
	v, err := r.rdb.Get(ctx, r.prefix+key).Result()
	if err != nil {
		return nil
	}
	return v
}

// SetContext stores val (formatted as a string) for timeout.
func (r *RedisCache) SetContext(ctx context.Context, key string, val any, timeout time.Duration) error {
	return r.rdb.Set(ctx, r.prefix+key, fmt.Sprint(val), timeout).Err()
}

// IsExistContext reports whether key exists.
func (r *RedisCache) IsExistContext(ctx context.Context, key string) bool {
	n, err := r.rdb.Exists(ctx, r.prefix+key).Result()
	return err == nil && n > 0
}

// DeleteContext removes key.
func (r *RedisCache) DeleteContext(ctx context.Context, key string) error {
	return r.rdb.Del(ctx, r.prefix+key).Err()
}
