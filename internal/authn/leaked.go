package authn

import (
	"context"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/apikey"
)

// LeakStore is the part of the store DisableLeakedKey uses.
type LeakStore interface {
	APIKey(ctx context.Context, id string) (*keyward.APIKey, error)
	keyward.LeakStore
}

// DisableLeakedKey disables the API key raw as leaked (keyward.LeakStore) when it is a key this
// server issued: well formed, existing, and its secret the key's current one or its previous one
// within a roll's grace, compared in constant time. It is the one check of a key presented to
// kill it, by its holder or a secret scanner; e is the audit event, At its time. id is the key id
// raw names ("" when malformed), for throttling; matched tells whether raw was the key's secret.
func DisableLeakedKey(ctx context.Context, st LeakStore, raw string, e keyward.AuditEvent) (id string, matched bool, err error) {
	id, err = apikey.Parse(raw)
	if err != nil {
		return "", false, nil
	}
	k, err := st.APIKey(ctx, id)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		return id, false, nil
	} else if err != nil {
		return id, false, err
	}
	current, previous := k.MatchSecret(apikey.Hash(raw))
	if !current && !(previous && k.PreviousValid(e.At)) {
		return id, false, nil
	}
	// Not cancelled with the request: once the secret matched, the key dies whether or not the
	// caller waits for the answer.
	_, _, err = st.DisableLeakedAPIKey(context.WithoutCancel(ctx), id, e)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND { // deleted meanwhile: dead all the same
		err = nil
	}
	return id, err == nil, err
}
