package cpu

import (
	"math"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/sambaeval/sambaeval/kernels"
)

// The fast attention works on tiles of up to 6 query rows that share one
// key/value head: either up to 6 heads of one group at one position (when
// a group has 4 or more heads, as in multi-query attention), or one head at
// up to 6 consecutive positions. For a tile it
//
//  1. computes the scores S = Q·Kᵀ for the union of the rows' key ranges
//     with the GEMM micro-kernel, 16 keys (a packed panel of K) at a time;
//  2. per row, takes the exact maximum over the row's own keys and sets
//     p = exp(S·scale - max) there and 0 elsewhere (softmaxRow), summing
//     p in eight lanes aligned to absolute positions;
//  3. computes O = P·V with the micro-kernel reading V in place, over the
//     keys in increasing position, one run of contiguous rows at a time
//     (cache before the ring wraps, cache after, the chunk), carrying the
//     accumulators through dst;
//  4. divides each row by its sum.
//
// This is an exact two-pass softmax rather than an online one: the scores
// of one tile row fit in L1/L2 (a window of 2048 keys is 8 KiB), and it
// saves the rescaling. Every number of a row comes from chains over that
// row's own keys in position order, in which the other rows' keys
// contribute exact zeros, so a query's result does not depend on the tile,
// the thread, or whether its keys came from the cache or the chunk.

// attnTile is one unit of attention work: rows [0, mr) are query rows at
// q + r·qs, of head h0 + r·dh at position t0 + r·dt (chunk-relative).
type attnTile struct {
	t0, dt, h0, dh, mr int
}

// attnScratch is one worker's memory for the attention.
type attnScratch struct {
	s     []float32 // scores/probabilities, gemmMR rows
	panel []float32 // one packed K block, 16×hd
	tile  []float32 // gemmMR×16 partial output tile
	vpan  []float32 // packed V for head sizes not a multiple of 16
	rows  [16]unsafe.Pointer
}

func (b *Backend) attention(dst, q, k, v kernels.Mat, sh kernels.AttnShape, caches []*kernels.KVCache, seqs []kernels.Seq) {
	H, G, hd := sh.NHead, sh.NKV, sh.HeadDim
	T := q.Rows
	checkView("Attention", "q", q, T, H*hd)
	checkView("Attention", "k", k, T, G*hd)
	checkView("Attention", "v", v, T, G*hd)
	checkView("Attention", "dst", dst, T, H*hd)
	if H == 0 || hd == 0 || G == 0 || H%G != 0 {
		panic("cpu: Attention: bad shape")
	}
	group := H / G
	kvDim := G * hd
	for si, s := range seqs {
		c := caches[si]
		var ck, cv []float32
		if c.Cap > 0 {
			ck, cv = data(c.K), data(c.V)
			if len(ck) < c.Cap*kvDim || len(cv) < c.Cap*kvDim {
				panic("cpu: Attention: cache smaller than its capacity")
			}
		}
		if s.Pos > 0 && c.Cap == 0 && sh.Window != 1 { // a window of 1 sees no earlier position
			panic("cpu: Attention: sequence has earlier positions but no cache")
		}
		var tiles []attnTile
		if group >= 4 {
			for t := 0; t < s.Len; t++ {
				for g := 0; g < G; g++ {
					for h := 0; h < group; h += gemmMR {
						tiles = append(tiles, attnTile{t0: t, h0: g*group + h, dh: 1, mr: min(gemmMR, group-h)})
					}
				}
			}
		} else {
			for h := 0; h < H; h++ {
				for t := 0; t < s.Len; t += gemmMR {
					tiles = append(tiles, attnTile{t0: t, dt: 1, h0: h, mr: min(gemmMR, s.Len-t)})
				}
			}
		}
		a := &attnRun{
			b: b, dst: dst, q: q, k: k, v: v, sh: sh, group: group, kvDim: kvDim,
			seq: s, cap: c.Cap, ck: ck, cv: cv,
		}
		var next atomic.Int64
		workers := min(b.threads, len(tiles))
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sc := &attnScratch{panel: make([]float32, gemmNR*hd), tile: make([]float32, gemmMR*gemmNR)}
				for {
					i := int(next.Add(1)) - 1
					if i >= len(tiles) {
						return
					}
					a.tile(sc, tiles[i])
				}
			}()
		}
		wg.Wait()
		// Store the chunk's keys and values; a ring keeps only the last Cap.
		if c.Cap > 0 {
			for t := max(0, s.Len-c.Cap); t < s.Len; t++ {
				o := ((s.Pos + t) % c.Cap) * kvDim
				copy(ck[o:o+kvDim], row(k, s.Row+t))
				copy(cv[o:o+kvDim], row(v, s.Row+t))
			}
		}
	}
}

// attnRun is the attention of one sequence.
type attnRun struct {
	b            *Backend
	dst, q, k, v kernels.Mat
	sh           kernels.AttnShape
	group, kvDim int
	seq          kernels.Seq
	cap          int
	ck, cv       []float32
}

// first returns the first key position a query at position pos sees.
func (a *attnRun) first(pos int) int {
	if a.sh.Window > 0 {
		return max(0, pos-a.sh.Window+1)
	}
	return 0
}

// kv returns pointers to column col of the key and value rows of absolute
// position j, and the stride in bytes to the next position while it stays
// in the same run, and how many positions that run still holds.
func (a *attnRun) kv(j, col int) (kp, vp unsafe.Pointer, stride uintptr, run int) {
	s := a.seq
	if j >= s.Pos {
		r := s.Row + j - s.Pos
		kd, vd := data(a.k.Buf), data(a.v.Buf)
		kp = unsafe.Pointer(&kd[a.k.Off+r*a.k.Stride+col])
		vp = unsafe.Pointer(&vd[a.v.Off+r*a.v.Stride+col])
		if a.k.Stride != a.v.Stride {
			panic("cpu: Attention: k and v strides differ")
		}
		return kp, vp, uintptr(4 * a.k.Stride), s.Pos + s.Len - j
	}
	if a.cap == 0 {
		// Only a window of 1 runs without a cache: positions before the
		// chunk are then alignment lanes that no query sees (zeros).
		return unsafe.Pointer(&zeroRow[0]), unsafe.Pointer(&zeroRow[0]), 0, s.Pos - j
	}
	slot := j % a.cap
	o := slot*a.kvDim + col
	return unsafe.Pointer(&a.ck[o]), unsafe.Pointer(&a.cv[o]), uintptr(4 * a.kvDim), min(a.cap-slot, s.Pos-j)
}

// tile computes one attention tile.
func (a *attnRun) tile(sc *attnScratch, tl attnTile) {
	b, hd, s := a.b, a.sh.HeadDim, a.seq
	g := tl.h0 / a.group // the tile's key/value head
	mr := tl.mr
	kLo, kHi := math.MaxInt, 0
	for r := 0; r < mr; r++ {
		pos := s.Pos + tl.t0 + r*tl.dt
		kLo, kHi = min(kLo, a.first(pos)), max(kHi, pos)
	}
	kA := kLo &^ 7 // absolute alignment of the lanes of the sums
	nk := kHi - kA + 1
	ss := (nk + gemmNR - 1) &^ (gemmNR - 1) // score row stride
	if len(sc.s) < gemmMR*ss {
		sc.s = make([]float32, gemmMR*ss)
	}
	S := sc.s
	qd, dd := data(a.q.Buf), data(a.dst.Buf)
	qp := &qd[a.q.Off+(s.Row+tl.t0)*a.q.Stride+tl.h0*hd]
	op := &dd[a.dst.Off+(s.Row+tl.t0)*a.dst.Stride+tl.h0*hd]
	qs := uintptr(4 * (tl.dt*a.q.Stride + tl.dh*hd))
	ost := uintptr(4 * (tl.dt*a.dst.Stride + tl.dh*hd))

	// 1. Scores, 16 keys at a time; keys past kHi are zero rows.
	for kb := 0; kb < nk; kb += gemmNR {
		for j := range sc.rows {
			if pos := kA + kb + j; pos <= kHi {
				kp, _, _, _ := a.kv(pos, g*hd)
				sc.rows[j] = kp
			} else {
				sc.rows[j] = unsafe.Pointer(&zeroRow[0])
			}
		}
		packRowsF32(b.k, sc.panel, &sc.rows, hd)
		b.k.tile[tileF32](mr, hd, qp, qs, unsafe.Pointer(&sc.panel[0]), gemmNR*4, &S[kb], uintptr(4*ss), 0)
	}

	// 2. Masked exponentials and their sums.
	var sums [gemmMR]float32
	n8 := (nk + 7) &^ 7
	scale := a.sh.Scale
	for r := 0; r < mr; r++ {
		pos := s.Pos + tl.t0 + r*tl.dt
		lo, hi := a.first(pos)-kA, pos-kA
		p := S[r*ss : r*ss+n8]
		var m float32
		if scale > 0 {
			m = b.k.max(p[lo:hi+1]) * scale
		} else {
			m = float32(math.Inf(-1))
			for _, v := range p[lo : hi+1] {
				m = max(m, v*scale)
			}
		}
		sums[r] = b.k.softmaxRow(p, lo, hi, scale, m)
	}

	// 3. O = P·V over runs of contiguous key rows, 16 columns at a time.
	for d0 := 0; d0 < hd; d0 += gemmNR {
		cols := min(gemmNR, hd-d0)
		cp, cs := unsafe.Add(unsafe.Pointer(op), 4*d0), ost
		if cols < gemmNR {
			cp, cs = unsafe.Pointer(&sc.tile[0]), gemmNR*4
		}
		load := 0
		for j := kA; j <= kHi; {
			_, vp, stride, run := a.kv(j, g*hd+d0)
			n := min(run, kHi-j+1)
			bp, bs := vp, stride
			if cols < gemmNR {
				// A head size that is not a multiple of 16: copy the
				// columns so that the kernel reads nothing past them.
				if len(sc.vpan) < n*gemmNR {
					sc.vpan = make([]float32, n*gemmNR)
				}
				for i := 0; i < n; i++ {
					src := unsafe.Slice((*float32)(unsafe.Add(vp, uintptr(i)*stride)), cols)
					copy(sc.vpan[i*gemmNR:i*gemmNR+cols], src)
					clear(sc.vpan[i*gemmNR+cols : (i+1)*gemmNR])
				}
				bp, bs = unsafe.Pointer(&sc.vpan[0]), gemmNR*4
			}
			b.k.tile[tileF32](mr, n, &S[j-kA], uintptr(4*ss), bp, bs, (*float32)(cp), cs, load)
			load = 1
			j += n
		}
		if cols < gemmNR {
			for r := 0; r < mr; r++ {
				o := unsafe.Slice((*float32)(unsafe.Add(unsafe.Pointer(op), uintptr(r)*ost+uintptr(4*d0))), cols)
				copy(o, sc.tile[r*gemmNR:r*gemmNR+cols])
			}
		}
	}

	// 4. Normalize.
	for r := 0; r < mr; r++ {
		o := unsafe.Slice((*float32)(unsafe.Add(unsafe.Pointer(op), uintptr(r)*ost)), hd)
		l := sums[r]
		for i := range o {
			o[i] /= l
		}
	}
}

// packRowsF32 packs hd float32 elements of each of 16 rows k-major into
// panel (element d of row j at panel[16d+j]).
func packRowsF32(k *kernelSet, panel []float32, rows *[16]unsafe.Pointer, hd int) {
	h8 := hd &^ 7
	if h8 > 0 {
		k.pack(&panel[0], rows, h8)
	}
	for d := h8; d < hd; d++ {
		for j, p := range rows {
			panel[d*gemmNR+j] = *(*float32)(unsafe.Add(p, 4*d))
		}
	}
}
