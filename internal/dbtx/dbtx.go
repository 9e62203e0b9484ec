// Package dbtx runs database transactions and retries the ones a database
// aborted to break a deadlock or a lock wait (MySQL/MariaDB 1213 and 1205,
// SQLite "database is locked"), so concurrent requests on the same rows
// succeed instead of failing with a 500.
package dbtx

import (
	"context"
	"database/sql"
	"errors"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"gorm.io/gorm"
)

// MaxAttempts is how often a transaction is tried before its error is returned.
const MaxAttempts = 8

// Run runs fn in a transaction of db bound to ctx, and runs it again (up to
// MaxAttempts in all) when the database aborted it as a deadlock victim or a
// lock wait. fn must therefore be safe to run more than once: it may only
// change the database through tx. opts, when given, are the transaction's
// options (its isolation level). It returns fn's error, or the commit's.
func Run(ctx context.Context, db *gorm.DB, fn func(tx *gorm.DB) error, opts ...*sql.TxOptions) error {
	var err error
	for attempt := 1; ; attempt++ {
		err = db.WithContext(ctx).Transaction(fn, opts...)
		if err == nil || attempt >= MaxAttempts || !Retryable(err) {
			return err
		}
		wait := time.Duration(attempt*attempt)*time.Millisecond + time.Duration(rand.IntN(5000))*time.Microsecond
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

// Retryable reports whether err aborted a transaction that may simply be
// run again.
func Retryable(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1213 || me.Number == 1205
	}
	msg := err.Error()
	return strings.Contains(msg, "database is locked") || strings.Contains(msg, "SQLITE_BUSY")
}
