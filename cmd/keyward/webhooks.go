package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
)

const webhooksSynopsis = "webhooks list [--project P] [--json]\n" +
	"       keyward webhooks create --url URL --events a,b [--project P] [--json]\n" +
	"       keyward webhooks edit ID [--url URL] [--events a,b] [--project P] [--json]\n" +
	"       keyward webhooks delete ID [--project P]\n" +
	"       keyward webhooks roll-secret ID [--grace 24h] [--project P] [--json]\n" +
	"       keyward webhooks test ID [--project P] [--json]\n" +
	"       keyward webhooks messages ID [--search Q] [--limit N|--all] [--project P] [--json]\n" +
	"       keyward webhooks redeliver ID MESSAGE [--project P] [--json]"

// maxWebhookGrace is the longest grace the server takes for a rolled webhook secret, checked
// here too so that a typo is refused before anything changes.
const maxWebhookGrace = 72 * time.Hour

func (m *Main) webhooks(ctx context.Context, args []string) error {
	return m.dispatch(ctx, "webhooks", webhooksSynopsis, []subcommand{
		{"list", m.webhooksList},
		{"create", m.webhooksCreate},
		{"edit", m.webhooksEdit},
		{"roll-secret", m.webhooksRollSecret},
		{"test", m.webhooksTest},
		{"messages", m.webhooksMessages},
		{"redeliver", m.webhooksRedeliver},
		{"delete", m.webhooksDelete},
	}, args)
}

// webhookCommand parses the flags of a command on one project's webhooks (project and the
// flags fs already has) and connects; want is how many arguments it takes, usage its usage line.
func (m *Main) webhookCommand(ctx context.Context, fs *flag.FlagSet, project *string, args []string, want int, usage string) (*remote, string, []string, error) {
	rest, err := m.parseArgs(fs, args, "project")
	if err != nil {
		return nil, "", nil, err
	}
	if len(rest) != want {
		return nil, "", nil, usagef("usage: keyward %s", usage)
	}
	r, ref, err := m.connectToProject(ctx, *project)
	if err != nil {
		return nil, "", nil, err
	}
	return r, ref, rest, nil
}

func (m *Main) webhooksList(ctx context.Context, args []string) error {
	fs := m.flagSet("webhooks list", "webhooks list [--project P] [--json]\n\n"+
		"Lists a project's webhooks, oldest first: where each sends which events. Secrets are never shown.\n"+
		"Needs the api-keys-manage permission.")
	project := projectFlag(fs)
	asJSON := fs.Bool("json", false, "print a JSON array of webhooks")
	r, ref, _, err := m.webhookCommand(ctx, fs, project, args, 0, "webhooks list [--project P] [--json]")
	if err != nil {
		return err
	}
	hooks, err := r.Webhooks(ctx, ref)
	if err != nil {
		return r.explain(err)
	}
	if *asJSON {
		return printJSON(m.Stdout, nonNil(hooks))
	}
	if len(hooks) == 0 {
		fmt.Fprintf(m.Stdout, "Project %s has no webhooks. Add one with:\n  keyward webhooks create --project %s --url https://… --events %s\n",
			printable(ref), printable(ref), "api_key.created,api_key.deleted")
		return nil
	}
	t := newTable(m.Stdout, "ID", "URL", "EVENTS", "CREATED", "PREVIOUS SECRET UNTIL")
	for _, h := range hooks {
		previous := "-"
		if h.PreviousSecretExpiresAt != nil {
			previous = when(h.PreviousSecretExpiresAt)
		}
		t.row(h.ID, h.URL, list(h.Events, "-"), when(&h.CreatedAt), previous)
	}
	return t.flush()
}

func (m *Main) webhooksCreate(ctx context.Context, args []string) error {
	fs := m.flagSet("webhooks create", "webhooks create --url URL --events a,b [--project P] [--json]\n\n"+
		"Adds a webhook: the project's events are POSTed to URL, signed per the Standard Webhooks\n"+
		"specification, and retried for 24 hours until it answers 2xx. Prints the signing secret on\n"+
		"standard output, this once: the receiver verifies signatures with it. Events: "+strings.Join(keyward.WebhookEvents(), ", ")+
		"\n(the member.* ones need members-view). Needs the api-keys-manage permission.")
	project := projectFlag(fs)
	url := fs.String("url", "", "where events are sent: an https URL (required)")
	events := fs.String("events", "", "comma-separated event types to send (required)")
	asJSON := fs.Bool("json", false, "print the created webhook, secret included, as JSON")
	usage := "webhooks create --url URL --events a,b [--project P] [--json]"
	rest, err := m.parseArgs(fs, args, "project")
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("webhooks create takes no arguments, got %q (the URL goes in --url)", rest[0])
	}
	req := client.CreateWebhookRequest{URL: *url, Events: splitList(*events)}
	if req.URL == "" || len(req.Events) == 0 {
		return usagef("webhooks create: --url and --events are required; usage: keyward %s", usage)
	}
	r, ref, err := m.connectToProject(ctx, *project)
	if err != nil {
		return err
	}
	h, err := r.CreateWebhook(ctx, ref, req)
	if err != nil {
		return r.explain(err)
	}
	fmt.Fprintf(m.Stderr, "Created webhook %s in project %s: %s gets %s.\n"+
		"Store its signing secret now, where the receiver reads it: it is shown this once and cannot be recovered.\n",
		h.ID, printable(ref), printable(h.URL), list(h.Events, "-"))
	if *asJSON {
		return printJSON(m.Stdout, h)
	}
	fmt.Fprintln(m.Stdout, h.Secret)
	return nil
}

func (m *Main) webhooksEdit(ctx context.Context, args []string) error {
	usage := "webhooks edit ID [--url URL] [--events a,b] [--project P] [--json]"
	fs := m.flagSet("webhooks edit", usage+"\n\n"+
		"Changes where a webhook sends or which events; what is not given stays. The webhook then acts\n"+
		"for you: it sends only what you may see. Needs the api-keys-manage permission.")
	project := projectFlag(fs)
	url := fs.String("url", "", "where events are sent, replacing the current URL")
	events := fs.String("events", "", "the event types, comma-separated, replacing the current ones")
	asJSON := fs.Bool("json", false, "print the edited webhook as JSON")
	rest, err := m.parseArgs(fs, args, "project")
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("usage: keyward %s", usage)
	}
	var req client.UpdateWebhookRequest
	var bad error
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "url":
			req.URL = url
		case "events":
			list := splitList(*events)
			if len(list) == 0 {
				bad = usagef("webhooks edit: --events needs at least one event type")
			}
			req.Events = &list
		}
	})
	if bad != nil {
		return bad
	}
	if req.URL == nil && req.Events == nil {
		return usagef("webhooks edit: nothing to change: give --url, --events or both")
	}
	r, ref, err := m.connectToProject(ctx, *project)
	if err != nil {
		return err
	}
	h, err := r.UpdateWebhook(ctx, ref, rest[0], req)
	if err != nil {
		return r.explain(err)
	}
	if *asJSON {
		return printJSON(m.Stdout, h)
	}
	fmt.Fprintf(m.Stdout, "Updated webhook %s in project %s: %s gets %s.\n", h.ID, printable(ref), printable(h.URL), list(h.Events, "-"))
	return nil
}

func (m *Main) webhooksDelete(ctx context.Context, args []string) error {
	usage := "webhooks delete ID [--project P]"
	fs := m.flagSet("webhooks delete", usage+"\n\n"+
		"Deletes a webhook and its messages, sent or not: nothing more is sent to it.\n"+
		"Needs the api-keys-manage permission.")
	project := projectFlag(fs)
	r, ref, rest, err := m.webhookCommand(ctx, fs, project, args, 1, usage)
	if err != nil {
		return err
	}
	if err := r.DeleteWebhook(ctx, ref, rest[0]); err != nil {
		return r.explain(err)
	}
	fmt.Fprintf(m.Stdout, "Deleted webhook %s from project %s.\n", printable(rest[0]), printable(ref))
	return nil
}

func (m *Main) webhooksRollSecret(ctx context.Context, args []string) error {
	usage := "webhooks roll-secret ID [--grace 24h] [--project P] [--json]"
	fs := m.flagSet("webhooks roll-secret", usage+"\n\n"+
		"Gives a webhook a new signing secret and prints it on standard output, this once. Messages are\n"+
		"signed with the old secret too for the grace period, so that the receiver can switch to the new\n"+
		"one without refusing a message. Needs the api-keys-manage permission.")
	project := projectFlag(fs)
	grace := fs.Duration("grace", 24*time.Hour, "how long the old secret signs too, from 0s to 72h")
	asJSON := fs.Bool("json", false, "print the webhook, new secret included, as JSON")
	rest, err := m.parseArgs(fs, args, "project")
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("usage: keyward %s", usage)
	}
	if *grace < 0 || *grace > maxWebhookGrace {
		return usagef("webhooks roll-secret: --grace must be from 0s to 72h, got %s", *grace)
	}
	r, ref, err := m.connectToProject(ctx, *project)
	if err != nil {
		return err
	}
	h, err := r.RollWebhookSecret(ctx, ref, rest[0], *grace)
	if err != nil {
		return r.explain(err)
	}
	fmt.Fprintf(m.Stderr, "Rolled the signing secret of webhook %s in project %s; the old one signs too until %s.\n"+
		"Store the new one now, where the receiver reads it: it is shown this once and cannot be recovered.\n",
		h.ID, printable(ref), when(h.PreviousSecretExpiresAt))
	if *asJSON {
		return printJSON(m.Stdout, h)
	}
	fmt.Fprintln(m.Stdout, h.Secret)
	return nil
}

func (m *Main) webhooksTest(ctx context.Context, args []string) error {
	usage := "webhooks test ID [--project P] [--json]"
	fs := m.flagSet("webhooks test", usage+"\n\n"+
		"Sends the webhook a webhook.test event, whatever events it subscribes to; 'keyward webhooks\n"+
		"messages ID' shows how it went. Needs the api-keys-manage permission.")
	project := projectFlag(fs)
	asJSON := fs.Bool("json", false, "print the queued message as JSON")
	r, ref, rest, err := m.webhookCommand(ctx, fs, project, args, 1, usage)
	if err != nil {
		return err
	}
	msg, err := r.TestWebhook(ctx, ref, rest[0])
	if err != nil {
		return r.explain(err)
	}
	if *asJSON {
		return printJSON(m.Stdout, msg)
	}
	fmt.Fprintf(m.Stdout, "Queued test message %s for webhook %s; 'keyward webhooks messages %s' shows how it went.\n", msg.ID, msg.WebhookID, msg.WebhookID)
	return nil
}

func (m *Main) webhooksMessages(ctx context.Context, args []string) error {
	var id string
	msgs, ref, search, printed, err := pagedList[client.WebhookMessage]{
		name: "webhooks messages", what: "messages", arg: &id, argName: "ID",
		help: "Lists a webhook's messages, newest first: each event sent or to be sent, its state (pending,\n" +
			"delivered, failed, skipped), its attempts and the receiver's last answer. Needs the\n" +
			"api-keys-manage permission.",
		search: "an event type (api_key.created) or a state (failed)",
		page: func(ctx context.Context, r *remote, project string, opts client.ListOptions) (*client.Page[client.WebhookMessage], error) {
			return r.WebhookMessagesPage(ctx, project, id, opts)
		},
	}.run(ctx, m, args)
	if err != nil || printed {
		return err
	}
	if len(msgs) == 0 {
		if search != "" {
			fmt.Fprintf(m.Stdout, "No message of webhook %s in project %s has that type or state.\n", printable(id), printable(ref))
		} else {
			fmt.Fprintf(m.Stdout, "Webhook %s in project %s has no messages yet.\n", printable(id), printable(ref))
		}
		return nil
	}
	t := newTable(m.Stdout, "ID", "TYPE", "STATE", "ATTEMPTS", "LAST ANSWER", "CREATED", "NEXT ATTEMPT")
	for _, msg := range msgs {
		answer := "-"
		switch {
		case msg.LastStatus != 0:
			answer = strconv.Itoa(msg.LastStatus)
		case msg.LastError != "":
			answer = msg.LastError
		}
		next := "-"
		if msg.NextAttemptAt != nil {
			next = when(msg.NextAttemptAt)
		}
		t.row(msg.ID, msg.Type, msg.State, strconv.Itoa(msg.Attempts), answer, when(&msg.CreatedAt), next)
	}
	return t.flush()
}

func (m *Main) webhooksRedeliver(ctx context.Context, args []string) error {
	usage := "webhooks redeliver ID MESSAGE [--project P] [--json]"
	fs := m.flagSet("webhooks redeliver", usage+"\n\n"+
		"Sends a message again, with the same id and body (a receiver that got it drops the repeat),\n"+
		"retried for another 24 hours. Needs the api-keys-manage permission.")
	project := projectFlag(fs)
	asJSON := fs.Bool("json", false, "print the message as JSON")
	r, ref, rest, err := m.webhookCommand(ctx, fs, project, args, 2, usage)
	if err != nil {
		return err
	}
	msg, err := r.RedeliverWebhookMessage(ctx, ref, rest[0], rest[1])
	if err != nil {
		return r.explain(err)
	}
	if *asJSON {
		return printJSON(m.Stdout, msg)
	}
	fmt.Fprintf(m.Stdout, "Queued message %s (%s) for webhook %s again.\n", msg.ID, printable(msg.Type), msg.WebhookID)
	return nil
}
