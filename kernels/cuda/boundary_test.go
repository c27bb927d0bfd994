package cuda

import (
	"fmt"
	"os"
	"slices"
	"testing"
)

// boundarySource is TestBoundaryCost's own module (not part of the
// backend's kernels): k_boundary does nothing but wait for the kernel
// before it (griddepcontrol, as every backend kernel does) and count;
// k_gridbar passes n grid-wide barriers, each an atomic add of every
// block to one counter (release) and a spin until all have added
// (acquire), between two block barriers.
const boundarySource = `
extern "C" __global__ void k_boundary(unsigned* out) {
#if __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
    asm volatile("griddepcontrol.launch_dependents;" :::);
#endif
    if (blockIdx.x == 0 && threadIdx.x == 0) out[0] += 1;
}

extern "C" __global__ void k_gridbar(unsigned* ctr, int n) {
    for (int i = 1; i <= n; i++) {
        __syncthreads();
        if (threadIdx.x == 0) {
            asm volatile("red.release.gpu.global.add.u32 [%0], 1;" ::"l"(ctr) : "memory");
            unsigned v;
            do {
                asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(v) : "l"(ctr) : "memory");
            } while (v < (unsigned)i * gridDim.x);
        }
        __syncthreads();
    }
}
`

// TestBoundaryCost measures what one persistent decoding kernel would
// trade (docs/performance-gpu.md): the cost of a kernel boundary in a
// recorded step (a chain of empty kernels of one block per multiprocessor,
// with programmatic dependent launch as the backend launches them, and
// without) against a grid-wide barrier inside one kernel of the same grid
// (and of two blocks per multiprocessor). It checks that the chain ran
// every kernel and that the barriers completed. Runs with
// SAMBAEVAL_CUDA_DECODE=1 (a benchmark; sm_70 or later).
func TestBoundaryCost(t *testing.T) {
	if os.Getenv("SAMBAEVAL_CUDA_DECODE") != "1" {
		t.Skip("set SAMBAEVAL_CUDA_DECODE=1 to run the kernel-boundary benchmark")
	}
	g := gpu(t, false)
	if g.cc < 70 || g.d.cuStreamBeginCapture == 0 {
		t.Skip("needs sm_70 and CUDA graphs")
	}
	say := func(format string, a ...any) { fmt.Printf(format+"\n", a...) } // not benchLog: SAMBAEVAL_BENCH_OUT is TestDecodeBench's
	defer loadTestModule(t, g, boundarySource, "k_boundary", "k_gridbar")()
	cnt := newCounter(g)
	defer g.Free(cnt.buf)
	ctr := cnt.ptr

	// A recorded chain of kernels.
	const chain, replays = 200, 20
	for _, pdl := range []bool{true, false} {
		if pdl && !g.pdl {
			continue
		}
		saved := g.pdl
		g.pdl = pdl
		graph, ok, _ := g.recordStep(func() {
			defer g.enter()()
			for range chain {
				g.p.reset()
				g.p.ptr(ctr)
				g.launch("k_boundary", dim3{g.sms, 1, 1}, dim3{256, 1, 1}, 0)
			}
		})
		g.pdl = saved
		if !ok {
			t.Fatal("recording the chain failed")
		}
		exec := g.instantiate(graph)
		cnt.zero(g)
		g.launchGraph(exec)
		if got := cnt.read(g); got != chain {
			t.Errorf("the recorded chain ran %d kernels, want %d", got, chain)
		}
		var us []float64
		for range 3 {
			s, e := g.events2()
			for range replays {
				g.launchGraph(exec)
			}
			us = append(us, g.stop(s, e)*1e3/(replays*chain))
		}
		func() {
			defer g.enter()()
			call(g.d.cuGraphExecDestroy, exec)
			call(g.d.cuGraphDestroy, graph)
		}()
		slices.Sort(us)
		say("kernel boundary in a recorded step (%d empty kernels of %d blocks, programmatic dependent launch %v): %.2f µs each (median of 3 rounds of %d replays)",
			chain, g.sms, pdl, us[1], replays)
	}

	// Grid-wide barriers in one kernel.
	gridbar := func(blocks, n int) float64 {
		var ms []float64
		for range 3 {
			cnt.zero(g)
			s, e := g.events2()
			func() {
				defer g.enter()()
				g.p.reset()
				g.p.ptr(ctr)
				g.p.i32(n)
				g.launch("k_gridbar", dim3{blocks, 1, 1}, dim3{256, 1, 1}, 0)
			}()
			ms = append(ms, g.stop(s, e))
			if got := cnt.read(g); got != uint32(n*blocks) {
				t.Fatalf("k_gridbar: counter %d after %d barriers of %d blocks, want %d", got, n, blocks, n*blocks)
			}
		}
		slices.Sort(ms)
		return ms[1]
	}
	const barriers = 2000
	for _, perSM := range []int{1, 2} {
		blocks := perSM * g.sms
		base, all := gridbar(blocks, 0), gridbar(blocks, barriers)
		say("grid-wide barrier in one kernel (%d blocks of 256 threads): %.2f µs each (%d barriers: %.3f ms, none: %.3f ms)",
			blocks, (all-base)*1e3/barriers, barriers, all, base)
	}
}
