-- Times are BIGINT Unix microseconds (UTC); lists are space-separated text.
-- Keep this file in step with ../sqlite/00001_init.sql: both engines run the same queries.
-- Ordered text columns use the "C" collation so that both engines sort byte-wise alike.

-- +goose Up
CREATE TABLE users (
    id            TEXT    PRIMARY KEY,
    email         TEXT    COLLATE "C" NOT NULL UNIQUE, -- lower-cased by the store
    password_hash TEXT    NOT NULL,
    admin         BOOLEAN NOT NULL,
    disabled      BOOLEAN NOT NULL,
    created_at    BIGINT  NOT NULL
);

CREATE TABLE projects (
    id         TEXT   PRIMARY KEY,
    name       TEXT   COLLATE "C" NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE members (
    project_id  TEXT   NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id     TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    permissions TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (project_id, user_id)
);
CREATE INDEX members_user_id ON members (user_id);

CREATE TABLE api_keys (
    id           TEXT   COLLATE "C" PRIMARY KEY,
    project_id   TEXT   NOT NULL REFERENCES projects (id),
    name         TEXT   COLLATE "C" NOT NULL,
    ips          TEXT   NOT NULL,
    permissions  TEXT   NOT NULL,
    secret_hash  BYTEA  NOT NULL,
    hint         TEXT   NOT NULL,
    created_by   TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    last_used_at BIGINT,
    last_used_ip TEXT   NOT NULL,
    UNIQUE (project_id, name)
);
CREATE INDEX api_keys_project_created ON api_keys (project_id, created_at);

-- No foreign keys to api_keys or users: a session outlives its deleted key so that its
-- revocation stays visible until every token of it has expired.
CREATE TABLE sessions (
    id            TEXT   PRIMARY KEY,
    kind          TEXT   NOT NULL,
    key_id        TEXT   NOT NULL,
    user_id       TEXT   NOT NULL,
    project_id    TEXT   NOT NULL,
    scope         TEXT, -- NULL: every permission of the credential; '' : none
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    revoked_at    BIGINT,
    revoke_reason TEXT   NOT NULL
);
CREATE INDEX sessions_key_id ON sessions (key_id);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE refresh_tokens (
    hash        BYTEA  PRIMARY KEY,
    session_id  TEXT   NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    issued_at   BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    consumed_at BIGINT
);
CREATE INDEX refresh_tokens_session_id ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

-- Writers take an EXCLUSIVE lock on this table before inserting, so sequence numbers become
-- visible in the order they were drawn (see the package documentation).
CREATE TABLE revocations (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind       TEXT   NOT NULL,
    id         TEXT   NOT NULL,
    project_id TEXT   NOT NULL,
    revoked_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX revocations_expires_at ON revocations (expires_at);

CREATE TABLE audit_events (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id TEXT   NOT NULL,
    at         BIGINT NOT NULL,
    actor      TEXT   NOT NULL,
    action     TEXT   NOT NULL,
    target     TEXT   NOT NULL,
    ip         TEXT   NOT NULL,
    detail     TEXT   NOT NULL
);
CREATE INDEX audit_events_project_id ON audit_events (project_id, id);

CREATE TABLE signing_keys (
    id           TEXT    COLLATE "C" PRIMARY KEY,
    alg          TEXT    NOT NULL,
    private      BYTEA   NOT NULL,
    sealed       BOOLEAN NOT NULL,
    created_at   BIGINT  NOT NULL,
    publish_at   BIGINT  NOT NULL,
    activate_at  BIGINT  NOT NULL,
    retire_at    BIGINT  NOT NULL,
    unpublish_at BIGINT  NOT NULL
);

-- The single row whose version guards the replacement of the whole signing key set.
CREATE TABLE signing_key_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT  NOT NULL
);
INSERT INTO signing_key_version (id, version) VALUES (1, 0);

-- +goose Down
DROP TABLE signing_key_version;
DROP TABLE signing_keys;
DROP TABLE audit_events;
DROP TABLE revocations;
DROP TABLE refresh_tokens;
DROP TABLE sessions;
DROP TABLE api_keys;
DROP TABLE members;
DROP TABLE projects;
DROP TABLE users;
