package service

import (
	"fmt"
	"strings"

	"gorm.io/gorm"
)

// Appends in one round trip. Many writes of a transaction only add rows
// that nothing later in it reads: a wish's timeline event, an inbox row, an
// audit entry, a running figure. appendLater keeps such a write and the
// transaction sends all it kept together once its work is done, just before
// the commit: on MySQL/MariaDB as one multi-statement round trip (the DSN's
// multiStatements, see store.Pipelines), elsewhere one statement after the
// other (SQLite has no round trips to save). Either way the statements are
// the ones gorm builds for the calls, in the order they were kept, inside
// the same transaction: a failure fails the transaction, which rolls back.

// builtStmt is a statement built without running (dryRun): its SQL and
// arguments.
type builtStmt struct {
	sql  string
	vars []any
}

// dryRun calls build on a handle of tx that builds without running (gorm's
// DryRun) and returns the statement it made, or build's error.
func dryRun(tx *gorm.DB, build func(*gorm.DB) *gorm.DB) (builtStmt, error) {
	res := build(tx.Session(&gorm.Session{DryRun: true}))
	return builtStmt{sql: res.Statement.SQL.String(), vars: res.Statement.Vars}, res.Error
}

// joined returns statements as one multi-statement text and its arguments.
func joined(stmts []builtStmt) (string, []any) {
	var sql strings.Builder
	var vars []any
	for i, w := range stmts {
		if i > 0 {
			sql.WriteString(";\n")
		}
		sql.WriteString(w.sql)
		vars = append(vars, w.vars...)
	}
	return sql.String(), vars
}

// appendLater keeps the write build makes on tx for the end of the
// transaction tx (opened by Deps.tx): build is called at once on a handle
// that builds without running (dryRun) and must make exactly one
// statement (Create, Exec, Updates…), whose result nobody reads. Outside
// such a transaction the write runs at once. It returns build's error, or
// the write's when it runs at once; a kept write's error fails the
// transaction.
func appendLater(tx *gorm.DB, build func(*gorm.DB) *gorm.DB) error {
	hooks := hooksOf(tx)
	if hooks == nil {
		return build(tx).Error
	}
	w, err := dryRun(tx, build)
	if err != nil {
		return err
	}
	hooks.kept = append(hooks.kept, w)
	return nil
}

// sendKept sends the writes appendLater kept, in one round trip when the
// database pipelines, else one by one; it returns the first error.
func (h *txHooks) sendKept(tx *gorm.DB) error {
	kept := h.kept
	h.kept = nil
	if len(kept) == 0 {
		return nil
	}
	if !h.pipelined || len(kept) == 1 {
		for _, w := range kept {
			if err := tx.Exec(w.sql, w.vars...).Error; err != nil {
				return err
			}
		}
		return nil
	}
	sql, vars := joined(kept)
	return tx.Exec(sql, vars...).Error
}

// oneRow is a read of readTogether: build makes it on the handle it is
// given (Take or Find into dest) and dest receives its one row; when none
// comes, readTogether returns gorm.ErrRecordNotFound if required, else
// leaves dest as it was.
type oneRow struct {
	dest     any
	required bool
	build    func(*gorm.DB) *gorm.DB
}

// readTogether runs reads of one row each inside tx, in order: in one round
// trip when the transaction pipelines, else one by one. The server runs
// them one after the other either way, so a read after a locking read runs
// once the lock is granted. It returns the first error.
func readTogether(tx *gorm.DB, reads ...oneRow) error {
	if hooks := hooksOf(tx); hooks == nil || !hooks.pipelined {
		for _, r := range reads {
			res := r.build(tx)
			if res.Error != nil {
				return res.Error
			}
			if r.required && res.RowsAffected == 0 {
				return gorm.ErrRecordNotFound
			}
		}
		return nil
	}
	stmts := make([]builtStmt, len(reads))
	for i, r := range reads {
		var err error
		if stmts[i], err = dryRun(tx, r.build); err != nil {
			return err
		}
	}
	sql, vars := joined(stmts)
	rows, err := tx.Raw(sql, vars...).Rows()
	if err != nil {
		return err
	}
	defer rows.Close()
	for i, r := range reads {
		if i > 0 && !rows.NextResultSet() {
			if err := rows.Err(); err != nil {
				return err
			}
			return fmt.Errorf("readTogether: %d result sets for %d reads", i, len(reads))
		}
		found := false
		for rows.Next() {
			if !found {
				if err := tx.ScanRows(rows, r.dest); err != nil {
					return err
				}
				found = true
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if r.required && !found {
			return gorm.ErrRecordNotFound
		}
	}
	return rows.Close()
}
