//go:build unix

// Package cputime reads the CPU time a process has used. The machines this
// runs on are shared, so benchmarks report rates per CPU second beside the
// wall-clock ones.
package cputime

import (
	"syscall"
	"time"
)

// Process returns the user and system CPU time used by the process so far,
// all threads (0 where it cannot be read).
func Process() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
