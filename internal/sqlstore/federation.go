package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

// Revocation reasons of federated tokens.
const (
	reasonRuleDeleted   = "rule_deleted"
	reasonRuleNarrowed  = "rule_narrowed"
	reasonIssuerChanged = "issuer_changed"
)

const issuerCols = "id, project_id, name, issuer, audiences, jwks_uri, preset, created_at, updated_at"

func scanIssuer(row scanner) (*keyward.FederationIssuer, error) {
	var i keyward.FederationIssuer
	var auds string
	var created, updated int64
	if err := row.Scan(&i.ID, &i.ProjectID, &i.Name, &i.Issuer, &auds, &i.JWKSURI, &i.Preset, &created, &updated); err != nil {
		return nil, err
	}
	i.Audiences = splitList(auds)
	i.CreatedAt, i.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &i, nil
}

// CreateFederationIssuer stores i; ECONFLICT on a taken name or issuer URL in the project.
func (db *DB) CreateFederationIssuer(ctx context.Context, i *keyward.FederationIssuer) error {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	auds, err := joinList("audience", i.Audiences)
	if err != nil {
		return err
	}
	return db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO federation_issuers ("+issuerCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
			i.ID, i.ProjectID, i.Name, i.Issuer, auds, i.JWKSURI, i.Preset, micros(i.CreatedAt), micros(i.UpdatedAt))
		return issuerWritten(err, i)
	})
}

func issuerWritten(err error, i *keyward.FederationIssuer) error {
	switch {
	case isUnique(err):
		return keyward.Errorf(keyward.ECONFLICT, "An issuer named %q, or with the URL %q, is already trusted by this project.", i.Name, i.Issuer)
	case isForeignKey(err):
		return keyward.Errorf(keyward.ENOTFOUND, "Project not found.")
	case err != nil:
		return fmt.Errorf("federation issuer: %w", err)
	}
	return nil
}

// FederationIssuer returns the issuer of projectID that ref names: its id or its name.
func (db *DB) FederationIssuer(ctx context.Context, projectID, ref string) (*keyward.FederationIssuer, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	return issuerByRef(ctx, db.r, projectID, ref)
}

func issuerByRef(ctx context.Context, q rowQuerier, projectID, ref string) (*keyward.FederationIssuer, error) {
	return byRef(ctx, q, "federation_issuers", issuerCols, keyward.PrefixIssuer, "Issuer", scanIssuer, projectID, ref, "")
}

// byRef reads the row of a project's table that ref names: its id when ref has the table's id
// prefix, else its name. lock is appended to the query. ENOTFOUND names what, when there is none.
func byRef[T any](ctx context.Context, q rowQuerier, table, cols, prefix, what string, scan func(scanner) (T, error), projectID, ref, lock string) (T, error) {
	col := "name"
	if strings.HasPrefix(ref, prefix) {
		col = "id"
	}
	v, err := scan(q.QueryRowContext(ctx, "SELECT "+cols+" FROM "+table+" WHERE project_id = $1 AND "+col+" = $2"+lock, projectID, ref))
	if errors.Is(err, sql.ErrNoRows) {
		return v, keyward.Errorf(keyward.ENOTFOUND, "%s not found.", what)
	} else if err != nil {
		return v, fmt.Errorf("%s: %w", table, err)
	}
	return v, nil
}

// FederationIssuers lists a project's issuers by name.
func (db *DB) FederationIssuers(ctx context.Context, projectID string) ([]*keyward.FederationIssuer, error) {
	return db.issuers(ctx, "project_id = $1 ORDER BY name", projectID)
}

// IssuersByURL lists the issuers of every project whose URL is iss.
func (db *DB) IssuersByURL(ctx context.Context, iss string) ([]*keyward.FederationIssuer, error) {
	return db.issuers(ctx, "issuer = $1 ORDER BY id", iss)
}

func (db *DB) issuers(ctx context.Context, where string, arg string) ([]*keyward.FederationIssuer, error) {
	return queryAll(ctx, db, "federation issuers", "SELECT "+issuerCols+" FROM federation_issuers WHERE "+where, scanIssuer, arg)
}

// queryAll runs a query on the reader pool and scans every row it returns.
func queryAll[T any](ctx context.Context, db *DB, what, query string, scan func(scanner) (T, error), args ...any) ([]T, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	rows, err := db.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// UpdateFederationIssuer replaces the issuer's fields; a change of what its tokens are checked
// against ends the tokens of its rules.
func (db *DB) UpdateFederationIssuer(ctx context.Context, i *keyward.FederationIssuer, at time.Time) error {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	auds, err := joinList("audience", i.Audiences)
	if err != nil {
		return err
	}
	return db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		before, err := scanIssuer(tx.QueryRowContext(ctx, "SELECT "+issuerCols+" FROM federation_issuers WHERE project_id = $1 AND id = $2"+db.q.forUpdate, i.ProjectID, i.ID))
		if errors.Is(err, sql.ErrNoRows) {
			return keyward.Errorf(keyward.ENOTFOUND, "Issuer not found.")
		} else if err != nil {
			return fmt.Errorf("update federation issuer: %w", err)
		}
		_, err = tx.ExecContext(ctx, "UPDATE federation_issuers SET name = $1, issuer = $2, audiences = $3, jwks_uri = $4, preset = $5, updated_at = $6 WHERE id = $7",
			i.Name, i.Issuer, auds, i.JWKSURI, i.Preset, micros(at), i.ID)
		if err := issuerWritten(err, i); err != nil {
			return err
		}
		i.CreatedAt, i.UpdatedAt = before.CreatedAt, at.UTC()
		if before.Issuer == i.Issuer && strings.Join(before.Audiences, " ") == auds && before.JWKSURI == i.JWKSURI && before.Preset == i.Preset {
			return nil
		}
		_, err = db.revokeSessions(ctx, tx, "id IN (SELECT f.session_id FROM federated_sessions f JOIN federation_rules r ON r.id = f.rule_id WHERE r.issuer_id = $3)",
			at, reasonIssuerChanged, i.ID)
		return err
	})
}

// DeleteFederationIssuer deletes the issuer with its rules and ends their tokens.
func (db *DB) DeleteFederationIssuer(ctx context.Context, projectID, id string, at time.Time) error {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	return db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := db.revokeSessions(ctx, tx,
			"id IN (SELECT f.session_id FROM federated_sessions f JOIN federation_rules r ON r.id = f.rule_id WHERE r.issuer_id = $3 AND r.project_id = $4)",
			at, reasonRuleDeleted, id, projectID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM federation_issuers WHERE project_id = $1 AND id = $2", projectID, id)
		if err != nil {
			return fmt.Errorf("delete federation issuer: %w", err)
		}
		if n, err := rowsAffected(res); err != nil {
			return err
		} else if n == 0 {
			return keyward.Errorf(keyward.ENOTFOUND, "Issuer not found.")
		}
		return nil
	})
}

const ruleCols = "id, project_id, name, issuer_id, conditions, target_key, target_role, ttl_ms, owner_id, created_at, updated_at"

func scanRule(row scanner) (*keyward.FederationRule, error) {
	var r keyward.FederationRule
	var conds string
	var key, role sql.NullString
	var ttl, created, updated int64
	if err := row.Scan(&r.ID, &r.ProjectID, &r.Name, &r.IssuerID, &conds, &key, &role, &ttl, &r.Owner, &created, &updated); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(conds), &r.Conditions); err != nil {
		return nil, fmt.Errorf("rule %s: conditions: %w", r.ID, err)
	}
	r.TargetKey, r.TargetRole = key.String, role.String
	r.TTL = time.Duration(ttl) * time.Millisecond
	r.CreatedAt, r.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &r, nil
}

// ruleArgs are a rule's stored columns after its id and project.
func ruleArgs(r *keyward.FederationRule) ([]any, error) {
	if (r.TargetKey == "") == (r.TargetRole == "") {
		return nil, keyward.Errorf(keyward.EINVALID, "A rule targets one key or one role.")
	}
	conds, err := json.Marshal(r.Conditions)
	if err != nil {
		return nil, fmt.Errorf("rule conditions: %w", err)
	}
	if r.Conditions == nil {
		conds = []byte("{}")
	}
	return []any{r.Name, r.IssuerID, string(conds), sql.NullString{String: r.TargetKey, Valid: r.TargetKey != ""},
		sql.NullString{String: r.TargetRole, Valid: r.TargetRole != ""}, r.TTL.Milliseconds()}, nil
}

// checkRuleRefs is EINVALID unless the rule's issuer, key and role are of its project.
func checkRuleRefs(ctx context.Context, tx *sql.Tx, r *keyward.FederationRule) error {
	for _, ref := range []struct{ table, id, what string }{
		{"federation_issuers", r.IssuerID, "issuer"}, {"api_keys", r.TargetKey, "API key"}, {"roles", r.TargetRole, "role"},
	} {
		if ref.id == "" {
			continue
		}
		err := tx.QueryRowContext(ctx, "SELECT 1 FROM "+ref.table+" WHERE id = $1 AND project_id = $2", ref.id, r.ProjectID).Scan(new(int))
		if errors.Is(err, sql.ErrNoRows) {
			return keyward.Errorf(keyward.EINVALID, "The %s is not of this project.", ref.what)
		} else if err != nil {
			return fmt.Errorf("federation rule: %s: %w", ref.what, err)
		}
	}
	return nil
}

func ruleWritten(err error, name string) error {
	switch {
	case isUnique(err):
		return keyward.Errorf(keyward.ECONFLICT, "A rule named %q already exists in this project.", name)
	case isForeignKey(err):
		return keyward.Errorf(keyward.EINVALID, "The rule's issuer, key or role no longer exists.")
	case err != nil:
		return fmt.Errorf("federation rule: %w", err)
	}
	return nil
}

// CreateFederationRule stores r.
func (db *DB) CreateFederationRule(ctx context.Context, r *keyward.FederationRule) error {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	args, err := ruleArgs(r)
	if err != nil {
		return err
	}
	return db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := checkRuleRefs(ctx, tx, r); err != nil {
			return err
		}
		all := append(append([]any{r.ID, r.ProjectID}, args...), r.Owner, micros(r.CreatedAt), micros(r.UpdatedAt))
		_, err := tx.ExecContext(ctx, "INSERT INTO federation_rules ("+ruleCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)", all...)
		return ruleWritten(err, r.Name)
	})
}

// FederationRule returns the rule of projectID that ref names: its id or its name.
func (db *DB) FederationRule(ctx context.Context, projectID, ref string) (*keyward.FederationRule, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	return ruleByRef(ctx, db.r, projectID, ref, "")
}

func ruleByRef(ctx context.Context, q rowQuerier, projectID, ref, lock string) (*keyward.FederationRule, error) {
	return byRef(ctx, q, "federation_rules", ruleCols, keyward.PrefixRule, "Rule", scanRule, projectID, ref, lock)
}

// FederationRules lists a project's rules by name.
func (db *DB) FederationRules(ctx context.Context, projectID string) ([]*keyward.FederationRule, error) {
	return db.rules(ctx, "project_id = $1 ORDER BY name", projectID)
}

// RulesOfIssuers lists the rules on any of the issuers, by id.
func (db *DB) RulesOfIssuers(ctx context.Context, issuerIDs []string) ([]*keyward.FederationRule, error) {
	if len(issuerIDs) == 0 {
		return []*keyward.FederationRule{}, nil
	}
	marks := make([]string, len(issuerIDs))
	args := make([]any, len(issuerIDs))
	for n, id := range issuerIDs {
		marks[n], args[n] = fmt.Sprintf("$%d", n+1), id
	}
	return db.rules(ctx, "issuer_id IN ("+strings.Join(marks, ", ")+") ORDER BY id", args...)
}

func (db *DB) rules(ctx context.Context, where string, args ...any) ([]*keyward.FederationRule, error) {
	return queryAll(ctx, db, "federation rules", "SELECT "+ruleCols+" FROM federation_rules WHERE "+where, scanRule, args...)
}

// UpdateFederationRule applies change; a narrowing change ends the rule's tokens.
func (db *DB) UpdateFederationRule(ctx context.Context, projectID, id string, change keyward.FederationRuleChange, at time.Time) (*keyward.FederationRule, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	var out *keyward.FederationRule
	err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		r, err := ruleByRef(ctx, tx, projectID, id, db.q.forUpdate)
		if err != nil {
			return err
		}
		narrows := change.Narrows(r)
		applyRuleChange(r, change)
		r.UpdatedAt = at.UTC()
		args, err := ruleArgs(r)
		if err != nil {
			return err
		}
		if err := checkRuleRefs(ctx, tx, r); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "UPDATE federation_rules SET name = $1, issuer_id = $2, conditions = $3, target_key = $4, target_role = $5, ttl_ms = $6, updated_at = $7 WHERE id = $8",
			append(args, micros(at), r.ID)...)
		if err := ruleWritten(err, r.Name); err != nil {
			return err
		}
		if narrows {
			if _, err := db.revokeSessions(ctx, tx, "id IN (SELECT session_id FROM federated_sessions WHERE rule_id = $3)", at, reasonRuleNarrowed, r.ID); err != nil {
				return err
			}
		}
		out = r
		return nil
	})
	return out, err
}

func applyRuleChange(r *keyward.FederationRule, c keyward.FederationRuleChange) {
	setIf(&r.Name, c.Name)
	setIf(&r.IssuerID, c.IssuerID)
	setIf(&r.Conditions, c.Conditions)
	setIf(&r.TargetKey, c.TargetKey)
	setIf(&r.TargetRole, c.TargetRole)
	setIf(&r.TTL, c.TTL)
}

// setIf replaces *dst with *src when a change sets src.
func setIf[T any](dst *T, src *T) {
	if src != nil {
		*dst = *src
	}
}

// DeleteFederationRule deletes the rule and ends its tokens.
func (db *DB) DeleteFederationRule(ctx context.Context, projectID, id string, at time.Time) error {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	return db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM federation_rules WHERE project_id = $1 AND id = $2", projectID, id)
		if err != nil {
			return fmt.Errorf("delete federation rule: %w", err)
		}
		if n, err := rowsAffected(res); err != nil {
			return err
		} else if n == 0 {
			return keyward.Errorf(keyward.ENOTFOUND, "Rule not found.")
		}
		_, err = db.revokeSessions(ctx, tx, "id IN (SELECT session_id FROM federated_sessions WHERE rule_id = $3)", at, reasonRuleDeleted, id)
		return err
	})
}

// endOwnerRuleSessions ends the tokens of the rules userID owns (in projectID, or in every
// project when it is empty): a rule's tokens, whatever its target, hold no more than its owner.
func (db *DB) endOwnerRuleSessions(ctx context.Context, tx *sql.Tx, userID, projectID, reason string, at time.Time) error {
	where := "id IN (SELECT f.session_id FROM federated_sessions f JOIN federation_rules r ON r.id = f.rule_id" +
		" WHERE r.owner_id = $3 AND ($4 = '' OR r.project_id = $4))"
	_, err := db.revokeSessions(ctx, tx, where, at, reason, userID, projectID)
	return err
}

// endRoleRuleSessions ends the tokens of the rules that target roleID.
func (db *DB) endRoleRuleSessions(ctx context.Context, tx *sql.Tx, roleID, reason string, at time.Time) error {
	_, err := db.revokeSessions(ctx, tx,
		"id IN (SELECT f.session_id FROM federated_sessions f JOIN federation_rules r ON r.id = f.rule_id WHERE r.target_role = $3)", at, reason, roleID)
	return err
}

// CreateFederatedSession stores the session of a federated token, tied to its rule.
func (db *DB) CreateFederatedSession(ctx context.Context, s *keyward.Session, first *keyward.RefreshToken, ruleID string, jti *keyward.SpentJTI) error {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	args, err := sessionArgs(s, first)
	if err != nil {
		return err
	}
	return db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var owner string
		err := tx.QueryRowContext(ctx, "SELECT owner_id FROM federation_rules WHERE id = $1 AND project_id = $2"+db.q.forShare, ruleID, s.ProjectID).Scan(&owner)
		if errors.Is(err, sql.ErrNoRows) {
			return keyward.Errorf(keyward.ENOTFOUND, "Rule not found.")
		} else if err != nil {
			return fmt.Errorf("federated session: rule: %w", err)
		}
		switch {
		case s.Kind == keyward.SessionFederated && (s.KeyID != ruleID || s.UserID != owner):
			return keyward.Errorf(keyward.EINVALID, "A rule's session names the rule and its owner.")
		case s.Kind != keyward.SessionKey && s.Kind != keyward.SessionFederated:
			return keyward.Errorf(keyward.EINVALID, "A federated session is of a key or of a rule.")
		}
		if err := db.insertSession(ctx, tx, s, first, args); err != nil {
			return err
		}
		if err := spendJTI(ctx, tx, jti, s.CreatedAt); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO federated_sessions (session_id, rule_id) VALUES ($1, $2)", s.ID, ruleID); err != nil {
			return fmt.Errorf("federated session: %w", err)
		}
		return nil
	})
}

// spendJTI records an identity token's jti until it expires; ErrJTISpent when it is recorded
// already. A jti whose token has expired is forgotten first, so the table holds live tokens only.
func spendJTI(ctx context.Context, tx *sql.Tx, jti *keyward.SpentJTI, now time.Time) error {
	if jti == nil {
		return nil
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM federation_jtis WHERE issuer = $1 AND jti = $2 AND expires_at <= $3", jti.Issuer, jti.JTI, micros(now)); err != nil {
		return fmt.Errorf("spend jti: %w", err)
	}
	_, err := tx.ExecContext(ctx, "INSERT INTO federation_jtis (issuer, jti, expires_at) VALUES ($1, $2, $3)", jti.Issuer, jti.JTI, micros(jti.Expires))
	if isUnique(err) {
		return keyward.ErrJTISpent
	} else if err != nil {
		return fmt.Errorf("spend jti: %w", err)
	}
	return nil
}
