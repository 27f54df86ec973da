// Package webhooktest runs a webhook receiver that verifies keyward's deliveries with the
// Standard Webhooks reference library under Node, and tells the tests what it accepted.
package webhooktest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/nodetest"
)

// receiverDir is the folder of receiver.mjs and its node_modules, found from this file so that
// tests in any package can start the receiver.
func receiverDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "receiver")
}

// Options describe one run of the receiver.
type Options struct {
	// Port is the 127.0.0.1 port to listen on; 0 picks a free one. A restarted receiver takes
	// the port of the one before, since the webhook's URL names it.
	Port int
	// Secrets are the endpoint's signing secrets (whsec_…); a delivery any of them verifies is
	// good.
	Secrets []string
	// Dir keeps what the receiver saw across its restarts; a new folder when empty.
	Dir string
	// FailFirst makes it answer 500 to the first FailFirst deliveries of each message id, of
	// the event types in FailTypes only when that is not empty.
	FailFirst int
	FailTypes []string
}

// Receiver is a running receiver.
type Receiver struct {
	URL  string // http://127.0.0.1:PORT/hook, where keyward delivers
	Port int
	Dir  string

	srv *nodetest.Server
}

// FreePort returns a 127.0.0.1 port nothing listens on now, so that a webhook can name the
// receiver's URL before the receiver runs (its secret comes with the webhook).
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Start runs a receiver and stops it when the test ends. Without Node or the modules the test
// is skipped, except in CI (CI=true), where it must run.
func Start(t testing.TB, o Options) *Receiver {
	t.Helper()
	nodetest.Require(t, receiverDir(), "standardwebhooks", "the webhook tests against a Standard Webhooks receiver")
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	srv := nodetest.Serve(t, receiverDir(), "receiver.mjs", "webhook receiver",
		"RECEIVER_PORT="+strconv.Itoa(o.Port),
		"RECEIVER_SECRETS="+strings.Join(o.Secrets, ","),
		"RECEIVER_DIR="+o.Dir,
		"FAIL_FIRST="+strconv.Itoa(o.FailFirst),
		"FAIL_TYPES="+strings.Join(o.FailTypes, ","))
	r := &Receiver{Dir: o.Dir, URL: srv.Addr + "/hook", srv: srv}
	_, port, _ := strings.Cut(strings.TrimPrefix(srv.Addr, "http://"), ":")
	var err error
	if r.Port, err = strconv.Atoi(port); err != nil {
		t.Fatalf("the webhook receiver announced %q", srv.Addr)
	}
	return r
}

// Stop ends the receiver at once; what it saw stays in Dir.
func (r *Receiver) Stop() { r.srv.Stop() }

// Event is one event the receiver accepted, verified, the first time its id came.
type Event struct {
	ID        string            `json:"id"` // the webhook-id header
	Type      string            `json:"type"`
	Timestamp string            `json:"timestamp"`
	Data      keyward.EventData `json:"data"`
	// AttemptCount is how many deliveries of the id had come when it was accepted, this one
	// included.
	AttemptCount int `json:"attempt_count"`
}

// Delivery is one request the receiver got, verified or not.
type Delivery struct {
	ID     string `json:"id"`
	Type   string `json:"type"` // empty when the signature did not verify
	Status int    `json:"status"`
}

// Events returns the events the receivers that used dir accepted, in order.
func Events(t testing.TB, dir string) []Event {
	t.Helper()
	return readLines[Event](t, filepath.Join(dir, "events.jsonl"))
}

// Deliveries returns every request the receivers that used dir got, in order.
func Deliveries(t testing.TB, dir string) []Delivery {
	t.Helper()
	return readLines[Delivery](t, filepath.Join(dir, "deliveries.jsonl"))
}

func readLines[T any](t testing.TB, file string) []T {
	t.Helper()
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		t.Fatal(err)
	}
	var out []T
	for line := range bytes.Lines(data) {
		if !bytes.HasSuffix(line, []byte("\n")) {
			break // a line being written
		}
		var v T
		if err := json.Unmarshal(line, &v); err != nil {
			t.Fatalf("%s: %v: %s", file, err, line)
		}
		out = append(out, v)
	}
	return out
}

// WaitEvent polls dir until an accepted event satisfies match, for up to limit, and returns it.
func WaitEvent(t testing.TB, dir string, limit time.Duration, what string, match func(Event) bool) Event {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		for _, e := range Events(t, dir) {
			if match(e) {
				return e
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s reached the receiver within %v; it accepted:\n%s", what, limit, describe(Events(t, dir)))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func describe(events []Event) string {
	var b strings.Builder
	for _, e := range events {
		fmt.Fprintf(&b, "  %s %s %+v (delivery %d)\n", e.ID, e.Type, e.Data, e.AttemptCount)
	}
	if b.Len() == 0 {
		return "  nothing"
	}
	return b.String()
}
