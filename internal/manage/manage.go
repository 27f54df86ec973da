package manage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/federation"
)

// Store is the part of keyward.Store that management operations read and write.
type Store interface {
	Directory
	ProjectsForUser(ctx context.Context, userID string) ([]*keyward.Project, error)
	CreateUser(ctx context.Context, u *keyward.User) error
	UserByID(ctx context.Context, id string) (*keyward.User, error)
	UserByEmail(ctx context.Context, email string) (*keyward.User, error)
	CreateProject(ctx context.Context, p *keyward.Project, creator *keyward.Member, roles ...*keyward.Role) error
	AllProjects(ctx context.Context) ([]*keyward.Project, error)
	RenameProject(ctx context.Context, id, name string) (*keyward.Project, error)
	SetProjectRequire2FA(ctx context.Context, id string, require bool) (*keyward.Project, error)
	SetProjectRequireDPoP(ctx context.Context, id string, require bool) (*keyward.Project, error)
	SetProjectKeyPolicy(ctx context.Context, id string, p keyward.KeyPolicy) (*keyward.Project, error)
	DeleteProject(ctx context.Context, id string, at time.Time) error
	CreateRole(ctx context.Context, r *keyward.Role) error
	Role(ctx context.Context, projectID, ref string) (*keyward.Role, error)
	RolePage(ctx context.Context, projectID string, p keyward.Page) ([]*keyward.Role, string, error)
	UpdateRole(ctx context.Context, projectID, id string, change keyward.RoleChange, at time.Time) (*keyward.Role, error)
	DeleteRole(ctx context.Context, projectID, id string) error
	Members(ctx context.Context, projectID string) ([]*keyward.Member, error)
	Member(ctx context.Context, projectID, userID string) (*keyward.Member, error)
	MemberPage(ctx context.Context, projectID string, p keyward.Page) ([]*keyward.Member, string, error)
	PutMember(ctx context.Context, m *keyward.Member) error
	RemoveMember(ctx context.Context, projectID, userID string, at time.Time) error
	CreateAPIKey(ctx context.Context, k *keyward.APIKey) error
	APIKey(ctx context.Context, id string) (*keyward.APIKey, error)
	APIKeys(ctx context.Context, projectID string) ([]*keyward.APIKey, error)
	APIKeyPage(ctx context.Context, projectID string, p keyward.Page) ([]*keyward.APIKey, string, error)
	DeleteAPIKey(ctx context.Context, projectID, id string, at time.Time) error
	UpdateAPIKey(ctx context.Context, projectID, id string, change keyward.APIKeyChange, at time.Time) (*keyward.APIKey, error)
	RollAPIKey(ctx context.Context, projectID, id string, secretHash []byte, hint string, previousExpires, at time.Time) (*keyward.APIKey, error)
	AppendAudit(ctx context.Context, e *keyward.AuditEvent) error
	AuditPage(ctx context.Context, projectID string, p keyward.Page) ([]*keyward.AuditEvent, string, error)
	CreateInvite(ctx context.Context, inv *keyward.Invite) error
	Invites(ctx context.Context, projectID string, now time.Time, limit int) ([]*keyward.Invite, error)
	InviteByHash(ctx context.Context, hash []byte, now time.Time) (*keyward.Invite, error)
	RevokeInvite(ctx context.Context, projectID, id string) (*keyward.Invite, error)
	AcceptInvite(ctx context.Context, hash []byte, a keyward.InviteAcceptance) (*keyward.Invite, *keyward.Member, error)
	KeySessionCount(ctx context.Context, keyID string, now time.Time) (int, error)
	UserPage(ctx context.Context, p keyward.Page) ([]*keyward.User, string, error)
	UpdateUser(ctx context.Context, id string, change keyward.UserChange, at time.Time) (*keyward.User, error)
	DeleteUser(ctx context.Context, id string, at time.Time) error
	SetPassword(ctx context.Context, id, passwordHash, keepSession string, keepWeb []byte, at time.Time) error
	CreatePasswordReset(ctx context.Context, r *keyward.PasswordReset) error
	UsePasswordReset(ctx context.Context, hash []byte, passwordHash string, now time.Time) (*keyward.User, error)
	// A person's own token sessions.
	UserSessions(ctx context.Context, userID string, now time.Time, limit int) ([]*keyward.Session, error)
	Session(ctx context.Context, id string) (*keyward.Session, error)
	RevokeSession(ctx context.Context, id, reason string, at time.Time) error
	FederationStore // federation.go
	WebhookStore    // webhooks.go
}

// Passwords hashes new passwords. The rules a password must meet are password.Validate's, not
// the hasher's, so that every hasher enforces the same ones.
type Passwords interface {
	Hash(ctx context.Context, password string, rand io.Reader) (string, error)
}

// Service performs management operations for a caller. Every rule about who may do what lives
// here, so the API and the dashboard cannot drift apart.
type Service struct {
	Store     Store
	Catalog   *keyward.Catalog
	Passwords Passwords // needed by CreateUser and the password changes only
	Now       func() time.Time
	Rand      io.Reader
	Logger    *slog.Logger // nil: discard

	// Mailer sends invitations; nil: their links are shown to the inviter once instead.
	Mailer Mailer
	// BaseURL is the dashboard's URL (the issuer), which links in invitations start with.
	BaseURL string
	// AllowInsecureIssuers admits federation issuers at http://127.0.0.1 and the like (tests,
	// local issuers); otherwise an issuer and its key set must be https.
	AllowInsecureIssuers bool
	// Federation verifies subject tokens for ExplainToken, with the token endpoint's key cache;
	// nil: it answers that federation is not enabled.
	Federation *federation.Keys
	// MasterKey seals webhook signing secrets at rest; nil (SQLite without one) keeps them in
	// the database file, readable by its owner only.
	MasterKey []byte
	// WebhookAllowPrivate admits webhooks at loopback and private network addresses, and over
	// http.
	WebhookAllowPrivate bool
}

// Caller is who performs an operation and from which address, for the audit log.
type Caller struct {
	Principal *authn.Principal
	IP        netip.Addr
}

// Access is a caller's hold on one project they can see, with their permissions there as read at
// Open. Handlers open it once per request; each operation checks the permission it needs.
type Access struct {
	Project *keyward.Project
	Perms   []string // the caller's permissions in Project, in catalog order

	owner  bool // whether the caller holds the project's owner role (Held.Owner)
	svc    *Service
	caller Caller
}

// Open resolves ref (a project id or name) for c. A project that does not exist and one c cannot
// see are the same ENOTFOUND, so that probing never reveals another tenant's projects.
func (s *Service) Open(ctx context.Context, c Caller, ref string) (*Access, error) {
	project, held, err := s.authz().ResolveProject(ctx, c.Principal, ref)
	if err != nil {
		return nil, err
	}
	return &Access{Project: project, Perms: held.Perms, owner: held.Owner, svc: s, caller: c}, nil
}

// authz is the service's view of the rules every door shares.
func (s *Service) authz() Authorizer { return Authorizer{Store: s.Store, Catalog: s.Catalog} }

// Caller returns who holds the access.
func (a *Access) Caller() Caller { return a.caller }

// Has reports whether the caller holds perm in the project.
func (a *Access) Has(perm string) bool { return slices.Contains(a.Perms, perm) }

// Require is EFORBIDDEN unless the caller holds perm in the project.
func (a *Access) Require(perm string) error {
	if !a.Has(perm) {
		return keyward.Errorf(keyward.EFORBIDDEN, "This needs the %q permission in project %q.", perm, a.Project.Name)
	}
	return nil
}

// Grantable returns the catalog entries the caller may hand to a key or a member: their own
// permissions, nothing more.
func (a *Access) Grantable() []keyward.Permission {
	out := make([]keyward.Permission, 0, len(a.Perms))
	for _, name := range a.Perms {
		if p, ok := a.svc.Catalog.Lookup(name); ok {
			out = append(out, p)
		}
	}
	return out
}

// FieldError is an error about one input field, so that a form can show it next to the field and
// keep what was typed. Its code (EINVALID, ECONFLICT, EFORBIDDEN, ENOTFOUND) and its message, a
// sentence safe to show, are those of the *keyward.Error it unwraps to.
type FieldError struct {
	Field   string // the request field: "name", "ips", "permissions", "expires_at", "email", "password"
	Code    string
	Message string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("keyward: %s: %s: %s", e.Code, e.Field, e.Message)
}

// Unwrap makes keyward.ErrorCode and keyward.ErrorMessage see the field error's code and message.
func (e *FieldError) Unwrap() error { return &keyward.Error{Code: e.Code, Message: e.Message} }

func fieldErr(field, code, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Code: code, Message: fmt.Sprintf(format, args...)}
}

// onField turns a domain error about an input into a FieldError of field; other errors (an
// internal one, say) pass through.
func onField(field string, err error) error {
	var e *keyward.Error
	if errors.As(err, &e) {
		return &FieldError{Field: field, Code: e.Code, Message: e.Message}
	}
	return err
}

// audit records an event after the change it describes has been stored. A failure is logged and
// not returned: the change happened, and failing the request would make the client retry it (or
// lose a key secret shown only in this response).
func (s *Service) audit(ctx context.Context, c Caller, e *keyward.AuditEvent) {
	e.Actor = c.Principal.Subject
	if c.IP.IsValid() {
		e.IP = c.IP.Unmap().String()
	}
	if err := s.Store.AppendAudit(ctx, e); err != nil {
		s.logger().ErrorContext(ctx, "audit event lost", "action", e.Action, "target", e.Target, "err", err)
	}
	if e.ProjectID != "" && strings.HasPrefix(e.Action, "invite.") {
		// Who is let into the instance is the instance administrator's business too: the
		// instance log gets a copy, naming the project.
		c := *e
		c.ID, c.ProjectID, c.Detail = 0, "", strings.TrimSpace("project="+e.ProjectID+" "+e.Detail)
		if err := s.Store.AppendAudit(ctx, &c); err != nil {
			s.logger().ErrorContext(ctx, "audit event lost", "action", c.Action, "target", c.Target, "err", err)
		}
	}
}

func (s *Service) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// grantable checks permissions that the caller wants to give to a key or a member: not empty,
// all in the catalog (EINVALID), all held by the caller in this project (EFORBIDDEN: nobody
// hands out more than they have). It returns them normalized.
func (a *Access) grantable(names []string, to string) ([]string, error) {
	if len(names) == 0 {
		return nil, fieldErr("permissions", keyward.EINVALID, "Choose at least one of the permissions.")
	}
	perms, err := a.svc.Catalog.Normalize(names)
	if err != nil {
		return nil, onField("permissions", err)
	}
	for _, p := range perms {
		if !a.Has(p) {
			return nil, fieldErr("permissions", keyward.EFORBIDDEN, "You cannot give %s the %q permission: you do not hold it in this project.", to, p)
		}
	}
	return perms, nil
}
