package keyring

import (
	"context"
	"testing"

	"github.com/keyward/keyward"
)

// Two keyrings on one MemoryStore agree through its compare-and-swap: the second finds the
// first's key instead of writing its own, and a write on a stale version is refused.
func TestMemoryStore(t *testing.T) {
	ctx := context.Background()
	st := NewMemoryStore(keyward.SigningKeySet{})
	a, err := New(ctx, st, Config{Now: newClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(ctx, st, Config{Now: newClock().Now, RequireExisting: true})
	if err != nil {
		t.Fatal(err)
	}
	if current(t, a).ID != current(t, b).ID {
		t.Errorf("two keyrings on one store sign with %s and %s", current(t, a).ID, current(t, b).ID)
	}
	set, _ := st.LoadSigningKeys(ctx)
	if set.Version != 1 || len(set.Keys) == 0 {
		t.Fatalf("after the first start: version %d, %d keys", set.Version, len(set.Keys))
	}
	if _, err := st.ReplaceSigningKeys(ctx, 0, nil); keyward.ErrorCode(err) != keyward.ECONFLICT {
		t.Errorf("replace on a stale version: %v, want ECONFLICT", err)
	}
	if v, err := st.ReplaceSigningKeys(ctx, 1, set.Keys[:1]); err != nil || v != 2 {
		t.Errorf("replace on the current version: %d, %v; want version 2", v, err)
	}
}
