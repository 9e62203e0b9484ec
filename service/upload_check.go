package service

import (
	"context"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/hex"
	"sort"
	"strings"
	"time"

	"gorm.io/gorm"

	"linli/model"
)

// The image check (issue 16 item 6, docs/areas/uploads.md): an image
// attached where others can see it (a wish, a fulfilment, a case or its
// resolution, a service record) is shown to its owner and staff only until
// it passes — WeChat's asynchronous media check when it can run, otherwise
// a staff member (content.images_require_review; false passes it at once).
// A risky image is shown to nobody (its owner and staff see it marked,
// without a URL) and its owner is told.

// Audit actions of the staff decision on an image.
const (
	AuditImageApprove = "image.approve"
	AuditImageReject  = "image.reject"
)

// EventImageRejected tells an owner that an image of theirs was found
// risky and is hidden.
const EventImageRejected = "image_rejected"

// Submission of images to WeChat: a failed submission is retried after
// checkRetryBase, doubling up to checkRetryMax, checkMaxAttempts times in
// all; then the image waits for staff. checkLease is how long a sender
// holds a row it is submitting.
const (
	checkRetryBase   = 30 * time.Second
	checkRetryMax    = time.Hour
	checkMaxAttempts = 8
	checkLease       = 2 * time.Minute
	checkBatch       = 50
)

// mediaCheckOn reports whether attached images go to WeChat's media check:
// WeChat is configured and images have an address WeChat can fetch (the
// object store's URLs are absolute, or upload.public_base_url is set).
func (s *UploadService) mediaCheckOn() bool {
	return s.deps.WeChat != nil && (s.deps.Config.Upload.PublicBaseURL != "" || isAbsoluteURL(s.deps.Objects.URL("x.jpg")))
}

func isAbsoluteURL(u string) bool {
	return strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://")
}

// initialCheck returns the state an image starts in when it is attached
// where others can see it.
func (s *UploadService) initialCheck() model.UploadCheck {
	switch {
	case s.mediaCheckOn():
		return model.CheckPending
	case s.deps.Config.Content.ImagesRequireReview:
		return model.CheckReview
	}
	return model.CheckPass
}

// startCheck puts the just-attached uploads ids of community into the
// image check, in the attaching transaction: pending ones are due for
// submission at once (the check sender submits them after the commit).
func (s *UploadService) startCheck(ctx context.Context, tx *gorm.DB, ids []int64, communityID int64) error {
	now := s.deps.Clock.Now()
	set := map[string]any{"community_id": communityID, "check_status": s.initialCheck()}
	if set["check_status"] == model.CheckPending {
		set["check_next_at"] = now
	}
	return tx.WithContext(ctx).Model(&model.Upload{}).Where("id IN ?", ids).Updates(set).Error
}

// mediaURL returns where WeChat fetches upload u: its URL as its viewers
// get it (signed when private), made absolute with upload.public_base_url.
func (s *UploadService) mediaURL(u *model.Upload) string {
	url := s.url(u.Key, u.Purpose)
	if isAbsoluteURL(url) {
		return url
	}
	return s.deps.Config.Upload.PublicBaseURL + url
}

// SubmitChecks submits pending images that are due to WeChat's media check
// and records each trace_id; a failed submission is retried later, and
// after checkMaxAttempts the image waits for staff. Each row is leased by a
// conditional UPDATE, so any number of instances may run it at once. It
// returns how many it submitted and the first database error.
func (s *UploadService) SubmitChecks(ctx context.Context) (int, error) {
	if !s.mediaCheckOn() {
		return 0, nil
	}
	db := s.deps.DB.WithContext(ctx)
	now := s.deps.Clock.Now()
	var rows []model.Upload
	if err := db.Where("check_status = ? AND trace_id IS NULL AND check_next_at <= ?", model.CheckPending, now).
		Order("check_next_at, id").Limit(checkBatch).Find(&rows).Error; err != nil {
		return 0, err
	}
	n := 0
	for i := range rows {
		u := &rows[i]
		res := db.Model(&model.Upload{}).
			Where("id = ? AND check_status = ? AND trace_id IS NULL AND check_attempts = ?", u.ID, model.CheckPending, u.CheckAttempts).
			Updates(map[string]any{"check_attempts": u.CheckAttempts + 1, "check_next_at": now.Add(checkLease)})
		if res.Error != nil {
			return n, res.Error
		}
		if res.RowsAffected == 0 {
			continue // another sender has it
		}
		attempts := u.CheckAttempts + 1
		var owner model.User
		if err := db.Select("id", "open_id").Limit(1).Find(&owner, u.OwnerID).Error; err != nil {
			return n, err
		}
		trace, err := s.deps.WeChat.MediaCheckAsync(ctx, owner.OpenID, s.mediaURL(u))
		if err == nil {
			err = db.Model(&model.Upload{}).Where("id = ? AND check_status = ? AND trace_id IS NULL", u.ID, model.CheckPending).
				Updates(map[string]any{"trace_id": trace, "check_next_at": nil}).Error
			if err != nil {
				return n, err
			}
			n++
			continue
		}
		s.deps.Logger.Warn("image check: submission failed", "upload", u.ID, "attempt", attempts, "error", err.Error())
		set := map[string]any{"check_next_at": now.Add(min(checkRetryBase<<(attempts-1), checkRetryMax))}
		if attempts >= checkMaxAttempts {
			// WeChat would not take it: a staff member decides.
			set = map[string]any{"check_status": model.CheckReview, "check_next_at": nil}
		}
		if err := db.Model(&model.Upload{}).Where("id = ? AND check_status = ? AND trace_id IS NULL", u.ID, model.CheckPending).
			Updates(set).Error; err != nil {
			return n, err
		}
	}
	return n, nil
}

// VerifyPushSignature reports whether signature is WeChat's signature of a
// message-push request: the hex SHA-1 of wechat.push_token, timestamp and
// nonce sorted and joined. It is false while no push token is configured.
func (s *UploadService) VerifyPushSignature(signature, timestamp, nonce string) bool {
	token := s.deps.Config.WeChat.PushToken
	if token == "" || signature == "" {
		return false
	}
	parts := []string{token, timestamp, nonce}
	sort.Strings(parts)
	sum := sha1.Sum([]byte(strings.Join(parts, "")))
	want := hex.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(strings.ToLower(signature)), []byte(want)) == 1
}

// MediaCheckResult applies WeChat's verdict suggest ("pass", "risky",
// "review") on the image checked under traceID. Only a pending image
// changes, by a conditional UPDATE, so a repeated callback changes nothing;
// a risky image's owner is told in the same transaction. It returns
// applied=false for an unknown trace, an unknown suggestion or a verdict
// given already, and a database error.
func (s *UploadService) MediaCheckResult(ctx context.Context, traceID, suggest string) (applied bool, err error) {
	to := model.UploadCheck(suggest)
	if traceID == "" || (to != model.CheckPass && to != model.CheckRisky && to != model.CheckReview) {
		return false, nil
	}
	err = s.deps.tx(ctx, func(tx *gorm.DB) error {
		var u model.Upload
		if err := tx.Where("trace_id = ?", traceID).Limit(1).Find(&u).Error; err != nil {
			return err
		}
		if u.ID == 0 {
			return nil
		}
		res := tx.Model(&model.Upload{}).Where("id = ? AND check_status = ?", u.ID, model.CheckPending).
			Updates(map[string]any{"check_status": to, "checked_at": s.deps.Clock.Now()})
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		applied = true
		if to == model.CheckRisky {
			return s.notifyRejected(tx, &u, "")
		}
		return nil
	})
	return applied, err
}

// notifyRejected tells u's owner that the image is hidden.
func (s *UploadService) notifyRejected(tx *gorm.DB, u *model.Upload, reason string) error {
	return s.notify.Notify(tx, Notice{UserID: u.OwnerID, Event: EventImageRejected, ObjectKind: "upload", ObjectID: u.ID,
		Subject: purposeLabel(u.Purpose), Note: reason})
}

// purposeLabel names what an image is attached to, for people.
func purposeLabel(p model.UploadPurpose) string {
	switch p {
	case model.UploadWish:
		return "心愿图片"
	case model.UploadFulfil:
		return "心愿实现照片"
	case model.UploadRecord:
		return "服务记录照片"
	case model.UploadCase:
		return "随手拍照片"
	case model.UploadGoods:
		return "商品图片"
	}
	return "图片"
}

// ImageReview is an image after a staff decision.
type ImageReview struct {
	ID          int64  `json:"id"`
	Purpose     string `json:"purpose"`
	CommunityID int64  `json:"communityId"`
	Check       string `json:"check"`
	URL         string `json:"url,omitempty"`
}

// ReviewImage passes (approve) or hides an image waiting for a decision
// (for staff, or for WeChat's verdict), by a conditional UPDATE; a hidden
// image's owner is told, and the decision goes to the audit log, in the
// same transaction. It returns 10001 for a rejection without a reason,
// 10005 for an unknown image or one not in the check, 10004 unless the
// caller is staff of the image's community or above, and 10006 when it was
// decided already.
func (s *UploadService) ReviewImage(ctx context.Context, actorID, id int64, approve bool, reason string) (*ImageReview, error) {
	reason = strings.TrimSpace(reason)
	if !approve && reason == "" {
		return nil, invalid("请填写不通过的原因")
	}
	if n := len([]rune(reason)); n > 255 {
		return nil, invalid("原因不能超过 255 字")
	}
	var out *ImageReview
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		var u model.Upload
		if err := tx.Limit(1).Find(&u, id).Error; err != nil {
			return err
		}
		if u.ID == 0 || u.CheckStatus == model.CheckNone || u.CommunityID == 0 {
			return notFound("图片")
		}
		if _, err := s.authz.RequireStaff(ctx, tx, actorID, u.CommunityID); err != nil {
			return err
		}
		to := model.CheckPass
		if !approve {
			to = model.CheckRisky
		}
		now := s.deps.Clock.Now()
		res := tx.Model(&model.Upload{}).Where("id = ? AND check_status IN ?", id, []model.UploadCheck{model.CheckPending, model.CheckReview}).
			Updates(map[string]any{"check_status": to, "checked_at": now, "checked_by": actorID, "check_next_at": nil})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return Errorf(CodeConflict, "该图片已审核")
		}
		if !approve {
			if err := s.notifyRejected(tx, &u, reason); err != nil {
				return err
			}
		}
		out = &ImageReview{ID: id, Purpose: string(u.Purpose), CommunityID: u.CommunityID, Check: string(to)}
		if approve {
			out.URL = s.url(u.Key, u.Purpose)
		}
		return s.deps.audit(ctx, tx, reviewEvent(actorID, u.CommunityID, approve, "image", id, u.CheckStatus, to, reason))
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// imageInfo is what a view needs of an attached image.
type imageInfo struct {
	url   string
	check model.UploadCheck
}

// imageViews picks the images with ids, in order, from infos, as the
// viewer may see them: a privileged viewer (the images' owner, or staff)
// sees images still in the check with their state and risky ones marked
// without a URL; anyone else only images that passed (or were never
// checked).
func imageViews(infos map[int64]imageInfo, ids []int64, privileged bool) []UploadView {
	out := []UploadView{}
	for _, id := range ids {
		im, ok := infos[id]
		switch {
		case !ok:
		case im.check.Shown():
			out = append(out, UploadView{ID: id, URL: im.url})
		case !privileged:
		case im.check == model.CheckRisky:
			out = append(out, UploadView{ID: id, Check: string(im.check)})
		default:
			out = append(out, UploadView{ID: id, URL: im.url, Check: string(im.check)})
		}
	}
	return out
}

// checksOf returns the check state of the uploads ids that are not shown
// to everyone.
func (s *UploadService) checksOf(ctx context.Context, db *gorm.DB, ids []int64) (map[int64]model.UploadCheck, error) {
	out := map[int64]model.UploadCheck{}
	if len(ids) == 0 {
		return out, nil
	}
	var rows []model.Upload
	if err := db.WithContext(ctx).Select("id", "check_status").
		Where("id IN ? AND check_status IN ?", ids, []model.UploadCheck{model.CheckPending, model.CheckReview, model.CheckRisky}).
		Find(&rows).Error; err != nil {
		return nil, err
	}
	for _, r := range rows {
		out[r.ID] = r.CheckStatus
	}
	return out, nil
}
