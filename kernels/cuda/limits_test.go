package cuda

import (
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"unsafe"

	"github.com/sambaeval/sambaeval/bench"
	"github.com/sambaeval/sambaeval/model"
)

// TestOutOfMemoryIsAnError fills the GPU's memory, then loads samba-tiny:
// the allocation the device refuses must come back from loading as an
// error naming it (kernels.Fault, kernels.Catch), not as a panic, and the
// backend must work again once memory is freed.
func TestOutOfMemoryIsAnError(t *testing.T) {
	g := gpu(t, false)
	var free, total uint64
	func() {
		defer g.enter()()
		g.must("cuMemGetInfo", call(g.d.cuMemGetInfo, uintptr(unsafe.Pointer(&free)), uintptr(unsafe.Pointer(&total))))
	}()
	// All but 8 MiB, in pieces of at most 1 GiB (samba-tiny needs ~40 MB).
	var fill []uintptr
	for left := int64(free) - 8<<20; left > 0; left -= 1 << 30 {
		n := min(left, 1<<30)
		var p uintptr
		func() {
			defer g.enter()()
			if call(g.d.cuMemAlloc, uintptr(unsafe.Pointer(&p)), uintptr(n)) != 0 {
				p = 0
			}
		}()
		if p == 0 {
			break
		}
		fill = append(fill, p)
	}
	release := func() {
		defer g.enter()()
		for _, p := range fill {
			g.free(p)
		}
		fill = nil
	}
	defer release()
	_, err := model.LoadDir(tinyDir(t), g)
	if err == nil || !strings.Contains(err.Error(), "cuMemAlloc") {
		t.Fatalf("loading samba-tiny into a full GPU: err = %v, want the refused allocation", err)
	}
	t.Logf("loading into a full GPU: %v", err)
	release()
	m, err := model.LoadDir(tinyDir(t), g)
	if err != nil {
		t.Fatalf("loading once memory is free again: %v", err)
	}
	defer m.Close()
	if lg, err := m.NewSession().Logits([]int32{1, 450, 4996}); err != nil || len(lg) != m.Config.VocabSize {
		t.Fatalf("after the fault: %d logits, %v", len(lg), err)
	}
}

// TestBenchReport runs `sambaeval bench`'s measurement (bench.Run) on the
// Samba_3.8B shape at batch 1 and 16 and checks its figures against this
// package's own benchmark in the same process: the step time against
// TestDecodeBench's (within 5%), MFU and the share of the decoding bound
// against their definitions (docs/performance-gpu.md). Runs with
// SAMBAEVAL_CUDA_DECODE=1 (about a minute).
func TestBenchReport(t *testing.T) {
	if os.Getenv("SAMBAEVAL_CUDA_DECODE") != "1" {
		t.Skip("set SAMBAEVAL_CUDA_DECODE=1 to run the bench report on the Samba_3.8B shape")
	}
	g := gpu(t, false)
	cfg, m, _, _ := bench38B(t, g)
	defer m.Close()
	weightBytes := float64(2 * cfg.ParamCount())
	for _, batch := range []int{1, 16} {
		r, err := bench.Run(m, bench.Options{PrefillTokens: 4096, DecodeTokens: 64, Repeats: 3, Batch: batch})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Print(r.String())
		// The bound at the copy rate bench measured (its own run checks it below).
		want := decodeRun(t, g, m, batch, "the benchmark's own", r.CopyRate/weightBytes, randomTokens(cfg.VocabSize),
			func(f string, a ...any) { fmt.Printf(f+"\n", a...) }, false)
		if got := r.DecodeStepMS / 1e3; math.Abs(got-want) > 0.05*want {
			t.Errorf("batch %d: bench's step %.3f ms, the benchmark's %.3f ms", batch, 1e3*got, 1e3*want)
		}
		if r.MatMulRate < 1e14 || r.CopyRate < 1e12 || r.PrefillMFU <= 0.2 || r.PrefillMFU > 1 || r.DecodeBound <= 0.3 || r.DecodeBound > 1 {
			t.Errorf("batch %d: implausible device figures: %+v", batch, r)
		}
	}
}
