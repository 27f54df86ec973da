package mail

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"net/url"
	"strings"
	"time"
)

// DefaultTimeout bounds one send, from the dial to the end of the message: a request that
// mails waits no longer than this for a slow or silent server.
const DefaultTimeout = 10 * time.Second

// Sender sends plain-text mail through one SMTP server. Build it with Parse.
type Sender struct {
	host, port  string
	implicitTLS bool // smtps://: TLS from the first byte
	from        string
	auth        *url.Userinfo // nil: no authentication
	// Timeout bounds a send; 0: DefaultTimeout.
	Timeout time.Duration
	// Now and Rand make the Date and Message-ID headers; nil: the real clock and crypto/rand.
	Now  func() time.Time
	Rand io.Reader
	// TLSConfig, when set, is used for TLS instead of the default (tests trust their own CA).
	TLSConfig *tls.Config
}

// Parse reads an SMTP URL: smtp://[user:password@]host[:port]?from=ADDRESS, port 587 by default,
// which upgrades to TLS with STARTTLS whenever the server offers it; or smtps://…, port 465 by
// default, TLS from the start. Credentials are sent only over TLS, or to a server on the
// loopback interface. from is the sender's bare address.
func Parse(raw string) (*Sender, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("the SMTP URL does not parse; write smtp://user:password@host:587?from=keyward@example.com")
	}
	s := &Sender{auth: u.User}
	var defaultPort string
	switch u.Scheme {
	case "smtp":
		defaultPort = "587"
	case "smtps":
		defaultPort, s.implicitTLS = "465", true
	default:
		return nil, fmt.Errorf("the SMTP URL must start with smtp:// or smtps://, not %q", u.Scheme+"://")
	}
	if u.Hostname() == "" || (u.Path != "" && u.Path != "/") || u.Fragment != "" || u.Opaque != "" {
		return nil, errors.New("the SMTP URL names a host and nothing else, such as smtp://mail.example.com:587?from=keyward@example.com")
	}
	s.host, s.port = u.Hostname(), u.Port()
	if s.port == "" {
		s.port = defaultPort
	}
	q := u.Query()
	for k := range q {
		if k != "from" {
			return nil, fmt.Errorf("the SMTP URL takes only the from parameter, not %q", k)
		}
	}
	from := q.Get("from")
	if a, err := mail.ParseAddress(from); err != nil || a.Name != "" || a.Address != from || strings.ContainsAny(from, "\r\n<>") {
		return nil, errors.New("the SMTP URL needs ?from= with the sender's plain address, such as ?from=keyward@example.com")
	}
	s.from = from
	return s, nil
}

// String is the URL without its password, for logs and messages.
func (s *Sender) String() string {
	u := url.URL{Scheme: "smtp", Host: net.JoinHostPort(s.host, s.port), RawQuery: url.Values{"from": {s.from}}.Encode()}
	if s.implicitTLS {
		u.Scheme = "smtps"
	}
	if s.auth != nil {
		u.User = url.User(s.auth.Username())
	}
	return u.String()
}

// Send mails body to the bare address to with subject. Header values are checked to hold no
// line break, so nothing in them can add a header or a recipient.
func (s *Sender) Send(ctx context.Context, to, subject, body string) error {
	if a, err := mail.ParseAddress(to); err != nil || a.Address != to || strings.ContainsAny(to, "\r\n<>") {
		return fmt.Errorf("mail: bad recipient address")
	}
	if strings.ContainsAny(subject, "\r\n") {
		return fmt.Errorf("mail: a subject is one line")
	}
	msg, err := s.message(to, subject, body)
	if err != nil {
		return err
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	addr := net.JoinHostPort(s.host, s.port)
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("mail: connect to %s: %w", addr, err)
	}
	defer conn.Close()
	// One deadline for the whole exchange; a cancelled request ends it at once.
	if err := conn.SetDeadline(deadline); err != nil {
		return fmt.Errorf("mail: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if s.implicitTLS {
		conn = tls.Client(conn, s.tlsConfig())
	}
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		return fmt.Errorf("mail: greeting from %s: %w", addr, err)
	}
	defer c.Close()
	if err := c.Hello("localhost"); err != nil {
		return fmt.Errorf("mail: EHLO: %w", err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok && !s.implicitTLS {
		if err := c.StartTLS(s.tlsConfig()); err != nil {
			return fmt.Errorf("mail: STARTTLS: %w", err)
		}
	}
	if s.auth != nil {
		password, _ := s.auth.Password()
		// PlainAuth refuses to send the password unencrypted to anything but the loopback host.
		if err := c.Auth(smtp.PlainAuth("", s.auth.Username(), password, s.host)); err != nil {
			return fmt.Errorf("mail: authentication as %q: %w", s.auth.Username(), err)
		}
	}
	if err := c.Mail(s.from); err != nil {
		return fmt.Errorf("mail: MAIL FROM: %w", err)
	}
	if err := c.Rcpt(to); err != nil {
		return fmt.Errorf("mail: RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("mail: DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("mail: message: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("mail: message not accepted: %w", err)
	}
	// The server took the message; a failed QUIT changes nothing.
	_ = c.Quit()
	return nil
}

func (s *Sender) tlsConfig() *tls.Config {
	if s.TLSConfig != nil {
		return s.TLSConfig
	}
	return &tls.Config{ServerName: s.host, MinVersion: tls.VersionTLS12}
}

// message is the whole mail: headers, a blank line and the body with CRLF line ends.
func (s *Sender) message(to, subject, body string) ([]byte, error) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	random := s.Rand
	if random == nil {
		random = rand.Reader
	}
	var id [16]byte
	if _, err := io.ReadFull(random, id[:]); err != nil {
		return nil, fmt.Errorf("mail: message id: %w", err)
	}
	domain := s.from[strings.LastIndex(s.from, "@")+1:]
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\n", s.from)
	fmt.Fprintf(&b, "To: %s\r\n", to)
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", subject))
	fmt.Fprintf(&b, "Date: %s\r\n", now().UTC().Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s@%s>\r\n", hex.EncodeToString(id[:]), domain)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	body = strings.ReplaceAll(strings.ReplaceAll(body, "\r\n", "\n"), "\n", "\r\n")
	b.WriteString(body)
	if !strings.HasSuffix(body, "\r\n") {
		b.WriteString("\r\n")
	}
	return []byte(b.String()), nil
}
