package ratelimit

import (
	"fmt"
	"testing"
	"time"
)

func TestKnownForgetsAfterTTL(t *testing.T) {
	c := newClock()
	k := NewKnown(time.Hour, c.Now)
	if k.Has("seen:a@example.com@198.51.100.1") {
		t.Fatal("a key never remembered is known")
	}
	k.Remember("seen:a@example.com@198.51.100.1")
	c.Advance(time.Hour - time.Second)
	if !k.Has("seen:a@example.com@198.51.100.1") {
		t.Fatal("forgotten before its ttl")
	}
	k.Remember("seen:a@example.com@198.51.100.1") // a new success starts the ttl again
	c.Advance(time.Hour - time.Second)
	if !k.Has("seen:a@example.com@198.51.100.1") {
		t.Fatal("a second success did not extend the ttl")
	}
	c.Advance(time.Second)
	if k.Has("seen:a@example.com@198.51.100.1") || k.Len() != 0 {
		t.Fatalf("still known after the ttl (Len %d)", k.Len())
	}
}

func TestKnownCapEvictsTheOldest(t *testing.T) {
	c := newClock()
	k := NewKnown(time.Hour, c.Now)
	k.maxKeys = 3
	k.Remember("owner")
	for i := range 100 { // an attacker with valid accounts of their own flushing the table
		c.Advance(time.Millisecond)
		k.Remember(fmt.Sprint("attacker", i))
		if k.Len() > 3 {
			t.Fatalf("Len = %d, above the cap", k.Len())
		}
	}
	if k.Has("owner") || !k.Has("attacker99") {
		t.Fatal("the cap did not evict the oldest success")
	}
}
