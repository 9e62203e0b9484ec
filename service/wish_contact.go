package service

import (
	"context"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"linli/model"
)

// Contact details and claimers. A claimer needs the poster's phone and
// address to fulfil a wish, which makes claiming a way to harvest them:
// claim, read, release, again. Three rules close it:
//   - a claimer sees a wish's contact in one claim of it only (the first in
//     which it was shown); claiming the same wish again shows none;
//   - each time contact is shown to a claimer it is recorded (who, when,
//     which wish, which claim) for staff of the community to read
//     (ContactReveals);
//   - claims given back (released or lapsed) count against
//     wish.release_limit within wish.release_window (releaseLimitReached).

// CodeWishReleaseLimit is returned by Claim when the caller gave back
// wish.release_limit claims within wish.release_window.
const CodeWishReleaseLimit = 20007 // 409

// claimerOnly reports whether the caller sees a wish's contact only as its
// claimer: not as its poster, its creator or staff.
func (a wishAccess) claimerOnly() bool { return a.claimer && !a.poster && !a.creator && !a.staff }

// gateContacts applies the one-claim rule to views built for ws (same
// order): for each wish the caller sees only as claimer, the contact stays
// when no earlier claim of the caller was shown it, and that showing is
// recorded; otherwise it is removed. It returns the database's error.
func (s *WishService) gateContacts(ctx context.Context, db *gorm.DB, ws []model.Wish, vs []WishView, accessOf func(*model.Wish) wishAccess) error {
	var ids []int64
	callerID := int64(0)
	for i := range ws {
		if a := accessOf(&ws[i]); vs[i].Contact != nil && a.claimerOnly() {
			ids = append(ids, ws[i].ID)
			callerID = a.callerID
		}
	}
	if len(ids) == 0 {
		return nil
	}
	db = db.WithContext(ctx)
	var current []struct{ WishID, ClaimID int64 }
	if err := db.Model(&model.WishClaim{}).Select("wish_id, MAX(id) AS claim_id").
		Where("claimer_id = ? AND wish_id IN ?", callerID, ids).Group("wish_id").Scan(&current).Error; err != nil {
		return err
	}
	var shown []model.WishContactReveal
	if err := db.Where("viewer_id = ? AND wish_id IN ?", callerID, ids).Find(&shown).Error; err != nil {
		return err
	}
	claimOf := make(map[int64]int64, len(current))
	for _, c := range current {
		claimOf[c.WishID] = c.ClaimID
	}
	shownIn := make(map[int64]int64, len(shown))
	for _, r := range shown {
		shownIn[r.WishID] = r.ClaimID
	}
	now := s.deps.Clock.Now()
	var reveals []model.WishContactReveal
	for i := range ws {
		if vs[i].Contact == nil || !accessOf(&ws[i]).claimerOnly() {
			continue
		}
		claim, ok := claimOf[ws[i].ID]
		prev, seen := shownIn[ws[i].ID]
		switch {
		case !ok || (seen && prev != claim):
			vs[i].Contact = nil
		case !seen:
			reveals = append(reveals, model.WishContactReveal{WishID: ws[i].ID, ViewerID: callerID, ClaimID: claim, CreatedAt: now})
		}
	}
	if len(reveals) == 0 {
		return nil
	}
	// Two reads at once both insert; the unique index keeps the first.
	return db.Clauses(clause.OnConflict{DoNothing: true}).Create(&reveals).Error
}

// releaseLimitReached is the refusal of a claim by someone who gave back
// (released or let lapse) wish.release_limit claims since
// wish.release_window ago (counted by Claim inside its transaction, under
// the lock of the caller's row).
func releaseLimitReached(limit int) *Error {
	return Errorf(CodeWishReleaseLimit, "您近期放弃或超期未完成的认领已达 %d 次，暂时不能认领新的心愿", limit)
}

// ContactRevealView is one showing of a wish's contact details to a
// claimer.
type ContactRevealView struct {
	UserID     int64     `json:"userId"`
	Name       string    `json:"name"`
	ClaimID    int64     `json:"claimId"`
	RevealedAt time.Time `json:"revealedAt"`
}

// ContactReveals lists who among its claimers was shown a wish's contact
// details and when, oldest first, for staff of the wish's community. It
// returns 10004 for anyone else who may see the wish and 10005 for an
// unknown wish or one the caller may not see.
func (s *WishService) ContactReveals(ctx context.Context, callerID, id int64) ([]ContactRevealView, error) {
	db := s.deps.DB.WithContext(ctx)
	w, a, err := s.loadVisible(ctx, db, callerID, id)
	if err != nil {
		return nil, err
	}
	if !a.staff {
		return nil, forbidden("只有本社区工作人员可以查看联系方式的查看记录")
	}
	var rows []struct {
		ViewerID, ClaimID  int64
		CreatedAt          time.Time
		Nickname, RealName string
	}
	if err := db.Model(&model.WishContactReveal{}).
		Select("wish_contact_reveals.viewer_id, wish_contact_reveals.claim_id, wish_contact_reveals.created_at, users.nickname, users.real_name").
		Joins("LEFT JOIN users ON users.id = wish_contact_reveals.viewer_id").
		Where("wish_contact_reveals.wish_id = ?", w.ID).Order("wish_contact_reveals.id").Scan(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]ContactRevealView, 0, len(rows))
	for _, r := range rows {
		out = append(out, ContactRevealView{UserID: r.ViewerID, Name: displayName(&model.User{RealName: r.RealName, Nickname: r.Nickname}), ClaimID: r.ClaimID,
			RevealedAt: r.CreatedAt.In(s.deps.Config.Location)})
	}
	return out, nil
}
