package proctest

import "testing"

// A server may log text or JSON (--log-json); either way the harness must find the port it bound.
func TestBoundAddr(t *testing.T) {
	for _, tc := range []struct{ logs, want string }{
		{"time=x level=INFO msg=\"keyward serving\" addr=127.0.0.1:40331 issuer=http://127.0.0.1:40331\n", "127.0.0.1:40331"},
		{`{"time":"x","level":"INFO","msg":"keyward serving","addr":"[::1]:8080","db":"sqlite"}` + "\n", "[::1]:8080"},
		{"time=x level=INFO msg=\"database unreachable; retrying\" addr=10.0.0.1:5432\n", ""},
		{"time=x level=INFO msg=\"keyward serving\" addr=\"127.0.0.1:9\"\n", "127.0.0.1:9"},
	} {
		if got := boundAddr(tc.logs, "keyward serving"); got != tc.want {
			t.Errorf("boundAddr(%q) = %q, want %q", tc.logs, got, tc.want)
		}
	}
}
