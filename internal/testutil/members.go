package testutil

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"mime/multipart"
	"net/textproto"
	"time"

	"linli/model"
)

// MustPartyMember gives userID an approved, active member report to
// communityID directly in the database (the party_member role).
func (h *Harness) MustPartyMember(userID, communityID int64) model.MemberReport {
	h.T.Helper()
	now := time.Now()
	r := model.MemberReport{
		UserID: userID, CommunityID: communityID, RealName: "测试党员", Phone: "13900000000",
		Mode: model.ModeDaily, Status: model.ReviewApproved, ActiveUserID: &userID, ReviewedAt: &now,
	}
	if err := h.DB.Create(&r).Error; err != nil {
		h.T.Fatalf("party member: %v", err)
	}
	h.Changed(userID)
	return r
}

// MustUnitLiaison creates an approved unit in communityID with userID as
// its liaison (the unit_liaison role) directly in the database, and returns
// the unit.
func (h *Harness) MustUnitLiaison(userID, communityID int64) model.Unit {
	h.T.Helper()
	u := model.Unit{Name: "测试单位" + randomHex(3), Kind: model.UnitStateOwned, CommunityID: communityID,
		Status: model.ReviewApproved, CreatedBy: userID}
	if err := h.DB.Create(&u).Error; err != nil {
		h.T.Fatalf("unit: %v", err)
	}
	if err := h.DB.Create(&model.UnitLiaison{UnitID: u.ID, UserID: userID}).Error; err != nil {
		h.T.Fatalf("unit liaison: %v", err)
	}
	h.Changed(userID)
	return u
}

// Multipart returns a multipart/form-data body with one file part and its
// Content-Type header.
func Multipart(field, filename string, data []byte) ([]byte, string) {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	hdr := make(textproto.MIMEHeader)
	hdr.Set("Content-Disposition", `form-data; name="`+field+`"; filename="`+filename+`"`)
	hdr.Set("Content-Type", "application/octet-stream")
	part, _ := w.CreatePart(hdr)
	_, _ = part.Write(data)
	_ = w.Close()
	return b.Bytes(), w.FormDataContentType()
}

// Upload posts data as the multipart field "file" to POST /uploads.
func (h *Harness) Upload(token, filename string, data []byte) *Response {
	h.T.Helper()
	body, ct := Multipart("file", filename, data)
	return Send(h.T, h.Router, Request{Method: "POST", Path: "/uploads", Body: body, Token: token,
		Header: map[string]string{"Content-Type": ct}})
}

// PNG returns a tiny valid PNG image (8×8 pixels).
func PNG() []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, tinyImage()); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// JPEG returns a tiny valid JPEG image (8×8 pixels).
func JPEG() []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, tinyImage(), nil); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// tinyImage is an 8×8 picture with a colour gradient.
func tinyImage() image.Image {
	m := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for y := 0; y < 8; y++ {
		for x := 0; x < 8; x++ {
			m.Set(x, y, color.RGBA{R: uint8(x * 30), G: uint8(y * 30), B: 200, A: 255})
		}
	}
	return m
}

// WebP returns a small WebP image (uploads refuse WebP: it cannot be
// re-encoded with the standard library).
func WebP() []byte {
	return []byte("RIFF\x24\x00\x00\x00WEBPVP8 \x18\x00\x00\x000\x01\x00\x9d\x01\x2a\x01\x00\x01\x00\x02\x00\x34\x25\xa4\x00\x03\x70\x00\xfe\xfb\x94\x00\x00")
}
