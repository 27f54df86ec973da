package sysstat

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ProcessRSS returns the resident set size of process pid from /proc/PID/status.
func ProcessRSS(pid int) (int64, bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, false
	}
	return parseVmRSS(data)
}

// parseVmRSS reads the "VmRSS:  1234 kB" line of a /proc/PID/status file, in bytes.
func parseVmRSS(data []byte) (int64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != "VmRSS" {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			return 0, false
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || n < 0 {
			return 0, false
		}
		return n << 10, true
	}
	return 0, false
}

// RSSSampler records the peak resident size of a process while it runs.
type RSSSampler struct {
	pid  int
	stop chan struct{}
	done sync.WaitGroup
	mu   sync.Mutex
	peak int64
	n    int
}

// SampleRSS reads pid's RSS every interval until stopped; a short allocation burst between two
// samples can be missed, so the interval is short.
func SampleRSS(pid int, interval time.Duration) *RSSSampler {
	s := &RSSSampler{pid: pid, stop: make(chan struct{})}
	s.record()
	s.done.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.record()
			}
		}
	})
	return s
}

func (s *RSSSampler) record() {
	if v, ok := ProcessRSS(s.pid); ok {
		s.mu.Lock()
		s.peak, s.n = max(s.peak, v), s.n+1
		s.mu.Unlock()
	}
}

// Finish stops sampling and returns the peak; ok is false when no sample could be read.
func (s *RSSSampler) Finish() (peak int64, ok bool) {
	close(s.stop)
	s.done.Wait()
	s.record()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak, s.n > 0
}
