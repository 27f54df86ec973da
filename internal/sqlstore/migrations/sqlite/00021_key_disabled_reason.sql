-- Keep this file in step with ../postgres/00021_key_disabled_reason.sql.
--
-- Why a key is disabled: its owner's departure (owner_removed, owner_disabled, owner_deleted) or
-- a leak (leaked), which only a roll undoes. '' while the key works, and for keys disabled
-- before the reason was recorded.

-- +goose Up
ALTER TABLE api_keys ADD COLUMN disabled_reason TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE api_keys DROP COLUMN disabled_reason;
