package manage_test

import (
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/manage"
)

// TestTransferKey: a key moves only to an enabled member of its project who holds its
// permissions, by a caller who holds them too; a user outside the project is answered as an
// unknown one; a transfer saves a key its departing owner's removal disabled, and is audited.
func TestTransferKey(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	all := keyward.DefaultCatalog().Names()
	owner := f.open(f.caller("owner@example.com", "shop", all...), "shop")
	eveCaller := f.caller("eve@example.com", "shop", "api-keys-view", "api-keys-manage", "containers-view", "containers-manage")
	eve := f.open(eveCaller, "shop")
	ops := f.caller("ops@example.com", "shop", "containers-view", "containers-manage")
	viewer := f.caller("viewer@example.com", "shop", "containers-view")
	limited := f.open(f.caller("lim@example.com", "shop", "api-keys-manage", "containers-view"), "shop")
	outsider := f.caller("out@example.com", "other", all...)
	disabled := f.caller("gone@example.com", "shop", all...)
	if err := f.store.SetUserDisabled(ctx, disabled.Principal.User.ID, true, f.now); err != nil {
		t.Fatal(err)
	}

	k, _, err := eve.CreateKey(ctx, manage.KeyInput{Name: "deploy", Permissions: []string{"containers-view", "containers-manage"}})
	if err != nil {
		t.Fatal(err)
	}
	unknownID, _ := keyward.NewID(rand.Reader, keyward.PrefixUser)
	for _, tt := range []struct {
		name string
		a    *manage.Access
		to   string
		code string
	}{
		{"a user of another project", owner, outsider.Principal.User.ID, keyward.EINVALID},
		{"an unknown user", owner, unknownID, keyward.EINVALID},
		{"a disabled member", owner, disabled.Principal.User.ID, keyward.EINVALID},
		{"a member without the key's permissions", owner, viewer.Principal.User.ID, keyward.EFORBIDDEN},
		{"by a caller without the key's permissions", limited, ops.Principal.User.ID, keyward.EFORBIDDEN},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.a.UpdateKey(ctx, k.ID, manage.KeyChange{Owner: new(tt.to)})
			var fe *manage.FieldError
			if !errors.As(err, &fe) || fe.Field != "owner" || keyward.ErrorCode(err) != tt.code {
				t.Fatalf("UpdateKey = %v; want a %s field error on owner", err, tt.code)
			}
		})
	}
	// Outside the project, unknown and disabled read alike but for the id asked about.
	msg := func(to string) string {
		_, err := owner.UpdateKey(ctx, k.ID, manage.KeyChange{Owner: new(to)})
		return strings.ReplaceAll(keyward.ErrorMessage(err), to, "ID")
	}
	if a, b, c := msg(outsider.Principal.User.ID), msg(unknownID), msg(disabled.Principal.User.ID); a != b || a != c {
		t.Errorf("a user of another project: %q; an unknown one: %q; a disabled member: %q", a, b, c)
	}

	// Eve leaves; her key is disabled; the owner saves it by handing it to ops.
	if err := owner.RemoveMember(ctx, eveCaller.Principal.User.ID); err != nil {
		t.Fatal(err)
	}
	if got, err := owner.Key(ctx, k.ID); err != nil || got.DisabledAt == nil {
		t.Fatalf("after the owner's removal: %+v, %v", got, err)
	}
	got, err := owner.UpdateKey(ctx, k.ID, manage.KeyChange{Owner: new(ops.Principal.User.ID)})
	if err != nil {
		t.Fatal(err)
	}
	if got.Owner != ops.Principal.User.ID || got.DisabledAt != nil {
		t.Fatalf("transferred key %+v", got)
	}
	events, _, err := owner.Audit(ctx, keyward.Page{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if e := events[0]; e.Action != keyward.AuditKeyUpdated || e.Target != "key:"+k.ID || e.Detail != "owner="+ops.Principal.User.ID+" enabled" {
		t.Errorf("audit of the transfer: %+v", e)
	}
}
