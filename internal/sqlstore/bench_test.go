package sqlstore_test

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/sqlstore"
)

// benchFixture is a store with one project and one key, the setting of a token exchange.
func benchFixture(b *testing.B) (*sqlstore.DB, *keyward.APIKey) {
	b.Helper()
	db := openSQLite(b, filepath.Join(b.TempDir(), "keyward.db"))
	ctx := b.Context()
	t0 := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	u := &keyward.User{ID: "usr_bench", Email: "bench@example.com", PasswordHash: "x", CreatedAt: t0}
	p := &keyward.Project{ID: "prj_bench", Name: "bench", CreatedAt: t0}
	k := &keyward.APIKey{ID: "benchkey00000000", ProjectID: p.ID, Name: "bench", Permissions: []string{"containers-view"},
		SecretHash: make([]byte, 32), Hint: "abcd", CreatedBy: "user:" + u.ID, Owner: u.ID, CreatedAt: t0}
	if err := db.CreateUser(ctx, u); err != nil {
		b.Fatal(err)
	}
	if err := db.CreateProject(ctx, p, &keyward.Member{UserID: u.ID, CreatedAt: t0, UpdatedAt: t0}); err != nil {
		b.Fatal(err)
	}
	if err := db.CreateAPIKey(ctx, k); err != nil {
		b.Fatal(err)
	}
	return db, k
}

// hashN is a distinct token hash per n, cheaper than crypto/rand in a benchmark loop.
func hashN(tag byte, n int) []byte {
	var buf [9]byte
	buf[0] = tag
	binary.BigEndian.PutUint64(buf[1:], uint64(n))
	h := sha256.Sum256(buf[:])
	return h[:]
}

func BenchmarkSQLiteCreateSession(b *testing.B) {
	db, k := benchFixture(b)
	ctx := b.Context()
	now := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	i := 0
	for b.Loop() {
		i++
		s := &keyward.Session{ID: "ses_" + strconv.Itoa(i), Kind: keyward.SessionKey,
			KeyID: k.ID, ProjectID: k.ProjectID, CreatedAt: now, ExpiresAt: now.Add(720 * time.Hour)}
		tok := &keyward.RefreshToken{Hash: hashN(1, i), IssuedAt: now, ExpiresAt: now.Add(3 * time.Hour)}
		if err := db.CreateSession(ctx, s, tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSQLiteConsumeRefreshToken(b *testing.B) {
	db, k := benchFixture(b)
	ctx := b.Context()
	now := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	s := &keyward.Session{ID: "ses_bench", Kind: keyward.SessionKey, KeyID: k.ID, ProjectID: k.ProjectID,
		CreatedAt: now, ExpiresAt: now.Add(720 * time.Hour)}
	cur := hashN(2, 0)
	if err := db.CreateSession(ctx, s, &keyward.RefreshToken{Hash: cur, IssuedAt: now, ExpiresAt: now.Add(3 * time.Hour)}); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		i++
		next := &keyward.RefreshToken{Hash: hashN(2, i), IssuedAt: now, ExpiresAt: now.Add(3 * time.Hour)}
		if _, err := db.ConsumeRefreshToken(ctx, s.ID, cur, now, next); err != nil {
			b.Fatal(err)
		}
		cur = next.Hash
	}
}

func BenchmarkSQLiteAPIKey(b *testing.B) {
	db, k := benchFixture(b)
	ctx := b.Context()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := db.APIKey(ctx, k.ID); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// The parallel benchmarks are the server's situation: many requests writing at once, 32 of them
// per core as with the load generator's 32 connections on 2 cores.

func BenchmarkSQLiteCreateSessionParallel(b *testing.B) {
	db, k := benchFixture(b)
	ctx := b.Context()
	now := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	var n atomic.Int64
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(n.Add(1))
			s := &keyward.Session{ID: "ses_" + strconv.Itoa(i), Kind: keyward.SessionKey,
				KeyID: k.ID, ProjectID: k.ProjectID, CreatedAt: now, ExpiresAt: now.Add(720 * time.Hour)}
			tok := &keyward.RefreshToken{Hash: hashN(1, i), IssuedAt: now, ExpiresAt: now.Add(3 * time.Hour)}
			if err := db.CreateSession(ctx, s, tok); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkSQLiteConsumeRefreshTokenParallel(b *testing.B) {
	db, k := benchFixture(b)
	ctx := b.Context()
	now := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	var chains, n atomic.Int64
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		// One session per goroutine, its refresh token spent and replaced in a chain.
		c := int(chains.Add(1))
		s := &keyward.Session{ID: "ses_chain" + strconv.Itoa(c), Kind: keyward.SessionKey, KeyID: k.ID,
			ProjectID: k.ProjectID, CreatedAt: now, ExpiresAt: now.Add(720 * time.Hour)}
		cur := hashN(3, -c)
		if err := db.CreateSession(ctx, s, &keyward.RefreshToken{Hash: cur, IssuedAt: now, ExpiresAt: now.Add(3 * time.Hour)}); err != nil {
			b.Error(err)
			return
		}
		for pb.Next() {
			next := &keyward.RefreshToken{Hash: hashN(3, int(n.Add(1))), IssuedAt: now, ExpiresAt: now.Add(3 * time.Hour)}
			if _, err := db.ConsumeRefreshToken(ctx, s.ID, cur, now, next); err != nil {
				b.Error(err)
				return
			}
			cur = next.Hash
		}
	})
}

// BenchmarkListKeys reads a page of a project's keys, from the middle of the list, and searches
// them by a name prefix that ten keys match, in a project of 100 keys and in one of 100,000: the
// page and the search follow an index, so both cost the same at either size.
func BenchmarkListKeys(b *testing.B) {
	for _, n := range []int{100, 100_000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			db, k := benchFixture(b)
			ctx := b.Context()
			for i := range n - 1 {
				key := *k
				key.ID = fmt.Sprintf("listkey%09d", i)
				key.Name = fmt.Sprintf("key-%06d", i)
				key.CreatedAt = k.CreatedAt.Add(time.Duration(i) * time.Second)
				if err := db.CreateAPIKey(ctx, &key); err != nil {
					b.Fatal(err)
				}
			}
			// The cursor after the first half: the page below starts in the middle.
			_, middle, err := db.APIKeyPage(ctx, k.ProjectID, keyward.Page{Limit: n / 2})
			if err != nil || middle == "" {
				b.Fatal(middle, err)
			}
			b.Run("page", func(b *testing.B) {
				for b.Loop() {
					keys, _, err := db.APIKeyPage(ctx, k.ProjectID, keyward.Page{Limit: 50, Cursor: middle})
					if err != nil || len(keys) != 50 {
						b.Fatal(len(keys), err)
					}
				}
			})
			b.Run("search", func(b *testing.B) {
				search := fmt.Sprintf("KEY-%05d", n/20) // key-NNNNN0 to key-NNNNN9
				for b.Loop() {
					keys, _, err := db.APIKeyPage(ctx, k.ProjectID, keyward.Page{Limit: 100, Search: search})
					if err != nil || len(keys) != 10 {
						b.Fatal(len(keys), err)
					}
				}
			})
		})
	}
}
