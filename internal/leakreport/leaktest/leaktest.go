// Package leaktest plays a secret-scanning reporter in tests: it publishes an ECDSA P-256 key in
// GitHub's format and signs reports with it.
package leaktest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// Reporter holds one signing key, named KeyID.
type Reporter struct {
	KeyID string
	key   *ecdsa.PrivateKey
	doc   []byte // the public key document
}

// New returns a reporter with a fresh key.
func New(t testing.TB) *Reporter {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	r := &Reporter{KeyID: "test-" + rand.Text()[:12], key: key}
	r.doc, err = json.Marshal(map[string]any{"public_keys": []map[string]any{{
		"key_identifier": r.KeyID, "is_current": true,
		"key": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})),
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Serve publishes the reporter's keys over HTTP until the test ends and returns their URL.
func (r *Reporter) Serve(t testing.TB) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(r.doc)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// File writes the reporter's keys to a file of the test and returns its path.
func (r *Reporter) File(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "leak-report-keys.json")
	if err := os.WriteFile(path, r.doc, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Sign returns the Github-Public-Key-Signature of body.
func (r *Reporter) Sign(t testing.TB, body []byte) string {
	t.Helper()
	sum := sha256.Sum256(body)
	sig, err := ecdsa.SignASN1(rand.Reader, r.key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// Report is a body of GitHub's protocol reporting tokens found at url.
func Report(t testing.TB, url string, tokens ...string) []byte {
	t.Helper()
	var items []map[string]string
	for _, tok := range tokens {
		items = append(items, map[string]string{"token": tok, "type": "keyward_api_key", "url": url, "source": "content"})
	}
	body, err := json.Marshal(items)
	if err != nil {
		t.Fatal(err)
	}
	return body
}
