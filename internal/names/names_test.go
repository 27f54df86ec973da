package names_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/keyward/keyward/internal/names"
)

func TestSameName(t *testing.T) {
	for _, tc := range []struct{ a, b, why string }{
		{"deploy", "deploy", "identical"},
		{"deploy", "DEPLOY", "case"},
		{"deploy", "Deploy", "case"},
		{"straße", "STRASSE", "full case folding"},
		{"deploy", "d\u0435ploy", "Cyrillic е"},
		{"deploy", "\u0501eploy", "Cyrillic komi de"},
		{"paypal", "p\u0430yp\u0430l", "Cyrillic а"},
		{"apple", "\u0430\u0440\u0440l\u0435", "Cyrillic а, р, е"},
		{"scope", "\u0455\u0441\u043e\u0440\u0435", "all Cyrillic"},
		{"kaos", "k\u03b1\u03bfs", "Greek α and ο"},
		{"ABC", "\u0391\u0392\u0421", "Greek Α, Β and Cyrillic С"},
		{"deploy", "\uff44\uff45\uff50\uff4c\uff4f\uff59", "fullwidth"},
		{"file", "\ufb01le", "ligature ﬁ"},
		{"office", "o\ufb03ce", "ligature ﬃ"},
		{"x2", "x\u00b2", "superscript two"},
		{"café", "cafe\u0301", "composed and decomposed é"},
		{"web-1", "web-l", "digit one and letter l"},
		{"web-1", "web-|", "digit one and vertical line"},
		{"web-I", "web-i", "case of I"},
		{"TEST", "ТЕЅТ", "Cyrillic capitals Т, Е, Ѕ"},
		{"BETA", "ΒΕΤΑ", "Greek capitals"},
		{"test", "ТЕЅТ", "Cyrillic capitals against lower case"},
		{"web0", "webo", "digit zero and letter o"},
		{"arm", "arrn", "m and rn"},
		{"deploy key", "deploy\u00a0key", "no-break space"},
		{"a-b", "a\u2010b", "hyphen"},
	} {
		ka, err := names.Key(tc.a)
		if err != nil {
			t.Fatalf("Key(%q): %v", tc.a, err)
		}
		kb, err := names.Key(tc.b)
		if err != nil {
			t.Fatalf("Key(%q): %v", tc.b, err)
		}
		if ka != kb {
			t.Errorf("%s: Key(%q) = %q, Key(%q) = %q; want the same key", tc.why, tc.a, ka, tc.b, kb)
		}
	}
}

func TestDifferentNames(t *testing.T) {
	for _, tc := range []struct{ a, b string }{
		{"deploy", "deploys"},
		{"deploy", "dep-loy"},
		{"prod", "staging"},
		{"web-1", "web-2"},
		{"résumé", "resume"},
		{"key 1", "key  1"},
	} {
		ka, _ := names.Key(tc.a)
		kb, _ := names.Key(tc.b)
		if ka == kb {
			t.Errorf("Key(%q) = Key(%q) = %q; want different keys", tc.a, tc.b, ka)
		}
	}
}

func TestInvisibleRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		bad  rune
	}{
		{"deploy\u200d", 0x200D},        // zero width joiner
		{"dep\u200cloy", 0x200C},        // zero width non-joiner
		{"dep\u200bloy", 0x200B},        // zero width space
		{"dep\u00adloy", 0x00AD},        // soft hyphen
		{"\ufeffdeploy", 0xFEFF},        // byte order mark
		{"deploy\u202eyolped", 0x202E},  // right-to-left override
		{"deploy\u2066x\u2069", 0x2066}, // left-to-right isolate
		{"deploy\u200f", 0x200F},        // right-to-left mark
		{"deploy\u2060", 0x2060},        // word joiner
		{"deploy\u2064", 0x2064},        // invisible plus
		{"deploy\ufe0f", 0xFE0F},        // variation selector 16
		{"deploy\U000e0101", 0xE0101},   // variation selector 18
		{"deploy\u180b", 0x180B},        // Mongolian free variation selector
		{"dep\u034floy", 0x034F},        // combining grapheme joiner
		{"deploy\u3164", 0x3164},        // Hangul filler
		{"deploy\U000e0041", 0xE0041},   // tag letter A
		{"deploy\u061c", 0x061C},        // Arabic letter mark
		{"deploy\u2028", 0x2028},        // line separator
		{"deploy\x07", 0x07},            // bell
		{"deploy\xff", utf8.RuneError},  // not UTF-8
	} {
		_, err := names.Key(tc.name)
		var ie *names.InvisibleError
		if !errors.As(err, &ie) {
			t.Errorf("Key(%q): err = %v, want *InvisibleError", tc.name, err)
			continue
		}
		if ie.Rune != tc.bad {
			t.Errorf("Key(%q) refused U+%04X, want U+%04X", tc.name, ie.Rune, tc.bad)
		}
	}
}

func TestInvisibleMessageNamesTheCharacter(t *testing.T) {
	_, err := names.Key("deploy\u200d")
	if err == nil || !strings.Contains(err.Error(), "U+200D ZERO WIDTH JOINER") {
		t.Errorf("err = %v, want it to name U+200D ZERO WIDTH JOINER", err)
	}
}

func TestLenientDropsInvisible(t *testing.T) {
	want, _ := names.Key("deploy")
	for _, s := range []string{"deploy\u200d", "\ufeffDEPLOY", "dep\u00adloy\xff", "d\u0435ploy\u202e"} {
		if got := names.Lenient(s); got != want {
			t.Errorf("Lenient(%q) = %q, want %q", s, got, want)
		}
	}
}

func TestVisibleAccepted(t *testing.T) {
	for _, name := range []string{"deploy", "CI deploy (prod)", "ключ", "キー", "مفتاح", "🔑 main", "e\u0301", "a b"} {
		if _, err := names.Key(name); err != nil {
			t.Errorf("Key(%q): %v", name, err)
		}
	}
}

func FuzzKey(f *testing.F) {
	for _, s := range []string{"deploy", "dеploy", "deploy\u200d", "ﬁle", "ＤＥＰＬＯＹ", "0O", "straße", "Ⅻ", "㍿", "ǅ", "ΐ", "\u0345"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := names.Key(s)
		if err != nil {
			if names.Check(s) == nil {
				t.Fatalf("Key(%q) refused a name Check accepts: %v", s, err)
			}
			return
		}
		again, err := names.Key(k)
		if err != nil {
			t.Fatalf("Key(Key(%q)) = Key(%q): %v", s, k, err)
		}
		if again != k {
			t.Fatalf("Key(%q) = %q but Key(%q) = %q", s, k, k, again)
		}
	})
}
