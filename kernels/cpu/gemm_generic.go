package cpu

import (
	"unsafe"

	"github.com/sambaeval/sambaeval/dtype"
)

// genericKernels is the portable implementation: the same blocking and the
// same per-element order as the assembly, with the multiply and the add of
// each step rounded separately (the explicit float32 conversions keep the
// compiler from fusing them on architectures where it could), so that its
// results do not depend on the architecture either.
var genericKernels = &kernelSet{
	name:  "generic",
	tile:  [3]tileFunc{nil, nil, tileGo},
	pack:  packGo,
	widen: widenGo,
}

// widenGo converts n 16-bit values of type dt at src to float32 in dst.
func widenGo(dst []float32, src unsafe.Pointer, dt dtype.DType) {
	s := unsafe.Slice((*uint16)(src), len(dst))
	if dt == dtype.BF16 {
		for i, v := range s {
			dst[i] = dtype.BF16ToF32(v)
		}
		return
	}
	for i, v := range s {
		dst[i] = dtype.F16ToF32(v)
	}
}

// tileGo is the portable micro-kernel for float32 panels; see tileFunc.
func tileGo(mr, kc int, x *float32, xs uintptr, b unsafe.Pointer, bs uintptr, c *float32, cs uintptr, load int) {
	for r := 0; r < mr; r++ {
		xr := unsafe.Slice((*float32)(unsafe.Add(unsafe.Pointer(x), uintptr(r)*xs)), kc)
		cr := (*[gemmNR]float32)(unsafe.Add(unsafe.Pointer(c), uintptr(r)*cs))
		var c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15 float32
		if load != 0 {
			c0, c1, c2, c3, c4, c5, c6, c7 = cr[0], cr[1], cr[2], cr[3], cr[4], cr[5], cr[6], cr[7]
			c8, c9, c10, c11, c12, c13, c14, c15 = cr[8], cr[9], cr[10], cr[11], cr[12], cr[13], cr[14], cr[15]
		}
		for k, v := range xr {
			p := (*[gemmNR]float32)(unsafe.Add(b, uintptr(k)*bs))
			c0 += float32(v * p[0])
			c1 += float32(v * p[1])
			c2 += float32(v * p[2])
			c3 += float32(v * p[3])
			c4 += float32(v * p[4])
			c5 += float32(v * p[5])
			c6 += float32(v * p[6])
			c7 += float32(v * p[7])
			c8 += float32(v * p[8])
			c9 += float32(v * p[9])
			c10 += float32(v * p[10])
			c11 += float32(v * p[11])
			c12 += float32(v * p[12])
			c13 += float32(v * p[13])
			c14 += float32(v * p[14])
			c15 += float32(v * p[15])
		}
		cr[0], cr[1], cr[2], cr[3], cr[4], cr[5], cr[6], cr[7] = c0, c1, c2, c3, c4, c5, c6, c7
		cr[8], cr[9], cr[10], cr[11], cr[12], cr[13], cr[14], cr[15] = c8, c9, c10, c11, c12, c13, c14, c15
	}
}

// packGo is the portable packFunc.
func packGo(dst *float32, rows *[16]unsafe.Pointer, kc int) {
	out := unsafe.Slice(dst, kc*gemmNR)
	for j, p := range rows {
		for k, v := range unsafe.Slice((*float32)(p), kc) {
			out[k*gemmNR+j] = v
		}
	}
}
