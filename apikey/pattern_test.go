package apikey_test

import (
	"crypto/rand"
	"regexp"
	"strings"
	"testing"

	"github.com/keyward/keyward/apikey"
)

// TestPatternFindsWhatFindFinds: the exported regular expression, with its boundaries, matches
// exactly the key-shaped tokens Find reports, so a GitHub or gitleaks scan misses none.
func TestPatternFindsWhatFindFinds(t *testing.T) {
	key, _, err := apikey.New(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?:" + apikey.PatternBefore + ")(" + apikey.Pattern + ")(?:" + apikey.PatternAfter + ")")
	gitleaks := regexp.MustCompile(strings.Split(strings.Split(apikey.GitleaksRule(), "'''")[1], "'''")[0])
	for _, text := range []string{
		key, "KEY=" + key + "\n", `"` + key + `"`, "x" + key, key + "x", "kw_" + key[3:len(key)-1], "_" + key + "_",
	} {
		var want []string
		for _, m := range apikey.Find([]byte(text)) {
			want = append(want, text[m.Start:m.End])
		}
		for name, r := range map[string]*regexp.Regexp{"pattern": re, "gitleaks": gitleaks} {
			var got []string
			for _, m := range r.FindAllStringSubmatch(text, -1) {
				got = append(got, m[1])
			}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("%s in %q: %q, Find: %q", name, text, got, want)
			}
		}
	}
}
