package twofactor

import (
	"crypto/rand"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestCodeRFC6238 checks Code against the SHA-1 test vectors of RFC 6238 Appendix B (their last
// six digits: the vectors have eight).
func TestCodeRFC6238(t *testing.T) {
	secret := []byte("12345678901234567890")
	for _, v := range []struct {
		unix int64
		want string
	}{
		{59, "287082"}, {1111111109, "081804"}, {1111111111, "050471"},
		{1234567890, "005924"}, {2000000000, "279037"}, {20000000000, "353130"},
	} {
		if got := Code(secret, Step(time.Unix(v.unix, 0))); got != v.want {
			t.Errorf("Code at %d = %s, want %s", v.unix, got, v.want)
		}
	}
}

func TestMatchWindowAndReplay(t *testing.T) {
	secret := []byte("12345678901234567890")
	now := time.Unix(1234567890, 0)
	cur := Step(now)
	for _, d := range []int64{-1, 0, 1} {
		if step, ok := match(secret, Code(secret, cur+d), now, 0); !ok || step != cur+d {
			t.Errorf("code of step %+d: %d, %v", d, step, ok)
		}
	}
	for _, d := range []int64{-2, 2} {
		if _, ok := match(secret, Code(secret, cur+d), now, 0); ok {
			t.Errorf("code of step %+d accepted", d)
		}
	}
	if _, ok := match(secret, Code(secret, cur), now, cur); ok {
		t.Error("a code of the last used step was accepted again")
	}
	if _, ok := match(secret, Code(secret, cur-1), now, cur); ok {
		t.Error("a code older than the last used step was accepted")
	}
}

func TestURI(t *testing.T) {
	u, err := url.Parse(URI("keyward", "ada@example.com", []byte("12345678901234567890")))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Scheme != "otpauth" || u.Host != "totp" || q.Get("secret") != "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" || q.Get("issuer") != "keyward" ||
		!strings.Contains(u.Path, "ada@example.com") {
		t.Errorf("URI %s", u)
	}
}

func TestRecoveryCodes(t *testing.T) {
	codes, hashes, err := newRecoveryCodes(rand.Reader, RecoveryCodes)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i, c := range codes {
		if len(c) != 14 || seen[c] {
			t.Fatalf("code %q", c)
		}
		seen[c] = true
		typed := strings.ToUpper(strings.ReplaceAll(c, "-", " "))
		if n := normalizeRecoveryCode(typed); n == "" || string(hashRecoveryCode(n)) != string(hashes[i]) {
			t.Errorf("%q typed as %q does not match its hash", c, typed)
		}
	}
	for _, bad := range []string{"", "123456", "abcd-efgh-ijk", "abcd-efgh-ijkl", "abcd-efgh-ijk0"} {
		if normalizeRecoveryCode(bad) != "" {
			t.Errorf("%q accepted as a recovery code", bad)
		}
	}
}
