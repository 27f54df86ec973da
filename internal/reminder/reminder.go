package reminder

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

// Store is what reminders need of keyward.Store.
type Store interface {
	RemindExpiringKeys(ctx context.Context, now time.Time, limit int) ([]*keyward.ExpiryReminder, error)
	UserByID(ctx context.Context, id string) (*keyward.User, error)
	ProjectByID(ctx context.Context, id string) (*keyward.Project, error)
}

// Mailer sends a plain-text mail to one address.
type Mailer interface {
	Send(ctx context.Context, to, subject, body string) error
}

const (
	every = time.Minute
	batch = 100
)

// Reminders emits the api_key.expiring events as they fall due (the store queues them for the
// webhooks) and mails each to the key's owner when a Mailer is set.
//
// A mail that fails is logged and not tried again: the reminder is marked sent in the
// transaction that queued its webhook messages, which are retried, and a second reminder
// follows a day before the expiry.
type Reminders struct {
	Store   Store
	Mailer  Mailer // nil: webhooks only
	BaseURL string // the dashboard's URL, which the mail links to
	Now     func() time.Time
	Logger  *slog.Logger
}

// Run reminds at once and then every minute until ctx ends.
func (r *Reminders) Run(ctx context.Context) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if err := r.Remind(ctx); err != nil && ctx.Err() == nil {
			r.logger().Error("expiry reminders failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Remind sends every reminder due now.
func (r *Reminders) Remind(ctx context.Context) error {
	for {
		due, err := r.Store.RemindExpiringKeys(ctx, r.Now(), batch)
		if err != nil {
			return err
		}
		for _, d := range due {
			r.mail(ctx, d)
		}
		if len(due) < batch {
			return nil
		}
	}
}

func (r *Reminders) logger() *slog.Logger {
	if r.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Logger
}

// mail sends d to the key's owner, when there is a mailer and an enabled owner.
func (r *Reminders) mail(ctx context.Context, d *keyward.ExpiryReminder) {
	if r.Mailer == nil {
		return
	}
	log := r.logger().With("key", d.Key.ID, "days", d.Days)
	owner, err := r.Store.UserByID(ctx, d.Key.Owner)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND || err == nil && owner.Disabled {
		return
	} else if err != nil {
		log.Warn("expiry reminder mail not sent", "err", err)
		return
	}
	project, err := r.Store.ProjectByID(ctx, d.Key.ProjectID)
	if err != nil {
		log.Warn("expiry reminder mail not sent", "err", err)
		return
	}
	subject, body := Mail(d, project, r.BaseURL)
	if err := r.Mailer.Send(ctx, owner.Email, subject, body); err != nil {
		log.Warn("expiry reminder mail not sent", "err", err)
	}
}

// Mail is the plain-text mail of reminder d of a key of project.
func Mail(d *keyward.ExpiryReminder, project *keyward.Project, baseURL string) (subject, body string) {
	k := d.Key
	when := "within 7 days"
	if d.Days == 1 {
		when = "within a day"
	}
	page := strings.TrimSuffix(baseURL, "/") + "/projects/" + url.PathEscape(project.Name) + "/api-keys/" + url.PathEscape(k.ID)
	subject = fmt.Sprintf("The API key %s of the project %s expires %s", k.Name, project.Name, when)
	body = fmt.Sprintf("Your API key %s (id %s) in the project %s on keyward expires on %s.\r\n\r\n"+
		"Programs that use it cannot get tokens with it after that. To keep it working, give it a later\r\n"+
		"expiry on its page:\r\n\r\n%s\r\n\r\n"+
		"or with the command line:\r\n\r\n"+
		"  keyward keys edit %s --project %s --expires 90d\r\n\r\n"+
		"Or create a key to replace it, move your programs to the new key, and let this one expire.\r\n",
		k.Name, k.ID, project.Name, k.ExpiresAt.UTC().Format(time.RFC1123), page, k.ID, project.Name)
	return subject, body
}
