package main

import (
	"encoding/json"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
)

// printJSON writes v as indented JSON: what --json prints, for scripts and jq.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table writes aligned columns. Cells are cleaned of control characters, so that a name chosen by
// someone else cannot move the cursor or forge lines in the reader's terminal.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	t.row(header...)
	return t
}

func (t *table) row(cells ...string) {
	for i, c := range cells {
		cells[i] = printable(c)
	}
	io.WriteString(t.tw, strings.Join(cells, "\t")+"\n")
}

func (t *table) flush() error { return t.tw.Flush() }

// printable replaces control characters and tabs (which would break the columns) by U+FFFD.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.In(r, unicode.Bidi_Control) {
			return '\uFFFD'
		}
		return r
	}, s)
}

// when formats a time for a table, in UTC so that every reader sees the same text.
func when(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04Z")
}

// list joins names for a table cell, with a stand-in for an empty list.
func list(names []string, empty string) string {
	if len(names) == 0 {
		return empty
	}
	return strings.Join(names, ",")
}

// roleCell is the role a member or a key holds, for a table cell or a sentence.
func roleCell(role *string) string {
	if role == nil || *role == "" {
		return "-"
	}
	return *role
}
