package sqlstore

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestAuditSearchIndexesUsed: on SQLite, every read of audit_events a search makes is a range of
// the index of its column (never a scan of the project's log), the list of a project's actions
// seeks the action index, and the count of a key's sessions uses the key's session index.
func TestAuditSearchIndexesUsed(t *testing.T) {
	db, err := Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "keyward.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	terms := []auditTerm{{"target", "key:k"}, {"actor", "key:k"}, {"action", "api_key.created"}}
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{auditSearchQuery(terms), []string{
			"SEARCH audit_events USING INDEX audit_events_target (project_id=? AND target=? AND id<?)",
			"SEARCH audit_events USING INDEX audit_events_actor (project_id=? AND actor=? AND id<?)",
			"SEARCH audit_events USING INDEX audit_events_action (project_id=? AND action=? AND id<?)",
		}},
		{auditActionsQuery, []string{
			"SEARCH audit_events USING COVERING INDEX audit_events_action (project_id=?)",
			"SEARCH e USING COVERING INDEX audit_events_action (project_id=? AND action>?)",
		}},
		{keySessionCountQuery, []string{"SEARCH s USING INDEX sessions_key_id (key_id=?)"}},
	} {
		plan := queryPlan(t, db, tc.query, "p", 5, 10, "a", "b", "c")
		for _, want := range tc.want {
			if !slices.Contains(plan, want) {
				t.Errorf("%s\nplan %q, want it to hold %q", tc.query, plan, want)
			}
		}
		for _, step := range plan {
			if strings.HasPrefix(step, "SCAN audit_events") || strings.HasPrefix(step, "SCAN e") || strings.HasPrefix(step, "SCAN s") {
				t.Errorf("%s\nplan %q scans a table", tc.query, plan)
			}
		}
	}
}
