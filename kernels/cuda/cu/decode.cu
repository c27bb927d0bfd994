// Decoding kernels: matrix products of at most 16 rows on the tensor cores
// (each weight read once for all rows), the same with two weights and the
// SwiGLU of their results fused, and attention of short chunks that reads
// each key and value once for all the query heads sharing it.

// Code that needs sm_80 (mma with bf16, cp.async, bf16 conversions) traps
// on older GPUs: there the backend runs the fp32 mode, which never
// launches it, but the source must still compile.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
#define PRE_SM80 1
#else
#define PRE_SM80 0
#endif

// mma_16816 accumulates c += a·b for one m16n8k16 tile with float32
// accumulators; a and b hold 16-bit pairs (bf16, or f16 when F16).
template <bool F16>
__device__ __forceinline__ void mma_16816(float* c, unsigned a0, unsigned a1, unsigned a2, unsigned a3, unsigned b0,
                                          unsigned b1) {
#if PRE_SM80
    __trap();
#else
    if (F16)
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
            : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
            : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
    else
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
            : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
            : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
#endif
}

// k_gemv_mma: the decoding products of 2–16 activation rows on the tensor
// cores, bandwidth-bound on the 16-bit weights, which are read once for all
// rows; k_gemv_mma_swiglu, the fused gate/up version reading two weights.
//
// Work split, as k_gemv2's. A block of 256 threads (8 warps) computes 16
// consecutive weight rows n0 … n0+15 (n0 = 16·blockIdx.x; grid ceil(N/16)
// blocks) for all M rows of X. Each row's K range is cut into 32-element
// steps and the steps into 8 contiguous slices, one per warp, so every warp
// streams the same bytes (±1 step per row) and the block's 8 partial sums
// are added in a fixed order (no atomics).
//
// Within a warp, each step is two m16n8k16 mma per 8 activation rows: the
// weights are the A operand (16 rows), the activations the B operand (8
// rows: MT = 1 tile for M ≤ 8, 2 for M ≤ 16). Lane (g, c) (g = lane/4, c =
// lane%4) loads 16 bytes (8 elements k … k+7, k = 32·s + 8c) of weight rows
// g and g+8 and of activation row g (and g+8); the dot product does not
// depend on the order of K, so the first mma's k indices 2c, 2c+1, 2c+8,
// 2c+9 stand for elements k … k+3 and the second mma's for k+4 … k+7. One
// load instruction thus reads 64 contiguous bytes of each of 8 weight rows.
// Each lane loads TC_STEPS steps (NW·2·TC_STEPS weight loads, through the
// read-only path without allocating in L1, which is left to the activations
// every block rereads) before it uses them: 256 contiguous bytes of every
// row of the warp in flight. Measured on an H200 (run 18,
// docs/performance-gpu.md): 128 bytes per row streamed at ~2.5 TB/s, 256 at
// ~3.1–3.4 (k_gemv2, 1 KB per row of 4 rows, ~3.5–4.1).
//
// Rows past N re-read row N-1 (not stored); activation rows past M and
// elements past K load zeros. The order of every floating-point operation
// for output (m, n) depends on K only, not on M or N.
//
// X is the 16-bit copy of the activations (as cuBLAS takes them in bf16
// mode), 16-byte aligned with ldx a multiple of 8; W is 16-bit (kind
// bf16/f16) [N, K] with K a multiple of 8 and 16-byte aligned rows. With
// sh, the results are also written in 16 bits (a shadow copy).

// k_gemv_mmt is the same product on the weights' tiled copy (k_interleave
// below): a warp's weight loads read 512 contiguous bytes each, and a warp
// may multiply RT tiles of 16 weight rows (a block 16·RT rows) by each
// activation fragment it loads, so that every block rereads the
// activations (from L1 or L2) once per 16·RT weight rows rather than per
// 16. J is the number of steps each lane loads ahead: NW·RT·2·J weight
// loads of 16 bytes in flight. The results are bitwise the same as
// k_gemv_mma's (the same fragments, the same mma order), whatever RT.

#define TC_STEPS 4

// mma_kind is mma_16816 for weights and activations of kind.
__device__ __forceinline__ void mma_kind(int kind, float* c, unsigned a0, unsigned a1, unsigned a2, unsigned a3,
                                         unsigned b0, unsigned b1) {
    if (kind == KIND_F16)
        mma_16816<true>(c, a0, a1, a2, a3, b0, b1);
    else
        mma_16816<false>(c, a0, a1, a2, a3, b0, b1);
}

// mma_frag accumulates c += a·b for one step of 32 elements: lo and hi are
// a lane's 16 bytes of weight rows g and g+8 (the A operand of both
// m16n8k16), b its 16 bytes of activation row g (the B operand).
__device__ __forceinline__ void mma_frag(int kind, float* c, uint4 lo, uint4 hi, uint4 b) {
    mma_kind(kind, c, lo.x, hi.x, lo.y, hi.y, b.x, b.y);
    mma_kind(kind, c, lo.z, hi.z, lo.w, hi.w, b.z, b.w);
}

// tc_load_w loads the weights of J steps from step s on (zeros at or past
// s1, or past K). Row-major weights: wr[i][r][h] points at the lane's 8
// elements of row n0+8h+g and a step advances 32 elements. Tiled weights
// (ILV): wr[i][r][h] points at the lane's 16 bytes of half h of the first
// tile of the warp's tile row r, and a step advances one tile (512
// elements); tiles are zero-padded, so only s1 bounds the loads.
template <int NW, int RT, int J, bool ILV>
__device__ __forceinline__ void tc_load_w(uint4 (*w)[NW][RT][2], const u16* const (*wr)[RT][2], int s, int s1, int K) {
    const int c = threadIdx.x & 3;
#pragma unroll
    for (int u = 0; u < J; u++) {
        long long k = ILV ? (long long)(s + u) * 512 : (s + u) * 32;
        bool ok = s + u < s1 && (ILV || (s + u) * 32 + 8 * c < K);
#pragma unroll
        for (int i = 0; i < NW; i++)
#pragma unroll
            for (int r = 0; r < RT; r++)
#pragma unroll
                for (int h = 0; h < 2; h++)
                    w[u][i][r][h] = ok ? ld_weight((const uint4*)(wr[i][r][h] + k)) : make_uint4(0, 0, 0, 0);
    }
}

// tc_load_x loads lane (g, c)'s activation fragments of the NS steps of
// 32 elements from step s: x[u][t] holds elements 32(s+u)+8c … +7 of row
// 8t+g of X, zeros for steps from s1 on, past K or rows past M. With CG
// the loads bypass L1 (X written by other blocks of the same kernel).
template <int NS, int MT, bool CG = false>
__device__ __forceinline__ void tc_load_x(uint4 (&x)[NS][MT], const u16* __restrict__ X, int ldx, int M, int K, int s, int s1) {
    const int lane = threadIdx.x & 31, g = lane >> 2, c = lane & 3;
#pragma unroll
    for (int u = 0; u < NS; u++) {
        int k = (s + u) * 32;
        bool ok = s + u < s1 && k + 8 * c < K;
#pragma unroll
        for (int t = 0; t < MT; t++)
            x[u][t] = !(ok && 8 * t + g < M) ? make_uint4(0, 0, 0, 0)
                      : CG                    ? __ldcg((const uint4*)(X + (long long)(8 * t + g) * ldx + k + 8 * c))
                                              : __ldg((const uint4*)(X + (long long)(8 * t + g) * ldx + k + 8 * c));
    }
}

// tc_partial computes warp w's partial sums: acc[((i·RT + r)·MT + t)·4 +
// j] holds element j of the mma accumulator tile of weight i < NW (rows
// n0+16r … n0+16r+15) and activation rows 8t … 8t+7. It calls pdl_start:
// with early, after loading its first steps' weights, which no kernel
// writes, so that these loads overlap the previous kernel's tail; X is read
// after.
template <int NW, int MT, int RT, int J, bool ILV>
__device__ __forceinline__ void tc_partial(float* acc, const u16* __restrict__ X, int ldx, int M, const u16* __restrict__ W1,
                                           const u16* __restrict__ W2, int N, int K, int kind, int n0, int early) {
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, c = lane & 3;
    // The block's steps (all of K, or its part of a split K: gridDim.y
    // parts), cut into 8 slices, one per warp.
    const int S = (K + 31) >> 5;
    const int b0 = S * blockIdx.y / gridDim.y, nb = S * (blockIdx.y + 1) / gridDim.y - b0;
    const int s0 = b0 + nb * warp / 8, s1 = b0 + nb * (warp + 1) / 8;
    // Tile rows past the last (N rounded up to 16) re-read the last one
    // (not stored).
    const int last = (N - 1) >> 4;
    const u16* wr[NW][RT][2];
#pragma unroll
    for (int i = 0; i < NW; i++)
#pragma unroll
        for (int r = 0; r < RT; r++)
#pragma unroll
            for (int h = 0; h < 2; h++)
                wr[i][r][h] = (i == 0 ? W1 : W2) + (ILV ? (long long)min((n0 >> 4) + r, last) * S * 512 + 256 * h + 8 * lane
                                                        : (long long)min(n0 + 8 * h + g, N - 1) * K + 8 * c);
    uint4 w[J][NW][RT][2];
    if (early) tc_load_w<NW, RT, J, ILV>(w, wr, s0, s1, K);
    pdl_start();
    if (!early) tc_load_w<NW, RT, J, ILV>(w, wr, s0, s1, K);
    for (int s = s0; s < s1; s += J) {
        uint4 x[J][MT];
        tc_load_x<J, MT>(x, X, ldx, M, K, s, s1);
#pragma unroll
        for (int u = 0; u < J; u++)
#pragma unroll
            for (int i = 0; i < NW; i++)
#pragma unroll
                for (int r = 0; r < RT; r++)
#pragma unroll
                    for (int t = 0; t < MT; t++) mma_frag(kind, acc + ((i * RT + r) * MT + t) * 4, w[u][i][r][0], w[u][i][r][1], x[u][t]);
        if (s + J < s1) tc_load_w<NW, RT, J, ILV>(w, wr, s + J, s1, K);
    }
}

// tc_reduce stores each warp's V partial sums in red[warp][v][lane] and
// waits for the block; tc_total<NWARP>(red, V, v, lane) adds the NWARP
// warps' values in warp order.
template <int V>
__device__ __forceinline__ void tc_reduce(const float* acc, float* red) {
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
#pragma unroll
    for (int v = 0; v < V; v++) red[(warp * V + v) * 32 + lane] = acc[v];
    __syncthreads();
}

template <int NWARP>
__device__ __forceinline__ float tc_total(const float* red, int V, int v, int lane) {
    float s = red[v * 32 + lane];
#pragma unroll
    for (int w = 1; w < NWARP; w++) s += red[(w * V + v) * 32 + lane];
    return s;
}

// tc_output maps value v of lane l of one weight's accumulators (MT
// activation tiles per tile row) to its weight row n and activation row m.
__device__ __forceinline__ void tc_output(int v, int l, int n0, int MT, int* n, int* m) {
    int q = v >> 2, j = v & 3, t = q % MT, r = q / MT;
    *n = n0 + 16 * r + (l >> 2) + (j >= 2 ? 8 : 0);
    *m = 8 * t + 2 * (l & 3) + (j & 1);
}

// tc_store writes the block's H·32 outputs per weight (rows n0 … n0+16·H/(4·MT)-1)
// from the NWARP warps' partial sums in red (tc_reduce): dst[m, n] (+)= the
// total for one weight (NW = 1), SiLU(first)·second for two, with the
// 16-bit shadow; for part y ≥ 0 of a split K (NW = 1) only the part's
// total, at dst[(y·M + m)·ldd + n].
template <int NW, int NWARP>
__device__ __forceinline__ void tc_store(const float* red, int H, int MT, int n0, float* __restrict__ dst, int ldd, int N, int M,
                                         int accumulate, u16* __restrict__ sh, int ldsh, int shkind, int y) {
    const int V = NW * H;
    for (int o = threadIdx.x; o < H * 32; o += blockDim.x) {
        int n, m, v = o >> 5, l = o & 31;
        tc_output(v, l, n0, MT, &n, &m);
        if (m < M && n < N) {
            float t = tc_total<NWARP>(red, V, v, l);
            if (NW == 1 && y >= 0) {
                dst[((long long)y * M + m) * ldd + n] = t;
                continue;
            }
            float* d = dst + (long long)m * ldd + n;
            if (NW == 2)
                t = silu(t) * tc_total<NWARP>(red, V, H + v, l);
            else if (accumulate)
                t += *d;
            *d = t;
            shadow(sh, ldsh, shkind, m, n, t);
        }
    }
}

// gemv_mma<NW, MT, RT, J, ILV> is k_gemv_mma_<MT> (ILV false, RT 1) or
// k_gemv_mmt<RT>_<MT> for NW = 1: dst[m, n] (+)= Σ_k X[m, k]·W1[n, k];
// and the _swiglu kernels for NW = 2: dst = SiLU(X·W1ᵀ) ⊙ (X·W2ᵀ), each
// product as for NW = 1 (accumulate unused). With sh, dst is also written
// in 16 bits.
//
// Split K (NW = 1, gridDim.y > 1: products with too few rows of weights to
// give every multiprocessor a block, such as x_proj): block (x, y) sums
// part y of the K steps and stores its totals in dst[(y·M + m)·ldd + n]
// (accumulate and sh unused); k_splitk_sum then adds the parts in order.
template <int NW, int MT, int RT, int J, bool ILV>
__device__ __forceinline__ void gemv_mma(float* __restrict__ dst, int ldd, const u16* __restrict__ X, int ldx,
                                         const u16* __restrict__ W1, const u16* __restrict__ W2, int N, int K, int M, int kind,
                                         int accumulate, u16* __restrict__ sh, int ldsh, int shkind, int early) {
    const int H = RT * MT * 4, V = NW * H; // first weight's values, then the second's
    __shared__ float red[8 * V * 32];
    const int n0 = blockIdx.x * 16 * RT;
    float acc[V];
#pragma unroll
    for (int i = 0; i < V; i++) acc[i] = 0.0f;
    tc_partial<NW, MT, RT, J, ILV>(acc, X, ldx, M, W1, W2, N, K, kind, n0, early);
    tc_reduce<V>(acc, red);
    tc_store<NW, 8>(red, H, MT, n0, dst, ldd, N, M, accumulate, sh, ldsh, shkind, gridDim.y > 1 ? (int)blockIdx.y : -1);
}

// The kernels; the host picks one (launchMMA in ops.go). Two blocks per
// multiprocessor at least (≤ 128 registers). GEMV_MMA_KERNEL(name, mt, rt,
// j, ilv) defines a product, GEMV_MMA_SWIGLU the fused gate/up.
#define GEMV_MMA_KERNEL(name, mt, rt, j, ilv)                                                                                   \
    extern "C" __global__ void __launch_bounds__(256, 2)                                                                        \
        name(float* __restrict__ dst, int ldd, const u16* __restrict__ X, int ldx, const u16* __restrict__ W, int N, int K,     \
             int M, int kind, int accumulate, u16* __restrict__ sh, int ldsh, int shkind, int early) {                          \
        gemv_mma<1, mt, rt, j, ilv>(dst, ldd, X, ldx, W, W, N, K, M, kind, accumulate, sh, ldsh, shkind, early);               \
    }
#define GEMV_MMA_SWIGLU(name, mt, rt, j, ilv)                                                                                   \
    extern "C" __global__ void __launch_bounds__(256, 2)                                                                        \
        name(float* __restrict__ dst, int ldd, const u16* __restrict__ X, int ldx, const u16* __restrict__ W1,                  \
             const u16* __restrict__ W2, int N, int K, int M, int kind, u16* __restrict__ sh, int ldsh, int shkind, int early) { \
        gemv_mma<2, mt, rt, j, ilv>(dst, ldd, X, ldx, W1, W2, N, K, M, kind, 0, sh, ldsh, shkind, early);                       \
    }

// k_gemv_mma_<MT>: row-major weights.
GEMV_MMA_KERNEL(k_gemv_mma_1, 1, 1, TC_STEPS, false)
GEMV_MMA_KERNEL(k_gemv_mma_2, 2, 1, TC_STEPS, false)
GEMV_MMA_SWIGLU(k_gemv_mma_swiglu_1, 1, 1, TC_STEPS, false)
GEMV_MMA_SWIGLU(k_gemv_mma_swiglu_2, 2, 1, TC_STEPS, false)

// k_gemv_mmt<RT>_<MT>: tiled weights, RT tiles of 16 rows per warp, 8
// weight loads in flight per lane (16 for the gate/up with RT 1, as
// k_gemv_mma_swiglu; 8 with RT 2).
GEMV_MMA_KERNEL(k_gemv_mmt1_1, 1, 1, 4, true)
GEMV_MMA_KERNEL(k_gemv_mmt1_2, 2, 1, 4, true)
GEMV_MMA_KERNEL(k_gemv_mmt2_1, 1, 2, 2, true)
GEMV_MMA_KERNEL(k_gemv_mmt2_2, 2, 2, 2, true)
GEMV_MMA_SWIGLU(k_gemv_mmt1_swiglu_1, 1, 1, 4, true)
GEMV_MMA_SWIGLU(k_gemv_mmt1_swiglu_2, 2, 1, 4, true)
GEMV_MMA_SWIGLU(k_gemv_mmt2_swiglu_1, 1, 2, 1, true)
GEMV_MMA_SWIGLU(k_gemv_mmt2_swiglu_2, 2, 2, 1, true)

// k_gemv_mmb: the fused gate/up of k_gemv_mmt at 9–16 rows (and, for
// tests and comparison, its single-weight product), with the tiled weights
// streamed into shared memory by the copy engine (sm_90 bulk copies,
// cp.async.bulk, completing on an mbarrier) rather than loaded into
// registers, and with each warp's activations loaded once into registers
// for all the bands it multiplies. At 16 rows an activation fragment is as
// many bytes as the weight tile it multiplies, so a product that rereads
// them for every band of 16 weight rows (k_gemv_mma, k_gemv_mmt) moves
// twice the bytes through L1 and L2 that it streams from memory.
//
// One block of MMB_WARPS warps per multiprocessor (gridDim.x ≤ the
// bands); block b takes the bands b, b + gridDim.x, … of 16 weight rows.
// Warp w takes the slice s0 … s1 of K's steps of 32 elements (w of
// MMB_WARPS, as k_gemv_mma cuts K into 8 slices), the same for every band,
// so it loads its activations once: at most MMB_XS steps (the host takes
// only weights whose K fits). Each warp has its own ring of ns stages of
// MMB_CT tiles per weight in dynamic shared memory: lane 0 issues the bulk
// copy of the warp's next chunk (at most MMB_CT tiles of one band's slice,
// contiguous in the tiled copy) into the stage the warp has just used, so
// up to ns chunks per warp are in flight while it multiplies. The first ns
// chunks are issued before the dependency wait (no kernel writes the
// weights). At the end of each band the warps' partial sums are added in
// warp order; the order of every operation for an output depends on K
// only.
#define MMB_WARPS 16
#define MMB_XS 6
#define MMB_CT 2
#define MMB_MAXNS 8

// The bulk copies and their barriers need sm_90 and PTX 8.0 (NVRTC 12);
// elsewhere the kernels trap, and the host never launches them
// (mmbTakes).
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900 && defined(__CUDACC_VER_MAJOR__) && __CUDACC_VER_MAJOR__ >= 12
#define MMB_OK 1
#else
#define MMB_OK 0
#endif

// MmbFeed is one product's chunks as a warp multiplies them: for each of
// its bands band0, band0 + stride, … below bands, the steps s0 … s1 of K
// (S steps in all) of the tiled weights w1 (and w2 for the gate/up).
struct MmbFeed {
    const u16* w1;
    const u16* w2;
    int S, s0, s1, band0, stride, bands;
};

__device__ __forceinline__ MmbFeed mmb_feed(const u16* w1, const u16* w2, int S, int s0, int s1, int band0, int stride, int bands) {
    MmbFeed f;
    f.w1 = w1, f.w2 = w2, f.S = S, f.s0 = s0, f.s1 = s1, f.band0 = band0, f.stride = stride, f.bands = bands;
    return f;
}

// mmb_copy (lane 0) copies the chunk of f at band, step s (at most CT
// tiles of each of its NW weights, up to the slice's end) into the stage
// at dst, completing on the mbarrier bar, and returns its steps.
template <int NW, int CT>
__device__ __forceinline__ int mmb_copy(const MmbFeed& f, int band, int s, unsigned dst, unsigned bar) {
#if MMB_OK
    const int n = min(CT, f.s1 - s);
    const unsigned bytes = n * 1024;
    asm volatile("{ .reg .b64 st; mbarrier.arrive.expect_tx.shared.b64 st, [%0], %1; }" ::"r"(bar), "r"(NW * bytes) : "memory");
#pragma unroll
    for (int i = 0; i < NW; i++) {
        const u16* src = (i == 0 ? f.w1 : f.w2) + ((long long)band * f.S + s) * 512;
        asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(dst + i * CT * 1024),
                     "l"(src), "r"(bytes), "r"(bar)
                     : "memory");
    }
    return n;
#else
    return 0;
#endif
}

// MmbPut walks the chunks lane 0 copies into the warp's ring: feed a's
// (NW weights, CT tiles per chunk), then feed b's (one weight, CTB tiles:
// k_mlp_mmb's down product, whose first chunks are copied while the block
// finishes the gate/up and waits for the grid; none when b.bands is 0).
// Every stage holds NW·CT = CTB tiles.
template <int NW, int CT, int CTB>
struct MmbPut {
    MmbFeed a, b;
    int ph, band, s; // the next chunk: feed ph (0 a, 1 b, 2 none), band, step
    unsigned issued; // chunks copied

    __device__ __forceinline__ void start(const MmbFeed& fa, const MmbFeed& fb) {
        a = fa, b = fb, ph = 0, band = a.band0, s = a.s0, issued = 0;
        settle();
    }
    // settle moves past a feed with nothing (left) to copy.
    __device__ __forceinline__ void settle() {
        if (ph == 0 && (band >= a.bands || a.s0 >= a.s1)) ph = 1, band = b.band0, s = b.s0;
        if (ph == 1 && (band >= b.bands || b.s0 >= b.s1)) ph = 2;
    }
    __device__ __forceinline__ bool more() const { return ph < 2; }
    // issue copies the next chunk into stage issued % ns of ring.
    __device__ __forceinline__ void issue(int ns, unsigned ring, unsigned bars) {
        const unsigned st = issued % ns, dst = ring + st * (CTB * 1024), bar = bars + 8 * st;
        issued++;
        if (ph == 0) {
            s += mmb_copy<NW, CT>(a, band, s, dst, bar);
            if (s >= a.s1) band += a.stride, s = a.s0;
        } else {
            s += mmb_copy<1, CTB>(b, band, s, dst, bar);
            if (s >= b.s1) band += b.stride, s = b.s0;
        }
        settle();
    }
};

// mbar_wait waits for the phase of parity of the mbarrier at bar.
__device__ __forceinline__ void mbar_wait(unsigned bar, unsigned parity) {
#if MMB_OK
    asm volatile(
        "{\n"
        ".reg .pred done;\n"
        "MMB_WAIT:\n"
        "mbarrier.try_wait.parity.shared.b64 done, [%0], %1;\n"
        "@!done bra MMB_WAIT;\n"
        "}\n" ::"r"(bar),
        "r"(parity)
        : "memory");
#endif
}

// lds128 reads 16 bytes of shared memory (volatile: never moved above the
// barrier wait that makes them valid).
__device__ __forceinline__ uint4 lds128(unsigned a) {
    uint4 v;
    asm volatile("ld.shared.v4.u32 {%0,%1,%2,%3}, [%4];" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "r"(a) : "memory");
    return v;
}

// mmb_band multiplies one band of NW weights by the warp's activations x
// (its n ≤ XS steps), adding to acc: it waits for each stage of the ring
// (CT steps of every weight; q stages used so far), and once every lane has
// used it (its values are in the mma results) lane 0 refills it with the
// next chunk of put.
template <int NW, int MT, int XS, int CT, class Put>
__device__ __forceinline__ void mmb_band(float* acc, const uint4 (&x)[XS][MT], int n, unsigned& q, Put& put, int ns, unsigned ring,
                                         unsigned wbars, int kind) {
    const int lane = threadIdx.x & 31;
#pragma unroll
    for (int i = 0; i < XS; i += CT) {
        if (i >= n) break;
        const unsigned stage = q % ns, base = ring + stage * (NW * CT * 1024) + 16 * lane;
        mbar_wait(wbars + 8 * stage, (q / ns) & 1);
#pragma unroll
        for (int j = 0; j < CT; j++) {
            if (i + j >= XS || i + j >= n) break;
#pragma unroll
            for (int w = 0; w < NW; w++) {
                const uint4 lo = lds128(base + (w * CT + j) * 1024), hi = lds128(base + (w * CT + j) * 1024 + 512);
#pragma unroll
                for (int t = 0; t < MT; t++) mma_frag(kind, acc + (w * MT + t) * 4, lo, hi, x[i + j][t]);
            }
        }
        __syncwarp();
        if (lane == 0 && put.more()) {
            asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
            put.issue(ns, ring, wbars);
        }
        q++;
    }
}

// mmb_begin initialises the warp's ns mbarriers (lane 0) and, with early,
// copies its first ns chunks before the dependency wait (no kernel writes
// the weights), else after it.
template <class Put>
__device__ __forceinline__ void mmb_begin(Put& put, int ns, unsigned ring, unsigned wbars, int early) {
#if MMB_OK
    const int lane = threadIdx.x & 31;
    if (lane == 0) {
        for (int i = 0; i < ns; i++) asm volatile("mbarrier.init.shared.b64 [%0], 1;" ::"r"(wbars + 8 * i) : "memory");
        asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
        if (early)
            while (put.issued < (unsigned)ns && put.more()) put.issue(ns, ring, wbars);
    }
    __syncwarp();
    pdl_start();
    if (lane == 0 && !early)
        while (put.issued < (unsigned)ns && put.more()) put.issue(ns, ring, wbars);
#endif
}

// mmb_bands runs the block's bands of k_gemv_mmb (blockIdx.x, + gridDim.x,
// … below bands): the warp's activations of its slice s0 … s1 of K held in
// registers for all of them, each band's partial sums added in warp order
// (red) and stored to dst with accumulate and the shadow sh. k_gemv_mmb and
// k_mlp_mmb's gate/up run it.
template <int NW, int MT, class Put>
__device__ __forceinline__ void mmb_bands(float* red, Put& put, unsigned& q, int ns, unsigned ring, unsigned wbars,
                                          const u16* __restrict__ X, int ldx, int M, int K, int s0, int s1, int bands, int kind,
                                          float* __restrict__ dst, int ldd, int N, int accumulate, u16* __restrict__ sh, int ldsh,
                                          int shkind) {
    const int H = MT * 4, V = NW * H;
    uint4 x[MMB_XS][MT];
    tc_load_x<MMB_XS, MT>(x, X, ldx, M, K, s0, s1);
    for (int band = blockIdx.x; band < bands; band += gridDim.x) {
        float acc[V];
#pragma unroll
        for (int i = 0; i < V; i++) acc[i] = 0.0f;
        mmb_band<NW, MT, MMB_XS, MMB_CT>(acc, x, s1 - s0, q, put, ns, ring, wbars, kind);
        tc_reduce<V>(acc, red);
        tc_store<NW, MMB_WARPS>(red, H, MT, 16 * band, dst, ldd, N, M, accumulate, sh, ldsh, shkind, -1);
        __syncthreads();
    }
}

template <int NW, int MT>
__device__ __forceinline__ void gemv_mmb(float* __restrict__ dst, int ldd, const u16* __restrict__ X, int ldx,
                                         const u16* __restrict__ W1, const u16* __restrict__ W2, int N, int K, int M, int kind,
                                         int accumulate, u16* __restrict__ sh, int ldsh, int shkind, int early, int ns) {
#if !MMB_OK
    __trap();
#else
    const int H = MT * 4, V = NW * H;
    __shared__ float red[MMB_WARPS * V * 32];
    __shared__ __align__(8) unsigned long long bars[MMB_WARPS][MMB_MAXNS];
    extern __shared__ __align__(128) unsigned char mmb_ring[];
    const int warp = threadIdx.x >> 5;
    const int S = (K + 31) >> 5, bands = (N + 15) >> 4;
    const unsigned ring = smem_addr(mmb_ring) + warp * ns * (NW * MMB_CT * 1024), wbars = smem_addr(&bars[warp][0]);
    // The warp's slice of K, the same for all its bands.
    const int s0 = S * warp / MMB_WARPS, s1 = S * (warp + 1) / MMB_WARPS;
    // Lane 0 copies, the whole warp multiplies; both walk the same chunks.
    MmbPut<NW, MMB_CT, NW * MMB_CT> put;
    put.start(mmb_feed(W1, W2, S, s0, s1, (int)blockIdx.x, (int)gridDim.x, bands), mmb_feed(W1, W2, S, 0, 0, 0, 1, 0));
    mmb_begin(put, ns, ring, wbars, early);
    unsigned q = 0; // chunks used
    mmb_bands<NW, MT>(red, put, q, ns, ring, wbars, X, ldx, M, K, s0, s1, bands, kind, dst, ldd, N, accumulate, sh, ldsh, shkind);
#endif
}

// k_gemv_mmb_<MT> (one weight) and k_gemv_mmb_swiglu_<MT> (the gate/up):
// the kernels (host: mmbPlan in ops.go), one block per multiprocessor (at
// most 128 registers for 512 threads).
extern "C" __global__ void __launch_bounds__(32 * MMB_WARPS, 1)
    k_gemv_mmb_2(float* __restrict__ dst, int ldd, const u16* __restrict__ X, int ldx, const u16* __restrict__ W, int N, int K, int M,
                 int kind, int accumulate, u16* __restrict__ sh, int ldsh, int shkind, int early, int ns) {
    gemv_mmb<1, 2>(dst, ldd, X, ldx, W, W, N, K, M, kind, accumulate, sh, ldsh, shkind, early, ns);
}
extern "C" __global__ void __launch_bounds__(32 * MMB_WARPS, 1)
    k_gemv_mmb_1(float* __restrict__ dst, int ldd, const u16* __restrict__ X, int ldx, const u16* __restrict__ W, int N, int K, int M,
                 int kind, int accumulate, u16* __restrict__ sh, int ldsh, int shkind, int early, int ns) {
    gemv_mmb<1, 1>(dst, ldd, X, ldx, W, W, N, K, M, kind, accumulate, sh, ldsh, shkind, early, ns);
}
extern "C" __global__ void __launch_bounds__(32 * MMB_WARPS, 1)
    k_gemv_mmb_swiglu_2(float* __restrict__ dst, int ldd, const u16* __restrict__ X, int ldx, const u16* __restrict__ W1,
                        const u16* __restrict__ W2, int N, int K, int M, int kind, u16* __restrict__ sh, int ldsh, int shkind, int early,
                        int ns) {
    gemv_mmb<2, 2>(dst, ldd, X, ldx, W1, W2, N, K, M, kind, 0, sh, ldsh, shkind, early, ns);
}
extern "C" __global__ void __launch_bounds__(32 * MMB_WARPS, 1)
    k_gemv_mmb_swiglu_1(float* __restrict__ dst, int ldd, const u16* __restrict__ X, int ldx, const u16* __restrict__ W1,
                        const u16* __restrict__ W2, int N, int K, int M, int kind, u16* __restrict__ sh, int ldsh, int shkind, int early,
                        int ns) {
    gemv_mmb<2, 1>(dst, ldd, X, ldx, W1, W2, N, K, M, kind, 0, sh, ldsh, shkind, early, ns);
}

// grid_sync waits until every block of the grid has reached it (all
// resident at once: k_mlp_mmb's grid is at most one block per
// multiprocessor, and programmatic dependent launch lets the next kernel
// in only once every block has started); writes before it are visible to
// every block after it. bar[0] counts the blocks arrived, bar[1] is the
// generation: the last block to arrive resets the count and starts the
// next generation, so the two words (zeroed when allocated) need no reset
// between launches. One launch at a time uses them.
__device__ __forceinline__ void grid_sync(unsigned* bar) {
    __syncthreads();
    if (threadIdx.x == 0) {
        unsigned gen;
        asm volatile("ld.relaxed.gpu.global.u32 %0, [%1];" : "=r"(gen) : "l"(bar + 1) : "memory");
        __threadfence();
        if (atomicAdd(bar, 1) == gridDim.x - 1) {
            atomicExch(bar, 0);
            __threadfence();
            atomicAdd(bar + 1, 1);
        } else {
            unsigned g;
            do
                asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(g) : "l"(bar + 1) : "memory");
            while (g == gen);
        }
        __threadfence();
    }
    __syncthreads();
}

// k_mlp_mmb_<MT>: the MLP of 9–16 rows in one kernel (host: Backend.MLP),
// then k_splitk_sum:
//   - the gate/up as k_gemv_mmb_swiglu_<MT> (hid = SiLU(X·W1ᵀ) ⊙ (X·W2ᵀ),
//     F outputs of K = D inputs, with its 16-bit shadow sh);
//   - a grid-wide barrier;
//   - the down product (D outputs of F inputs, tiled W3) with its K split
//     into P parts: block b takes part b / G (G = gridDim.x / P blocks a
//     part) and the bands b % G, b % G + G, …; its warps take slices of the
//     part as in k_gemv_mmb (at most MLP_XS steps), and each band's totals
//     go to part[(p·M + m)·D + n] (k_splitk_sum adds the parts to the
//     residual).
// The down product's first chunks are copied into the ring as soon as the
// gate/up's last ones are used, so the down's weights stream while the
// grid finishes the gate/up and meets at the barrier.
#define MLP_XS 7
#define MLP_CT 4

template <int MT>
__device__ __forceinline__ void mlp_mmb(float* __restrict__ hid, int ldh, const u16* __restrict__ X, int ldx, const u16* __restrict__ W1,
                                        const u16* __restrict__ W2, const u16* __restrict__ W3, int F, int D, int M, int kind,
                                        u16* __restrict__ sh, int ldsh, int shkind, int early, int ns, float* __restrict__ part, int P,
                                        unsigned* bar) {
#if !MMB_OK
    __trap();
#else
    const int H = MT * 4, V = 2 * H;
    __shared__ float red[MMB_WARPS * V * 32];
    __shared__ __align__(8) unsigned long long bars[MMB_WARPS][MMB_MAXNS];
    extern __shared__ __align__(128) unsigned char mmb_ring[];
    const int warp = threadIdx.x >> 5;
    const unsigned ring = smem_addr(mmb_ring) + warp * ns * (2 * MMB_CT * 1024), wbars = smem_addr(&bars[warp][0]);
    // The gate/up: K = D, F outputs; the warp's slice of D.
    const int S = (D + 31) >> 5, bands = (F + 15) >> 4;
    const int s0 = S * warp / MMB_WARPS, s1 = S * (warp + 1) / MMB_WARPS;
    // The down product: K = F in P parts, D outputs; the warp's slice of
    // the block's part (none for blocks past P·G).
    const int S2 = (F + 31) >> 5, bands2 = (D + 15) >> 4, G = gridDim.x / P, p = blockIdx.x / G, g = blockIdx.x % G;
    const int b0 = S2 * p / P, nb = p < P ? S2 * (p + 1) / P - b0 : 0;
    const int t0 = b0 + nb * warp / MMB_WARPS, t1 = b0 + nb * (warp + 1) / MMB_WARPS;
    MmbPut<2, MMB_CT, MLP_CT> put;
    put.start(mmb_feed(W1, W2, S, s0, s1, (int)blockIdx.x, (int)gridDim.x, bands), mmb_feed(W3, W3, S2, t0, t1, g, G, bands2));
    mmb_begin(put, ns, ring, wbars, early);
    unsigned q = 0; // chunks used
    mmb_bands<2, MT>(red, put, q, ns, ring, wbars, X, ldx, M, D, s0, s1, bands, kind, hid, ldh, F, 0, sh, ldsh, shkind);
    // Every block's outputs of the gate/up (sh) are the down's inputs.
    grid_sync(bar);
    uint4 x[MLP_XS][MT];
    tc_load_x<MLP_XS, MT, true>(x, sh, ldsh, M, F, t0, t1);
    // The bands' partial sums alternate between the two halves of red (H
    // values per lane of each warp), so that one block barrier per band
    // suffices: a half is written again only after the barrier of the
    // next band, which every thread passes having stored the band before.
    for (int band = g, i = 0; p < P && band < bands2; band += G, i ^= 1) {
        float acc[H];
#pragma unroll
        for (int v = 0; v < H; v++) acc[v] = 0.0f;
        mmb_band<1, MT, MLP_XS, MLP_CT>(acc, x, t1 - t0, q, put, ns, ring, wbars, kind);
        tc_reduce<H>(acc, red + i * MMB_WARPS * H * 32);
        tc_store<1, MMB_WARPS>(red + i * MMB_WARPS * H * 32, H, MT, 16 * band, part, D, D, M, 0, (u16*)0, 0, 0, p);
    }
#endif
}

#define MLP_MMB_KERNEL(name, MT)                                                                                                    \
    extern "C" __global__ void __launch_bounds__(32 * MMB_WARPS, 1)                                                                 \
        name(float* __restrict__ hid, int ldh, const u16* __restrict__ X, int ldx, const u16* __restrict__ W1,                     \
             const u16* __restrict__ W2, const u16* __restrict__ W3, int F, int D, int M, int kind, u16* __restrict__ sh, int ldsh, \
             int shkind, int early, int ns, float* __restrict__ part, int P, unsigned* bar) {                                       \
        mlp_mmb<MT>(hid, ldh, X, ldx, W1, W2, W3, F, D, M, kind, sh, ldsh, shkind, early, ns, part, P, bar);                       \
    }
MLP_MMB_KERNEL(k_mlp_mmb_1, 1)
MLP_MMB_KERNEL(k_mlp_mmb_2, 2)

// k_interleave copies the 16-bit weights W [N, K] (K a multiple of 8) into
// the tiled layout of k_gemv_mmt: tiles of 16 rows × 32 elements, each
// stored row-major (64 bytes per row, 1 KB per tile), the tiles of rows
// 16b … 16b+15 one after another along K (tile (b, s) at element (b·S +
// s)·512, S = ceil(K/32)), zeros past N and K. A decoding product's warp
// then reads the mma fragments of 8 rows (lane g·4+c: elements 8c … 8c+7
// of row g) as 512 contiguous bytes per load instruction, where the
// row-major layout gives 64 bytes of each of 8 rows. Thread q writes the
// q-th 16 bytes of the copy.
extern "C" __global__ void k_interleave(u16* __restrict__ dst, const u16* __restrict__ W, int N, int K) {
    pdl_start();
    const int S = (K + 31) >> 5;
    const long long total = (long long)((N + 15) >> 4) * S * 64;
    for (long long q = (long long)blockIdx.x * blockDim.x + threadIdx.x; q < total; q += (long long)gridDim.x * blockDim.x) {
        long long t = q >> 6;
        int r = (int)(q >> 2) & 15, c = (int)q & 3;
        long long b = t / S;
        int s = (int)(t - b * S);
        long long n = b * 16 + r;
        int k = s * 32 + 8 * c;
        uint4 v = make_uint4(0, 0, 0, 0);
        if (n < N && k < K) v = *(const uint4*)(W + n * K + k);
        *((uint4*)dst + q) = v;
    }
}

// k_splitk_sum finishes a split-K k_gemv_mma: dst[m, n] (+)= Σ_y part[(y·M
// + m)·N + n] for y = 0 … KS-1 in order, and the 16-bit shadow with sh.
extern "C" __global__ void k_splitk_sum(float* __restrict__ dst, int ldd, const float* __restrict__ part, int N, int M, int KS,
                                        int accumulate, u16* __restrict__ sh, int ldsh, int shkind) {
    pdl_start();
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= M * N) return;
    int m = i / N, n = i - m * N;
    float y = part[i];
    for (int k = 1; k < KS; k++) y += part[(long long)k * M * N + i];
    float* d = dst + (long long)m * ldd + n;
    if (accumulate) y += *d;
    *d = y;
    shadow(sh, ldsh, shkind, m, n, y);
}

// Grouped decoding attention. AG_WARPS warps per block; AG_KEYS keys per
// warp step; AG_MAXG query heads per key/value head at most.
#define AG_WARPS 8
#define AG_KEYS 4
#define AG_MAXG 16

// load_row reads DPL consecutive floats (16-byte aligned for DPL ≥ 4).
template <int DPL>
__device__ __forceinline__ void load_row(float* d, const float* __restrict__ p) {
    if (DPL >= 4) {
#pragma unroll
        for (int i = 0; i < DPL; i += 4) {
            float4 v = __ldg((const float4*)(p + i));
            d[i] = v.x;
            d[i + 1] = v.y;
            d[i + 2] = v.z;
            d[i + 3] = v.w;
        }
    } else if (DPL == 2) {
        float2 v = __ldg((const float2*)p);
        d[0] = v.x;
        d[1] = v.y;
    } else {
        d[0] = __ldg(p);
    }
}

// load_kv reads DPL consecutive elements of a key or value row from element
// i of p, of kind kind: float32 (load_row), or a bf16 cache's, widened.
template <int DPL>
__device__ __forceinline__ void load_kv(float* d, const void* p, int i, int kind) {
    if (kind == KIND_F32) {
        load_row<DPL>(d, (const float*)p + i);
        return;
    }
    const u16* h = (const u16*)p + i;
    if (DPL >= 4) {
#pragma unroll
        for (int j = 0; j < DPL; j += 4) {
            uint2 x = __ldg((const uint2*)(h + j));
            d[j] = bf16_to_f32((u16)x.x);
            d[j + 1] = bf16_to_f32((u16)(x.x >> 16));
            d[j + 2] = bf16_to_f32((u16)x.y);
            d[j + 3] = bf16_to_f32((u16)(x.y >> 16));
        }
    } else if (DPL == 2) {
        unsigned x = __ldg((const unsigned*)h);
        d[0] = bf16_to_f32((u16)x);
        d[1] = bf16_to_f32((u16)(x >> 16));
    } else {
        d[0] = bf16_to_f32(__ldg(h));
    }
}

// k_attn_grp<DPL> attends short chunks (decoding) with one block per (key
// split, key/value head g, query t, sequence): the block reads each of its
// keys and values once for all Hg = H/G ≤ 16 query heads of the group, in
// float32. Lane l of a warp holds dimensions l·DPL … l·DPL+DPL-1 (hd =
// 32·DPL). A warp takes AG_KEYS keys at a time; the per-head dot products
// are summed over the lanes by a transposing butterfly (16 shuffles per key
// for all heads), after which lane 2h and 2h+1 hold head h's score and run
// its online softmax. The warps' states are merged in a fixed order
// through shared memory. Output as k_attn's (dst, or partials for
// k_attn_combine when nsplit > 1). The caches are of kind kvkind (bf16
// ones widened: their keys and values enter the products rounded).
template <int DPL>
__device__ __forceinline__ void attn_grp(float* __restrict__ dst, int ldd, const float* __restrict__ q, int ldq,
                                         const float* __restrict__ k, int ldk, const float* __restrict__ v, int ldv, int H,
                                         int G, float scale, int window, const Seqs& seqs, const Ptrs& kc, const Ptrs& vc,
                                         const Ints& cap, const int* __restrict__ dpos, u16* __restrict__ sh, int ldsh,
                                         int shkind, int nsplit, float* __restrict__ part, int kvkind) {
    const int hd = 32 * DPL;
    __shared__ __align__(16) float s_q[AG_MAXG * 256]; // scaled queries, then the merged outputs
    __shared__ float s_p[AG_WARPS][AG_KEYS][AG_MAXG];
    __shared__ float s_c[AG_WARPS][AG_MAXG];
    __shared__ float s_m[AG_WARPS][AG_MAXG], s_l[AG_WARPS][AG_MAXG];
    int g = blockIdx.x / nsplit, sp = blockIdx.x % nsplit, t = blockIdx.y, s = blockIdx.z;
    if (s >= seqs.n || t >= seqs.len[s]) return;
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    int Hg = H / G;
    int P = seq_pos(seqs, dpos, s), row = seqs.row[s];
    int p = P + t;
    int first = window > 0 ? max(0, p - window + 1) : 0;
    int per = (p - first + nsplit) / nsplit;
    int kbeg = first + sp * per, kend = min(p, kbeg + per - 1);
    int kvDim = G * hd;
    const void* kcache = (const void*)kc.p[s];
    const void* vcache = (const void*)vc.p[s];
    int cp = cap.v[s];
    long long orow = row + t;
    for (int i = threadIdx.x; i < Hg * hd; i += blockDim.x) s_q[i] = q[orow * ldq + g * Hg * hd + i] * scale;
    __syncthreads();

    float o[AG_MAXG][DPL];
#pragma unroll
    for (int h = 0; h < AG_MAXG; h++)
#pragma unroll
        for (int i = 0; i < DPL; i++) o[h][i] = 0.0f;
    int myh = (lane >> 1) & 15; // the head whose softmax this lane runs
    float m = -INF_F, l = 0.0f;
    for (int j0 = kbeg + w * AG_KEYS; j0 <= kend; j0 += AG_WARPS * AG_KEYS) {
        float kv[AG_KEYS][DPL];
        const void* vrow[AG_KEYS];
        int vk[AG_KEYS]; // vrow's kind: a chunk row's (float32) or the cache's
#pragma unroll
        for (int u = 0; u < AG_KEYS; u++) {
            int j = min(j0 + u, kend);
            const void* kr;
            if (j >= P) {
                long long rr = row + (j - P);
                kr = k + rr * ldk + g * hd;
                vrow[u] = v + rr * ldv + g * hd;
                vk[u] = KIND_F32;
            } else {
                long long off = (long long)(j % cp) * kvDim + g * hd;
                kr = elem_ptr(kcache, off, kvkind);
                vrow[u] = elem_ptr(vcache, off, kvkind);
                vk[u] = kvkind;
            }
            load_kv<DPL>(kv[u], kr, lane * DPL, vk[u]);
        }
        float sc[AG_KEYS];
#pragma unroll
        for (int u = 0; u < AG_KEYS; u++) {
            float d[AG_MAXG];
#pragma unroll
            for (int h = 0; h < AG_MAXG; h++) {
                float a = 0.0f;
                if (h < Hg) {
                    const float* qh = s_q + h * hd + lane * DPL;
#pragma unroll
                    for (int i = 0; i < DPL; i++) a += qh[i] * kv[u][i];
                }
                d[h] = a;
            }
            // Transposing butterfly: after the step with offset o, a lane
            // keeps the half of its values selected by its bit o.
#pragma unroll
            for (int i = 0; i < 8; i++) {
                bool hi = lane & 16;
                float send = hi ? d[i] : d[i + 8], keep = hi ? d[i + 8] : d[i];
                d[i] = keep + __shfl_xor_sync(FULL_MASK, send, 16);
            }
#pragma unroll
            for (int i = 0; i < 4; i++) {
                bool hi = lane & 8;
                float send = hi ? d[i] : d[i + 4], keep = hi ? d[i + 4] : d[i];
                d[i] = keep + __shfl_xor_sync(FULL_MASK, send, 8);
            }
#pragma unroll
            for (int i = 0; i < 2; i++) {
                bool hi = lane & 4;
                float send = hi ? d[i] : d[i + 2], keep = hi ? d[i + 2] : d[i];
                d[i] = keep + __shfl_xor_sync(FULL_MASK, send, 4);
            }
            {
                bool hi = lane & 2;
                float send = hi ? d[0] : d[1], keep = hi ? d[1] : d[0];
                d[0] = keep + __shfl_xor_sync(FULL_MASK, send, 2);
            }
            d[0] += __shfl_xor_sync(FULL_MASK, d[0], 1);
            sc[u] = j0 + u <= kend ? d[0] : -INF_F;
        }
        float mx = m;
#pragma unroll
        for (int u = 0; u < AG_KEYS; u++) mx = fmaxf(mx, sc[u]);
        float corr = expf(m - mx); // m = -inf: 0
        l *= corr;
#pragma unroll
        for (int u = 0; u < AG_KEYS; u++) {
            float pu = j0 + u <= kend ? expf(sc[u] - mx) : 0.0f;
            l += pu;
            if ((lane & 1) == 0) s_p[w][u][myh] = pu;
        }
        m = mx;
        if ((lane & 1) == 0) s_c[w][myh] = corr;
        __syncwarp();
#pragma unroll
        for (int u = 0; u < AG_KEYS; u++) load_kv<DPL>(kv[u], vrow[u], lane * DPL, vk[u]);
#pragma unroll
        for (int h = 0; h < AG_MAXG; h++) {
            if (h < Hg) {
                float c = s_c[w][h];
#pragma unroll
                for (int i = 0; i < DPL; i++) {
                    float a = o[h][i] * c;
#pragma unroll
                    for (int u = 0; u < AG_KEYS; u++) a += s_p[w][u][h] * kv[u][i];
                    o[h][i] = a;
                }
            }
        }
        __syncwarp();
    }
    // Merge the warps: weights exp(m_w - M) per head, in warp order.
    if ((lane & 1) == 0) {
        s_m[w][myh] = m;
        s_l[w][myh] = l;
    }
    __syncthreads(); // every warp is done with s_q
    for (int ww = 0; ww < AG_WARPS; ww++) {
        if (w == ww) {
#pragma unroll
            for (int h = 0; h < AG_MAXG; h++) {
                if (h < Hg) {
                    float M = -INF_F;
                    for (int x = 0; x < AG_WARPS; x++) M = fmaxf(M, s_m[x][h]);
                    float f = s_m[w][h] == -INF_F ? 0.0f : expf(s_m[w][h] - M);
#pragma unroll
                    for (int i = 0; i < DPL; i++) {
                        float* so = s_q + h * hd + lane * DPL + i;
                        *so = (ww == 0 ? 0.0f : *so) + f * o[h][i];
                    }
                }
            }
        }
        __syncthreads();
    }
    for (int i = threadIdx.x; i < Hg * hd; i += blockDim.x) {
        int h = i / hd, d = i - h * hd;
        float M = -INF_F;
        for (int x = 0; x < AG_WARPS; x++) M = fmaxf(M, s_m[x][h]);
        float L = 0.0f;
        for (int x = 0; x < AG_WARPS; x++)
            if (s_m[x][h] > -INF_F) L += s_l[x][h] * expf(s_m[x][h] - M);
        int head = g * Hg + h;
        float val = s_q[i];
        if (nsplit > 1) {
            float* pp = part + ((orow * H + head) * nsplit + sp) * (hd + 2);
            if (d == 0) {
                pp[0] = M;
                pp[1] = L;
            }
            pp[2 + d] = val;
        } else {
            val /= L;
            dst[orow * ldd + head * hd + d] = val;
            shadow(sh, ldsh, shkind, orow, head * hd + d, val);
        }
    }
}

#define ATTN_GRP_KERNEL(name, dpl)                                                                                           \
    extern "C" __global__ void __launch_bounds__(AG_WARPS * 32)                                                              \
        name(float* __restrict__ dst, int ldd, const float* __restrict__ q, int ldq, const float* __restrict__ k, int ldk,   \
             const float* __restrict__ v, int ldv, int H, int G, float scale, int window, Seqs seqs, Ptrs kc, Ptrs vc,       \
             Ints cap, const int* __restrict__ dpos, u16* __restrict__ sh, int ldsh, int shkind, int nsplit,                 \
             float* __restrict__ part, int kvkind) { pdl_start();                                                                         \
        attn_grp<dpl>(dst, ldd, q, ldq, k, ldk, v, ldv, H, G, scale, window, seqs, kc, vc, cap, dpos, sh, ldsh, shkind,      \
                      nsplit, part, kvkind);                                                                                 \
    }

ATTN_GRP_KERNEL(k_attn_grp1, 1)
ATTN_GRP_KERNEL(k_attn_grp2, 2)
ATTN_GRP_KERNEL(k_attn_grp4, 4)
ATTN_GRP_KERNEL(k_attn_grp8, 8)
