package oauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/dpop"
)

// errInvalidDPoPProof is RFC 9449 §5's answer to a proof the token endpoint refuses.
const errInvalidDPoPProof = "invalid_dpop_proof"

// errUseDPoPNonce is RFC 9449 §8's answer to a proof without the nonce the server asks for.
const errUseDPoPNonce = "use_dpop_nonce"

// dpopNonceSlot is how long a server nonce is current; the one before it is still accepted, so a
// nonce lives between one and two slots.
const dpopNonceSlot = 5 * time.Minute

// dpopNonce is the server nonce of the slot that holds at: an HMAC of the slot's number under
// DPoPNonceKey. Instances sharing the key agree on it without a word, and nothing is stored.
func (s *Server) dpopNonce(at time.Time) string {
	var slot [8]byte
	binary.BigEndian.PutUint64(slot[:], uint64(at.Unix()/int64(dpopNonceSlot/time.Second)))
	m := hmac.New(sha256.New, s.DPoPNonceKey)
	m.Write([]byte("keyward dpop nonce\x00"))
	m.Write(slot[:])
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}

// offerDPoPNonce sends the current nonce with every answer of the token endpoint, when the
// server asks for nonces, so that a client always holds the one its next proof needs.
func (s *Server) offerDPoPNonce(w http.ResponseWriter, now time.Time) {
	if len(s.DPoPNonceKey) > 0 {
		w.Header().Set("DPoP-Nonce", s.dpopNonce(now))
	}
}

// checkDPoPNonce is nil when the server asks for no nonce or the proof carries the current or
// the previous one; otherwise the use_dpop_nonce answer, whose DPoP-Nonce header
// offerDPoPNonce has set.
func (s *Server) checkDPoPNonce(p *dpop.Proof, now time.Time) error {
	if len(s.DPoPNonceKey) == 0 {
		return nil
	}
	for _, n := range []string{s.dpopNonce(now), s.dpopNonce(now.Add(-dpopNonceSlot))} {
		if hmac.Equal([]byte(p.Nonce), []byte(n)) {
			return nil
		}
	}
	return oauthError(http.StatusBadRequest, errUseDPoPNonce, "Send the DPoP proof again with the nonce in this answer's DPoP-Nonce header.")
}

// tokenTypeDPoP is the token_type of a DPoP-bound access token (RFC 9449 §5).
const tokenTypeDPoP = "DPoP"

// dpopReplay remembers the proofs the token endpoint accepted, per process, until they leave the
// window Verify accepts them in: a proof is spent once on this instance. The cache is bounded
// (dpop.DefaultReplayEntries), so a flood of proofs evicts the entries closest to expiry rather
// than growing memory.
type dpopReplay struct {
	once  sync.Once
	cache *dpop.ReplayCache
}

func (s *Server) replayCache() *dpop.ReplayCache {
	s.dpopSeen.once.Do(func() { s.dpopSeen.cache = dpop.NewReplayCache(0, s.Now) })
	return s.dpopSeen.cache
}

// invalidProof is the answer to a refused proof; the reason is dpop's, which never repeats the
// proof's content.
func invalidProof(description string) *Error {
	return oauthError(http.StatusBadRequest, errInvalidDPoPProof, description)
}

// dpopProof verifies the request's DPoP header, when it has one, against the token endpoint's
// own URL and records its jti: nil when the request sent none. A proof is checked before any
// credential is looked at, and counts against nothing: it costs a signature check, and a
// refused one spends nothing.
func (s *Server) dpopProof(r *http.Request, req *request) (*dpop.Proof, error) {
	values := r.Header.Values("DPoP")
	switch len(values) {
	case 0:
		return nil, nil
	case 1:
	default:
		return nil, invalidProof("Send one DPoP header.")
	}
	opts := dpop.Options{Method: http.MethodPost, URL: s.tokenEndpoint(), Now: req.now}
	p, err := dpop.Verify(values[0], opts)
	if err == nil {
		// The nonce before the replay check: a proof refused for its nonce spends nothing, and
		// the client sends a new one.
		if nerr := s.checkDPoPNonce(p, req.now); nerr != nil {
			return nil, nerr
		}
		err = s.replayCache().Check(p, opts)
	}
	if err != nil {
		var reason string
		for _, e := range []error{dpop.ErrMissing, dpop.ErrMalformed, dpop.ErrAlgorithm, dpop.ErrKey, dpop.ErrSignature,
			dpop.ErrMethod, dpop.ErrURL, dpop.ErrStale, dpop.ErrNonce, dpop.ErrATH, dpop.ErrReplay} {
			if errors.Is(err, e) {
				reason = strings.TrimPrefix(e.Error(), "dpop: ")
				break
			}
		}
		if reason == "" {
			return nil, serverError(err) // the endpoint's own options are wrong
		}
		return nil, invalidProof("The DPoP proof was refused: " + reason + ".")
	}
	return p, nil
}

// tokenEndpoint is the URL proofs for the token endpoint must name (htu), as the metadata
// publishes it: the issuer's, not whatever Host the request came with.
func (s *Server) tokenEndpoint() string {
	return strings.TrimSuffix(s.Issuer, "/") + "/oauth/token"
}

// dpopRequired refuses a bearer exchange of a key that requires DPoP (itself, its role or its
// project). Not counted: the key was presented correctly.
func dpopRequired(req *request, k *keyward.APIKey) error {
	if req.dpop != nil || !k.NeedsDPoP() {
		return nil
	}
	return &refusal{answer: invalidRequest("This key requires DPoP: send a DPoP proof (RFC 9449) with the request."),
		event: &keyward.AuditEvent{ProjectID: k.ProjectID, Actor: "key:" + k.ID, Action: keyward.AuditExchangeFailed,
			Target: "key:" + k.ID, Detail: "DPoP required"}}
}

// dpopBinding refuses the refresh of a session bound to a key without a proof signed by that key,
// and a proof sent to refresh a bearer session, which would not bind it. It runs before the
// refresh token is spent, so a copy of it without the private key spends nothing.
func dpopBinding(req *request, sess *keyward.Session) error {
	switch {
	case sess.DPoPJKT == "" && req.dpop != nil:
		return invalidProof("This refresh token is not bound to a DPoP key; refresh it without a proof, or start a new session with one.")
	case sess.DPoPJKT != "" && req.dpop == nil:
		return failedAttempt(invalidProof("This refresh token is bound to a DPoP key: send a DPoP proof signed by it."))
	case sess.DPoPJKT != "" && req.dpop.JKT != sess.DPoPJKT:
		return failedAttempt(invalidGrant("The DPoP proof is not signed by the key this refresh token is bound to."))
	}
	return nil
}
