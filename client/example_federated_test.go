package client_test

import (
	"context"
	"fmt"
	"log"

	"golang.org/x/oauth2"

	"github.com/keyward/keyward/client"
)

// A Kubernetes pod calls the platform's API with no API key anywhere: it trades the service
// account token the kubelet projects into it, and the source trades again, with the kubelet's
// newer token, shortly before each access token ends. The pod mounts the token with the audience
// the project's trusted issuer lists, and a lifetime no longer than the rule's ttl (the kubelet
// replaces it at 80% of that):
//
//	volumes:
//	- name: keyward-token
//	  projected:
//	    sources:
//	    - serviceAccountToken:
//	        path: keyward
//	        audience: https://auth.example.com
//	        expirationSeconds: 900
func ExampleFederatedTokenSource() {
	ctx := context.Background()
	ts := client.FederatedTokenSource(ctx, client.FederatedConfig{
		Server:  "https://auth.example.com",
		Subject: client.SubjectFromFile("/var/run/secrets/tokens/keyward"),
		Scope:   []string{"containers-view"},
	})
	hc := oauth2.NewClient(ctx, ts) // sends "Authorization: Bearer <access token>", renewed as needed

	resp, err := hc.Get("https://api.example.com/v1/projects/web-shop/containers")
	if err != nil {
		// A refusal says which check the token failed, such as
		// "The subject token has expired." (invalid_grant).
		log.Fatal(err)
	}
	defer resp.Body.Close()
	fmt.Println(resp.Status)
}
