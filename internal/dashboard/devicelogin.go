package dashboard

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/devicecode"
	"github.com/keyward/keyward/internal/ratelimit"
)

// devicePage asks for a user code of the device authorization grant, shows what asks to sign in
// with it, and takes the person's approval or denial.
type devicePage struct {
	pageBase
	UserCode string // as typed, for the form
	Error    string
	Device   *keyward.DeviceAuthorization // the code's sign-in, once found and pending
	Project  string                       // the name of the project the program asked for
	// Refused is set when the program asked for a project the person cannot see: they may
	// only deny.
	Refused bool
	Done    string // keyward.DeviceApproved or keyward.DeviceDenied after a decision
}

// deviceThrottleKeys are the limiter keys of wrong user codes: per address and per person, apart
// from those of failed passwords.
func deviceThrottleKeys(v *visit) (ip, user string) {
	return "device:" + v.Caller.IP.String(), "device:user:" + v.User.ID
}

// deviceForm is the verification page (RFC 8628 §3.3): the code comes typed, or in the query
// from verification_uri_complete.
func (s *Server) deviceForm(w http.ResponseWriter, r *http.Request, v *visit) error {
	page := &devicePage{pageBase: pageBase{Title: "Sign in a device", Visit: v}}
	if typed, ok := r.URL.Query()["user_code"]; ok && len(typed) == 1 && typed[0] != "" {
		page.UserCode = typed[0]
		if status, err := s.findDevice(r.Context(), w, v, page); err != nil {
			return err
		} else if status != http.StatusOK {
			s.render(w, r, status, "device", page)
			return nil
		}
	}
	s.render(w, r, http.StatusOK, "device", page)
	return nil
}

// decideDevice approves or denies the sign-in of a user code.
func (s *Server) decideDevice(w http.ResponseWriter, r *http.Request, v *visit) error {
	form, err := parseForm(r)
	if err != nil {
		return err
	}
	approve := form.get("decision") == "approve"
	if !approve && form.get("decision") != "deny" {
		return keyward.Errorf(keyward.EINVALID, "Choose Approve or Deny.")
	}
	page := &devicePage{pageBase: pageBase{Title: "Sign in a device", Visit: v}, UserCode: form.get("user_code")}
	ctx := r.Context()
	if status, err := s.findDevice(ctx, w, v, page); err != nil {
		return err
	} else if status != http.StatusOK {
		s.render(w, r, status, "device", page)
		return nil
	}
	if approve && page.Refused {
		return keyward.Errorf(keyward.EFORBIDDEN, "The program asks for a project you are not a member of, so you can only deny it.")
	}
	now := s.Now()
	d, err := s.Store.DecideDeviceAuthorization(ctx, page.Device.UserCodeHash, v.User.ID, approve, now)
	switch keyward.ErrorCode(err) {
	case "":
	case keyward.EEXPIRED, keyward.ECONFLICT, keyward.ENOTFOUND:
		page.Device, page.Error = nil, "This code has expired or was already used. Start the sign-in again on your device."
		s.render(w, r, http.StatusConflict, "device", page)
		return nil
	default:
		return err
	}
	action := keyward.AuditDeviceDenied
	if approve {
		action = keyward.AuditDeviceApproved
	}
	detail := "client=" + d.ClientID + " from=" + d.IP
	if page.Project != "" {
		detail += " project=" + page.Project
	}
	if d.Scope != nil {
		detail += " scope=" + strings.Join(d.Scope, ",")
	}
	if err := s.Store.AppendAudit(context.WithoutCancel(ctx), &keyward.AuditEvent{At: now, Actor: "user:" + v.User.ID,
		Action: action, Target: "user:" + v.User.ID, IP: v.Caller.IP.String(), Detail: detail}); err != nil {
		s.Logger.Error("audit event lost", "action", action, "err", err)
	}
	page.Done = d.Status
	s.render(w, r, http.StatusOK, "device", page)
	return nil
}

// findDevice looks the typed code up for v, throttled and counting wrong codes per address and
// per person, and fills in page; it returns the status to answer with.
func (s *Server) findDevice(ctx context.Context, w http.ResponseWriter, v *visit, page *devicePage) (int, error) {
	ipKey, userKey := deviceThrottleKeys(v)
	after, blocked := s.ByIP.Blocked(ipKey)
	if a, b := s.ByUser.Blocked(userKey); b {
		after, blocked = max(after, a), true
	}
	if blocked {
		w.Header().Set("Retry-After", strconv.Itoa(ratelimit.Seconds(after)))
		page.Error = "Too many wrong codes. " + ratelimit.TryAgain(after)
		return http.StatusTooManyRequests, nil
	}
	wrong := func() (int, error) {
		s.ByIP.Fail(ipKey)
		s.ByUser.Fail(userKey)
		page.Error = "That code is unknown or was already used. Check it on your device and type it again."
		return http.StatusBadRequest, nil
	}
	canonical, ok := devicecode.Canonical(page.UserCode)
	if !ok {
		return wrong()
	}
	d, err := s.Store.DeviceAuthorization(ctx, devicecode.Hash(canonical))
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		return wrong()
	} else if err != nil {
		return 0, err
	}
	page.UserCode = devicecode.Display(canonical)
	switch {
	case d.Expired(s.Now()):
		page.Error = "This code has expired. Start the sign-in again on your device."
		return http.StatusGone, nil
	case d.Status != keyward.DevicePending:
		page.Error = "This code was already " + d.Status + "."
		return http.StatusConflict, nil
	}
	page.Device = d
	if d.Project != "" {
		a, err := s.Manage.Open(ctx, v.Caller, d.Project)
		if keyward.ErrorCode(err) == keyward.ENOTFOUND {
			page.Refused = true
		} else if err != nil {
			return 0, err
		} else {
			page.Project = a.Project.Name
		}
	}
	return http.StatusOK, nil
}
