package middleware

import (
	"bufio"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRevocationFeed(t *testing.T) {
	is, clock := newTestIssuer(t), newTestClock()
	now := clock.Now()
	// Revoked before the verifier started: the catch-up must know them.
	is.revoke("session", "ses_old", now.Add(time.Hour))
	is.revoke("key", "OLDOLDOLDOLDOLDO", now.Add(time.Hour))
	is.revoke("session", "ses_other", now.Add(time.Hour))
	v := newVerifier(t, is, clock)

	token := func(sid, keyID string) string {
		c := is.claims(now)
		c["sid"], c["sub"], c["client_id"] = sid, "key:"+keyID, keyID
		return is.mint(c, nil)
	}
	refused := func(tok string) bool {
		w, _ := serve(v, bearerRequest(tok))
		return w.Code == http.StatusUnauthorized && strings.Contains(w.Header().Get("WWW-Authenticate"), "revoked")
	}
	if !refused(token("ses_old", "AAAAAAAAAAAAAAAA")) || !refused(token("ses_x", "OLDOLDOLDOLDOLDO")) {
		t.Fatal("revocations from before the start are not known")
	}

	live := token("ses_live", "LIVELIVELIVELIVE")
	other := token("ses_keep", "KEEPKEEPKEEPKEEP")
	for _, tok := range []string{live, other} {
		if refused(tok) {
			t.Fatal("a live token is refused")
		}
	}
	// Cached now; revocation must still reach it.
	is.revoke("key", "LIVELIVELIVELIVE", now.Add(time.Hour))
	eventually(t, "refusing the deleted key's token", func() bool { return refused(live) })
	if refused(other) {
		t.Error("another key's token is refused too")
	}
	sessionTok := token("ses_gone", "KEEPKEEPKEEPKEEP")
	is.revoke("session", "ses_gone", now.Add(time.Hour))
	eventually(t, "refusing the revoked session's token", func() bool { return refused(sessionTok) })
	// An issuer from before the feed was hashed publishes raw ids; they still count.
	legacyTok := token("ses_legacy", "KEEPKEEPKEEPKEEP")
	is.revokeAs("session", "ses_legacy", now.Add(time.Hour))
	eventually(t, "refusing a session revoked by its raw id", func() bool { return refused(legacyTok) })

	st := v.FeedStatus()
	if !st.Following || !st.Connected || st.Cursor != 6 || st.Revoked != 6 || st.Stale != 0 {
		t.Errorf("status %+v", st)
	}
}

func TestRevocationFeedReconnects(t *testing.T) {
	is, clock := newTestIssuer(t), newTestClock()
	now := clock.Now()
	v := newVerifier(t, is, clock)
	is.revoke("session", "ses_first", now.Add(time.Hour))
	eventually(t, "the first revocation", func() bool { return v.FeedStatus().Cursor == 1 })
	tok := is.mint(is.claims(now), nil)
	if _, err := v.Verify(tok); err != nil {
		t.Fatal(err)
	}

	is.setFeedDown(true)
	eventually(t, "noticing the outage", func() bool { return !v.FeedStatus().Connected })
	if st := v.FeedStatus(); st.Err == nil {
		t.Errorf("status %+v has no error", st)
	}
	is.revoke("key", "AAAAAAAAAAAAAAAA", now.Add(time.Hour)) // while the feed is down
	is.setFeedDown(false)
	eventually(t, "learning the revocation made during the outage", func() bool {
		_, err := v.Verify(tok)
		return err != nil
	})
	opened, ids := is.streamCount()
	if opened < 2 || ids[0] != "0" || ids[len(ids)-1] != "1" {
		t.Errorf("streams opened with Last-Event-ID %v; want 0 first and 1 on reconnection", ids)
	}
}

// TestFailClosedByDefault: once the feed has been unreachable for longer than MaxStaleness
// (DefaultMaxStaleness unless set), requests get 503 with Retry-After until it is back; only an
// explicit FailOpen keeps accepting tokens.
// TestRevocationFeedHangingServer: a server that accepts the stream's connection and never
// answers does not hold the verifier forever; it reconnects and gets the stream.
func TestRevocationFeedHangingServer(t *testing.T) {
	saved := idleTimeout
	t.Cleanup(func() { idleTimeout = saved }) // after the verifier's Cleanup has stopped it
	idleTimeout = 200 * time.Millisecond      // the bound under test, not a measurement
	is, clock := newTestIssuer(t), newTestClock()
	is.mu.Lock()
	is.feedMute = true
	is.mu.Unlock()
	v := newVerifier(t, is, clock)
	eventually(t, "opening the stream", func() bool { n, _ := is.streamCount(); return n > 0 })
	is.mu.Lock()
	is.feedMute = false
	is.mu.Unlock()
	eventually(t, "reconnecting after a stream that never answered", func() bool { return v.FeedStatus().Connected })
}

func TestFailClosedByDefault(t *testing.T) {
	is, clock := newTestIssuer(t), newTestClock()
	byDefault := newVerifier(t, is, clock)
	bounded := newVerifier(t, is, clock, func(c *Config) { c.MaxStaleness = 30 * time.Second })
	open := newVerifier(t, is, clock, func(c *Config) { c.FailOpen = true })
	all := []*Verifier{byDefault, bounded, open}
	tok := is.mint(is.claims(clock.Now()), nil)
	eventually(t, "connecting", func() bool {
		return byDefault.FeedStatus().Connected && bounded.FeedStatus().Connected && open.FeedStatus().Connected
	})

	is.setFeedDown(true)
	eventually(t, "noticing the outage", func() bool {
		return !byDefault.FeedStatus().Connected && !bounded.FeedStatus().Connected && !open.FeedStatus().Connected
	})
	refused := func(v *Verifier) bool {
		w, _ := serve(v, bearerRequest(tok))
		switch w.Code {
		case http.StatusNoContent:
			return false
		case http.StatusServiceUnavailable:
			if w.Header().Get("Retry-After") == "" {
				t.Errorf("503 without Retry-After")
			}
			return true
		}
		t.Fatalf("status %d (%s)", w.Code, w.Body)
		return false
	}
	clock.Advance(29 * time.Second)
	for _, v := range all {
		if refused(v) {
			t.Fatal("refused within every staleness bound")
		}
	}
	clock.Advance(2 * time.Second)
	if !refused(bounded) || refused(byDefault) || refused(open) {
		t.Fatal("after 31 s, want only the verifier with MaxStaleness 30 s to refuse")
	}
	clock.Advance(DefaultMaxStaleness - 30*time.Second)
	if !refused(byDefault) {
		t.Fatalf("the default refused nothing after %v without revocations", DefaultMaxStaleness+time.Second)
	}
	var e *Error
	if _, err := byDefault.Verify(tok); !errors.As(err, &e) || e.Status != http.StatusServiceUnavailable {
		t.Errorf("Verify while stale: %v; want a 503 *Error", err)
	}
	clock.Advance(time.Hour - DefaultMaxStaleness - 2*time.Second) // the token lives an hour
	if refused(open) {
		t.Error("FailOpen refused a token during an outage")
	}
	if st := bounded.FeedStatus(); st.Stale < 30*time.Second {
		t.Errorf("status %+v", st)
	}

	is.setFeedDown(false)
	eventually(t, "recovering", func() bool { return !refused(byDefault) && !refused(bounded) })
}

func TestStalenessConfig(t *testing.T) {
	is := newTestIssuer(t)
	for _, c := range []Config{
		{Issuer: is.URL, MaxStaleness: -time.Second},
		{Issuer: is.URL, MaxStaleness: time.Minute, FailOpen: true},
	} {
		if v, err := New(t.Context(), c); err == nil {
			v.Close()
			t.Errorf("New accepted MaxStaleness %v with FailOpen %v", c.MaxStaleness, c.FailOpen)
		}
	}
}

func TestRevocationsAreForgottenAfterExpiry(t *testing.T) {
	is, clock := newTestIssuer(t), newTestClock()
	now := clock.Now()
	is.revoke("session", "ses_short", now.Add(time.Minute))
	is.revoke("session", "ses_long", now.Add(time.Hour))
	v := newVerifier(t, is, clock)
	clock.Advance(time.Minute + DefaultLeeway - time.Second)
	v.feed.sweep()
	if n := v.FeedStatus().Revoked; n != 2 {
		t.Fatalf("%d entries; tokens of ses_short may still be accepted within the leeway", n)
	}
	clock.Advance(2 * time.Second)
	v.feed.sweep()
	if n := v.FeedStatus().Revoked; n != 1 {
		t.Fatalf("%d entries; want ses_short forgotten", n)
	}
	// An entry whose tokens expired already is not even stored.
	is.revoke("session", "ses_ancient", now.Add(-time.Hour))
	eventually(t, "reading the entry", func() bool { return v.FeedStatus().Cursor == 3 })
	if n := v.FeedStatus().Revoked; n != 1 {
		t.Errorf("%d entries after an already-expired revocation", n)
	}
}

func TestSkipRevocationFeed(t *testing.T) {
	is, clock := newTestIssuer(t), newTestClock()
	is.revoke("session", "ses_1", clock.Now().Add(time.Hour))
	v := newVerifier(t, is, clock, func(c *Config) { c.SkipRevocationFeed = true })
	if _, err := v.Verify(is.mint(is.claims(clock.Now()), nil)); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if st := v.FeedStatus(); st.Following {
		t.Errorf("status %+v", st)
	}
}

func TestSSEParsing(t *testing.T) {
	stream := "retry: 1000\r\n: comment\r\n\r\n" +
		"id: 7\ndata: {\"cursor\":\"7\",\"type\":\"key\",\"id\":\"K1\"}\n\n" +
		"event: ping\ndata: {}\n\n" +
		"data:{\"cursor\":\"8\",\"type\":\"session\",\n" +
		"data: \"id\":\"S1\"}\nunknown: x\nid\n\n" +
		"id: 9\n\n" // no data: no event
	r := bufio.NewReader(strings.NewReader(stream))
	var ev sseEvent
	var got []revocationJSON
	var cursors []int64
	for {
		line, err := readLine(r)
		if err != nil {
			break
		}
		if !ev.feed(line) {
			continue
		}
		e, c, ok, err := ev.revocation()
		ev = sseEvent{}
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			got, cursors = append(got, e), append(cursors, c)
		}
	}
	if len(got) != 2 || got[0].ID != "K1" || got[1].ID != "S1" || got[1].Type != "session" {
		t.Fatalf("events %+v", got)
	}
	if cursors[0] != 7 || cursors[1] != 8 {
		t.Errorf("cursors %v; the id field wins, the entry's cursor stands in when id is empty", cursors)
	}
}

func TestReadLineBounds(t *testing.T) {
	r := bufio.NewReaderSize(strings.NewReader(strings.Repeat("x", maxEventBytes+10)+"\n"), 16)
	if _, err := readLine(r); err == nil {
		t.Fatal("an over-long line was accepted")
	}
	if _, err := readLine(bufio.NewReader(strings.NewReader("no newline"))); err == nil {
		t.Fatal("a truncated line was accepted")
	}
}

func TestJWKSRefetchOnUnknownKid(t *testing.T) {
	is, clock := newTestIssuer(t), newTestClock()
	v := newVerifier(t, is, clock)
	if n := is.fetches(); n != 1 {
		t.Fatalf("%d JWKS fetches at start", n)
	}
	// A rotation the verifier has not seen: the token's kid triggers one refetch, even when many
	// requests carry it at once. The request that starts it waits for it; the others may be
	// refused meanwhile rather than queue behind it.
	clock.Advance(DefaultJWKSMinRefresh)
	is.rotate("k2")
	tok := is.mint(is.claims(clock.Now()), nil)
	var wg sync.WaitGroup
	var accepted atomic.Int32
	for range 20 {
		wg.Go(func() {
			if _, err := v.Verify(tok); err == nil {
				accepted.Add(1)
			}
		})
	}
	wg.Wait()
	if n := is.fetches(); n != 2 {
		t.Fatalf("%d JWKS fetches; want one refetch for the new kid", n)
	}
	if accepted.Load() == 0 {
		t.Fatal("no request with the new kid was accepted, not even the one that refetched")
	}
	if _, err := v.Verify(tok); err != nil {
		t.Fatalf("Verify after the refetch: %v", err)
	}

	// Forged kids cannot make the verifier fetch more than once per JWKSMinRefresh.
	forge := func(kid string) string {
		return mintWith(t, signingKey{kid: kid, alg: "ES256", key: is.newKey(kid).key}, is.claims(clock.Now()), nil)
	}
	for _, kid := range []string{"f1", "f2", "f3"} {
		if _, err := v.Verify(forge(kid)); err == nil {
			t.Fatal("a forged kid was accepted")
		}
	}
	if n := is.fetches(); n != 2 {
		t.Fatalf("%d JWKS fetches; forged kids within 10 s must cause none", n)
	}
	clock.Advance(DefaultJWKSMinRefresh)
	v.Verify(forge("f4"))
	v.Verify(forge("f5"))
	if n := is.fetches(); n != 3 {
		t.Fatalf("%d JWKS fetches; want exactly one more after 10 s", n)
	}
}

// TestJWKSHangStallsNoRequest: while the issuer's JWKS hangs on a refetch, requests with another
// unknown kid are refused at once instead of queueing behind it, and requests with known kids
// are served.
func TestJWKSHangStallsNoRequest(t *testing.T) {
	is, clock := newTestIssuer(t), newTestClock()
	// A refetch that outlasts the test, so that it is certainly still in flight below.
	v := newVerifier(t, is, clock, func(c *Config) { c.JWKSRefetchTimeout = time.Hour })
	known := is.mint(is.claims(clock.Now()), nil)
	forged := func(kid string) string {
		return mintWith(t, is.newKey(kid), is.claims(clock.Now()), nil)
	}
	release := make(chan struct{})
	is.mu.Lock()
	is.jwksHang = release
	is.mu.Unlock()
	defer close(release)
	clock.Advance(DefaultJWKSMinRefresh)

	first := make(chan int, 1)
	go func() {
		w, _ := serve(v, bearerRequest(forged("k2")))
		first <- w.Code
	}()
	eventually(t, "the refetch reaching the issuer", func() bool { return is.fetches() == 2 })

	inFlight := func() bool {
		v.keys.mu.Lock()
		defer v.keys.mu.Unlock()
		return v.keys.inflight != nil
	}
	for _, tt := range []struct {
		name, token string
		status      int
	}{
		{"unknown kid", forged("k3"), http.StatusUnauthorized},
		{"known kid", known, http.StatusNoContent},
	} {
		done := make(chan int, 1)
		go func() {
			w, _ := serve(v, bearerRequest(tt.token))
			done <- w.Code
		}()
		select {
		case code := <-done:
			if code != tt.status {
				t.Errorf("%s: status %d; want %d", tt.name, code, tt.status)
			}
			if !inFlight() {
				t.Errorf("%s: the request waited for the hung refetch to end", tt.name)
			}
		case <-time.After(30 * time.Second): // only turns a hang into a failure
			t.Fatalf("%s: the request waits for the hung JWKS", tt.name)
		}
	}
	if n := is.fetches(); n != 2 {
		t.Errorf("%d JWKS fetches; the requests during the refetch must cause none", n)
	}
	select {
	case code := <-first:
		t.Errorf("the request that refetches answered %d before the JWKS did", code)
	default:
	}
}

func TestJWKSMaxAge(t *testing.T) {
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"public, max-age=600", 10 * time.Minute},
		{"max-age=5", minKeysMaxAge},
		{"max-age=999999999", maxKeysMaxAge},
		{`Max-Age="120"`, 2 * time.Minute},
		{"no-cache", defaultKeysMaxAge},
		{"max-age=-1", defaultKeysMaxAge},
		{"", defaultKeysMaxAge},
	}
	for _, tt := range tests {
		if got := maxAge(tt.header); got != tt.want {
			t.Errorf("maxAge(%q) = %v; want %v", tt.header, got, tt.want)
		}
	}
}

func TestTokenCache(t *testing.T) {
	is, clock := newTestIssuer(t), newTestClock()
	v := newVerifier(t, is, clock, func(c *Config) { c.CacheSize = 32 })
	short := is.claims(clock.Now())
	short["exp"] = clock.Now().Add(time.Minute).Unix()
	tok := is.mint(short, nil)
	first, err := v.verifyCached(tok)
	if err != nil {
		t.Fatal(err)
	}
	second, err := v.verifyCached(tok)
	if err != nil {
		t.Fatal(err)
	}
	if first != second {
		t.Error("the second verification did not come from the cache")
	}
	// A cached token still expires.
	clock.Advance(time.Minute + DefaultLeeway)
	if _, err := v.Verify(tok); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("a cached token outlived its expiry: %v", err)
	}
	// The cache stays within its bound.
	for i := range 100 {
		c := is.claims(clock.Now())
		c["jti"] = strings.Repeat("x", i+1)
		if _, err := v.Verify(is.mint(c, nil)); err != nil {
			t.Fatal(err)
		}
	}
	if n := v.cache.len(); n > 32 {
		t.Errorf("%d cached tokens; the bound is 32", n)
	}

	off := newVerifier(t, is, clock, func(c *Config) { c.CacheSize = -1 })
	tok = is.mint(is.claims(clock.Now()), nil)
	a, _ := off.verifyCached(tok)
	b, _ := off.verifyCached(tok)
	if a == nil || a == b || off.cache != nil {
		t.Error("a disabled cache cached")
	}
}
