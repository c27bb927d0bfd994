package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"
)

// ulps returns the distance between float32 values in units in the last
// place (0 for equal values, including two zeros).
func ulps(a, b float32) float64 {
	if a == b {
		return 0
	}
	ia, ib := int64(math.Float32bits(a)), int64(math.Float32bits(b))
	if ia < 0 {
		ia = math.MinInt32 - ia
	}
	if ib < 0 {
		ib = math.MinInt32 - ib
	}
	return math.Abs(float64(ia - ib))
}

// kernelSets returns the vector implementations this machine runs.
func kernelSets(t *testing.T) []*kernelSet {
	var ks []*kernelSet
	for _, b := range fastBackends(t, 1) {
		ks = append(ks, b.k)
	}
	return ks
}

// expInputs covers the float32 range of exp densely near 0 and at the
// over- and underflow edges.
func expInputs(rng *rand.Rand) []float32 {
	xs := []float32{0, -0, 1, -1, 0.5, 88.72, 88.7228, 88.73, 89, 100, -87.33, -87.34, -100, -103.9, -104, -110, float32(math.Inf(1)), float32(math.Inf(-1)), 1e-30, -1e-30}
	for i := 0; i < 20000; i++ {
		xs = append(xs, (2*rng.Float32()-1)*105)
	}
	for i := 0; i < 20000; i++ {
		xs = append(xs, (2*rng.Float32()-1)*2)
	}
	return xs
}

// TestExpAccuracy bounds exp's error against math.Exp: at most 2 ulp for
// normal results, and at most one unit of the smallest subnormal below.
func TestExpAccuracy(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	xs := expInputs(rng)
	for _, k := range kernelSets(t) {
		got := make([]float32, len(xs))
		k.exp(got, xs)
		worst := 0.0
		for i, x := range xs {
			want := float32(math.Exp(float64(x)))
			if math.IsInf(float64(want), 1) {
				if !math.IsInf(float64(got[i]), 1) {
					t.Errorf("%s: exp(%g) = %g, want +Inf", k.name, x, got[i])
				}
				continue
			}
			u := ulps(got[i], want)
			if want < 0x1p-126 {
				if u > 1 {
					t.Errorf("%s: exp(%g) = %g, want %g (subnormal)", k.name, x, got[i], want)
				}
				continue
			}
			worst = max(worst, u)
			if u > 2 {
				t.Errorf("%s: exp(%g) = %g, want %g (%v ulp)", k.name, x, got[i], want, u)
			}
		}
		t.Logf("%s: worst exp error %v ulp", k.name, worst)
		nan := []float32{float32(math.NaN())}
		k.exp(nan, nan)
		if !math.IsNaN(float64(nan[0])) {
			t.Errorf("%s: exp(NaN) = %g", k.name, nan[0])
		}
	}
}

// TestVectorKernels checks the element-wise kernels against the
// reference formulas (float64 math rounded to float32) at lengths that
// exercise every tail.
func TestVectorKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	for _, k := range kernelSets(t) {
		for _, n := range []int{1, 3, 7, 8, 9, 31, 32, 33, 100, 257} {
			x := make([]float32, n)
			y := make([]float32, n)
			w := make([]float32, n)
			for i := range x {
				x[i] = (2*rng.Float32() - 1) * 30
				y[i] = 2*rng.Float32() - 1
				w[i] = 2*rng.Float32() - 1
			}
			// Canaries after each output check that tails stay inside.
			out := make([]float32, n+8)
			for i := range out {
				out[i] = 42
			}
			k.swiglu(out[:n], x, y)
			for i := range x {
				want := silu(x[i]) * y[i]
				if d := math.Abs(float64(out[i] - want)); d > 4e-7*math.Abs(float64(want))+1e-30 {
					t.Errorf("%s n=%d: swiglu[%d] = %g, want %g", k.name, n, i, out[i], want)
				}
			}
			if out[n] != 42 {
				t.Errorf("%s n=%d: swiglu wrote past the end", k.name, n)
			}

			var ss float64
			for _, v := range y {
				ss += float64(v) * float64(v)
			}
			if got := k.sumSquares(y); math.Abs(float64(got)-ss) > 1e-6*ss {
				t.Errorf("%s n=%d: sumSquares = %g, want %g", k.name, n, got, ss)
			}

			k.scaleMul(out[:n], x, w, 0.37)
			for i := range x {
				if want := x[i] * 0.37 * w[i]; out[i] != want {
					t.Errorf("%s n=%d: scaleMul[%d] = %g, want %g", k.name, n, i, out[i], want)
				}
			}

			sum := append([]float32(nil), x...)
			k.add(sum, y)
			for i := range x {
				if want := x[i] + y[i]; sum[i] != want {
					t.Errorf("%s n=%d: add[%d] = %g, want %g", k.name, n, i, sum[i], want)
				}
			}

			mx := float32(math.Inf(-1))
			for _, v := range x {
				mx = max(mx, v)
			}
			if got := k.max(x); got != mx {
				t.Errorf("%s n=%d: max = %g, want %g", k.name, n, got, mx)
			}
			var se float64
			for _, v := range x {
				se += math.Exp(float64(v) - float64(mx))
			}
			if got := k.sumExp(x, mx); math.Abs(got-se) > 3e-7*se {
				t.Errorf("%s n=%d: sumExp = %g, want %g", k.name, n, got, se)
			}

			// Causal convolution taps.
			taps := make([]float32, 4*n)
			bias := make([]float32, n)
			for i := range taps {
				taps[i] = 2*rng.Float32() - 1
			}
			for i := range bias {
				bias[i] = rng.Float32()
			}
			k.convSiLU(out[:n], x, y, w, x, taps, bias)
			for e := 0; e < n; e++ {
				c := float64(bias[e]) + float64(taps[e])*float64(x[e]) + float64(taps[n+e])*float64(y[e]) + float64(taps[2*n+e])*float64(w[e]) + float64(taps[3*n+e])*float64(x[e])
				want := c / (1 + math.Exp(-c))
				if d := math.Abs(float64(out[e]) - want); d > 1e-5*(1+math.Abs(want)) {
					t.Errorf("%s n=%d: convSiLU[%d] = %g, want %g", k.name, n, e, out[e], want)
				}
			}
			if out[n] != 42 {
				t.Errorf("%s n=%d: convSiLU wrote past the end", k.name, n)
			}
		}
	}
}

// TestSoftplus compares the vectorized softplus used by the scan with the
// reference over the range Δ takes and beyond the threshold of 20.
func TestSoftplus(t *testing.T) {
	worst := 0.0
	for x := float32(-30); x < 30; x += 0.0137 {
		want := softplus(x)
		got := softplusGo(x)
		u := ulps(got, want)
		worst = max(worst, u)
		if u > 3 {
			t.Errorf("softplus(%g) = %g, want %g (%v ulp)", x, got, want, u)
		}
	}
	t.Logf("worst softplus error %v ulp", worst)
}

// TestSoftmaxRow checks the masked exponentials and their sum.
func TestSoftmaxRow(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	for _, k := range kernelSets(t) {
		for _, c := range []struct{ n, lo, hi int }{{8, 0, 7}, {16, 3, 12}, {24, 9, 9}, {64, 0, 40}, {40, 33, 39}} {
			p := make([]float32, c.n)
			for i := range p {
				p[i] = (2*rng.Float32() - 1) * 10
			}
			orig := append([]float32(nil), p...)
			const scale = 0.125
			m := float32(math.Inf(-1))
			for i := c.lo; i <= c.hi; i++ {
				m = max(m, orig[i]*scale)
			}
			l := k.softmaxRow(p, c.lo, c.hi, scale, m)
			var want float64
			for i := range p {
				if i < c.lo || i > c.hi {
					if p[i] != 0 {
						t.Errorf("%s %v: p[%d] = %g outside the range", k.name, c, i, p[i])
					}
					continue
				}
				e := math.Exp(float64(orig[i]*scale - m))
				want += e
				if math.Abs(float64(p[i])-e) > 2.5e-7*e {
					t.Errorf("%s %v: p[%d] = %g, want %g", k.name, c, i, p[i], e)
				}
			}
			if math.Abs(float64(l)-want) > 1e-6*want {
				t.Errorf("%s %v: sum %g, want %g", k.name, c, l, want)
			}
		}
	}
}

// TestScanTile runs one 8-channel tile of the scan against a float64
// evaluation of the recurrence.
func TestScanTile(t *testing.T) {
	const steps, N = 37, 16
	rng := rand.New(rand.NewPCG(4, 4))
	for _, k := range kernelSets(t) {
		// u, delta, z, dst share one buffer with different strides.
		u := make([]float32, steps*11)
		delta := make([]float32, steps*9)
		z := make([]float32, steps*10)
		dst := make([]float32, steps*12)
		bc := make([]float32, steps*40)
		for _, s := range [][]float32{u, z, bc} {
			for i := range s {
				s[i] = 2*rng.Float32() - 1
			}
		}
		for i := range delta {
			delta[i] = rng.Float32()*6 - 4
		}
		var state, a [N * 8]float32
		var bias, d [8]float32
		for i := range a {
			a[i] = -float32(i/8+1) * (0.5 + rng.Float32())
			state[i] = rng.Float32()
		}
		for i := range bias {
			bias[i], d[i] = rng.Float32()-0.5, rng.Float32()
		}
		want := make([][8]float64, steps)
		s64 := make([]float64, N*8)
		for i, v := range state {
			s64[i] = float64(v)
		}
		for tt := 0; tt < steps; tt++ {
			for l := 0; l < 8; l++ {
				x := float64(delta[tt*9+l] + bias[l])
				dt := math.Log1p(math.Exp(x))
				uu := float64(u[tt*11+l])
				var y float64
				for n := 0; n < N; n++ {
					s64[8*n+l] = math.Exp(dt*float64(a[8*n+l]))*s64[8*n+l] + dt*uu*float64(bc[tt*40+n])
					y += s64[8*n+l] * float64(bc[tt*40+N+n])
				}
				y += float64(d[l]) * uu
				zz := float64(z[tt*10+l])
				want[tt][l] = y * zz / (1 + math.Exp(-zz))
			}
		}
		args := scanArgs{
			steps: steps, n: N,
			u: unsafe.Pointer(&u[0]), delta: unsafe.Pointer(&delta[0]), z: unsafe.Pointer(&z[0]), dst: unsafe.Pointer(&dst[0]),
			us: 44, ds: 36, zs: 40, ys: 48,
			b: unsafe.Pointer(&bc[0]), c: unsafe.Pointer(&bc[N]), bs: 160, cs: 160,
			state: unsafe.Pointer(&state[0]), a: unsafe.Pointer(&a[0]),
			bias: unsafe.Pointer(&bias[0]), d: unsafe.Pointer(&d[0]),
		}
		k.scan(&args)
		for tt := 0; tt < steps; tt++ {
			for l := 0; l < 8; l++ {
				got, w := float64(dst[tt*12+l]), want[tt][l]
				if math.Abs(got-w) > 1e-5*(1+math.Abs(w)) {
					t.Errorf("%s: y[%d][%d] = %g, want %g", k.name, tt, l, got, w)
				}
			}
		}
		for i := range state {
			if math.Abs(float64(state[i])-s64[i]) > 1e-5*(1+math.Abs(s64[i])) {
				t.Errorf("%s: state[%d] = %g, want %g", k.name, i, state[i], s64[i])
			}
		}
	}
}
