package server_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/kwtest"
	"github.com/keyward/keyward/internal/server"
	"github.com/keyward/keyward/internal/webhook"
)

// TestServerDeliversWebhooks: a running server delivers the events of API changes to a
// project's webhook, signed, without being asked to.
func TestServerDeliversWebhooks(t *testing.T) {
	s := kwtest.Start(t, kwtest.WithConfig(func(c *server.Config) { c.WebhookAllowPrivate = true }))
	// The background jobs, the sender among them, run in Serve.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Srv.Serve(ctx, ln, nil) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})

	var (
		mu       sync.Mutex
		received []*http.Request
		bodies   [][]byte
	)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		received, bodies = append(received, r), append(bodies, body)
		mu.Unlock()
	}))
	defer receiver.Close()

	store := s.Srv.Store()
	admin := s.AdminToken(t)
	project, err := store.ProjectByName(ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	owner, err := store.UserByEmail(ctx, kwtest.AdminEmail)
	if err != nil {
		t.Fatal(err)
	}
	key, text, err := webhook.NewSecret(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := keyward.NewID(rand.Reader, keyward.PrefixWebhook)
	sealed, _ := webhook.Seal(nil, id, key, rand.Reader)
	if err := store.CreateWebhook(ctx, &keyward.Webhook{ID: id, ProjectID: project.ID, URL: receiver.URL, Events: []string{keyward.EventKeyCreated},
		Owner: owner.ID, Secret: sealed, CreatedAt: s.Clock.Now(), UpdatedAt: s.Clock.Now()}); err != nil {
		t.Fatal(err)
	}
	k := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "hooked", Permissions: []string{"images-view"}})

	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(received)
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no delivery within 10 seconds")
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	var event struct {
		Type string            `json:"type"`
		Data keyward.EventData `json:"data"`
	}
	if err := json.Unmarshal(bodies[0], &event); err != nil {
		t.Fatal(err)
	}
	if event.Type != keyward.EventKeyCreated || event.Data.KeyID != k.ID {
		t.Fatalf("delivered %s", bodies[0])
	}
	secretKey, _ := webhook.ParseSecret(text)
	unix, err := strconv.ParseInt(received[0].Header.Get("webhook-timestamp"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(unix, 0)
	if got, want := received[0].Header.Get("webhook-signature"), webhook.Sign([][]byte{secretKey}, received[0].Header.Get("webhook-id"), at, bodies[0]); got != want {
		t.Fatalf("webhook-signature %q, want %q", got, want)
	}
}
