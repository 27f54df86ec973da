package api

import (
	"log/slog"

	"github.com/keyward/keyward/internal/testlog"
)

func newTestLogger(b *testlog.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
