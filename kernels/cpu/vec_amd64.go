package cpu

// Declarations of the vector kernels in vec_amd64.s and their slice
// wrappers; vec_generic.go documents what each computes.

//go:noescape
func expAVX(dst, src *float32, n int)

//go:noescape
func swigluAVX(dst, gate, u *float32, n int)

//go:noescape
func sumSquaresAVX(x *float32, n int) float32

//go:noescape
func scaleMulAVX(dst, x, w *float32, s float32, n int)

//go:noescape
func addAVX(dst, x *float32, n int)

//go:noescape
func maxAVX(x *float32, n int) float32

//go:noescape
func sumExpAVX(x *float32, n int, m float32) float64

//go:noescape
func convSiLUAVX(dst, x0, x1, x2, x3, w, bias *float32, n int)

//go:noescape
func scanAVX(a *scanArgs)

//go:noescape
func softmaxRowAVX(p *float32, n8, lo, hi int, scale, m float32) float32

func init() {
	k := avx2Kernels
	k.exp = func(dst, src []float32) {
		if n := len(src); n > 0 {
			_ = dst[n-1]
			expAVX(&dst[0], &src[0], n)
		}
	}
	k.swiglu = func(dst, g, u []float32) {
		if n := len(g); n > 0 {
			_, _ = dst[n-1], u[n-1]
			swigluAVX(&dst[0], &g[0], &u[0], n)
		}
	}
	k.sumSquares = func(x []float32) float32 {
		if len(x) == 0 {
			return 0
		}
		return sumSquaresAVX(&x[0], len(x))
	}
	k.scaleMul = func(dst, x, w []float32, s float32) {
		if n := len(x); n > 0 {
			_, _ = dst[n-1], w[n-1]
			scaleMulAVX(&dst[0], &x[0], &w[0], s, n)
		}
	}
	k.add = func(dst, x []float32) {
		if n := len(x); n > 0 {
			_ = dst[n-1]
			addAVX(&dst[0], &x[0], n)
		}
	}
	k.max = func(x []float32) float32 { return maxAVX(&x[0], len(x)) }
	k.sumExp = func(x []float32, m float32) float64 {
		if len(x) == 0 {
			return 0
		}
		return sumExpAVX(&x[0], len(x), m)
	}
	k.convSiLU = func(dst, x0, x1, x2, x3, w, bias []float32) {
		if n := len(dst); n > 0 {
			_, _, _, _, _, _ = x0[n-1], x1[n-1], x2[n-1], x3[n-1], w[4*n-1], bias[n-1]
			convSiLUAVX(&dst[0], &x0[0], &x1[0], &x2[0], &x3[0], &w[0], &bias[0], n)
		}
	}
	k.scan = scanAVX
	k.softmaxRow = func(p []float32, lo, hi int, scale, m float32) float32 {
		if len(p)%8 != 0 {
			panic("cpu: softmaxRow needs a multiple of 8 scores")
		}
		if len(p) == 0 {
			return 0
		}
		return softmaxRowAVX(&p[0], len(p), lo, hi, scale, m)
	}
}
