-- Keep this file in step with ../postgres/00005_write_probe.sql.
--
-- One row that readiness rewrites to learn whether the database still accepts writes, when no
-- write of real traffic has told it lately (see DB.Ping).

-- +goose Up
CREATE TABLE write_probe (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    written_at BIGINT NOT NULL
);
INSERT INTO write_probe (id, written_at) VALUES (1, 0);

-- +goose Down
DROP TABLE write_probe;
