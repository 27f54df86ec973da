package sqlstore

import (
	"cmp"
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/keyward/keyward"
)

// Revocation reasons the store writes itself.
const (
	reasonRefreshReused  = "refresh_reused"
	reasonKeyDeleted     = "key_deleted"
	reasonKeyNarrowed    = "key_narrowed"
	reasonKeyRolled      = "key_rolled"
	reasonUserDisabled   = "user_disabled"
	reasonMemberRemoved  = "member_removed"
	reasonMemberReduced  = "member_reduced"
	reasonRoleNarrowed   = "role_narrowed"
	reasonProjectDeleted = "project_deleted"
)

const sessionCols = "id, kind, key_id, user_id, project_id, scope, created_at, expires_at, revoked_at, revoke_reason, dpop_jkt"

func scanSession(row scanner) (*keyward.Session, error) {
	return scanSessionAnd(row)
}

// scanSessionAnd reads sessionCols, then the extra columns the query selects after them.
func scanSessionAnd(row scanner, extra ...any) (*keyward.Session, error) {
	var s keyward.Session
	var scope sql.NullString
	var created, expires int64
	var revoked sql.NullInt64
	dest := append([]any{&s.ID, &s.Kind, &s.KeyID, &s.UserID, &s.ProjectID, &scope,
		&created, &expires, &revoked, &s.RevokeReason, &s.DPoPJKT}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	if scope.Valid {
		// Empty and non-nil: the exchange narrowed the session to no permission at all.
		s.Scope = append([]string{}, splitList(scope.String)...)
	}
	s.CreatedAt = fromMicros(created)
	s.ExpiresAt = fromMicros(expires)
	s.RevokedAt = timePtr(revoked)
	return &s, nil
}

// CreateSession stores s with its first refresh token, atomically. The credential must still
// stand when the transaction commits: ENOTFOUND when a key session's key, a user session's user,
// or the membership of a project-narrowed user session does not exist, and EREVOKED when the
// user is disabled. first.SessionID may be empty.
//
// The session and its live refresh token are one row: the busiest write of the server touches
// one table.
func (db *DB) CreateSession(ctx context.Context, s *keyward.Session, first *keyward.RefreshToken) error {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	args, err := sessionArgs(s, first)
	if err != nil {
		return err
	}
	if db.commit != nil && s.Kind == keyward.SessionKey {
		// A key exchange on SQLite, the busiest write: the key's existence and revision are
		// checked by the insert itself, one statement (writes are serialized, so nothing can
		// delete or edit the key in between).
		return db.inTxSingle(ctx, func(ctx context.Context, tx *sql.Tx) error {
			res, err := db.prep.txExec(ctx, tx, qInsertKeySession, append(args, s.KeyRevision, s.SecretGen+1, s.DPoPJKT)...)
			if err := sessionInserted(res, err); keyward.ErrorCode(err) == keyward.ENOTFOUND {
				// Nothing inserted: the key is gone, it was edited since the exchange read it,
				// or the session's secret no longer exchanges.
				return keyGoneOrChanged(ctx, tx, s)
			} else if err != nil {
				return err
			}
			first.SessionID = s.ID
			return nil
		})
	}
	return db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return db.insertSession(ctx, tx, s, first, args)
	})
}

// sessionArgs are the arguments of qInsertSession for s and its first refresh token.
func sessionArgs(s *keyward.Session, first *keyward.RefreshToken) ([]any, error) {
	scope := sql.NullString{Valid: s.Scope != nil}
	if scope.Valid {
		var err error
		if scope.String, err = joinList("scope", s.Scope); err != nil {
			return nil, err
		}
	}
	if err := checkTokenSession(first, s.ID); err != nil {
		return nil, err
	}
	expires := min(micros(first.ExpiresAt), micros(s.ExpiresAt))
	return []any{s.ID, s.Kind, s.KeyID, s.UserID, s.ProjectID, scope,
		micros(s.CreatedAt), micros(s.ExpiresAt), nullMicros(s.RevokedAt), s.RevokeReason,
		first.Hash, micros(first.IssuedAt), expires, s.SecretGen}, nil
}

// insertSession checks (and locks) the credential behind s and stores s with its first refresh
// token, in tx.
func (db *DB) insertSession(ctx context.Context, tx *sql.Tx, s *keyward.Session, first *keyward.RefreshToken, args []any) error {
	if err := db.lockCredential(ctx, tx, s); err != nil {
		return err
	}
	res, err := db.prep.txExec(ctx, tx, qInsertSession, append(args, s.DPoPJKT)...)
	if err := sessionInserted(res, err); err != nil {
		return err
	}
	first.SessionID = s.ID
	return nil
}

// sessionInserted turns the result of a session insert into the store's errors: ECONFLICT for a
// taken id, ENOTFOUND when the insert that checks the key inserted nothing.
func sessionInserted(res sql.Result, err error) error {
	if isUnique(err) {
		return keyward.Errorf(keyward.ECONFLICT, "Session already exists.")
	} else if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	if n, err := rowsAffected(res); err != nil {
		return err
	} else if n == 0 {
		return keyward.Errorf(keyward.ENOTFOUND, "API key not found.")
	}
	return nil
}

// lockCredential checks that the credential behind s exists, and on PostgreSQL share-locks it
// until commit so that a concurrent deletion waits for the new session and then revokes it.
func (db *DB) lockCredential(ctx context.Context, tx *sql.Tx, s *keyward.Session) error {
	var one int
	switch s.Kind {
	case keyward.SessionKey:
		var revision, gen int64
		var prevExpires sql.NullInt64
		err := db.prep.txRow(ctx, tx, qKeyRevision+db.q.forShare, s.KeyID).Scan(&revision, &gen, &prevExpires)
		if errors.Is(err, sql.ErrNoRows) {
			return keyward.Errorf(keyward.ENOTFOUND, "API key not found.")
		} else if err != nil {
			return fmt.Errorf("lock api key: %w", err)
		} else if revision != s.KeyRevision {
			return errKeyChanged
		} else if !secretStands(s.SecretGen, gen, prevExpires, micros(s.CreatedAt)) {
			return errSecretRolled
		}
	case keyward.SessionUser, keyward.SessionFederated:
		// A federated session (of a rule targeting a role) stands on its rule's owner as a
		// project-narrowed user session stands on its user.
		var disabled bool
		err := tx.QueryRowContext(ctx, "SELECT disabled FROM users WHERE id = $1"+db.q.forShare, s.UserID).Scan(&disabled)
		if errors.Is(err, sql.ErrNoRows) {
			return keyward.Errorf(keyward.ENOTFOUND, "User not found.")
		} else if err != nil {
			return fmt.Errorf("lock user: %w", err)
		} else if disabled {
			return keyward.Errorf(keyward.EREVOKED, "User is disabled.")
		}
		if s.ProjectID == "" {
			return nil
		}
		err = tx.QueryRowContext(ctx,
			"SELECT 1 FROM members WHERE project_id = $1 AND user_id = $2"+db.q.forShare, s.ProjectID, s.UserID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return keyward.Errorf(keyward.ENOTFOUND, "Member not found.")
		} else if err != nil {
			return fmt.Errorf("lock member: %w", err)
		}
	default:
		return keyward.Errorf(keyward.EINVALID, "Unknown session kind %q.", s.Kind)
	}
	return nil
}

// errKeyChanged refuses a key session whose exchange read the key before its latest edit.
var errKeyChanged = keyward.Errorf(keyward.ECONFLICT, "The API key was changed; read it again.")

// errSecretRolled refuses a key session, or ends one at refresh, whose secret was rolled away.
var errSecretRolled = keyward.Errorf(keyward.EREVOKED, "The API key's secret was rolled and its grace is over.")

// secretStands reports whether the key secret of generation sessionGen still exchanges at
// (microseconds), for a key whose secret is of generation gen and whose previous secret's grace
// ends at prevExpires.
func secretStands(sessionGen, gen int64, prevExpires sql.NullInt64, at int64) bool {
	return sessionGen == gen || sessionGen == gen-1 && prevExpires.Valid && at < prevExpires.Int64
}

// keyGoneOrChanged tells why an insert that checks the key, its revision and the session's
// secret inserted nothing.
func keyGoneOrChanged(ctx context.Context, tx *sql.Tx, s *keyward.Session) error {
	var revision, gen int64
	var prevExpires sql.NullInt64
	err := tx.QueryRowContext(ctx, qKeyRevision, s.KeyID).Scan(&revision, &gen, &prevExpires)
	if errors.Is(err, sql.ErrNoRows) {
		return keyward.Errorf(keyward.ENOTFOUND, "API key not found.")
	} else if err != nil {
		return fmt.Errorf("create session: api key: %w", err)
	}
	if revision == s.KeyRevision {
		return errSecretRolled
	}
	return errKeyChanged
}

func checkTokenSession(t *keyward.RefreshToken, sessionID string) error {
	if t == nil || len(t.Hash) == 0 {
		return keyward.Errorf(keyward.EINVALID, "A refresh token hash is required.")
	}
	if t.SessionID != "" && t.SessionID != sessionID {
		return keyward.Errorf(keyward.EINVALID, "The refresh token belongs to another session.")
	}
	return nil
}

// Session returns a session, revoked or not; ENOTFOUND when unknown (or swept).
func (db *DB) Session(ctx context.Context, id string) (*keyward.Session, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	s, err := scanSession(db.prep.readRow(ctx, db.r, qSelectSession, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keyward.Errorf(keyward.ENOTFOUND, "Session not found.")
	} else if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	return s, nil
}

// liveToken is what a session row says about its refresh token.
type liveToken struct {
	hash    []byte // empty when the session has none
	issued  int64
	expires int64
	// For a key session: the key's secret generation and the end of its previous secret's
	// grace (NULL for a user session or a deleted key).
	keyGen      sql.NullInt64
	prevExpires sql.NullInt64
}

// scanSessionWithToken reads a row of qSelectSessionToken: a session and its live refresh token.
func scanSessionWithToken(row scanner) (*keyward.Session, *liveToken, error) {
	var t liveToken
	var revision, keyGen, prevExpires sql.NullInt64
	var gen int64
	s, err := scanSessionAnd(row, &t.hash, &t.issued, &t.expires, &revision, &gen, &keyGen, &prevExpires)
	if err != nil {
		return nil, nil, err
	}
	s.KeyRevision, s.SecretGen = revision.Int64, gen
	t.keyGen, t.prevExpires = keyGen, prevExpires
	return s, &t, nil
}

// rowQuerier is what reads a row: the reader pool, or a write transaction.
type rowQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// legacySession returns the session of a token of the earlier format, which names none, by its
// hash; ENOTFOUND when unknown.
func legacySession(ctx context.Context, q rowQuerier, hash []byte) (string, error) {
	var id string
	err := q.QueryRowContext(ctx, "SELECT session_id FROM legacy_refresh_tokens WHERE hash = $1", hash).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", keyward.Errorf(keyward.ENOTFOUND, "Refresh token not found.")
	} else if err != nil {
		return "", fmt.Errorf("refresh token of the earlier format: %w", err)
	}
	return id, nil
}

// spent reports whether hash is a spent refresh token of the session.
func spent(ctx context.Context, q rowQuerier, sessionID string, hash []byte) (bool, error) {
	var one int
	err := q.QueryRowContext(ctx, "SELECT 1 FROM refresh_tokens WHERE session_id = $1 AND hash = $2", sessionID, hash).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("spent refresh token: %w", err)
	}
	return true, nil
}

// RefreshTokenSession returns the session a refresh token belongs to, consumed or not;
// ENOTFOUND when the token is not the session's. sessionID is the id the token names, or empty
// for a token of the earlier format, which is looked up by hash.
func (db *DB) RefreshTokenSession(ctx context.Context, sessionID string, hash []byte) (*keyward.Session, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	notFound := keyward.Errorf(keyward.ENOTFOUND, "Refresh token not found.")
	if len(hash) == 0 {
		return nil, notFound
	}
	if sessionID == "" {
		var err error
		if sessionID, err = legacySession(ctx, db.r, hash); err != nil {
			return nil, err
		}
	}
	s, live, err := scanSessionWithToken(db.r.QueryRowContext(ctx, qSelectSessionToken, sessionID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound
	} else if err != nil {
		return nil, fmt.Errorf("refresh token session: %w", err)
	}
	if subtle.ConstantTimeCompare(live.hash, hash) == 1 {
		return s, nil
	}
	if ok, err := spent(ctx, db.r, sessionID, hash); err != nil {
		return nil, err
	} else if !ok {
		return nil, notFound
	}
	return s, nil
}

// ConsumeRefreshToken spends a refresh token exactly once and stores next in the same
// transaction; see keyward.Store. sessionID is the id the token names, or empty for a token of
// the earlier format. The checks run in this order: unknown (ENOTFOUND), consumed (reuse: the
// session is revoked and the revocation committed, EREFRESHREUSED), session revoked (EREVOKED),
// token expired or session past its max age (EEXPIRED). The session is returned with every error
// but ENOTFOUND. next.SessionID may be empty.
func (db *DB) ConsumeRefreshToken(ctx context.Context, sessionID string, hash []byte, now time.Time, next *keyward.RefreshToken) (*keyward.Session, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	if next == nil || len(next.Hash) == 0 {
		return nil, keyward.Errorf(keyward.EINVALID, "A refresh token hash is required.")
	}
	notFound := keyward.Errorf(keyward.ENOTFOUND, "Refresh token not found.")
	if len(hash) == 0 {
		return nil, notFound
	}
	var s *keyward.Session
	err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		sid := sessionID
		if sid == "" {
			var err error
			if sid, err = legacySession(ctx, tx, hash); err != nil {
				return err
			}
		}
		// Locked on PostgreSQL: concurrent refreshes of one session queue here, and all but the
		// first find the hash spent; a concurrent revocation waits for this refresh and then
		// sees the new token's expiry.
		var live *liveToken
		var err error
		s, live, err = scanSessionWithToken(db.prep.txRow(ctx, tx, qSelectSessionToken+db.q.forUpdate, sid))
		if errors.Is(err, sql.ErrNoRows) {
			s = nil
			return notFound
		} else if err != nil {
			return fmt.Errorf("consume refresh token: session: %w", err)
		}
		if subtle.ConstantTimeCompare(live.hash, hash) != 1 {
			return db.refreshReused(ctx, tx, &s, hash, now)
		}
		switch {
		case s.RevokedAt != nil:
			return keyward.Errorf(keyward.EREVOKED, "The session was revoked.")
		case now.UnixMicro() >= live.expires:
			return keyward.Errorf(keyward.EEXPIRED, "The refresh token has expired.")
		case !now.Before(s.ExpiresAt):
			return keyward.Errorf(keyward.EEXPIRED, "The session has reached its maximum age.")
		case s.Kind == keyward.SessionKey && live.keyGen.Valid &&
			!secretStands(s.SecretGen, live.keyGen.Int64, live.prevExpires, now.UnixMicro()):
			// The secret that started the session was rolled and its grace is over: the session
			// ends now, in the feed too.
			if _, err := db.revokeSessions(ctx, tx, "id = $3", now, reasonKeyRolled, s.ID); err != nil {
				return err
			}
			if s, err = scanSession(tx.QueryRowContext(ctx, "SELECT "+sessionCols+" FROM sessions WHERE id = $1", s.ID)); err != nil {
				return fmt.Errorf("consume refresh token: session: %w", err)
			}
			return &keepTx{errSecretRolled}
		}
		if err := checkTokenSession(next, s.ID); err != nil {
			return err
		}
		if _, err := db.prep.txExec(ctx, tx, qRotateRefresh,
			next.Hash, micros(next.IssuedAt), min(micros(next.ExpiresAt), micros(s.ExpiresAt)), s.ID); err != nil {
			return fmt.Errorf("consume refresh token: %w", err)
		}
		// The spent token is kept until it would have expired, to recognise its reuse.
		if _, err := db.prep.txExec(ctx, tx, qSpendRefresh, s.ID, hash, live.issued, live.expires, micros(now)); err != nil {
			return fmt.Errorf("consume refresh token: %w", err)
		}
		next.SessionID = s.ID
		return nil
	})
	return s, err
}

// refreshReused handles a hash that is not the session's live token: a spent token of the
// session is reuse, anything else is unknown (and *s is cleared).
func (db *DB) refreshReused(ctx context.Context, tx *sql.Tx, s **keyward.Session, hash []byte, now time.Time) error {
	id := (*s).ID
	if ok, err := spent(ctx, tx, id, hash); err != nil {
		return err
	} else if !ok {
		*s = nil
		return keyward.Errorf(keyward.ENOTFOUND, "Refresh token not found.")
	}
	n, err := db.revokeSessions(ctx, tx, "id = $3", now, reasonRefreshReused, id)
	if err != nil {
		return err
	}
	reread, err := scanSession(tx.QueryRowContext(ctx, "SELECT "+sessionCols+" FROM sessions WHERE id = $1", id))
	if err != nil {
		return fmt.Errorf("reused refresh token: session: %w", err)
	}
	if n > 0 { // told once, when the reuse ends the session, however often the token comes back
		d := keyward.EventData{ProjectID: reread.ProjectID, SessionID: id}
		switch reread.Kind {
		case keyward.SessionKey:
			d.KeyID, d.Subject = reread.KeyID, "key:"+reread.KeyID
		case keyward.SessionUser:
			d.UserID, d.Subject = reread.UserID, "user:"+reread.UserID
		}
		if _, err := db.emit(ctx, tx, keyward.WebhookEvent{Type: keyward.EventSessionReuse, At: now, Data: d}, ""); err != nil {
			return err
		}
	}
	*s = reread
	return &keepTx{keyward.Errorf(keyward.EREFRESHREUSED, "The refresh token was already used; its session is revoked.")}
}

// RevokeSession revokes a session and appends it to the feed; revoking a revoked session
// succeeds and changes nothing. ENOTFOUND when unknown.
func (db *DB) RevokeSession(ctx context.Context, id, reason string, at time.Time) error {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	return db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		n, err := db.revokeSessions(ctx, tx, "id = $3", at, reason, id)
		if err != nil || n > 0 {
			return err
		}
		var one int
		err = tx.QueryRowContext(ctx, "SELECT 1 FROM sessions WHERE id = $1", id).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return keyward.Errorf(keyward.ENOTFOUND, "Session not found.")
		} else if err != nil {
			return fmt.Errorf("revoke session: %w", err)
		}
		return nil
	})
}

// revokeSessions revokes the sessions that match where and are not revoked yet, and appends one
// feed entry for each. In where, $1 and $2 are taken (revocation time and reason); args fill $3
// onwards. It returns how many sessions it revoked.
func (db *DB) revokeSessions(ctx context.Context, tx *sql.Tx, where string, at time.Time, reason string, args ...any) (int, error) {
	rows, err := tx.QueryContext(ctx,
		"UPDATE sessions SET revoked_at = $1, revoke_reason = $2 WHERE revoked_at IS NULL AND "+where+
			" RETURNING id, project_id, refresh_expires_at",
		append([]any{micros(at), reason}, args...)...)
	if err != nil {
		return 0, fmt.Errorf("revoke sessions: %w", err)
	}
	type revoked struct {
		id, project string
		latest      int64 // the expiry of the session's newest refresh token
	}
	var list []revoked
	for rows.Next() {
		var r revoked
		if err := rows.Scan(&r.id, &r.project, &r.latest); err != nil {
			rows.Close()
			return 0, fmt.Errorf("revoke sessions: %w", err)
		}
		list = append(list, r)
	}
	if err := rows.Close(); err != nil {
		return 0, fmt.Errorf("revoke sessions: %w", err)
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("revoke sessions: %w", err)
	}
	if len(list) == 0 {
		return 0, nil
	}
	// A deterministic feed order, whatever order the engine returned the rows in.
	slices.SortFunc(list, func(a, b revoked) int { return cmp.Compare(a.id, b.id) })
	if err := db.lockFeed(ctx, tx); err != nil {
		return 0, err
	}
	for _, r := range list {
		latest := sql.NullInt64{Int64: r.latest, Valid: true}
		if err := appendRevocation(ctx, tx, keyward.RevokedSession, r.id, r.project, at, latest); err != nil {
			return 0, err
		}
	}
	return len(list), nil
}

// keySessionCountQuery names the session kind literally, so that SQLite uses the partial index.
// A session of a secret that stopped (rolled, the grace over) is not live, though it is revoked
// only at its next refresh: the condition is secretStands'.
const keySessionCountQuery = "SELECT COUNT(*) FROM sessions s JOIN api_keys k ON k.id = s.key_id" +
	" WHERE s.kind = 'key' AND s.key_id = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 AND s.refresh_expires_at > $2" +
	" AND (s.secret_gen = k.secret_gen OR s.secret_gen = k.secret_gen - 1 AND k.previous_expires_at > $2)"

// KeySessionCount returns how many sessions of the key are live at now: not revoked, within
// their max age, holding a refresh token that has not expired, and started by a secret of the
// key that still exchanges. The partial index on the key's sessions serves it; swept sessions are
// gone from it anyway, and a deleted key has none.
func (db *DB) KeySessionCount(ctx context.Context, keyID string, now time.Time) (int, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	var n int
	err := db.r.QueryRowContext(ctx, keySessionCountQuery, keyID, micros(now)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("key session count: %w", err)
	}
	return n, nil
}
