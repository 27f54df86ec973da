-- Keep this file in step with ../postgres/00011_key_roll.sql.
--
-- A key can be rolled: it gets a new secret and keeps the previous one until a grace period ends.
-- secret_gen counts the key's secrets; a session records the generation of the secret that
-- started it, so that the sessions of a secret end with it.

-- +goose Up
ALTER TABLE api_keys ADD COLUMN previous_secret_hash BLOB;
ALTER TABLE api_keys ADD COLUMN previous_expires_at BIGINT;
ALTER TABLE api_keys ADD COLUMN secret_gen BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN secret_gen BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE sessions DROP COLUMN secret_gen;
ALTER TABLE api_keys DROP COLUMN secret_gen;
ALTER TABLE api_keys DROP COLUMN previous_expires_at;
ALTER TABLE api_keys DROP COLUMN previous_secret_hash;
