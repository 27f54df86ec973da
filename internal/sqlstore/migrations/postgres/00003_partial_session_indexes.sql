-- Keep this file in step with ../sqlite/00003_partial_session_indexes.sql.
--
-- A session is either a key's or a user's, and it is looked up by key only as a key session and
-- by user only as a user session: each index holds its own kind only, so a key exchange (the
-- busiest write) no longer inserts into the user index, nor a login into the key index.
-- The queries that use them name the kind literally, which lets the planner choose them.

-- +goose Up
DROP INDEX sessions_key_id;
DROP INDEX sessions_user_id;
CREATE INDEX sessions_key_id ON sessions (key_id) WHERE kind = 'key';
CREATE INDEX sessions_user_id ON sessions (user_id) WHERE kind = 'user';

-- +goose Down
DROP INDEX sessions_key_id;
DROP INDEX sessions_user_id;
CREATE INDEX sessions_key_id ON sessions (key_id);
CREATE INDEX sessions_user_id ON sessions (user_id);
