package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// pageThrough reads a list with fetch, limit items a page, following the cursors, and returns
// the items in order; it fails when a page is over-full, when a page before the last is short,
// or when paging never ends.
func pageThrough[T any](t testing.TB, search string, limit int, fetch func(keyward.Page) ([]T, string, error)) []T {
	t.Helper()
	var all []T
	p := keyward.Page{Limit: limit, Search: search}
	for range 100 {
		items, next, err := fetch(p)
		must(t, err)
		if len(items) > limit || (next != "" && len(items) != limit) {
			t.Fatalf("search %q: a page of %d holds %d items (next %q)", search, limit, len(items), next)
		}
		all = append(all, items...)
		if next == "" {
			return all
		}
		p.Cursor = next
	}
	t.Fatal("paging never ends")
	return nil
}

// keyPages pages through a project's keys, limit at a time, and returns their names in order.
func keyPages(t *testing.T, s keyward.Store, projectID, search string, limit int) []string {
	t.Helper()
	var names []string
	for _, k := range pageThrough(t, search, limit, func(p keyward.Page) ([]*keyward.APIKey, string, error) {
		return s.APIKeyPage(t.Context(), projectID, p)
	}) {
		names = append(names, k.Name)
	}
	return names
}

func testAPIKeyPages(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	owner := newUser(t, s)
	p := newProject(t, s, owner)
	other := newProject(t, s, owner)

	// Seven keys, four of them created in the same microsecond, so that only the id orders them.
	var all []*keyward.APIKey
	for i, name := range []string{"web-a", "Web-b", "worker", "db-backup", "web-c", "deploy", "WEB-d", "productionServer1"} {
		k := newKey(t, s, p, name)
		if i >= 3 {
			must(t, s.DeleteAPIKey(ctx, p.ID, k.ID, t0))
			k.CreatedAt = t0.Add(time.Duration(i) * time.Second)
			must(t, s.CreateAPIKey(ctx, k))
		}
		all = append(all, k)
	}
	newKey(t, s, other, "web-other")
	slices.SortFunc(all, func(a, b *keyward.APIKey) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return compareStrings(a.ID, b.ID)
	})
	var want []string
	for _, k := range all {
		want = append(want, k.Name)
	}
	for _, limit := range []int{1, 2, 3, 7, 8, 9, 1000} {
		if got := keyPages(t, s, p.ID, "", limit); !slices.Equal(got, want) {
			t.Errorf("pages of %d: %q, want %q", limit, got, want)
		}
	}

	// A search is a name prefix, case and look-alikes ignored, in the order of names.Key (where
	// "1" sorts as "l"), or a key id.
	for search, want := range map[string][]string{
		"web":        {"web-a", "Web-b", "web-c", "WEB-d"},
		"WEB-":       {"web-a", "Web-b", "web-c", "WEB-d"},
		"w\u0435b-c": {"web-c"}, // Cyrillic е
		" de ":       {"deploy"},
		"d":          {"db-backup", "deploy"},
		"orker":      nil, // a prefix, not a substring
		"zzz":        nil,
		all[2].ID:    {all[2].Name},
		// Of the shape of a key id, but no key\'s: the beginning of a name.
		"productionServer": {"productionServer1"},
	} {
		for _, limit := range []int{1, 3, 100} {
			if got := keyPages(t, s, p.ID, search, limit); !slices.Equal(got, want) {
				t.Errorf("search %q, pages of %d: %q, want %q", search, limit, got, want)
			}
		}
	}
	// Another project's key is found neither by name nor by id.
	otherKeys, _, err := s.APIKeyPage(ctx, other.ID, keyward.Page{Limit: 10})
	must(t, err)
	for _, search := range []string{"web-other", otherKeys[0].ID} {
		if got := keyPages(t, s, p.ID, search, 10); len(got) != 0 {
			t.Errorf("search %q in the wrong project: %q", search, got)
		}
	}

	// A cursor works only for the list and the search it came from; in another project it is
	// a position and nothing more.
	first, next, err := s.APIKeyPage(ctx, p.ID, keyward.Page{Limit: 2, Search: "web"})
	must(t, err)
	if len(first) != 2 || next == "" {
		t.Fatalf("first page: %d keys, cursor %q", len(first), next)
	}
	_, _, err = s.APIKeyPage(ctx, p.ID, keyward.Page{Limit: 2, Search: "we", Cursor: next})
	wantCode(t, err, keyward.EINVALID)
	_, _, err = s.APIKeyPage(ctx, p.ID, keyward.Page{Limit: 2, Cursor: next})
	wantCode(t, err, keyward.EINVALID)
	rest, _, err := s.APIKeyPage(ctx, other.ID, keyward.Page{Limit: 10, Search: "web", Cursor: next})
	must(t, err)
	if len(rest) != 1 || rest[0].ProjectID != other.ID {
		t.Errorf("a cursor in another project: %v", rest)
	}
	for _, bad := range []string{"x", "!!!", "eyJsIjoibWVtYmVycyJ9" /* {"l":"members"} */, "e30" /* {} */} {
		_, _, err := s.APIKeyPage(ctx, p.ID, keyward.Page{Limit: 2, Cursor: bad})
		wantCode(t, err, keyward.EINVALID)
	}
	_, _, err = s.APIKeyPage(ctx, p.ID, keyward.Page{Limit: 0})
	wantCode(t, err, keyward.EINVALID)

	// An empty project has one empty page.
	empty := newProject(t, s, owner)
	keys, next, err := s.APIKeyPage(ctx, empty.ID, keyward.Page{Limit: 5})
	must(t, err)
	if len(keys) != 0 || keys == nil || next != "" {
		t.Errorf("empty project: %v, %q", keys, next)
	}
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func testMemberPages(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	owner := newUser(t, s)
	p := newProject(t, s, owner)
	emails := []string{owner.Email}
	var users []*keyward.User
	for i := range 5 {
		u := &keyward.User{ID: newID(t, keyward.PrefixUser), Email: fmt.Sprintf("Page%d-%s@example.com", i, randomString(t, 6)),
			PasswordHash: "x", CreatedAt: t0}
		must(t, s.CreateUser(ctx, u))
		must(t, s.PutMember(ctx, &keyward.Member{ProjectID: p.ID, UserID: u.ID, Permissions: []string{"members-view"}, CreatedAt: t0, UpdatedAt: t0}))
		users = append(users, u)
		emails = append(emails, strings.ToLower(u.Email))
	}
	slices.Sort(emails)
	paged := slices.DeleteFunc(slices.Clone(emails), func(e string) bool { return e == owner.Email })
	pages := func(search string, limit int) []string {
		var got []string
		pg := keyward.Page{Limit: limit, Search: search}
		for range 100 {
			ms, next, err := s.MemberPage(ctx, p.ID, pg)
			must(t, err)
			if len(ms) > limit {
				t.Fatalf("a page of %d holds %d members", limit, len(ms))
			}
			for _, m := range ms {
				got = append(got, m.Email)
			}
			if next == "" {
				return got
			}
			pg.Cursor = next
		}
		t.Fatal("paging never ends")
		return nil
	}
	for _, limit := range []int{1, 2, 6, 7} {
		if got := pages("", limit); !slices.Equal(got, emails) {
			t.Errorf("pages of %d: %q, want %q", limit, got, emails)
		}
	}
	for _, limit := range []int{1, 5} {
		if got := pages("PAGE", limit); !slices.Equal(got, paged) {
			t.Errorf("search PAGE, pages of %d: %q, want %q", limit, got, paged)
		}
		if got := pages(users[3].ID, limit); !slices.Equal(got, []string{users[3].Email}) {
			t.Errorf("search by user id: %q", got)
		}
		if got := pages("nobody", limit); len(got) != 0 {
			t.Errorf("search nobody: %q", got)
		}
	}
	_, next, err := s.MemberPage(ctx, p.ID, keyward.Page{Limit: 1, Search: "page"})
	must(t, err)
	_, _, err = s.MemberPage(ctx, p.ID, keyward.Page{Limit: 1, Cursor: next})
	wantCode(t, err, keyward.EINVALID)
	_, _, err = s.APIKeyPage(ctx, p.ID, keyward.Page{Limit: 1, Search: "page", Cursor: next})
	wantCode(t, err, keyward.EINVALID)
}
