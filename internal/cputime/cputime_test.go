package cputime

import (
	"runtime"
	"testing"
	"time"
)

// TestProcessCountsWork checks that busy work advances the process's CPU
// time (by a tenth of the wall time it took at least: the machine may be
// shared, but not that much).
func TestProcessCountsWork(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" || runtime.GOOS == "js" || runtime.GOOS == "wasip1" {
		t.Skip("not measured on " + runtime.GOOS)
	}
	c0, w0 := Process(), time.Now()
	x := 0
	for time.Since(w0) < 100*time.Millisecond {
		for i := 0; i < 1e5; i++ {
			x += i ^ x
		}
	}
	if used, wall := Process()-c0, time.Since(w0); used < wall/10 {
		t.Errorf("%v of CPU time for %v of busy work (x %d)", used, wall, x)
	}
}
