package api_test

import (
	"context"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"linli/internal/testutil"
	"linli/model"
)

func TestWeChatLoginThenMe(t *testing.T) {
	h := testutil.New(t)
	openid := testutil.UniqueOpenID("smoke")
	login := h.MustLogin(openid)
	v := me(t, h, login.AccessToken)
	if v.ID != login.UserID {
		t.Fatalf("me.id = %d, want %d", v.ID, login.UserID)
	}
	if v.Roles == nil {
		t.Fatalf("roles must be [], not null")
	}
}

func TestWeChatLoginCreatesUserOnce(t *testing.T) {
	h := testutil.New(t)
	openid := testutil.UniqueOpenID("once")
	first := decodeTokens(t, h.Do("POST", "/auth/wechat-login", map[string]string{"code": openid}, "").Expect(t, 200, 0))
	second := decodeTokens(t, h.Do("POST", "/auth/wechat-login", map[string]string{"code": openid}, "").Expect(t, 200, 0))
	if first.User == nil || second.User == nil || first.User.ID != second.User.ID {
		t.Fatalf("two logins gave different users: %+v %+v", first.User, second.User)
	}
	if n := h.Count(&model.User{}, "open_id = ?", openid); n != 1 {
		t.Fatalf("%d rows for openid %s, want 1", n, openid)
	}
	if first.ExpiresIn != int64((2 * time.Hour).Seconds()) {
		t.Fatalf("expiresIn = %d, want 7200", first.ExpiresIn)
	}
	// Both sessions stay valid side by side.
	me(t, h, first.AccessToken)
	me(t, h, second.AccessToken)

	// A unionid sent by WeChat is kept.
	union := testutil.UniqueOpenID("union")
	h.Do("POST", "/auth/wechat-login", map[string]string{"code": "union:" + union}, "").Expect(t, 200, 0)
	var u model.User
	if err := h.DB.Where("open_id = ?", union).First(&u).Error; err != nil {
		t.Fatal(err)
	}
	if u.UnionID != "u-"+union {
		t.Fatalf("unionid = %q, want %q", u.UnionID, "u-"+union)
	}
}

func TestWeChatLoginErrors(t *testing.T) {
	h := testutil.New(t)
	for _, tc := range []struct {
		code         string
		status, want int
	}{
		{"bad-" + testutil.UniqueOpenID("x"), 401, 10002},         // 40029 invalid code
		{"used-" + testutil.UniqueOpenID("x"), 401, 10002},        // 40163 code used
		{"ratelimited-" + testutil.UniqueOpenID("x"), 429, 10007}, // 45011
		{"down-" + testutil.UniqueOpenID("x"), 503, 10503},        // WeChat unreachable
	} {
		t.Run(tc.code, func(t *testing.T) {
			before := h.Rows()
			res := h.Do("POST", "/auth/wechat-login", map[string]string{"code": tc.code}, "").Expect(t, tc.status, tc.want)
			if res.Message == "" || res.RequestID == "" || string(res.Data) != "null" {
				t.Fatalf("error envelope incomplete: %s", res.Raw)
			}
			if tc.status == 429 {
				if ra, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || ra <= 0 {
					t.Fatalf("Retry-After = %q", res.Header.Get("Retry-After"))
				}
			}
			before.WroteNothing(t, "the request")
		})
	}
}

func TestWeChatLoginWithoutWeChatIs503(t *testing.T) {
	h := testutil.New(t, testutil.WithoutWeChat())
	h.Do("POST", "/auth/wechat-login", map[string]string{"code": "abc"}, "").Expect(t, 503, 10503)
}

func TestSessionKeyNeverReturned(t *testing.T) {
	h := testutil.New(t)
	openid := testutil.UniqueOpenID("sk")
	res := h.Do("POST", "/auth/wechat-login", map[string]string{"code": openid}, "").Expect(t, 200, 0)
	tok := decodeTokens(t, res)
	refreshed := h.Do("POST", "/auth/refresh", map[string]string{"refreshToken": tok.RefreshToken}, "").Expect(t, 200, 0)
	profile := h.Do("GET", "/me", nil, tok.AccessToken).Expect(t, 200, 0)
	for _, r := range []*testutil.Response{res, refreshed, profile} {
		body := string(r.Raw)
		for _, bad := range []string{"sessionKey", "session_key", "SessionKey", testutil.SessionKeyPrefix} {
			if strings.Contains(body, bad) {
				t.Fatalf("response contains %q: %s", bad, body)
			}
		}
	}
	// The session key is not kept at all: no feature needs it (see
	// docs/areas/privacy.md), so no Redis key holds it.
	ctx := context.Background()
	keys, err := h.Redis.Keys(ctx, h.Config.Redis.Prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	sessions := 0
	for _, k := range keys {
		if strings.HasPrefix(k, h.Config.Redis.Prefix+"sess:") {
			sessions++
		}
		if h.Redis.Type(ctx, k).Val() != "hash" {
			continue
		}
		for f, v := range h.Redis.HGetAll(ctx, k).Val() {
			if strings.Contains(v, testutil.SessionKeyPrefix) || f == "sk" {
				t.Fatalf("Redis key %s keeps the session key in %s", k, f)
			}
		}
	}
	if sessions == 0 {
		t.Fatalf("no session found in Redis keys %v", keys)
	}
}

func TestDevLoginOnlyInDevMode(t *testing.T) {
	h := testutil.New(t)
	openid := testutil.UniqueOpenID("dev")
	tok := decodeTokens(t, h.Do("POST", "/auth/dev-login", map[string]string{"openid": openid, "nickname": "小王"}, "").Expect(t, 200, 0))
	if v := me(t, h, tok.AccessToken); v.Nickname != "小王" {
		t.Fatalf("nickname = %q", v.Nickname)
	}
	prod := testutil.New(t, testutil.WithConfig(map[string]any{"dev": false}))
	prod.Do("POST", "/auth/dev-login", map[string]string{"openid": openid}, "").Expect(t, 404, 10005)
}

func TestRefreshRotates(t *testing.T) {
	h := testutil.New(t)
	login := h.MustLogin(testutil.UniqueOpenID("rot"))
	first := decodeTokens(t, h.Do("POST", "/auth/refresh", map[string]string{"refreshToken": login.RefreshToken}, "").Expect(t, 200, 0))
	if first.RefreshToken == login.RefreshToken || first.AccessToken == login.AccessToken {
		t.Fatalf("refresh did not rotate")
	}
	second := decodeTokens(t, h.Do("POST", "/auth/refresh", map[string]string{"refreshToken": first.RefreshToken}, "").Expect(t, 200, 0))
	if v := me(t, h, second.AccessToken); v.ID != login.UserID {
		t.Fatalf("refreshed token is user %d, want %d", v.ID, login.UserID)
	}
	// Access tokens issued earlier in the same session stay valid until they expire.
	me(t, h, first.AccessToken)
}

func TestRefreshTokenReuseEndsSession(t *testing.T) {
	h := testutil.New(t)
	openid := testutil.UniqueOpenID("reuse")
	login := h.MustLogin(openid)
	other := h.MustLogin(openid) // a second session of the same user (another phone)
	next := decodeTokens(t, h.Do("POST", "/auth/refresh", map[string]string{"refreshToken": login.RefreshToken}, "").Expect(t, 200, 0))

	// The rotated token comes back (stolen, or replayed): refused, and the
	// whole session ends.
	h.Do("POST", "/auth/refresh", map[string]string{"refreshToken": login.RefreshToken}, "").Expect(t, 401, 10002)
	h.Do("POST", "/auth/refresh", map[string]string{"refreshToken": next.RefreshToken}, "").Expect(t, 401, 10002)
	h.Do("GET", "/me", nil, next.AccessToken).Expect(t, 401, 10002)
	h.Do("GET", "/me", nil, login.AccessToken).Expect(t, 401, 10002)

	// The user's other session is untouched.
	me(t, h, other.AccessToken)
}

func TestRefreshRefusesBadTokens(t *testing.T) {
	h := testutil.New(t)
	login := h.MustLogin(testutil.UniqueOpenID("refbad"))
	sid, _, _ := strings.Cut(login.RefreshToken, ".")
	for _, tok := range []string{"garbage", "a.b", sid + ".wrongsecret", "." + login.RefreshToken} {
		h.Do("POST", "/auth/refresh", map[string]string{"refreshToken": tok}, "").Expect(t, 401, 10002)
	}
	h.Do("POST", "/auth/refresh", map[string]string{}, "").Expect(t, 400, 10001)
	h.Do("POST", "/auth/refresh", map[string]any{"refreshToken": 42}, "").Expect(t, 400, 10001)
	// A wrong secret for a live session does not end it.
	me(t, h, login.AccessToken)
	h.Do("POST", "/auth/refresh", map[string]string{"refreshToken": login.RefreshToken}, "").Expect(t, 200, 0)
}

func TestLogoutRefusesSameAccessToken(t *testing.T) {
	h := testutil.New(t)
	login := h.MustLogin(testutil.UniqueOpenID("logout"))
	me(t, h, login.AccessToken)
	h.Do("POST", "/auth/logout", nil, login.AccessToken).Expect(t, 200, 0)
	h.Do("GET", "/me", nil, login.AccessToken).Expect(t, 401, 10002)
	h.Do("POST", "/auth/refresh", map[string]string{"refreshToken": login.RefreshToken}, "").Expect(t, 401, 10002)
	h.Do("POST", "/auth/logout", nil, login.AccessToken).Expect(t, 401, 10002)
}

func TestExpiredAccessToken(t *testing.T) {
	h := testutil.New(t)
	login := h.MustLogin(testutil.UniqueOpenID("exp"))
	h.Clock.Advance(2*time.Hour - time.Minute)
	me(t, h, login.AccessToken)
	h.Clock.Advance(2 * time.Minute)
	h.Do("GET", "/me", nil, login.AccessToken).Expect(t, 401, 10003)
	// The refresh token still works and gives a fresh access token.
	next := decodeTokens(t, h.Do("POST", "/auth/refresh", map[string]string{"refreshToken": login.RefreshToken}, "").Expect(t, 200, 0))
	me(t, h, next.AccessToken)
}

func TestForgedTokensRefused(t *testing.T) {
	h := testutil.New(t)
	login := h.MustLogin(testutil.UniqueOpenID("forge"))
	victim := h.MustLogin(testutil.UniqueOpenID("victim"))
	parts := strings.Split(login.AccessToken, ".")
	if len(parts) != 3 {
		t.Fatalf("access token is not a JWT: %s", login.AccessToken)
	}
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(login.AccessToken, claims); err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding
	payload, _ := enc.DecodeString(parts[1])

	// Payload changed to another user, signature kept.
	otherSub := strings.Replace(string(payload), `"sub":"`+strconv.FormatInt(login.UserID, 10)+`"`,
		`"sub":"`+strconv.FormatInt(victim.UserID, 10)+`"`, 1)
	if otherSub == string(payload) {
		t.Fatalf("could not find sub in %s", payload)
	}
	tamperedPayload := parts[0] + "." + enc.EncodeToString([]byte(otherSub)) + "." + parts[2]

	// Signature bytes flipped.
	sig, _ := enc.DecodeString(parts[2])
	sig[0] ^= 0xFF
	tamperedSig := parts[0] + "." + parts[1] + "." + enc.EncodeToString(sig)

	// alg: none with the same, valid claims.
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	// The right secret but another algorithm; and HS256 with a wrong secret.
	hs512, _ := jwt.NewWithClaims(jwt.SigningMethodHS512, claims).SignedString([]byte(h.Config.JWT.Secret))
	wrongKey, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(strings.Repeat("x", 40)))
	// A well-signed token naming another user on this session.
	claims2 := jwt.MapClaims{}
	for k, v := range claims {
		claims2[k] = v
	}
	claims2["sub"] = strconv.FormatInt(victim.UserID, 10)
	crossed, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims2).SignedString([]byte(h.Config.JWT.Secret))

	for name, tok := range map[string]string{
		"tampered payload":   tamperedPayload,
		"tampered signature": tamperedSig,
		"alg none":           none,
		"alg none unsigned":  strings.TrimSuffix(none, "."),
		"HS512":              hs512,
		"wrong key":          wrongKey,
		"other user":         crossed,
		"not a jwt":          "hello",
	} {
		t.Run(name, func(t *testing.T) {
			h.Do("GET", "/me", nil, tok).Expect(t, 401, 10002)
		})
	}
	// The genuine token still works.
	me(t, h, login.AccessToken)
}

func TestMissingOrMalformedAuthorization(t *testing.T) {
	h := testutil.New(t)
	login := h.MustLogin(testutil.UniqueOpenID("hdr"))
	h.Do("GET", "/me", nil, "").Expect(t, 401, 10002)
	h.Send(testutil.Request{Method: "GET", Path: "/me", Header: map[string]string{"Authorization": "Basic " + login.AccessToken}}).Expect(t, 401, 10002)
	h.Send(testutil.Request{Method: "GET", Path: "/me", Header: map[string]string{"Authorization": "Bearer "}}).Expect(t, 401, 10002)
	h.Send(testutil.Request{Method: "GET", Path: "/me", Header: map[string]string{"Authorization": "bearer " + login.AccessToken}}).Expect(t, 200, 0)
}

func TestInstancesShareSessions(t *testing.T) {
	h := testutil.New(t)
	_, second := h.NewInstance()
	login := h.MustLogin(testutil.UniqueOpenID("inst"))
	testutil.Send(t, second, testutil.Request{Method: "GET", Path: "/me", Token: login.AccessToken}).Expect(t, 200, 0)
	// Refresh on the second instance; the first sees the rotation.
	res := testutil.Send(t, second, testutil.Request{Method: "POST", Path: "/auth/refresh", Body: map[string]string{"refreshToken": login.RefreshToken}}).Expect(t, 200, 0)
	next := decodeTokens(t, res)
	h.Do("POST", "/auth/refresh", map[string]string{"refreshToken": login.RefreshToken}, "").Expect(t, 401, 10002)
	h.Do("GET", "/me", nil, next.AccessToken).Expect(t, 401, 10002) // the re-use above ended the session

	// Logout on the second instance is seen by the first at once.
	other := h.MustLogin(testutil.UniqueOpenID("inst2"))
	me(t, h, other.AccessToken)
	testutil.Send(t, second, testutil.Request{Method: "POST", Path: "/auth/logout", Token: other.AccessToken}).Expect(t, 200, 0)
	h.Do("GET", "/me", nil, other.AccessToken).Expect(t, 401, 10002)
}

func TestLoginRateLimitPerIP(t *testing.T) {
	const limit = 5
	h := testutil.New(t, testutil.WithConfig(map[string]any{"ratelimit.login_per_minute": limit}))
	login := func(ip string, header map[string]string) *testutil.Response {
		return h.Send(testutil.Request{Method: "POST", Path: "/auth/wechat-login", RemoteAddr: ip + ":5555",
			Body: map[string]string{"code": testutil.UniqueOpenID("rl")}, Header: header})
	}
	for i := 0; i < limit; i++ {
		login("203.0.113.7", nil).Expect(t, 200, 0)
	}
	before := h.Rows()
	res := login("203.0.113.7", nil).Expect(t, 429, 10007)
	if ra, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 60 {
		t.Fatalf("Retry-After = %q, want 1..60 seconds", res.Header.Get("Retry-After"))
	}
	before.WroteNothing(t, "a refused login")
	// X-Forwarded-For from an untrusted peer does not get around the limit.
	login("203.0.113.7", map[string]string{"X-Forwarded-For": "198.51.100.1"}).Expect(t, 429, 10007)
	// Refresh and dev-login draw on the same per-address budget.
	h.Send(testutil.Request{Method: "POST", Path: "/auth/dev-login", RemoteAddr: "203.0.113.7:1",
		Body: map[string]string{"openid": "x"}}).Expect(t, 429, 10007)
	// Another address has its own budget.
	login("203.0.113.8", nil).Expect(t, 200, 0)
}

func TestRateLimitSharedAcrossInstances(t *testing.T) {
	h := testutil.New(t, testutil.WithConfig(map[string]any{"ratelimit.login_per_minute": 4}))
	_, second := h.NewInstance()
	req := func() testutil.Request {
		return testutil.Request{Method: "POST", Path: "/auth/wechat-login", RemoteAddr: "192.0.2.44:1000",
			Body: map[string]string{"code": testutil.UniqueOpenID("share")}}
	}
	h.Send(req()).Expect(t, 200, 0)
	testutil.Send(t, second, req()).Expect(t, 200, 0)
	h.Send(req()).Expect(t, 200, 0)
	testutil.Send(t, second, req()).Expect(t, 200, 0)
	testutil.Send(t, second, req()).Expect(t, 429, 10007)
	h.Send(req()).Expect(t, 429, 10007)
}

func TestWriteRateLimitPerUser(t *testing.T) {
	h := testutil.New(t, testutil.WithConfig(map[string]any{"ratelimit.write_per_minute": 3}))
	a := h.MustLogin(testutil.UniqueOpenID("wa"))
	b := h.MustLogin(testutil.UniqueOpenID("wb"))
	for i := 0; i < 3; i++ {
		h.Do("PUT", "/me", map[string]string{"nickname": "甲" + strconv.Itoa(i)}, a.AccessToken).Expect(t, 200, 0)
	}
	res := h.Do("PUT", "/me", map[string]string{"nickname": "甲x"}, a.AccessToken).Expect(t, 429, 10007)
	if res.Header.Get("Retry-After") == "" {
		t.Fatalf("no Retry-After")
	}
	if v := me(t, h, a.AccessToken); v.Nickname != "甲2" { // reads are not limited
		t.Fatalf("nickname = %q: the refused write changed it", v.Nickname)
	}
	h.Do("PUT", "/me", map[string]string{"nickname": "乙"}, b.AccessToken).Expect(t, 200, 0)
}

func TestSessionCheckFailsClosedWhenRedisDown(t *testing.T) {
	logs := &syncBuffer{}
	h := testutil.New(t, testutil.WithLogWriter(logs))
	login := h.MustLogin(testutil.UniqueOpenID("rdown"))
	me(t, h, login.AccessToken)
	h.StopRedis()
	h.Do("GET", "/me", nil, login.AccessToken).Expect(t, 503, 10503)
	h.Do("PUT", "/me", map[string]string{"nickname": "x"}, login.AccessToken).Expect(t, 503, 10503)
	h.Do("POST", "/auth/refresh", map[string]string{"refreshToken": login.RefreshToken}, "").Expect(t, 503, 10503)
	// Login passes the limiter (which lets requests through and logs it) but
	// cannot create a session.
	h.Do("POST", "/auth/wechat-login", map[string]string{"code": testutil.UniqueOpenID("rdown2")}, "").Expect(t, 503, 10503)
	if !strings.Contains(logs.String(), "rate limiter unavailable") {
		t.Fatalf("limiter failure not logged:\n%s", logs.String())
	}
	// Without a token the answer is still 401: nothing to check.
	h.Do("GET", "/me", nil, "").Expect(t, 401, 10002)
}
