package cpu

import (
	"math"

	"github.com/sambaeval/sambaeval/kernels"
)

// The operations SambaY (Phi-4-mini-flash-reasoning) adds to the Samba
// set: LayerNorm with a bias, a bias added to every row, and a scaled
// accumulation (differential attention's A1 − λ·A2).

// LayerNorm implements kernels.Backend: mean and biased variance in
// float64, as RMSNorm takes its sum of squares.
func (b *Backend) LayerNorm(dst, x, w, bias kernels.Mat, eps float32) {
	wt, bt := row(w, 0), row(bias, 0)
	b.parallelFor(x.Rows, 8, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, dr := row(x, r), row(dst, r)
			var sum float64
			for _, v := range xr {
				sum += float64(v)
			}
			mean := sum / float64(len(xr))
			var ss float64
			for _, v := range xr {
				d := float64(v) - mean
				ss += d * d
			}
			scale := 1 / math.Sqrt(ss/float64(len(xr))+float64(eps))
			for i, v := range xr {
				dr[i] = float32((float64(v)-mean)*scale)*wt[i] + bt[i]
			}
		}
	})
}

// AddBias implements kernels.Backend.
func (b *Backend) AddBias(dst, bias kernels.Mat) {
	br := row(bias, 0)
	b.parallelFor(dst.Rows, 8, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			dr := row(dst, r)
			for i, v := range br {
				dr[i] += v
			}
		}
	})
}

// AddScaled implements kernels.Backend.
func (b *Backend) AddScaled(dst, x kernels.Mat, alpha float32) {
	b.parallelFor(x.Rows, 8, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, dr := row(x, r), row(dst, r)
			for i, v := range xr {
				dr[i] += alpha * v
			}
		}
	})
}
