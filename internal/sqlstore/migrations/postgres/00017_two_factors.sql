-- Keep this file in step with ../sqlite/00017_two_factors.sql.
--
-- Second factors: a TOTP secret per user (sealed with the master key when one is configured,
-- never hashed: codes are computed from it), its single-use recovery codes (hashed), the
-- half-done sign-ins awaiting a second factor (the secret hashed), and the project setting that
-- refuses members without a second factor.

-- +goose Up
CREATE TABLE user_totp (
    user_id    TEXT    PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret     BYTEA   NOT NULL,
    sealed     BOOLEAN NOT NULL,
    confirmed  BOOLEAN NOT NULL,
    last_step  BIGINT  NOT NULL,
    created_at BIGINT  NOT NULL
);

CREATE TABLE recovery_codes (
    user_id TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hash    BYTEA  NOT NULL,
    used_at BIGINT,
    PRIMARY KEY (user_id, hash)
);

CREATE TABLE login_challenges (
    hash       BYTEA  PRIMARY KEY,
    user_id    TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    next       TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX login_challenges_expiry ON login_challenges (expires_at);

ALTER TABLE projects ADD COLUMN require_2fa BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE projects DROP COLUMN require_2fa;
DROP TABLE login_challenges;
DROP TABLE recovery_codes;
DROP TABLE user_totp;
