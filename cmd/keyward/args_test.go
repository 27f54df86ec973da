package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

func TestParseExpiry(t *testing.T) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 500, time.UTC)
	tests := []struct {
		in   string
		want time.Time
		bad  bool
	}{
		{in: "2031-02-03T04:05:06Z", want: time.Date(2031, 2, 3, 4, 5, 6, 0, time.UTC)},
		{in: "2031-02-03T04:05:06+02:00", want: time.Date(2031, 2, 3, 2, 5, 6, 0, time.UTC)},
		{in: "720h", want: now.Add(720 * time.Hour).Truncate(time.Second)},
		{in: "1h30m", want: now.Add(90 * time.Minute).Truncate(time.Second)},
		{in: "90d", want: now.Add(90 * 24 * time.Hour).Truncate(time.Second)},
		{in: "1d", want: now.Add(24 * time.Hour).Truncate(time.Second)},
		{in: "0d", bad: true},
		{in: "-5d", bad: true},
		{in: "36501d", bad: true},
		{in: "1.5d", bad: true},
		{in: "-1h", bad: true},
		{in: "0s", bad: true},
		{in: "tomorrow", bad: true},
		{in: "2031-02-03", want: time.Date(2031, 2, 3, 0, 0, 0, 0, time.UTC)},
		{in: "2031-02-30", bad: true},
		{in: "2031-2-3", bad: true},
		{in: "", bad: true},
	}
	for _, tt := range tests {
		got, err := parseExpiry(tt.in, now)
		var usage *usageError
		switch {
		case tt.bad && !errors.As(err, &usage):
			t.Errorf("parseExpiry(%q) = %v, %v; want a usage error", tt.in, got, err)
		case !tt.bad && (err != nil || !got.Equal(tt.want)):
			t.Errorf("parseExpiry(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseArgs(t *testing.T) {
	tests := []struct {
		args    []string
		env     map[string]string
		want    []string
		project string
		json    bool
	}{
		{args: []string{"a", "--project", "p", "b"}, want: []string{"a", "b"}, project: "p"},
		{args: []string{"--json", "a"}, want: []string{"a"}, json: true},
		{args: []string{"a", "--", "--json", "-"}, want: []string{"a", "--json", "-"}},
		{args: []string{"-", "--json"}, want: []string{"-"}, json: true},
		{args: nil, env: map[string]string{"KEYWARD_PROJECT": "from-env", "KEYWARD_JSON": "true"}, project: "from-env"},
		{args: []string{"--project=flag"}, env: map[string]string{"KEYWARD_PROJECT": "from-env"}, project: "flag"},
	}
	for _, tt := range tests {
		m := &Main{Stderr: io.Discard, Getenv: func(k string) string { return tt.env[k] }}
		fs := m.flagSet("test", "test")
		project := fs.String("project", "", "")
		asJSON := fs.Bool("json", false, "")
		got, err := m.parseArgs(fs, tt.args, "project")
		if err != nil || !slices.Equal(got, tt.want) || *project != tt.project || *asJSON != tt.json {
			t.Errorf("parseArgs(%q) = %q, %v, project %q, json %v; want %q, project %q, json %v",
				tt.args, got, err, *project, *asJSON, tt.want, tt.project, tt.json)
		}
	}
}

func TestExitStatus(t *testing.T) {
	tests := []struct {
		err    error
		code   int
		output string
	}{
		{nil, 0, ""},
		{flag.ErrHelp, 0, ""},
		{exitCode(1), 1, ""},
		{usagef("give --name"), 2, "keyward: give --name\n"},
		{failed(errors.New("the server said\nno")), 1, "keyward: the server said no\n"},
		{failed(usagef("bad")), 2, "keyward: bad\n"},
		{failed(exitCode(3)), 3, ""},
		{fmt.Errorf("listen: %w", errors.New("address in use")), 2, "keyward: listen: address in use\n"},
		{fmt.Errorf("open database: %w", keyward.Errorf(keyward.EINVALID, "Unsupported database.")), 2, "keyward: open database: Unsupported database.\n"},
		{failed(fmt.Errorf("keyward: token request: %w", errors.New("refused"))), 1, "keyward: token request: refused\n"},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		if code := exitStatus(tt.err, &out); code != tt.code || out.String() != tt.output {
			t.Errorf("exitStatus(%v) = %d, %q; want %d, %q", tt.err, code, out.String(), tt.code, tt.output)
		}
	}
}

func TestPrintable(t *testing.T) {
	if got := printable("evil\x1b[2J\tname\u202e"); strings.ContainsAny(got, "\x1b\t\u202e") {
		t.Errorf("printable left control characters: %q", got)
	}
}

func TestServeTunesTheRuntimeUnlessTheOperatorDid(t *testing.T) {
	prevProcs := runtime.GOMAXPROCS(2)
	prevPercent := debug.SetGCPercent(100)
	prevLimit := debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() {
		runtime.GOMAXPROCS(prevProcs)
		debug.SetGCPercent(prevPercent)
		debug.SetMemoryLimit(prevLimit)
	})

	tuneRuntime(func(string) string { return "" }, 2)
	if got := runtime.GOMAXPROCS(2); got != 4 {
		t.Errorf("GOMAXPROCS %d, want 4: the two processors and one per concurrent hash", got)
	}
	if got := debug.SetGCPercent(100); got != serverGCPercent {
		t.Errorf("GC percent %d, want %d", got, serverGCPercent)
	}
	want := int64(serverBaseMemory + 2*7<<20) // argon2id's 7 MiB per concurrent hash
	if got := debug.SetMemoryLimit(math.MaxInt64); got != want {
		t.Errorf("memory limit %d, want %d", got, want)
	}

	// GOMAXPROCS, GOGC and GOMEMLIMIT are the operator's: the runtime has applied them.
	tuneRuntime(func(k string) string {
		return map[string]string{"GOMAXPROCS": "2", "GOGC": "50", "GOMEMLIMIT": "1GiB"}[k]
	}, 2)
	if got := runtime.GOMAXPROCS(2); got != 2 {
		t.Errorf("with GOMAXPROCS set, it changed to %d", got)
	}
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC set, GC percent changed to %d", got)
	}
	if got := debug.SetMemoryLimit(math.MaxInt64); got != math.MaxInt64 {
		t.Errorf("with GOMEMLIMIT set, memory limit changed to %d", got)
	}
}
