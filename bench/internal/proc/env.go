package proc

import (
	"bytes"
	"net"
	"os"
	"strings"
)

// FreeLoopbackAddr returns a loopback address whose port was free a moment ago. Another program
// could take it before the child binds it; the child then fails to start and the bench says so.
func FreeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// ChildEnv is the bench's environment without any KEYWARD_* variable, plus extra: keyward reads
// every flag from KEYWARD_<FLAG>, and a variable left in a contributor's shell must not change
// what is measured.
func ChildEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KEYWARD_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// Tail returns the last n lines of data, such as the end of a child's log.
func Tail(data []byte, n int) []byte {
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return append(bytes.Join(lines, []byte("\n")), '\n')
}
