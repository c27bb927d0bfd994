package cpu

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sambaeval/sambaeval/dtype"
	"github.com/sambaeval/sambaeval/kernels"
)

// fastBackends returns the fast implementations this machine runs, with
// the given number of threads (0: GOMAXPROCS).
func fastBackends(t testing.TB, threads int) []*Backend {
	t.Helper()
	var bs []*Backend
	for _, impl := range []Impl{ImplAVX2, ImplGeneric} {
		b, err := NewWithOptions(Options{Impl: impl, Threads: threads})
		if err != nil {
			if impl == ImplAVX2 {
				t.Logf("skipping avx2: %v", err)
				continue
			}
			t.Fatal(err)
		}
		bs = append(bs, b)
	}
	return bs
}

// randMat returns a rows×cols view with random entries in [-scale, scale)
// inside a wider buffer (pad extra columns on the left and right), so that
// the view's stride differs from its width.
func randMat(rng *rand.Rand, be kernels.Backend, rows, cols, pad int, scale float32) kernels.Mat {
	w := cols + 2*pad
	buf := be.Alloc(rows * w)
	v := make([]float32, rows*w)
	for i := range v {
		v[i] = (2*rng.Float32() - 1) * scale
	}
	be.Write(buf, 0, v)
	return kernels.NewMat(buf, rows, w).ColSlice(pad, pad+cols)
}

// copyMat makes a new backend matrix with m's contents and layout.
func copyMat(be kernels.Backend, m kernels.Mat) kernels.Mat {
	src := data(m.Buf)
	buf := be.Alloc(len(src))
	be.Write(buf, 0, src)
	m.Buf = buf
	return m
}

// matRows reads m into a dense [][]float32.
func matRows(m kernels.Mat) [][]float32 {
	out := make([][]float32, m.Rows)
	for r := range out {
		out[r] = append([]float32(nil), row(m, r)...)
	}
	return out
}

// randWeight returns a rows×cols weight of type dt with random entries in
// [-scale, scale) and the same values as float32.
func randWeight(t testing.TB, rng *rand.Rand, be kernels.Backend, dt dtype.DType, rows, cols int, scale float32) (kernels.Weight, []float32) {
	t.Helper()
	vals := make([]float32, rows*cols)
	raw := make([]byte, rows*cols*dt.Size())
	for i := range vals {
		v := (2*rng.Float32() - 1) * scale
		switch dt {
		case dtype.F32:
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
		case dtype.BF16:
			h := dtype.F32ToBF16(v)
			binary.LittleEndian.PutUint16(raw[2*i:], h)
			v = dtype.BF16ToF32(h)
		case dtype.F16:
			h := dtype.F32ToF16(v)
			binary.LittleEndian.PutUint16(raw[2*i:], h)
			v = dtype.F16ToF32(h)
		}
		vals[i] = v
	}
	w, err := be.LoadWeight(dt, rows, cols, raw)
	if err != nil {
		t.Fatal(err)
	}
	return w, vals
}

// sameBits reports whether a and b are bitwise equal.
func sameBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}
