package keyring

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/fakeclock"
)

var ctx = context.Background()

func newRing(t *testing.T, st Store, clk *fakeclock.Clock, cfg Config) *Keyring {
	t.Helper()
	cfg.Now = clk.Now
	k, err := New(ctx, st, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return k
}

func current(t *testing.T, k *Keyring) *Key {
	t.Helper()
	key, err := k.Current()
	if err != nil {
		t.Fatalf("Current: %v", err)
	}
	return key
}

// parseJWKS decodes a JWKS document as a resource server would.
func parseJWKS(t *testing.T, b []byte) *jose.JSONWebKeySet {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); err != nil {
		t.Fatalf("JWKS does not parse: %v\n%s", err, b)
	}
	return &set
}

func kids(t *testing.T, b []byte) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, k := range parseJWKS(t, b).Keys {
		out[k.KeyID] = true
	}
	return out
}

// sign makes a compact JWS with key, the way any JOSE library would.
func sign(t *testing.T, key *Key, payload string) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{
		Algorithm: jose.SignatureAlgorithm(key.Alg),
		Key:       jose.JSONWebKey{Key: key.Signer, KeyID: key.ID},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := signer.Sign([]byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// verifyWithJWKS checks a JWS against a published JWKS document, by kid, as a verifier would.
func verifyWithJWKS(t *testing.T, jws string, jwks []byte) error {
	t.Helper()
	obj, err := jose.ParseSignedCompact(jws, []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256})
	if err != nil {
		return err
	}
	set := parseJWKS(t, jwks)
	_, err = obj.Verify(set)
	return err
}

func TestParseMasterKey(t *testing.T) {
	raw := make([]byte, 32)
	for i := range raw {
		raw[i] = byte(i*7 + 250) // includes bytes that encode to + / - _ in base64
	}
	for _, tc := range []struct {
		name string
		in   string
		ok   bool
	}{
		{"std padded", base64.StdEncoding.EncodeToString(raw), true},
		{"std raw", base64.RawStdEncoding.EncodeToString(raw), true},
		{"url padded", base64.URLEncoding.EncodeToString(raw), true},
		{"url raw", base64.RawURLEncoding.EncodeToString(raw), true},
		{"hex", hex.EncodeToString(raw), true},
		{"hex upper", strings.ToUpper(hex.EncodeToString(raw)), true},
		{"surrounding newline", base64.StdEncoding.EncodeToString(raw) + "\n", true},
		{"empty", "", false},
		{"short base64", base64.StdEncoding.EncodeToString(raw[:31]), false},
		{"long base64", base64.StdEncoding.EncodeToString(append(raw, 1)), false},
		{"short hex", hex.EncodeToString(raw[:31]), false},
		{"hex with junk", hex.EncodeToString(raw[:31]) + "zz", false},
		{"passphrase", "correct horse battery staple, correct horse", false},
		{"inner space", base64.StdEncoding.EncodeToString(raw)[:20] + " " + base64.StdEncoding.EncodeToString(raw)[20:], false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseMasterKey(tc.in)
			if !tc.ok {
				if err == nil {
					t.Fatalf("accepted %q", tc.in)
				}
				if keyward.ErrorCode(err) != keyward.EINVALID || !strings.Contains(err.Error(), "openssl rand -base64 32") {
					t.Errorf("error %v should be EINVALID and say how to generate a key", err)
				}
				if tc.in != "" && strings.Contains(err.Error(), strings.TrimSpace(tc.in)) {
					t.Errorf("error repeats the secret input")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, raw) {
				t.Errorf("decoded %x, want %x", got, raw)
			}
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"unknown alg", Config{Alg: "HS256"}},
		{"none alg", Config{Alg: "none"}},
		{"rotation within twice the cache lifetime", Config{Rotation: 20 * time.Minute, CacheTTL: 10 * time.Minute}},
		{"negative token ttl", Config{TokenTTL: -time.Hour}},
		{"short master key", Config{MasterKey: make([]byte, 16)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &memStore{}
			if _, err := New(ctx, st, tc.cfg); keyward.ErrorCode(err) != keyward.EINVALID {
				t.Fatalf("New = %v, want EINVALID", err)
			}
			if st.replaces != 0 {
				t.Error("a rejected configuration wrote keys")
			}
		})
	}
}

func TestFirstKeySignsAtOnce(t *testing.T) {
	st := &memStore{}
	clk := newClock()
	k := newRing(t, st, clk, Config{})
	key := current(t, k)
	if key.Alg != ES256 {
		t.Errorf("default alg = %s, want ES256", key.Alg)
	}
	if len(key.ID) != kidLength || strings.Trim(key.ID, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") != "" {
		t.Errorf("kid %q is not %d URL-safe characters", key.ID, kidLength)
	}
	if got, ok := k.Lookup(key.ID); !ok || got != key {
		t.Error("Lookup does not find the current key")
	}
	set := parseJWKS(t, k.JWKS())
	if len(set.Keys) != 1 {
		t.Fatalf("JWKS has %d keys, want 1", len(set.Keys))
	}
	jwk := set.Keys[0]
	if jwk.KeyID != key.ID || jwk.Algorithm != "ES256" || jwk.Use != "sig" || !jwk.IsPublic() {
		t.Errorf("JWK = kid %q alg %q use %q public %v", jwk.KeyID, jwk.Algorithm, jwk.Use, jwk.IsPublic())
	}
	if bytes.Contains(k.JWKS(), []byte(`"d"`)) {
		t.Error("JWKS contains private key material")
	}
	if err := verifyWithJWKS(t, sign(t, key, "hello"), k.JWKS()); err != nil {
		t.Errorf("a signature by the first key does not verify with the JWKS: %v", err)
	}
	stored := st.snapshot()
	if stored.Version != 1 || len(stored.Keys) != 1 || stored.Keys[0].Sealed {
		t.Errorf("stored set = version %d, %d keys, sealed %v", stored.Version, len(stored.Keys), stored.Keys[0].Sealed)
	}

	// Another instance starting on the same store uses the same key and writes nothing.
	other := newRing(t, st, clk, Config{})
	if current(t, other).ID != key.ID || st.replaces != 1 {
		t.Errorf("second instance: current %s (want %s), %d writes (want 1)", current(t, other).ID, key.ID, st.replaces)
	}
	// Steady state: maintenance before the rotation is due writes nothing.
	clk.Advance(24 * time.Hour)
	if err := k.Maintain(ctx); err != nil || st.replaces != 1 {
		t.Errorf("idle Maintain = %v, %d writes", err, st.replaces)
	}
}

func TestJWKSBytesAreCached(t *testing.T) {
	k := newRing(t, &memStore{}, newClock(), Config{})
	a, b := k.JWKS(), k.JWKS()
	if &a[0] != &b[0] {
		t.Error("JWKS is rebuilt on every call")
	}
	if err := k.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	if c := k.JWKS(); &a[0] != &c[0] {
		t.Error("JWKS is rebuilt by a Maintain that changed nothing")
	}
}

// TestRotationOverMonths runs two instances sharing one store for five months of simulated time,
// with every server down for five weeks in the middle, and checks what verifiers would see.
func TestRotationOverMonths(t *testing.T) {
	const (
		step     = 5 * time.Minute
		cacheTTL = 10 * time.Minute
		tokenTTL = 2 * time.Hour
		rotation = 30 * 24 * time.Hour
		day      = 24 * time.Hour
	)
	cfg := Config{Rotation: rotation, TokenTTL: tokenTTL, CacheTTL: cacheTTL}
	st := &memStore{}
	clk := newClock()
	start := clk.Now()
	downFrom, downUntil := start.Add(40*day), start.Add(75*day)
	maintainEvery := []int{1, 2} // instance 1 only every CacheTTL, the slowest allowed

	type obs struct {
		at      time.Time
		current [2]string
		jwks    [2][]byte
		kids    [2]map[string]bool
	}
	type token struct {
		at  time.Time
		kid string
		jws string
	}
	var (
		seen     []obs
		tokens   []token
		rings    [2]*Keyring
		lastJWKS [2][]byte
		lastKids [2]map[string]bool
	)
	for i := 0; clk.Now().Before(start.Add(150 * day)); i++ {
		now := clk.Now()
		if !now.Before(downFrom) && now.Before(downUntil) {
			rings = [2]*Keyring{}
			clk.Advance(step)
			continue
		}
		for n := range rings {
			if rings[n] == nil {
				rings[n] = newRing(t, st, clk, cfg)
			} else if i%maintainEvery[n] == 0 {
				if err := rings[n].Maintain(ctx); err != nil {
					t.Fatalf("%s: Maintain: %v", now, err)
				}
			}
		}
		o := obs{at: now}
		for n, k := range rings {
			o.current[n] = current(t, k).ID
			o.jwks[n] = k.JWKS()
			if !bytes.Equal(o.jwks[n], lastJWKS[n]) {
				lastJWKS[n], lastKids[n] = o.jwks[n], kids(t, o.jwks[n])
				if len(lastKids[n]) > 3 {
					t.Errorf("%s: JWKS holds %d keys", now, len(lastKids[n]))
				}
			}
			o.kids[n] = lastKids[n]
		}
		seen = append(seen, o)
		if i%int(day/step) == 0 {
			key := current(t, rings[0])
			tokens = append(tokens, token{now, key.ID, sign(t, key, now.String())})
		}
		clk.Advance(step)
	}

	// Whatever JWKS a verifier fetched from any instance from one cache lifetime before a token
	// was signed until the token expired holds the token's kid.
	j0 := 0
	for _, o := range seen {
		for j0 < len(seen) && seen[j0].at.Before(o.at.Add(-cacheTTL)) {
			j0++
		}
		for j := j0; j < len(seen) && !seen[j].at.After(o.at.Add(tokenTTL)); j++ {
			for x := range 2 {
				for y := range 2 {
					if !seen[j].kids[y][o.current[x]] {
						t.Fatalf("key %s signing on instance %d at %s is missing from instance %d's JWKS at %s",
							o.current[x], x, o.at, y, seen[j].at)
					}
				}
			}
		}
	}

	// The same, with real signatures checked against the JWKS documents at both ends.
	verified := 0
	byTime := map[int64]*obs{}
	for i := range seen {
		byTime[seen[i].at.Unix()] = &seen[i]
	}
	for _, tok := range tokens {
		for _, at := range []time.Time{tok.at.Add(-cacheTTL), tok.at.Add(tokenTTL - step)} {
			o, ok := byTime[at.Unix()]
			if !ok {
				continue // during the outage: no verifier could fetch anything
			}
			for y := range 2 {
				if err := verifyWithJWKS(t, tok.jws, o.jwks[y]); err != nil {
					t.Errorf("token signed at %s by %s fails against instance %d's JWKS at %s: %v", tok.at, tok.kid, y, at, err)
				}
				verified++
			}
		}
	}
	if verified < 3*len(tokens) { // both ends, both instances, except around the outage
		t.Errorf("only %d signature checks for %d tokens", verified, len(tokens))
	}

	// Each key is published at least two cache lifetimes before it signs (the first one excepted).
	firstPublished, firstSigning := map[string]time.Time{}, map[string]time.Time{}
	var order []string
	for _, o := range seen {
		for y := range 2 {
			for kid := range o.kids[y] {
				if _, ok := firstPublished[kid]; !ok {
					firstPublished[kid] = o.at
				}
			}
			if _, ok := firstSigning[o.current[y]]; !ok {
				firstSigning[o.current[y]] = o.at
				order = append(order, o.current[y])
			}
		}
	}
	for _, kid := range order[1:] {
		if lead := firstSigning[kid].Sub(firstPublished[kid]); lead < 2*cacheTTL {
			t.Errorf("key %s signed %s after it was published, want at least %s", kid, lead, 2*cacheTTL)
		}
	}

	// Five months with a rotation every 30 days, where the one due during the outage happens
	// late: the keys 0, 30, 60 (late: 75), 105, 135 days.
	if len(order) != 5 {
		t.Errorf("%d keys signed, want 5", len(order))
	}
	// Each rotation is two writes (publish the successor, later drop the predecessor).
	if st.replaces > 2*len(order) {
		t.Errorf("%d writes for %d keys: maintenance writes when nothing is due", st.replaces, len(order))
	}
}

// TestLateRotationKeepsSigning: when every instance was down past a rotation, the old key keeps
// signing (no gap), the successor waits two cache lifetimes, and the old key stays published
// until its last token expires.
func TestLateRotationKeepsSigning(t *testing.T) {
	cfg := Config{Rotation: 30 * 24 * time.Hour, TokenTTL: 2 * time.Hour, CacheTTL: 10 * time.Minute}
	st := &memStore{}
	clk := newClock()
	old := current(t, newRing(t, st, clk, cfg))

	clk.Advance(200 * 24 * time.Hour) // far past the retirement and the unpublish time
	restarted := newRing(t, st, clk, cfg)
	if cur := current(t, restarted); cur.ID != old.ID {
		t.Fatalf("after the outage the current key is %s, want the old key %s", cur.ID, old.ID)
	}
	if _, ok := restarted.Lookup(old.ID); !ok {
		t.Fatal("the key still signing is not published")
	}
	set := st.snapshot()
	if len(set.Keys) != 2 {
		t.Fatalf("no successor published after the outage: %d keys", len(set.Keys))
	}
	next := set.Keys[1]
	if next.ActivateAt.Sub(clk.Now()) < 2*cfg.CacheTTL {
		t.Errorf("late successor activates %s after publication", next.ActivateAt.Sub(clk.Now()))
	}

	clk.Advance(2*cfg.CacheTTL + time.Second)
	if cur := current(t, restarted); cur.ID != next.ID {
		t.Fatalf("successor does not sign after its activation")
	}
	// A token the old key signed just before the switch lives TokenTTL more.
	clk.Advance(cfg.TokenTTL - 2*time.Second)
	if err := restarted.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := restarted.Lookup(old.ID); !ok {
		t.Error("old key unpublished while its tokens are still valid")
	}
	clk.Advance(cfg.CacheTTL + time.Minute)
	if err := restarted.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := restarted.Lookup(old.ID); ok {
		t.Error("old key still published after its last token expired")
	}
	if got := st.snapshot().Keys; len(got) != 1 || got[0].ID != next.ID {
		t.Errorf("store keeps %d keys after the old one expired", len(got))
	}
}

// TestStoreOutageKeepsSigning: while the database is unreachable nobody can rotate, so the
// current key keeps signing and stays published even past its planned unpublish time.
func TestStoreOutageKeepsSigning(t *testing.T) {
	cfg := Config{Rotation: 30 * 24 * time.Hour, TokenTTL: 2 * time.Hour, CacheTTL: 10 * time.Minute}
	st := &memStore{}
	clk := newClock()
	k := newRing(t, st, clk, cfg)
	key := current(t, k)
	st.down = true
	clk.Advance(31 * 24 * time.Hour)
	if err := k.Maintain(ctx); err == nil {
		t.Fatal("Maintain reported success with the store down")
	}
	if cur := current(t, k); cur.ID != key.ID {
		t.Fatalf("current key changed during the outage")
	}
	if _, ok := k.Lookup(key.ID); !ok {
		t.Error("the key still signing is not verifiable")
	}
	if !kids(t, k.JWKS())[key.ID] {
		t.Error("the key still signing is missing from the JWKS")
	}
	st.down = false
	if err := k.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	if ks := kids(t, k.JWKS()); len(ks) != 2 || !ks[key.ID] {
		t.Errorf("after the outage the JWKS is %v, want the old key and its successor", ks)
	}
}

// TestRacingInstancesMakeOneSuccessor lines two instances up so that both load the set before
// either writes: the compare-and-swap lets exactly one successor through.
func TestRacingInstancesMakeOneSuccessor(t *testing.T) {
	cfg := Config{Rotation: 30 * 24 * time.Hour, CacheTTL: 10 * time.Minute}
	st := &memStore{}
	clk := newClock()
	a, b := newRing(t, st, clk, cfg), newRing(t, st, clk, cfg)
	first := current(t, a)
	clk.Advance(29*24*time.Hour + time.Hour) // inside the publish lead of the first key's retirement

	var loads atomic.Int32
	bothLoaded := make(chan struct{})
	st.afterLoad = func() {
		if loads.Add(1) == 2 {
			close(bothLoaded)
		}
		<-bothLoaded
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, k := range []*Keyring{a, b} {
		wg.Go(func() { errs[i] = k.Maintain(ctx) })
	}
	wg.Wait()
	st.afterLoad = nil
	for _, err := range errs {
		if err != nil {
			t.Fatalf("Maintain: %v", err)
		}
	}
	set := st.snapshot()
	if len(set.Keys) != 2 || st.replaces != 2 {
		t.Fatalf("store has %d keys after %d writes, want 2 keys (one successor)", len(set.Keys), st.replaces)
	}
	if !bytes.Equal(a.JWKS(), b.JWKS()) {
		t.Error("the instances publish different JWKS after the race")
	}
	if ks := kids(t, a.JWKS()); !ks[first.ID] || len(ks) != 2 {
		t.Errorf("JWKS after the race = %v", ks)
	}
	if current(t, a).ID != first.ID || current(t, b).ID != first.ID {
		t.Error("the successor signs before its activation time")
	}
}

func TestSealedKeys(t *testing.T) {
	master := bytes.Repeat([]byte{7}, 32)
	cfg := Config{MasterKey: master}
	st := &memStore{}
	clk := newClock()
	key := current(t, newRing(t, st, clk, cfg))

	stored := st.snapshot()
	sk := stored.Keys[0]
	if !sk.Sealed {
		t.Fatal("key stored unsealed although a master key is set")
	}
	if _, err := x509.ParsePKCS8PrivateKey(sk.Private); err == nil {
		t.Fatal("sealed key parses as plain PKCS #8")
	}
	der, err := x509.MarshalPKCS8PrivateKey(key.Signer)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sk.Private, der[len(der)-32:]) {
		t.Fatal("sealed blob contains the private key bytes")
	}
	if got := current(t, newRing(t, st, clk, cfg)); got.ID != key.ID {
		t.Error("a second instance with the right master key does not use the sealed key")
	}

	// A second key, to try swapping sealed blobs between kids.
	clk.Advance(30 * 24 * time.Hour)
	if err := newRing(t, st, clk, cfg).Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	good := st.snapshot()
	swapped := cloneKeys(good.Keys)
	swapped[0].Private, swapped[1].Private = swapped[1].Private, swapped[0].Private
	tampered := cloneKeys(good.Keys)
	tampered[0].Private[len(tampered[0].Private)-1] ^= 1

	for _, tc := range []struct {
		name   string
		keys   []keyward.SigningKey
		master []byte
	}{
		{"wrong master key", good.Keys, bytes.Repeat([]byte{8}, 32)},
		{"no master key", good.Keys, nil},
		{"blobs swapped between kids", swapped, master},
		{"tampered blob", tampered, master},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &memStore{set: keyward.SigningKeySet{Version: 9, Keys: cloneKeys(tc.keys)}}
			_, err := New(ctx, st, Config{MasterKey: tc.master, Now: clk.Now})
			if err == nil {
				t.Fatal("New succeeded with keys it cannot open")
			}
			if st.replaces != 0 {
				t.Error("New wrote keys after failing to open the stored ones")
			}
			if strings.Contains(err.Error(), hex.EncodeToString(master)) {
				t.Error("error shows the master key")
			}
		})
	}
}

func TestUnsealedKeysAreSealedOnceMasterKeySet(t *testing.T) {
	st := &memStore{}
	clk := newClock()
	key := current(t, newRing(t, st, clk, Config{}))
	sealedRing := newRing(t, st, clk, Config{MasterKey: bytes.Repeat([]byte{1}, 32)})
	if current(t, sealedRing).ID != key.ID {
		t.Fatal("setting a master key changed the signing key")
	}
	if sk := st.snapshot().Keys[0]; !sk.Sealed || sk.ID != key.ID {
		t.Error("the existing key was not sealed at the first write")
	}
}

func TestUndecodableKeysStopStart(t *testing.T) {
	clk := newClock()
	now := clk.Now()
	stage := func(id, alg string, private []byte) keyward.SigningKey {
		return keyward.SigningKey{ID: id, Alg: alg, Private: private, CreatedAt: now,
			PublishAt: now, ActivateAt: now, RetireAt: now.Add(time.Hour), UnpublishAt: now.Add(2 * time.Hour)}
	}
	ecDER := func() []byte {
		p, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		b, _ := x509.MarshalPKCS8PrivateKey(p)
		return b
	}()
	p384DER := func() []byte {
		p, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		b, _ := x509.MarshalPKCS8PrivateKey(p)
		return b
	}()
	rsa1024 := func() []byte {
		p, err := rsa.GenerateKey(rand.Reader, 1024)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := x509.MarshalPKCS8PrivateKey(p)
		return b
	}()
	for _, tc := range []struct {
		name string
		keys []keyward.SigningKey
	}{
		{"garbage", []keyward.SigningKey{stage("a", ES256, []byte("not a key"))}},
		{"empty", []keyward.SigningKey{stage("a", ES256, nil)}},
		{"EC key labelled EdDSA", []keyward.SigningKey{stage("a", EdDSA, ecDER)}},
		{"P-384 key labelled ES256", []keyward.SigningKey{stage("a", ES256, p384DER)}},
		{"RSA below 2048 bits", []keyward.SigningKey{stage("a", RS256, rsa1024)}},
		{"unknown alg", []keyward.SigningKey{stage("a", "HS256", ecDER)}},
		{"missing kid", []keyward.SigningKey{stage("", ES256, ecDER)}},
		{"duplicate kid", []keyward.SigningKey{stage("a", ES256, ecDER), stage("a", ES256, ecDER)}},
		{"one bad among good", []keyward.SigningKey{stage("a", ES256, ecDER), stage("b", ES256, ecDER[:40])}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &memStore{set: keyward.SigningKeySet{Version: 3, Keys: tc.keys}}
			if _, err := New(ctx, st, Config{Now: clk.Now}); err == nil {
				t.Fatal("New accepted an unusable key")
			}
			if st.replaces != 0 {
				t.Error("New replaced an unusable key instead of stopping")
			}
		})
	}
}

func TestRequireExisting(t *testing.T) {
	st := &memStore{}
	if _, err := New(ctx, st, Config{RequireExisting: true}); err == nil || st.replaces != 0 {
		t.Fatalf("New on an empty set with RequireExisting = %v, %d writes", err, st.replaces)
	}
	clk := newClock()
	newRing(t, st, clk, Config{})
	newRing(t, st, clk, Config{RequireExisting: true})
}

func TestAlgorithms(t *testing.T) {
	for _, tc := range []struct{ alg, kty string }{{ES256, "EC"}, {EdDSA, "OKP"}, {RS256, "RSA"}} {
		t.Run(tc.alg, func(t *testing.T) {
			k := newRing(t, &memStore{}, newClock(), Config{Alg: tc.alg})
			key := current(t, k)
			if key.Alg != tc.alg {
				t.Fatalf("alg = %s", key.Alg)
			}
			var raw struct {
				Keys []map[string]any `json:"keys"`
			}
			if err := json.Unmarshal(k.JWKS(), &raw); err != nil {
				t.Fatal(err)
			}
			if len(raw.Keys) != 1 || raw.Keys[0]["kty"] != tc.kty || raw.Keys[0]["alg"] != tc.alg || raw.Keys[0]["use"] != "sig" {
				t.Errorf("JWK = %v", raw.Keys)
			}
			if err := verifyWithJWKS(t, sign(t, key, "x"), k.JWKS()); err != nil {
				t.Error(err)
			}
			if tc.alg == RS256 {
				if bits := key.Public.(*rsa.PublicKey).N.BitLen(); bits < MinRSABits {
					t.Errorf("RSA key of %d bits", bits)
				}
			}
		})
	}
}

// TestAlgorithmChangeRotatesEarly: switching the configured algorithm stages a successor at once
// instead of waiting for the rotation, still publishing it two cache lifetimes ahead.
func TestAlgorithmChangeRotatesEarly(t *testing.T) {
	st := &memStore{}
	clk := newClock()
	cfg := Config{CacheTTL: 10 * time.Minute}
	old := current(t, newRing(t, st, clk, cfg))
	clk.Advance(24 * time.Hour)
	cfg.Alg = EdDSA
	k := newRing(t, st, clk, cfg)
	if current(t, k).ID != old.ID {
		t.Fatal("the new algorithm signs before it was published")
	}
	if ks := kids(t, k.JWKS()); len(ks) != 2 {
		t.Fatalf("successor not published: %v", ks)
	}
	clk.Advance(2*cfg.CacheTTL + time.Second)
	if got := current(t, k); got.Alg != EdDSA {
		t.Errorf("after two cache lifetimes the current key is %s", got.Alg)
	}
	if _, ok := k.Lookup(old.ID); !ok {
		t.Error("the old key left the JWKS while its tokens are valid")
	}
}

func TestSuccessorPublishedButNotSigning(t *testing.T) {
	st := &memStore{}
	clk := newClock()
	k := newRing(t, st, clk, Config{})
	first := current(t, k)
	clk.Advance(DefaultRotation - time.Hour)
	if err := k.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	next := st.snapshot().Keys[1]
	if _, ok := k.Lookup(next.ID); !ok {
		t.Error("successor not verifiable while published")
	}
	if current(t, k).ID != first.ID {
		t.Error("successor signs before its activation")
	}
	clk.Advance(time.Hour)
	if current(t, k).ID != next.ID {
		t.Error("successor does not sign at its activation time (no Maintain needed)")
	}
}

// TestConcurrentUse exercises the hot path while maintenance rotates, for the race detector.
func TestConcurrentUse(t *testing.T) {
	st := &memStore{}
	clk := newClock()
	k := newRing(t, st, clk, Config{Rotation: time.Hour, CacheTTL: time.Minute, TokenTTL: time.Minute})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				key, err := k.Current()
				if err != nil {
					t.Error(err)
					return
				}
				// The clock moves under the readers, so only what holds at every instant is
				// checked here; the stage rules have their own tests.
				k.Lookup(key.ID)
				if len(k.JWKS()) < len(`{"keys":[{}]}`) {
					t.Error("empty JWKS while a key signs")
					return
				}
			}
		})
	}
	for range 200 {
		clk.Advance(time.Minute)
		if err := k.Maintain(ctx); err != nil {
			t.Error(err)
			break
		}
	}
	close(stop)
	wg.Wait()
}
