package cuda

import (
	"fmt"
	"math"
	"strconv"

	"github.com/sambaeval/sambaeval/kernels"
)

// attnScratch holds the long-chunk attention path's buffers.
type attnScratch struct {
	kall, vall, q, s, p, o scratch
	part                   scratch // k_attn's per-split partials
}

// simtMaxLen is the longest chunk (per sequence) attended by k_attn; longer
// ones go through cuBLAS. simtMaxHead is k_attn's largest head size.
const (
	simtMaxLen  = 64
	simtMaxHead = 256
)

// combineDims is the output dimensions per block of k_attn_combine
// (COMB_DIMS in attention.cu).
const combineDims = 64

// scoreBudget bounds the float32 scores of one query block of the cuBLAS
// path (elements); queryBlock is the preferred block of queries.
const (
	scoreBudget = 64 << 20
	queryBlock  = 512
)

// Attention implements kernels.Backend.
func (b *Backend) Attention(dst, q, k, v kernels.Mat, sh kernels.AttnShape, caches []*kernels.KVCache, seqs []kernels.Seq) {
	H, G, hd := sh.NHead, sh.NKV, sh.HeadDim
	if G <= 0 || H%G != 0 || q.Cols != H*hd || k.Cols != G*hd || v.Cols != G*hd || dst.Cols != H*hd {
		panic(fmt.Sprintf("cuda: attention shapes: q %d, k %d, v %d, dst %d columns for %d heads, %d groups of %d", q.Cols, k.Cols, v.Cols, dst.Cols, H, G, hd))
	}
	defer b.enter()()
	shp, ldsh, kind := b.shadowOut(dst)
	kvk := cacheKind(caches)
	var short []int
	for i, s := range seqs {
		switch {
		case s.Len == 0:
		case s.Len <= simtMaxLen && hd <= simtMaxHead:
			short = append(short, i)
		default:
			b.attnGemm(dst, q, k, v, sh, caches[i], kvk, s, shp, ldsh, kind)
		}
	}
	dpl, grouped := b.attnGroupedDPL(q, k, v, sh)
	// k_attn_dec and k_attn_decm store their sequences' keys and values
	// themselves (their store argument); k_kv_store stores the others'.
	stored := make([]bool, len(seqs))
	groups(len(short), func(lo, hi int) {
		sub := make([]kernels.Seq, 0, hi-lo)
		for j, i := range short[lo:hi] {
			sub = append(sub, seqs[i])
			c := caches[i]
			b.ptrA[j], b.ptrB[j], b.ints[j] = uint64(bufPtr(c.K)), uint64(bufPtr(c.V)), int32(c.Cap)
		}
		longest := b.setSeqs(sub)
		keys := b.attnKeys(sh.Window, sub, caches, short[lo:hi])
		var nsplit, ks, tiles, smem, bufs int // bufs: k_attn_decm's tile buffers
		kernel, dec := "k_attn", false        // dec: k_attn_dec, k_attn_decm or k_attn_decp
		perWarp := false                      // k_attn_decp: tiles per warp, 128 threads
		switch {
		case grouped:
			kernel = "k_attn_grp" + strconv.Itoa(dpl)
			nsplit = b.groupedSplits(G, longest, hi-lo, keys)
		case b.attnDec(q, k, v, sh, longest, hi-lo, keys, kvk, &ks, &tiles, &smem):
			kernel, dec = "k_attn_dec"+kvSuffix(kvk), true
			if name, mm, nb, ok := b.attnDecMMA(sh, keys, tiles, kvk); ok {
				kernel, ks, smem, bufs = name, 16, mm, nb
				if name, tw, n, mm, ok := b.attnDecWarps(sh, keys, hi-lo, kvk); ok {
					kernel, tiles, nsplit, smem, bufs, perWarp = name, tw, n, mm, 0, true
				}
			}
			if !perWarp {
				nsplit = (keys + ks*tiles - 1) / (ks * tiles)
			}
			b.setDynamicShared(kernel, smem)
		default:
			nsplit = b.keySplits(H, longest, hi-lo, keys)
		}
		store := dec && !b.noDecStore
		if store {
			for _, i := range short[lo:hi] {
				stored[i] = true
			}
		}
		var part uintptr
		if nsplit > 1 {
			part = b.grow(&b.att.part, 4*q.Rows*H*nsplit*(hd+2))
		}
		b.p.reset()
		b.p.mat(dst)
		b.p.mat(q)
		b.p.mat(k)
		b.p.mat(v)
		b.p.i32(H)
		b.p.i32(G)
		if grouped {
			b.p.f32(sh.Scale)
			b.p.i32(sh.Window)
		} else {
			b.p.i32(hd)
			b.p.i32(sh.Window)
			b.p.f32(sh.Scale)
		}
		b.putSeqs()
		b.putPtrs(&b.ptrA)
		b.putPtrs(&b.ptrB)
		b.putInts()
		b.p.ptr(b.graph.pos())
		b.p.shadow(shp, ldsh, kind)
		b.p.i32(nsplit)
		b.p.ptr(part)
		switch {
		case kernel == "k_attn":
			b.p.i32(kvk)
			b.launch(kernel, dim3{H * nsplit, longest, hi - lo}, dim3{256, 1, 1}, 0)
		case dec: // the kernel's name gives the caches' kind
			b.p.i32(ks)
			b.p.i32(boolInt(store))
			b.p.i32(tiles)
			if bufs > 0 {
				b.p.i32(bufs)
			}
			threads := adThreads
			if perWarp {
				b.p.i32(boolInt(b.early() == 1 && !b.decLate))
				threads = 32 * dpWarps
			}
			b.launch(kernel, dim3{nsplit, G, hi - lo}, dim3{threads, 1, 1}, smem)
		default:
			b.p.i32(kvk)
			b.launch(kernel, dim3{G * nsplit, longest, hi - lo}, dim3{256, 1, 1}, 0)
		}
		if nsplit > 1 {
			b.p.reset()
			b.p.mat(dst)
			b.p.ptr(part)
			b.p.i32(H)
			b.p.i32(hd)
			b.p.i32(nsplit)
			b.putSeqs()
			b.p.shadow(shp, ldsh, kind)
			b.launch("k_attn_combine", dim3{H * ((hd + combineDims - 1) / combineDims), longest, hi - lo}, dim3{256, 1, 1}, 0)
		}
	})
	// Store the chunk's keys and values once every query has read the
	// caches (those k_attn_dec and k_attn_decm have not stored).
	var rest []int
	for i, s := range seqs {
		c := caches[i]
		if s.Len > 0 && c.Cap > 0 {
			dev(c.K).ver++
			dev(c.V).ver++
		}
		if !stored[i] {
			rest = append(rest, i)
		}
	}
	groups(len(rest), func(lo, hi int) {
		sub := make([]kernels.Seq, 0, hi-lo)
		for j, i := range rest[lo:hi] {
			sub = append(sub, seqs[i])
			c := caches[i]
			b.ptrA[j], b.ptrB[j], b.ints[j] = uint64(bufPtr(c.K)), uint64(bufPtr(c.V)), int32(c.Cap)
		}
		longest := b.setSeqs(sub)
		if longest == 0 {
			return
		}
		b.p.reset()
		b.p.mat(k)
		b.p.mat(v)
		b.p.i32(G * hd)
		b.putSeqs()
		b.putPtrs(&b.ptrA)
		b.putPtrs(&b.ptrB)
		b.putInts()
		b.p.ptr(b.graph.pos())
		b.p.i32(kvk)
		b.launch("k_kv_store", dim3{(G*hd + 255) / 256, min(longest, 65535), hi - lo}, dim3{256, 1, 1}, 0)
	})
	b.produced(dst, shp != 0)
}

// cacheKind is the element kind of the key/value caches (kindF32 or
// kindBF16, from their buffers): a launch reads one kind, so the caches of
// one call must all be of one kind (f32KV changes the kind of the caches
// made afterwards only).
func cacheKind(caches []*kernels.KVCache) int {
	kind := -1
	for _, c := range caches {
		if c.K == nil {
			continue
		}
		for _, x := range []kernels.Buffer{c.K, c.V} {
			if k := dev(x).kind; kind < 0 {
				kind = k
			} else if k != kind {
				panic("cuda: attention over key/value caches of different element types (states made before and after a change of f32KV)")
			}
		}
	}
	if kind < 0 {
		return kindF32 // no cache memory: nothing is read
	}
	return kind
}

// kvSuffix ends the name of a decoding kernel for caches of kind: "_kv16"
// for bf16 (k_attn_dec_kv16, k_attn_decm64_kv16, …).
func kvSuffix(kind int) string {
	if kind == kindBF16 {
		return "_kv16"
	}
	return ""
}

// attnKeys is the most keys a query of the short chunks seqs can see: the
// window, or for unlimited windows the longest context. While a decoding
// step is recorded the positions must not decide anything, so the caches'
// capacities bound the context instead (a cache that grows frees memory,
// which drops the recording).
func (b *Backend) attnKeys(window int, seqs []kernels.Seq, caches []*kernels.KVCache, idx []int) int {
	if window > 0 {
		return window
	}
	keys := 0
	for j, s := range seqs {
		if b.graph.active {
			keys = max(keys, caches[idx[j]].Cap+s.Len)
		} else {
			keys = max(keys, s.Pos+s.Len)
		}
	}
	return keys
}

// keySplits picks how many blocks share one query's keys in k_attn: about
// 128 keys each, while the launch has fewer than four blocks per
// multiprocessor, at most 16.
func (b *Backend) keySplits(H, longest, nseq, keys int) int {
	n := min((keys+127)/128, 16, max(1, 4*b.sms/(H*longest*nseq)))
	return max(n, 1)
}

// Decoding attention per key/value group (k_attn_dec): threads per block,
// most query heads per key/value head, largest head size, and most key
// splits (8192 keys at 32 per block, COMBINE_MAX of k_attn_combine; longer
// contexts, which only unlimited windows have, stay on k_attn, which splits
// a query's keys at most 16 ways).
const (
	adThreads   = 256
	adMaxG      = 16
	adMaxHead   = 256
	adMaxSplits = 256
)

// adSmem is k_attn_dec's dynamic shared memory in bytes for Hg query heads
// per key/value head, head size hd, ks keys per tile, T tiles per block
// (two tile buffers when T > 1) and caches of esz-byte elements: the query
// rows (float32, padded by 4), the key and value tiles (adTileRow), the
// partial scores of the AD_THREADS/ks dimension slices, the probabilities
// (see attention.cu).
func adSmem(Hg, hd, ks, T, esz int) int {
	return 4*(Hg*(hd+4)+adThreads*Hg+Hg*(ks+1)) + 2*adTileBufs(T)*ks*adTileRow(hd, esz)
}

// adTileRow is the bytes of a key or value tile row of k_attn_dec and
// k_attn_decm: hd elements of the caches' esz bytes, padded by 16 bytes
// (AD_LD in attention.cu).
func adTileRow(hd, esz int) int { return hd*esz + 16 }

// adTilesDefault is k_attn_dec's tiles per block (of 16 keys) for
// decoding steps of at least adTilesMinSeqs key/value heads × sequences
// whose window has at least adTilesDefault·16·8 keys (eight splits or
// more). Run 11 (Samba_3.8B, window 2048, 1 KV head), ms per step with 1,
// 2, 4, 8 tiles: batch 1 3.003, 3.011, 3.119, 3.428 (the tiles of a block
// run one after the other: fewer, longer blocks are slower when they are
// the only work); batch 16 4.450, 4.547, 4.392, 4.353 (fewer partials to
// combine, loads of a tile overlapping the previous tile's work).
// Below adTilesMinSeqs blocks take adTilesFew tiles: run 21, batch 1,
// 2.854 ms per step with 2 tiles of 16 keys (64 blocks) against 2.877 with
// one (128 blocks).
const (
	adTilesDefault = 8
	adTilesMinSeqs = 8
	adTilesFew     = 2
)

// attnDec reports whether the short chunks can run k_attn_dec (or
// k_attn_dec_kv16 for caches of kind kvk), with how many keys per tile
// (*ks), tiles per block (*T) and bytes of dynamic shared memory (*smem):
// every chunk of length 1 (longest == 1: chunks are never empty here), head
// size a multiple of 4 (of 8 for bf16 caches) up to adMaxHead, at most
// adMaxG query heads per key/value head, 16-byte aligned rows for the
// 16-byte copies (the caches are allocations, rows of G·hd elements).
// Blocks take adTilesDefault tiles of 16 keys for at least adTilesMinSeqs
// key/value heads × sequences, adTilesFew for fewer, where that leaves at
// least 8 splits (Samba_3.8B at batch 16, window 2048: 16 splits of 128
// keys, so that k_attn_combine merges 16 partials, not 64; at batch 1 64
// splits of 32 keys); else one tile of 32 keys unless that leaves
// multiprocessors idle or needs more shared memory than a block may have
// (then 16).
// attnDecKeys and attnDecTiles override. keys is the most keys a query
// sees (attnKeys), so the grid never depends on the positions.
func (b *Backend) attnDec(q, k, v kernels.Mat, sh kernels.AttnShape, longest, nseq, keys, kvk int, ks, T, smem *int) bool {
	H, G, hd := sh.NHead, sh.NKV, sh.HeadDim
	esz := elemBytes(kvk)
	if b.noAttnDec || longest != 1 || hd%(16/esz) != 0 || hd > adMaxHead || H/G > adMaxG || !aligned4(q) || !aligned4(k) || !aligned4(v) {
		return false
	}
	for j := range nseq {
		if (b.ptrA[j]|b.ptrB[j])%16 != 0 {
			return false
		}
	}
	limit := b.adSmemLimit()
	n, t := b.attnDecKeys, b.attnDecTiles
	if n != 0 && n != 16 && n != 32 {
		panic(fmt.Sprintf("cuda: k_attn_dec takes 16 or 32 keys per tile, not %d", n))
	}
	if t == 0 {
		t = 1
		few := adTilesFew
		if G*nseq >= adTilesMinSeqs {
			few = adTilesDefault
		}
		if n != 32 && keys >= few*16*8 && adSmem(H/G, hd, 16, few, esz) <= limit {
			t, n = few, 16
		}
	}
	if n == 0 {
		n = 32
		if t > 1 {
			n = 16
		}
		idle := G*nseq*((keys+32*t-1)/(32*t)) < b.sms && (keys+16*t-1)/(16*t) <= adMaxSplits
		if idle || adSmem(H/G, hd, 32, t, esz) > limit {
			n = 16
		}
	}
	if adSmem(H/G, hd, n, t, esz) > limit || (keys+n*t-1)/(n*t) > adMaxSplits {
		return false
	}
	*ks, *T, *smem = n, t, adSmem(H/G, hd, n, t, esz)
	return true
}

// attnDecMMA names k_attn_decm for a decoding step that k_attn_dec takes
// with tiles tiles per block over caches of kind kvk, and returns its
// dynamic shared memory and tile buffers (decmBufs): bf16 mode on sm_80 or
// later, head size 64, 128 or 256, at most 16 query heads per key/value
// head, at most adMaxSplits splits of 16·tiles keys, unless noDecMMA. Its
// products are bf16 (as flash attention's for long chunks), the same bits
// from either kind of cache; k_attn_dec's are float32.
func (b *Backend) attnDecMMA(sh kernels.AttnShape, keys, tiles, kvk int) (name string, smem, bufs int, ok bool) {
	hd, Hg := sh.HeadDim, sh.NHead/sh.NKV
	if b.fp32 || b.noDecMMA || b.cc < 80 || Hg > 16 || (keys+16*tiles-1)/(16*tiles) > adMaxSplits {
		return "", 0, 0, false
	}
	switch hd {
	case 64, 128, 256:
	default:
		return "", 0, 0, false
	}
	bufs = b.decmBufs(tiles, elemBytes(kvk))
	smem = adSmemMMA(hd, bufs, elemBytes(kvk))
	if smem > b.adSmemLimit() {
		return "", 0, 0, false
	}
	return "k_attn_decm" + strconv.Itoa(hd) + kvSuffix(kvk), smem, bufs, true
}

// attnDecWarps names k_attn_decp (decattn.cu) for a decoding step that
// k_attn_decm would take, with its tiles of 16 keys per warp, its splits
// of each window and its dynamic shared memory: where the step has at
// least dpMinHeads key/value heads ×
// sequences (decWarps > 0: always; < 0: never). Each warp streams its own
// tiles, so a block has no barrier per tile; a warp takes one tile, or
// more where one each would make more than dpBlocksPerSM blocks per
// multiprocessor.
func (b *Backend) attnDecWarps(sh kernels.AttnShape, keys, nseq, kvk int) (name string, tiles, nsplit, smem int, ok bool) {
	heads := sh.NKV * nseq
	if b.decWarps < 0 || b.decWarps == 0 && heads < dpMinHeads {
		return "", 0, 0, 0, false
	}
	smem = adSmemWarps(sh.HeadDim)
	if smem > b.adSmemLimit() {
		return "", 0, 0, 0, false
	}
	for tiles = 1; ; tiles *= 2 {
		nsplit = (keys + 16*dpWarps*tiles - 1) / (16 * dpWarps * tiles)
		if nsplit <= adMaxSplits && (heads*nsplit <= dpBlocksPerSM*b.sms || nsplit == 1) {
			break
		}
	}
	return "k_attn_decp" + strconv.Itoa(sh.HeadDim) + kvSuffix(kvk), tiles, nsplit, smem, true
}

// k_attn_decp's warps per block (DP_WARPS in decattn.cu), the key/value
// heads × sequences from which it takes decoding steps, and the blocks per
// multiprocessor below which a warp takes one tile.
const (
	dpWarps       = 4
	dpMinHeads    = 8
	dpBlocksPerSM = 2
)

// adSmemWarps is k_attn_decp's dynamic shared memory in bytes for head
// size hd: bf16 rows of hd+8 elements, 16 for the queries and 48 per warp
// for its two key tiles and one value tile.
func adSmemWarps(hd int) int { return 2 * (16 + 48*dpWarps) * (hd + 8) }

// adSmemMMA is k_attn_decm's dynamic shared memory in bytes for head size
// hd, bufs key and value tile buffers and caches of esz-byte elements (see
// decattn.cu): the tiles [bufs][16] (adTileRow), the 8 warps' partial
// scores [8][16][17], the probabilities [16][17].
func adSmemMMA(hd, bufs, esz int) int {
	return 2*bufs*16*adTileRow(hd, esz) + 4*(8*16*17+16*17)
}

// decmBufs is k_attn_decm's tile buffers for T tiles per block and caches
// of esz-byte elements, the tiles being copied bufs-1 ahead of the one in
// use: four for bf16 tiles (half the shared memory of float32 ones, which
// keep two), at most T, or decBufs (2 … 4) where set. With one tile copied
// ahead, bf16 tiles were no faster than float32 ones at batch 16 (29.4
// against 28.4 µs per layer, run 61 of docs/performance-gpu-history.md): half the
// bytes, the same latency per tile; with three ahead the step gained about
// 1% (run 62).
func (b *Backend) decmBufs(T, esz int) int {
	n := 2
	if esz == 2 {
		n = 4
	}
	if b.decBufs > 0 {
		n = max(2, min(b.decBufs, 4)) // it copies ahead with 2, waits for at most 3 groups ahead
	}
	return min(T, n)
}

// adSmemLimit is the most dynamic shared memory k_attn_dec or k_attn_decm
// may take: what a block may opt in to, less the kernels' static shared
// memory, or 48 KiB without the opt-in.
func (b *Backend) adSmemLimit() int {
	limit := 48 << 10
	if b.d.cuFuncSetAttribute != 0 && b.smemMax > limit {
		limit = b.smemMax - 256
	}
	return limit
}

// adTileBufs is the key/value tile buffers of a block of T tiles: two when
// the next tile is copied while one is used.
func adTileBufs(T int) int {
	if T > 1 {
		return 2
	}
	return 1
}

// Grouped decoding attention (k_attn_grp): warps per block, keys per warp
// step, most query heads per key/value head.
const (
	agWarps = 8
	agKeys  = 4
	agMaxG  = 16
)

// attnGroupedDPL reports whether the short chunks can run k_attn_grp and
// with how many dimensions per lane: head size 32, 64, 128 or 256, at most
// agMaxG query heads per key/value head, rows aligned for the vector loads.
func (b *Backend) attnGroupedDPL(q, k, v kernels.Mat, sh kernels.AttnShape) (int, bool) {
	if !b.attnGrp || sh.NHead/sh.NKV > agMaxG {
		return 0, false
	}
	dpl := sh.HeadDim / 32
	switch {
	case sh.HeadDim%32 != 0:
		return 0, false
	case dpl == 1:
	case dpl == 2:
		if (addr(k)|addr(v))%8 != 0 || k.Stride%2 != 0 || v.Stride%2 != 0 {
			return 0, false
		}
	case dpl == 4 || dpl == 8:
		if !aligned4(k) || !aligned4(v) {
			return 0, false
		}
	default:
		return 0, false
	}
	return dpl, true
}

// groupedSplits picks how many blocks share one query's keys in
// k_attn_grp: enough for two blocks per multiprocessor, each with at least
// two warp steps of keys per warp, at most 32.
func (b *Backend) groupedSplits(G, longest, nseq, keys int) int {
	most := max(1, keys/(2*agWarps*agKeys))
	want := (2*b.sms + G*longest*nseq - 1) / (G * longest * nseq)
	return max(1, min(most, want, 32))
}

// attnGemm attends one long chunk with cuBLAS. The keys and values the
// chunk sees (up to window-1 earlier positions from the cache c, of kind
// kvk, then the chunk's own) are laid out contiguously, the queries grouped
// by key/value head; then, per block of queries, S = scale·Q·Kᵀ over the
// keys the block can see, a masked softmax turns S into P, and O = P·V.
func (b *Backend) attnGemm(dst, q, k, v kernels.Mat, sh kernels.AttnShape, c *kernels.KVCache, kvk int, s kernels.Seq, shp uintptr, ldsh, shkind int) {
	H, G, hd := sh.NHead, sh.NKV, sh.HeadDim
	Hg, kvDim := H/G, G*hd
	P, T, W := s.Pos, s.Len, sh.Window
	ctx := P
	if W > 0 {
		ctx = min(P, W-1)
	}
	if ctx > 0 && c.Cap < ctx {
		panic(fmt.Sprintf("cuda: attention cache of %d positions cannot hold the %d this chunk needs", c.Cap, ctx))
	}
	n := ctx + T
	checkInt("attention keys", n*kvDim)
	kind, esz, dtyp := kindBF16, 2, typeBF16
	compute := compute32F
	if b.fp32 {
		kind, esz, dtyp, compute = kindF32, 4, typeF32, compute32FPedantic
	}
	at := &b.att
	// The products run over key counts padded to multiples of 8 (for the
	// tensor cores); the 8 rows past the last key are zeros.
	kall := b.grow(&at.kall, esz*(n+8)*kvDim)
	vall := b.grow(&at.vall, esz*(n+8)*kvDim)
	for _, p := range []uintptr{kall, vall} {
		b.must("cuMemsetD32Async", call(b.d.cuMemsetD32Async, p+uintptr(esz*n*kvDim), 0, uintptr(esz*8*kvDim/4), b.stream))
	}
	b.p.reset()
	b.p.ptr(kall)
	b.p.ptr(vall)
	b.p.i32(kind)
	b.p.mat(k)
	b.p.mat(v)
	b.p.ptr(bufPtr(c.K))
	b.p.ptr(bufPtr(c.V))
	b.p.i32(kvk)
	b.p.i32(c.Cap)
	b.p.i32(kvDim)
	b.p.i32(P)
	b.p.i32(ctx)
	b.p.i32(s.Row)
	b.p.i32(n)
	b.launch("k_kv_gather", grid2(n, kvDim, 256), dim3{256, 1, 1}, 0)

	if name, bn, ok := b.flashKernel(dst, q, hd); ok {
		smem := (flashRows + 4*bn) * (hd + 8) * 2
		b.setDynamicShared(name, smem)
		b.p.reset()
		b.p.mat(dst)
		b.p.mat(q)
		b.p.ptr(kall)
		b.p.ptr(vall)
		b.p.i32(kvDim)
		b.p.i32(n)
		b.p.i32(T)
		b.p.i32(Hg)
		b.p.i32(s.Row)
		b.p.i32(P)
		b.p.i32(ctx)
		b.p.i32(W)
		b.p.f32(float32(float64(sh.Scale) * math.Log2E))
		b.p.shadow(shp, ldsh, shkind)
		b.launch(name, dim3{(T*Hg + flashRows - 1) / flashRows, G, 1}, dim3{flashWarps * 32, 1, 1}, smem)
		return
	}

	qc := b.grow(&at.q, esz*T*H*hd)
	b.p.reset()
	b.p.ptr(qc)
	b.p.i32(kind)
	b.p.mat(q)
	b.p.i32(s.Row)
	b.p.i32(T)
	b.p.i32(H)
	b.p.i32(G)
	b.p.i32(hd)
	b.launch("k_q_pack", grid2(T, H*hd, 256), dim3{256, 1, 1}, 0)
	oc := b.grow(&at.o, 4*T*H*hd)

	bq := b.queryBlockSize(H, W, ctx, T)
	b.scale = sh.Scale
	for t0 := 0; t0 < T; t0 += bq {
		t1 := min(T, t0+bq)
		jlo := 0
		if W > 0 {
			jlo = max(0, t0+ctx-W+1)
		}
		ld := roundUp(t1+ctx-jlo, 8) // the keys of the block, padded
		rows := (t1 - t0) * Hg
		S := b.grow(&at.s, 4*G*rows*ld)
		Pm := b.grow(&at.p, esz*G*rows*ld)
		g := gemm{M: rows, N: ld, K: hd,
			A: qc + uintptr(esz*t0*Hg*hd), lda: hd, sA: int64(T * Hg * hd),
			B: kall + uintptr(esz*jlo*kvDim), ldb: kvDim, sB: int64(hd), transB: true,
			C: S, ldc: ld, sC: int64(rows * ld),
			aType: dtyp, bType: dtyp, alpha: &b.scale, beta: &b.zero, compute: compute, batch: G}
		if err := b.blas.run(&g); err != nil {
			panic(err)
		}
		b.traced("cublas Q·Kᵀ")
		b.p.reset()
		b.p.ptr(S)
		b.p.i64(int64(rows * ld))
		b.p.i32(ld)
		b.p.ptr(Pm)
		b.p.i64(int64(rows * ld))
		b.p.i32(ld)
		b.p.i32(kind)
		b.p.i32(rows)
		b.p.i32(G)
		b.p.i32(Hg)
		b.p.i32(ld)
		b.p.i32(t0)
		b.p.i32(P)
		b.p.i32(W)
		b.p.i32(P - ctx + jlo)
		fast := 1
		if b.fp32 {
			fast = 0
		}
		b.p.i32(fast)
		if b.softmaxWarp {
			b.launch("k_softmax_warp", grid1(rows*G, 8), dim3{256, 1, 1}, 0)
		} else {
			b.launch("k_softmax", grid1(rows*G, 1), dim3{256, 1, 1}, 0)
		}
		g = gemm{M: rows, N: hd, K: ld,
			A: Pm, lda: ld, sA: int64(rows * ld),
			B: vall + uintptr(esz*jlo*kvDim), ldb: kvDim, sB: int64(hd),
			C: oc + uintptr(4*t0*Hg*hd), ldc: hd, sC: int64(T * Hg * hd),
			aType: dtyp, bType: dtyp, alpha: &b.one, beta: &b.zero, compute: compute, batch: G}
		if err := b.blas.run(&g); err != nil {
			panic(err)
		}
		b.traced("cublas P·V")
	}
	b.p.reset()
	b.p.mat(dst)
	b.p.ptr(oc)
	b.p.i32(s.Row)
	b.p.i32(T)
	b.p.i32(H)
	b.p.i32(G)
	b.p.i32(hd)
	b.p.shadow(shp, ldsh, shkind)
	b.launch("k_scatter_o", grid2(T, H*hd, 256), dim3{256, 1, 1}, 0)
}

// Flash attention (k_flash<hd>_<bn>): warps per block and query rows per
// block.
const (
	flashWarps = 4
	flashRows  = 16 * flashWarps
)

// flashKernel names the flash-attention kernel for a long chunk and its keys
// per tile: bf16 mode, head size 64, 128 or 256, query rows 16-byte
// aligned, output rows 8-byte aligned. For 256 the tile is 32 keys (two
// blocks fit a multiprocessor) unless flashBN64 asks for 64.
func (b *Backend) flashKernel(dst, q kernels.Mat, hd int) (string, int, bool) {
	if b.fp32 || b.noFlash || !aligned4(q) || addr(dst)%8 != 0 || dst.Stride%2 != 0 || b.d.cuFuncSetAttribute == 0 {
		return "", 0, false
	}
	switch hd {
	case 64, 128:
		return fmt.Sprintf("k_flash%d_64", hd), 64, true
	case 256:
		if b.flashBN64 {
			return "k_flash256_64", 64, true
		}
		return "k_flash256_32", 32, true
	}
	return "", 0, false
}

// setDynamicShared lets kernel name use bytes of dynamic shared memory
// (above the default 48 KB a launch may ask for, static shared memory
// included: always, when the driver has cuFuncSetAttribute).
func (b *Backend) setDynamicShared(name string, bytes int) {
	if b.dynShared[name] >= bytes || bytes <= 48<<10 && b.d.cuFuncSetAttribute == 0 {
		return
	}
	if b.d.cuFuncSetAttribute == 0 {
		panic(fmt.Sprintf("cuda: %s needs %d bytes of shared memory and the driver has no cuFuncSetAttribute", name, bytes))
	}
	b.must("cuFuncSetAttribute("+name+")", call(b.d.cuFuncSetAttribute, b.fn[name], funcAttrMaxDynamicShared, uintptr(bytes)))
	b.dynShared[name] = bytes
}

// queryBlockSize picks how many queries one score block holds: the
// preferred size, halved while the block's scores exceed the budget.
func (b *Backend) queryBlockSize(H, W, ctx, T int) int {
	bq := b.attnBlock
	if bq <= 0 {
		bq = queryBlock
	}
	for bq > 16 {
		span := ctx + T
		if W > 0 {
			span = min(span, bq+W-1)
		}
		if H*bq*roundUp(span, 8) <= scoreBudget {
			break
		}
		bq /= 2
	}
	return max(1, min(bq, T))
}
