package cuda

import (
	"cmp"
	"fmt"
	"math"
	"strconv"
	"unsafe"

	"github.com/sambaeval/sambaeval/dtype"
	"github.com/sambaeval/sambaeval/kernels"
)

// scratch is device memory reused across operations, grown on demand.
type scratch struct {
	ptr   uintptr
	bytes int
}

// grow makes s hold at least bytes and returns its address. Growth frees
// the old memory after the queued work that may read it.
func (b *Backend) grow(s *scratch, bytes int) uintptr {
	if s.bytes < bytes {
		b.free(s.ptr)
		bytes = max(bytes, s.bytes+s.bytes/4, 1<<16)
		s.ptr, s.bytes = b.malloc(bytes), bytes
	}
	return s.ptr
}

func (b *Backend) freeScratch() {
	for _, s := range []*scratch{&b.conv16, &b.pair, &b.splitK, &b.ids, &b.scores, &b.att.kall, &b.att.vall, &b.att.q, &b.att.s, &b.att.p, &b.att.o} {
		b.free(s.ptr)
		*s = scratch{}
	}
	for _, s := range b.shadows {
		b.free(s.ptr)
	}
	b.shadows = map[*buffer]*shadowCopy{}
	b.free(b.mlpBar)
	b.mlpBar = 0
	for _, p := range b.invFreq {
		b.free(p)
	}
	b.invFreq = map[[2]float64]uintptr{}
}

func roundUp(n, m int) int { return (n + m - 1) / m * m }

// shadowCopy is a 16-bit copy of a view of a buffer, written by the
// operation that produced the view so that the matrix products reading it
// next need no conversion pass. It is valid while the buffer's version is
// ver.
type shadowCopy struct {
	scratch
	off, rows, cols, stride int // the view it mirrors
	ld, kind                int
	ver                     uint64
}

// shadowOut prepares the shadow of view m for a producing kernel and
// returns the kernel's sh, ldsh and shkind arguments (0 in fp32 mode).
func (b *Backend) shadowOut(m kernels.Mat) (uintptr, int, int) {
	if b.fp32 || m.Rows == 0 {
		return 0, 0, 0
	}
	x := dev(m.Buf)
	s := b.shadows[x]
	if s == nil {
		s = &shadowCopy{}
		b.shadows[x] = s
	}
	ld := roundUp(m.Cols, 8)
	p := b.grow(&s.scratch, 2*m.Rows*ld)
	s.off, s.rows, s.cols, s.stride, s.ld, s.kind = m.Off, m.Rows, m.Cols, m.Stride, ld, b.actKind
	s.ver = 0 // invalid until produced
	return p, ld, b.actKind
}

// produced records that a kernel wrote view m and, when it also wrote a
// shadow, that the shadow matches the new contents.
func (b *Backend) produced(m kernels.Mat, shadowed bool) {
	x := dev(m.Buf)
	x.ver++
	if s := b.shadows[x]; s != nil && shadowed {
		s.ver = x.ver
	}
}

// half returns x as a 16-bit matrix of the given kind (address and leading
// dimension): from a valid shadow covering it, else converted into scratch.
func (b *Backend) half(x kernels.Mat, kind int) (uintptr, int) {
	buf := dev(x.Buf)
	if s := b.shadows[buf]; s != nil && s.ver == buf.ver && s.ver != 0 && s.kind == kind && s.stride == x.Stride {
		if d := x.Off - s.off; d >= 0 {
			r, c := d/s.stride, d%s.stride
			if r+x.Rows <= s.rows && c+x.Cols <= s.cols {
				return s.ptr + uintptr(2*(r*s.ld+c)), s.ld
			}
		}
	}
	ld := roundUp(x.Cols, 8)
	p := b.grow(&b.conv16, 2*x.Rows*ld)
	b.p.reset()
	b.p.mat(x)
	b.p.ptr(p)
	b.p.i32(ld)
	b.p.i32(x.Rows)
	b.p.i32(x.Cols)
	b.p.i32(kind)
	b.launch("k_convert", grid2(x.Rows, x.Cols, 256), dim3{256, 1, 1}, 0)
	return p, ld
}

// Embed implements kernels.Backend.
func (b *Backend) Embed(dst kernels.Mat, table kernels.Weight, ids []int32) {
	n := len(ids)
	if n == 0 {
		return
	}
	w := table.(*Weight)
	for i, id := range ids {
		if id < 0 || int(id) >= w.rows {
			panic(fmt.Sprintf("cuda: embed: id %d at %d outside the table's %d rows", id, i, w.rows))
		}
	}
	defer b.enter()()
	var idp uintptr
	if b.graph.active {
		idp = b.graph.ids() // written before the step; ids were checked by DecodeStep
	} else if n > maxSeq {
		idp = b.grow(&b.ids, 4*n)
		b.must("cuMemcpyHtoDAsync", call(b.d.cuMemcpyHtoDAsync, idp, uintptr(unsafe.Pointer(&ids[0])), uintptr(4*n), b.stream))
	} else {
		copy(b.ints[:], ids)
	}
	b.p.reset()
	b.p.mat(dst)
	b.p.ptr(w.ptr)
	b.p.i32(w.kind())
	b.p.i32(w.cols)
	b.p.ptr(idp)
	b.p.put(unsafe.Pointer(&b.ints), int(unsafe.Sizeof(b.ints)))
	b.p.i32(n)
	b.launch("k_embed", grid2(n, w.cols, 256), dim3{256, 1, 1}, 0)
	b.produced(dst, false)
}

// fewRows is the most rows for which RMSNorm and RoPE take their decoding
// kernels (k_rmsnorm_reg1k for rows of up to 4096 values, else
// k_rmsnorm_reg; one head per k_rope block); rmsCache and ropeHeads are
// RMS_CACHE and ROPE_HEADS of basic.cu.
const (
	fewRows   = 64
	rmsCache  = 16
	ropeHeads = 16
)

// RMSNorm implements kernels.Backend.
func (b *Backend) RMSNorm(dst, x, w kernels.Mat, eps float32) {
	if x.Rows == 0 {
		return
	}
	defer b.enter()()
	sh, ldsh, kind := b.shadowOut(dst)
	b.p.reset()
	b.p.mat(dst)
	b.p.mat(x)
	b.p.ptr(addr(w))
	b.p.i32(x.Rows)
	b.p.i32(x.Cols)
	b.p.f32(eps)
	b.p.shadow(sh, ldsh, kind)
	name, threads := "k_rmsnorm", 256
	switch {
	case x.Rows > fewRows:
	case !b.rms256 && x.Cols <= 4*1024:
		name, threads = "k_rmsnorm_reg1k", 1024
	case x.Cols <= rmsCache*256:
		name = "k_rmsnorm_reg"
	}
	b.launch(name, grid1(x.Rows, 1), dim3{threads, 1, 1}, 0)
	b.produced(dst, sh != 0)
}

// Add implements kernels.Backend.
func (b *Backend) Add(dst, x kernels.Mat) {
	if x.Rows == 0 {
		return
	}
	defer b.enter()()
	b.p.reset()
	b.p.mat(dst)
	b.p.mat(x)
	b.p.i32(x.Rows)
	b.p.i32(x.Cols)
	b.launch("k_add", grid2(x.Rows, x.Cols, 256), dim3{256, 1, 1}, 0)
	b.produced(dst, false)
}

// SwiGLU implements kernels.Backend.
func (b *Backend) SwiGLU(dst, gate, up kernels.Mat) {
	if gate.Rows == 0 {
		return
	}
	defer b.enter()()
	b.swiglu(dst, addr(gate), gate.Stride, addr(up), up.Stride, gate.Rows, gate.Cols)
}

// swiglu launches dst = SiLU(g) ⊙ u for rows × cols float32 values at g
// and u (row strides ldg, ldu): k_swiglu4, four columns at a time, where
// every row is 16-byte aligned, else k_swiglu.
func (b *Backend) swiglu(dst kernels.Mat, g uintptr, ldg int, u uintptr, ldu int, rows, cols int) {
	sh, ldsh, kind := b.shadowOut(dst)
	b.p.reset()
	b.p.mat(dst)
	b.p.ptr(g)
	b.p.i32(ldg)
	b.p.ptr(u)
	b.p.i32(ldu)
	b.p.i32(rows)
	b.p.i32(cols)
	b.p.shadow(sh, ldsh, kind)
	if aligned4(dst) && g%16 == 0 && ldg%4 == 0 && u%16 == 0 && ldu%4 == 0 && cols%4 == 0 && ldsh%4 == 0 {
		b.launch("k_swiglu4", grid2(rows, cols/4, 256), dim3{256, 1, 1}, 0)
	} else {
		b.launch("k_swiglu", grid2(rows, cols, 256), dim3{256, 1, 1}, 0)
	}
	b.produced(dst, sh != 0)
}

// aligned4 reports whether every row of m starts 16-byte aligned.
func aligned4(m kernels.Mat) bool { return addr(m)%16 == 0 && m.Stride%4 == 0 }

// One-row products (decoding at batch 1) run k_gemv2 whatever the size of
// the weights: it streams them near the copy rate, where cuBLAS and the
// previous k_gemv (one warp per weight row) did not (run 8:
// docs/performance-gpu-history.md). Products of 2 to mmaRows rows (batched
// decoding) run k_gemv_mma on the tensor cores, streaming the weights the
// same way (noMMA sends them to cuBLAS, the previous path; mmaOne takes
// k_gemv_mma for one row as well). A forced rows per block (gemvRB) lets
// k_gemv2 take up to gemvRows rows, for tests and the benchmark. With
// oldGemv products of up to gemvRows rows run the previous one-row path
// (k_gemv up to oldGemvElems weight elements, cuBLAS above;
// k_gemv_swiglu4 for the fused gate/up), for comparison.
const (
	gemvRows     = 4
	oldGemvElems = 16 << 20
	mmaRows      = 16
)

// usesGemv reports whether MatMul(·, x, w, ·) runs k_gemv2 (or, with
// oldGemv, k_gemv): a product that takes x unrounded.
func (b *Backend) usesGemv(x kernels.Mat, w *Weight) bool {
	if !b.gemvFits(x, w) {
		return false
	}
	return !b.oldGemv || w.rows*w.cols <= oldGemvElems && oldGemvRows(w)
}

// gemvFits reports whether k_gemv2 (or k_gemv2_swiglu) can take x·wᵀ:
// one row of x by default (unless mmaOne), up to gemvRows rows with a
// forced rows per block (tests and benchmark) or on the old path.
func (b *Backend) gemvFits(x kernels.Mat, w *Weight) bool {
	most := 1
	if b.mmaOne {
		most = 0
	}
	if b.gemvRB != 0 || b.oldGemv {
		most = gemvRows
	}
	return !b.fp32 && !b.noGemv && w.dt != dtype.F32 && x.Rows <= most && w.cols%8 == 0 && aligned4(x)
}

// oldGemvRows reports whether k_gemv and k_gemv_swiglu4 (one warp per
// weight row, at most 65535 blocks of 8 warps) can take w's rows.
func oldGemvRows(w *Weight) bool { return w.rows <= 65535*8 }

// gemv2Kernels names k_gemv2 and k_gemv2_swiglu for each rows-per-block.
var gemv2Kernels = map[int][2]string{
	1: {"k_gemv2_1", "k_gemv2_swiglu_1"},
	2: {"k_gemv2_2", "k_gemv2_swiglu_2"},
	4: {"k_gemv2_4", "k_gemv2_swiglu_4"},
	8: {"k_gemv2_8", "k_gemv2_swiglu_8"},
}

// early is k_gemv2's and k_gemv_mma's early argument: 1 (load the first
// weights before waiting for the previous kernel, pdl_start) unless
// noEarly.
func (b *Backend) early() int {
	if b.noEarly {
		return 0
	}
	return 1
}

// gemvWarpBytes is the least weight bytes gemv2RB wants per warp.
const gemvWarpBytes = 2560

// gemv2RB picks k_gemv2's rows per block (RB) for nw weights (1, or 2 for
// the fused gate/up) of k columns: 4/nw rows (four weight rows
// of the same bytes per block), more (up to 8) while a warp would stream
// less than gemvWarpBytes, unless gemvRB forces one. A block's 8 warps
// split the K range of its RB rows, so each warp streams nw·RB·2k/8
// bytes.
//
// Measured on an H200 (run 10, one row, µs for RB 1/2/4/8): 9984×2816
// 30.6, 19.1, 16.6, 18.7; 2816×9984 17.9, 16.8, 16.0, 16.7; 11264×2816
// 34.4, 21.3, 18.0, 21.5; 2816×5632 10.9, 7.7, 8.1, 7.6; 3328×2816 10.1,
// 6.7, 5.8, 5.8; 208×5632 5.1, 5.0, 4.6, 4.9; 5632×176 13.6, 8.0, 5.9, 5.6;
// head 32064×2816 93.8, 54.9, 43.0, 52.4; gate/up 2×9984×2816 37.3, 28.8,
// 36.2, 40.5. Four rows' bytes per block is the best or within 5% of it
// everywhere; oldRB takes run 8's rule instead (the smallest RB giving a
// warp gemvWarpBytes: RB 2 for K = 5632 and 9984).
//
// RB changes only the speed: every output is summed in the same order
// whatever RB (cu/gemv.cu), so the results are bitwise the same.
func (b *Backend) gemv2RB(k, nw int) int {
	if b.gemvRB != 0 {
		if _, ok := gemv2Kernels[b.gemvRB]; !ok {
			panic(fmt.Sprintf("cuda: gemvRB %d is not 1, 2, 4 or 8", b.gemvRB))
		}
		return b.gemvRB
	}
	if b.oldRB {
		rb := 1
		for rb < 8 && nw*rb*2*k/8 < gemvWarpBytes {
			rb *= 2
		}
		return rb
	}
	rb := 4 / nw
	for rb < 8 && nw*rb*2*k/8 < gemvWarpBytes {
		rb *= 2
	}
	return rb
}

// mmaWideBytes is the most weight bytes k_gemv_mma takes for more than 8
// rows (two activation tiles): above it cuBLAS streamed the Samba_3.8B
// weights faster at 16 rows (run 19, docs/performance-gpu-history.md: 9984×2816
// 20.0 µs against 21.3, the head 49.9 against 55.4; at 4 rows k_gemv_mma
// matched or beat cuBLAS everywhere, the fused gate/up 33.4 µs against
// 40.2).
const mmaWideBytes = 32 << 20

// mmaTakes reports whether a product of x by w (or by two such weights)
// runs on k_gemv_mma: bf16 mode, 16-bit weights, K a multiple of 8, 2 to
// mmaRows rows (1 to mmaRows with mmaOne) unless noMMA, and for more than
// 8 rows at most mmaWideBytes of weights unless mmaAll or k_gemv_mmb takes
// them (mmbTakes, mmbFits; fused: the gate/up). The 16-bit copy of x must
// be 16-byte aligned too (see mmaInput).
func (b *Backend) mmaTakes(x kernels.Mat, w *Weight, fused bool) bool {
	least := 2
	if b.mmaOne {
		least = 1
	}
	if b.noMMA || b.fp32 || b.noGemv || w.dt == dtype.F32 || x.Rows < least || x.Rows > mmaRows || w.cols%8 != 0 {
		return false
	}
	return x.Rows <= 8 || b.mmaAll || b.mmbFor(x.Rows, w, fused) && !w.noTiled || 2*w.rows*w.cols <= mmaWideBytes
}

// mmaInput returns the 16-bit copy of x for k_gemv_mma, or ok false when
// its rows are not 16-byte aligned.
func (b *Backend) mmaInput(x kernels.Mat, w *Weight) (p uintptr, ld int, ok bool) {
	p, ld = b.half(x, w.kind())
	return p, ld, p%16 == 0 && ld%8 == 0
}

// mmaKernels names k_gemv_mma_<MT> ([0]) and k_gemv_mma_swiglu_<MT> ([1])
// by activation tiles MT (index MT-1: one tile of 8 rows for M ≤ 8, else
// two).
var mmaKernels = [2][2]string{{"k_gemv_mma_1", "k_gemv_mma_swiglu_1"}, {"k_gemv_mma_2", "k_gemv_mma_swiglu_2"}}

// mmtKernel names the same products on tiled weights: k_gemv_mmt<RT>_<MT>
// or, fused, k_gemv_mmt<RT>_swiglu_<MT>.
func mmtKernel(rt, mt int, fused bool) string {
	if fused {
		return fmt.Sprintf("k_gemv_mmt%d_swiglu_%d", rt, mt)
	}
	return fmt.Sprintf("k_gemv_mmt%d_%d", rt, mt)
}

// tiledRows is the most rows whose single-weight products take k_gemv_mmt
// with 2 tiles of 16 rows per warp (mmtRT); above it they take 1, and the
// fused gate/up k_gemv_mmb (mmbTakes). Measured on an H200
// (docs/performance-gpu-history.md): greedy decoding steps of 2, 4 and 8 sequences
// 11% faster on the tiled copies than on k_gemv_mma's row-major weights
// (run 90: 2.748 against 3.083 ms at 2, 2.828 against 3.197 at 4, 3.139
// against 3.537 at 8); at 16 rows with RT 2 the tiled copies changed
// nothing (run 90: 3.586 against 3.555 ms), with RT 1 they shortened the
// step by 1.2–2.9% (runs 126–128, one process each: 3.383 against 3.425 /
// 3.470 ms, 3.362 against 3.420 / 3.418, 3.361 / 3.400 against 3.461).
const tiledRows = 8

// tiledTakes reports whether a product of m rows that k_gemv_mma takes
// runs on the weights' tiled copies instead (k_gemv_mmt): always unless
// noTiled, or above tiledRows rows with rowMajorWide.
func (b *Backend) tiledTakes(m int) bool { return !b.noTiled && (m <= tiledRows || !b.rowMajorWide) }

// mmtRT is k_gemv_mmt's tiles of 16 rows per warp for m rows of one weight
// or the fused gate/up: tiledRT or tiledFusedRT when set, else for one
// weight 2 up to tiledRows rows (32 weight rows per block, each activation
// fragment loaded once for both tiles) and 1 above (where a fragment of 16
// rows holds as many registers as its weight tile), and 1 for the fused
// gate/up (16 weight loads in flight per lane where RT 2 leaves registers
// for 8). Run 90: 2.828 ms per step at batch 4 against 2.907 with RT 2
// for both and 2.912 with RT 1 for both; at 16 rows, alone (run 125,
// `SAMBAEVAL_DECODE_GEMV=1`), RT 2 took 25–29% longer than RT 1 for
// q|k|v, o_proj and out_proj, 1–2% for x_proj and dt_proj.
func (b *Backend) mmtRT(m int, fused bool) int {
	if fused {
		if b.tiledFusedRT != 0 {
			return b.tiledFusedRT
		}
		return 1
	}
	if b.tiledRT != 0 {
		return b.tiledRT
	}
	if m > tiledRows {
		return 1
	}
	return 2
}

// tiledReserve is the share of device memory tiled leaves free: a copy
// that would leave less is not made (the products keep the row-major
// weights).
const tiledReserve = 8 // 1/8

// tiledBytes is the size of w's tiled copy: ceil(rows/16) tiles of 16 rows
// by ceil(cols/32) of 32 elements, 1 KB each.
func tiledBytes(w *Weight) int { return (w.rows + 15) / 16 * ((w.cols + 31) / 32) * 1024 }

// tiled returns w's copy in k_gemv_mmt's tiled layout (k_interleave in
// cu/decode.cu), making it the first time outside a recording, or 0 while
// recording without one (the caller then takes the row-major weights). The
// copy is finished before tiled returns (the stream is synchronised), so
// that no later kernel's early loads (before its dependency wait) can read
// it unwritten. The caller holds the backend.
func (b *Backend) tiled(w *Weight) uintptr {
	if w.tiled != 0 || w.noTiled || b.graph.capturing {
		return w.tiled
	}
	size := tiledBytes(w)
	var free, total uint64
	if call(b.d.cuMemGetInfo, uintptr(unsafe.Pointer(&free)), uintptr(unsafe.Pointer(&total))) != 0 ||
		free < uint64(size)+total/tiledReserve {
		w.noTiled = true
		return 0
	}
	p := b.malloc(size)
	b.p.reset()
	b.p.ptr(p)
	b.p.ptr(w.ptr)
	b.p.i32(w.rows)
	b.p.i32(w.cols)
	b.launch("k_interleave", grid1(size/16, 256), dim3{256, 1, 1}, 0)
	b.must("cuStreamSynchronize", call(b.d.cuStreamSynchronize, b.stream))
	w.tiled = p
	return p
}

// mmaCall is how launchMMA runs a product: the kernel, its grid, the parts
// K is split into (k_splitk_sum adds them), the weights it reads (the
// tiled copies or the row-major weights), and for k_gemv_mmb its ring's
// stages and dynamic shared memory.
type mmaCall struct {
	name      string
	grid      dim3
	ks        int
	p1, p2    uintptr
	ns, shmem int
	warps     int // warps per block (8 but k_gemv_mmb's)
}

// mmaPlan chooses how launchMMA multiplies m rows by w1 (and w2, fused),
// making the weights' tiled copies if need be.
func (b *Backend) mmaPlan(m int, w1, w2 *Weight) mmaCall {
	mt, fused := (m+7)/8, w2 != nil
	c := mmaCall{name: mmaKernels[mt-1][boolInt(fused)], p1: w1.ptr, warps: 8}
	if fused {
		c.p2 = w2.ptr
	}
	rt := 1
	if mmb, mmt := b.mmbFor(m, w1, fused), b.tiledTakes(m); mmb || mmt {
		t1, t2 := b.tiled(w1), uintptr(0)
		if fused {
			t2 = b.tiled(w2)
		}
		if t1 != 0 && (!fused || t2 != 0) {
			if mmb {
				if c, ok := b.mmbPlan(mt, w1, fused, t1, t2); ok {
					return c
				}
			}
			if mmt {
				rt = b.mmtRT(m, fused)
				c.name, c.p1, c.p2 = mmtKernel(rt, mt, fused), t1, t2
			}
		}
	}
	blocks := (w1.rows + 16*rt - 1) / (16 * rt)
	c.ks = 1
	if !fused {
		c.ks = b.mmaSplit(m, blocks, w1.cols)
	}
	c.grid = dim3{blocks, c.ks, 1}
	return c
}

// mmbTakes reports whether a product of m rows that k_gemv_mma takes runs
// on k_gemv_mmb (the tiled copies streamed by bulk copies; sm_90 and NVRTC
// 12 or later): more than tiledRows rows, or any with mmbAll, unless noMMB
// or noTiled. The weights must suit it too (mmbFits).
func (b *Backend) mmbTakes(m int) bool {
	return !b.noMMB && !b.noTiled && b.cc >= 90 && b.nv.major >= 12 && b.d.cuFuncSetAttribute != 0 && (m > tiledRows || b.mmbAll)
}

// mmbFor reports whether a product of m rows of w (of two such weights
// when fused) runs on k_gemv_mmb: mmbTakes and mmbFits.
func (b *Backend) mmbFor(m int, w *Weight, fused bool) bool {
	return b.mmbTakes(m) && b.mmbFits(w, fused)
}

// k_gemv_mmb's shape (cu/decode.cu): warps per block, the most steps of 32
// elements a warp holds the activations of, tiles per chunk, ring stages
// at most; mmbStatic bounds its static shared memory (the warps' partial
// sums, 16 values per lane, and their barriers); mmbRing is the default
// ring bytes per block (the weight bytes a multiprocessor may have in
// flight: 32, 64 and 128 KB streamed alike in run 100).
const (
	mmbWarps     = 16
	mmbXS        = 6
	mmbCT        = 2
	mmbMaxStages = 8
	mmbStatic    = mmbWarps*16*32*4 + mmbWarps*mmbMaxStages*8
	mmbRing      = 64 << 10
)

// mmbFits reports whether k_gemv_mmb takes w: the fused gate/up (two such
// weights), or one weight with mmbSingle, whose K gives every warp at most
// mmbXS steps. Measured on an H200 (docs/performance-gpu-history.md, run 105, one
// process): greedy steps of 16 sequences 3.462 ms with the gate/up on
// k_gemv_mmb, 3.573 without it; with every product on it 3.517–3.550, with
// only the single weights 3.681.
func (b *Backend) mmbFits(w *Weight, fused bool) bool {
	return (fused || b.mmbSingle) && ((w.cols+31)/32+mmbWarps-1)/mmbWarps <= mmbXS
}

// mmbPlan is k_gemv_mmb's launch for mt activation tiles of w (two such
// weights when fused; their tiled copies t1, t2): a block per
// multiprocessor (at most one per band of 16 rows), the ring's stages
// from its bytes. ok is false when its shared memory does not fit.
func (b *Backend) mmbPlan(mt int, w *Weight, fused bool, t1, t2 uintptr) (c mmaCall, ok bool) {
	nw := 1 + boolInt(fused)
	stage := mmbWarps * nw * mmbCT * 1024 // one stage of every warp's ring
	ns := max(2, min(mmbMaxStages, cmp.Or(b.mmbRing, mmbRing)/stage, (b.smemMax-mmbStatic)/stage))
	if ns*stage+mmbStatic > b.smemMax {
		return c, false
	}
	c = mmaCall{name: fmt.Sprintf("k_gemv_mmb_%d", mt), grid: dim3{min((w.rows+15)/16, b.sms), 1, 1}, ks: 1, p1: t1, p2: t2,
		warps: mmbWarps, ns: ns, shmem: ns * stage}
	if fused {
		c.name = fmt.Sprintf("k_gemv_mmb_swiglu_%d", mt)
	}
	return c, true
}

// launchMMA computes dst (+)= x·w1ᵀ with k_gemv_mma (its K split over
// blocks as mmaSplit says, the parts' sums in scratch, then k_splitk_sum
// adding them into dst), or with w2 dst = SiLU(x·w1ᵀ) ⊙ (x·w2ᵀ) with
// k_gemv_mma_swiglu; on the weights' tiled copies (k_gemv_mmt, the same
// results bitwise) where tiledTakes says so, or streamed through shared
// memory by k_gemv_mmb (K in 16 slices rather than 8) where mmbTakes and
// mmbFits say so, when the copies exist or can be made. It returns false,
// doing nothing, when x's 16-bit copy is not aligned for them.
func (b *Backend) launchMMA(dst, x kernels.Mat, w1, w2 *Weight, acc int) bool {
	xp, ld, ok := b.mmaInput(x, w1)
	if !ok {
		return false
	}
	c := b.mmaPlan(x.Rows, w1, w2)
	fused := w2 != nil
	sh, ldsh, kind := b.shadowOut(dst)
	switch {
	case c.ns > 0: // k_gemv_mmb
		b.mmaArgs(c, addr(dst), dst.Stride, xp, ld, x.Rows, w1, fused, acc, sh, ldsh, kind)
		b.p.i32(c.ns)
		b.setDynamicShared(c.name, c.shmem)
		b.launch(c.name, c.grid, dim3{32 * c.warps, 1, 1}, c.shmem)
	case c.ks > 1:
		// The parts into scratch: no accumulation, no 16-bit copy
		// (k_splitk_sum's).
		part := b.grow(&b.splitK, 4*c.ks*x.Rows*w1.rows)
		b.mmaArgs(c, part, w1.rows, xp, ld, x.Rows, w1, fused, 0, 0, 0, 0)
		b.launch(c.name, c.grid, dim3{256, 1, 1}, 0)
		b.splitkSum(dst, part, c.ks, acc, sh, ldsh, kind)
	default:
		b.mmaArgs(c, addr(dst), dst.Stride, xp, ld, x.Rows, w1, fused, acc, sh, ldsh, kind)
		b.launch(c.name, c.grid, dim3{256, 1, 1}, 0)
	}
	b.produced(dst, sh != 0)
	return true
}

// splitkSum queues k_splitk_sum: dst (+= with acc 1) the sum of the ks
// parts of dst's shape at part (each dst.Rows × dst.Cols, contiguous), in
// part order, with dst's 16-bit shadow where sh is not 0.
func (b *Backend) splitkSum(dst kernels.Mat, part uintptr, ks, acc int, sh uintptr, ldsh, kind int) {
	b.p.reset()
	b.p.mat(dst)
	b.p.ptr(part)
	b.p.i32(dst.Cols)
	b.p.i32(dst.Rows)
	b.p.i32(ks)
	b.p.i32(acc)
	b.p.shadow(sh, ldsh, kind)
	b.launch("k_splitk_sum", grid1(dst.Rows*dst.Cols, 256), dim3{256, 1, 1}, 0)
}

// mmaArgs puts the arguments k_gemv_mma, k_gemv_mmt and k_gemv_mmb share:
// the output (out, ldo), the 16-bit activations (xp, ld, m rows), the
// weights of c, their shape and kind, accumulate (one weight), the 16-bit
// shadow of the output, early.
func (b *Backend) mmaArgs(c mmaCall, out uintptr, ldo int, xp uintptr, ld, m int, w1 *Weight, fused bool, acc int, sh uintptr, ldsh, kind int) {
	b.p.reset()
	b.p.ptr(out)
	b.p.i32(ldo)
	b.p.ptr(xp)
	b.p.i32(ld)
	b.p.ptr(c.p1)
	if fused {
		b.p.ptr(c.p2)
	}
	b.p.i32(w1.rows)
	b.p.i32(w1.cols)
	b.p.i32(m)
	b.p.i32(w1.kind())
	if !fused {
		b.p.i32(acc)
	}
	b.p.shadow(sh, ldsh, kind)
	b.p.i32(b.early())
}

// mmaSplit is how many parts k_gemv_mma splits K into for m activation
// rows, a grid of the given blocks (ceil(n/16) for n weight rows; fewer
// for k_gemv_mmt with RT > 1) and k elements (k_splitk_sum then adds the parts),
// at most 8 and with at least 8 steps of 32 elements per part (one per
// warp). For at most 8 rows (k_gemv_mma_1) enough parts for 2 blocks per
// multiprocessor; for more rows (k_gemv_mma_2, whose registers allow 2
// blocks per multiprocessor) only where ceil(n/16) blocks would leave more
// than half the multiprocessors idle (x_proj: 13 blocks), then about one
// block per multiprocessor. Measured on an H200 (docs/performance-gpu.md).
func (b *Backend) mmaSplit(m, blocks, k int) int {
	if b.noSplitK {
		return 1
	}
	most := min(8, (k+31)/32/8)
	fill := b.splitFill // -1: none
	if fill == 0 && m <= 8 {
		fill = 2
	}
	if fill > 0 {
		return max(1, min(most, (fill*b.sms+blocks-1)/blocks))
	}
	if 2*blocks > b.sms {
		return 1
	}
	return max(1, min(most, b.sms/blocks))
}

// MatMul implements kernels.Backend with cuBLAS: bf16/f16 weights take the
// activations rounded to their type (fp32 accumulation); float32 weights,
// and every product in fp32 mode, use pedantic float32. In bf16 mode a
// product of one row (decoding) runs k_gemv2 instead, which takes the
// activations unrounded (see usesGemv), and products of 2 to mmaRows rows
// run k_gemv_mma, with cuBLAS's rounding (see mmaTakes).
func (b *Backend) MatMul(dst, x kernels.Mat, w kernels.Weight, accumulate bool) {
	wt := w.(*Weight)
	if x.Cols != wt.cols || dst.Cols != wt.rows || dst.Rows != x.Rows {
		panic(fmt.Sprintf("cuda: matmul [%d, %d] · [%d, %d]ᵀ into [%d, %d]", x.Rows, x.Cols, wt.rows, wt.cols, dst.Rows, dst.Cols))
	}
	if x.Rows == 0 || wt.rows == 0 {
		return
	}
	defer b.enter()()
	acc := 0
	if accumulate {
		acc = 1
	}
	if b.usesGemv(x, wt) {
		b.p.reset()
		b.p.mat(dst)
		b.p.mat(x)
		b.p.ptr(wt.ptr)
		b.p.i32(wt.rows)
		b.p.i32(wt.cols)
		b.p.i32(x.Rows)
		b.p.i32(wt.kind())
		b.p.i32(acc)
		if b.oldGemv {
			b.launch("k_gemv", grid1(wt.rows*32, 256), dim3{256, 1, 1}, 0)
		} else {
			b.p.i32(b.early())
			rb := b.gemv2RB(wt.cols, 1)
			b.launch(gemv2Kernels[rb][0], dim3{(wt.rows + rb - 1) / rb, 1, 1}, dim3{256, 1, 1}, 0)
		}
		b.produced(dst, false)
		return
	}
	if b.mmaTakes(x, wt, false) && b.launchMMA(dst, x, wt, nil, acc) {
		return
	}
	g := gemm{M: x.Rows, N: wt.rows, K: wt.cols, B: wt.ptr, ldb: wt.cols, transB: true,
		C: addr(dst), ldc: dst.Stride, alpha: &b.one, beta: &b.zero, compute: compute32F}
	if accumulate {
		g.beta = &b.one
	}
	b.gemmInput(&g, x, wt)
	if err := b.blas.run(&g); err != nil {
		panic(err)
	}
	b.traced("cublas MatMul")
	b.produced(dst, false)
}

// gemmInput sets g's activations x and the operand types for weights w:
// bf16/f16 weights take x's 16-bit copy (half) of their type, float32
// weights x itself, in pedantic float32 in fp32 mode.
func (b *Backend) gemmInput(g *gemm, x kernels.Mat, w *Weight) {
	switch w.dt {
	case dtype.F32:
		g.A, g.lda, g.aType, g.bType = addr(x), x.Stride, typeF32, typeF32
		if b.fp32 {
			g.compute = compute32FPedantic
		}
	case dtype.BF16:
		g.A, g.lda = b.half(x, kindBF16)
		g.aType, g.bType = typeBF16, typeBF16
	case dtype.F16:
		g.A, g.lda = b.half(x, kindF16)
		g.aType, g.bType = typeF16, typeF16
	}
}

// MatMulSwiGLU implements kernels.GatedMatMul: in bf16 mode, where MatMul
// would run k_gemv2 (one row by default; k_gemv2_swiglu, or
// k_gemv_swiglu4 with oldGemv; activations unrounded as k_gemv2 takes
// them) or k_gemv_mma (k_gemv_mma_swiglu, rounded as MatMul rounds them),
// it computes dst = SiLU(x·w1ᵀ) ⊙ (x·w2ᵀ) in one pass over both weights;
// for other products of up to pairRows rows, as one batched cuBLAS call
// and SwiGLU (gateUpPair). Elsewhere it does nothing and returns false.
func (b *Backend) MatMulSwiGLU(dst, x kernels.Mat, w1, w2 kernels.Weight) bool {
	a, c := w1.(*Weight), w2.(*Weight)
	if a.rows != c.rows || a.cols != c.cols || a.dt != c.dt || x.Cols != a.cols || dst.Cols != a.rows || dst.Rows != x.Rows {
		return false
	}
	if x.Rows == 0 || a.rows == 0 {
		return false
	}
	switch {
	case b.gemvFits(x, a) && (!b.oldGemv || oldGemvRows(a)):
		defer b.enter()()
		sh, ldsh, kind := b.shadowOut(dst)
		b.p.reset()
		b.p.mat(dst)
		b.p.mat(x)
		b.p.ptr(a.ptr)
		b.p.ptr(c.ptr)
		b.p.i32(a.rows)
		b.p.i32(a.cols)
		b.p.i32(x.Rows)
		b.p.i32(a.kind())
		b.p.shadow(sh, ldsh, kind)
		if b.oldGemv {
			b.launch("k_gemv_swiglu4", grid1(a.rows*32, 256), dim3{256, 1, 1}, 0)
		} else {
			b.p.i32(b.early())
			rb := b.gemv2RB(a.cols, 2)
			b.launch(gemv2Kernels[rb][1], dim3{(a.rows + rb - 1) / rb, 1, 1}, dim3{256, 1, 1}, 0)
		}
		b.produced(dst, sh != 0)
		return true
	case b.mmaTakes(x, a, true):
		defer b.enter()()
		return b.launchMMA(dst, x, a, c, 0)
	case b.pairTakes(x, a):
		defer b.enter()()
		b.gateUpPair(dst, x, a, c)
		return true
	}
	return false
}

// k_mlp_mmb's shape (cu/decode.cu): the most steps of 32 elements a warp
// holds the down product's activations of, and its tiles per chunk (one
// ring stage: as many bytes as a stage of the gate/up's two weights).
const (
	mlpXS = 7
	mlpCT = 2 * mmbCT
)

// MLP implements kernels.FusedMLP where k_gemv_mmb takes the gate/up
// (9–16 rows in bf16 mode on sm_90, mmbFor) unless noMLP: k_mlp_mmb runs
// the gate/up into hid (and its 16-bit shadow), a grid-wide barrier, then
// the down product in mlpPlan's parts of K, which k_splitk_sum adds to x;
// the down's first weights stream into the ring while the grid finishes
// the gate/up and meets at the barrier. It needs the three weights' tiled
// copies (made here outside a recording) and declines otherwise.
//
// The barrier needs every block resident at once: one per multiprocessor
// of the device, which holds unless other work is confined to part of it
// (MPS with a limit on multiprocessors: there set SAMBAEVAL_CUDA_MLP=0).
// A cooperative launch, which the driver would refuse instead, made steps
// of 16 sequences 2% longer (run 179), so the launch is a plain one.
func (b *Backend) MLP(x, h, hid kernels.Mat, gate, up, down kernels.Weight) bool {
	w1, w2, w3 := gate.(*Weight), up.(*Weight), down.(*Weight)
	M, F, D := h.Rows, w1.rows, w1.cols
	if b.noMLP || M == 0 || w2.rows != F || w2.cols != D || w3.rows != D || w3.cols != F || w2.dt != w1.dt || w3.dt != w1.dt ||
		x.Rows != M || x.Cols != D || h.Cols != D || hid.Rows != M || hid.Cols != F || F%8 != 0 {
		return false
	}
	if !b.mmaTakes(h, w1, true) || !b.mmbFor(M, w1, true) {
		return false
	}
	defer b.enter()()
	parts, ns, shmem, ok := b.mlpPlan(F)
	if !ok || (b.mlpBar == 0 && b.graph.capturing) {
		return false
	}
	t1, t2, t3 := b.tiled(w1), b.tiled(w2), b.tiled(w3)
	if t1 == 0 || t2 == 0 || t3 == 0 {
		return false
	}
	xp, ld, ok := b.mmaInput(h, w1)
	if !ok {
		return false
	}
	if b.mlpBar == 0 {
		b.mlpBar = b.malloc(8)
		b.must("cuMemsetD32Async", call(b.d.cuMemsetD32Async, b.mlpBar, 0, 2, b.stream))
	}
	sh, ldsh, kind := b.shadowOut(hid)
	part := b.grow(&b.splitK, 4*parts*M*D)
	name := fmt.Sprintf("k_mlp_mmb_%d", (M+7)/8)
	b.p.reset()
	b.p.mat(hid)
	b.p.ptr(xp)
	b.p.i32(ld)
	b.p.ptr(t1)
	b.p.ptr(t2)
	b.p.ptr(t3)
	b.p.i32(F)
	b.p.i32(D)
	b.p.i32(M)
	b.p.i32(w1.kind())
	b.p.shadow(sh, ldsh, kind)
	b.p.i32(b.early())
	b.p.i32(ns)
	b.p.ptr(part)
	b.p.i32(parts)
	b.p.ptr(b.mlpBar)
	b.setDynamicShared(name, shmem)
	b.launch(name, dim3{b.sms / parts * parts, 1, 1}, dim3{32 * mmbWarps, 1, 1}, shmem)
	b.produced(hid, sh != 0)
	// The residual needs no 16-bit copy: RMSNorm reads it next.
	b.splitkSum(x, part, parts, 1, 0, 0, 0)
	b.produced(x, false)
	return true
}

// mlpPlan is k_mlp_mmb's split of the down product's K (f elements): the
// fewest parts (at least mlpParts; at most the multiprocessors) that give
// every warp at most mlpXS steps of 32 elements; and its ring's stages of
// 64 KB, from mlpRing (or the knob) as far as its shared memory holds
// them, with the dynamic shared memory they take. ok is false when they do
// not fit.
func (b *Backend) mlpPlan(f int) (parts, ns, shmem int, ok bool) {
	steps := (f + 31) / 32
	parts = max(b.mlpParts, (steps+mmbWarps*mlpXS-1)/(mmbWarps*mlpXS))
	stage := mmbWarps * mlpCT * 1024
	ns = min(mmbMaxStages, cmp.Or(b.mlpRing, mlpRing)/stage, (b.smemMax-mmbStatic)/stage)
	return parts, ns, ns * stage, parts <= b.sms && ns >= 2
}

// mlpRing is k_mlp_mmb's default ring bytes per block (2 stages of 64
// KB, as k_gemv_mmb's gate/up): on an H200 steps of 16 sequences took
// 3.293–3.295 ms with it, 3.370–3.388 with 192 KB (3 stages, as much as
// fits beside its static shared memory).
const mlpRing = 128 << 10

// pairRows is the most rows gateUpPair takes.
const pairRows = 64

// pairTakes reports whether gateUpPair runs the fused gate/up product of x
// by w and a weight like it: bf16 mode, 16-bit weights, 2 to pairRows rows
// (batched decoding where k_gemv_mma declined: weights above mmaWideBytes,
// or noMMA), unless noPair.
func (b *Backend) pairTakes(x kernels.Mat, w *Weight) bool {
	return !b.noPair && !b.fp32 && !b.noGemv && w.dt != dtype.F32 && x.Rows >= 2 && x.Rows <= pairRows
}

// gateUpPair computes dst = SiLU(x·w1ᵀ) ⊙ (x·w2ᵀ) as one cuBLAS strided
// batched product of the two weights (batch 2: the stride is the distance
// between them in memory, the lower one first) into scratch, then SwiGLU.
// For few rows cuBLAS tiles a product into blocks of 128 weight rows, fewer
// blocks than multiprocessors at Samba_3.8B's 9984 rows (78 of 132): as two
// products one after the other each streamed its weights at ~2.9 TB/s; as
// one batch of two cuBLAS runs 104 blocks of 192 rows for both, 3.2 TB/s
// (ncu, run 33 of docs/performance-gpu-history.md; batch 16 3.788 ms per step
// against 3.867, run 32).
func (b *Backend) gateUpPair(dst, x kernels.Mat, w1, w2 *Weight) {
	M, N := x.Rows, w1.rows
	lo, hi := w1, w2
	if hi.ptr < lo.ptr {
		lo, hi = hi, lo
	}
	out := b.grow(&b.pair, 2*4*M*N)
	g := gemm{M: M, N: N, K: w1.cols, B: lo.ptr, ldb: w1.cols, transB: true, C: out, ldc: N,
		alpha: &b.one, beta: &b.zero, compute: compute32F,
		batch: 2, sB: int64(hi.ptr-lo.ptr) / 2, sC: int64(M * N)}
	b.gemmInput(&g, x, w1)
	if err := b.blas.run(&g); err != nil {
		panic(err)
	}
	b.traced("cublas gate/up pair")
	gate, up := out, out+uintptr(4*M*N)
	if lo != w1 {
		gate, up = up, gate
	}
	b.swiglu(dst, gate, N, up, N, M, N)
}

// setSeqs fills the sequence table with seqs (at most maxSeq) and returns
// the longest length.
func (b *Backend) setSeqs(seqs []kernels.Seq) int {
	b.seqT.N = int32(len(seqs))
	longest := 0
	for i, s := range seqs {
		checkInt("position", s.Pos+s.Len)
		b.seqT.Row[i], b.seqT.Len[i], b.seqT.Pos[i] = int32(s.Row), int32(s.Len), int32(s.Pos)
		longest = max(longest, s.Len)
	}
	return longest
}

// groups calls f for consecutive groups of at most maxSeq sequences.
func groups(n int, f func(lo, hi int)) {
	for lo := 0; lo < n; lo += maxSeq {
		f(lo, min(n, lo+maxSeq))
	}
}

func (b *Backend) putSeqs() { b.p.put(unsafe.Pointer(&b.seqT), int(unsafe.Sizeof(b.seqT))) }
func (b *Backend) putPtrs(t *ptrTable) {
	b.p.put(unsafe.Pointer(t), int(unsafe.Sizeof(*t)))
}
func (b *Backend) putInts() { b.p.put(unsafe.Pointer(&b.ints), int(unsafe.Sizeof(b.ints))) }

// bufPtr is a buffer's device address, 0 for nil.
func bufPtr(x kernels.Buffer) uintptr {
	if x == nil {
		return 0
	}
	return dev(x).ptr
}

// maxConv is MAXK of the kernels.
const maxConv = 8

// convTile is the number of time steps one thread of k_mamba_conv runs.
const convTile = 64

// MambaConv implements kernels.Backend.
func (b *Backend) MambaConv(dst, x, weight, bias kernels.Mat, states []*kernels.MambaState, seqs []kernels.Seq) {
	E, K := x.Cols, weight.Cols
	if K > maxConv {
		panic(fmt.Sprintf("cuda: convolution width %d exceeds %d", K, maxConv))
	}
	defer b.enter()()
	sh, ldsh, kind := b.shadowOut(dst)
	groups(len(seqs), func(lo, hi int) {
		longest := b.setSeqs(seqs[lo:hi])
		if longest == 0 {
			return
		}
		for i, st := range states[lo:hi] {
			b.ptrA[i] = uint64(bufPtr(st.Conv))
			dev(st.Conv).ver++
		}
		tiles := (longest + convTile - 1) / convTile
		fused := 0
		if tiles == 1 {
			fused = 1
		}
		b.p.reset()
		b.p.mat(dst)
		b.p.mat(x)
		b.p.mat(weight)
		b.p.ptr(addr(bias))
		b.p.i32(E)
		b.p.i32(K)
		b.p.i32(convTile)
		b.p.i32(fused)
		b.putSeqs()
		b.putPtrs(&b.ptrA)
		b.p.shadow(sh, ldsh, kind)
		b.launch("k_mamba_conv", dim3{(E + 127) / 128, tiles, hi - lo}, dim3{128, 1, 1}, 0)
		if fused == 0 {
			b.p.reset()
			b.p.mat(x)
			b.p.i32(E)
			b.p.i32(K)
			b.putSeqs()
			b.putPtrs(&b.ptrA)
			b.launch("k_conv_state", dim3{(E + 127) / 128, 1, hi - lo}, dim3{128, 1, 1}, 0)
		}
	})
	b.produced(dst, sh != 0)
}

// scanVariants are the scan kernels for 16 states: "s4" and "s8" use 4 or
// 8 threads per channel reducing y with shuffles; "p4", "p8" and "p16" use
// 4, 8 or 16 and reduce through shared memory after each chunk; "q8" and
// "q16" are p8 and p16 loading the next chunk's inputs while the current
// one runs.
var scanVariants = map[string]struct {
	kernel string
	lanes  int
}{
	"s4": {"k_scan16", 4}, "s8": {"k_scan16x8", 8},
	"p4": {"k_scan16p4", 4}, "p8": {"k_scan16p8", 8}, "p16": {"k_scan16p16", 16},
	"q8": {"k_scan16q8", 8}, "q16": {"k_scan16q16", 16},
}

// defaultScan16 is the scan variant used for 16 states: q8 was the
// fastest on an H200 at the Samba_3.8B shape (T=16384, 5632 channels, run
// 8: s4 5.35 ms, s8 4.10, p4 5.14, p8 3.47, p16 3.19, q8 2.50, q16 2.89;
// docs/performance-gpu-history.md).
const defaultScan16 = "q8"

// SelectiveScan implements kernels.Backend; without z the kernels get a
// null pointer and apply no gate.
func (b *Backend) SelectiveScan(dst, u, delta, B, C, z kernels.Mat, p kernels.ScanParams, states []*kernels.MambaState, seqs []kernels.Seq) {
	E, N := u.Cols, B.Cols
	defer b.enter()()
	sh, ldsh, kind := b.shadowOut(dst)
	name, grid0 := "k_scan_any", (E+127)/128
	switch {
	case b.scanDec(B, C, p.A, N, seqs):
		name, grid0 = "k_scan_dec", (4*E+127)/128
	case N == 16:
		v, ok := scanVariants[b.scan16]
		if !ok {
			v = scanVariants[defaultScan16]
		}
		ch := 128 / v.lanes // channels per block
		name, grid0 = v.kernel, (E+ch-1)/ch
	case N == 4 || N == 8 || N == 32 || N == 64:
		name, grid0 = "k_scan"+strconv.Itoa(N), (E+31)/32
	}
	if name != "k_scan_any" && !b.fp32 {
		name += "f" // bf16 mode: exp2 with A·log2(e)
	}
	b.launchScan(name, grid0, dst, u, delta, B, C, z, p, states, seqs, sh, ldsh, kind, nil)
}

// launchScan launches scan kernel name (grid0 blocks per sequence) on every
// group of sequences; dt, when set, is the dt_proj weight k_scan_dec_dtf
// applies to delta first.
func (b *Backend) launchScan(name string, grid0 int, dst, u, delta, B, C, z kernels.Mat, p kernels.ScanParams,
	states []*kernels.MambaState, seqs []kernels.Seq, sh uintptr, ldsh, kind int, dt *Weight) {
	E, N := u.Cols, B.Cols
	groups(len(seqs), func(lo, hi int) {
		if b.setSeqs(seqs[lo:hi]) == 0 {
			return
		}
		for i, st := range states[lo:hi] {
			b.ptrA[i] = uint64(bufPtr(st.SSM))
			dev(st.SSM).ver++
		}
		b.p.reset()
		b.p.mat(dst)
		b.p.mat(u)
		b.p.mat(delta)
		b.p.mat(B)
		b.p.mat(C)
		b.p.optMat(z)
		b.p.mat(p.A)
		b.p.ptr(addr(p.D))
		b.p.ptr(addr(p.DeltaBias))
		b.p.i32(E)
		b.p.i32(N)
		b.putSeqs()
		b.putPtrs(&b.ptrA)
		b.p.shadow(sh, ldsh, kind)
		if dt != nil {
			b.p.ptr(dt.ptr)
			b.p.i32(dt.cols)
			b.p.i32(dt.kind())
		}
		b.launch(name, dim3{grid0, hi - lo, 1}, dim3{128, 1, 1}, 0)
	})
	b.produced(dst, sh != 0)
}

// dtfMaxR is the widest dt_proj k_scan_dec_dtf takes (DTF_CHUNKS in
// mamba.cu: each thread keeps its part of the weight row in registers).
const dtfMaxR = 256

// SelectiveScanDelta implements kernels.DeltaScan: for a decoding step of
// at most gemvRows sequences that k_scan_dec takes (bf16 mode, 16 states),
// k_scan_dec_dtf computes delta = dlow·dtProjᵀ itself (16-bit weights, R a
// multiple of 8 up to dtfMaxR, dlow's rows 16-byte aligned) and runs the
// scan, one kernel instead of a product and a scan. Elsewhere it does
// nothing and returns false. (Run 10, Samba_3.8B: one sequence 3.016 ms
// per step with it, 3.024 without; 16 sequences 4.476 with it, 4.454
// without, where each thread group rereads its weight row for every
// sequence and cuBLAS takes the product.)
func (b *Backend) SelectiveScanDelta(dst, u, dlow kernels.Mat, dtProj kernels.Weight, B, C, z kernels.Mat, p kernels.ScanParams,
	states []*kernels.MambaState, seqs []kernels.Seq) bool {
	w := dtProj.(*Weight)
	E, N := u.Cols, B.Cols
	if b.fp32 || b.noScanDelta || len(seqs) > gemvRows || w.dt == dtype.F32 || w.rows != E || w.cols != dlow.Cols || w.cols%8 != 0 ||
		w.cols > dtfMaxR || !aligned4(dlow) ||
		!b.scanDec(B, C, p.A, N, seqs) {
		return false
	}
	defer b.enter()()
	sh, ldsh, kind := b.shadowOut(dst)
	b.launchScan("k_scan_dec_dtf", (4*E+127)/128, dst, u, dlow, B, C, z, p, states, seqs, sh, ldsh, kind, w)
	return true
}

// scanDec reports whether a scan runs k_scan_dec, the single-step scan for
// 16 states (decoding: every sequence has at most one row): it loads A, B
// and C four floats at a time, so their rows must be 16-byte aligned.
// noScanDec keeps decoding on the chunked scans.
func (b *Backend) scanDec(B, C, A kernels.Mat, N int, seqs []kernels.Seq) bool {
	if b.noScanDec || N != 16 || !aligned4(B) || !aligned4(C) || !aligned4(A) {
		return false
	}
	for _, s := range seqs {
		if s.Len > 1 {
			return false
		}
	}
	return true
}

// invFreqTable returns the device table of base^(-2j/headDim), computed on
// the host exactly as the reference computes it.
func (b *Backend) invFreqTable(base float64, headDim int) uintptr {
	key := [2]float64{base, float64(headDim)}
	if p, ok := b.invFreq[key]; ok {
		return p
	}
	half := headDim / 2
	f := make([]float64, half)
	for j := range f {
		f[j] = math.Pow(base, -float64(2*j)/float64(headDim))
	}
	p := b.malloc(8 * half)
	b.must("cuMemcpyHtoDAsync", call(b.d.cuMemcpyHtoDAsync, p, uintptr(unsafe.Pointer(&f[0])), uintptr(8*half), b.stream))
	b.must("cuStreamSynchronize", call(b.d.cuStreamSynchronize, b.stream))
	b.invFreq[key] = p
	return p
}

// RoPE implements kernels.Backend.
func (b *Backend) RoPE(x kernels.Mat, nHeads, headDim int, base float64, seqs []kernels.Seq) {
	if x.Rows == 0 || headDim < 2 {
		return
	}
	defer b.enter()()
	inv := b.invFreqTable(base, headDim)
	threads := min(128, roundUp(headDim/2, 32))
	groups(len(seqs), func(lo, hi int) {
		b.setSeqs(seqs[lo:hi])
		b.p.reset()
		b.p.mat(x)
		b.p.i32(nHeads)
		b.p.i32(headDim)
		b.p.ptr(inv)
		b.putSeqs()
		b.p.i32(x.Rows)
		b.p.ptr(b.graph.pos())
		// A few rows (decoding): one head per block; else ropeHeads.
		hpb, gy := ropeHeads, 1
		if x.Rows <= fewRows {
			hpb, gy = 1, min(nHeads, 65535)
		}
		b.p.i32(hpb)
		b.launch("k_rope", dim3{grid1(x.Rows, 1)[0], gy, 1}, dim3{threads, 1, 1}, 0)
	})
	b.produced(x, false)
}

// LogProbs implements kernels.Backend.
func (b *Backend) LogProbs(out []kernels.TokenScore, logits kernels.Mat, targets []int32) {
	M := logits.Rows
	if M == 0 {
		return
	}
	for i, t := range targets[:M] {
		if int(t) >= logits.Cols {
			panic(fmt.Sprintf("cuda: logprobs: target %d at %d outside the vocabulary (%d)", t, i, logits.Cols))
		}
	}
	defer b.enter()()
	res := b.grow(&b.scores, 12*M)
	for r0 := 0; r0 < M; r0 += maxSeq {
		r1 := min(M, r0+maxSeq)
		copy(b.ints[:], targets[r0:r1])
		b.p.reset()
		b.p.ptr(at(logits, r0, 0))
		b.p.i32(logits.Stride)
		b.p.i32(logits.Cols)
		b.p.i32(r1 - r0)
		b.putInts()
		b.p.ptr(res + uintptr(12*r0))
		b.launch("k_logprobs", dim3{r1 - r0, 1, 1}, dim3{1024, 1, 1}, 0)
	}
	host := make([]int32, 3*M)
	b.must("cuMemcpyDtoHAsync", call(b.d.cuMemcpyDtoHAsync, uintptr(unsafe.Pointer(&host[0])), res, uintptr(12*M), b.stream))
	b.must("cuStreamSynchronize", call(b.d.cuStreamSynchronize, b.stream))
	for r := range M {
		out[r] = kernels.TokenScore{
			LogProb: math.Float32frombits(uint32(host[3*r])),
			Argmax:  host[3*r+1],
			Greedy:  host[3*r+2] != 0,
		}
	}
}
