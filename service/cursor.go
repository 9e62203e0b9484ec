package service

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// timeCursor is the position of a row in a feed ordered by (at, id), both
// descending or both ascending. Its text form is opaque to clients.
type timeCursor struct {
	At time.Time
	ID int64
}

// String returns the cursor as clients see it. The time keeps the offset it
// was read with, so that it compares with stored values as they were stored.
func (c timeCursor) String() string {
	return base64.RawURLEncoding.EncodeToString([]byte(c.At.Format(time.RFC3339Nano) + "|" + strconv.FormatInt(c.ID, 10)))
}

// parseTimeCursor reads a cursor made by timeCursor.String. It returns 10001
// for anything else.
func parseTimeCursor(s string) (timeCursor, error) {
	bad := invalid("cursor 无效，请从第一页重新加载")
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return timeCursor{}, bad
	}
	at, id, ok := strings.Cut(string(raw), "|")
	if !ok {
		return timeCursor{}, bad
	}
	t, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return timeCursor{}, bad
	}
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n < 1 {
		return timeCursor{}, bad
	}
	return timeCursor{At: t, ID: n}, nil
}
