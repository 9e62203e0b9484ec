package api_test

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"linli/internal/testutil"
	"linli/model"
	"linli/service"
)

type orgView struct {
	ID       int64  `json:"id"`
	ParentID *int64 `json:"parentId"`
	Level    string `json:"level"`
	Name     string `json:"name"`
	Path     string `json:"path"`
}

type staffView struct {
	ID     int64  `json:"id"`
	UserID int64  `json:"userId"`
	OrgID  int64  `json:"orgId"`
	Role   string `json:"role"`
}

func createOrg(t *testing.T, h *testutil.Harness, token string, parent *int64, level, name string) orgView {
	t.Helper()
	body := map[string]any{"level": level, "name": name}
	if parent != nil {
		body["parentId"] = *parent
	}
	var o orgView
	h.Do("POST", "/admin/orgs", body, token).Expect(t, 201, 0).Decode(t, &o)
	return o
}

func TestAdminBuildsTreeThroughAPI(t *testing.T) {
	adminID := testutil.UniqueOpenID("boot")
	h := testutil.New(t, testutil.WithConfig(map[string]any{"bootstrap.admins": "someone-else, " + adminID}))
	admin := h.MustLogin(adminID)
	nobody := h.MustLogin(testutil.UniqueOpenID("nobody"))

	// Only a bootstrap admin creates a root, and a root is a district.
	before := h.Rows()
	h.Do("POST", "/admin/orgs", map[string]any{"level": "district", "name": "某区"}, nobody.AccessToken).Expect(t, 403, 10004)
	h.Do("POST", "/admin/orgs", map[string]any{"level": "street", "name": "某街道"}, admin.AccessToken).Expect(t, 400, 10001)
	before.WroteNothing(t, "refused creations")

	district := createOrg(t, h, admin.AccessToken, nil, "district", "测试区")
	street := createOrg(t, h, admin.AccessToken, &district.ID, "street", "测试街道")
	community := createOrg(t, h, admin.AccessToken, &street.ID, "community", "测试社区")
	grid := createOrg(t, h, admin.AccessToken, &community.ID, "grid", "第一网格")

	want := fmt.Sprintf("/%d/%d/%d/%d/", district.ID, street.ID, community.ID, grid.ID)
	if grid.Path != want || grid.Level != "grid" || *grid.ParentID != community.ID {
		t.Fatalf("grid = %+v, want path %s", grid, want)
	}

	// Levels must step down one at a time; nothing goes below a grid.
	before = h.Rows()
	h.Do("POST", "/admin/orgs", map[string]any{"parentId": district.ID, "level": "community", "name": "跳级"}, admin.AccessToken).Expect(t, 400, 10001)
	h.Do("POST", "/admin/orgs", map[string]any{"parentId": grid.ID, "level": "grid", "name": "网格下"}, admin.AccessToken).Expect(t, 400, 10001)
	h.Do("POST", "/admin/orgs", map[string]any{"parentId": street.ID, "level": "community", "name": "无权"}, nobody.AccessToken).Expect(t, 403, 10004)
	h.Do("POST", "/admin/orgs", map[string]any{"parentId": 999999999, "level": "street", "name": "无父"}, admin.AccessToken).Expect(t, 404, 10005)
	before.WroteNothing(t, "refused creations")

	// Anyone signed in lists the children of a unit, as a page.
	var list struct {
		List     []orgView `json:"list"`
		Total    int64     `json:"total"`
		Page     int       `json:"page"`
		PageSize int       `json:"pageSize"`
	}
	h.Do("GET", "/orgs?parentId="+strconv.FormatInt(street.ID, 10), nil, nobody.AccessToken).Expect(t, 200, 0).Decode(t, &list)
	if list.Total != 1 || len(list.List) != 1 || list.List[0].ID != community.ID || list.Page != 1 || list.PageSize != 20 {
		t.Fatalf("children of street = %+v", list)
	}
	h.Do("GET", "/orgs?parentId="+strconv.FormatInt(grid.ID, 10), nil, nobody.AccessToken).Expect(t, 200, 0).Decode(t, &list)
	if list.List == nil || len(list.List) != 0 {
		t.Fatalf("children of a grid = %+v, want an empty list", list)
	}
	h.Do("GET", "/orgs?parentId=abc", nil, nobody.AccessToken).Expect(t, 400, 10001)
	h.Do("GET", "/orgs", nil, "").Expect(t, 401, 10002)

	// The bootstrap admin sees itself as admin of the root.
	found := false
	for _, r := range me(t, h, admin.AccessToken).Roles {
		found = found || (r.Role == "admin" && r.OrgID == district.ID)
	}
	if !found {
		t.Fatalf("bootstrap admin has no admin role on the root")
	}

	// The admin appoints a street admin, who appoints staff in the street.
	streetAdmin := h.MustLogin(testutil.UniqueOpenID("sa"))
	staff := h.MustLogin(testutil.UniqueOpenID("st"))
	h.Do("POST", "/admin/staff", map[string]any{"userId": streetAdmin.UserID, "orgId": street.ID, "role": "admin"}, admin.AccessToken).Expect(t, 201, 0)
	var sv staffView
	h.Do("POST", "/admin/staff", map[string]any{"userId": staff.UserID, "orgId": community.ID, "role": "staff"}, streetAdmin.AccessToken).Expect(t, 201, 0).Decode(t, &sv)
	if sv.UserID != staff.UserID || sv.OrgID != community.ID || sv.Role != "staff" {
		t.Fatalf("appointment = %+v", sv)
	}
	// Appointing twice returns the same appointment.
	var again staffView
	h.Do("POST", "/admin/staff", map[string]any{"userId": staff.UserID, "orgId": community.ID, "role": "staff"}, streetAdmin.AccessToken).Expect(t, 201, 0).Decode(t, &again)
	if again.ID != sv.ID || h.Count(&model.StaffRole{}, "user_id = ?", staff.UserID) != 1 {
		t.Fatalf("second appointment %+v, first %+v", again, sv)
	}
	roles := me(t, h, staff.AccessToken).Roles
	if len(roles) != 1 || roles[0].Role != "staff" || roles[0].OrgID != community.ID {
		t.Fatalf("staff roles = %+v", roles)
	}
	// Staff may act on the grid beneath the community.
	if _, err := h.Svc.Authz.RequireStaff(context.Background(), h.DB, staff.UserID, grid.ID); err != nil {
		t.Fatalf("staff of the community on its grid: %v", err)
	}
}

func TestStreetAdminAppointsOnlyInsideStreet(t *testing.T) {
	h := testutil.New(t)
	tree := h.MustTree()
	streetAdmin := h.MustLogin(testutil.UniqueOpenID("sa"))
	h.MustMakeStaff(streetAdmin.UserID, tree.Street.ID, model.RoleAdmin)
	u := h.MustLogin(testutil.UniqueOpenID("u"))

	for _, org := range []model.OrgUnit{tree.Street, tree.CommunityA, tree.CommunityB, tree.GridA} {
		h.Do("POST", "/admin/staff", map[string]any{"userId": u.UserID, "orgId": org.ID, "role": "staff"}, streetAdmin.AccessToken).Expect(t, 201, 0)
	}
	before := h.Rows()
	for _, org := range []model.OrgUnit{tree.CommunityC, tree.OtherStreet, tree.District} {
		h.Do("POST", "/admin/staff", map[string]any{"userId": u.UserID, "orgId": org.ID, "role": "staff"}, streetAdmin.AccessToken).Expect(t, 403, 10004)
		h.Do("POST", "/admin/staff", map[string]any{"userId": u.UserID, "orgId": org.ID, "role": "admin"}, streetAdmin.AccessToken).Expect(t, 403, 10004)
	}
	h.Do("POST", "/admin/orgs", map[string]any{"parentId": tree.OtherStreet.ID, "level": "community", "name": "越界"}, streetAdmin.AccessToken).Expect(t, 403, 10004)
	before.WroteNothing(t, "refused appointments")
	// Inside its street it may also create communities.
	createOrg(t, h, streetAdmin.AccessToken, &tree.Street.ID, "community", "新社区")
}

func TestCommunityStaffCannotActOnAnotherCommunity(t *testing.T) {
	h := testutil.New(t)
	tree := h.MustTree()
	staffA := h.MustLogin(testutil.UniqueOpenID("sta"))
	adminA := h.MustLogin(testutil.UniqueOpenID("ada"))
	h.MustMakeStaff(staffA.UserID, tree.CommunityA.ID, model.RoleStaff)
	h.MustMakeStaff(adminA.UserID, tree.CommunityA.ID, model.RoleAdmin)
	u := h.MustLogin(testutil.UniqueOpenID("u"))

	before := h.Rows()
	// Staff (not admin) of A: no admin action anywhere, in A or in B.
	for _, org := range []model.OrgUnit{tree.CommunityA, tree.CommunityB} {
		h.Do("POST", "/admin/staff", map[string]any{"userId": u.UserID, "orgId": org.ID, "role": "staff"}, staffA.AccessToken).Expect(t, 403, 10004)
	}
	h.Do("POST", "/admin/orgs", map[string]any{"parentId": tree.CommunityB.ID, "level": "grid", "name": "B网格"}, staffA.AccessToken).Expect(t, 403, 10004)
	// Admin of A: admin actions in B are refused.
	h.Do("POST", "/admin/staff", map[string]any{"userId": u.UserID, "orgId": tree.CommunityB.ID, "role": "staff"}, adminA.AccessToken).Expect(t, 403, 10004)
	h.Do("POST", "/admin/orgs", map[string]any{"parentId": tree.CommunityB.ID, "level": "grid", "name": "B网格"}, adminA.AccessToken).Expect(t, 403, 10004)
	before.WroteNothing(t, "refused actions")
	// Admin of A acts in A and its grid.
	h.Do("POST", "/admin/staff", map[string]any{"userId": u.UserID, "orgId": tree.GridA.ID, "role": "staff"}, adminA.AccessToken).Expect(t, 201, 0)

	// The one authorization helper, as every area uses it.
	ctx := context.Background()
	street := h.MustLogin(testutil.UniqueOpenID("sst"))
	h.MustMakeStaff(street.UserID, tree.Street.ID, model.RoleStaff)
	for _, tc := range []struct {
		user int64
		org  model.OrgUnit
		code int
	}{
		{staffA.UserID, tree.CommunityA, 0},
		{staffA.UserID, tree.GridA, 0},
		{staffA.UserID, tree.CommunityB, service.CodeForbidden},
		{staffA.UserID, tree.Street, service.CodeForbidden},
		{street.UserID, tree.CommunityA, 0},
		{street.UserID, tree.CommunityB, 0},
		{street.UserID, tree.CommunityC, service.CodeForbidden},
		{u.UserID, tree.CommunityA, service.CodeForbidden},
	} {
		_, err := h.Svc.Authz.RequireStaff(ctx, h.DB, tc.user, tc.org.ID)
		if got := service.ErrorCode(err); got != tc.code {
			t.Errorf("RequireStaff(user %d, %s) = %d, want %d", tc.user, tc.org.Name, got, tc.code)
		}
	}
	if _, err := h.Svc.Authz.RequireAdmin(ctx, h.DB, staffA.UserID, tree.CommunityA.ID); service.ErrorCode(err) != service.CodeForbidden {
		t.Errorf("staff passed RequireAdmin: %v", err)
	}
	if _, err := h.Svc.Authz.RequireStaff(ctx, h.DB, staffA.UserID, 999999999); service.ErrorCode(err) != service.CodeNotFound {
		t.Errorf("unknown org: %v", err)
	}
}

func TestRemoveStaff(t *testing.T) {
	h := testutil.New(t)
	tree := h.MustTree()
	admin := h.MustLogin(testutil.UniqueOpenID("adm"))
	h.MustMakeStaff(admin.UserID, tree.Street.ID, model.RoleAdmin)
	otherAdmin := h.MustLogin(testutil.UniqueOpenID("oadm"))
	h.MustMakeStaff(otherAdmin.UserID, tree.OtherStreet.ID, model.RoleAdmin)
	u := h.MustLogin(testutil.UniqueOpenID("u"))

	var sv staffView
	h.Do("POST", "/admin/staff", map[string]any{"userId": u.UserID, "orgId": tree.CommunityA.ID, "role": "staff"}, admin.AccessToken).Expect(t, 201, 0).Decode(t, &sv)
	if _, err := h.Svc.Authz.RequireStaff(context.Background(), h.DB, u.UserID, tree.CommunityA.ID); err != nil {
		t.Fatal(err)
	}
	path := "/admin/staff/" + strconv.FormatInt(sv.ID, 10)
	h.Do("DELETE", path, nil, u.AccessToken).Expect(t, 403, 10004)
	h.Do("DELETE", path, nil, otherAdmin.AccessToken).Expect(t, 403, 10004)
	if h.Count(&model.StaffRole{}, "id = ?", sv.ID) != 1 {
		t.Fatalf("refused removal deleted the row")
	}
	h.Do("DELETE", path, nil, admin.AccessToken).Expect(t, 200, 0)
	if h.Count(&model.StaffRole{}, "id = ?", sv.ID) != 0 {
		t.Fatalf("row still there")
	}
	if _, err := h.Svc.Authz.RequireStaff(context.Background(), h.DB, u.UserID, tree.CommunityA.ID); service.ErrorCode(err) != service.CodeForbidden {
		t.Fatalf("removed staff still authorized: %v", err)
	}
	h.Do("DELETE", path, nil, admin.AccessToken).Expect(t, 404, 10005)
	h.Do("DELETE", "/admin/staff/abc", nil, admin.AccessToken).Expect(t, 400, 10001)
	h.Do("DELETE", "/admin/staff/0", nil, admin.AccessToken).Expect(t, 400, 10001)
}

func TestAdminUsersSearch(t *testing.T) {
	h := testutil.New(t)
	tree := h.MustTree()
	admin := h.MustLogin(testutil.UniqueOpenID("adm"))
	h.MustMakeStaff(admin.UserID, tree.CommunityA.ID, model.RoleAdmin)
	staff := h.MustLogin(testutil.UniqueOpenID("stf"))
	h.MustMakeStaff(staff.UserID, tree.CommunityA.ID, model.RoleStaff)

	suffix := testutil.UniqueOpenID("n")
	nick := "搜索_" + suffix
	target := h.MustLogin(testutil.UniqueOpenID("tgt"))
	h.MustSetHome(target.UserID, tree.CommunityA.ID) // admins find users of their subtree (TestAdminUserSearchScoped)
	h.Do("PUT", "/me", map[string]string{"nickname": nick}, target.AccessToken).Expect(t, 200, 0)
	h.Do("POST", "/me/phone", map[string]string{"code": "phone:13912345678"}, target.AccessToken).Expect(t, 200, 0)

	type summary struct {
		ID       int64  `json:"id"`
		Nickname string `json:"nickname"`
		Phone    string `json:"phone"`
	}
	var list struct {
		List     []summary `json:"list"`
		Total    int64     `json:"total"`
		Page     int       `json:"page"`
		PageSize int       `json:"pageSize"`
	}
	res := h.Do("GET", "/admin/users?q="+url.QueryEscape(nick), nil, admin.AccessToken).Expect(t, 200, 0)
	res.Decode(t, &list)
	if list.Total != 1 || len(list.List) != 1 || list.List[0].ID != target.UserID || list.List[0].Phone != "139****5678" {
		t.Fatalf("search = %+v", list)
	}
	if strings.Contains(string(res.Raw), "13912345678") {
		t.Fatalf("full phone in admin search: %s", res.Raw)
	}
	h.Do("GET", "/admin/users?q="+strconv.FormatInt(target.UserID, 10), nil, admin.AccessToken).Expect(t, 200, 0).Decode(t, &list)
	if len(list.List) == 0 || list.List[0].ID != target.UserID {
		t.Fatalf("search by id = %+v", list)
	}
	// LIKE wildcards in q match literally.
	h.Do("GET", "/admin/users?q="+url.QueryEscape("索_"+suffix), nil, admin.AccessToken).Expect(t, 200, 0).Decode(t, &list)
	if list.Total != 1 {
		t.Fatalf("literal _ did not match: %+v", list)
	}
	h.Do("GET", "/admin/users?q="+url.QueryEscape("索%"+suffix), nil, admin.AccessToken).Expect(t, 200, 0).Decode(t, &list)
	if list.Total != 0 {
		t.Fatalf("%% in q acted as a wildcard: %+v", list)
	}
	h.Do("GET", "/admin/users?page=2&pageSize=1", nil, admin.AccessToken).Expect(t, 200, 0).Decode(t, &list)
	if list.Page != 2 || list.PageSize != 1 || len(list.List) != 1 {
		t.Fatalf("page 2 = %+v", list)
	}
	h.Do("GET", "/admin/users?pageSize=1000", nil, admin.AccessToken).Expect(t, 200, 0).Decode(t, &list)
	if list.PageSize != 100 {
		t.Fatalf("pageSize not clamped: %d", list.PageSize)
	}
	h.Do("GET", "/admin/users?page=x", nil, admin.AccessToken).Expect(t, 400, 10001)
	h.Do("GET", "/admin/users", nil, staff.AccessToken).Expect(t, 403, 10004)
	h.Do("GET", "/admin/users", nil, target.AccessToken).Expect(t, 403, 10004)
}
