package oauth

import (
	"fmt"
	"testing"

	"github.com/keyward/keyward"
)

func TestKeyCacheIsBounded(t *testing.T) {
	var c keyCache
	for i := range maxCachedKeys + 100 {
		c.put(&keyward.APIKey{ID: fmt.Sprintf("key%013d", i)})
	}
	if n := len(c.m); n != maxCachedKeys {
		t.Errorf("%d keys cached, want the bound %d", n, maxCachedKeys)
	}
	last := fmt.Sprintf("key%013d", maxCachedKeys+99)
	if c.get(last) == nil {
		t.Errorf("the newest key is not cached")
	}
	c.drop(last)
	if c.get(last) != nil {
		t.Errorf("a dropped key is still cached")
	}
}
