// Package units formats the bench's figures the way its reports and log lines print them.
package units

import (
	"strconv"
	"strings"
	"time"
)

// Millis formats a latency in milliseconds with two decimals.
func Millis(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + " ms"
}

// Micros formats a duration in whole microseconds.
func Micros(d time.Duration) string {
	return Thousands(int64((d+500*time.Nanosecond)/time.Microsecond)) + " µs"
}

// Thousands formats n with commas between groups of three digits.
func Thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

// MiB formats bytes in MiB.
func MiB(b int64) string {
	return strconv.FormatFloat(float64(b)/(1<<20), 'f', 0, 64) + " MiB"
}
