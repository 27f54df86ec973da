package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/fakeclock"
	"github.com/keyward/keyward/internal/manage"
	"github.com/keyward/keyward/internal/sqlstore"
	"github.com/keyward/keyward/internal/webhook"
)

// fixture is a project with one member, the webhook's owner, over a real SQLite store.
type fixture struct {
	store   *sqlstore.DB
	clock   *fakeclock.Clock
	project *keyward.Project
	owner   *keyward.User
	master  []byte
}

func newFixture(t *testing.T, perms ...string) *fixture {
	t.Helper()
	ctx := context.Background()
	store, err := sqlstore.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "keyward.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	f := &fixture{store: store, clock: fakeclock.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)), master: make([]byte, 32)}
	rand.Read(f.master)
	f.owner = &keyward.User{ID: newID(t, keyward.PrefixUser), Email: "owner@example.com", PasswordHash: "unused", CreatedAt: f.clock.Now()}
	if err := store.CreateUser(ctx, f.owner); err != nil {
		t.Fatal(err)
	}
	if len(perms) == 0 {
		perms = []string{"api-keys-manage", "members-view"}
	}
	f.project = &keyward.Project{ID: newID(t, keyward.PrefixProject), Name: "web-shop", CreatedAt: f.clock.Now()}
	if err := store.CreateProject(ctx, f.project, &keyward.Member{UserID: f.owner.ID, Permissions: perms, CreatedAt: f.clock.Now(), UpdatedAt: f.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	return f
}

func newID(t *testing.T, prefix string) string {
	id, err := keyward.NewID(rand.Reader, prefix)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// webhook stores a webhook of the owner to url, and returns it with its secret's text.
func (f *fixture) webhook(t *testing.T, url string, events ...string) (*keyward.Webhook, string) {
	t.Helper()
	key, text, err := webhook.NewSecret(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := newID(t, keyward.PrefixWebhook)
	sealed, err := webhook.Seal(f.master, id, key, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) == 0 {
		events = []string{keyward.EventKeyCreated, keyward.EventMemberAdded}
	}
	w := &keyward.Webhook{ID: id, ProjectID: f.project.ID, URL: url, Events: events, Owner: f.owner.ID, Secret: sealed,
		CreatedAt: f.clock.Now(), UpdatedAt: f.clock.Now()}
	if err := f.store.CreateWebhook(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	return w, text
}

// emit queues an event of the project and returns its one message.
func (f *fixture) emit(t *testing.T, typ string) *keyward.WebhookMessage {
	t.Helper()
	msgs, err := f.store.EnqueueWebhookEvent(context.Background(), keyward.WebhookEvent{Type: typ, At: f.clock.Now(),
		Data: keyward.EventData{ProjectID: f.project.ID, KeyID: "key0000000000000", KeyName: "deploy-bot"}}, "")
	if err != nil || len(msgs) != 1 {
		t.Fatalf("emit %s: %d messages, %v", typ, len(msgs), err)
	}
	return msgs[0]
}

func (f *fixture) sender(allowPrivate bool) *webhook.Sender {
	return &webhook.Sender{
		Store: f.store, Rights: manage.WebhookRights{Service: &manage.Service{Store: f.store, Catalog: keyward.DefaultCatalog()}},
		MasterKey: f.master, AllowPrivate: allowPrivate, RetryBase: time.Second, Now: f.clock.Now, Rand: rand.Reader,
	}
}

// message reads m back with its attempts, newest first.
func (f *fixture) message(t *testing.T, id string) (*keyward.WebhookMessage, []*keyward.WebhookAttempt) {
	t.Helper()
	m, attempts, err := f.store.WebhookMessage(context.Background(), f.project.ID, id)
	if err != nil {
		t.Fatal(err)
	}
	return m, attempts
}

func sendDue(t *testing.T, s *webhook.Sender) int {
	t.Helper()
	n, err := s.SendDue(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// receiver records the requests it gets and answers with the statuses given, then 204.
type receiver struct {
	mu       sync.Mutex
	requests []*http.Request
	bodies   [][]byte
	statuses []int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.requests, rc.bodies = append(rc.requests, r), append(rc.bodies, body)
	status := http.StatusNoContent
	if len(rc.statuses) > 0 {
		status, rc.statuses = rc.statuses[0], rc.statuses[1:]
	}
	w.WriteHeader(status)
	if status != http.StatusNoContent {
		io.WriteString(w, "answer "+strconv.Itoa(status))
	}
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.requests)
}

func startReceiver(t *testing.T, statuses ...int) (*receiver, *httptest.Server) {
	rc := &receiver{statuses: statuses}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	return rc, srv
}

// verify checks a delivery as a Standard Webhooks receiver does: any v1 signature of
// "id.timestamp.body" under the secret.
func verify(t *testing.T, secret string, r *http.Request, body []byte) {
	t.Helper()
	key, err := webhook.ParseSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := strconv.ParseInt(r.Header.Get("webhook-timestamp"), 10, 64)
	if err != nil {
		t.Fatalf("webhook-timestamp %q", r.Header.Get("webhook-timestamp"))
	}
	want := webhook.Sign([][]byte{key}, r.Header.Get("webhook-id"), time.Unix(ts, 0), body)
	for _, sig := range strings.Fields(r.Header.Get("webhook-signature")) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return
		}
	}
	t.Fatalf("webhook-signature %q does not verify (want %q among them)", r.Header.Get("webhook-signature"), want)
}

// TestDeliveryIsSigned: a receiver gets the event's body, with an id, a timestamp and a
// signature that verify with the secret it was shown.
func TestDeliveryIsSigned(t *testing.T) {
	f := newFixture(t)
	rc, srv := startReceiver(t)
	_, secret := f.webhook(t, srv.URL+"/hooks")
	msg := f.emit(t, keyward.EventKeyCreated)
	if n := sendDue(t, f.sender(true)); n != 1 {
		t.Fatalf("sent %d messages, want 1", n)
	}
	if rc.count() != 1 {
		t.Fatalf("the receiver got %d requests", rc.count())
	}
	r, body := rc.requests[0], rc.bodies[0]
	if r.Method != http.MethodPost || r.URL.Path != "/hooks" || r.Header.Get("Content-Type") != "application/json" ||
		!strings.HasPrefix(r.Header.Get("User-Agent"), "keyward-webhooks/") {
		t.Errorf("request %s %s, content-type %q, user-agent %q", r.Method, r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("User-Agent"))
	}
	if r.Header.Get("webhook-id") != msg.ID || r.Header.Get("webhook-timestamp") != strconv.FormatInt(f.clock.Now().Unix(), 10) {
		t.Errorf("webhook-id %q, webhook-timestamp %q; want %q, %d", r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), msg.ID, f.clock.Now().Unix())
	}
	if string(body) != string(msg.Body) || !strings.Contains(string(body), `"type":"api_key.created"`) {
		t.Errorf("body %s, want %s", body, msg.Body)
	}
	verify(t, secret, r, body)
	m, attempts := f.message(t, msg.ID)
	if m.State != keyward.MessageDelivered || m.Attempts != 1 || len(attempts) != 1 || attempts[0].Status != http.StatusNoContent {
		t.Fatalf("message %s after %d attempts (%d recorded)", m.State, m.Attempts, len(attempts))
	}
	if n := sendDue(t, f.sender(true)); n != 0 || rc.count() != 1 {
		t.Fatalf("a delivered message was sent again")
	}
}

// TestRolledSecretSignsBeside: after a roll, messages carry a signature under each secret until
// the previous one expires, so a receiver that knows either verifies them.
func TestRolledSecretSignsBeside(t *testing.T) {
	f := newFixture(t)
	rc, srv := startReceiver(t)
	w, oldSecret := f.webhook(t, srv.URL)
	key, newSecret, _ := webhook.NewSecret(rand.Reader)
	sealed, _ := webhook.Seal(f.master, w.ID, key, rand.Reader)
	until := f.clock.Now().Add(time.Hour)
	if _, err := f.store.UpdateWebhook(context.Background(), f.project.ID, w.ID, keyward.WebhookChange{Owner: f.owner.ID, Secret: sealed, PreviousExpiry: &until}, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	f.emit(t, keyward.EventKeyCreated)
	sendDue(t, f.sender(true))
	verify(t, oldSecret, rc.requests[0], rc.bodies[0])
	verify(t, newSecret, rc.requests[0], rc.bodies[0])

	f.clock.Advance(time.Hour)
	f.emit(t, keyward.EventKeyCreated)
	sendDue(t, f.sender(true))
	verify(t, newSecret, rc.requests[1], rc.bodies[1])
	if sigs := strings.Fields(rc.requests[1].Header.Get("webhook-signature")); len(sigs) != 1 {
		t.Fatalf("signatures after the previous secret expired: %q", sigs)
	}
}

// TestRetriedUntilAccepted: a receiver that fails five times gets the message, with the same
// webhook-id, on the sixth attempt, each after a longer wait than the one before.
func TestRetriedUntilAccepted(t *testing.T) {
	f := newFixture(t)
	rc, srv := startReceiver(t, 500, 500, 500, 500, 500)
	f.webhook(t, srv.URL)
	msg := f.emit(t, keyward.EventKeyCreated)
	s := f.sender(true)
	var waits []time.Duration
	for attempt := 1; attempt <= 6; attempt++ {
		if n := sendDue(t, s); n != 1 {
			t.Fatalf("attempt %d: %d messages claimed", attempt, n)
		}
		m, _ := f.message(t, msg.ID)
		if attempt == 6 {
			break
		}
		if m.State != keyward.MessagePending || m.NextAttemptAt == nil || m.LastStatus != 500 {
			t.Fatalf("after attempt %d: %s, next %v, last status %d", attempt, m.State, m.NextAttemptAt, m.LastStatus)
		}
		wait := m.NextAttemptAt.Sub(f.clock.Now())
		waits = append(waits, wait)
		if n := sendDue(t, s); n != 0 {
			t.Fatalf("after attempt %d: a message was claimed before its backoff ended", attempt)
		}
		f.clock.Set(*m.NextAttemptAt)
	}
	for i := 1; i < len(waits); i++ {
		if waits[i] <= waits[i-1] {
			t.Errorf("backoffs %v do not grow", waits)
		}
	}
	m, attempts := f.message(t, msg.ID)
	if m.State != keyward.MessageDelivered || m.Attempts != 6 || len(attempts) != 6 || attempts[0].Status != http.StatusNoContent ||
		attempts[1].Status != 500 || attempts[1].Response != "answer 500" {
		t.Fatalf("message %s after %d attempts (%d recorded)", m.State, m.Attempts, len(attempts))
	}
	if rc.count() != 6 {
		t.Fatalf("the receiver got %d requests, want 6", rc.count())
	}
	for _, r := range rc.requests {
		if r.Header.Get("webhook-id") != msg.ID {
			t.Fatalf("an attempt came with webhook-id %q, want %q", r.Header.Get("webhook-id"), msg.ID)
		}
	}
}

// TestRedirectNotFollowed: a receiver's redirect ends the attempt; the message goes nowhere else.
func TestRedirectNotFollowed(t *testing.T) {
	f := newFixture(t)
	target, targetSrv := startReceiver(t)
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, targetSrv.URL, http.StatusTemporaryRedirect)
	}))
	defer redirect.Close()
	f.webhook(t, redirect.URL)
	msg := f.emit(t, keyward.EventKeyCreated)
	sendDue(t, f.sender(true))
	if target.count() != 0 {
		t.Fatal("the redirect was followed")
	}
	m, attempts := f.message(t, msg.ID)
	if m.State != keyward.MessagePending || len(attempts) != 1 || attempts[0].Status != http.StatusTemporaryRedirect ||
		!strings.Contains(attempts[0].Error, "redirect") {
		t.Fatalf("message %s, attempts %+v", m.State, attempts[0])
	}
}

// TestRefusedAddresses: without --webhook-allow-private nothing reaches this machine, and the
// attempt says why; the metadata service's address is refused whatever the flag.
func TestRefusedAddresses(t *testing.T) {
	f := newFixture(t)
	rc, srv := startReceiver(t)
	// A name, checked on the address it resolves to when dialled; and a token in the query,
	// which no attempt error repeats.
	_, port, _ := strings.Cut(srv.URL, "127.0.0.1:")
	f.webhook(t, "http://localhost:"+port+"/hook?token=s3cret-of-the-receiver")
	msg := f.emit(t, keyward.EventKeyCreated)
	sendDue(t, f.sender(false))
	if rc.count() != 0 {
		t.Fatal("a loopback receiver was reached without --webhook-allow-private")
	}
	m, attempts := f.message(t, msg.ID)
	if m.State != keyward.MessagePending || len(attempts) != 1 || attempts[0].Status != 0 ||
		!strings.Contains(attempts[0].Error, "loopback") || !strings.Contains(attempts[0].Error, "--webhook-allow-private") ||
		strings.Contains(attempts[0].Error, "s3cret") {
		t.Fatalf("message %s, attempt %+v", m.State, attempts[0])
	}

	g := newFixture(t)
	g.webhook(t, "http://169.254.169.254/latest/meta-data/")
	msg = g.emit(t, keyward.EventKeyCreated)
	sendDue(t, g.sender(true))
	_, attempts = g.message(t, msg.ID)
	if len(attempts) != 1 || attempts[0].Status != 0 || !strings.Contains(attempts[0].Error, "link-local") {
		t.Fatalf("metadata address: attempt %+v", attempts[0])
	}
}

// TestWindowEnds: a message is retried for 24 hours, the last attempt as the window ends, and
// fails after it; redelivered, it starts a new window from the shortest wait.
func TestWindowEnds(t *testing.T) {
	f := newFixture(t)
	rc, srv := startReceiver(t, 503, 503, 503, 503)
	f.webhook(t, srv.URL)
	msg := f.emit(t, keyward.EventKeyCreated)
	s := f.sender(true)
	s.RetryBase = 10 * time.Hour
	end := f.clock.Now().Add(keyward.WebhookRetryWindow)
	for range 2 { // at 0 and 10 h; the third wait (40 h) is cut to the window's end
		sendDue(t, s)
		m, _ := f.message(t, msg.ID)
		f.clock.Set(*m.NextAttemptAt)
	}
	if !f.clock.Now().Equal(end) {
		t.Fatalf("the last attempt is due at %s, want the window's end %s", f.clock.Now(), end)
	}
	sendDue(t, s)
	m, attempts := f.message(t, msg.ID)
	if m.State != keyward.MessageFailed || m.NextAttemptAt != nil || len(attempts) != 3 || rc.count() != 3 {
		t.Fatalf("message %s, next %v, %d attempts, %d received", m.State, m.NextAttemptAt, len(attempts), rc.count())
	}
	f.clock.Advance(time.Hour)
	if n := sendDue(t, s); n != 0 {
		t.Fatal("a failed message was claimed again")
	}

	// Redelivered, it is retried for a new window from the shortest wait again.
	if _, err := f.store.RedeliverWebhookMessage(context.Background(), f.project.ID, msg.ID, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	sendDue(t, s)
	m, _ = f.message(t, msg.ID)
	if m.State != keyward.MessagePending || m.NextAttemptAt == nil {
		t.Fatalf("a redelivered message that failed again: %+v", m)
	}
	if wait := m.NextAttemptAt.Sub(f.clock.Now()); wait < s.RetryBase || wait > s.RetryBase+s.RetryBase/10 {
		t.Errorf("after a redelivery the first wait is %s, want the base %s (with at most a tenth more)", wait, s.RetryBase)
	}
}

// TestOwnerMustStillSee: a webhook delivers nothing once its owner left the project (its test
// events neither), nor member events to an owner who may not see the members; such messages are
// skipped, never sent.
func TestOwnerMustStillSee(t *testing.T) {
	f := newFixture(t)
	rc, srv := startReceiver(t)
	w, _ := f.webhook(t, srv.URL)
	msg := f.emit(t, keyward.EventKeyCreated)
	tests, err := f.store.EnqueueWebhookEvent(context.Background(), keyward.WebhookEvent{Type: keyward.EventWebhookTest, At: f.clock.Now(),
		Data: keyward.EventData{ProjectID: f.project.ID}}, w.ID)
	if err != nil || len(tests) != 1 {
		t.Fatalf("test event: %v, %v", tests, err)
	}
	test := tests[0]
	if err := f.store.RemoveMember(context.Background(), f.project.ID, f.owner.ID, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	sendDue(t, f.sender(true))
	for _, id := range []string{msg.ID, test.ID} {
		m, attempts := f.message(t, id)
		if m.State != keyward.MessageSkipped || len(attempts) != 1 || attempts[0].Error != webhook.NotSentOwner {
			t.Fatalf("message %s %s, attempts %+v", m.Type, m.State, attempts)
		}
	}
	if rc.count() != 0 {
		t.Fatalf("the receiver of a webhook whose owner left got %d messages", rc.count())
	}

	g := newFixture(t, "api-keys-manage")
	g.webhook(t, srv.URL)
	member := g.emit(t, keyward.EventMemberAdded)
	key := g.emit(t, keyward.EventKeyCreated)
	sendDue(t, g.sender(true))
	if m, _ := g.message(t, member.ID); m.State != keyward.MessageSkipped {
		t.Errorf("member event to an owner without members-view: %s", m.State)
	}
	if m, _ := g.message(t, key.ID); m.State != keyward.MessageDelivered {
		t.Errorf("key event to an owner with api-keys-manage: %s", m.State)
	}
	if rc.count() != 1 {
		t.Errorf("the receiver got %d messages, want 1", rc.count())
	}
}

// TestSilentReceiverHoldsUpNobody: once a receiver has let an attempt time out, its other
// messages of the batch are not each given the full time limit; they wait for their next
// attempt, and another webhook's messages of the same batch are delivered.
func TestSilentReceiverHoldsUpNobody(t *testing.T) {
	f := newFixture(t)
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // the server notices the sender hanging up only after the body
		<-r.Context().Done()        // never answers: the sender gives up
	}))
	t.Cleanup(hang.Close)
	silent, _ := f.webhook(t, hang.URL+"/hook", keyward.EventKeyCreated)
	var ids []string
	for range 12 {
		ids = append(ids, f.emit(t, keyward.EventKeyCreated).ID)
	}
	rc, srv := startReceiver(t)
	f.webhook(t, srv.URL+"/hook", keyward.EventMemberAdded)
	healthy := []string{f.emit(t, keyward.EventMemberAdded).ID, f.emit(t, keyward.EventMemberAdded).ID}

	s := f.sender(true)
	s.Timeout = 200 * time.Millisecond
	if n := sendDue(t, s); n != 14 {
		t.Fatalf("claimed %d messages, want 14", n)
	}
	timedOut, notTried := 0, 0
	for _, id := range ids {
		m, attempts := f.message(t, id)
		if m.WebhookID != silent.ID || m.State != keyward.MessagePending || m.NextAttemptAt == nil || len(attempts) != 1 {
			t.Fatalf("message %s: %+v with %d attempts", id, m, len(attempts))
		}
		switch attempts[0].Error {
		case webhook.NotTriedSilent:
			notTried++
		case "no answer in time":
			timedOut++
		default:
			t.Errorf("message %s: attempt error %q", id, attempts[0].Error)
		}
	}
	// At most eight are in flight at once; the others follow the first timeout.
	if timedOut > 8 || notTried < 4 || timedOut+notTried != 12 {
		t.Errorf("%d attempts timed out and %d messages were not tried; want at most 8, the rest not tried", timedOut, notTried)
	}
	for _, id := range healthy {
		if m, _ := f.message(t, id); m.State != keyward.MessageDelivered {
			t.Errorf("the other webhook's message %s: %s", id, m.State)
		}
	}
	if rc.count() != 2 {
		t.Errorf("the other receiver got %d messages, want 2", rc.count())
	}
}
