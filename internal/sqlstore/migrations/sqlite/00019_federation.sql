-- Keep this file in step with ../postgres/00019_federation.sql.
--
-- Workload identity federation: the OpenID providers a project trusts, the rules that turn
-- their identity tokens into keyward tokens, the sessions those tokens belong to (so that
-- deleting or narrowing a rule revokes them through the feed), and the jti of every identity
-- token spent, kept while the token lives so that it is accepted once.

-- +goose Up
CREATE TABLE federation_issuers (
    id          TEXT   PRIMARY KEY,
    project_id  TEXT   NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name        TEXT   NOT NULL,
    issuer      TEXT   NOT NULL,
    audiences   TEXT   NOT NULL,
    jwks_uri    TEXT   NOT NULL,
    preset      TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (project_id, name),
    UNIQUE (project_id, issuer)
);
CREATE INDEX federation_issuers_issuer ON federation_issuers (issuer);

CREATE TABLE federation_rules (
    id          TEXT   PRIMARY KEY,
    project_id  TEXT   NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name        TEXT   NOT NULL,
    issuer_id   TEXT   NOT NULL REFERENCES federation_issuers (id) ON DELETE CASCADE,
    conditions  TEXT   NOT NULL,
    target_key  TEXT   REFERENCES api_keys (id) ON DELETE CASCADE,
    target_role TEXT   REFERENCES roles (id), -- a targeted role is in use: DeleteRole refuses it
    ttl_ms      BIGINT NOT NULL,
    owner_id    TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (project_id, name)
);
CREATE INDEX federation_rules_issuer_id ON federation_rules (issuer_id);
CREATE INDEX federation_rules_target_key ON federation_rules (target_key);
CREATE INDEX federation_rules_target_role ON federation_rules (target_role);
CREATE INDEX federation_rules_owner_id ON federation_rules (owner_id);

CREATE TABLE federated_sessions (
    session_id TEXT PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
    rule_id    TEXT NOT NULL
);
CREATE INDEX federated_sessions_rule_id ON federated_sessions (rule_id);

CREATE TABLE federation_jtis (
    issuer     TEXT   NOT NULL,
    jti        TEXT   NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (issuer, jti)
);
CREATE INDEX federation_jtis_expires_at ON federation_jtis (expires_at);

-- +goose Down
DROP TABLE federation_jtis;
DROP TABLE federated_sessions;
DROP TABLE federation_rules;
DROP TABLE federation_issuers;
