package api_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"linli/internal/testutil"
	"linli/model"
)

// BenchmarkAdminObligations measures GET /admin/obligations for a street of
// 20 communities with 5,000 reported members and 50,000 approved service
// records in the quarter asked about (and 50 units). Run it on MySQL with
// LINLI_TEST_MYSQL_DSN and LINLI_TEST_REDIS_ADDR set:
//
//	go test -run '^$' -bench AdminObligations -benchtime 20x ./api/
func BenchmarkAdminObligations(b *testing.B) {
	const (
		communities = 20
		members     = 5000
		records     = 50000
		units       = 50
	)
	h := testutil.New(b, testutil.WithConfig(map[string]any{"ratelimit.login_per_minute": 0, "ratelimit.write_per_minute": 0}))
	tree := h.MustTree()
	db := h.DB
	rng := rand.New(rand.NewPCG(1, 2))
	mk := func(parent *model.OrgUnit, level model.OrgLevel, name string) model.OrgUnit {
		o := model.OrgUnit{ParentID: &parent.ID, Level: level, Name: name}
		if err := db.Create(&o).Error; err != nil {
			b.Fatal(err)
		}
		o.Path = fmt.Sprintf("%s%d/", parent.Path, o.ID)
		if err := db.Model(&o).Update("path", o.Path).Error; err != nil {
			b.Fatal(err)
		}
		return o
	}
	street := mk(&tree.District, model.LevelStreet, "压测街道")
	comms := make([]model.OrgUnit, communities)
	for i := range comms {
		comms[i] = mk(&street, model.LevelCommunity, fmt.Sprintf("压测社区%d", i))
	}
	unitRows := make([]model.Unit, units)
	for i := range unitRows {
		unitRows[i] = model.Unit{Name: fmt.Sprintf("压测单位%d", i), Kind: model.UnitStateOwned, CommunityID: comms[i%communities].ID,
			Status: model.ReviewApproved, LiaisonCount: 1}
	}
	if err := db.CreateInBatches(&unitRows, 500).Error; err != nil {
		b.Fatal(err)
	}
	tag := testutil.UniqueOpenID("bench")
	users := make([]model.User, members)
	for i := range users {
		users[i] = model.User{OpenID: fmt.Sprintf("%s-%d", tag, i)}
	}
	if err := db.CreateInBatches(&users, 1000).Error; err != nil {
		b.Fatal(err)
	}
	reports := make([]model.MemberReport, members)
	for i := range reports {
		uid := users[i].ID
		mode := model.ModeCentralized
		if i%2 == 0 {
			mode = model.ModeDaily
		}
		unit := unitRows[i%units].ID
		reports[i] = model.MemberReport{UserID: uid, CommunityID: comms[i%communities].ID, RealName: "压测党员", Phone: "13800000000",
			UnitID: &unit, UnitName: unitRows[i%units].Name, Branch: "支部", Mode: mode, Status: model.ReviewApproved, ActiveUserID: &uid}
	}
	if err := db.CreateInBatches(&reports, 1000).Error; err != nil {
		b.Fatal(err)
	}
	_, prev, _ := quarters(h)
	loc := h.Config.Location
	var year, q int
	fmt.Sscanf(prev, "%dQ%d", &year, &q)
	start := time.Date(year, time.Month((q-1)*3+1), 1, 0, 0, 0, 0, loc)
	span := start.AddDate(0, 3, 0).Sub(start)
	kinds := []model.ServiceKind{model.ServiceContactHelp, model.ServicePostDuty, model.ServicePublicActivity, model.ServicePracticalDeed}
	recs := make([]model.ServiceRecord, records)
	for i := range recs {
		u := rng.IntN(members)
		recs[i] = model.ServiceRecord{UserID: users[u].ID, CommunityID: reports[u].CommunityID, Kind: kinds[rng.IntN(4)],
			OccurredAt: start.Add(time.Duration(rng.Int64N(int64(span)))).UTC(), Minutes: 30 + rng.IntN(120),
			UnitID: reports[u].UnitID, Status: model.RecordApproved}
	}
	if err := db.CreateInBatches(&recs, 2000).Error; err != nil {
		b.Fatal(err)
	}
	staff := h.MustLogin(testutil.UniqueOpenID("benchstaff"))
	h.MustMakeStaff(staff.UserID, street.ID, model.RoleStaff)

	for _, c := range []struct{ name, query string }{
		{"members", ""},
		{"behind_by_minutes", "&compliant=false&sort=minutes&order=desc"},
		{"units", "&view=units"},
	} {
		path := fmt.Sprintf("/admin/obligations?orgId=%d&period=%s&pageSize=20%s", street.ID, prev, c.query)
		var out struct{ Summary struct{ Total int64 } }
		h.Do("GET", path, nil, staff.AccessToken).Expect(b, 200, 0).Decode(b, &out)
		want := int64(members)
		if c.name == "units" {
			want = units
		}
		if out.Summary.Total != want {
			b.Fatalf("%s: total %d, want %d", c.name, out.Summary.Total, want)
		}
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				h.Do("GET", path, nil, staff.AccessToken).Expect(b, 200, 0)
			}
		})
	}
}
