// Package sysstat reads the CPU time and memory of processes, and what the machine is, from /proc.
package sysstat

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// userHZ is the unit of the CPU times in /proc/PID/stat: USER_HZ, 100 on every Linux ABI that Go
// supports, whatever the kernel's own tick rate.
const userHZ = 100

// ProcessCPU returns the CPU time, user plus system over all threads, that process pid has used.
// ok is false where there is no /proc. CPU time per request holds up on a busy shared machine,
// where requests per second depend on what else runs.
func ProcessCPU(pid int) (d time.Duration, ok bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	return parseStatCPU(data)
}

// ProcessesCPU sums ProcessCPU over pids; ok is false when any of them cannot be read.
func ProcessesCPU(pids []int) (total time.Duration, ok bool) {
	for _, pid := range pids {
		d, known := ProcessCPU(pid)
		if !known {
			return 0, false
		}
		total += d
	}
	return total, len(pids) > 0
}

// parseStatCPU reads utime and stime, fields 14 and 15 of /proc/PID/stat. The command name in
// field 2 may contain spaces and parentheses, so fields are counted after its last ')'.
func parseStatCPU(data []byte) (time.Duration, bool) {
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil || utime < 0 || stime < 0 {
		return 0, false
	}
	return time.Duration(utime+stime) * time.Second / userHZ, true
}

// SelfCPU returns the CPU time the bench process itself (the load generator) has used.
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// LoadAverage returns the one-minute load average, or "" where there is none: it tells a reader
// how busy the machine was besides the bench.
func LoadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return ""
	}
	return f[0]
}
