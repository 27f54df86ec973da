package mail_test

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/mail"
	"github.com/keyward/keyward/internal/smtptest"
)

func TestParse(t *testing.T) {
	for _, tt := range []struct{ url, want, err string }{
		{url: "smtp://mail.example.com?from=kw@example.com", want: "smtp://mail.example.com:587?from=kw%40example.com"},
		{url: "smtps://bot:s3cret@mail.example.com?from=kw@example.com", want: "smtps://bot@mail.example.com:465?from=kw%40example.com"},
		{url: "smtp://mail.example.com:2525?from=kw@example.com", want: "smtp://mail.example.com:2525?from=kw%40example.com"},
		{url: "http://mail.example.com?from=kw@example.com", err: "smtp://"},
		{url: "smtp://mail.example.com", err: "from="},
		{url: "smtp://mail.example.com?from=Keyward%20<kw@example.com>", err: "from="},
		{url: "smtp://mail.example.com?from=kw@example.com%0D%0ABcc:x@example.com", err: "from="},
		{url: "smtp://mail.example.com/path?from=kw@example.com", err: "host"},
		{url: "smtp://mail.example.com?from=kw@example.com&tls=off", err: "tls"},
		{url: "smtp://u:p@%zz", err: "does not parse"},
	} {
		s, err := mail.Parse(tt.url)
		switch {
		case tt.err != "":
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Parse(%q) = %v, want an error about %q", tt.url, err, tt.err)
			} else if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), ":p@") {
				t.Errorf("Parse(%q) repeats the password: %v", tt.url, err)
			}
		case err != nil:
			t.Errorf("Parse(%q): %v", tt.url, err)
		case s.String() != tt.want:
			t.Errorf("Parse(%q).String() = %q, want %q (never the password)", tt.url, s.String(), tt.want)
		}
	}
}

// TestSend: a real SMTP exchange with aiosmtpd delivers the message as written, with its
// headers, and header values with a line break are refused before anything is sent.
func TestSend(t *testing.T) {
	sink := smtptest.Start(t)
	s, err := mail.Parse(sink.URL("keyward@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	s.Now = func() time.Time { return time.Date(2031, 2, 3, 4, 5, 6, 0, time.UTC) }
	start := time.Now()
	if err := s.Send(t.Context(), "ada@example.com", "Invitation to web-shop", "Hello.\n.\nA dot line above.\n"); err != nil {
		t.Fatal(err)
	}
	t.Logf("one send took %v", time.Since(start))
	m := sink.Next(t)
	body, _ := io.ReadAll(m.Body)
	for h, want := range map[string]string{"From": "keyward@example.com", "To": "ada@example.com", "Subject": "Invitation to web-shop",
		"Date": "Mon, 03 Feb 2031 04:05:06 +0000", "Content-Type": "text/plain; charset=utf-8"} {
		if got := m.Header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
	if string(body) != "Hello.\r\n.\r\nA dot line above.\r\n" && string(body) != "Hello.\n.\nA dot line above.\n" {
		t.Errorf("body %q", body)
	}
	for _, bad := range [][2]string{{"ada@example.com\r\nBcc: eve@example.com", "Hi"}, {"ada@example.com", "Hi\r\nBcc: eve@example.com"}, {"Ada <ada@example.com>", "Hi"}} {
		if err := s.Send(t.Context(), bad[0], bad[1], "x"); err == nil {
			t.Errorf("Send(%q, %q) was sent", bad[0], bad[1])
		}
	}
}

// TestSendTimesOut: a server that accepts the connection and never greets costs a send its
// timeout, not forever.
func TestSendTimesOut(t *testing.T) {
	l, err := listen(t)
	if err != nil {
		t.Fatal(err)
	}
	s, err := mail.Parse("smtp://" + l + "?from=keyward@example.com")
	if err != nil {
		t.Fatal(err)
	}
	s.Timeout = 300 * time.Millisecond
	start := time.Now()
	if err := s.Send(t.Context(), "ada@example.com", "Hi", "x"); err == nil {
		t.Fatal("a silent server took the mail")
	}
	t.Logf("gave up after %v (timeout %v)", time.Since(start), s.Timeout)
}
