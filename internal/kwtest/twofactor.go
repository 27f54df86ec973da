package kwtest

import (
	"crypto/rand"
	"encoding/base32"
	"net/netip"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/twofactor"
)

// EnrolTOTP turns two-factor sign-in on for email as the dashboard's enrolment does, and returns
// the secret the person's app would hold and their recovery codes. The code of the current step
// is spent on the confirmation, so the clock moves one step on. The server must have no master
// key (the secret is read back unsealed).
func (s *Server) EnrolTOTP(t testing.TB, email string) ([]byte, []string) {
	t.Helper()
	ctx := t.Context()
	if s.Config.MasterKey != "" {
		t.Fatal("EnrolTOTP needs a server without a master key")
	}
	svc := &twofactor.Service{Store: s.Srv.Store(), Issuer: "keyward", Now: s.Clock.Now, Rand: rand.Reader}
	u, err := s.Srv.Store().UserByEmail(ctx, email)
	if err != nil {
		t.Fatal(err)
	}
	e, err := svc.Begin(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(e.Secret)
	if err != nil {
		t.Fatal(err)
	}
	codes, err := svc.Confirm(ctx, u, twofactor.Code(secret, twofactor.Step(s.Clock.Now())), netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	s.Clock.Advance(twofactor.Period * time.Second)
	return secret, codes
}
