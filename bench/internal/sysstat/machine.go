package sysstat

import (
	"bufio"
	"os"
	"runtime"
	"strings"
	"time"
)

// Machine describes where the figures were measured; they mean nothing without it.
type Machine struct {
	CPU   string
	Cores int
	GoVer string
	Date  time.Time
	// LoadBefore and LoadAfter are the one-minute load averages around the scenarios: anything
	// far above the core count means other work shared the machine.
	LoadBefore, LoadAfter string
}

// Describe is this machine at now, between the two load averages.
func Describe(now time.Time, loadBefore, loadAfter string) Machine {
	return Machine{CPU: cpuModel("/proc/cpuinfo"), Cores: runtime.NumCPU(),
		GoVer: runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH, Date: now.UTC(),
		LoadBefore: loadBefore, LoadAfter: loadAfter}
}

// cpuModel returns the first "model name" of a /proc/cpuinfo file, or "unknown CPU".
func cpuModel(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			if v = strings.TrimSpace(v); v != "" {
				return v
			}
		}
	}
	return "unknown CPU"
}
