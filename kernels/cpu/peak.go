package cpu

import (
	"runtime"
	"sync"
	"time"
)

// Peak is an estimate of the machine's float32 arithmetic limit.
type Peak struct {
	// Cores is the number of cores used (GOMAXPROCS).
	Cores int
	// ClockGHz is the core clock measured with a chain of dependent integer
	// additions (one per cycle), the best of several tries: /proc/cpuinfo
	// reports the nominal clock, which on a virtual machine may be neither
	// the base nor the boost clock.
	ClockGHz float64
	// TheoreticalGFLOPS is Cores × ClockGHz × 32: two 8-lane FMA units per
	// core, two flops per lane (AVX2; AVX-512 is not used).
	TheoreticalGFLOPS float64
	// FMAGFLOPS is the measured throughput of independent 8-lane FMAs on
	// all cores at once, the best of several tries.
	FMAGFLOPS float64
}

// MeasurePeak measures the clock and the FMA throughput; it takes about
// half a second. It returns the zero Peak where the probes do not exist
// (non-amd64, or no AVX2/FMA).
func MeasurePeak() Peak {
	if !havePeakProbes() {
		return Peak{}
	}
	cores := runtime.GOMAXPROCS(0)
	p := Peak{Cores: cores}
	const adds = 20_000_000 // ×8 additions: ~50 ms at 3 GHz
	for try := 0; try < 5; try++ {
		t := time.Now()
		addChain(adds)
		if ghz := 8 * adds / time.Since(t).Seconds() / 1e9; ghz > p.ClockGHz {
			p.ClockGHz = ghz
		}
	}
	p.TheoreticalGFLOPS = float64(cores) * p.ClockGHz * 32
	const bursts = 2_000_000 // ×192 flops
	for try := 0; try < 5; try++ {
		var wg sync.WaitGroup
		t := time.Now()
		for c := 0; c < cores; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				fmaBurst(bursts)
			}()
		}
		wg.Wait()
		if g := float64(cores) * 192 * bursts / time.Since(t).Seconds() / 1e9; g > p.FMAGFLOPS {
			p.FMAGFLOPS = g
		}
	}
	return p
}
