package service

import (
	"context"

	"gorm.io/gorm"

	"linli/model"
)

// Each area's part of the data export and of account erasure (see
// personalData in privacy.go). An area's export names its kinds of rows;
// its erasure keeps the rows others rely on, with only the person's id.

// ---- Volunteers and activities ----

// exportPersonal returns the volunteer profile.
func (s *VolunteerService) exportPersonal(tx *gorm.DB, userID int64) (map[string]any, error) {
	rows, err := exportWhere[model.VolunteerProfile](tx, "user_id = ?", userID)
	if err != nil {
		return nil, err
	}
	return map[string]any{"volunteerProfile": rows}, nil
}

// erasePersonal deletes the volunteer profile (real name, phone, skills,
// availability) and takes the volunteer off their home community's count.
func (s *VolunteerService) erasePersonal(tx *gorm.DB, userID int64) error {
	res := tx.Where("user_id = ?", userID).Delete(&model.VolunteerProfile{})
	if res.Error != nil || res.RowsAffected == 0 {
		return res.Error
	}
	var u model.User
	if err := tx.Select("id", "home_community_id").First(&u, userID).Error; err != nil {
		return err
	}
	if u.HomeCommunityID != nil {
		return addCommunityStats(tx, *u.HomeCommunityID, 0, -1)
	}
	return nil
}

// exportPersonal returns the sign-ups and attendances.
func (s *ActivityService) exportPersonal(tx *gorm.DB, userID int64) (map[string]any, error) {
	rows, err := exportWhere[model.Attendance](tx, "user_id = ?", userID)
	if err != nil {
		return nil, err
	}
	return map[string]any{"attendances": rows}, nil
}

// erasePersonal keeps attendances: they hold no identifying field, and the
// activity's counts and the ledger credits rest on them.
func (s *ActivityService) erasePersonal(*gorm.DB, int64) error { return nil }

// ---- 双报到 ----

// exportPersonal returns member reports, unit liaisons, the units the
// person registered, service records, post places and certificates.
func (s *ReportService) exportPersonal(tx *gorm.DB, userID int64) (map[string]any, error) {
	out := map[string]any{}
	var err error
	read := func(key string, f func() ([]map[string]any, error)) {
		if err == nil {
			var rows []map[string]any
			rows, err = f()
			out[key] = rows
		}
	}
	read("memberReports", func() ([]map[string]any, error) {
		return exportWhere[model.MemberReport](tx, "user_id = ?", userID)
	})
	read("unitLiaisons", func() ([]map[string]any, error) {
		return exportWhere[model.UnitLiaison](tx, "user_id = ?", userID)
	})
	read("unitsRegistered", func() ([]map[string]any, error) { return exportWhere[model.Unit](tx, "created_by = ?", userID) })
	read("services", func() ([]map[string]any, error) {
		return exportWhere[model.ServiceRecord](tx, "user_id = ?", userID)
	})
	read("postClaims", func() ([]map[string]any, error) { return exportWhere[model.PostClaim](tx, "user_id = ?", userID) })
	read("certificates", func() ([]map[string]any, error) {
		return exportWhere[model.Certificate](tx, "user_id = ?", userID)
	})
	return out, err
}

// erasePersonal blanks the real name and phone of the member reports,
// ends the person's unit liaisons (the unit keeps its other liaison and
// its obligations), blanks a unit's contact where it was the person, drops
// the photos of their service records, and replaces the frozen content of
// their certificates (whose public check then answers "not genuine"; the
// number stays taken).
func (s *ReportService) erasePersonal(tx *gorm.DB, userID int64) error {
	var reports []model.MemberReport
	if err := tx.Select("id", "real_name", "phone").Where("user_id = ?", userID).Find(&reports).Error; err != nil {
		return err
	}
	var u model.User
	if err := tx.Select("id", "phone", "real_name").First(&u, userID).Error; err != nil {
		return err
	}
	names, phones := []string{}, []string{}
	add := func(list *[]string, v string) {
		if v != "" {
			*list = append(*list, v)
		}
	}
	add(&names, u.RealName)
	add(&phones, u.Phone)
	var v model.VolunteerProfile
	if err := tx.Select("id", "real_name", "phone").Where("user_id = ?", userID).Limit(1).Find(&v).Error; err != nil {
		return err
	}
	add(&names, v.RealName)
	add(&phones, v.Phone)
	for _, r := range reports {
		add(&names, r.RealName)
		add(&phones, r.Phone)
	}
	if err := tx.Model(&model.MemberReport{}).Where("user_id = ?", userID).
		Updates(map[string]any{"real_name": "", "phone": ""}).Error; err != nil {
		return err
	}
	var units []int64
	if err := tx.Model(&model.UnitLiaison{}).Where("user_id = ?", userID).Pluck("unit_id", &units).Error; err != nil {
		return err
	}
	if len(units) > 0 {
		if err := tx.Where("user_id = ?", userID).Delete(&model.UnitLiaison{}).Error; err != nil {
			return err
		}
		if err := tx.Model(&model.Unit{}).Where("id IN ? AND liaison_count > 0", units).
			Update("liaison_count", gorm.Expr("liaison_count - 1")).Error; err != nil {
			return err
		}
	}
	if len(phones) > 0 {
		if err := tx.Model(&model.Unit{}).Where("contact_phone IN ?", phones).
			Updates(map[string]any{"contact_phone": "", "contact_name": ""}).Error; err != nil {
			return err
		}
	}
	if len(names) > 0 {
		if err := tx.Model(&model.Unit{}).Where("created_by = ? AND contact_name IN ?", userID, names).
			Updates(map[string]any{"contact_phone": "", "contact_name": ""}).Error; err != nil {
			return err
		}
	}
	if err := tx.Model(&model.ServiceRecord{}).Where("user_id = ? AND images <> ''", userID).
		Update("images", "").Error; err != nil {
		return err
	}
	return tx.Model(&model.Certificate{}).Where("user_id = ?", userID).
		Update("content", `{"erased":true}`).Error
}

// ---- Micro-wishes ----

// exportPersonal returns the wishes the person posted (with contacts), the
// wishes they claimed, their claims and the contacts they were shown.
func (s *WishService) exportPersonal(tx *gorm.DB, userID int64) (map[string]any, error) {
	posted, err := exportWhere[model.Wish](tx, "poster_id = ? OR (created_by = ? AND proxy_by IS NULL)", userID, userID)
	if err != nil {
		return nil, err
	}
	claimed, err := exportWhere[model.Wish](tx, "claimer_id = ? OR id IN (?)", userID,
		tx.Session(&gorm.Session{NewDB: true}).Model(&model.WishClaim{}).Select("wish_id").Where("claimer_id = ?", userID))
	if err != nil {
		return nil, err
	}
	// A claimer sees a wish's contact only while the claim is theirs.
	for _, w := range claimed {
		if id, _ := w["posterId"].(*int64); id == nil || *id != userID {
			delete(w, "contactPhone")
			delete(w, "address")
			delete(w, "proxyPhone")
			delete(w, "posterName")
		}
	}
	claims, err := exportWhere[model.WishClaim](tx, "claimer_id = ?", userID)
	if err != nil {
		return nil, err
	}
	reveals, err := exportWhere[model.WishContactReveal](tx, "viewer_id = ?", userID)
	if err != nil {
		return nil, err
	}
	return map[string]any{"wishes": posted, "wishesClaimed": claimed, "wishClaims": claims, "wishContactsViewed": reveals}, nil
}

// erasePersonal blanks the contact phone, address, name, photos and
// comment of the wishes the person posted, and the photos of the
// fulfilments they made; the wishes and their timelines stay.
func (s *WishService) erasePersonal(tx *gorm.DB, userID int64) error {
	err := tx.Model(&model.Wish{}).Where("poster_id = ? OR (created_by = ? AND proxy_by IS NULL)", userID, userID).
		Updates(map[string]any{"contact_phone": "", "address": "", "proxy_phone": "", "poster_name": "",
			"images": "", "comment": "", "contact_redacted": true}).Error
	if err != nil {
		return err
	}
	return tx.Model(&model.Wish{}).Where("claimer_id = ? AND fulfil_images <> ''", userID).
		Update("fulfil_images", "").Error
}

// ---- Time bank and mall ----

// exportPersonal returns the accounts, every ledger entry on them, and the
// manual credits made to the person.
func (s *TimeBankService) exportPersonal(tx *gorm.DB, userID int64) (map[string]any, error) {
	accounts, err := exportWhere[model.Account](tx, "owner_kind = ? AND owner_id = ?", model.OwnerUser, userID)
	if err != nil {
		return nil, err
	}
	entries, err := exportWhere[model.LedgerEntry](tx, "account_id IN (?)",
		tx.Session(&gorm.Session{NewDB: true}).Model(&model.Account{}).Select("id").
			Where("owner_kind = ? AND owner_id = ?", model.OwnerUser, userID))
	if err != nil {
		return nil, err
	}
	credits, err := exportWhere[model.ManualCredit](tx, "user_id = ?", userID)
	if err != nil {
		return nil, err
	}
	return map[string]any{"accounts": accounts, "ledger": entries, "manualCredits": credits}, nil
}

// erasePersonal keeps the ledger as it is: it is append-only, names the
// person by account id only, and the community accounts' balances rest
// on it.
func (s *TimeBankService) erasePersonal(*gorm.DB, int64) error { return nil }

// exportPersonal returns the orders.
func (s *MallService) exportPersonal(tx *gorm.DB, userID int64) (map[string]any, error) {
	rows, err := exportWhere[model.MallOrder](tx, "user_id = ?", userID)
	if err != nil {
		return nil, err
	}
	return map[string]any{"orders": rows}, nil
}

// erasePersonal keeps orders: open ones were cancelled before, and the
// others are the community's record of what it handed out.
func (s *MallService) erasePersonal(*gorm.DB, int64) error { return nil }

// ---- Cases ----

// exportPersonal returns the cases the person reported and follows.
func (s *CaseService) exportPersonal(tx *gorm.DB, userID int64) (map[string]any, error) {
	cases, err := exportWhere[model.Case](tx, "reporter_id = ?", userID)
	if err != nil {
		return nil, err
	}
	follows, err := exportWhere[model.CaseFollower](tx, "user_id = ?", userID)
	if err != nil {
		return nil, err
	}
	return map[string]any{"cases": cases, "caseFollows": follows}, nil
}

// erasePersonal drops the photos and rating comment of the cases the
// person reported and stops them following others; a case's place and
// content stay, since the street's handling rests on them.
func (s *CaseService) erasePersonal(tx *gorm.DB, userID int64) error {
	if err := tx.Model(&model.Case{}).Where("reporter_id = ?", userID).
		Updates(map[string]any{"images": "", "comment": ""}).Error; err != nil {
		return err
	}
	if err := tx.Model(&model.Case{}).Where("resolved_by = ? AND resolve_images <> ''", userID).
		Update("resolve_images", "").Error; err != nil {
		return err
	}
	return tx.Where("user_id = ?", userID).Delete(&model.CaseFollower{}).Error
}

// ---- Notifications ----

// exportPersonal returns the inbox and the subscribe-message acceptances.
func (s *NotificationService) exportPersonal(tx *gorm.DB, userID int64) (map[string]any, error) {
	inbox, err := exportWhere[model.Notification](tx, "user_id = ?", userID)
	if err != nil {
		return nil, err
	}
	grants, err := exportWhere[model.SubscriptionGrant](tx, "user_id = ?", userID)
	if err != nil {
		return nil, err
	}
	return map[string]any{"notifications": inbox, "subscriptions": grants}, nil
}

// erasePersonal deletes the inbox, unsent and sent subscribe messages,
// acceptances and reminder marks: nobody else relies on them.
func (s *NotificationService) erasePersonal(tx *gorm.DB, userID int64) error {
	for _, m := range []any{&model.OutboxMessage{}, &model.Notification{}, &model.SubscriptionGrant{}, &model.Reminder{}} {
		if err := tx.Where("user_id = ?", userID).Delete(m).Error; err != nil {
			return err
		}
	}
	return nil
}

// ---- Uploads ----

// exportPersonal lists the uploads (the files come in the zip of GET
// /me/data-export.zip).
func (s *UploadService) exportPersonal(tx *gorm.DB, userID int64) (map[string]any, error) {
	rows, err := exportWhere[model.Upload](tx, "owner_id = ?", userID)
	if err != nil {
		return nil, err
	}
	return map[string]any{"uploads": rows}, nil
}

// erasePersonal deletes the person's uploads, rows now and files once the
// erasure commits, except mall goods images (the community's goods show
// them; only staff upload them). The areas above have already dropped
// their references to the photos.
func (s *UploadService) erasePersonal(tx *gorm.DB, userID int64) error {
	var rows []model.Upload
	if err := tx.Select("id", "key").Where("owner_id = ? AND purpose <> ?", userID, model.UploadGoods).
		Find(&rows).Error; err != nil {
		return err
	}
	if len(rows) == 0 {
		return nil
	}
	ids := make([]int64, 0, len(rows))
	for _, r := range rows {
		ids = append(ids, r.ID)
	}
	if err := tx.Where("id IN ?", ids).Delete(&model.Upload{}).Error; err != nil {
		return err
	}
	afterCommit(tx, func() {
		ctx := context.Background()
		for _, r := range rows {
			if err := s.deps.Objects.Delete(ctx, r.Key); err != nil {
				s.deps.Logger.Error("erase: remove file", "key", r.Key, "error", err.Error())
			}
		}
	})
	return nil
}
