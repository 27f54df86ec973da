package apikey

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"hash/crc32"
	"io"
	"strings"

	"github.com/keyward/keyward"
)

// Lengths of the parts of a key, in characters.
const (
	Prefix         = "kw_"
	IDLength       = 16
	SecretLength   = 32 // 32 × log2(62) ≈ 190 bits
	ChecksumLength = 6  // 62^6 > 2^32, so every CRC-32 value fits
	Length         = len(Prefix) + IDLength + SecretLength + ChecksumLength
)

const (
	idStart       = len(Prefix)
	secretStart   = idStart + IDLength
	checksumStart = secretStart + SecretLength
)

const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// New returns a new key and its id, with every random character read from r (crypto/rand.Reader
// in production).
func New(r io.Reader) (key, id string, err error) {
	id, err = keyward.RandomBase62(r, IDLength)
	if err != nil {
		return "", "", err
	}
	secret, err := keyward.RandomBase62(r, SecretLength)
	if err != nil {
		return "", "", err
	}
	body := Prefix + id + secret
	return body + checksum(body), id, nil
}

// NewForID returns a new key with the id of an existing one and a fresh secret, read from r: the
// key's next secret when it is rolled. id must be a valid key id (ValidID).
func NewForID(r io.Reader, id string) (string, error) {
	if !ValidID(id) {
		return "", keyward.Errorf(keyward.EINVALID, "Not an API key id.")
	}
	secret, err := keyward.RandomBase62(r, SecretLength)
	if err != nil {
		return "", err
	}
	body := Prefix + id + secret
	return body + checksum(body), nil
}

// Parse checks that key has the exact length, prefix, alphabet and checksum of a key and returns
// its id. It does not tell whether the key exists. Errors are *keyward.Error with code EINVALID;
// their messages never repeat the key, because callers show or log them.
func Parse(key string) (id string, err error) {
	switch {
	case !strings.HasPrefix(key, Prefix):
		return "", keyward.Errorf(keyward.EINVALID, "An API key starts with %q.", Prefix)
	case len(key) != Length:
		return "", keyward.Errorf(keyward.EINVALID, "An API key is %d characters long; this one has %d.", Length, len(key))
	case !isBase62(key[idStart:]):
		return "", keyward.Errorf(keyward.EINVALID, "An API key has only letters and digits after %q.", Prefix)
	case checksum(key[:checksumStart]) != key[checksumStart:]:
		return "", keyward.Errorf(keyward.EINVALID, "The API key's checksum does not match; it was probably mistyped or cut short.")
	}
	return key[idStart:secretStart], nil
}

// Hash returns the SHA-256 digest of the whole key, the only form in which a key is stored.
// A fast hash is right here, unlike for passwords: the secret has about 190 bits of entropy, so
// no amount of hashing speed makes guessing it from a leaked digest feasible, and a slow hash
// would only slow down every token exchange.
func Hash(key string) []byte {
	sum := sha256.Sum256([]byte(key))
	return sum[:]
}

// Verify reports whether key hashes to hash, comparing in constant time so that the time taken
// does not reveal how much of a guessed digest was right.
func Verify(key string, hash []byte) bool {
	return subtle.ConstantTimeCompare(Hash(key), hash) == 1
}

// Hint returns the last four characters of key, which lists show so that people can tell their
// keys apart. They are checksum characters: they narrow the secret down by at most 24 bits of
// its 190, leaving well over the 160 the key format promises. It returns "" for a string too
// short to be a key.
func Hint(key string) string {
	if len(key) < 4 {
		return ""
	}
	return key[len(key)-4:]
}

// ValidID reports whether id has the shape of a key id: IDLength base62 characters.
func ValidID(id string) bool {
	return len(id) == IDLength && isBase62(id)
}

// LooksLike reports whether s has the prefix, length and alphabet of a key, ignoring the
// checksum. A resource server uses it to recognise a raw key sent where an access token belongs
// and to answer with advice to exchange it first; a JWT can never look like this.
func LooksLike(s string) bool {
	return len(s) == Length && strings.HasPrefix(s, Prefix) && isBase62(s[idStart:])
}

// Match is one key-shaped token found by Find; the token is data[Start:End].
type Match struct {
	Start, End int
	ID         string // the key id part
	Valid      bool   // the checksum holds, so this is almost certainly a real key
}

var prefixBytes = []byte(Prefix)

// Find returns every key-shaped token in data, in order: the prefix followed by exactly the
// key's number of base62 characters, with no base62 character immediately before or after, so
// that a longer run of letters and digits is never reported as a key. Valid tells a real key
// (its checksum holds) from a look-alike.
func Find(data []byte) []Match {
	var out []Match
	for i := 0; i+Length <= len(data); {
		j := bytes.Index(data[i:], prefixBytes)
		if j < 0 {
			break
		}
		start := i + j
		end := start + Length
		if end > len(data) {
			break
		}
		if (start > 0 && isBase62Byte(data[start-1])) ||
			(end < len(data) && isBase62Byte(data[end])) ||
			!isBase62(data[start+idStart:end]) {
			i = start + 1
			continue
		}
		token := data[start:end]
		out = append(out, Match{
			Start: start,
			End:   end,
			ID:    string(token[idStart:secretStart]),
			Valid: checksum(token[:checksumStart]) == string(token[checksumStart:]),
		})
		i = end
	}
	return out
}

// checksum returns CRC-32 (IEEE) of body as ChecksumLength base62 digits, most significant
// first, padded with zeros so that the key always has the same length.
func checksum[T string | []byte](body T) string {
	var buf [checksumStart]byte // on the stack: Parse and Find allocate nothing for it
	n := crc32.ChecksumIEEE(buf[:copy(buf[:], body)])
	var out [ChecksumLength]byte
	for i := ChecksumLength - 1; i >= 0; i-- {
		out[i] = alphabet[n%62]
		n /= 62
	}
	return string(out[:])
}

func isBase62[T string | []byte](s T) bool {
	for i := 0; i < len(s); i++ {
		if !isBase62Byte(s[i]) {
			return false
		}
	}
	return true
}

func isBase62Byte(c byte) bool {
	return '0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z'
}
