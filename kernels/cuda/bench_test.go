package cuda

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sambaeval/sambaeval/dtype"
	"github.com/sambaeval/sambaeval/kernels"
	"github.com/sambaeval/sambaeval/model"
)

// TestBenchH200 measures the figures of docs/performance-gpu.md on a
// Samba_3.8B-shaped model with random bf16 weights. It runs only with
// SAMBAEVAL_CUDA_BENCH=1 (scripts/gpu-test.sh bench) and takes a few
// minutes on an H200.
func TestBenchH200(t *testing.T) {
	if os.Getenv("SAMBAEVAL_CUDA_BENCH") != "1" {
		t.Skip("set SAMBAEVAL_CUDA_BENCH=1 to run the GPU benchmark")
	}
	g := gpu(t, false)
	say, flush := benchLog()
	defer flush()
	say("device: %s", g.Name())

	gemmRate := g.benchGemm(t, 8192, 20)
	say("bf16 GEMM 8192³ (cublasGemmEx, random data): %.1f TFLOP/s", gemmRate/1e12)
	copyBW := g.benchCopy(t, 1<<30, 20)
	say("device-to-device copy of 1 GiB: %.0f GB/s (bytes read + written)", copyBW/1e9)

	// Kernel variants, each checked against the tested default (the model
	// runs below use the defaults).
	best16, bestMS := defaultScan16, math.Inf(1)
	scanMS, scanErr := g.benchScanVariants(t)
	for _, v := range []string{"s4", "s8", "p4", "p8", "p16", "q8", "q16"} {
		status := "matches " + defaultScan16
		if scanErr[v] != nil {
			status = "MISMATCH: " + scanErr[v].Error()
		} else if scanMS[v] < bestMS {
			best16, bestMS = v, scanMS[v]
		}
		say("selective scan T=16384, 5632 channels, 16 states, variant %-3s (%2d lanes): %.2f ms (%s)", v, scanVariants[v].lanes, scanMS[v], status)
	}
	if best16 != defaultScan16 {
		say("NOTE: scan variant %s was faster than the default %s", best16, defaultScan16)
	}
	var smxMS [2]float64
	var smxOut [2][]float32
	g.noFlash = true
	for i, warp := range []bool{false, true} {
		g.softmaxWarp = warp
		smxMS[i], smxOut[i] = g.benchAttention(t, 0, 16384, 1, nil)
	}
	g.noFlash = false
	g.softmaxWarp = false
	say("attention T=16384 cuBLAS path softmax: block per row (default) %.2f ms, warp per row %.2f ms (outputs agree: %v)",
		smxMS[0], smxMS[1], closeEnough(smxOut[1], smxOut[0], 1e-3) == nil)
	// Long-chunk attention: flash kernels against the cuBLAS path.
	type attnRun struct {
		name          string
		noFlash, bn64 bool
	}
	var ref []float32
	for _, ar := range []attnRun{{"cuBLAS + k_softmax", true, false}, {"flash, 32-key tiles (default)", false, false}, {"flash, 64-key tiles", false, true}} {
		g.noFlash, g.flashBN64 = ar.noFlash, ar.bn64
		ms, out := g.benchAttention(t, 0, 16384, 1, nil)
		agree := "reference"
		if ref == nil {
			ref = out
		} else if err := closeEnough(out, ref, 2e-2); err != nil {
			agree = "DIFFERS from the cuBLAS path: " + err.Error()
		} else {
			agree = "agrees with the cuBLAS path within 2e-2"
		}
		flops := 4.0 * 16384 * 2048 * 256 * 11
		say("attention T=16384, window 2048, 11 heads of 256, 1 KV head, %-30s %.2f ms (%.0f TFLOP/s useful; %s)", ar.name+":", ms, flops/(ms/1e3)/1e12, agree)
	}
	g.noFlash, g.flashBN64 = false, false
	// Decoding attention: one query per sequence after 2047 cached keys
	// (bf16 caches unless the variant says float32: the same values, which
	// k_attn_decm rounds to bf16 either way); each variant checked against
	// k_attn.
	type decAttn struct {
		name       string
		grp, noDec bool
		keys       int  // k_attn_dec's keys per tile (0: its choice)
		tiles      int  // k_attn_dec's tiles per block (0: its choice)
		fp32       bool // k_attn_dec's float32 products instead of k_attn_decm's bf16 ones
		f32KV      bool // float32 key/value caches
	}
	for _, nseq := range []int{1, 16} {
		var ref []float32
		line := fmt.Sprintf("attention T=1 × %2d sequences, window 2048, 11 heads of 256:", nseq)
		for _, da := range []decAttn{{"k_attn", false, true, 0, 0, true, false}, {"k_attn_grp", true, true, 0, 0, true, false},
			{"k_attn_decm (default)", false, false, 0, 0, false, false}, {"k_attn_decm, float32 caches", false, false, 0, 0, false, true},
			{"k_attn_dec float32", false, false, 0, 0, true, false},
			{"k_attn_dec 16 keys, 1 tile", false, false, 16, 1, true, false}, {"k_attn_dec 32 keys", false, false, 32, 1, true, false},
			{"k_attn_dec 8 tiles of 16 keys", false, false, 16, 8, true, false}, {"k_attn_decm 8 tiles", false, false, 0, 8, false, false}} {
			g.attnGrp, g.noAttnDec, g.attnDecKeys, g.attnDecTiles, g.noDecMMA = da.grp, da.noDec, da.keys, da.tiles, da.fp32
			g.f32KV = da.f32KV
			ms, out := g.benchAttention(t, 0, 1, nseq, nil)
			g.f32KV = false
			agree := ""
			tol := 1e-5
			switch {
			case !da.fp32:
				tol = 2e-2 // bf16 products
			case !da.noDec && !da.grp:
				tol = 1e-3 // k_attn_dec_kv16 takes the step's own key and value rounded to bf16, k_attn exact
			}
			if ref == nil {
				ref = out
			} else if err := closeEnough(out, ref, tol); err != nil {
				agree = fmt.Sprintf(" (DIFFERS from k_attn by more than %g: %v)", tol, err)
			} else {
				agree = fmt.Sprintf(" (agrees within %g)", tol)
			}
			line += fmt.Sprintf(" %s %.3f ms%s;", da.name, ms, agree)
		}
		g.attnGrp, g.noAttnDec, g.attnDecKeys, g.attnDecTiles, g.noDecMMA = false, false, 0, 0, false
		say("%s", strings.TrimSuffix(line, ";"))
	}
	say("settings for the model runs: scan variant %s, flash attention (32-key tiles); decoding: recorded steps, k_gemv2 and the fused gate/up k_gemv2_swiglu for one row (any size; rows per block from gemv2RB), k_gemv_mmt and k_gemv_mmt_swiglu on the weights' tiled copies for 2–8 rows, for 9–16 the fused gate/up on k_gemv_mmb_swiglu (tiled copies streamed by bulk copies) and the other products on k_gemv_mmt1 (tiled copies, one tile of 16 rows per warp; weights ≤ 32 MB, cuBLAS for the others), first weights loaded before the PDL wait, k_attn_decm (bf16 products; 2 tiles of 16 keys per block, tiles copied up to 3 ahead) below 8 sequences, k_attn_decp from 8 (tiles of 16 keys per warp, 1 or 2 per warp, copied 2 ahead; bf16 key/value caches), k_scan_dec (k_scan_dec_dtf up to 4 sequences)",
		defaultScan16)
	for _, l := range g.benchGemvShapes(t) {
		say("%s", l)
	}

	prof := &profiler{Backend: g}
	cfg, m, genTime, loadTime := bench38B(t, prof)
	V, D := int64(cfg.PaddedVocabSize), int64(cfg.NEmbd)
	params := cfg.ParamCount()
	nonEmb := params - V*D
	say("Samba_3.8B shape: %.3fB parameters (%.3fB without the tied embedding/head); weights generated in %v, uploaded in %v",
		float64(params)/1e9, float64(nonEmb)/1e9, genTime.Round(time.Millisecond), loadTime.Round(time.Millisecond))
	_, total, _ := g.MemInfo()

	randomIDs := randomTokens(cfg.VocabSize)
	sync := func() {
		if err := g.Synchronize(); err != nil {
			t.Fatal(err)
		}
	}

	// Prefill (no head): tokens/s at chunk sizes 4K and 16K.
	warm := m.NewSession()
	warm.ChunkSize = 4096
	if err := warm.Prefill(randomIDs(8192)); err != nil {
		t.Fatal(err)
	}
	warm.Free()
	sync()
	best := 0
	var bestRate float64
	for _, chunk := range []int{4096, 16384} {
		s := m.NewSession()
		s.ChunkSize = chunk
		if err := s.Prefill(randomIDs(chunk)); err != nil { // warm-up at this size
			t.Fatal(err)
		}
		sync()
		n := 65536
		ids := randomIDs(n)
		start := time.Now()
		if err := s.Prefill(ids); err != nil {
			t.Fatal(err)
		}
		sync()
		el := time.Since(start).Seconds()
		rate := float64(n) / el
		say("prefill, chunk %5d: %6.0f tokens/s (%d tokens in %.2f s); MFU %.1f%% (2·%.3fB non-embedding params, no head) of the measured %.0f TFLOP/s",
			chunk, rate, n, el, 100*2*float64(nonEmb)*rate/gemmRate, float64(nonEmb)/1e9, gemmRate/1e12)
		if rate > bestRate {
			best, bestRate = chunk, rate
		}
		if chunk == 16384 {
			prof.on = true
			if err := s.Prefill(ids[:chunk]); err != nil {
				t.Fatal(err)
			}
			prof.on = false
			say("profile of one %d-token prefill chunk (device time per operation, events around each call):", chunk)
			for _, l := range prof.report() {
				say("  %s", l)
			}
		}
		s.Free()
	}

	// Scoring 1M tokens with streaming chunks (32K only with
	// SAMBAEVAL_BENCH_QUICK=1, for runs that change only decoding).
	quick := os.Getenv("SAMBAEVAL_BENCH_QUICK") == "1"
	const million, piece = 1 << 20, 32768
	ids := randomIDs(million + 1)
	if quick {
		ids = ids[:piece+1]
	}
	s := m.NewSession()
	s.ChunkSize = best
	var used32K uint64
	var nll float64
	start := time.Now()
	for p := 0; p+piece < len(ids); p += piece {
		sc, err := s.Score(ids[p:p+piece], ids[p+1:p+piece+1])
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range sc {
			nll -= float64(x.LogProb)
		}
		if p == 0 {
			free, _, _ := g.MemInfo()
			used32K = total - free
		}
	}
	el := time.Since(start).Seconds()
	free, _, _ := g.MemInfo()
	used1M := total - free
	scored := len(ids) - 1
	rate := float64(scored) / el
	say("scoring %d tokens (chunk %d, head and log-softmax included): %.1f s wall, %.0f tokens/s, MFU %.1f%% (2·%.3fB params incl. head); mean NLL %.3f",
		scored, best, el, rate, 100*2*float64(params)*rate/gemmRate, float64(params)/1e9, nll/float64(scored))
	say("GPU memory in use (cuMemGetInfo): %.2f GiB after 32K tokens, %.2f GiB after %d tokens", float64(used32K)/(1<<30), float64(used1M)/(1<<30), scored)
	if math.IsNaN(nll) || math.IsInf(nll, 0) {
		t.Errorf("NLL %v", nll)
	}
	s.Free()

	// Host cost per operation, with device work too small to matter.
	for _, l := range g.benchOverhead(t) {
		say("%s", l)
	}

	// Decoding at batch 1 and 16 against the bandwidth bound.
	weightBytes := float64(2 * params)
	bound := copyBW / weightBytes
	type decodeRun struct {
		batch   int
		how     string
		noGraph bool // steps launched op by op
		noMMA   bool // cuBLAS (two products and SwiGLU for the gate/up) instead of k_gemv_mma
		grp     bool // k_attn_grp
		greedy  bool // ArgmaxBatch (greedy decoding: token ids to the host) instead of LogitsBatch
		noDec   bool // k_attn instead of k_attn_dec
		old     bool // the previous k_gemv (≤ 32 MB, else cuBLAS) and k_gemv_swiglu4 instead of k_gemv2
	}
	for _, dr := range []decodeRun{
		{batch: 1, how: "default: recorded steps, logits to the host"},
		{batch: 16, how: "default: recorded steps, logits to the host"},
		{batch: 1, how: "recorded steps, greedy: argmax on the GPU", greedy: true},
		{batch: 16, how: "recorded steps, greedy: argmax on the GPU", greedy: true},
		{batch: 1, how: "op by op", noGraph: true},
		{batch: 16, how: "op by op", noGraph: true},
		{batch: 1, how: "recorded, old k_gemv (≤ 32 MB, else cuBLAS) + k_gemv_swiglu4", old: true},
		{batch: 1, how: "recorded, k_attn", noDec: true},
		{batch: 16, how: "recorded, k_attn", noDec: true},
		{batch: 16, how: "recorded, cuBLAS for every product", noMMA: true},
		{batch: 1, how: "recorded, k_attn_grp", grp: true},
		{batch: 16, how: "recorded, k_attn_grp", grp: true},
	} {
		batch := dr.batch
		g.noGraph, g.noMMA, g.attnGrp, g.noAttnDec, g.oldGemv = dr.noGraph, dr.noMMA, dr.grp, dr.noDec, dr.old
		sessions := make([]*model.Session, batch)
		for i := range sessions {
			sessions[i] = m.NewSession()
			if err := sessions[i].Prefill(randomIDs(2048)); err != nil {
				t.Fatal(err)
			}
		}
		step := func() {
			next := make([][]int32, batch)
			for i := range next {
				next[i] = randomIDs(1)
			}
			var err error
			if dr.greedy {
				_, err = m.ArgmaxBatch(sessions, next, 1)
			} else {
				_, err = m.LogitsBatch(sessions, next, 1)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		for range 4 {
			step()
		}
		steps := 64
		if batch > 1 {
			steps = 32
		}
		var pf *os.File
		if path := os.Getenv("SAMBAEVAL_BENCH_PPROF"); path != "" && batch == 1 && !dr.noGraph {
			var err error
			if pf, err = os.Create(path); err == nil {
				pprof.StartCPUProfile(pf)
			}
		}
		start := time.Now()
		for range steps {
			step()
		}
		el := time.Since(start).Seconds()
		if pf != nil {
			pprof.StopCPUProfile()
			pf.Close()
		}
		rate := float64(batch*steps) / el
		say("decode, batch %2d (%s): %6.0f tokens/s (%.2f ms per step); bandwidth bound %.0f tokens/s (%.2f GB of weights at %.0f GB/s): %.0f%%",
			batch, dr.how, rate, 1000*el/float64(steps), bound*float64(batch), weightBytes/1e9, copyBW/1e9, 100*rate/(bound*float64(batch)))
		if !dr.noGraph {
			// Device time of one recorded step, events around it.
			s, e := g.events2()
			step()
			say("  one recorded step at batch %d: %.3f ms between events around LogitsBatch (device and the host's head read)", batch, g.stop(s, e))
		}
		if dr.noGraph {
			prof.on = true
			step()
			prof.on = false
			say("profile of one decode step at batch %d (device time per operation):", batch)
			for _, l := range prof.report() {
				say("  %s", l)
			}
		}
		for _, x := range sessions {
			x.Free()
		}
	}
	g.noGraph, g.noMMA, g.attnGrp, g.noAttnDec, g.oldGemv = false, false, false, false, false

	// The cuBLAS attention path at the 3.8B shape, per query block size,
	// then the flash and decoding paths; each followed by a trace of one call.
	g.noFlash = true
	for _, bq := range []int{256, 512, 1024} {
		ms, _ := g.benchAttention(t, bq, 16384, 1, nil)
		flops := 4.0 * 16384 * 2048 * 256 * 11
		say("attention T=16384, window 2048, 11 heads of 256, 1 KV head, query block %4d: %.2f ms (%.0f TFLOP/s useful)", bq, ms, flops/(ms/1e3)/1e12)
	}
	for _, flash := range []bool{false, true} {
		g.noFlash = !flash
		tr := &tracer{b: g}
		g.benchAttention(t, 0, 16384, 1, tr)
		say("trace of one attention call, T=16384, flash %v (device time between consecutive launches):", flash)
		for _, l := range tr.report() {
			say("  %s", l)
		}
	}
	g.noFlash = false
	// Decoding: how k_attn_dec's time splits between it, k_attn_combine
	// (64 or 128 partials per head) and k_kv_store, against k_attn.
	for _, nseq := range []int{1, 16} {
		for _, noDec := range []bool{false, true} {
			g.noAttnDec = noDec
			tr := &tracer{b: g}
			g.benchAttention(t, 0, 1, nseq, tr)
			say("trace of one attention call, T=1 × %d sequences, k_attn_dec %v:", nseq, !noDec)
			for _, l := range tr.report() {
				say("  %s", l)
			}
		}
	}
	g.noAttnDec = false
}

// tracer records an event after every queued kernel or cuBLAS call, so
// that the time between consecutive events is the device time of the call
// (when the device is not starved).
type tracer struct {
	b      *Backend
	names  []string
	events []uintptr
}

func (tr *tracer) start() {
	defer tr.b.enter()()
	e := tr.b.newEvent()
	tr.b.record(e)
	tr.names, tr.events = append(tr.names, ""), append(tr.events, e)
}

// mark runs inside a backend operation (the context is current).
func (tr *tracer) mark(name string) {
	e := tr.b.newEvent()
	tr.b.record(e)
	tr.names, tr.events = append(tr.names, name), append(tr.events, e)
}

func (tr *tracer) report() []string {
	defer tr.b.enter()()
	sums := map[string]float64{}
	counts := map[string]int{}
	var order []string
	for i := 1; i < len(tr.events); i++ {
		ms := tr.b.elapsedMS(tr.events[i-1], tr.events[i])
		n := tr.names[i]
		if _, ok := sums[n]; !ok {
			order = append(order, n)
		}
		sums[n] += ms
		counts[n]++
	}
	var lines []string
	for _, n := range order {
		lines = append(lines, fmt.Sprintf("%-16s %4d calls %8.3f ms", n, counts[n], sums[n]))
	}
	for _, e := range tr.events {
		call(tr.b.d.cuEventDestroy, e)
	}
	return lines
}

// benchOverhead measures the wall time per call of operations whose device
// work is negligible: the host cost of a launch and of a cuBLAS call.
func (b *Backend) benchOverhead(t *testing.T) []string {
	r := rand.New(rand.NewPCG(10, 10))
	x := b.Alloc(4 * 2816)
	defer b.Free(x)
	b.Write(x, 0, randn(r, 4*2816, 1))
	y := b.Alloc(4 * 2816)
	defer b.Free(y)
	w, err := b.LoadWeight(dtype.BF16, 2816, 2816, weightBytes(dtype.BF16, randn(r, 2816*2816, 0.02)))
	if err != nil {
		t.Fatal(err)
	}
	defer b.freeWeight(w.(*Weight))
	xm, ym := kernels.NewMat(x, 1, 2816), kernels.NewMat(y, 1, 2816)
	timeIt := func(n int, f func()) float64 {
		for range 10 {
			f()
		}
		if err := b.Synchronize(); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		for range n {
			f()
		}
		if err := b.Synchronize(); err != nil {
			t.Fatal(err)
		}
		return time.Since(start).Seconds() / float64(n) * 1e6
	}
	add := timeIt(2000, func() { b.Add(ym.ColSlice(0, 64), xm.ColSlice(0, 64)) })
	gemv := timeIt(1000, func() { b.MatMul(ym, xm, w, false) })
	b.noGemv = true
	blas := timeIt(1000, func() { b.MatMul(ym, xm, w, false) })
	b.noGemv = false
	return []string{fmt.Sprintf("wall time per call, back to back: Add of 64 elements %.1f µs; MatMul 1×2816·2816² with k_gemv2 %.1f µs, with cuBLAS %.1f µs (16 MB of weights: %.1f µs at 4.3 TB/s)",
		add, gemv, blas, 2816*2816*2/4.3e12*1e6)}
}

// benchScanVariants times SelectiveScan at the 3.8B shape over one 16K
// chunk from a zero state for every variant for 16 states (median of 3
// runs after a checked one, in ms) and compares each first output and
// final state with those of the tested default variant.
func (b *Backend) benchScanVariants(t *testing.T) (map[string]float64, map[string]error) {
	const T, E, N = 16384, 5632, 16
	r := rand.New(rand.NewPCG(11, 11))
	mk := func(rows, cols int, scale float64) kernels.Mat {
		buf := b.Alloc(rows * cols)
		b.Write(buf, 0, randn(r, rows*cols, scale))
		return kernels.NewMat(buf, rows, cols)
	}
	u, delta, z, y := mk(T, E, 1), mk(T, E, 1), mk(T, E, 1), mk(T, E, 0)
	bc := mk(T, 2*N, 1)
	aVals := make([]float32, E*N)
	for i := range aVals {
		aVals[i] = -float32(i%N + 1)
	}
	A := mk(E, N, 0)
	b.Write(A.Buf, 0, aVals)
	p := kernels.ScanParams{A: A, D: mk(1, E, 1), DeltaBias: mk(1, E, 1)}
	st := &kernels.MambaState{Conv: b.Alloc(3 * E), SSM: b.Alloc(E * N)}
	defer func() { b.scan16 = "" }()
	times, errs := map[string]float64{}, map[string]error{}
	var refY, refS []float32
	order := []string{defaultScan16} // the reference first
	for _, v := range []string{"s4", "s8", "p4", "p8", "p16", "q8", "q16"} {
		if v != defaultScan16 {
			order = append(order, v)
		}
	}
	for _, v := range order {
		b.scan16 = v
		b.Zero(st.SSM)
		run := func() {
			b.SelectiveScan(y, u, delta, bc.ColSlice(0, N), bc.ColSlice(N, 2*N), z, p, []*kernels.MambaState{st}, []kernels.Seq{{Row: 0, Len: T}})
		}
		run()
		gotY, gotS := readMat(b, y), readBuf(b, st.SSM)
		if refY == nil {
			refY, refS = gotY, gotS
		} else if err := closeEnough(gotY, refY, 1e-4); err != nil {
			errs[v] = fmt.Errorf("output: %v", err)
		} else if err := closeEnough(gotS, refS, 1e-4); err != nil {
			errs[v] = fmt.Errorf("state: %v", err)
		}
		var ms []float64
		for range 3 {
			s, e := b.events2()
			run()
			ms = append(ms, b.stop(s, e))
		}
		sort.Float64s(ms)
		times[v] = ms[1]
	}
	for _, m := range []kernels.Mat{u, delta, z, y, bc, A, p.D, p.DeltaBias} {
		b.Free(m.Buf)
	}
	b.Free(st.Conv)
	b.Free(st.SSM)
	return times, errs
}

// benchGemvShapes times back-to-back products of the 3.8B decoding shapes
// (µs per call and weight bytes per second), then the fused gate/up
// (2×9984×2816), for 1, 4 and 16 rows: for one row k_gemv2 with gemv2RB's
// choice (the default, and the reference the others are checked against)
// and with every forced RB, k_gemv_mma with each RT, the old path (k_gemv
// up to 32 MB, else cuBLAS; k_gemv_swiglu4) and cuBLAS; for more rows
// mmaTakes' choice (the default), k_gemv_mma whatever the size, and
// cuBLAS. The activations are bf16 values, so that cuBLAS's and
// k_gemv_mma's rounding of them changes nothing and every variant must
// agree with the default within 1e-5 normwise (MISMATCH otherwise); the
// forced RB must agree bitwise ("≠bits" otherwise).
func (b *Backend) benchGemvShapes(t *testing.T) []string {
	r := rand.New(rand.NewPCG(12, 12))
	var lines []string
	type variant struct {
		name      string
		blas, old bool // noGemv, oldGemv
		one, off  bool // mmaOne, noMMA
		all       bool // mmaAll
		noTiled   bool // noTiled
		rt        int  // tiledRT and tiledFusedRT
		noMMB     bool // noMMB
		mmbAll    bool // mmbAll
		single    bool // mmbSingle
		ring      int  // mmbRing
		rb        int  // gemvRB
		bitwise   bool // must equal the reference bitwise (k_gemv2 against k_gemv2, k_gemv_mma against k_gemv_mma)
	}
	// variants lists the variants for rows activation rows (nw weights):
	// the default first (the reference), k_gemv2 with each forced RB and
	// k_gemv_mma (one row), k_gemv_mma whatever the size (more rows), the
	// old path (one row), cuBLAS.
	variants := func(rows, k, nw int) []variant {
		var vs []variant
		if rows == 1 {
			vs = append(vs, variant{name: fmt.Sprintf("default: k_gemv2 (RB %d)", b.gemv2RB(k, nw))})
			for _, rb := range []int{1, 2, 4, 8} {
				vs = append(vs, variant{name: fmt.Sprintf("RB=%d", rb), rb: rb, bitwise: true})
			}
			vs = append(vs, variant{name: "k_gemv_mma", one: true}, variant{name: "old path", old: true})
		} else {
			vs = append(vs, variant{name: "default: k_gemv_mmb, k_gemv_mmt, k_gemv_mma or cuBLAS (mmaTakes, mmbTakes, tiledTakes)"},
				variant{name: "k_gemv_mma (row-major)", all: true, noTiled: true},
				variant{name: "k_gemv_mmt RT=1", all: true, rt: 1, noMMB: true},
				variant{name: "RT=2", all: true, rt: 2, noMMB: true},
				variant{name: "k_gemv_mmb", mmbAll: true, single: true},
				variant{name: "mmb ring 32K", mmbAll: true, single: true, ring: 32 << 10},
				variant{name: "mmb ring 128K", mmbAll: true, single: true, ring: 128 << 10})
		}
		if nw == 1 {
			return append(vs, variant{name: "cuBLAS", blas: true})
		}
		return append(vs, variant{name: "cuBLAS (two products and SwiGLU)", blas: true})
	}
	// measure runs f 5 times, then 100 times between events, and returns
	// µs per call.
	measure := func(f func()) float64 {
		for range 5 {
			f()
		}
		s, e := b.events2()
		for range 100 {
			f()
		}
		return b.stop(s, e) * 10 // ms per 100 calls → µs per call
	}
	set := func(v variant) {
		b.noGemv, b.oldGemv, b.mmaOne, b.noMMA, b.mmaAll, b.gemvRB = v.blas, v.old, v.one, v.off, v.all, v.rb
		b.noTiled, b.tiledRT, b.tiledFusedRT = v.noTiled, v.rt, v.rt
		b.noMMB, b.mmbAll, b.mmbSingle, b.mmbRing = v.noMMB, v.mmbAll, v.single, v.ring
	}
	// check compares got with the reference (the first variant's output).
	check := func(v variant, got, ref []float32) string {
		if err := closeEnough(got, ref, 1e-5); err != nil {
			return fmt.Sprintf(" MISMATCH (%v)", err)
		}
		if v.bitwise && !slices.Equal(got, ref) {
			return " ≠bits"
		}
		return ""
	}
	defer set(variant{})
	// timeVariants runs f under each variant, checks its output (read from
	// out) against the first variant's, and returns each one's time and
	// weight bytes per second.
	timeVariants := func(vs []variant, out kernels.Mat, f func(), bytes float64) string {
		var line string
		var ref []float32
		for _, v := range vs {
			set(v)
			f()
			got := readMat(b, out)
			mark := ""
			if ref == nil {
				ref = got
			} else {
				mark = check(v, got, ref)
			}
			us := measure(f)
			line += fmt.Sprintf(" %s %.1f µs (%.0f GB/s)%s;", v.name, us, bytes/us/1e3, mark)
		}
		set(variant{})
		return line
	}
	for _, sh := range [][2]int{{9984, 2816}, {2816, 9984}, {11264, 2816}, {2816, 5632}, {2816, 2816}, {3328, 2816}, {208, 5632}, {5632, 176}, {32064, 2816}} {
		N, K := sh[0], sh[1]
		w, err := b.LoadWeight(dtype.BF16, N, K, weightBytes(dtype.BF16, randn(r, N*K, 0.02)))
		if err != nil {
			t.Fatal(err)
		}
		x, y := b.Alloc(16*K), b.Alloc(16*N)
		b.Write(x, 0, roundTo(dtype.BF16, randn(r, 16*K, 1)))
		bytes := float64(2 * N * K)
		for _, rows := range []int{1, 4, 16} {
			xm, ym := kernels.NewMat(x, rows, K), kernels.NewMat(y, rows, N)
			vs := variants(rows, K, 1)
			line := fmt.Sprintf("matrix-vector %5dx%-5d (%5.1f MB), %2d row(s):", N, K, bytes/1e6, rows)
			line += timeVariants(vs, ym, func() { b.MatMul(ym, xm, w, false) }, bytes)
			lines = append(lines, line)
		}
		b.Free(x)
		b.Free(y)
		b.freeWeight(w.(*Weight))
	}
	// The fused gate/up of the MLP.
	const N, K = 9984, 2816
	var ws [2]kernels.Weight
	for i := range ws {
		var err error
		if ws[i], err = b.LoadWeight(dtype.BF16, N, K, weightBytes(dtype.BF16, randn(r, N*K, 0.02))); err != nil {
			t.Fatal(err)
		}
	}
	x, y := b.Alloc(16*K), b.Alloc(16*N)
	b.Write(x, 0, roundTo(dtype.BF16, randn(r, 16*K, 1)))
	bytes := float64(4 * N * K)
	for _, rows := range []int{1, 4, 16} {
		xm, ym := kernels.NewMat(x, rows, K), kernels.NewMat(y, rows, N)
		vs := variants(rows, K, 2)
		line := fmt.Sprintf("fused gate/up 2x%dx%d (%5.1f MB), %2d row(s):", N, K, bytes/1e6, rows)
		up := b.Alloc(16 * N)
		um := kernels.NewMat(up, rows, N)
		// gated is what the model runs: the fused product, or when the
		// backend refuses it (cuBLAS) two products and SwiGLU.
		gated := func() {
			if !b.MatMulSwiGLU(ym, xm, ws[0], ws[1]) {
				b.MatMul(ym, xm, ws[0], false)
				b.MatMul(um, xm, ws[1], false)
				b.SwiGLU(ym, ym, um)
			}
		}
		line += timeVariants(vs, ym, gated, bytes)
		b.Free(up)
		lines = append(lines, line)
	}
	b.Free(x)
	b.Free(y)
	for _, w := range ws {
		b.freeWeight(w.(*Weight))
	}
	return lines
}

// freeWeight releases w and its tiled copy.
func (b *Backend) freeWeight(w *Weight) {
	defer b.enter()()
	b.free(w.ptr)
	if w.tiled != 0 {
		b.free(w.tiled)
	}
}

// benchGemm returns the FLOP/s of iters n³ bf16 products on random data.
func (b *Backend) benchGemm(t *testing.T, n, iters int) float64 {
	t.Helper()
	return mustRate(t, func() float64 { return b.gemmRate(n, iters) })
}

// benchCopy returns the device-to-device copy bandwidth, bytes read plus
// written per second.
func (b *Backend) benchCopy(t *testing.T, bytes, iters int) float64 {
	t.Helper()
	return mustRate(t, func() float64 { return b.copyRate(bytes, iters) })
}

// mustRate returns measure's result, failing t on a device fault.
func mustRate(t *testing.T, measure func() float64) (rate float64) {
	t.Helper()
	err := func() (err error) {
		defer kernels.Catch(&err)
		rate = measure()
		return nil
	}()
	if err != nil {
		t.Fatal(err)
	}
	return rate
}

// benchAttention times one T-token chunk of each of nseq sequences at the
// 3.8B attention shape, each with a full window of cached keys, for query
// block bq; it returns the median of 5 runs in milliseconds and the output
// of the first. With tr, the last run is traced.
func (b *Backend) benchAttention(t *testing.T, bq, T, nseq int, tr *tracer) (float64, []float32) {
	const H, G, hd, W = 11, 1, 256, 2048
	r := rand.New(rand.NewPCG(9, 9))
	cols := (H + 2*G) * hd
	M := T * nseq
	qkv := b.Alloc(M * cols)
	b.Write(qkv, 0, randn(r, M*cols, 1))
	dst := b.Alloc(M * H * hd)
	bufs := []kernels.Buffer{qkv, dst}
	var caches []*kernels.KVCache
	for range nseq {
		kc := &kernels.KVCache{K: b.AllocKV(W-1, G*hd), V: b.AllocKV(W-1, G*hd), Cap: W - 1}
		b.Write(kc.K, 0, randn(r, (W-1)*G*hd, 1))
		b.Write(kc.V, 0, randn(r, (W-1)*G*hd, 1))
		caches = append(caches, kc)
		bufs = append(bufs, kc.K, kc.V)
	}
	m := kernels.NewMat(qkv, M, cols)
	q, k, v := m.ColSlice(0, H*hd), m.ColSlice(H*hd, (H+G)*hd), m.ColSlice((H+G)*hd, (H+2*G)*hd)
	sh := kernels.AttnShape{NHead: H, NKV: G, HeadDim: hd, Window: W, Scale: 1.0 / 16}
	b.attnBlock = bq
	defer func() { b.attnBlock = 0 }()
	var times []float64
	var first []float32
	for i := range 6 {
		if tr != nil && i == 5 {
			if err := b.Synchronize(); err != nil {
				t.Fatal(err)
			}
			b.onLaunch = tr.mark
			tr.start()
		}
		seqs := make([]kernels.Seq, nseq)
		for j := range seqs {
			seqs[j] = kernels.Seq{Row: j * T, Len: T, Pos: 100000 + i*T + 7*j}
		}
		s, e := b.events2()
		b.Attention(kernels.NewMat(dst, M, H*hd), q, k, v, sh, caches, seqs)
		b.onLaunch = nil
		if i > 0 {
			times = append(times, b.stop(s, e))
		} else {
			b.stop(s, e)
			first = readBuf(b, dst)
		}
	}
	for _, x := range bufs {
		b.Free(x)
	}
	sort.Float64s(times)
	return times[len(times)/2], first
}

// events2 records a start event; stop records the end and returns the ms.
func (b *Backend) events2() (uintptr, uintptr) {
	defer b.enter()()
	s, e := b.newEvent(), b.newEvent()
	b.record(s)
	return s, e
}

func (b *Backend) stop(s, e uintptr) float64 {
	defer b.enter()()
	b.record(e)
	ms := b.elapsedMS(s, e)
	call(b.d.cuEventDestroy, s)
	call(b.d.cuEventDestroy, e)
	return ms
}

// profiler wraps the backend and, while on, records device events around
// every operation to attribute device time per operation kind.
type profiler struct {
	*Backend
	on    bool
	spans []span
}

type span struct {
	name       string
	flops      float64
	start, end uintptr
}

func (p *profiler) begin() uintptr {
	if !p.on {
		return 0
	}
	defer p.Backend.enter()()
	e := p.newEvent()
	p.record(e)
	return e
}

func (p *profiler) end(name string, flops float64, s uintptr) {
	if s == 0 {
		return
	}
	defer p.Backend.enter()()
	e := p.newEvent()
	p.record(e)
	p.spans = append(p.spans, span{name, flops, s, e})
}

// report sums the recorded spans per name, largest first, and clears them.
func (p *profiler) report() []string {
	type agg struct {
		ms, flops float64
		n         int
	}
	sums := map[string]*agg{}
	var total float64
	for _, s := range p.spans {
		func() {
			defer p.Backend.enter()()
			ms := p.elapsedMS(s.start, s.end)
			a := sums[s.name]
			if a == nil {
				a = &agg{}
				sums[s.name] = a
			}
			a.ms += ms
			a.flops += s.flops
			a.n++
			total += ms
			call(p.d.cuEventDestroy, s.start)
			call(p.d.cuEventDestroy, s.end)
		}()
	}
	p.spans = nil
	names := make([]string, 0, len(sums))
	for n := range sums {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return sums[names[i]].ms > sums[names[j]].ms })
	var lines []string
	for _, n := range names {
		a := sums[n]
		l := fmt.Sprintf("%-34s %5d calls %9.2f ms %5.1f%%", n, a.n, a.ms, 100*a.ms/total)
		if a.flops > 0 {
			l += fmt.Sprintf("  %6.0f TFLOP/s", a.flops/(a.ms/1e3)/1e12)
		}
		lines = append(lines, l)
	}
	return append(lines, fmt.Sprintf("%-34s %20.2f ms", "total", total))
}

func (p *profiler) Embed(dst kernels.Mat, table kernels.Weight, ids []int32) {
	s := p.begin()
	p.Backend.Embed(dst, table, ids)
	p.end("Embed", 0, s)
}

func (p *profiler) RMSNorm(dst, x, w kernels.Mat, eps float32) {
	s := p.begin()
	p.Backend.RMSNorm(dst, x, w, eps)
	p.end("RMSNorm", 0, s)
}

func (p *profiler) MatMul(dst, x kernels.Mat, w kernels.Weight, acc bool) {
	s := p.begin()
	p.Backend.MatMul(dst, x, w, acc)
	if s != 0 {
		p.end(fmt.Sprintf("MatMul %dx%d", w.Rows(), w.Cols()), 2*float64(x.Rows)*float64(w.Rows())*float64(w.Cols()), s)
	}
}

func (p *profiler) Add(dst, x kernels.Mat) {
	s := p.begin()
	p.Backend.Add(dst, x)
	p.end("Add", 0, s)
}

func (p *profiler) SwiGLU(dst, gate, up kernels.Mat) {
	s := p.begin()
	p.Backend.SwiGLU(dst, gate, up)
	p.end("SwiGLU", 0, s)
}

func (p *profiler) MambaConv(dst, x, w, bias kernels.Mat, st []*kernels.MambaState, seqs []kernels.Seq) {
	s := p.begin()
	p.Backend.MambaConv(dst, x, w, bias, st, seqs)
	p.end("MambaConv", 0, s)
}

func (p *profiler) SelectiveScan(dst, u, delta, B, C, z kernels.Mat, sp kernels.ScanParams, st []*kernels.MambaState, seqs []kernels.Seq) {
	s := p.begin()
	p.Backend.SelectiveScan(dst, u, delta, B, C, z, sp, st, seqs)
	p.end("SelectiveScan", 0, s)
}

func (p *profiler) RoPE(x kernels.Mat, nHeads, headDim int, base float64, seqs []kernels.Seq) {
	s := p.begin()
	p.Backend.RoPE(x, nHeads, headDim, base, seqs)
	p.end("RoPE", 0, s)
}

func (p *profiler) Attention(dst, q, k, v kernels.Mat, sh kernels.AttnShape, c []*kernels.KVCache, seqs []kernels.Seq) {
	s := p.begin()
	p.Backend.Attention(dst, q, k, v, sh, c, seqs)
	var flops float64
	for _, sq := range seqs {
		keys := float64(sq.Len) // average keys per query, capped by the window
		if sh.Window > 0 {
			keys = math.Min(float64(sh.Window), float64(sq.Pos)+float64(sq.Len)/2)
		}
		flops += 4 * float64(sq.Len) * keys * float64(sh.HeadDim*sh.NHead)
	}
	p.end("Attention", flops, s)
}

// DecodeStep runs the step op by op while profiling, so that every
// operation is timed; otherwise it records and replays as the backend does.
func (p *profiler) DecodeStep(key string, ids []int32, seqs []kernels.Seq, forward func()) bool {
	if p.on {
		forward()
		return true
	}
	return p.Backend.DecodeStep(key, ids, seqs, forward)
}

func (p *profiler) MatMulSwiGLU(dst, x kernels.Mat, w1, w2 kernels.Weight) bool {
	s := p.begin()
	ok := p.Backend.MatMulSwiGLU(dst, x, w1, w2)
	if s != 0 {
		if ok {
			p.end(fmt.Sprintf("MatMulSwiGLU 2x%dx%d", w1.Rows(), w1.Cols()), 4*float64(x.Rows)*float64(w1.Rows())*float64(w1.Cols()), s)
		} else {
			p.end("MatMulSwiGLU declined", 0, s)
		}
	}
	return ok
}

func (p *profiler) SelectiveScanDelta(dst, u, dlow kernels.Mat, dtProj kernels.Weight, B, C, z kernels.Mat, sp kernels.ScanParams,
	st []*kernels.MambaState, seqs []kernels.Seq) bool {
	s := p.begin()
	ok := p.Backend.SelectiveScanDelta(dst, u, dlow, dtProj, B, C, z, sp, st, seqs)
	if s != 0 {
		if ok {
			p.end("SelectiveScanDelta (dt_proj and scan)", 0, s)
		} else {
			p.end("SelectiveScanDelta declined", 0, s)
		}
	}
	return ok
}

func (p *profiler) LogProbs(out []kernels.TokenScore, logits kernels.Mat, targets []int32) {
	s := p.begin()
	p.Backend.LogProbs(out, logits, targets)
	p.end("LogProbs", 0, s)
}
