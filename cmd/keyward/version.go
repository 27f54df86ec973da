package main

import (
	"fmt"
	"runtime"

	"github.com/keyward/keyward"
)

func (m *Main) version() error {
	fmt.Fprintf(m.Stdout, "keyward %s (%s, %s/%s)\n", keyward.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
