package password

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
	"golang.org/x/text/unicode/norm"

	"github.com/keyward/keyward"
)

// Params are the argon2id cost parameters. They are stored in every hash, so changing them
// affects new hashes only; NeedsRehash tells when an old hash should be replaced at login.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes over the memory
	Threads uint8
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// DefaultParams are one of OWASP's equivalent argon2id settings: 7 MiB, five passes, one thread
// (the cheat sheet lists m=19 MiB/t=2, 12/3, 9/4 and 7/5 as the same level of defence: what an
// attacker saves in memory per guess, the passes take back in time). Of those, 7/5 costs the
// server least: a fifth less CPU than 19/2 here, and a working set that leaves the processor's
// cache to the rest of the server, so logins slow the token endpoint far less (see
// docs/performance.md). Hashes written with other settings keep verifying with their own.
var DefaultParams = Params{Memory: 7 * 1024, Time: 5, Threads: 1, SaltLen: 16, KeyLen: 32}

// Limits on the parameters a stored hash may ask for. A hash is data read from the database;
// without a ceiling, one tampered row could make every login attempt for that user allocate
// gigabytes or run for minutes.
const (
	MaxMemory  = 256 * 1024 // KiB
	MaxTime    = 10
	MaxThreads = 16
	MinSaltLen = 8 // the PHC format's minimum
	MaxSaltLen = 64
	MinKeyLen  = 16
	MaxKeyLen  = 64
)

// ErrMalformedHash means a stored hash could not be parsed or asks for parameters outside the
// limits. It is an internal error: the database holds something this package did not write.
var ErrMalformedHash = errors.New("password: malformed argon2id hash")

func (p Params) validate() error {
	switch {
	case p.Threads < 1 || p.Threads > MaxThreads:
		return fmt.Errorf("%w: parallelism %d outside 1..%d", ErrMalformedHash, p.Threads, MaxThreads)
	case p.Memory < 8*uint32(p.Threads) || p.Memory > MaxMemory:
		// argon2 needs 8 KiB per thread; below that x/crypto would silently raise it and
		// compute something other than the hash says.
		return fmt.Errorf("%w: memory %d KiB outside %d..%d", ErrMalformedHash, p.Memory, 8*uint32(p.Threads), MaxMemory)
	case p.Time < 1 || p.Time > MaxTime:
		return fmt.Errorf("%w: time %d outside 1..%d", ErrMalformedHash, p.Time, MaxTime)
	case p.SaltLen < MinSaltLen || p.SaltLen > MaxSaltLen:
		return fmt.Errorf("%w: salt of %d bytes outside %d..%d", ErrMalformedHash, p.SaltLen, MinSaltLen, MaxSaltLen)
	case p.KeyLen < MinKeyLen || p.KeyLen > MaxKeyLen:
		return fmt.Errorf("%w: key of %d bytes outside %d..%d", ErrMalformedHash, p.KeyLen, MinKeyLen, MaxKeyLen)
	}
	return nil
}

// Hasher hashes and verifies passwords with a bound on how many hashes run at once, so that a
// burst of logins queues instead of exhausting memory (each hash holds Params.Memory).
type Hasher struct {
	params Params
	sem    chan struct{}
	dummy  string // a well-formed hash with params that no password matches
	kdf    func(password, salt []byte, p Params) []byte
}

// NewHasher returns a Hasher that writes hashes with p (DefaultParams when p is the zero value)
// and runs at most maxConcurrent hashes at a time (GOMAXPROCS when maxConcurrent < 1; argon2id
// is CPU-bound, so more would only add waiting memory). Peak memory is about
// maxConcurrent × p.Memory.
//
// NewHasher panics if p is outside the limits that Verify accepts, because every hash it wrote
// would then fail to verify.
func NewHasher(p Params, maxConcurrent int) *Hasher {
	if p == (Params{}) {
		p = DefaultParams
	}
	if err := p.validate(); err != nil {
		panic(err)
	}
	if maxConcurrent < 1 {
		maxConcurrent = runtime.GOMAXPROCS(0)
	}
	return &Hasher{
		params: p,
		sem:    make(chan struct{}, maxConcurrent),
		dummy:  encode(p, make([]byte, p.SaltLen), make([]byte, p.KeyLen)),
		kdf:    idKey,
	}
}

func idKey(password, salt []byte, p Params) []byte {
	return argon2.IDKey(password, salt, p.Time, p.Memory, p.Threads, p.KeyLen)
}

// Hash returns password's argon2id hash in PHC string format, with a salt read from random
// (crypto/rand.Reader in production). New passwords should pass Validate first.
func (h *Hasher) Hash(ctx context.Context, password string, random io.Reader) (string, error) {
	salt := make([]byte, h.params.SaltLen)
	if _, err := io.ReadFull(random, salt); err != nil {
		return "", fmt.Errorf("password: read salt: %w", err)
	}
	key, err := h.derive(ctx, password, salt, h.params)
	if err != nil {
		return "", err
	}
	return encode(h.params, salt, key), nil
}

// Verify reports whether password matches encoded, a hash written by Hash (or by any argon2id
// implementation with version 19 and parameters within the limits). The comparison takes
// constant time. The error is ErrMalformedHash (wrapped) for a hash it cannot use, or the
// context's error when ctx ends while waiting for a turn.
func (h *Hasher) Verify(ctx context.Context, encoded, password string) (bool, error) {
	p, salt, want, err := decode(encoded)
	if err != nil {
		return false, err
	}
	got, err := h.derive(ctx, password, salt, p)
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// VerifyDummy does the work of a failed Verify against a hash with the Hasher's parameters. A
// login for an unknown email calls it, so that the answer takes as long as for a known email
// with a wrong password and response times do not reveal which emails have accounts.
func (h *Hasher) VerifyDummy(ctx context.Context, password string) {
	_, _ = h.Verify(ctx, h.dummy, password)
}

// NeedsRehash reports whether encoded was written with parameters other than the Hasher's (or
// cannot be parsed), so that a successful login can store a fresh hash.
func (h *Hasher) NeedsRehash(encoded string) bool {
	p, _, _, err := decode(encoded)
	return err != nil || p != h.params
}

func (h *Hasher) derive(ctx context.Context, password string, salt []byte, p Params) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case h.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-h.sem }()
	// NFKC, as NIST SP 800-63B asks, so that a password typed on another keyboard or system
	// that composes accents differently still matches.
	return h.kdf([]byte(norm.NFKC.String(password)), salt, p), nil
}

const (
	phcPrefix = "$argon2id$v=19$"
	maxHash   = 200 // longer than any hash within the limits
)

var b64 = base64.RawStdEncoding.Strict()

func encode(p Params, salt, key []byte) string {
	return fmt.Sprintf("%sm=%d,t=%d,p=%d$%s$%s", phcPrefix, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// decode parses a PHC string strictly: one canonical spelling per hash, no optional fields
// (keyid, data), version 19 only, parameters within the limits.
func decode(encoded string) (p Params, salt, key []byte, err error) {
	if len(encoded) > maxHash {
		return p, nil, nil, fmt.Errorf("%w: too long", ErrMalformedHash)
	}
	rest, ok := strings.CutPrefix(encoded, phcPrefix)
	if !ok {
		return p, nil, nil, fmt.Errorf("%w: not an argon2id version 19 hash", ErrMalformedHash)
	}
	parts := strings.Split(rest, "$")
	if len(parts) != 3 {
		return p, nil, nil, fmt.Errorf("%w: want parameters, salt and hash", ErrMalformedHash)
	}
	fields := strings.Split(parts[0], ",")
	if len(fields) != 3 {
		return p, nil, nil, fmt.Errorf("%w: want exactly m, t and p", ErrMalformedHash)
	}
	var n [3]uint32
	for i, name := range []string{"m=", "t=", "p="} {
		digits, ok := strings.CutPrefix(fields[i], name)
		if !ok {
			return p, nil, nil, fmt.Errorf("%w: parameter %d is not %s", ErrMalformedHash, i+1, name)
		}
		if n[i], ok = parseDecimal(digits); !ok {
			return p, nil, nil, fmt.Errorf("%w: parameter %s is not a canonical number", ErrMalformedHash, name)
		}
	}
	if n[2] > MaxThreads {
		return p, nil, nil, fmt.Errorf("%w: parallelism %d above %d", ErrMalformedHash, n[2], MaxThreads)
	}
	if salt, ok = decodeBase64(parts[1]); !ok {
		return p, nil, nil, fmt.Errorf("%w: salt is not unpadded base64", ErrMalformedHash)
	}
	if key, ok = decodeBase64(parts[2]); !ok {
		return p, nil, nil, fmt.Errorf("%w: hash is not unpadded base64", ErrMalformedHash)
	}
	p = Params{Memory: n[0], Time: n[1], Threads: uint8(n[2]), SaltLen: uint32(len(salt)), KeyLen: uint32(len(key))}
	if err := p.validate(); err != nil {
		return Params{}, nil, nil, err
	}
	return p, salt, key, nil
}

// decodeBase64 accepts only what encode writes; the decoder alone would skip line breaks.
func decodeBase64(s string) ([]byte, bool) {
	b, err := b64.DecodeString(s)
	return b, err == nil && b64.EncodeToString(b) == s
}

// parseDecimal accepts only what encode writes: ASCII digits without sign or leading zeros.
func parseDecimal(s string) (uint32, bool) {
	if s == "" || len(s) > 10 || (s[0] == '0' && len(s) > 1) {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, 32)
	return uint32(n), err == nil
}

// Password length limits. The minimum counts characters, as people do; the maximum counts
// bytes, because it exists to bound the work done on attacker-chosen input.
const (
	MinLength = 8
	MaxBytes  = 1024
)

// Validate checks a new password: at least MinLength characters, at most MaxBytes bytes, valid
// UTF-8, no NUL (which some clients and C libraries treat as the end of the string), and not one
// of the most common passwords (IsCommon). It imposes no composition rules, as NIST SP 800-63B
// advises. Errors are *keyward.Error EINVALID.
func Validate(password string) error {
	switch {
	case len(password) > MaxBytes:
		return keyward.Errorf(keyward.EINVALID, "A password has at most %d bytes.", MaxBytes)
	case !utf8.ValidString(password):
		return keyward.Errorf(keyward.EINVALID, "A password must be valid UTF-8 text.")
	case strings.IndexByte(password, 0) >= 0:
		return keyward.Errorf(keyward.EINVALID, "A password cannot contain a NUL character.")
	case utf8.RuneCountInString(password) < MinLength:
		return keyward.Errorf(keyward.EINVALID, "A password has at least %d characters.", MinLength)
	case IsCommon(password):
		return keyward.Errorf(keyward.EINVALID, "This password is one of the %d most common ones, which attackers try first; choose another.", CommonCount)
	}
	return nil
}
