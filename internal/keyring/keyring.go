package keyring

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward"
)

// Store is the part of keyward.Store the keyring needs.
type Store interface {
	// LoadSigningKeys returns the set; an empty set has Version 0.
	LoadSigningKeys(ctx context.Context) (keyward.SigningKeySet, error)
	// ReplaceSigningKeys stores keys if the stored version still equals expectedVersion;
	// ECONFLICT when another instance replaced the set first.
	ReplaceSigningKeys(ctx context.Context, expectedVersion int64, keys []keyward.SigningKey) (int64, error)
}

// Defaults for the zero values of Config.
const (
	DefaultAlg      = ES256
	DefaultRotation = 30 * 24 * time.Hour
	DefaultTokenTTL = 2 * time.Hour
	DefaultCacheTTL = 10 * time.Minute
)

// maxPublishLead bounds how long before activation a successor is published. A day is long
// enough to ride out a database outage at rotation time and short enough to keep the JWKS small.
const maxPublishLead = 24 * time.Hour

// maxAttempts bounds the reload-and-retry loop when other instances keep winning the CAS.
const maxAttempts = 5

// Config controls key generation and rotation. Zero values take the defaults above.
type Config struct {
	Alg      string        // ES256 (default), EdDSA or RS256 (2048-bit keys)
	Rotation time.Duration // how long a key signs before its successor takes over
	// TokenTTL is the longest access-token lifetime: a retired key stays published that long
	// after it stopped signing, so every token it signed still verifies.
	TokenTTL time.Duration
	// CacheTTL is how long verifiers may cache the JWKS (the Cache-Control max-age of
	// /.well-known/jwks.json). A successor is published at least twice that long before it
	// signs: one lifetime for verifiers' caches, one for other instances to notice the new key.
	CacheTTL time.Duration
	// MasterKey (MasterKeySize bytes) seals private keys in the store with AES-256-GCM; nil
	// stores them unsealed. Unsealed keys are sealed at the next write once it is set.
	MasterKey []byte
	// RequireExisting makes an empty key set an error instead of a reason to create the first
	// key, for instances that must join a deployment whose keys already exist.
	RequireExisting bool
	Now             func() time.Time
	Rand            io.Reader // identifiers and nonces; private keys always come from crypto/rand
}

func (c *Config) withDefaults() (Config, error) {
	out := *c
	if out.Alg == "" {
		out.Alg = DefaultAlg
	}
	if out.Rotation == 0 {
		out.Rotation = DefaultRotation
	}
	if out.TokenTTL == 0 {
		out.TokenTTL = DefaultTokenTTL
	}
	if out.CacheTTL == 0 {
		out.CacheTTL = DefaultCacheTTL
	}
	if out.Now == nil {
		out.Now = time.Now
	}
	if out.Rand == nil {
		out.Rand = rand.Reader
	}
	if len(out.MasterKey) == 0 {
		out.MasterKey = nil
	}
	switch {
	case !validAlg(out.Alg):
		return out, keyward.Errorf(keyward.EINVALID, "Unsupported signing algorithm %q: use ES256, EdDSA or RS256.", out.Alg)
	case out.Rotation < 0 || out.TokenTTL < 0 || out.CacheTTL < 0:
		return out, keyward.Errorf(keyward.EINVALID, "Signing-key durations must be positive.")
	case out.Rotation <= 2*out.CacheTTL:
		return out, keyward.Errorf(keyward.EINVALID,
			"The signing-key rotation (%s) must be longer than twice the JWKS cache lifetime (%s).", out.Rotation, out.CacheTTL)
	case out.MasterKey != nil && len(out.MasterKey) != MasterKeySize:
		return out, keyward.Errorf(keyward.EINVALID, "The master key must be %d bytes.", MasterKeySize)
	}
	return out, nil
}

// publishLead is how long before the current key retires its successor is published.
func (c *Config) publishLead() time.Duration {
	return max(min(c.Rotation/4, maxPublishLead), 2*c.CacheTTL)
}

// Keyring holds the signing keys. Current, Lookup and JWKS read an immutable snapshot through an
// atomic pointer, so they are cheap and safe for concurrent use; Maintain replaces the snapshot.
type Keyring struct {
	store Store
	cfg   Config
	snap  atomic.Pointer[snapshot]
	mu    sync.Mutex // serializes Maintain
}

// New loads the key set and brings it up to date, creating the first key (which signs at once,
// since no verifier can have cached anything yet) when the set is empty. A key that cannot be
// decoded or opened is an error: the server must not start and must never silently replace it.
func New(ctx context.Context, s Store, c Config) (*Keyring, error) {
	cfg, err := c.withDefaults()
	if err != nil {
		return nil, err
	}
	k := &Keyring{store: s, cfg: cfg}
	if err := k.Maintain(ctx); err != nil {
		return nil, err
	}
	return k, nil
}

// CacheTTL is how long verifiers may cache the JWKS; serve it as the JWKS Cache-Control max-age.
func (k *Keyring) CacheTTL() time.Duration { return k.cfg.CacheTTL }

// TokenTTL is the longest access-token lifetime the rotation schedule allows for.
func (k *Keyring) TokenTTL() time.Duration { return k.cfg.TokenTTL }

// Current returns the key that signs now.
func (k *Keyring) Current() (*Key, error) {
	if cur := k.snap.Load().at(k.cfg.Now()).current; cur != nil {
		return cur, nil
	}
	// Only possible when this clock runs behind the instance that created every key.
	return nil, keyward.Errorf(keyward.EUNAVAILABLE, "No signing key is active yet.")
}

// Lookup returns the published key with the given kid. Keys not yet or no longer published are
// not found, so verification agrees with what the JWKS tells resource servers.
func (k *Keyring) Lookup(kid string) (*Key, bool) {
	for _, key := range k.snap.Load().at(k.cfg.Now()).published {
		if key.ID == kid {
			return key, true
		}
	}
	return nil, false
}

// JWKS returns the RFC 7517 key set of the published public keys. The bytes are shared: do not
// modify them.
func (k *Keyring) JWKS() []byte {
	return k.snap.Load().at(k.cfg.Now()).jwks
}

// Maintain reloads the set (another instance may have rotated it), publishes a successor when
// one is due, and drops keys whose tokens have all expired. Writes are compare-and-swap: the
// loser of a race reloads and finds the work done, so across instances each stage happens once.
// Call it at least once every CacheTTL; on error the previous snapshot stays in use.
func (k *Keyring) Maintain(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	for range maxAttempts {
		set, err := k.store.LoadSigningKeys(ctx)
		if err != nil {
			return fmt.Errorf("load signing keys: %w", err)
		}
		snap := k.snap.Load()
		if snap == nil || snap.set.Version != set.Version {
			if snap, err = newSnapshot(set, k.cfg.MasterKey, snap); err != nil {
				return err
			}
			k.snap.Store(snap)
		}

		next, changed, err := k.plan(set.Keys, k.cfg.Now())
		if err != nil || !changed {
			return err
		}
		version, err := k.store.ReplaceSigningKeys(ctx, set.Version, next)
		if keyward.ErrorCode(err) == keyward.ECONFLICT {
			continue
		} else if err != nil {
			return fmt.Errorf("replace signing keys: %w", err)
		}
		written, err := newSnapshot(keyward.SigningKeySet{Version: version, Keys: next}, k.cfg.MasterKey, snap)
		if err != nil {
			return err
		}
		k.snap.Store(written)
		return nil
	}
	return keyward.Errorf(keyward.ECONFLICT, "The signing keys kept changing during maintenance; try again.")
}

// plan returns the key set as it should be at now, and whether it differs from stored.
func (k *Keyring) plan(stored []keyward.SigningKey, now time.Time) ([]keyward.SigningKey, bool, error) {
	cfg := &k.cfg
	keys := slices.Clone(stored)
	changed := false

	cur := currentAt(keys, now)
	if cur < 0 {
		if len(keys) > 0 {
			// Every key activates later than now: this clock is behind the instance that made
			// them. Waiting is safe; adding a key here would fork the schedule.
			return keys, false, nil
		}
		if cfg.RequireExisting {
			return nil, false, keyward.Errorf(keyward.EUNAVAILABLE, "No signing keys exist yet, and this instance may not create them.")
		}
		start := floorSecond(now)
		first, err := k.newKey(now, start, start)
		if err != nil {
			return nil, false, err
		}
		return []keyward.SigningKey{first}, true, nil
	}

	curActivate := keys[cur].ActivateAt
	hasSuccessor := slices.ContainsFunc(keys, func(s keyward.SigningKey) bool { return s.ActivateAt.After(curActivate) })
	due := !now.Before(keys[cur].RetireAt.Add(-cfg.publishLead())) || keys[cur].Alg != cfg.Alg
	if !hasSuccessor && due {
		activate := ceilSecond(now.Add(2 * cfg.CacheTTL))
		if keys[cur].Alg == cfg.Alg && keys[cur].RetireAt.After(activate) {
			activate = keys[cur].RetireAt // on schedule
		}
		next, err := k.newKey(now, floorSecond(now), activate)
		if err != nil {
			return nil, false, err
		}
		// A late or early successor moves the current key's retirement, and with it the
		// moment its last token expires.
		keys[cur].RetireAt = activate
		keys[cur].UnpublishAt = k.unpublishAfter(activate)
		keys = append(keys, next)
		changed = true
	}

	kept := keys[:0]
	for i, key := range keys {
		if i != cur && !key.ActivateAt.After(curActivate) {
			if !now.Before(key.UnpublishAt) {
				changed = true // every token it signed has expired
				continue
			}
			// A retired key stays until its tokens expire under this instance's TokenTTL, which
			// may be longer than the one of the instance that retired it.
			if want := k.unpublishAfter(key.RetireAt); key.UnpublishAt.Before(want) {
				key.UnpublishAt = want
				changed = true
			}
		}
		if cfg.MasterKey != nil && !key.Sealed {
			sealed, err := Seal(cfg.MasterKey, key.ID, key.Private, cfg.Rand)
			if err != nil {
				return nil, false, err
			}
			key.Private, key.Sealed = sealed, true
			changed = true
		}
		kept = append(kept, key)
	}
	slices.SortFunc(kept, func(a, b keyward.SigningKey) int { return a.ActivateAt.Compare(b.ActivateAt) })
	return kept, changed, nil
}

// newKey generates a key published from publish that signs from activate.
func (k *Keyring) newKey(now, publish, activate time.Time) (keyward.SigningKey, error) {
	cfg := &k.cfg
	kid, err := keyward.RandomBase62(cfg.Rand, kidLength)
	if err != nil {
		return keyward.SigningKey{}, err
	}
	der, err := generateKey(cfg.Alg)
	if err != nil {
		return keyward.SigningKey{}, err
	}
	sk := keyward.SigningKey{
		ID:          kid,
		Alg:         cfg.Alg,
		Private:     der,
		CreatedAt:   now.UTC(),
		PublishAt:   publish,
		ActivateAt:  activate,
		RetireAt:    activate.Add(cfg.Rotation),
		UnpublishAt: k.unpublishAfter(activate.Add(cfg.Rotation)),
	}
	if cfg.MasterKey != nil {
		if sk.Private, err = Seal(cfg.MasterKey, kid, der, cfg.Rand); err != nil {
			return keyward.SigningKey{}, err
		}
		sk.Sealed = true
	}
	return sk, nil
}

// unpublishAfter is when a key retired at retire may leave the JWKS: its last token has expired,
// and one more cache lifetime covers verifiers' clocks and caches.
func (k *Keyring) unpublishAfter(retire time.Time) time.Time {
	return retire.Add(k.cfg.TokenTTL + k.cfg.CacheTTL)
}

// Stage times are whole seconds in UTC, so that every store keeps them exactly.
func floorSecond(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }

func ceilSecond(t time.Time) time.Time {
	f := floorSecond(t)
	if f.Before(t) {
		return f.Add(time.Second)
	}
	return f
}
