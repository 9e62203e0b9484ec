package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"

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
	deps Deps
}

// UploadView is a stored image.
type UploadView struct {
	ID          int64  `json:"id"`
	URL         string `json:"url"`
	ContentType string `json:"contentType,omitempty"`
	Size        int64  `json:"size,omitempty"`
}

// sniffImage returns the content type and file extension of a JPEG, PNG or
// WebP image from its first bytes, or ok=false for anything else (whatever
// the file was called).
func sniffImage(b []byte) (contentType, ext string, ok bool) {
	switch {
	case len(b) >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF:
		return "image/jpeg", "jpg", true
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return "image/png", "png", true
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return "image/webp", "webp", true
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

// Create stores data as an image owned by ownerID. The type is sniffed from
// the bytes: JPEG, PNG and WebP are accepted. It returns 10001 for an empty
// file, another type, or more than upload.max_bytes.
func (s *UploadService) Create(ctx context.Context, ownerID int64, data []byte) (*UploadView, error) {
	if len(data) == 0 {
		return nil, invalid("请选择要上传的图片")
	}
	if int64(len(data)) > s.deps.Config.Upload.MaxBytes {
		return nil, invalid("图片不能超过 %d MB", s.deps.Config.Upload.MaxBytes>>20)
	}
	ct, ext, ok := sniffImage(data)
	if !ok {
		return nil, invalid("仅支持 JPEG、PNG 或 WebP 格式的图片")
	}
	key := randomHex(16) + "." + ext
	if err := s.deps.Objects.Put(ctx, key, ct, bytes.NewReader(data)); err != nil {
		return nil, err
	}
	u := model.Upload{OwnerID: ownerID, Key: key, ContentType: ct, Size: int64(len(data))}
	if err := s.deps.DB.WithContext(ctx).Create(&u).Error; err != nil {
		// No row names the file: remove it rather than leave an orphan.
		if derr := s.deps.Objects.Delete(context.WithoutCancel(ctx), key); derr != nil {
			s.deps.Logger.Error("upload: remove unrecorded file", "key", key, "error", derr.Error())
		}
		return nil, err
	}
	return &UploadView{ID: u.ID, URL: s.deps.Objects.URL(key), ContentType: ct, Size: u.Size}, nil
}

// Open returns a stored file for the local file route. It returns 10005 for
// a key that is malformed or not stored.
func (s *UploadService) Open(ctx context.Context, key string) (io.ReadSeekCloser, int64, error) {
	if !objstore.ValidKey(key) {
		return nil, 0, notFound("文件")
	}
	f, size, err := s.deps.Objects.Open(ctx, key)
	if errors.Is(err, objstore.ErrNotFound) {
		return nil, 0, notFound("文件")
	}
	return f, size, err
}

// ownImages checks that every id names an upload owned by ownerID and
// returns the ids, de-duplicated in order. It returns 10001 for more than
// MaxImagesPerItem images or an unknown id, and 10004 for someone else's
// upload.
func (s *UploadService) ownImages(ctx context.Context, db *gorm.DB, ownerID int64, ids []int64) ([]int64, error) {
	var out []int64
	seen := map[int64]bool{}
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	if len(out) > MaxImagesPerItem {
		return nil, invalid("最多上传 %d 张图片", MaxImagesPerItem)
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
	for _, r := range rows {
		if r.OwnerID != ownerID {
			return nil, forbidden("不能使用他人上传的图片")
		}
	}
	return out, nil
}

// urls returns the URLs of the uploads with the given ids; unknown ids are
// left out.
func (s *UploadService) urls(ctx context.Context, db *gorm.DB, ids []int64) (map[int64]string, error) {
	out := make(map[int64]string, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var rows []model.Upload
	if err := db.WithContext(ctx).Select("id", "key").Where("id IN ?", ids).Find(&rows).Error; err != nil {
		return nil, err
	}
	for _, r := range rows {
		out[r.ID] = s.deps.Objects.URL(r.Key)
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
