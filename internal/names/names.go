package names

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mtibben/confusables"
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
	"golang.org/x/text/unicode/runenames"
)

// InvisibleError reports a character that would not show on screen, or would change how the
// characters around it show, so that two names could look the same and differ.
type InvisibleError struct {
	Rune rune
}

func (e *InvisibleError) Error() string {
	if e.Rune == utf8.RuneError {
		return "The name must be valid UTF-8 text."
	}
	return fmt.Sprintf("The name must not contain invisible, control or formatting characters (found U+%04X %s).",
		e.Rune, runenames.Name(e.Rune))
}

// Invisible reports whether r is refused in a name: control characters (Cc), format characters
// (Cf: zero-width joiners and spaces, soft hyphen, byte order mark, bidirectional controls, tags),
// line and paragraph separators, variation selectors and every other Default_Ignorable_Code_Point
// of Unicode (such as the combining grapheme joiner and the Hangul fillers). RFC 8264 (PRECIS)
// disallows all of these in identifiers, and UTS #39 drops the default-ignorable ones before
// comparing, which would make "deploy" and "deploy" plus a zero-width joiner one name that
// displays two ways.
func Invisible(r rune) bool {
	return r == utf8.RuneError ||
		unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp,
			unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point)
}

// Check returns an *InvisibleError for the first character of name that Invisible refuses, or
// for text that is not valid UTF-8.
func Check(name string) error {
	for _, r := range name {
		if Invisible(r) {
			return &InvisibleError{Rune: r}
		}
	}
	return nil
}

// maxRounds bounds Key's search for a fixed point; every name met so far settles in two rounds.
const maxRounds = 4

// Key returns the key under which name is compared with other names: two names are the same
// name when their keys are equal. The key is the UTS #39 confusable skeleton of the name after
// NFKC normalization and Unicode case folding (capitals of other scripts that look like Latin
// ones are first written as those, see latinCapitals), so that "deploy", "DEPLOY", "dеploy" (Cyrillic е),
// "ｄｅｐｌｏｙ" (fullwidth) and "ﬁle"/"file" (ligature) coincide. Because a skeleton may hold
// capitals ("0" becomes "O") and other characters that folding changes again, the three steps
// repeat until the key no longer changes, which makes Key(Key(x)) == Key(x) and lets "0" and "o"
// coincide too. The key is for comparing only: a name is always shown as typed.
//
// Key refuses, with an *InvisibleError, a name that Check refuses.
func Key(name string) (string, error) {
	if err := Check(name); err != nil {
		return "", err
	}
	return key(name), nil
}

// latinCapitals replaces each capital letter of another script that looks like ASCII letters
// (Greek Β, Cyrillic Т) with those letters. Folding first would turn Β into β, which looks like
// ß rather than b, and Т into т, which looks like nothing Latin, so "TEST" spelled with a
// Cyrillic Т would escape the skeleton. Latin capitals are left to case folding, which keeps I
// and i one letter (the skeleton would make I an l).
func latinCapitals(s string) string {
	var b strings.Builder
	for _, r := range s {
		if (unicode.IsUpper(r) || unicode.IsTitle(r)) && !unicode.Is(unicode.Latin, r) {
			if sk := confusables.Skeleton(string(r)); asciiLetters(sk) {
				b.WriteString(sk)
				continue
			}
		}
		b.WriteRune(r)
	}
	return b.String()
}

func asciiLetters(s string) bool {
	for _, r := range s {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') {
			return false
		}
	}
	return s != ""
}

// Lenient returns the key of name after dropping every character Check refuses, as UTS #39
// drops default-ignorable code points before it compares. It serves names stored before those
// characters were refused; a new name goes through Key.
func Lenient(name string) string {
	return key(strings.Map(func(r rune) rune {
		if Invisible(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(name, "")))
}

// fold is stateless in use (String resets it), but a cases.Caser must not be shared between
// goroutines, so each call makes its own: they are cheap.
func key(s string) string {
	for range maxRounds {
		next := confusables.Skeleton(cases.Fold().String(latinCapitals(norm.NFKC.String(s))))
		if next == s {
			break
		}
		s = next
	}
	return s
}
