package server

import (
	"context"
	"fmt"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/password"
)

// DefaultAdminEmail is the instance admin's address when KEYWARD_ADMIN_EMAIL is not set.
const DefaultAdminEmail = "admin@keyward.localhost"

// bootstrap makes an empty instance usable: the instance admin (from the configuration, or with a
// generated password printed once) and a project named "default" that the admin fully controls.
// It does nothing once any user exists, so a restart never prints or changes a password.
func (s *Server) bootstrap(ctx context.Context) error {
	n, err := s.store.CountUsers(ctx)
	if err != nil {
		return fmt.Errorf("count users: %w", err)
	}
	cfg := s.cfg
	if n > 0 {
		if set := adminVariablesSet(cfg); set != "" {
			s.log.Warn(set + " on the first start (database: " + s.db.location + ")")
		}
		return nil
	}
	email := cfg.AdminEmail // normalized by Config.normalize
	if email == "" {
		email = DefaultAdminEmail
	}
	pw := cfg.AdminPassword
	generated := pw == ""
	if generated {
		if pw, err = keyward.RandomBase62(cfg.Rand, 24); err != nil {
			return err
		}
	} else if err := password.Validate(pw); err != nil {
		return fmt.Errorf("KEYWARD_ADMIN_PASSWORD: %s", keyward.ErrorMessage(err))
	}
	hasher := password.NewHasher(password.DefaultParams, 1)
	hash, err := hasher.Hash(ctx, pw, cfg.Rand)
	if err != nil {
		return err
	}
	now := cfg.Now().UTC()
	uid, err := keyward.NewID(cfg.Rand, keyward.PrefixUser)
	if err != nil {
		return err
	}
	u := &keyward.User{ID: uid, Email: email, PasswordHash: hash, Admin: true, CreatedAt: now}
	if err := s.store.CreateUser(ctx, u); err != nil {
		if keyward.ErrorCode(err) == keyward.ECONFLICT {
			return nil // another instance bootstrapped the same database first
		}
		return fmt.Errorf("create admin: %w", err)
	}
	pid, err := keyward.NewID(cfg.Rand, keyward.PrefixProject)
	if err != nil {
		return err
	}
	p := &keyward.Project{ID: pid, Name: "default", CreatedAt: now}
	m := &keyward.Member{ProjectID: pid, UserID: uid, Permissions: s.catalog.Names(), CreatedAt: now, UpdatedAt: now}
	if err := s.store.CreateProject(ctx, p, m); err != nil && keyward.ErrorCode(err) != keyward.ECONFLICT {
		return fmt.Errorf("create default project: %w", err)
	}
	_ = s.store.AppendAudit(ctx, &keyward.AuditEvent{ProjectID: pid, At: now, Actor: "user:" + uid,
		Action: keyward.AuditProjectCreated, Target: "project:" + pid, Detail: "created at first start"})
	what := "created the instance admin of the database " + s.db.location
	if s.db.created {
		what = "created the instance admin of the new database " + s.db.location
	} else if !s.db.sqlite {
		what = "created the instance admin of the empty database " + s.db.location
	}
	if generated {
		// Printed once, to standard output rather than the log, so it does not end up in log
		// aggregation; it is never shown again.
		fmt.Fprintf(cfg.Stdout, "\nkeyward: %s\n  email:    %s\n  password: %s\n"+
			"This password is shown once. Log in and keep it in a password manager.\n\n", what, email, pw)
	} else {
		s.log.Info(what, "email", email)
	}
	return nil
}

// adminVariablesSet says which first-start variables are set although the database already has
// users, or returns "" when neither is. Only their names: never the password.
func adminVariablesSet(cfg Config) string {
	const users = " but this database already has users; "
	switch {
	case cfg.AdminEmail != "" && cfg.AdminPassword != "":
		return "KEYWARD_ADMIN_EMAIL and KEYWARD_ADMIN_PASSWORD are set" + users + "they are only read"
	case cfg.AdminEmail != "":
		return "KEYWARD_ADMIN_EMAIL is set" + users + "it is only read"
	case cfg.AdminPassword != "":
		return "KEYWARD_ADMIN_PASSWORD is set" + users + "it is only read"
	}
	return ""
}
