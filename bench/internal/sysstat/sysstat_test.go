package sysstat

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestProcessesCPU(t *testing.T) {
	one, ok := ProcessesCPU([]int{os.Getpid()})
	if !ok {
		t.Skip("no /proc")
	}
	two, ok := ProcessesCPU([]int{os.Getpid(), os.Getpid()})
	if !ok || two < 2*one {
		t.Errorf("the same process twice: %s, once: %s", two, one)
	}
	if _, ok := ProcessesCPU([]int{os.Getpid(), -1}); ok {
		t.Error("an unreadable process still counted as known")
	}
	if _, ok := ProcessesCPU(nil); ok {
		t.Error("no process counted as known")
	}
}

func TestCPUModel(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cpuinfo")
	os.WriteFile(path, []byte("processor\t: 0\nvendor_id\t: Foo\nmodel name\t: Foo Bar 9000 @ 3.00GHz\n\nprocessor\t: 1\nmodel name\t: Foo Bar 9000 @ 3.00GHz\n"), 0o600)
	if got := cpuModel(path); got != "Foo Bar 9000 @ 3.00GHz" {
		t.Errorf("cpuModel = %q", got)
	}
	if got := cpuModel(filepath.Join(t.TempDir(), "missing")); got != "unknown CPU" {
		t.Errorf("cpuModel(missing) = %q", got)
	}
}

func TestParseStatCPU(t *testing.T) {
	// A command name with spaces and a parenthesis must not shift the fields.
	stat := "4158 (my (odd) cmd) R 4154 4154 10638 0 -1 4194304 121 0 0 0 250 50 0 0 20 0 1 0 128140"
	got, ok := parseStatCPU([]byte(stat))
	if !ok || got != 3*time.Second {
		t.Errorf("parseStatCPU = %v, %v; want 3s from 250+50 ticks", got, ok)
	}
	for _, bad := range []string{"", "1 (x) R 1 2", "1 (x) R 1 1 1 0 -1 0 0 0 0 0 -5 0"} {
		if _, ok := parseStatCPU([]byte(bad)); ok {
			t.Errorf("parseStatCPU(%q) accepted", bad)
		}
	}
}

func TestParseVmRSS(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"Name:\tkeyward\nVmPeak:\t  900 kB\nVmRSS:\t   12345 kB\nRssAnon:\t 1 kB\n", 12345 << 10, true},
		{"VmRSS:\t0 kB\n", 0, true},
		{"Name:\tkeyward\n", 0, false},
		{"VmRSS:\t12 MB\n", 0, false},
		{"VmRSS:\t-1 kB\n", 0, false},
		{"VmRSS:\tmany kB\n", 0, false},
		{"VmRSSx:\t12 kB\n", 0, false},
	} {
		got, ok := parseVmRSS([]byte(tc.in))
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseVmRSS(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestSampleRSSOfSelf(t *testing.T) {
	if _, ok := ProcessRSS(1); !ok {
		t.Skip("no /proc")
	}
	s := SampleRSS(os.Getpid(), time.Millisecond)
	time.Sleep(5 * time.Millisecond)
	peak, ok := s.Finish()
	if !ok || peak < 1<<20 {
		t.Fatalf("peak RSS of the test process = %d, %v", peak, ok)
	}
}
