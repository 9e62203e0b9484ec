package model

import (
	"fmt"
	"strings"

	"gorm.io/gorm"
)

// mysqlTableOptions makes every table linli creates utf8mb4 whatever the
// database's default character set is: a database created with the
// server's default (often latin1) would otherwise get latin1 tables, and
// Chinese text compared with them fails with "Illegal mix of collations".
const mysqlTableOptions = "DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci"

// forMySQL returns db set to create utf8mb4 tables on MySQL/MariaDB, after
// checking that no linli table already exists in another character set
// (the error names them and how to convert them). Other databases are
// returned as they are.
func forMySQL(db *gorm.DB) (*gorm.DB, error) {
	if db.Dialector.Name() != "mysql" {
		return db, nil
	}
	var names []string
	for _, t := range tables() {
		stmt := &gorm.Statement{DB: db}
		if err := stmt.Parse(t); err != nil {
			return nil, err
		}
		names = append(names, stmt.Schema.Table)
	}
	var bad []struct {
		TableName      string
		TableCollation string
	}
	err := db.Raw(`SELECT TABLE_NAME AS table_name, TABLE_COLLATION AS table_collation FROM information_schema.TABLES
		WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ? AND TABLE_COLLATION NOT LIKE 'utf8mb4%'`, names).Scan(&bad).Error
	if err != nil {
		return nil, fmt.Errorf("check table character sets: %w", err)
	}
	if len(bad) > 0 {
		var list []string
		for _, b := range bad {
			list = append(list, b.TableName+" ("+b.TableCollation+")")
		}
		return nil, fmt.Errorf("tables %s are not utf8mb4: convert each with ALTER TABLE … CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci, or create the database with CHARACTER SET utf8mb4", strings.Join(list, ", "))
	}
	return db.Set("gorm:table_options", mysqlTableOptions).Session(&gorm.Session{}), nil
}
