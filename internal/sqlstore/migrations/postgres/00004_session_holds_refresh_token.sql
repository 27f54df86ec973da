-- Keep this file in step with ../sqlite/00004_session_holds_refresh_token.sql, which explains
-- the change: a session row holds the hash of its one live refresh token, refresh_tokens keeps
-- the spent tokens keyed by session, legacy_refresh_tokens finds the session of a token issued
-- before this migration, and sessions are swept by the expiry of their refresh token.

-- +goose Up
ALTER TABLE sessions
    ADD COLUMN refresh_hash       BYTEA,
    ADD COLUMN refresh_issued_at  BIGINT,
    ADD COLUMN refresh_expires_at BIGINT;

UPDATE sessions s SET
    refresh_hash = coalesce((SELECT t.hash FROM refresh_tokens t WHERE t.session_id = s.id AND t.consumed_at IS NULL
                             ORDER BY t.issued_at DESC LIMIT 1), ''::bytea),
    refresh_issued_at = coalesce((SELECT max(t.issued_at) FROM refresh_tokens t WHERE t.session_id = s.id), s.created_at),
    refresh_expires_at = coalesce((SELECT max(t.expires_at) FROM refresh_tokens t WHERE t.session_id = s.id), s.created_at);

ALTER TABLE sessions
    ALTER COLUMN refresh_hash SET NOT NULL,
    ALTER COLUMN refresh_issued_at SET NOT NULL,
    ALTER COLUMN refresh_expires_at SET NOT NULL;
DROP INDEX sessions_expires_at;
CREATE INDEX sessions_refresh_expires_at ON sessions (refresh_expires_at);

CREATE TABLE legacy_refresh_tokens (
    hash       BYTEA  PRIMARY KEY,
    session_id TEXT   NOT NULL,
    expires_at BIGINT NOT NULL
);
INSERT INTO legacy_refresh_tokens SELECT hash, session_id, expires_at FROM refresh_tokens;
CREATE INDEX legacy_refresh_tokens_expires_at ON legacy_refresh_tokens (expires_at);

DELETE FROM refresh_tokens WHERE consumed_at IS NULL;
ALTER TABLE refresh_tokens DROP CONSTRAINT refresh_tokens_session_id_fkey;
DROP INDEX refresh_tokens_session_id;
ALTER TABLE refresh_tokens DROP CONSTRAINT refresh_tokens_pkey;
ALTER TABLE refresh_tokens ADD PRIMARY KEY (session_id, hash);
ALTER TABLE refresh_tokens ALTER COLUMN consumed_at SET NOT NULL;

-- +goose Down
ALTER TABLE refresh_tokens ALTER COLUMN consumed_at DROP NOT NULL;
ALTER TABLE refresh_tokens DROP CONSTRAINT refresh_tokens_pkey;
DELETE FROM refresh_tokens WHERE session_id NOT IN (SELECT id FROM sessions);
INSERT INTO refresh_tokens (hash, session_id, issued_at, expires_at, consumed_at)
SELECT refresh_hash, id, refresh_issued_at, refresh_expires_at, NULL FROM sessions WHERE length(refresh_hash) > 0
AND refresh_hash NOT IN (SELECT hash FROM refresh_tokens);
ALTER TABLE refresh_tokens ADD PRIMARY KEY (hash);
ALTER TABLE refresh_tokens ADD CONSTRAINT refresh_tokens_session_id_fkey
    FOREIGN KEY (session_id) REFERENCES sessions (id) ON DELETE CASCADE;
CREATE INDEX refresh_tokens_session_id ON refresh_tokens (session_id);
DROP TABLE legacy_refresh_tokens;
DROP INDEX sessions_refresh_expires_at;
CREATE INDEX sessions_expires_at ON sessions (expires_at);
ALTER TABLE sessions DROP COLUMN refresh_hash, DROP COLUMN refresh_issued_at, DROP COLUMN refresh_expires_at;
