package kwtest

import (
	"bytes"
	"net/http"
	"testing"
)

// ReportLeaks posts body to /v1/leaks with the key identifier and signature given ("" sends
// none), as GitHub's secret scanning does.
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
