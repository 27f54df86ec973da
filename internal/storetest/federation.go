package storetest

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

func newIssuer(t testing.TB, s keyward.Store, p *keyward.Project, url string) *keyward.FederationIssuer {
	t.Helper()
	i := &keyward.FederationIssuer{ID: newID(t, keyward.PrefixIssuer), ProjectID: p.ID, Name: "ci-" + randomLower(t), Issuer: url,
		Audiences: []string{"keyward"}, CreatedAt: t0, UpdatedAt: t0}
	must(t, s.CreateFederationIssuer(t.Context(), i))
	return i
}

func newRule(t testing.TB, s keyward.Store, i *keyward.FederationIssuer, key, role, owner string) *keyward.FederationRule {
	t.Helper()
	r := &keyward.FederationRule{ID: newID(t, keyward.PrefixRule), ProjectID: i.ProjectID, Name: "deploy-" + randomLower(t), IssuerID: i.ID,
		Conditions: map[string]string{"repository_id": "42", "ref": "refs/heads/*"}, TargetKey: key, TargetRole: role,
		TTL: 15 * time.Minute, Owner: owner, CreatedAt: t0, UpdatedAt: t0}
	must(t, s.CreateFederationRule(t.Context(), r))
	return r
}

// newFederatedSession starts a session of the rule's key target (or of the rule, for a role
// target) as the token endpoint does.
func newFederatedSession(t testing.TB, s keyward.Store, r *keyward.FederationRule, k *keyward.APIKey) *keyward.Session {
	t.Helper()
	sess := federatedSession(t, r, k)
	must(t, s.CreateFederatedSession(t.Context(), sess, newToken(t, t0), r.ID, nil))
	return sess
}

func federatedSession(t testing.TB, r *keyward.FederationRule, k *keyward.APIKey) *keyward.Session {
	sess := &keyward.Session{ID: newID(t, keyward.PrefixSession), Kind: keyward.SessionFederated, KeyID: r.ID, UserID: r.Owner,
		ProjectID: r.ProjectID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	if k != nil {
		sess.Kind, sess.KeyID, sess.UserID, sess.KeyRevision, sess.SecretGen = keyward.SessionKey, k.ID, "", k.Revision, k.SecretGen
	}
	return sess
}

// revokedIDs returns the ids of the session entries of feed.
func revokedIDs(feed []keyward.Revocation) []string {
	var ids []string
	for _, r := range feed {
		if r.Kind == keyward.RevokedSession {
			ids = append(ids, r.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

func testFederationIssuers(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	p := newProject(t, s, newUser(t, s))
	other := newProject(t, s, newUser(t, s))
	url := "https://issuer-" + randomLower(t) + ".example"
	i := newIssuer(t, s, p, url)
	j := newIssuer(t, s, other, url) // another project trusts the same issuer

	got, err := s.FederationIssuer(ctx, p.ID, i.ID)
	must(t, err)
	sameJSON(t, "issuer by id", got, i)
	got, err = s.FederationIssuer(ctx, p.ID, i.Name)
	must(t, err)
	sameJSON(t, "issuer by name", got, i)
	_, err = s.FederationIssuer(ctx, other.ID, i.ID)
	wantCode(t, err, keyward.ENOTFOUND)

	dup := *i
	dup.ID = newID(t, keyward.PrefixIssuer)
	wantCode(t, s.CreateFederationIssuer(ctx, &dup), keyward.ECONFLICT) // same name and URL
	dup.Name = "other-" + randomLower(t)
	wantCode(t, s.CreateFederationIssuer(ctx, &dup), keyward.ECONFLICT) // same URL
	dup.Issuer = url + "/other"
	dup.ProjectID = newID(t, keyward.PrefixProject)
	wantCode(t, s.CreateFederationIssuer(ctx, &dup), keyward.ENOTFOUND)

	byURL, err := s.IssuersByURL(ctx, url)
	must(t, err)
	if len(byURL) != 2 || !slices.ContainsFunc(byURL, func(x *keyward.FederationIssuer) bool { return x.ID == j.ID }) {
		t.Fatalf("IssuersByURL = %d issuers, want both projects'", len(byURL))
	}
	list, err := s.FederationIssuers(ctx, p.ID)
	must(t, err)
	sameJSON(t, "issuers", list, []*keyward.FederationIssuer{i})

	i.Audiences = []string{"keyward", "other"}
	must(t, s.UpdateFederationIssuer(ctx, i, t0.Add(time.Minute)))
	got, err = s.FederationIssuer(ctx, p.ID, i.ID)
	must(t, err)
	sameJSON(t, "updated issuer", got, i)

	must(t, s.DeleteFederationIssuer(ctx, p.ID, i.ID, t0))
	wantCode(t, s.DeleteFederationIssuer(ctx, p.ID, i.ID, t0), keyward.ENOTFOUND)
	_, err = s.FederationIssuer(ctx, p.ID, i.ID)
	wantCode(t, err, keyward.ENOTFOUND)
}

func testFederationRules(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	p, _, viewer := projectWithRoles(t, s, u)
	other := newProject(t, s, newUser(t, s))
	i := newIssuer(t, s, p, "https://"+randomLower(t)+".example")
	k := newKey(t, s, p, "deploy")
	r := newRule(t, s, i, k.ID, "", u.ID)
	rr := newRule(t, s, i, "", viewer.ID, u.ID)

	got, err := s.FederationRule(ctx, p.ID, r.ID)
	must(t, err)
	sameJSON(t, "rule", got, r)
	got, err = s.FederationRule(ctx, p.ID, rr.Name)
	must(t, err)
	sameJSON(t, "rule by name", got, rr)
	_, err = s.FederationRule(ctx, other.ID, r.ID)
	wantCode(t, err, keyward.ENOTFOUND)
	byIssuer, err := s.RulesOfIssuers(ctx, []string{i.ID})
	must(t, err)
	if len(byIssuer) != 2 {
		t.Fatalf("RulesOfIssuers = %d rules, want 2", len(byIssuer))
	}

	// A rule refers only to its own project's issuer, key and role.
	foreignKey := newKey(t, s, other, "theirs")
	bad := &keyward.FederationRule{ID: newID(t, keyward.PrefixRule), ProjectID: p.ID, Name: "bad", IssuerID: i.ID,
		TargetKey: foreignKey.ID, TTL: time.Minute, Owner: u.ID, CreatedAt: t0, UpdatedAt: t0}
	wantCode(t, s.CreateFederationRule(ctx, bad), keyward.EINVALID)
	bad.TargetKey, bad.TargetRole = k.ID, viewer.ID
	wantCode(t, s.CreateFederationRule(ctx, bad), keyward.EINVALID) // two targets
	bad.TargetRole, bad.Name = "", r.Name
	wantCode(t, s.CreateFederationRule(ctx, bad), keyward.ECONFLICT)

	// A longer lifetime or a new name leaves the rule's tokens alone; new conditions end them.
	sess := newFederatedSession(t, s, r, k)
	tail := feedTail(t, s)
	name, ttl := "renamed-"+randomLower(t), time.Hour
	got, err = s.UpdateFederationRule(ctx, p.ID, r.ID, keyward.FederationRuleChange{Name: &name, TTL: &ttl}, t0.Add(time.Minute))
	must(t, err)
	if got.Name != name || got.TTL != ttl || !activeAt(t, s, sess.ID, t0.Add(time.Minute)) {
		t.Fatalf("rename: %+v, session active %v", got, activeAt(t, s, sess.ID, t0.Add(time.Minute)))
	}
	conds := map[string]string{"repository_id": "43"}
	got, err = s.UpdateFederationRule(ctx, p.ID, r.ID, keyward.FederationRuleChange{Conditions: &conds}, t0.Add(2*time.Minute))
	must(t, err)
	sameJSON(t, "conditions", got.Conditions, conds)
	if activeAt(t, s, sess.ID, t0.Add(2*time.Minute)) {
		t.Fatal("narrowing the rule left its session active")
	}
	sameJSON(t, "feed after narrowing", revokedIDs(feedSince(t, s, tail)), []string{sess.ID})

	// Deleting the rule ends its tokens through the feed; another rule's stay.
	sess = newFederatedSession(t, s, r, k)
	keep := newFederatedSession(t, s, rr, nil)
	tail = feedTail(t, s)
	must(t, s.DeleteFederationRule(ctx, p.ID, r.ID, t0.Add(3*time.Minute)))
	wantCode(t, s.DeleteFederationRule(ctx, p.ID, r.ID, t0), keyward.ENOTFOUND)
	sameJSON(t, "feed after deleting", revokedIDs(feedSince(t, s, tail)), []string{sess.ID})
	if !activeAt(t, s, keep.ID, t0.Add(3*time.Minute)) {
		t.Fatal("deleting a rule ended another rule's session")
	}
	// A deleted rule starts no session.
	wantCode(t, s.CreateFederatedSession(ctx, federatedSession(t, r, k), newToken(t, t0), r.ID, nil), keyward.ENOTFOUND)

	// A role a rule targets is in use.
	wantCode(t, s.DeleteRole(ctx, p.ID, viewer.ID), keyward.ECONFLICT)

	// Narrowing the target role ends the role rule's tokens.
	tail = feedTail(t, s)
	perms := []string{}
	_, err = s.UpdateRole(ctx, p.ID, viewer.ID, keyward.RoleChange{Permissions: &perms}, t0.Add(4*time.Minute))
	must(t, err)
	sameJSON(t, "feed after narrowing the role", revokedIDs(feedSince(t, s, tail)), []string{keep.ID})

	// Deleting the issuer deletes its rules and ends their tokens.
	sess = newFederatedSession(t, s, rr, nil)
	tail = feedTail(t, s)
	must(t, s.DeleteFederationIssuer(ctx, p.ID, i.ID, t0.Add(5*time.Minute)))
	sameJSON(t, "feed after deleting the issuer", revokedIDs(feedSince(t, s, tail)), []string{sess.ID})
	_, err = s.FederationRule(ctx, p.ID, rr.ID)
	wantCode(t, err, keyward.ENOTFOUND)

	// Deleting the project takes its issuers and rules with it.
	i = newIssuer(t, s, p, "https://"+randomLower(t)+".example")
	newRule(t, s, i, "", viewer.ID, u.ID)
	must(t, s.DeleteProject(ctx, p.ID, t0.Add(6*time.Minute)))
	_, err = s.FederationIssuer(ctx, p.ID, i.ID)
	wantCode(t, err, keyward.ENOTFOUND)
}

func testFederatedSessionOwner(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	u, member := newUser(t, s), newUser(t, s)
	p, _, viewer := projectWithRoles(t, s, u)
	must(t, s.PutMember(ctx, &keyward.Member{ProjectID: p.ID, UserID: member.ID, RoleID: viewer.ID, CreatedAt: t0, UpdatedAt: t0}))
	i := newIssuer(t, s, p, "https://"+randomLower(t)+".example")
	r := newRule(t, s, i, "", viewer.ID, member.ID)
	k := newKey(t, s, p, "deploy")
	kr := newRule(t, s, i, k.ID, "", member.ID)
	sess := newFederatedSession(t, s, r, nil)
	keySess := newFederatedSession(t, s, kr, k)
	if got, err := s.Session(ctx, sess.ID); err != nil || got.Subject() != "federated:"+r.ID {
		t.Fatalf("session subject = %v, %v; want federated:%s", got, err, r.ID)
	}

	// Removing the rule's owner ends the tokens of every rule they own, a key target's too: the
	// rule hands the key on to outside workloads only while its owner could.
	tail := feedTail(t, s)
	must(t, s.RemoveMember(ctx, p.ID, member.ID, t0.Add(time.Minute)))
	want := []string{sess.ID, keySess.ID}
	slices.Sort(want)
	got := revokedIDs(feedSince(t, s, tail))
	slices.Sort(got)
	sameJSON(t, "feed after removing the owner", got, want)
	wantCode(t, s.CreateFederatedSession(ctx, federatedSession(t, r, nil), newToken(t, t0), r.ID, nil), keyward.ENOTFOUND)

	// A disabled key starts no federated session either.
	must(t, s.SetUserDisabled(ctx, u.ID, true, t0.Add(2*time.Minute)))
	must(t, s.SetUserDisabled(ctx, u.ID, false, t0.Add(2*time.Minute)))
	owned := ownedKeyWithRole(t, s, p, u, viewer.ID)
	or := newRule(t, s, i, owned.ID, "", u.ID)
	must(t, s.SetUserDisabled(ctx, u.ID, true, t0.Add(3*time.Minute)))
	wantCode(t, s.CreateFederatedSession(ctx, federatedSession(t, or, owned), newToken(t, t0), or.ID, nil), keyward.ENOTFOUND)
}

func testSpendJTI(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	p := newProject(t, s, u)
	i := newIssuer(t, s, p, "https://"+randomLower(t)+".example")
	k := newKey(t, s, p, "deploy")
	r := newRule(t, s, i, k.ID, "", u.ID)
	start := func(jti *keyward.SpentJTI, at time.Time) (*keyward.Session, error) {
		sess := federatedSession(t, r, k)
		sess.CreatedAt = at
		return sess, s.CreateFederatedSession(ctx, sess, newToken(t, at), r.ID, jti)
	}
	jti := &keyward.SpentJTI{Issuer: i.Issuer, JTI: randomString(t, 12), Expires: t0.Add(time.Minute)}
	_, err := start(jti, t0)
	must(t, err)
	sess, err := start(jti, t0.Add(30*time.Second))
	if !errors.Is(err, keyward.ErrJTISpent) {
		t.Fatalf("a spent jti: %v, want ErrJTISpent", err)
	}
	if _, err := s.Session(ctx, sess.ID); keyward.ErrorCode(err) != keyward.ENOTFOUND {
		t.Fatalf("a replay left a session behind: %v", err)
	}
	_, err = start(&keyward.SpentJTI{Issuer: i.Issuer + "/other", JTI: jti.JTI, Expires: jti.Expires}, t0) // per issuer
	must(t, err)
	// Once the token has expired, its jti is forgotten: the token itself is refused as expired.
	_, err = start(&keyward.SpentJTI{Issuer: i.Issuer, JTI: jti.JTI, Expires: t0.Add(2 * time.Hour)}, t0.Add(time.Minute))
	must(t, err)
	// A refused session spends nothing: the jti of an exchange whose rule is gone stays usable.
	fresh := &keyward.SpentJTI{Issuer: i.Issuer, JTI: randomString(t, 12), Expires: t0.Add(time.Hour)}
	wantCode(t, s.CreateFederatedSession(ctx, federatedSession(t, r, k), newToken(t, t0), newID(t, keyward.PrefixRule), fresh), keyward.ENOTFOUND)
	_, err = start(fresh, t0)
	must(t, err)

	// Of concurrent exchanges of one jti, exactly one wins.
	for range 5 {
		jti := &keyward.SpentJTI{Issuer: i.Issuer, JTI: randomString(t, 12), Expires: t0.Add(time.Hour)}
		const n = 8
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for range n {
			wg.Go(func() {
				_, err := start(jti, t0)
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		won := 0
		for err := range errs {
			switch {
			case err == nil:
				won++
			case errors.Is(err, keyward.ErrJTISpent):
			default:
				t.Fatal(err)
			}
		}
		if won != 1 {
			t.Fatalf("%d concurrent exchanges of one jti succeeded, want 1", won)
		}
	}
}
