package api

import (
	_ "embed"
	"net/http"
)

// openAPIDocument describes the whole HTTP surface, /oauth and the operational endpoints too. It
// is written by hand, and tests check the real responses against it.
//
//go:embed openapi.json
var openAPIDocument []byte

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPIDocument)
	return nil
}
