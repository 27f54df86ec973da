-- Keep this file in step with ../postgres/00018_device_authorizations.sql.
--
-- Sign-ins of the device authorization grant (RFC 8628): the CLI polls with a device code while
-- a person approves the user code in the dashboard. Only the SHA-256 of each code is stored.
-- A redeemed authorization stays until it expires, so that its device code is refused as used.

-- +goose Up
CREATE TABLE device_authorizations (
    device_hash    BLOB   PRIMARY KEY,
    user_code_hash BLOB   NOT NULL UNIQUE,
    client_id      TEXT    NOT NULL,
    project        TEXT    NOT NULL DEFAULT '',
    scope          TEXT,
    ip             TEXT    NOT NULL,
    created_at     BIGINT  NOT NULL,
    expires_at     BIGINT  NOT NULL,
    interval_ms    BIGINT  NOT NULL,
    last_polled_at BIGINT,
    status         TEXT    NOT NULL DEFAULT 'pending',
    user_id        TEXT    REFERENCES users (id) ON DELETE CASCADE,
    decided_at     BIGINT,
    redeemed       BOOLEAN NOT NULL DEFAULT 0
);
CREATE INDEX device_authorizations_expires_at ON device_authorizations (expires_at);
CREATE INDEX device_authorizations_user_id ON device_authorizations (user_id);

-- +goose Down
DROP TABLE device_authorizations;
