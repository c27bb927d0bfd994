package cpu

import (
	"time"

	"golang.org/x/sys/unix"
)

// threadTime returns the CPU time the calling OS thread has run, so that
// the probes are not misled by time slices lost to other processes. The
// caller locks its goroutine to the thread.
func threadTime() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return time.Duration(time.Now().UnixNano())
	}
	return time.Duration(ts.Nano())
}
