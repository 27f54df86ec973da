package client

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward/dpop"
)

// NewDPoPKey generates an ES256 (P-256) key pair for Config.DPoP. Keep it in memory: the tokens
// bound to it are worthless without it, which is the point, and a key written to disk beside the
// API key would be stolen with it.
func NewDPoPKey() (crypto.Signer, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("keyward: generating a DPoP key: %w", err)
	}
	return k, nil
}

// prover signs the DPoP proofs (RFC 9449) of one token source, at its token endpoint and at the
// APIs it calls, and keeps the nonce each server last asked for.
type prover struct {
	key crypto.Signer
	now func() time.Time // the iat of the proofs

	mu     sync.Mutex
	nonces map[string]string // origin (scheme://host) → its latest DPoP-Nonce
}

func newProver(key crypto.Signer, now func() time.Time) *prover {
	if key == nil {
		return nil
	}
	return &prover{key: key, now: clock(now), nonces: map[string]string{}}
}

// proof signs a fresh proof for a request to target, bound to accessToken when it is not empty,
// and carrying the nonce target's server last asked for, which it returns.
func (p *prover) proof(method string, target *url.URL, accessToken string) (proof, nonce string, err error) {
	htu := *target
	htu.RawQuery, htu.ForceQuery, htu.Fragment, htu.RawFragment, htu.User = "", false, "", "", nil
	p.mu.Lock()
	nonce = p.nonces[origin(target)]
	p.mu.Unlock()
	proof, err = newProof(p.key, p.now(), method, htu.String(), accessToken, nonce)
	if err != nil {
		return "", "", fmt.Errorf("keyward: signing a DPoP proof: %w", err)
	}
	return proof, nonce, nil
}

// remember keeps the nonce a response from target's server asks for, if any, and reports whether
// it differs from sent, the one the request carried: a request refused for want of a nonce is
// worth sending again only then, so that a server that keeps refusing cannot keep the client
// looping.
func (p *prover) remember(target *url.URL, h http.Header, sent string) bool {
	nonce := h.Get("DPoP-Nonce")
	if nonce == "" {
		return false
	}
	p.mu.Lock()
	p.nonces[origin(target)] = nonce
	p.mu.Unlock()
	return nonce != sent
}

func origin(u *url.URL) string {
	return strings.ToLower(u.Scheme + "://" + u.Host)
}

// nonceChallenged reports whether an API refused a request for want of a DPoP nonce (RFC 9449
// §9): 401 with error="use_dpop_nonce".
func nonceChallenged(resp *http.Response) bool {
	if resp.StatusCode != http.StatusUnauthorized {
		return false
	}
	for _, v := range resp.Header.Values("WWW-Authenticate") {
		if strings.Contains(v, `error="use_dpop_nonce"`) {
			return true
		}
	}
	return false
}

func newProof(key crypto.Signer, now time.Time, method, htu, accessToken, nonce string) (string, error) {
	opts := []dpop.ProofOption{dpop.WithTime(now)}
	if accessToken != "" {
		opts = append(opts, dpop.WithAccessToken(accessToken))
	}
	if nonce != "" {
		opts = append(opts, dpop.WithNonce(nonce))
	}
	return dpop.NewProof(key, method, htu, opts...)
}
