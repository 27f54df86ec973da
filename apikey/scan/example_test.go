package scan_test

import (
	"crypto/rand"
	"fmt"
	"strings"

	"github.com/keyward/keyward/apikey"
	"github.com/keyward/keyward/apikey/scan"
)

func ExampleScanner() {
	key, id, err := apikey.New(rand.Reader)
	if err != nil {
		panic(err)
	}
	config := "REGION=eu\nKEYWARD_API_KEY=" + key + "\n"

	s := &scan.Scanner{
		Found: func(f scan.Finding) {
			// A finding names the key by its id, never by its secret.
			fmt.Println(f.Where, f.ID == id, f.Valid)
		},
		Failed: func(err error) { fmt.Println("error:", err) },
	}
	s.Reader("ci.env", strings.NewReader(config))
	// Output: ci.env:2 true true
}
