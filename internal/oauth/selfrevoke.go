package oauth

import (
	"context"
	"net/http"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/apikey"
	"github.com/keyward/keyward/internal/authn"
)

// isKeyRevocation reports whether a revocation request names an API key. Its shape decides,
// which no refresh or access token has; token_type_hint=api_key is accepted but, as RFC 7009
// §2.1 allows, not trusted, so a refresh token sent with it is still revoked.
func isKeyRevocation(raw string) bool { return apikey.LooksLike(raw) }

// revokeKey disables the API key raw as leaked: whoever holds a key may kill it, with no other
// credential, since a holder who wants it dead is the case of a key that escaped. As for other
// tokens the answer does not say whether raw was a key (RFC 7009 §2.2); a wrong or malformed key
// counts as a failed attempt, throttled as the token endpoint throttles them, and a throttled
// address is refused unless the key it presents is right.
func (s *Server) revokeKey(ctx context.Context, r *http.Request, raw string) error {
	now, ipKey := s.Now(), s.ClientIP(r).String()
	id, matched, err := authn.DisableLeakedKey(ctx, s.Store, raw, keyward.AuditEvent{
		At: now, IP: ipKey, Detail: "source=holder revoked it at /oauth/revoke"})
	if err != nil {
		return storeError(err)
	}
	if matched {
		s.cachedKeys.drop(id)
		return nil
	}
	wait := blockedFor(s.ByIP, ipKey)
	if id != "" {
		wait = max(wait, blockedFor(s.ByKeyIP, keyAt(id, ipKey)))
	}
	if wait > 0 {
		return throttled(wait)
	}
	s.ByIP.Fail(ipKey)
	if id != "" {
		s.ByKeyIP.Fail(keyAt(id, ipKey))
	}
	return nil
}
