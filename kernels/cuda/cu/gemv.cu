// k_gemv2: the decoding matrix-vector products (M ≤ 4 activation rows),
// bandwidth-bound on the 16-bit weights, and k_gemv2_swiglu, the fused
// gate/up version reading two weights.
//
// Work split. A block of 256 threads (8 warps) computes RB consecutive
// weight rows n0 … n0+RB-1 (n0 = blockIdx.x·RB; grid ceil(N / RB) blocks).
// Each row's K range is cut into 16-byte chunks (8 elements; C = K/8) and
// the chunks into 8 contiguous slices, one per warp: warp w reads chunks
// [w·C/8, (w+1)·C/8) of every row of the block, lane l the chunks
// start+l, start+l+32, … of that slice. So one load instruction of a warp
// reads 512 contiguous bytes of one row, every warp of the GPU has the same
// amount of work (±1 chunk per row), and a lane reads the activations of a
// chunk once for all RB rows (at M = 4 the activations are 8 times the
// weight bytes through L1; sharing them across RB rows divides that).
// Rows past N (the last block) re-read row N-1 and are not stored.
//
// Memory-level parallelism: each lane issues GV2_LOADS independent 16-byte
// weight loads (GV2_LOADS/(RB·NW) chunk steps of RB rows of NW weights)
// before it uses any of them, then widens and multiplies them.
//
// Reduction, in a fixed order (no atomics, results are deterministic): the
// warp reduces its partial sums over the 32 lanes by a butterfly (xor 16,
// 8, 4, 2, 1) that also hands each value to a subset of lanes (see
// warp_reduce_scatter), the 8 warps' totals go to shared memory and one
// thread per output adds them in warp order.
//
// The order of every floating-point operation for output (m, n) depends on
// K only: not on RB (which changes only which rows share a block and how
// many loads are batched), not on M, not on N. The results are therefore
// bitwise the same for every RB, and the host may choose RB for speed alone.
//
// x is float32, used unrounded (as k_gemv), 16-byte aligned with ldx a
// multiple of 4; W is 16-bit (kind bf16/f16) [N, K] with K a multiple of 8
// and 16-byte aligned rows.

// GV2_LOADS is the number of 16-byte weight loads each lane has in flight.
#define GV2_LOADS 8

// Blocks per multiprocessor asked of the compiler (__launch_bounds__): 4
// (64 registers, 32 warps per multiprocessor) where that needs no spills,
// else fewer. The partial sums take RB·4·NW registers and the loads in
// flight 4·GV2_LOADS.
#define GV2_MINB(rb) ((rb) <= 4 ? 4 : 2)
#define GV2_SWIGLU_MINB(rb) ((rb) <= 2 ? 4 : (rb) == 4 ? 2 : 1)

// ld_weight loads 16 bytes of weights, read once per product: through the
// read-only path without allocating them in L1, which is left to the
// activations that every block rereads. The L1 eviction qualifiers need PTX
// ISA 7.4 (CUDA 11.4); older NVRTC gets a plain __ldg.
#if defined(__CUDACC_VER_MAJOR__) && (__CUDACC_VER_MAJOR__ > 11 || (__CUDACC_VER_MAJOR__ == 11 && __CUDACC_VER_MINOR__ >= 4))
#define GV2_NO_ALLOCATE 1
#else
#define GV2_NO_ALLOCATE 0
#endif

__device__ __forceinline__ uint4 ld_weight(const uint4* p) {
#if GV2_NO_ALLOCATE
    uint4 v;
    asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
        : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
        : "l"(p));
    return v;
#else
    return __ldg(p);
#endif
}

// widen8 converts the 8 16-bit values packed in q (element order: low half
// of q.x first) to float32.
__device__ __forceinline__ void widen8(uint4 q, int kind, float* w) {
    unsigned int pk[4] = {q.x, q.y, q.z, q.w};
#pragma unroll
    for (int j = 0; j < 4; j++) {
        if (kind == KIND_F16) {
            w[2 * j] = f16_to_f32((u16)(pk[j] & 0xffffu));
            w[2 * j + 1] = f16_to_f32((u16)(pk[j] >> 16));
        } else {
            w[2 * j] = __uint_as_float(pk[j] << 16);
            w[2 * j + 1] = __uint_as_float(pk[j] & 0xffff0000u);
        }
    }
}

// warp_reduce_scatter sums each of the V values of v over the 32 lanes of
// the warp (V a power of two). At each butterfly step (xor o = 16 … 1)
// while a lane holds more than one value, it keeps one half of them (the
// upper half when bit o of its lane is set), sends the other half to its
// partner and adds the partner's copy of the half it kept; once it holds
// one value the remaining steps are the plain butterfly. Every sum is thus
// the same tree as the plain butterfly's (a+b and b+a are the same float),
// with V/2 + V/4 + … shuffles instead of 5·V. Afterwards lane l holds in
// v[0 … H) (H = max(1, V/32)) the totals of values gv2_index(l, V) + j.
//
// Each step is a template on the number of values held so that every index
// into v is a compile-time constant (v stays in registers).
template <int N>
__device__ __forceinline__ void reduce_step(float* v, int lane, int o) {
    if (N > 1) {
        const int h = N / 2;
        bool up = (lane & o) != 0;
#pragma unroll
        for (int i = 0; i < h; i++) {
            float send = up ? v[i] : v[i + h];
            float keep = up ? v[i + h] : v[i];
            v[i] = keep + __shfl_xor_sync(FULL_MASK, send, o);
        }
    } else {
        v[0] += __shfl_xor_sync(FULL_MASK, v[0], o);
    }
}

#define GV2_HALF(n) ((n) > 1 ? (n) / 2 : 1)

template <int V>
__device__ __forceinline__ void warp_reduce_scatter(float* v, int lane) {
    reduce_step<V>(v, lane, 16);
    reduce_step<GV2_HALF(V)>(v, lane, 8);
    reduce_step<GV2_HALF(GV2_HALF(V))>(v, lane, 4);
    reduce_step<GV2_HALF(GV2_HALF(GV2_HALF(V)))>(v, lane, 2);
    reduce_step<GV2_HALF(GV2_HALF(GV2_HALF(GV2_HALF(V))))>(v, lane, 1);
}

// gv2_index is the index of the first value lane holds after
// warp_reduce_scatter<V>: the lane bits used by the halving steps, highest
// first, times the values left per lane.
template <int V>
__device__ __forceinline__ int gv2_index(int lane) {
    if (V >= 32) return lane * (V / 32);
    int shift = V == 16 ? 1 : V == 8 ? 2 : V == 4 ? 3 : V == 2 ? 4 : 5;
    return lane >> shift;
}

// gemv2_load loads the weights of one step of a lane: STEPS chunks (32
// apart from chunk c on) of the RB rows of the NW weights; chunks at or
// past c1 load zeros.
template <int STEPS, int NW, int RB>
__device__ __forceinline__ void gemv2_load(uint4 (*q)[NW][RB], const uint4* const* wp, const long long* roff, int c, int c1) {
#pragma unroll
    for (int s = 0; s < STEPS; s++)
#pragma unroll
        for (int i = 0; i < NW; i++)
#pragma unroll
            for (int r = 0; r < RB; r++)
                q[s][i][r] = c + 32 * s < c1 ? ld_weight(wp[i] + roff[r] + c + 32 * s) : make_uint4(0, 0, 0, 0);
}

// gemv2_partial computes warp w's partial sums for the block's rows:
// acc[(i·RB + r)·4 + m] += Σ over the warp's chunks of x[m]·Wi[n0+r] for
// weights i < NW (M ≤ 4; entries m ≥ M stay 0). It calls pdl_start: with
// early, after loading its first step's weights, which no kernel writes,
// so that these loads overlap the previous kernel's tail; x is read after.
template <int RB, int NW>
__device__ __forceinline__ void gemv2_partial(float* acc, const float* __restrict__ x, int ldx, const u16* __restrict__ W1,
                                              const u16* __restrict__ W2, int N, int K, int M, int kind, int n0, int early) {
    const int STEPS = GV2_LOADS / (RB * NW) > 0 ? GV2_LOADS / (RB * NW) : 1;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int C = K >> 3;
    const int c1 = (int)((long long)C * (warp + 1) / 8);
    // Chunk offset of each row of the block (rows past N re-read row N-1).
    long long roff[RB];
#pragma unroll
    for (int r = 0; r < RB; r++) roff[r] = (long long)min(n0 + r, N - 1) * C;
    const uint4* wp[2] = {(const uint4*)W1, (const uint4*)(NW > 1 ? W2 : W1)};
    int c = (int)((long long)C * warp / 8) + lane;
    uint4 q[STEPS][NW][RB];
    if (early) gemv2_load<STEPS, NW, RB>(q, wp, roff, c, c1);
    pdl_start();
    if (!early) gemv2_load<STEPS, NW, RB>(q, wp, roff, c, c1);
    while (c < c1) {
#pragma unroll
        for (int s = 0; s < STEPS; s++) {
            int ch = c + 32 * s;
            if (ch >= c1) break;
            // One activation row at a time (8 registers), for all the
            // block's rows: the weights are widened again for each row of x
            // (a shift or a conversion per element) rather than kept widened
            // (8·RB·NW registers).
#pragma unroll
            for (int m = 0; m < 4; m++) {
                if (m < M) {
                    const float4* xr = (const float4*)(x + (long long)m * ldx) + 2 * ch;
                    float4 a = __ldg(xr), b = __ldg(xr + 1);
                    float xv[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
#pragma unroll
                    for (int i = 0; i < NW; i++)
#pragma unroll
                        for (int r = 0; r < RB; r++) {
                            float w[8];
                            widen8(q[s][i][r], kind, w);
                            float& acc_ = acc[(i * RB + r) * 4 + m];
#pragma unroll
                            for (int j = 0; j < 8; j++) acc_ = fmaf(w[j], xv[j], acc_);
                        }
                }
            }
        }
        c += 32 * STEPS;
        if (c < c1) gemv2_load<STEPS, NW, RB>(q, wp, roff, c, c1);
    }
}

// gemv2_reduce sums each of the V partial sums in acc over the lanes of
// each warp and stores the warp totals in red[warp][·], then waits for the
// whole block; gemv2_total(red, i) then adds the 8 warps' totals of value i
// in warp order.
template <int V>
__device__ __forceinline__ void gemv2_reduce(float* acc, float (*red)[V]) {
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    warp_reduce_scatter<V>(acc, lane);
    const int H = V >= 32 ? V / 32 : 1; // values per lane after the scatter
    const int L = V >= 32 ? 1 : 32 / V; // lanes holding each value
    if (lane % L == 0) {
#pragma unroll
        for (int j = 0; j < H; j++) red[warp][gv2_index<V>(lane) + j] = acc[j];
    }
    __syncthreads();
}

template <int V>
__device__ __forceinline__ float gemv2_total(const float (*red)[V], int i) {
    float s = red[0][i];
#pragma unroll
    for (int w = 1; w < 8; w++) s += red[w][i];
    return s;
}

// gemv2<RB, NW> is k_gemv2_<RB> for NW = 1: dst[m, n] (+)= Σ_k
// x[m, k]·W1[n, k] for M ≤ 4; and k_gemv2_swiglu_<RB> for NW = 2: dst =
// SiLU(x·W1ᵀ) ⊙ (x·W2ᵀ), each product as for NW = 1 (accumulate unused),
// and the 16-bit shadow of dst when sh is set (as k_gemv_swiglu4).
template <int RB, int NW>
__device__ __forceinline__ void gemv2(float* __restrict__ dst, int ldd, const float* __restrict__ x, int ldx,
                                      const u16* __restrict__ W1, const u16* __restrict__ W2, int N, int K, int M, int kind,
                                      int accumulate, u16* __restrict__ sh, int ldsh, int shkind, int early) {
    const int V = RB * 4 * NW; // first weight's values, then the second's
    __shared__ float red[8][V];
    const int n0 = blockIdx.x * RB;
    float acc[V];
#pragma unroll
    for (int i = 0; i < V; i++) acc[i] = 0.0f;
    gemv2_partial<RB, NW>(acc, x, ldx, W1, W2, N, K, M, kind, n0, early);
    gemv2_reduce<V>(acc, red);
    // Thread t = 4·r + m writes output (m, n0 + r).
    int t = threadIdx.x, r = t >> 2, m = t & 3;
    if (t < RB * 4 && m < M && n0 + r < N) {
        float* d = dst + (long long)m * ldd + n0 + r;
        float y = gemv2_total<V>(red, t);
        if (NW == 2)
            y = silu(y) * gemv2_total<V>(red, RB * 4 + t);
        else if (accumulate)
            y = *d + y;
        *d = y;
        shadow(sh, ldsh, shkind, m, n0 + r, y);
    }
}

// The kernels for each rows per block (the host picks one: gemv2RB in ops.go).
#define GEMV2_KERNELS(rb)                                                                                                       \
    extern "C" __global__ void __launch_bounds__(256, GV2_MINB(rb))                                                             \
        k_gemv2_##rb(float* dst, int ldd, const float* __restrict__ x, int ldx, const u16* __restrict__ W, int N, int K, int M, \
                     int kind, int accumulate, int early) {                                                                     \
        gemv2<rb, 1>(dst, ldd, x, ldx, W, W, N, K, M, kind, accumulate, 0, 0, 0, early);                                       \
    }                                                                                                                           \
    extern "C" __global__ void __launch_bounds__(256, GV2_SWIGLU_MINB(rb))                                                      \
        k_gemv2_swiglu_##rb(float* __restrict__ dst, int ldd, const float* __restrict__ x, int ldx, const u16* __restrict__ W1, \
                            const u16* __restrict__ W2, int N, int K, int M, int kind, u16* __restrict__ sh, int ldsh,          \
                            int shkind, int early) {                                                                            \
        gemv2<rb, 2>(dst, ldd, x, ldx, W1, W2, N, K, M, kind, 0, sh, ldsh, shkind, early);                                      \
    }

GEMV2_KERNELS(1)
GEMV2_KERNELS(2)
GEMV2_KERNELS(4)
GEMV2_KERNELS(8)
