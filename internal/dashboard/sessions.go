package dashboard

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"

	"github.com/keyward/keyward"
)

// maxWebSessions bounds the dashboard logins the sessions page lists.
const maxWebSessions = 100

type sessionsPage struct {
	pageBase
	Web    []webSessionRow
	Tokens []tokenSessionRow
	// Projects names the projects token sessions are narrowed to, by id.
	Projects map[string]string
}

type tokenSessionRow struct {
	*keyward.Session
	Everything bool // not narrowed: every permission the person holds (nil Scope)
}

type webSessionRow struct {
	ID      string // webSessionID
	Current bool
	*keyward.WebSession
}

// webSessionID names a login on the page and in its revoke form: a digest of the stored hash, so
// that the page shows nothing the database keys logins by.
func webSessionID(hash []byte) string {
	sum := sha256.Sum256(append([]byte("keyward web session id\x00"), hash...))
	return hex.EncodeToString(sum[:12])
}

// liveWebSessions returns the user's dashboard logins that are neither idle nor past their end.
func (s *Server) liveWebSessions(r *http.Request, v *visit) ([]*keyward.WebSession, error) {
	now := s.Now()
	all, err := s.Store.UserWebSessions(r.Context(), v.User.ID, now, maxWebSessions)
	if err != nil {
		return nil, err
	}
	var live []*keyward.WebSession
	for _, ws := range all {
		if now.Sub(ws.LastSeenAt) < s.IdleTimeout {
			live = append(live, ws)
		}
	}
	return live, nil
}

// sessions lists the signed-in person's dashboard logins and token sessions (the CLI's and
// other programs' sign-ins), each with a button that ends it.
func (s *Server) sessions(w http.ResponseWriter, r *http.Request, v *visit) error {
	page := &sessionsPage{pageBase: pageBase{Title: "Sessions", Visit: v}, Projects: map[string]string{}}
	q := r.URL.Query()
	if q.Has("ended") {
		page.Notice = "The session was ended. Its tokens stop working within a second."
	}
	logins, err := s.liveWebSessions(r, v)
	if err != nil {
		return err
	}
	for _, ws := range logins {
		page.Web = append(page.Web, webSessionRow{ID: webSessionID(ws.Hash), Current: string(ws.Hash) == string(v.hash), WebSession: ws})
	}
	tokens, err := s.Manage.OwnSessions(r.Context(), v.Caller)
	if err != nil {
		return err
	}
	for _, t := range tokens {
		page.Tokens = append(page.Tokens, tokenSessionRow{Session: t, Everything: t.Scope == nil})
		if t.ProjectID == "" || page.Projects[t.ProjectID] != "" {
			continue
		}
		page.Projects[t.ProjectID] = t.ProjectID // a project deleted since still shows its id
		if p, err := s.Manage.Store.ProjectByID(r.Context(), t.ProjectID); err == nil {
			page.Projects[t.ProjectID] = p.Name
		}
	}
	s.render(w, r, http.StatusOK, "sessions", page)
	return nil
}

// endSession ends one of the person's own sessions: a token session through the revocation
// feed, a dashboard login by deleting it (the current one signs this browser out). Another
// person's session is not found.
func (s *Server) endSession(w http.ResponseWriter, r *http.Request, v *visit) error {
	form, err := parseForm(r)
	if err != nil {
		return err
	}
	id := form.get("id")
	switch form.get("kind") {
	case "token":
		if err := s.Manage.RevokeOwnSession(r.Context(), v.Caller, id); err != nil {
			return err
		}
	case "web":
		logins, err := s.liveWebSessions(r, v)
		if err != nil {
			return err
		}
		var found *keyward.WebSession
		for _, ws := range logins {
			if webSessionID(ws.Hash) == id {
				found = ws
			}
		}
		if found == nil {
			return keyward.Errorf(keyward.ENOTFOUND, "The session was not found; it may have ended already.")
		}
		if err := s.Store.DeleteWebSession(r.Context(), found.Hash); err != nil {
			return err
		}
		if string(found.Hash) == string(v.hash) {
			http.SetCookie(w, s.cookie("", -1))
			http.Redirect(w, r, "/login?signed-out", http.StatusSeeOther)
			return nil
		}
	default:
		return keyward.Errorf(keyward.EINVALID, "Choose a session to end.")
	}
	http.Redirect(w, r, "/sessions?ended", http.StatusSeeOther)
	return nil
}
