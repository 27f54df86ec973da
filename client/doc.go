// Package client is the Go client of a keyward server: an oauth2.TokenSource that turns an API
// key (or a user's login) into access tokens, and a typed client of the management API under /v1.
//
// A program that holds an API key gets tokens from TokenSource and uses them with any HTTP
// client, through golang.org/x/oauth2:
//
//	ts := client.TokenSource(ctx, client.Config{Server: "https://auth.example.com", Key: os.Getenv("KEYWARD_API_KEY")})
//	hc := oauth2.NewClient(ctx, ts) // adds "Authorization: Bearer <access token>" to every request
//
// The source exchanges the key once (client_credentials, with the key in the HTTP Basic header
// and never in a body or URL), renews the access token with the refresh token shortly before it
// expires, and authenticates with the key again once the refresh token has expired or is refused.
// The key itself goes only to the server's token endpoint, never to the platform's API.
//
// A workload with no key, such as a CI job or a Kubernetes pod, trades the identity token its
// platform gave it (workload identity federation) with FederatedTokenSource and a SubjectSource:
// SubjectFromFile, SubjectFromEnv or SubjectFromGitHubActions.
//
// The management client wraps the /v1 routes with request and response types whose JSON matches
// the server's exactly; every failure the server reports becomes a *Problem:
//
//	kw := client.New("https://auth.example.com", ts)
//	keys, err := kw.Keys(ctx, "web-shop")
package client
