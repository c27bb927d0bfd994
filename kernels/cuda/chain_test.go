package cuda

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"
)

// chainSource is TestChainPattern's own module: k_chain is the skeleton
// of a persistent decoding step. One block of 16 warps (or 8, or 32 in
// k_chain1k) per multiprocessor walks a list of phases, each one product's
// weights: every warp streams
// its share of each phase's chunks (order: see Feed) through its own ring
// of bulk copies into shared memory, and keeps streaming into the next
// phases while it waits, so the memory never waits on the dependencies;
// only the ring's depth bounds how far ahead it runs. Phase p may consume
// its chunks only when every block has finished phase p-1 (a grid-wide
// counter), and only after its glue: at least glue ns of dependent work
// (RMSNorm, the scan, attention...), during which the block also reads its
// share of kv bytes (attention's keys and values). work 1 multiplies each
// 1 KB as a 16-row weight tile by activations loaded into shared memory at
// the phase's start and stores the warps' summed results at its end, as
// k_gemv_mmb does; work 2 multiplies the same way by activations loaded
// once, with nothing stored (the products' arithmetic alone); work 0 only
// folds the bytes into a word per warp (fold, checked by the test). Phase
// entries (4 int64 each): byte offset in W, chunks of ch bytes, glue ns,
// kv bytes. Launched with one phase per launch it is the same phases as
// separate kernels.
const chainSource = streamPrelude + `

__device__ __forceinline__ unsigned long long now() {
    unsigned long long t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    return t;
}

// Feed is a warp's position in the stream: phase p, its next chunk c of
// the run [c, hi) it holds of that phase, taken in steps of step. order 0:
// each warp a contiguous run of every phase (chunks g·C/G …); 1: the grid
// side by side (chunks g, g+G, …); 2: runs of K chunks claimed from the
// phase's counter in claim when the last is issued, so that the warps that
// stream faster take more.
struct Feed {
    int p;
    long long c, hi, step;
};

__device__ __forceinline__ void feed_seek(Feed& f, const long long* ph, int nph, long long g, long long G, int order, int K,
                                          unsigned long long* claim) {
    for (; f.p < nph; f.p++) {
        const long long C = ph[4 * f.p + 1];
        if (order == 2) {
            if (C == 0) continue;
            const long long s = (long long)atomicAdd(claim + f.p, (unsigned long long)K);
            f.c = s, f.hi = min(s + K, C), f.step = 1;
        } else if (order == 1) {
            f.c = g, f.hi = C, f.step = G;
        } else {
            f.c = g * C / G, f.hi = (g + 1) * C / G, f.step = 1;
        }
        if (f.c < f.hi) return;
    }
}

// feed_issue (lane 0) copies the feed's next chunk to dst, completing on
// the mbarrier bar, records its phase in *slot, and advances the feed.
__device__ __forceinline__ void feed_issue(Feed& f, const unsigned char* W, const long long* ph, int nph, long long g, long long G,
                                           int order, int K, unsigned long long* claim, int ch, unsigned dst, unsigned bar,
                                           volatile int* slot) {
    *slot = f.p;
    bulk_copy(dst, W + ph[4 * f.p] + f.c * ch, ch, bar);
    f.c += f.step;
    if (f.c >= f.hi) {
        if (order != 2) f.p++; // a claimed run: claim the next of the same phase
        feed_seek(f, ph, nph, g, G, order, K, claim);
    }
}

#define XS 26
__device__ __forceinline__ void chain(const unsigned char* __restrict__ W, const long long* __restrict__ ph, int nph, int ch, int ns,
                                      int work, const uint4* __restrict__ X, float* __restrict__ dst, unsigned* ctr, unsigned base,
                                      const uint4* __restrict__ kv, unsigned* fold, int order, int dep, int K, unsigned long long* claim) {
#if __CUDA_ARCH__ >= 900
    extern __shared__ __align__(128) unsigned char smem[];
    __shared__ __align__(8) unsigned long long bars[32][12];
    __shared__ int slots[32][12]; // the phase of the chunk in each stage of each warp's ring (nph: none)
    const int NW = blockDim.x >> 5, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const long long G = (long long)gridDim.x * NW, g = (long long)blockIdx.x * NW + warp;
    // the activations (XS KB), or the warps' sums at a phase's end, then the rings
    const unsigned act = sa(smem), rb = act + max(XS, NW) * 1024 + warp * ns * ch, bb = sa(&bars[warp][0]);
    volatile int* slot = slots[warp];
    if (lane == 0) {
        for (int i = 0; i < ns; i++) {
            asm volatile("mbarrier.init.shared.b64 [%0], 1;" ::"r"(bb + 8 * i) : "memory");
            slot[i] = nph;
        }
        asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    }
    __syncwarp();
    Feed f; // lane 0's alone: claims are taken once per warp
    f.p = nph;
    int iss = 0, q = 0;
    if (lane == 0) {
        f.p = 0;
        feed_seek(f, ph, nph, g, G, order, K, claim);
        for (; iss < ns && f.p < nph; iss++)
            feed_issue(f, W, ph, nph, g, G, order, K, claim, ch, rb + (iss % ns) * ch, bb + 8 * (iss % ns), slot + iss % ns);
    }
    __syncwarp();
    // As every decoding kernel: the first copies before waiting for the
    // kernel before.
    asm volatile("griddepcontrol.wait;" ::: "memory");
    asm volatile("griddepcontrol.launch_dependents;" :::);
    unsigned acc = 0, kacc = 0;
    float c[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int xs = (blockIdx.x * NW + warp) % XS;
    for (int p = 0; p < nph; p++) {
        const long long* e = ph + 4 * p;
        if (p > 0 && (dep & 1)) { // every block done with phase p-1
            if (threadIdx.x == 0) {
                const unsigned want = base + (unsigned)p * gridDim.x;
                unsigned v;
                do {
                    asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(v) : "l"(ctr) : "memory");
                } while ((int)(v - want) < 0);
            }
            __syncthreads();
        }
        const long long glue = e[2], kb = e[3];
        if (glue > 0 || kb > 0) {
            const unsigned long long t0 = now();
            if (kb > 0) {
                const long long per = kb / 16 / gridDim.x;
                const uint4* s = kv + blockIdx.x * per;
                for (long long i = threadIdx.x; i < per; i += blockDim.x) {
                    uint4 v = __ldcg(s + i);
                    kacc ^= v.x ^ v.y ^ v.z ^ v.w;
                }
            }
            if (threadIdx.x == 0)
                while (now() < t0 + (unsigned long long)glue) {
                }
            __syncthreads();
        }
        if (work == 1 || (work == 2 && p == 0)) {
            for (int i = threadIdx.x; i < XS * 64; i += blockDim.x) ((uint4*)smem)[i] = X[(blockIdx.x % 12) * XS * 64 + i];
            __syncthreads();
        }
        // The warp's chunks of phase p are the next stages whose phase is p
        // (the feed issues phase by phase).
        for (; slot[q % ns] == p; q++) {
            const unsigned st = q % ns, bar = bb + 8 * st, par = (q / ns) & 1, buf = rb + st * ch;
            asm volatile("{\n.reg .pred d;\nCHAIN_WAIT:\nmbarrier.try_wait.parity.shared.b64 d, [%0], %1;\n@!d bra CHAIN_WAIT;\n}\n" ::"r"(bar),
                         "r"(par)
                         : "memory");
            if (work == 0) acc = fold_chunk(acc, buf, ch, lane);
            else multiply_chunk(c, buf, ch, act, xs, XS, lane);
            __syncwarp();
            if (lane == 0) {
                if (f.p < nph) {
                    asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
                    feed_issue(f, W, ph, nph, g, G, order, K, claim, ch, rb + st * ch, bar, slot + st);
                } else {
                    slot[st] = nph;
                }
            }
            __syncwarp();
        }
        if (work == 1) { // the warps' sums added and stored, as a product's end
            __syncthreads();
            float* red = (float*)smem;
            for (int v = 0; v < 8; v++) red[(warp * 8 + v) * 32 + lane] = c[v], c[v] = 0;
            __syncthreads();
            for (int o = threadIdx.x; o < 256; o += blockDim.x) {
                float t = red[o];
                for (int w = 1; w < NW; w++) t += red[w * 256 + o];
                dst[blockIdx.x * 256 + o] = t;
            }
        }
        __syncthreads();
        if (threadIdx.x == 0) {
            if (!(dep & 2)) __threadfence(); // dep & 2: the release alone (cumulative over the block barrier)
            asm volatile("red.release.gpu.global.add.u32 [%0], 1;" ::"l"(ctr) : "memory");
        }
    }
    for (int o = 16; o > 0; o >>= 1) acc ^= __shfl_xor_sync(0xffffffffu, acc, o);
    if (lane == 0 && fold) fold[g] = acc;
    if (work == 2 && c[0] + c[5] == 1.2345f) dst[1] = c[2]; // keeps the products
    if (kacc == 0x9e3779b9u && work == 7) dst[0] = 1; // keeps the glue's reads
#endif
}

// k_chain for blocks of up to 16 warps, k_chain1k for up to 32.
#define CHAIN_KERNEL(name, threads)                                                                                             \
    extern "C" __global__ void __launch_bounds__(threads, 1)                                                                    \
        name(const unsigned char* __restrict__ W, const long long* __restrict__ ph, int nph, int ch, int ns, int work,         \
             const uint4* __restrict__ X, float* __restrict__ dst, unsigned* ctr, unsigned base, const uint4* __restrict__ kv, \
             unsigned* fold, int order, int dep, int K, unsigned long long* claim) {                                            \
        chain(W, ph, nph, ch, ns, work, X, dst, ctr, base, kv, fold, order, dep, K, claim);                                     \
    }
CHAIN_KERNEL(k_chain, 512)
CHAIN_KERNEL(k_chain1k, 1024)

// k_fill writes a hash of each word's index (n words).
extern "C" __global__ void k_fill(unsigned* p, long long n) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        unsigned x = (unsigned)i * 2654435761u ^ (unsigned)(i >> 32);
        p[i] = x ^ (x >> 15);
    }
}
`

// chainPhase is one product of a decoding step for TestChainPattern: the
// bytes of its weights, and the dependent work before it (glue µs at least,
// reading kv bytes).
type chainPhase struct {
	name  string
	bytes int64
	glue  float64
	kv    int64
}

// chainGlue is how long each kind of dependent work between two products
// of a step is taken to last (µs).
type chainGlue struct {
	name                                    string
	norm, mlpNorm, conv, splitk, scan, attn float64
}

// sambaStepPhases lists the products of one Samba_3.8B decoding step of 16
// sequences in order (blocks alternate Mamba and attention, each followed
// by the MLP; the head last), each with the glue before it: RMSNorm before
// in_proj, q|k|v, the gate/up and the head (after an MLP: its parts added,
// then RMSNorm), the convolution before x_proj, x_proj's parts added before
// dt_proj, the scan before out_proj, RoPE, attention over 16 full windows
// of keys and values (reading them) and the combine before o_proj, and
// nothing but the dependency itself between the gate/up and the down
// product.
func sambaStepPhases(gl chainGlue) []chainPhase {
	const d, e, r, st, mlp, vocab, heads, hd, window, seqs = 2816, 5632, 176, 16, 9984, 32064, 11, 256, 2048, 16
	var ph []chainPhase
	before := gl.norm
	for layer := range 32 {
		if layer%2 == 0 {
			ph = append(ph, chainPhase{"in_proj", 2 * d * 2 * e, before, 0}, chainPhase{"x_proj", 2 * e * (r + 2*st), gl.conv, 0},
				chainPhase{"dt_proj", 2 * r * e, gl.splitk, 0}, chainPhase{"out_proj", 2 * e * d, gl.scan, 0})
		} else {
			ph = append(ph, chainPhase{"q|k|v", 2 * d * (heads + 2) * hd, before, 0},
				chainPhase{"o_proj", 2 * heads * hd * d, gl.attn, seqs * 2 * 2 * window * hd})
		}
		ph = append(ph, chainPhase{"gate/up", 2 * d * 2 * mlp, gl.norm, 0}, chainPhase{"down", 2 * mlp * d, 0, 0})
		before = gl.mlpNorm
	}
	return append(ph, chainPhase{"head", 2 * vocab * d, before, 0})
}

// TestChainPattern asks what a persistent decoding step could reach at 16
// sequences (docs/performance-gpu.md, "Why 70% at batch 16 is out of
// reach"): the bytes of Samba_3.8B's 161 products streamed in step order by
// k_chain, one kernel for the whole step with a grid-wide dependency
// between products, against the same kernel launched once per product (as
// the backend's separate kernels), with the dependent work between
// products (RMSNorm, the mixers' chains) taken as run 185's timeline
// measured it, as shorter in-kernel estimates, or as nothing; and, for the
// weights alone, what the phases and their dependencies cost against one
// stream of the same bytes. Rings, chunk orders, the fence before a
// block's count and blocks of 8–32 warps are varied. It first checks that
// the chunks of a short list of phases are each read once in every order
// (the warps' folds against the host's) and that every block passed every
// phase. Runs with SAMBAEVAL_CUDA_DECODE=1 (a benchmark; sm_90).
func TestChainPattern(t *testing.T) {
	g, say := sm90Bench(t, "the persistent-step benchmark")
	defer loadTestModule(t, g, chainSource, "k_chain", "k_chain1k", "k_fill")()
	const warps, xs = 16, 26
	blocks := g.sms
	G := int64(blocks * warps)

	cnt := newCounter(g)
	defer g.Free(cnt.buf)
	ctr := cnt.ptr
	xbuf := g.Alloc(12 * xs * 256) // 12 parts of 26 steps of 16 rows × 32 bf16
	defer g.Free(xbuf)
	dbuf := g.Alloc(blocks * 256)
	defer g.Free(dbuf)
	fbuf := g.Alloc(int(G))
	defer g.Free(fbuf)
	phBuf := g.Alloc(4 * 2 * 512)
	defer g.Free(phBuf)

	// layout places the phases one after the other in W (4 KB aligned) as
	// chunks of ch bytes; it returns the phase table and the bytes used.
	layout := func(ph []chainPhase, ch int) ([]int64, int64) {
		tab := make([]int64, 0, 4*len(ph))
		var off int64
		for _, p := range ph {
			c := (p.bytes + int64(ch) - 1) / int64(ch)
			tab = append(tab, off, c, int64(p.glue*1e3), p.kv)
			off += (c*int64(ch) + 4095) &^ 4095
		}
		return tab, off
	}
	writeTable := func(tab []int64) {
		g.Write(phBuf, 0, unsafe.Slice((*float32)(unsafe.Pointer(&tab[0])), 2*len(tab)))
	}
	claimBuf := g.Alloc(2 * 8 * 512)
	defer g.Free(claimBuf)
	zeroClaims := func() {
		defer g.enter()()
		g.must("cuMemsetD32Async", call(g.d.cuMemsetD32Async, bufPtr(claimBuf), 0, 2*8*512, g.stream))
	}
	launch := func(w, tab uintptr, nph int, c chainRun, base uint32, kv, fold, claim uintptr) {
		nw := cmp.Or(c.warps, warps)
		shm := max(xs, nw)*1024 + nw*c.ns*c.ch
		name := "k_chain"
		if nw > 16 {
			name = "k_chain1k"
		}
		g.setDynamicShared(name, shm)
		g.p.reset()
		g.p.ptr(w)
		g.p.ptr(tab)
		g.p.i32(nph)
		g.p.i32(c.ch)
		g.p.i32(c.ns)
		g.p.i32(c.work)
		g.p.ptr(bufPtr(xbuf))
		g.p.ptr(bufPtr(dbuf))
		g.p.ptr(ctr)
		g.p.i32(int(int32(base)))
		g.p.ptr(kv)
		g.p.ptr(fold)
		g.p.i32(c.order)
		g.p.i32(c.dep)
		g.p.i32(c.k)
		g.p.ptr(claim)
		g.launch(name, dim3{blocks, 1, 1}, dim3{32 * nw, 1, 1}, shm)
	}

	// The check: a short list with glue, kv reads, an empty phase and
	// phases that do not divide among the warps; random words.
	{
		check := []chainPhase{{"a", 3<<20 + 5<<10, 2, 1 << 20}, {"b", 0, 1, 0}, {"c", 1 << 10, 0, 0}, {"d", 5<<20 + 3<<12, 3, 0}}
		const ch, ns = 4 << 10, 3
		tab, bytes := layout(check, ch)
		r := rand.New(rand.NewPCG(185, 188))
		data := make([]float32, bytes/4)
		for i := range data {
			data[i] = math.Float32frombits(r.Uint32())
		}
		wb := g.Alloc(len(data))
		defer g.Free(wb)
		kvb := g.Alloc(1 << 18)
		defer g.Free(kvb)
		g.Write(wb, 0, data)
		var want uint32
		for i := range check {
			off, n := tab[4*i]/4, tab[4*i+1]*ch/4
			for _, v := range data[off : off+n] {
				want ^= math.Float32bits(v)
			}
		}
		writeTable(tab)
		for order := range 3 {
			cnt.zero(g)
			zeroClaims()
			func() {
				defer g.enter()()
				launch(bufPtr(wb), bufPtr(phBuf), len(check), chainRun{ch: ch, ns: ns, order: order, k: 3, dep: 1}, 0, bufPtr(kvb), bufPtr(fbuf), bufPtr(claimBuf))
			}()
			if got := foldWords(g, fbuf, int(G)); got != want {
				t.Fatalf("order %d: the warps folded %#x, the phases' bytes fold to %#x", order, got, want)
			}
			if c := cnt.read(g); c != uint32(len(check)*blocks) {
				t.Fatalf("the counter is %d after %d phases of %d blocks, want %d", c, len(check), blocks, len(check)*blocks)
			}
		}
	}

	// The step: one buffer of weights (every step reads the same bytes, as
	// decoding does; 7.7 GB, so none of it from L2) and one of keys and
	// values.
	var weightBytes int64
	for _, p := range sambaStepPhases(chainGlue{}) {
		weightBytes += p.bytes
	}
	_, span := layout(sambaStepPhases(chainGlue{}), 2<<10)
	wbuf := g.Alloc(int(span/4) + 1<<20)
	defer g.Free(wbuf)
	kvBytes := int64(16 * 2 * 2 * 2048 * 256)
	kvbuf := g.Alloc(int(kvBytes / 4))
	defer g.Free(kvbuf)
	func() {
		defer g.enter()()
		g.p.reset()
		g.p.ptr(bufPtr(wbuf))
		g.p.i64(span / 4)
		g.launch("k_fill", dim3{4 * blocks, 1, 1}, dim3{512, 1, 1}, 0)
	}()
	copyRate := g.benchCopy(t, 1<<30, 20)
	bound := float64(weightBytes) / copyRate * 1e6 // µs
	say("copy rate %.0f GB/s; the step's weights %.3f GB, the bound %.0f µs (70%%: %.0f µs)", copyRate/1e9, float64(weightBytes)/1e9, bound, bound/0.7)

	const steps = 8
	// step times the median of 3 rounds of steps launches (µs per step):
	// persistent, one launch per step; else one launch per phase.
	step := func(ph []chainPhase, c chainRun) float64 {
		tab, _ := layout(ph, c.ch)
		writeTable(tab)
		w, tp, kv := bufPtr(wbuf), bufPtr(phBuf), bufPtr(kvbuf)
		var us []float64
		for range 3 {
			cnt.zero(g)
			zeroClaims()
			var base uint32
			cl := bufPtr(claimBuf)
			s, e := g.events2()
			func() {
				defer g.enter()()
				for range steps {
					if c.persistent {
						launch(w, tp, len(ph), c, base, kv, 0, cl)
						base += uint32(len(ph) * blocks)
						cl += uintptr(8 * len(ph))
						continue
					}
					for i := range ph {
						launch(w, tp+uintptr(32*i), 1, c, base, kv, 0, cl)
						base += uint32(blocks)
						cl += 8
					}
				}
			}()
			us = append(us, g.stop(s, e)*1e3/steps)
			if got := cnt.read(g); got != base {
				t.Fatalf("the counter is %d after the steps, want %d", got, base)
			}
		}
		slices.Sort(us)
		return us[1]
	}
	report := func(what string, ph []chainPhase, c chainRun) {
		us := step(ph, c)
		order := []string{"each warp a run", "one front", fmt.Sprintf("claimed %d at a time", c.k)}[c.order]
		w := cmp.Or(c.warps, warps)
		how := fmt.Sprintf("ring %d KB (%d KB × %d per warp), %s", w*c.ch*c.ns>>10, c.ch>>10, c.ns, order)
		if w != warps {
			how = fmt.Sprintf("%d warps, %s", w, how)
		}
		if c.dep&2 != 0 {
			how += ", no fence"
		}
		if !c.persistent {
			how += ", one launch per phase"
		}
		say("  %-44s %-58s %6.0f µs per step, weights at %4.0f GB/s, %4.1f%% of the bound", what, how, us, float64(weightBytes)/us/1e3, 100*bound/us)
	}
	deep := chainRun{ch: 2 << 10, ns: 6, dep: 1, persistent: true}
	front := deep
	front.order = 1
	claim8 := deep
	claim8.order, claim8.k = 2, 8
	nofence, frontNofence := deep, front
	nofence.dep, frontNofence.dep = 3, 3
	shallow := chainRun{ch: 4 << 10, ns: 2, dep: 1, persistent: true}
	separate := shallow
	separate.persistent = false
	products := func(c chainRun) chainRun { c.work = 1; return c }

	none := sambaStepPhases(chainGlue{})
	say("what the dependencies cost, the weights only streamed (no glue):")
	whole := []chainPhase{{"all", weightBytes, 0, 0}}
	for _, c := range []chainRun{deep, front, claim8} {
		report("the step's bytes as one phase", whole, c)
		nodep := c
		nodep.dep = 0
		report("161 phases, no waits", none, nodep)
		nodep.dep = 2
		report("161 phases, no waits, no fence", none, nodep)
		report("161 phases, each waiting for the one before", none, c)
		c.dep = 3
		report("161 phases, each waiting, no fence", none, c)
	}
	glues := []chainGlue{
		{name: "none"},
		{name: "half the in-kernel estimate", norm: 0.75, mlpNorm: 1, conv: 0.5, splitk: 0.5, scan: 1.5, attn: 8},
		{name: "in-kernel estimate", norm: 1.5, mlpNorm: 2, conv: 1, splitk: 1, scan: 3, attn: 8},
		{name: "as run 185's timeline", norm: 4.27, mlpNorm: 2.69 + 4.27, conv: 2.39, splitk: 2.43, scan: 4.08, attn: 24.6},
	}
	for _, gl := range glues {
		ph := sambaStepPhases(gl)
		var glueSum, kvSum float64
		for _, p := range ph {
			glueSum += p.glue
			kvSum += float64(p.kv)
		}
		say("products, glue %s (%.0f µs in all, %.2f GB of keys and values read in it):", gl.name, glueSum, kvSum/1e9)
		if gl.name != "none" {
			empty := slices.Clone(ph)
			for i := range empty {
				empty[i].bytes = 0
			}
			report("the glue alone (no weights)", empty, products(deep))
		}
		for _, c := range []chainRun{shallow, deep, front, nofence, frontNofence, separate} {
			report("", ph, products(c))
		}
		arith := frontNofence
		arith.work = 2
		report("the products' arithmetic alone", ph, arith)
		report("the weights only streamed", ph, frontNofence)
		if gl.name != "as run 185's timeline" {
			for _, c := range []chainRun{{ch: 2 << 10, ns: 12, warps: 8}, {ch: 4 << 10, ns: 2, warps: 24}, {ch: 2 << 10, ns: 3, warps: 24},
				{ch: 2 << 10, ns: 2, warps: 32}, {ch: 4 << 10, ns: 1, warps: 32}, {ch: 1 << 10, ns: 5, warps: 32}} {
				c.work, c.order, c.dep, c.persistent = 1, 1, 3, true
				report("", ph, c)
			}
		}
	}
}

// chainRun is how TestChainPattern runs k_chain: chunks of ch bytes, ns in
// flight per warp; work as k_chain's (1: products); order as its Feed (2: runs of
// k chunks claimed); dep bit 0 for the waits between phases, bit 1 to leave
// out the fence before a block's count (its release alone); persistent for
// one launch per step rather than per phase; warps per block (at most 32,
// ns at most 12).
type chainRun struct {
	ch, ns, work, order, k, dep int
	warps                       int // per block; 0: 16
	persistent                  bool
}
