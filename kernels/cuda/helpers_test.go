package cuda

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"unsafe"

	"github.com/sambaeval/sambaeval/dtype"
	"github.com/sambaeval/sambaeval/kernels"
	"github.com/sambaeval/sambaeval/kernels/cpu"
)

// The GPU backends are opened once per mode and shared by the tests.
var (
	gpuMu    sync.Mutex
	gpuOpen  = map[bool]*Backend{}
	gpuError = map[bool]error{}
)

func TestMain(m *testing.M) {
	code := m.Run()
	for _, b := range gpuOpen {
		if b == nil {
			continue
		}
		if err := b.Close(); err != nil && code == 0 {
			fmt.Fprintln(os.Stderr, "closing the GPU backend:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// gpu returns the shared backend of a mode, skipping the test when the
// machine has no GPU and failing it when the GPU cannot be opened.
func gpu(t testing.TB, fp32 bool) *Backend {
	t.Helper()
	gpuMu.Lock()
	defer gpuMu.Unlock()
	b, err := gpuOpen[fp32], gpuError[fp32]
	if b == nil && err == nil {
		b, err = New(Options{FP32: fp32})
		gpuOpen[fp32], gpuError[fp32] = b, err
		if err == nil {
			t.Logf("opened %s (kernels compiled now: %v)", b.Name(), b.compiled)
		}
	}
	if errors.Is(err, ErrUnavailable) {
		t.Skipf("no GPU: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// modes runs f for the bf16 and fp32 modes as subtests.
func modes(t *testing.T, f func(t *testing.T, g *Backend)) {
	for _, fp32 := range []bool{false, true} {
		name := "bf16"
		if fp32 {
			name = "fp32"
		}
		t.Run(name, func(t *testing.T) { f(t, gpu(t, fp32)) })
	}
}

// twin is one matrix held by the CPU reference and the GPU backend with the
// same contents. Views are offset by a row and pad columns so that the
// kernels see a non-zero offset and a stride larger than the width.
type twin struct {
	c, g kernels.Mat
}

func newTwin(cb *cpu.Backend, g *Backend, rows, cols, pad int, vals []float32) twin {
	w := cols + pad
	host := make([]float32, (rows+1)*w)
	for r := 0; r < rows; r++ {
		copy(host[(r+1)*w+pad:(r+1)*w+pad+cols], vals[r*cols:(r+1)*cols])
	}
	view := func(b kernels.Backend) kernels.Mat {
		buf := b.Alloc(len(host))
		b.Write(buf, 0, host)
		return kernels.NewMat(buf, rows+1, w).RowSlice(1, rows+1).ColSlice(pad, pad+cols)
	}
	return twin{c: view(cb), g: view(g)}
}

// scanDecay returns n values of Mamba's A = -exp(A_log), A_log standard
// normal.
func scanDecay(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = -float32(math.Exp(r.NormFloat64()))
	}
	return v
}

// randn returns n normal values times scale.
func randn(r *rand.Rand, n int, scale float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64() * scale)
	}
	return v
}

// readMat returns the rows of m from backend b.
func readMat(b kernels.Backend, m kernels.Mat) []float32 {
	all := make([]float32, m.Buf.Len())
	b.Read(all, m.Buf, 0)
	out := make([]float32, 0, m.Rows*m.Cols)
	for r := 0; r < m.Rows; r++ {
		o := m.Off + r*m.Stride
		out = append(out, all[o:o+m.Cols]...)
	}
	return out
}

func readBuf(b kernels.Backend, x kernels.Buffer) []float32 {
	out := make([]float32, x.Len())
	b.Read(out, x, 0)
	return out
}

// closeEnough compares got with want normwise: the largest absolute
// difference over the largest magnitude of want must not exceed tol.
func closeEnough(got, want []float32, tol float64) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d values, want %d", len(got), len(want))
	}
	var maxDiff, maxRef float64
	worst := -1
	for i := range want {
		g, w := float64(got[i]), float64(want[i])
		if math.IsNaN(g) != math.IsNaN(w) || math.IsInf(g, 0) != math.IsInf(w, 0) {
			return fmt.Errorf("element %d: got %v, want %v", i, g, w)
		}
		maxRef = math.Max(maxRef, math.Abs(w))
		if d := math.Abs(g - w); d > maxDiff {
			maxDiff, worst = d, i
		}
	}
	if maxDiff > tol*math.Max(maxRef, 1e-30) {
		return fmt.Errorf("max |diff| %.3g at %d (got %v, want %v) exceeds %.1g × max |want| %.3g", maxDiff, worst, got[worst], want[worst], tol, maxRef)
	}
	return nil
}

// weightBytes encodes vals in dt, little-endian.
func weightBytes(dt dtype.DType, vals []float32) []byte {
	out := make([]byte, len(vals)*dt.Size())
	for i, v := range vals {
		switch dt {
		case dtype.F32:
			binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(v))
		case dtype.BF16:
			binary.LittleEndian.PutUint16(out[2*i:], dtype.F32ToBF16(v))
		case dtype.F16:
			binary.LittleEndian.PutUint16(out[2*i:], dtype.F32ToF16(v))
		}
	}
	return out
}

// roundTo rounds vals to dt and back, as the GPU's bf16 mode rounds
// activations before a product.
func roundTo(dt dtype.DType, vals []float32) []float32 {
	out := make([]float32, len(vals))
	for i, v := range vals {
		switch dt {
		case dtype.BF16:
			out[i] = dtype.BF16ToF32(dtype.F32ToBF16(v))
		case dtype.F16:
			out[i] = dtype.F16ToF32(dtype.F32ToF16(v))
		default:
			out[i] = v
		}
	}
	return out
}

// loadTestModule compiles src (a benchmark's own kernels, not the
// backend's) for g's device, loads it and registers the kernels names
// with g so that g.launch runs them; the returned function unregisters
// them and unloads the module.
func loadTestModule(t *testing.T, g *Backend, src string, names ...string) func() {
	t.Helper()
	cubin, err := g.nv.compile(src, g.cc, nil)
	if err != nil {
		t.Fatal(err)
	}
	var mod uintptr
	func() {
		defer g.enter()()
		g.must("cuModuleLoadData", call(g.d.cuModuleLoadData, uintptr(unsafe.Pointer(&mod)), uintptr(unsafe.Pointer(&cubin[0]))))
		for _, n := range names {
			var f uintptr
			cn := cstring(n)
			g.must("cuModuleGetFunction", call(g.d.cuModuleGetFunction, uintptr(unsafe.Pointer(&f)), mod, uintptr(unsafe.Pointer(&cn[0]))))
			g.fn[n] = f
		}
	}()
	return func() {
		defer g.enter()()
		for _, n := range names {
			delete(g.fn, n)
			delete(g.dynShared, n)
		}
		call(g.d.cuModuleUnload, mod)
	}
}
