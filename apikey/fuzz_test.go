package apikey_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/keyward/keyward/apikey"
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// FuzzParse checks that Parse never panics and accepts exactly what New can produce: any string
// it accepts is rebuilt, character for character, by New from a reader that yields the indexes
// of its id and secret characters.
func FuzzParse(f *testing.F) {
	for _, s := range []string{goldenKey, zerosKey, zKey, "", "kw_", goldenKey[:56] + "x", "KW_" + goldenKey[3:]} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := apikey.Parse(s)
		if err != nil {
			if id != "" {
				t.Fatalf("Parse returned id %q with error %v", id, err)
			}
			return
		}
		if !apikey.LooksLike(s) || !apikey.ValidID(id) || id != s[3:19] {
			t.Fatalf("Parse accepted %q (id %q), which does not have the shape of a key", s, id)
		}
		var idx []byte
		for i := 3; i < 51; i++ {
			idx = append(idx, byte(strings.IndexByte(base62, s[i])))
			if i == 18 {
				// New reads the id and the secret separately, each in one batch of
				// n + n/4 + 8 bytes; pad the id's batch.
				idx = append(idx, make([]byte, 4+8)...)
			}
		}
		key, newID, err := apikey.New(bytes.NewReader(append(idx, make([]byte, 64)...)))
		if err != nil || key != s || newID != id {
			t.Fatalf("Parse accepted %q, but New makes %q from the same characters (err %v)", s, key, err)
		}
	})
}

// FuzzNew checks that whatever the reader yields, New's keys parse.
func FuzzNew(f *testing.F) {
	f.Add(bytes.Repeat([]byte{255}, 200))
	f.Add(make([]byte, 200))
	f.Fuzz(func(t *testing.T, random []byte) {
		key, id, err := apikey.New(bytes.NewReader(random))
		if err != nil {
			return // the reader ran dry
		}
		if got, err := apikey.Parse(key); err != nil || got != id {
			t.Fatalf("Parse(%q) = %q, %v; want %q, nil", key, got, err, id)
		}
		if m := apikey.Find([]byte(key)); len(m) != 1 || !m[0].Valid || m[0].ID != id {
			t.Fatalf("Find(%q) = %+v", key, m)
		}
	})
}

// FuzzFind checks that Find never panics, reports only well-bounded key-shaped tokens in order,
// agrees with Parse on validity, and never misses a real key that follows arbitrary text.
func FuzzFind(f *testing.F) {
	for _, s := range []string{"", goldenKey, "kw_kw_kw_", "a" + goldenKey, goldenKey + " " + zKey, "kw_" + goldenKey} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		prev := 0
		for _, m := range apikey.Find(data) {
			if m.Start < prev || m.End != m.Start+apikey.Length || m.End > len(data) {
				t.Fatalf("match %+v out of order or out of bounds (len %d, previous end %d)", m, len(data), prev)
			}
			prev = m.End
			tok := string(data[m.Start:m.End])
			if !apikey.LooksLike(tok) || m.ID != tok[3:19] {
				t.Fatalf("match %q is not key-shaped or has the wrong id %q", tok, m.ID)
			}
			if _, err := apikey.Parse(tok); (err == nil) != m.Valid {
				t.Fatalf("match %q: Valid = %v, Parse error %v", tok, m.Valid, err)
			}
			if m.Start > 0 && strings.IndexByte(base62, data[m.Start-1]) >= 0 ||
				m.End < len(data) && strings.IndexByte(base62, data[m.End]) >= 0 {
				t.Fatalf("match %q touches a letter or digit", tok)
			}
		}
		withKey := append(append(bytes.Clone(data), '\n'), goldenKey...)
		ms := apikey.Find(withKey)
		if len(ms) == 0 || ms[len(ms)-1] != (apikey.Match{Start: len(data) + 1, End: len(withKey), ID: "0123456789ABCDEF", Valid: true}) {
			t.Fatalf("Find missed a key after %q: %+v", data, ms)
		}
	})
}
