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

// GV_UNROLL is how many 32-wide steps along K a warp loads before using them.
#define GV_UNROLL 4

// gemv_tile accumulates into c the 16×8 tile of X·Wᵀ for weight rows n0 …
// n0+7 over the 32-wide K steps [s0, s1). X is 16-bit [M ≤ 16, ldx]; W is
// 16-bit [N, K] with K a multiple of 8 and 16-byte aligned rows. Lane (g, t)
// (g = lane/4, t = lane%4) loads 8 consecutive K elements of weight row
// n0+g and of X rows g and g+8 per step: the dot product does not depend on
// the order of K, so the mma's k index 2t+i stands for element 8t+i and
// 2t+8+i for 8t+2+i (the second mma of a step takes 8t+4 … 8t+7). Rows and
// elements out of range load zeros.
template <bool F16>
__device__ __forceinline__ void gemv_tile(float* c, const u16* __restrict__ X, int ldx, int M, const u16* __restrict__ W,
                                          int N, int K, int n0, int s0, int s1) {
    int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    bool wok = n0 + g < N, x0ok = g < M, x1ok = g + 8 < M;
    const u16* wr = W + (long long)(wok ? n0 + g : 0) * K;
    const u16* x0 = X + (long long)(x0ok ? g : 0) * ldx;
    const u16* x1 = X + (long long)(x1ok ? g + 8 : 0) * ldx;
    const uint4 zero = make_uint4(0, 0, 0, 0);
    float c2[4] = {0.0f, 0.0f, 0.0f, 0.0f}; // a second chain for odd steps
    for (int s = s0; s < s1; s += GV_UNROLL) {
        uint4 w[GV_UNROLL], a[GV_UNROLL], b[GV_UNROLL];
#pragma unroll
        for (int u = 0; u < GV_UNROLL; u++) {
            int k = (s + u) * 32 + 8 * t;
            bool ok = s + u < s1 && k < K;
            w[u] = ok && wok ? __ldg((const uint4*)(wr + k)) : zero;
            a[u] = ok && x0ok ? __ldg((const uint4*)(x0 + k)) : zero;
            b[u] = ok && x1ok ? __ldg((const uint4*)(x1 + k)) : zero;
        }
#pragma unroll
        for (int u = 0; u < GV_UNROLL; u++) {
            float* cc = u & 1 ? c2 : c;
            mma_16816<F16>(cc, a[u].x, b[u].x, a[u].y, b[u].y, w[u].x, w[u].y);
            mma_16816<F16>(cc, a[u].z, b[u].z, a[u].w, b[u].w, w[u].z, w[u].w);
        }
    }
#pragma unroll
    for (int i = 0; i < 4; i++) c[i] += c2[i];
}

// gemv_split returns the warp's weight tile and K range: a block of 8 warps
// covers tpb tiles of 8 weight rows, each split along K over 8/tpb warps.
__device__ __forceinline__ void gemv_split(int K, int tpb, int* n0, int* s0, int* s1) {
    int w = threadIdx.x >> 5, ks = 8 / tpb, split = w / tpb;
    int steps = (K + 31) / 32;
    *n0 = (blockIdx.x * tpb + w % tpb) * 8;
    *s0 = split * steps / ks;
    *s1 = (split + 1) * steps / ks;
}

// gemv_reduce sums the K splits of each tile in a fixed order through red
// and leaves the totals in the c of the first tpb warps; it returns whether
// this warp holds a total.
__device__ __forceinline__ bool gemv_reduce(float* c, float (*red)[32][4], int tpb) {
    int w = threadIdx.x >> 5, lane = threadIdx.x & 31;
    if (tpb == 8) return true;
#pragma unroll
    for (int i = 0; i < 4; i++) red[w][lane][i] = c[i];
    __syncthreads();
    if (w >= tpb) return false;
    int ks = 8 / tpb;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        float v = red[w][lane][i];
        for (int sp = 1; sp < ks; sp++) v += red[sp * tpb + w][lane][i];
        c[i] = v;
    }
    return true;
}

// k_gemv_mma computes dst[m, n] (+)= Σ_k X[m, k]·W[n, k] for M ≤ 16 rows:
// the decoding path's products, bandwidth-bound on W, which is read once
// for all rows. X is the 16-bit copy of the activations (as cuBLAS takes
// them in bf16 mode). Grid: ceil(N / (8·tpb)) blocks of 256 threads. With
// sh, the results are also written in 16 bits (a shadow copy).
template <bool F16>
__device__ __forceinline__ void gemv_mma(float* __restrict__ dst, int ldd, const u16* __restrict__ X, int ldx,
                                         const u16* __restrict__ W, int N, int K, int M, int tpb, int accumulate,
                                         u16* __restrict__ sh, int ldsh, int shkind) {
    __shared__ float red[8][32][4];
    int n0, s0, s1;
    gemv_split(K, tpb, &n0, &s0, &s1);
    float c[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    gemv_tile<F16>(c, X, ldx, M, W, N, K, n0, s0, s1);
    if (!gemv_reduce(c, red, tpb)) return;
    int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        int m = g + (i >= 2 ? 8 : 0), n = n0 + 2 * t + (i & 1);
        if (m < M && n < N) {
            float* d = dst + (long long)m * ldd + n;
            float v = accumulate ? *d + c[i] : c[i];
            *d = v;
            shadow(sh, ldsh, shkind, m, n, v);
        }
    }
}

extern "C" __global__ void __launch_bounds__(256)
    k_gemv_mma(float* __restrict__ dst, int ldd, const u16* __restrict__ X, int ldx, const u16* __restrict__ W, int N, int K,
               int M, int tpb, int accumulate, u16* __restrict__ sh, int ldsh, int shkind) {
    pdl_start();
    gemv_mma<false>(dst, ldd, X, ldx, W, N, K, M, tpb, accumulate, sh, ldsh, shkind);
}

extern "C" __global__ void __launch_bounds__(256)
    k_gemv_mma_f16(float* __restrict__ dst, int ldd, const u16* __restrict__ X, int ldx, const u16* __restrict__ W, int N,
                   int K, int M, int tpb, int accumulate, u16* __restrict__ sh, int ldsh, int shkind) {
    pdl_start();
    gemv_mma<true>(dst, ldd, X, ldx, W, N, K, M, tpb, accumulate, sh, ldsh, shkind);
}

// k_gemv_swiglu computes dst = SiLU(X·W1ᵀ) ⊙ (X·W2ᵀ) for M ≤ 16 rows, the
// two products as k_gemv_mma does them, and the 16-bit shadow of dst.
template <bool F16>
__device__ __forceinline__ void gemv_swiglu(float* __restrict__ dst, int ldd, const u16* __restrict__ X, int ldx,
                                            const u16* __restrict__ W1, const u16* __restrict__ W2, int N, int K, int M,
                                            int tpb, u16* __restrict__ sh, int ldsh, int shkind) {
    __shared__ float red[8][32][4];
    int n0, s0, s1;
    gemv_split(K, tpb, &n0, &s0, &s1);
    float cg[4] = {0.0f, 0.0f, 0.0f, 0.0f}, cu[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    gemv_tile<F16>(cg, X, ldx, M, W1, N, K, n0, s0, s1);
    gemv_tile<F16>(cu, X, ldx, M, W2, N, K, n0, s0, s1);
    bool mine = gemv_reduce(cg, red, tpb);
    __syncthreads();
    gemv_reduce(cu, red, tpb);
    if (!mine) return;
    int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        int m = g + (i >= 2 ? 8 : 0), n = n0 + 2 * t + (i & 1);
        if (m < M && n < N) {
            float v = silu(cg[i]) * cu[i];
            dst[(long long)m * ldd + n] = v;
            shadow(sh, ldsh, shkind, m, n, v);
        }
    }
}

extern "C" __global__ void __launch_bounds__(256)
    k_gemv_swiglu(float* __restrict__ dst, int ldd, const u16* __restrict__ X, int ldx, const u16* __restrict__ W1,
                  const u16* __restrict__ W2, int N, int K, int M, int tpb, u16* __restrict__ sh, int ldsh, int shkind) {
    pdl_start();
    gemv_swiglu<false>(dst, ldd, X, ldx, W1, W2, N, K, M, tpb, sh, ldsh, shkind);
}

extern "C" __global__ void __launch_bounds__(256)
    k_gemv_swiglu_f16(float* __restrict__ dst, int ldd, const u16* __restrict__ X, int ldx, const u16* __restrict__ W1,
                      const u16* __restrict__ W2, int N, int K, int M, int tpb, u16* __restrict__ sh, int ldsh, int shkind) {
    pdl_start();
    gemv_swiglu<true>(dst, ldd, X, ldx, W1, W2, N, K, M, tpb, sh, ldsh, shkind);
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

// k_attn_grp<DPL> attends short chunks (decoding) with one block per (key
// split, key/value head g, query t, sequence): the block reads each of its
// keys and values once for all Hg = H/G ≤ 16 query heads of the group, in
// float32. Lane l of a warp holds dimensions l·DPL … l·DPL+DPL-1 (hd =
// 32·DPL). A warp takes AG_KEYS keys at a time; the per-head dot products
// are summed over the lanes by a transposing butterfly (16 shuffles per key
// for all heads), after which lane 2h and 2h+1 hold head h's score and run
// its online softmax. The warps' states are merged in a fixed order
// through shared memory. Output as k_attn's (dst, or partials for
// k_attn_combine when nsplit > 1).
template <int DPL>
__device__ __forceinline__ void attn_grp(float* __restrict__ dst, int ldd, const float* __restrict__ q, int ldq,
                                         const float* __restrict__ k, int ldk, const float* __restrict__ v, int ldv, int H,
                                         int G, float scale, int window, const Seqs& seqs, const Ptrs& kc, const Ptrs& vc,
                                         const Ints& cap, const int* __restrict__ dpos, u16* __restrict__ sh, int ldsh,
                                         int shkind, int nsplit, float* __restrict__ part) {
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
    const float* kcache = (const float*)kc.p[s];
    const float* vcache = (const float*)vc.p[s];
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
        const float* vrow[AG_KEYS];
#pragma unroll
        for (int u = 0; u < AG_KEYS; u++) {
            int j = min(j0 + u, kend);
            const float* kr;
            if (j >= P) {
                long long rr = row + (j - P);
                kr = k + rr * ldk + g * hd;
                vrow[u] = v + rr * ldv + g * hd;
            } else {
                long long off = (long long)(j % cp) * kvDim + g * hd;
                kr = kcache + off;
                vrow[u] = vcache + off;
            }
            load_row<DPL>(kv[u], kr + lane * DPL);
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
        for (int u = 0; u < AG_KEYS; u++) load_row<DPL>(kv[u], vrow[u] + lane * DPL);
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
             float* __restrict__ part) { pdl_start();                                                                                     \
        attn_grp<dpl>(dst, ldd, q, ldq, k, ldk, v, ldv, H, G, scale, window, seqs, kc, vc, cap, dpos, sh, ldsh, shkind,      \
                      nsplit, part);                                                                                         \
    }

ATTN_GRP_KERNEL(k_attn_grp1, 1)
ATTN_GRP_KERNEL(k_attn_grp2, 2)
ATTN_GRP_KERNEL(k_attn_grp4, 4)
ATTN_GRP_KERNEL(k_attn_grp8, 8)
