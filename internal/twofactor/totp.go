package twofactor

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// TOTP parameters: those every authenticator app supports (RFC 6238 with HMAC-SHA-1, 6 digits,
// 30-second steps).
const (
	SecretBytes = 20 // 160 bits, as RFC 4226 recommends
	Digits      = 6
	Period      = 30 // seconds
	// Window is how many steps before and after the current one a code may be from, for clocks
	// that drift and people who type slowly.
	Window = 1
)

// Step is the time step t falls in.
func Step(t time.Time) int64 { return t.Unix() / Period }

// Code is the code of secret at step (RFC 4226 §5.3, with the step as the counter).
func Code(secret []byte, step int64) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(step))
	mac := hmac.New(sha1.New, secret)
	mac.Write(msg[:])
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	bin := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%06d", bin%1_000_000)
}

// match returns the step, within Window of now's and after last, whose code is code; ok is
// false when there is none. Every candidate is compared, in constant time.
func match(secret []byte, code string, now time.Time, last int64) (step int64, ok bool) {
	cur := Step(now)
	for s := cur - Window; s <= cur+Window; s++ {
		if hmac.Equal([]byte(Code(secret, s)), []byte(code)) && s > last && !ok {
			step, ok = s, true
		}
	}
	return step, ok
}

// EncodeSecret is the secret as authenticator apps take it: base32 without padding.
func EncodeSecret(secret []byte) string {
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret)
}

// URI is the otpauth:// URI a QR code carries (the Key Uri Format of Google Authenticator,
// which every app reads).
func URI(issuer, account string, secret []byte) string {
	esc := func(s string) string { return strings.ReplaceAll(url.PathEscape(s), ":", "%3A") }
	label := esc(issuer) + ":" + esc(account)
	q := url.Values{"secret": {EncodeSecret(secret)}, "issuer": {issuer}, "algorithm": {"SHA1"},
		"digits": {fmt.Sprint(Digits)}, "period": {fmt.Sprint(Period)}}
	return "otpauth://totp/" + label + "?" + q.Encode()
}

// isTOTPCode reports whether s has the form of a TOTP code.
func isTOTPCode(s string) bool {
	return len(s) == Digits && strings.Trim(s, "0123456789") == ""
}
