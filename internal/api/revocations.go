package api

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/revocation"
)

const (
	feedPage             = 500
	defaultFeedPoll      = 200 * time.Millisecond
	defaultFeedHeartbeat = 15 * time.Second
)

// revocationOut is what a verifier needs to match a token it holds, and no more: the feed is
// unauthenticated, so it names sessions and keys by one-way hashes and says nothing of projects.
func revocationOut(e keyward.Revocation) client.Revocation {
	return client.Revocation{
		Cursor: strconv.FormatInt(e.Seq, 10), Type: e.Kind, ID: revocation.Name(e.Kind, e.ID),
		ExpiresAt: e.ExpiresAt.UTC(),
	}
}

// revocations serves the feed verifiers follow: a page of entries after the cursor, or with
// Accept: text/event-stream a stream that never ends by itself.
func (s *Server) revocations(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "after")
	if err != nil {
		return err
	}
	var after int64
	if v, ok := q["after"]; ok {
		if after, err = parseCursor(v); err != nil {
			return err
		}
	}
	if acceptsEventStream(r.Header) {
		// A reconnecting EventSource repeats the original URL; Last-Event-ID is where it got to.
		if v := r.Header.Get("Last-Event-ID"); v != "" {
			if after, err = parseCursor(v); err != nil {
				return err
			}
		}
		s.streamRevocations(w, r, after)
		return nil
	}
	entries, err := s.Store.Revocations(r.Context(), after, feedPage)
	if err != nil {
		return err
	}
	page := client.RevocationPage{Data: make([]client.Revocation, 0, len(entries)), Cursor: strconv.FormatInt(after, 10)}
	for _, e := range entries {
		page.Data = append(page.Data, revocationOut(e))
		page.Cursor = strconv.FormatInt(e.Seq, 10)
	}
	return writeJSON(w, http.StatusOK, page)
}

// acceptsEventStream reports whether the Accept header names text/event-stream (with a non-zero q).
func acceptsEventStream(h http.Header) bool {
	for _, v := range h.Values("Accept") {
		for _, part := range strings.Split(v, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil || mt != "text/event-stream" {
				continue
			}
			if q, ok := params["q"]; ok {
				if f, err := strconv.ParseFloat(q, 64); err != nil || f <= 0 {
					continue
				}
			}
			return true
		}
	}
	return false
}

// streamRevocations writes Server-Sent Events until the client goes away. It polls the store
// rather than waiting for an in-process signal because several instances share one database: a
// key deleted through any of them must reach the followers of every one.
func (s *Server) streamRevocations(w http.ResponseWriter, r *http.Request, after int64) {
	ctx := r.Context()
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a server-wide write timeout would cut every stream
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no") // proxies that buffer would delay every revocation
	w.WriteHeader(http.StatusOK)
	// retry: asks EventSource clients to reconnect within a second, the propagation promise.
	if _, err := io.WriteString(w, "retry: 1000\n: keyward revocation feed\n\n"); err != nil || rc.Flush() != nil {
		return
	}
	poll := time.NewTicker(s.feedPoll())
	defer poll.Stop()
	heartbeat := time.NewTicker(s.heartbeatEvery())
	defer heartbeat.Stop()
	for {
		for {
			entries, err := s.Store.Revocations(ctx, after, feedPage)
			if err != nil {
				if ctx.Err() == nil {
					// The client reconnects with Last-Event-ID and loses nothing.
					s.logger().ErrorContext(ctx, "revocation stream ended", "err", err)
				}
				return
			}
			for _, e := range entries {
				data, err := json.Marshal(revocationOut(e))
				if err != nil {
					return
				}
				if _, err := fmt.Fprintf(w, "id: %d\ndata: %s\n\n", e.Seq, data); err != nil {
					return
				}
				after = e.Seq
			}
			if len(entries) > 0 && rc.Flush() != nil {
				return
			}
			if len(entries) < feedPage {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-s.Stopping:
			return
		case <-poll.C:
		case <-heartbeat.C:
			// A comment keeps idle connections open through proxies and reveals dead clients.
			if _, err := io.WriteString(w, ": heartbeat\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		}
	}
}

func (s *Server) feedPoll() time.Duration {
	if s.FeedPoll > 0 {
		return s.FeedPoll
	}
	return defaultFeedPoll
}

func (s *Server) heartbeatEvery() time.Duration {
	if s.heartbeat > 0 {
		return s.heartbeat
	}
	return defaultFeedHeartbeat
}
