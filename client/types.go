package client

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/keyward/keyward"
)

// The types below are the JSON of the management API: the server encodes them, so that
// marshaling a decoded value gives back what the server sent. Nullable fields are pointers.

// List is the envelope of every collection, leaving room for paging fields.
type List[T any] struct {
	Data []T `json:"data"`
}

// Page is one page of a paged collection (API keys, members). Its Data is what List's is, so a
// reader of List reads a page's items unchanged.
type Page[T any] struct {
	Data []T     `json:"data"`
	Next *string `json:"next"` // the cursor of the next page (ListOptions.Cursor); nil on the last page, as in AuditPage
}

// ListOptions selects one page of a paged collection.
type ListOptions struct {
	Limit  int    // 1–1000; zero: the server's default (100)
	Cursor string // the Next of the previous page, with the same Search; empty: the first page
	Search string // API keys: a key id, or the beginning of a name (case and look-alike letters ignored); members: a user id or the beginning of an email address
}

// Permission is one entry of the server's permission catalog.
type Permission = keyward.Permission

// User is a person who signs in with an email address and a password.
type User struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Admin     bool      `json:"admin"`
	Disabled  bool      `json:"disabled"`
	CreatedAt time.Time `json:"created_at"`
	// SecondFactor is whether the user signs in with a second factor (a TOTP app or a passkey);
	// set in the user list.
	SecondFactor *bool `json:"second_factor,omitempty"`
}

// CreateUserRequest is the body of CreateUser.
type CreateUserRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Admin    bool   `json:"admin,omitempty"`
}

// CreateProjectRequest is the body of CreateProject.
type CreateProjectRequest struct {
	Name string `json:"name"`
}

// RenameProjectRequest is the body of PATCH /v1/projects/{project} (RenameProject,
// SetProjectRequire2FA): each field present is changed.
type RenameProjectRequest struct {
	Name string `json:"name,omitempty"`
	// Require2FA: members without a second factor are refused by the project.
	Require2FA *bool `json:"require_2fa,omitempty"`
	// RequireDPoP: the project's keys exchange only with a DPoP proof (RFC 9449).
	RequireDPoP *bool `json:"require_dpop,omitempty"`
	// KeyPolicy replaces what the project requires of its keys, whole.
	KeyPolicy *KeyPolicy `json:"key_policy,omitempty"`
}

// Project is a tenant, with the caller's permissions in it.
type Project struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	CreatedAt   time.Time `json:"created_at"`
	Permissions []string  `json:"permissions"`
	// Require2FA: members without a second factor are refused until they enrol one.
	Require2FA bool `json:"require_2fa"`
	// RequireDPoP: the project's keys exchange only with a DPoP proof (RFC 9449).
	RequireDPoP bool `json:"require_dpop"`
	// KeyPolicy is what the project requires of its keys at creation, edit and roll.
	KeyPolicy KeyPolicy `json:"key_policy"`
}

// KeyPolicy is what a project requires of its API keys. Set, it is replaced whole: a field
// left out is off.
type KeyPolicy struct {
	// RequireExpiry: every key must have an expiry.
	RequireExpiry bool `json:"require_expiry"`
	// MaxLifetime: every key must expire within this Go duration ("2160h") of the change that
	// sets its expiry; "0" (or, when setting, "" or absent) is no maximum, and a maximum
	// implies RequireExpiry.
	MaxLifetime string `json:"max_lifetime,omitempty"`
	// RequireIPs: every key must be restricted to IP addresses or networks.
	RequireIPs bool `json:"require_ips"`
}

// Member is a user's membership in a project.
type Member struct {
	User        string   `json:"user"` // the user id
	Email       string   `json:"email"`
	Permissions []string `json:"permissions"` // held directly, beside the role's
	// Role is the name of the project role the member holds; nil for none.
	Role *string `json:"role"`
	// EffectivePermissions is what the member may do: Permissions and the role's.
	EffectivePermissions []string  `json:"effective_permissions"`
	CreatedAt            time.Time `json:"created_at"`
}

// PutMemberRequest is the body of PutMember: a role, direct permissions, or both. What the
// member held before is replaced.
type PutMemberRequest struct {
	Permissions []string `json:"permissions,omitempty"` // all held by the caller
	Role        string   `json:"role,omitempty"`        // a role's name or id; the caller holds its permissions
}

// Role is a named set of permissions of one project. Members and keys that hold it hold its
// permissions; a change to it applies to all of them at once.
type Role struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Permissions []string `json:"permissions"`
	// Owner marks the owner role: it holds every permission, cannot be changed or deleted, and
	// only owners give it.
	Owner bool `json:"owner"`
	// RequireDPoP: the keys holding the role exchange only with a DPoP proof (RFC 9449).
	RequireDPoP bool      `json:"require_dpop"`
	Members     int       `json:"members"` // how many members hold it
	Keys        int       `json:"keys"`    // how many API keys hold it
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// CreateRoleRequest is the body of CreateRole.
type CreateRoleRequest struct {
	Name        string   `json:"name"` // a lower-case slug such as "release-manager", unique in the project
	Description string   `json:"description,omitempty"`
	Permissions []string `json:"permissions"` // at least one, all held by the caller
}

// UpdateRoleRequest is the body of UpdateRole: the fields that are set change, the others stay.
type UpdateRoleRequest struct {
	Name        *string   `json:"name,omitempty"`
	Description *string   `json:"description,omitempty"`
	Permissions *[]string `json:"permissions,omitempty"`
	RequireDPoP *bool     `json:"require_dpop,omitempty"`
}

// Key is an API key as lists show it. Secret is set only in the answer to CreateKey: the server
// keeps nothing but its hash, so it can never be read again.
type Key struct {
	ID          string   `json:"id"` // the client_id, also readable off the key itself
	Project     string   `json:"project"`
	Name        string   `json:"name"`
	IPs         []string `json:"ips"`         // empty: any address
	Permissions []string `json:"permissions"` // held directly, beside the role's
	// Role is the name of the project role the key holds; nil for none.
	Role      *string `json:"role"`
	Hint      string  `json:"hint"` // the key's last four characters
	CreatedBy string  `json:"created_by"`
	// Owner is the user id the key acts for: it never holds more than the owner holds in the
	// project now.
	Owner     string     `json:"owner"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at"`
	// DisabledAt is when the key was disabled (DisabledReason says why); nil while it works.
	DisabledAt *time.Time `json:"disabled_at"`
	// State is "active", "disabled" (DisabledReason says why) or "expired".
	State string `json:"state"`
	// DisabledReason is why a disabled key stopped: "owner_removed", "owner_disabled",
	// "owner_deleted" (a transfer enables it again), "leaked" (a secret scanner reported it or its
	// holder revoked it; only a roll enables it again), or "member" (a member disabled it;
	// UpdateKeyRequest.Disabled false enables it again). Absent while the key works.
	DisabledReason string     `json:"disabled_reason,omitempty"`
	LastUsedAt     *time.Time `json:"last_used_at"`
	LastUsedIP     *string    `json:"last_used_ip"`
	// PreviousExpiresAt is, once the key was rolled, when its previous secret stops (or
	// stopped) exchanging.
	PreviousExpiresAt *time.Time `json:"previous_expires_at,omitempty"`
	// RequireDPoP: the key exchanges only with a DPoP proof (RFC 9449); so does a key whose
	// role or project requires it.
	RequireDPoP bool `json:"require_dpop"`
	// Secret is the whole key, set only in the answer to CreateKey and RollKey.
	Secret string `json:"key,omitempty"`
}

// RollKeyRequest is the body of RollKey.
type RollKeyRequest struct {
	// Grace is how long the previous secret keeps exchanging, a Go duration from "0s" to
	// "24h"; empty means one hour.
	Grace string `json:"grace,omitempty"`
}

// CreateKeyRequest is the body of CreateKey.
type CreateKeyRequest struct {
	Name        string     `json:"name"`                  // 1–100 characters, unique in the project
	IPs         []string   `json:"ips,omitempty"`         // addresses or CIDRs; empty: any address
	Permissions []string   `json:"permissions,omitempty"` // all held by the caller
	Role        string     `json:"role,omitempty"`        // a role's name or id; a role or a permission at least
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
}

// UpdateKeyRequest is the body of UpdateKey: the fields that are set change, the others stay.
type UpdateKeyRequest struct {
	Name        *string
	IPs         *[]string // empty: any address
	Permissions *[]string // at least one, all held by the caller
	ExpiresAt   *time.Time
	NoExpiry    bool // removes the expiry; sent as "expires_at": null
	// Owner transfers the key to another member (a user id) who, like the caller, holds every
	// permission of the key; it enables a key disabled because its owner left.
	Owner *string
	// Role gives the key a role (a name or id); the empty string takes its role away, sent as
	// "role": null.
	Role *string
	// RequireDPoP sets whether the key exchanges only with a DPoP proof.
	RequireDPoP *bool
	// Disabled true disables the key at once (its sessions end; reason "member"); false enables
	// a key a member disabled. A leaked key is enabled by a roll, one whose owner left by a
	// transfer (Owner).
	Disabled *bool
}

// MarshalJSON leaves out what does not change, and sends the removal of the expiry as null.
func (r UpdateKeyRequest) MarshalJSON() ([]byte, error) {
	body := map[string]any{}
	if r.Name != nil {
		body["name"] = *r.Name
	}
	if r.IPs != nil {
		body["ips"] = nonNilStrings(*r.IPs)
	}
	if r.Permissions != nil {
		body["permissions"] = nonNilStrings(*r.Permissions)
	}
	if r.Owner != nil {
		body["owner"] = *r.Owner
	}
	if r.RequireDPoP != nil {
		body["require_dpop"] = *r.RequireDPoP
	}
	if r.Disabled != nil {
		body["disabled"] = *r.Disabled
	}
	if r.Role != nil {
		body["role"] = nil
		if *r.Role != "" {
			body["role"] = *r.Role
		}
	}
	switch {
	case r.NoExpiry && r.ExpiresAt != nil:
		return nil, errors.New("client: UpdateKeyRequest sets both ExpiresAt and NoExpiry")
	case r.NoExpiry:
		body["expires_at"] = nil
	case r.ExpiresAt != nil:
		body["expires_at"] = r.ExpiresAt.UTC().Format(time.RFC3339Nano)
	}
	return json.Marshal(body)
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Me describes the caller: a user or a key, its session, and the projects it can see.
type Me struct {
	Subject  string    `json:"subject"` // "user:<id>" or "key:<id>"
	Kind     string    `json:"kind"`    // "user" or "key"
	User     *User     `json:"user"`
	Key      *Key      `json:"key"`
	Session  Session   `json:"session"`
	Projects []Project `json:"projects"`
}

// Session is the session the caller's token belongs to.
type Session struct {
	ID        string    `json:"id"`
	Project   *string   `json:"project"` // the project the token is narrowed to
	Scope     []string  `json:"scope"`   // nil: not narrowed by scope
	ExpiresAt time.Time `json:"expires_at"`
}

// AuditEvent is one entry of a project's audit log.
type AuditEvent struct {
	ID      int64     `json:"id"`
	Project string    `json:"project"`
	At      time.Time `json:"at"`
	Actor   string    `json:"actor"`
	Action  string    `json:"action"`
	Target  string    `json:"target"`
	IP      string    `json:"ip"`
	Detail  string    `json:"detail"`
}

// AuditOptions pages through the audit log, newest first.
type AuditOptions struct {
	Limit  int    // 1–200; zero: the server's default (50)
	Before string // the Next of the previous page; empty: the newest events
	// Search keeps the events whose actor or target it is, or whose action it is or begins
	// with followed by a dot ("login" finds login and login.failed); empty: every event.
	Search string
}

// AuditPage is one page of the audit log.
type AuditPage struct {
	Data []AuditEvent `json:"data"`
	Next *string      `json:"next"` // nil on the last page
}

// Revocation is one entry of the revocation feed: a revoked session, or a deleted key. The feed
// is public, so it names them only by revocation.Name of their id.
type Revocation struct {
	Cursor    string    `json:"cursor"`
	Type      string    `json:"type"`       // "session" or "key"
	ID        string    `json:"id"`         // revocation.Name(Type, the session id (sid) or key id (client_id))
	ExpiresAt time.Time `json:"expires_at"` // every token affected has expired by then
}

// RevocationPage is one page of the revocation feed.
type RevocationPage struct {
	Data   []Revocation `json:"data"`
	Cursor string       `json:"cursor"` // pass as after next time; unchanged when Data is empty
}

// Metadata is the RFC 8414 authorization server metadata, at
// /.well-known/oauth-authorization-server.
type Metadata struct {
	Issuer                                 string   `json:"issuer"`
	TokenEndpoint                          string   `json:"token_endpoint"`
	JWKSURI                                string   `json:"jwks_uri"`
	RevocationEndpoint                     string   `json:"revocation_endpoint"`
	IntrospectionEndpoint                  string   `json:"introspection_endpoint"`
	DeviceAuthorizationEndpoint            string   `json:"device_authorization_endpoint,omitempty"`
	GrantTypesSupported                    []string `json:"grant_types_supported"`
	ResponseTypesSupported                 []string `json:"response_types_supported"`
	ScopesSupported                        []string `json:"scopes_supported"`
	TokenEndpointAuthMethodsSupported      []string `json:"token_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethodsSupported []string `json:"revocation_endpoint_auth_methods_supported"`
	IntrospectionAuthMethodsSupported      []string `json:"introspection_endpoint_auth_methods_supported"`
	SigningAlgValuesSupported              []string `json:"access_token_signing_alg_values_supported"`
	DPoPSigningAlgValuesSupported          []string `json:"dpop_signing_alg_values_supported"`
	ServiceDocumentation                   string   `json:"service_documentation,omitempty"`
}

// UpdateUserRequest is the body of UpdateUser: what to change; a field left out stays.
type UpdateUserRequest struct {
	Disabled *bool `json:"disabled,omitempty"`
	Admin    *bool `json:"admin,omitempty"`
}

// ChangePasswordRequest is the body of ChangePassword.
type ChangePasswordRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

// PasswordResetLink is a single-use link that lets a user set a new password, shown once.
type PasswordResetLink struct {
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Invite is a pending invitation to a project. Its link is never listed.
type Invite struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Role      string    `json:"role"` // the role's name
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// CreateInviteRequest is the body of CreateInvite.
type CreateInviteRequest struct {
	Email string `json:"email"`
	Role  string `json:"role"` // a role's name or id; the caller holds its permissions
}

// CreatedInvite is a new invitation. The answer is the same whether or not the address has an
// account or is a member already.
type CreatedInvite struct {
	Invite
	// URL is the link, present only when no mail carried it (no mail server configured, or the
	// send failed): shown once, pass it on to the invited person.
	URL string `json:"url,omitempty"`
	// Mailed is whether the invitation was mailed; MailError says why not when a send failed.
	Mailed    bool   `json:"mailed"`
	MailError string `json:"mail_error,omitempty"`
}

// DeviceAuthorization is the device authorization endpoint's answer (RFC 8628 §3.2): the program
// shows UserCode and VerificationURI to the person and polls the token endpoint with DeviceCode,
// no more often than every Interval seconds.
type DeviceAuthorization struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int64  `json:"expires_in"`
	Interval                int64  `json:"interval"`
}
