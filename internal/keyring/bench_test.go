package keyring

import "testing"

// The token endpoint calls Current and every verification calls Lookup: both must stay cheap.
func BenchmarkCurrent(b *testing.B) {
	k, err := New(ctx, &memStore{}, Config{Now: newClock().Now})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Current(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLookup(b *testing.B) {
	k, err := New(ctx, &memStore{}, Config{Now: newClock().Now})
	if err != nil {
		b.Fatal(err)
	}
	key, _ := k.Current()
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := k.Lookup(key.ID); !ok {
			b.Fatal("not found")
		}
	}
}
