-- Keep this file in step with ../sqlite/00016_invites.sql.
--
-- Pending invitations to a project. The primary key of a link is the SHA-256 of its token: the
-- token itself is never stored. An invitation is deleted when it is accepted or revoked, and
-- with its project or its role, or swept once expired; an address has at most one pending
-- invitation per project.

-- +goose Up
CREATE TABLE invites (
    id         TEXT   PRIMARY KEY,
    project_id TEXT   NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    email      TEXT   COLLATE "C" NOT NULL,
    role_id    TEXT   NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    hash       BYTEA  NOT NULL UNIQUE,
    created_by TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX invites_project_email ON invites (project_id, email);
CREATE INDEX invites_role_id ON invites (role_id);
CREATE INDEX invites_expires_at ON invites (expires_at);

-- +goose Down
DROP TABLE invites;
