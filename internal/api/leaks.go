package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/leakreport"
	"github.com/keyward/keyward/internal/web"
)

const (
	// maxLeakBody bounds a secret-scanning report; GitHub sends a few tokens at a time.
	maxLeakBody = 1 << 20
	// maxLeakTokens bounds the tokens of one report, and so the database work it costs.
	maxLeakTokens = 1000
	// maxLeakField bounds the url and source a report gives, as the audit event keeps them.
	maxLeakField = 512
)

// leakReport is one token of a report, in GitHub's secret-scanning partner protocol.
type leakReport struct {
	Token  string `json:"token"`
	Type   string `json:"type"`
	URL    string `json:"url"`
	Source string `json:"source"`
}

// leakLabel is GitHub's expected answer for one token.
type leakLabel struct {
	TokenRaw  string `json:"token_raw"`
	TokenType string `json:"token_type"`
	Label     string `json:"label"` // true_positive: a key of this server, now disabled
}

// reportLeaks serves POST /v1/leaks: a report signed by a key of the configured reporter (the
// signature over the raw body, so a replay with another body fails) disables every key of this
// server it holds, as leaked. Unsigned or badly signed reports are 401 and change nothing. The
// path does not exist unless the operator configured the reporter's keys.
func (s *Server) reportLeaks(w http.ResponseWriter, r *http.Request) error {
	if s.LeakKeys == nil {
		return web.Errorf(http.StatusNotFound, "There is no such API path.")
	}
	if err := checkContentType(r.Header); err != nil {
		return err
	}
	tooLarge := web.Errorf(http.StatusRequestEntityTooLarge, "The body is larger than %d bytes.", maxLeakBody)
	if r.ContentLength > maxLeakBody {
		return tooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxLeakBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge
		}
		return invalid("The body could not be read.")
	}
	err = s.LeakKeys.Verify(r.Context(), body, r.Header.Get("Github-Public-Key-Identifier"), r.Header.Get("Github-Public-Key-Signature"))
	if errors.Is(err, leakreport.ErrBadSignature) {
		return keyward.Errorf(keyward.EUNAUTHORIZED,
			"The report must be signed: Github-Public-Key-Identifier names a key of the reporter and Github-Public-Key-Signature holds its signature of the body.")
	} else if err != nil {
		s.logger().ErrorContext(r.Context(), "leak report keys unavailable", "err", err)
		return keyward.Errorf(keyward.EUNAVAILABLE, "The keys that sign leak reports could not be read; retry later.")
	}
	reports, err := decodeLeakReports(body)
	if err != nil {
		return err
	}
	now, ip := s.Now(), s.clientIP(r).String()
	out := make([]leakLabel, len(reports))
	for i, rep := range reports {
		out[i] = leakLabel{TokenRaw: rep.Token, TokenType: rep.Type, Label: "false_positive"}
		_, matched, err := authn.DisableLeakedKey(r.Context(), s.Store, rep.Token, keyward.AuditEvent{At: now, IP: ip,
			Detail: "source=" + auditField(rep.Source) + " url=" + auditField(rep.URL)})
		if err != nil {
			return err
		}
		if matched {
			out[i].Label = "true_positive"
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

// decodeLeakReports parses a report strictly: a JSON array of at most maxLeakTokens objects with
// exactly the protocol's fields, each a string, and a token in each.
func decodeLeakReports(body []byte) ([]leakReport, error) {
	if !utf8.Valid(body) {
		return nil, invalid("The body is not valid UTF-8.")
	}
	var items []json.RawMessage
	if err := json.Unmarshal(body, &items); err != nil {
		return nil, invalid("The body must be a JSON array of {token, type, url, source}.")
	}
	if len(items) > maxLeakTokens {
		return nil, invalid("A report holds at most %d tokens; this one has %d.", maxLeakTokens, len(items))
	}
	out := make([]leakReport, len(items))
	for i, item := range items {
		if err := decodeStrict(item, &out[i]); err != nil {
			return nil, invalid("Token %d: %s", i+1, keyward.ErrorMessage(err))
		}
		if out[i].Token == "" {
			return nil, invalid("Token %d: the token is missing.", i+1)
		}
	}
	return out, nil
}

// auditField is a reporter's string as an audit event keeps it: bounded, on one line, without
// spaces, so that the detail's fields stay apart.
func auditField(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return '_'
		}
		return r
	}, s)
	if len(s) > maxLeakField {
		s = strings.ToValidUTF8(s[:maxLeakField], "")
	}
	return s
}
