package service

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/skip2/go-qrcode"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"linli/model"
)

// CertificateRecord is one service listed on a certificate. Notes are left
// out: they may name the people helped.
type CertificateRecord struct {
	Date      string            `json:"date"`
	Kind      model.ServiceKind `json:"kind"`
	KindLabel string            `json:"kindLabel"`
	Minutes   int               `json:"minutes"`
}

// CertificateContent is what a certificate certifies, frozen when issued.
type CertificateContent struct {
	Period        string              `json:"period"`
	From          string              `json:"from"`
	To            string              `json:"to"`
	RealName      string              `json:"realName"`
	CommunityID   int64               `json:"communityId"`
	CommunityName string              `json:"communityName"`
	UnitName      string              `json:"unitName"`
	Branch        string              `json:"branch"`
	Mode          model.ReportMode    `json:"mode"`
	Records       []CertificateRecord `json:"records"`
	TotalMinutes  int                 `json:"totalMinutes"`
	Hours         string              `json:"hours"`
	Items         []ObligationItem    `json:"items"`
	Months        []MonthItem         `json:"months"`
	Compliant     bool                `json:"compliant"`
	IssuedAt      time.Time           `json:"issuedAt"`
}

// CertificateView is a certificate as its holder sees it.
type CertificateView struct {
	ID         int64              `json:"id"`
	Number     string             `json:"number"`
	Period     string             `json:"period"`
	VerifyCode string             `json:"verifyCode"`
	VerifyURL  string             `json:"verifyUrl"`
	IssuedAt   time.Time          `json:"issuedAt"`
	Content    CertificateContent `json:"content"`
}

// CertificateCheck is the public answer of GET /certificates/verify. Only a
// genuine certificate carries its details, the name masked.
type CertificateCheck struct {
	Genuine       bool       `json:"genuine"`
	Number        string     `json:"number"`
	Period        string     `json:"period,omitempty"`
	Name          string     `json:"name,omitempty"`
	CommunityName string     `json:"communityName,omitempty"`
	UnitName      string     `json:"unitName,omitempty"`
	Records       int        `json:"records,omitempty"`
	TotalMinutes  int        `json:"totalMinutes,omitempty"`
	Hours         string     `json:"hours,omitempty"`
	Compliant     bool       `json:"compliant"`
	IssuedAt      *time.Time `json:"issuedAt,omitempty"`
}

// hours formats minutes as hours with one decimal.
func hours(minutes int) string {
	return strconv.FormatFloat(float64(minutes)/60, 'f', 1, 64)
}

// certificateKey is the HMAC key of verification codes:
// report.certificate_secret, or one derived from jwt.secret.
func (s *ReportService) certificateKey() []byte {
	if k := s.deps.Config.Report.CertificateSecret; k != "" {
		return []byte(k)
	}
	m := hmac.New(sha256.New, []byte(s.deps.Config.JWT.Secret))
	m.Write([]byte("linli certificate verify code v1"))
	return m.Sum(nil)
}

// verifyCode is the HMAC of everything a certificate says: 16 base32
// characters (80 bits), not guessable without the key.
func (s *ReportService) verifyCode(c *model.Certificate) string {
	m := hmac.New(sha256.New, s.certificateKey())
	fmt.Fprintf(m, "%s|%d|%s|", c.Number, c.UserID, c.Period)
	m.Write([]byte(c.Content))
	return base32.StdEncoding.EncodeToString(m.Sum(nil)[:10])
}

// verifyURL returns the address of the public check of a certificate, on
// report.verify_base_url (required outside dev mode, resolved to a local
// address in dev mode by config.Validate); nothing of the request is used.
func (s *ReportService) verifyURL(c *model.Certificate) string {
	base := s.deps.Config.Report.VerifyBaseURL
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "number=" + url.QueryEscape(c.Number) + "&code=" + s.verifyCode(c)
}

func (s *ReportService) certificateView(c *model.Certificate) (*CertificateView, error) {
	v := &CertificateView{ID: c.ID, Number: c.Number, Period: c.Period, VerifyCode: s.verifyCode(c),
		VerifyURL: s.verifyURL(c), IssuedAt: c.CreatedAt}
	if err := json.Unmarshal([]byte(c.Content), &v.Content); err != nil {
		return nil, err
	}
	return v, nil
}

// IssueCertificate issues the caller's numbered certificate for a quarter
// (2026Q3) or a year (2026) that has ended, freezing their records, hours and
// obligation standing (a year's: every service of the year, each quarterly
// requirement times four, every month for a daily member). Issuing again for
// the same period returns the same certificate (created false). It returns
// 10001 for a bad period, 50010 for a period not yet over and 50005 unless
// the caller is a reported member; nothing is written on failure.
func (s *ReportService) IssueCertificate(ctx context.Context, actorID int64, period string) (*CertificateView, bool, error) {
	q, err := parsePeriod(period, s.deps.Config.Location)
	if err != nil {
		return nil, false, err
	}
	now := s.deps.Clock.Now()
	if now.Before(q.End) {
		if q.Q == 0 {
			return nil, false, Errorf(CodePeriodNotEnded, "%s 年尚未结束，年度结束后才能开具证明", q)
		}
		return nil, false, Errorf(CodePeriodNotEnded, "%s 尚未结束，季度结束后才能开具证明", q)
	}
	var cert model.Certificate
	created := false
	err = s.deps.tx(ctx, func(tx *gorm.DB) error {
		created = false
		if err := tx.Where("user_id = ? AND period = ?", actorID, q.String()).Limit(1).Find(&cert).Error; err != nil || cert.ID != 0 {
			return err
		}
		content, report, err := s.certificateContent(ctx, tx, actorID, q, now)
		if err != nil {
			return err
		}
		cert = model.Certificate{Number: "pending-" + randomHex(8), UserID: actorID, Period: q.String(),
			ReportID: report.ID, CommunityID: report.CommunityID, Content: content}
		if err := tx.Create(&cert).Error; err != nil {
			if !isDuplicate(err) {
				return err
			}
			// Issued at the same moment by another request: return that one.
			cert = model.Certificate{}
			return tx.Clauses(clause.Locking{Strength: "SHARE"}).
				Where("user_id = ? AND period = ?", actorID, q.String()).First(&cert).Error
		}
		cert.Number = fmt.Sprintf("LL-%s-%06d", q, cert.ID)
		created = true
		return tx.Model(&cert).Update("number", cert.Number).Error
	})
	if err != nil {
		return nil, false, err
	}
	v, err := s.certificateView(&cert)
	return v, created, err
}

// certificateContent builds the frozen JSON content of a certificate.
func (s *ReportService) certificateContent(ctx context.Context, tx *gorm.DB, userID int64, q quarter, now time.Time) (string, *model.MemberReport, error) {
	report, err := s.partyMembership(ctx, tx, userID)
	if err != nil {
		return "", nil, err
	}
	if report == nil {
		return "", nil, Errorf(CodeNotReported, "您还不是已报到的在职党员，不能开具证明")
	}
	standing, err := s.memberObligation(ctx, tx, userID, q)
	if err != nil {
		return "", nil, err
	}
	var records []model.ServiceRecord
	err = tx.Where("user_id = ? AND status = ? AND occurred_at >= ? AND occurred_at < ?",
		userID, model.RecordApproved, q.Start.UTC(), q.End.UTC()).Order("occurred_at, id").Find(&records).Error
	if err != nil {
		return "", nil, err
	}
	loc := s.deps.Config.Location
	c := CertificateContent{
		Period: q.String(), From: q.Start.Format("2006-01-02"), To: q.End.AddDate(0, 0, -1).Format("2006-01-02"),
		RealName: report.RealName, CommunityID: report.CommunityID, CommunityName: standing.CommunityName,
		UnitName: report.UnitName, Branch: report.Branch, Mode: report.Mode,
		Records: make([]CertificateRecord, 0, len(records)), TotalMinutes: standing.Minutes,
		Hours: hours(standing.Minutes), Items: standing.Items, Months: standing.Months,
		Compliant: standing.Compliant, IssuedAt: now.In(loc).Truncate(time.Second),
	}
	for _, r := range records {
		c.Records = append(c.Records, CertificateRecord{Date: r.OccurredAt.In(loc).Format("2006-01-02"),
			Kind: r.Kind, KindLabel: kindLabel(r.Kind), Minutes: r.Minutes})
	}
	b, err := json.Marshal(c)
	if err != nil {
		return "", nil, err
	}
	return string(b), report, nil
}

// MyCertificates lists the caller's certificates, newest period first.
func (s *ReportService) MyCertificates(ctx context.Context, actorID int64) ([]CertificateView, error) {
	var rows []model.Certificate
	if err := s.deps.DB.WithContext(ctx).Where("user_id = ?", actorID).Order("period DESC").Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]CertificateView, 0, len(rows))
	for i := range rows {
		v, err := s.certificateView(&rows[i])
		if err != nil {
			return nil, err
		}
		out = append(out, *v)
	}
	return out, nil
}

// CertificateQRCode returns a PNG QR code (256×256) of the verify address of
// one of the caller's certificates. It returns 10005 for an unknown
// certificate or one of someone else.
func (s *ReportService) CertificateQRCode(ctx context.Context, actorID, id int64) ([]byte, error) {
	var c model.Certificate
	if err := s.deps.DB.WithContext(ctx).Where("id = ? AND user_id = ?", id, actorID).First(&c).Error; err != nil {
		return nil, notFoundOr(err, "证明")
	}
	return qrcode.Encode(s.verifyURL(&c), qrcode.Medium, 256)
}

// VerifyCertificate checks a certificate number and verification code
// without sign-in. A genuine pair answers what the certificate says with the
// name masked; an unknown number or a wrong code answers genuine false and
// nothing else. It returns 10001 when number or code is missing.
func (s *ReportService) VerifyCertificate(ctx context.Context, number, code string) (*CertificateCheck, error) {
	number = strings.ToUpper(strings.TrimSpace(number))
	code = strings.ToUpper(strings.TrimSpace(code))
	if number == "" || code == "" || len(number) > 32 || len(code) > 64 {
		return nil, invalid("请提供证明编号 number 和验证码 code")
	}
	out := &CertificateCheck{Number: number}
	var c model.Certificate
	if err := s.deps.DB.WithContext(ctx).Where("number = ?", number).Limit(1).Find(&c).Error; err != nil {
		return nil, err
	}
	if c.ID == 0 || !hmac.Equal([]byte(s.verifyCode(&c)), []byte(code)) {
		return out, nil
	}
	var content CertificateContent
	if err := json.Unmarshal([]byte(c.Content), &content); err != nil {
		return nil, err
	}
	issued := content.IssuedAt
	*out = CertificateCheck{
		Genuine: true, Number: c.Number, Period: c.Period, Name: MaskName(content.RealName),
		CommunityName: content.CommunityName, UnitName: content.UnitName, Records: len(content.Records),
		TotalMinutes: content.TotalMinutes, Hours: content.Hours, Compliant: content.Compliant, IssuedAt: &issued,
	}
	return out, nil
}
