package api

import (
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/manage"
)

// maxSearch bounds q: a name or an email address is far shorter.
const maxSearch = 200

// pageQuery reads ?limit=&cursor=&q= of a paged list. Nothing the caller sent is repeated in a
// message: it comes from a URL that may be logged or shown.
func pageQuery(r *http.Request) (keyward.Page, error) {
	q, err := query(r, "limit", "cursor", "q")
	if err != nil {
		return keyward.Page{}, err
	}
	p := keyward.Page{Limit: manage.PageDefaultLimit, Cursor: q["cursor"], Search: q["q"]}
	if v, ok := q["limit"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || !digits(v) || n < 1 || n > manage.PageMaxLimit {
			return keyward.Page{}, invalid("Query parameter \"limit\" must be an integer from 1 to %d.", manage.PageMaxLimit)
		}
		p.Limit = n
	}
	if v, ok := q["cursor"]; ok && v == "" {
		return keyward.Page{}, invalid("Query parameter \"cursor\" must be the \"next\" of a previous page; leave it out for the first page.")
	}
	if !utf8.ValidString(p.Search) || strings.ContainsRune(p.Search, 0) || utf8.RuneCountInString(p.Search) > maxSearch {
		return keyward.Page{}, invalid("Query parameter \"q\" must be at most %d characters of UTF-8 text, without NUL.", maxSearch)
	}
	return p, nil
}

// nextCursor is a page's "next": null on the last page.
func nextCursor(next string) *string {
	if next == "" {
		return nil
	}
	return &next
}
