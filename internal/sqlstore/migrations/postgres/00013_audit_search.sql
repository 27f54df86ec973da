-- Keep this file in step with ../sqlite/00013_audit_search.sql.
--
-- A search of the audit log (?q=) is a union of equalities: the events whose target, actor or
-- action is one value. Each index below serves one of them newest first, from a page's cursor
-- on, so a page of a search reads at most a page of each, however long the project's log is.
-- The action index also lists the actions a project's log holds, for a search by the beginning
-- of an action (api_key finds api_key.created, api_key.deleted, …).

-- +goose Up
CREATE INDEX audit_events_target ON audit_events (project_id, target, id);
CREATE INDEX audit_events_actor ON audit_events (project_id, actor, id);
CREATE INDEX audit_events_action ON audit_events (project_id, action, id);

-- +goose Down
DROP INDEX audit_events_action;
DROP INDEX audit_events_actor;
DROP INDEX audit_events_target;
