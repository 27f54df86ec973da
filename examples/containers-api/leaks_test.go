package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/internal/leakreport/leaktest"
)

// TestLeakReportStopsTheAPI: a secret-scanning report, signed by a reporter whose keys keyward
// fetches over HTTP, disables the key it holds; the key no longer exchanges and the example API
// refuses the token it had, through the revocation feed, moments later.
func TestLeakReportStopsTheAPI(t *testing.T) {
	gh := leaktest.New(t)
	kw := startKeyward(t, "--leak-report-keys", gh.Serve(t))
	api := startAPI(t, kw.URL)
	p := kw.Default.ID
	key := kw.createKey(t, p, "leaky", nil, "containers-view")
	tok := kw.token(t, key)
	list := func() apiResponse { return apiCall{method: "GET", url: containersURL(api, p), token: tok}.do(t) }
	if r := list(); r.status != http.StatusOK {
		t.Fatalf("before the report: %d %s", r.status, r.body)
	}

	body := leaktest.Report(t, "https://github.com/acme/app/blob/main/.env", key.Secret)
	post := func(sig string) int {
		req, err := http.NewRequest(http.MethodPost, kw.URL+"/v1/leaks", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Github-Public-Key-Identifier", gh.KeyID)
		req.Header.Set("Github-Public-Key-Signature", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if status := post(leaktest.New(t).Sign(t, body)); status != http.StatusUnauthorized {
		t.Fatalf("a report signed by another key: %d", status)
	}
	if r := list(); r.status != http.StatusOK {
		t.Fatalf("after a forged report: %d %s", r.status, r.body)
	}

	reported := time.Now()
	if status := post(gh.Sign(t, body)); status != http.StatusOK {
		t.Fatalf("signed report: %d", status)
	}
	_, err := client.Exchange(context.Background(), client.Config{Server: kw.URL, Key: key.Secret})
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_client" {
		t.Fatalf("the leaked key exchanges: %v, want invalid_client", err)
	}
	refusedWithin(t, containersURL(api, p), reported, "the report", map[string]string{"the leaked key's token": tok})
}
