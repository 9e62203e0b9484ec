package service

import "gorm.io/gorm"

// ExportRecordsPersonal calls VolunteerRecordService.exportPersonal, which
// the lead wires into GET /me/data-export.
func ExportRecordsPersonal(s *Service, tx *gorm.DB, userID int64) (map[string]any, error) {
	return s.Records.exportPersonal(tx, userID)
}

// EraseRecordsPersonal calls VolunteerRecordService.erasePersonal, which
// the lead wires into DELETE /me.
func EraseRecordsPersonal(s *Service, tx *gorm.DB, userID int64) error {
	return s.Records.erasePersonal(tx, userID)
}
