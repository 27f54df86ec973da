package main

import (
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/kwtest"
)

// TestPasswd: keyward passwd reads the current and new password from standard input, keeps this
// login, ends the other one, and the new password signs in where the old one no longer does.
func TestPasswd(t *testing.T) {
	s, c := signedIn(t)
	other := newCLI(t, s.URL)
	other.login(t)

	r := c.run("not-the-password\nbrand new passphrase\n", nil, "passwd")
	if r.code != 1 || !strings.Contains(r.stderr, "current password is wrong") || strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("passwd with a wrong current password: %s", r)
	}
	r = c.run(kwtest.AdminPassword+"\npassword1\n", nil, "passwd")
	if r.code != 1 || !strings.Contains(r.stderr, "most common") {
		t.Fatalf("passwd to a common password: %s", r)
	}
	c.fails(2, "takes no arguments", nil, "passwd", "x")

	r = c.run(kwtest.AdminPassword+"\nbrand new passphrase\n", nil, "passwd")
	if r.code != 0 || !strings.Contains(r.stdout, "Password changed") || strings.Contains(r.stdout+r.stderr, "passphrase") {
		t.Fatalf("passwd: %s", r)
	}
	c.ok("projects", "list")
	if r := other.run("", nil, "projects", "list"); r.code == 0 {
		t.Fatalf("the other login still works: %s", r)
	}
	if r := other.run(kwtest.AdminPassword+"\n", nil, "login", "--email", kwtest.AdminEmail); r.code == 0 {
		t.Fatalf("the old password still signs in: %s", r)
	}
	if r := other.run("brand new passphrase\n", nil, "login", "--email", kwtest.AdminEmail); r.code != 0 {
		t.Fatalf("the new password does not sign in: %s", r)
	}
}
