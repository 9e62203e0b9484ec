package router_test

import (
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"linli/internal/testutil"
	"linli/model"
	"linli/router"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// TestEveryRouteIsDocumented checks both ways: each route registered on the
// engine (dev mode, so dev-login is there) is an operation of
// docs/openapi.yaml, and each documented operation is a route. A new
// endpoint cannot land without its documentation.
func TestEveryRouteIsDocumented(t *testing.T) {
	doc := testutil.OpenAPIDoc(t)
	h := testutil.New(t)
	routes := router.Routes(h.Router)
	ginParam := regexp.MustCompile(`[:*]([A-Za-z0-9_]+)`) // gin's :id → OpenAPI's {id}
	if len(routes) == 0 {
		t.Fatal("no routes")
	}
	registered := map[string]bool{}
	for _, r := range routes {
		path := ginParam.ReplaceAllString(r.Path, "{$1}")
		key := r.Method + " " + path
		registered[key] = true
		item := doc.Paths.Find(path)
		if item == nil || item.GetOperation(r.Method) == nil {
			t.Errorf("route %s is not in docs/openapi.yaml", key)
		}
	}
	var documented []string
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			key := method + " " + path
			documented = append(documented, key)
			if !registered[key] {
				t.Errorf("docs/openapi.yaml documents %s, which is not a route", key)
			}
			if op.OperationID == "" || op.Summary == "" {
				t.Errorf("%s needs an operationId and a summary", key)
			}
			if strings.HasPrefix(path, "/api/v1/") && path != "/api/v1/openapi.json" && op.Responses.Value("400") == nil && op.Responses.Value("401") == nil && op.Responses.Value("404") == nil {
				t.Errorf("%s documents none of its error answers", key)
			}
		}
	}
	sort.Strings(documented)
	t.Logf("%d routes documented", len(documented))
}

// TestResponsesMatchDocument drives every foundation endpoint through its
// success and main error answers and validates each response body and
// status against docs/openapi.yaml.
func TestResponsesMatchDocument(t *testing.T) {
	admin := testutil.UniqueOpenID("docadm")
	h := testutil.New(t, testutil.WithConfig(map[string]any{"bootstrap.admins": admin}))
	v := testutil.NewDocChecker(t, h.Router, nil)
	do := func(method, path string, body any, token string) *testutil.Response {
		return testutil.Send(t, v, testutil.Request{Method: method, Path: path, Body: body, Token: token})
	}

	do("GET", "/healthz", nil, "")
	do("GET", "/readyz", nil, "")
	do("GET", "/metrics", nil, "")
	do("GET", "/api/v1/openapi.json", nil, "")

	var tok struct {
		AccessToken, RefreshToken string
		User                      struct{ ID int64 }
	}
	do("POST", "/auth/wechat-login", map[string]string{"code": admin}, "").Expect(t, 200, 0).Decode(t, &tok)
	a := tok.AccessToken
	do("POST", "/auth/wechat-login", map[string]string{"code": "bad-x"}, "").Expect(t, 401, 10002)
	do("POST", "/auth/wechat-login", map[string]string{"code": "ratelimited-x"}, "").Expect(t, 429, 10007)
	do("POST", "/auth/wechat-login", map[string]string{"code": "down-x"}, "").Expect(t, 503, 10503)
	do("POST", "/auth/wechat-login", map[string]any{"code": 1}, "").Expect(t, 400, 10001)
	do("POST", "/auth/wechat-login", `{"code":"`+strings.Repeat("x", 2<<20)+`"}`, "").Expect(t, 413, 10001)
	var user struct {
		AccessToken, RefreshToken string
		User                      struct{ ID int64 }
	}
	do("POST", "/auth/dev-login", map[string]string{"openid": testutil.UniqueOpenID("docu"), "nickname": "居民"}, "").Expect(t, 200, 0).Decode(t, &user)
	do("POST", "/auth/refresh", map[string]string{"refreshToken": user.RefreshToken}, "").Expect(t, 200, 0).Decode(t, &user)
	u := user.AccessToken
	do("POST", "/auth/refresh", map[string]string{"refreshToken": "nope.nope"}, "").Expect(t, 401, 10002)

	do("GET", "/me", nil, u).Expect(t, 200, 0)
	do("GET", "/me", nil, "").Expect(t, 401, 10002)
	do("PUT", "/me", map[string]string{"nickname": "新昵称"}, u).Expect(t, 200, 0)
	do("PUT", "/me", map[string]string{"nickname": " "}, u).Expect(t, 400, 10001)
	do("POST", "/me/phone", map[string]string{"code": "phone:13812345678"}, u).Expect(t, 200, 0)

	var district, street, community, grid struct{ ID int64 }
	do("POST", "/admin/orgs", map[string]any{"level": "district", "name": "文档区"}, a).Expect(t, 201, 0).Decode(t, &district)
	do("POST", "/admin/orgs", map[string]any{"parentId": district.ID, "level": "street", "name": "文档街道"}, a).Expect(t, 201, 0).Decode(t, &street)
	do("POST", "/admin/orgs", map[string]any{"parentId": street.ID, "level": "community", "name": "文档社区"}, a).Expect(t, 201, 0).Decode(t, &community)
	do("POST", "/admin/orgs", map[string]any{"parentId": community.ID, "level": "grid", "name": "文档网格"}, a).Expect(t, 201, 0).Decode(t, &grid)
	do("POST", "/admin/orgs", map[string]any{"parentId": street.ID, "level": "community", "name": "x"}, u).Expect(t, 403, 10004)
	do("POST", "/admin/orgs", map[string]any{"parentId": 987654321, "level": "street", "name": "x"}, a).Expect(t, 404, 10005)
	do("GET", "/orgs", nil, u).Expect(t, 200, 0)
	do("GET", "/orgs?parentId="+strconv.FormatInt(street.ID, 10)+"&page=1&pageSize=5", nil, u).Expect(t, 200, 0)

	do("PUT", "/me/community", map[string]any{"communityId": community.ID, "gridId": grid.ID}, u).Expect(t, 200, 0)
	do("PUT", "/me/community", map[string]any{"communityId": 987654321}, u).Expect(t, 404, 10005)

	var staff struct{ ID int64 }
	do("POST", "/admin/staff", map[string]any{"userId": user.User.ID, "orgId": community.ID, "role": "staff"}, a).Expect(t, 201, 0).Decode(t, &staff)
	do("POST", "/admin/staff", map[string]any{"userId": user.User.ID, "orgId": community.ID, "role": "boss"}, a).Expect(t, 400, 10001)
	do("GET", "/admin/users?q="+url.QueryEscape("新昵称"), nil, a).Expect(t, 200, 0)
	do("GET", "/admin/users", nil, u).Expect(t, 403, 10004)
	do("DELETE", "/admin/staff/"+strconv.FormatInt(staff.ID, 10), nil, a).Expect(t, 200, 0)
	do("DELETE", "/admin/staff/"+strconv.FormatInt(staff.ID, 10), nil, a).Expect(t, 404, 10005)
	do("POST", "/auth/logout", nil, u).Expect(t, 200, 0)

	if h.Count(&model.OrgUnit{}, "name = ?", "文档网格") == 0 {
		t.Fatal("scenario did not run")
	}
	t.Logf("%d operation/status pairs validated", v.Checked())
}
