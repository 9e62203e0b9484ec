package service

import (
	"context"
	"maps"
	"slices"
	"strings"

	"gorm.io/gorm"

	"linli/model"
)

// AuditContentFlagClear is the audit action of staff clearing a content flag.
const AuditContentFlagClear = "content_flag.clear"

// checkedText is a user text that passed the content check (or was let
// through for review): where it is stored and the flag to record.
type checkedText struct {
	Field string
	Text  string
	Flag  string
}

// checkUserText runs the content check on the texts (field → text; empty
// texts are skipped) written by userID, before any transaction: the
// checker may call WeChat. It returns 10008 when one is risky (nothing may
// then be stored) and otherwise the texts that must be flagged for staff
// (review verdict or checker unreachable).
func (s *ContentService) checkUserText(ctx context.Context, db *gorm.DB, userID int64, texts map[string]string) ([]checkedText, error) {
	var u model.User
	if err := db.WithContext(ctx).Select("id", "open_id").Limit(1).Find(&u, userID).Error; err != nil {
		return nil, err
	}
	var flagged []checkedText
	for _, field := range slices.Sorted(maps.Keys(texts)) {
		text := texts[field]
		if strings.TrimSpace(text) == "" {
			continue
		}
		flag, err := s.check(ctx, u.OpenID, "", text)
		if err != nil {
			return nil, err
		}
		if flag != "" {
			flagged = append(flagged, checkedText{Field: field, Text: text, Flag: flag})
		}
	}
	return flagged, nil
}

// flagTexts stores a content flag for each flagged text of the object inside
// tx, the transaction that stores the texts. communityID is whose staff
// review them (0 when none).
func (s *ContentService) flagTexts(tx *gorm.DB, flagged []checkedText, kind string, id, userID, communityID int64) error {
	for _, f := range flagged {
		row := model.ContentFlag{ObjectKind: kind, ObjectID: id, Field: f.Field, Excerpt: truncateRunes(f.Text, 80),
			Flag: f.Flag, UserID: userID, CommunityID: communityID, Status: model.ContentFlagPending}
		if err := tx.Create(&row).Error; err != nil {
			return err
		}
	}
	return nil
}

// ContentReviewService lets staff clear the content flags of their subtree
// once they have looked at the text.
type ContentReviewService struct {
	deps  Deps
	authz *Authz
}

// ContentFlagView is a content flag as staff see it.
type ContentFlagView struct {
	ID          int64  `json:"id"`
	ObjectKind  string `json:"objectKind"`
	ObjectID    int64  `json:"objectId"`
	Field       string `json:"field"`
	Excerpt     string `json:"excerpt"`
	Flag        string `json:"flag"`
	UserID      int64  `json:"userId"`
	CommunityID int64  `json:"communityId"`
	Status      string `json:"status"`
}

// Clear marks a pending content flag reviewed, audited. It returns 10005 for
// an unknown flag, 10004 unless the caller is staff of its community (or
// above) and 10006 when it was already cleared.
func (s *ContentReviewService) Clear(ctx context.Context, actorID, id int64) (*ContentFlagView, error) {
	var out ContentFlagView
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		var f model.ContentFlag
		if err := tx.First(&f, id).Error; err != nil {
			return notFoundOr(err, "内容标记")
		}
		if f.CommunityID == 0 {
			return forbidden("该内容不属于任何社区，无权处理")
		}
		if _, err := s.authz.RequireStaff(ctx, tx, actorID, f.CommunityID); err != nil {
			return err
		}
		now := s.deps.Clock.Now().UTC()
		res := tx.Model(&model.ContentFlag{}).Where("id = ? AND status = ?", id, model.ContentFlagPending).
			Updates(map[string]any{"status": model.ContentFlagCleared, "cleared_by": actorID, "cleared_at": now})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return conflict("该内容已处理")
		}
		f.Status = model.ContentFlagCleared
		out = ContentFlagView{ID: f.ID, ObjectKind: f.ObjectKind, ObjectID: f.ObjectID, Field: f.Field, Excerpt: f.Excerpt,
			Flag: f.Flag, UserID: f.UserID, CommunityID: f.CommunityID, Status: f.Status}
		return s.deps.audit(ctx, tx, auditEvent{Actor: actorID, Org: f.CommunityID, Action: AuditContentFlagClear,
			ObjectKind: "content_flag", ObjectID: f.ID, Before: map[string]any{"status": model.ContentFlagPending},
			After: map[string]any{"status": model.ContentFlagCleared}})
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}
