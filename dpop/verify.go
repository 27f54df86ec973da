package dpop

import (
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/keyward/keyward/accesstoken"
)

// Type is the JWS typ of a proof (RFC 9449 §4.2).
const Type = "dpop+jwt"

// Defaults of Options.
const (
	// DefaultMaxAge is how old a proof may be: enough for a request to travel, short enough that
	// the replay cache remembering its jti stays small.
	DefaultMaxAge = time.Minute
	// DefaultLeeway is the clock skew tolerated on iat, in both directions.
	DefaultLeeway = 10 * time.Second
	// MaxLength bounds what Verify parses; a proof with an RSA-4096 jwk is under 2 KiB.
	MaxLength = 8 << 10
	// maxJTI bounds the jti a replay cache remembers.
	maxJTI = 256
)

// DefaultAlgs are the algorithms Verify allows when Options.Algs is empty.
var DefaultAlgs = []string{"ES256", "RS256", "PS256", "EdDSA"}

// Reasons Verify refuses a proof, for errors.Is. None repeats the proof's content.
var (
	ErrMissing   = errors.New("dpop: no proof")
	ErrMalformed = errors.New("dpop: malformed proof")
	ErrAlgorithm = errors.New("dpop: signature algorithm not allowed")
	ErrKey       = errors.New("dpop: jwk missing, private, or unfit for the algorithm")
	ErrSignature = errors.New("dpop: invalid signature")
	ErrMethod    = errors.New("dpop: htm does not match the request's method")
	ErrURL       = errors.New("dpop: htu does not match the request's URL")
	ErrStale     = errors.New("dpop: iat outside the accepted window")
	ErrNonce     = errors.New("dpop: nonce missing or not the server's")
	ErrATH       = errors.New("dpop: ath does not match the access token")
	ErrReplay    = errors.New("dpop: proof already used")
)

// Proof is a verified proof's content.
type Proof struct {
	JKT   string // RFC 7638 SHA-256 thumbprint of the proof's jwk, base64url: what cnf.jkt binds
	JTI   string
	HTM   string
	HTU   string
	IAT   time.Time
	ATH   string
	Nonce string
}

// Options say what request a proof must be for.
type Options struct {
	// Method and URL are the request's; the URL's query and fragment are ignored, and scheme,
	// host and default ports are compared as RFC 3986 normalises them.
	Method, URL string
	// AccessToken, when set, is the token the proof must carry the hash of (ath).
	AccessToken string
	// Now is the verification time; zero means time.Now().
	Now time.Time
	// MaxAge is how old iat may be (zero: DefaultMaxAge); Leeway the clock skew tolerated
	// (zero: DefaultLeeway; negative: none).
	MaxAge, Leeway time.Duration
	// Nonce, when set, is the server's nonce the proof must carry.
	Nonce string
	// Algs is the allow-list, asymmetric algorithms only; empty means DefaultAlgs.
	Algs []string
}

// header is the part of a proof's JWS header Verify reads before the signature.
type header struct {
	Typ  string          `json:"typ"`
	Alg  string          `json:"alg"`
	JWK  json.RawMessage `json:"jwk"`
	Crit json.RawMessage `json:"crit"`
	B64  json.RawMessage `json:"b64"`
}

// claims are a proof's payload. iat is kept raw so that only an integer number is accepted, not
// a string or a fraction.
type claims struct {
	JTI   string          `json:"jti"`
	HTM   string          `json:"htm"`
	HTU   string          `json:"htu"`
	IAT   json.RawMessage `json:"iat"`
	ATH   string          `json:"ath"`
	Nonce string          `json:"nonce"`
}

// Verify checks a proof per RFC 9449 §4.3, except the jti's uniqueness, which ReplayCache.Check
// remembers. Refusals wrap one of the Err values; any other error is a misconfiguration of opts.
func Verify(raw string, opts Options) (*Proof, error) {
	algs := opts.Algs
	if len(algs) == 0 {
		algs = DefaultAlgs
	}
	allowed := make([]jose.SignatureAlgorithm, 0, len(algs))
	for _, a := range algs {
		if !accesstoken.Asymmetric(jose.SignatureAlgorithm(a)) {
			return nil, errors.New("dpop: Options.Algs may name only asymmetric algorithms")
		}
		allowed = append(allowed, jose.SignatureAlgorithm(a))
	}
	if opts.Method == "" || opts.URL == "" {
		return nil, errors.New("dpop: Options need Method and URL")
	}
	want, ok := normalURL(opts.URL)
	if !ok {
		return nil, errors.New("dpop: Options.URL is not an absolute http(s) URL")
	}
	if raw == "" {
		return nil, ErrMissing
	}
	if len(raw) > MaxLength || !accesstoken.Canonical(raw) {
		return nil, ErrMalformed
	}
	var h header
	seg, _, _ := strings.Cut(raw, ".")
	hb, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil || json.Unmarshal(hb, &h) != nil {
		return nil, ErrMalformed
	}
	if !strings.EqualFold(h.Typ, Type) || h.Crit != nil || h.B64 != nil {
		return nil, ErrMalformed
	}
	alg := jose.SignatureAlgorithm(h.Alg)
	if !slices.Contains(allowed, alg) {
		return nil, ErrAlgorithm
	}
	var jwk jose.JSONWebKey
	if h.JWK == nil || jwk.UnmarshalJSON(h.JWK) != nil || !jwk.Valid() || !jwk.IsPublic() ||
		!accesstoken.KeyFits(alg, jwk.Key) || hasPrivateMembers(h.JWK) {
		return nil, ErrKey
	}
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{alg})
	if err != nil || len(jws.Signatures) != 1 {
		return nil, ErrMalformed
	}
	payload, err := jws.Verify(jwk.Key)
	if err != nil {
		return nil, ErrSignature
	}
	var c claims
	if json.Unmarshal(payload, &c) != nil || c.JTI == "" || len(c.JTI) > maxJTI || c.HTM == "" || c.HTU == "" {
		return nil, ErrMalformed
	}
	iat, err := strconv.ParseInt(string(c.IAT), 10, 64)
	if err != nil {
		return nil, ErrMalformed
	}
	if c.HTM != opts.Method {
		return nil, ErrMethod
	}
	if got, ok := normalURL(c.HTU); !ok || got != want {
		return nil, ErrURL
	}
	now, maxAge, leeway := opts.window()
	issued := time.Unix(iat, 0)
	if issued.After(now.Add(leeway)) || issued.Before(now.Add(-maxAge-leeway)) {
		return nil, ErrStale
	}
	if opts.Nonce != "" && c.Nonce != opts.Nonce {
		return nil, ErrNonce
	}
	if opts.AccessToken != "" && c.ATH != TokenHash(opts.AccessToken) {
		return nil, ErrATH
	}
	return &Proof{JKT: Thumbprint(jwk.Key), JTI: c.JTI, HTM: c.HTM, HTU: c.HTU, IAT: issued, ATH: c.ATH, Nonce: c.Nonce}, nil
}

// window resolves the defaults of Now, MaxAge and Leeway.
func (o Options) window() (now time.Time, maxAge, leeway time.Duration) {
	now, maxAge, leeway = o.Now, o.MaxAge, o.Leeway
	if now.IsZero() {
		now = time.Now()
	}
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	switch {
	case leeway == 0:
		leeway = DefaultLeeway
	case leeway < 0:
		leeway = 0
	}
	return now, maxAge, leeway
}

// hasPrivateMembers reports whether a jwk carries any private member (RFC 7518 §6), even one
// go-jose would ignore: a client that sends its private key has leaked it, and is told so.
func hasPrivateMembers(raw json.RawMessage) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return true
	}
	for _, k := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
		if _, ok := m[k]; ok {
			return true
		}
	}
	return false
}

// normalURL is u without query and fragment, its scheme and host in lower case and its default
// port dropped, for comparing htu with the request's URL (RFC 9449 §4.3, RFC 3986 §6.2.3).
func normalURL(u string) (string, bool) {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" || p.User != nil {
		return "", false
	}
	scheme := strings.ToLower(p.Scheme)
	if scheme != "https" && scheme != "http" {
		return "", false
	}
	host := strings.ToLower(p.Hostname())
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port := p.Port(); port != "" && !(scheme == "https" && port == "443" || scheme == "http" && port == "80") {
		host += ":" + port
	}
	path := p.EscapedPath()
	if path == "" {
		path = "/"
	}
	return scheme + "://" + host + path, true
}

// TokenHash is the ath of a proof sent with token: its SHA-256, base64url (RFC 9449 §4.2).
func TokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Thumbprint is the RFC 7638 SHA-256 thumbprint of a public key, base64url: the jkt a token is
// bound to. It is "" for a key type JWK cannot express.
func Thumbprint(key crypto.PublicKey) string {
	tp, err := (&jose.JSONWebKey{Key: key}).Thumbprint(crypto.SHA256)
	if err != nil {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(tp)
}

// ReplayUntil is how long a verified proof must be remembered so that its jti is used once: until
// it leaves the window Verify accepts it in.
func (o Options) ReplayUntil(p *Proof) time.Time {
	_, maxAge, leeway := o.window()
	return p.IAT.Add(maxAge + leeway)
}
