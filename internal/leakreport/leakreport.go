package leakreport

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// GitHubKeysURL is where GitHub publishes the keys that sign its secret-scanning reports.
const GitHubKeysURL = "https://api.github.com/meta/public_keys/secret_scanning"

const (
	// refetchEvery bounds how often an unknown key identifier makes the keys be fetched again,
	// so that a stream of forged identifiers costs the reporter's server nothing.
	refetchEvery = time.Minute
	// fetchTimeout bounds one fetch of the keys; a report waits for it at most this long.
	fetchTimeout = 10 * time.Second
	// maxKeysBody bounds the key document: GitHub's holds a few keys.
	maxKeysBody = 256 << 10
)

// ErrBadSignature is every refusal of a report: unsigned, an unknown key, or a signature that
// does not match the body. Callers answer 401 and say no more.
var ErrBadSignature = errors.New("the report is not signed by a known key")

// Keys verifies reports against the public keys found at Source, an http(s) URL or a file, which
// it reads on first use and again, at most once a minute, when a report names a key it does not
// know (the reporter rotated its keys).
type Keys struct {
	Source string
	Client *http.Client     // nil: one with fetchTimeout
	Now    func() time.Time // nil: time.Now

	mu      sync.Mutex
	keys    map[string]*ecdsa.PublicKey
	fetched time.Time // when the keys were last read; zero: never
}

// Verify checks that sig, the base64 ASN.1 ECDSA P-256 signature of body's SHA-256, was made by
// the key keyID names. It returns ErrBadSignature, or an error of its own when the keys could not
// be read (the report cannot be checked now; the reporter retries).
func (k *Keys) Verify(ctx context.Context, body []byte, keyID, sig string) error {
	if keyID == "" || sig == "" {
		return ErrBadSignature
	}
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return ErrBadSignature
	}
	pub, err := k.key(ctx, keyID)
	if err != nil {
		return err
	}
	if pub == nil {
		return ErrBadSignature
	}
	sum := sha256.Sum256(body)
	if !ecdsa.VerifyASN1(pub, sum[:], raw) {
		return ErrBadSignature
	}
	return nil
}

// key returns the key named id, reading the keys again when it is unknown and they were not
// read within refetchEvery; nil when there is no such key.
func (k *Keys) key(ctx context.Context, id string) (*ecdsa.PublicKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if pub := k.keys[id]; pub != nil {
		return pub, nil
	}
	now := k.now()
	if !k.fetched.IsZero() && now.Sub(k.fetched) < refetchEvery {
		return nil, nil
	}
	// Held under the lock: concurrent reports with unknown identifiers wait for one read.
	k.fetched = now
	keys, err := k.read(ctx)
	if err != nil {
		if k.keys == nil {
			k.fetched = time.Time{} // nothing read yet: the next report tries again
		}
		return nil, err
	}
	k.keys = keys
	return k.keys[id], nil
}

func (k *Keys) now() time.Time {
	if k.Now != nil {
		return k.Now()
	}
	return time.Now()
}

// read fetches and parses the key document.
func (k *Keys) read(ctx context.Context) (map[string]*ecdsa.PublicKey, error) {
	var data []byte
	if strings.HasPrefix(k.Source, "https://") || strings.HasPrefix(k.Source, "http://") {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.Source, nil)
		if err != nil {
			return nil, fmt.Errorf("leak report keys: %w", err)
		}
		req.Header.Set("Accept", "application/json")
		c := k.Client
		if c == nil {
			c = &http.Client{Timeout: fetchTimeout}
		}
		resp, err := c.Do(req)
		if err != nil {
			return nil, fmt.Errorf("leak report keys: %w", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("leak report keys: %s answered %s", k.Source, resp.Status)
		}
		if data, err = io.ReadAll(io.LimitReader(resp.Body, maxKeysBody+1)); err != nil {
			return nil, fmt.Errorf("leak report keys: %w", err)
		}
	} else {
		var err error
		if data, err = os.ReadFile(k.Source); err != nil {
			return nil, fmt.Errorf("leak report keys: %w", err)
		}
	}
	if len(data) > maxKeysBody {
		return nil, fmt.Errorf("leak report keys: the document is larger than %d bytes", maxKeysBody)
	}
	return Parse(data)
}

// Parse reads GitHub's key document: {"public_keys": [{"key_identifier", "key" (a PEM public
// key), "is_current"}]}. Every key must be ECDSA P-256; older keys than the current one are kept,
// since a report signed just before a rotation may still arrive.
func Parse(data []byte) (map[string]*ecdsa.PublicKey, error) {
	var doc struct {
		PublicKeys []struct {
			KeyIdentifier string `json:"key_identifier"`
			Key           string `json:"key"`
			IsCurrent     bool   `json:"is_current"`
		} `json:"public_keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("leak report keys: %w", err)
	}
	keys := make(map[string]*ecdsa.PublicKey, len(doc.PublicKeys))
	for _, pk := range doc.PublicKeys {
		block, _ := pem.Decode([]byte(pk.Key))
		if pk.KeyIdentifier == "" || block == nil || block.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("leak report keys: key %q is not a PEM public key", pk.KeyIdentifier)
		}
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("leak report keys: key %q: %w", pk.KeyIdentifier, err)
		}
		ec, ok := pub.(*ecdsa.PublicKey)
		if !ok || ec.Curve.Params().Name != "P-256" {
			return nil, fmt.Errorf("leak report keys: key %q is not ECDSA P-256", pk.KeyIdentifier)
		}
		keys[pk.KeyIdentifier] = ec
	}
	if len(keys) == 0 {
		return nil, errors.New("leak report keys: the document has no key")
	}
	return keys, nil
}
