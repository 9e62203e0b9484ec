package api_test

import (
	"fmt"
	"net/http"
	"testing"

	"linli/internal/testutil"
	"linli/model"
)

// twoInstances is a world with a second API instance sharing its database
// and Redis: a change made on one must show on the very next request to the
// other, though each keeps a cached copy of who the caller is and of the
// org tree.
type twoInstances struct {
	*testutil.World
	a, b http.Handler
}

func newTwoInstances(t *testing.T, opts ...testutil.Option) *twoInstances {
	w := testutil.NewWorld(t, opts...)
	_, b := w.NewInstance()
	return &twoInstances{World: w, a: w.Router, b: b}
}

func (x *twoInstances) do(t *testing.T, on http.Handler, method, path string, body any, who testutil.Login) *testutil.Response {
	t.Helper()
	return testutil.Send(t, on, testutil.Request{Method: method, Path: path, Body: body, Token: who.AccessToken})
}

// me reads GET /me of who on an instance.
func (x *twoInstances) me(t *testing.T, on http.Handler, who testutil.Login) (me struct {
	HomeCommunityID *int64 `json:"homeCommunityId"`
	Nickname        string `json:"nickname"`
	Roles           []roleView
}) {
	t.Helper()
	x.do(t, on, "GET", "/me", nil, who).Expect(t, 200, 0).Decode(t, &me)
	return me
}

// TestCallerChangesShowOnTheOtherInstanceAtOnce changes, on instance A,
// each fact a cached caller holds, after instance B has read (and cached)
// it, and reads it on B at once: staff appointed and removed, a member
// report approved and withdrawn, a volunteer registered, a unit liaison, a
// nickname, a home moved (and with it the street of the wishes feed), a
// logout.
func TestCallerChangesShowOnTheOtherInstanceAtOnce(t *testing.T) {
	x := newTwoInstances(t)
	tree := x.Tree
	admin := x.Login("admin", 0)
	x.MustMakeStaff(admin.UserID, tree.District.ID, model.RoleAdmin)
	staffA := x.Staff("staffA", tree.CommunityA.ID)
	u := x.Login("user", tree.CommunityA.ID)

	// Staff appointed on A, seen on B; removed on A, gone on B.
	x.me(t, x.b, u)
	var appointed struct{ ID int64 }
	x.do(t, x.a, "POST", "/admin/staff", map[string]any{"userId": u.UserID, "orgId": tree.CommunityB.ID, "role": "staff"}, admin).
		Expect(t, 201, 0).Decode(t, &appointed)
	if !hasRole(x.me(t, x.b, u).Roles, "staff", tree.CommunityB.ID) {
		t.Fatal("B does not show the staff role appointed on A")
	}
	x.do(t, x.a, "DELETE", fmt.Sprintf("/admin/staff/%d", appointed.ID), nil, admin).Expect(t, 200, 0)
	if hasRole(x.me(t, x.b, u).Roles, "staff", tree.CommunityB.ID) {
		t.Fatal("B still shows the staff role removed on A")
	}
	// Nor does the removed role still open the staff view on B.
	x.do(t, x.b, "GET", fmt.Sprintf("/wishes?status=pending_review&communityId=%d", tree.CommunityB.ID), nil, u).Expect(t, 403, 10004)

	// A member report approved on A: party_member on B; withdrawn: gone.
	var report struct{ ID int64 }
	x.do(t, x.b, "POST", "/member-reports", map[string]any{"communityId": tree.CommunityA.ID, "realName": "张三",
		"phone": "13812345678", "unitName": "某某公司", "branch": "第一支部", "mode": "daily"}, u).Expect(t, 201, 0).Decode(t, &report)
	x.me(t, x.b, u)
	x.do(t, x.a, "POST", fmt.Sprintf("/member-reports/%d/approve", report.ID), nil, staffA).Expect(t, 200, 0)
	if !hasRole(x.me(t, x.b, u).Roles, "party_member", tree.CommunityA.ID) {
		t.Fatal("B does not show the report approved on A")
	}
	x.do(t, x.a, "POST", fmt.Sprintf("/member-reports/%d/withdraw", report.ID), nil, u).Expect(t, 200, 0)
	if hasRole(x.me(t, x.b, u).Roles, "party_member", tree.CommunityA.ID) {
		t.Fatal("B still shows the report withdrawn on A")
	}

	// A volunteer registered on A.
	x.do(t, x.a, "PUT", "/volunteers/me", map[string]any{"realName": "张三", "phone": "13812345678",
		"skills": []string{"其他"}, "availability": "周末"}, u).Expect(t, 200, 0)
	if !hasRole(x.me(t, x.b, u).Roles, "volunteer", tree.CommunityA.ID) {
		t.Fatal("B does not show the volunteer registered on A")
	}

	// A nickname changed on A.
	x.do(t, x.a, "PUT", "/me", map[string]any{"nickname": "新名字"}, u).Expect(t, 200, 0)
	if got := x.me(t, x.b, u).Nickname; got != "新名字" {
		t.Fatalf("B shows nickname %q after the change on A", got)
	}

	// A home moved on A: /me and the street of the default wishes feed on B.
	x.do(t, x.b, "GET", "/wishes", nil, u).Expect(t, 200, 0)
	x.do(t, x.a, "PUT", "/me/community", map[string]any{"communityId": tree.CommunityC.ID}, u).Expect(t, 200, 0)
	if got := x.me(t, x.b, u).HomeCommunityID; got == nil || *got != tree.CommunityC.ID {
		t.Fatalf("B shows home %v after the move to %d on A", got, tree.CommunityC.ID)
	}
	at := x.Clock.Now()
	wish := model.Wish{CommunityID: tree.CommunityC.ID, StreetID: tree.OtherStreet.ID, CommunityPath: tree.CommunityC.Path,
		Title: "修水管", Content: "漏水", Category: "维修", ContactPhone: "13800000000", Address: "2号楼",
		CreatedBy: admin.UserID, Status: model.WishPublished, PublishedAt: &at}
	if err := x.DB.Create(&wish).Error; err != nil {
		t.Fatal(err)
	}
	var feed feedPage
	x.do(t, x.b, "GET", "/wishes", nil, u).Expect(t, 200, 0).Decode(t, &feed)
	if len(feed.List) != 1 || feed.List[0].ID != wish.ID {
		t.Fatalf("B's feed after the move lists %+v, want the new street's wish %d", feed.List, wish.ID)
	}

	// Logged out on A: refused on B.
	x.do(t, x.a, "POST", "/auth/logout", nil, u).Expect(t, 200, 0)
	x.do(t, x.b, "GET", "/me", nil, u).Expect(t, 401, 10002)
}

// TestNewRootShowsInABootstrapAdminsRolesOnTheOtherInstance: a bootstrap
// admin is admin of every root; a root created on A shows in their roles on
// B at once (the org epoch invalidates both the org copy and the cached
// caller).
func TestNewRootShowsInABootstrapAdminsRolesOnTheOtherInstance(t *testing.T) {
	openid := testutil.UniqueOpenID("boot")
	x := newTwoInstances(t, testutil.WithConfig(map[string]any{"bootstrap.admins": openid}))
	boot := x.LoginAs(openid)
	x.me(t, x.b, boot)
	var root struct{ ID int64 }
	x.do(t, x.a, "POST", "/admin/orgs", map[string]any{"level": "district", "name": "新区"}, boot).
		Expect(t, 201, 0).Decode(t, &root)
	if !hasRole(x.me(t, x.b, boot).Roles, "admin", root.ID) {
		t.Fatal("B does not show admin of the root created on A")
	}
	// B's org copy knows the new unit's name as well.
	var street struct{ ID int64 }
	x.do(t, x.b, "POST", "/admin/orgs", map[string]any{"parentId": root.ID, "level": "street", "name": "新街道"}, boot).
		Expect(t, 201, 0).Decode(t, &street)
	var lb struct {
		OrgName string `json:"orgName"`
	}
	x.do(t, x.a, "GET", fmt.Sprintf("/leaderboards?orgId=%d", street.ID), nil, boot).Expect(t, 200, 0).Decode(t, &lb)
	if lb.OrgName != "新街道" {
		t.Fatalf("A names the street created on B %q", lb.OrgName)
	}
}
