-- Keep this file in step with ../postgres/00024_webhooks.sql.
--
-- Webhooks and their outbox. A change that emits an event inserts one row per subscribed
-- webhook into webhook_messages in its own transaction, so an event is never lost once the
-- change commits, and never sent for a change that rolled back. Senders claim due rows with a
-- lease (leased_until) and record every attempt. Signing secrets are sealed with the master key.
-- api_keys.expiry_reminded is the shortest api_key.expiring reminder sent for the key's expiry
-- (0: none yet, then 7, then 1); a new expiry sets it back to 0.

-- +goose Up
CREATE TABLE webhooks (
    id                   TEXT   PRIMARY KEY,
    project_id           TEXT   NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    url                  TEXT   NOT NULL,
    events               TEXT   NOT NULL, -- space-separated event types
    owner_id             TEXT   NOT NULL,
    secret               BLOB  NOT NULL,
    previous_secret      BLOB,
    previous_expires_at  BIGINT,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL
);
CREATE INDEX webhooks_project_id ON webhooks (project_id, created_at);

CREATE TABLE webhook_messages (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id      TEXT   NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    project_id      TEXT   NOT NULL,
    msg_id          TEXT   NOT NULL UNIQUE,
    event_type      TEXT   NOT NULL,
    body            TEXT   NOT NULL,
    created_at      BIGINT NOT NULL,
    state           TEXT   NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    window_attempts INTEGER NOT NULL DEFAULT 0, -- attempts since the window began, for the backoff
    next_attempt_at BIGINT,   -- set while pending
    leased_until    BIGINT NOT NULL DEFAULT 0,
    window_ends_at  BIGINT NOT NULL, -- retried until then
    last_status     INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT   NOT NULL DEFAULT '',
    delivered_at    BIGINT
);
CREATE INDEX webhook_messages_due ON webhook_messages (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_messages_webhook ON webhook_messages (webhook_id, seq);
CREATE INDEX webhook_messages_window_ends_at ON webhook_messages (window_ends_at);

CREATE TABLE webhook_attempts (
    msg_id      TEXT    NOT NULL REFERENCES webhook_messages (msg_id) ON DELETE CASCADE,
    at          BIGINT  NOT NULL,
    duration_us BIGINT  NOT NULL,
    status      INTEGER NOT NULL,
    response    TEXT    NOT NULL,
    error       TEXT    NOT NULL
);
CREATE INDEX webhook_attempts_msg_id ON webhook_attempts (msg_id, at);

ALTER TABLE api_keys ADD COLUMN expiry_reminded INTEGER NOT NULL DEFAULT 0;
CREATE INDEX api_keys_expiry_reminder ON api_keys (expires_at) WHERE expires_at IS NOT NULL AND expiry_reminded <> 1;

-- +goose Down
DROP INDEX api_keys_expiry_reminder;
ALTER TABLE api_keys DROP COLUMN expiry_reminded;
DROP TABLE webhook_attempts;
DROP TABLE webhook_messages;
DROP TABLE webhooks;
