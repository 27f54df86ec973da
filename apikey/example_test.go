package apikey_test

import (
	"crypto/rand"
	"fmt"

	"github.com/keyward/keyward/apikey"
)

func ExampleNew() {
	key, id, err := apikey.New(rand.Reader)
	if err != nil {
		panic(err)
	}
	// Show key once to its owner; store only what follows.
	stored := struct {
		ID   string
		Hash []byte
		Hint string
	}{id, apikey.Hash(key), apikey.Hint(key)}
	fmt.Println(len(key), len(stored.ID), len(stored.Hash), len(stored.Hint))
	// Output: 57 16 32 4
}

func ExampleParse() {
	id, err := apikey.Parse("kw_0123456789ABCDEFSTUVWXYZabcdefghijklmnopqrstuvwx4RGTmp")
	fmt.Println(id, err)

	// One mistyped character: the checksum catches it before any database lookup.
	_, err = apikey.Parse("kw_0123456789ABCDEFSTUVWXYZabcdefghijklmnopqrstuvwX4RGTmp")
	fmt.Println(err)
	// Output:
	// 0123456789ABCDEF <nil>
	// keyward: invalid: The API key's checksum does not match; it was probably mistyped or cut short.
}

func ExampleVerify() {
	key := "kw_0123456789ABCDEFSTUVWXYZabcdefghijklmnopqrstuvwx4RGTmp"
	stored := apikey.Hash(key)
	fmt.Println(apikey.Verify(key, stored))
	fmt.Println(apikey.Verify("kw_00000000000000000000000000000000000000000000000008eYgm", stored))
	// Output:
	// true
	// false
}

func ExampleFind() {
	config := []byte(`
KEYWARD_API_KEY=kw_0123456789ABCDEFSTUVWXYZabcdefghijklmnopqrstuvwx4RGTmp
EXAMPLE_KEY=kw_0123456789ABCDEFSTUVWXYZabcdefghijklmnopqrstuvwxXXXXXX
`)
	for _, m := range apikey.Find(config) {
		fmt.Printf("%d-%d key id %s, real: %v\n", m.Start, m.End, m.ID, m.Valid)
	}
	// Output:
	// 17-74 key id 0123456789ABCDEF, real: true
	// 87-144 key id 0123456789ABCDEF, real: false
}

func ExampleHint() {
	fmt.Println(apikey.Hint("kw_0123456789ABCDEFSTUVWXYZabcdefghijklmnopqrstuvwx4RGTmp"))
	// Output: GTmp
}
