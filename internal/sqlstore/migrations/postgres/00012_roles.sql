-- Keep this file in step with ../sqlite/00012_roles.sql.
--
-- A role is a named set of permissions of one project; members and keys hold at most one, beside
-- their own permissions. The owner role (owner = TRUE) holds every permission of the catalog,
-- which the server writes into it at start. A role in use cannot be deleted: the foreign keys
-- refuse it. Existing projects get their default roles from the server at start (SeedRoles),
-- since the roles depend on the permission catalog, which the schema does not know.

-- +goose Up
CREATE TABLE roles (
    id          TEXT    PRIMARY KEY,
    project_id  TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name        TEXT COLLATE "C" NOT NULL,
    name_key    TEXT COLLATE "C" NOT NULL,
    description TEXT    NOT NULL,
    permissions TEXT    NOT NULL,
    owner       BOOLEAN NOT NULL,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL
);
CREATE UNIQUE INDEX roles_project_name_key ON roles (project_id, name_key);
ALTER TABLE members ADD COLUMN role_id TEXT REFERENCES roles (id);
ALTER TABLE api_keys ADD COLUMN role_id TEXT REFERENCES roles (id);
CREATE INDEX members_role_id ON members (role_id);
CREATE INDEX api_keys_role_id ON api_keys (role_id);

-- +goose Down
DROP INDEX api_keys_role_id;
DROP INDEX members_role_id;
ALTER TABLE api_keys DROP COLUMN role_id;
ALTER TABLE members DROP COLUMN role_id;
DROP TABLE roles;
