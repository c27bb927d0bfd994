package cuda

import (
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sambaeval/sambaeval/model"
)

// TestDecodeBench measures greedy decoding alone on the Samba_3.8B shape
// (random bf16 weights) at batch 1 and 16, against the same bandwidth
// bound as TestBenchH200: the default and each variant (one tuning knob
// changed), in one process, in about 40 s (SAMBAEVAL_DECODE_VARIANTS=N:
// the first N of them, the default first; 0 or 1: the default alone;
// SAMBAEVAL_DECODE_ONLY=RE: the default and the variants whose name
// matches RE; with any variant, the default is measured again last, as a
// noise estimate). It
// runs only with SAMBAEVAL_CUDA_DECODE=1 (scripts/gpu-test.sh decode); the
// kernels' correctness is the tests' business (TestAttention,
// TestAttentionKV16, TestMamba, TestScanDelta, TestDecodeGraph,
// TestDecodeKVBF16). With SAMBAEVAL_CUDA_PROFILE_RANGE=1 one
// recorded step per batch size (SAMBAEVAL_PROFILE_STEPS=N: N steps) is
// wrapped in cuProfilerStart/cuProfilerStop, so that
// `ncu --profile-from-start off` times exactly the kernels of a step
// (scripts/gpu-test.sh profile); SAMBAEVAL_DECODE_BATCH=N measures batch N
// only; SAMBAEVAL_DECODE_GEMV=1 first times the products of the 3.8B shapes
// (as TestBenchH200 does).
func TestDecodeBench(t *testing.T) {
	if os.Getenv("SAMBAEVAL_CUDA_DECODE") != "1" {
		t.Skip("set SAMBAEVAL_CUDA_DECODE=1 to run the decoding benchmark")
	}
	g := gpu(t, false)
	say, flush := benchLog()
	defer flush()
	copyBW := g.benchCopy(t, 1<<30, 20)
	say("device: %s; device-to-device copy of 1 GiB: %.0f GB/s", g.Name(), copyBW/1e9)
	if os.Getenv("SAMBAEVAL_DECODE_GEMV") == "1" {
		for _, l := range g.benchGemvShapes(t) {
			say("%s", l)
		}
	}
	cfg, m, _, _ := bench38B(t, g)
	weightBytes := float64(2 * cfg.ParamCount())
	bound := copyBW / weightBytes
	randomIDs := randomTokens(cfg.VocabSize)
	profile := os.Getenv("SAMBAEVAL_CUDA_PROFILE_RANGE") == "1"
	batches := []int{1, 16}
	if b := os.Getenv("SAMBAEVAL_DECODE_BATCH"); b != "" {
		n, err := strconv.Atoi(b)
		if err != nil || n < 1 {
			t.Fatalf("SAMBAEVAL_DECODE_BATCH=%q: want a positive integer", b)
		}
		batches = []int{n}
	}
	type variant struct {
		name       string
		set, reset func()
	}
	variants := []variant{
		{"default", func() {}, func() {}},
		{"no k_mlp_mmb (the gate/up on k_gemv_mmb, the down product on cuBLAS)", func() { g.noMLP = true }, func() { g.noMLP = false }},
		{"k_mlp_mmb ring 192K", func() { g.mlpRing = 192 << 10 }, func() { g.mlpRing = 0 }},
		{"k_mlp_mmb down in 6 parts", func() { g.mlpParts = 6 }, func() { g.mlpParts = 0 }},
		{"no k_gemv_mmb (the gate/up on cuBLAS's pair above 8 rows)", func() { g.noMMB = true }, func() { g.noMMB = false }},
		{"k_gemv_mmb from 2 rows", func() { g.mmbAll = true }, func() { g.mmbAll = false }},
		{"k_gemv_mmb for single weights too", func() { g.mmbSingle = true }, func() { g.mmbSingle = false }},
		{"k_gemv_mmb ring 128K", func() { g.mmbRing = 128 << 10 }, func() { g.mmbRing = 0 }},
		{"row-major k_gemv_mma (no tiled copies)", func() { g.noTiled = true }, func() { g.noTiled = false }},
		{"k_gemv_mmt RT 1", func() { g.tiledRT = 1 }, func() { g.tiledRT = 0 }},
		{"k_gemv_mmt fused gate/up RT 2", func() { g.tiledFusedRT = 2 }, func() { g.tiledFusedRT = 0 }},
		{"row-major k_gemv_mma above 8 rows (before run 128)", func() { g.rowMajorWide = true }, func() { g.rowMajorWide = false }},
		{"k_gemv_mmt RT 2 above 8 rows", func() { g.tiledRT = 2 }, func() { g.tiledRT = 0 }},
		{"float32 key/value caches", func() { g.f32KV = true }, func() { g.f32KV = false }},
		{"k_attn_decm two tile buffers", func() { g.decBufs = 2 }, func() { g.decBufs = 0 }},
		{"k_attn_decm, no k_attn_decp", func() { g.decWarps = -1 }, func() { g.decWarps = 0 }},
		{"k_attn_decp at every batch size", func() { g.decWarps = 1 }, func() { g.decWarps = 0 }},
		{"k_attn_decp first tiles after the queries' loads", func() { g.decLate = true }, func() { g.decLate = false }},
		{"RMSNorm on 256 threads (k_rmsnorm_reg)", func() { g.rms256 = true }, func() { g.rms256 = false }},
		{"k_gemv_mma without split K", func() { g.noSplitK = true }, func() { g.noSplitK = false }},
		{"k_gemv_mma split K for few blocks only", func() { g.splitFill = -1 }, func() { g.splitFill = 0 }},
		{"k_gemv_mma split K for 2 blocks per SM", func() { g.splitFill = 2 }, func() { g.splitFill = 0 }},
		{"gate and up as two cuBLAS products", func() { g.noPair = true }, func() { g.noPair = false }},
		{"cuBLAS instead of k_gemv_mma", func() { g.noMMA = true }, func() { g.noMMA = false }},
		{"k_gemv_mma for every size", func() { g.mmaAll = true }, func() { g.mmaAll = false }},
		{"k_gemv2 loads after the wait", func() { g.noEarly = true }, func() { g.noEarly = false }},
		{"k_attn_dec one tile per block", func() { g.attnDecTiles = 1 }, func() { g.attnDecTiles = 0 }},
		{"k_kv_store after k_attn_dec", func() { g.noDecStore = true }, func() { g.noDecStore = false }},
		{"chunked scan", func() { g.noScanDec, g.noScanDelta = true, true }, func() { g.noScanDec, g.noScanDelta = false, false }},
		{"dt_proj as a product", func() { g.noScanDelta = true }, func() { g.noScanDelta = false }},
		{"k_gemv2 rows per block by run 8's rule", func() { g.oldRB = true }, func() { g.oldRB = false }},
		{"k_attn_dec float32 products", func() { g.noDecMMA = true }, func() { g.noDecMMA = false }},
		{"k_attn_dec 2 tiles per block", func() { g.attnDecTiles = 2 }, func() { g.attnDecTiles = 0 }},
		{"k_attn_dec 4 tiles per block", func() { g.attnDecTiles = 4 }, func() { g.attnDecTiles = 0 }},
		{"k_attn_dec 8 tiles per block", func() { g.attnDecTiles = 8 }, func() { g.attnDecTiles = 0 }},
	}
	if profile {
		variants = variants[:1]
	} else if v := os.Getenv("SAMBAEVAL_DECODE_VARIANTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			t.Fatalf("SAMBAEVAL_DECODE_VARIANTS=%q: want a count", v)
		}
		variants = variants[:max(1, min(n, len(variants)))]
	} else if v := os.Getenv("SAMBAEVAL_DECODE_ONLY"); v != "" {
		re, err := regexp.Compile(v)
		if err != nil {
			t.Fatalf("SAMBAEVAL_DECODE_ONLY=%q: %v", v, err)
		}
		keep := variants[:1]
		for _, x := range variants[1:] {
			if re.MatchString(x.name) {
				keep = append(keep, x)
			}
		}
		variants = keep
	}
	if len(variants) > 1 {
		// The default once more at the end: how far two measurements of
		// the same setting in one process differ (fresh sessions land at
		// other addresses) is the noise the variants are compared against.
		variants = append(variants, variant{"default again", func() {}, func() {}})
	}
	for _, batch := range batches {
		for _, v := range variants {
			v.set()
			decodeRun(t, g, m, batch, v.name, bound, randomIDs, say, profile)
			v.reset()
		}
	}
}

// decodeRun measures greedy decoding at one batch size (fresh sessions, so
// that no recording of another variant is replayed) and returns the median
// seconds per step.
func decodeRun(t *testing.T, g *Backend, m *model.Model, batch int, name string, bound float64, randomIDs func(int) []int32,
	say func(string, ...any), profile bool) (stepSec float64) {
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
		if _, err := m.ArgmaxBatch(sessions, next, 1); err != nil {
			t.Fatal(err)
		}
	}
	// The first step makes what later steps reuse (the weights' tiled
	// copies: k_interleave); the second runs directly, and its launches
	// name the traced kernels (cuBLAS's are not traced).
	step()
	var names []string
	g.onLaunch = func(name string) {
		if !strings.HasPrefix(name, "cublas") && name != "graph" {
			names = append(names, name)
		}
	}
	step()
	g.onLaunch = nil
	for range 2 {
		step()
	}
	// Three timed rounds; the median is reported.
	var perStep []float64
	steps := 64
	for range 3 {
		start := time.Now()
		for range steps {
			step()
		}
		perStep = append(perStep, time.Since(start).Seconds()/float64(steps))
	}
	med := median(perStep)
	rate := float64(batch) / med
	say("decode, batch %2d (recorded steps, greedy; %s): %6.0f tokens/s (%.3f ms per step, median of 3 rounds of %d: %.3f/%.3f/%.3f); bound %.0f tokens/s: %.1f%%",
		batch, name, rate, 1e3*med, steps, 1e3*perStep[0], 1e3*perStep[1], 1e3*perStep[2], bound*float64(batch), 100*rate/(bound*float64(batch)))
	if os.Getenv("SAMBAEVAL_CUDA_TRACE") == "1" {
		if !g.traceReset() {
			t.Fatal("SAMBAEVAL_CUDA_TRACE=1 but the kernels have no trace buffer")
		}
		for range 8 {
			step()
		}
		for _, line := range timeline(g.traceRead(), names, fmt.Sprintf("batch %d, %s", batch, name)) {
			say("%s", line)
		}
	}
	if profile && g.d.cuProfilerStart != 0 {
		n := 1
		if v := os.Getenv("SAMBAEVAL_PROFILE_STEPS"); v != "" {
			if n, _ = strconv.Atoi(v); n < 1 {
				t.Fatalf("SAMBAEVAL_PROFILE_STEPS=%q: want a positive count", v)
			}
		}
		g.Synchronize()
		call(g.d.cuProfilerStart)
		for range n {
			step()
		}
		g.Synchronize()
		call(g.d.cuProfilerStop)
	}
	for _, x := range sessions {
		x.Free()
	}
	return med
}

// median returns the median of xs (which it sorts).
func median(xs []float64) float64 {
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// benchLog returns say, which prints a line and keeps it, and flush, which
// writes the kept lines to $SAMBAEVAL_BENCH_OUT when set.
func benchLog() (say func(format string, a ...any), flush func()) {
	out := &strings.Builder{}
	say = func(format string, a ...any) {
		line := fmt.Sprintf(format, a...)
		fmt.Println(line)
		out.WriteString(line + "\n")
	}
	flush = func() {
		if p := os.Getenv("SAMBAEVAL_BENCH_OUT"); p != "" {
			os.WriteFile(p, []byte(out.String()), 0o644)
		}
	}
	return say, flush
}

// randomTokens returns a generator of uniform random token ids below vocab
// (seeded: the same sequence in every run).
func randomTokens(vocab int) func(n int) []int32 {
	r := rand.New(rand.NewPCG(38, 1))
	return func(n int) []int32 {
		ids := make([]int32, n)
		for i := range ids {
			ids[i] = int32(r.IntN(vocab))
		}
		return ids
	}
}
