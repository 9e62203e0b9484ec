package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"linli/service"
)

// multipartOverhead is what a multipart body may carry beyond the file:
// boundaries, part headers, small fields.
const multipartOverhead = 64 << 10

// UploadBodyLimit is the body limit of POST /uploads: the largest image plus
// the multipart overhead.
func UploadBodyLimit(maxFile int64) int64 { return maxFile + multipartOverhead }

// Upload serves POST /uploads (multipart/form-data, field "file") → 201
// {id, url}. The type is sniffed from the bytes and the image re-encoded; a
// file over upload.max_bytes is 413 10001, anything but a JPEG or PNG image
// is 400 10001, and past the daily quota 429 10007.
func (h *Handler) Upload(c *gin.Context) {
	max := h.opts.UploadMaxBytes
	tooBig := func(err error) {
		if err != nil {
			_ = c.Error(err)
		}
		abortWith(c, http.StatusRequestEntityTooLarge, service.CodeInvalid,
			fmt.Sprintf("图片不能超过 %d MB", max>>20))
	}
	mr, err := c.Request.MultipartReader()
	if err != nil {
		abortWith(c, http.StatusBadRequest, service.CodeInvalid, "请以 multipart/form-data 上传，文件字段名为 file")
		return
	}
	for {
		part, err := mr.NextPart()
		var mbe *http.MaxBytesError
		switch {
		case errors.Is(err, io.EOF):
			abortWith(c, http.StatusBadRequest, service.CodeInvalid, "缺少文件字段 file")
			return
		case errors.As(err, &mbe):
			tooBig(err)
			return
		case err != nil:
			_ = c.Error(err)
			abortWith(c, http.StatusBadRequest, service.CodeInvalid, "上传内容格式有误")
			return
		}
		if part.FormName() != "file" {
			_ = part.Close()
			continue
		}
		data, err := io.ReadAll(io.LimitReader(part, max+1))
		if errors.As(err, &mbe) {
			tooBig(err)
			return
		}
		if err != nil {
			_ = c.Error(err)
			abortWith(c, http.StatusBadRequest, service.CodeInvalid, "上传内容格式有误")
			return
		}
		if int64(len(data)) > max {
			tooBig(nil)
			return
		}
		v, err := h.svc.Uploads.Create(c.Request.Context(), userID(c), data)
		reply(c, http.StatusCreated, v, err)
		return
	}
}

// ServeFile serves GET /files/{name}?exp=&sig=: an uploaded image from the
// local object store, without sign-in (the name is 128 random bits). Wish
// and goods photos are public and cached for a year since a name is never
// reused; fulfilment and service-record photos need the signature of the
// URL a view handed out (403 10004 without a valid, unexpired one) and are
// cached privately.
func (h *Handler) ServeFile(c *gin.Context) {
	name := c.Param("name")
	f, private, err := h.svc.Uploads.Open(c.Request.Context(), name, c.Query("exp"), c.Query("sig"))
	if err != nil {
		fail(c, err)
		return
	}
	defer f.Close()
	c.Header("Content-Type", service.ContentTypeOfKey(name))
	c.Header("X-Content-Type-Options", "nosniff")
	if private {
		c.Header("Cache-Control", "private, max-age=300")
	} else {
		c.Header("Cache-Control", "public, max-age=31536000, immutable")
	}
	http.ServeContent(c.Writer, c.Request, name, time.Time{}, f)
}
