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
// checkpoint names and shapes of cfg (those its loader reads), initialised
// as the Samba/Mamba code does: N(0, 0.02) embeddings and projections,
// projections into the residual stream scaled by 1/sqrt(residual branches
// per block · n_layer), A_log = log(1..N), D = 1, Δ bias = softplus⁻¹ of Δ
// drawn log-uniformly in [0.001, 0.1], conv weights uniform(±1/sqrt(K)),
// norm weights 1; SambaY's biases 0 and differential attention's λ vectors
// N(0, 0.1), as ArchScale initialises them. Each tensor's values depend
// only on the seed and its name.
func RandomCheckpoint(cfg *Config, seed uint64, dt dtype.DType) (checkpoint.Map, error) {
	if dt != dtype.F32 && dt != dtype.BF16 && dt != dtype.F16 {
		return nil, fmt.Errorf("random weights: dtype %s not supported", dt)
	}
	specs, err := cfg.tensorSpecs()
	if err != nil {
		return nil, err
	}
	layout, _ := cfg.Blocks()
	N, K, R := cfg.MambaDState, cfg.MambaDConv, cfg.MambaDtRank
	outStd := 0.02 / math.Sqrt(float64(residuals(layout)*cfg.NLayer))
	normal := func(std float64) func(*rand.Rand, int) float64 {
		return func(r *rand.Rand, _ int) float64 { return r.NormFloat64() * std }
	}
	uniform := func(b float64) func(*rand.Rand, int) float64 {
		return func(r *rand.Rand, _ int) float64 { return (2*r.Float64() - 1) * b }
	}
	inits := map[initKind]func(*rand.Rand, int) float64{
		initNormal: normal(0.02),
		initOut:    normal(outStd),
		initOnes:   func(*rand.Rand, int) float64 { return 1 },
		initConv:   uniform(1 / math.Sqrt(float64(K))),
		initDtProj: uniform(1 / math.Sqrt(float64(R))),
		initDtBias: func(r *rand.Rand, _ int) float64 {
			d := math.Exp(r.Float64()*(math.Log(0.1)-math.Log(0.001)) + math.Log(0.001))
			d = math.Max(d, 1e-4)
			return d + math.Log(-math.Expm1(-d)) // softplus⁻¹
		},
		initALog:   func(_ *rand.Rand, i int) float64 { return math.Log(float64(i%N + 1)) },
		initZeros:  func(*rand.Rand, int) float64 { return 0 },
		initLambda: normal(0.1),
	}

	out := checkpoint.Map{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	work := make(chan tensorSpec)
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range work {
				h := fnv.New64a()
				h.Write([]byte(s.name))
				r := rand.New(rand.NewPCG(seed, h.Sum64()))
				t := &checkpoint.Tensor{Name: s.name, DType: dt, Shape: s.shape}
				n := t.Numel()
				t.Data = make([]byte, n*dt.Size())
				init := inits[s.init]
				for i := 0; i < n; i++ {
					v := float32(init(r, i))
					switch dt {
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
