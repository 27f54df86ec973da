-- Keep this file in step with ../sqlite/00017_two_factors.sql.
--
-- Second factors: a TOTP secret per user (sealed with the master key when one is configured,
-- never hashed: codes are computed from it), its single-use recovery codes (hashed), passkeys
-- (public keys) and the challenges of their ceremonies, the half-done sign-ins awaiting a second
-- factor (the secret hashed), and the project setting that refuses members without one.

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

CREATE TABLE passkeys (
    id            TEXT   PRIMARY KEY,
    user_id       TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id BYTEA  NOT NULL UNIQUE,
    name          TEXT   NOT NULL,
    credential    BYTEA  NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT
);
CREATE INDEX passkeys_user ON passkeys (user_id, created_at);

CREATE TABLE webauthn_ceremonies (
    hash       BYTEA  NOT NULL,
    purpose    TEXT   NOT NULL,
    user_id    TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    data       BYTEA  NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (hash, purpose)
);
CREATE INDEX webauthn_ceremonies_expiry ON webauthn_ceremonies (expires_at);

ALTER TABLE projects ADD COLUMN require_2fa BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE projects DROP COLUMN require_2fa;
DROP TABLE webauthn_ceremonies;
DROP TABLE passkeys;
DROP TABLE login_challenges;
DROP TABLE recovery_codes;
DROP TABLE user_totp;
