package cuda

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"unsafe"
)

// The timeline trace (SAMBAEVAL_CUDA_TRACE=1; pdl_start in cu/common.cuh):
// with the kernels compiled with -DSAMBAEVAL_TRACE, every kernel's first
// thread writes the time at which it passed griddepcontrol.wait, which is
// when the kernel before it completed. Within a recorded decoding step the
// time between kernel i's and kernel i+1's is what kernel i cost the step
// (its own run after the wait, plus the boundary), overlap included, which
// Nsight Compute's serialised durations are not.

// traceEvent is one kernel's record: when it passed the wait (ns, the
// device's global timer) and its grid.
type traceEvent struct {
	t                    uint64
	gridX, gridY, blockX int
}

// global returns the device address and size in bytes of the module's
// global name, 0 when the driver or the module lacks it.
func (b *Backend) global(name string) (p, size uintptr) {
	if b.d.cuModuleGetGlobal == 0 {
		return 0, 0
	}
	defer b.enter()()
	cn := cstring(name)
	if call(b.d.cuModuleGetGlobal, uintptr(unsafe.Pointer(&p)), uintptr(unsafe.Pointer(&size)), b.module, uintptr(unsafe.Pointer(&cn[0]))) != 0 {
		return 0, 0
	}
	return p, size
}

// traceReset empties the trace (after the queued work); it reports false
// when the kernels were compiled without it.
func (b *Backend) traceReset() bool {
	n, _ := b.global("sambaeval_trace_n")
	if n == 0 {
		return false
	}
	defer b.enter()()
	b.must("cuStreamSynchronize", call(b.d.cuStreamSynchronize, b.stream))
	b.must("cuMemsetD32Async", call(b.d.cuMemsetD32Async, n, 0, 1, b.stream))
	b.must("cuStreamSynchronize", call(b.d.cuStreamSynchronize, b.stream))
	return true
}

// traceRead waits for the queued work and returns the trace's records.
func (b *Backend) traceRead() []traceEvent {
	np, _ := b.global("sambaeval_trace_n")
	tp, tbytes := b.global("sambaeval_trace")
	defer b.enter()()
	b.must("cuStreamSynchronize", call(b.d.cuStreamSynchronize, b.stream))
	var n uint32
	b.must("cuMemcpyDtoHAsync", call(b.d.cuMemcpyDtoHAsync, uintptr(unsafe.Pointer(&n)), np, 4, b.stream))
	b.must("cuStreamSynchronize", call(b.d.cuStreamSynchronize, b.stream))
	n = min(n, uint32(tbytes/16)) // records past TRACE_MAX were dropped
	if n == 0 {
		return nil
	}
	raw := make([]uint64, 2*n)
	b.must("cuMemcpyDtoHAsync", call(b.d.cuMemcpyDtoHAsync, uintptr(unsafe.Pointer(&raw[0])), tp, uintptr(16*n), b.stream))
	b.must("cuStreamSynchronize", call(b.d.cuStreamSynchronize, b.stream))
	ev := make([]traceEvent, n)
	for i := range ev {
		g := raw[2*i+1]
		ev[i] = traceEvent{t: raw[2*i], gridX: int(g >> 32), gridY: int(g >> 16 & 0xffff), blockX: int(g & 0xffff)}
	}
	return ev
}

// timeline charges each kernel of the traced steps (names: one step's
// kernel launches in order) the time from its wait to the next kernel's,
// sums the charges per kernel name, grid and kernel before it (which tells
// the products of one shape apart) over each step, and returns a
// report: the medians over steps, largest first. The last kernel of a step
// is charged nothing (the next record is the next step's, after the host).
func timeline(ev []traceEvent, names []string, label string) []string {
	K := len(names)
	if K == 0 || len(ev) < 2*K || len(ev)%K != 0 {
		return []string{fmt.Sprintf("timeline %s: %d trace records for steps of %d kernels: cannot split into steps", label, len(ev), K)}
	}
	steps := len(ev) / K
	type key struct {
		name, grid, after string
	}
	per := map[key][]float64{}
	calls := map[key]int{}
	var spans []float64
	for s := range steps {
		e := ev[s*K : (s+1)*K]
		charge := map[key]float64{}
		for i := range K - 1 {
			after := "-"
			if i > 0 {
				after = names[i-1]
			}
			k := key{names[i], fmt.Sprintf("%dx%d", e[i].gridX, e[i].gridY), after}
			charge[k] += float64(e[i+1].t-e[i].t) / 1e3
			if s == 0 {
				calls[k]++
			}
		}
		for k, c := range charge {
			per[k] = append(per[k], c)
		}
		spans = append(spans, float64(e[K-1].t-e[0].t)/1e3)
	}
	type row struct {
		k key
		c float64
	}
	var rows []row
	for k, cs := range per {
		rows = append(rows, row{k, median(cs)})
	}
	slices.SortFunc(rows, func(a, b row) int {
		if a.c != b.c {
			if a.c > b.c {
				return -1
			}
			return 1
		}
		return strings.Compare(a.k.name+a.k.grid+a.k.after, b.k.name+b.k.grid+b.k.after)
	})
	span := median(spans)
	out := []string{fmt.Sprintf("timeline %s: %d steps of %d kernels; first kernel's wait to last kernel's wait %.1f µs (median)", label, steps, K, span),
		fmt.Sprintf("  %-22s %-9s %-22s %5s %9s %6s %8s", "kernel", "grid", "after", "calls", "µs", "share", "µs/call")}
	for _, r := range rows {
		n := calls[r.k]
		out = append(out, fmt.Sprintf("  %-22s %-9s %-22s %5d %9.1f %5.1f%% %8.2f", r.k.name, r.k.grid, r.k.after, n, r.c, 100*r.c/span, r.c/float64(n)))
	}
	return out
}

// TestTimeline checks the charges on a made-up trace of three steps (no
// GPU needed): each kernel is charged the time to the next kernel's wait,
// summed per name, grid and predecessor, the median over steps.
func TestTimeline(t *testing.T) {
	names := []string{"k_embed", "k_rmsnorm_reg", "k_gemv2_4", "k_rmsnorm_reg", "k_gemv2_4"}
	var ev []traceEvent
	for s, slow := range []uint64{0, 1000, 3000} {
		b := uint64(s) * 1_000_000
		ev = append(ev, traceEvent{t: b, gridX: 11}, traceEvent{t: b + 1500, gridX: 1}, traceEvent{t: b + 5000, gridX: 704},
			traceEvent{t: b + 20000 + slow, gridX: 1}, traceEvent{t: b + 24000 + slow, gridX: 2816})
	}
	got := timeline(ev, names, "test")
	want := []string{
		"timeline test: 3 steps of 5 kernels; first kernel's wait to last kernel's wait 25.0 µs (median)",
		"k_gemv2_4 704x0 k_rmsnorm_reg 1 16.0 64.0% 16.00",
		"k_rmsnorm_reg 1x0 k_gemv2_4 1 4.0 16.0% 4.00",
		"k_rmsnorm_reg 1x0 k_embed 1 3.5 14.0% 3.50",
		"k_embed 11x0 - 1 1.5 6.0% 1.50",
	}
	if len(got) != len(want)+1 {
		t.Fatalf("got %d lines, want %d:\n%s", len(got), len(want)+1, strings.Join(got, "\n"))
	}
	for i, w := range want {
		g := got[i]
		if i > 0 {
			g = strings.Join(strings.Fields(got[i+1]), " ")
		}
		if g != w {
			t.Errorf("line %d: got %q, want %q", i, g, w)
		}
	}
	if r := timeline(ev[:7], names, "short"); len(r) != 1 || !strings.Contains(r[0], "cannot split") {
		t.Errorf("a trace that is not whole steps: got %q", r)
	}
}
