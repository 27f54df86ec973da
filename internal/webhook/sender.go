package webhook

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/keyward/keyward"
)

// Store is what the sender needs of keyward.Store.
type Store interface {
	ClaimWebhookMessages(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]keyward.WebhookDelivery, error)
	RecordWebhookAttempt(ctx context.Context, a *keyward.WebhookAttempt, next *time.Time, skip bool) error
}

// Rights answers whether a webhook's owner may, now, see an event of a type in a project: a
// webhook delivers what its owner could read through the API, and nothing once they cannot.
type Rights interface {
	MaySee(ctx context.Context, projectID, userID, eventType string) (bool, error)
}

const (
	// DefaultRetryBase is the wait after a first failed attempt; each later one doubles it.
	DefaultRetryBase = 5 * time.Second
	// AttemptTimeout bounds one attempt, connection included.
	AttemptTimeout = 10 * time.Second
	// Lease is how long a claimed message is left to its sender: one that died mid-attempt
	// (a crash, SIGKILL) leaves it to be sent again after it, with the same webhook-id.
	Lease = 60 * time.Second
	// claimBatch messages are claimed at once and sent at most sendConcurrency at a time, so a
	// batch of attempts that all time out ends well within the lease: 32/8 × 10 s = 40 s.
	claimBatch      = 32
	sendConcurrency = 8
	pollEvery       = 500 * time.Millisecond
	// jitter is the largest random share added to a backoff, so that the retries of a receiver
	// that was down do not all come back at the same instant.
	jitter = 0.1
)

// NotSentOwner is the attempt error of a message its webhook's owner may no longer see.
const NotSentOwner = "not sent: the webhook's owner may no longer see this event"

// Sender delivers the outbox: it claims due messages, signs and posts them, and records each
// attempt with its backoff. Several instances may share a database; the claims' leases keep
// them from sending one message at once.
type Sender struct {
	Store  Store
	Rights Rights
	// MasterKey opens the signing secrets (nil when the instance has none; see Seal).
	MasterKey []byte
	// AllowPrivate admits receivers on loopback and private networks (Policy).
	AllowPrivate bool
	// RetryBase is the first backoff (DefaultRetryBase when zero).
	RetryBase time.Duration
	Now       func() time.Time
	Rand      io.Reader // the backoffs' jitter
	Logger    *slog.Logger
	// HTTP posts the messages; nil: a client that connects only where Policy allows and never
	// follows a redirect.
	HTTP *http.Client
	// Timeout bounds one attempt (AttemptTimeout when zero).
	Timeout time.Duration

	once   sync.Once
	client *http.Client
	poke   chan struct{}
}

func (s *Sender) init() {
	s.once.Do(func() {
		s.poke = make(chan struct{}, 1)
		s.client = s.HTTP
		if s.client == nil {
			s.client = &http.Client{
				Transport: Policy(s.AllowPrivate).Transport(s.timeout()),
				// A redirect would take the signed message, and the request, where the
				// webhook's URL check never looked.
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			}
		}
		if s.Logger == nil {
			s.Logger = slog.New(slog.DiscardHandler)
		}
	})
}

func (s *Sender) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return AttemptTimeout
}

// Poke wakes Run to look for due messages now, after a change queued some.
func (s *Sender) Poke() {
	s.init()
	select {
	case s.poke <- struct{}{}:
	default:
	}
}

// Run sends due messages until ctx ends: every pollEvery, when poked, and at once again after
// a full batch.
func (s *Sender) Run(ctx context.Context) {
	s.init()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		n, err := s.SendDue(ctx)
		if err != nil && ctx.Err() == nil {
			s.Logger.Error("webhook deliveries failed", "err", err)
		}
		if n == claimBatch && err == nil {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-s.poke:
		}
	}
}

// SendDue claims one batch of due messages, attempts each and records the outcomes; it returns
// how many it claimed.
func (s *Sender) SendDue(ctx context.Context) (int, error) {
	s.init()
	batch, err := s.Store.ClaimWebhookMessages(ctx, s.Now(), Lease, claimBatch)
	if err != nil {
		return 0, err
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, sendConcurrency)
	silent := &silentReceivers{hooks: map[string]bool{}}
	for _, d := range batch {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			s.deliver(ctx, d, silent)
		})
	}
	wg.Wait()
	return len(batch), nil
}

// silentReceivers are the webhooks of a batch whose receiver gave no answer (a timeout, a
// refused connection): their other messages of the batch wait for their next attempt instead
// of each spending a timeout, so that one receiver that hangs does not hold back every other
// project's deliveries.
type silentReceivers struct {
	mu    sync.Mutex
	hooks map[string]bool
}

func (s *silentReceivers) is(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hooks[id]
}

func (s *silentReceivers) add(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hooks[id] = true
}

// NotTriedSilent is the attempt error of a message not sent because its receiver gave no answer
// to another message a moment before.
const NotTriedSilent = "not sent: the receiver did not answer another message a moment ago"

// deliver makes one attempt of d and records it.
func (s *Sender) deliver(ctx context.Context, d keyward.WebhookDelivery, silent *silentReceivers) {
	m, w := d.Message, d.Webhook
	log := s.Logger.With("webhook", w.ID, "message", m.ID, "event", m.Type, "attempt", m.Attempts)
	now := s.Now()
	a := &keyward.WebhookAttempt{MessageID: m.ID, At: now}
	// A test event too: a webhook whose owner left shows its skipped test, which says why.
	ok, err := s.Rights.MaySee(ctx, w.ProjectID, w.Owner, m.Type)
	switch {
	case err != nil:
		log.Error("webhook owner's rights unreadable; retrying later", "err", err)
		a.Error = "not sent: the owner's rights could not be checked"
		s.record(ctx, log, a, s.retry(m, now), false)
		return
	case !ok:
		a.Error = NotSentOwner
		log.Info("webhook message not sent: its owner may no longer see it")
		s.record(ctx, log, a, nil, true)
		return
	}
	if silent.is(w.ID) {
		a.Error = NotTriedSilent
		s.record(ctx, log, a, s.retry(m, now), false)
		return
	}
	s.attempt(ctx, log, w, m, a)
	if ctx.Err() != nil {
		return // shutting down: the lease brings the message back, to this or another instance
	}
	if a.Status == 0 {
		silent.add(w.ID)
	}
	if a.Status >= 200 && a.Status < 300 {
		s.record(ctx, log, a, nil, false)
		return
	}
	log.Warn("webhook attempt failed", "status", a.Status, "err", a.Error)
	s.record(ctx, log, a, s.retry(m, now), false)
}

// attempt signs and posts m to w, and fills a with the outcome.
func (s *Sender) attempt(ctx context.Context, log *slog.Logger, w *keyward.Webhook, m *keyward.WebhookMessage, a *keyward.WebhookAttempt) {
	keys, err := s.keys(w, a.At)
	if err != nil {
		log.Error("webhook secret unusable", "err", err)
		a.Error = "not sent: the webhook's signing secret cannot be read on this server"
		return
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(m.Body))
	if err != nil {
		a.Error = "not sent: the webhook's URL is not usable"
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "keyward-webhooks/"+keyward.Version)
	req.Header.Set(HeaderID, m.ID)
	req.Header.Set(HeaderTimestamp, fmt.Sprint(a.At.Unix()))
	req.Header.Set(HeaderSignature, Sign(keys, m.ID, a.At, m.Body))
	start := time.Now()
	resp, err := s.client.Do(req)
	a.Duration = time.Since(start)
	if err != nil {
		a.Error = attemptError(err)
		return
	}
	defer resp.Body.Close()
	a.Status = resp.StatusCode
	body, _ := io.ReadAll(io.LimitReader(resp.Body, keyward.WebhookResponseMaxLen))
	a.Response = string(body)
	// A little more is read so that the connection can serve the next attempt; a receiver that
	// answers at length only gets its connection closed.
	_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		a.Error = fmt.Sprintf("the receiver answered %d, a redirect, which is not followed: give the webhook its final URL", resp.StatusCode)
	}
}

// keys are the signing keys of w at now: its secret, and the previous one while it still signs.
func (s *Sender) keys(w *keyward.Webhook, now time.Time) ([][]byte, error) {
	key, err := Open(s.MasterKey, w.ID, w.Secret)
	if err != nil {
		return nil, err
	}
	keys := [][]byte{key}
	if len(w.PreviousSecret) > 0 && w.PreviousExpiresAt != nil && w.PreviousExpiresAt.After(now) {
		prev, err := Open(s.MasterKey, w.ID, w.PreviousSecret)
		if err != nil {
			return nil, err
		}
		keys = append(keys, prev)
	}
	return keys, nil
}

// attemptError says why an attempt got no answer, without the URL (whose query may hold a
// receiver's token).
func attemptError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "no answer in time"
	}
	return err.Error()
}

// retry is when m, whose attempt at now failed, is tried next: nil once its window is over.
func (s *Sender) retry(m *keyward.WebhookMessage, now time.Time) *time.Time {
	if !now.Before(m.RetryUntil) {
		return nil
	}
	next := now.Add(Backoff(s.RetryBase, m.WindowAttempts, s.Rand))
	if next.After(m.RetryUntil) {
		next = m.RetryUntil // one last attempt as the window ends
	}
	return &next
}

// Backoff is the wait after failed attempt n (1 for the first): base (DefaultRetryBase when
// zero) doubled n−1 times, plus up to 10% drawn from r (none when r is nil or fails), at most
// keyward.WebhookRetryWindow.
func Backoff(base time.Duration, n int, r io.Reader) time.Duration {
	if base <= 0 {
		base = DefaultRetryBase
	}
	d := base
	for i := 1; i < n && d < keyward.WebhookRetryWindow; i++ {
		d *= 2
	}
	d = min(d, keyward.WebhookRetryWindow)
	if r != nil {
		var b [8]byte
		if _, err := io.ReadFull(r, b[:]); err == nil {
			frac := float64(binary.BigEndian.Uint64(b[:])>>11) / (1 << 53)
			d += time.Duration(frac * jitter * float64(d))
		}
	}
	return d
}

func (s *Sender) record(ctx context.Context, log *slog.Logger, a *keyward.WebhookAttempt, next *time.Time, skip bool) {
	err := s.Store.RecordWebhookAttempt(ctx, a, next, skip)
	if err != nil && keyward.ErrorCode(err) != keyward.ENOTFOUND { // ENOTFOUND: its webhook was deleted meanwhile
		log.Error("webhook attempt not recorded; the message is tried again after its lease", "err", err)
	}
}
