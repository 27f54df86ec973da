package main

import (
	"context"
	"fmt"

	"golang.org/x/oauth2"

	"github.com/keyward/keyward/client"
)

// webLogin signs in with the device authorization grant: the person approves the printed code in
// a browser where they are signed in to the dashboard, with their second factor if they have one,
// so no password passes through the terminal.
func (m *Main) webLogin(ctx context.Context, store *credentialStore, previous *credentials, server string) error {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, m.httpClient())
	resp, err := client.DeviceLogin(ctx, server, "", func(d *client.DeviceAuthorization) {
		fmt.Fprintf(m.Stderr, "To sign in, open this link in a browser signed in to keyward:\n\n    %s\n\n"+
			"Check that the page shows the code %s, then approve. Waiting…\n", d.VerificationURIComplete, d.UserCode)
	})
	if err != nil {
		return explain(err, server)
	}
	me, err := client.New(server, oauth2.StaticTokenSource(resp.OAuth2()), client.WithHTTPClient(m.httpClient()),
		client.WithUserAgent(userAgent)).Me(ctx)
	if err != nil {
		return fmt.Errorf("signed in, but the account could not be read: %w", explain(err, server))
	}
	if me.User == nil {
		return fmt.Errorf("signed in, but the server did not say as whom")
	}
	return m.saveLogin(ctx, store, previous, server, me.User.Email, resp)
}
