package service

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/skip2/go-qrcode"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"linli/model"
)

// Error codes of volunteer records (800xx).
const (
	CodeNotVolunteer         = 80001 // 403: the user has not registered as a volunteer
	CodeCorrectionOpen       = 80002 // 409: the record already has a pending correction request
	CodeCorrectionDecided    = 80003 // 409: the correction was already accepted or refused
	CodeRecordNotCorrectable = 80004 // 409: the record cannot be corrected (not approved, or its minutes are not credited)
)

// Audit actions of volunteer records.
const (
	AuditVolunteerCertificate = "volunteer_certificate.issue"
	AuditTrainingRecord       = "volunteer_training.record"
	AuditAwardRecord          = "volunteer_award.record"
	AuditCorrectionAccept     = "record_correction.accept"
	AuditCorrectionRefuse     = "record_correction.refuse"
)

// Ledger source kinds of accepted corrections of self-logged records.
const (
	SourceRecordCorrection         = "record_correction"
	SourceRecordCorrectionReversal = "record_correction_reversal"
)

// VolunteerCertificatePrefix starts every volunteer certificate number
// (LLV-2026-000123); Party-member certificates start with "LL-".
const VolunteerCertificatePrefix = "LLV-"

// ErasedHolderName replaces the holder's name in a certificate whose holder
// erased their account.
const ErasedHolderName = "（已注销）"

// VolunteerRecordService keeps the records of every registered volunteer
// under 民政部令第67号: numbered certificates with content frozen at issue,
// training and awards recorded by staff, and correction requests decided by
// staff of the organiser.
type VolunteerRecordService struct {
	deps       Deps
	authz      *Authz
	reports    *ReportService
	activities *ActivityService
	timeBank   *TimeBankService
	notify     *NotificationService
	orgs       *OrgTree
}

// ---- The record ----

// RecordService is one approved service on a volunteer record.
type RecordService struct {
	ServiceID int64 `json:"serviceId"`
	// Source is activity, wish, case or service (self-logged).
	Source       string `json:"source"`
	AttendanceID int64  `json:"attendanceId,omitempty"`
	Name         string `json:"name"`
	Kind         string `json:"kind"`
	Organiser    string `json:"organiser"`
	Date         string `json:"date"`
	Minutes      int    `json:"minutes"`
	// Evaluation is staff's evaluation: the score of an activity
	// attendance (1–5) with its note, or 审核通过 for a reviewed record.
	Evaluation string `json:"evaluation"`
}

// RecordTraining is one training session on a volunteer record.
type RecordTraining struct {
	ID        int64  `json:"id"`
	Title     string `json:"title"`
	Hours     string `json:"hours"`
	Minutes   int    `json:"minutes"`
	Date      string `json:"date"`
	Organiser string `json:"organiser"`
}

// RecordAward is one award or commendation on a volunteer record.
type RecordAward struct {
	ID         int64            `json:"id"`
	Title      string           `json:"title"`
	Level      model.AwardLevel `json:"level"`
	LevelLabel string           `json:"levelLabel"`
	Date       string           `json:"date"`
	Issuer     string           `json:"issuer"`
}

// VolunteerRecord is a volunteer's record over a period: who they are (the
// phone masked; linli collects no ID numbers), every approved service,
// training and awards, and the totals. A certificate freezes one.
type VolunteerRecord struct {
	Name            string           `json:"name"`
	MaskedPhone     string           `json:"maskedPhone"`
	CommunityID     int64            `json:"communityId"`
	CommunityName   string           `json:"communityName"`
	From            string           `json:"from"`
	To              string           `json:"to"`
	Services        []RecordService  `json:"services"`
	ServiceCount    int              `json:"serviceCount"`
	TotalMinutes    int              `json:"totalMinutes"`
	Hours           string           `json:"hours"`
	Training        []RecordTraining `json:"training"`
	TrainingMinutes int              `json:"trainingMinutes"`
	Awards          []RecordAward    `json:"awards"`
}

// volunteerSubject is who a record is about.
type volunteerSubject struct {
	user    model.User
	profile model.VolunteerProfile
}

// loadVolunteer returns the user and their volunteer profile. It returns
// 10005 for an unknown user and 80001 when they are not a registered
// volunteer.
func (s *VolunteerRecordService) loadVolunteer(ctx context.Context, db *gorm.DB, userID int64) (*volunteerSubject, error) {
	var v volunteerSubject
	if err := db.WithContext(ctx).First(&v.user, userID).Error; err != nil {
		return nil, notFoundOr(err, "用户")
	}
	if err := db.WithContext(ctx).Where("user_id = ?", userID).Limit(1).Find(&v.profile).Error; err != nil {
		return nil, err
	}
	if v.profile.ID == 0 {
		return nil, Errorf(CodeNotVolunteer, "尚未注册志愿者，请先完成志愿者注册")
	}
	return &v, nil
}

// period parses from and to (YYYY-MM-DD, both included) in the configured
// zone. Empty from means 2000-01-01 (the whole record), empty to today. It
// returns 10001 for a bad date, to before from, to after today or from
// before 2000.
func (s *VolunteerRecordService) period(from, to string) (time.Time, time.Time, error) {
	loc := s.deps.Config.Location
	today := s.deps.Clock.Now().In(loc)
	parse := func(v, name string, def time.Time) (time.Time, error) {
		if strings.TrimSpace(v) == "" {
			return time.Date(def.Year(), def.Month(), def.Day(), 0, 0, 0, 0, loc), nil
		}
		t, err := time.ParseInLocation(time.DateOnly, strings.TrimSpace(v), loc)
		if err != nil {
			return time.Time{}, invalid("%s 需为 YYYY-MM-DD 格式的日期", name)
		}
		return t, nil
	}
	f, err := parse(from, "from", time.Date(2000, 1, 1, 0, 0, 0, 0, loc))
	if err != nil {
		return f, f, err
	}
	t, err := parse(to, "to", today)
	if err != nil {
		return f, t, err
	}
	switch {
	case t.Before(f):
		return f, t, invalid("结束日期不能早于开始日期")
	case t.After(today):
		return f, t, invalid("结束日期不能晚于今天")
	case f.Year() < 2000:
		return f, t, invalid("开始日期不能早于 2000 年")
	}
	return f, t, nil
}

// buildRecord assembles the record of the volunteer over [from, to] (days
// in the configured zone, both included) with db.
func (s *VolunteerRecordService) buildRecord(ctx context.Context, db *gorm.DB, v *volunteerSubject, from, to time.Time) (*VolunteerRecord, error) {
	db = db.WithContext(ctx)
	loc := s.deps.Config.Location
	end := to.AddDate(0, 0, 1)
	rec := &VolunteerRecord{
		Name: v.profile.RealName, MaskedPhone: MaskPhone(v.profile.Phone),
		From: from.Format(time.DateOnly), To: to.Format(time.DateOnly),
		Services: []RecordService{}, Training: []RecordTraining{}, Awards: []RecordAward{},
	}
	if rec.Name == "" {
		rec.Name = v.user.Nickname
	}
	var records []model.ServiceRecord
	if err := db.Where("user_id = ? AND status = ? AND occurred_at >= ? AND occurred_at < ?",
		v.user.ID, model.RecordApproved, from.UTC(), end.UTC()).Order("occurred_at, id").Find(&records).Error; err != nil {
		return nil, err
	}
	// The objects the records come from, one read per kind.
	ids := map[string][]int64{}
	for _, r := range records {
		if r.SourceKey == nil {
			continue
		}
		kind, id, ok := strings.Cut(*r.SourceKey, ":")
		if n, err := strconv.ParseInt(id, 10, 64); ok && err == nil {
			ids[kind] = append(ids[kind], n)
		}
	}
	atts := map[int64]model.Attendance{}
	acts := map[int64]model.Activity{}
	wishes := map[int64]model.Wish{}
	if len(ids["attendance"]) > 0 {
		var rows []model.Attendance
		if err := db.Where("id IN ?", ids["attendance"]).Find(&rows).Error; err != nil {
			return nil, err
		}
		var actIDs []int64
		for _, a := range rows {
			atts[a.ID] = a
			actIDs = append(actIDs, a.ActivityID)
		}
		var as []model.Activity
		if len(actIDs) > 0 {
			if err := db.Select("id", "community_id", "unit_id", "title").Where("id IN ?", actIDs).Find(&as).Error; err != nil {
				return nil, err
			}
		}
		for _, a := range as {
			acts[a.ID] = a
		}
	}
	if len(ids["wish"]) > 0 {
		var rows []model.Wish
		if err := db.Select("id", "community_id", "title").Where("id IN ?", ids["wish"]).Find(&rows).Error; err != nil {
			return nil, err
		}
		for _, w := range rows {
			wishes[w.ID] = w
		}
	}
	units := map[int64]string{}
	var unitIDs []int64
	for _, a := range acts {
		if a.UnitID != nil {
			unitIDs = append(unitIDs, *a.UnitID)
		}
	}
	if len(unitIDs) > 0 {
		var us []model.Unit
		if err := db.Select("id", "name").Where("id IN ?", unitIDs).Find(&us).Error; err != nil {
			return nil, err
		}
		for _, u := range us {
			units[u.ID] = u.Name
		}
	}
	tree, err := s.orgs.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	orgName := func(id int64) string {
		if o := tree[id]; o != nil {
			return o.Name
		}
		return ""
	}
	for _, r := range records {
		it := RecordService{ServiceID: r.ID, Source: "service", Name: kindLabel(r.Kind), Kind: kindLabel(r.Kind),
			Organiser: orgName(r.CommunityID), Date: r.OccurredAt.In(loc).Format(time.DateOnly), Minutes: r.Minutes,
			Evaluation: "审核通过"}
		if r.SourceKey != nil {
			kind, idText, _ := strings.Cut(*r.SourceKey, ":")
			id, _ := strconv.ParseInt(idText, 10, 64)
			switch kind {
			case "attendance":
				it.Source, it.AttendanceID = "activity", id
				att := atts[id]
				if a, ok := acts[att.ActivityID]; ok {
					it.Name = a.Title
					if a.UnitID != nil && units[*a.UnitID] != "" {
						it.Organiser = units[*a.UnitID] + "（" + orgName(a.CommunityID) + "）"
					} else {
						it.Organiser = orgName(a.CommunityID)
					}
				}
				it.Evaluation = ""
				if att.Score > 0 {
					it.Evaluation = fmt.Sprintf("评分 %d/5", att.Score)
				}
			case "wish":
				it.Source, it.Evaluation = "wish", "心愿完成"
				if w, ok := wishes[id]; ok {
					it.Name = "微心愿：" + w.Title
				}
			case "case":
				it.Source, it.Evaluation = "case", "案件办结"
				it.Name = "随手拍案件 #" + idText
			}
		}
		rec.Services = append(rec.Services, it)
		rec.TotalMinutes += r.Minutes
	}
	rec.ServiceCount = len(rec.Services)
	rec.Hours = hours(rec.TotalMinutes)
	fromDay, toDay := from.Format(time.DateOnly), to.Format(time.DateOnly)
	var training []model.VolunteerTraining
	if err := db.Where("user_id = ? AND day >= ? AND day <= ?", v.user.ID, fromDay, toDay).Order("day, id").Find(&training).Error; err != nil {
		return nil, err
	}
	for _, t := range training {
		rec.Training = append(rec.Training, trainingView(&t))
		rec.TrainingMinutes += t.Minutes
	}
	var awards []model.VolunteerAward
	if err := db.Where("user_id = ? AND day >= ? AND day <= ?", v.user.ID, fromDay, toDay).Order("day, id").Find(&awards).Error; err != nil {
		return nil, err
	}
	for _, a := range awards {
		rec.Awards = append(rec.Awards, awardView(&a))
	}
	if v.user.HomeCommunityID != nil {
		rec.CommunityID = *v.user.HomeCommunityID
		rec.CommunityName = orgName(rec.CommunityID)
	}
	return rec, nil
}

// MyRecord returns the caller's live volunteer record over from..to (both
// optional, YYYY-MM-DD; by default the whole record up to today). It returns
// 10001 for a bad period and 80001 unless the caller is a registered
// volunteer.
func (s *VolunteerRecordService) MyRecord(ctx context.Context, actorID int64, from, to string) (*VolunteerRecord, error) {
	return s.record(ctx, s.deps.DB, actorID, from, to)
}

// VolunteerRecordFor is MyRecord of a volunteer for staff of their home
// community or above; it also returns 10004 for other callers and 30004 when
// the volunteer has no home community.
func (s *VolunteerRecordService) VolunteerRecordFor(ctx context.Context, actorID, userID int64, from, to string) (*VolunteerRecord, error) {
	db := s.deps.DB.WithContext(ctx)
	if _, err := s.requireVolunteerStaff(ctx, db, actorID, userID); err != nil {
		return nil, err
	}
	return s.record(ctx, db, userID, from, to)
}

func (s *VolunteerRecordService) record(ctx context.Context, db *gorm.DB, userID int64, from, to string) (*VolunteerRecord, error) {
	v, err := s.loadVolunteer(ctx, db, userID)
	if err != nil {
		return nil, err
	}
	f, t, err := s.period(from, to)
	if err != nil {
		return nil, err
	}
	return s.buildRecord(ctx, db, v, f, t)
}

// requireVolunteerStaff checks that actorID is staff of the home community
// of userID (or above) and returns that community. It returns 10005 for an
// unknown user, 30004 when the user has no home community and 10004 for a
// caller who is not their staff.
func (s *VolunteerRecordService) requireVolunteerStaff(ctx context.Context, db *gorm.DB, actorID, userID int64) (int64, error) {
	var u model.User
	if err := db.WithContext(ctx).Select("id", "home_community_id").First(&u, userID).Error; err != nil {
		return 0, notFoundOr(err, "用户")
	}
	if u.HomeCommunityID == nil {
		return 0, Errorf(CodeNoHomeCommunity, "该志愿者尚未设置所在社区，无法由工作人员办理")
	}
	if _, err := s.authz.RequireStaff(ctx, db, actorID, *u.HomeCommunityID); err != nil {
		return 0, err
	}
	return *u.HomeCommunityID, nil
}

// ---- Certificates ----

// VolunteerCertificateContent is what a volunteer certificate certifies,
// frozen when issued.
type VolunteerCertificateContent struct {
	Number string `json:"number"`
	VolunteerRecord
	// OnBehalf says a staff member issued it for the volunteer (代办).
	OnBehalf bool      `json:"onBehalf"`
	IssuedAt time.Time `json:"issuedAt"`
}

// VolunteerCertificateView is a volunteer certificate as its holder (or the
// staff who issued it) sees it.
type VolunteerCertificateView struct {
	ID           int64                       `json:"id"`
	Number       string                      `json:"number"`
	From         string                      `json:"from"`
	To           string                      `json:"to"`
	VerifyCode   string                      `json:"verifyCode"`
	VerifyURL    string                      `json:"verifyUrl"`
	IssuedAt     time.Time                   `json:"issuedAt"`
	HolderErased bool                        `json:"holderErased"`
	Content      VolunteerCertificateContent `json:"content"`
}

// VolunteerCertificateCheck is the public answer of GET
// /certificates/verify for an LLV- number. Only a genuine certificate
// carries its details, the name masked.
type VolunteerCertificateCheck struct {
	Genuine       bool       `json:"genuine"`
	Number        string     `json:"number"`
	Kind          string     `json:"kind"`
	Name          string     `json:"name,omitempty"`
	CommunityName string     `json:"communityName,omitempty"`
	From          string     `json:"from,omitempty"`
	To            string     `json:"to,omitempty"`
	Records       int        `json:"records,omitempty"`
	TotalMinutes  int        `json:"totalMinutes,omitempty"`
	Hours         string     `json:"hours,omitempty"`
	Training      int        `json:"training,omitempty"`
	Awards        int        `json:"awards,omitempty"`
	HolderErased  bool       `json:"holderErased,omitempty"`
	IssuedAt      *time.Time `json:"issuedAt,omitempty"`
}

// IsVolunteerCertificateNumber reports whether number names a volunteer
// certificate (LLV-…) rather than a Party-member one.
func IsVolunteerCertificateNumber(number string) bool {
	return strings.HasPrefix(strings.ToUpper(strings.TrimSpace(number)), VolunteerCertificatePrefix)
}

// verifyCode is the HMAC, with the key of Party-member certificates, of the
// number, holder, period and the digest of the content as issued: 16 base32
// characters (80 bits).
func (s *VolunteerRecordService) verifyCode(c *model.VolunteerCertificate) string {
	m := hmac.New(sha256.New, s.reports.certificateKey())
	fmt.Fprintf(m, "volunteer|%s|%d|%s|%s|%s", c.Number, c.UserID, c.FromDate, c.ToDate, c.ContentDigest)
	return base32.StdEncoding.EncodeToString(m.Sum(nil)[:10])
}

// verifyURL is the public check address of a certificate on
// report.verify_base_url, as for Party-member certificates.
func (s *VolunteerRecordService) verifyURL(c *model.VolunteerCertificate) string {
	base := s.deps.Config.Report.VerifyBaseURL
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "number=" + url.QueryEscape(c.Number) + "&code=" + s.verifyCode(c)
}

func (s *VolunteerRecordService) certificateView(c *model.VolunteerCertificate) (*VolunteerCertificateView, error) {
	v := &VolunteerCertificateView{ID: c.ID, Number: c.Number, From: c.FromDate, To: c.ToDate,
		VerifyCode: s.verifyCode(c), VerifyURL: s.verifyURL(c), IssuedAt: c.CreatedAt, HolderErased: c.HolderErased}
	if err := json.Unmarshal([]byte(c.Content), &v.Content); err != nil {
		return nil, err
	}
	return v, nil
}

// IssueCertificate issues the caller a numbered volunteer certificate for
// from..to (YYYY-MM-DD, both included; by default the whole record up
// to today), free of charge. Every call issues a new certificate with the
// record as it stands. It returns 10001 for a bad period and 80001 unless
// the caller is a registered volunteer.
func (s *VolunteerRecordService) IssueCertificate(ctx context.Context, actorID int64, from, to string) (*VolunteerCertificateView, error) {
	return s.issue(ctx, actorID, actorID, from, to)
}

// IssueCertificateFor issues a certificate on a volunteer's behalf (代办)
// by staff of their home community or above, audited. It returns the codes
// of IssueCertificate, 10005 for an unknown user, 30004 when they have no
// home community and 10004 for a caller who is not their staff.
func (s *VolunteerRecordService) IssueCertificateFor(ctx context.Context, actorID, userID int64, from, to string) (*VolunteerCertificateView, error) {
	return s.issue(ctx, actorID, userID, from, to)
}

func (s *VolunteerRecordService) issue(ctx context.Context, actorID, userID int64, from, to string) (*VolunteerCertificateView, error) {
	var cert model.VolunteerCertificate
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		cert = model.VolunteerCertificate{}
		var community int64
		if actorID != userID {
			c, err := s.requireVolunteerStaff(ctx, tx, actorID, userID)
			if err != nil {
				return err
			}
			community = c
		}
		v, err := s.loadVolunteer(ctx, tx, userID)
		if err != nil {
			return err
		}
		f, t, err := s.period(from, to)
		if err != nil {
			return err
		}
		rec, err := s.buildRecord(ctx, tx, v, f, t)
		if err != nil {
			return err
		}
		now := s.deps.Clock.Now()
		number, err := s.nextNumber(tx, now.In(s.deps.Config.Location).Year())
		if err != nil {
			return err
		}
		content := VolunteerCertificateContent{Number: number, VolunteerRecord: *rec, OnBehalf: actorID != userID,
			IssuedAt: now.In(s.deps.Config.Location).Truncate(time.Second)}
		b, err := json.Marshal(content)
		if err != nil {
			return err
		}
		digest := sha256.Sum256(b)
		cert = model.VolunteerCertificate{Number: number, UserID: userID, FromDate: rec.From, ToDate: rec.To,
			Content: string(b), ContentDigest: hex.EncodeToString(digest[:]), CreatedAt: now}
		if actorID != userID {
			cert.IssuedBy = &actorID
		}
		if err := tx.Create(&cert).Error; err != nil {
			return err
		}
		if actorID == userID {
			return nil
		}
		return s.deps.audit(ctx, tx, auditEvent{Actor: actorID, Org: community, Action: AuditVolunteerCertificate,
			ObjectKind: "volunteer_certificate", ObjectID: cert.ID,
			After: map[string]any{"number": number, "userId": userID, "from": rec.From, "to": rec.To}})
	})
	if err != nil {
		return nil, err
	}
	return s.certificateView(&cert)
}

// nextNumber takes the next number of the year's series inside tx: the
// series' counter row is created once (a concurrent creation is ignored)
// and moved by one UPDATE, which holds the row until tx ends, so two
// issues never get the same number; the number is also a unique key.
func (s *VolunteerRecordService) nextNumber(tx *gorm.DB, year int) (string, error) {
	series := fmt.Sprintf("%s%d", VolunteerCertificatePrefix, year)
	if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&model.CertificateCounter{Series: series}).Error; err != nil {
		return "", err
	}
	if err := tx.Model(&model.CertificateCounter{}).Where("series = ?", series).
		Update("n", gorm.Expr("n + 1")).Error; err != nil {
		return "", err
	}
	var c model.CertificateCounter
	if err := tx.Where("series = ?", series).Take(&c).Error; err != nil {
		return "", err
	}
	return fmt.Sprintf("%s-%06d", series, c.N), nil
}

// MyCertificates lists the caller's volunteer certificates, newest first.
func (s *VolunteerRecordService) MyCertificates(ctx context.Context, actorID int64) ([]VolunteerCertificateView, error) {
	var rows []model.VolunteerCertificate
	if err := s.deps.DB.WithContext(ctx).Where("user_id = ?", actorID).Order("id DESC").Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]VolunteerCertificateView, 0, len(rows))
	for i := range rows {
		v, err := s.certificateView(&rows[i])
		if err != nil {
			return nil, err
		}
		out = append(out, *v)
	}
	return out, nil
}

// CertificateQRCode returns a PNG QR code (256×256) of the verify address
// of one of the caller's volunteer certificates. It returns 10005 for an
// unknown certificate or one of someone else.
func (s *VolunteerRecordService) CertificateQRCode(ctx context.Context, actorID, id int64) ([]byte, error) {
	var c model.VolunteerCertificate
	if err := s.deps.DB.WithContext(ctx).Where("id = ? AND user_id = ?", id, actorID).First(&c).Error; err != nil {
		return nil, notFoundOr(err, "证明")
	}
	return qrcode.Encode(s.verifyURL(&c), qrcode.Medium, 256)
}

// VerifyCertificate checks a volunteer certificate number and code without
// sign-in. A genuine pair answers the certificate's totals with the name
// masked (or, when the holder erased their account, ErasedHolderName and
// holderErased); an unknown number or a wrong code answers genuine false and
// nothing else. It returns 10001 when number or code is missing.
func (s *VolunteerRecordService) VerifyCertificate(ctx context.Context, number, code string) (*VolunteerCertificateCheck, error) {
	number = strings.ToUpper(strings.TrimSpace(number))
	code = strings.ToUpper(strings.TrimSpace(code))
	if number == "" || code == "" || len(number) > 32 || len(code) > 64 {
		return nil, invalid("请提供证明编号 number 和验证码 code")
	}
	out := &VolunteerCertificateCheck{Number: number, Kind: "volunteer"}
	var c model.VolunteerCertificate
	if err := s.deps.DB.WithContext(ctx).Where("number = ?", number).Limit(1).Find(&c).Error; err != nil {
		return nil, err
	}
	if c.ID == 0 || !hmac.Equal([]byte(s.verifyCode(&c)), []byte(code)) {
		return out, nil
	}
	var content VolunteerCertificateContent
	if err := json.Unmarshal([]byte(c.Content), &content); err != nil {
		return nil, err
	}
	issued := content.IssuedAt
	name := MaskName(content.Name)
	if c.HolderErased {
		name = ErasedHolderName
	}
	*out = VolunteerCertificateCheck{Genuine: true, Number: c.Number, Kind: "volunteer", Name: name,
		CommunityName: content.CommunityName, From: c.FromDate, To: c.ToDate, Records: content.ServiceCount,
		TotalMinutes: content.TotalMinutes, Hours: content.Hours, Training: len(content.Training),
		Awards: len(content.Awards), HolderErased: c.HolderErased, IssuedAt: &issued}
	return out, nil
}

// ---- Training and awards ----

// TrainingInput is a training session staff record for a volunteer.
type TrainingInput struct {
	Title     string
	Hours     float64
	Date      string
	Organiser string
}

// AwardInput is an award or commendation staff record for a volunteer.
type AwardInput struct {
	Title  string
	Level  string
	Date   string
	Issuer string
}

// awardLevelLabel returns the Chinese name of an award level ("" for none).
func awardLevelLabel(l model.AwardLevel) string {
	switch l {
	case model.AwardNational:
		return "国家级"
	case model.AwardProvincial:
		return "省级"
	case model.AwardMunicipal:
		return "市级"
	case model.AwardDistrict:
		return "区县级"
	case model.AwardStreet:
		return "街道级"
	case model.AwardCommunity:
		return "社区级"
	case model.AwardOther:
		return "其他"
	}
	return ""
}

func trainingView(t *model.VolunteerTraining) RecordTraining {
	return RecordTraining{ID: t.ID, Title: t.Title, Hours: hours(t.Minutes), Minutes: t.Minutes, Date: t.Day, Organiser: t.Organiser}
}

func awardView(a *model.VolunteerAward) RecordAward {
	return RecordAward{ID: a.ID, Title: a.Title, Level: a.Level, LevelLabel: awardLevelLabel(a.Level), Date: a.Day, Issuer: a.Issuer}
}

// pastDay checks a YYYY-MM-DD date that is not in the future (configured
// zone) and not before 2000; it returns 10001 otherwise.
func (s *VolunteerRecordService) pastDay(v string) (string, error) {
	loc := s.deps.Config.Location
	t, err := time.ParseInLocation(time.DateOnly, strings.TrimSpace(v), loc)
	if err != nil {
		return "", invalid("date 需为 YYYY-MM-DD 格式的日期")
	}
	if t.Year() < 2000 || t.After(s.deps.Clock.Now().In(loc)) {
		return "", invalid("日期需在 2000 年之后且不晚于今天")
	}
	return t.Format(time.DateOnly), nil
}

// RecordTraining records a training session a volunteer attended, by staff
// of their home community or above, audited. It returns 10001 for a bad
// field (title or organiser 1–64 characters, hours 0.5–100 in steps of a
// half, a date not in the past), 10005 for an unknown user, 80001 unless
// they are a registered volunteer, 30004 when they have no home community
// and 10004 for a caller who is not their staff.
func (s *VolunteerRecordService) RecordTraining(ctx context.Context, actorID, userID int64, in TrainingInput) (*RecordTraining, error) {
	title, err := textField(in.Title, 1, 64, "培训名称")
	if err != nil {
		return nil, err
	}
	organiser, err := textField(in.Organiser, 1, 64, "培训组织方")
	if err != nil {
		return nil, err
	}
	if in.Hours < 0.5 || in.Hours > 100 || in.Hours*2 != math.Trunc(in.Hours*2) {
		return nil, invalid("培训时长需为 0.5 到 100 小时，以半小时为单位")
	}
	day, err := s.pastDay(in.Date)
	if err != nil {
		return nil, err
	}
	var out RecordTraining
	err = s.recordFor(ctx, actorID, userID, AuditTrainingRecord, "volunteer_training", func(tx *gorm.DB, community int64) (int64, any, error) {
		row := model.VolunteerTraining{UserID: userID, CommunityID: community, Title: title, Minutes: int(in.Hours * 60),
			Day: day, Organiser: organiser, RecordedBy: actorID, CreatedAt: s.deps.Clock.Now()}
		err := tx.Create(&row).Error
		out = trainingView(&row)
		return row.ID, out, err
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// recordFor writes, in one transaction, a row about volunteer userID that
// create makes for the volunteer's home community (returning its id and
// view), after checking that actorID is staff of that community or above
// and that userID is a registered volunteer, with its audit entry. It
// returns the codes of requireVolunteerStaff and loadVolunteer, or the
// database's error.
func (s *VolunteerRecordService) recordFor(ctx context.Context, actorID, userID int64, action, kind string,
	create func(tx *gorm.DB, community int64) (int64, any, error)) error {
	return s.deps.tx(ctx, func(tx *gorm.DB) error {
		community, err := s.requireVolunteerStaff(ctx, tx, actorID, userID)
		if err != nil {
			return err
		}
		if _, err := s.loadVolunteer(ctx, tx, userID); err != nil {
			return err
		}
		id, view, err := create(tx, community)
		if err != nil {
			return err
		}
		return s.deps.audit(ctx, tx, auditEvent{Actor: actorID, Org: community, Action: action, ObjectKind: kind, ObjectID: id, After: view})
	})
}

// RecordAward records an award or commendation of a volunteer, by staff of
// their home community or above, audited. It returns 10001 for a bad field
// (title or issuer 1–64 characters, an unknown level, a date not in the
// past) and the other codes of RecordTraining.
func (s *VolunteerRecordService) RecordAward(ctx context.Context, actorID, userID int64, in AwardInput) (*RecordAward, error) {
	title, err := textField(in.Title, 1, 64, "表彰名称")
	if err != nil {
		return nil, err
	}
	issuer, err := textField(in.Issuer, 1, 64, "表彰单位")
	if err != nil {
		return nil, err
	}
	level := model.AwardLevel(in.Level)
	if awardLevelLabel(level) == "" {
		return nil, invalid("level 需为 national、provincial、municipal、district、street、community 或 other")
	}
	day, err := s.pastDay(in.Date)
	if err != nil {
		return nil, err
	}
	var out RecordAward
	err = s.recordFor(ctx, actorID, userID, AuditAwardRecord, "volunteer_award", func(tx *gorm.DB, community int64) (int64, any, error) {
		row := model.VolunteerAward{UserID: userID, CommunityID: community, Title: title, Level: level, Day: day,
			Issuer: issuer, RecordedBy: actorID, CreatedAt: s.deps.Clock.Now()}
		err := tx.Create(&row).Error
		out = awardView(&row)
		return row.ID, out, err
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ---- Personal data (wired into export and erasure at merge) ----

// exportPersonal returns the rows of this area about userID: certificates
// (with their frozen content), training, awards and correction requests.
func (s *VolunteerRecordService) exportPersonal(tx *gorm.DB, userID int64) (map[string]any, error) {
	var certs []model.VolunteerCertificate
	var training []model.VolunteerTraining
	var awards []model.VolunteerAward
	var corrections []model.RecordCorrection
	for _, q := range []struct {
		dst   any
		order string
	}{{&certs, "id"}, {&training, "id"}, {&awards, "id"}, {&corrections, "id"}} {
		if err := tx.Where("user_id = ?", userID).Order(q.order).Find(q.dst).Error; err != nil {
			return nil, err
		}
	}
	certViews := make([]VolunteerCertificateView, 0, len(certs))
	for i := range certs {
		v, err := s.certificateView(&certs[i])
		if err != nil {
			return nil, err
		}
		certViews = append(certViews, *v)
	}
	trainingViews := make([]RecordTraining, 0, len(training))
	for i := range training {
		trainingViews = append(trainingViews, trainingView(&training[i]))
	}
	awardViews := make([]RecordAward, 0, len(awards))
	for i := range awards {
		awardViews = append(awardViews, awardView(&awards[i]))
	}
	correctionViews := make([]CorrectionView, 0, len(corrections))
	for i := range corrections {
		correctionViews = append(correctionViews, s.correctionView(&corrections[i]))
	}
	return map[string]any{"volunteerCertificates": certViews, "volunteerTraining": trainingViews,
		"volunteerAwards": awardViews, "recordCorrections": correctionViews}, nil
}

// erasePersonal removes the identifying data of userID from this area's
// rows: in every certificate the frozen name and masked phone are replaced
// (ErasedHolderName, "") and HolderErased set, while numbers, dates and
// minutes stay, so the certificate still verifies (as genuine, holder
// erased: the code signs the digest of the content as issued); the free
// texts of correction requests (reason, staff's note) are blanked. Training
// and awards name no one but the user id, which erasure anonymises.
func (s *VolunteerRecordService) erasePersonal(tx *gorm.DB, userID int64) error {
	var certs []model.VolunteerCertificate
	if err := tx.Where("user_id = ? AND holder_erased = ?", userID, false).Find(&certs).Error; err != nil {
		return err
	}
	for _, c := range certs {
		var content map[string]any
		if err := json.Unmarshal([]byte(c.Content), &content); err != nil {
			return err
		}
		content["name"], content["maskedPhone"] = ErasedHolderName, ""
		b, err := json.Marshal(content)
		if err != nil {
			return err
		}
		if err := tx.Model(&model.VolunteerCertificate{}).Where("id = ?", c.ID).
			Updates(map[string]any{"content": string(b), "holder_erased": true}).Error; err != nil {
			return err
		}
	}
	return tx.Model(&model.RecordCorrection{}).Where("user_id = ?", userID).
		Updates(map[string]any{"reason": "", "decision_note": ""}).Error
}
