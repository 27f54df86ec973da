-- Keep this file in step with ../postgres/00020_dpop.sql.
--
-- DPoP (RFC 9449): a key, a role or a project may require proof-of-possession tokens, and a
-- session started with a DPoP proof remembers the thumbprint of its key (RFC 7638), so that
-- every refresh of it must be proved by the same key. '' is a bearer session.

-- +goose Up
ALTER TABLE api_keys ADD COLUMN require_dpop BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE roles ADD COLUMN require_dpop BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE projects ADD COLUMN require_dpop BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN dpop_jkt TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE sessions DROP COLUMN dpop_jkt;
ALTER TABLE projects DROP COLUMN require_dpop;
ALTER TABLE roles DROP COLUMN require_dpop;
ALTER TABLE api_keys DROP COLUMN require_dpop;
