package dashboard

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/authn"
)

// deviceCookieAge is how long a browser stays known after a sign-in (each sign-in renews it).
const deviceCookieAge = 365 * 24 * time.Hour

// deviceName is the device cookie's name; over https the __Host- prefix, as for the session.
func (s *Server) deviceName() string {
	if s.HTTPS {
		return "__Host-keyward_device"
	}
	return "keyward_device"
}

// deviceKey returns the key that signs device cookies, derived from DeviceSecret, or from a
// random secret of this process when there is none (restarting then forgets every browser,
// which costs their owners nothing but the ordinary lockout).
func (s *Server) deviceKey() ([]byte, error) {
	s.deviceOnce.Do(func() {
		secret := s.DeviceSecret
		if len(secret) == 0 {
			secret = make([]byte, 32)
			if _, s.deviceErr = io.ReadFull(s.Rand, secret); s.deviceErr != nil {
				return
			}
		}
		s.deviceMAC, s.deviceErr = deriveKey(secret, "keyward device cookie")
	})
	return s.deviceMAC, s.deviceErr
}

// deviceMAC signs a device cookie's payload.
func deviceMAC(key []byte, payload string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// device returns the request's device cookie when it is one this server signed for some user
// within deviceCookieAge, and nil otherwise; a forged, altered or expired cookie is no cookie.
func (s *Server) device(r *http.Request) *authn.Device {
	c, err := r.Cookie(s.deviceName())
	if err != nil || len(c.Value) > 512 {
		return nil
	}
	enc, sig, ok := strings.Cut(c.Value, ".")
	if !ok {
		return nil
	}
	raw, err1 := base64.RawURLEncoding.DecodeString(enc)
	mac, err2 := base64.RawURLEncoding.DecodeString(sig)
	key, err3 := s.deviceKey()
	if err1 != nil || err2 != nil || err3 != nil || !hmac.Equal(mac, deviceMAC(key, string(raw))) {
		return nil
	}
	// user id, nonce, issued: written by setDevice alone, since the MAC matched.
	parts := strings.Split(string(raw), "|")
	if len(parts) != 3 {
		return nil
	}
	issued, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || s.Now().Sub(time.Unix(issued, 0)) >= deviceCookieAge {
		return nil
	}
	return &authn.Device{ID: parts[1], UserID: parts[0]}
}

// setDevice gives the browser a fresh device cookie binding it to userID: a new random id at
// every sign-in, so a cookie locked out by guessing is replaced by the owner's next success.
func (s *Server) setDevice(w http.ResponseWriter, userID string) error {
	key, err := s.deviceKey()
	if err != nil {
		return err
	}
	nonce := make([]byte, 16)
	if _, err := io.ReadFull(s.Rand, nonce); err != nil {
		return fmt.Errorf("device cookie: %w", err)
	}
	payload := userID + "|" + hex.EncodeToString(nonce) + "|" + strconv.FormatInt(s.Now().Unix(), 10)
	http.SetCookie(w, &http.Cookie{
		Name:  s.deviceName(),
		Value: base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." + base64.RawURLEncoding.EncodeToString(deviceMAC(key, payload)),
		Path:  "/", MaxAge: int(deviceCookieAge / time.Second),
		HttpOnly: true, Secure: s.HTTPS, SameSite: http.SameSiteLaxMode,
	})
	return nil
}
