package cpu

import (
	"math"
	"testing"

	"github.com/sambaeval/sambaeval/kernels"
)

// mat makes a rows×cols matrix holding vals, viewed with a row offset and a
// stride wider than cols so that the kernels must honour both.
func mat(b *Backend, rows, cols int, vals []float32) kernels.Mat {
	const pad = 3
	buf := b.Alloc((rows + 1) * (cols + pad))
	m := kernels.NewMat(buf, rows+1, cols+pad).RowSlice(1, rows+1).ColSlice(pad, pad+cols)
	for r := 0; r < rows; r++ {
		copy(row(m, r), vals[r*cols:(r+1)*cols])
	}
	return m
}

func values(m kernels.Mat) []float32 {
	var out []float32
	for r := 0; r < m.Rows; r++ {
		out = append(out, row(m, r)...)
	}
	return out
}

func near(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > tol {
			t.Fatalf("%s: element %d = %v, want %v", what, i, got[i], want[i])
		}
	}
}

func TestLayerNorm(t *testing.T) {
	b := NewReference()
	s := float32(1 / math.Sqrt(1.25)) // x = 1, 2, 3, 4: mean 2.5, biased variance 1.25
	cases := []struct {
		name     string
		x, w, bi []float32
		eps      float32
		want     []float32
	}{
		{"unit", []float32{1, 2, 3, 4}, []float32{1, 1, 1, 1}, []float32{0, 0, 0, 0}, 0,
			[]float32{-1.5 * s, -0.5 * s, 0.5 * s, 1.5 * s}},
		{"weight and bias", []float32{4, 3, 2, 1}, []float32{2, 1, 0, -1}, []float32{1, 0, 5, 0.5}, 0,
			[]float32{2*1.5*s + 1, 0.5 * s, 5, 1.5*s + 0.5}},
		{"eps", []float32{1, -1}, []float32{1, 1}, []float32{0, 0}, 3, []float32{0.5, -0.5}}, // var 1: 1/sqrt(1+3)
		{"constant row", []float32{7, 7, 7}, []float32{1, 1, 1}, []float32{0.25, 0, -1}, 1e-5, []float32{0.25, 0, -1}},
	}
	for _, c := range cases {
		n := len(c.x)
		x := mat(b, 2, n, append(append([]float32{}, c.x...), c.x...)) // two equal rows
		dst := mat(b, 2, n, make([]float32, 2*n))
		b.LayerNorm(dst, x, mat(b, 1, n, c.w), mat(b, 1, n, c.bi), c.eps)
		near(t, c.name, values(dst), append(append([]float32{}, c.want...), c.want...), 1e-6)
		b.LayerNorm(x, x, mat(b, 1, n, c.w), mat(b, 1, n, c.bi), c.eps) // in place
		near(t, c.name+" in place", values(x), values(dst), 0)
	}
}

func TestAddBiasAddScaled(t *testing.T) {
	b := NewReference()
	dst := mat(b, 2, 3, []float32{1, 2, 3, 4, 5, 6})
	b.AddBias(dst, mat(b, 1, 3, []float32{10, 20, 30}))
	near(t, "AddBias", values(dst), []float32{11, 22, 33, 14, 25, 36}, 0)
	b.AddScaled(dst, mat(b, 2, 3, []float32{1, 2, 3, -1, -2, -3}), -0.5)
	near(t, "AddScaled", values(dst), []float32{10.5, 21, 31.5, 14.5, 26, 37.5}, 0)
	b.AddScaled(dst.ColSlice(1, 2), dst.ColSlice(0, 1), 2) // column views
	near(t, "AddScaled on views", values(dst), []float32{10.5, 42, 31.5, 14.5, 55, 37.5}, 0)
}

// TestSelectiveScanUngated checks the scan without z: one step from a zero
// state against its closed form, and the ungated output gated afterwards
// against the gated scan, bit for bit.
func TestSelectiveScanUngated(t *testing.T) {
	b := NewReference()
	const E, N, T = 3, 2, 5
	vals := func(n int, f func(i int) float32) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = f(i)
		}
		return v
	}
	u := mat(b, T, E, vals(T*E, func(i int) float32 { return float32(math.Sin(float64(i))) }))
	delta := mat(b, T, E, vals(T*E, func(i int) float32 { return float32(math.Cos(float64(i))) }))
	B := mat(b, T, N, vals(T*N, func(i int) float32 { return 0.5 + float32(i%3) }))
	C := mat(b, T, N, vals(T*N, func(i int) float32 { return 1 - 0.25*float32(i%4) }))
	z := mat(b, T, E, vals(T*E, func(i int) float32 { return float32(i%5) - 2 }))
	p := kernels.ScanParams{
		A:         mat(b, E, N, vals(E*N, func(i int) float32 { return -float32(i + 1) })),
		D:         mat(b, 1, E, []float32{0.5, 1, 2}),
		DeltaBias: mat(b, 1, E, []float32{0, -1, 1}),
	}
	seqs := []kernels.Seq{{Row: 0, Len: T}}
	newState := func() []*kernels.MambaState {
		return []*kernels.MambaState{{Conv: b.Alloc(E), SSM: b.Alloc(E * N)}}
	}
	y := mat(b, T, E, make([]float32, T*E))
	b.SelectiveScan(y, u, delta, B, C, kernels.Mat{}, p, newState(), seqs)
	for e := 0; e < E; e++ {
		dt := softplus(row(delta, 0)[e] + row(p.DeltaBias, 0)[e])
		var want float32
		for n := 0; n < N; n++ {
			want += dt * row(u, 0)[e] * row(B, 0)[n] * row(C, 0)[n]
		}
		want += row(p.D, 0)[e] * row(u, 0)[e]
		if got := row(y, 0)[e]; math.Abs(float64(got-want)) > 1e-6 {
			t.Errorf("channel %d, first step: %v, want %v", e, got, want)
		}
	}
	gated := mat(b, T, E, make([]float32, T*E))
	b.SelectiveScan(gated, u, delta, B, C, z, p, newState(), seqs)
	b.SwiGLU(y, z, y)
	near(t, "ungated y ⊙ SiLU(z)", values(y), values(gated), 0)
}

// TestUngatedScanOnEveryBackend checks that the default backend, whose fast
// scan kernels always gate, runs the ungated scan as the reference does.
func TestUngatedScanOnEveryBackend(t *testing.T) {
	ref, fast := NewReference(), New()
	const E, N, T = 20, 16, 9 // a partial tile of channels
	run := func(b *Backend) []float32 {
		v := func(n int, f float64) []float32 {
			out := make([]float32, n)
			for i := range out {
				out[i] = float32(math.Sin(f * float64(i+1)))
			}
			return out
		}
		a := v(E*N, 0.37)
		for i := range a {
			a[i] = -1 - a[i]*a[i]
		}
		y := mat(b, T, E, make([]float32, T*E))
		p := kernels.ScanParams{A: mat(b, E, N, a), D: mat(b, 1, E, v(E, 0.11)), DeltaBias: mat(b, 1, E, v(E, 0.23))}
		st := []*kernels.MambaState{{Conv: b.Alloc(1), SSM: b.Alloc(E * N)}}
		b.SelectiveScan(y, mat(b, T, E, v(T*E, 0.5)), mat(b, T, E, v(T*E, 0.7)), mat(b, T, N, v(T*N, 0.9)),
			mat(b, T, N, v(T*N, 1.3)), kernels.Mat{}, p, st, []kernels.Seq{{Row: 0, Len: T}})
		return append(values(y), data(st[0].SSM)...)
	}
	near(t, "default backend against the reference", run(fast), run(ref), 0)
}
