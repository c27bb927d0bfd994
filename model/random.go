package model

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"

	"github.com/sambaeval/sambaeval/checkpoint"
	"github.com/sambaeval/sambaeval/dtype"
	"github.com/sambaeval/sambaeval/kernels"
)

// RandomCheckpoint builds the tensors of a seeded random model with the
// checkpoint names and shapes of cfg, initialised as the Samba/Mamba code
// does: N(0, 0.02) embeddings and projections, output projections scaled by
// 1/sqrt(2·n_layer), A_log = log(1..N), D = 1, Δ bias = softplus⁻¹ of Δ
// drawn log-uniformly in [0.001, 0.1], conv weights uniform(±1/sqrt(K)),
// norm weights 1. Each tensor's values depend only on the seed and its name.
func RandomCheckpoint(cfg *Config, seed uint64, dt dtype.DType) (checkpoint.Map, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if dt != dtype.F32 && dt != dtype.BF16 && dt != dtype.F16 {
		return nil, fmt.Errorf("random weights: dtype %s not supported", dt)
	}
	layout, _ := cfg.Blocks()
	D, V, F := cfg.NEmbd, cfg.PaddedVocabSize, cfg.IntermediateSize
	E, R, N, K := cfg.DInner(), cfg.MambaDtRank, cfg.MambaDState, cfg.MambaDConv
	outStd := 0.02 / math.Sqrt(2*float64(cfg.NLayer))

	type spec struct {
		name  string
		shape []int
		init  func(r *rand.Rand, i int) float64
		typ   dtype.DType
	}
	normal := func(std float64) func(*rand.Rand, int) float64 {
		return func(r *rand.Rand, _ int) float64 { return r.NormFloat64() * std }
	}
	uniform := func(b float64) func(*rand.Rand, int) float64 {
		return func(r *rand.Rand, _ int) float64 { return (2*r.Float64() - 1) * b }
	}
	constant := func(v float64) func(*rand.Rand, int) float64 { return func(*rand.Rand, int) float64 { return v } }
	var specs []spec
	add := func(name string, init func(*rand.Rand, int) float64, shape ...int) {
		specs = append(specs, spec{name, shape, init, dt})
	}
	add("transformer.wte.weight", normal(0.02), V, D)
	if !cfg.TieEmbeddings {
		add("lm_head.weight", normal(0.02), V, D)
	}
	add("transformer.ln_f.weight", constant(1), D)
	for i, b := range layout {
		p := fmt.Sprintf("transformer.h.%d.", i)
		add(p+"norm_1.weight", constant(1), D)
		add(p+"norm_2.weight", constant(1), D)
		add(p+"mlp.swiglu.w1.weight", normal(0.02), F, D)
		add(p+"mlp.swiglu.w2.weight", normal(0.02), F, D)
		add(p+"mlp.swiglu.w3.weight", normal(outStd), D, F)
		if b.Mixer == Attention {
			add(p+"attn.attn.weight", normal(0.02), cfg.QKVRows(), D)
			add(p+"attn.proj.weight", normal(outStd), D, cfg.NHead*cfg.HeadSize)
			continue
		}
		a := p + "attn."
		add(a+"in_proj.weight", normal(0.02), 2*E, D)
		add(a+"conv1d.weight", uniform(1/math.Sqrt(float64(K))), E, 1, K)
		if cfg.MambaConvBias {
			add(a+"conv1d.bias", uniform(1/math.Sqrt(float64(K))), E)
		}
		add(a+"x_proj.weight", normal(0.02), R+2*N, E)
		add(a+"dt_proj.weight", uniform(1/math.Sqrt(float64(R))), E, R)
		add(a+"dt_proj.bias", func(r *rand.Rand, _ int) float64 {
			d := math.Exp(r.Float64()*(math.Log(0.1)-math.Log(0.001)) + math.Log(0.001))
			d = math.Max(d, 1e-4)
			return d + math.Log(-math.Expm1(-d)) // softplus⁻¹
		}, E)
		add(a+"A_log", func(_ *rand.Rand, i int) float64 { return math.Log(float64(i%N + 1)) }, E, N)
		add(a+"D", constant(1), E)
		add(a+"out_proj.weight", normal(outStd), D, E)
	}

	out := checkpoint.Map{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	work := make(chan spec)
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range work {
				h := fnv.New64a()
				h.Write([]byte(s.name))
				r := rand.New(rand.NewPCG(seed, h.Sum64()))
				t := &checkpoint.Tensor{Name: s.name, DType: s.typ, Shape: s.shape}
				n := t.Numel()
				t.Data = make([]byte, n*s.typ.Size())
				for i := 0; i < n; i++ {
					v := float32(s.init(r, i))
					switch s.typ {
					case dtype.F32:
						binary.LittleEndian.PutUint32(t.Data[4*i:], math.Float32bits(v))
					case dtype.BF16:
						binary.LittleEndian.PutUint16(t.Data[2*i:], dtype.F32ToBF16(v))
					case dtype.F16:
						binary.LittleEndian.PutUint16(t.Data[2*i:], dtype.F32ToF16(v))
					}
				}
				mu.Lock()
				out[s.name] = t
				mu.Unlock()
			}
		}()
	}
	for _, s := range specs {
		work <- s
	}
	close(work)
	wg.Wait()
	return out, nil
}

// Random builds a seeded random bf16 model of configuration cfg on be, for
// benchmarks and tests without files.
func Random(cfg *Config, seed uint64, be kernels.Backend) (*Model, error) {
	src, err := RandomCheckpoint(cfg, seed, dtype.BF16)
	if err != nil {
		return nil, err
	}
	return New(cfg, src, be)
}
