package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/keyward/keyward/client"
)

// fedFlags are the flags of `keyward token --federated`.
type fedFlags struct {
	source, project, grant string
	fs                     *flag.FlagSet
}

func federatedFlags(fs *flag.FlagSet) *fedFlags {
	f := &fedFlags{fs: fs}
	fs.StringVar(&f.source, "federated", "", "trade the identity token from SOURCE instead of an API key: file:PATH, env:NAME or github-actions[:AUDIENCE] (audience default: the server's URL)")
	fs.StringVar(&f.project, "project", "", "with --federated: the project (id or name) whose rules apply, when rules of several projects match")
	fs.StringVar(&f.grant, "grant", "token-exchange", "with --federated: token-exchange (RFC 8693) or jwt-bearer (RFC 7523)")
	return f
}

// check refuses --project and --grant without --federated, and an unknown grant.
func (f *fedFlags) check() error {
	given := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	if f.source == "" {
		for _, name := range []string{"project", "grant"} {
			if given[name] {
				return usagef("token: --%s goes with --federated; an API key's token is always of the key's project", name)
			}
		}
		return nil
	}
	if _, err := client.FederatedGrant(f.grant); err != nil {
		msg := fmt.Sprintf("token: --grant %q: use token-exchange or jwt-bearer", f.grant)
		if near := nearest(f.grant, []string{"token-exchange", "jwt-bearer"}); near != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", near)
		}
		return usagef("%s", msg)
	}
	_, err := subjectSource(f.source, "")
	return err
}

// exchange trades the subject token for an access token at server.
func (f *fedFlags) exchange(ctx context.Context, server string, scope []string) (*client.TokenResponse, error) {
	src, err := subjectSource(f.source, server)
	if err != nil {
		return nil, err
	}
	return client.ExchangeSubject(ctx, client.FederatedConfig{Server: server, Project: f.project, Scope: scope, Subject: src, Grant: f.grant})
}

// subjectSource reads --federated's SOURCE. GitHub Actions' token is requested for audience
// server unless SOURCE names another.
func subjectSource(spec, server string) (client.SubjectSource, error) {
	kind, arg, _ := strings.Cut(spec, ":")
	switch kind {
	case "file":
		if arg == "" {
			return nil, usagef("token: --federated file: needs the token file's path, such as file:/var/run/secrets/tokens/keyward")
		}
		return client.SubjectFromFile(arg), nil
	case "env":
		if arg == "" || strings.ContainsAny(arg, "= ") {
			return nil, usagef("token: --federated env: needs the name of the variable holding the token, such as env:KEYWARD_SUBJECT_TOKEN")
		}
		return client.SubjectFromEnv(arg), nil
	case "github-actions":
		if arg == "" {
			arg = server
		}
		return client.SubjectFromGitHubActions(arg), nil
	}
	if strings.HasPrefix(spec, "eyJ") {
		// A pasted token: not repeated in the message, which may end up in a CI log.
		return nil, usagef("token: --federated takes where the token is, not the token: use env:NAME with the token in a variable, or file:PATH")
	}
	msg := fmt.Sprintf("token: --federated %q is not a source: use file:PATH, env:NAME or github-actions[:AUDIENCE]", spec)
	switch near := nearest(kind, []string{"file", "env", "github-actions"}); {
	case strings.HasPrefix(spec, "/") || strings.HasPrefix(spec, "."):
		msg += fmt.Sprintf(" (did you mean file:%s?)", spec)
	case near != "" && arg != "":
		msg += fmt.Sprintf(" (did you mean %s:%s?)", near, arg)
	case near != "":
		msg += fmt.Sprintf(" (did you mean %s?)", near)
	}
	return nil, usagef("%s", msg)
}
