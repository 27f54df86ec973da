package main

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/middleware"
)

// serveAs sends a request to the routes as if the middleware had admitted caller.
func serveAs(s *store, caller *middleware.Caller, method, path, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if caller != nil {
		r = r.WithContext(middleware.NewContext(r.Context(), caller))
	}
	w := httptest.NewRecorder()
	routes(s).ServeHTTP(w, r)
	return w
}

func TestRoutes(t *testing.T) {
	manager := &middleware.Caller{Subject: "key:K", Project: "prj_a", Permissions: []string{"containers-view", "containers-manage"}}
	viewer := &middleware.Caller{Subject: "key:V", Project: "prj_a", Permissions: []string{"containers-view"}}
	unbound := &middleware.Caller{Subject: "user:u", Permissions: []string{"containers-view", "containers-manage"}}
	tests := []struct {
		name         string
		caller       *middleware.Caller
		method, path string
		body         string
		status       int
	}{
		{"create", manager, "POST", "/v1/projects/prj_a/containers", `{"name":"web-1"}`, 201},
		{"duplicate", manager, "POST", "/v1/projects/prj_a/containers", `{"name":"web-1"}`, 409},
		{"list", viewer, "GET", "/v1/projects/prj_a/containers", "", 200},
		{"view-only cannot create", viewer, "POST", "/v1/projects/prj_a/containers", `{"name":"web-2"}`, 403},
		{"other project", manager, "GET", "/v1/projects/prj_b/containers", "", 403},
		{"other project's create", manager, "POST", "/v1/projects/prj_b/containers", `{"name":"web-2"}`, 403},
		{"token without project", unbound, "GET", "/v1/projects/prj_a/containers", "", 403},
		{"no caller", nil, "GET", "/v1/projects/prj_a/containers", "", 401},
		{"unknown field", manager, "POST", "/v1/projects/prj_a/containers", `{"name":"web-3","image":"x"}`, 400},
		{"trailing data", manager, "POST", "/v1/projects/prj_a/containers", `{"name":"web-3"} {}`, 400},
		{"not JSON", manager, "POST", "/v1/projects/prj_a/containers", `name=web-3`, 400},
		{"bad name", manager, "POST", "/v1/projects/prj_a/containers", `{"name":"Web 3"}`, 400},
		{"empty name", manager, "POST", "/v1/projects/prj_a/containers", `{"name":""}`, 400},
		{"hyphen at the end", manager, "POST", "/v1/projects/prj_a/containers", `{"name":"web-"}`, 400},
		{"too large", manager, "POST", "/v1/projects/prj_a/containers", `{"name":"` + strings.Repeat("a", maxBody) + `"}`, 413},
	}
	s := newStore(time.Now)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := serveAs(s, tt.caller, tt.method, tt.path, tt.body)
			if w.Code != tt.status {
				t.Fatalf("status %d (%s); want %d", w.Code, w.Body, tt.status)
			}
		})
	}
	w := serveAs(s, viewer, "GET", "/v1/projects/prj_a/containers", "")
	body, _ := io.ReadAll(w.Body)
	if !strings.Contains(string(body), `"name":"web-1"`) || !strings.Contains(string(body), `"created_by":"key:K"`) || strings.Count(string(body), `"name"`) != 1 {
		t.Errorf("list %s", body)
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string // error substring; "" for success
	}{
		{[]string{"--issuer", "http://127.0.0.1:8080"}, ""},
		{[]string{"--issuer", "http://x", "--trusted-proxies", "10.0.0.0/8, 192.168.1.1,::1"}, ""},
		{[]string{}, "--issuer is required"},
		{[]string{"--issuer", "http://x", "--trusted-proxies", "nope"}, "not an IP address or a CIDR"},
		{[]string{"--issuer", "http://x", "extra"}, "unexpected argument"},
	}
	for _, tt := range tests {
		c, err := parseFlags(tt.args, io.Discard)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%v: %v", tt.args, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%v: err = %v; want %q", tt.args, err, tt.want)
		}
		if tt.want == "" && len(tt.args) > 2 && len(c.trustedProxies) != 3 {
			t.Errorf("trusted proxies %v", c.trustedProxies)
		}
	}
}
