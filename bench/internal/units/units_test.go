package units

import (
	"testing"
	"time"
)

func TestThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -4321: "-4,321"} {
		if got := Thousands(n); got != want {
			t.Errorf("Thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestDurationsAndSizes(t *testing.T) {
	if got := Millis(1500 * time.Microsecond); got != "1.50 ms" {
		t.Errorf("Millis = %q", got)
	}
	if got := Micros(1234567 * time.Nanosecond); got != "1,235 µs" {
		t.Errorf("Micros = %q", got)
	}
	if got := MiB(300 << 20); got != "300 MiB" {
		t.Errorf("MiB = %q", got)
	}
}
