-- Keep this file in step with ../sqlite/00005_web_session_flash.sql, which explains the column.

-- +goose Up
ALTER TABLE web_sessions ADD COLUMN flash BYTEA;

-- +goose Down
ALTER TABLE web_sessions DROP COLUMN flash;
