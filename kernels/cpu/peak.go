package cpu

import (
	"runtime"
	"sync"
	"time"
	"unsafe"
)

// Peak is an estimate of the machine's float32 arithmetic limit.
type Peak struct {
	// Cores is the number of cores used (GOMAXPROCS).
	Cores int
	// ClockGHz is the core clock, measured with a chain of dependent
	// integer additions (one per cycle) timed by the thread's CPU clock, the
	// best of several tries: /proc/cpuinfo reports the nominal clock,
	// which on a virtual machine may be neither the base nor the boost
	// clock, and the wall clock counts time slices lost to other processes.
	ClockGHz float64
	// TheoreticalGFLOPS is Cores × ClockGHz × 32: two 8-lane FMA units per
	// core, two flops per lane (AVX2; AVX-512 is not used).
	TheoreticalGFLOPS float64
	// FMAGFLOPS is the measured throughput of independent 8-lane FMAs on
	// all cores at once, each core's rate taken over its CPU time, the best
	// of several tries.
	FMAGFLOPS float64
}

// GFLOPS is the peak used to judge achieved rates: the larger of the
// theoretical and the measured one, so that shares of it are not
// overstated when the clock probe reads low.
func (p Peak) GFLOPS() float64 { return max(p.TheoreticalGFLOPS, p.FMAGFLOPS) }

// MeasurePeak measures the clock and the FMA throughput; it takes about
// half a second. It returns the zero Peak where the probes do not exist
// (non-amd64, or no AVX2/FMA).
func MeasurePeak() Peak {
	if !havePeakProbes() {
		return Peak{}
	}
	cores := runtime.GOMAXPROCS(0)
	p := Peak{Cores: cores}
	runtime.LockOSThread()
	const adds = 10_000_000 // ×8 additions: ~25 ms at 3 GHz
	for try := 0; try < 12; try++ {
		t := threadTime()
		addChain(adds)
		if ghz := 8 * adds / (threadTime() - t).Seconds() / 1e9; ghz > p.ClockGHz {
			p.ClockGHz = ghz
		}
	}
	runtime.UnlockOSThread()
	p.TheoreticalGFLOPS = float64(cores) * p.ClockGHz * 32
	const bursts = 2_000_000 // ×192 flops
	for try := 0; try < 5; try++ {
		rates := make([]float64, cores)
		var wg sync.WaitGroup
		for c := 0; c < cores; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				t := threadTime()
				fmaBurst(bursts)
				rates[c] = 192 * bursts / (threadTime() - t).Seconds() / 1e9
			}()
		}
		wg.Wait()
		var g float64
		for _, r := range rates {
			g += r
		}
		p.FMAGFLOPS = max(p.FMAGFLOPS, g)
	}
	return p
}

// MeasureBandwidth returns the memory read bandwidth in GB/s (10⁹ bytes
// per second): all GOMAXPROCS threads read disjoint parts of a buffer of
// size bytes (256 MiB when size ≤ 0, far beyond any cache), each as eight
// interleaved sequential streams (one stream per core leaves the memory
// system idle between prefetches), the best of several passes.
func MeasureBandwidth(size int) float64 {
	if size <= 0 {
		size = 256 << 20
	}
	threads := runtime.GOMAXPROCS(0)
	per := size / threads / 8 &^ 63 // bytes per stream
	if per == 0 {
		return 0
	}
	buf := make([]byte, per*8*threads)
	for i := range buf {
		buf[i] = byte(i)
	}
	sums := make([]uint64, threads) // kept so that the reads are not optimized away
	best := 0.0
	for try := 0; try < 5; try++ {
		var wg sync.WaitGroup
		t := time.Now()
		for p := 0; p < threads; p++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sums[p] ^= readStreams(unsafe.Pointer(&buf[p*per*8]), per, per)
			}()
		}
		wg.Wait()
		if gbs := float64(len(buf)) / time.Since(t).Seconds() / 1e9; gbs > best {
			best = gbs
		}
	}
	return best
}
