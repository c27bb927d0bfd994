//go:build !unix

// Package cputime reads the CPU time a process has used. The machines this
// runs on are shared, so benchmarks report rates per CPU second beside the
// wall-clock ones.
package cputime

import "time"

// Process is not measured here: it returns 0, and rates per CPU second
// stay unreported.
func Process() time.Duration { return 0 }
