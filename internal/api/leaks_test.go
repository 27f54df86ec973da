package api

import (
	"net/http"
	"testing"

	"github.com/keyward/keyward/internal/leakreport"
	"github.com/keyward/keyward/internal/leakreport/leaktest"
)

// tourLeaks reports secret, a key of the tour, in a report signed by a reporter whose keys are
// read from a file, and checks it is labelled a true positive and disabled as leaked.
func tourLeaks(t *testing.T, e *env, tok, base, id, secret string) {
	t.Helper()
	gh := leaktest.New(t)
	e.srv.LeakKeys = &leakreport.Keys{Source: gh.File(t), Now: e.clock.Now}
	t.Cleanup(func() { e.srv.LeakKeys = nil })

	body := leaktest.Report(t, "https://github.com/o/r/blob/c/f", secret)
	var labels []leakLabel
	e.do(req{method: "POST", path: "/v1/leaks", body: body, header: http.Header{
		"Github-Public-Key-Identifier": {gh.KeyID}, "Github-Public-Key-Signature": {gh.Sign(t, body)},
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
