package sqlstore

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/apikey"
	"github.com/keyward/keyward/internal/names"
)

// A cursor is the base64url of the JSON of pageCursor: the list it belongs to, the search it was
// made for, and the sort key of the last item of its page. It is opaque to callers, who only pass
// it back; it grants nothing, since every query is still confined to its project.
type pageCursor struct {
	List   string `json:"l"`           // "keys", "keys-by-name", "members" or "audit"
	Search string `json:"s,omitempty"` // the search the page was made for
	At     int64  `json:"t,omitempty"` // keys: created_at of the last key; audit: id of the last event
	Key    string `json:"k,omitempty"` // keys-by-name: name_key; members: email
	ID     string `json:"i,omitempty"` // keys: id of the last key
}

func (c pageCursor) encode() string {
	b, err := json.Marshal(c)
	if err != nil {
		panic(err) // strings and an integer always marshal
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor reads p.Cursor, made for list and search; the zero cursor when there is none.
// The message never repeats the cursor: it comes from a URL.
func decodeCursor(p keyward.Page, list, search string) (pageCursor, bool, error) {
	if p.Cursor == "" {
		return pageCursor{}, false, nil
	}
	bad := keyward.Errorf(keyward.EINVALID, "The cursor is not one this list returned; start again without it.")
	b, err := base64.RawURLEncoding.DecodeString(p.Cursor)
	if err != nil || len(p.Cursor) > 2048 {
		return pageCursor{}, false, bad
	}
	var c pageCursor
	// A NUL (which PostgreSQL refuses in text) or invalid UTF-8 is no sort key a page returned.
	if err := json.Unmarshal(b, &c); err != nil || c.List != list || !utf8.Valid(b) || strings.ContainsRune(c.Key+c.ID, 0) {
		return pageCursor{}, false, bad
	}
	if c.Search != search {
		return pageCursor{}, false, keyward.Errorf(keyward.EINVALID, "The cursor belongs to another search; start again without it.")
	}
	return c, true, nil
}

// prefixEnd returns the least string greater than every string that begins with prefix, in code
// point order (the order of SQLite's BINARY and PostgreSQL's "C" collation), so that
// prefix <= s < prefixEnd(prefix) is a prefix match an index serves. ok is false when no such
// string exists (the prefix is all U+10FFFF): then every string from prefix on matches.
func prefixEnd(prefix string) (end string, ok bool) {
	rs := []rune(prefix)
	for len(rs) > 0 {
		last := rs[len(rs)-1]
		if last < utf8.MaxRune {
			last++
			if last >= 0xD800 && last <= 0xDFFF { // surrogates are not characters
				last = 0xE000
			}
			rs[len(rs)-1] = last
			return string(rs), true
		}
		rs = rs[:len(rs)-1]
	}
	return "", false
}

// APIKeyPage returns one page of a project's keys and the next page's cursor ("" on the last).
// Without a search, keys come by (created_at, id); a search that is the id of one of the
// project's keys finds that key alone; any other search is a prefix of names.Lenient of the name, matched against
// the name_key column and ordered by (name_key, id). Each of those is a range of an index, so a
// page costs the same with 100 keys or 100,000. A key whose look-alike name predates the
// look-alike rule keeps a NULL name_key (see nameKeyMigration) and is found by its id only.
func (db *DB) APIKeyPage(ctx context.Context, projectID string, p keyward.Page) ([]*keyward.APIKey, string, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	if err := checkLimit(p.Limit); err != nil {
		return nil, "", err
	}
	search := strings.TrimSpace(p.Search)
	var (
		q    strings.Builder
		args = []any{projectID}
		list string
	)
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if apikey.ValidID(search) && p.Cursor == "" {
		// A search of the shape of a key id finds that key alone when it exists; otherwise it
		// is the beginning of a name like any other.
		k, err := scanAPIKey(db.r.QueryRowContext(ctx, "SELECT "+apiKeyRead+" FROM api_keys WHERE project_id = $1 AND id = $2", projectID, search))
		switch {
		case err == nil:
			return []*keyward.APIKey{k}, "", nil
		case !errors.Is(err, sql.ErrNoRows):
			return nil, "", fmt.Errorf("api key page: %w", err)
		}
	}
	q.WriteString("SELECT " + apiKeyRead + ", name_key FROM api_keys WHERE project_id = $1")
	switch {
	case search == "":
		list = "keys"
	default:
		list = "keys-by-name"
		prefix := names.Lenient(search)
		q.WriteString(" AND name_key >= " + arg(prefix))
		if end, ok := prefixEnd(prefix); ok {
			q.WriteString(" AND name_key < " + arg(end))
		}
	}
	c, after, err := decodeCursor(p, list, search)
	if err != nil {
		return nil, "", err
	}
	switch list {
	case "keys":
		if after {
			q.WriteString(" AND (created_at, id) > (" + arg(c.At) + ", " + arg(c.ID) + ")")
		}
		q.WriteString(" ORDER BY created_at, id")
	case "keys-by-name":
		if after {
			q.WriteString(" AND (name_key, id) > (" + arg(c.Key) + ", " + arg(c.ID) + ")")
		}
		q.WriteString(" ORDER BY name_key, id")
	}
	q.WriteString(" LIMIT " + arg(p.Limit+1))
	rows, err := db.r.QueryContext(ctx, q.String(), args...)
	if err != nil {
		return nil, "", fmt.Errorf("api key page: %w", err)
	}
	defer rows.Close()
	out := []*keyward.APIKey{}
	var lastKey string
	for rows.Next() {
		var nk sql.NullString
		k, err := scanAPIKey(scanPlus{rows, &nk})
		if err != nil {
			return nil, "", fmt.Errorf("api key page: %w", err)
		}
		if len(out) == p.Limit {
			next := pageCursor{List: list, Search: search, ID: out[len(out)-1].ID}
			if list == "keys" {
				next.At = micros(out[len(out)-1].CreatedAt)
			} else {
				next.Key = lastKey
			}
			return out, next.encode(), rows.Close()
		}
		out = append(out, k)
		lastKey = nk.String
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("api key page: %w", err)
	}
	return out, "", nil
}

// scanPlus scans a row whose last columns follow those a scan function reads.
type scanPlus struct {
	row   scanner
	extra any
}

func (s scanPlus) Scan(dest ...any) error { return s.row.Scan(append(dest, s.extra)...) }

// MemberPage returns one page of a project's members ordered by email, and the next page's
// cursor ("" on the last). A search keeps the member whose user id it is and the members whose
// email begins with it, lower-cased (emails are stored lower-cased). Members are people, a few
// hundred at most in a project, so the page is cut from the project's members without an index
// of its own.
func (db *DB) MemberPage(ctx context.Context, projectID string, p keyward.Page) ([]*keyward.Member, string, error) {
	return keyedList[*keyward.Member]{
		name: "members", base: memberSelect + " WHERE m.project_id = $1", args: []any{projectID},
		id: "m.user_id", key: "u.email", fold: strings.ToLower, scan: scanMember,
		keyOf: func(m *keyward.Member) string { return m.Email },
	}.page(ctx, db, p)
}

// keyedList is a list paged by one unique text column, its key: a search is an exact id or the
// beginning of a key, and a page starts after the key of the previous page's last row.
type keyedList[T any] struct {
	name  string // the cursor's list name, and the errors'
	base  string // SELECT … FROM … WHERE condition, whose placeholders are args
	args  []any
	id    string              // the column a search may equal
	key   string              // the sort column a search is a prefix of
	fold  func(string) string // a search as a key prefix
	scan  func(scanner) (T, error)
	keyOf func(T) string // the key of a row, for the next cursor
}

// page returns one page of l and the next page's cursor ("" on the last).
func (l keyedList[T]) page(ctx context.Context, db *DB, p keyward.Page) ([]T, string, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	if err := checkLimit(p.Limit); err != nil {
		return nil, "", err
	}
	search := strings.TrimSpace(p.Search)
	c, after, err := decodeCursor(p, l.name, search)
	if err != nil {
		return nil, "", err
	}
	var q strings.Builder
	args := append([]any(nil), l.args...)
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	q.WriteString(l.base)
	if search != "" {
		prefix := l.fold(search)
		q.WriteString(" AND (" + l.id + " = " + arg(search) + " OR (" + l.key + " >= " + arg(prefix))
		if end, ok := prefixEnd(prefix); ok {
			q.WriteString(" AND " + l.key + " < " + arg(end))
		}
		q.WriteString("))")
	}
	if after {
		q.WriteString(" AND " + l.key + " > " + arg(c.Key))
	}
	q.WriteString(" ORDER BY " + l.key + " LIMIT " + arg(p.Limit+1))
	rows, err := db.r.QueryContext(ctx, q.String(), args...)
	if err != nil {
		return nil, "", fmt.Errorf("%s page: %w", l.name, err)
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := l.scan(rows)
		if err != nil {
			return nil, "", fmt.Errorf("%s page: %w", l.name, err)
		}
		if len(out) == p.Limit {
			next := pageCursor{List: l.name, Search: search, Key: l.keyOf(out[len(out)-1])}
			return out, next.encode(), rows.Close()
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("%s page: %w", l.name, err)
	}
	return out, "", nil
}
