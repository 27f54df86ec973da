-- Keep this file in step with ../postgres/00005_web_session_flash.sql.

-- +goose Up
-- What the dashboard shows once after a redirect (a new API key, a deletion), encrypted by the
-- dashboard with a key derived from the cookie secret, which the store never sees.
ALTER TABLE web_sessions ADD COLUMN flash BLOB;

-- +goose Down
ALTER TABLE web_sessions DROP COLUMN flash;
