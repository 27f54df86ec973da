package main

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/keyward/keyward/client"
)

// TestMemberDisablesKey: a member disables a key with one request; it no longer exchanges, the
// example API refuses the token it had moments later through the revocation feed, and the key
// says why; enabled again, it exchanges and its new token works.
func TestMemberDisablesKey(t *testing.T) {
	kw := startKeyward(t)
	api := startAPI(t, kw.URL)
	p := kw.Default.ID
	key := kw.createKey(t, p, "deploy-bot", nil, "containers-view")
	tok := kw.token(t, key)
	list := func(tok string) apiResponse {
		return apiCall{method: "GET", url: containersURL(api, p), token: tok}.do(t)
	}
	if r := list(tok); r.status != http.StatusOK {
		t.Fatalf("before: %d %s", r.status, r.body)
	}

	ctx := context.Background()
	yes, no := true, false
	disabled := time.Now()
	k, err := kw.Admin.UpdateKey(ctx, p, key.ID, client.UpdateKeyRequest{Disabled: &yes})
	if err != nil {
		t.Fatalf("disable: %v", err)
	}
	if k.State != "disabled" || k.DisabledReason != "member" {
		t.Fatalf("disabled key: state %q, reason %q", k.State, k.DisabledReason)
	}
	_, err = client.Exchange(ctx, client.Config{Server: kw.URL, Key: key.Secret})
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_client" {
		t.Fatalf("the disabled key exchanges: %v, want invalid_client", err)
	}
	refusedWithin(t, containersURL(api, p), disabled, "the member disabled the key", map[string]string{"its token": tok})

	if k, err = kw.Admin.UpdateKey(ctx, p, key.ID, client.UpdateKeyRequest{Disabled: &no}); err != nil || k.State != "active" {
		t.Fatalf("enable: %+v, %v", k, err)
	}
	if r := list(kw.token(t, key)); r.status != http.StatusOK {
		t.Fatalf("a new token after enabling: %d %s", r.status, r.body)
	}
}
