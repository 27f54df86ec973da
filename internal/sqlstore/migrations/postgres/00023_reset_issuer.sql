-- Keep this file in step with ../sqlite/00023_reset_issuer.sql.
--
-- A password reset link records the administrator who issued it: it works only while they are
-- still an enabled administrator, so a link handed out by someone who was since demoted,
-- disabled or deleted cannot take over the account. Links issued before this migration have no
-- issuer and keep working for the hour they have left.

-- +goose Up
ALTER TABLE password_resets ADD COLUMN issued_by TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE password_resets DROP COLUMN issued_by;
