package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/keyward/keyward/internal/kwtest"
)

// The token benchmarks call the server's handler directly, without sockets, 16 requests per
// core at once: the cost per request of everything keyward does for a token (form parsing,
// the key check, the store's write transaction, signing, the JSON answer), with the batching of
// concurrent writes at work.

func benchKeys(b *testing.B, s *kwtest.Server, n int) []string {
	b.Helper()
	admin := s.AdminToken(b)
	keys := make([]string, n)
	for i := range keys {
		keys[i] = s.CreateKey(b, admin, "default", kwtest.KeyRequest{Name: fmt.Sprintf("bench-%d", i),
			Permissions: []string{"containers-view"}}).Secret
	}
	return keys
}

func tokenRequest(form url.Values, basic ...string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/oauth/token", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if len(basic) == 2 {
		r.SetBasicAuth(basic[0], basic[1])
	}
	return r
}

// exchange returns the answer of a client_credentials request with key.
func exchange(h http.Handler, key string) (*httptest.ResponseRecorder, error) {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, tokenRequest(url.Values{"grant_type": {"client_credentials"}}, "", key))
	if w.Code != http.StatusOK {
		return w, fmt.Errorf("exchange: %d %s", w.Code, w.Body)
	}
	return w, nil
}

func BenchmarkTokenExchange(b *testing.B) {
	s := kwtest.Start(b)
	keys := benchKeys(b, s, 64)
	h := s.Srv.Handler()
	var n atomic.Int64
	b.SetParallelism(16)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := exchange(h, keys[int(n.Add(1))%len(keys)]); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkTokenRefresh(b *testing.B) {
	s := kwtest.Start(b)
	keys := benchKeys(b, s, 64)
	h := s.Srv.Handler()
	var n atomic.Int64
	b.SetParallelism(16)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		w, err := exchange(h, keys[int(n.Add(1))%len(keys)])
		if err != nil {
			b.Error(err)
			return
		}
		var tok struct {
			RefreshToken string `json:"refresh_token"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &tok); err != nil {
			b.Error(err)
			return
		}
		for pb.Next() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, tokenRequest(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}))
			if w.Code != http.StatusOK {
				b.Errorf("refresh: %d %s", w.Code, w.Body)
				return
			}
			if err := json.Unmarshal(w.Body.Bytes(), &tok); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
