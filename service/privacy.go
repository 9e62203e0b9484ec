package service

import (
	"context"
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"linli/model"
)

// personalData is an area that holds rows about a person: what it gives
// back in the person's data export, and what it removes or anonymises when
// they erase their account. Both run inside the transaction of the export
// (a consistent read) or of the erasure.
//
// exportPersonal returns the area's rows about userID under names of its
// choosing (camelCase, one key per kind of row); an empty area may return
// nil. erasePersonal removes or irreversibly replaces the identifying
// fields of those rows (names, phones, addresses, contacts, photos) and
// keeps what other people rely on (ledger entries, attendance counts, a
// unit's obligations) with only the person's id, which then names nobody.
// Both return the database's error, if any.
type personalData interface {
	exportPersonal(tx *gorm.DB, userID int64) (map[string]any, error)
	erasePersonal(tx *gorm.DB, userID int64) error
}

// Privacy codes (8001x: personal information, PIPL). They are never
// renumbered; api/envelope.go maps 80000–80099 (409 unless listed there).
const (
	// CodeConsentVersion is returned by Consent for a version other than
	// the current privacy.policy_version (or when none is configured).
	CodeConsentVersion = 80010 // 409
	// CodeEraseBusy is returned by Erase when something of the person's
	// (a claim, a sign-up, an order) opened again while it was being
	// released; asking again finishes it.
	CodeEraseBusy = 80011 // 409
)

// AuditAccountErase is the audit action of an account erasure; the actor
// is the erased user and the object the user.
const AuditAccountErase = "user.erase"

// erasedOpenIDPrefix starts the open_id an erased account keeps, so that
// the unique key of open_id lets the same WeChat account sign up afresh.
const erasedOpenIDPrefix = "erased:"

// PrivacyService answers a person's rights over their personal
// information: the data export (GET /me/data-export), account erasure
// (DELETE /me), consent to the privacy policy, and the retention sweep.
// It walks areas, every area that holds rows about a person, in order;
// the users row itself comes first in an export and last in an erasure.
type PrivacyService struct {
	deps       Deps
	auth       *AuthService
	callers    *CallerService
	timeBank   *TimeBankService
	wishes     *WishService
	activities *ActivityService
	mall       *MallService
	reports    *ReportService
	uploads    *UploadService
	areas      []personalData
}

// ---- Export ----

// DataExport is everything linli holds about a person, as GET
// /me/data-export returns it: their profile, then one key per area.
type DataExport struct {
	ExportedAt time.Time      `json:"exportedAt"`
	UserID     int64          `json:"userId"`
	Profile    map[string]any `json:"profile"`
	Data       map[string]any `json:"data"`
}

// Export returns every row linli holds about userID, read in one
// transaction. It returns 10005 for an unknown or erased user and the
// database's error.
func (s *PrivacyService) Export(ctx context.Context, userID int64) (*DataExport, error) {
	out := &DataExport{ExportedAt: s.deps.Clock.Now(), UserID: userID, Data: map[string]any{}}
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		var u model.User
		if err := tx.First(&u, userID).Error; err != nil {
			return notFoundOr(err, "用户")
		}
		if u.ErasedAt != nil {
			return notFound("用户")
		}
		rows, err := exportRows(tx, []model.User{u})
		if err != nil {
			return err
		}
		out.Profile = rows[0]
		for _, a := range s.areas {
			m, err := a.exportPersonal(tx, userID)
			if err != nil {
				return err
			}
			for k, v := range m {
				out.Data[k] = v
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ExportUploads returns the uploads userID owns, for the zip of GET
// /me/data-export.zip; the caller reads each from the object store with
// OpenUpload. It returns the database's error.
func (s *PrivacyService) ExportUploads(ctx context.Context, userID int64) ([]model.Upload, error) {
	var rows []model.Upload
	err := s.deps.DB.WithContext(ctx).Where("owner_id = ?", userID).Order("id").Find(&rows).Error
	return rows, err
}

// OpenUpload opens one stored upload. It returns the object store's error
// (objstore.ErrNotFound for a file that is gone).
func (s *PrivacyService) OpenUpload(ctx context.Context, key string) (io.ReadCloser, error) {
	f, _, err := s.deps.Objects.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// exportRows turns model rows into maps keyed by the camelCase of each
// column name, the values as the model holds them.
func exportRows[T any](tx *gorm.DB, rows []T) ([]map[string]any, error) {
	out := make([]map[string]any, 0, len(rows))
	if len(rows) == 0 {
		return out, nil
	}
	stmt := &gorm.Statement{DB: tx}
	if err := stmt.Parse(&rows[0]); err != nil {
		return nil, err
	}
	ctx := context.Background()
	for i := range rows {
		rv := reflect.ValueOf(&rows[i]).Elem()
		m := make(map[string]any, len(stmt.Schema.Fields))
		for _, f := range stmt.Schema.Fields {
			if f.DBName == "" {
				continue
			}
			v, _ := f.ValueOf(ctx, rv)
			m[camelCase(f.DBName)] = v
		}
		out = append(out, m)
	}
	return out, nil
}

// exportWhere reads the rows of T matching where, by id, as exportRows.
func exportWhere[T any](tx *gorm.DB, where string, args ...any) ([]map[string]any, error) {
	var rows []T
	if err := tx.Where(where, args...).Order("id").Find(&rows).Error; err != nil {
		return nil, err
	}
	return exportRows(tx, rows)
}

// camelCase turns a column name (open_id) into its JSON name (openId).
func camelCase(col string) string {
	parts := strings.Split(col, "_")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}

// ---- Erasure ----

// eraseReason is what the releases of an erasure give as their reason.
const eraseReason = "账号注销"

// Erase erases the account of userID, whose session is sessionID: first
// their open claims, sign-ups, orders and member reports are released or
// cancelled through the areas' own operations (so seats, stock, waitlists
// and refunds come out as for any cancellation; what is past cancelling,
// such as a sign-up after its deadline, stays as an anonymous row); then,
// in one transaction, every area removes or replaces the identifying
// fields of its rows, the user's row keeps only its id (open_id becomes
// erased:<id>, so the same WeChat account signs up afresh), the community
// counts drop them, and an audit entry records the erasure. Every session
// of the user ends: the caller check refuses an erased user on every
// instance, and this session is removed from Redis. Erasing an erased
// account again (a concurrent request with the same session) changes
// nothing and succeeds. It returns 10005 for an unknown user, 80011 when
// something of theirs opened again meanwhile, and the database's error.
func (s *PrivacyService) Erase(ctx context.Context, userID int64, sessionID string) error {
	for attempt := 0; ; attempt++ {
		if err := s.release(ctx, userID); err != nil {
			return err
		}
		err := s.eraseRows(ctx, userID)
		if ErrorCode(err) == CodeEraseBusy && attempt < 2 {
			continue
		}
		if err != nil {
			return err
		}
		break
	}
	if sessionID != "" {
		if err := s.auth.Logout(ctx, Principal{UserID: userID, SessionID: sessionID}); err != nil {
			// The session is refused anyway: the user no longer resolves.
			s.deps.Logger.Warn("erase: session not removed from Redis", "error", err.Error())
		}
	}
	return nil
}

// release gives back, through each area's own operation, what userID
// holds open. A refusal (something already past cancelling) leaves it as
// it is; any other error is returned.
func (s *PrivacyService) release(ctx context.Context, userID int64) error {
	db := s.deps.DB.WithContext(ctx)
	var ids []int64
	step := func(err error) error {
		if err == nil || isRefusal(err) {
			return nil
		}
		return err
	}
	// Wishes they claimed, then wishes they posted that are still open.
	if err := db.Model(&model.Wish{}).Where("claimer_id = ? AND status = ?", userID, model.WishClaimed).Pluck("id", &ids).Error; err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := s.wishes.Release(ctx, userID, id, eraseReason); step(err) != nil {
			return err
		}
	}
	ids = nil
	if err := db.Model(&model.Wish{}).Where("poster_id = ? AND status IN ?", userID,
		[]model.WishStatus{model.WishPendingReview, model.WishPublished}).Pluck("id", &ids).Error; err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := s.wishes.Cancel(ctx, userID, id, eraseReason); step(err) != nil {
			return err
		}
	}
	// Sign-ups to activities not yet over (a freed seat promotes the
	// waitlist).
	ids = nil
	if err := db.Model(&model.Attendance{}).Where("user_id = ? AND status IN ?", userID,
		[]model.SignupStatus{model.SignupSigned, model.SignupWaitlisted}).Pluck("activity_id", &ids).Error; err != nil {
		return err
	}
	for _, id := range ids {
		if err := s.activities.CancelSignup(ctx, userID, id); step(err) != nil {
			return err
		}
	}
	// Open mall orders: refunded, stock put back.
	ids = nil
	if err := db.Model(&model.MallOrder{}).Where("user_id = ? AND status = ?", userID, model.OrderOpen).Pluck("id", &ids).Error; err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := s.mall.CancelOrder(ctx, userID, id); step(err) != nil {
			return err
		}
	}
	// Member reports (withdrawing the approved one releases the posts),
	// then any post place still held.
	ids = nil
	if err := db.Model(&model.MemberReport{}).Where("user_id = ? AND status IN ?", userID,
		[]model.ReviewStatus{model.ReviewPending, model.ReviewApproved}).Pluck("id", &ids).Error; err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := s.reports.WithdrawReport(ctx, userID, id); step(err) != nil {
			return err
		}
	}
	ids = nil
	if err := db.Model(&model.PostClaim{}).Where("active_user_id = ?", userID).Pluck("post_id", &ids).Error; err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := s.reports.ReleasePost(ctx, userID, id); step(err) != nil {
			return err
		}
	}
	return nil
}

// isRefusal reports whether err is a service's refusal of a request (a
// client-side code), as opposed to a failure of a store.
func isRefusal(err error) bool {
	var se *Error
	return errors.As(err, &se) && se.Code != CodeInternal && se.Code != CodeUnavailable
}

// eraseRows is the transaction of an erasure: the user's row is locked,
// nothing of theirs may be open any more, every area erases its rows and
// the user's own row is replaced last; an account already erased (by a
// concurrent request) is left as it is. It returns 10005 for an unknown
// user, 80011 when a claim, sign-up, order or report is open again,
// and the database's error.
func (s *PrivacyService) eraseRows(ctx context.Context, userID int64) error {
	return s.deps.tx(ctx, func(tx *gorm.DB) error {
		var u model.User
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).First(&u, userID).Error; err != nil {
			return notFoundOr(err, "用户")
		}
		if u.ErasedAt != nil {
			return nil // a concurrent erasure of the same account did it
		}
		if open, err := s.stillOpen(tx, userID); err != nil || open {
			if err == nil {
				err = Errorf(CodeEraseBusy, "账号仍有进行中的事项，请稍后再试")
			}
			return err
		}
		for _, a := range s.areas {
			if err := a.erasePersonal(tx, userID); err != nil {
				return err
			}
		}
		if err := s.eraseUser(ctx, tx, &u); err != nil {
			return err
		}
		org := int64(0)
		if u.HomeCommunityID != nil {
			org = *u.HomeCommunityID
		}
		return s.deps.audit(ctx, tx, auditEvent{Actor: userID, Org: org, Action: AuditAccountErase,
			ObjectKind: "user", ObjectID: userID, Reason: eraseReason})
	})
}

// stillOpen reports whether userID holds a claim, a cancellable sign-up, an
// open order or a live member report, which release should have ended.
func (s *PrivacyService) stillOpen(tx *gorm.DB, userID int64) (bool, error) {
	checks := []*gorm.DB{
		tx.Model(&model.Wish{}).Where("claimer_id = ? AND status = ?", userID, model.WishClaimed),
		tx.Model(&model.MallOrder{}).Where("user_id = ? AND status = ?", userID, model.OrderOpen),
		tx.Model(&model.MemberReport{}).Where("user_id = ? AND status IN ?", userID,
			[]model.ReviewStatus{model.ReviewPending, model.ReviewApproved}),
		tx.Model(&model.PostClaim{}).Where("active_user_id = ?", userID),
	}
	for _, q := range checks {
		var n int64
		if err := q.Limit(1).Count(&n).Error; err != nil {
			return false, err
		}
		if n > 0 {
			return true, nil
		}
	}
	return false, nil
}

// eraseUser replaces the identifying fields of the user's row (u, locked),
// takes them off their home community's count and the leaderboards, and
// ends their staff roles, inside tx.
func (s *PrivacyService) eraseUser(ctx context.Context, tx *gorm.DB, u *model.User) error {
	now := s.deps.Clock.Now().UTC()
	if u.HomeCommunityID != nil {
		if err := addCommunityStats(tx, *u.HomeCommunityID, -1, 0); err != nil {
			return err
		}
		from := *u.HomeCommunityID
		afterCommit(tx, func() { s.timeBank.HomeChanged(context.WithoutCancel(ctx), u.ID, &from, nil) })
	}
	if err := tx.Model(&model.StaffRole{}).Where("user_id = ? AND ended_at IS NULL", u.ID).
		Updates(map[string]any{"ended_at": now, "ended_key": gorm.Expr("id"), "ended_by": u.ID}).Error; err != nil {
		return err
	}
	if err := tx.Where("user_id = ?", u.ID).Delete(&model.DeptStaff{}).Error; err != nil {
		return err
	}
	err := tx.Model(&model.User{}).Where("id = ?", u.ID).Updates(map[string]any{
		"open_id": erasedOpenIDPrefix + strconv.FormatInt(u.ID, 10), "union_id": "", "nickname": "",
		"avatar_url": "", "phone": "", "real_name": "", "home_community_id": nil, "home_grid_id": nil,
		"home_set_at": nil, "home_verified_at": nil, "home_verified_by": nil,
		"consent_version": "", "consent_at": nil, "erased_at": now, "updated_at": now,
	}).Error
	if err != nil {
		return err
	}
	s.callers.Changed(tx, u.ID)
	return nil
}

// ---- Consent ----

// withConsent sets whether the user of v must (again) accept the privacy
// policy: privacy.policy_version is set and is not the version they
// accepted.
func (s *UserService) withConsent(v *MeView) *MeView {
	policy := s.deps.Config.Privacy.PolicyVersion
	v.ConsentRequired = policy != "" && v.ConsentVersion != policy
	return v
}

// ConsentView is the answer to POST /me/consent.
type ConsentView struct {
	Version         string    `json:"version"`
	AcceptedAt      time.Time `json:"acceptedAt"`
	ConsentRequired bool      `json:"consentRequired"`
}

// Consent records that userID accepted the privacy policy of version,
// which must be the current privacy.policy_version; accepting it again
// moves the time. It returns 10001 for a blank version, 80010 for any
// other version than the current one, 10005 for an unknown user and the
// database's error.
func (s *PrivacyService) Consent(ctx context.Context, userID int64, version string) (*ConsentView, error) {
	version = strings.TrimSpace(version)
	if version == "" || len(version) > 32 {
		return nil, invalid("请提供隐私政策版本 version")
	}
	current := s.deps.Config.Privacy.PolicyVersion
	if current == "" || version != current {
		return nil, Errorf(CodeConsentVersion, "隐私政策已更新，请阅读最新版本后再同意")
	}
	now := s.deps.Clock.Now().UTC()
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&model.User{}).Where("id = ? AND erased_at IS NULL", userID).
			Updates(map[string]any{"consent_version": version, "consent_at": now, "updated_at": now})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return notFound("用户")
		}
		s.callers.Changed(tx, userID)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ConsentView{Version: version, AcceptedAt: now}, nil
}

// ---- Retention ----

// retentionBatch bounds the wishes one statement of the retention sweep
// blanks.
const retentionBatch = 200

// RetentionResult is what one retention sweep did.
type RetentionResult struct {
	// WishContacts is how many closed wishes had their contact blanked.
	WishContacts int64
}

// SweepRetention blanks the contact phone, address and proxy phone of the
// wishes closed more than privacy.wish_contact_retention ago. Each batch
// is one conditional UPDATE (… AND contact_redacted = false), so any
// number of instances may sweep at once and every wish is blanked, and
// counted, once. It returns what it did and the database's error.
func (s *PrivacyService) SweepRetention(ctx context.Context) (RetentionResult, error) {
	var out RetentionResult
	cutoff := s.deps.Clock.Now().Add(-s.deps.Config.Privacy.WishContactRetention)
	db := s.deps.DB.WithContext(ctx)
	for {
		var ids []int64
		if err := db.Model(&model.Wish{}).Where("contact_redacted = ? AND closed_at < ?", false, cutoff).
			Order("closed_at").Limit(retentionBatch).Pluck("id", &ids).Error; err != nil {
			return out, err
		}
		if len(ids) == 0 {
			return out, nil
		}
		res := db.Model(&model.Wish{}).Where("id IN ? AND contact_redacted = ?", ids, false).
			Updates(map[string]any{"contact_phone": "", "address": "", "proxy_phone": "", "contact_redacted": true})
		if res.Error != nil {
			return out, res.Error
		}
		out.WishContacts += res.RowsAffected
		if len(ids) < retentionBatch {
			return out, nil
		}
	}
}
