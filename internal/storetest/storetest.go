package storetest

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// Run runs the conformance suite against the store open returns. open is called once per
// subtest; it should register the store's Close with t.Cleanup, and Close must tolerate a second
// call, because one subtest closes its store itself.
//
// Run expects a fresh database. The stores open returns may all share that database: every
// subtest makes its own users, projects and keys, reads the revocation feed from the cursor it
// found, and lets its subtests run one after the other.
func Run(t *testing.T, open func(t *testing.T) keyward.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s keyward.Store)
	}{
		{"PingClose", testPingClose},
		{"Users", testUsers},
		{"SetUserDisabled", testSetUserDisabled},
		{"UserPages", testUserPages},
		{"LastAdmin", testLastAdmin},
		{"LastAdminRace", testLastAdminRace},
		{"DeleteUser", testDeleteUser},
		{"SetPassword", testSetPassword},
		{"PasswordReset", testPasswordReset},
		{"ResetLinkEndsWithItsIssuer", testResetLinkEndsWithItsIssuer},
		{"Projects", testProjects},
		{"Members", testMembers},
		{"RemoveMember", testRemoveMember},
		{"RemoveMemberDisablesKeys", testRemoveMemberDisablesKeys},
		{"ReduceMemberEndsKeySessions", testReduceMemberEndsKeySessions},
		{"DisableUserDisablesKeys", testDisableUserDisablesKeys},
		{"RemoveMemberRace", testRemoveMemberRace},
		{"RenameProject", testRenameProject},
		{"DeleteProject", testDeleteProject},
		{"LastManager", testLastManager},
		{"LastManagerRace", testLastManagerRace},
		{"Roles", testRoles},
		{"UpdateRoleNarrows", testUpdateRoleNarrows},
		{"DeleteRoleRace", testDeleteRoleRace},
		{"NarrowRoleExchangeRace", testNarrowRoleExchangeRace},
		{"SeedRoles", testSeedRoles},
		{"Invites", testInvites},
		{"AcceptInvite", testAcceptInvite},
		{"AcceptInviteRace", testAcceptInviteRace},
		{"SweepInvites", testSweepInvites},
		{"APIKeys", testAPIKeys},
		{"APIKeyPages", testAPIKeyPages},
		{"MemberPages", testMemberPages},
		{"TouchAPIKey", testTouchAPIKey},
		{"DeleteAPIKey", testDeleteAPIKey},
		{"LookAlikeNames", testLookAlikeNames},
		{"UpdateAPIKey", testUpdateAPIKey},
		{"UpdateAPIKeyNarrows", testUpdateAPIKeyNarrows},
		{"SessionOfEditedKey", testSessionOfEditedKey},
		{"UpdateKeyRefreshRace", testUpdateKeyRefreshRace},
		{"RollAPIKey", testRollAPIKey},
		{"RollExchangeRace", testRollExchangeRace},
		{"EndRollGraces", testEndRollGraces},
		{"TransferAPIKey", testTransferAPIKey},
		{"MemberDisabledKey", testMemberDisabledKey},
		{"TransferRemoveRace", testTransferRemoveRace},
		{"Sessions", testSessions},
		{"SessionNeedsCredential", testSessionNeedsCredential},
		{"RevokeSession", testRevokeSession},
		{"ConsumeRefreshToken", testConsumeRefreshToken},
		{"ConsumeRefreshTokenReuse", testConsumeRefreshTokenReuse},
		{"ConsumeRefreshTokenRefused", testConsumeRefreshTokenRefused},
		{"ConcurrentConsume", testConcurrentConsume},
		{"ConcurrentWrites", testConcurrentWrites},
		{"DeleteKeyRace", testDeleteKeyRace},
		{"RevokeRefreshRace", testRevokeRefreshRace},
		{"FeedFollower", testFeedFollower},
		{"Revocations", testRevocations},
		{"Audit", testAudit},
		{"AuditPages", testAuditPages},
		{"KeySessionCount", testKeySessionCount},
		{"WebSessions", testWebSessions},
		{"WebSessionsOfDisabledUser", testWebSessionsOfDisabledUser},
		{"UserSessions", testUserSessions},
		{"SigningKeys", testSigningKeys},
		{"TimesRoundTrip", testTimesRoundTrip},
		{"DeviceAuthorizations", testDeviceAuthorizations},
		{"DeviceAuthorizationExpiry", testDeviceAuthorizationExpiry},
		{"DeviceRedeemOfDisabledUser", testDeviceRedeemOfDisabledUser},
		{"DeviceRedeemRace", testDeviceRedeemRace},
		{"DeviceDecideRace", testDeviceDecideRace},
		{"DeviceSweep", testDeviceSweep},
		{"Sweep", testSweep},
		{"TOTP", testTOTP},
		{"TOTPStepRace", testTOTPStepRace},
		{"RecoveryCodes", testRecoveryCodes},
		{"LoginChallenges", testLoginChallenges},
		{"Require2FA", testRequire2FA},
		{"Passkeys", testPasskeys},
		{"Ceremonies", testCeremonies},
		{"FederationIssuers", testFederationIssuers},
		{"FederationRules", testFederationRules},
		{"FederatedSessionOwner", testFederatedSessionOwner},
		{"SpendJTI", testSpendJTI},
		{"RequireDPoP", testRequireDPoP},
		{"KeyPolicy", testKeyPolicy},
		{"SessionDPoPJKT", testSessionDPoPJKT},
		{"DisableLeakedKey", testDisableLeakedKey},
		{"DisableLeakedKeyRace", testDisableLeakedKeyRace},
		{"Webhooks", testWebhooks},
		{"WebhookLimit", testWebhookLimit},
		{"WebhookOutbox", testWebhookOutbox},
		{"WebhookOwnerDeparture", testWebhookOwnerDeparture},
		{"WebhookClaims", testWebhookClaims},
		{"WebhookClaimRace", testWebhookClaimRace},
		{"WebhookRedeliver", testWebhookRedeliver},
		{"WebhookMessagePages", testWebhookMessagePages},
		{"RemindExpiringKeys", testRemindExpiringKeys},
		{"WebhookSweep", testWebhookSweep},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

// t0 is the suite's "now": far from the real clock, so that nothing depends on it, and with
// microseconds, the precision stores keep.
var t0 = time.Date(2031, 5, 6, 7, 8, 9, 123456000, time.UTC)

// Lifetimes as keyward uses them by default.
const (
	refreshTTL = 3 * time.Hour
	sessionAge = 30 * 24 * time.Hour
)

func randomString(t testing.TB, n int) string {
	t.Helper()
	s, err := keyward.RandomBase62(rand.Reader, n)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newID(t testing.TB, prefix string) string {
	t.Helper()
	id, err := keyward.NewID(rand.Reader, prefix)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// wantCode fails t unless err carries the domain error code want.
func wantCode(t testing.TB, err error, want string) {
	t.Helper()
	if got := keyward.ErrorCode(err); got != want {
		t.Fatalf("error code = %q (%v), want %q", got, err, want)
	}
}

// must fails t on any error.
func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// sameJSON compares two values by their JSON form: times compare with their zone, nil slices
// differ from empty ones, and a failure shows both sides.
func sameJSON(t testing.TB, what string, got, want any) {
	t.Helper()
	g, err := json.Marshal(got)
	must(t, err)
	w, err := json.Marshal(want)
	must(t, err)
	if !bytes.Equal(g, w) {
		t.Fatalf("%s:\n got %s\nwant %s", what, g, w)
	}
}

func newUser(t testing.TB, s keyward.Store) *keyward.User {
	t.Helper()
	u := &keyward.User{
		ID:           newID(t, keyward.PrefixUser),
		Email:        "user-" + strings.ToLower(randomString(t, 10)) + "@example.com",
		PasswordHash: "$argon2id$v=19$m=65536,t=1,p=4$c2FsdA$aGFzaA",
		CreatedAt:    t0,
	}
	must(t, s.CreateUser(t.Context(), u))
	return u
}

var allPermissions = []string{"api-keys-manage", "api-keys-view", "members-view"}

// newProject creates a project whose creator is owner, with allPermissions.
func newProject(t testing.TB, s keyward.Store, owner *keyward.User) *keyward.Project {
	t.Helper()
	p := &keyward.Project{ID: newID(t, keyward.PrefixProject), Name: "p-" + strings.ToLower(randomString(t, 10)), CreatedAt: t0}
	must(t, s.CreateProject(t.Context(), p, &keyward.Member{
		UserID: owner.ID, Permissions: allPermissions, CreatedAt: t0, UpdatedAt: t0,
	}))
	return p
}

func newKey(t testing.TB, s keyward.Store, p *keyward.Project, name string) *keyward.APIKey {
	t.Helper()
	secret := sha256.Sum256([]byte(randomString(t, 32)))
	k := &keyward.APIKey{
		ID:          randomString(t, keyward.IDLength),
		ProjectID:   p.ID,
		Name:        name,
		Permissions: []string{"api-keys-view"},
		SecretHash:  secret[:],
		Hint:        "abcd",
		CreatedBy:   "user:test",
		Owner:       "usr_test",
		CreatedAt:   t0,
	}
	must(t, s.CreateAPIKey(t.Context(), k))
	return k
}

func newToken(t testing.TB, issued time.Time) *keyward.RefreshToken {
	t.Helper()
	h := sha256.Sum256([]byte(randomString(t, 43)))
	return &keyward.RefreshToken{Hash: h[:], IssuedAt: issued, ExpiresAt: issued.Add(refreshTTL)}
}

// newKeySession starts a session of k at t0 and returns it with its first refresh token.
func newKeySession(t testing.TB, s keyward.Store, k *keyward.APIKey) (*keyward.Session, *keyward.RefreshToken) {
	t.Helper()
	sess := &keyward.Session{
		ID: newID(t, keyward.PrefixSession), Kind: keyward.SessionKey, KeyID: k.ID, KeyRevision: k.Revision,
		SecretGen: k.SecretGen, ProjectID: k.ProjectID, CreatedAt: t0, ExpiresAt: t0.Add(sessionAge),
	}
	first := newToken(t, t0)
	must(t, s.CreateSession(t.Context(), sess, first))
	return sess, first
}

// newUserSession starts a session of u, narrowed to projectID unless it is empty.
func newUserSession(t testing.TB, s keyward.Store, u *keyward.User, projectID string) (*keyward.Session, *keyward.RefreshToken) {
	t.Helper()
	sess := &keyward.Session{
		ID: newID(t, keyward.PrefixSession), Kind: keyward.SessionUser, UserID: u.ID, ProjectID: projectID,
		CreatedAt: t0, ExpiresAt: t0.Add(sessionAge),
	}
	first := newToken(t, t0)
	must(t, s.CreateSession(t.Context(), sess, first))
	return sess, first
}

// feedTail returns the cursor after the newest revocation feed entry.
func feedTail(t testing.TB, s keyward.Store) int64 {
	t.Helper()
	var after int64
	for {
		page, err := s.Revocations(t.Context(), after, 500)
		must(t, err)
		if len(page) == 0 {
			return after
		}
		after = page[len(page)-1].Seq
	}
}

// feedSince returns every feed entry after the cursor, oldest first.
func feedSince(t testing.TB, s keyward.Store, after int64) []keyward.Revocation {
	t.Helper()
	var out []keyward.Revocation
	for {
		page, err := s.Revocations(t.Context(), after, 500)
		must(t, err)
		if len(page) == 0 {
			return out
		}
		out = append(out, page...)
		after = page[len(page)-1].Seq
	}
}

// revocation is the part of a feed entry a test can predict.
type revocation struct {
	Kind, ID, ProjectID  string
	RevokedAt, ExpiresAt time.Time
}

func revocations(feed []keyward.Revocation) []revocation {
	out := make([]revocation, len(feed))
	for i, r := range feed {
		out[i] = revocation{r.Kind, r.ID, r.ProjectID, r.RevokedAt, r.ExpiresAt}
	}
	return out
}

func activeAt(t testing.TB, s keyward.Store, id string, now time.Time) bool {
	t.Helper()
	sess, err := s.Session(t.Context(), id)
	must(t, err)
	return sess.Active(now)
}
