package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/redis/go-redis/v9"
	"gorm.io/gorm/clause"

	"linli/model"
)

// AuthService signs users in with WeChat, issues tokens and keeps sessions in
// Redis, so that every instance sharing the Redis sees a logout at once.
type AuthService struct {
	deps    Deps
	users   *UserService
	callers *CallerService
	orgs    *OrgTree
	rotate  *redis.Script
}

// Principal is the signed-in caller of a request.
type Principal struct {
	UserID    int64
	SessionID string
	// caller and orgEpoch were read in the session check's round trip; the
	// api layer hands them to services with WithPrincipal.
	caller   *Caller
	orgEpoch string
}

// Tokens is the answer to a login or a refresh.
type Tokens struct {
	AccessToken  string `json:"accessToken"`
	RefreshToken string `json:"refreshToken"`
	// ExpiresIn is the access token's lifetime in seconds.
	ExpiresIn int64   `json:"expiresIn"`
	User      *MeView `json:"user,omitempty"`
}

// accessClaims are the claims of an access token.
type accessClaims struct {
	SessionID string `json:"sid"`
	jwt.RegisteredClaims
}

// WeChatLogin exchanges a wx.login code for a session. It returns 10002 (401)
// for an invalid or used code, 10007 when WeChat rate-limits us, and 10503
// when WeChat or Redis cannot be reached or WeChat is not configured.
func (s *AuthService) WeChatLogin(ctx context.Context, code string) (*Tokens, error) {
	if s.deps.WeChat == nil {
		return nil, unavailable("未配置微信登录", nil)
	}
	sess, err := s.deps.WeChat.Code2Session(ctx, code)
	if err != nil {
		return nil, wechatError(err, "登录凭证无效或已使用，请重新登录")
	}
	if sess.OpenID == "" {
		return nil, unavailable("微信服务暂时不可用，请稍后再试", errors.New("code2session returned no openid"))
	}
	user, err := s.upsertUser(ctx, sess.OpenID, sess.UnionID, "")
	if err != nil {
		return nil, err
	}
	// The session_key is dropped here: no feature of linli decrypts WeChat
	// data with it (the phone number comes by code, getuserphonenumber),
	// and personal data is kept only while a feature needs it (PIPL; see
	// docs/areas/privacy.md).
	return s.startSession(ctx, user.ID, true)
}

// DevLogin signs in as any openid without WeChat. Only dev mode mounts it; it
// returns 10005 otherwise.
func (s *AuthService) DevLogin(ctx context.Context, openID, nickname string) (*Tokens, error) {
	if !s.deps.Config.Dev {
		return nil, notFound("接口")
	}
	user, err := s.upsertUser(ctx, openID, "", nickname)
	if err != nil {
		return nil, err
	}
	return s.startSession(ctx, user.ID, true)
}

// upsertUser returns the user with openID, creating it once however many
// logins race; a unionid or nickname given is stored when the user lacks one.
func (s *AuthService) upsertUser(ctx context.Context, openID, unionID, nickname string) (*model.User, error) {
	db := s.deps.DB.WithContext(ctx)
	created := model.User{OpenID: openID, UnionID: unionID, Nickname: nickname}
	if err := db.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "open_id"}}, DoNothing: true}).
		Create(&created).Error; err != nil {
		return nil, err
	}
	// Read into a fresh value: after a skipped insert the id gorm set comes
	// from LAST_INSERT_ID, which MySQL leaves undefined for ON DUPLICATE KEY
	// UPDATE (MariaDB happens to give the row's id), and First would filter
	// on it.
	var u model.User
	if err := db.Where("open_id = ?", openID).First(&u).Error; err != nil {
		return nil, err
	}
	updates := map[string]any{}
	if unionID != "" && u.UnionID != unionID {
		updates["union_id"] = unionID
	}
	if nickname != "" && u.Nickname == "" {
		updates["nickname"] = nickname
	}
	if len(updates) > 0 {
		if err := db.Model(&u).Updates(updates).Error; err != nil {
			return nil, err
		}
		s.callers.Changed(db, u.ID)
	}
	return &u, nil
}

func (s *AuthService) sessionKey(sid string) string { return s.deps.redisKey("sess", "{"+sid+"}") }
func (s *AuthService) usedKey(sid string) string    { return s.deps.redisKey("sess", "{"+sid+"}", "used") }

// startSession creates a session in Redis and returns its first token pair,
// with the user's profile when withUser is set.
func (s *AuthService) startSession(ctx context.Context, userID int64, withUser bool) (*Tokens, error) {
	sid := randomHex(16)
	secret := randomHex(24)
	cfg := s.deps.Config.JWT
	rctx, cancel := s.deps.redisBudget(ctx)
	defer cancel()
	pipe := s.deps.Redis.TxPipeline()
	pipe.HSet(rctx, s.sessionKey(sid), map[string]any{
		"uid": userID,
		"rh":  hashToken(secret),
	})
	pipe.PExpire(rctx, s.sessionKey(sid), cfg.RefreshTTL)
	if _, err := pipe.Exec(rctx); err != nil {
		return nil, unavailable("服务暂时不可用，请稍后再试", err)
	}
	t, err := s.tokens(userID, sid, secret)
	if err != nil || !withUser {
		return t, err
	}
	if t.User, err = s.users.Me(ctx, userID); err != nil {
		return nil, err
	}
	return t, nil
}

func (s *AuthService) tokens(userID int64, sid, secret string) (*Tokens, error) {
	cfg := s.deps.Config.JWT
	now := s.deps.Clock.Now()
	claims := accessClaims{
		SessionID: sid,
		RegisteredClaims: jwt.RegisteredClaims{
			ID:        randomHex(8), // two tokens issued in the same second still differ
			Subject:   strconv.FormatInt(userID, 10),
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(cfg.AccessTTL)),
		},
	}
	access, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(cfg.Secret))
	if err != nil {
		return nil, err
	}
	return &Tokens{
		AccessToken:  access,
		RefreshToken: sid + "." + secret,
		ExpiresIn:    int64(cfg.AccessTTL / time.Second),
	}, nil
}

// rotateLua swaps the current refresh hash for a new one. It returns 1 on
// success, 0 for an unknown token or session, and -1 when a rotated token was
// presented again, in which case it has ended the whole session.
const rotateLua = `
local cur = redis.call('HGET', KEYS[1], 'rh')
if not cur then return 0 end
if cur == ARGV[1] then
  redis.call('HSET', KEYS[1], 'rh', ARGV[2])
  redis.call('SADD', KEYS[2], ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
  return 1
end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then
  redis.call('DEL', KEYS[1], KEYS[2])
  return -1
end
return 0
`

// Refresh rotates a refresh token into a new pair. A token used before ends
// its session. It returns 10002 for an unknown, rotated or malformed token and
// 10503 when Redis is unreachable.
func (s *AuthService) Refresh(ctx context.Context, refreshToken string) (*Tokens, error) {
	sid, secret, ok := strings.Cut(refreshToken, ".")
	if !ok || sid == "" || secret == "" {
		return nil, Errorf(CodeUnauthenticated, "登录已失效，请重新登录")
	}
	newSecret := randomHex(24)
	ctx, cancel := s.deps.redisBudget(ctx)
	defer cancel()
	res, err := s.rotate.Run(ctx, s.deps.Redis,
		[]string{s.sessionKey(sid), s.usedKey(sid)},
		hashToken(secret), hashToken(newSecret), s.deps.Config.JWT.RefreshTTL.Milliseconds()).Int()
	if err != nil {
		return nil, unavailable("服务暂时不可用，请稍后再试", err)
	}
	switch res {
	case 1:
	case -1:
		return nil, Errorf(CodeUnauthenticated, "登录凭证已被使用，为保护账号安全已退出登录，请重新登录")
	default:
		return nil, Errorf(CodeUnauthenticated, "登录已失效，请重新登录")
	}
	uid, err := s.deps.Redis.HGet(ctx, s.sessionKey(sid), "uid").Int64()
	if err != nil {
		if errors.Is(err, redis.Nil) {
			return nil, Errorf(CodeUnauthenticated, "登录已失效，请重新登录")
		}
		return nil, unavailable("服务暂时不可用，请稍后再试", err)
	}
	// An erased account (DELETE /me) resolves to nobody: its other
	// sessions end here rather than hand out tokens that would be refused.
	if _, err := s.callers.Get(ctx, uid); ErrorCode(err) == CodeNotFound {
		_ = s.deps.Redis.Del(ctx, s.sessionKey(sid), s.usedKey(sid)).Err()
		return nil, Errorf(CodeUnauthenticated, "登录已失效，请重新登录")
	}
	return s.tokens(uid, sid, newSecret)
}

// Logout ends a session at once for every instance. It returns 10503 when
// Redis is unreachable.
func (s *AuthService) Logout(ctx context.Context, p Principal) error {
	ctx, cancel := s.deps.redisBudget(ctx)
	defer cancel()
	if err := s.deps.Redis.Del(ctx, s.sessionKey(p.SessionID), s.usedKey(p.SessionID)).Err(); err != nil {
		return unavailable("服务暂时不可用，请稍后再试", err)
	}
	return nil
}

// Authenticate checks an access token and its session. It returns 10003 for
// an expired token, 10002 for a malformed, forged or ended one, and 10503 when
// Redis cannot be asked (it never lets a request through unchecked).
func (s *AuthService) Authenticate(ctx context.Context, accessToken string) (Principal, error) {
	var claims accessClaims
	_, err := jwt.ParseWithClaims(accessToken, &claims, func(*jwt.Token) (any, error) {
		return []byte(s.deps.Config.JWT.Secret), nil
	},
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(s.deps.Clock.Now),
	)
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return Principal{}, Errorf(CodeTokenExpired, "登录已过期，请刷新登录")
		}
		return Principal{}, Errorf(CodeUnauthenticated, "登录凭证无效，请重新登录")
	}
	uid, perr := strconv.ParseInt(claims.Subject, 10, 64)
	if perr != nil || claims.SessionID == "" {
		return Principal{}, Errorf(CodeUnauthenticated, "登录凭证无效，请重新登录")
	}
	// One round trip: the session, the caller's cached context and the org
	// epoch that context and the org copy must match.
	rctx, cancel := s.deps.redisBudget(ctx)
	defer cancel()
	pipe := s.deps.Redis.Pipeline()
	sess := pipe.HGet(rctx, s.sessionKey(claims.SessionID), "uid")
	cached := s.callers.cache.cachedCmd(rctx, pipe, uid)
	epochCmd := s.orgs.epochCmd(rctx, pipe)
	_, _ = pipe.Exec(rctx) // each command's error is looked at below
	stored, err := sess.Int64()
	if errors.Is(err, redis.Nil) {
		return Principal{}, Errorf(CodeUnauthenticated, "登录已失效，请重新登录")
	}
	if err != nil {
		return Principal{}, unavailable("服务暂时不可用，请稍后再试", err)
	}
	if stored != uid {
		return Principal{}, Errorf(CodeUnauthenticated, "登录凭证无效，请重新登录")
	}
	epoch, err := epochCmd.Result()
	if errors.Is(err, redis.Nil) {
		epoch, err = s.orgs.currentEpoch(ctx)
	}
	if err != nil {
		return Principal{}, unavailable("服务暂时不可用，请稍后再试", err)
	}
	caller, err := s.callers.resolve(ctx, uid, cached, epoch)
	if ErrorCode(err) == CodeNotFound {
		return Principal{}, Errorf(CodeUnauthenticated, "登录已失效，请重新登录")
	}
	if err != nil {
		return Principal{}, err
	}
	return Principal{UserID: uid, SessionID: claims.SessionID, caller: caller, orgEpoch: epoch}, nil
}

// hashToken returns the hex SHA-256 of a refresh secret; Redis never holds
// the secret itself.
func hashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}
