package cpu

import (
	"fmt"
	"sync"
	"unsafe"

	"github.com/sambaeval/sambaeval/dtype"
	"github.com/sambaeval/sambaeval/kernels"
)

// The matrix product dst[M,N] (+)= x[M,K]·w[N,K]ᵀ is computed the classic
// way. The fast path's weights are stored (by LoadWeight, in their own
// type) as panels of 16 rows, k-major: step k of a panel is the 16 values
// w[16p+j][k]. A micro-kernel multiplies up to 6 rows of x by one panel,
// keeping the 6×16 tile of dst in 12 vector registers while it walks k,
// widening the panel's 16 values to float32 in registers (exactly) and
// broadcasting one x element per row. Loops over blocks of gemmKC steps,
// gemmNC columns and gemmMC rows keep the working set in L1 and L2.
// Decoding (M = 1) runs four panels at a time (gemvFunc); nothing is packed
// at run time.
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
	gemmNR = 16  // columns of a panel, two 8-float vectors
	gemmMR = 6   // rows of a micro-tile
	gemmKC = 512 // k-steps per block (16–32 KiB of a panel: L1)
	gemmNC = 256 // columns per block (256–512 KiB: L2)
	gemmMC = 96  // rows of x per block (192 KiB: L2)
)

// tileFunc runs a micro-kernel over mr ≤ gemmMR rows: for r < mr and
// j < 16, c[r][j] = chain over k < kc of x[r][k]·b[k][j], started from
// c[r][j] when load != 0 and from zero otherwise. xs, bs and cs are the
// row strides of x, b and c in bytes; b holds the weight type of the
// function (see kernelSet.tile).
type tileFunc func(mr, kc int, x *float32, xs uintptr, b unsafe.Pointer, bs uintptr, c *float32, cs uintptr, load int)

// gemvFunc runs the micro-kernel for one row of x over four panels at
// once, at b + i·ps for i < 4, writing the 64 outputs c[0:64]; each output
// sees the same chain as with tileFunc. kc ≥ 1.
type gemvFunc func(kc int, x *float32, b unsafe.Pointer, bs, ps uintptr, c *float32, load int)

// packFunc transposes kc (a multiple of 8) float32 elements of 16 rows
// into a panel: element k of row j goes to dst[16k+j].
type packFunc func(dst *float32, rows *[16]unsafe.Pointer, kc int)

// kernelSet is one implementation of the fast path's inner loops. The
// vector operations are documented on their portable versions in
// vec_generic.go.
type kernelSet struct {
	name string
	// tile holds the micro-kernels by panel type (see typeIndex). Where
	// the 16-bit entries are nil, widen converts panels to float32 first.
	tile  [3]tileFunc
	gemv  [3]gemvFunc // optional, as tile
	widen func(dst []float32, src unsafe.Pointer, dt dtype.DType)
	pack  packFunc

	exp        func(dst, src []float32) // for the tests of the polynomial the other kernels share
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

// Indexes of kernelSet.tile.
const (
	tileBF16 = iota
	tileF16
	tileF32
)

// typeIndex maps a weight type to its kernelSet.tile index.
func typeIndex(dt dtype.DType) int {
	switch dt {
	case dtype.BF16:
		return tileBF16
	case dtype.F16:
		return tileF16
	}
	return tileF32
}

// zeroRow stands in for missing rows when attention packs keys.
var zeroRow [gemmKC]float32

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
	if !w.packed {
		panic("cpu: MatMul: weight was not loaded by a fast-path backend")
	}
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
	if work := M * N * K; work < 1<<18 {
		parts = 1 // some 20 µs of work: not worth waking another thread
	}
	if parts <= 1 {
		b.gemmRange(dst, x, w, accumulate, 0, M, 0, N)
		return
	}
	var wg sync.WaitGroup
	if panels >= 2*parts || M < 2*parts*gemmMR {
		// Split the columns.
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
// the calling goroutine; n0 is a multiple of gemmNR.
func (b *Backend) gemmRange(dst, x kernels.Mat, w *Weight, accumulate bool, m0, m1, n0, n1 int) {
	K := w.cols
	tile := b.k.tile[typeIndex(w.dt)]
	es := uintptr(w.dt.Size())
	bs := gemmNR * es  // bytes per panel step
	var wide []float32 // a panel's k-block widened to float32, when tile is nil
	if tile == nil {
		tile, bs = b.k.tile[tileF32], gemmNR*4
		wide = make([]float32, gemmKC*gemmNR)
	}
	// With a single row tile (decoding), the weights are read once: walk
	// each panel through all of k, so that the reads form one stream.
	kcb := gemmKC
	if m1-m0 <= gemmMR && wide == nil {
		kcb = K
	}
	xd, dd := data(x.Buf), data(dst.Buf)
	xs, ds := uintptr(x.Stride)*4, uintptr(dst.Stride)*4
	var edge [gemmMR * gemmNR]float32 // partial tiles of the last panel
	for jc := n0; jc < n1; jc += gemmNC {
		nc := min(gemmNC, n1-jc)
		for pc := 0; pc < K; pc += kcb {
			kc := min(kcb, K-pc)
			load := 0
			if accumulate || pc > 0 {
				load = 1
			}
			c0 := jc
			if gemv := b.k.gemv[typeIndex(w.dt)]; gemv != nil && m1-m0 == 1 {
				// Decoding: four full panels at a time.
				ps := uintptr(w.cols) * bs
				xp := &xd[x.Off+m0*x.Stride+pc]
				for ; c0+4*gemmNR <= jc+nc; c0 += 4 * gemmNR {
					gemv(kc, xp, w.panel(c0/gemmNR, pc), bs, ps, &dd[dst.Off+m0*dst.Stride+c0], load)
				}
			}
			for ic := m0; ic < m1; ic += gemmMC {
				mc := min(gemmMC, m1-ic)
				for c0 := c0; c0 < jc+nc; c0 += gemmNR {
					cols := min(gemmNR, jc+nc-c0)
					bp := w.panel(c0/gemmNR, pc)
					if wide != nil {
						b.k.widen(wide[:kc*gemmNR], bp, w.dt)
						bp = unsafe.Pointer(&wide[0])
					}
					for ir := ic; ir < ic+mc; ir += gemmMR {
						mr := min(gemmMR, ic+mc-ir)
						xp := &xd[x.Off+ir*x.Stride+pc]
						if cols == gemmNR {
							tile(mr, kc, xp, xs, bp, bs, &dd[dst.Off+ir*dst.Stride+c0], ds, load)
							continue
						}
						// The last, partial panel: run the kernel on a private tile.
						for r := 0; r < mr && load != 0; r++ {
							copy(edge[r*gemmNR:r*gemmNR+cols], dd[dst.Off+(ir+r)*dst.Stride+c0:])
						}
						tile(mr, kc, xp, xs, bp, bs, &edge[0], gemmNR*4, load)
						for r := 0; r < mr; r++ {
							copy(dd[dst.Off+(ir+r)*dst.Stride+c0:][:cols], edge[r*gemmNR:])
						}
					}
				}
			}
		}
	}
}
