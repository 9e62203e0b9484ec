package api_test

import (
	"encoding/json"
	"testing"

	"linli/internal/testutil"
)

// fuzzRoutes are the write endpoints whose request decoding and validation
// FuzzWriteEndpoints drives with arbitrary bodies, and who sends them.
var fuzzRoutes = []struct {
	method, path string
	staff        bool
}{
	{"POST", "/wishes", false},
	{"POST", "/activities/1/signup", false},
	{"POST", "/activities/1/checkin", false},
	{"POST", "/me/gifts", false},
	{"POST", "/mall/orders", false},
	{"POST", "/admin/credits", true},
	{"POST", "/services", false},
	{"POST", "/activities", true},
	{"PUT", "/me", false},
	{"POST", "/cases", false},
	{"POST", "/me/record-corrections", false},
	{"POST", "/me/volunteer-certificates", false},
	{"POST", "/me/consent", false},
}

// FuzzWriteEndpoints sends arbitrary bodies to the write endpoints (route
// picks one of fuzzRoutes): no answer is a 5xx, every answer is an
// envelope, and a refused request writes no row. Seeds: f.Add below and
// testdata/fuzz/FuzzWriteEndpoints. .ci/run fuzzes it briefly.
func FuzzWriteEndpoints(f *testing.F) {
	w := testutil.NewWorld(f)
	resident := w.Login("fuzz", w.Tree.CommunityA.ID)
	staff := w.Staff("fuzz-staff", w.Tree.CommunityA.ID)
	seeds := []string{
		`{"title":"帮忙修水管","content":"家里水管漏水，需要帮忙修理","category":"维修","budgetFen":2000}`,
		`{"toUserId":1,"currency":"minutes","amount":5,"requestId":"r1"}`,
		`{"userId":1,"communityId":1,"currency":"points","amount":10,"reason":"补录","requestId":"r2"}`,
		`{"goodsId":1,"quantity":1}`, `{"code":"123456","lat":30.1,"lng":120.2}`,
		`{"nickname":"张三"}`, `{"communityId":1,"category":"环境卫生","content":"楼道堆放杂物","address":"1号楼"}`,
		`{"attendanceId":1,"minutes":30,"reason":"签退漏扫"}`, `{"from":"2026-01-01","to":"2026-06-30"}`, `{"version":"v2"}`, `null`, `[]`, `{"amount":-1}`, `{"amount":1e309}`, "{\"title\":\"\\u0000\"}", `{`,
	}
	for i, s := range seeds {
		f.Add(uint8(i), []byte(s))
	}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		w.T = t // the harness's helpers must not call f.Helper inside the target
		r := fuzzRoutes[int(route)%len(fuzzRoutes)]
		token := resident.AccessToken
		if r.staff {
			token = staff.AccessToken
		}
		before := w.Rows()
		res, err := testutil.TrySend(w.Router, testutil.Request{Method: r.method, Path: r.path, Body: body, Token: token,
			Header: map[string]string{"Content-Type": "application/json"}})
		if err != nil {
			t.Fatalf("%s %s %q: %v", r.method, r.path, body, err)
		}
		if res.Status >= 500 {
			t.Fatalf("%s %s %q: %d %s", r.method, r.path, body, res.Status, res.Raw)
		}
		if !json.Valid(res.Raw) {
			t.Fatalf("%s %s: not JSON: %s", r.method, r.path, res.Raw)
		}
		if res.Status >= 400 {
			before.WroteNothing(t, r.method+" "+r.path+" "+string(body))
		}
	})
}
