package manage

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/apikey"
	"github.com/keyward/keyward/clientip"
	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/names"
)

// Permissions the key operations need.
const (
	PermKeysView   = "api-keys-view"
	PermKeysManage = "api-keys-manage"
	// PermKeysRollSelf lets a key roll itself, and nothing else.
	PermKeysRollSelf = "api-keys-roll-self"
)

// A roll's grace: how long the previous secret keeps exchanging.
const (
	DefaultRollGrace = time.Hour
	MaxRollGrace     = 24 * time.Hour
)

// KeyInput is what a caller asks for when creating an API key.
type KeyInput struct {
	Name        string
	IPs         []string // addresses and CIDRs; empty allows any address
	Permissions []string
	Role        string     // a role of the project, by name or id; "" for none
	ExpiresAt   *time.Time // nil: never
}

// CreateKey creates an API key of the project and returns it with its secret, which is shown
// this once and stored only as a hash. It needs api-keys-manage, and the key's permissions must
// be the caller's own. Errors about the input are *FieldError.
func (a *Access) CreateKey(ctx context.Context, in KeyInput) (*keyward.APIKey, string, error) {
	if err := a.Require(PermKeysManage); err != nil {
		return nil, "", err
	}
	if err := CheckKeyName(in.Name); err != nil {
		return nil, "", err
	}
	ips, err := clientip.ParseNetworks(in.IPs)
	if err != nil {
		// clientip's messages name the bad entry and are written for the user who typed it.
		return nil, "", fieldErr("ips", keyward.EINVALID, "%s", err)
	}
	perms, role, err := a.grant(ctx, in.Permissions, in.Role, "an API key")
	if err != nil {
		return nil, "", err
	}
	s := a.svc
	now := s.Now()
	var expires *time.Time
	if in.ExpiresAt != nil {
		if !in.ExpiresAt.After(now) {
			return nil, "", fieldErr("expires_at", keyward.EINVALID, "The expiry must be in the future.")
		}
		t := in.ExpiresAt.UTC()
		expires = &t
	}
	if err := checkKeyPolicy(a.Project.KeyPolicy, policyAll, ips, expires, now); err != nil {
		return nil, "", err
	}
	secret, id, err := apikey.New(s.Rand)
	if err != nil {
		return nil, "", err
	}
	k := &keyward.APIKey{
		ID: id, ProjectID: a.Project.ID, Name: in.Name, IPs: ips, Permissions: perms,
		SecretHash: apikey.Hash(secret), Hint: apikey.Hint(secret),
		CreatedBy: a.caller.Principal.Subject, Owner: owner(a.caller.Principal), CreatedAt: now, ExpiresAt: expires,
	}
	detail := fmt.Sprintf("name=%q permissions=%s", in.Name, strings.Join(perms, ","))
	if role != nil {
		k.RoleID, k.Role = role.ID, role
		detail += " role=" + role.Name
	}
	if err := s.Store.CreateAPIKey(ctx, k); err != nil {
		switch keyward.ErrorCode(err) {
		case keyward.ECONFLICT:
			return nil, "", fieldErr("name", keyward.ECONFLICT, "An API key named %q already exists in this project.", in.Name)
		case keyward.EINVALID:
			if role != nil {
				return nil, "", onField("role", err) // the role was deleted meanwhile
			}
		}
		return nil, "", err
	}
	s.audit(ctx, a.caller, &keyward.AuditEvent{
		ProjectID: a.Project.ID, At: now, Action: keyward.AuditKeyCreated, Target: "key:" + id, Detail: detail,
	})
	return k, secret, nil
}

// CheckKeyName enforces 1–100 characters with nothing that hides or reorders text on screen
// (names.Check), so that two keys listed one above the other can never look alike yet differ;
// the store refuses a name that looks like another of the project (names.Key). Its errors are
// *FieldError of "name".
func CheckKeyName(name string) error {
	n := utf8.RuneCountInString(name)
	if n < 1 || n > 100 {
		return fieldErr("name", keyward.EINVALID, "The name must be 1 to 100 characters long.")
	}
	if strings.TrimSpace(name) != name {
		return fieldErr("name", keyward.EINVALID, "The name must not start or end with white space.")
	}
	if err := names.Check(name); err != nil {
		return fieldErr("name", keyward.EINVALID, "%s", err)
	}
	return nil
}

// Keys lists the project's API keys, oldest first, without secrets. It needs api-keys-view.
func (a *Access) Keys(ctx context.Context) ([]*keyward.APIKey, error) {
	if err := a.Require(PermKeysView); err != nil {
		return nil, err
	}
	keys, err := a.svc.Store.APIKeys(ctx, a.Project.ID)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		a.present(k)
	}
	return keys, nil
}

// List page sizes, for keys and members.
const (
	PageDefaultLimit = 100
	PageMaxLimit     = 1000
)

// MaxSearch bounds a list's search: a name, an email address or an audit subject is far shorter.
const MaxSearch = 200

// checkPage refuses a page of more than max items, and a search that is not text a store can
// compare (PostgreSQL refuses NUL in text). Nothing is repeated: it comes from a URL.
func checkPage(p keyward.Page, max int) error {
	if p.Limit < 1 || p.Limit > max {
		return keyward.Errorf(keyward.EINVALID, "A page holds 1 to %d items.", max)
	}
	if !utf8.ValidString(p.Search) || strings.ContainsRune(p.Search, 0) || utf8.RuneCountInString(p.Search) > MaxSearch {
		return keyward.Errorf(keyward.EINVALID, "A search is at most %d characters of UTF-8 text, without NUL.", MaxSearch)
	}
	return nil
}

// KeyPage returns one page of the project's keys and the cursor of the next page ("" on the
// last); see keyward.Store's APIKeyPage for the order and the search. It needs api-keys-view.
func (a *Access) KeyPage(ctx context.Context, p keyward.Page) ([]*keyward.APIKey, string, error) {
	if err := a.Require(PermKeysView); err != nil {
		return nil, "", err
	}
	if err := checkPage(p, PageMaxLimit); err != nil {
		return nil, "", err
	}
	keys, next, err := a.svc.Store.APIKeyPage(ctx, a.Project.ID, p)
	if err != nil {
		return nil, "", err
	}
	for _, k := range keys {
		a.present(k)
	}
	return keys, next, nil
}

// Key returns one of the project's keys; a key of another project is ENOTFOUND like a missing
// one. It needs api-keys-view.
func (a *Access) Key(ctx context.Context, id string) (*keyward.APIKey, error) {
	if err := a.Require(PermKeysView); err != nil {
		return nil, err
	}
	return a.key(ctx, id)
}

// KeySessions returns how many live sessions one of the project's keys has now (see
// keyward.Store's KeySessionCount). It needs api-keys-view.
func (a *Access) KeySessions(ctx context.Context, id string) (int, error) {
	if err := a.Require(PermKeysView); err != nil {
		return 0, err
	}
	if _, err := a.key(ctx, id); err != nil {
		return 0, err
	}
	return a.svc.Store.KeySessionCount(ctx, id, a.svc.Now())
}

func (a *Access) key(ctx context.Context, id string) (*keyward.APIKey, error) {
	if !apikey.ValidID(id) {
		// Not repeated: it comes from a URL, and a key id it cannot be.
		return nil, keyward.Errorf(keyward.ENOTFOUND, "The API key was not found in this project.")
	}
	notFound := keyward.Errorf(keyward.ENOTFOUND, "API key %q was not found in this project.", id)
	k, err := a.svc.Store.APIKey(ctx, id)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND || (err == nil && k.ProjectID != a.Project.ID) {
		return nil, notFound
	} else if err != nil {
		return nil, err
	}
	return a.present(k), nil
}

// present drops permissions the operator has since removed from the catalog, which no token
// carries any more, and the secret's hash, which no caller needs.
func (a *Access) present(k *keyward.APIKey) *keyward.APIKey {
	k.Permissions = a.svc.Catalog.Filter(k.Permissions)
	if k.Role != nil {
		a.presentRole(k.Role)
	}
	k.SecretHash, k.PreviousSecretHash = nil, nil
	return k
}

// DeleteKey deletes one of the project's keys; every session of it is revoked at once. It needs
// api-keys-manage, and returns the key as it was, for the caller to name it.
func (a *Access) DeleteKey(ctx context.Context, id string) (*keyward.APIKey, error) {
	if err := a.Require(PermKeysManage); err != nil {
		return nil, err
	}
	k, err := a.key(ctx, id)
	if err != nil {
		return nil, err
	}
	s := a.svc
	now := s.Now()
	if err := s.Store.DeleteAPIKey(ctx, a.Project.ID, id, now); keyward.ErrorCode(err) == keyward.ENOTFOUND {
		return nil, keyward.Errorf(keyward.ENOTFOUND, "API key %q was not found in this project.", id)
	} else if err != nil {
		return nil, err
	}
	s.audit(ctx, a.caller, &keyward.AuditEvent{
		ProjectID: a.Project.ID, At: now, Action: keyward.AuditKeyDeleted, Target: "key:" + id,
		Detail: fmt.Sprintf("name=%q", k.Name),
	})
	return k, nil
}

// RollKey gives one of the project's keys a new secret and returns the key with it, shown this
// once as at creation; the id and every setting stay. The previous secret keeps exchanging for
// grace (0 to MaxRollGrace), then stops, and the sessions it started end (see
// keyward.Store.RollAPIKey); rolling again replaces it. It needs api-keys-manage, or
// api-keys-roll-self when the caller is the key itself; a caller rolling another key must hold
// every permission of it, since the new secret is theirs. Errors about the grace are *FieldError.
func (a *Access) RollKey(ctx context.Context, id string, grace time.Duration) (*keyward.APIKey, string, error) {
	self := a.caller.Principal != nil && a.caller.Principal.Key != nil && a.caller.Principal.Key.ID == id
	if !a.Has(PermKeysManage) && !(self && a.Has(PermKeysRollSelf)) {
		if self {
			return nil, "", keyward.Errorf(keyward.EFORBIDDEN, "This needs the %q or %q permission in project %q.",
				PermKeysManage, PermKeysRollSelf, a.Project.Name)
		}
		return nil, "", a.Require(PermKeysManage)
	}
	if grace < 0 || grace > MaxRollGrace {
		return nil, "", fieldErr("grace", keyward.EINVALID, "The grace must be from 0 to %s.", MaxRollGrace)
	}
	before, err := a.key(ctx, id)
	if err != nil {
		return nil, "", err
	}
	// The new secret is handed to the caller: rolling another key must not give them a key that
	// holds more than they do, as creating one would not.
	if !self {
		for _, p := range before.Permissions {
			if !a.Has(p) {
				return nil, "", keyward.Errorf(keyward.EFORBIDDEN,
					"You cannot roll this API key: it holds the %q permission, which you do not hold in this project.", p)
			}
		}
	}
	s := a.svc
	now := s.Now()
	if err := checkRollPolicy(a.Project.KeyPolicy, before, now); err != nil {
		return nil, "", err
	}
	secret, err := apikey.NewForID(s.Rand, id)
	if err != nil {
		return nil, "", err
	}
	k, err := s.Store.RollAPIKey(ctx, a.Project.ID, id, apikey.Hash(secret), apikey.Hint(secret), now.Add(grace), now)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		return nil, "", keyward.Errorf(keyward.ENOTFOUND, "API key %q was not found in this project.", id)
	} else if err != nil {
		return nil, "", err
	}
	s.audit(ctx, a.caller, &keyward.AuditEvent{
		ProjectID: a.Project.ID, At: now, Action: keyward.AuditKeyRolled, Target: "key:" + id,
		Detail: fmt.Sprintf("name=%q grace=%s", k.Name, grace),
	})
	k.PreviousSecretHash = nil
	return a.present(k), secret, nil
}

// owner is the user a key created by p acts for: p itself, or the owner of the key p is. The
// new key is bound by that user's permissions, as the creating key is.
func owner(p *authn.Principal) string {
	if p.Key != nil {
		return p.Key.Owner
	}
	return p.User.ID
}

// KeyChange is what a caller asks to change on an API key; nil fields stay as they are.
type KeyChange struct {
	Name        *string
	IPs         *[]string // empty: any address
	Permissions *[]string
	// SetExpiresAt changes the expiry to ExpiresAt, nil for never.
	SetExpiresAt bool
	ExpiresAt    *time.Time
	// Owner transfers the key to another member (a user id), which enables a disabled key.
	Owner *string
	// Role gives the key a role of the project, by name or id; "" takes its role away.
	Role *string
	// RequireDPoP sets whether the key exchanges only with a DPoP proof.
	RequireDPoP *bool
	// Disabled true disables the key at once (reason "member": its sessions end, it exchanges
	// no more); false enables a key a member disabled. A leaked key is enabled by a roll, one
	// whose owner left by a transfer.
	Disabled *bool
}

// UpdateKey edits one of the project's keys under the rules of CreateKey, and returns it as it
// now is. It needs api-keys-manage. New permissions must be the caller's own, and so must every
// permission of a key whose networks or lifetime the edit widens: narrowing a key is always
// allowed, handing out more than one holds never. An edit that narrows the key ends its sessions
// at once (see keyward.Store.UpdateAPIKey); a widening applies from its next exchange.
//
// A transfer (Owner) needs every permission of the key, as edited, held by both the caller and
// the new owner, who must be an enabled member of the project; a user who is not is told apart
// neither from an unknown one nor from a disabled member. It enables a key disabled because its
// previous owner left: that is how a key is saved from a departing member.
func (a *Access) UpdateKey(ctx context.Context, id string, in KeyChange) (*keyward.APIKey, error) {
	if err := a.Require(PermKeysManage); err != nil {
		return nil, err
	}
	if in == (KeyChange{}) {
		return nil, keyward.Errorf(keyward.EINVALID, "Nothing to change: give at least one of name, ips, permissions, role, expires_at, owner, require_dpop and disabled.")
	}
	before, err := a.key(ctx, id)
	if err != nil {
		return nil, err
	}
	s := a.svc
	now := s.Now()
	var change keyward.APIKeyChange
	var detail []string
	if in.Name != nil {
		if err := CheckKeyName(*in.Name); err != nil {
			return nil, err
		}
		change.Name = in.Name
		detail = append(detail, fmt.Sprintf("name=%q", *in.Name))
	}
	if in.IPs != nil {
		ips, err := clientip.ParseNetworks(*in.IPs)
		if err != nil {
			return nil, fieldErr("ips", keyward.EINVALID, "%s", err)
		}
		change.IPs = &ips
		if len(ips) == 0 {
			detail = append(detail, "ips=any")
		} else {
			detail = append(detail, "ips="+strings.Join(clientip.FormatNetworks(ips), ","))
		}
	}
	if in.Permissions != nil {
		perms := []string{}
		if len(*in.Permissions) > 0 {
			var err error
			if perms, err = a.grantable(*in.Permissions, "an API key"); err != nil {
				return nil, err
			}
		}
		change.Permissions = &perms
		detail = append(detail, "permissions="+strings.Join(perms, ","))
	}
	var role *keyward.Role
	if in.Role != nil {
		id := ""
		if *in.Role != "" {
			var err error
			if _, role, err = a.grant(ctx, nil, *in.Role, "an API key"); err != nil {
				return nil, err
			}
			id = role.ID
			detail = append(detail, "role="+role.Name)
		} else {
			detail = append(detail, "role=none")
		}
		change.Role = &id
	}
	if in.SetExpiresAt {
		change.SetExpiresAt = true
		if in.ExpiresAt == nil {
			detail = append(detail, "expires_at=never")
		} else {
			if !in.ExpiresAt.After(now) {
				return nil, fieldErr("expires_at", keyward.EINVALID, "The expiry must be in the future.")
			}
			t := in.ExpiresAt.UTC()
			change.ExpiresAt = &t
			detail = append(detail, "expires_at="+t.Format(time.RFC3339))
		}
	}
	if in.RequireDPoP != nil {
		change.RequireDPoP = in.RequireDPoP
		detail = append(detail, "require_dpop="+strconv.FormatBool(*in.RequireDPoP))
	}
	if in.Disabled != nil {
		if !*in.Disabled && !before.Enables(in.Owner != nil) {
			return nil, fieldErr("disabled", keyward.EINVALID, "%s", keyEnableRefusal(before.DisabledReason))
		}
		change.Disabled = in.Disabled
		switch {
		case *in.Disabled && before.DisabledAt == nil:
			detail = append(detail, "disabled")
		case !*in.Disabled && before.DisabledByMember():
			detail = append(detail, "enabled")
		}
	}
	if in.Owner != nil {
		change.Owner = in.Owner
		detail = append(detail, "owner="+*in.Owner)
		if before.DisabledAt != nil {
			detail = append(detail, "enabled")
		}
	}
	after := change.Apply(before)
	if in.Role != nil {
		after.Role = role
	}
	if err := checkEditPolicy(a.Project.KeyPolicy, before, after, now); err != nil {
		return nil, err
	}
	if len(after.Own()) == 0 {
		return nil, fieldErr("permissions", keyward.EINVALID, "An API key needs a role or at least one of the permissions.")
	}
	if in.Owner != nil {
		if err := a.checkTransfer(ctx, after); err != nil {
			return nil, err
		}
	}
	if keyward.Extends(before, after) || before.DisabledAt != nil && after.DisabledAt == nil {
		for _, p := range a.svc.Catalog.Filter(after.Own()) {
			if !a.Has(p) {
				field := "ips"
				switch {
				case before.DisabledAt != nil && after.DisabledAt == nil:
					return nil, fieldErr("disabled", keyward.EFORBIDDEN,
						"You cannot enable this API key: it holds the %q permission, which you do not hold in this project.", p)
				case before.RequireDPoP && !after.RequireDPoP:
					field = "require_dpop"
				case in.IPs == nil:
					field = "expires_at"
				}
				return nil, fieldErr(field, keyward.EFORBIDDEN,
					"You cannot extend where or how long this API key works: it holds the %q permission, which you do not hold in this project.", p)
			}
		}
	}
	k, err := s.Store.UpdateAPIKey(ctx, a.Project.ID, id, change, now)
	switch keyward.ErrorCode(err) {
	case "":
	case keyward.ECONFLICT:
		return nil, fieldErr("name", keyward.ECONFLICT, "An API key named %q already exists in this project.", after.Name)
	case keyward.ENOTFOUND:
		return nil, keyward.Errorf(keyward.ENOTFOUND, "API key %q was not found in this project.", id)
	case keyward.EINVALID, keyward.EFORBIDDEN:
		// With a transfer, the new owner was removed, disabled or reduced since checkTransfer
		// read them.
		switch {
		case in.Owner == nil && in.Disabled != nil && !*in.Disabled:
			return nil, onField("disabled", err) // disabled meanwhile for another reason
		case in.Owner == nil && in.Role != nil:
			return nil, onField("role", err) // the role was deleted meanwhile
		case in.Owner == nil:
			return nil, err
		case keyward.ErrorCode(err) == keyward.EINVALID:
			return nil, notOwnable(*in.Owner)
		}
		return nil, onField("owner", err)
	default:
		return nil, err
	}
	if keyward.Narrows(before, k) {
		detail = append(detail, "sessions ended")
	}
	s.audit(ctx, a.caller, &keyward.AuditEvent{
		ProjectID: a.Project.ID, At: now, Action: keyward.AuditKeyUpdated, Target: "key:" + id,
		Detail: strings.Join(detail, " "),
	})
	return a.present(k), nil
}

// notOwnable is the answer about a user who cannot own a key of the project: the same whether
// the user is unknown, belongs to no project of the caller's or is a disabled member. The value
// is repeated only when it could be a user id, as userRef does.
func notOwnable(userID string) error {
	if id, ok := strings.CutPrefix(userID, keyward.PrefixUser); !ok || len(id) != keyward.IDLength || !keyward.IsBase62(id) {
		return fieldErr("owner", keyward.EINVALID, "The new owner is not an enabled member of this project; a key's owner must be one, named by user id (usr_…).")
	}
	return fieldErr("owner", keyward.EINVALID, "User %q is not an enabled member of this project; a key's owner must be one.", userID)
}

// checkTransfer checks that the caller and the key's new owner, after.Owner, hold every
// permission of after, and that the new owner is an enabled member of the project.
func (a *Access) checkTransfer(ctx context.Context, after *keyward.APIKey) error {
	own := a.svc.Catalog.Filter(after.Own())
	for _, p := range own {
		if !a.Has(p) {
			return fieldErr("owner", keyward.EFORBIDDEN,
				"You cannot transfer this API key: it holds the %q permission, which you do not hold in this project.", p)
		}
	}
	m, err := a.svc.Store.Member(ctx, a.Project.ID, after.Owner)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		return notOwnable(after.Owner)
	} else if err != nil {
		return err
	}
	u, err := a.svc.Store.UserByID(ctx, after.Owner)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND || err == nil && u.Disabled {
		return notOwnable(after.Owner)
	} else if err != nil {
		return err
	}
	for _, p := range own {
		if !slices.Contains(m.Held(), p) {
			return fieldErr("owner", keyward.EFORBIDDEN,
				"%s does not hold the %q permission of this API key in this project: grant it to them first, or narrow the key in the same edit.", m.Email, p)
		}
	}
	return nil
}

// keyEnableRefusal says why a key disabled for reason is not enabled by asking, and what does
// enable it.
func keyEnableRefusal(reason string) string {
	switch reason {
	case keyward.KeyLeaked:
		return "This API key is disabled because its secret leaked; roll it to give it a new secret, which enables it."
	case keyward.OwnerRemoved, keyward.OwnerDisabled, keyward.OwnerDeleted:
		return "This API key is disabled because its owner lost the project; transfer it to another member, which enables it."
	}
	return "This API key cannot be enabled."
}
