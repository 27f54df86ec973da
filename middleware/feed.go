package middleware

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward/revocation"
)

// idleTimeout ends a stream that has sent nothing, not even keyward's 15-second heartbeat, for
// this long: the connection is dead without either side being told. A variable for tests.
var idleTimeout = 45 * time.Second

const (
	// Reconnection backoff: quick at first (keyward asks for a reconnection within a second),
	// doubling up to maxBackoff while the issuer stays unreachable, with jitter so that many
	// verifiers do not reconnect in step.
	minBackoff = 100 * time.Millisecond
	maxBackoff = 10 * time.Second
	// maxEventBytes bounds one SSE line; entries are a few hundred bytes.
	maxEventBytes = 64 << 10
	// catchUpPages bounds the catch-up at start, 500 entries a page.
	catchUpPages = 10000
)

// revocationJSON is one entry of the feed; ID is a revocation.Name.
type revocationJSON struct {
	Cursor    string    `json:"cursor"`
	Type      string    `json:"type"`
	ID        string    `json:"id"`
	ExpiresAt time.Time `json:"expires_at"`
}

type revocationPage struct {
	Data   []revocationJSON `json:"data"`
	Cursor string           `json:"cursor"`
}

// revocations is an immutable snapshot of what is revoked: the feed's names of sessions and keys,
// each with the time after which every token it concerns has expired. Requests read it without a
// lock.
type revocations struct {
	sessions map[string]time.Time
	keys     map[string]time.Time
}

// feed follows the issuer's revocation feed: a JSON catch-up from the start, then a Server-Sent
// Events stream resumed with Last-Event-ID after every disconnection.
type feed struct {
	url    string
	hc     *http.Client // without a timeout: the stream is meant to last
	now    func() time.Time
	log    *slog.Logger
	leeway time.Duration

	state atomic.Pointer[revocations]
	// down is when the feed went out of sync, in Unix nanoseconds; zero while connected. Requests
	// read it without a lock.
	down atomic.Int64

	mu        sync.Mutex // guards what follows, and serializes writers of state
	cursor    int64
	connected bool
	since     time.Time // when connected last changed
	lastErr   error
}

func newFeed(url string, hc *http.Client, now func() time.Time, log *slog.Logger, leeway time.Duration) *feed {
	stream := *hc
	stream.Timeout = 0
	f := &feed{url: url, hc: &stream, now: now, log: log, leeway: leeway, since: now()}
	f.down.Store(f.since.UnixNano())
	f.state.Store(&revocations{sessions: map[string]time.Time{}, keys: map[string]time.Time{}})
	return f
}

// feedNames are a caller's session and key ids as the feed names them (revocation.Name),
// computed once per verified token: the Caller is cached, the hashing need not be repeated on
// every request.
type feedNames struct {
	session, key, client string // "" when the token has no such claim
}

func namesOf(c *Caller) feedNames {
	var n feedNames
	if c.SessionID != "" {
		n.session = revocation.Name(revocation.Session, c.SessionID)
	}
	if c.KeyID != "" {
		n.key = revocation.Name(revocation.Key, c.KeyID)
	}
	if c.ClientID != "" && c.ClientID != c.KeyID {
		n.client = revocation.Name(revocation.Key, c.ClientID)
	}
	return n
}

// revoked reports whether the caller's session or key is revoked.
func (f *feed) revoked(c *Caller) bool {
	r := f.state.Load()
	n := c.feedNames
	_, session := r.sessions[n.session]
	_, key := r.keys[n.key]
	_, client := r.keys[n.client]
	return session && n.session != "" || key && n.key != "" || client && n.client != ""
}

// apply adds entries to the revoked set, copying it so that readers never see a half-made one.
func (f *feed) apply(entries []revocationJSON) {
	if len(entries) == 0 {
		return
	}
	old := f.state.Load()
	next := &revocations{sessions: maps.Clone(old.sessions), keys: maps.Clone(old.keys)}
	now := f.now()
	for _, e := range entries {
		if e.ID == "" || f.forgettable(e.ExpiresAt, now) {
			continue
		}
		name := e.ID
		if len(name) != revocation.NameLength {
			// An issuer from before the feed was hashed publishes raw ids, which are never 22
			// characters long; naming them here keeps its revocations effective.
			name = revocation.Name(e.Type, e.ID)
		}
		switch e.Type {
		case revocation.Session:
			next.sessions[name] = e.ExpiresAt
		case revocation.Key:
			next.keys[name] = e.ExpiresAt
		}
	}
	f.state.Store(next)
}

// forgettable reports whether every token an entry concerns is expired, leeway included.
func (f *feed) forgettable(expires time.Time, now time.Time) bool {
	return !expires.IsZero() && now.After(expires.Add(f.leeway))
}

// sweep forgets entries whose tokens have all expired.
func (f *feed) sweep() {
	f.mu.Lock()
	defer f.mu.Unlock()
	old := f.state.Load()
	now := f.now()
	next := &revocations{sessions: maps.Clone(old.sessions), keys: maps.Clone(old.keys)}
	maps.DeleteFunc(next.sessions, func(_ string, exp time.Time) bool { return f.forgettable(exp, now) })
	maps.DeleteFunc(next.keys, func(_ string, exp time.Time) bool { return f.forgettable(exp, now) })
	f.state.Store(next)
}

// catchUp reads the feed as JSON pages from the cursor until it is empty.
func (f *feed) catchUp(ctx context.Context) error {
	for range catchUpPages {
		f.mu.Lock()
		after := f.cursor
		f.mu.Unlock()
		var page revocationPage
		if _, err := getJSON(ctx, f.hc, f.url+"?after="+strconv.FormatInt(after, 10), &page); err != nil {
			return fmt.Errorf("middleware: reading the revocation feed: %w", err)
		}
		cursor, err := parseCursor(page.Cursor)
		if err != nil {
			return fmt.Errorf("middleware: the revocation feed sent the cursor %q", page.Cursor)
		}
		f.mu.Lock()
		f.apply(page.Data)
		f.cursor = max(f.cursor, cursor)
		f.mu.Unlock()
		if len(page.Data) == 0 {
			// In sync now; the stream, about to start, keeps it so.
			f.mu.Lock()
			f.since = f.now()
			f.down.Store(f.since.UnixNano())
			f.mu.Unlock()
			return nil
		}
	}
	return errors.New("middleware: the revocation feed does not end")
}

// follow keeps a stream open until ctx ends, reconnecting with backoff.
func (f *feed) follow(ctx context.Context) {
	backoff := minBackoff
	for ctx.Err() == nil {
		started := f.now()
		err := f.stream(ctx)
		f.setConnected(false, err)
		if ctx.Err() != nil {
			return
		}
		f.log.Warn("keyward revocation feed disconnected; reconnecting", "err", err)
		if f.now().Sub(started) > maxBackoff {
			backoff = minBackoff // the stream was up for a while: this is a new outage
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

func (f *feed) setConnected(connected bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.connected != connected {
		f.connected, f.since = connected, f.now()
		if connected {
			f.down.Store(0)
		} else {
			f.down.Store(f.since.UnixNano())
		}
	}
	if err != nil {
		f.lastErr = err
	}
}

// stream reads one SSE connection until it ends.
func (f *feed) stream(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	f.mu.Lock()
	from := strconv.FormatInt(f.cursor, 10)
	f.mu.Unlock()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.url+"?after="+url.QueryEscape(from), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	req.Header.Set("Last-Event-ID", from)
	// A stream silent for longer than idleTimeout is cut, so a dead connection is noticed; the
	// timer runs from the request on, so that a server that accepts the connection but never
	// answers cannot hold the follower forever either.
	idle := time.AfterFunc(idleTimeout, cancel)
	defer idle.Stop()
	silent := func(err error) error {
		if ctx.Err() != nil && !idle.Stop() {
			return errors.New("the revocation feed was silent for too long")
		}
		return err
	}
	resp, err := f.hc.Do(req)
	if err != nil {
		return silent(err)
	}
	defer resp.Body.Close()
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); resp.StatusCode != http.StatusOK || mt != "text/event-stream" {
		return fmt.Errorf("the revocation feed answered %s (%s), not an event stream", resp.Status, resp.Header.Get("Content-Type"))
	}
	f.setConnected(true, nil)
	idle.Reset(idleTimeout)

	r := bufio.NewReaderSize(resp.Body, 4096)
	var (
		ev      sseEvent
		pending []revocationJSON
		cursor  int64
	)
	for {
		line, err := readLine(r)
		if err != nil {
			return silent(err)
		}
		idle.Reset(idleTimeout)
		if !ev.feed(line) {
			continue
		}
		e, c, ok, err := ev.revocation()
		ev = sseEvent{}
		if err != nil {
			return err
		}
		if ok {
			pending, cursor = append(pending, e), c
		}
		// Entries that arrive together (a backlog after a reconnection) are applied together,
		// and nothing waits: the batch ends when no more input is buffered.
		if len(pending) > 0 && (r.Buffered() == 0 || len(pending) >= 500) {
			f.mu.Lock()
			f.apply(pending)
			f.cursor = max(f.cursor, cursor)
			f.mu.Unlock()
			pending = pending[:0]
		}
	}
}

// revocation decodes a complete event: ok is false for events that are not feed entries.
func (ev *sseEvent) revocation() (e revocationJSON, cursor int64, ok bool, err error) {
	if ev.typ != "" && ev.typ != "message" || !ev.hasData {
		return e, 0, false, nil
	}
	if err := json.Unmarshal(ev.data, &e); err != nil {
		return e, 0, false, fmt.Errorf("the revocation feed sent an event that is not JSON: %w", err)
	}
	cursor, err = parseCursor(ev.id)
	if err != nil {
		if cursor, err = parseCursor(e.Cursor); err != nil {
			return e, 0, false, errors.New("the revocation feed sent an event without a cursor")
		}
	}
	return e, cursor, true, nil
}

// sseEvent accumulates the fields of one Server-Sent Event.
type sseEvent struct {
	id, typ string
	data    []byte
	hasData bool
}

// feed takes one line of the stream and reports whether it completed an event (a blank line),
// following the HTML standard's event-stream interpretation: comments start with a colon, one
// space after the field's colon is dropped, data lines join with newlines, unknown fields and ids
// with NUL are ignored.
func (ev *sseEvent) feed(line string) bool {
	if line == "" {
		return ev.hasData
	}
	if line[0] == ':' {
		return false
	}
	name, value, _ := strings.Cut(line, ":")
	value = strings.TrimPrefix(value, " ")
	switch name {
	case "data":
		if ev.hasData {
			ev.data = append(ev.data, '\n')
		}
		ev.data = append(ev.data, value...)
		ev.hasData = true
	case "id":
		if !strings.ContainsRune(value, 0) {
			ev.id = value
		}
	case "event":
		ev.typ = value
	}
	return false
}

// readLine reads one line without its CR LF or LF, refusing lines over maxEventBytes.
func readLine(r *bufio.Reader) (string, error) {
	var b []byte
	for {
		chunk, err := r.ReadSlice('\n')
		b = append(b, chunk...)
		if len(b) > maxEventBytes {
			return "", errors.New("the revocation feed sent an over-long line")
		}
		switch {
		case err == nil:
			b = b[:len(b)-1]
			return strings.TrimSuffix(string(b), "\r"), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			return "", io.ErrUnexpectedEOF
		default:
			return "", err
		}
	}
}

// parseCursor reads a feed cursor: a non-negative decimal integer.
func parseCursor(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || s == "" || s[0] == '+' {
		return 0, errors.New("bad cursor")
	}
	return n, nil
}

// FeedStatus describes how current a Verifier's knowledge of revocations is.
type FeedStatus struct {
	// Following is false when the Verifier was configured with SkipRevocationFeed.
	Following bool
	// Connected tells whether the stream is open: revocations then arrive within a second.
	Connected bool
	// Since is when Connected last changed (or when the Verifier started).
	Since time.Time
	// Stale is how long the verifier has been disconnected, zero while connected. Unless
	// Config.FailOpen is set, requests are refused once it exceeds Config.MaxStaleness.
	Stale time.Duration
	// Cursor is the position in the feed up to which every revocation is known.
	Cursor int64
	// Revoked counts the sessions and keys currently refused.
	Revoked int
	// Err is why the stream last ended, if it did.
	Err error
}

// FeedStatus reports the state of the revocation feed, for health checks and metrics.
func (v *Verifier) FeedStatus() FeedStatus {
	if v.feed == nil {
		return FeedStatus{}
	}
	return v.feed.status()
}

func (f *feed) status() FeedStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.state.Load()
	s := FeedStatus{Following: true, Connected: f.connected, Since: f.since, Cursor: f.cursor,
		Revoked: len(r.sessions) + len(r.keys), Err: f.lastErr}
	if !f.connected {
		s.Stale = max(f.now().Sub(f.since), 0)
	}
	return s
}

// check refuses a token when the feed has been out of sync for longer than maxStaleness (zero:
// never, the verifier fails open), or when its session or key is revoked.
func (f *feed) check(c *Caller, maxStaleness time.Duration) error {
	if maxStaleness > 0 {
		if down := f.down.Load(); down != 0 && f.now().Sub(time.Unix(0, down)) > maxStaleness {
			return &Error{Status: http.StatusServiceUnavailable, Code: CodeTemporarilyUnavailable,
				Description: "Tokens cannot be checked for revocation right now; retry shortly."}
		}
	}
	if f.revoked(c) {
		return invalidToken("The access token has been revoked.")
	}
	return nil
}
