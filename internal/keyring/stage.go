package keyring

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/keyward/keyward"
)

// The stage of every key follows from its four times, so instances that share a store agree on
// which key signs and which keys are published without talking to each other:
//
//   - published while PublishAt <= t < UnpublishAt;
//   - the current key is the published key with the latest ActivateAt <= t.
//
// One exception keeps signing gap-free: the current key stays published even past its
// UnpublishAt. That only happens when no instance ran maintenance in time (every server was down
// past a rotation), and then the old key keeps signing until its late successor activates.

// currentAt returns the index of the key that signs at t, or -1 when none does.
func currentAt(keys []keyward.SigningKey, t time.Time) int {
	best := -1
	for i := range keys {
		k := &keys[i]
		if k.PublishAt.After(t) || k.ActivateAt.After(t) {
			continue
		}
		if best < 0 {
			best = i
			continue
		}
		b := &keys[best]
		// Ties are broken by kid so every instance picks the same key.
		if k.ActivateAt.After(b.ActivateAt) || (k.ActivateAt.Equal(b.ActivateAt) && k.ID > b.ID) {
			best = i
		}
	}
	return best
}

// publishedAt reports whether keys[i] is in the JWKS at t, given the current key's index.
func publishedAt(keys []keyward.SigningKey, i, current int, t time.Time) bool {
	k := &keys[i]
	return !k.PublishAt.After(t) && (t.Before(k.UnpublishAt) || i == current)
}

// snapshot is an immutable view of one version of the key set. The stages change with time
// even when the set does not, so it holds one epoch per interval between stage boundaries,
// each with its JWKS already serialized.
type snapshot struct {
	set    keyward.SigningKeySet // as stored, possibly sealed
	keys   map[string]*Key       // decoded, by kid
	epochs []epoch               // by from, ascending; epochs[0] starts at the zero time
}

type epoch struct {
	from      time.Time
	current   *Key
	published []*Key // newest ActivateAt first
	jwks      []byte
}

// at returns the epoch containing t.
func (s *snapshot) at(t time.Time) *epoch {
	for i := len(s.epochs) - 1; i > 0; i-- {
		if !t.Before(s.epochs[i].from) {
			return &s.epochs[i]
		}
	}
	return &s.epochs[0]
}

// newSnapshot decodes every key of set and precomputes its epochs. Keys of prev whose stored
// form is unchanged are reused, so a reload does not open and parse them again and the *Key
// pointers that callers may cache stay stable.
func newSnapshot(set keyward.SigningKeySet, master []byte, prev *snapshot) (*snapshot, error) {
	s := &snapshot{set: set, keys: make(map[string]*Key, len(set.Keys))}
	for i := range set.Keys {
		sk := &set.Keys[i]
		if !validAlg(sk.Alg) {
			return nil, fmt.Errorf("signing key %s: unsupported algorithm %q", sk.ID, sk.Alg)
		}
		if _, dup := s.keys[sk.ID]; dup {
			return nil, fmt.Errorf("signing key id %s appears twice", sk.ID)
		}
		if k := prev.reusable(sk); k != nil {
			s.keys[sk.ID] = k
			continue
		}
		k, err := decodeKey(sk, master)
		if err != nil {
			return nil, err
		}
		s.keys[sk.ID] = k
	}

	bounds := []time.Time{{}}
	for _, k := range set.Keys {
		bounds = append(bounds, k.PublishAt, k.ActivateAt, k.UnpublishAt)
	}
	slices.SortFunc(bounds, time.Time.Compare)
	bounds = slices.CompactFunc(bounds, time.Time.Equal)

	var last *epoch
	for _, from := range bounds {
		e, err := s.epochAt(from)
		if err != nil {
			return nil, err
		}
		// Adjacent intervals with the same stages share an epoch.
		if last != nil && last.current == e.current && bytes.Equal(last.jwks, e.jwks) {
			continue
		}
		s.epochs = append(s.epochs, e)
		last = &s.epochs[len(s.epochs)-1]
	}
	return s, nil
}

func (s *snapshot) epochAt(t time.Time) (epoch, error) {
	keys := s.set.Keys
	cur := currentAt(keys, t)
	e := epoch{from: t}
	var idx []int
	for i := range keys {
		if publishedAt(keys, i, cur, t) {
			idx = append(idx, i)
		}
	}
	slices.SortFunc(idx, func(a, b int) int {
		if c := keys[b].ActivateAt.Compare(keys[a].ActivateAt); c != 0 {
			return c
		}
		return cmp.Compare(keys[b].ID, keys[a].ID)
	})
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for _, i := range idx {
		k := s.keys[keys[i].ID]
		e.published = append(e.published, k)
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.Public, KeyID: k.ID, Algorithm: k.Alg, Use: "sig"})
	}
	if cur >= 0 {
		e.current = s.keys[keys[cur].ID]
	}
	var err error
	if e.jwks, err = json.Marshal(set); err != nil {
		return epoch{}, fmt.Errorf("marshal JWKS: %w", err)
	}
	return e, nil
}

// reusable returns the decoded key of the previous snapshot when sk is stored exactly as before.
func (s *snapshot) reusable(sk *keyward.SigningKey) *Key {
	if s == nil {
		return nil
	}
	for i := range s.set.Keys {
		old := &s.set.Keys[i]
		if old.ID == sk.ID && old.Alg == sk.Alg && old.Sealed == sk.Sealed && bytes.Equal(old.Private, sk.Private) {
			return s.keys[sk.ID]
		}
	}
	return nil
}
