package service

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"net"
	"strings"
	"syscall"

	"github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"
)

// msgUnavailable is the message of a 10503 answered because a store did not
// answer.
const msgUnavailable = "服务暂时不可用，请稍后再试"

// AsError returns the *Error a client hears for err: the *Error in its
// chain, 10503 when err says a dependency (database, Redis, object store) is
// down or did not answer in time (see DependencyDown) — also when an
// internal *Error wraps such a cause — and 10500 for anything else.
func AsError(err error) *Error {
	var se *Error
	if errors.As(err, &se) && se.Code != CodeInternal {
		return se
	}
	if DependencyDown(err) {
		return unavailable(msgUnavailable, err)
	}
	if se != nil {
		return se
	}
	return Wrap(CodeInternal, "服务器开小差了，请稍后再试", err)
}

// mysqlDown are the server errors that mean the database cannot serve the
// statement now rather than that the statement is wrong: lock wait timeout
// (left after dbtx's retries), too many connections, server shutdown, the
// connection or query killed, a read-only server (a replica or a primary
// during a failover).
var mysqlDown = map[uint16]bool{1205: true, 1040: true, 1053: true, 1317: true, 1927: true, 1290: true, 1792: true, 1836: true}

// DependencyDown reports whether err says that a store did not answer: a
// refused, reset or broken connection, a network timeout, the request's
// deadline passing, a closed pool, a MySQL/MariaDB server refusing work
// (mysqlDown), SQLite still locked after its busy timeout, or a file store
// that is full or read-only. Those are answered 503 10503, never 500.
func DependencyDown(err error) bool {
	if err == nil {
		return false
	}
	var ne net.Error
	var me *mysql.MySQLError
	switch {
	case errors.As(err, &ne), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, driver.ErrBadConn), errors.Is(err, mysql.ErrInvalidConn),
		errors.Is(err, sql.ErrConnDone), errors.Is(err, redis.ErrClosed), errors.Is(err, redis.ErrPoolTimeout),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	case errors.As(err, &me):
		return mysqlDown[me.Number]
	case StorageDown(err):
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "database is locked") || strings.Contains(msg, "SQLITE_BUSY") ||
		strings.Contains(msg, "sql: database is closed")
}

// StorageDown reports whether err says a file store cannot take writes: no
// space left, quota exceeded, or a read-only file system.
func StorageDown(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EROFS) || errors.Is(err, syscall.EDQUOT)
}

// ClientGone reports whether ctx ended because the client went away (its
// request was canceled) rather than because a deadline passed.
func ClientGone(ctx context.Context) bool {
	return errors.Is(ctx.Err(), context.Canceled)
}
