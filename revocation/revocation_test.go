package revocation_test

import (
	"testing"

	"github.com/keyward/keyward/revocation"
)

// TestName pins the published format, computed independently: keyward and every deployed
// verifier must hash alike.
func TestName(t *testing.T) {
	const want = "VDsthyVW-eCFUCr2MCX1yw" // printf 'keyward-revocation-v1\0session\0ses_…' | sha256sum, 16 bytes, base64url
	if got := revocation.Name(revocation.Session, "ses_0000000100000000"); got != want || len(got) != revocation.NameLength {
		t.Fatalf("Name = %q; want %q", got, want)
	}
	if revocation.Name(revocation.Key, "AAAAAAAAAAAAAAAA") == revocation.Name(revocation.Session, "AAAAAAAAAAAAAAAA") {
		t.Error("a key and a session with the same id share a name")
	}
}
