// Package sqlstore owns keyward's storage: one keyward.Store over database/sql that serves SQLite and PostgreSQL with the same SQL text, and the schema migrations of both.
package sqlstore
