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
	Subject   string           `json:"sub"` // "key:<id>", "user:<id>" or "federated:<rule id>"
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
	// Act and FederationRule are set on a token issued for a workload's identity token: who
	// the workload is (RFC 8693 §4.1) and the federation rule that let it in.
	Act            *Actor `json:"act,omitempty"`
	FederationRule string `json:"federation_rule,omitempty"`
	// Confirmation binds a DPoP token to the key whose proofs must come with it (RFC 9449 §6.1).
	Confirmation *Confirmation `json:"cnf,omitempty"`
}

// Confirmation is RFC 7800's cnf claim as RFC 9449 uses it: the RFC 7638 SHA-256 thumbprint of
// the client's public key, base64url.
type Confirmation struct {
	JKT string `json:"jkt"`
}

// Actor is RFC 8693's act claim: the subject of the identity token a federated token was issued
// for, and its issuer.
type Actor struct {
	Subject string `json:"sub"`
	Issuer  string `json:"iss,omitempty"`
}

// Subject prefixes: a token is an API key's, a user's, or a federation rule's (a workload let in
// by a rule that grants a role), never confusable.
const (
	SubjectKey       = "key:"
	SubjectUser      = "user:"
	SubjectFederated = "federated:"
)
