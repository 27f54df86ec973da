package main

import (
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/kwtest"
	"github.com/keyward/keyward/internal/twofactor"
)

// TestLoginSecondFactor: keyward login of a user with two-factor sign-in on asks for the code
// after the password (read from the next line of standard input here), refuses without one,
// and signs in with a current code or a recovery code.
func TestLoginSecondFactor(t *testing.T) {
	s := startServer(t)
	secret, codes := s.EnrolTOTP(t, kwtest.AdminEmail)
	c := newCLI(t, s.URL)

	r := c.run(kwtest.AdminPassword+"\n", nil, "login", "--email", kwtest.AdminEmail)
	if r.code == 0 || !strings.Contains(r.stderr, "two-factor") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("login without a code: %s", r)
	}
	r = c.run(kwtest.AdminPassword+"\n000000x\n", nil, "login", "--email", kwtest.AdminEmail)
	if r.code != 1 || !strings.Contains(r.stderr, "second factor is wrong") {
		t.Errorf("login with a wrong code: %s", r)
	}
	c.fails(1, "not logged in", nil, "projects", "list")

	code := twofactor.Code(secret, twofactor.Step(s.Clock.Now()))
	r = c.run(kwtest.AdminPassword+"\n"+code+"\n", nil, "login", "--email", kwtest.AdminEmail)
	if r.code != 0 || !strings.Contains(r.stdout, "Logged in") {
		t.Fatalf("login with a code: %s", r)
	}
	c.ok("projects", "list")

	r = c.run(kwtest.AdminPassword+"\n"+codes[3]+"\n", nil, "login", "--email", kwtest.AdminEmail)
	if r.code != 0 {
		t.Fatalf("login with a recovery code: %s", r)
	}
	r = c.run(kwtest.AdminPassword+"\n"+codes[3]+"\n", nil, "login", "--email", kwtest.AdminEmail)
	if r.code != 1 || !strings.Contains(r.stderr, "second factor is wrong") {
		t.Errorf("login with a spent recovery code: %s", r)
	}
}
