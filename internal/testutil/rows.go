package testutil

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"gorm.io/gorm"

	"linli/model"
)

// Rows is a snapshot of the number of rows of every table (model.Tables),
// taken by Harness.Rows to show that a refused request wrote nothing. The
// tests of one package run one after another, so the totals are stable even
// on a shared MySQL database.
type Rows struct {
	h      *Harness
	counts map[string]int64
}

// Rows counts the rows of every table in one query.
func (h *Harness) Rows() *Rows {
	h.T.Helper()
	return &Rows{h: h, counts: h.countRows()}
}

// Changes returns the tables whose row count differs now from the snapshot
// ("users 3→4, …"), or "" when none does.
func (r *Rows) Changes() string {
	r.h.T.Helper()
	now := r.h.countRows()
	var d []string
	for k, v := range now {
		if r.counts[k] != v {
			d = append(d, fmt.Sprintf("%s %d→%d", k, r.counts[k], v))
		}
	}
	sort.Strings(d)
	return strings.Join(d, ", ")
}

// WroteNothing fails t unless every table has as many rows as in the
// snapshot; what names the request in the message.
func (r *Rows) WroteNothing(t testing.TB, what string) {
	t.Helper()
	if d := r.Changes(); d != "" {
		t.Fatalf("%s wrote rows: %s", what, d)
	}
}

func (h *Harness) countRows() map[string]int64 {
	h.T.Helper()
	var parts []string
	for _, m := range model.Tables() {
		stmt := &gorm.Statement{DB: h.DB}
		if err := stmt.Parse(m); err != nil {
			h.T.Fatalf("parse %T: %v", m, err)
		}
		parts = append(parts, fmt.Sprintf("SELECT '%s' AS name, COUNT(*) AS n FROM %s", stmt.Schema.Table, stmt.Quote(stmt.Schema.Table)))
	}
	var rows []struct {
		Name string
		N    int64
	}
	if err := h.DB.Raw(strings.Join(parts, " UNION ALL ")).Scan(&rows).Error; err != nil {
		h.T.Fatalf("count rows: %v", err)
	}
	out := make(map[string]int64, len(rows))
	for _, r := range rows {
		out[r.Name] = r.N
	}
	return out
}
