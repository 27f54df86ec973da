package reminder_test

import (
	"context"
	"crypto/rand"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/apikey"
	"github.com/keyward/keyward/internal/fakeclock"
	"github.com/keyward/keyward/internal/mail"
	"github.com/keyward/keyward/internal/reminder"
	"github.com/keyward/keyward/internal/smtptest"
	"github.com/keyward/keyward/internal/sqlstore"
)

// TestExpiryReminders: a key's owner is mailed 7 days and again 1 day before the key expires,
// each time once, beside the api_key.expiring webhook messages, and the mail says how to keep
// the key working.
func TestExpiryReminders(t *testing.T) {
	sink := smtptest.Start(t)
	ctx := context.Background()
	clock := fakeclock.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	store, err := sqlstore.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "keyward.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	id := func(prefix string) string {
		id, err := keyward.NewID(rand.Reader, prefix)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	owner := &keyward.User{ID: id(keyward.PrefixUser), Email: "ada@example.com", PasswordHash: "unused", CreatedAt: clock.Now()}
	if err := store.CreateUser(ctx, owner); err != nil {
		t.Fatal(err)
	}
	project := &keyward.Project{ID: id(keyward.PrefixProject), Name: "web-shop", CreatedAt: clock.Now()}
	if err := store.CreateProject(ctx, project, &keyward.Member{UserID: owner.ID, Permissions: []string{"api-keys-manage"}}); err != nil {
		t.Fatal(err)
	}
	hookID := id(keyward.PrefixWebhook)
	if err := store.CreateWebhook(ctx, &keyward.Webhook{ID: hookID, ProjectID: project.ID, URL: "https://example.com/hooks",
		Events: []string{keyward.EventKeyExpiring}, Owner: owner.ID, Secret: []byte{0, 1}, CreatedAt: clock.Now(), UpdatedAt: clock.Now()}); err != nil {
		t.Fatal(err)
	}
	secret, keyID, err := apikey.New(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	expires := clock.Now().Add(10 * 24 * time.Hour)
	key := &keyward.APIKey{ID: keyID, ProjectID: project.ID, Name: "deploy-bot", Permissions: []string{"api-keys-manage"},
		SecretHash: apikey.Hash(secret), Hint: apikey.Hint(secret), CreatedBy: "user:" + owner.ID, Owner: owner.ID,
		CreatedAt: clock.Now(), ExpiresAt: &expires}
	if err := store.CreateAPIKey(ctx, key); err != nil {
		t.Fatal(err)
	}
	sender, err := mail.Parse(sink.URL("keyward@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	r := &reminder.Reminders{Store: store, Mailer: sender, BaseURL: "https://auth.example.com", Now: clock.Now}

	remind := func() {
		t.Helper()
		if err := r.Remind(ctx); err != nil {
			t.Fatal(err)
		}
	}
	remind() // 10 days ahead: nothing yet
	clock.Advance(3*24*time.Hour + time.Minute)
	remind()
	remind() // the same reminder is not sent twice
	if n := sink.Count(t); n != 1 {
		t.Fatalf("%d mails after the 7-day reminder ran twice, want 1", n)
	}
	m := sink.Next(t)
	body, _ := io.ReadAll(m.Body)
	text := string(body)
	if to := m.Header.Get("To"); !strings.Contains(to, owner.Email) {
		t.Errorf("To: %q", to)
	}
	if subject := m.Header.Get("Subject"); !strings.Contains(subject, "deploy-bot") || !strings.Contains(subject, "7 days") {
		t.Errorf("Subject: %q", subject)
	}
	for _, want := range []string{"deploy-bot", keyID, "web-shop", expires.Format(time.RFC1123),
		"https://auth.example.com/projects/web-shop/api-keys/" + keyID, "keyward keys edit " + keyID + " --project web-shop --expires"} {
		if !strings.Contains(text, want) {
			t.Errorf("the mail lacks %q:\n%s", want, text)
		}
	}
	clock.Set(expires.Add(-23 * time.Hour))
	remind()
	remind()
	if n := sink.Count(t); n != 2 {
		t.Fatalf("%d mails after the 1-day reminder ran twice, want 2", n)
	}
	if subject := sink.Next(t).Header.Get("Subject"); !strings.Contains(subject, "within a day") {
		t.Errorf("second reminder's subject: %q", subject)
	}
	page, _, err := store.WebhookMessagePage(ctx, project.ID, hookID, keyward.Page{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 2 || page[0].Type != keyward.EventKeyExpiring || page[1].Type != keyward.EventKeyExpiring {
		t.Fatalf("webhook messages: %d, want the two api_key.expiring", len(page))
	}
}

// TestMail: what the owner reads, in full, for review.
func TestMail(t *testing.T) {
	at := time.Date(2030, 3, 4, 5, 6, 7, 0, time.UTC)
	subject, body := reminder.Mail(&keyward.ExpiryReminder{Key: &keyward.APIKey{ID: "CtQDAUTGn25xEX7C", Name: "deploy-bot", ExpiresAt: &at}, Days: 1},
		&keyward.Project{Name: "web-shop"}, "https://auth.example.com/")
	if subject != "The API key deploy-bot of the project web-shop expires within a day" {
		t.Errorf("subject %q", subject)
	}
	want := "Your API key deploy-bot (id CtQDAUTGn25xEX7C) in the project web-shop on keyward expires on Mon, 04 Mar 2030 05:06:07 UTC.\r\n\r\n" +
		"Programs that use it cannot get tokens with it after that. To keep it working, give it a later\r\n" +
		"expiry on its page:\r\n\r\n" +
		"https://auth.example.com/projects/web-shop/api-keys/CtQDAUTGn25xEX7C\r\n\r\n" +
		"or with the command line:\r\n\r\n" +
		"  keyward keys edit CtQDAUTGn25xEX7C --project web-shop --expires 90d\r\n\r\n" +
		"Or create a key to replace it, move your programs to the new key, and let this one expire.\r\n"
	if body != want {
		t.Errorf("body:\n%s\nwant:\n%s", body, want)
	}
}
