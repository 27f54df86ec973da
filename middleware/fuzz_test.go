package middleware

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
	"time"
)

// FuzzParseAuthorization checks that any header value either yields a token that is a b64token
// taken from the value, or an RFC 6750 error whose description can stand in a challenge.
func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer  a.b.c", "Bearer", "Basic x", "", " ", "Bearer a b", "Bearer ==", "Bearer a==", "BEARER\tx", "Bearer é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tok, _, err := parseAuthorization(h)
		if err != nil {
			e, ok := err.(*Error)
			if !ok || (e.Status != http.StatusBadRequest && e.Status != http.StatusUnauthorized) || !validQuoted(e.Description) {
				t.Fatalf("error %#v", err)
			}
			return
		}
		if !isB64Token(tok) || !strings.HasSuffix(h, tok) || !strings.EqualFold(h[:6], "bearer") && !strings.EqualFold(h[:4], "dpop") {
			t.Fatalf("parseAuthorization(%q) = %q", h, tok)
		}
	})
}

// FuzzVerify checks that no string is accepted as a token unless the issuer signed it: mutations
// of a real token, odd headers, garbage.
func FuzzVerify(f *testing.F) {
	is, clock := newTestIssuer(f), newTestClock()
	v := newVerifier(f, is, clock, func(c *Config) { c.CacheSize = -1; c.JWKSMinRefresh = time.Hour })
	good := is.mint(is.claims(clock.Now()), nil)
	if _, err := v.Verify(good); err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)-2])
	f.Add(strings.Replace(good, ".", "..", 1))
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("kw_" + strings.Repeat("a", 54))
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := v.Verify(raw)
		if err == nil && raw != good {
			t.Fatalf("Verify accepted %q as %+v", raw, c)
		}
		if err != nil {
			if e, ok := err.(*Error); !ok || e.Code != CodeInvalidToken || !validQuoted(e.Description) {
				t.Fatalf("error %#v", err)
			}
		}
	})
}

// FuzzSSE checks that no stream content panics the event parser or yields an event without a
// usable cursor.
func FuzzSSE(f *testing.F) {
	f.Add("id: 1\ndata: {\"cursor\":\"1\",\"type\":\"key\",\"id\":\"K\"}\n\n")
	f.Add("data: {}\n\n")
	f.Add(": c\r\nretry: 1\r\n\r\nid: \x00\ndata: x\n\n")
	f.Add("data: {\"cursor\":\"-1\"}\n\n")
	f.Fuzz(func(t *testing.T, stream string) {
		r := bufio.NewReader(strings.NewReader(stream))
		var ev sseEvent
		for {
			line, err := readLine(r)
			if err != nil {
				return
			}
			if strings.ContainsAny(line, "\n") {
				t.Fatalf("line %q holds a newline", line)
			}
			if !ev.feed(line) {
				continue
			}
			_, cursor, ok, err := ev.revocation()
			ev = sseEvent{}
			if ok && (err != nil || cursor < 0) {
				t.Fatalf("event with cursor %d, err %v", cursor, err)
			}
		}
	})
}
