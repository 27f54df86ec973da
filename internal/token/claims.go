package token

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/keyward/keyward/accesstoken"
)

// Claims are the claims of an access token (RFC 9068 and the keyward extensions sid, project
// and ips), in the form the server works with; accesstoken.Claims is their wire form. They never
// hold a secret or an API key's name.
type Claims struct {
	Issuer    string
	Subject   string   // "key:<id>" or "user:<id>"
	Audience  []string // serialized as a string when there is one
	Expiry    time.Time
	IssuedAt  time.Time
	ID        string   // jti
	ClientID  string   // client_id
	Scope     []string // serialized space-separated
	SessionID string   // sid
	Project   string
	IPs       []string // the API key's allowed networks; empty means any address
	// Act and FederationRule: see accesstoken.Claims.
	Act            *accesstoken.Actor
	FederationRule string
	Confirmation   *accesstoken.Confirmation // cnf: the DPoP key the token is bound to
}

// MarshalJSON returns the claims as they appear in the token's payload, so that introspection
// can show exactly what a resource server sees.
func (c *Claims) MarshalJSON() ([]byte, error) {
	return json.Marshal(c.wire())
}

func (c *Claims) wire() *accesstoken.Claims {
	return &accesstoken.Claims{
		Issuer:    c.Issuer,
		Subject:   c.Subject,
		Audience:  jwt.Audience(c.Audience),
		Expiry:    jwt.NewNumericDate(c.Expiry),
		IssuedAt:  jwt.NewNumericDate(c.IssuedAt),
		ID:        c.ID,
		ClientID:  c.ClientID,
		Scope:     strings.Join(c.Scope, " "),
		SessionID: c.SessionID,
		Project:   c.Project,
		IPs:       c.IPs,

		Act:            c.Act,
		FederationRule: c.FederationRule,
		Cnf:            c.Confirmation,
	}
}

// fromWire is the inverse of wire.
func fromWire(w *accesstoken.Claims) *Claims {
	return &Claims{
		Issuer:    w.Issuer,
		Subject:   w.Subject,
		Audience:  []string(w.Audience),
		Expiry:    w.Expiry.Time().UTC(),
		IssuedAt:  w.IssuedAt.Time().UTC(),
		ID:        w.ID,
		ClientID:  w.ClientID,
		Scope:     strings.Fields(w.Scope),
		SessionID: w.SessionID,
		Project:   w.Project,
		IPs:       w.IPs,

		Act:            w.Act,
		FederationRule: w.FederationRule,
		Confirmation:   w.Cnf,
	}
}
