package server_test

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/kwtest"
)

// attackWorld is two tenants: the admin's project "default" and Bob's "bobs", each with a key
// holding every key-management permission, and Mallory, a member of default who may manage keys
// but holds nothing else.
type attackWorld struct {
	s                    *kwtest.Server
	admin, bob, bobKey   string // access tokens
	mallory, malloryKey  string // access tokens
	adminKey, bobsKey    *kwtest.Key
	strongKey            *kwtest.Key // default's key holding containers-manage, which Mallory lacks
	bobID                string
	bobsID               string
	malloryID            string
	malloryEmail, malPwd string
}

func newAttackWorld(t *testing.T, opts ...kwtest.Option) *attackWorld {
	t.Helper()
	s := kwtest.Start(t, append([]kwtest.Option{unthrottled}, opts...)...)
	w := &attackWorld{s: s, admin: s.AdminToken(t)}
	const bobEmail, bobPassword = "bob@keyward.test", "bob-has-a-long-password-7"
	w.bobID = s.CreateUser(t, w.admin, bobEmail, bobPassword).ID
	w.bob = s.Login(t, bobEmail, bobPassword, "").AccessToken
	w.bobsID = s.CreateProject(t, w.bob, "bobs").ID
	keyPerms := []string{"api-keys-view", "api-keys-manage", "members-view", "members-manage", "audit-view", "projects-manage"}
	w.bobsKey = s.CreateKey(t, w.bob, "bobs", kwtest.KeyRequest{Name: "bob-ci", Permissions: keyPerms})
	w.bobKey = s.Exchange(t, w.bobsKey.Secret).AccessToken
	w.adminKey = s.CreateKey(t, w.admin, "default", kwtest.KeyRequest{Name: "admin-ci", Permissions: keyPerms})
	expires := s.Clock.Now().Add(24 * time.Hour)
	w.strongKey = s.CreateKey(t, w.admin, "default", kwtest.KeyRequest{Name: "deployer", Permissions: []string{"containers-manage", "api-keys-view"},
		IPs: []string{"203.0.113.0/24"}, ExpiresAt: &expires})

	w.malloryEmail, w.malPwd = "mallory@keyward.test", "mallory-has-a-long-password-7"
	w.malloryID = s.CreateUser(t, w.admin, w.malloryEmail, w.malPwd).ID
	putMember(t, s, w.admin, "default", w.malloryEmail, "api-keys-view", "api-keys-manage", "members-view")
	w.mallory = s.Login(t, w.malloryEmail, w.malPwd, "default").AccessToken
	mk := s.CreateKey(t, w.mallory, "default", kwtest.KeyRequest{Name: "mallory-ci", Permissions: []string{"api-keys-view", "api-keys-manage"}})
	w.malloryKey = s.Exchange(t, mk.Secret).AccessToken
	return w
}

// TestAttackCrossTenant: nothing of project default is reachable from Bob, Bob's narrowed token
// or Bob's key, through the new routes or by naming default's key under bobs; every answer is the
// 404 a missing project or key gets, and nothing changes.
func TestAttackCrossTenant(t *testing.T) {
	w := newAttackWorld(t)
	s := w.s
	bobNarrowed := s.Login(t, "bob@keyward.test", "bob-has-a-long-password-7", "bobs").AccessToken
	key := w.adminKey.ID
	type probe struct {
		method, path string
		body         any
	}
	probes := []probe{
		{http.MethodPatch, "/v1/projects/default/api-keys/" + key, map[string]any{"name": "pwned"}},
		{http.MethodPatch, "/v1/projects/bobs/api-keys/" + key, map[string]any{"name": "pwned"}},
		{http.MethodPatch, "/v1/projects/bobs/api-keys/" + key, map[string]any{"owner": w.bobID}},
		{http.MethodPatch, "/v1/projects/" + w.bobsID + "/api-keys/" + key, map[string]any{"permissions": []string{"api-keys-view"}}},
		{http.MethodPost, "/v1/projects/default/api-keys/" + key + "/roll", map[string]any{}},
		{http.MethodPost, "/v1/projects/bobs/api-keys/" + key + "/roll", map[string]any{"grace": "1h"}},
		{http.MethodPatch, "/v1/projects/default", map[string]any{"name": "stolen"}},
		{http.MethodDelete, "/v1/projects/default", nil},
		{http.MethodGet, "/v1/projects/default/api-keys?limit=1", nil},
		{http.MethodGet, "/v1/projects/default/members?limit=1", nil},
		{http.MethodGet, "/v1/projects/default/api-keys?q=" + key, nil},
		{http.MethodDelete, "/v1/projects/default/members/" + w.malloryID, nil},
		{http.MethodPut, "/v1/projects/default/members/" + w.bobID, map[string]any{"permissions": []string{"api-keys-manage"}}},
		{http.MethodPost, "/v1/projects/default/recover", nil},
		{http.MethodGet, "/v1/admin/projects", nil},
	}
	missing := map[string]string{}
	for who, tok := range map[string]string{"bob": w.bob, "bob narrowed": bobNarrowed, "bob's key": w.bobKey} {
		for _, p := range probes {
			r := s.API(t, p.method, p.path, tok, p.body)
			if r.Status != http.StatusNotFound {
				t.Errorf("%s: %s %s: want 404, got %s", who, p.method, p.path, r)
				continue
			}
			got := kwtest.RequireProblem(t, r, http.StatusNotFound)
			// A missing project or key answers the same words, the name asked for aside.
			other := strings.NewReplacer("/default", "/nowhere", key, "0000000000000000").Replace(p.path)
			m := kwtest.RequireProblem(t, s.API(t, p.method, other, tok, p.body), http.StatusNotFound)
			want := strings.NewReplacer(`"nowhere"`, `"default"`, "0000000000000000", key).Replace(m.Detail)
			if got.Detail != want {
				t.Errorf("%s: %s %s: detail %q, a missing one %q", who, p.method, p.path, got.Detail, m.Detail)
			}
			missing[p.path] = got.Detail
		}
	}
	// default's key is as it was and still exchanges; the project kept its name.
	var k kwtest.Key
	s.API(t, http.MethodGet, "/v1/projects/default/api-keys/"+key, w.admin, nil).JSON(t, &k)
	if k.Name != "admin-ci" || k.Owner == w.bobID || len(k.Permissions) != 6 {
		t.Errorf("default's key after the attacks: %+v", k)
	}
	s.Exchange(t, w.adminKey.Secret)
	project(t, s, w.admin, "default")
}

// TestAttackCursorOfAnotherProject: a cursor is only a position: one taken from Bob's list and
// presented to default's shows default's keys after that position, never Bob's, and a forged
// cursor is a 400 that does not repeat it.
func TestAttackCursorOfAnotherProject(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testAttackCursorOfAnotherProject(t) })
	t.Run("postgres", func(t *testing.T) { testAttackCursorOfAnotherProject(t, kwtest.OnPostgres(t)) })
}

func testAttackCursorOfAnotherProject(t *testing.T, opts ...kwtest.Option) {
	w := newAttackWorld(t, opts...)
	s := w.s
	s.CreateKey(t, w.bob, "bobs", kwtest.KeyRequest{Name: "bob-second", Permissions: []string{"api-keys-view"}})
	var page struct {
		Data []kwtest.Key
		Next *string
	}
	r := s.API(t, http.MethodGet, "/v1/projects/bobs/api-keys?limit=1", w.bob, nil)
	r.JSON(t, &page)
	if page.Next == nil {
		t.Fatalf("bobs' first page has no next: %s", r)
	}
	r = s.API(t, http.MethodGet, "/v1/projects/default/api-keys?limit=10&cursor="+url.QueryEscape(*page.Next), w.admin, nil)
	kwtest.RequireNoServerError(t, r)
	if strings.Contains(string(r.Body), "bob") || strings.Contains(string(r.Body), w.bobsID) {
		t.Errorf("default's page with bobs' cursor shows bobs: %s", r)
	}
	forged := base64.RawURLEncoding.EncodeToString([]byte(`{"l":"keys","t":0,"i":"<b>zq_injected_zq"}`))
	for _, c := range []string{forged, "%%%", "AAAA", strings.Repeat("A", 5000), base64.RawURLEncoding.EncodeToString([]byte(`{"l":"members","k":"a\u0000b"}`)),
		base64.RawURLEncoding.EncodeToString([]byte(`{"l":"keys","t":-9223372036854775808,"i":"\u0000"}`))} {
		for _, list := range []string{"api-keys", "members"} {
			r := s.API(t, http.MethodGet, "/v1/projects/default/"+list+"?cursor="+url.QueryEscape(c), w.admin, nil)
			kwtest.RequireNoServerError(t, r)
			if r.Status == http.StatusOK {
				continue
			}
			p := kwtest.RequireProblem(t, r, http.StatusBadRequest)
			if strings.Contains(p.Detail, "zq_injected_zq") || strings.Contains(p.Detail, c) {
				t.Errorf("cursor problem repeats the cursor: %q", p.Detail)
			}
		}
	}
}

// TestAttackEscalation: no edit, roll or transfer hands the caller a key that can do more than the
// caller, and no key deletes its project or reaches the administrator's routes.
func TestAttackEscalation(t *testing.T) {
	w := newAttackWorld(t)
	s := w.s
	strong := w.strongKey.ID
	keyPath := "/v1/projects/default/api-keys/" + strong

	for who, tok := range map[string]string{"mallory": w.mallory, "mallory's key": w.malloryKey} {
		// Rolling a key that holds containers-manage would hand Mallory its new secret.
		r := s.API(t, http.MethodPost, keyPath+"/roll", tok, map[string]any{"grace": "0s"})
		if r.Status != http.StatusForbidden {
			t.Errorf("%s rolls a key holding more than she does: want 403, got %s", who, r)
		}
		// Granting a key a permission she lacks, widening a key she cannot match, taking it over.
		for _, body := range []map[string]any{
			{"permissions": []string{"containers-manage"}},
			{"ips": []string{}, "expires_at": nil},
			{"expires_at": nil},
			{"owner": w.malloryID},
		} {
			r := s.API(t, http.MethodPatch, keyPath, tok, body)
			if r.Status != http.StatusForbidden {
				t.Errorf("%s: PATCH %v: want 403, got %s", who, body, r)
			}
		}
		// A key made by Mallory edited up to containers-manage.
		mine := s.CreateKey(t, tok, "default", kwtest.KeyRequest{Name: "mine-" + strings.NewReplacer(" ", "-", "'", "").Replace(who), Permissions: []string{"api-keys-view"}})
		r = s.API(t, http.MethodPatch, "/v1/projects/default/api-keys/"+mine.ID, tok, map[string]any{"permissions": []string{"api-keys-view", "containers-manage"}})
		kwtest.RequireProblem(t, r, http.StatusForbidden)
		// Project and administrator routes.
		kwtest.RequireProblem(t, s.API(t, http.MethodDelete, "/v1/projects/default", tok, nil), http.StatusForbidden)
		kwtest.RequireProblem(t, s.API(t, http.MethodPatch, "/v1/projects/default", tok, map[string]any{"name": "mine"}), http.StatusForbidden)
		kwtest.RequireProblem(t, s.API(t, http.MethodGet, "/v1/admin/projects", tok, nil), http.StatusNotFound)
		kwtest.RequireProblem(t, s.API(t, http.MethodPost, "/v1/projects/default/recover", tok, nil), http.StatusNotFound)
	}
	// The strong key kept its secret, owner and permissions.
	s.Exchange(t, w.strongKey.Secret, kwtest.From("203.0.113.7"))

	// A key holding every management permission still deletes nothing, and the admin's own key
	// and narrowed token are not the administrator.
	adminKeyTok := s.Exchange(t, w.adminKey.Secret).AccessToken
	kwtest.RequireProblem(t, s.API(t, http.MethodDelete, "/v1/projects/default", adminKeyTok, nil), http.StatusForbidden)
	narrowed := s.Login(t, kwtest.AdminEmail, kwtest.AdminPassword, "default").AccessToken
	for _, tok := range []string{adminKeyTok, narrowed} {
		kwtest.RequireProblem(t, s.API(t, http.MethodGet, "/v1/admin/projects", tok, nil), http.StatusNotFound)
		kwtest.RequireProblem(t, s.API(t, http.MethodPost, "/v1/projects/bobs/recover", tok, nil), http.StatusNotFound)
	}

	// Transfer to a user of another project, to an unknown user and to junk: the same refusal,
	// and neither echoes junk nor names Bob.
	var details []string
	for _, owner := range []string{w.bobID, "usr_0000000000000000", "<script>zq_injected_zq</script>"} {
		p := kwtest.RequireProblem(t, s.API(t, http.MethodPatch, "/v1/projects/default/api-keys/"+w.adminKey.ID, w.admin, map[string]any{"owner": owner}), http.StatusBadRequest)
		if strings.Contains(p.Detail, "zq_injected_zq") || strings.Contains(p.Detail, "bob@") {
			t.Errorf("transfer to %q: detail %q", owner, p.Detail)
		}
		details = append(details, strings.Replace(p.Detail, owner, "X", 1))
	}
	if details[0] != details[1] {
		t.Errorf("transfer to a member of another project %q, to an unknown user %q", details[0], details[1])
	}
}

// TestAttackHostileInput: every new route answers hostile input with a 4xx problem.
func TestAttackHostileInput(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testAttackHostileInput(t) })
	t.Run("postgres", func(t *testing.T) { testAttackHostileInput(t, kwtest.OnPostgres(t)) })
}

func testAttackHostileInput(t *testing.T, opts ...kwtest.Option) {
	w := newAttackWorld(t, opts...)
	s := w.s
	keyPath := "/v1/projects/default/api-keys/" + w.adminKey.ID
	type probe struct {
		method, path string
		body         any
	}
	var probes []probe
	for _, body := range []any{`{`, `[]`, `null`, `{"name":1}`, `{"name":"a"}{"name":"b"}`, `{"name":"x","name":"y"}`,
		`{"ips":["999.1.1.1/99"]}`, `{"ips":"10.0.0.0/8"}`, `{"expires_at":"yesterday"}`, `{"expires_at":"1970-01-01T00:00:00Z"}`,
		`{"permissions":["no-such-permission"]}`, `{"owner":null}`, `{"owner":""}`, `{"owner":"` + strings.Repeat("a", 5000) + `"}`,
		`{"name":"zero\u200bwidth"}`, `{"name":"rtl\u202eevil"}`, `{"name":"\u0000"}`, `{"name":" padded "}`, `{}`,
		`{"name":"` + strings.Repeat("n", 200) + `"}`} {
		probes = append(probes, probe{http.MethodPatch, keyPath, body})
	}
	for _, grace := range []any{"-1h", "25h", "1e9h", "9223372036854775807ns", "99999999999h", "1h\u0000", 1, true} {
		probes = append(probes, probe{http.MethodPost, keyPath + "/roll", map[string]any{"grace": grace}})
	}
	probes = append(probes, probe{http.MethodPost, keyPath + "/roll", `{`}, probe{http.MethodPost, keyPath + "/roll", `"1h"`})
	for _, name := range []string{"zero\u200bwidth", "Ｄefault", "bobs", "b\u043ebs", "", strings.Repeat("a", 64), "a\u0000"} {
		probes = append(probes, probe{http.MethodPatch, "/v1/projects/default", map[string]any{"name": name}})
	}
	probes = append(probes, probe{http.MethodPatch, "/v1/projects/default", `{"name":`}, probe{http.MethodPatch, "/v1/projects/default", `{"name":"ok","extra":1}`})
	for _, q := range []string{"limit=0", "limit=-1", "limit=1001", "limit=99999999999999999999999", "limit=1e3", "limit=+5", "limit=",
		"limit=1&limit=2", "cursor=", "cursor=%00", "q=%00", "q=%ff", "q=" + strings.Repeat("q", 300), "q=%25%5F", "q=\u200b", "unknown=1"} {
		probes = append(probes, probe{http.MethodGet, "/v1/projects/default/api-keys?" + q, nil}, probe{http.MethodGet, "/v1/projects/default/members?" + q, nil})
	}
	for _, ref := range []string{"prj_0000000000000000", "%00", "a%2F..%2Fb", strings.Repeat("p", 500)} {
		probes = append(probes, probe{http.MethodPost, "/v1/projects/" + ref + "/recover", nil}, probe{http.MethodPatch, "/v1/projects/" + ref, map[string]any{"name": "x"}},
			probe{http.MethodDelete, "/v1/projects/" + ref, nil})
	}
	probes = append(probes, probe{http.MethodGet, "/v1/admin/projects?limit=abc", nil}, probe{http.MethodPost, "/v1/projects/default/recover?x=1", nil})

	for _, p := range probes {
		r := s.API(t, p.method, p.path, w.admin, p.body)
		kwtest.RequireNoServerError(t, r)
		if r.Status < 400 {
			if p.method == http.MethodGet && strings.Contains(p.path, "q=") || strings.Contains(p.path, "q=%25") {
				continue // a search is any text
			}
			t.Errorf("%s %s %v: want a 4xx, got %s", p.method, p.path, p.body, r)
			continue
		}
		kwtest.RequireProblem(t, r, r.Status)
	}
	// After all of it, the project is named default and the key is as it was.
	project(t, s, w.admin, "default")
	s.Exchange(t, w.adminKey.Secret)
}
