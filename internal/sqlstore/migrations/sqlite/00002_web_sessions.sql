-- Dashboard logins. Keep this file in step with ../postgres/00002_web_sessions.sql.

-- +goose Up
-- The primary key is the SHA-256 of the cookie secret: the secret itself is never stored.
-- Deleting a user deletes their logins; disabling one deletes them in the store's transaction.
CREATE TABLE web_sessions (
    hash         BLOB   PRIMARY KEY,
    user_id      TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX web_sessions_user_id ON web_sessions (user_id);
CREATE INDEX web_sessions_expires_at ON web_sessions (expires_at);

-- +goose Down
DROP TABLE web_sessions;
