package model

// CommunityStats holds the running counts of one community that the
// dashboard would otherwise count over a million rows: its residents (users
// whose home it is) and the registered volunteers among them. Both change in
// the transaction that changes a home or registers a volunteer;
// `linli rebuild-stats` recomputes them from the rows.
type CommunityStats struct {
	CommunityID int64 `gorm:"primaryKey;autoIncrement:false"`
	Residents   int64 `gorm:"not null;default:0"`
	Volunteers  int64 `gorm:"not null;default:0"`
}

// CommunityDayStats holds what one community's ledger accounts moved on one
// day (Day is yyyymmdd in the configured zone): minutes and points it issued
// (credits net of their reversals) and points spent with it (mall debits net
// of refunds). The time bank adds to the row in the transaction of each
// posting; `linli rebuild-stats` recomputes every row from the ledger.
type CommunityDayStats struct {
	CommunityID    int64 `gorm:"primaryKey;autoIncrement:false"`
	Day            int   `gorm:"primaryKey;autoIncrement:false"`
	MinutesIssued  int64 `gorm:"not null;default:0"`
	PointsIssued   int64 `gorm:"not null;default:0"`
	PointsRedeemed int64 `gorm:"not null;default:0"`
}
