// Package revocation names revoked sessions and keys in keyward's public revocation feed by one-way hashes, which a verifier holding a token can match and nobody else can read.
package revocation

import (
	"crypto/sha256"
	"encoding/base64"
)

// Kinds of feed entries: the token claim each one is matched against.
const (
	Session = "session" // the tokens' sid
	Key     = "key"     // the tokens' client_id, a key's id
)

// NameLength is the length of every name Name returns.
const NameLength = 22

// Name is how the feed publishes the session or key id of kind: the base64url of the first 16
// bytes of SHA-256("keyward-revocation-v1" NUL kind NUL id). The feed is unauthenticated, so raw
// ids would tell anyone which tenants' sessions end and when; a verifier already holds the ids of
// the tokens it sees and hashes them the same way. The prefix and kind keep these hashes apart
// from any other use of SHA-256 over the same ids; 128 bits make an accidental match, which
// would refuse a live token, beyond reach.
func Name(kind, id string) string {
	sum := sha256.Sum256([]byte("keyward-revocation-v1\x00" + kind + "\x00" + id))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}
