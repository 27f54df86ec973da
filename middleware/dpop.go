package middleware

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/keyward/keyward/accesstoken"
	"github.com/keyward/keyward/dpop"
)

// CodeInvalidDPoPProof is RFC 9449 §7.1's error for a missing or invalid proof.
const CodeInvalidDPoPProof = "invalid_dpop_proof"

// ProtectedResourcePath is where Handler serves RFC 9728 metadata when Config.PublicURL is set.
const ProtectedResourcePath = "/.well-known/oauth-protected-resource"

// dpopConfig is what a verifier needs to check proofs.
type dpopConfig struct {
	public   *url.URL // nil: the request's own scheme and host
	require  bool
	algs     []string
	replay   *dpop.ReplayCache
	metadata []byte // RFC 9728 metadata; nil without PublicURL
}

// configureDPoP checks the DPoP settings of c and fills v.dpop and v.challenge.
func (v *Verifier) configureDPoP(c Config) error {
	v.dpop.require = c.RequireDPoP
	v.dpop.algs = c.DPoPAlgorithms
	if len(v.dpop.algs) == 0 {
		v.dpop.algs = dpop.DefaultAlgs
	}
	for _, a := range v.dpop.algs {
		if !validQuoted(a) || strings.Contains(a, " ") {
			return fmt.Errorf("middleware: DPoP algorithm %q is not an algorithm name", a)
		}
	}
	// A probe: Verify refuses a configuration it cannot honour before any request does.
	if _, err := dpop.Verify("", dpop.Options{Method: "GET", URL: "https://example.com/", Algs: v.dpop.algs}); !errors.Is(err, dpop.ErrMissing) {
		return fmt.Errorf("middleware: DPoPAlgorithms: %v", err)
	}
	v.dpop.replay = dpop.NewReplayCache(c.DPoPReplayCacheSize, v.now)
	v.challenge.algs = strings.Join(v.dpop.algs, " ")
	if c.PublicURL == "" {
		return nil
	}
	u, err := url.Parse(c.PublicURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("middleware: PublicURL %q must be the API's URL, such as https://api.example.com", c.PublicURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	v.dpop.public = u
	resource := u.String()
	// RFC 9728 §3.1: the well-known path goes between the host and the resource's path.
	v.challenge.resourceMetadata = u.Scheme + "://" + u.Host + ProtectedResourcePath + u.EscapedPath()
	v.dpop.metadata, err = json.Marshal(map[string]any{
		"resource":                          resource,
		"authorization_servers":             []string{v.issuer},
		"bearer_methods_supported":          []string{"header"},
		"dpop_signing_alg_values_supported": v.dpop.algs,
		"dpop_bound_access_tokens_required": v.dpop.require,
	})
	return err
}

// jktOf is the key a token is bound to, or "".
func jktOf(c *accesstoken.Claims) string {
	if c.Cnf == nil {
		return ""
	}
	return c.Cnf.JKT
}

// serveMetadata answers a request for the RFC 9728 metadata, and reports whether it was one.
func (v *Verifier) serveMetadata(w http.ResponseWriter, r *http.Request) bool {
	if v.dpop.metadata == nil || r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if p := r.URL.Path; p != ProtectedResourcePath && p != ProtectedResourcePath+v.dpop.public.Path {
		return false
	}
	v.writeMetadata(w)
	return true
}

func (v *Verifier) writeMetadata(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "max-age=3600")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(v.dpop.metadata)
}

// ProtectedResourceMetadata serves the RFC 9728 metadata Handler serves by itself, for APIs that
// route it elsewhere; without Config.PublicURL it answers 404, having no resource to name.
func (v *Verifier) ProtectedResourceMetadata() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v.dpop.metadata == nil {
			http.NotFound(w, r)
			return
		}
		v.writeMetadata(w)
	})
}

// checkBinding enforces RFC 9449 §7 on a verified token: a DPoP-bound token only with the DPoP
// scheme and a fresh proof of its key, for this request, carrying its hash; an unbound token
// only as Bearer, and not at all when DPoP is required.
func (v *Verifier) checkBinding(r *http.Request, raw string, dpopScheme bool, c *Caller) error {
	switch {
	case !dpopScheme && c.JKT != "":
		return &Error{Status: http.StatusUnauthorized, Code: CodeInvalidToken, DPoP: true,
			Description: "This access token is bound to a DPoP key: send it as Authorization: DPoP <token>, with a DPoP proof."}
	case !dpopScheme && v.dpop.require:
		return &Error{Status: http.StatusUnauthorized, Code: CodeInvalidToken, DPoP: true,
			Description: "This API accepts only DPoP-bound access tokens: request one with a DPoP proof."}
	case !dpopScheme:
		return nil
	case c.JKT == "":
		return &Error{Status: http.StatusUnauthorized, Code: CodeInvalidToken, DPoP: true,
			Description: "This access token is not bound to a DPoP key: send it as Authorization: Bearer <token>."}
	}
	proofs := r.Header.Values("DPoP")
	if len(proofs) > 1 {
		return invalidProof("The request has more than one DPoP header.")
	}
	proof := ""
	if len(proofs) == 1 {
		proof = proofs[0]
	}
	opts := dpop.Options{Method: r.Method, URL: v.requestURL(r), AccessToken: raw, Now: v.now(), Algs: v.dpop.algs}
	p, err := dpop.Verify(proof, opts)
	if err != nil {
		for _, pr := range proofRefusals {
			if errors.Is(err, pr.err) {
				return invalidProof(pr.desc)
			}
		}
		return invalidProof("The DPoP proof is invalid.")
	}
	if p.JKT != c.JKT {
		return invalidProof("The DPoP proof is signed by another key than the one the access token is bound to.")
	}
	if v.dpop.replay.Check(p, opts) != nil {
		return invalidProof("This DPoP proof was used before; send a fresh proof with each request.")
	}
	return nil
}

// proofRefusals describe dpop's refusals, safe to show to whoever sent the proof.
var proofRefusals = []struct {
	err  error
	desc string
}{
	{dpop.ErrMissing, "This access token is DPoP-bound: send a DPoP proof in the DPoP header."},
	{dpop.ErrMalformed, "The DPoP proof is malformed (typ must be dpop+jwt, with jti, htm, htu and iat)."},
	{dpop.ErrAlgorithm, "The DPoP proof's signature algorithm is not allowed."},
	{dpop.ErrKey, "The DPoP proof's jwk must be a public key that fits its algorithm."},
	{dpop.ErrSignature, "The DPoP proof's signature is invalid."},
	{dpop.ErrMethod, "The DPoP proof is for another HTTP method (htm)."},
	{dpop.ErrURL, "The DPoP proof is for another URL (htu)."},
	{dpop.ErrStale, "The DPoP proof is too old or from the future (iat); check the client's clock."},
	{dpop.ErrNonce, "The DPoP proof lacks the server's nonce."},
	{dpop.ErrATH, "The DPoP proof is not for this access token (ath)."},
}

func invalidProof(description string) *Error {
	return &Error{Status: http.StatusUnauthorized, Code: CodeInvalidDPoPProof, DPoP: true, Description: description}
}

// requestURL is the URL a client called to make r, without query: PublicURL before the path
// when set, or the request's own scheme and Host.
func (v *Verifier) requestURL(r *http.Request) string {
	if u := v.dpop.public; u != nil {
		return u.Scheme + "://" + u.Host + u.EscapedPath() + r.URL.EscapedPath()
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + r.URL.EscapedPath()
}
