package api

import (
	"net/http"
	"strconv"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/manage"
)

// pageQuery reads ?limit=&cursor=&q= of a paged list of keys, members or roles.
func pageQuery(r *http.Request) (keyward.Page, error) {
	p, _, err := readPage(r, manage.PageDefaultLimit, manage.PageMaxLimit)
	return p, err
}

// readPage reads ?limit=&cursor=&q= of a paged list whose pages hold def items unless limit asks
// for 1 to max, and returns the other parameters the list takes, named in also. What a search may
// hold is manage's rule. Nothing the caller sent is repeated in a message: it comes from a URL
// that may be logged or shown.
func readPage(r *http.Request, def, max int, also ...string) (keyward.Page, map[string]string, error) {
	q, err := query(r, append([]string{"limit", "cursor", "q"}, also...)...)
	if err != nil {
		return keyward.Page{}, nil, err
	}
	p := keyward.Page{Limit: def, Cursor: q["cursor"], Search: q["q"]}
	if v, ok := q["limit"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || !digits(v) || n < 1 || n > max {
			return keyward.Page{}, nil, invalid("Query parameter \"limit\" must be an integer from 1 to %d.", max)
		}
		p.Limit = n
	}
	if v, ok := q["cursor"]; ok {
		if err := checkCursor("cursor", v); err != nil {
			return keyward.Page{}, nil, err
		}
	}
	return p, q, nil
}

// checkCursor refuses an empty cursor sent as parameter name: a cursor is the "next" of a page.
func checkCursor(name, v string) error {
	if v == "" {
		return invalid("Query parameter %q must be the \"next\" of a previous page; leave it out for the first page.", name)
	}
	return nil
}

// nextCursor is a page's "next": null on the last page.
func nextCursor(next string) *string {
	if next == "" {
		return nil
	}
	return &next
}
