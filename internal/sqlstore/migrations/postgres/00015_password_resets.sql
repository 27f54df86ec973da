-- Keep this file in step with ../sqlite/00015_password_resets.sql.
--
-- Password reset links an instance administrator issues. As with dashboard logins, the primary
-- key is the SHA-256 of the link's secret: the secret itself is never stored. A user has at most
-- one link (issuing another replaces it); using it deletes it, and deleting the user deletes it.

-- +goose Up
CREATE TABLE password_resets (
    hash       BYTEA  PRIMARY KEY,
    user_id    TEXT   NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX password_resets_expires_at ON password_resets (expires_at);

-- +goose Down
DROP TABLE password_resets;
