package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/internal/web"
	"github.com/keyward/keyward/revocation"
)

func TestAudit(t *testing.T) {
	e := newEnv(t)
	owner := e.user("owner@example.com", false)
	e.project("shop", owner, nil)
	tok := e.userToken(owner, "")
	var created client.Key
	e.do(req{method: "POST", path: "/v1/projects/shop/api-keys", token: tok, body: map[string]any{"name": "ci", "permissions": []string{"images-view"}}, remote: "203.0.113.9:1234"}).
		expect(t, http.StatusCreated).decode(t, &created)
	e.do(req{method: "DELETE", path: "/v1/projects/shop/api-keys/" + created.ID, token: tok, remote: "203.0.113.9:1234"}).expect(t, http.StatusNoContent)
	e.do(req{method: "PUT", path: "/v1/projects/shop/members/owner@example.com", token: tok, body: map[string]any{"permissions": e.srv.Catalog.Names()}}).expect(t, http.StatusOK)

	var page client.AuditPage
	e.do(req{method: "GET", path: "/v1/projects/shop/audit", token: tok}).expect(t, http.StatusOK).decode(t, &page)
	var actions []string
	for _, ev := range page.Data {
		actions = append(actions, ev.Action)
	}
	if len(actions) < 3 || actions[0] != keyward.AuditMemberChanged || actions[1] != keyward.AuditKeyDeleted || actions[2] != keyward.AuditKeyCreated {
		t.Fatalf("actions, newest first: %v", actions)
	}
	for _, ev := range page.Data[1:3] {
		if ev.Actor != "user:"+owner.ID || ev.IP != "203.0.113.9" || ev.Target != "key:"+created.ID {
			t.Errorf("event %+v", ev)
		}
	}
	if page.Next != nil {
		t.Errorf("next = %q on the only page", *page.Next)
	}

	// Page by one: the pages join up to the whole list, without gaps or repeats.
	var ids []int64
	path := "/v1/projects/shop/audit?limit=1"
	for range len(page.Data) + 1 {
		var p client.AuditPage
		e.do(req{method: "GET", path: path, token: tok}).expect(t, http.StatusOK).decode(t, &p)
		for _, ev := range p.Data {
			ids = append(ids, ev.ID)
		}
		if p.Next == nil {
			break
		}
		path = "/v1/projects/shop/audit?limit=1&cursor=" + *p.Next
	}
	if len(ids) != len(page.Data) {
		t.Fatalf("paged ids %v, want %d events", ids, len(page.Data))
	}
	for i, ev := range page.Data {
		if ids[i] != ev.ID {
			t.Errorf("paged ids %v differ from the full page", ids)
			break
		}
	}

	for _, q := range []string{"limit=0", "limit=201", "limit=ten", "limit=+5", "before=-1", "before=abc", "before=0", "limit=1&limit=2", "after=1", "cursor=abc", "cursor=1&before=1"} {
		e.do(req{method: "GET", path: "/v1/projects/shop/audit?" + q, token: tok}).expect(t, http.StatusBadRequest).problem(t)
	}
}

func TestRevocationFeed(t *testing.T) {
	e := newEnv(t)
	owner := e.user("owner@example.com", false)
	p := e.project("shop", owner, nil)
	k, _ := e.apiKey(p, "ci", "containers-view")
	_, keySession := e.session(&keyward.Session{Kind: keyward.SessionKey, KeyID: k.ID, ProjectID: p.ID}, nil)

	var page client.RevocationPage
	e.do(req{method: "GET", path: "/v1/revocations"}).expect(t, http.StatusOK).decode(t, &page)
	if len(page.Data) != 0 || page.Cursor != "0" {
		t.Fatalf("empty feed %+v", page)
	}
	e.do(req{method: "DELETE", path: "/v1/projects/shop/api-keys/" + k.ID, token: e.userToken(owner, "")}).expect(t, http.StatusNoContent)
	resp := e.do(req{method: "GET", path: "/v1/revocations?after=0"}).expect(t, http.StatusOK)
	resp.decode(t, &page)
	if !containsRevocation(page.Data, keyward.RevokedSession, keySession.ID) || !containsRevocation(page.Data, keyward.RevokedKey, k.ID) {
		t.Fatalf("the deleted key and its session are not in the feed: %+v", page.Data)
	}
	// The feed is public: it must not tell whose sessions and keys end.
	for _, private := range []string{p.ID, keySession.ID, k.ID, "revoked_at"} {
		if strings.Contains(string(resp.body), private) {
			t.Errorf("the feed shows %q: %s", private, resp.body)
		}
	}
	last := page.Cursor
	e.do(req{method: "GET", path: "/v1/revocations?after=" + last}).expect(t, http.StatusOK).decode(t, &page)
	if len(page.Data) != 0 || page.Cursor != last {
		t.Errorf("after the last cursor: %+v", page)
	}
	for _, q := range []string{"after=-1", "after=x", "after=01", "after=1&after=2", "before=1"} {
		e.do(req{method: "GET", path: "/v1/revocations?" + q}).expect(t, http.StatusBadRequest).problem(t)
	}
}

// containsRevocation reports whether the feed names the session or key id of kind, as a
// verifier holding a token with that id would look for it.
func containsRevocation(data []client.Revocation, kind, id string) bool {
	for _, r := range data {
		if r.Type == kind && r.ID == revocation.Name(kind, id) {
			return true
		}
	}
	return false
}

// sseEvent is one Server-Sent Event, or a comment when comment is set.
type sseEvent struct {
	id, data, comment string
}

// readEvents parses an event stream into a channel until the body ends.
func readEvents(body *bufio.Reader) <-chan sseEvent {
	out := make(chan sseEvent, 64)
	go func() {
		defer close(out)
		var ev sseEvent
		for {
			line, err := body.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimSuffix(line, "\n")
			switch {
			case line == "":
				if ev != (sseEvent{}) {
					out <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, ":"):
				ev.comment = strings.TrimSpace(line[1:])
			case strings.HasPrefix(line, "id: "):
				ev.id = line[4:]
			case strings.HasPrefix(line, "data: "):
				ev.data = line[6:]
			}
		}
	}()
	return out
}

// next waits for the next event matching keep; the generous deadline only turns a hang into a
// failure, it measures nothing.
func next(t *testing.T, events <-chan sseEvent, keep func(sseEvent) bool) sseEvent {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("the stream ended")
			}
			if keep(ev) {
				return ev
			}
		case <-deadline:
			t.Fatal("no matching event")
		}
	}
}

func TestRevocationStream(t *testing.T) {
	e := newEnv(t)
	e.srv.heartbeat = 20 * time.Millisecond
	e.handler = e.srv.Handler()
	ts := httptest.NewServer(e.handler)
	defer ts.Close()
	owner := e.user("owner@example.com", false)
	p := e.project("shop", owner, nil)
	ownerTok := e.userToken(owner, "")
	k1, _ := e.apiKey(p, "one", "containers-view")
	_, s1 := e.session(&keyward.Session{Kind: keyward.SessionKey, KeyID: k1.ID, ProjectID: p.ID}, nil)
	k2, _ := e.apiKey(p, "two", "containers-view")
	_, s2 := e.session(&keyward.Session{Kind: keyward.SessionKey, KeyID: k2.ID, ProjectID: p.ID}, nil)

	open := func(ctx context.Context, lastEventID string) (*http.Response, <-chan sseEvent) {
		r, err := http.NewRequestWithContext(ctx, "GET", ts.URL+"/v1/revocations", nil)
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("Accept", "text/event-stream")
		if lastEventID != "" {
			r.Header.Set("Last-Event-ID", lastEventID)
		}
		resp, err := ts.Client().Do(r)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("stream answered %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		checkResponse(t, req{method: "GET", path: "/v1/revocations"}, r.Header, nil, &response{status: resp.StatusCode, header: resp.Header})
		return resp, readEvents(bufio.NewReader(resp.Body))
	}

	ctx, cancel := context.WithCancel(context.Background())
	resp, events := open(ctx, "")
	next(t, events, func(ev sseEvent) bool { return ev.comment == "heartbeat" })

	// A deletion made after the stream started reaches it.
	e.do(req{method: "DELETE", path: "/v1/projects/shop/api-keys/" + k1.ID, token: ownerTok}).expect(t, http.StatusNoContent)
	first := next(t, events, func(ev sseEvent) bool { return ev.id != "" })
	var rev client.Revocation
	if err := json.Unmarshal([]byte(first.data), &rev); err != nil {
		t.Fatalf("event data %q: %v", first.data, err)
	}
	if rev.Cursor != first.id {
		t.Errorf("event id %q, cursor in data %q", first.id, rev.Cursor)
	}
	for ev := first; ; ev = next(t, events, func(ev sseEvent) bool { return ev.id != "" }) {
		if err := json.Unmarshal([]byte(ev.data), &rev); err != nil {
			t.Fatal(err)
		}
		for _, private := range []string{s1.ID, k1.ID, p.ID} {
			if strings.Contains(ev.data, private) {
				t.Errorf("the stream shows %q: %s", private, ev.data)
			}
		}
		if containsRevocation([]client.Revocation{rev}, keyward.RevokedSession, s1.ID) {
			break
		}
	}
	cancel()
	resp.Body.Close()

	// A reconnecting client resumes after Last-Event-ID: it gets the next deletion and nothing
	// from before.
	var page client.RevocationPage
	e.do(req{method: "GET", path: "/v1/revocations"}).expect(t, http.StatusOK).decode(t, &page)
	e.do(req{method: "DELETE", path: "/v1/projects/shop/api-keys/" + k2.ID, token: ownerTok}).expect(t, http.StatusNoContent)
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	resp2, events2 := open(ctx2, page.Cursor)
	defer resp2.Body.Close()
	ev := next(t, events2, func(ev sseEvent) bool { return ev.id != "" })
	if err := json.Unmarshal([]byte(ev.data), &rev); err != nil {
		t.Fatal(err)
	}
	if n, _ := strconv.ParseInt(ev.id, 10, 64); n <= mustInt(t, page.Cursor) || !containsRevocation([]client.Revocation{rev}, keyward.RevokedSession, s2.ID) && !containsRevocation([]client.Revocation{rev}, keyward.RevokedKey, k2.ID) {
		t.Errorf("first event after resuming from %s: id %s, %+v; want the second key's revocation", page.Cursor, ev.id, rev)
	}
}

func mustInt(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRevocationStreamEnds: the handler returns once the client goes away, so streams do not
// pile up.
func TestRevocationStreamEnds(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	r := httptest.NewRequestWithContext(ctx, "GET", "/v1/revocations", nil)
	r.Header.Set("Accept", "text/event-stream")
	done := make(chan struct{})
	w := httptest.NewRecorder()
	go func() {
		e.handler.ServeHTTP(w, r)
		close(done)
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the stream outlived its client")
	}
	if !strings.HasPrefix(w.Body.String(), "retry: 1000\n") {
		t.Errorf("stream began %q", w.Body.String())
	}
}

// TestProblems: each error code maps to its status in one place, and internal errors show
// nothing of their cause.
func TestProblems(t *testing.T) {
	e := newEnv(t)
	for _, tt := range []struct {
		err    error
		status int
	}{
		{keyward.Errorf(keyward.EINVALID, "m"), 400},
		{keyward.Errorf(keyward.EUNAUTHORIZED, "m"), 401},
		{keyward.Errorf(keyward.EFORBIDDEN, "m"), 403},
		{keyward.Errorf(keyward.ENOTFOUND, "m"), 404},
		{keyward.Errorf(keyward.ECONFLICT, "m"), 409},
		{keyward.Errorf(keyward.EUNAVAILABLE, "m"), 503},
		{fmt.Errorf("wrapped: %w", keyward.Errorf(keyward.ENOTFOUND, "m")), 404},
		{keyward.Errorf(keyward.EREFRESHREUSED, "m"), 500},
		{web.Errorf(http.StatusRequestEntityTooLarge, "m"), 413},
		{errors.New("sql: connection to 10.0.0.5 refused, password=hunter2"), 500},
	} {
		w := httptest.NewRecorder()
		e.srv.web.Fail(w, httptest.NewRequest("GET", "/v1/me", nil), tt.err)
		resp := &response{status: w.Code, header: w.Result().Header, body: w.Body.Bytes()}
		if resp.status != tt.status {
			t.Errorf("%v: status %d, want %d", tt.err, resp.status, tt.status)
			continue
		}
		p := resp.problem(t)
		if tt.status == 500 {
			if p.Detail != "Internal error." {
				t.Errorf("500 detail %q", p.Detail)
			}
		} else if p.Detail != "m" {
			t.Errorf("detail %q", p.Detail)
		}
		if tt.status == 401 && resp.header.Get("WWW-Authenticate") == "" {
			t.Error("401 without WWW-Authenticate")
		}
	}
	if !strings.Contains(e.logs.String(), "connection to 10.0.0.5 refused") {
		t.Error("the internal error was not logged")
	}
}

func TestUnknownRoutes(t *testing.T) {
	e := newEnv(t)
	e.do(req{method: "GET", path: "/v1/nothing"}).expect(t, http.StatusNotFound).problem(t)
	resp := e.do(req{method: "PATCH", path: "/v1/me"}).expect(t, http.StatusMethodNotAllowed)
	resp.problem(t)
	if !strings.Contains(resp.header.Get("Allow"), "GET") {
		t.Errorf("Allow = %q", resp.header.Get("Allow"))
	}
}
