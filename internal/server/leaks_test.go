package server_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/kwtest"
	"github.com/keyward/keyward/internal/leakreport/leaktest"
	"github.com/keyward/keyward/internal/server"
)

// TestLeakReport: a report signed by the configured reporter disables the keys it holds as
// leaked, labels each token as GitHub expects and records where the key was found; unsigned,
// wrongly signed, or replayed-with-another-body reports are 401 and change nothing.
func TestLeakReport(t *testing.T) {
	gh := leaktest.New(t)
	keysURL := gh.Serve(t)
	s := kwtest.Start(t, unthrottled, kwtest.WithConfig(func(c *server.Config) { c.LeakReportKeys = keysURL }))
	admin := s.AdminToken(t)
	k := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "leaky", Permissions: []string{"images-view"}})
	bystander := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "safe", Permissions: []string{"images-view"}})
	tok := s.Exchange(t, k.Secret)

	body := leaktest.Report(t, "https://github.com/acme/app/blob/0123abc/config.env", k.Secret, kwtest.WrongSecret(t, bystander.Secret), "not-a-key")
	sig := gh.Sign(t, body)
	other := leaktest.Report(t, "https://github.com/acme/app/blob/0123abc/other.env", bystander.Secret)
	forger := leaktest.New(t)
	for name, r := range map[string]*kwtest.Response{
		"unsigned":                 s.ReportLeaks(t, body, "", ""),
		"no identifier":            s.ReportLeaks(t, body, "", sig),
		"unknown identifier":       s.ReportLeaks(t, body, "someone-else", sig),
		"signed by another key":    s.ReportLeaks(t, body, gh.KeyID, forger.Sign(t, body)),
		"not base64":               s.ReportLeaks(t, body, gh.KeyID, "%%%"),
		"replayed with other body": s.ReportLeaks(t, other, gh.KeyID, sig),
		"body altered":             s.ReportLeaks(t, append(body[:len(body):len(body)], ' '), gh.KeyID, sig),
	} {
		kwtest.RequireProblem(t, r, http.StatusUnauthorized)
		t.Logf("%s: %d", name, r.Status)
	}
	s.Exchange(t, k.Secret)
	s.Exchange(t, bystander.Secret)

	start := time.Now()
	r := s.ReportLeaks(t, body, gh.KeyID, sig)
	t.Logf("report answered in %v", time.Since(start))
	if r.Status != http.StatusOK {
		t.Fatalf("signed report: %s", r)
	}
	var labels []struct {
		TokenRaw  string `json:"token_raw"`
		TokenType string `json:"token_type"`
		Label     string `json:"label"`
	}
	r.JSON(t, &labels)
	if len(labels) != 3 || labels[0].Label != "true_positive" || labels[0].TokenRaw != k.Secret || labels[0].TokenType != "keyward_api_key" ||
		labels[1].Label != "false_positive" || labels[2].Label != "false_positive" {
		t.Fatalf("labels %+v", labels)
	}
	events := requireLeaked(t, s, admin, k, tok)
	if d := events[0].Detail; !strings.Contains(d, "url=https://github.com/acme/app/blob/0123abc/config.env") || !strings.Contains(d, "source=content") {
		t.Errorf("leak event detail %q", d)
	}
	s.Exchange(t, bystander.Secret) // a wrong secret of its id reported: nothing happens to it

	// The same report again: still a true positive, nothing more happens.
	if r := s.ReportLeaks(t, body, gh.KeyID, sig); r.Status != http.StatusOK {
		t.Fatalf("repeated report: %s", r)
	}
	requireLeaked(t, s, admin, k, nil)

	// Malformed, though signed: 400, in the API's format.
	for _, bad := range []string{`{}`, `[{"token": 1}]`, `[{"token": "x", "extra": 1}]`, `[{}]`, `not json`} {
		kwtest.RequireProblem(t, s.ReportLeaks(t, []byte(bad), gh.KeyID, gh.Sign(t, []byte(bad))), http.StatusBadRequest)
	}
}

// TestLeakReportOff: without --leak-report-keys the path answers as an unknown one.
func TestLeakReportOff(t *testing.T) {
	s := kwtest.Start(t)
	gh := leaktest.New(t)
	body := leaktest.Report(t, "https://example.com", kwtest.UnknownKey(t))
	p := kwtest.RequireProblem(t, s.ReportLeaks(t, body, gh.KeyID, gh.Sign(t, body)), http.StatusNotFound)
	unknown := kwtest.RequireProblem(t, s.Do(t, http.MethodPost, "/v1/no-such-path", nil), http.StatusNotFound)
	if p.Detail != unknown.Detail {
		t.Fatalf("detail %q, an unknown path's is %q", p.Detail, unknown.Detail)
	}
}
