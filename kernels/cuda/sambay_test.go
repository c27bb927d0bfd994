package cuda

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/sambaeval/sambaeval/checkpoint"
	"github.com/sambaeval/sambaeval/dtype"
	"github.com/sambaeval/sambaeval/kernels"
	"github.com/sambaeval/sambaeval/kernels/cpu"
	"github.com/sambaeval/sambaeval/model"
)

// The SambaY (Phi-4-mini-flash-reasoning) operations and model on the GPU
// against the CPU reference.

func TestSambaYOps(t *testing.T) {
	modes(t, func(t *testing.T, g *Backend) {
		cb := cpu.New()
		for _, sz := range []struct{ rows, cols int }{{1, 96}, {3, 1000}, {70, 2560}} {
			t.Run(fmt.Sprintf("%dx%d", sz.rows, sz.cols), func(t *testing.T) {
				r := rand.New(rand.NewPCG(30, uint64(sz.rows*sz.cols)))
				n := sz.rows * sz.cols
				xv := randn(r, n, 2)
				for i := range xv {
					xv[i] += 3 // a mean far from 0
				}
				x := newTwin(cb, g, sz.rows, sz.cols, 5, xv)
				w := newTwin(cb, g, 1, sz.cols, 0, randn(r, sz.cols, 1))
				bias := newTwin(cb, g, 1, sz.cols, 0, randn(r, sz.cols, 1))
				d := newTwin(cb, g, sz.rows, sz.cols, 3, make([]float32, n))
				cb.LayerNorm(d.c, x.c, w.c, bias.c, 1e-5)
				g.LayerNorm(d.g, x.g, w.g, bias.g, 1e-5)
				if err := closeEnough(readMat(g, d.g), readMat(cb, d.c), 2e-6); err != nil {
					t.Fatalf("LayerNorm: %v", err)
				}
				cb.LayerNorm(x.c, x.c, w.c, bias.c, 1e-5) // in place
				g.LayerNorm(x.g, x.g, w.g, bias.g, 1e-5)
				if err := closeEnough(readMat(g, x.g), readMat(cb, x.c), 2e-6); err != nil {
					t.Fatalf("LayerNorm in place: %v", err)
				}
				cb.AddBias(d.c, bias.c)
				g.AddBias(d.g, bias.g)
				if err := closeEnough(readMat(g, d.g), readMat(cb, d.c), 1e-6); err != nil {
					t.Fatalf("AddBias: %v", err)
				}
				cb.AddScaled(d.c, x.c, -0.37)
				g.AddScaled(d.g, x.g, -0.37)
				if err := closeEnough(readMat(g, d.g), readMat(cb, d.c), 1e-6); err != nil {
					t.Fatalf("AddScaled: %v", err)
				}
				if sz.cols%2 == 0 { // strided column views, as differential attention uses them
					h := sz.cols / 2
					cb.AddScaled(d.c.ColSlice(0, h), x.c.ColSlice(h, 2*h), 0.8)
					g.AddScaled(d.g.ColSlice(0, h), x.g.ColSlice(h, 2*h), 0.8)
					if err := closeEnough(readMat(g, d.g), readMat(cb, d.c), 1e-6); err != nil {
						t.Fatalf("AddScaled on views: %v", err)
					}
				}
			})
		}
	})
}

// TestSambaYLayerNormShadow checks that a product reading a LayerNorm
// output in bf16 mode sees the current values through the 16-bit shadow.
func TestSambaYLayerNormShadow(t *testing.T) {
	g := gpu(t, false)
	cb := cpu.New()
	r := rand.New(rand.NewPCG(31, 31))
	const M, K, N = 33, 64, 40
	raw := weightBytes(dtype.BF16, randn(r, N*K, 0.1))
	wc, _ := cb.LoadWeight(dtype.BF16, N, K, raw)
	wg, _ := g.LoadWeight(dtype.BF16, N, K, raw)
	x := newTwin(cb, g, M, K, 0, randn(r, M*K, 1))
	w := newTwin(cb, g, 1, K, 0, randn(r, K, 1))
	b := newTwin(cb, g, 1, K, 0, randn(r, K, 1))
	h := newTwin(cb, g, M, K, 0, make([]float32, M*K))
	d := newTwin(cb, g, M, N, 0, make([]float32, M*N))
	cb.LayerNorm(h.c, x.c, w.c, b.c, 1e-5)
	g.LayerNorm(h.g, x.g, w.g, b.g, 1e-5)
	ref := newTwin(cb, g, M, K, 0, roundTo(dtype.BF16, readMat(cb, h.c))).c
	cb.MatMul(d.c, ref, wc, false)
	g.MatMul(d.g, h.g, wg, false)
	if err := closeEnough(readMat(g, d.g), readMat(cb, d.c), 1e-5); err != nil {
		t.Fatal(err)
	}
}

// TestSambaYUngatedScan runs SelectiveScan without z (no gate) on batches
// of sequences for every scan kernel family, state kept across calls.
func TestSambaYUngatedScan(t *testing.T) {
	cases := []struct {
		E, N   int
		scan16 string
	}{{72, 4, ""}, {200, 16, ""}, {72, 16, "s4"}, {72, 16, "p8"}, {36, 12, ""}}
	modes(t, func(t *testing.T, g *Backend) {
		cb := cpu.New()
		for _, c := range cases {
			t.Run(fmt.Sprintf("E%d_N%d_%s", c.E, c.N, c.scan16), func(t *testing.T) {
				g.scan16 = c.scan16
				defer func() { g.scan16 = "" }()
				r := rand.New(rand.NewPCG(32, uint64(c.E*c.N)))
				E, N := c.E, c.N
				lens := []int{1, 40, 130}
				type st struct{ c, g *kernels.MambaState }
				states := make([]st, len(lens))
				for i := range states {
					ssm := randn(r, E*N, 1)
					mk := func(b kernels.Backend) *kernels.MambaState {
						s := &kernels.MambaState{Conv: b.Alloc(1), SSM: b.Alloc(E * N)}
						b.Write(s.SSM, 0, ssm)
						return s
					}
					states[i] = st{mk(cb), mk(g)}
				}
				aVals := scanDecay(r, E*N)
				A := newTwin(cb, g, E, N, 2, aVals)
				Dv := newTwin(cb, g, 1, E, 0, randn(r, E, 1))
				DB := newTwin(cb, g, 1, E, 0, randn(r, E, 1))
				pc := kernels.ScanParams{A: A.c, D: Dv.c, DeltaBias: DB.c}
				pg := kernels.ScanParams{A: A.g, D: Dv.g, DeltaBias: DB.g}
				for call := 0; call < 2; call++ {
					var seqs []kernels.Seq
					var sc, sg []*kernels.MambaState
					M := 0
					for i, n := range lens {
						seqs = append(seqs, kernels.Seq{Row: M, Len: n})
						sc, sg = append(sc, states[i].c), append(sg, states[i].g)
						M += n
					}
					u := newTwin(cb, g, M, E, 1, randn(r, M*E, 1))
					delta := newTwin(cb, g, M, E, 0, randn(r, M*E, 1))
					bc := newTwin(cb, g, M, 2*N, 3, randn(r, M*2*N, 1))
					y := newTwin(cb, g, M, E, 2, make([]float32, M*E))
					cb.SelectiveScan(y.c, u.c, delta.c, bc.c.ColSlice(0, N), bc.c.ColSlice(N, 2*N), kernels.Mat{}, pc, sc, seqs)
					g.SelectiveScan(y.g, u.g, delta.g, bc.g.ColSlice(0, N), bc.g.ColSlice(N, 2*N), kernels.Mat{}, pg, sg, seqs)
					if err := closeEnough(readMat(g, y.g), readMat(cb, y.c), 1e-5); err != nil {
						t.Fatalf("call %d output: %v", call, err)
					}
					for i := range states {
						if err := closeEnough(readBuf(g, states[i].g.SSM), readBuf(cb, states[i].c.SSM), 1e-5); err != nil {
							t.Fatalf("call %d state %d: %v", call, i, err)
						}
					}
				}
			})
		}
	})
}

// sambayTinyDir finds model/testdata/archs/sambay from the working
// directory or above.
func sambayTinyDir(t testing.TB) string {
	dir, _ := os.Getwd()
	for {
		p := filepath.Join(dir, "model", "testdata", "archs", "sambay")
		if _, err := os.Stat(filepath.Join(p, "golden.json")); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("model/testdata/archs/sambay not found above the working directory")
		}
		dir = parent
	}
}

// TestSambaYTinyGolden scores the tiny SambaY checkpoint on the GPU against
// the PyTorch reference's log-probabilities (model/testdata/ref/sambay.py).
func TestSambaYTinyGolden(t *testing.T) {
	g, gb := gpu(t, true), gpu(t, false)
	dir := sambayTinyDir(t)
	b, err := os.ReadFile(filepath.Join(dir, "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var golden struct {
		IDs      []int32   `json:"ids"`
		LogProbs []float64 `json:"logprobs"`
	}
	if err := json.Unmarshal(b, &golden); err != nil {
		t.Fatal(err)
	}
	want := make([]float64, len(golden.LogProbs))
	for i, lp := range golden.LogProbs {
		want[i] = -lp
	}
	for _, be := range []*Backend{g, gb} {
		m, err := model.LoadDir(dir, be)
		if err != nil {
			t.Fatal(err)
		}
		got := nll(t, m, golden.IDs, 512)
		m.Close()
		if be.fp32 { // every token, at the CPU's tolerance
			var worst float64
			for i := range want {
				worst = math.Max(worst, math.Abs(got[i]-want[i]))
			}
			t.Logf("fp32: max |Δ log p| against the reference %.2g over %d tokens", worst, len(got))
			if worst > 1e-4 {
				t.Errorf("fp32: log-probabilities differ from the reference by %.3g, more than 1e-4", worst)
			}
			continue
		}
		comparePerplexity(t, "tiny sambay bf16 vs the reference", got, want, 5e-3)
	}
}

// sambayGeometry is a SambaY with the real model's attention geometry (heads
// of 64, key/value groups of 2, composite groups of 4 heads of 128, window
// 512) at a smaller width and depth, so that the CPU reference is quick.
func sambayGeometry() *model.Config {
	c, _ := model.Named("Phi4_mini_flash")
	c.Name = "sambay-geometry"
	c.NLayer, c.NEmbd, c.NHead, c.NQueryGroups, c.IntermediateSize = 8, 512, 8, 4, 1024
	c.VocabSize, c.PaddedVocabSize, c.MambaDtRank = 2000, 2000, 32
	return c
}

// randomSambaY returns bf16 weights with Phi4FlashForCausalLM's names and
// shapes for cfg (model.RandomCheckpoint is single-threaded per tensor,
// too slow for the 3.8B benchmark): linear layers uniform with standard
// deviation 0.5/sqrt(fan-in), norm weights near 1, small biases, λ vectors
// of standard deviation about 0.1, Mamba's A_log = log(1..N), D = 1, Δ
// biases for Δ in [0.001, 0.1].
func randomSambaY(cfg *model.Config, seed uint64) (checkpoint.Map, error) {
	blocks, err := cfg.Blocks()
	if err != nil {
		return nil, err
	}
	D, E, R, N, K := cfg.NEmbd, cfg.DInner(), cfg.MambaDtRank, cfg.MambaDState, cfg.MambaDConv
	F, V, H, G, hd := cfg.IntermediateSize, cfg.PaddedVocabSize, cfg.NHead, cfg.NQueryGroups, cfg.HeadSize
	uniform := func(a float64) func(int, *rand.Rand) float32 {
		return func(_ int, r *rand.Rand) float32 { return float32((2*r.Float64() - 1) * a) }
	}
	linear := func(in int) func(int, *rand.Rand) float32 { return uniform(math.Sqrt(3/float64(in)) * 0.5) }
	near1 := func(_ int, r *rand.Rand) float32 { return float32(1 + 0.2*(r.Float64()-0.5)) }
	m := checkpoint.Map{}
	ti := uint64(0)
	add := func(name string, dt dtype.DType, fill func(int, *rand.Rand) float32, shape ...int) {
		n := 1
		for _, d := range shape {
			n *= d
		}
		ti++
		data := make([]byte, 2*n)
		fillParallel(data, n, seed, ti, fill)
		t := &checkpoint.Tensor{Name: name, DType: dtype.BF16, Shape: shape, Data: data}
		if dt == dtype.F32 { // small tensors the real checkpoint keeps in float32
			v, _ := t.Float32s()
			t = &checkpoint.Tensor{Name: name, DType: dtype.F32, Shape: shape, Data: weightBytes(dtype.F32, v)}
		}
		m[name] = t
	}
	layerNorm := func(p string) {
		add(p+".weight", dtype.BF16, near1, D)
		add(p+".bias", dtype.BF16, uniform(0.02), D)
	}
	add("model.embed_tokens.weight", dtype.BF16, uniform(0.05), V, D)
	layerNorm("model.final_layernorm")
	for i, b := range blocks {
		p := fmt.Sprintf("model.layers.%d.", i)
		layerNorm(p + "input_layernorm")
		layerNorm(p + "post_attention_layernorm")
		add(p+"mlp.fc1.weight", dtype.BF16, linear(D), 2*F, D)
		add(p+"mlp.fc2.weight", dtype.BF16, linear(F), D, F)
		a := p + "attn."
		switch mx := b.Mixers[0]; mx.Kind {
		case model.Mamba:
			add(a+"in_proj.weight", dtype.BF16, linear(D), 2*E, D)
			add(a+"conv1d.weight", dtype.BF16, uniform(0.5), E, 1, K)
			add(a+"conv1d.bias", dtype.BF16, uniform(0.1), E)
			add(a+"x_proj.weight", dtype.BF16, linear(E), R+2*N, E)
			add(a+"dt_proj.weight", dtype.BF16, uniform(1/math.Sqrt(float64(R))), E, R)
			add(a+"dt_proj.bias", dtype.F32, func(_ int, r *rand.Rand) float32 {
				dt := math.Exp(math.Log(1e-3) + r.Float64()*(math.Log(1e-1)-math.Log(1e-3)))
				return float32(dt + math.Log(-math.Expm1(-dt))) // softplus⁻¹(dt)
			}, E)
			add(a+"A_log", dtype.F32, func(i int, _ *rand.Rand) float32 { return float32(math.Log(float64(i%N + 1))) }, E, N)
			add(a+"D", dtype.F32, func(int, *rand.Rand) float32 { return 1 }, E)
			add(a+"out_proj.weight", dtype.BF16, linear(E), D, E)
		case model.GMU:
			add(a+"in_proj.weight", dtype.BF16, linear(D), E, D)
			add(a+"out_proj.weight", dtype.BF16, linear(E), D, E)
		default:
			rows := (H + 2*G) * hd
			if mx.Kind == model.CrossAttention {
				rows = H * hd
			}
			add(a+"Wqkv.weight", dtype.BF16, linear(D), rows, D)
			add(a+"Wqkv.bias", dtype.BF16, uniform(0.02), rows)
			add(a+"out_proj.weight", dtype.BF16, linear(H*hd), D, H*hd)
			add(a+"out_proj.bias", dtype.BF16, uniform(0.02), D)
			for _, l := range []string{"lambda_q1", "lambda_k1", "lambda_q2", "lambda_k2"} {
				add(a+"inner_cross_attn."+l, dtype.F32, uniform(0.17), hd)
			}
			add(a+"inner_cross_attn.subln.weight", dtype.BF16, near1, 2*hd)
		}
	}
	return m, nil
}

// TestSambaYParity scores 1100 tokens (the 512-key windows wrap twice)
// with a random SambaY of the real attention geometry on the CPU and on
// the GPU in both modes, and streams them on the GPU in chunks of 512, 7
// and 1 tokens against one pass.
func TestSambaYParity(t *testing.T) {
	g, gb := gpu(t, true), gpu(t, false)
	cfg := sambayGeometry()
	weights, err := randomSambaY(cfg, 7)
	if err != nil {
		t.Fatal(err)
	}
	ids := zipfTokens(1101, cfg.VocabSize, 4)
	run := func(be kernels.Backend, chunk int) []float64 {
		m, err := model.New(cfg, weights, be)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		return nll(t, m, ids, chunk)
	}
	start := time.Now()
	want := run(cpu.New(), 2048)
	t.Logf("CPU reference: %v", time.Since(start).Round(time.Millisecond))
	got := run(g, 2048)
	comparePerplexity(t, "sambay fp32", got, want, 1e-4)
	var worst float64
	for i := range got {
		worst = math.Max(worst, math.Abs(got[i]-want[i]))
	}
	t.Logf("fp32: max per-token |ΔNLL| against the CPU %.2g over %d tokens", worst, len(got))
	if worst > 1e-4 {
		t.Errorf("fp32: per-token NLL differs from the CPU by up to %.3g", worst)
	}
	comparePerplexity(t, "sambay bf16", run(gb, 2048), want, 5e-3)
	for _, c := range []struct {
		chunk   int
		noGraph bool
	}{{512, false}, {7, false}, {7, true}, {1, false}} {
		g.noGraph = c.noGraph
		st := run(g, c.chunk)
		g.noGraph = false
		var d float64
		worst := 0
		for i := range st {
			if x := math.Abs(st[i] - got[i]); x > d {
				d, worst = x, i
			}
		}
		t.Logf("chunk %d (noGraph %v): max per-token |ΔNLL| against one pass %.2g, at token %d", c.chunk, c.noGraph, d, worst)
		if d > 1e-4 {
			t.Errorf("chunk %d (noGraph %v): per-token NLL differs from one pass by %.3g at token %d", c.chunk, c.noGraph, d, worst)
		}
	}
}

// TestSambaYKVBF16 scores the tiny SambaY in bf16 mode over bf16 key/value
// caches and over float32 ones (f32KV) in chunks of 100 tokens: every
// attention chunk is long (cuBLAS products of k_kv_gather's bf16 copies,
// which round the cached keys and values to bf16 from either cache), the
// full-attention cache grows from 256 to 512 positions (a Copy of its
// buffers) and the cross-attention layers read it, so the scores must be
// the same bit for bit. A snapshot taken after 300 tokens (Copy again)
// must resume to the same scores as the session it was taken from.
func TestSambaYKVBF16(t *testing.T) {
	g := gpu(t, false)
	m, err := model.LoadDir(sambayTinyDir(t), g)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	m.AllowLongContext = true
	ids := zipfTokens(501, m.Config.VocabSize, 6)
	run := func(f32KV bool) (scores []kernels.TokenScore, names []string) {
		g.f32KV = f32KV
		g.onLaunch = func(name string) { names = append(names, name) }
		defer func() { g.f32KV, g.onLaunch = false, nil }()
		s := m.NewSession()
		defer s.Free()
		s.ChunkSize = 100
		score := func(lo, hi int) []kernels.TokenScore {
			sc, err := s.Score(ids[lo:hi], ids[lo+1:hi+1])
			if err != nil {
				t.Fatal(err)
			}
			return sc
		}
		scores = score(0, 300)
		snap := s.Snapshot()
		defer snap.Free()
		more := score(300, 500)
		if err := s.Restore(snap); err != nil {
			t.Fatal(err)
		}
		for i, sc := range score(300, 500) {
			if sc != more[i] {
				t.Fatalf("f32KV %v: token %d from the snapshot %+v, from the session %+v", f32KV, 300+i, sc, more[i])
			}
		}
		return append(scores, more...), names
	}
	s16, n16 := run(false)
	s32, n32 := run(true)
	if f := append(f32Readers(n16), f32Readers(n32)...); len(f) > 0 {
		t.Fatalf("%v ran: their results depend on the caches' type", f)
	}
	for i := range s16 {
		if s16[i] != s32[i] {
			t.Fatalf("token %d: %+v with bf16 caches, %+v with float32 ones", i, s16[i], s32[i])
		}
	}
}

// TestBenchSambaY measures Phi-4-mini-flash-reasoning's shapes with random
// bf16 weights on the GPU: prefill tokens/s and batch-1 decoding at a 32K
// context. It runs only with SAMBAEVAL_SAMBAY_BENCH=1.
func TestBenchSambaY(t *testing.T) {
	if os.Getenv("SAMBAEVAL_SAMBAY_BENCH") != "1" {
		t.Skip("set SAMBAEVAL_SAMBAY_BENCH=1 to run the SambaY benchmark")
	}
	g := gpu(t, false)
	cfg, err := model.Named("Phi4_mini_flash")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	weights, err := randomSambaY(cfg, 4)
	if err != nil {
		t.Fatal(err)
	}
	gen := time.Since(start)
	start = time.Now()
	m, err := model.New(cfg, weights, g)
	if err != nil {
		t.Fatal(err)
	}
	weights = nil
	t.Logf("device: %s", g.Name())
	t.Logf("Phi4_mini_flash: %.3fB parameters; weights generated in %v, uploaded in %v",
		float64(cfg.ParamCount())/1e9, gen.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	r := rand.New(rand.NewPCG(4, 4))
	randomIDs := func(n int) []int32 {
		ids := make([]int32, n)
		for i := range ids {
			ids[i] = int32(r.IntN(cfg.VocabSize))
		}
		return ids
	}
	sync := func() {
		if err := g.Synchronize(); err != nil {
			t.Fatal(err)
		}
	}
	const ctx = 32768
	for _, chunk := range []int{4096, 8192} {
		s := m.NewSession()
		s.ChunkSize = chunk
		if err := s.Prefill(randomIDs(chunk)); err != nil { // warm-up
			t.Fatal(err)
		}
		s.Reset()
		sync()
		start := time.Now()
		if err := s.Prefill(randomIDs(ctx)); err != nil {
			t.Fatal(err)
		}
		sync()
		el := time.Since(start).Seconds()
		t.Logf("prefill of %d tokens from position 0, chunk %d (no head): %.0f tokens/s (%.2f s)", ctx, chunk, ctx/el, el)
		if chunk == 8192 {
			free, total, _ := g.MemInfo()
			t.Logf("GPU memory in use after %d tokens: %.2f GiB; the session's state %.1f MiB (Config.StateBytes: %.1f MiB)",
				ctx, float64(total-free)/(1<<30), float64(s.StateBytes())/(1<<20), float64(cfg.StateBytes(ctx, g.KVBytes()))/(1<<20))
			next := randomIDs(1)
			for range 3 { // warm-up
				lg, err := s.Logits(next)
				if err != nil {
					t.Fatal(err)
				}
				next = []int32{int32(slices.Index(lg, slices.Max(lg)))}
			}
			sync()
			const steps = 48
			start := time.Now()
			for range steps {
				lg, err := s.Logits(next)
				if err != nil {
					t.Fatal(err)
				}
				next = []int32{int32(slices.Index(lg, slices.Max(lg)))}
			}
			el := time.Since(start).Seconds()
			t.Logf("decode at batch 1 from a %d-token context (head and argmax included): %.1f tokens/s (%.2f ms per token)",
				ctx+3, steps/el, 1000*el/steps)
		}
		s.Free()
	}
}

// TestSambaYTee runs the SambaY of TestSambaYParity on the CPU and the GPU
// (fp32) side by side, operation by operation (see tee), in chunks of 7
// and 512 tokens, and reports the first operation whose results differ.
func TestSambaYTee(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the CPU reference operation by operation")
	}
	g := gpu(t, true)
	cfg := sambayGeometry()
	weights, err := randomSambaY(cfg, 7)
	if err != nil {
		t.Fatal(err)
	}
	ids := zipfTokens(1101, cfg.VocabSize, 4)
	for _, chunk := range []int{7, 512} {
		tb := newTee(g, 1e-3)
		m, err := model.New(cfg, weights, tb)
		if err != nil {
			t.Fatal(err)
		}
		nll(t, m, ids, chunk)
		if tb.first != "" {
			t.Errorf("chunk %d: %s", chunk, tb.first)
		} else {
			t.Logf("chunk %d: %d operations agree", chunk, tb.ops)
		}
	}
}
