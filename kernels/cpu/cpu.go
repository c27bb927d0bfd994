// Package cpu is the CPU backend: float32 activations in Go slices, weights
// kept in their stored type (usually a view of a memory-mapped file) and
// widened to float32 inside the kernels, work spread over all cores.
//
// The files ref*.go hold the reference implementation of every operation:
// straightforward loops that define what each kernel computes. The fast
// path (gemm.go and the files it leads to) is tested against them. It comes
// in two flavours that compute the same things in the same order: AVX2/FMA
// assembly on amd64, and portable Go everywhere else (or when forced).
//
// The fast path is batch invariant: the value of each output row of every
// operation depends only on the inputs of that row (and, for attention and
// the scan, on the sequence's own earlier positions), never on how many
// other rows are in the batch, how a sequence is cut into chunks, or how
// many threads run.
package cpu

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"runtime"
	"strings"
	"sync"
	"unsafe"

	"github.com/sambaeval/sambaeval/dtype"
	"github.com/sambaeval/sambaeval/kernels"
)

func init() {
	kernels.Register("cpu", 0, func(device string) (kernels.Backend, error) {
		impl := ImplAuto
		if device != "" {
			var err error
			if impl, err = ParseImpl(device); err != nil {
				return nil, fmt.Errorf("cpu backend: %w", err)
			}
		}
		return NewWithOptions(Options{Impl: impl})
	})
}

// Impl selects an implementation of the CPU kernels.
type Impl int

const (
	// ImplAuto picks the fastest implementation the CPU supports, unless
	// the environment variable SAMBAEVAL_CPU names one.
	ImplAuto Impl = iota
	// ImplAVX2 is amd64 assembly using AVX2, FMA and F16C.
	ImplAVX2
	// ImplGeneric is portable Go with the same blocking and the same
	// per-element order of operations as ImplAVX2, without fused
	// multiply-adds.
	ImplGeneric
	// ImplReference runs the reference loops of ref.go.
	ImplReference
)

var implNames = map[Impl]string{ImplAuto: "auto", ImplAVX2: "avx2", ImplGeneric: "generic", ImplReference: "ref"}

func (i Impl) String() string { return implNames[i] }

// ParseImpl reads an implementation name: auto, avx2, generic or ref.
func ParseImpl(s string) (Impl, error) {
	for i, n := range implNames {
		if strings.EqualFold(s, n) {
			return i, nil
		}
	}
	return 0, fmt.Errorf("unknown implementation %q (want auto, avx2, generic or ref)", s)
}

// EnvImpl is the environment variable that overrides ImplAuto, e.g.
// SAMBAEVAL_CPU=generic to test the portable path on an AVX2 machine.
const EnvImpl = "SAMBAEVAL_CPU"

// Options configures a backend.
type Options struct {
	// Threads is the number of workers; 0 means GOMAXPROCS.
	Threads int
	Impl    Impl
}

// Backend is the CPU backend.
type Backend struct {
	threads int
	impl    Impl
	k       *kernelSet // nil for ImplReference
}

// New returns a CPU backend using GOMAXPROCS threads and the fastest
// implementation the CPU supports (or the one SAMBAEVAL_CPU names; an
// unusable name there falls back to the automatic choice).
func New() *Backend {
	b, err := NewWithOptions(Options{})
	if err != nil {
		b, _ = newBackend(0, bestImpl())
	}
	return b
}

// NewReference returns a backend that runs only the reference loops.
func NewReference() *Backend {
	b, _ := newBackend(0, ImplReference)
	return b
}

// NewWithOptions returns a backend configured by o. It fails when o asks
// for an implementation this CPU cannot run.
func NewWithOptions(o Options) (*Backend, error) {
	impl := o.Impl
	if impl == ImplAuto {
		if env := os.Getenv(EnvImpl); env != "" {
			var err error
			if impl, err = ParseImpl(env); err != nil {
				return nil, fmt.Errorf("%s: %w", EnvImpl, err)
			}
		}
	}
	if impl == ImplAuto {
		impl = bestImpl()
	}
	return newBackend(o.Threads, impl)
}

func newBackend(threads int, impl Impl) (*Backend, error) {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	b := &Backend{threads: threads, impl: impl}
	switch impl {
	case ImplAVX2:
		if avx2Kernels == nil || !hasAVX2FMA() {
			return nil, fmt.Errorf("implementation avx2 needs an amd64 CPU with AVX2, FMA and F16C")
		}
		b.k = avx2Kernels
	case ImplGeneric:
		b.k = genericKernels
	case ImplReference:
	default:
		return nil, fmt.Errorf("unknown implementation %d", impl)
	}
	return b, nil
}

// bestImpl is the fastest implementation this CPU runs.
func bestImpl() Impl {
	if avx2Kernels != nil && hasAVX2FMA() {
		return ImplAVX2
	}
	return ImplGeneric
}

// Impl reports which implementation the backend runs.
func (b *Backend) Impl() Impl { return b.impl }

// Threads reports the number of workers.
func (b *Backend) Threads() int { return b.threads }

// Name implements kernels.Backend.
func (b *Backend) Name() string { return fmt.Sprintf("cpu (%d threads, %s)", b.threads, b.impl) }

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

// Weight is a CPU weight matrix in its stored type. The reference backend
// keeps it row-major (a view of the loaded bytes when they are suitably
// aligned); the fast path stores it packed: panels of gemmNR rows, panel p
// holding element (16p+j, k) at index p·16·cols + 16k + j, with the rows
// past the end of the last panel zero.
type Weight struct {
	dt         dtype.DType
	rows, cols int
	packed     bool
	f32        []float32 // dt == F32
	u16        []uint16  // dt == BF16 or F16
}

// Rows implements kernels.Weight.
func (w *Weight) Rows() int { return w.rows }

// Cols implements kernels.Weight.
func (w *Weight) Cols() int { return w.cols }

// DType implements kernels.Weight.
func (w *Weight) DType() dtype.DType { return w.dt }

// LoadWeight implements kernels.Backend. The reference backend uses data in
// place when it is suitably aligned (as in a memory-mapped safetensors
// file); the fast path copies it into panels.
func (b *Backend) LoadWeight(dt dtype.DType, rows, cols int, raw []byte) (kernels.Weight, error) {
	if !dt.IsFloat() || dt == dtype.F64 {
		return nil, fmt.Errorf("weight dtype %s not supported (want F32, BF16 or F16)", dt)
	}
	if rows < 0 || cols < 0 {
		return nil, fmt.Errorf("weight shape [%d, %d] is negative", rows, cols)
	}
	n := rows * cols
	if len(raw) != n*dt.Size() {
		return nil, fmt.Errorf("weight [%d, %d] %s needs %d bytes, got %d", rows, cols, dt, n*dt.Size(), len(raw))
	}
	w := &Weight{dt: dt, rows: rows, cols: cols, packed: b.k != nil}
	if n == 0 {
		return w, nil
	}
	if w.packed {
		b.pack(w, raw)
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

// pack fills w's panels from the row-major little-endian bytes raw. It
// moves blocks of packBlock columns of the 16 rows at a time, so that the
// panel's part being written stays in L1.
func (b *Backend) pack(w *Weight, raw []byte) {
	panels := (w.rows + gemmNR - 1) / gemmNR
	size := panels * gemmNR * w.cols
	if w.dt == dtype.F32 {
		w.f32 = make([]float32, size)
	} else {
		w.u16 = make([]uint16, size)
	}
	es := w.dt.Size()
	b.parallelFor(panels, 4, func(lo, hi int) {
		var tmp32 []float32
		var tmp16 []uint16
		for p := lo; p < hi; p++ {
			rows := min(gemmNR, w.rows-p*gemmNR)
			src := raw[p*gemmNR*w.cols*es:][:rows*w.cols*es]
			base := p * gemmNR * w.cols
			if w.dt == dtype.F32 {
				tmp32 = decodeF32(tmp32, src)
				transposeInto(w.f32[base:base+gemmNR*w.cols], tmp32, rows, w.cols)
			} else {
				tmp16 = decodeU16(tmp16, src)
				transposeInto(w.u16[base:base+gemmNR*w.cols], tmp16, rows, w.cols)
			}
		}
	})
}

// decodeF32 returns the little-endian float32s of b, a view when possible.
func decodeF32(buf []float32, b []byte) []float32 {
	if littleEndian && uintptr(unsafe.Pointer(unsafe.SliceData(b)))%4 == 0 {
		return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/4)
	}
	buf = buf[:0]
	for i := 0; i+4 <= len(b); i += 4 {
		buf = append(buf, math.Float32frombits(binary.LittleEndian.Uint32(b[i:])))
	}
	return buf
}

// decodeU16 returns the little-endian uint16s of b, a view when possible.
func decodeU16(buf []uint16, b []byte) []uint16 {
	if littleEndian && uintptr(unsafe.Pointer(unsafe.SliceData(b)))%2 == 0 {
		return unsafe.Slice((*uint16)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/2)
	}
	buf = buf[:0]
	for i := 0; i+2 <= len(b); i += 2 {
		buf = append(buf, binary.LittleEndian.Uint16(b[i:]))
	}
	return buf
}

// packBlock is the number of columns pack moves at a time.
const packBlock = 64

// transposeInto writes the rows×cols row-major elements of src into the
// panel dst, element (j, k) at dst[16k+j].
func transposeInto[T uint16 | float32](dst, src []T, rows, cols int) {
	for k0 := 0; k0 < cols; k0 += packBlock {
		n := min(cols-k0, packBlock)
		for j := 0; j < rows; j++ {
			s := src[j*cols+k0 : j*cols+k0+n]
			d := dst[k0*gemmNR+j : k0*gemmNR+j+(n-1)*gemmNR+1]
			for k, v := range s {
				d[k*gemmNR] = v
			}
		}
	}
}

// panel returns the address of step k of panel p of a packed weight.
func (w *Weight) panel(p, k int) unsafe.Pointer {
	i := (p*w.cols + k) * gemmNR
	if w.dt == dtype.F32 {
		return unsafe.Pointer(&w.f32[i])
	}
	return unsafe.Pointer(&w.u16[i])
}

// index returns the position of element (r, c) in w's storage.
func (w *Weight) index(r, c int) int {
	if w.packed {
		return (r/gemmNR*w.cols+c)*gemmNR + r%gemmNR
	}
	return r*w.cols + c
}

// at returns element (r, c) of w as float32.
func (w *Weight) at(r, c int) float32 {
	i := w.index(r, c)
	switch w.dt {
	case dtype.F32:
		return w.f32[i]
	case dtype.BF16:
		return dtype.BF16ToF32(w.u16[i])
	default:
		return dtype.F16ToF32(w.u16[i])
	}
}

// rowTo widens row r of w into dst (len cols).
func (w *Weight) rowTo(dst []float32, r int) {
	c := w.cols
	if w.packed {
		for i := range dst[:c] {
			dst[i] = w.at(r, i)
		}
		return
	}
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
