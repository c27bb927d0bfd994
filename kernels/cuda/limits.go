package cuda

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"unsafe"

	"github.com/sambaeval/sambaeval/dtype"
	"github.com/sambaeval/sambaeval/kernels"
)

// MatMulRate implements kernels.Limits: the FLOP/s of cuBLAS's 8192³
// product with bfloat16 operands and float32 accumulation (the products of
// the bf16 mode), 10 products timed with events after 3 untimed, on
// pseudo-random values (the rate depends on them: zeros run faster). The
// ceiling docs/performance-gpu.md reports MFU against.
func (b *Backend) MatMulRate() (rate float64, err error) {
	defer kernels.Catch(&err)
	return b.gemmRate(8192, 10), nil
}

// CopyBandwidth implements kernels.Limits: cuMemcpyDtoDAsync of 1 GiB, 20
// copies timed after 3 untimed, in bytes read plus written per second (the
// rate decoding is judged against: weight bytes over it is the bound).
func (b *Backend) CopyBandwidth() (rate float64, err error) {
	defer kernels.Catch(&err)
	return b.copyRate(1<<30, 20), nil
}

// gemmRate returns the FLOP/s of iters n³ bf16 products.
func (b *Backend) gemmRate(n, iters int) float64 {
	r := rand.New(rand.NewPCG(uint64(n), 7))
	data := make([]byte, 2*n*n)
	for i := 0; i < n*n; i++ {
		binary.LittleEndian.PutUint16(data[2*i:], dtype.F32ToBF16(float32(r.NormFloat64())))
	}
	var ws [2]*Weight
	for i := range ws {
		w, err := b.LoadWeight(dtype.BF16, n, n, data)
		if err != nil {
			panic(err)
		}
		ws[i] = w.(*Weight)
	}
	c := b.Alloc(n * n)
	defer b.Free(c)
	defer b.enter()()
	defer func() {
		for _, w := range ws {
			b.free(w.ptr)
		}
	}()
	g := gemm{M: n, N: n, K: n, A: ws[0].ptr, lda: n, B: ws[1].ptr, ldb: n, transB: true,
		C: dev(c).ptr, ldc: n, aType: typeBF16, bType: typeBF16, alpha: &b.one, beta: &b.zero, compute: compute32F}
	ms := b.timed(iters, func() {
		if err := b.blas.run(&g); err != nil {
			panic(err)
		}
	})
	return 2 * math.Pow(float64(n), 3) * float64(iters) / (ms / 1e3)
}

// copyRate returns the device-to-device copy rate of iters copies of
// bytes, bytes read plus written per second.
func (b *Backend) copyRate(bytes, iters int) float64 {
	x, y := b.Alloc(bytes/4), b.Alloc(bytes/4)
	defer b.Free(x)
	defer b.Free(y)
	defer b.enter()()
	ms := b.timed(iters, func() {
		b.must("cuMemcpyDtoDAsync", call(b.d.cuMemcpyDtoDAsync, dev(y).ptr, dev(x).ptr, uintptr(bytes), b.stream))
	})
	return 2 * float64(bytes) * float64(iters) / (ms / 1e3)
}

// timed queues f 3 times untimed, then iters times between two events,
// and returns the milliseconds between them (the lock held).
func (b *Backend) timed(iters int, f func()) float64 {
	for range 3 {
		f()
	}
	s, e := b.newEvent(), b.newEvent()
	defer b.destroyEvents(s, e)
	b.record(s)
	for range iters {
		f()
	}
	b.record(e)
	return b.elapsedMS(s, e)
}

// newEvent creates a timing event on the backend's device.
func (b *Backend) newEvent() uintptr {
	var e uintptr
	b.must("cuEventCreate", call(b.d.cuEventCreate, uintptr(unsafe.Pointer(&e)), eventDefault))
	return e
}

func (b *Backend) destroyEvents(es ...uintptr) {
	for _, e := range es {
		call(b.d.cuEventDestroy, e)
	}
}

// record queues event e on the backend's stream.
func (b *Backend) record(e uintptr) { b.must("cuEventRecord", call(b.d.cuEventRecord, e, b.stream)) }

// elapsedMS waits for end and returns the milliseconds between the events.
func (b *Backend) elapsedMS(start, end uintptr) float64 {
	b.must("cuEventSynchronize", call(b.d.cuEventSynchronize, end))
	var ms float32
	b.must("cuEventElapsedTime", call(b.d.cuEventTime, uintptr(unsafe.Pointer(&ms)), start, end))
	return float64(ms)
}
