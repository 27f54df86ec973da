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

// TestAuditSearch: ?q= keeps the events of one key (by subject or bare id), of one person, or of
// a family of actions, newest first and page by page; its cursor holds for that search only, and
// another project's events are never found.
func TestAuditSearch(t *testing.T) {
	e := newEnv(t)
	owner := e.user("owner@example.com", false)
	e.project("shop", owner, nil)
	e.project("other", owner, nil)
	tok := e.userToken(owner, "")
	create := func(project, name string) client.Key {
		var k client.Key
		e.do(req{method: "POST", path: "/v1/projects/" + project + "/api-keys", token: tok, body: map[string]any{"name": name, "permissions": []string{"images-view"}}}).
			expect(t, http.StatusCreated).decode(t, &k)
		return k
	}
	ci := create("shop", "ci")
	web := create("shop", "web")
	elsewhere := create("other", "elsewhere")
	e.do(req{method: "PATCH", path: "/v1/projects/shop/api-keys/" + ci.ID, token: tok, body: map[string]any{"name": "ci2"}}).expect(t, http.StatusOK)
	e.do(req{method: "POST", path: "/v1/projects/shop/api-keys/" + ci.ID + "/roll", token: tok, body: map[string]any{"grace": "0s"}}).expect(t, http.StatusCreated)
	e.do(req{method: "PATCH", path: "/v1/projects/other/api-keys/" + elsewhere.ID, token: tok, body: map[string]any{"name": "moved"}}).expect(t, http.StatusOK)

	search := func(q string, limit int) []string {
		t.Helper()
		var got []string
		path := fmt.Sprintf("/v1/projects/shop/audit?limit=%d&q=%s", limit, url.QueryEscape(q))
		for range 10 {
			var page client.AuditPage
			e.do(req{method: "GET", path: path, token: tok}).expect(t, http.StatusOK).decode(t, &page)
			for _, ev := range page.Data {
				got = append(got, ev.Action+" "+ev.Target)
			}
			if page.Next == nil {
				return got
			}
			path = fmt.Sprintf("/v1/projects/shop/audit?limit=%d&q=%s&cursor=%s", limit, url.QueryEscape(q), url.QueryEscape(*page.Next))
		}
		t.Fatalf("q=%s: paging never ends", q)
		return nil
	}
	trail := []string{"api_key.rolled key:" + ci.ID, "api_key.updated key:" + ci.ID, "api_key.created key:" + ci.ID}
	for q, want := range map[string][]string{
		"key:" + ci.ID:        trail,
		ci.ID:                 trail,
		"api_key.updated":     trail[1:2],
		"api_key":             {trail[0], trail[1], "api_key.created key:" + web.ID, trail[2]},
		"user:" + owner.ID:    {trail[0], trail[1], "api_key.created key:" + web.ID, trail[2]},
		owner.ID:              {trail[0], trail[1], "api_key.created key:" + web.ID, trail[2]},
		elsewhere.ID:          nil,
		"key:" + elsewhere.ID: nil,
		"api":                 nil,
	} {
		for _, limit := range []int{1, 50} {
			if got := search(q, limit); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("q=%s, limit %d:\n%s\nwant\n%s", q, limit, strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		}
	}
	// A cursor of one search is refused with another, and so are bad searches, in the API's
	// problem format and without repeating the input.
	var first client.AuditPage
	e.do(req{method: "GET", path: "/v1/projects/shop/audit?limit=1&q=" + ci.ID, token: tok}).expect(t, http.StatusOK).decode(t, &first)
	var plain client.AuditPage
	e.do(req{method: "GET", path: "/v1/projects/shop/audit?limit=1", token: tok}).expect(t, http.StatusOK).decode(t, &plain)
	for q, detail := range map[string]string{
		"q=api_key&cursor=" + url.QueryEscape(*first.Next):       "another search",
		"cursor=" + url.QueryEscape(*first.Next):                 "another search",
		"q=" + ci.ID + "&cursor=" + url.QueryEscape(*plain.Next): "another search",
		"q=" + ci.ID + "&before=" + url.QueryEscape(*plain.Next): "another search",
		"q=" + strings.Repeat("x", 201):                          "search",
		"q=%00":                                                  "search",
		"q=%FF":                                                  "search",
		"q=a&q=b":                                                `"q"`,
	} {
		pr := e.do(req{method: "GET", path: "/v1/projects/shop/audit?" + q, token: tok}).expect(t, http.StatusBadRequest).problem(t)
		if !strings.Contains(pr.Detail, detail) || strings.Contains(pr.Detail, *first.Next) {
			t.Errorf("%s: problem %q, want it to say %s and not repeat the cursor", q, pr.Detail, detail)
		}
	}
}
