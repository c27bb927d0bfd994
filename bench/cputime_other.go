//go:build !unix

package bench

import "time"

// processCPU is not measured here; the CPU-time rates stay zero.
func processCPU() time.Duration { return 0 }
