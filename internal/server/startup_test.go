package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/manage"
	"github.com/keyward/keyward/internal/server"
)

// TestConfigRejectsContradictions: settings that cannot work are refused before anything opens.
func TestConfigRejectsContradictions(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(*server.Config)
		want string
	}{
		{"negative database wait", func(c *server.Config) { c.DBWait = -time.Second }, "--db-wait"},
		{"no JWKS cache lifetime", func(c *server.Config) { c.JWKSCacheTTL = 0 }, "--jwks-cache-ttl"},
		{"maintenance slower than half the JWKS cache lifetime", func(c *server.Config) { c.KeyMaintenance = 6 * time.Minute }, "maintenance interval"},
		{"negative maintenance interval", func(c *server.Config) { c.KeyMaintenance = -time.Second }, "maintenance interval"},
		{"admin email that is not an address", func(c *server.Config) { c.AdminEmail = "not-an-email" }, `KEYWARD_ADMIN_EMAIL "not-an-email": Enter a plain email address`},
		{"every IPv4 interface without an issuer", func(c *server.Config) { c.Addr = "0.0.0.0:8080" }, "give --issuer"},
		{"every IPv6 interface without an issuer", func(c *server.Config) { c.Addr = "[::]:8080" }, "give --issuer"},
		{"every interface, no host, without an issuer", func(c *server.Config) { c.Addr = ":8080" }, "give --issuer"},
		{"address without a port", func(c *server.Config) { c.Addr = "127.0.0.1" }, `--addr "127.0.0.1" is not HOST:PORT`},
		{"metrics address without a port", func(c *server.Config) { c.MetricsAddr = "9090" }, `--metrics-addr "9090" is not HOST:PORT`},
		{"unknown log level", func(c *server.Config) { c.LogLevel = "loud" }, `--log-level must be debug, info, warn or error, got "loud"`},
		{"certificate without its key", func(c *server.Config) { c.TLSCert = "cert.pem" }, "--tls-cert and --tls-key go together"},
		{"key without its certificate", func(c *server.Config) { c.TLSKey = "key.pem" }, "--tls-cert and --tls-key go together"},
		{"certificate files that do not exist", func(c *server.Config) { c.TLSCert, c.TLSKey = "missing-cert.pem", "missing-key.pem" }, "--tls-cert missing-cert.pem, --tls-key missing-key.pem: open missing-cert.pem"},
		{"negative webhook retry base", func(c *server.Config) { c.WebhookRetryBase = -time.Second }, "--webhook-retry-base must be positive"},
		{"webhook retry base over an hour", func(c *server.Config) { c.WebhookRetryBase = 2 * time.Hour }, "--webhook-retry-base must be positive and at most 1h, got 2h0m0s"},
		{"admin password too short", func(c *server.Config) { c.AdminPassword = "short" }, "KEYWARD_ADMIN_PASSWORD: A password has at least"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := server.DefaultConfig()
			cfg.DB = "sqlite:" + filepath.Join(t.TempDir(), "never-created", "k.db")
			tc.set(&cfg)
			_, err := server.New(t.Context(), cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want an error naming %s", err, tc.want)
			}
			if _, statErr := os.Stat(filepath.Dir(strings.TrimPrefix(cfg.DB, "sqlite:"))); !errors.Is(statErr, fs.ErrNotExist) {
				t.Errorf("the database folder was created for a configuration that was refused (%v)", statErr)
			}
		})
	}
}

// TestUnreachableDatabaseAtStart: a database that refuses connections is retried for --db-wait,
// then New gives up with a message that says so; with --db-wait 0 it gives up at once.
func TestUnreachableDatabaseAtStart(t *testing.T) {
	// A port that was free a moment ago refuses connections.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	for _, tc := range []struct {
		wait    time.Duration
		retried bool
	}{
		{0, false},
		{700 * time.Millisecond, true},
	} {
		var logs bytes.Buffer
		cfg := server.DefaultConfig()
		cfg.DB = "postgres://keyward@" + addr + "/keyward?sslmode=disable"
		cfg.MasterKey = strings.Repeat("ab", 32)
		cfg.DBWait = tc.wait
		cfg.Stdout, cfg.Stderr = &logs, &logs
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		_, err := server.New(ctx, cfg)
		cancel()
		if err == nil {
			t.Fatalf("--db-wait %s: New succeeded without a database", tc.wait)
		}
		retried := strings.Contains(logs.String(), "database unreachable; retrying")
		if retried != tc.retried {
			t.Errorf("--db-wait %s: retried %t, want %t\n%s", tc.wait, retried, tc.retried, logs.String())
		}
		if tc.retried && !strings.Contains(err.Error(), "still unreachable after 700ms (--db-wait)") {
			t.Errorf("--db-wait %s: the error does not say it waited: %v", tc.wait, err)
		}
	}
}

// TestStartFailuresThatWaitingCannotCure end New at once, whatever --db-wait says.
func TestStartFailuresThatWaitingCannotCure(t *testing.T) {
	var logs bytes.Buffer
	cfg := server.DefaultConfig()
	dir := t.TempDir()
	cfg.DB = "sqlite:" + filepath.Join(dir, "k.db")
	cfg.MasterKey = "not a master key"
	cfg.DBWait = time.Hour
	cfg.Stdout, cfg.Stderr = &logs, &logs
	if _, err := server.New(t.Context(), cfg); err == nil || !strings.Contains(err.Error(), "KEYWARD_MASTER_KEY") {
		t.Fatalf("New with a malformed master key: %v", err)
	}
	cfg.MasterKey = ""
	cfg.DB = "mysql://root@db/keyward"
	if _, err := server.New(t.Context(), cfg); err == nil || !strings.Contains(err.Error(), "Unsupported database") {
		t.Fatalf("New with an unsupported database: %v", err)
	}
	if strings.Contains(logs.String(), "retrying") {
		t.Errorf("retried a failure that waiting cannot cure:\n%s", logs.String())
	}
}

// newServer starts New on cfg with its output captured, and closes the server at the end of the
// test.
func newServer(t *testing.T, cfg server.Config) (*server.Server, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	var stdout, logs bytes.Buffer
	cfg.Stdout, cfg.Stderr = &stdout, &logs
	s, err := server.New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("New: %v\n%s", err, logs.String())
	}
	t.Cleanup(func() { s.Close() })
	return s, &stdout, &logs
}

// TestListenFailuresNameTheFlag: an address that another process holds is one line naming the
// flag and what to do, not the socket call's error.
func TestListenFailuresNameTheFlag(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct {
		name string
		set  func(*server.Config)
		want string
	}{
		{"--addr", func(c *server.Config) { c.Addr = busy.Addr().String() }, "--addr " + busy.Addr().String() + ": the address is already in use, perhaps by another keyward serve: stop that server or choose another --addr"},
		{"--metrics-addr", func(c *server.Config) { c.Addr, c.MetricsAddr = "127.0.0.1:0", busy.Addr().String() }, "--metrics-addr " + busy.Addr().String() + ": the address is already in use"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := server.DefaultConfig()
			cfg.DB = "sqlite:" + filepath.Join(t.TempDir(), "k.db")
			tc.set(&cfg)
			s, _, _ := newServer(t, cfg)
			err := s.Run(t.Context(), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "listen tcp") {
				t.Fatalf("Run: %v, want %q", err, tc.want)
			}
		})
	}
}

// TestIssuerDerivedFromANamedAddress: loopback addresses and host names still give the default
// issuer; only an address of every interface needs --issuer.
func TestIssuerDerivedFromANamedAddress(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:8080", "[::1]:8080", "localhost:8080", "auth.internal:8080"} {
		cfg := server.DefaultConfig()
		cfg.DB = "sqlite:" + filepath.Join(t.TempDir(), "k.db")
		cfg.Addr = addr
		s, _, _ := newServer(t, cfg)
		if s.Issuer() != "http://"+addr {
			t.Errorf("--addr %s: issuer %s", addr, s.Issuer())
		}
	}
	cfg := server.DefaultConfig()
	cfg.DB = "sqlite:" + filepath.Join(t.TempDir(), "k.db")
	cfg.Addr, cfg.Issuer = "0.0.0.0:8080", "https://auth.example.com"
	if s, _, _ := newServer(t, cfg); s.Issuer() != "https://auth.example.com" {
		t.Errorf("--addr 0.0.0.0:8080 with --issuer: issuer %s", s.Issuer())
	}
}

// TestNewDatabaseIsAnnounced: the first start says where the database is and that it was
// created, and the admin line says the admin belongs to that new database; later starts say
// neither, and warn when the first-start variables are set again, without the password.
func TestNewDatabaseIsAnnounced(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.db")
	cfg := server.DefaultConfig()
	cfg.DB = "sqlite:" + path
	cfg.AdminEmail, cfg.AdminPassword = "Ada@Example.com", "first start password"
	s, _, logs := newServer(t, cfg)
	for _, want := range []string{"created a new database at " + path, "created the instance admin of the new database " + path, "email=ada@example.com"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("first start log lacks %q:\n%s", want, logs)
		}
	}
	s.Close()

	cfg.AdminEmail, cfg.AdminPassword = "bob@example.com", "second start password"
	_, _, logs = newServer(t, cfg)
	want := "KEYWARD_ADMIN_EMAIL and KEYWARD_ADMIN_PASSWORD are set but this database already has users; they are only read on the first start (database: " + path + ")"
	if !strings.Contains(logs.String(), want) || strings.Count(logs.String(), "\n") != 1 {
		t.Errorf("second start log is not the one warning %q:\n%s", want, logs)
	}
	if strings.Contains(logs.String(), "second start password") || strings.Contains(logs.String(), "created") {
		t.Errorf("second start log:\n%s", logs)
	}

	cfg.AdminEmail = ""
	_, _, logs = newServer(t, cfg)
	if !strings.Contains(logs.String(), "KEYWARD_ADMIN_PASSWORD is set but this database already has users; it is only read") {
		t.Errorf("a start with only the password set:\n%s", logs)
	}
}

// TestGeneratedAdminNamesItsDatabase: the printed password comes with the database it opens.
func TestGeneratedAdminNamesItsDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.db")
	cfg := server.DefaultConfig()
	cfg.DB = "sqlite:" + path
	_, stdout, _ := newServer(t, cfg)
	if !strings.Contains(stdout.String(), "keyward: created the instance admin of the new database "+path+"\n") {
		t.Errorf("standard output:\n%s", stdout)
	}
}

// TestSQLiteFailuresAreNotRetried: a SQLite database that cannot be opened ends New at once,
// whatever --db-wait says, with one line naming the path and the cause; a folder that does not
// exist is not created for a path the operator gave.
func TestSQLiteFailuresAreNotRetried(t *testing.T) {
	dir := t.TempDir()
	notADB := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notADB, []byte(strings.Repeat("not a database\n", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path, want string
	}{
		{notADB, "cannot open the SQLite database " + notADB + ": the file is not a SQLite database"},
		{filepath.Join(dir, "typo", "k.db"), "the folder " + filepath.Join(dir, "typo") + " does not exist"},
		{dir, dir + " is a folder"},
	} {
		var logs bytes.Buffer
		cfg := server.DefaultConfig()
		cfg.DB = "sqlite:" + tc.path
		cfg.DBWait = time.Hour
		cfg.Stdout, cfg.Stderr = &logs, &logs
		_, err := server.New(t.Context(), cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("--db sqlite:%s: %v, want one line with %q", tc.path, err, tc.want)
		}
		if logs.Len() > 0 {
			t.Errorf("--db sqlite:%s logged:\n%s", tc.path, logs.String())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "typo")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the mistyped folder was created (%v)", err)
	}
}

// TestCatalogWithoutManagementPermissions: a catalog without the permissions keyward's own API
// needs is refused, naming them; one that has them starts.
func TestCatalogWithoutManagementPermissions(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, perms ...string) string {
		var b strings.Builder
		b.WriteString("[")
		for i, p := range perms {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `{"name":%q,"group":"G","description":"d"}`, p)
		}
		b.WriteString("]")
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	cfg := server.DefaultConfig()
	cfg.DB = "sqlite:" + filepath.Join(dir, "k.db")
	cfg.PermissionsFile = write("short.json", "members-view", "members-manage", "api-keys-view", "deploy")
	_, err := server.New(t.Context(), cfg)
	if err == nil || !strings.Contains(err.Error(), "lacks api-keys-manage, audit-view,") {
		t.Fatalf("New with a catalog lacking management permissions: %v", err)
	}
	cfg.PermissionsFile = write("full.json", append(keyward.ManagementPermissions(), "deploy")...)
	newServer(t, cfg)
}

// TestManagementPermissionsAreTheOnesChecked: the catalog rule names exactly the permissions the
// management service checks.
func TestManagementPermissionsAreTheOnesChecked(t *testing.T) {
	checked := []string{manage.PermMembersView, manage.PermMembersManage, manage.PermKeysView, manage.PermKeysManage, manage.PermAuditView}
	if got := keyward.ManagementPermissions(); !slices.Equal(got, checked) {
		t.Errorf("ManagementPermissions %v, the management service checks %v", got, checked)
	}
}

// TestCycleCatalogIsSelectedByName: --permissions cycle serves the built-in cycle catalog, and a
// file called cycle is still read when named as a path, ./cycle.
func TestCycleCatalogIsSelectedByName(t *testing.T) {
	served := func(s *server.Server) []string {
		t.Helper()
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/permissions", nil))
		var body struct{ Data []keyward.Permission }
		if err := json.Unmarshal(rec.Body.Bytes(), &body); rec.Code != http.StatusOK || err != nil {
			t.Fatalf("GET /v1/permissions: %d %s", rec.Code, rec.Body)
		}
		var names []string
		for _, p := range body.Data {
			names = append(names, p.Name)
		}
		return names
	}
	dir := t.TempDir()
	t.Chdir(dir)
	cfg := server.DefaultConfig()
	cfg.DB = "sqlite:" + filepath.Join(dir, "k.db")
	cfg.PermissionsFile = "cycle"
	s, _, _ := newServer(t, cfg)
	if got, want := served(s), keyward.CycleCatalog().Names(); !slices.Equal(got, want) {
		t.Errorf("--permissions cycle serves %v, want the cycle catalog %v", got, want)
	}
	s.Close()

	var b strings.Builder
	for _, p := range append(keyward.ManagementPermissions(), "deploy") {
		fmt.Fprintf(&b, `,{"name":%q,"group":"G","description":"d"}`, p)
	}
	if err := os.WriteFile("cycle", []byte("["+b.String()[1:]+"]"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.PermissionsFile = "./cycle"
	s, _, _ = newServer(t, cfg)
	if got, want := served(s), append(keyward.ManagementPermissions(), "deploy"); !slices.Equal(got, want) {
		t.Errorf("--permissions ./cycle serves %v, want the file's %v", got, want)
	}
}
