package oauth

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// requireError checks that err is an OAuth error with the given status and code.
func requireError(t *testing.T, err error, status int, code string) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("want %d %s, got %v", status, code, err)
	}
	if e.Status != status || e.Code != code {
		t.Fatalf("want %d %s, got %d %s (%s)", status, code, e.Status, e.Code, e.Description)
	}
	if e.Description == "" {
		t.Errorf("%s has no description", code)
	}
	return e
}

func TestParseFormBody(t *testing.T) {
	ok := []struct {
		name, body string
		want       form
	}{
		{"one parameter", "grant_type=client_credentials", form{"grant_type": "client_credentials"}},
		{"empty body", "", form{}},
		{"several parameters", "grant_type=password&username=a%40b.c&password=p%26w",
			form{"grant_type": "password", "username": "a@b.c", "password": "p&w"}},
		{"plus is a space", "scope=images-view+dns-view", form{"scope": "images-view dns-view"}},
		{"percent-encoded space", "scope=images-view%20dns-view", form{"scope": "images-view dns-view"}},
		{"parameter without a value", "scope", form{"scope": ""}},
		{"empty value", "scope=", form{"scope": ""}},
		{"empty segments are skipped", "a=1&&b=2", form{"a": "1", "b": "2"}},
		{"non-ASCII UTF-8", "username=j%C3%B6rg%40example.com", form{"username": "jörg@example.com"}},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseFormBody(tc.body)
			if err != nil {
				t.Fatalf("parseFormBody(%q): %v", tc.body, err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("parseFormBody(%q) = %v, want %v", tc.body, got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("parseFormBody(%q)[%q] = %q, want %q", tc.body, k, got[k], v)
				}
			}
		})
	}

	bad := []struct{ name, body string }{
		{"repeated parameter", "grant_type=client_credentials&grant_type=client_credentials"},
		{"repeated parameter with different values", "grant_type=password&grant_type=client_credentials"},
		{"repeated secret", "client_secret=a&client_secret=b"},
		{"repeated parameter without value", "scope&scope"},
		{"bad percent escape", "grant_type=client%zzcredentials"},
		{"truncated percent escape", "grant_type=client_credentials%2"},
		{"semicolon separator", "grant_type=client_credentials;scope=x"},
		{"NUL in a value", "client_secret=kw_abc%00def"},
		{"NUL in a name", "client%00secret=x"},
		{"raw NUL byte", "client_secret=kw_abc\x00def"},
		{"newline", "username=a%0Ab"},
		{"carriage return", "username=a%0Db"},
		{"tab", "password=a%09b"},
		{"DEL", "password=a%7Fb"},
		{"C1 control", "password=a%C2%85b"},
		{"invalid UTF-8", "username=%FF%FE"},
		{"overlong UTF-8", "username=%C0%AF"},
		{"UTF-16 surrogate", "username=%ED%A0%80"},
		{"invalid UTF-8 in a name", "%FF=1"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			f, err := parseFormBody(tc.body)
			if err == nil {
				t.Fatalf("parseFormBody(%q) = %v, want invalid_request", tc.body, f)
			}
			requireError(t, err, http.StatusBadRequest, errInvalidRequest)
		})
	}
}

// The error for a repeated parameter names only the standard parameters keyward knows, never a
// name from the request.
func TestParseFormBodyDoesNotEchoHostileNames(t *testing.T) {
	for _, name := range []string{strings.Repeat("x", 500), `a"b`, `a\\b`, "jörg", "<b>", "ab"} {
		_, err := parseFormBody(url.QueryEscape(name) + "=1&" + url.QueryEscape(name) + "=2")
		e := requireError(t, err, http.StatusBadRequest, errInvalidRequest)
		if e.Description != "A parameter is repeated." {
			t.Errorf("repeated %q: description %q", name, e.Description)
		}
	}
	_, err := parseFormBody("grant_type=a&grant_type=b")
	if e := requireError(t, err, http.StatusBadRequest, errInvalidRequest); e.Description != "The grant_type parameter is repeated." {
		t.Errorf("repeated grant_type: description %q", e.Description)
	}
}

func TestParseForm(t *testing.T) {
	const form = "application/x-www-form-urlencoded"
	cases := []struct {
		name        string
		method      string
		target      string
		contentType string
		body        string
		status      int // 0: success
	}{
		{"form post", http.MethodPost, "/oauth/token", form, "grant_type=client_credentials", 0},
		{"content type with charset", http.MethodPost, "/oauth/token", form + "; charset=utf-8", "grant_type=client_credentials", 0},
		{"GET", http.MethodGet, "/oauth/token", form, "", http.StatusMethodNotAllowed},
		{"PUT", http.MethodPut, "/oauth/token", form, "grant_type=client_credentials", http.StatusMethodNotAllowed},
		{"JSON body", http.MethodPost, "/oauth/token", "application/json", `{"grant_type":"client_credentials"}`, http.StatusBadRequest},
		{"no content type", http.MethodPost, "/oauth/token", "", "grant_type=client_credentials", http.StatusBadRequest},
		{"multipart", http.MethodPost, "/oauth/token", "multipart/form-data; boundary=x", "--x--", http.StatusBadRequest},
		{"malformed content type", http.MethodPost, "/oauth/token", "application/x-www-form-urlencoded; ;", "grant_type=client_credentials", http.StatusBadRequest},
		{"secret in the query", http.MethodPost, "/oauth/token?client_secret=kw_x", form, "grant_type=client_credentials", http.StatusBadRequest},
		{"password in the query", http.MethodPost, "/oauth/token?password=x", form, "grant_type=password", http.StatusBadRequest},
		{"refresh token in the query", http.MethodPost, "/oauth/token?refresh_token=x", form, "grant_type=refresh_token", http.StatusBadRequest},
		{"body over the limit", http.MethodPost, "/oauth/token", form, "scope=" + strings.Repeat("a", maxFormBytes), http.StatusBadRequest},
		{"repeated parameter", http.MethodPost, "/oauth/token", form, "grant_type=a&grant_type=a", http.StatusBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.body))
			if tc.contentType != "" {
				r.Header.Set("Content-Type", tc.contentType)
			}
			w := httptest.NewRecorder()
			f, err := parseForm(w, r)
			if tc.status == 0 {
				if err != nil {
					t.Fatalf("parseForm: %v", err)
				}
				if f["grant_type"] != "client_credentials" {
					t.Errorf("grant_type = %q", f["grant_type"])
				}
				return
			}
			requireError(t, err, tc.status, errInvalidRequest)
			if tc.status == http.StatusMethodNotAllowed && w.Header().Get("Allow") != http.MethodPost {
				t.Errorf("405 without Allow: POST")
			}
		})
	}
}

func basicHeader(payload string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(payload))
}

func TestClientAuthentication(t *testing.T) {
	const key = "kw_0123456789ABCDEFabcdefghijklmnopqrstuvwxyz012345ABCDEF"
	const id = "0123456789ABCDEF"
	cases := []struct {
		name    string
		headers []string // Authorization header values
		body    string
		want    clientAuth
		status  int // 0: success
		code    string
		basic   bool // a 401 must carry WWW-Authenticate: Basic
	}{
		{name: "nothing", body: "grant_type=client_credentials", want: clientAuth{}},
		{name: "Basic", headers: []string{basicHeader(id + ":" + key)},
			want: clientAuth{ID: id, Secret: key, Basic: true, Present: true}},
		{name: "Basic, scheme in lower case", headers: []string{"basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+key))},
			want: clientAuth{ID: id, Secret: key, Basic: true, Present: true}},
		{name: "Basic, URL-encoded as x/oauth2 sends it", headers: []string{basicHeader("a%2Bb%3Ac:s%25%3A%2F")},
			want: clientAuth{ID: "a+b:c", Secret: "s%:/", Basic: true, Present: true}},
		{name: "Basic, empty client id", headers: []string{basicHeader(":" + key)},
			want: clientAuth{Secret: key, Basic: true, Present: true}},
		{name: "Basic, colon in the secret", headers: []string{basicHeader(id + ":a:b")},
			want: clientAuth{ID: id, Secret: "a:b", Basic: true, Present: true}},
		{name: "Basic with the same client_id in the body", headers: []string{basicHeader(id + ":" + key)}, body: "client_id=" + id,
			want: clientAuth{ID: id, Secret: key, Basic: true, Present: true}},
		{name: "form post", body: "client_id=" + id + "&client_secret=" + key,
			want: clientAuth{ID: id, Secret: key, Present: true}},
		{name: "key alone in the form", body: "client_secret=" + key,
			want: clientAuth{Secret: key, Present: true}},
		{name: "client_id alone authenticates nothing", body: "client_id=" + id,
			want: clientAuth{ID: id}},

		{name: "Basic and client_secret", headers: []string{basicHeader(id + ":" + key)}, body: "client_secret=" + key,
			status: 400, code: errInvalidRequest},
		{name: "Basic and another client_id", headers: []string{basicHeader(id + ":" + key)}, body: "client_id=someoneelse",
			status: 400, code: errInvalidRequest},
		{name: "two Authorization headers", headers: []string{basicHeader(id + ":" + key), basicHeader(id + ":" + key)},
			status: 400, code: errInvalidRequest},
		{name: "Bearer scheme", headers: []string{"Bearer abc"}, status: 401, code: errInvalidClient},
		{name: "Digest scheme", headers: []string{`Digest username="x"`}, status: 401, code: errInvalidClient},
		{name: "not base64", headers: []string{"Basic !!!"}, status: 401, code: errInvalidClient, basic: true},
		{name: "no payload", headers: []string{"Basic"}, status: 401, code: errInvalidClient, basic: true},
		{name: "no colon", headers: []string{basicHeader(key)}, status: 401, code: errInvalidClient, basic: true},
		{name: "bad escape in the id", headers: []string{basicHeader("%zz:" + key)}, status: 401, code: errInvalidClient, basic: true},
		{name: "bad escape in the secret", headers: []string{basicHeader(id + ":%zz")}, status: 401, code: errInvalidClient, basic: true},
		{name: "NUL in the secret", headers: []string{basicHeader(id + ":kw_%00")}, status: 401, code: errInvalidClient, basic: true},
		{name: "raw newline in the id", headers: []string{basicHeader("a\nb:" + key)}, status: 401, code: errInvalidClient, basic: true},
		{name: "invalid UTF-8 in the secret", headers: []string{basicHeader(id + ":%FF")}, status: 401, code: errInvalidClient, basic: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/oauth/token", nil)
			for _, h := range tc.headers {
				r.Header.Add("Authorization", h)
			}
			f, err := parseFormBody(tc.body)
			if err != nil {
				t.Fatalf("parseFormBody: %v", err)
			}
			got, err := clientAuthentication(r, f)
			if tc.status == 0 {
				if err != nil {
					t.Fatalf("clientAuthentication: %v", err)
				}
				if got != tc.want {
					t.Fatalf("clientAuthentication = %+v, want %+v", got, tc.want)
				}
				return
			}
			e := requireError(t, err, tc.status, tc.code)
			if e.basic != tc.basic {
				t.Errorf("WWW-Authenticate: Basic flag = %v, want %v", e.basic, tc.basic)
			}
			w := httptest.NewRecorder()
			writeError(w, err)
			if challenge := w.Header().Get("WWW-Authenticate"); (challenge != "") != tc.basic ||
				(tc.basic && !strings.HasPrefix(challenge, "Basic ")) {
				t.Errorf("WWW-Authenticate = %q, want a Basic challenge: %v", challenge, tc.basic)
			}
			if strings.Contains(w.Body.String(), key) {
				t.Errorf("the error echoes the secret: %s", w.Body)
			}
		})
	}
}

// clean is the test's own statement of what a parameter may contain, independent of the code
// under test: valid UTF-8 and no character of Unicode category Cc.
func clean(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	return strings.IndexFunc(s, unicode.IsControl) < 0
}
