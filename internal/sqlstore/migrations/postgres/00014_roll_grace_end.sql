-- Keep this file in step with ../sqlite/00014_roll_grace_end.sql.
--
-- When a rolled key's grace ends, the server ends the sessions its previous secret started
-- (EndRollGraces) and marks the key, so that it does so once. The partial index holds only the
-- keys whose grace has yet to be ended: a handful, whatever the number of keys.

-- +goose Up
ALTER TABLE api_keys ADD COLUMN grace_ended BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE api_keys SET grace_ended = (previous_secret_hash IS NULL);
CREATE INDEX api_keys_grace_pending ON api_keys (previous_expires_at) WHERE previous_secret_hash IS NOT NULL AND NOT grace_ended;

-- +goose Down
DROP INDEX api_keys_grace_pending;
ALTER TABLE api_keys DROP COLUMN grace_ended;
