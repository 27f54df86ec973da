package proc

import (
	"strings"
	"testing"
)

func TestTail(t *testing.T) {
	if got := string(Tail([]byte("a\nb\nc\nd\n"), 2)); got != "c\nd\n" {
		t.Errorf("tail = %q", got)
	}
	if got := string(Tail([]byte("only"), 5)); got != "only\n" {
		t.Errorf("tail = %q", got)
	}
}

func TestChildEnvDropsKeywardVariables(t *testing.T) {
	t.Setenv("KEYWARD_PASSWORD_GRANT", "false")
	env := strings.Join(ChildEnv("KEYWARD_ADMIN_EMAIL=a@b.c"), "\n")
	if strings.Contains(env, "KEYWARD_PASSWORD_GRANT") || !strings.Contains(env, "KEYWARD_ADMIN_EMAIL=a@b.c") {
		t.Errorf("child environment keeps the caller's KEYWARD_* or loses the bench's own")
	}
}
