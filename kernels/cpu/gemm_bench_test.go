package cpu_test

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"

	"github.com/sambaeval/sambaeval/dtype"
	"github.com/sambaeval/sambaeval/internal/cputime"
	"github.com/sambaeval/sambaeval/kernels"
	"github.com/sambaeval/sambaeval/kernels/cpu"
	"github.com/sambaeval/sambaeval/model"
)

// benchTokens is the number of rows (tokens) of the benchmarked products.
const benchTokens = 512

// layerShape is one weight matrix of a model: [N, K] = [out, in].
type layerShape struct {
	name string
	N, K int
	M    int // rows of x as the model uses it
}

// layerShapes lists the distinct weight shapes of a named configuration.
func layerShapes(tb testing.TB, name string) []layerShape {
	c, err := model.Named(name)
	if err != nil {
		tb.Fatal(err)
	}
	D, E, R, N, F := c.NEmbd, c.DInner(), c.MambaDtRank, c.MambaDState, c.IntermediateSize
	return []layerShape{
		{"in_proj", 2 * E, D, benchTokens},
		{"x_proj", R + 2*N, E, benchTokens},
		{"dt_proj", E, R, benchTokens},
		{"out_proj", D, E, benchTokens},
		{"qkv", c.QKVRows(), D, benchTokens},
		{"attn_proj", D, c.NHead * c.HeadSize, benchTokens},
		{"w1_w2", F, D, benchTokens},
		{"w3", D, F, benchTokens},
		{"head", c.PaddedVocabSize, D, 64}, // scoring multiplies 64 rows at a time
	}
}

func benchWeight(b *testing.B, be kernels.Backend, dt dtype.DType, rows, cols int, rng *rand.Rand) (kernels.Weight, []float32) {
	vals := make([]float32, rows*cols)
	raw := make([]byte, rows*cols*dt.Size())
	for i := range vals {
		v := (2*rng.Float32() - 1) * 0.05
		switch dt {
		case dtype.BF16:
			h := dtype.F32ToBF16(v)
			binary.LittleEndian.PutUint16(raw[2*i:], h)
		case dtype.F16:
			binary.LittleEndian.PutUint16(raw[2*i:], dtype.F32ToF16(v))
		default:
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
		}
		vals[i] = v
	}
	w, err := be.LoadWeight(dt, rows, cols, raw)
	if err != nil {
		b.Fatal(err)
	}
	return w, vals
}

// BenchmarkGEMM measures MatMul at the layer shapes of three Samba sizes
// with 512 tokens, for each weight type, beside gonum's Sgemm (float32,
// all cores) on the same shapes. The GFLOP/s metric counts 2·M·N·K per
// second of wall time; GFLOP/cpu-s divides by the process's CPU time
// instead and multiplies by the number of workers, which is what the run
// would reach on otherwise idle cores (an upper bound).
func BenchmarkGEMM(b *testing.B) {
	for _, cfg := range []string{"Samba_421M", "Samba_1.3B", "Samba_3.8B"} {
		for _, sh := range layerShapes(b, cfg) {
			flops := 2 * float64(sh.M) * float64(sh.N) * float64(sh.K)
			prefix := fmt.Sprintf("%s/%s_%dx%dx%d", cfg, sh.name, sh.M, sh.N, sh.K)
			for _, impl := range []cpu.Impl{cpu.ImplAVX2, cpu.ImplGeneric} {
				be, err := cpu.NewWithOptions(cpu.Options{Impl: impl})
				if err != nil {
					continue
				}
				for _, dt := range []dtype.DType{dtype.BF16, dtype.F16, dtype.F32} {
					if impl == cpu.ImplGeneric && dt != dtype.BF16 {
						continue
					}
					b.Run(fmt.Sprintf("%s/%s-%s", prefix, impl, dt), func(b *testing.B) {
						rng := rand.New(rand.NewPCG(1, 2))
						w, _ := benchWeight(b, be, dt, sh.N, sh.K, rng)
						x := kernels.NewMat(be.Alloc(sh.M*sh.K), sh.M, sh.K)
						xs := make([]float32, sh.M*sh.K)
						for i := range xs {
							xs[i] = 2*rng.Float32() - 1
						}
						be.Write(x.Buf, 0, xs)
						dst := kernels.NewMat(be.Alloc(sh.M*sh.N), sh.M, sh.N)
						be.MatMul(dst, x, w, false)
						c0 := cputime.Process()
						b.ResetTimer()
						for b.Loop() {
							be.MatMul(dst, x, w, false)
						}
						b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
						// The rate per CPU-second times the workers: what the
						// cores would give without other processes.
						cpuSec := (cputime.Process() - c0).Seconds()
						b.ReportMetric(flops*float64(b.N)/cpuSec*float64(be.Threads())/1e9, "GFLOP/cpu-s")
					})
				}
			}
			b.Run(prefix+"/gonum-f32", func(b *testing.B) {
				rng := rand.New(rand.NewPCG(1, 2))
				wd := make([]float32, sh.N*sh.K)
				xd := make([]float32, sh.M*sh.K)
				for i := range wd {
					wd[i] = (2*rng.Float32() - 1) * 0.05
				}
				for i := range xd {
					xd[i] = 2*rng.Float32() - 1
				}
				x := blas32.General{Rows: sh.M, Cols: sh.K, Stride: sh.K, Data: xd}
				w := blas32.General{Rows: sh.N, Cols: sh.K, Stride: sh.K, Data: wd}
				c := blas32.General{Rows: sh.M, Cols: sh.N, Stride: sh.N, Data: make([]float32, sh.M*sh.N)}
				c0 := cputime.Process()
				b.ResetTimer()
				for b.Loop() {
					blas32.Gemm(blas.NoTrans, blas.Trans, 1, x, w, 0, c)
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				cpuSec := (cputime.Process() - c0).Seconds()
				b.ReportMetric(flops*float64(b.N)/cpuSec*float64(runtime.GOMAXPROCS(0))/1e9, "GFLOP/cpu-s")
			})
		}
	}
}

// BenchmarkPeak reports the machine's measured clock and FMA throughput.
func BenchmarkPeak(b *testing.B) {
	var p cpu.Peak
	for b.Loop() {
		p = cpu.MeasurePeak()
	}
	b.ReportMetric(p.ClockGHz, "GHz")
	b.ReportMetric(p.TheoreticalGFLOPS, "peak-GFLOP/s")
	b.ReportMetric(p.FMAGFLOPS, "fma-GFLOP/s")
}
