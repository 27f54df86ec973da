package accesstoken

import (
	"github.com/go-jose/go-jose/v4/jwt"
)

// Type is the JWS typ of access tokens (RFC 9068 §2.1); "application/at+jwt" is accepted too.
const Type = "at+jwt"

// MaxLength bounds what Verify parses. keyward's tokens are far shorter, even with many
// permissions and networks.
const MaxLength = 8 << 10

// Claims are the payload of an access token exactly as it is signed: RFC 9068's claims and
// keyward's sid, project and ips. Minting marshals them, verification unmarshals them, so both
// sides agree on every name and encoding. They never hold a secret or an API key's name.
type Claims struct {
	Issuer    string           `json:"iss"`
	Subject   string           `json:"sub"` // "key:<id>" or "user:<id>"
	Audience  jwt.Audience     `json:"aud"` // a string when there is one
	Expiry    *jwt.NumericDate `json:"exp"`
	IssuedAt  *jwt.NumericDate `json:"iat"`
	NotBefore *jwt.NumericDate `json:"nbf,omitempty"`
	ID        string           `json:"jti"`
	ClientID  string           `json:"client_id,omitempty"` // the key id, or "keyward" for a user
	Scope     string           `json:"scope,omitempty"`     // space-separated permissions
	SessionID string           `json:"sid,omitempty"`
	Project   string           `json:"project,omitempty"`
	IPs       []string         `json:"ips,omitempty"` // the key's networks; none means any address
}

// Subject prefixes: a token is either an API key's or a user's, never confusable.
const (
	SubjectKey  = "key:"
	SubjectUser = "user:"
)
