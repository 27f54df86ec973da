-- Keep this file in step with ../sqlite/00022_key_policy.sql.
--
-- A project's key policy: its keys must expire, within key_max_lifetime (nanoseconds, 0: no
-- maximum) of the change that sets the expiry, and must be restricted to networks.

-- +goose Up
ALTER TABLE projects ADD COLUMN key_require_expiry BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE projects ADD COLUMN key_max_lifetime BIGINT NOT NULL DEFAULT 0;
ALTER TABLE projects ADD COLUMN key_require_ips BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE projects DROP COLUMN key_require_ips;
ALTER TABLE projects DROP COLUMN key_max_lifetime;
ALTER TABLE projects DROP COLUMN key_require_expiry;
