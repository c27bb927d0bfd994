package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sambaeval/sambaeval/kernels"
)

var attnShapes = []struct {
	H, G, hd, window int
}{
	{2, 2, 16, 0},  // multi-head, full attention
	{3, 3, 64, 5},  // multi-head, window smaller than a chunk
	{4, 2, 32, 9},  // grouped
	{4, 1, 64, 12}, // multi-query (samba-tiny's layout)
	{11, 1, 24, 7}, // multi-query with a head size not a multiple of 16
	{2, 1, 12, 0},  // head size not a multiple of 8
	{2, 2, 16, 37}, // a window of many keys, cut differently by each tile
}

// attnCase holds the q, k, v rows of one or more sequences.
type attnCase struct {
	sh      kernels.AttnShape
	q, k, v kernels.Mat
}

func newAttnCase(rng *rand.Rand, be kernels.Backend, T, H, G, hd, window int) *attnCase {
	c := &attnCase{sh: kernels.AttnShape{NHead: H, NKV: G, HeadDim: hd, Window: window, Scale: 0.9 / float32(hd)}}
	// q, k and v are column slices of one fused matrix, as in the model.
	qkv := randMat(rng, be, T, (H+2*G)*hd, 1, 2)
	c.q, c.k, c.v = qkv.ColSlice(0, H*hd), qkv.ColSlice(H*hd, (H+G)*hd), qkv.ColSlice((H+G)*hd, (H+2*G)*hd)
	return c
}

// newCache returns an empty cache sized as the model sizes it for a
// sequence of up to total positions.
func (c *attnCase) newCache(be kernels.Backend, total int) *kernels.KVCache {
	n := total
	if c.sh.Window > 0 {
		n = c.sh.Window - 1
	}
	kvDim := c.sh.NKV * c.sh.HeadDim
	return &kernels.KVCache{K: be.Alloc(max(n, 1) * kvDim), V: be.Alloc(max(n, 1) * kvDim), Cap: n}
}

// run computes the attention of rows [r0, r1) of the case as one chunk of
// one sequence starting at position pos with the given cache.
func (c *attnCase) run(be kernels.Backend, r0, r1, pos int, cache *kernels.KVCache) kernels.Mat {
	H, hd := c.sh.NHead, c.sh.HeadDim
	n := r1 - r0
	dst := kernels.NewMat(be.Alloc(n*(H*hd+3)), n, H*hd+3).ColSlice(1, 1+H*hd)
	be.Attention(dst, c.q.RowSlice(r0, r1), c.k.RowSlice(r0, r1), c.v.RowSlice(r0, r1), c.sh, []*kernels.KVCache{cache}, []kernels.Seq{{Row: 0, Len: n, Pos: pos}})
	return dst
}

func TestAttentionMatchesReference(t *testing.T) {
	ref := NewReference()
	const T = 29
	for _, fast := range fastBackends(t, 0) {
		for _, sh := range attnShapes {
			t.Run(fmt.Sprintf("%s/H%d_G%d_hd%d_w%d", fast.impl, sh.H, sh.G, sh.hd, sh.window), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(uint64(sh.H*100+sh.hd), uint64(sh.window)))
				c := newAttnCase(rng, fast, T, sh.H, sh.G, sh.hd, sh.window)
				// Two chunks, so that the second reads the cache.
				cw, cg := c.newCache(ref, T), c.newCache(fast, T)
				for _, span := range [][2]int{{0, 17}, {17, T}} {
					want := c.run(ref, span[0], span[1], span[0], cw)
					got := c.run(fast, span[0], span[1], span[0], cg)
					compareMats(t, fmt.Sprintf("rows %v", span), got, want, 1e-5, 1)
				}
				if !sameBits(data(cw.K), data(cg.K)) || !sameBits(data(cw.V), data(cg.V)) {
					t.Errorf("caches differ from the reference's")
				}
			})
		}
	}
}

// TestAttentionChunkInvariant checks bitwise that every query gets the
// same output whether the sequence is fed at once or in chunks of any
// size (keys then come from the cache), and whatever other sequences
// share the batch.
func TestAttentionChunkInvariant(t *testing.T) {
	const T = 70
	for _, fast := range fastBackends(t, 0) {
		for _, sh := range attnShapes {
			rng := rand.New(rand.NewPCG(uint64(sh.H), uint64(sh.hd)))
			c := newAttnCase(rng, fast, T, sh.H, sh.G, sh.hd, sh.window)
			whole := c.run(fast, 0, T, 0, c.newCache(fast, T))
			for _, chunk := range []int{1, 3, 7, 16} {
				cache := c.newCache(fast, T)
				for r0 := 0; r0 < T; r0 += chunk {
					r1 := min(T, r0+chunk)
					got := c.run(fast, r0, r1, r0, cache)
					for r := r0; r < r1; r++ {
						if !sameBits(row(got, r-r0), row(whole, r)) {
							t.Fatalf("%s %+v chunk %d: query %d differs from the single pass", fast.impl, sh, chunk, r)
						}
					}
				}
			}
			// The sequence between two others in one batch.
			H, G, hd := sh.H, sh.G, sh.hd
			big := newAttnCase(rng, fast, T+11, H, G, hd, sh.window)
			for _, m := range []struct{ dst, src kernels.Mat }{{big.q, c.q}, {big.k, c.k}, {big.v, c.v}} {
				for r := 0; r < T; r++ {
					copy(row(m.dst, 5+r), row(m.src, r))
				}
			}
			dst := kernels.NewMat(fast.Alloc((T+11)*H*hd), T+11, H*hd)
			caches := []*kernels.KVCache{big.newCache(fast, 5), big.newCache(fast, T), big.newCache(fast, 6)}
			seqs := []kernels.Seq{{Row: 0, Len: 5}, {Row: 5, Len: T}, {Row: 5 + T, Len: 6}}
			fast.Attention(dst, big.q, big.k, big.v, big.sh, caches, seqs)
			for r := 0; r < T; r++ {
				if !sameBits(row(dst, 5+r), row(whole, r)) {
					t.Fatalf("%s %+v: query %d differs inside a batch", fast.impl, sh, r)
				}
			}
		}
	}
}

// TestAttentionWindowOneNoCache: a window of 1 needs no cache even for
// sequences that continue from earlier positions; each query then sees
// only its own key, so its output is its own value row.
func TestAttentionWindowOneNoCache(t *testing.T) {
	b := New()
	H, G, hd := 4, 2, 32
	seqs := []kernels.Seq{{Row: 0, Len: 70, Pos: 3}, {Row: 70, Len: 1, Pos: 9}}
	M := 71
	r := rand.New(rand.NewPCG(1, 1))
	fill := func(n int) kernels.Buffer {
		buf := b.Alloc(n)
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		b.Write(buf, 0, v)
		return buf
	}
	q := kernels.NewMat(fill(M*H*hd), M, H*hd)
	k := kernels.NewMat(fill(M*G*hd), M, G*hd)
	v := kernels.NewMat(fill(M*G*hd), M, G*hd)
	d := kernels.NewMat(b.Alloc(M*H*hd), M, H*hd)
	caches := []*kernels.KVCache{{}, {}}
	sh := kernels.AttnShape{NHead: H, NKV: G, HeadDim: hd, Window: 1, Scale: 0.2}
	b.Attention(d, q, k, v, sh, caches, seqs)
	out, vals := make([]float32, M*H*hd), make([]float32, M*G*hd)
	b.Read(out, d.Buf, 0)
	b.Read(vals, v.Buf, 0)
	for row := range M {
		for h := range H {
			g := h / (H / G)
			for i := range hd {
				if got, want := out[row*H*hd+h*hd+i], vals[row*G*hd+g*hd+i]; math.Abs(float64(got-want)) > 1e-6 {
					t.Fatalf("row %d head %d dim %d: %v, want its own value %v", row, h, i, got, want)
				}
			}
		}
	}
}
