package cuda

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sambaeval/sambaeval/kernels"
	"github.com/sambaeval/sambaeval/kernels/cpu"
	"github.com/sambaeval/sambaeval/model"
)

// tinyDir finds models/samba-tiny from the working directory or above
// (go test runs in the package directory, the GPU script in the root).
func tinyDir(t testing.TB) string {
	dir, _ := os.Getwd()
	for {
		p := filepath.Join(dir, "models", "samba-tiny")
		if _, err := os.Stat(filepath.Join(p, "config.json")); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("models/samba-tiny not found above the working directory")
		}
		dir = parent
	}
}

// zipfTokens draws n token ids below v with a Zipf law, roughly like text.
func zipfTokens(n, v int, seed uint64) []int32 {
	z := rand.NewZipf(rand.New(rand.NewPCG(seed, 99)), 1.1, 10, uint64(v-1))
	ids := make([]int32, n)
	for i := range ids {
		ids[i] = int32(z.Uint64())
	}
	return ids
}

// nll scores ids[1:] given the prefixes with one session fed chunk tokens
// at a time and returns the per-token negative log-likelihoods.
func nll(t testing.TB, m *model.Model, ids []int32, chunk int) []float64 {
	t.Helper()
	s := m.NewSession()
	defer s.Free()
	s.ChunkSize = chunk
	scores, err := s.Score(ids[:len(ids)-1], ids[1:])
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float64, len(scores))
	for i, sc := range scores {
		out[i] = -float64(sc.LogProb)
		if math.IsNaN(out[i]) || math.IsInf(out[i], 0) {
			t.Fatalf("token %d: log-probability %v", i, sc.LogProb)
		}
	}
	return out
}

func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// comparePerplexity checks exp(mean NLL) of got against want.
func comparePerplexity(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	pg, pw := math.Exp(mean(got)), math.Exp(mean(want))
	rel := math.Abs(pg/pw - 1)
	var maxDiff float64
	for i := range got {
		maxDiff = math.Max(maxDiff, math.Abs(got[i]-want[i]))
	}
	t.Logf("%s: perplexity %.6f vs %.6f (relative difference %.2e, max per-token |ΔNLL| %.2e)", what, pg, pw, rel, maxDiff)
	if rel > tol {
		t.Errorf("%s: perplexity differs by %.2e relative, more than %.0e", what, rel, tol)
	}
}

// TestTinyParity scores 1200 tokens (the 512-token window wraps twice) with
// samba-tiny on the CPU and on the GPU in both modes.
func TestTinyParity(t *testing.T) {
	g := gpu(t, true) // skips without a GPU
	gb := gpu(t, false)
	ids := zipfTokens(1201, 32000, 1)
	want := nll(t, loadTiny(t, cpu.New()), ids, 2048)
	for _, c := range []struct {
		be  *Backend
		tol float64
	}{{g, 1e-4}, {gb, 5e-3}} {
		comparePerplexity(t, "samba-tiny "+modeName(c.be), nll(t, loadTiny(t, c.be), ids, 2048), want, c.tol)
	}
}

// loadTiny loads samba-tiny on be, closed when the test ends.
func loadTiny(t *testing.T, be kernels.Backend) *model.Model {
	t.Helper()
	m, err := model.LoadDir(tinyDir(t), be)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func modeName(b *Backend) string {
	if b.fp32 {
		return "fp32"
	}
	return "bf16"
}

// TestTinyStreaming feeds 5000 tokens to samba-tiny on the GPU in chunks of
// 4096, 512, 7 and 1 tokens; the NLL must not depend on the chunking.
func TestTinyStreaming(t *testing.T) {
	m := loadTiny(t, gpu(t, true))
	ids := zipfTokens(5001, 32000, 2)
	want := nll(t, m, ids, 4096)
	chunks := []int{512, 7, 1}
	if testing.Short() {
		chunks = chunks[:2]
	}
	for _, chunk := range chunks {
		got := nll(t, m, ids, chunk)
		var sg, sw, maxDiff float64
		for i := range got {
			sg += got[i]
			sw += want[i]
			maxDiff = math.Max(maxDiff, math.Abs(got[i]-want[i]))
		}
		rel := math.Abs(sg/sw - 1)
		t.Logf("chunk %d: total NLL %.6f vs %.6f (relative %.2e, max per-token |Δ| %.2e)", chunk, sg, sw, rel, maxDiff)
		if rel > 1e-5 {
			t.Errorf("chunk %d: total NLL differs by %.2e relative from chunk 4096", chunk, rel)
		}
	}
}

// TestRandom421M compares a Samba_421M with random bf16 weights on the CPU
// and on the GPU.
func TestRandom421M(t *testing.T) {
	if testing.Short() {
		t.Skip("the CPU reference of a 421M model is slow")
	}
	g := gpu(t, true)
	gb := gpu(t, false)
	cfg, err := model.Named("Samba_421M")
	if err != nil {
		t.Fatal(err)
	}
	weights, err := randomCheckpoint(cfg, 421)
	if err != nil {
		t.Fatal(err)
	}
	ids := zipfTokens(161, cfg.VocabSize, 3)
	run := func(be kernels.Backend) []float64 {
		m, err := model.New(cfg, weights, be)
		if err != nil {
			t.Fatal(err)
		}
		return nll(t, m, ids, 2048)
	}
	want := run(cpu.New())
	comparePerplexity(t, "Samba_421M random fp32", run(g), want, 1e-4)
	comparePerplexity(t, "Samba_421M random bf16", run(gb), want, 5e-3)
}

// tinyDecoding opens the GPU backend in bf16 mode, skipping the test where
// the driver cannot record steps, and loads samba-tiny on the CPU (mc,
// the reference) and on the GPU (m).
func tinyDecoding(t *testing.T) (g *Backend, mc, m *model.Model) {
	t.Helper()
	g = gpu(t, false)
	if !g.d.hasGraphs() {
		t.Skip("the driver has no CUDA graph entry points")
	}
	return g, loadTiny(t, cpu.New()), loadTiny(t, g)
}

// TestDecodeGraph decodes samba-tiny in bf16 mode with recorded steps and
// without, from sessions at different positions, and checks that the
// logits agree, including after a session is replaced (which frees memory
// and so drops the recordings); the logits must also match the CPU
// reference within bf16 rounding.
func TestDecodeGraph(t *testing.T) {
	g, mc, m := tinyDecoding(t)
	ids := zipfTokens(700, 32000, 4)
	// decode runs steps of LogitsBatch over sessions prefilled with
	// prompts of different lengths; at step 4 the second session is
	// replaced by a fresh one.
	decode := func(mm *model.Model, noGraph bool) [][]float32 {
		return decodeSteps(t, mm, g, ids, []int{600, 37, 513}, noGraph)
	}
	direct := decode(m, true)
	before := g.graph.replays
	recorded := decode(m, false)
	// Per key the first step runs directly and the others launch the
	// recording: 3 + 3 launches for the two sets of sessions.
	if n := g.graph.replays - before; n < 6 {
		t.Errorf("%d recorded steps launched in 8 steps, want 6", n)
	}
	want := decode(mc, false)
	for i := range direct {
		if err := closeEnough(recorded[i], direct[i], 1e-6); err != nil {
			t.Fatalf("step %d sequence %d: recorded vs direct: %v", i/3, i%3, err)
		}
		// bf16 activations: TestTinyParity sees per-token NLL differences
		// up to 0.3 on this model; logits differ by up to 2.7% of the
		// largest here (H200, run 6).
		if err := closeEnough(recorded[i], want[i], 5e-2); err != nil {
			t.Errorf("step %d sequence %d: GPU bf16 vs CPU: %v", i/3, i%3, err)
		}
	}
	// Batch 1 (k_attn_dec stores the keys, the scan computes dt_proj):
	// recorded, what the separate kernels give op by op up to float32
	// rounding, and close to the CPU.
	g.noDecStore, g.noScanDelta, g.noScanDec = true, true, true
	sep := decodeSteps(t, m, g, ids, []int{600}, true)
	g.noDecStore, g.noScanDelta, g.noScanDec = false, false, false
	one := decodeSteps(t, m, g, ids, []int{600}, false)
	want1 := decodeSteps(t, mc, g, ids, []int{600}, false)
	for i := range one {
		if err := closeEnough(one[i], sep[i], 1e-4); err != nil {
			t.Errorf("batch 1 step %d: fused decoding kernels vs separate ones: %v", i, err)
		}
		if err := closeEnough(one[i], want1[i], 5e-2); err != nil {
			t.Errorf("batch 1 step %d: GPU bf16 vs CPU: %v", i, err)
		}
	}
}

// TestDecodeBatch16 decodes samba-tiny in bf16 mode with 16 sequences at
// once, the batched products of more than 8 rows (on an H200 the MLP on
// k_mlp_mmb, the other products on k_gemv_mmt, whose results are
// k_gemv_mma's bit for bit): recorded steps must match the same steps op
// by op. With noMLP (the gate/up on k_gemv_mmb, the down product on
// k_gemv_mmt) and with noMMB too (the gate/up on k_gemv_mmt) they must be
// the same bit for bit, since samba-tiny's K of 256 is 8 steps of 32,
// which k_gemv_mmb's 16 warps hold as k_gemv_mma's 8 do (the other 8 add
// zeros); k_mlp_mmb's down product adds in another order, so its steps
// must be close to noMLP's (measured on an H200: largest logit difference
// 0.0091 of the largest logit, runs 166–171; bound 0.05). All must stay as
// close to the CPU's as
// measured on an H200 (largest logit difference 0.091 of the largest
// logit, runs 108 and 109), with margin.
func TestDecodeBatch16(t *testing.T) {
	g, mc, m := tinyDecoding(t)
	ids := zipfTokens(700, 32000, 6)
	prompts := make([]int, 16)
	for i := range prompts {
		prompts[i] = 5 + 37*i
	}
	var names []string
	g.onLaunch = func(name string) { names = append(names, name) }
	recorded := decodeSteps(t, m, g, ids, prompts, false)
	g.onLaunch = nil
	direct := decodeSteps(t, m, g, ids, prompts, true)
	noMLP, noMMB := g.noMLP, g.noMMB
	g.noMLP = true
	var sepNames []string
	g.onLaunch = func(name string) { sepNames = append(sepNames, name) }
	sep := decodeSteps(t, m, g, ids, prompts, false)
	g.onLaunch = nil
	g.noMMB = true
	mma := decodeSteps(t, m, g, ids, prompts, false)
	g.noMLP, g.noMMB = noMLP, noMMB
	want := decodeSteps(t, mc, g, ids, prompts, false)
	if g.mmbTakes(16) && !g.noMLP && !slices.Contains(names, "k_mlp_mmb_2") {
		t.Errorf("16 rows: the MLP did not run on k_mlp_mmb (kernels: %v)", names)
	}
	if g.mmbTakes(16) && !slices.Contains(sepNames, "k_gemv_mmb_swiglu_2") {
		t.Errorf("16 rows, noMLP: the gate/up did not run on k_gemv_mmb (kernels: %v)", sepNames)
	}
	var worst, worstSep float64
	for i := range recorded {
		if err := closeEnough(recorded[i], direct[i], 1e-6); err != nil {
			t.Fatalf("step %d sequence %d: recorded vs direct: %v", i/16, i%16, err)
		}
		if j := firstBitDiff(sep[i], mma[i]); j >= 0 {
			t.Fatalf("step %d sequence %d: logit %d is %v, %v with the gate/up on k_gemv_mmt", i/16, i%16, j, sep[i][j], mma[i][j])
		}
		if err := closeEnough(recorded[i], sep[i], 0.05); err != nil {
			t.Errorf("step %d sequence %d: k_mlp_mmb vs separate MLP kernels: %v", i/16, i%16, err)
		}
		if err := closeEnough(recorded[i], want[i], 0.15); err != nil {
			t.Errorf("step %d sequence %d: GPU bf16 vs CPU: %v", i/16, i%16, err)
		}
		worst = max(worst, relDiff(recorded[i], want[i]))
		worstSep = max(worstSep, relDiff(recorded[i], sep[i]))
	}
	t.Logf("largest logit difference over 8 steps of 16 sequences: %.3g of the largest logit from the CPU, %.3g from separate MLP kernels", worst, worstSep)
}

// relDiff is the largest |got - want| over the largest |want|, the measure
// closeEnough bounds (for reporting it).
func relDiff(got, want []float32) float64 {
	var d, w float64
	for i := range want {
		d = max(d, math.Abs(float64(got[i]-want[i])))
		w = max(w, math.Abs(float64(want[i])))
	}
	return d / w
}

// f32Readers lists the kernels among names that multiply cached keys and
// values in float32 (k_attn, k_attn_dec, k_attn_grp): they see a bf16
// cache's values rounded and a float32 cache's as they are, so that their
// results over the two differ.
func f32Readers(names []string) []string {
	var out []string
	for _, n := range names {
		if n == "k_attn" || strings.TrimSuffix(n, "_kv16") == "k_attn_dec" || strings.HasPrefix(n, "k_attn_grp") {
			out = append(out, n)
		}
	}
	return out
}

// TestDecodeKVBF16 decodes samba-tiny in bf16 mode over bf16 key/value
// caches and over float32 ones (f32KV): prompts prefilled in chunks of 200
// tokens (flash attention, whose k_kv_gather rounds the cached keys and
// values to bf16 from either cache), then 8 steps of k_attn_decm, and
// again of k_attn_decp (both round them to bf16 too), with the 512-key
// rings wrapping. The logits must be the same bit for bit, no kernel that
// multiplies cached keys and values in float32 may have run, and the bf16
// states must take 2 bytes per cache element.
func TestDecodeKVBF16(t *testing.T) {
	g := gpu(t, false)
	m := loadTiny(t, g)
	ids := zipfTokens(700, 32000, 5)
	prompts := []int{600, 130, 513}
	decode := func(f32KV bool) (logits [][]float32, names []string, bytes int64) {
		g.f32KV = f32KV
		g.onLaunch = func(name string) { names = append(names, name) }
		defer func() { g.f32KV, g.onLaunch = false, nil }()
		ss := make([]*model.Session, len(prompts))
		for i, n := range prompts {
			ss[i] = m.NewSession()
			defer ss[i].Free()
			ss[i].ChunkSize = 200
			if err := ss[i].Prefill(ids[:n]); err != nil {
				t.Fatal(err)
			}
		}
		bytes = ss[0].StateBytes()
		logits = stepLogits(t, m, ss, ids, nil) // onLaunch appends to names meanwhile
		return logits, names, bytes
	}
	for _, kernel := range []string{"k_attn_decm64", "k_attn_decp64"} {
		t.Run(kernel, func(t *testing.T) {
			if kernel == "k_attn_decp64" {
				g.decWarps = 1
				defer func() { g.decWarps = 0 }()
			}
			l16, n16, b16 := decode(false)
			l32, n32, b32 := decode(true)
			if f := append(f32Readers(n16), f32Readers(n32)...); len(f) > 0 {
				t.Fatalf("%v ran: their results depend on the caches' type", f)
			}
			if !slices.Contains(n16, kernel+"_kv16") || !slices.Contains(n32, kernel) {
				t.Fatalf("decoding kernels: %v with bf16 caches, %v with float32 ones", n16, n32)
			}
			for i := range l16 {
				if j := firstBitDiff(l16[i], l32[i]); j >= 0 {
					t.Fatalf("step %d sequence %d: logit %d is %v with bf16 caches, %v with float32 ones", i/3, i%3, j, l16[i][j], l32[i][j])
				}
			}
			if want := m.Config.StateBytes(0, 2); b16 != want || b32 != m.Config.StateBytes(0, 4) || b16 >= b32 {
				t.Errorf("state: %d bytes with bf16 caches (want %d), %d with float32 ones (want %d)", b16, want, b32, m.Config.StateBytes(0, 4))
			}
		})
	}
}

// decodeSteps runs 8 steps of LogitsBatch over sessions prefilled with
// prompts of the given lengths (from ids); at step 4 the second session,
// if any, is replaced by a fresh one. It returns the logits of every
// sequence of every step.
func decodeSteps(t *testing.T, mm *model.Model, g *Backend, ids []int32, prompts []int, noGraph bool) [][]float32 {

	g.noGraph = noGraph
	defer func() { g.noGraph = false }()
	ss := make([]*model.Session, len(prompts))
	for i, n := range prompts {
		ss[i] = mm.NewSession()
		if err := ss[i].Prefill(ids[:n]); err != nil {
			t.Fatal(err)
		}
	}
	defer func() {
		for _, s := range ss {
			s.Free()
		}
	}()
	return stepLogits(t, mm, ss, ids, func(step int) {
		if step == 4 && len(ss) > 1 {
			ss[1].Free()
			ss[1] = mm.NewSession()
			if err := ss[1].Prefill(ids[100:110]); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// stepLogits runs 8 steps of LogitsBatch over ss, sequence i taking token
// ids[650+3·step+i] at each step, after before(step) when set, and returns
// the logits of every sequence of every step.
func stepLogits(t *testing.T, mm *model.Model, ss []*model.Session, ids []int32, before func(step int)) [][]float32 {
	var out [][]float32
	for step := range 8 {
		if before != nil {
			before(step)
		}
		next := make([][]int32, len(ss))
		for i := range next {
			next[i] = []int32{ids[650+step*3+i]}
		}
		lg, err := mm.LogitsBatch(ss, next, 1)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, lg...)
	}
	return out
}
