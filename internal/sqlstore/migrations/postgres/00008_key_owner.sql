-- Keep this file in step with ../sqlite/00008_key_owner.sql.
--
-- A key acts for its owner (a user id) and never holds more than the owner holds in the key's
-- project; disabled_at is set when the owner is removed from the project or disabled.
-- Existing keys are owned by their creator: the user who created them, or the owner of the key
-- that did (followed through chains of keys creating keys, up to eight deep). A key whose
-- creating key is gone keeps the empty owner and no longer exchanges.

-- +goose Up
ALTER TABLE api_keys ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN disabled_at BIGINT;
UPDATE api_keys SET owner = substr(created_by, 6) WHERE created_by LIKE 'user:%';
UPDATE api_keys SET owner = (SELECT p.owner FROM api_keys p WHERE p.id = substr(api_keys.created_by, 5))
    WHERE owner = '' AND created_by LIKE 'key:%'
    AND EXISTS (SELECT 1 FROM api_keys p WHERE p.id = substr(api_keys.created_by, 5) AND p.owner <> '');
UPDATE api_keys SET owner = (SELECT p.owner FROM api_keys p WHERE p.id = substr(api_keys.created_by, 5))
    WHERE owner = '' AND created_by LIKE 'key:%'
    AND EXISTS (SELECT 1 FROM api_keys p WHERE p.id = substr(api_keys.created_by, 5) AND p.owner <> '');
UPDATE api_keys SET owner = (SELECT p.owner FROM api_keys p WHERE p.id = substr(api_keys.created_by, 5))
    WHERE owner = '' AND created_by LIKE 'key:%'
    AND EXISTS (SELECT 1 FROM api_keys p WHERE p.id = substr(api_keys.created_by, 5) AND p.owner <> '');
UPDATE api_keys SET owner = (SELECT p.owner FROM api_keys p WHERE p.id = substr(api_keys.created_by, 5))
    WHERE owner = '' AND created_by LIKE 'key:%'
    AND EXISTS (SELECT 1 FROM api_keys p WHERE p.id = substr(api_keys.created_by, 5) AND p.owner <> '');
UPDATE api_keys SET owner = (SELECT p.owner FROM api_keys p WHERE p.id = substr(api_keys.created_by, 5))
    WHERE owner = '' AND created_by LIKE 'key:%'
    AND EXISTS (SELECT 1 FROM api_keys p WHERE p.id = substr(api_keys.created_by, 5) AND p.owner <> '');
UPDATE api_keys SET owner = (SELECT p.owner FROM api_keys p WHERE p.id = substr(api_keys.created_by, 5))
    WHERE owner = '' AND created_by LIKE 'key:%'
    AND EXISTS (SELECT 1 FROM api_keys p WHERE p.id = substr(api_keys.created_by, 5) AND p.owner <> '');
UPDATE api_keys SET owner = (SELECT p.owner FROM api_keys p WHERE p.id = substr(api_keys.created_by, 5))
    WHERE owner = '' AND created_by LIKE 'key:%'
    AND EXISTS (SELECT 1 FROM api_keys p WHERE p.id = substr(api_keys.created_by, 5) AND p.owner <> '');
UPDATE api_keys SET owner = (SELECT p.owner FROM api_keys p WHERE p.id = substr(api_keys.created_by, 5))
    WHERE owner = '' AND created_by LIKE 'key:%'
    AND EXISTS (SELECT 1 FROM api_keys p WHERE p.id = substr(api_keys.created_by, 5) AND p.owner <> '');
CREATE INDEX api_keys_owner ON api_keys (owner, project_id);

-- +goose Down
DROP INDEX api_keys_owner;
ALTER TABLE api_keys DROP COLUMN disabled_at;
ALTER TABLE api_keys DROP COLUMN owner;
