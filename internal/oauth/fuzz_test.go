package oauth

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
)

func FuzzParseFormBody(f *testing.F) {
	for _, seed := range []string{
		"grant_type=client_credentials",
		"grant_type=client_credentials&client_id=0123456789ABCDEF&client_secret=kw_0123456789ABCDEFabcdefghijklmnopqrstuvwxyz012345ABCDEF",
		"grant_type=refresh_token&refresh_token=abc",
		"grant_type=password&username=a%40b.c&password=x&project=default&scope=images-view+dns-view",
		"a=1&a=2", "a&a", "a=%00", "a=%zz", "a=1;b=2", "%FF=1", "a=%C2%85", "", "=", "&&", "a=%E2%80%AE",
		"a%22b=1&a%22b=2", "a%5Cb=1&a%5Cb=2", "%C3%BC=1&%C3%BC=2", "scope=1&scope=2",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		got, err := parseFormBody(body)
		want, perr := url.ParseQuery(body)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Status != http.StatusBadRequest || e.Code != errInvalidRequest {
				t.Fatalf("parseFormBody(%q) error is not a 400 invalid_request: %v", body, err)
			}
			if !fixedFormError(e.Description) {
				t.Fatalf("parseFormBody(%q) error description is not one of the fixed texts: %q", body, e.Description)
			}
		}
		if perr != nil {
			if err == nil {
				t.Fatalf("parseFormBody(%q) accepted a body that is not a form", body)
			}
			return
		}
		acceptable := true
		for k, vs := range want {
			if len(vs) > 1 {
				acceptable = false // a repeated parameter is always an error
			}
			for _, v := range vs {
				if !clean(k) || !clean(v) {
					acceptable = false // so are control characters and invalid UTF-8
				}
			}
		}
		if !acceptable {
			if err == nil {
				t.Fatalf("parseFormBody(%q) = %q, want invalid_request", body, got)
			}
			return
		}
		if err != nil {
			t.Fatalf("parseFormBody(%q) rejected a clean form: %v", body, err)
		}
		if len(got) != len(want) {
			t.Fatalf("parseFormBody(%q) = %q, want %q", body, got, want)
		}
		for k, vs := range want {
			if v, ok := got[k]; !ok || v != vs[0] {
				t.Fatalf("parseFormBody(%q)[%q] = %q, want %q", body, k, v, vs[0])
			}
		}
	})
}

func FuzzClientAuthentication(f *testing.F) {
	const key = "kw_0123456789ABCDEFabcdefghijklmnopqrstuvwxyz012345ABCDEF"
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	f.Add("Basic "+b64("0123456789ABCDEF:"+key), "grant_type=client_credentials", false)
	f.Add("Basic "+b64("0123456789ABCDEF:"+key), "client_secret="+key, false)
	f.Add("Basic "+b64("0123456789ABCDEF:"+key), "client_id=other", true)
	f.Add("", "client_id=0123456789ABCDEF&client_secret="+key, false)
	f.Add("", "client_secret="+key, false)
	f.Add("", "client_id=x", false)
	f.Add("Bearer x", "", false)
	f.Add("Basic "+b64("%00:%zz"), "", false)
	f.Add("Basic "+b64("a:\x7f"), "", false)
	f.Add("Basic", "", false)
	f.Add("Basic !!", "", false)
	f.Fuzz(func(t *testing.T, header, body string, twice bool) {
		form, err := parseFormBody(body)
		if err != nil {
			return // the token endpoint never gets this far
		}
		r := httptest.NewRequest(http.MethodPost, "/oauth/token", nil)
		if header != "" {
			r.Header.Add("Authorization", header)
			if twice {
				r.Header.Add("Authorization", header)
			}
		}
		got, err := clientAuthentication(r, form)
		_, formSecret := form["client_secret"]
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error is not an OAuth error: %v", err)
			}
			switch {
			case e.Status == http.StatusBadRequest && e.Code == errInvalidRequest:
			case e.Status == http.StatusUnauthorized && e.Code == errInvalidClient:
			default:
				t.Fatalf("unexpected error %d %s", e.Status, e.Code)
			}
			if !describable(e.Description) {
				t.Fatalf("error description outside RFC 6749 §5.2's character set: %q", e.Description)
			}
			return
		}
		if header != "" && twice {
			t.Fatalf("two Authorization headers were accepted: %+v", got)
		}
		if header != "" && formSecret {
			t.Fatalf("HTTP Basic and client_secret were both accepted: %+v", got)
		}
		if !clean(got.ID) || !clean(got.Secret) {
			t.Fatalf("credentials with control characters or invalid UTF-8 were accepted: %+v", got)
		}
		if header != "" && !got.Basic {
			t.Fatalf("an Authorization header was accepted as something other than Basic: %+v", got)
		}
		if got.Basic != (header != "") || (got.Basic && !got.Present) {
			t.Fatalf("inconsistent result %+v for header %q", got, header)
		}
		if header == "" && (got.Present != formSecret || got.Secret != form["client_secret"] || got.ID != form["client_id"]) {
			t.Fatalf("form credentials %q read as %+v", form, got)
		}
		if id, ok := form["client_id"]; ok && got.Basic && got.ID != id {
			t.Fatalf("Basic id %q accepted with client_id %q in the body", got.ID, id)
		}
	})
}

// describable reports whether s may be an error_description: RFC 6749 §5.2 allows %x20-21,
// %x23-5B and %x5D-7E only.
func describable(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c > 0x7E {
			return false
		}
	}
	return s != ""
}

// fixedFormError reports whether d is one of the texts a malformed form is answered with: none
// of them carries a name or value from the request.
func fixedFormError(d string) bool {
	switch d {
	case "The request body is not a valid form.", "Parameters must be valid UTF-8 without control characters.",
		"A parameter is repeated.":
		return true
	}
	name, ok := strings.CutPrefix(d, "The ")
	name, ok2 := strings.CutSuffix(name, " parameter is repeated.")
	return ok && ok2 && slices.Contains([]string{"grant_type", "client_id", "client_secret", "scope", "username",
		"password", "project", "refresh_token", "token", "token_type_hint", "device_code"}, name)
}
