package cuda

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"testing"

	"github.com/sambaeval/sambaeval/kernels"
)

// streamPrelude is what the streaming benchmarks' own modules (streamSource,
// chainSource) share: a shared-memory address, a bulk copy into shared
// memory completing on an mbarrier (sm_90), a bf16 tensor-core product of
// a 16×16 weight tile by 16 activation rows, and a 16-byte shared load.
const streamPrelude = `
__device__ __forceinline__ unsigned sa(const void* p) { return (unsigned)__cvta_generic_to_shared(p); }

// bulk_copy (one lane) copies bytes from src to the shared address dst,
// completing on the mbarrier at bar.
__device__ __forceinline__ void bulk_copy(unsigned dst, const void* src, int bytes, unsigned bar) {
#if __CUDA_ARCH__ >= 900
    asm volatile("{ .reg .b64 s; mbarrier.arrive.expect_tx.shared.b64 s, [%0], %1; }" ::"r"(bar), "r"(bytes) : "memory");
    asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(dst), "l"(src),
                 "r"(bytes), "r"(bar)
                 : "memory");
#endif
}

__device__ __forceinline__ void mma16816(float* c, unsigned a0, unsigned a1, unsigned a2, unsigned a3, unsigned b0, unsigned b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint4 ld_s(unsigned a) {
    uint4 v;
    asm volatile("ld.shared.v4.u32 {%0,%1,%2,%3}, [%4];" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "r"(a) : "memory");
    return v;
}

// fold_chunk folds the ch bytes at the shared address buf into acc, each
// lane its 16-byte words.
__device__ __forceinline__ unsigned fold_chunk(unsigned acc, unsigned buf, int ch, int lane) {
    for (int o = lane * 16; o < ch; o += 512) {
        uint4 v = ld_s(buf + o);
        acc ^= v.x ^ v.y ^ v.z ^ v.w;
    }
    return acc;
}

// multiply_chunk multiplies each 1 KB of the ch bytes at buf as a 16-row
// weight tile by the activation step xs of nxs at act (cycling), as
// k_gemv_mmb's warps do, into the warp's sums c.
__device__ __forceinline__ void multiply_chunk(float* c, unsigned buf, int ch, unsigned act, int& xs, int nxs, int lane) {
    for (int o = 0; o < ch; o += 1024) {
        uint4 lo = ld_s(buf + o + 16 * lane), hi = ld_s(buf + o + 512 + 16 * lane);
        for (int t = 0; t < 2; t++) {
            uint4 x = ld_s(act + (xs * 2 + t) * 512 + 16 * lane);
            mma16816(c + 4 * t, lo.x, hi.x, lo.y, hi.y, x.x, x.y);
            mma16816(c + 4 * t, lo.z, hi.z, lo.w, hi.w, x.z, x.w);
        }
        xs = xs + 1 >= nxs ? 0 : xs + 1;
    }
}
`

// streamSource is TestStreamPattern's own module: k_stream only streams
// memory into shared memory, each warp through its own ring of ns bulk
// copies of ch bytes (sm_90), and folds what arrives into one word, so
// that the order in which the grid walks memory is all that differs
// between its modes. Warp g of G (block b, warp w of W) reads its n
// chunks j = 0 … n-1 at:
//
//	mode 0: g·n + j            each warp its own contiguous run (G streams)
//	mode 1: b·W·n + j·W + w    each block its own run, its warps side by side
//	mode 2: j·G + g            the whole grid side by side (one front)
const streamSource = streamPrelude + `
// issue (lane 0) copies chunk j of warp g (block b, warp w of W; G warps,
// n chunks each) into stage j % ns of the warp's ring at rb.
__device__ __forceinline__ void issue(const unsigned char* src, int j, int n, int ch, int mode, int ns, unsigned rb, unsigned bb,
                                      long long g, long long G, int W, int w) {
    long long c = mode == 0 ? g * n + j : mode == 1 ? (long long)blockIdx.x * W * n + (long long)j * W + w : (long long)j * G + g;
    unsigned st = j % ns;
    bulk_copy(rb + st * ch, src + c * ch, ch, bb + 8 * st);
}

// work 0: fold each chunk into one word; 1: multiply each 1 KB of it as a
// 16-row weight tile by 16 activation rows held in shared memory (XS
// steps, zeros), as k_gemv_mmb's warps do; 2: the same with the block's
// activations first loaded from X (XS steps of 16 rows, as a product's
// part of K); 3: 2, then the warps' sums added through shared memory and
// stored, as a product's end; 4: each tile's activation fragments read
// from X (L2) by the lanes, one tile ahead, instead of shared memory.
#define XS 26
extern "C" __global__ void __launch_bounds__(512, 1) k_stream(const unsigned char* __restrict__ src, int n, int ch, int mode,
                                                              int ns, unsigned* out, int work, const uint4* __restrict__ X, float* dst,
                                                              int dep) {
#if __CUDA_ARCH__ >= 900
    extern __shared__ __align__(128) unsigned char ring[];
    __shared__ __align__(8) unsigned long long bars[16][8];
    const int W = blockDim.x >> 5, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const long long G = (long long)gridDim.x * W, g = (long long)blockIdx.x * W + warp;
    const unsigned act = sa(ring), rb = act + XS * 1024 + warp * ns * ch, bb = sa(&bars[warp][0]);
    __shared__ float red[16 * 8 * 32];
    if (lane == 0) {
        for (int i = 0; i < ns; i++) asm volatile("mbarrier.init.shared.b64 [%0], 1;" ::"r"(bb + 8 * i) : "memory");
        asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    }
    __syncwarp();
    int issued = 0;
    if (lane == 0)
        for (; issued < ns && issued < n; issued++) issue(src, issued, n, ch, mode, ns, rb, bb, g, G, W, warp);
    // dep: wait for the kernel before, as a product waits for its
    // activations (its first copies issued before, as the products'),
    // rather than overlapping it.
    if (dep) asm volatile("griddepcontrol.wait;" ::: "memory");
    if (work == 2 || work == 3) {
        for (int i = threadIdx.x; i < XS * 64; i += blockDim.x) ((uint4*)ring)[i] = X[(blockIdx.x % 12) * XS * 64 + i];
    } else if (work == 1) {
        for (int i = threadIdx.x; i < XS * 64; i += blockDim.x) ((uint4*)ring)[i] = make_uint4(0, 0, 0, 0);
    }
    __syncthreads();
    unsigned acc = 0;
    float c[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int xs = (blockIdx.x * W + warp) % (work == 4 ? XS * 12 : XS);
    uint4 xa = make_uint4(0, 0, 0, 0), xb = xa;
    if (work == 4) xa = X[(xs * 2) * 32 + lane], xb = X[(xs * 2 + 1) * 32 + lane];
    for (int j = 0; j < n; j++) {
        unsigned st = j % ns, bar = bb + 8 * st, par = (j / ns) & 1;
        asm volatile("{\n.reg .pred d;\nSTREAM_WAIT:\nmbarrier.try_wait.parity.shared.b64 d, [%0], %1;\n@!d bra STREAM_WAIT;\n}\n" ::"r"(bar), "r"(par) : "memory");
        if (work == 0) {
            acc = fold_chunk(acc, rb + st * ch, ch, lane);
        } else if (work == 4) {
            // The activation fragments from global memory (L2), the next
            // tile's loaded before this one is multiplied.
            for (int o = 0; o < ch; o += 1024) {
                uint4 lo = ld_s(rb + st * ch + o + 16 * lane), hi = ld_s(rb + st * ch + o + 512 + 16 * lane);
                int nx = xs + 1 == XS * 12 ? 0 : xs + 1;
                uint4 n0 = X[(nx * 2) * 32 + lane], n1 = X[(nx * 2 + 1) * 32 + lane];
                mma16816(c, lo.x, hi.x, lo.y, hi.y, xa.x, xa.y);
                mma16816(c, lo.z, hi.z, lo.w, hi.w, xa.z, xa.w);
                mma16816(c + 4, lo.x, hi.x, lo.y, hi.y, xb.x, xb.y);
                mma16816(c + 4, lo.z, hi.z, lo.w, hi.w, xb.z, xb.w);
                xa = n0, xb = n1, xs = nx;
            }
        } else {
            multiply_chunk(c, rb + st * ch, ch, act, xs, XS, lane);
        }
        __syncwarp();
        if (lane == 0 && issued < n) {
            asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
            issue(src, issued++, n, ch, mode, ns, rb, bb, g, G, W, warp);
        }
    }
    if (work == 3) {
        for (int v = 0; v < 8; v++) red[(warp * 8 + v) * 32 + lane] = c[v];
        __syncthreads();
        for (int o = threadIdx.x; o < 8 * 32; o += blockDim.x) {
            float t = red[o];
            for (int w = 1; w < W; w++) t += red[w * 256 + o];
            dst[blockIdx.x * 256 + o] = t;
        }
    } else if (work >= 1) {
        for (int v = 0; v < 8; v++) acc ^= __float_as_uint(c[v]) ^ xa.x ^ xb.y;
    }
    if (work == 0) { // the warp's fold of all it read, for the test's check
        for (int o = 16; o > 0; o >>= 1) acc ^= __shfl_xor_sync(0xffffffffu, acc, o);
        if (lane == 0) ((unsigned*)dst)[g] = acc;
    } else if (acc == 0x9e3779b9u) {
        out[0] = acc;
    }
#endif
}
`

// TestStreamPattern measures how fast the grid streams memory into shared
// memory with bulk copies, by the order in which its warps walk it (the
// modes of streamSource), for one product's worth of bytes (56 MiB, about
// the down product: each round a different region of a 1 GiB buffer, so
// not from L2) and for 512 MiB; then, for 56 MiB, what a 16-row product's
// work adds to the stream (the works of streamSource); all of it with the
// launches free to overlap and with each waiting for the one before. It
// asks whether the 16-row products' rate depends on how many separate
// runs of memory the grid reads at once (runs 139–149 of
// docs/performance-gpu-history.md: it does not). It first checks that
// every mode reads every chunk once (the XOR of what the warps fold
// against the host's). Runs with SAMBAEVAL_CUDA_DECODE=1 (a benchmark;
// sm_90).
func TestStreamPattern(t *testing.T) {
	g, say := sm90Bench(t, "the streaming benchmark")
	defer loadTestModule(t, g, streamSource, "k_stream")()
	const total = 1 << 30
	buf := g.Alloc(total / 4)
	defer g.Free(buf)
	out := g.Alloc(4)
	defer g.Free(out)
	base := bufPtr(buf)
	const warps = 16
	blocks := g.sms
	xbuf := g.Alloc(12 * 26 * 256) // 12 parts of 26 steps of 16 rows × 32 bf16
	defer g.Free(xbuf)
	dbuf := g.Alloc(blocks * 256)
	defer g.Free(dbuf)
	dep := 0
	run := func(size, ch, mode, ns, rounds, work int) float64 {
		n := size / ch / (blocks * warps)
		bytes := n * ch * blocks * warps
		var ms []float64
		for range 3 {
			s, e := g.events2()
			func() {
				defer g.enter()()
				g.setDynamicShared("k_stream", 26<<10+warps*ns*ch)
				for r := range rounds {
					off := uintptr((r * bytes) % (total - bytes) &^ 4095)
					g.p.reset()
					g.p.ptr(base + off)
					g.p.i32(n)
					g.p.i32(ch)
					g.p.i32(mode)
					g.p.i32(ns)
					g.p.ptr(bufPtr(out))
					g.p.i32(work)
					g.p.ptr(bufPtr(xbuf))
					g.p.ptr(bufPtr(dbuf))
					g.p.i32(dep)
					g.launch("k_stream", dim3{blocks, 1, 1}, dim3{32 * warps, 1, 1}, 26<<10+warps*ns*ch)
				}
			}()
			ms = append(ms, g.stop(s, e))
		}
		slices.Sort(ms)
		return float64(bytes) * float64(rounds) / (ms[1] / 1e3) / 1e9
	}
	names := []string{"each warp its own run", "each block its own run", "one front"}
	// Every mode reads each chunk once: random bytes in the first 56 MiB,
	// one launch at offset 0, the warps' folds against the host's.
	r := rand.New(rand.NewPCG(139, 139))
	const checkBytes = 56 << 20
	data := make([]float32, checkBytes/4)
	for i := range data {
		data[i] = math.Float32frombits(r.Uint32())
	}
	g.Write(buf, 0, data)
	for mode, name := range names {
		const ch = 2 << 10
		n := checkBytes / ch / (blocks * warps)
		var want uint32
		for _, v := range data[:n*ch*blocks*warps/4] {
			want ^= math.Float32bits(v)
		}
		func() {
			defer g.enter()()
			g.setDynamicShared("k_stream", 26<<10+warps*4*ch)
			g.p.reset()
			g.p.ptr(base)
			g.p.i32(n)
			g.p.i32(ch)
			g.p.i32(mode)
			g.p.i32(4)
			g.p.ptr(bufPtr(out))
			g.p.i32(0)
			g.p.ptr(bufPtr(xbuf))
			g.p.ptr(bufPtr(dbuf))
			g.p.i32(0)
			g.launch("k_stream", dim3{blocks, 1, 1}, dim3{32 * warps, 1, 1}, 26<<10+warps*4*ch)
		}()
		if got := foldWords(g, dbuf, blocks*warps); got != want {
			t.Fatalf("%s: the warps folded %#x, the bytes streamed fold to %#x", name, got, want)
		}
	}
	works := []string{"folded", "multiplied (activations in shared memory)", "multiplied, activations loaded first", "multiplied, loaded, sums stored",
		"multiplied, activation fragments from L2 per tile"}
	for dep = range 2 {
		say("each launch waiting for the one before: %v", dep == 1)
		for _, size := range []int{56 << 20, 512 << 20} {
			rounds := max(1, (2<<30)/size)
			for _, c := range []struct{ ch, ns int }{{1 << 10, 8}, {2 << 10, 4}, {4 << 10, 2}} {
				line := fmt.Sprintf("stream %3d MB in chunks of %d KB (%d in flight per warp, %d×%d warps):", size>>20, c.ch>>10, c.ns, blocks, warps)
				for mode, name := range names {
					line += fmt.Sprintf(" %s %.0f GB/s;", name, run(size, c.ch, mode, c.ns, rounds, 0))
				}
				say("%s", line)
			}
		}
		for _, c := range []struct{ ch, ns int }{{2 << 10, 4}, {4 << 10, 2}} {
			for _, mode := range []int{0, 1} {
				line := fmt.Sprintf("stream 56 MB in chunks of %d KB (%d in flight per warp), %s:", c.ch>>10, c.ns, names[mode])
				for work, name := range works {
					line += fmt.Sprintf(" %s %.0f GB/s;", name, run(56<<20, c.ch, mode, c.ns, 36, work))
				}
				say("%s", line)
			}
		}
	}
}

// sm90Bench opens the GPU for one of the streaming benchmarks (what), which
// run with SAMBAEVAL_CUDA_DECODE=1 on sm_90 with NVRTC 12, or skips t; say
// prints a line of its results.
func sm90Bench(t *testing.T, what string) (g *Backend, say func(format string, a ...any)) {
	if os.Getenv("SAMBAEVAL_CUDA_DECODE") != "1" {
		t.Skip("set SAMBAEVAL_CUDA_DECODE=1 to run " + what)
	}
	g = gpu(t, false)
	if g.cc < 90 || g.nv.major < 12 {
		t.Skip("needs sm_90 and NVRTC 12")
	}
	return g, func(format string, a ...any) { fmt.Printf(format+"\n", a...) }
}

// counter is a word on the GPU that kernels count in (ptr): read returns
// it, zero queues its reset.
type counter struct {
	buf kernels.Buffer
	ptr uintptr
}

func newCounter(g *Backend) *counter {
	buf := g.Alloc(1)
	return &counter{buf: buf, ptr: bufPtr(buf)}
}

func (c *counter) read(g *Backend) uint32 {
	var v [1]float32
	g.Read(v[:], c.buf, 0)
	return math.Float32bits(v[0])
}

func (c *counter) zero(g *Backend) {
	defer g.enter()()
	g.must("cuMemsetD32Async", call(g.d.cuMemsetD32Async, c.ptr, 0, 1, g.stream))
}

// foldWords returns the XOR of the first n 32-bit words of buf, as the
// streaming benchmarks' warps fold what they read.
func foldWords(g *Backend, buf kernels.Buffer, n int) uint32 {
	words := make([]float32, n)
	g.Read(words, buf, 0)
	var x uint32
	for _, v := range words {
		x ^= math.Float32bits(v)
	}
	return x
}
