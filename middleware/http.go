package middleware

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// apiKeyPrefix starts every keyward API key. A JWT never does: its first segment is base64url
// JSON, starting "eyJ".
const apiKeyPrefix = "kw_"

// Error codes of RFC 6750 §3.1, and the one used when the verifier cannot check tokens.
const (
	CodeInvalidRequest         = "invalid_request"
	CodeInvalidToken           = "invalid_token"
	CodeInsufficientScope      = "insufficient_scope"
	CodeTemporarilyUnavailable = "temporarily_unavailable"
)

// Error is a refused request, rendered per RFC 6750: Status, a WWW-Authenticate challenge with
// Code and Description (none for a request without credentials), and the same as a small JSON
// body. Descriptions are safe to show; they never repeat the token.
type Error struct {
	Status      int
	Code        string // "" when the request carried no credentials
	Description string
	Scope       string // for insufficient_scope: the permissions needed, space-separated
	// DPoP challenges with the DPoP scheme (RFC 9449 §7.1) rather than Bearer: the request used
	// it, or its token is bound to a key.
	DPoP bool
}

func (e *Error) Error() string {
	if e.Code == "" {
		return "middleware: " + e.Description
	}
	return "middleware: " + e.Code + ": " + e.Description
}

func invalidToken(description string) *Error {
	return &Error{Status: http.StatusUnauthorized, Code: CodeInvalidToken, Description: description}
}

func invalidRequest(description string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Description: description}
}

// rawKeyError answers a raw API key sent where an access token belongs.
func (v *Verifier) rawKeyError() *Error {
	endpoint := v.tokenEndpoint
	if endpoint == "" {
		endpoint = "the issuer's token endpoint"
	}
	return invalidToken("This is an API key, not an access token. Exchange it first at " + endpoint +
		" (grant_type=client_credentials, the key as HTTP Basic credentials) and send the access_token as the bearer token.")
}

type callerKey struct{}

// FromContext returns the caller of a request that went through Handler.
func FromContext(ctx context.Context) (*Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(*Caller)
	return c, ok
}

// NewContext returns ctx carrying c, for tests of handlers that read FromContext.
func NewContext(ctx context.Context, c *Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// Handler returns next behind token verification: a request reaches next only with a valid,
// unrevoked access token used from an address its key allows, and next finds the caller with
// FromContext. Anything else gets an RFC 6750 error.
func (v *Verifier) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v.serveMetadata(w, r) {
			return
		}
		c, err := v.authenticate(r)
		if err != nil {
			v.writeError(w, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), c)))
	})
}

// authenticate checks a request: the Authorization header, the token, the revocations (and the
// feed's freshness) and the client address.
func (v *Verifier) authenticate(r *http.Request) (*Caller, error) {
	raw, dpopScheme, err := authorization(r)
	if err != nil {
		return nil, err
	}
	c, err := v.Verify(raw)
	if err != nil {
		if e, ok := err.(*Error); ok && dpopScheme {
			e.DPoP = true
		}
		return nil, err
	}
	if err := v.checkBinding(r, raw, dpopScheme, c); err != nil {
		return nil, err
	}
	if len(c.Networks) > 0 && !c.allows(v.proxies.ClientIP(r)) {
		return nil, invalidToken("This access token may not be used from your address.")
	}
	return c, nil
}

// authorization extracts the token of RFC 6750 §2.1 or RFC 9449 §7.1: exactly one Authorization
// header, scheme Bearer or DPoP in any case, one or more spaces, a b64token. Tokens in the query
// or a form body (§2.2, §2.3) are refused rather than ignored, because URLs end up in logs.
func authorization(r *http.Request) (token string, dpopScheme bool, err error) {
	if r.URL != nil && strings.Contains(r.URL.RawQuery, "access_token") && r.URL.Query().Has("access_token") {
		return "", false, invalidRequest("Send the access token in the Authorization header, not in the URL.")
	}
	values := r.Header.Values("Authorization")
	switch len(values) {
	case 0:
		return "", false, &Error{Status: http.StatusUnauthorized, Description: "This API needs an access token: send Authorization: Bearer <token>."}
	case 1:
	default:
		return "", false, invalidRequest("The request has more than one Authorization header.")
	}
	return parseAuthorization(values[0])
}

// parseAuthorization parses one Authorization header value.
func parseAuthorization(h string) (token string, dpopScheme bool, err error) {
	scheme, rest, ok := strings.Cut(h, " ")
	dpopScheme = strings.EqualFold(scheme, "DPoP")
	if !strings.EqualFold(scheme, "Bearer") && !dpopScheme {
		if scheme == "" {
			return "", false, invalidRequest("The Authorization header is malformed; send Authorization: Bearer <token>.")
		}
		return "", false, &Error{Status: http.StatusUnauthorized, Description: "This API accepts only Bearer and DPoP access tokens."}
	}
	token = strings.TrimLeft(rest, " ")
	if !ok || token == "" {
		return "", false, &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, DPoP: dpopScheme,
			Description: "The Authorization header has no token after its scheme."}
	}
	if !isB64Token(token) {
		return "", false, &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, DPoP: dpopScheme,
			Description: "The access token has characters a token cannot have."}
	}
	return token, dpopScheme, nil
}

// isB64Token reports whether s matches RFC 6750's b64token: 1*( ALPHA / DIGIT / "-" / "." / "_"
// / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '.', c == '_', c == '~', c == '+', c == '/':
		default:
			return false
		}
	}
	return true
}

// projectWildcard is the path wildcard RequirePermission binds to the caller's project.
const projectWildcard = "project"

// RequirePermission returns middleware that lets a request through only when its caller (set by
// Handler) holds every one of perms, and, on a route whose pattern has a {project} wildcard, only
// when the token is bound to exactly that project, as RequireProject("project") does: so a key
// of one project cannot act on another's paths. A missing permission gets 403 insufficient_scope
// with the permissions in scope=, as RFC 6750 §3.1 asks. Place it inside Verifier.Handler, on
// routes of an http.ServeMux (which sets the request's Pattern).
func RequirePermission(perms ...string) func(http.Handler) http.Handler {
	scope := strings.Join(perms, " ")
	return guard(func(c *Caller, r *http.Request) *Error {
		if hasWildcard(r.Pattern, projectWildcard) {
			if e := checkProject(c, r, projectWildcard); e != nil {
				return e
			}
		}
		if !c.Has(perms...) {
			return &Error{Status: http.StatusForbidden, Code: CodeInsufficientScope, Scope: scope,
				Description: "The access token lacks a permission this needs: " + scope + "."}
		}
		return nil
	})
}

// RequireProject returns middleware that lets a request through only when its caller's token is
// bound to the project named by the path wildcard, for routes that do not call it {project}
// (RequirePermission checks {project} by itself). A token of another project, or of none (a
// user's token not narrowed to a project), gets 403 insufficient_scope: the token is valid, but
// grants nothing here (RFC 6750 §3.1). Paths must carry the project's id, the token's project
// claim. Place it inside Verifier.Handler.
func RequireProject(wildcard string) func(http.Handler) http.Handler {
	return guard(func(c *Caller, r *http.Request) *Error { return checkProject(c, r, wildcard) })
}

// guard runs check on the caller of each request, and refuses it with the Error check returns.
func guard(check func(*Caller, *http.Request) *Error) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, ok := FromContext(r.Context())
			if !ok {
				writeError(w, challenge{}, &Error{Status: http.StatusUnauthorized, Description: "This API needs an access token: send Authorization: Bearer <token>."})
				return
			}
			if e := check(c, r); e != nil {
				e.DPoP = c.JKT != ""
				writeError(w, challenge{}, e)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// checkProject refuses a caller whose token is not bound to the project in the path.
func checkProject(c *Caller, r *http.Request, wildcard string) *Error {
	switch path := r.PathValue(wildcard); {
	case c.Project == "":
		return &Error{Status: http.StatusForbidden, Code: CodeInsufficientScope,
			Description: "The access token is not bound to a project; use an API key's token, or log in for the project."}
	case c.Project != path:
		return &Error{Status: http.StatusForbidden, Code: CodeInsufficientScope,
			Description: "The access token is for another project than the one in the path (paths take the project id)."}
	}
	return nil
}

// hasWildcard reports whether a ServeMux pattern has the wildcard {name} or {name...}.
func hasWildcard(pattern, name string) bool {
	return strings.Contains(pattern, "{"+name+"}") || strings.Contains(pattern, "{"+name+"...}")
}

func (v *Verifier) writeError(w http.ResponseWriter, err error) {
	e, ok := err.(*Error)
	if !ok {
		e = invalidToken("The access token could not be verified.")
	}
	writeError(w, v.challenge, e)
}

// challenge is what a verifier adds to its WWW-Authenticate challenges.
type challenge struct {
	realm            string
	resourceMetadata string // RFC 9728 §5.1: where the protected resource metadata is
	algs             string // the DPoP proof algorithms accepted, space-separated (RFC 9449 §7.1)
}

// writeError renders e. The challenge's quoted strings hold only characters RFC 6750 allows,
// because every description is a constant of this package. A Bearer 401 is followed by a DPoP
// challenge naming the proof algorithms, so that a client learns it may use DPoP here.
func writeError(w http.ResponseWriter, ch challenge, e *Error) {
	h := w.Header()
	if e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden || e.Status == http.StatusBadRequest {
		var b strings.Builder
		scheme := "Bearer"
		if e.DPoP {
			scheme = "DPoP"
		}
		b.WriteString(scheme)
		sep := " "
		param := func(name, value string) {
			b.WriteString(sep + name + `="` + value + `"`)
			sep = ", "
		}
		if ch.realm != "" {
			param("realm", ch.realm)
		}
		if e.Code != "" {
			param("error", e.Code)
			if validQuoted(e.Description) {
				param("error_description", e.Description)
			}
		}
		if e.Scope != "" && validQuoted(e.Scope) {
			param("scope", e.Scope)
		}
		if e.DPoP && ch.algs != "" {
			param("algs", ch.algs)
		}
		if ch.resourceMetadata != "" {
			param("resource_metadata", ch.resourceMetadata)
		}
		h.Set("WWW-Authenticate", b.String())
		if !e.DPoP && e.Status == http.StatusUnauthorized && ch.algs != "" {
			dpopChallenge := `DPoP algs="` + ch.algs + `"`
			if ch.resourceMetadata != "" {
				dpopChallenge += `, resource_metadata="` + ch.resourceMetadata + `"`
			}
			h.Add("WWW-Authenticate", dpopChallenge)
		}
	}
	if e.Status == http.StatusServiceUnavailable {
		h.Set("Retry-After", strconv.Itoa(5))
	}
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(e.Status)
	body := struct {
		Error       string `json:"error,omitempty"`
		Description string `json:"error_description"`
		Scope       string `json:"scope,omitempty"`
	}{e.Code, e.Description, e.Scope}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // the body is JSON served as such, with nosniff; "<token>" reads better
	_ = enc.Encode(body)
}

// validQuoted reports whether s may stand in a WWW-Authenticate quoted string as RFC 6750 §3
// restricts error_description and scope: printable ASCII without '"' and '\'.
func validQuoted(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
