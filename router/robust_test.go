package router_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/getkin/kin-openapi/openapi3"

	"linli/internal/testutil"
	"linli/model"
	"linli/router"
)

// statusFits reports the contract between an envelope code and the HTTP status
// (api/envelope.go httpStatus): general codes are fixed, domain codes are
// 400, 403, 404 or 409.
func statusFits(status, code int) bool {
	switch code {
	case 0:
		return status >= 200 && status < 300
	case 10001:
		return status == 400 || status == 413
	case 10002, 10003:
		return status == 401
	case 10004:
		return status == 403
	case 10005:
		return status == 404 || status == 405
	case 10006:
		return status == 409
	case 10007:
		return status == 429
	case 10008:
		return status == 422
	case 10503:
		return status == 503
	}
	if code >= 20000 && code < 60000 || code >= 70000 && code < 70100 || code >= 80000 && code < 80100 {
		return status == 400 || status == 403 || status == 404 || status == 409
	}
	return false
}

func hasChinese(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Han, r) {
			return true
		}
	}
	return false
}

// schemaProps flattens the properties of a (possibly allOf) object schema.
func schemaProps(s *openapi3.SchemaRef, out map[string]*openapi3.SchemaRef) {
	if s == nil || s.Value == nil {
		return
	}
	for name, p := range s.Value.Properties {
		out[name] = p
	}
	for _, sub := range s.Value.AllOf {
		schemaProps(sub, out)
	}
}

// baseBody is a plausible body of the schema's required properties.
func baseBody(s *openapi3.SchemaRef, props map[string]*openapi3.SchemaRef, ids map[string]int64, now time.Time) map[string]any {
	required := map[string]bool{}
	var collect func(*openapi3.SchemaRef)
	collect = func(s *openapi3.SchemaRef) {
		if s == nil || s.Value == nil {
			return
		}
		for _, n := range s.Value.Required {
			required[n] = true
		}
		for _, sub := range s.Value.AllOf {
			collect(sub)
		}
	}
	collect(s)
	out := map[string]any{}
	for n, p := range props {
		if required[n] {
			out[n] = plausible(n, p, ids, now)
		}
	}
	return out
}

func schemaType(s *openapi3.SchemaRef) string {
	if s == nil || s.Value == nil {
		return ""
	}
	if s.Value.Type != nil && len(*s.Value.Type) > 0 {
		return (*s.Value.Type)[0]
	}
	for _, sub := range s.Value.AllOf {
		if t := schemaType(sub); t != "" {
			return t
		}
	}
	return ""
}

// plausible returns a value of the right type for a property, using real
// ids of the harness for id fields, so that a mutated request reaches as
// deep as it can.
func plausible(name string, s *openapi3.SchemaRef, ids map[string]int64, now time.Time) any {
	v := s.Value
	if v == nil {
		return nil
	}
	if len(v.Enum) > 0 {
		return v.Enum[0]
	}
	if v.Example != nil {
		return v.Example
	}
	switch schemaType(s) {
	case "integer", "number":
		if id, ok := ids[name]; ok {
			return id
		}
		if v.Min != nil && *v.Min > 1 {
			return int64(*v.Min)
		}
		return 1
	case "boolean":
		return true
	case "array":
		if v.Items != nil {
			return []any{plausible(strings.TrimSuffix(name, "s"), v.Items, ids, now)}
		}
		return []any{}
	case "object":
		props := map[string]*openapi3.SchemaRef{}
		schemaProps(s, props)
		m := map[string]any{}
		for n, p := range props {
			m[n] = plausible(n, p, ids, now)
		}
		return m
	case "string":
		lower := strings.ToLower(name)
		switch {
		case strings.Contains(lower, "phone"):
			return "13912345678"
		case strings.Contains(lower, "image") || strings.Contains(lower, "url") || strings.Contains(lower, "photo"):
			return "https://example.com/a.png"
		case strings.Contains(lower, "pickupcode"):
			return "123456"
		}
		switch v.Format {
		case "date-time":
			if strings.Contains(lower, "end") {
				return now.Add(72 * time.Hour).Format(time.RFC3339)
			}
			return now.Add(48 * time.Hour).Format(time.RFC3339)
		case "date":
			return now.Format("2006-01-02")
		}
		if v.Pattern != "" {
			return "abc123"
		}
		n := int(v.MinLength)
		if n < 2 {
			n = 2
		}
		return strings.Repeat("测", n)
	}
	return "x"
}

// wrongValue is a value for a property; refuse says it is of the wrong JSON
// type, so that any route must answer 400 10001 (other values are out of
// range or odd, and may be accepted).
type wrongValue struct {
	v      any
	refuse bool
}

// wrongValues are values of the wrong type (or out of range) for a
// property of type typ.
func wrongValues(typ string) []wrongValue {
	huge := json.RawMessage("9223372036854775808")
	e30 := json.RawMessage("1e30")
	no := func(vs ...any) []wrongValue {
		var out []wrongValue
		for _, v := range vs {
			out = append(out, wrongValue{v, true})
		}
		return out
	}
	maybe := func(vs ...any) []wrongValue {
		var out []wrongValue
		for _, v := range vs {
			out = append(out, wrongValue{v, false})
		}
		return out
	}
	obj, arr := map[string]any{"a": 1}, []any{1, "x"}
	switch typ {
	case "integer":
		return append(no(obj, arr, "1", "abc", 1.5, e30, huge, true),
			maybe(-1, 0, 999999999, int64(-9223372036854775807), int64(9223372036854775807))...)
	case "number":
		return append(no(obj, arr, "1", "abc", true), maybe(1.5, e30, -1e300, 0)...)
	case "string":
		return append(no(obj, arr, 123, e30, true), maybe("", strings.Repeat("长", 5000), "\x00\u202e<script>", " ")...)
	case "boolean":
		return no(obj, arr, "true", 1)
	case "array":
		return append(no("x", 1, obj), maybe([]any{map[string]any{"a": []int{1}}}, []any{huge}, make([]int, 2000))...)
	case "object":
		return no("x", 1, []any{1})
	}
	return maybe(obj, arr, "x", 1)
}

// TestHostileRequests walks every route and sends each, as a stranger, an
// ordinary user, the staff of a community and an admin of a district,
// hostile requests: bodies of the wrong shape, wrong types for every
// documented field, unknown and malformed path ids, malformed query values.
// No answer is a 5xx, every answer is an envelope whose status fits its
// code, with a Chinese message on error, and an error writes no row.
func TestHostileRequests(t *testing.T) {
	doc := testutil.OpenAPIDoc(t)
	h := testutil.New(t, testutil.WithConfig(map[string]any{"ratelimit.wish_create_per_minute": 100000}))
	tree := h.MustTree()
	user := h.MustLogin(testutil.UniqueOpenID("rob-u"))
	h.MustSetHome(user.UserID, tree.CommunityA.ID)
	staff := h.MustLogin(testutil.UniqueOpenID("rob-s"))
	h.MustSetHome(staff.UserID, tree.CommunityA.ID)
	h.MustMakeStaff(staff.UserID, tree.CommunityA.ID, model.RoleStaff)
	admin := h.MustLogin(testutil.UniqueOpenID("rob-a"))
	h.MustMakeStaff(admin.UserID, tree.District.ID, model.RoleAdmin)
	// Requests name other users by other's id (a resident of community A
	// who sends nothing), and DELETE /admin/staff/:id gets other's role.
	other := h.MustLogin(testutil.UniqueOpenID("rob-o"))
	h.MustSetHome(other.UserID, tree.CommunityA.ID)
	h.MustMakeStaff(other.UserID, tree.CommunityB.ID, model.RoleStaff)
	var otherRole model.StaffRole
	if err := h.DB.Where("user_id = ?", other.UserID).First(&otherRole).Error; err != nil {
		t.Fatal(err)
	}
	// Refresh tokens of the callers are not sent to /auth/refresh: a
	// legitimate refresh would rotate them.
	ids := map[string]int64{
		"userId": other.UserID, "communityId": tree.CommunityA.ID, "gridId": tree.GridA.ID,
		"orgId": tree.CommunityA.ID, "parentId": tree.Street.ID, "toUserId": staff.UserID,
	}
	now := h.Clock.Now()
	// Fields a route needs beyond the required ones of its schema (one of
	// two alternatives, or defaults the callers lack).
	extra := map[string]map[string]any{
		"/api/v1/wishes":         {"contactPhone": "13912345678"},
		"/api/v1/member-reports": {"unitName": "测试单位", "mode": "daily"},
		"/api/v1/services":       {"occurredOn": now.Format("2006-01-02")},
	}
	withExtra := func(path string, body map[string]any) map[string]any {
		for k, v := range extra[path] {
			body[k] = v
		}
		return body
	}
	// Outsiders live and serve in community C, under another street: they
	// act on community A's objects only where any resident may.
	outResident := h.MustLogin(testutil.UniqueOpenID("rob-or"))
	h.MustSetHome(outResident.UserID, tree.CommunityC.ID)
	outStaff := h.MustLogin(testutil.UniqueOpenID("rob-os"))
	h.MustSetHome(outStaff.UserID, tree.CommunityC.ID)
	h.MustMakeStaff(outStaff.UserID, tree.CommunityC.ID, model.RoleStaff)
	type caller struct {
		name, token string
		outsider    bool
	}
	signedIn := func(c caller) bool { return c.token != "" && c.name != "forged token" }
	public := map[string]bool{"/api/v1/auth/wechat-login": true, "/api/v1/auth/dev-login": true,
		"/api/v1/auth/refresh": true, "/api/v1/certificates/verify": true, "/api/v1/files/:name": true,
		"/api/v1/wechat/push": true}
	// Outsiders come before community A's staff, while the objects are
	// still in the state the seeding left them in.
	callers := []caller{
		{"anonymous", "", false}, {"user", user.AccessToken, false},
		{"outside resident", outResident.AccessToken, true}, {"outside staff", outStaff.AccessToken, true},
		{"staff", staff.AccessToken, false}, {"admin", admin.AccessToken, false},
		{"forged token", "eyJhbGciOiJIUzI1NiJ9.e30.x", false},
	}
	if testing.Short() {
		callers = callers[:2]
	}
	// outsiderMayWrite lists the object routes on which a caller from
	// another street (the outsiders above) may succeed in writing to
	// community A's objects, each with the reason; a successful write by an
	// outsider on any other object route fails the walk.
	outsiderMayWrite := map[string]string{
		"POST /api/v1/wishes/:id/claim": "a published wish is open to every Party member of its street " +
			"(service.WishService.Claim); claiming is the point of publishing it",
		"POST /api/v1/activities/:id/signup": "a published activity for all takes any registered " +
			"volunteer of the district (service.ActivityService.Signup)",
		"DELETE /api/v1/activities/:id/signup": "withdraws the caller's own sign-up, nobody else's",
		"POST /api/v1/activities/:id/checkin":  "checks the caller in to an activity they signed up for",
		"POST /api/v1/posts/:id/claim": "a Party member reported to the post's community takes one of " +
			"its places (service.ReportService.ClaimPost)",
	}
	// Writes outsiders were allowed on community A's objects, for review.
	var outsiderWrites []string
	badIDs := []string{"0", "-1", "999999999", "9223372036854775807", "abc", "123456789012345678901234567890", "1.5", "%20"}
	badQuery := []string{"-1", "0", "abc", "1000000", "9223372036854775807", "9223372036854775808", "99999999999", "2024-02-30", "2024-01", "1e30", "2024-13-45", "garbage", "%00", strings.Repeat("9", 40)}
	universal := []string{"page", "pageSize", "period", "currency", "orgId", "communityId", "date", "from", "to", "status", "month", "quarter", "year"}
	bad, total, strict := 0, 0, 0
	ginParam := regexp.MustCompile(`[:*]([A-Za-z0-9_]+)`)
	twoMiB := `{"x":"` + strings.Repeat("x", 2<<20) + `"}`

	check := func(t *testing.T, label string, req testutil.Request) *testutil.Response {
		t.Helper()
		before := h.Rows()
		res := testutil.Send(t, h.Router, req)
		total++
		fail := func(format string, args ...any) {
			t.Helper()
			bad++
			t.Errorf("%s: %s %s body=%.200v → %d %s", label, req.Method, req.Path, req.Body, res.Status, fmt.Sprintf(format, args...))
		}
		if res.Status >= 500 && !(res.Status == 503 && res.Code == 10503) {
			fail("server error: %.300s", res.Raw)
			return res
		}
		ct := res.Header.Get("Content-Type")
		if !strings.Contains(ct, "json") {
			// Files, metrics and QR codes are not envelopes; only their
			// success may be something else.
			if res.Status >= 400 {
				fail("error without an envelope (%s): %.200s", ct, res.Raw)
			}
			return res
		}
		if !statusFits(res.Status, res.Code) {
			fail("status does not fit code %d: %.300s", res.Code, res.Raw)
		}
		if res.Status >= 400 {
			if res.Code == 0 || !hasChinese(res.Message) || string(res.Data) != "null" {
				fail("not an error envelope: %.300s", res.Raw)
			}
			if d := before.Changes(); d != "" {
				fail("error %d %s but rows changed: %s", res.Code, res.Message, d)
			}
		}
		return res
	}

	routes := router.Routes(h.Router)
	sort.Slice(routes, func(i, j int) bool { return routes[i].Path+routes[i].Method < routes[j].Path+routes[j].Method })
	// Seeding: each create route is sent a plausible body by every caller,
	// twice (objects made in the first round feed the second), and the ids
	// of what was created are kept by the path segment that names them, so
	// that the hostile requests below reach real objects as well as unknown
	// ones. Rows the seeding writes are legitimate.
	real := map[string]int64{"staff": otherRole.ID}
	keyOf := func(path string) string {
		segs := strings.Split(strings.TrimSuffix(path, "/"), "/")
		for i, sg := range segs {
			if strings.HasPrefix(sg, ":") && i > 0 {
				return segs[i-1]
			}
		}
		return segs[len(segs)-1]
	}
	idField := map[string]string{"units": "unitId", "goods": "goodsId", "activities": "activityId",
		"wishes": "wishId", "posts": "postId", "needs": "needId", "resources": "resourceId"}
	fillReal := func(path string) (string, bool) {
		ok := true
		out := ginParam.ReplaceAllStringFunc(path, func(m string) string {
			if m == ":userId" {
				return strconv.FormatInt(other.UserID, 10)
			}
			id, found := real[keyOf(path[:strings.Index(path, m)+len(m)])]
			if !found || id == 0 {
				ok = false
			}
			return strconv.FormatInt(id, 10)
		})
		return out, ok
	}
	for round := 0; round < 2; round++ {
		for _, rt := range routes {
			if rt.Method != "POST" || strings.Contains(rt.Path, "/auth/") || rt.Path == "/api/v1/uploads" || rt.Path == "/api/v1/admin/staff" {
				continue
			}
			op := doc.Paths.Find(ginParam.ReplaceAllString(rt.Path, "{$1}")).GetOperation(rt.Method)
			if op == nil || op.RequestBody == nil || op.RequestBody.Value == nil {
				continue
			}
			mt := op.RequestBody.Value.Content.Get("application/json")
			if mt == nil {
				continue
			}
			path, ok := fillReal(rt.Path)
			if !ok {
				continue
			}
			props := map[string]*openapi3.SchemaRef{}
			schemaProps(mt.Schema, props)
			body := withExtra(rt.Path, baseBody(mt.Schema, props, ids, now))
			for _, c := range callers[1:] {
				if c.outsider || c.name == "forged token" {
					continue
				}
				res := testutil.Send(t, h.Router, testutil.Request{Method: "POST", Path: path, Body: body, Token: c.token})
				var created struct{ ID int64 }
				if res.Status == 201 && json.Unmarshal(res.Data, &created) == nil && created.ID > 0 {
					key := keyOf(rt.Path)
					real[key] = created.ID
					if field, ok := idField[key]; ok {
						ids[field] = created.ID
					}
				}
				if os.Getenv("LINLI_ROBUST_VERBOSE") != "" && round == 0 {
					t.Logf("seed %s as %s: %d %.200s", path, c.name, res.Status, res.Raw)
				}
				if res.Status >= 500 {
					t.Errorf("seeding %s %s as %s → %d %s", rt.Method, path, c.name, res.Status, res.Raw)
				}
			}
		}
	}
	t.Logf("real objects: %v", real)

	for _, rt := range routes {
		if rt.Path == "/metrics" || rt.Path == "/healthz" || rt.Path == "/readyz" || rt.Path == "/api/v1/openapi.json" {
			continue
		}
		openPath := ginParam.ReplaceAllString(rt.Path, "{$1}")
		item := doc.Paths.Find(openPath)
		if item == nil || item.GetOperation(rt.Method) == nil {
			t.Errorf("%s %s not documented", rt.Method, rt.Path)
			continue
		}
		op := item.GetOperation(rt.Method)
		params := ginParam.FindAllStringSubmatch(rt.Path, -1)
		fill := func(v string) string {
			p := rt.Path
			for _, m := range params {
				p = strings.Replace(p, m[0], v, 1)
			}
			return p
		}
		// Properties of the JSON body, if any.
		props := map[string]*openapi3.SchemaRef{}
		hasBody, bodyRequired := false, false
		base := map[string]any{}
		if op.RequestBody != nil && op.RequestBody.Value != nil {
			if mt := op.RequestBody.Value.Content.Get("application/json"); mt != nil {
				hasBody, bodyRequired = true, op.RequestBody.Value.Required
				schemaProps(mt.Schema, props)
				base = withExtra(rt.Path, baseBody(mt.Schema, props, ids, now))
			}
		}
		var queryNames []string
		for _, p := range op.Parameters {
			if p.Value != nil && p.Value.In == "query" {
				queryNames = append(queryNames, p.Value.Name)
			}
		}
		queryNames = append(queryNames, universal...)

		t.Run(rt.Method+" "+rt.Path, func(t *testing.T) {
			for _, c := range callers {
				// Logout would end the callers' sessions and DELETE /me
				// erase them: both are sent anonymously.
				if c.token != "" && (rt.Path == "/api/v1/auth/logout" || rt.Method == "DELETE" && rt.Path == "/api/v1/me") {
					continue
				}
				send := func(label, path string, body any) *testutil.Response {
					req := testutil.Request{Method: rt.Method, Path: path, Body: body, Token: c.token}
					res := check(t, c.name+" "+label, req)
					if !signedIn(c) && !public[rt.Path] && (res.Status != 401 || res.Code != 10002) && res.Status != 413 {
						bad++
						t.Errorf("%s %s: %s %s: want 401 10002, got %d %.300s", c.name, label, rt.Method, path, res.Status, res.Raw)
					}
					if c.outsider && rt.Method != "GET" && res.Status < 300 && len(params) > 0 && path != fill("999999999") {
						w := fmt.Sprintf("%s %s %s (%s) → %d %.200s", c.name, rt.Method, path, label, res.Status, res.Raw)
						if _, ok := outsiderMayWrite[rt.Method+" "+rt.Path]; ok {
							outsiderWrites = append(outsiderWrites, w)
						} else {
							bad++
							t.Errorf("outsider wrote to another community's object: %s", w)
						}
					}
					return res
				}
				// refused asserts that a signed-in caller's request was
				// refused as invalid input.
				refused := func(label string, res *testutil.Response) {
					t.Helper()
					strict++
					if signedIn(c) && (res.Status != 400 && res.Status != 413 || res.Code != 10001) {
						bad++
						t.Errorf("%s %s: %s %s: want 400/413 10001, got %d %.300s", c.name, label, rt.Method, rt.Path, res.Status, res.Raw)
					}
				}
				targets := []string{fill("999999999")}
				if p, ok := fillReal(rt.Path); ok && len(params) > 0 {
					targets = append(targets, p)
				}
				// Path ids.
				if len(params) > 0 {
					for _, id := range badIDs {
						var body any
						if hasBody {
							body = base
						}
						send("path id "+id, fill(id), body)
					}
				}
				for _, target := range targets {
					// An outsider also sends the plausible request as is: it
					// must be refused unless outsiderMayWrite allows it.
					if c.outsider && rt.Method != "GET" {
						var body any
						if hasBody {
							body = base
						}
						send("plausible request", target, body)
					}
					// Body shapes.
					if rt.Method != "GET" && rt.Method != "DELETE" || hasBody {
						for _, b := range []string{"", "null", "[]", `"x"`, "1", "{", "{}", `{"a":`, "\xff\xfe", `[{"code":"x"}]`} {
							res := send("body "+strconv.Quote(b), target, b)
							if hasBody && b != "null" && b != "{}" && (b != "" || bodyRequired) {
								refused("body "+strconv.Quote(b), res)
							}
						}
						if res := send("body 2 MiB", target, twoMiB); hasBody {
							refused("body 2 MiB", res)
						}
					}
					// Wrong type for each field, the others plausible.
					names := make([]string, 0, len(props))
					for n := range props {
						names = append(names, n)
					}
					sort.Strings(names)
					for _, n := range names {
						for _, wv := range wrongValues(schemaType(props[n])) {
							body := map[string]any{}
							for k, v := range base {
								body[k] = v
							}
							body[n] = wv.v
							label := fmt.Sprintf("field %s=%.40v", n, wv.v)
							if res := send(label, target, body); wv.refuse {
								refused(label, res)
							}
						}
						// And the field missing.
						body := map[string]any{}
						for k, v := range base {
							if k != n {
								body[k] = v
							}
						}
						send("without "+n, target, body)
					}
				}
				// Query values.
				if rt.Method == "GET" {
					for _, q := range queryNames {
						for _, v := range badQuery {
							send("query "+q+"="+v, targets[len(targets)-1]+"?"+url.QueryEscape(q)+"="+v, nil)
						}
					}
				}
			}
		})
	}
	// The upload takes multipart bodies: hostile ones too.
	t.Run("POST /api/v1/uploads multipart", func(t *testing.T) {
		wrongField, ct := testutil.Multipart("photo", "a.png", testutil.PNG())
		empty, ct2 := testutil.Multipart("file", "a.png", nil)
		text, ct3 := testutil.Multipart("file", "a.png", []byte("not an image at all"))
		exe, ct4 := testutil.Multipart("file", "../../etc/passwd", []byte("MZ\x90\x00"))
		for _, tc := range []struct {
			label string
			body  []byte
			ct    string
		}{
			{"wrong field", wrongField, ct}, {"empty file", empty, ct2}, {"text", text, ct3}, {"exe with a path", exe, ct4},
			{"truncated", wrongField[:len(wrongField)/2], ct}, {"no boundary", text, "multipart/form-data"},
			{"json", []byte(`{"file":"x"}`), "application/json"}, {"nothing", nil, ct},
		} {
			res := check(t, "upload "+tc.label, testutil.Request{Method: "POST", Path: "/uploads", Body: tc.body,
				Token: user.AccessToken, Header: map[string]string{"Content-Type": tc.ct}})
			if res.Status != 400 && res.Status != 413 && res.Status != 422 {
				bad++
				t.Errorf("upload %s: want 400, got %d %.300s", tc.label, res.Status, res.Raw)
			}
		}
	})
	for _, w := range outsiderWrites {
		t.Logf("outsider write (allowed): %s", w)
	}
	t.Logf("%d hostile requests (%d that must be refused as invalid), %d bad answers", total, strict, bad)
	if os.Getenv("LINLI_ROBUST_VERBOSE") != "" {
		t.Logf("routes: %d", len(routes))
	}
}
