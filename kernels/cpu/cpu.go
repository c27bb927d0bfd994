// Package cpu is the CPU backend: float32 activations in Go slices, weights
// kept in their stored type (usually a view of a memory-mapped file) and
// widened to float32 inside the kernels, work spread over all cores.
//
// The files ref*.go hold the reference implementation of every operation:
// straightforward loops that define what each kernel computes. Faster paths
// are tested against them.
package cpu

import (
	"encoding/binary"
	"fmt"
	"math"
	"runtime"
	"sync"
	"unsafe"

	"github.com/sambaeval/sambaeval/dtype"
	"github.com/sambaeval/sambaeval/kernels"
)

func init() {
	kernels.Register("cpu", 0, func(device string) (kernels.Backend, error) {
		if device != "" {
			return nil, fmt.Errorf("cpu backend takes no device index (got %q)", device)
		}
		return New(), nil
	})
}

// Backend is the CPU backend.
type Backend struct {
	threads int
}

// New returns a CPU backend using GOMAXPROCS threads.
func New() *Backend { return &Backend{threads: runtime.GOMAXPROCS(0)} }

// Name implements kernels.Backend.
func (b *Backend) Name() string { return fmt.Sprintf("cpu (%d threads)", b.threads) }

// Close implements kernels.Backend.
func (b *Backend) Close() error { return nil }

// buffer is a CPU buffer.
type buffer []float32

func (b buffer) Len() int { return len(b) }

// data returns the float32 slice behind a buffer.
func data(b kernels.Buffer) []float32 { return b.(buffer) }

// Alloc implements kernels.Backend.
func (b *Backend) Alloc(n int) kernels.Buffer { return buffer(make([]float32, n)) }

// Free implements kernels.Backend; the garbage collector reclaims buffers.
func (b *Backend) Free(kernels.Buffer) {}

// Write implements kernels.Backend.
func (b *Backend) Write(buf kernels.Buffer, off int, src []float32) { copy(data(buf)[off:], src) }

// Read implements kernels.Backend.
func (b *Backend) Read(dst []float32, buf kernels.Buffer, off int) { copy(dst, data(buf)[off:]) }

// Copy implements kernels.Backend.
func (b *Backend) Copy(dst kernels.Buffer, dstOff int, src kernels.Buffer, srcOff, n int) {
	copy(data(dst)[dstOff:dstOff+n], data(src)[srcOff:srcOff+n])
}

// Zero implements kernels.Backend.
func (b *Backend) Zero(buf kernels.Buffer) { clear(data(buf)) }

// Weight is a CPU weight matrix in its stored type.
type Weight struct {
	dt         dtype.DType
	rows, cols int
	f32        []float32 // dt == F32
	u16        []uint16  // dt == BF16 or F16
}

// Rows implements kernels.Weight.
func (w *Weight) Rows() int { return w.rows }

// Cols implements kernels.Weight.
func (w *Weight) Cols() int { return w.cols }

// DType implements kernels.Weight.
func (w *Weight) DType() dtype.DType { return w.dt }

// LoadWeight implements kernels.Backend. Data is used in place when it is
// suitably aligned (as in a memory-mapped safetensors file), else copied.
func (b *Backend) LoadWeight(dt dtype.DType, rows, cols int, raw []byte) (kernels.Weight, error) {
	if !dt.IsFloat() || dt == dtype.F64 {
		return nil, fmt.Errorf("weight dtype %s not supported (want F32, BF16 or F16)", dt)
	}
	n := rows * cols
	if len(raw) != n*dt.Size() {
		return nil, fmt.Errorf("weight [%d, %d] %s needs %d bytes, got %d", rows, cols, dt, n*dt.Size(), len(raw))
	}
	w := &Weight{dt: dt, rows: rows, cols: cols}
	if n == 0 {
		return w, nil
	}
	ptr := unsafe.Pointer(unsafe.SliceData(raw))
	switch dt {
	case dtype.F32:
		if uintptr(ptr)%4 == 0 && littleEndian {
			w.f32 = unsafe.Slice((*float32)(ptr), n)
		} else {
			w.f32 = make([]float32, n)
			for i := range w.f32 {
				w.f32[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			}
		}
	default:
		if uintptr(ptr)%2 == 0 && littleEndian {
			w.u16 = unsafe.Slice((*uint16)(ptr), n)
		} else {
			w.u16 = make([]uint16, n)
			for i := range w.u16 {
				w.u16[i] = binary.LittleEndian.Uint16(raw[2*i:])
			}
		}
	}
	return w, nil
}

// rowTo widens row r of w into dst (len cols).
func (w *Weight) rowTo(dst []float32, r int) {
	c := w.cols
	switch w.dt {
	case dtype.F32:
		copy(dst, w.f32[r*c:(r+1)*c])
	case dtype.BF16:
		src := w.u16[r*c : (r+1)*c]
		for i, v := range src {
			dst[i] = dtype.BF16ToF32(v)
		}
	case dtype.F16:
		src := w.u16[r*c : (r+1)*c]
		for i, v := range src {
			dst[i] = dtype.F16ToF32(v)
		}
	}
}

var littleEndian = func() bool { x := uint16(1); return *(*byte)(unsafe.Pointer(&x)) == 1 }()

// parallelFor runs f over [0, n) split into about one contiguous range per
// thread (at least grain items each) and waits for all of them.
func (b *Backend) parallelFor(n, grain int, f func(lo, hi int)) {
	if n <= 0 {
		return
	}
	parts := b.threads
	if grain < 1 {
		grain = 1
	}
	if max := (n + grain - 1) / grain; parts > max {
		parts = max
	}
	if parts <= 1 {
		f(0, n)
		return
	}
	var wg sync.WaitGroup
	for p := 0; p < parts; p++ {
		lo, hi := n*p/parts, n*(p+1)/parts
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(lo, hi)
		}()
	}
	wg.Wait()
}

// row returns row r of m as a slice.
func row(m kernels.Mat, r int) []float32 {
	d := data(m.Buf)
	o := m.Off + r*m.Stride
	return d[o : o+m.Cols : o+m.Cols]
}
