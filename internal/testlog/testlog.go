// Package testlog collects what servers under test log, written from many goroutines at once.
package testlog

import (
	"bytes"
	"sync"
)

// Buffer is an io.Writer whose contents a test reads while the server still writes.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
