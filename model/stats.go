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

// MemberQuarterStats counts one member's approved service records of one
// quarter (Quarter is year*10+q, e.g. 20264, in the configured zone): per
// required kind and per month of the quarter. It is what the dashboard's
// obligation compliance reads instead of joining every member to their
// records. The services change it in the transaction that makes a record
// approved (or takes the approval back); `linli rebuild-stats` recomputes it
// from service_records.
type MemberQuarterStats struct {
	UserID int64 `gorm:"primaryKey;autoIncrement:false"`
	// ix_mqs_quarter holds every count a quarter's compliance tests, so
	// the dashboard finds the compliant members from the index alone.
	Quarter        int `gorm:"primaryKey;autoIncrement:false;index:ix_mqs_quarter,priority:1"`
	ContactHelp    int `gorm:"not null;default:0;index:ix_mqs_quarter,priority:2"`
	PostDuty       int `gorm:"not null;default:0;index:ix_mqs_quarter,priority:3"`
	PublicActivity int `gorm:"not null;default:0;index:ix_mqs_quarter,priority:4"`
	PracticalDeed  int `gorm:"not null;default:0;index:ix_mqs_quarter,priority:5"`
	Month1         int `gorm:"not null;default:0;index:ix_mqs_quarter,priority:6"`
	Month2         int `gorm:"not null;default:0;index:ix_mqs_quarter,priority:7"`
	Month3         int `gorm:"not null;default:0;index:ix_mqs_quarter,priority:8"`
}

// WishDayDurations is a histogram of wish durations: for the wishes of one
// community posted on one day (Day is yyyymmdd in the configured zone), how
// many took a duration in each bucket (service.durationBucket) from
// publication to the first claim (Kind 1) or from the claim to completion
// (Kind 2). The wish service adds to it in the transaction of the first
// claim and of the completion; `linli rebuild-stats` recomputes it from the
// wishes.
type WishDayDurations struct {
	CommunityID int64 `gorm:"primaryKey;autoIncrement:false"`
	Day         int   `gorm:"primaryKey;autoIncrement:false"`
	Kind        int   `gorm:"primaryKey;autoIncrement:false"`
	Bucket      int   `gorm:"primaryKey;autoIncrement:false"`
	N           int64 `gorm:"not null;default:0"`
}
