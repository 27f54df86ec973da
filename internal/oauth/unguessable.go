package oauth

// Only failures cost: a request presenting a credential nobody can guess (an API key, a refresh
// token: 128 bits or more) is checked even while its address is throttled, and succeeds when
// the credential is valid, so that one broken client behind a NAT does not lock out the others
// there. A wrong one is refused as throttled, uncounted and unaudited, as before. The check is a
// SHA-256 and an indexed read, cheap next to the password hash that throttling protects; a
// throttled sprayer does learn that a guessed key is valid, but a guess of 128 bits never is.

// unguessableGrant is implemented by the grants whose credential cannot be guessed when well
// formed; every other grant (the password grant) is refused before any work while throttled.
type unguessableGrant interface {
	unguessable(req *request) bool
}

// unguessable reports whether req presents only credentials that cannot be guessed.
func unguessable(g grant, req *request) bool {
	u, ok := g.(unguessableGrant)
	return ok && u.unguessable(req)
}

// A well-formed API key as the client secret.
func (clientCredentials) unguessable(req *request) bool { return req.keyID != "" }

// A well-formed refresh token, and a well-formed key when the client authenticates.
func (refreshGrant) unguessable(req *request) bool {
	return !req.refresh.malformed && (!req.client.Present || req.keyID != "")
}
