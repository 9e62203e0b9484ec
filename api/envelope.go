// Package api is linli's HTTP layer: request DTOs, handlers, middleware and
// the one place where error codes become HTTP statuses.
package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/go-playground/validator/v10"

	"linli/service"
)

// Envelope is the body of every response.
type Envelope struct {
	Code      int    `json:"code"`
	Message   string `json:"message"`
	Data      any    `json:"data"`
	RequestID string `json:"requestId,omitempty"`
}

// httpStatus maps an error code to its HTTP status. General codes are fixed
// by the API contract; domain codes are listed with their status in
// docs/errors.md (TestEveryErrorCodeDocumented).
func httpStatus(code int) int {
	switch code {
	case service.CodeOK:
		return http.StatusOK
	case service.CodeInvalid:
		return http.StatusBadRequest
	case service.CodeUnauthenticated, service.CodeTokenExpired:
		return http.StatusUnauthorized
	case service.CodeForbidden:
		return http.StatusForbidden
	case service.CodeNotFound:
		return http.StatusNotFound
	case service.CodeConflict:
		return http.StatusConflict
	case service.CodeRateLimited:
		return http.StatusTooManyRequests
	case service.CodeContentRefused:
		return http.StatusUnprocessableEntity
	case service.CodeUnavailable:
		return http.StatusServiceUnavailable
	}
	if code >= 20000 && code < 60000 || code >= 70000 && code < 70100 || code >= 80000 && code < 80100 {
		return domainStatus(code)
	}
	return http.StatusInternalServerError
}

// domainStatus returns the HTTP status of a domain code (2xxxx wishes, 3xxxx
// time bank and mall, 4xxxx activities, 5xxxx 双报到, 700xx cases, 800xx records). Domain codes name a
// conflict with the object's state unless listed here otherwise.
func domainStatus(code int) int {
	switch code {
	case service.CodeGoodsOtherCommunity, service.CodeSelfAction, service.CodeRecipientOutside, service.CodeHomeNotVerified:
		return http.StatusForbidden
	case service.CodePickupCodeInvalid:
		return http.StatusNotFound
	case service.CodeAudienceRestricted, service.CodeNoShowBlocked:
		return http.StatusForbidden
	case service.CodeCheckinCodeInvalid, service.CodeCheckinCodeMismatch, service.CodeLocationRequired,
		service.CodeMinutesReasonMissing:
		return http.StatusBadRequest
	case service.CodeWishOwnWish, service.CodeWishNotEligible,
		service.CodeNotReported, service.CodeNotLiaison, service.CodeNeedOutOfArea:
		return http.StatusForbidden
	case service.CodeCaseNotDispatched, service.CodeCaseDeptOutside:
		return http.StatusForbidden
	case service.CodeNotVolunteer:
		return http.StatusForbidden
	default:
		return http.StatusConflict
	}
}

// respond writes a success envelope.
func respond(c *gin.Context, status int, data any) {
	c.JSON(status, Envelope{Code: service.CodeOK, Message: "ok", Data: data})
}

// StatusClientClosed is the status recorded (in the access log and the
// metrics) for a request whose client went away before the answer: nobody
// reads it, and it is not a server error.
const StatusClientClosed = 499

// fail writes the error envelope for err and records err for the access log.
// A store that is down or did not answer within the request's deadline
// gives 10503; anything else that is not a *service.Error becomes 10500
// with a generic message (service.AsError). When the client has gone away,
// the request ends with StatusClientClosed and no body.
func fail(c *gin.Context, err error) {
	_ = c.Error(err)
	if service.ClientGone(c.Request.Context()) && service.ErrorCode(err) >= service.CodeInternal {
		c.AbortWithStatus(StatusClientClosed)
		return
	}
	se := service.AsError(err)
	if se.RetryAfter > 0 {
		c.Header("Retry-After", strconv.Itoa(int((se.RetryAfter+999_999_999)/1_000_000_000)))
	}
	abortWith(c, httpStatus(se.Code), se.Code, se.Message)
}

// abortWith writes an error envelope with an explicit status and stops the chain.
func abortWith(c *gin.Context, status, code int, message string) {
	c.AbortWithStatusJSON(status, Envelope{Code: code, Message: message, Data: nil, RequestID: requestID(c)})
}

// bindJSON decodes the body into dst and validates it. On failure it writes
// the envelope (413 for an oversized body, 400 otherwise) and returns false.
func bindJSON(c *gin.Context, dst any) bool {
	err := c.ShouldBindJSON(dst)
	if err == nil {
		return true
	}
	var tooBig *http.MaxBytesError
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var verrs validator.ValidationErrors
	msg := "请求参数格式有误"
	switch {
	case errors.As(err, &tooBig):
		_ = c.Error(err)
		abortWith(c, http.StatusRequestEntityTooLarge, service.CodeInvalid, "请求内容过大")
		return false
	case errors.Is(err, io.EOF):
		msg = "请求内容不能为空"
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF):
		msg = "请求内容不是合法的 JSON"
	case errors.As(err, &typ):
		msg = fmt.Sprintf("参数 %s 的类型不正确", typ.Field)
	case errors.As(err, &verrs):
		msg = validationMessage(verrs[0])
	}
	_ = c.Error(err)
	abortWith(c, http.StatusBadRequest, service.CodeInvalid, msg)
	return false
}

// validationMessage says in Chinese which field failed which rule.
func validationMessage(fe validator.FieldError) string {
	field := lowerFirst(fe.Field())
	switch fe.Tag() {
	case "required":
		return fmt.Sprintf("缺少参数 %s", field)
	case "max":
		return fmt.Sprintf("参数 %s 超出上限 %s", field, fe.Param())
	case "min":
		return fmt.Sprintf("参数 %s 低于下限 %s", field, fe.Param())
	case "oneof":
		return fmt.Sprintf("参数 %s 需为 %s 之一", field, strings.ReplaceAll(fe.Param(), " ", "、"))
	case "gt", "gte":
		return fmt.Sprintf("参数 %s 需大于 %s", field, fe.Param())
	}
	return fmt.Sprintf("参数 %s 不符合要求", field)
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// pathID parses a positive integer path parameter. On failure it writes a
// 10001 envelope and returns false.
func pathID(c *gin.Context, name string) (int64, bool) {
	id, err := strconv.ParseInt(c.Param(name), 10, 64)
	if err != nil || id <= 0 {
		abortWith(c, http.StatusBadRequest, service.CodeInvalid, fmt.Sprintf("参数 %s 需为正整数", name))
		return 0, false
	}
	return id, true
}

// idAndBody reads the path parameter id (pathID) and then binds the body
// into a T with bind (bindJSON, or bindOptionalJSON for an optional body).
// When either fails it has answered 400 and returns ok = false.
func idAndBody[T any](c *gin.Context, bind func(*gin.Context, any) bool) (id int64, req T, ok bool) {
	if id, ok = pathID(c, "id"); !ok || !bind(c, &req) {
		return 0, req, false
	}
	return id, req, true
}

// queryID parses an optional positive integer query parameter: nil when
// absent. On a malformed value it writes a 10001 envelope and returns false.
func queryID(c *gin.Context, name string) (*int64, bool) {
	v := c.Query(name)
	if v == "" {
		return nil, true
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		abortWith(c, http.StatusBadRequest, service.CodeInvalid, fmt.Sprintf("参数 %s 需为正整数", name))
		return nil, false
	}
	return &id, true
}

// requiredQueryID is queryID for a parameter that must be present.
func requiredQueryID(c *gin.Context, name string) (int64, bool) {
	id, ok := queryID(c, name)
	if !ok {
		return 0, false
	}
	if id == nil {
		abortWith(c, http.StatusBadRequest, service.CodeInvalid, fmt.Sprintf("缺少参数 %s", name))
		return 0, false
	}
	return *id, true
}

// queryPage reads page and pageSize, clamped by service.NewPage. On a
// non-numeric value it writes a 10001 envelope and returns false.
func queryPage(c *gin.Context) (service.Page, bool) {
	num := func(name string) (int, bool) {
		v := c.Query(name)
		if v == "" {
			return 0, true
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			abortWith(c, http.StatusBadRequest, service.CodeInvalid, fmt.Sprintf("参数 %s 需为整数", name))
			return 0, false
		}
		return n, true
	}
	page, ok := num("page")
	if !ok {
		return service.Page{}, false
	}
	size, ok := num("pageSize")
	if !ok {
		return service.Page{}, false
	}
	p := service.NewPage(page, size)
	// A feed reads by cursor unless the client asks for a numbered page.
	p.Cursor, p.ByCursor = c.Query("cursor"), c.Query("page") == ""
	return p, true
}

// reply writes v with status, or the error envelope when err is not nil.
func reply(c *gin.Context, status int, v any, err error) {
	if err != nil {
		fail(c, err)
		return
	}
	respond(c, status, v)
}
