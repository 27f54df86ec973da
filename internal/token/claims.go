package token

import (
	"encoding/json"
	"strings"
	"time"
)

// Claims are the claims of an access token (RFC 9068 and the keyward extensions sid, project
// and ips). They never hold a secret or an API key's name.
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
}

// wireClaims is the JSON form of Claims.
type wireClaims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  any      `json:"aud"` // string or []string
	Expiry    int64    `json:"exp"`
	IssuedAt  int64    `json:"iat"`
	ID        string   `json:"jti"`
	ClientID  string   `json:"client_id,omitempty"`
	Scope     string   `json:"scope,omitempty"`
	SessionID string   `json:"sid,omitempty"`
	Project   string   `json:"project,omitempty"`
	IPs       []string `json:"ips,omitempty"`
}

// MarshalJSON returns the claims as they appear in the token's payload, so that introspection
// can show exactly what a resource server sees.
func (c *Claims) MarshalJSON() ([]byte, error) {
	w := wireClaims{
		Issuer:    c.Issuer,
		Subject:   c.Subject,
		Expiry:    c.Expiry.Unix(),
		IssuedAt:  c.IssuedAt.Unix(),
		ID:        c.ID,
		ClientID:  c.ClientID,
		Scope:     strings.Join(c.Scope, " "),
		SessionID: c.SessionID,
		Project:   c.Project,
		IPs:       c.IPs,
	}
	if len(c.Audience) == 1 {
		w.Audience = c.Audience[0]
	} else {
		w.Audience = c.Audience
	}
	return json.Marshal(&w)
}
