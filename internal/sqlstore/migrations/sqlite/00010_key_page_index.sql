-- Keep this file in step with ../postgres/00010_key_page_index.sql.
--
-- A page of a project's keys is a range of (project_id, created_at, id), the order keys are
-- listed in, so that the id that breaks ties between keys created in the same microsecond comes
-- from the index too. The prefix search on names uses the unique index on (project_id, name_key).

-- +goose Up
CREATE INDEX api_keys_project_created_id ON api_keys (project_id, created_at, id);
DROP INDEX api_keys_project_created;

-- +goose Down
CREATE INDEX api_keys_project_created ON api_keys (project_id, created_at);
DROP INDEX api_keys_project_created_id;
