package apikey_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"go/parser"
	"go/token"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/apikey"
)

// counter yields 0, 1, 2, … 255, 0, 1, … so that generated keys are predictable.
type counter struct{ n byte }

func (c *counter) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = c.n
		c.n++
	}
	return len(p), nil
}

// Golden keys were computed independently (CRC-32 IEEE, base62 big-endian, zero-padded), so a
// change to the checksum encoding would invalidate keys already handed out, and this test says so.
const (
	goldenKey = "kw_0123456789ABCDEFSTUVWXYZabcdefghijklmnopqrstuvwx4RGTmp"
	zerosKey  = "kw_00000000000000000000000000000000000000000000000008eYgm"
	zKey      = "kw_zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz1D6CMF"
)

func TestNewIsDeterministicGivenTheReader(t *testing.T) {
	key, id, err := apikey.New(&counter{})
	if err != nil {
		t.Fatal(err)
	}
	if key != goldenKey || id != "0123456789ABCDEF" {
		t.Fatalf("New = %q, %q; want %q, %q", key, id, goldenKey, "0123456789ABCDEF")
	}
}

func TestNewShape(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		key, id, err := apikey.New(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if len(key) != 57 || apikey.Length != 57 {
			t.Fatalf("len(key) = %d, Length = %d; want 57", len(key), apikey.Length)
		}
		if got, err := apikey.Parse(key); err != nil || got != id {
			t.Fatalf("Parse(New()) = %q, %v; want %q, nil", got, err, id)
		}
		if !apikey.ValidID(id) || !apikey.LooksLike(key) {
			t.Fatalf("ValidID/LooksLike reject a new key")
		}
		if seen[key] || seen[id] {
			t.Fatalf("New repeated itself")
		}
		seen[key], seen[id] = true, true
	}
}

func TestNewPassesReaderErrors(t *testing.T) {
	for _, n := range []int{0, 10, 40} { // fail while reading the id, then while reading the secret
		r := io.MultiReader(bytes.NewReader(make([]byte, n)), iotest{errors.New("entropy exhausted")})
		key, id, err := apikey.New(r)
		if err == nil || key != "" || id != "" {
			t.Errorf("after %d bytes: New = %q, %q, %v; want an error and no key", n, key, id, err)
		}
	}
}

type iotest struct{ err error }

func (e iotest) Read([]byte) (int, error) { return 0, e.err }

func TestParse(t *testing.T) {
	flip := func(s string, i int, c byte) string { b := []byte(s); b[i] = c; return string(b) }
	tests := []struct {
		name, key, id string
		msg           string // part of the error message; "" means valid
	}{
		{"golden", goldenKey, "0123456789ABCDEF", ""},
		{"zeros", zerosKey, "0000000000000000", ""},
		{"z", zKey, "zzzzzzzzzzzzzzzz", ""},
		{"empty", "", "", "starts with"},
		{"no prefix", goldenKey[3:], "", "starts with"},
		{"upper-case prefix", "KW_" + goldenKey[3:], "", "starts with"},
		{"other prefix", "kx_" + goldenKey[3:], "", "starts with"},
		{"truncated", goldenKey[:56], "", "57 characters"},
		{"extra character", goldenKey + "0", "", "57 characters"},
		{"trailing newline", goldenKey + "\n", "", "57 characters"},
		{"leading space", " " + goldenKey[:56], "", "starts with"},
		{"underscore inside", flip(goldenKey, 20, '_'), "", "letters and digits"},
		{"dash inside", flip(goldenKey, 3, '-'), "", "letters and digits"},
		{"NUL inside", flip(goldenKey, 40, 0), "", "letters and digits"},
		{"non-ASCII inside", goldenKey[:55] + "é", "", "letters and digits"},
		{"typo in secret", flip(goldenKey, 30, 'Q'), "", "checksum"},
		{"typo in id", flip(goldenKey, 3, '1'), "", "checksum"},
		{"typo in checksum", flip(goldenKey, 56, 'q'), "", "checksum"},
		{"swapped case", flip(goldenKey, 20, 't'), "", "checksum"},
		{"checksum out of range", zKey[:51] + "zzzzzz", "", "checksum"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := apikey.Parse(tt.key)
			if tt.msg == "" {
				if err != nil || id != tt.id {
					t.Fatalf("Parse = %q, %v; want %q, nil", id, err, tt.id)
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse = %q, nil; want an error", id)
			}
			if id != "" {
				t.Errorf("Parse returned id %q with an error", id)
			}
			if keyward.ErrorCode(err) != keyward.EINVALID {
				t.Errorf("code = %q, want %q", keyward.ErrorCode(err), keyward.EINVALID)
			}
			msg := keyward.ErrorMessage(err)
			if !strings.Contains(msg, tt.msg) {
				t.Errorf("message %q does not mention %q", msg, tt.msg)
			}
			if len(tt.key) > 8 && strings.Contains(err.Error(), tt.key[8:20]) {
				t.Errorf("error %q repeats the key", err)
			}
		})
	}
}

func TestHash(t *testing.T) {
	// SHA-256 of the whole key string, computed independently: stored hashes depend on it.
	const want = "480c4588763b9a3ed3d07a28eb31419e03206b16ca2c1aae6769c40d99c9d371"
	if got := hex.EncodeToString(apikey.Hash(goldenKey)); got != want {
		t.Fatalf("Hash = %s, want %s", got, want)
	}
	if bytes.Equal(apikey.Hash(goldenKey), apikey.Hash(zerosKey)) {
		t.Fatal("two keys hash alike")
	}
}

func TestVerify(t *testing.T) {
	h := apikey.Hash(goldenKey)
	if !apikey.Verify(goldenKey, h) {
		t.Error("Verify rejects the key it hashed")
	}
	for _, k := range []string{zerosKey, goldenKey[:56], "", goldenKey + " "} {
		if apikey.Verify(k, h) {
			t.Errorf("Verify(%q) accepts another key's hash", k)
		}
	}
	if apikey.Verify(goldenKey, h[:16]) || apikey.Verify(goldenKey, nil) {
		t.Error("Verify accepts a truncated hash")
	}
}

func TestHint(t *testing.T) {
	for in, want := range map[string]string{goldenKey: "GTmp", zerosKey: "eYgm", "abcd": "abcd", "abc": "", "": ""} {
		if got := apikey.Hint(in); got != want {
			t.Errorf("Hint(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestValidID(t *testing.T) {
	tests := map[string]bool{
		"0123456789ABCDEF":   true,
		"zzzzzzzzzzzzzzzz":   true,
		"0123456789ABCDE":    false,
		"0123456789ABCDEFG":  false,
		"0123456789ABCDE_":   false,
		"0123456789ABCDE ":   false,
		"":                   false,
		"kw_0123456789ABC":   false,
		"usr_0123456789ABCD": false,
	}
	for id, want := range tests {
		if got := apikey.ValidID(id); got != want {
			t.Errorf("ValidID(%q) = %v, want %v", id, got, want)
		}
	}
}

func TestLooksLike(t *testing.T) {
	tests := map[string]bool{
		goldenKey:                               true,
		goldenKey[:56] + "x":                    true, // a typo: still a key, not a token, so say "exchange it"
		goldenKey[:56]:                          false,
		goldenKey + "x":                         false,
		"Bearer " + goldenKey:                   false,
		"eyJhbGciOiJFUzI1NiJ9.e.s":              false,
		strings.Replace(goldenKey, "A", "-", 1): false,
		"":                                      false,
	}
	for s, want := range tests {
		if got := apikey.LooksLike(s); got != want {
			t.Errorf("LooksLike(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestFind(t *testing.T) {
	bad := goldenKey[:56] + "x" // shape of a key, wrong checksum
	type m struct {
		start int
		id    string
		valid bool
	}
	tests := []struct {
		name string
		data string
		want []m
	}{
		{"nothing", "no keys here", nil},
		{"empty", "", nil},
		{"alone", goldenKey, []m{{0, "0123456789ABCDEF", true}}},
		{"in assignment", "KEYWARD_API_KEY=" + goldenKey + "\n", []m{{16, "0123456789ABCDEF", true}}},
		{"quoted", `key: "` + zerosKey + `"`, []m{{6, "0000000000000000", true}}},
		{"look-alike", "x " + bad + " y", []m{{2, "0123456789ABCDEF", false}}},
		{"two, one space apart", goldenKey + " " + zKey, []m{{0, "0123456789ABCDEF", true}, {58, "zzzzzzzzzzzzzzzz", true}}},
		{"after underscore", "KEY_" + goldenKey, []m{{4, "0123456789ABCDEF", true}}},
		{"prefix repeated", "kw_" + goldenKey, []m{{3, "0123456789ABCDEF", true}}},
		{"in a URL", "https://x.test/?k=" + goldenKey + "&y=1", []m{{18, "0123456789ABCDEF", true}}},
		{"letter before", "a" + goldenKey, nil},
		{"digit after", goldenKey + "0", nil},
		{"longer run", goldenKey + goldenKey[3:], nil},
		{"truncated", goldenKey[:56], nil},
		{"truncated then text", goldenKey[:56] + " more text here", nil},
		{"upper-case prefix", "KW_" + goldenKey[3:], nil},
		{"non-ASCII around", "é" + goldenKey + "é", []m{{2, "0123456789ABCDEF", true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := apikey.Find([]byte(tt.data))
			if len(got) != len(tt.want) {
				t.Fatalf("Find found %d keys (%+v), want %d", len(got), got, len(tt.want))
			}
			for i, w := range tt.want {
				g := got[i]
				if g.Start != w.start || g.End != w.start+apikey.Length || g.ID != w.id || g.Valid != w.valid {
					t.Errorf("match %d = %+v, want start %d id %q valid %v", i, g, w.start, w.id, w.valid)
				}
			}
		})
	}
}

// TestDependencies keeps the public package importable by resource servers without dragging in
// anything but the standard library and the root package.
func TestDependencies(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			first, _, _ := strings.Cut(path, "/")
			if path != "github.com/keyward/keyward" && strings.Contains(first, ".") {
				t.Errorf("%s imports %s; apikey may use only the standard library and the root package", name, path)
			}
		}
	}
}

func BenchmarkNew(b *testing.B) {
	for b.Loop() {
		if _, _, err := apikey.New(rand.Reader); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	for b.Loop() {
		if _, err := apikey.Parse(goldenKey); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHash(b *testing.B) {
	for b.Loop() {
		apikey.Hash(goldenKey)
	}
}

func BenchmarkFind(b *testing.B) {
	data := bytes.Repeat([]byte("some text kw_ with look-alike prefixes and no keys at all\n"), 1000)
	data = append(data, goldenKey...)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if len(apikey.Find(data)) != 1 {
			b.Fatal("key not found")
		}
	}
}

func TestNewForIDKeepsTheID(t *testing.T) {
	key, id, err := apikey.New(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	next, err := apikey.NewForID(rand.Reader, id)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := apikey.Parse(next); err != nil || got != id {
		t.Fatalf("Parse(NewForID) = %q, %v; want %q", got, err, id)
	}
	if next == key {
		t.Fatal("NewForID returned the same key")
	}
	if _, err := apikey.NewForID(rand.Reader, "not an id"); err == nil {
		t.Fatal("NewForID accepted an invalid id")
	}
}
