package cuda

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/sambaeval/sambaeval/checkpoint"
	"github.com/sambaeval/sambaeval/dtype"
	"github.com/sambaeval/sambaeval/kernels"
	"github.com/sambaeval/sambaeval/model"
)

// bench38B opens the benchmarks' model on be: the Samba_3.8B shape with
// randomCheckpoint's weights (seed 38), dropped from host memory once
// uploaded. gen is the time the weights took to generate, load the time
// model.New took to upload them.
func bench38B(t testing.TB, be kernels.Backend) (cfg *model.Config, m *model.Model, gen, load time.Duration) {
	t.Helper()
	cfg, err := model.Named("Samba_3.8B")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	weights, err := randomCheckpoint(cfg, 38)
	if err != nil {
		t.Fatal(err)
	}
	gen, start = time.Since(start), time.Now()
	if m, err = model.New(cfg, weights, be); err != nil {
		t.Fatal(err)
	}
	load = time.Since(start)
	weights = nil
	runtime.GC()
	return cfg, m, gen, load
}

// randomCheckpoint returns bf16 weights for cfg with the names and shapes
// model.New expects, drawn from seed so that activations stay of order one:
// uniform linear layers scaled by 1/sqrt(fan-in), norms near 1, Mamba's
// A_log = log(1..N) and Δ biases for Δ between 0.001 and 0.1 (the usual
// initialisation).
func randomCheckpoint(cfg *model.Config, seed uint64) (checkpoint.Map, error) {
	blocks, err := cfg.Blocks()
	if err != nil {
		return nil, err
	}
	D, E, R, N, K := cfg.NEmbd, cfg.DInner(), cfg.MambaDtRank, cfg.MambaDState, cfg.MambaDConv
	F, V := cfg.IntermediateSize, cfg.PaddedVocabSize
	type spec struct {
		name  string
		shape []int
		fill  func(i int, r *rand.Rand) float32
	}
	uniform := func(a float64) func(int, *rand.Rand) float32 {
		return func(_ int, r *rand.Rand) float32 { return float32((2*r.Float64() - 1) * a) }
	}
	linear := func(in int) func(int, *rand.Rand) float32 { return uniform(math.Sqrt(3/float64(in)) * 0.5) }
	near1 := func(_ int, r *rand.Rand) float32 { return float32(1 + 0.2*(r.Float64()-0.5)) }
	var specs []spec
	add := func(name string, fill func(int, *rand.Rand) float32, shape ...int) {
		specs = append(specs, spec{name, shape, fill})
	}
	add("transformer.wte.weight", uniform(0.05), V, D)
	if !cfg.TieEmbeddings {
		add("lm_head.weight", linear(D), V, D)
	}
	add("transformer.ln_f.weight", near1, D)
	for i, b := range blocks {
		p := fmt.Sprintf("transformer.h.%d.", i)
		add(p+"norm_1.weight", near1, D)
		add(p+"norm_2.weight", near1, D)
		add(p+"mlp.swiglu.w1.weight", linear(D), F, D)
		add(p+"mlp.swiglu.w2.weight", linear(D), F, D)
		add(p+"mlp.swiglu.w3.weight", linear(F), D, F)
		if b.Mixers[0].Kind == model.Attention {
			add(p+"attn.attn.weight", linear(D), cfg.QKVRows(), D)
			add(p+"attn.proj.weight", linear(cfg.NHead*cfg.HeadSize), D, cfg.NHead*cfg.HeadSize)
			continue
		}
		add(p+"attn.in_proj.weight", linear(D), 2*E, D)
		add(p+"attn.conv1d.weight", uniform(0.5), E, 1, K)
		if cfg.MambaConvBias {
			add(p+"attn.conv1d.bias", uniform(0.1), E)
		}
		add(p+"attn.x_proj.weight", linear(E), R+2*N, E)
		add(p+"attn.dt_proj.weight", uniform(1/math.Sqrt(float64(R))), E, R)
		add(p+"attn.dt_proj.bias", func(_ int, r *rand.Rand) float32 {
			dt := math.Exp(math.Log(1e-3) + r.Float64()*(math.Log(1e-1)-math.Log(1e-3)))
			return float32(dt + math.Log(-math.Expm1(-dt))) // softplus⁻¹(dt)
		}, E)
		add(p+"attn.A_log", func(i int, _ *rand.Rand) float32 { return float32(math.Log(float64(i%N + 1))) }, E, N)
		add(p+"attn.D", func(int, *rand.Rand) float32 { return 1 }, E)
		add(p+"attn.out_proj.weight", linear(E), D, E)
	}
	m := checkpoint.Map{}
	for ti, s := range specs {
		n := 1
		for _, d := range s.shape {
			n *= d
		}
		data := make([]byte, 2*n)
		fillParallel(data, n, seed, uint64(ti), s.fill)
		m[s.name] = &checkpoint.Tensor{Name: s.name, DType: dtype.BF16, Shape: s.shape, Data: data}
	}
	return m, nil
}

// fillParallel writes n bf16 values fill(i) into data, in chunks of 1M
// elements each drawn from its own generator so that the result does not
// depend on the number of threads.
func fillParallel(data []byte, n int, seed, tensor uint64, fill func(int, *rand.Rand) float32) {
	const chunk = 1 << 20
	chunks := (n + chunk - 1) / chunk
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for c := 0; c < chunks; c++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			r := rand.New(rand.NewPCG(seed, tensor<<32|uint64(c)))
			for i := c * chunk; i < min(n, (c+1)*chunk); i++ {
				binary.LittleEndian.PutUint16(data[2*i:], dtype.F32ToBF16(fill(i, r)))
			}
		}()
	}
	wg.Wait()
}
