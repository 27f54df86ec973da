package oauth

import (
	"context"
	"errors"
	"net/http"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/authn"
)

// secondFactor asks a user who has a second factor for it, after their right password: the otp
// parameter, a TOTP code or a recovery code (Cycle's model). Without it the answer says so,
// which only someone who knows the password learns; a wrong one counts as a failed sign-in.
func secondFactor(ctx context.Context, login authn.Login, a *authn.Attempt, u *keyward.User, req *request) error {
	need, err := login.NeedsSecondFactor(ctx, u)
	if err != nil {
		return storeError(err)
	}
	if !need {
		return nil
	}
	otp := req.form["otp"]
	if otp == "" {
		return invalidGrant(authn.SecondFactorRequired)
	}
	err = login.SecondFactor(ctx, a, u, otp)
	var wait *authn.Throttled
	switch {
	case errors.As(err, &wait):
		return throttled(wait.RetryAfter)
	case keyward.ErrorCode(err) == keyward.EUNAUTHORIZED:
		return invalidGrant(authn.WrongSecondFactor)
	case err != nil:
		return storeError(err)
	}
	return nil
}

// projectRefused answers a project that refuses the user (require_2fa) with its message.
func projectRefused(err error) *Error {
	return oauthError(http.StatusForbidden, errInvalidGrant, keyward.ErrorMessage(err))
}
