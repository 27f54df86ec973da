package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/keyward/keyward"
)

// DisableLeakedAPIKey disables the key as leaked; see keyward.LeakStore.
func (db *DB) DisableLeakedAPIKey(ctx context.Context, id string, e keyward.AuditEvent) (*keyward.APIKey, bool, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	var k *keyward.APIKey
	var did bool
	err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		did = false
		// Locked first, as every key edit is: a session being created from the key has committed
		// before the revocation below looks for it, or waits and then finds the key disabled.
		var err error
		k, err = scanAPIKey(tx.QueryRowContext(ctx, "SELECT "+apiKeyRead+" FROM api_keys WHERE id = $1"+db.q.forUpdate, id))
		if errors.Is(err, sql.ErrNoRows) {
			return keyward.Errorf(keyward.ENOTFOUND, "API key not found.")
		} else if err != nil {
			return fmt.Errorf("disable leaked key: %w", err)
		}
		if k.Leaked() {
			return nil
		}
		at := e.At
		if k.DisabledAt == nil {
			k.DisabledAt = &at
		}
		k.DisabledReason = keyward.KeyLeaked
		k.Revision++
		if _, err := tx.ExecContext(ctx, "UPDATE api_keys SET disabled_at = $1, disabled_reason = $2, revision = $3 WHERE id = $4",
			micros(*k.DisabledAt), k.DisabledReason, k.Revision, id); err != nil {
			return fmt.Errorf("disable leaked key: %w", err)
		}
		if _, err := db.revokeSessions(ctx, tx, "key_id = $3 AND kind = '"+keyward.SessionKey+"'", at, keyward.KeyLeaked, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx,
			"INSERT INTO audit_events (project_id, at, actor, action, target, ip, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)",
			k.ProjectID, micros(at), e.Actor, keyward.AuditKeyLeaked, "key:"+id, e.IP, e.Detail); err != nil {
			return fmt.Errorf("audit leaked key: %w", err)
		}
		ev := keyEvent(keyward.EventKeyLeaked, k, at)
		ev.Data.Reason, ev.Data.URL = keyward.KeyLeaked, leakURL(e.Detail)
		// The reporter is the actor, as in the audit event: none for a secret scanner's report.
		if _, err := db.emit(keyward.WithActor(ctx, e.Actor), tx, ev, ""); err != nil {
			return err
		}
		did = true
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	return k, did, nil
}

// leakURL returns where a report says a key was found: the url= field of its audit detail
// (fields are separated by spaces and hold none), or "".
func leakURL(detail string) string {
	for _, f := range strings.Fields(detail) {
		if u, ok := strings.CutPrefix(f, "url="); ok {
			return u
		}
	}
	return ""
}
