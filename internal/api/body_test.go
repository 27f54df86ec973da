package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/keyward/keyward"
)

// TestStrictBodies: a body that two JSON readers could understand differently, or that is not
// JSON at all, is refused with a detail naming the problem.
func TestStrictBodies(t *testing.T) {
	e := newEnv(t)
	owner := e.user("owner@example.com", false)
	e.project("shop", owner, nil)
	tok := e.userToken(owner, "")
	ok := `{"name":"k","permissions":["containers-view"]}`
	tests := []struct {
		name        string
		contentType []string
		body        string
		status      int
		detail      string
	}{
		{"valid", []string{"application/json"}, ok, 201, ""},
		{"valid with charset", []string{"application/json; charset=UTF-8"}, `{"name":"k2","permissions":["containers-view"]}`, 201, ""},
		{"no content type", nil, ok, 415, "application/json"},
		{"form content type", []string{"application/x-www-form-urlencoded"}, ok, 415, "application/json"},
		{"text/plain", []string{"text/plain"}, ok, 415, "application/json"},
		{"other charset", []string{"application/json; charset=latin1"}, ok, 415, "utf-8"},
		{"two content types", []string{"application/json", "application/json"}, ok, 415, "application/json"},
		{"too large", []string{"application/json"}, `{"name":"` + strings.Repeat("a", maxBody) + `"}`, 413, "bytes"},
		{"empty", []string{"application/json"}, "", 400, "empty"},
		{"not an object", []string{"application/json"}, `["name"]`, 400, "object"},
		{"null", []string{"application/json"}, `null`, 400, "object"},
		{"unknown field", []string{"application/json"}, `{"name":"k","permissions":["containers-view"],"admin":true}`, 400, `"admin"`},
		{"field in another case", []string{"application/json"}, `{"Name":"k","permissions":["containers-view"]}`, 400, `"Name"`},
		{"duplicate key", []string{"application/json"}, `{"name":"k","name":"other","permissions":["containers-view"]}`, 400, `"name" appears more than once`},
		{"duplicate key with escape", []string{"application/json"}, `{"name":"k","na\u006de":"other","permissions":["containers-view"]}`, 400, "more than once"},
		{"wrong type", []string{"application/json"}, `{"name":5,"permissions":["containers-view"]}`, 400, `"name" must be a string`},
		{"wrong element type", []string{"application/json"}, `{"name":"k","permissions":[1]}`, 400, "permissions"},
		{"array for string", []string{"application/json"}, `{"name":["k"],"permissions":["containers-view"]}`, 400, `"name"`},
		{"trailing object", []string{"application/json"}, ok + `{}`, 400, "after"},
		{"trailing garbage", []string{"application/json"}, ok + `x`, 400, "after"},
		{"truncated", []string{"application/json"}, `{"name":"k"`, 400, "JSON"},
		{"syntax error", []string{"application/json"}, `{"name" "k"}`, 400, "JSON"},
		{"invalid UTF-8", []string{"application/json"}, "{\"name\":\"k\xff\",\"permissions\":[\"containers-view\"]}", 400, "UTF-8"},
		{"deep nesting", []string{"application/json"}, `{"ips":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, 400, "deeply"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{"Content-Type": tt.contentType}
			if tt.contentType == nil {
				h["Content-Type"] = []string{}
			}
			rq := req{method: "POST", path: "/v1/projects/shop/api-keys", token: tok, body: tt.body, header: h}
			resp := e.doRaw(rq)
			resp.expect(t, tt.status)
			if tt.status >= 400 {
				if p := resp.problem(t); !strings.Contains(p.Detail, tt.detail) {
					t.Errorf("detail %q does not mention %q", p.Detail, tt.detail)
				}
			}
		})
	}
}

// doRaw is do for bodies that are sent exactly as given, with the test's own Content-Type.
func (e *env) doRaw(rq req) *response {
	e.t.Helper()
	ct := rq.header["Content-Type"]
	rq.header = rq.header.Clone()
	delete(rq.header, "Content-Type")
	return e.do(req{method: rq.method, path: rq.path, token: rq.token, body: []byte(rq.body.(string)), header: rq.header, contentType: ct, remote: rq.remote})
}

func FuzzDecodeStrict(f *testing.F) {
	for _, seed := range []string{
		`{"name":"k","permissions":["containers-view"]}`,
		`{"name":"k","ips":["10.0.0.0/8"],"permissions":["a"],"expires_at":"2030-01-01T00:00:00Z"}`,
		`{"name":"k","name":"k"}`,
		`{"name":"\u0000","permissions":null}`,
		`{"Name":1}`,
		`[]`, `{}`, `{} {}`, `{"ips":[[[]]]}`, "{\"name\":\"\xff\"}", `{"name":"\ud800"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var dst createKeyRequest
		err := decodeStrict(data, &dst)
		if err != nil {
			if keyward.ErrorCode(err) != keyward.EINVALID {
				t.Fatalf("error %v is not EINVALID", err)
			}
			if keyward.ErrorMessage(err) == "" {
				t.Fatal("empty message")
			}
			return
		}
		// Whatever was accepted is one valid JSON object with only known, distinct keys, and
		// the standard decoder reads the same values from it.
		if !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(data, &fields); err != nil {
			t.Fatalf("accepted a non-object %q: %v", data, err)
		}
		for k := range fields {
			switch k {
			case "name", "ips", "permissions", "expires_at":
			default:
				t.Fatalf("accepted unknown field %q in %q", k, data)
			}
		}
		var again createKeyRequest
		if err := json.Unmarshal(data, &again); err != nil {
			t.Fatalf("encoding/json rejects what was accepted: %v", err)
		}
	})
}
