package oauth

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/internal/devicecode"
)

const (
	// deviceCodeTTL is how long a person has to approve a code (RFC 8628 suggests minutes).
	deviceCodeTTL = 10 * time.Minute
	// devicePollInterval is the least time between two polls a client is told.
	devicePollInterval = 5 * time.Second
	// maxDeviceProjectRef bounds the project parameter; project ids and names are far shorter.
	maxDeviceProjectRef = 200
)

// DevicePath is the dashboard page where a person enters a user code.
const DevicePath = "/device"

// OAuth error codes of the device authorization grant (RFC 8628 §3.5).
const (
	errAuthorizationPending = "authorization_pending"
	errSlowDown             = "slow_down"
	errAccessDenied         = "access_denied"
	errExpiredToken         = "expired_token"
)

// handleDeviceAuthorization starts a device sign-in (RFC 8628 §3.1). Anyone may call it, and each
// call stores a row for ten minutes, so every call counts against the address, failed or not.
func (s *Server) handleDeviceAuthorization(w http.ResponseWriter, r *http.Request) {
	resp, err := s.deviceAuthorization(r.Context(), w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) deviceAuthorization(ctx context.Context, w http.ResponseWriter, r *http.Request) (*client.DeviceAuthorization, error) {
	f, err := parseForm(w, r)
	if err != nil {
		return nil, err
	}
	ip := s.ClientIP(r)
	if wait := blockedFor(s.DeviceRequests, ip.String()); wait > 0 {
		return nil, throttled(wait)
	}
	s.DeviceRequests.Fail(ip.String())
	c, err := clientAuthentication(r, f)
	if err != nil {
		return nil, err
	}
	if c.Present {
		return nil, invalidRequest("The device authorization grant takes no client authentication: send client_id=" + client.DeviceClientID + " alone.")
	}
	if c.ID != "" && c.ID != client.DeviceClientID {
		return nil, invalidClient("Unknown client_id: the device authorization grant serves keyward's CLI, "+client.DeviceClientID+".", false)
	}
	d := &keyward.DeviceAuthorization{ClientID: client.DeviceClientID, IP: ip.String(), CreatedAt: s.Now(), Interval: devicePollInterval}
	d.ExpiresAt = d.CreatedAt.Add(deviceCodeTTL)
	if raw, ok := f["scope"]; ok {
		d.Scope = strings.Fields(raw)
		for _, name := range d.Scope {
			if !s.Catalog.Has(name) {
				return nil, oauthError(http.StatusBadRequest, errInvalidScope, "The scope names a permission this server does not have.")
			}
		}
	}
	if ref, ok := f["project"]; ok {
		// Resolved only when a person approves, against their memberships: whether it exists is
		// nobody's business before that.
		if ref == "" || len(ref) > maxDeviceProjectRef {
			return nil, invalidRequest("The project parameter must name a project.")
		}
		d.Project = ref
	}
	deviceCode, deviceHash, err := devicecode.NewDeviceCode(s.Rand)
	if err != nil {
		return nil, serverError(err)
	}
	d.DeviceCodeHash = deviceHash
	// A user code may be live already (one in 2^34 per live code): draw again.
	var userCode string
	for range 3 {
		if userCode, d.UserCodeHash, err = devicecode.NewUserCode(s.Rand); err != nil {
			return nil, serverError(err)
		}
		if err = s.Store.CreateDeviceAuthorization(ctx, d); keyward.ErrorCode(err) != keyward.ECONFLICT {
			break
		}
	}
	if err != nil {
		return nil, storeError(err)
	}
	verify := strings.TrimSuffix(s.Issuer, "/") + DevicePath
	return &client.DeviceAuthorization{
		DeviceCode: deviceCode, UserCode: userCode, VerificationURI: verify,
		VerificationURIComplete: verify + "?" + url.Values{"user_code": {userCode}}.Encode(),
		ExpiresIn:               seconds(deviceCodeTTL), Interval: seconds(devicePollInterval),
	}, nil
}

// deviceGrant redeems a device code once a person approved it in the dashboard (RFC 8628 §3.4):
// a session of that person, as the password grant starts, narrowed as the device asked.
type deviceGrant struct{}

func (deviceGrant) check(s *Server, req *request) error {
	if req.form["device_code"] == "" {
		return invalidRequest("The device_code parameter is missing.")
	}
	if req.client.Present {
		return invalidRequest("The device grant takes no client authentication.")
	}
	if req.client.ID != "" && req.client.ID != client.DeviceClientID {
		return invalidClient("Unknown client_id: the device grant serves keyward's CLI, "+client.DeviceClientID+".", false)
	}
	return nil
}

func unknownDeviceCode() *refusal {
	return failedAttempt(invalidGrant("The device code is unknown or was already used."))
}

func expiredDeviceCode() *Error {
	return oauthError(http.StatusBadRequest, errExpiredToken, "The device code has expired; start the sign-in again.")
}

// identify records the poll and answers every state but an approval; an approval becomes a
// subject of the person who approved, whose membership and scope are read now.
func (deviceGrant) identify(ctx context.Context, s *Server, req *request) (*subject, error) {
	d, err := s.Store.PollDeviceAuthorization(ctx, devicecode.Hash(req.form["device_code"]), req.now)
	switch {
	case keyward.ErrorCode(err) == keyward.ENOTFOUND:
		return nil, unknownDeviceCode()
	case err != nil:
		return nil, storeError(err)
	case d.Expired(req.now):
		return nil, expiredDeviceCode()
	case d.Status == keyward.DeviceDenied:
		return nil, oauthError(http.StatusBadRequest, errAccessDenied, "The sign-in was denied.")
	case d.SlowDown:
		return nil, oauthError(http.StatusBadRequest, errSlowDown,
			fmt.Sprintf("Polling too often: wait %d seconds between requests.", seconds(d.Interval)))
	case d.Status != keyward.DeviceApproved:
		return nil, oauthError(http.StatusBadRequest, errAuthorizationPending, "The sign-in has not been approved yet.")
	}
	u, err := s.Store.UserByID(ctx, d.UserID)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND || (err == nil && u.Disabled) {
		return nil, unknownDeviceCode()
	} else if err != nil {
		return nil, storeError(err)
	}
	sub, err := s.userSubject(ctx, req, u, d.Project, d.Project != "")
	if err != nil {
		return nil, err
	}
	// The scope the person approved bounds the token: a scope in the token request narrows it
	// further, and without one the token carries the approved scope.
	if d.Scope != nil {
		if req.scopeAsked {
			sub.held = keyward.Intersect(sub.held, d.Scope)
		} else {
			req.scope, req.scopeAsked = d.Scope, true
		}
	}
	return sub, nil
}

// commit spends the device code and stores the session in one transaction.
func (deviceGrant) commit(ctx context.Context, s *Server, req *request, sub *subject, narrowed []string) ([]string, error) {
	sub.session.Scope = narrowed
	if err := s.newSession(req, sub); err != nil {
		return nil, err
	}
	err := s.Store.RedeemDeviceAuthorization(ctx, devicecode.Hash(req.form["device_code"]), sub.session, sub.rt)
	switch keyward.ErrorCode(err) {
	case "":
	case keyward.ENOTFOUND, keyward.ECONFLICT, keyward.EREVOKED:
		// Spent by a concurrent poll, or its approver lost the account or the membership since.
		return nil, unknownDeviceCode()
	case keyward.EEXPIRED:
		return nil, expiredDeviceCode()
	default:
		return nil, storeError(err)
	}
	return effectiveScope(sub.held, narrowed), nil
}
