package api

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
	"os"
	"path/filepath"
	"testing"

	"github.com/keyward/keyward/internal/leakreport"
)

// tourLeaks reports secret, a key of the tour, in a report signed by a reporter whose keys are
// read from a file, and checks it is labelled a true positive and disabled as leaked.
func tourLeaks(t *testing.T, e *env, tok, base, id, secret string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := json.Marshal(map[string]any{"public_keys": []map[string]any{{"key_identifier": "tour", "is_current": true,
		"key": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}}})
	file := filepath.Join(t.TempDir(), "keys.json")
	if err := os.WriteFile(file, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	e.srv.LeakKeys = &leakreport.Keys{Source: file, Now: e.clock.Now}
	t.Cleanup(func() { e.srv.LeakKeys = nil })

	body, _ := json.Marshal([]map[string]string{{"token": secret, "type": "keyward_api_key", "url": "https://github.com/o/r/blob/c/f", "source": "content"}})
	sum := sha256.Sum256(body)
	sig, err := ecdsa.SignASN1(rand.Reader, key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	var labels []leakLabel
	e.do(req{method: "POST", path: "/v1/leaks", body: body, header: http.Header{
		"Github-Public-Key-Identifier": {"tour"}, "Github-Public-Key-Signature": {base64.StdEncoding.EncodeToString(sig)},
	}}).expect(t, http.StatusOK).decode(t, &labels)
	if len(labels) != 1 || labels[0].Label != "true_positive" {
		t.Fatalf("labels %+v", labels)
	}
	var k struct {
		State          string `json:"state"`
		DisabledReason string `json:"disabled_reason"`
	}
	e.do(req{method: "GET", path: base + "/api-keys/" + id, token: tok}).expect(t, http.StatusOK).decode(t, &k)
	if k.State != "disabled" || k.DisabledReason != "leaked" {
		t.Fatalf("reported key: %+v", k)
	}
}
