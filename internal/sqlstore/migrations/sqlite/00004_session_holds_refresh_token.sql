-- Keep this file in step with ../postgres/00004_session_holds_refresh_token.sql.
--
-- A session row holds the hash of its one live refresh token, so that a key exchange writes one
-- row instead of two. New refresh tokens carry their session's id, and a refresh finds the
-- session by primary key. refresh_tokens keeps only the tokens that were spent, to recognise
-- reuse, keyed by session first: a session's spent tokens sit together, and they expire (and are
-- swept) in about the order their sessions began. legacy_refresh_tokens maps the hash of every
-- token issued before this migration, which names no session, to its session; it empties itself
-- as they expire.
--
-- The tables are WITHOUT ROWID: a row lives in its primary key's b-tree, one b-tree per insert
-- instead of two. Session ids grow with time, so new sessions append to that b-tree.
-- Sessions are swept once their refresh token has expired: they can do nothing more, and every
-- access token of theirs expired before it.

-- +goose Up
CREATE TABLE sessions_v4 (
    id                 TEXT   PRIMARY KEY,
    kind               TEXT   NOT NULL,
    key_id             TEXT   NOT NULL,
    user_id            TEXT   NOT NULL,
    project_id         TEXT   NOT NULL,
    scope              TEXT, -- NULL: every permission of the credential; '' : none
    created_at         BIGINT NOT NULL,
    expires_at         BIGINT NOT NULL,
    revoked_at         BIGINT,
    revoke_reason      TEXT   NOT NULL,
    refresh_hash       BLOB   NOT NULL, -- empty when the session has no live token
    refresh_issued_at  BIGINT NOT NULL,
    refresh_expires_at BIGINT NOT NULL
) WITHOUT ROWID;

INSERT INTO sessions_v4
SELECT s.id, s.kind, s.key_id, s.user_id, s.project_id, s.scope, s.created_at, s.expires_at,
       s.revoked_at, s.revoke_reason,
       coalesce((SELECT t.hash FROM refresh_tokens t WHERE t.session_id = s.id AND t.consumed_at IS NULL
                 ORDER BY t.issued_at DESC LIMIT 1), X''),
       coalesce((SELECT max(t.issued_at) FROM refresh_tokens t WHERE t.session_id = s.id), s.created_at),
       coalesce((SELECT max(t.expires_at) FROM refresh_tokens t WHERE t.session_id = s.id), s.created_at)
FROM sessions s;

CREATE TABLE refresh_tokens_v4 (
    session_id  TEXT   NOT NULL,
    hash        BLOB   NOT NULL,
    issued_at   BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    consumed_at BIGINT NOT NULL,
    PRIMARY KEY (session_id, hash)
) WITHOUT ROWID;

INSERT INTO refresh_tokens_v4
SELECT session_id, hash, issued_at, expires_at, consumed_at FROM refresh_tokens WHERE consumed_at IS NOT NULL;

CREATE TABLE legacy_refresh_tokens (
    hash       BLOB   PRIMARY KEY,
    session_id TEXT   NOT NULL,
    expires_at BIGINT NOT NULL
) WITHOUT ROWID;

INSERT INTO legacy_refresh_tokens SELECT hash, session_id, expires_at FROM refresh_tokens;

DROP TABLE refresh_tokens;
DROP TABLE sessions;
ALTER TABLE sessions_v4 RENAME TO sessions;
ALTER TABLE refresh_tokens_v4 RENAME TO refresh_tokens;

CREATE INDEX sessions_key_id ON sessions (key_id) WHERE kind = 'key';
CREATE INDEX sessions_user_id ON sessions (user_id) WHERE kind = 'user';
CREATE INDEX sessions_refresh_expires_at ON sessions (refresh_expires_at);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);
CREATE INDEX legacy_refresh_tokens_expires_at ON legacy_refresh_tokens (expires_at);

-- +goose Down
CREATE TABLE sessions_v3 (
    id            TEXT   PRIMARY KEY,
    kind          TEXT   NOT NULL,
    key_id        TEXT   NOT NULL,
    user_id       TEXT   NOT NULL,
    project_id    TEXT   NOT NULL,
    scope         TEXT,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    revoked_at    BIGINT,
    revoke_reason TEXT   NOT NULL
);
INSERT INTO sessions_v3
SELECT id, kind, key_id, user_id, project_id, scope, created_at, expires_at, revoked_at, revoke_reason FROM sessions;

CREATE TABLE refresh_tokens_v3 (
    hash        BLOB   PRIMARY KEY,
    session_id  TEXT   NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    issued_at   BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    consumed_at BIGINT
);
-- Spent tokens and every session's live token go back to the table they came from; tokens of
-- the new format stay valid only as long as the code that reads them, so a downgrade ends those
-- sessions' refreshes.
INSERT INTO refresh_tokens_v3 SELECT hash, session_id, issued_at, expires_at, consumed_at FROM refresh_tokens
WHERE session_id IN (SELECT id FROM sessions_v3);
INSERT OR IGNORE INTO refresh_tokens_v3
SELECT refresh_hash, id, refresh_issued_at, refresh_expires_at, NULL FROM sessions WHERE length(refresh_hash) > 0;

DROP TABLE legacy_refresh_tokens;
DROP TABLE refresh_tokens;
DROP TABLE sessions;
ALTER TABLE sessions_v3 RENAME TO sessions;
ALTER TABLE refresh_tokens_v3 RENAME TO refresh_tokens;

CREATE INDEX sessions_key_id ON sessions (key_id) WHERE kind = 'key';
CREATE INDEX sessions_user_id ON sessions (user_id) WHERE kind = 'user';
CREATE INDEX sessions_expires_at ON sessions (expires_at);
CREATE INDEX refresh_tokens_session_id ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);
