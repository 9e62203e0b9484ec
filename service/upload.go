package service

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"linli/internal/objstore"
	"linli/model"
)

// ObjectStore keeps uploaded files. internal/objstore.Local implements it on
// local disk; an S3-compatible store would implement Put and URL the same
// way and return an error from Open (its URLs point at the bucket).
type ObjectStore interface {
	// Put stores the content of r under key.
	Put(ctx context.Context, key, contentType string, r io.Reader) error
	// Open returns a stored object and its size; objstore.ErrNotFound when
	// there is none.
	Open(ctx context.Context, key string) (io.ReadSeekCloser, int64, error)
	// URL returns where clients fetch key.
	URL(key string) string
	// Delete removes key; a missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// FilesURLPrefix is where the local object store's files are served.
const FilesURLPrefix = "/api/v1/files/"

// MaxImagesPerItem is how many images a wish or a fulfilment may carry.
const MaxImagesPerItem = 6

// UploadService stores images and checks who may attach them.
type UploadService struct {
	deps   Deps
	authz  *Authz
	notify *NotificationService
}

// UploadView is a stored image.
type UploadView struct {
	ID          int64  `json:"id"`
	URL         string `json:"url"`
	ContentType string `json:"contentType,omitempty"`
	Size        int64  `json:"size,omitempty"`
	// Check is set, for the image's owner and staff only, while the image
	// is not shown to others: pending (WeChat's check), review (a staff
	// member's) or risky (hidden; no URL).
	Check string `json:"check,omitempty"`
}

// sniffImage returns the content type and file extension of a JPEG or PNG
// image from its first bytes, or ok=false for anything else (whatever the
// file was called). WebP is refused: the standard library cannot re-encode
// it.
func sniffImage(b []byte) (contentType, ext string, ok bool) {
	switch {
	case len(b) >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF:
		return "image/jpeg", "jpg", true
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return "image/png", "png", true
	}
	return "", "", false
}

// ContentTypeOfKey returns the content type of a stored key by its extension.
func ContentTypeOfKey(key string) string {
	switch {
	case strings.HasSuffix(key, ".jpg"):
		return "image/jpeg"
	case strings.HasSuffix(key, ".png"):
		return "image/png"
	case strings.HasSuffix(key, ".webp"):
		return "image/webp"
	}
	return "application/octet-stream"
}

// reencode decodes a JPEG or PNG image and encodes its pixels afresh, which
// leaves behind everything but the picture: EXIF (GPS position, camera,
// time), comments, other metadata chunks and bytes after the end of the
// image. It returns 10001 for another type, a corrupt image or one of more
// than maxPixels pixels.
func reencode(data []byte, maxPixels int64) (out []byte, contentType, ext string, err error) {
	ct, ext, ok := sniffImage(data)
	if !ok {
		return nil, "", "", invalid("仅支持 JPEG 或 PNG 格式的图片")
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil || cfg.Width < 1 || cfg.Height < 1 {
		return nil, "", "", invalid("图片已损坏，无法识别")
	}
	if int64(cfg.Width)*int64(cfg.Height) > maxPixels {
		return nil, "", "", invalid("图片尺寸过大")
	}
	var img image.Image
	if ct == "image/jpeg" {
		img, err = jpeg.Decode(bytes.NewReader(data))
	} else {
		img, err = png.Decode(bytes.NewReader(data))
	}
	if err != nil {
		return nil, "", "", invalid("图片已损坏，无法识别")
	}
	var b bytes.Buffer
	if ct == "image/jpeg" {
		err = jpeg.Encode(&b, img, &jpeg.Options{Quality: 85})
	} else {
		err = png.Encode(&b, img)
	}
	if err != nil {
		return nil, "", "", err
	}
	return b.Bytes(), ct, ext, nil
}

// Create stores data as an image owned by ownerID, decoded and re-encoded
// (reencode). The type is sniffed from the bytes: JPEG and PNG are accepted.
// It returns 10001 for an empty file, another type, a corrupt or too large
// image, or more than upload.max_bytes, and 10007 when the owner reached
// upload.daily_count images or upload.daily_bytes bytes today, and 10503
// when the object store is full, read-only or unreachable.
func (s *UploadService) Create(ctx context.Context, ownerID int64, data []byte) (*UploadView, error) {
	cfg := s.deps.Config.Upload
	if len(data) == 0 {
		return nil, invalid("请选择要上传的图片")
	}
	if int64(len(data)) > cfg.MaxBytes {
		return nil, invalid("图片不能超过 %d MB", cfg.MaxBytes>>20)
	}
	clean, ct, ext, err := reencode(data, cfg.MaxPixels)
	if err != nil {
		return nil, err
	}
	key := randomHex(16) + "." + ext
	u := model.Upload{OwnerID: ownerID, Key: key, ContentType: ct, Size: int64(len(clean)), CreatedAt: s.deps.Clock.Now()}
	put := false
	err = s.deps.tx(ctx, func(tx *gorm.DB) error {
		// The owner's row is locked first so that concurrent uploads count
		// each other against the quota.
		if err := lockRow(tx, &model.User{}, ownerID); err != nil {
			return err
		}
		if err := s.checkQuota(ctx, tx, ownerID, u.Size); err != nil {
			return err
		}
		if err := tx.Create(&u).Error; err != nil {
			return err
		}
		put = true
		if err := s.deps.Objects.Put(ctx, key, ct, bytes.NewReader(clean)); err != nil {
			if DependencyDown(err) {
				return unavailable("图片存储暂时不可用，请稍后再试", err)
			}
			return err
		}
		return nil
	})
	if err != nil {
		if put {
			// No row names the file: remove it rather than leave an orphan.
			if derr := s.deps.Objects.Delete(context.WithoutCancel(ctx), key); derr != nil {
				s.deps.Logger.Error("upload: remove unrecorded file", "key", key, "error", derr.Error())
			}
		}
		return nil, err
	}
	return &UploadView{ID: u.ID, URL: s.deps.Objects.URL(key), ContentType: ct, Size: u.Size}, nil
}

// checkQuota returns 10007 when ownerID's uploads since the start of today
// (in the configured zone), with one more of size bytes, would pass
// upload.daily_count or upload.daily_bytes.
func (s *UploadService) checkQuota(ctx context.Context, tx *gorm.DB, ownerID, size int64) error {
	cfg := s.deps.Config.Upload
	if cfg.DailyCount <= 0 && cfg.DailyBytes <= 0 {
		return nil
	}
	now := s.deps.Clock.Now().In(s.deps.Config.Location)
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, now.Location())
	var used struct{ N, Bytes int64 }
	if err := tx.WithContext(ctx).Model(&model.Upload{}).Select("COUNT(*) AS n, COALESCE(SUM(size), 0) AS bytes").
		Where("owner_id = ? AND created_at >= ?", ownerID, day.UTC()).Scan(&used).Error; err != nil {
		return err
	}
	if (cfg.DailyCount > 0 && used.N+1 > int64(cfg.DailyCount)) || (cfg.DailyBytes > 0 && used.Bytes+size > cfg.DailyBytes) {
		e := Errorf(CodeRateLimited, "今天上传的图片已达上限，请明天再试")
		e.RetryAfter = day.AddDate(0, 0, 1).Sub(now)
		return e
	}
	return nil
}

// Open returns a stored file for the local file route. A private photo
// (fulfilment or service record) needs the exp and sig of a signed URL
// handed out by a view. It returns 10005 for a key that is malformed or not
// stored and 10004 for a private photo without a valid, unexpired
// signature.
func (s *UploadService) Open(ctx context.Context, key, exp, sig string) (f io.ReadSeekCloser, private bool, err error) {
	if !objstore.ValidKey(key) {
		return nil, false, notFound("文件")
	}
	var u model.Upload
	if err := s.deps.DB.WithContext(ctx).Select("id", "purpose", "check_status").Where(map[string]any{"key": key}).Limit(1).Find(&u).Error; err != nil {
		return nil, false, err
	}
	if u.ID == 0 || u.CheckStatus == model.CheckRisky {
		return nil, false, notFound("文件")
	}
	if u.Purpose.Private() && !s.validSignature(key, exp, sig) {
		return nil, true, forbidden("图片链接无效或已过期")
	}
	f, _, err = s.deps.Objects.Open(ctx, key)
	if errors.Is(err, objstore.ErrNotFound) {
		return nil, false, notFound("文件")
	}
	return f, u.Purpose.Private(), err
}

// urlKey is the HMAC key of signed URLs: upload.url_secret, or one derived
// from jwt.secret.
func (s *UploadService) urlKey() []byte {
	if k := s.deps.Config.Upload.URLSecret; k != "" {
		return []byte(k)
	}
	m := hmac.New(sha256.New, []byte(s.deps.Config.JWT.Secret))
	m.Write([]byte("linli upload url v1"))
	return m.Sum(nil)
}

// signature is the HMAC of key and expiry, as 32 hex digits.
func (s *UploadService) signature(key, exp string) string {
	m := hmac.New(sha256.New, s.urlKey())
	m.Write([]byte(key + "|" + exp))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// signedURL returns key's URL with an expiry upload.url_ttl from now (on a
// minute boundary, so repeated views give the same URL for a while) and
// its signature.
func (s *UploadService) signedURL(key string) string {
	exp := strconv.FormatInt(s.deps.Clock.Now().Add(s.deps.Config.Upload.URLTTL).Truncate(time.Minute).Unix(), 10)
	return s.deps.Objects.URL(key) + "?exp=" + exp + "&sig=" + s.signature(key, exp)
}

// validSignature reports whether sig signs key and exp and exp is still
// ahead.
func (s *UploadService) validSignature(key, exp, sig string) bool {
	n, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || s.deps.Clock.Now().Unix() > n {
		return false
	}
	return hmac.Equal([]byte(sig), []byte(s.signature(key, exp)))
}

// url returns the URL of an upload as its viewers get it: signed when the
// upload is private.
func (s *UploadService) url(key string, p model.UploadPurpose) string {
	if p.Private() {
		return s.signedURL(key)
	}
	return s.deps.Objects.URL(key)
}

// ownImages checks that every id names an upload owned by ownerID and
// returns the ids, de-duplicated in order. It returns 10001 for more than
// MaxImagesPerItem images or an unknown id, and 10004 for someone else's
// upload.
func (s *UploadService) ownImages(ctx context.Context, db *gorm.DB, ownerID int64, ids []int64) ([]int64, error) {
	rows, err := s.ownUploads(ctx, db, ownerID, ids, MaxImagesPerItem)
	out := make([]int64, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.ID)
	}
	if len(out) == 0 {
		out = nil
	}
	return out, err
}

// attach marks the uploads ids as attached for purpose p to an item of
// communityID. An upload is attached once, by one conditional UPDATE;
// goods photos (public) may be shared by several goods. Every purpose but
// goods (staff's own) enters the image check (startCheck). It returns
// 10001 when an upload is attached already (or was removed as unused
// meanwhile).
func (s *UploadService) attach(ctx context.Context, tx *gorm.DB, ids []int64, p model.UploadPurpose, communityID int64) error {
	if len(ids) == 0 {
		return nil
	}
	from := []model.UploadPurpose{model.UploadUnused}
	if p == model.UploadGoods {
		from = append(from, model.UploadGoods)
	}
	res := tx.WithContext(ctx).Model(&model.Upload{}).Where("id IN ? AND purpose IN ?", ids, from).Update("purpose", p)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected != int64(len(ids)) {
		return invalid("图片已被使用，请重新上传")
	}
	if p == model.UploadGoods {
		return nil
	}
	return s.startCheck(ctx, tx, ids, communityID)
}

// attachOwn checks that ids (at most max) are uploads of ownerID, attaches
// them for p and returns them in order, de-duplicated. It returns 10001 for
// too many images, an unknown one or one attached already, and 10004 for
// someone else's.
func (s *UploadService) attachOwn(ctx context.Context, tx *gorm.DB, ownerID int64, ids []int64, max int, p model.UploadPurpose, communityID int64) ([]model.Upload, error) {
	rows, err := s.ownUploads(ctx, tx, ownerID, ids, max)
	if err != nil {
		return nil, err
	}
	out := make([]int64, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.ID)
	}
	return rows, s.attach(ctx, tx, out, p, communityID)
}

// goodsImage checks that id is an upload of actorID or of another staff
// member of community, attaches it to goods and returns its URL. It returns
// 10001 for an unknown upload or one attached to something else, and 10004
// for anyone else's.
func (s *UploadService) goodsImage(ctx context.Context, tx *gorm.DB, authz *Authz, actorID int64, community *model.OrgUnit, id int64) (string, error) {
	var u model.Upload
	if err := tx.WithContext(ctx).Limit(1).Find(&u, id).Error; err != nil {
		return "", err
	}
	if u.ID == 0 {
		return "", invalid("图片不存在，请重新上传")
	}
	if u.OwnerID != actorID {
		staff, err := authz.IsStaff(ctx, tx, u.OwnerID, community)
		if err != nil {
			return "", err
		}
		if !staff {
			return "", forbidden("只能使用本社区工作人员上传的图片")
		}
	}
	if err := s.attach(ctx, tx, []int64{id}, model.UploadGoods, community.ID); err != nil {
		return "", err
	}
	return s.deps.Objects.URL(u.Key), nil
}

// ownUploads checks that every id names an upload owned by ownerID and
// returns them, de-duplicated, in the order of ids. It returns 10001 for
// more than max images or an unknown id, and 10004 for someone else's
// upload.
func (s *UploadService) ownUploads(ctx context.Context, db *gorm.DB, ownerID int64, ids []int64, max int) ([]model.Upload, error) {
	var out []int64
	seen := map[int64]bool{}
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	if len(out) > max {
		return nil, invalid("最多上传 %d 张图片", max)
	}
	if len(out) == 0 {
		return nil, nil
	}
	var rows []model.Upload
	if err := db.WithContext(ctx).Where("id IN ?", out).Find(&rows).Error; err != nil {
		return nil, err
	}
	if len(rows) != len(out) {
		return nil, invalid("图片不存在，请重新上传")
	}
	byID := make(map[int64]model.Upload, len(rows))
	for _, r := range rows {
		if r.OwnerID != ownerID {
			return nil, forbidden("不能使用他人上传的图片")
		}
		byID[r.ID] = r
	}
	ordered := make([]model.Upload, 0, len(out))
	for _, id := range out {
		ordered = append(ordered, byID[id])
	}
	return ordered, nil
}

// storedImage is an attached upload as a record keeps it: its id and key,
// so that views build URLs without another query.
type storedImage struct {
	ID  int64  `json:"id"`
	Key string `json:"key"`
}

// encodeStored keeps uploads in a text column as [{id, key}].
func encodeStored(rows []model.Upload) string {
	if len(rows) == 0 {
		return ""
	}
	imgs := make([]storedImage, 0, len(rows))
	for _, r := range rows {
		imgs = append(imgs, storedImage{ID: r.ID, Key: r.Key})
	}
	b, _ := json.Marshal(imgs)
	return string(b)
}

// storedIDs returns the upload ids of images kept by encodeStored.
func storedIDs(stored string) []int64 {
	var imgs []storedImage
	if stored == "" || json.Unmarshal([]byte(stored), &imgs) != nil {
		return nil
	}
	ids := make([]int64, 0, len(imgs))
	for _, im := range imgs {
		ids = append(ids, im.ID)
	}
	return ids
}

// privateViews returns the views, with signed URLs, of images kept by
// encodeStored, for their owner or staff: checks (checksOf) marks those
// not yet shown to others, a risky one without a URL. Anything else in the
// column (such as free-form strings stored before uploads were required)
// shows no image.
func (s *UploadService) privateViews(stored string, checks map[int64]model.UploadCheck) []UploadView {
	out := []UploadView{}
	var imgs []storedImage
	if stored == "" || json.Unmarshal([]byte(stored), &imgs) != nil {
		return out
	}
	infos := map[int64]imageInfo{}
	ids := make([]int64, 0, len(imgs))
	for _, im := range imgs {
		if objstore.ValidKey(im.Key) {
			infos[im.ID] = imageInfo{url: s.signedURL(im.Key), check: checks[im.ID]}
			ids = append(ids, im.ID)
		}
	}
	return imageViews(infos, ids, true)
}

// uploadSweepBatch bounds the uploads one sweep pass removes.
const uploadSweepBatch = 200

// Sweep removes uploads attached to nothing for upload.unused_ttl: the row
// first, by a conditional DELETE (an upload attached meanwhile stays), then
// the file. It returns how many it removed and the first error.
func (s *UploadService) Sweep(ctx context.Context) (int, error) {
	cutoff := s.deps.Clock.Now().Add(-s.deps.Config.Upload.UnusedTTL)
	db := s.deps.DB.WithContext(ctx)
	var rows []model.Upload
	if err := db.Select("id", "key").Where("purpose = ? AND created_at < ?", model.UploadUnused, cutoff).
		Order("id").Limit(uploadSweepBatch).Find(&rows).Error; err != nil {
		return 0, err
	}
	n := 0
	for _, r := range rows {
		res := db.Where("id = ? AND purpose = ?", r.ID, model.UploadUnused).Delete(&model.Upload{})
		if res.Error != nil {
			return n, res.Error
		}
		if res.RowsAffected == 0 {
			continue
		}
		n++
		if err := s.deps.Objects.Delete(ctx, r.Key); err != nil {
			s.deps.Logger.Error("upload sweep: remove file", "key", r.Key, "error", err.Error())
		}
	}
	return n, nil
}

// urls returns the URLs (signed for private ones: call it only for a
// caller who may see them) and check states of the uploads with the given
// ids, for imageViews; unknown ids are left out.
func (s *UploadService) urls(ctx context.Context, db *gorm.DB, ids []int64) (map[int64]imageInfo, error) {
	out := make(map[int64]imageInfo, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var rows []model.Upload
	if err := db.WithContext(ctx).Select("id", "key", "purpose", "check_status").Where("id IN ?", ids).Find(&rows).Error; err != nil {
		return nil, err
	}
	for _, r := range rows {
		out[r.ID] = imageInfo{url: s.url(r.Key, r.Purpose), check: r.CheckStatus}
	}
	return out, nil
}

// encodeIDs and decodeIDs keep a list of upload ids in a text column.
func encodeIDs(ids []int64) string {
	if len(ids) == 0 {
		return ""
	}
	b, _ := json.Marshal(ids)
	return string(b)
}

func decodeIDs(s string) []int64 {
	if s == "" {
		return nil
	}
	var ids []int64
	_ = json.Unmarshal([]byte(s), &ids)
	return ids
}
