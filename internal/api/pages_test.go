package api

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keyward/keyward/client"
)

func TestKeyPages(t *testing.T) {
	e := newEnv(t)
	owner := e.user("owner@example.com", false)
	p := e.project("shop", owner, nil)
	tok := e.userToken(owner, "")
	var want []string
	for i := range 5 {
		k, _ := e.apiKey(p, fmt.Sprintf("web-%c", 'a'+i), "containers-view")
		want = append(want, k.ID)
	}
	ci, _ := e.apiKey(p, "ci", "containers-view")
	want = append(want, ci.ID)

	// Two at a time, every key once, in the order of the whole list.
	var whole client.Page[client.Key]
	e.do(req{method: "GET", path: "/v1/projects/shop/api-keys", token: tok}).expect(t, http.StatusOK).decode(t, &whole)
	if len(whole.Data) != len(want) || whole.Next != nil {
		t.Fatalf("whole list: %d keys, next %v", len(whole.Data), whole.Next)
	}
	var got []string
	path := "/v1/projects/shop/api-keys?limit=2"
	for range 10 {
		var page client.Page[client.Key]
		e.do(req{method: "GET", path: path, token: tok}).expect(t, http.StatusOK).decode(t, &page)
		for _, k := range page.Data {
			got = append(got, k.ID)
		}
		if page.Next == nil {
			break
		}
		path = "/v1/projects/shop/api-keys?limit=2&cursor=" + url.QueryEscape(*page.Next)
	}
	for i, k := range whole.Data {
		if i >= len(got) || got[i] != k.ID {
			t.Fatalf("paged %v, whole %v", got, whole.Data)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("paged %d keys, want %d", len(got), len(want))
	}

	// Search: a name prefix, or an id.
	for q, n := range map[string]int{"WEB-": 5, "web-c": 1, "c": 1, ci.ID: 1, "eb": 0} {
		var page client.Page[client.Key]
		e.do(req{method: "GET", path: "/v1/projects/shop/api-keys?q=" + url.QueryEscape(q), token: tok}).expect(t, http.StatusOK).decode(t, &page)
		if len(page.Data) != n || page.Data == nil {
			t.Errorf("q=%s: %d keys, want %d", q, len(page.Data), n)
		}
	}

	// Refused, without repeating what was sent.
	var first client.Page[client.Key]
	e.do(req{method: "GET", path: "/v1/projects/shop/api-keys?limit=1&q=web", token: tok}).expect(t, http.StatusOK).decode(t, &first)
	for _, q := range []string{"limit=0", "limit=1001", "limit=ten", "limit=+5", "limit=1&limit=2", "cursor=", "cursor=secretjunk",
		"cursor=" + url.QueryEscape(*first.Next), "cursor=" + url.QueryEscape(*first.Next) + "&q=w", "q=" + strings.Repeat("x", 201), "before=1"} {
		pr := e.do(req{method: "GET", path: "/v1/projects/shop/api-keys?" + q, token: tok}).expect(t, http.StatusBadRequest).problem(t)
		if strings.Contains(pr.Detail, "secretjunk") || strings.Contains(pr.Detail, *first.Next) {
			t.Errorf("%s: the problem repeats the input: %s", q, pr.Detail)
		}
	}
}

func TestMemberPages(t *testing.T) {
	e := newEnv(t)
	owner := e.user("owner@example.com", false)
	p := e.project("shop", owner, nil)
	tok := e.userToken(owner, "")
	for _, email := range []string{"ann@example.com", "bob@example.com", "Anna@Example.com"} {
		e.member(p, e.user(email, false), "containers-view")
	}
	var emails []string
	path := "/v1/projects/shop/members?limit=1&q=AN"
	for range 10 {
		var page client.Page[client.Member]
		e.do(req{method: "GET", path: path, token: tok}).expect(t, http.StatusOK).decode(t, &page)
		for _, m := range page.Data {
			emails = append(emails, m.Email)
		}
		if page.Next == nil {
			break
		}
		path = "/v1/projects/shop/members?limit=1&q=AN&cursor=" + url.QueryEscape(*page.Next)
	}
	if strings.Join(emails, " ") != "ann@example.com anna@example.com" {
		t.Errorf("members matching an: %q", emails)
	}
	var all client.Page[client.Member]
	e.do(req{method: "GET", path: "/v1/projects/shop/members", token: tok}).expect(t, http.StatusOK).decode(t, &all)
	if len(all.Data) != 4 || all.Next != nil {
		t.Errorf("all members: %d, next %v", len(all.Data), all.Next)
	}
	for _, q := range []string{"limit=0", "limit=1001", "cursor=x"} {
		e.do(req{method: "GET", path: "/v1/projects/shop/members?" + q, token: tok}).expect(t, http.StatusBadRequest).problem(t)
	}
}
