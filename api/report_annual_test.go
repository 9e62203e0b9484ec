package api_test

import (
	"bytes"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"linli/internal/testutil"
	"linli/model"
	"linli/service"
)

// approvedRecord writes an approved service record directly, as another area
// (a wish, an activity) would create it.
func approvedRecord(t *testing.T, h *testutil.Harness, userID, communityID int64, kind model.ServiceKind, at time.Time) {
	t.Helper()
	key := "annual:" + testutil.UniqueOpenID("r")
	if err := h.DB.Create(&model.ServiceRecord{UserID: userID, CommunityID: communityID, Kind: kind,
		OccurredAt: at.UTC(), Minutes: 30, Status: model.RecordApproved, SourceKey: &key}).Error; err != nil {
		t.Fatal(err)
	}
}

// TestReportAnnualPeriod: the member's obligations, the unit report-back and
// the certificate accept a year; a year's requirements are the four
// quarters' summed (each kind ×4, every one of the 12 months for a daily
// member, the unit's ×4) over the year's approved records.
func TestReportAnnualPeriod(t *testing.T) {
	f := newReportFixture(t)
	h := f.h
	loc := h.Config.Location
	year := h.Clock.Now().In(loc).Year() - 1
	ys := strconv.Itoa(year)
	jan := time.Date(year, time.January, 5, 10, 0, 0, 0, loc)
	unitID, liaison := f.unit(t, f.tree.CommunityA.ID, "区税务局")
	central := f.member(t, f.tree.CommunityA.ID, "centralized", &unitID)
	daily := f.member(t, f.tree.CommunityB.ID, "daily", &unitID)
	kinds := []model.ServiceKind{model.ServiceContactHelp, model.ServicePostDuty, model.ServicePublicActivity, model.ServicePracticalDeed}
	// Both did four of each kind, all in January: the year's sums are met;
	// the daily member missed February to December.
	for _, m := range []struct {
		who       testutil.Login
		community int64
	}{{central, f.tree.CommunityA.ID}, {daily, f.tree.CommunityB.ID}} {
		for i := 0; i < 4; i++ {
			for _, k := range kinds {
				approvedRecord(t, h, m.who.UserID, m.community, k, jan.AddDate(0, 0, i))
			}
		}
	}
	// The year's bounds in Asia/Shanghai: the last second of 31 December
	// counts, the first of the next year does not.
	end := time.Date(year+1, time.January, 1, 0, 0, 0, 0, loc)
	approvedRecord(t, h, central.UserID, f.tree.CommunityA.ID, model.ServiceContactHelp, end.Add(-time.Second))
	approvedRecord(t, h, central.UserID, f.tree.CommunityA.ID, model.ServiceContactHelp, end)

	type view struct {
		Period string
		Items  []struct {
			Kind           string
			Required, Done int
		}
		Months []struct {
			Month          string
			Required, Done int
		}
		Records   int
		Compliant bool
	}
	var cv, dv view
	h.Do("GET", "/me/obligations?period="+ys, nil, central.AccessToken).Expect(t, 200, 0).Decode(t, &cv)
	if cv.Period != ys || len(cv.Items) != 4 || cv.Items[0].Required != 4 || cv.Items[0].Done != 5 || cv.Records != 17 ||
		len(cv.Months) != 12 || cv.Months[11].Month != ys+"-12" || cv.Months[11].Done != 1 || cv.Months[1].Required != 0 || !cv.Compliant {
		t.Fatalf("centralized member's year: %+v", cv)
	}
	h.Do("GET", "/me/obligations?period="+ys, nil, daily.AccessToken).Expect(t, 200, 0).Decode(t, &dv)
	if dv.Records != 16 || dv.Months[0].Done != 16 || dv.Months[1].Required != 1 || dv.Months[1].Done != 0 || dv.Compliant {
		t.Fatalf("daily member's year: %+v", dv)
	}
	// One quarter of that year still counts as before.
	var q1 view
	h.Do("GET", "/me/obligations?period="+ys+"Q1", nil, central.AccessToken).Expect(t, 200, 0).Decode(t, &q1)
	if q1.Items[0].Required != 1 || q1.Items[0].Done != 4 || len(q1.Months) != 3 || !q1.Compliant {
		t.Fatalf("first quarter: %+v", q1)
	}

	// The unit report-back of the year.
	report := fmt.Sprintf("/units/%d/report?period=%s", unitID, ys)
	var back struct {
		Period     string
		Members    int
		Compliant  int
		Obligation struct {
			Required  int
			Compliant bool
		}
		Communities []struct {
			CommunityID int64
			Members     []struct {
				UserID  int64
				Records int
				Months  []struct{ Month string }
				Details []struct{ Kind string }
			}
		}
	}
	h.Do("GET", report, nil, liaison.AccessToken).Expect(t, 200, 0).Decode(t, &back)
	if back.Period != ys || back.Members != 2 || back.Compliant != 1 || back.Obligation.Required != 4 || back.Obligation.Compliant ||
		len(back.Communities) != 2 || back.Communities[0].Members[0].UserID != central.UserID ||
		len(back.Communities[0].Members[0].Details) != 17 || len(back.Communities[0].Members[0].Months) != 12 {
		t.Fatalf("annual report-back: %+v", back)
	}
	res := testutil.Send(t, h.Router, testutil.Request{Method: "GET", Path: report + "&format=xlsx", Token: liaison.AccessToken})
	if res.Status != http.StatusOK || !strings.Contains(res.Header.Get("Content-Disposition"), ys) {
		t.Fatalf("xlsx answer %d %s", res.Status, res.Header.Get("Content-Disposition"))
	}
	x, err := excelize.OpenReader(bytes.NewReader(res.Raw))
	if err != nil {
		t.Fatalf("open xlsx: %v", err)
	}
	defer x.Close()
	rows, err := x.GetRows(x.GetSheetList()[0])
	if err != nil || len(rows) != 2 || rows[1][4] != "17" || rows[1][11] != "达标" {
		t.Fatalf("xlsx rows %v (%v)", rows, err)
	}

	// The annual certificate lists the year's services.
	type cert struct {
		Number     string
		Period     string
		VerifyCode string
		Content    struct {
			Period, From, To string
			Records          []struct{ Date string }
			TotalMinutes     int
			Months           []struct{ Month string }
			Compliant        bool
		}
	}
	var c cert
	h.Do("POST", "/me/certificates", map[string]any{"period": ys}, central.AccessToken).Expect(t, 201, 0).Decode(t, &c)
	if !regexp.MustCompile(`^LL-\d{4}-\d{6}$`).MatchString(c.Number) || !strings.HasPrefix(c.Number, "LL-"+ys+"-") || c.Period != ys ||
		c.Content.From != ys+"-01-01" || c.Content.To != ys+"-12-31" || len(c.Content.Records) != 17 ||
		c.Content.TotalMinutes != 17*30 || len(c.Content.Months) != 12 || !c.Content.Compliant {
		t.Fatalf("annual certificate %+v", c)
	}
	var check struct {
		Genuine bool
		Period  string
		Records int
	}
	h.Do("GET", "/certificates/verify?number="+c.Number+"&code="+c.VerifyCode, nil, "").Expect(t, 200, 0).Decode(t, &check)
	if !check.Genuine || check.Period != ys || check.Records != 17 {
		t.Fatalf("check %+v", check)
	}
	// The quarter's certificate is another one.
	var cq cert
	h.Do("POST", "/me/certificates", map[string]any{"period": ys + "Q1"}, central.AccessToken).Expect(t, 201, 0).Decode(t, &cq)
	if cq.Number == c.Number || len(cq.Content.Records) != 16 {
		t.Fatalf("quarter certificate %+v", cq)
	}

	// Bad periods: 400 10001; this year is not over: 409 50010; nothing written.
	before := h.Count(&model.Certificate{}, "user_id IN ?", []int64{central.UserID, daily.UserID})
	this := strconv.Itoa(year + 1)
	h.Do("POST", "/me/certificates", map[string]any{"period": this}, daily.AccessToken).Expect(t, 409, service.CodePeriodNotEnded)
	for _, bad := range []string{"1999", "20266", "202a", "26", "2026Q5", "2026-12", "Y2026"} {
		h.Do("POST", "/me/certificates", map[string]any{"period": bad}, daily.AccessToken).Expect(t, 400, service.CodeInvalid)
		h.Do("GET", fmt.Sprintf("/units/%d/report?period=%s", unitID, bad), nil, liaison.AccessToken).Expect(t, 400, service.CodeInvalid)
		h.Do("GET", "/me/obligations?period="+bad, nil, daily.AccessToken).Expect(t, 400, service.CodeInvalid)
	}
	if n := h.Count(&model.Certificate{}, "user_id IN ?", []int64{central.UserID, daily.UserID}); n != before {
		t.Fatalf("refused requests wrote certificates: %d → %d", before, n)
	}

	// Staff see the year too.
	var staff struct {
		Period  string
		Summary struct{ Total, Compliant int64 }
	}
	street := h.MustLogin(testutil.UniqueOpenID("street"))
	h.MustMakeStaff(street.UserID, f.tree.Street.ID, model.RoleStaff)
	h.Do("GET", fmt.Sprintf("/admin/obligations?orgId=%d&period=%s", f.tree.Street.ID, ys), nil, street.AccessToken).Expect(t, 200, 0).Decode(t, &staff)
	if staff.Period != ys || staff.Summary.Total != 2 || staff.Summary.Compliant != 1 {
		t.Fatalf("staff view of the year %+v", staff)
	}
}
