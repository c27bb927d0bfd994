package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sambaeval/sambaeval/dtype"
	"github.com/sambaeval/sambaeval/kernels"
)

var gemmShapes = []struct{ M, N, K int }{
	{1, 1, 1},
	{1, 16, 8},
	{1, 37, 300},
	{1, 600, 1100}, // decoding: four-panel kernel, column blocks, long k
	{2, 5, 7},
	{5, 33, 17},
	{6, 16, 256},
	{7, 48, 257},
	{13, 100, 513},
	{64, 129, 96},
	{97, 530, 40},   // two column blocks, partial panel
	{200, 20, 1030}, // few columns: rows are split between workers
	{3, 70, 0},
}

// TestMatMulMatchesReference compares the fast paths with the reference
// on odd shapes, strided views, all weight types, with and without
// accumulation. The tolerance is the textbook bound for a float32 dot
// product, K·2⁻²⁴·Σ|x·w|, doubled for the two orders of summation.
func TestMatMulMatchesReference(t *testing.T) {
	ref := NewReference()
	for _, fast := range fastBackends(t, 0) {
		for _, dt := range []dtype.DType{dtype.BF16, dtype.F16, dtype.F32} {
			for _, sh := range gemmShapes {
				for _, acc := range []bool{false, true} {
					name := fmt.Sprintf("%s/%s/%dx%dx%d/acc=%v", fast.impl, dt, sh.M, sh.N, sh.K, acc)
					t.Run(name, func(t *testing.T) {
						rng := rand.New(rand.NewPCG(uint64(sh.M*1000003+sh.N*1009+sh.K), uint64(dt)))
						w, wv := randWeight(t, rng, fast, dt, sh.N, sh.K, 1)
						x := randMat(rng, fast, sh.M, sh.K, 3, 1)
						d0 := randMat(rng, fast, sh.M, sh.N, 2, 4)
						want, got := copyMat(ref, d0), copyMat(fast, d0)
						ref.MatMul(want, x, w, acc)
						fast.MatMul(got, x, w, acc)
						wr, gr := matRows(want), matRows(got)
						for m := range wr {
							xr := row(x, m)
							for n := range wr[m] {
								var bound float64
								for k, v := range xr {
									bound += math.Abs(float64(v) * float64(wv[n*sh.K+k]))
								}
								if acc {
									bound += math.Abs(float64(row(d0, m)[n]))
								}
								tol := 2*float64(sh.K+1)*0x1p-24*bound + 1e-30
								if d := math.Abs(float64(gr[m][n]) - float64(wr[m][n])); d > tol {
									t.Fatalf("dst[%d][%d] = %g, reference %g (|diff| %g > %g)", m, n, gr[m][n], wr[m][n], d, tol)
								}
							}
						}
						// Columns outside the view are untouched.
						full := kernels.Mat{Buf: got.Buf, Rows: sh.M, Cols: got.Stride, Stride: got.Stride}
						orig := kernels.Mat{Buf: d0.Buf, Rows: sh.M, Cols: d0.Stride, Stride: d0.Stride}
						for m := 0; m < sh.M; m++ {
							g, o := row(full, m), row(orig, m)
							for c := range g {
								if (c < got.Off || c >= got.Off+sh.N) && g[c] != o[c] {
									t.Fatalf("column %d outside the view changed", c)
								}
							}
						}
					})
				}
			}
		}
	}
}

// TestMatMulBatchInvariant checks bitwise that a row of x·wᵀ comes out the
// same whether it is computed alone on one thread (the decode path) or
// inside batches of many sizes with different neighbours, at several
// thread counts.
func TestMatMulBatchInvariant(t *testing.T) {
	const N, K = 100, 300
	for _, impl := range fastBackends(t, 1) {
		for _, dt := range []dtype.DType{dtype.BF16, dtype.F32} {
			for _, acc := range []bool{false, true} {
				rng := rand.New(rand.NewPCG(7, uint64(dt)))
				w, _ := randWeight(t, rng, impl, dt, N, K, 1)
				probe := randMat(rng, impl, 1, K, 0, 1)
				init := randMat(rng, impl, 1, N, 0, 2)
				alone := copyMat(impl, init)
				impl.MatMul(alone, probe, w, acc)
				want := row(alone, 0)
				for _, threads := range []int{1, 2, 3} {
					be, err := NewWithOptions(Options{Impl: impl.impl, Threads: threads})
					if err != nil {
						t.Fatal(err)
					}
					for _, M := range []int{1, 3, 8, 64, 513} {
						x := randMat(rng, be, M, K, 1, 1)
						dst := randMat(rng, be, M, N, 0, 2)
						at := rng.IntN(M)
						copy(row(x, at), row(probe, 0))
						copy(row(dst, at), row(init, 0))
						be.MatMul(dst, x, w, acc)
						if !sameBits(row(dst, at), want) {
							t.Errorf("%s %s acc=%v threads=%d: row %d of a batch of %d differs from the row alone", impl.impl, dt, acc, threads, at, M)
						}
					}
				}
			}
		}
	}
}
