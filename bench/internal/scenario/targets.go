package scenario

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/keyward/keyward/bench/internal/load"
	"github.com/keyward/keyward/bench/internal/testbed"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/internal/token"
)

// roundRobin gives each worker its own walk through the keys: worker w's j-th request uses key
// (w + j·n) mod len(keys), so every key is used and two connections never share one at a time
// while there are at least as many keys as connections.
type roundRobin struct {
	keys []testbed.Key
	next []int
	n    int
}

func (rr *roundRobin) init(n int) {
	rr.n, rr.next = n, make([]int, n)
	for w := range n {
		rr.next[w] = w % len(rr.keys)
	}
}

func (rr *roundRobin) take(w int) testbed.Key {
	k := rr.keys[rr.next[w]]
	rr.next[w] = (rr.next[w] + rr.n) % len(rr.keys)
	return k
}

// ceilingTarget posts the same request an exchange sends to the bare signer.
type ceilingTarget struct {
	url      string
	keys     []testbed.Key
	tokens   *token.Verifier // of the ceiling's keyring
	template token.Claims
	rr       roundRobin
	// tokenBytes is the length of the first token, to compare with keyward's.
	tokenBytes int
}

func (t *ceilingTarget) Start(_ context.Context, _ *http.Client, n int) error {
	t.rr = roundRobin{keys: t.keys}
	t.rr.init(n)
	return nil
}

func (t *ceilingTarget) Request(ctx context.Context, w int) (*http.Request, error) {
	return load.PostForm(ctx, t.url, t.rr.take(w).Basic, "grant_type=client_credentials")
}

func (t *ceilingTarget) Answer(int, []byte) error { return nil }

func (t *ceilingTarget) Failed(context.Context, *http.Client, int) error { return nil }

func (t *ceilingTarget) Verify(_ int, body []byte) error {
	var tr client.TokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		return fmt.Errorf("answer is not JSON: %w", err)
	}
	c, err := t.tokens.Verify(tr.AccessToken)
	if err != nil {
		return fmt.Errorf("ceiling token: %w", err)
	}
	if c.Subject != t.template.Subject || !slices.Equal(c.Scope, t.template.Scope) || c.SessionID != t.template.SessionID {
		return errors.New("the ceiling's token does not have keyward's claims")
	}
	t.tokenBytes = len(tr.AccessToken)
	return nil
}

// exchangeTarget sends client_credentials with HTTP Basic, keys taken round-robin. With several
// instances, worker w keeps to instance w mod n, so the connections are spread evenly.
type exchangeTarget struct {
	to    []testbed.Endpoint
	keys  []testbed.Key
	rr    roundRobin
	first string // the key id of worker 0's first request
}

func (t *exchangeTarget) Start(_ context.Context, _ *http.Client, n int) error {
	t.rr = roundRobin{keys: t.keys}
	t.rr.init(n)
	t.first = t.keys[t.rr.next[0]].ID
	return nil
}

func (t *exchangeTarget) Request(ctx context.Context, w int) (*http.Request, error) {
	return load.PostForm(ctx, t.to[w%len(t.to)].URL, t.rr.take(w).Basic, "grant_type=client_credentials")
}

func (t *exchangeTarget) Answer(int, []byte) error { return nil }

func (t *exchangeTarget) Failed(context.Context, *http.Client, int) error { return nil }

func (t *exchangeTarget) Verify(_ int, body []byte) error {
	_, _, err := testbed.CheckAnswer(body, t.to[0].Tokens, t.first)
	return err
}

// refreshTarget gives each worker its own session and rotates it in a chain, always with the
// newest refresh token: every request is a real, single-use rotation. Worker w keeps to instance
// w mod n.
type refreshTarget struct {
	to     []testbed.Endpoint
	keys   []testbed.Key
	chains []chain
}

type chain struct {
	key     testbed.Key
	refresh string
	sid     string
}

func (t *refreshTarget) Start(ctx context.Context, c *http.Client, n int) error {
	t.chains = make([]chain, n)
	for w := range n {
		t.chains[w].key = t.keys[w%len(t.keys)]
		if err := t.begin(ctx, c, w); err != nil {
			return err
		}
	}
	return nil
}

// begin starts worker w's session with an exchange.
func (t *refreshTarget) begin(ctx context.Context, c *http.Client, w int) error {
	ch, to := &t.chains[w], t.to[w%len(t.to)]
	status, body, err := load.Send(ctx, c, http.MethodPost, to.URL, load.FormContentType, ch.key.Basic, strings.NewReader("grant_type=client_credentials"))
	if err != nil {
		return fmt.Errorf("exchange to start a session: %w", err)
	} else if status != http.StatusOK {
		return fmt.Errorf("exchange to start a session: HTTP %d: %s", status, load.Clip(body))
	}
	_, caller, err := testbed.CheckAnswer(body, to.Tokens, ch.key.ID)
	if err != nil {
		return fmt.Errorf("exchange to start a session: %w", err)
	}
	ch.sid = caller.SessionID
	ch.refresh, _ = testbed.RefreshTokenOf(body)
	return nil
}

func (t *refreshTarget) Request(ctx context.Context, w int) (*http.Request, error) {
	// Refresh tokens are base64url or base62: nothing to escape in a form.
	return load.PostForm(ctx, t.to[w%len(t.to)].URL, "", "grant_type=refresh_token&refresh_token="+t.chains[w].refresh)
}

func (t *refreshTarget) Answer(w int, body []byte) error {
	tok, ok := testbed.RefreshTokenOf(body)
	if !ok {
		return testbed.ErrNoToken
	}
	t.chains[w].refresh = tok
	return nil
}

// failed starts a new session: whatever went wrong, the old chain may be spent or revoked.
func (t *refreshTarget) Failed(ctx context.Context, c *http.Client, w int) error {
	return t.begin(ctx, c, w)
}

func (t *refreshTarget) Verify(w int, body []byte) error {
	ch := t.chains[w]
	tr, caller, err := testbed.CheckAnswer(body, t.to[w%len(t.to)].Tokens, ch.key.ID)
	if err != nil {
		return err
	}
	if caller.SessionID != ch.sid {
		return fmt.Errorf("the refreshed token belongs to session %q, not %q", caller.SessionID, ch.sid)
	}
	if tr.RefreshToken == ch.refresh {
		return errors.New("the refresh did not rotate the refresh token")
	}
	return nil
}

// apiTarget sends GET requests for a project's containers. Worker w serves the clients w, w+n,
// w+2n… in turn, so every token is in use and each is reused many times.
type apiTarget struct {
	base    string // the example API or the verifying ceiling
	clients []testbed.APIClient
	n       int
	next    []int
}

func (t *apiTarget) Start(_ context.Context, _ *http.Client, n int) error {
	if len(t.clients) == 0 {
		return errors.New("no API client")
	}
	t.n, t.next = n, make([]int, n)
	for w := range n {
		t.next[w] = w % len(t.clients)
	}
	return nil
}

func (t *apiTarget) Request(ctx context.Context, w int) (*http.Request, error) {
	c := t.clients[t.next[w]]
	t.next[w] = (t.next[w] + t.n) % len(t.clients)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.base+c.Path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", c.Auth)
	return req, nil
}

func (t *apiTarget) Answer(int, []byte) error { return nil }

func (t *apiTarget) Failed(context.Context, *http.Client, int) error { return nil }

func (t *apiTarget) Verify(_ int, body []byte) error {
	var v struct {
		Data []json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &v); err != nil || v.Data == nil {
		return fmt.Errorf("not a container list: %s", load.Clip(body))
	}
	return nil
}
