package webhooktest_test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/webhook"
	"github.com/keyward/keyward/internal/webhooktest"
)

// post sends body to the receiver as keyward does, signed with keys (none: unsigned), and
// returns the status.
func post(t *testing.T, r *webhooktest.Receiver, id string, at time.Time, body string, keys ...[]byte) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, r.URL, bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(webhook.HeaderID, id)
	req.Header.Set(webhook.HeaderTimestamp, strconv.FormatInt(at.Unix(), 10))
	if len(keys) > 0 {
		req.Header.Set(webhook.HeaderSignature, webhook.Sign(keys, id, at, []byte(body)))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestReceiver: the Standard Webhooks reference library accepts what keyward's signer signs,
// with the current secret, the previous one or both, and refuses anything else; the receiver
// drops repeats, fails on request, and remembers across a restart.
func TestReceiver(t *testing.T) {
	key, secret, err := webhook.NewSecret(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	previous, previousSecret, err := webhook.NewSecret(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := webhook.NewSecret(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	o := webhooktest.Options{Secrets: []string{secret}, FailFirst: 2, FailTypes: []string{"api_key.deleted"}}
	r := webhooktest.Start(t, o)
	now := time.Now()
	body := func(typ string) string {
		return fmt.Sprintf(`{"type":%q,"timestamp":%q,"data":{"project_id":"prj_x","key_id":"k1"}}`, typ, now.UTC().Format(time.RFC3339Nano))
	}

	for _, c := range []struct {
		what string
		id   string
		at   time.Time
		keys [][]byte
		want int
	}{
		{"signed", "msg_signed", now, [][]byte{key}, 200},
		{"the same message again", "msg_signed", now, [][]byte{key}, 200},
		{"signed during a roll", "msg_roll", now, [][]byte{key, previous}, 200},
		{"unsigned", "msg_unsigned", now, nil, 401},
		{"another secret", "msg_other", now, [][]byte{other}, 401},
		{"the previous secret only", "msg_previous", now, [][]byte{previous}, 401},
		{"stale", "msg_stale", now.Add(-time.Hour), [][]byte{key}, 401},
	} {
		if got := post(t, r, c.id, c.at, body("api_key.created"), c.keys...); got != c.want {
			t.Errorf("%s: %d, want %d", c.what, got, c.want)
		}
	}
	// A body changed after signing does not verify.
	req := body("api_key.created")
	sig := webhook.Sign([][]byte{key}, "msg_tampered", now, []byte(req))
	tampered, _ := http.NewRequest(http.MethodPost, r.URL, bytes.NewReader([]byte(body("api_key.deleted"))))
	tampered.Header.Set(webhook.HeaderID, "msg_tampered")
	tampered.Header.Set(webhook.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	tampered.Header.Set(webhook.HeaderSignature, sig)
	if resp, err := http.DefaultClient.Do(tampered); err != nil || resp.StatusCode != 401 {
		t.Errorf("tampered body: %v %v", resp, err)
	}

	// The first two deliveries of each api_key.deleted fail.
	for i, want := range []int{500, 500, 200, 200} {
		if got := post(t, r, "msg_deleted", now, body("api_key.deleted"), key); got != want {
			t.Errorf("api_key.deleted, delivery %d: %d, want %d", i+1, got, want)
		}
	}
	events := webhooktest.Events(t, r.Dir)
	var got []string
	for _, e := range events {
		got = append(got, fmt.Sprintf("%s %s %s %d", e.ID, e.Type, e.Data.KeyID, e.AttemptCount))
	}
	want := []string{"msg_signed api_key.created k1 1", "msg_roll api_key.created k1 1", "msg_deleted api_key.deleted k1 3"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("accepted events:\n got %q\nwant %q", got, want)
	}

	// Restarted on the same folder and port with the previous secret as well: a message it
	// accepted before is still a repeat.
	r.Stop()
	o.Dir, o.Port, o.Secrets = r.Dir, r.Port, []string{previousSecret, secret}
	r = webhooktest.Start(t, o)
	if got := post(t, r, "msg_signed", now, body("api_key.created"), key); got != 200 {
		t.Fatalf("a repeat after the restart: %d", got)
	}
	if got := post(t, r, "msg_previous", now, body("api_key.created"), previous); got != 200 {
		t.Fatalf("the previous secret, now configured: %d", got)
	}
	if n := len(webhooktest.Events(t, r.Dir)); n != 4 {
		t.Fatalf("%d events after the restart, want 4", n)
	}
	deliveries := 0
	for _, d := range webhooktest.Deliveries(t, r.Dir) {
		if d.ID == "msg_signed" {
			deliveries++
		}
	}
	if deliveries != 3 {
		t.Fatalf("msg_signed came %d times, want 3", deliveries)
	}
}
