package password

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"unicode/utf8"

	"github.com/keyward/keyward"
)

// cheap keeps the suite fast; the cost parameters do not change any behaviour under test.
var cheap = Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// Vectors from the argon2 reference implementation's test suite (password "password", salt
// "somesalt"): they prove the hashes interoperate with other argon2id implementations.
const (
	refP1 = "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4"
	refP2 = "$argon2id$v=19$m=256,t=2,p=2$c29tZXNhbHQ$bQk8UB/VmZZF4Oo79iDXuL5/0ttZwg2f/5U52iv1cDc"
)

func TestVerifyReferenceVectors(t *testing.T) {
	h := NewHasher(cheap, 2)
	for _, enc := range []string{refP1, refP2} {
		ok, err := h.Verify(t.Context(), enc, "password")
		if err != nil || !ok {
			t.Errorf("Verify(%s, password) = %v, %v; want true", enc, ok, err)
		}
		ok, err = h.Verify(t.Context(), enc, "passwore")
		if err != nil || ok {
			t.Errorf("Verify(%s, passwore) = %v, %v; want false", enc, ok, err)
		}
	}
}

func TestHashWritesTheReferenceFormat(t *testing.T) {
	h := NewHasher(Params{Memory: 256, Time: 2, Threads: 1, SaltLen: 8, KeyLen: 32}, 1)
	got, err := h.Hash(t.Context(), "password", strings.NewReader("somesalt"))
	if err != nil {
		t.Fatal(err)
	}
	if got != refP1 {
		t.Fatalf("Hash = %s\nwant   %s", got, refP1)
	}
}

func TestHashAndVerify(t *testing.T) {
	h := NewHasher(cheap, 2)
	for _, pw := range []string{"correct horse battery staple", "ünïcödé-pässwörd", strings.Repeat("x", MaxBytes)} {
		enc, err := h.Hash(t.Context(), pw, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$") {
			t.Errorf("Hash = %s; want the PHC argon2id format with the hasher's parameters", enc)
		}
		if strings.Contains(enc, pw) {
			t.Errorf("hash %s contains the password", enc)
		}
		if ok, err := h.Verify(t.Context(), enc, pw); !ok || err != nil {
			t.Errorf("Verify(right password) = %v, %v", ok, err)
		}
		for _, wrong := range []string{pw + " ", pw[1:], strings.ToUpper(pw), ""} {
			if ok, err := h.Verify(t.Context(), enc, wrong); ok || err != nil {
				t.Errorf("Verify(%.20q) = %v, %v; want false, nil", wrong, ok, err)
			}
		}
		again, _ := h.Hash(t.Context(), pw, rand.Reader)
		if again == enc {
			t.Error("two hashes of one password are equal: the salt is not random")
		}
	}
}

func TestVerifyUsesTheParametersInTheHash(t *testing.T) {
	old := NewHasher(Params{Memory: 128, Time: 2, Threads: 2, SaltLen: 8, KeyLen: 16}, 1)
	enc, err := old.Hash(t.Context(), "an older password", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	current := NewHasher(cheap, 1)
	if ok, err := current.Verify(t.Context(), enc, "an older password"); !ok || err != nil {
		t.Fatalf("Verify with other parameters = %v, %v; want true", ok, err)
	}
	if !current.NeedsRehash(enc) || old.NeedsRehash(enc) {
		t.Error("NeedsRehash does not follow the parameters")
	}
	if !current.NeedsRehash("garbage") {
		t.Error("NeedsRehash(garbage) = false")
	}
}

func TestNormalization(t *testing.T) {
	h := NewHasher(cheap, 1)
	composed, decomposed := "caf\u00e9-au-lait", "cafe\u0301-au-lait"
	enc, err := h.Hash(t.Context(), composed, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := h.Verify(t.Context(), enc, decomposed); !ok {
		t.Error("a decomposed accent does not match the composed one")
	}
	if ok, _ := h.Verify(t.Context(), enc, "cafe-au-lait"); ok {
		t.Error("normalization dropped the accent")
	}
}

func TestVerifyRejectsMalformedHashes(t *testing.T) {
	h := NewHasher(cheap, 1)
	tests := []struct{ name, enc string }{
		{"empty", ""},
		{"argon2i", strings.Replace(refP1, "argon2id", "argon2i", 1)},
		{"argon2d", strings.Replace(refP1, "argon2id", "argon2d", 1)},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"version 16", strings.Replace(refP1, "v=19", "v=16", 1)},
		{"no version", strings.Replace(refP1, "v=19$", "", 1)},
		{"memory too large", strings.Replace(refP1, "m=256", "m=262145", 1)},
		{"memory overflows", strings.Replace(refP1, "m=256", "m=4294967296", 1)},
		{"memory below 8 KiB per thread", strings.Replace(refP2, "m=256", "m=15", 1)},
		{"time zero", strings.Replace(refP1, "t=2", "t=0", 1)},
		{"time too large", strings.Replace(refP1, "t=2", "t=11", 1)},
		{"parallelism zero", strings.Replace(refP1, "p=1", "p=0", 1)},
		{"parallelism wraps a byte", strings.Replace(refP1, "p=1", "p=257", 1)},
		{"parallelism too large", strings.Replace(refP1, "p=1", "p=17", 1)},
		{"leading zero", strings.Replace(refP1, "t=2", "t=02", 1)},
		{"plus sign", strings.Replace(refP1, "t=2", "t=+2", 1)},
		{"negative", strings.Replace(refP1, "t=2", "t=-2", 1)},
		{"parameters reordered", strings.Replace(refP1, "m=256,t=2", "t=2,m=256", 1)},
		{"parameter missing", strings.Replace(refP1, ",p=1", "", 1)},
		{"extra parameter", strings.Replace(refP1, "p=1", "p=1,keyid=AAAA", 1)},
		{"extra field", refP1 + "$AAAA"},
		{"salt missing", strings.Replace(refP1, "$c29tZXNhbHQ", "", 1)},
		{"salt too short", strings.Replace(refP1, "c29tZXNhbHQ", "c29tZQ", 1)},
		{"salt padded", strings.Replace(refP1, "c29tZXNhbHQ", "c29tZXNhbHQ=", 1)},
		{"salt url-safe alphabet", strings.Replace(refP2, "bQk8UB/V", "bQk8UB_V", 1)},
		{"salt non-canonical bits", strings.Replace(refP1, "c29tZXNhbHQ", "c29tZXNhbHR", 1)},
		{"hash too short", strings.Replace(refP1, "nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4", "nf65EOgLrQMR/uIPnA4r", 1)},
		{"hash too long", refP1 + strings.Repeat("A", 200)},
		{"whitespace", refP1 + " "},
		{"line break in hash", strings.Replace(refP1, "nf65", "nf\r\n65", 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := h.Verify(t.Context(), tt.enc, "password")
			if ok || !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("Verify = %v, %v; want false, ErrMalformedHash", ok, err)
			}
			if keyward.ErrorCode(err) != keyward.EINTERNAL {
				t.Errorf("code %q; a corrupt stored hash is an internal error", keyward.ErrorCode(err))
			}
		})
	}
}

func TestVerifyDummyCostsLikeVerify(t *testing.T) {
	h := NewHasher(cheap, 1)
	var calls []Params
	h.kdf = func(pw, salt []byte, p Params) []byte {
		calls = append(calls, p)
		return idKey(pw, salt, p)
	}
	enc, err := h.Hash(t.Context(), "some password", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := h.Verify(t.Context(), enc, "wrong password"); ok {
		t.Fatal("wrong password accepted")
	}
	h.VerifyDummy(t.Context(), "wrong password")
	if len(calls) != 3 || calls[1] != calls[2] || calls[2] != cheap {
		t.Fatalf("argon2id ran with %+v; VerifyDummy must run it once, as Verify does, with the same parameters", calls)
	}
	if ok, err := h.Verify(t.Context(), h.dummy, ""); ok || err != nil {
		t.Fatalf("the dummy hash matched the empty password (%v) or is malformed (%v)", ok, err)
	}
}

func TestHashReadError(t *testing.T) {
	h := NewHasher(cheap, 1)
	enc, err := h.Hash(t.Context(), "some password", bytes.NewReader(make([]byte, 5)))
	if err == nil || enc != "" {
		t.Fatalf("Hash with a short random reader = %q, %v; want an error", enc, err)
	}
}

func TestConcurrencyIsBounded(t *testing.T) {
	const limit, callers = 3, 12
	h := NewHasher(cheap, limit)
	var running, peak atomic.Int32
	entered, release := make(chan struct{}), make(chan struct{})
	h.kdf = func(pw, salt []byte, p Params) []byte {
		n := running.Add(1)
		for {
			m := peak.Load()
			if n <= m || peak.CompareAndSwap(m, n) {
				break
			}
		}
		entered <- struct{}{}
		<-release
		running.Add(-1)
		return make([]byte, p.KeyLen)
	}
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			if _, err := h.Hash(context.Background(), "some password", rand.Reader); err != nil {
				t.Error(err)
			}
		})
	}
	for range limit {
		<-entered
	}
	for i := range callers {
		release <- struct{}{}
		if i < callers-limit {
			<-entered
		}
	}
	wg.Wait()
	if got := peak.Load(); got != limit {
		t.Fatalf("at most %d hashes ran at once; want exactly %d", got, limit)
	}
}

func TestWaitingRespectsCancellation(t *testing.T) {
	h := NewHasher(cheap, 1)
	entered, release := make(chan struct{}), make(chan struct{})
	h.kdf = func(pw, salt []byte, p Params) []byte {
		entered <- struct{}{}
		<-release
		return make([]byte, p.KeyLen)
	}
	done := make(chan error)
	go func() {
		_, err := h.Hash(context.Background(), "first password", rand.Reader)
		done <- err
	}()
	<-entered // the only slot is taken

	ctx, cancel := context.WithCancel(context.Background())
	waiting := make(chan error)
	go func() {
		_, err := h.Verify(ctx, refP1, "password")
		waiting <- err
	}()
	cancel()
	select {
	case err := <-waiting:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Verify after cancel = %v; want context.Canceled", err)
		}
	case <-entered:
		t.Fatal("a second hash ran while the only slot was taken")
	}
	release <- struct{}{}
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// A context that is already done never starts a hash, even with a free slot.
	h.kdf = func([]byte, []byte, Params) []byte { t.Fatal("hash ran"); return nil }
	if ok, err := h.Verify(ctx, refP1, "password"); ok || !errors.Is(err, context.Canceled) {
		t.Fatalf("Verify with a cancelled context = %v, %v", ok, err)
	}
}

func TestNewHasher(t *testing.T) {
	if h := NewHasher(Params{}, 0); h.params != DefaultParams || cap(h.sem) < 1 {
		t.Errorf("NewHasher(zero) = params %+v, %d slots; want the defaults", h.params, cap(h.sem))
	}
	if DefaultParams != (Params{Memory: 7168, Time: 5, Threads: 1, SaltLen: 16, KeyLen: 32}) {
		t.Errorf("DefaultParams = %+v; want OWASP's m=7168,t=5,p=1", DefaultParams)
	}
	for _, p := range []Params{
		{Memory: MaxMemory + 1, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		{Memory: 64, Time: 1, Threads: 1, SaltLen: 4, KeyLen: 32},
		{Memory: 64, Time: 0, Threads: 1, SaltLen: 16, KeyLen: 32},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewHasher(%+v) did not panic; its hashes could never verify", p)
				}
			}()
			NewHasher(p, 1)
		}()
	}
}

// TestCommonList: the bundled list holds what its comment says, and generated passwords (the
// first admin's) pass.
func TestCommonList(t *testing.T) {
	if n := len(common()); n != CommonCount {
		t.Fatalf("the bundled list holds %d passwords, want %d", n, CommonCount)
	}
	for pw := range common() {
		if utf8.RuneCountInString(pw) < MinLength || pw != strings.ToLower(pw) {
			t.Fatalf("%q should not be on the list", pw)
		}
	}
	for range 100 {
		pw, err := keyward.RandomBase62(rand.Reader, 24)
		if err != nil {
			t.Fatal(err)
		}
		if err := Validate(pw); err != nil {
			t.Fatalf("a generated password is refused: %v", err)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name, password string
		msg            string // part of the error message; "" means valid
	}{
		{"eight ASCII", "abcdefgh", ""},
		{"passphrase", "correct horse battery staple", ""},
		{"eight non-ASCII characters", "ääääääää", ""},
		{"emoji", "🔑🔑🔑🔑🔑🔑🔑🔑", ""},
		{"longest", strings.Repeat("a", 1024), ""},
		{"no composition rules", "aaaaaaaa", ""},
		{"common", "password1", "most common"},
		{"common in capitals", "PassWord1", "most common"},
		{"common, full-width", "ｐａｓｓｗｏｒｄ１", "most common"},
		{"the list's last", "dalmatio", "most common"},
		{"common with a suffix", "password1!x", ""},
		{"empty", "", "at least 8 characters"},
		{"seven", "abcdefg", "at least 8 characters"},
		{"seven characters in eight bytes", "äbcdefg", "at least 8 characters"},
		{"too long", strings.Repeat("a", 1025), "at most 1024 bytes"},
		{"too long in bytes", strings.Repeat("ä", 513), "at most 1024 bytes"},
		{"invalid UTF-8", "abcdefgh\xff", "UTF-8"},
		{"truncated rune", "abcdefgh\xc3", "UTF-8"},
		{"NUL", "abcd\x00efgh", "NUL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.password)
			if tt.msg == "" {
				if err != nil {
					t.Fatalf("Validate = %v; want nil", err)
				}
				return
			}
			if keyward.ErrorCode(err) != keyward.EINVALID || !strings.Contains(keyward.ErrorMessage(err), tt.msg) {
				t.Fatalf("Validate = %v; want EINVALID mentioning %q", err, tt.msg)
			}
			if len(tt.password) >= 4 && strings.Contains(err.Error(), tt.password) {
				t.Errorf("error %q repeats the password", err)
			}
		})
	}
}

// FuzzDecode checks that a stored hash, however tampered with, never panics the parser, and
// that whatever it accepts is within the limits and has exactly one spelling.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{refP1, refP2, "", "$argon2id$v=19$m=,t=,p=$$", "$argon2id$v=19$m=1,t=1,p=1$$"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, salt, key, err := decode(s)
		if err != nil {
			if !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("decode error %v is not ErrMalformedHash", err)
			}
			return
		}
		if p.validate() != nil {
			t.Fatalf("decode accepted parameters %+v outside the limits", p)
		}
		if again := encode(p, salt, key); again != s {
			t.Fatalf("decode(%q) re-encodes as %q", s, again)
		}
	})
}

func BenchmarkHashDefault(b *testing.B) {
	h := NewHasher(DefaultParams, 1)
	for b.Loop() {
		if _, err := h.Hash(b.Context(), "correct horse battery staple", rand.Reader); err != nil {
			b.Fatal(err)
		}
	}
}
