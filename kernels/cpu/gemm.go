package cpu

import (
	"fmt"
	"sync"
	"unsafe"

	"github.com/sambaeval/sambaeval/dtype"
	"github.com/sambaeval/sambaeval/kernels"
)

// The matrix product dst[M,N] (+)= x[M,K]·w[N,K]ᵀ is computed the classic
// way: w is widened to float32 and packed, gemmKC columns of k at a time,
// into panels of 16 rows stored k-major (step k of a panel is 16 floats),
// and a micro-kernel multiplies up to 6 rows of x by one panel, keeping the
// 6×16 tile of dst in 12 vector registers while it walks k, broadcasting
// one x element per row and step.
//
// Batch invariance follows from the micro-kernel: each output element is
// one chain of fused multiply-adds (separate multiply and add in the
// portable kernels) over k = 0, 1, …, K-1 in order, started from zero (or
// from dst when accumulating) and carried between k-blocks through dst as
// a float32, which is exactly what a register holds. The chain does not
// depend on which rows share the tile, how M is cut into tiles, or which
// thread runs it, so the M = 1 decode path gives the very same bits as a
// 2048-row prefill.
const (
	gemmNR = 16  // columns of a packed panel, two 8-float vectors
	gemmMR = 6   // rows of a micro-tile
	gemmKC = 512 // k-steps per packed panel (32 KiB of float32: L1)
	gemmNC = 256 // columns packed at once (512 KiB: L2)
	gemmMC = 96  // rows of x swept per panel (192 KiB: L2)
)

// tileFunc runs a micro-kernel over mr ≤ gemmMR rows: for r < mr and
// j < 16, c[r][j] = chain over k < kc of x[r][k]·b[k][j], started from
// c[r][j] when load != 0 and from zero otherwise. xs, bs and cs are the
// row strides of x, b and c in bytes (bs is 64 for a packed panel).
type tileFunc func(mr, kc int, x *float32, xs uintptr, b *float32, bs uintptr, c *float32, cs uintptr, load int)

// packFunc widens kc (a multiple of 8) elements of 16 rows and stores them
// k-major: element k of row j goes to dst[16k+j].
type packFunc func(dst *float32, rows *[16]unsafe.Pointer, kc int)

// kernelSet is one implementation of the fast path's inner loops. The
// vector operations are documented on their portable versions in
// vec_generic.go.
type kernelSet struct {
	name string
	tile tileFunc
	pack [3]packFunc // by weight type: BF16, F16, F32

	exp        func(dst, src []float32)
	swiglu     func(dst, g, u []float32)
	sumSquares func(x []float32) float32
	scaleMul   func(dst, x, w []float32, s float32)
	add        func(dst, x []float32)
	max        func(x []float32) float32
	sumExp     func(x []float32, m float32) float64
	convSiLU   func(dst, x0, x1, x2, x3, w, bias []float32)
	scan       func(a *scanArgs)
	softmaxRow func(p []float32, lo, hi int, scale, m float32) float32
}

// packIndex maps a weight type to its packer in kernelSet.pack.
func packIndex(dt dtype.DType) int {
	switch dt {
	case dtype.BF16:
		return 0
	case dtype.F16:
		return 1
	}
	return 2
}

// zeroRow stands in for the missing rows of the last, partial panel.
var zeroRow [gemmKC]float32

// gemmScratch is one worker's packing buffer.
type gemmScratch struct {
	panel []float32 // gemmNC×gemmKC floats, 64-byte aligned
	tile  []float32 // gemmMR×gemmNR floats for partial tiles
	rows  [16]unsafe.Pointer
}

var scratchPool = sync.Pool{New: func() any {
	buf := make([]float32, gemmNC*gemmKC+gemmMR*gemmNR+16)
	off := 0
	for uintptr(unsafe.Pointer(&buf[off]))%64 != 0 {
		off++
	}
	return &gemmScratch{
		panel: buf[off : off+gemmNC*gemmKC],
		tile:  buf[off+gemmNC*gemmKC : off+gemmNC*gemmKC+gemmMR*gemmNR],
	}
}}

// checkView panics unless m lies inside its buffer; the assembly kernels
// would otherwise read or write out of bounds.
func checkView(op, name string, m kernels.Mat, rows, cols int) {
	if m.Rows != rows || m.Cols != cols {
		panic(fmt.Sprintf("cpu: %s: %s is %d×%d, want %d×%d", op, name, m.Rows, m.Cols, rows, cols))
	}
	if rows == 0 || cols == 0 {
		return
	}
	if m.Off < 0 || m.Stride < cols || m.Off+(rows-1)*m.Stride+cols > m.Buf.Len() {
		panic(fmt.Sprintf("cpu: %s: %s view (off %d, stride %d, %d×%d) outside its buffer of %d", op, name, m.Off, m.Stride, rows, cols, m.Buf.Len()))
	}
}

// matMul is the fast MatMul.
func (b *Backend) matMul(dst, x kernels.Mat, w *Weight, accumulate bool) {
	M, N, K := x.Rows, w.rows, w.cols
	checkView("MatMul", "x", x, M, K)
	checkView("MatMul", "dst", dst, M, N)
	if M == 0 || N == 0 {
		return
	}
	if K == 0 {
		if !accumulate {
			for r := 0; r < M; r++ {
				clear(row(dst, r))
			}
		}
		return
	}
	panels := (N + gemmNR - 1) / gemmNR
	parts := b.threads
	if work := M * N * K; work < 1<<16 {
		parts = 1 // not worth a goroutine
	}
	if parts <= 1 {
		b.gemmRange(dst, x, w, accumulate, 0, M, 0, N)
		return
	}
	var wg sync.WaitGroup
	if panels >= 2*parts || M < 2*parts*gemmMR {
		// Split the columns: each worker packs only its own panels.
		parts = min(parts, panels)
		for p := 0; p < parts; p++ {
			n0 := panels * p / parts * gemmNR
			n1 := min(N, panels*(p+1)/parts*gemmNR)
			wg.Add(1)
			go func() {
				defer wg.Done()
				b.gemmRange(dst, x, w, accumulate, 0, M, n0, n1)
			}()
		}
	} else {
		// Few columns, many rows: split the rows.
		for p := 0; p < parts; p++ {
			m0, m1 := M*p/parts, M*(p+1)/parts
			wg.Add(1)
			go func() {
				defer wg.Done()
				b.gemmRange(dst, x, w, accumulate, m0, m1, 0, N)
			}()
		}
	}
	wg.Wait()
}

// gemmRange computes rows [m0, m1) and columns [n0, n1) of the product on
// the calling goroutine.
func (b *Backend) gemmRange(dst, x kernels.Mat, w *Weight, accumulate bool, m0, m1, n0, n1 int) {
	s := scratchPool.Get().(*gemmScratch)
	defer scratchPool.Put(s)
	K := w.cols
	xd, dd := data(x.Buf), data(dst.Buf)
	xs, ds := uintptr(x.Stride)*4, uintptr(dst.Stride)*4
	for jc := n0; jc < n1; jc += gemmNC {
		nc := min(gemmNC, n1-jc)
		np := (nc + gemmNR - 1) / gemmNR
		for pc := 0; pc < K; pc += gemmKC {
			kc := min(gemmKC, K-pc)
			for p := 0; p < np; p++ {
				b.packPanel(s, s.panel[p*kc*gemmNR:(p+1)*kc*gemmNR], w, jc+p*gemmNR, min(gemmNR, nc-p*gemmNR), pc, kc)
			}
			load := 0
			if accumulate || pc > 0 {
				load = 1
			}
			for ic := m0; ic < m1; ic += gemmMC {
				mc := min(gemmMC, m1-ic)
				for p := 0; p < np; p++ {
					bp := &s.panel[p*kc*gemmNR]
					cols := min(gemmNR, nc-p*gemmNR)
					c0 := jc + p*gemmNR
					for ir := ic; ir < ic+mc; ir += gemmMR {
						mr := min(gemmMR, ic+mc-ir)
						xp := &xd[x.Off+ir*x.Stride+pc]
						cp := &dd[dst.Off+ir*dst.Stride+c0]
						if cols == gemmNR {
							b.k.tile(mr, kc, xp, xs, bp, gemmNR*4, cp, ds, load)
							continue
						}
						// Partial panel: run the kernel on a private tile.
						for r := 0; r < mr; r++ {
							t := s.tile[r*gemmNR : (r+1)*gemmNR]
							if load != 0 {
								copy(t, dd[dst.Off+(ir+r)*dst.Stride+c0:][:cols])
							}
						}
						b.k.tile(mr, kc, xp, xs, bp, gemmNR*4, &s.tile[0], gemmNR*4, load)
						for r := 0; r < mr; r++ {
							copy(dd[dst.Off+(ir+r)*dst.Stride+c0:][:cols], s.tile[r*gemmNR:][:cols])
						}
					}
				}
			}
		}
	}
}

// packPanel widens rows [n0, n0+rows) (rows ≤ 16), columns [k0, k0+kc) of
// w into panel, k-major, padding missing rows with zeros.
func (b *Backend) packPanel(s *gemmScratch, panel []float32, w *Weight, n0, rows, k0, kc int) {
	K := w.cols
	for j := range s.rows {
		if j >= rows {
			s.rows[j] = unsafe.Pointer(&zeroRow[0])
			continue
		}
		i := (n0+j)*K + k0
		if w.dt == dtype.F32 {
			s.rows[j] = unsafe.Pointer(&w.f32[i])
		} else {
			s.rows[j] = unsafe.Pointer(&w.u16[i])
		}
	}
	kc8 := kc &^ 7
	if kc8 > 0 {
		b.k.pack[packIndex(w.dt)](&panel[0], &s.rows, kc8)
	}
	for k := kc8; k < kc; k++ {
		for j := 0; j < gemmNR; j++ {
			var v float32
			if j < rows {
				v = w.at(n0+j, k0+k)
			}
			panel[k*gemmNR+j] = v
		}
	}
}

// at returns element (r, c) of w as float32.
func (w *Weight) at(r, c int) float32 {
	i := r*w.cols + c
	switch w.dt {
	case dtype.F32:
		return w.f32[i]
	case dtype.BF16:
		return dtype.BF16ToF32(w.u16[i])
	default:
		return dtype.F16ToF32(w.u16[i])
	}
}
