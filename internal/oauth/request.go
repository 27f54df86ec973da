package oauth

import (
	"encoding/base64"
	"io"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/apikey"
	"github.com/keyward/keyward/dpop"
)

// maxFormBytes bounds a token-endpoint body: the largest legitimate one (a refresh token plus a
// scope listing a large catalog) is far below it.
const maxFormBytes = 16 << 10

// credentialParams may never travel in a URL, where proxies and logs would keep them.
var credentialParams = []string{"client_secret", "password", "refresh_token", "username", "token", "client_id", "device_code", "otp"}

// form is a parsed, validated application/x-www-form-urlencoded request body in which every
// parameter appears at most once.
type form map[string]string

// clientAuth is the client authentication a request carried, if any.
type clientAuth struct {
	ID, Secret string
	Basic      bool // sent as HTTP Basic (a failure must then carry WWW-Authenticate)
	Present    bool
}

// request is a request to the token endpoint (or introspection, for its client authentication),
// parsed once: what every grant and phase reads.
type request struct {
	grantType string
	form      form
	client    clientAuth
	// keyID is the id of the API key sent as the client secret, when the secret is a well-formed
	// key; the key's failures are throttled and counted per key id and address.
	keyID string
	// key is the API key the client authenticated with, once the driver has checked it.
	key *keyward.APIKey
	// keyGen is the generation of the key's secret the client presented (APIKey.SecretGen):
	// the current one, or the previous one within a roll's grace.
	keyGen int64
	// scope is the scope parameter split into names; scopeAsked tells an absent parameter from
	// an empty one.
	scope      []string
	scopeAsked bool
	refresh    refreshToken // the refresh_token parameter, read by the refresh grant
	ip         netip.Addr
	ipKey      string // ip as the key of per-address throttling and of audit events
	// throttled is how long the address (or the key id at it) must wait after its failures; a
	// request presenting an unguessable credential is still let through to have it checked.
	throttled time.Duration
	now       time.Time
	// dpop is the request's verified DPoP proof (RFC 9449); nil: a bearer request.
	dpop *dpop.Proof
}

func newRequest(f form, c clientAuth, ip netip.Addr, now time.Time) *request {
	req := &request{grantType: f["grant_type"], form: f, client: c, ip: ip, ipKey: ip.String(), now: now}
	if c.Secret != "" {
		if id, err := apikey.Parse(c.Secret); err == nil {
			req.keyID = id
		}
	}
	if raw, ok := f["scope"]; ok {
		req.scope, req.scopeAsked = strings.Fields(raw), true
	}
	return req
}

// parseForm reads and validates the request body strictly: POST, the form content type, no
// credentials in the query, no repeated parameter, no control characters, valid UTF-8.
func parseForm(w http.ResponseWriter, r *http.Request) (form, error) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return nil, oauthError(http.StatusMethodNotAllowed, errInvalidRequest, "Use POST.")
	}
	if r.URL.RawQuery != "" {
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return nil, invalidRequest("The query string is malformed; send parameters in the request body.")
		}
		for _, p := range credentialParams {
			if q.Has(p) {
				return nil, invalidRequest("Credentials must not be sent in the query string.")
			}
		}
		return nil, invalidRequest("Send parameters in the request body, not the query string.")
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, invalidRequest("The content type must be application/x-www-form-urlencoded.")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxFormBytes))
	if err != nil {
		return nil, invalidRequest("The request body is too large or could not be read.")
	}
	return parseFormBody(string(body))
}

// parseFormBody is the pure part of parseForm, fuzzed on its own.
func parseFormBody(body string) (form, error) {
	values, err := url.ParseQuery(body)
	if err != nil {
		return nil, invalidRequest("The request body is not a valid form.")
	}
	f := make(form, len(values))
	for k, vs := range values {
		if len(vs) != 1 {
			return nil, invalidRequest(repeated(k))
		}
		if !cleanText(k) || !cleanText(vs[0]) {
			return nil, invalidRequest("Parameters must be valid UTF-8 without control characters.")
		}
		f[k] = vs[0]
	}
	return f, nil
}

// repeatedParams are the descriptions of a repeated parameter keyward knows. A description
// never echoes a name from the request: RFC 6749 §5.2 allows only printable ASCII without '"'
// and '\\' there, and reflecting input invites injection into whatever shows it.
var repeatedParams = map[string]string{
	"grant_type":      "The grant_type parameter is repeated.",
	"client_id":       "The client_id parameter is repeated.",
	"client_secret":   "The client_secret parameter is repeated.",
	"scope":           "The scope parameter is repeated.",
	"username":        "The username parameter is repeated.",
	"password":        "The password parameter is repeated.",
	"project":         "The project parameter is repeated.",
	"refresh_token":   "The refresh_token parameter is repeated.",
	"token":           "The token parameter is repeated.",
	"token_type_hint": "The token_type_hint parameter is repeated.",
	"device_code":     "The device_code parameter is repeated.",
}

func repeated(name string) string {
	if d, ok := repeatedParams[name]; ok {
		return d
	}
	return "A parameter is repeated."
}

func cleanText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// clientAuthentication extracts client credentials from HTTP Basic or the form; using both is
// invalid_request (RFC 6749 §2.3: one method per request). Basic credentials are URL-decoded
// first, as RFC 6749 §2.3.1 asks and golang.org/x/oauth2 sends them.
func clientAuthentication(r *http.Request, f form) (clientAuth, error) {
	var a clientAuth
	header := r.Header.Values("Authorization")
	if len(header) > 1 {
		return a, invalidRequest("More than one Authorization header.")
	}
	if len(header) == 1 {
		scheme, payload, _ := strings.Cut(header[0], " ")
		if !strings.EqualFold(scheme, "Basic") {
			return a, invalidClient("The token endpoint accepts HTTP Basic client authentication only.", false)
		}
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(payload))
		if err != nil {
			return a, invalidClient("The Basic credentials are not valid base64.", true)
		}
		id, secret, ok := strings.Cut(string(raw), ":")
		if !ok {
			return a, invalidClient("The Basic credentials lack a colon.", true)
		}
		if id, err = url.QueryUnescape(id); err != nil {
			return a, invalidClient("The Basic client id is not URL-encoded correctly.", true)
		}
		if secret, err = url.QueryUnescape(secret); err != nil {
			return a, invalidClient("The Basic client secret is not URL-encoded correctly.", true)
		}
		if !cleanText(id) || !cleanText(secret) {
			return a, invalidClient("The Basic credentials contain control characters.", true)
		}
		if _, has := f["client_secret"]; has {
			return a, invalidRequest("Use one client authentication method: HTTP Basic or client_secret in the body, not both.")
		}
		if formID, has := f["client_id"]; has && formID != id {
			return a, invalidRequest("client_id in the body differs from the Basic client id.")
		}
		return clientAuth{ID: id, Secret: secret, Basic: true, Present: true}, nil
	}
	secret, hasSecret := f["client_secret"]
	id, hasID := f["client_id"]
	if hasSecret {
		return clientAuth{ID: id, Secret: secret, Present: true}, nil
	}
	if hasID {
		// A client_id alone authenticates nothing: keyward has no public clients.
		return clientAuth{ID: id}, nil
	}
	return a, nil
}
