package service_test

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"linli/internal/testutil"
	"linli/model"
	"linli/service"
)

// TestVolunteerRecordsExportAndErase: the export lists the user's
// certificates, training and correction requests; after erasure the frozen
// name and phone are gone from every certificate, which still verifies as
// genuine with the holder erased.
func TestVolunteerRecordsExportAndErase(t *testing.T) {
	w := testutil.NewWorld(t)
	h := w.Harness
	u := w.Volunteer("erase", w.Tree.CommunityA.ID)
	staff := w.Staff("staff", w.Tree.CommunityA.ID)
	day := h.Clock.Now().In(h.Config.Location).Format("2006-01-02")
	h.Do("POST", "/admin/volunteers/"+itoa(u.UserID)+"/trainings",
		map[string]any{"title": "急救培训", "hours": 2, "date": day, "organiser": "红十字会"}, staff.AccessToken).Expect(t, 201, 0)
	var cert struct{ Number, VerifyCode string }
	h.Do("POST", "/me/volunteer-certificates", map[string]any{}, u.AccessToken).Expect(t, 201, 0).Decode(t, &cert)

	out, err := service.ExportRecordsPersonal(h.Svc, h.DB, u.UserID)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(out)
	name := "志愿者" + itoa(u.UserID)
	if !strings.Contains(string(b), cert.Number) || !strings.Contains(string(b), "急救培训") || !strings.Contains(string(b), name) {
		t.Fatalf("export: %s", b)
	}

	if err := service.EraseRecordsPersonal(h.Svc, h.DB, u.UserID); err != nil {
		t.Fatal(err)
	}
	var rows []model.VolunteerCertificate
	h.DB.Where("user_id = ?", u.UserID).Find(&rows)
	for _, r := range rows {
		if strings.Contains(r.Content, name) || strings.Contains(r.Content, "138****0000") || !r.HolderErased {
			t.Fatalf("certificate after erasure: %+v", r)
		}
	}
	var check struct {
		Genuine, HolderErased bool
		Name                  string
	}
	h.Do("GET", "/certificates/verify?number="+url.QueryEscape(cert.Number)+"&code="+cert.VerifyCode, nil, "").
		Expect(t, 200, 0).Decode(t, &check)
	if !check.Genuine || !check.HolderErased || check.Name != service.ErasedHolderName {
		t.Fatalf("verify after erasure: %+v", check)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
