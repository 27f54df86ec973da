package kwtest

import (
	"bytes"
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
	"testing"
)

// LeakReporter plays GitHub's secret-scanning partner program: it publishes an ECDSA P-256 key
// at KeysURL, in GitHub's format, and signs reports with it.
type LeakReporter struct {
	KeysURL string
	KeyID   string
	key     *ecdsa.PrivateKey
}

// NewLeakReporter starts a reporter whose keys are served until the test ends.
func NewLeakReporter(t testing.TB) *LeakReporter {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	l := &LeakReporter{KeyID: "test-" + rand.Text()[:12], key: key}
	doc, err := json.Marshal(map[string]any{"public_keys": []map[string]any{{
		"key_identifier": l.KeyID, "is_current": true,
		"key": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})),
	}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
	}))
	t.Cleanup(srv.Close)
	l.KeysURL = srv.URL
	return l
}

// Sign returns the Github-Public-Key-Signature of body.
func (l *LeakReporter) Sign(t testing.TB, body []byte) string {
	t.Helper()
	sum := sha256.Sum256(body)
	sig, err := ecdsa.SignASN1(rand.Reader, l.key, sum[:])
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

// ReportLeaks posts body to /v1/leaks with the key identifier and signature given ("" sends
// none).
func (c *Client) ReportLeaks(t testing.TB, body []byte, keyID, signature string) *Response {
	t.Helper()
	opts := []RequestOption{Header("Content-Type", "application/json")}
	if keyID != "" {
		opts = append(opts, Header("Github-Public-Key-Identifier", keyID))
	}
	if signature != "" {
		opts = append(opts, Header("Github-Public-Key-Signature", signature))
	}
	return c.Do(t, http.MethodPost, "/v1/leaks", bytes.NewReader(body), opts...)
}
