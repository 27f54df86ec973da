package dashboard

import (
	"context"
	"encoding/json"
	"io"
	"net/http"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/manage"
	"github.com/keyward/keyward/internal/web"
)

// Passkeys are registered and used through small JSON requests that the page's script makes
// (WebAuthn needs JavaScript); the routes are the dashboard's, under its cross-origin protection.
func (s *Server) routePasskeys(mux *http.ServeMux) {
	mux.Handle("POST /login/2fa/passkey/options", s.handle(s.passkeyLoginOptions))
	mux.Handle("POST /login/2fa/passkey", s.handle(s.passkeyLogin))
	mux.Handle("POST "+manage.Enrol2FAPath+"/passkeys/options", s.page(s.passkeyOptions))
	mux.Handle("POST "+manage.Enrol2FAPath+"/passkeys", s.page(s.addPasskey))
	mux.Handle("POST "+manage.Enrol2FAPath+"/passkeys/{id}/delete", s.page(s.deletePasskey))
}

// writeOptions answers a ceremony's options as JSON.
func writeOptions(w http.ResponseWriter, options json.RawMessage) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, err := w.Write(options)
	return err
}

// readCredential reads the authenticator's answer the script posts, as JSON.
func readCredential(r *http.Request) ([]byte, error) {
	if r.Header.Get("Content-Type") != "application/json" {
		return nil, web.Errorf(http.StatusUnsupportedMediaType, "Send the credential as application/json.")
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, web.Errorf(http.StatusRequestEntityTooLarge, "The credential is too large.")
	}
	return body, nil
}

func (s *Server) passkeyOptions(w http.ResponseWriter, r *http.Request, v *visit) error {
	f, err := parseForm(r)
	if err != nil {
		return err
	}
	options, err := s.SecondFactors.BeginPasskey(r.Context(), v.User, v.hash, f.get("name"))
	if err != nil {
		return err
	}
	return writeOptions(w, options)
}

func (s *Server) addPasskey(w http.ResponseWriter, r *http.Request, v *visit) error {
	body, err := readCredential(r)
	if err != nil {
		return err
	}
	if _, err := s.SecondFactors.FinishPasskey(r.Context(), v.User, v.hash, body, v.Caller.IP); err != nil {
		return err
	}
	http.Redirect(w, r, manage.Enrol2FAPath, http.StatusSeeOther)
	return nil
}

func (s *Server) deletePasskey(w http.ResponseWriter, r *http.Request, v *visit) error {
	f, err := parseForm(r)
	if err != nil {
		return err
	}
	if ok, err := s.checkPassword(w, r, v, f.get("password")); !ok {
		return err
	}
	if err := s.SecondFactors.DeletePasskey(r.Context(), v.User, r.PathValue("id"), v.Caller.IP); err != nil {
		return err
	}
	http.Redirect(w, r, manage.Enrol2FAPath, http.StatusSeeOther)
	return nil
}

func (s *Server) passkeyLoginOptions(w http.ResponseWriter, r *http.Request) error {
	c, u, err := s.pendingChallenge(r)
	if err != nil {
		return err
	}
	if c == nil {
		return keyward.Errorf(keyward.EUNAUTHORIZED, "Your sign-in took too long; enter your password again.")
	}
	options, err := s.SecondFactors.BeginPasskeyLogin(r.Context(), u, c.Hash)
	if err != nil {
		return err
	}
	return writeOptions(w, options)
}

// passkeyLogin completes a pending sign-in with a passkey, under the throttling of codes.
func (s *Server) passkeyLogin(w http.ResponseWriter, r *http.Request) error {
	body, err := readCredential(r)
	if err != nil {
		return err
	}
	return s.answerChallenge(w, r, "dashboard passkey", "The passkey was not accepted.", func(ctx context.Context, u *keyward.User, c *keyward.LoginChallenge) error {
		return s.SecondFactors.CheckPasskey(ctx, u, c.Hash, body)
	})
}
