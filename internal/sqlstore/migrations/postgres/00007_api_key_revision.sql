-- API keys become editable: a revision, bumped by every edit, lets a session start only from
-- the key as it is now, however old the copy the exchange read.

-- +goose Up
ALTER TABLE api_keys ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE api_keys DROP COLUMN revision;
