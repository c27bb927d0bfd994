// Element-wise and row-wise kernels. Matrices are row-major float32 with a
// leading dimension (ld) in elements. 2-D kernels take rows from
// blockIdx.y (grid-stride) and columns from blockIdx.x / threadIdx.x.

// k_convert rounds a float32 matrix to a 16-bit kind for a matrix product.
extern "C" __global__ void k_convert(const float* __restrict__ x, int ldx, u16* __restrict__ y, int ldy, int rows, int cols,
                                     int kind) {
    pdl_start();
    for (int r = blockIdx.y; r < rows; r += gridDim.y)
        for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < cols; c += gridDim.x * blockDim.x)
            y[(long long)r * ldy + c] = to16(x[(long long)r * ldx + c], kind);
}

// k_widen widens n 16-bit values to float32.
extern "C" __global__ void k_widen(const u16* __restrict__ src, float* __restrict__ dst, long long n, int kind) {
    pdl_start();
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        dst[i] = from16(src[i], kind);
}

// k_embed gathers table rows: dst[r] = table[id(r)], widened to float32.
// Ids come from ids when it is not null, else from inl (n <= MAXSEQ).
extern "C" __global__ void k_embed(float* __restrict__ dst, int ldd, const void* __restrict__ table, int kind, int cols,
                                   const int* __restrict__ ids, Ints inl, int n) {
    pdl_start();
    for (int r = blockIdx.y; r < n; r += gridDim.y) {
        long long base = (long long)(ids ? ids[r] : inl.v[r]) * cols;
        float* d = dst + (long long)r * ldd;
        for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < cols; c += gridDim.x * blockDim.x) {
            float v;
            if (kind == KIND_F32)
                v = ((const float*)table)[base + c];
            else
                v = from16(((const u16*)table)[base + c], kind);
            d[c] = v;
        }
    }
}

// k_rmsnorm: one block per row; the scale comes from rms_scale (sum of
// squares in double, as the reference). dst may alias x.
extern "C" __global__ void k_rmsnorm(float* dst, int ldd, const float* x, int ldx, const float* __restrict__ w, int rows,
                                     int cols, float eps, u16* __restrict__ sh, int ldsh, int shkind) {
    pdl_start();
    __shared__ double red[32];
    for (int r = blockIdx.x; r < rows; r += gridDim.x) {
        const float* xr = x + (long long)r * ldx;
        float scale = rms_scale(xr, cols, eps, red);
        float* dr = dst + (long long)r * ldd;
        for (int c = threadIdx.x; c < cols; c += blockDim.x) {
            float v = xr[c] * scale * w[c];
            dr[c] = v;
            shadow(sh, ldsh, shkind, r, c, v);
        }
    }
}

// k_rmsnorm_reg<C> is k_rmsnorm for rows of at most C values per thread,
// which it loads once, every load issued before the sums, and keeps in
// registers for the output (the same sums in the same order as rms_scale
// with as many threads). Decoding steps (a few rows, one block each) wait
// on these loads; prefill runs k_rmsnorm, whose blocks use fewer
// registers. A decoding step's norm is one block on the step's critical
// path, bound by its instructions' latency: 4.6 µs in ncu at 256 threads
// and 16 values each (run 65), most of it the per-value loads, double
// FMAs and stores issued by each warp in turn. k_rmsnorm_reg1k spreads a
// row over 1024 threads, 4 values each (rows up to 4096; its double sums
// in another order than k_rmsnorm's 256 threads: the scale may differ in
// its last bit from prefill's).
template <int C>
__device__ __forceinline__ void rmsnorm_reg(float* dst, int ldd, const float* x, int ldx, const float* __restrict__ w, int rows,
                                            int cols, float eps, u16* __restrict__ sh, int ldsh, int shkind) {
    __shared__ double red[32];
    const int n = blockDim.x;
    // The weights, which no kernel writes, are loaded before pdl_start, so
    // that those loads overlap the previous kernel's tail.
    float wv[C];
#pragma unroll
    for (int i = 0; i < C; i++) {
        int c = threadIdx.x + i * n;
        wv[i] = c < cols ? w[c] : 0.0f;
    }
    pdl_start();
    for (int r = blockIdx.x; r < rows; r += gridDim.x) {
        const float* xr = x + (long long)r * ldx;
        float* dr = dst + (long long)r * ldd;
        float xv[C];
#pragma unroll
        for (int i = 0; i < C; i++) {
            int c = threadIdx.x + i * n;
            xv[i] = c < cols ? xr[c] : 0.0f;
        }
        double ss = 0.0;
#pragma unroll
        for (int i = 0; i < C; i++)
            if (threadIdx.x + i * n < cols) ss = fma((double)xv[i], (double)xv[i], ss);
        float scale = rms_finish(ss, cols, eps, red);
#pragma unroll
        for (int i = 0; i < C; i++) {
            int c = threadIdx.x + i * n;
            if (c < cols) {
                float v = xv[i] * scale * wv[i];
                dr[c] = v;
                shadow(sh, ldsh, shkind, r, c, v);
            }
        }
    }
}

// RMS_CACHE is k_rmsnorm_reg's values per thread at 256 threads.
#define RMS_CACHE 16
#define RMSNORM_REG(name, threads, cache)                                                                                       \
    extern "C" __global__ void __launch_bounds__(threads)                                                                       \
        name(float* dst, int ldd, const float* x, int ldx, const float* __restrict__ w, int rows, int cols, float eps,          \
             u16* __restrict__ sh, int ldsh, int shkind) {                                                                      \
        rmsnorm_reg<cache>(dst, ldd, x, ldx, w, rows, cols, eps, sh, ldsh, shkind);                                             \
    }

RMSNORM_REG(k_rmsnorm_reg, 256, RMS_CACHE)
RMSNORM_REG(k_rmsnorm_reg1k, 1024, 4)

// k_add: dst += x.
extern "C" __global__ void k_add(float* dst, int ldd, const float* x, int ldx, int rows, int cols) {
    pdl_start();
    for (int r = blockIdx.y; r < rows; r += gridDim.y)
        for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < cols; c += gridDim.x * blockDim.x)
            dst[(long long)r * ldd + c] += x[(long long)r * ldx + c];
}

// k_swiglu: dst = SiLU(g) * u; dst may alias g or u.
extern "C" __global__ void k_swiglu(float* dst, int ldd, const float* g, int ldg, const float* u, int ldu, int rows, int cols,
                                    u16* __restrict__ sh, int ldsh, int shkind) {
    pdl_start();
    for (int r = blockIdx.y; r < rows; r += gridDim.y)
        for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < cols; c += gridDim.x * blockDim.x) {
            float v = silu(g[(long long)r * ldg + c]) * u[(long long)r * ldu + c];
            dst[(long long)r * ldd + c] = v;
            shadow(sh, ldsh, shkind, r, c, v);
        }
}

// k_swiglu4 is k_swiglu four columns at a time, for 16-byte aligned rows
// whose width is a multiple of 4.
extern "C" __global__ void k_swiglu4(float* dst, int ldd, const float* g, int ldg, const float* u, int ldu, int rows, int cols,
                                     u16* __restrict__ sh, int ldsh, int shkind) {
    pdl_start();
    int c4 = cols / 4;
    for (int r = blockIdx.y; r < rows; r += gridDim.y)
        for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < c4; c += gridDim.x * blockDim.x) {
            float4 gv = ((const float4*)(g + (long long)r * ldg))[c];
            float4 uv = ((const float4*)(u + (long long)r * ldu))[c];
            float4 o = make_float4(silu(gv.x) * uv.x, silu(gv.y) * uv.y, silu(gv.z) * uv.z, silu(gv.w) * uv.w);
            ((float4*)(dst + (long long)r * ldd))[c] = o;
            if (sh) {
                u16* s = sh + (long long)r * ldsh + 4 * c;
                s[0] = to16(o.x, shkind);
                s[1] = to16(o.y, shkind);
                s[2] = to16(o.z, shkind);
                s[3] = to16(o.w, shkind);
            }
        }
}

// k_gemv computes dst[m, n] (+)= Σ_k x[m, k]·W[n, k] for M ≤ 4 rows of x,
// one warp per weight row: the decoding path's matrix-vector products,
// bandwidth-bound on W. W is 16-bit (kind) with K a multiple of 8 and
// 16-byte aligned rows; x is float32, 16-byte aligned with ldx a multiple of
// 4. x is used unrounded.
extern "C" __global__ void __launch_bounds__(256) k_gemv(float* dst, int ldd, const float* __restrict__ x, int ldx,
                                                         const u16* __restrict__ W, int N, int K, int M, int kind,
                                                         int accumulate) {
    pdl_start();
    int n = (blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int lane = threadIdx.x & 31;
    if (n >= N) return;
    const uint4* wr = (const uint4*)(W + (long long)n * K);
    int chunks = K >> 3;
    float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll 8
    for (int ch = lane; ch < chunks; ch += 32) {
        uint4 q = __ldg(wr + ch);
        float w[8];
        unsigned int pk[4] = {q.x, q.y, q.z, q.w};
#pragma unroll
        for (int j = 0; j < 4; j++) {
            w[2 * j] = from16((u16)(pk[j] & 0xffffu), kind);
            w[2 * j + 1] = from16((u16)(pk[j] >> 16), kind);
        }
#pragma unroll
        for (int m = 0; m < 4; m++) {
            if (m < M) {
                const float4* xr = (const float4*)(x + (long long)m * ldx) + 2 * ch;
                float4 a = __ldg(xr), b = __ldg(xr + 1);
                acc[m] += w[0] * a.x + w[1] * a.y + w[2] * a.z + w[3] * a.w + w[4] * b.x + w[5] * b.y + w[6] * b.z + w[7] * b.w;
            }
        }
    }
#pragma unroll
    for (int m = 0; m < 4; m++)
        for (int o = 16; o > 0; o >>= 1) acc[m] += __shfl_xor_sync(FULL_MASK, acc[m], o);
    if (lane == 0) {
#pragma unroll
        for (int m = 0; m < 4; m++) {
            if (m < M) {
                float* d = dst + (long long)m * ldd + n;
                *d = accumulate ? *d + acc[m] : acc[m];
            }
        }
    }
}

// k_gemv_swiglu4 computes dst = SiLU(x·W1ᵀ) ⊙ (x·W2ᵀ) for M ≤ 4 rows as
// k_gemv computes each product (one warp per output column, both weights'
// rows read by the same warp), with the 16-bit shadow of dst when sh is
// set.
extern "C" __global__ void __launch_bounds__(256)
    k_gemv_swiglu4(float* __restrict__ dst, int ldd, const float* __restrict__ x, int ldx, const u16* __restrict__ W1,
                   const u16* __restrict__ W2, int N, int K, int M, int kind, u16* __restrict__ sh, int ldsh, int shkind) {
    pdl_start();
    int n = (blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int lane = threadIdx.x & 31;
    if (n >= N) return;
    const uint4* wr1 = (const uint4*)(W1 + (long long)n * K);
    const uint4* wr2 = (const uint4*)(W2 + (long long)n * K);
    int chunks = K >> 3;
    float ag[4] = {0.0f, 0.0f, 0.0f, 0.0f}, au[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll 4
    for (int ch = lane; ch < chunks; ch += 32) {
        uint4 q1 = __ldg(wr1 + ch), q2 = __ldg(wr2 + ch);
        float w1[8], w2[8];
        unsigned int p1[4] = {q1.x, q1.y, q1.z, q1.w}, p2[4] = {q2.x, q2.y, q2.z, q2.w};
#pragma unroll
        for (int j = 0; j < 4; j++) {
            w1[2 * j] = from16((u16)(p1[j] & 0xffffu), kind);
            w1[2 * j + 1] = from16((u16)(p1[j] >> 16), kind);
            w2[2 * j] = from16((u16)(p2[j] & 0xffffu), kind);
            w2[2 * j + 1] = from16((u16)(p2[j] >> 16), kind);
        }
#pragma unroll
        for (int m = 0; m < 4; m++) {
            if (m < M) {
                const float4* xr = (const float4*)(x + (long long)m * ldx) + 2 * ch;
                float4 a = __ldg(xr), b = __ldg(xr + 1);
                ag[m] += w1[0] * a.x + w1[1] * a.y + w1[2] * a.z + w1[3] * a.w + w1[4] * b.x + w1[5] * b.y + w1[6] * b.z +
                         w1[7] * b.w;
                au[m] += w2[0] * a.x + w2[1] * a.y + w2[2] * a.z + w2[3] * a.w + w2[4] * b.x + w2[5] * b.y + w2[6] * b.z +
                         w2[7] * b.w;
            }
        }
    }
#pragma unroll
    for (int m = 0; m < 4; m++)
        for (int o = 16; o > 0; o >>= 1) {
            ag[m] += __shfl_xor_sync(FULL_MASK, ag[m], o);
            au[m] += __shfl_xor_sync(FULL_MASK, au[m], o);
        }
    if (lane == 0) {
#pragma unroll
        for (int m = 0; m < 4; m++) {
            if (m < M) {
                float v = silu(ag[m]) * au[m];
                dst[(long long)m * ldd + n] = v;
                shadow(sh, ldsh, shkind, m, n, v);
            }
        }
    }
}

// k_rope rotates x in place (GPT-NeoX rotate-half). Block (r, y) takes row
// r and heads [y·hpb, (y+1)·hpb) (hpb ≤ ROPE_HEADS heads per block); thread
// j computes the angle pos*invFreq[j] and its sine and cosine in double, as
// the reference does, once for the block's heads, and rotates pair (j,
// j+half) of each, every load issued before the stores (x is written in
// place, so the compiler could not batch them across heads by itself).
// Decoding steps take one head per block (more blocks for a few rows),
// prefill ROPE_HEADS (one angle for many heads).
#define ROPE_HEADS 16

// rope_pair rotates the pair (x1, x2) = (x[j], x[j + half]) of a head by
// the angle whose cosine c and sine s were rounded to float32 from
// float64, with the reference's arithmetic (kernels/cpu: x1·c - x2·s and
// x2·c + x1·s, each product and difference rounded on its own): no fused
// multiply-add, which the compiler would otherwise be free to use.
__device__ __forceinline__ void rope_pair(float& x1, float& x2, float c, float s) {
    float a = __fsub_rn(__fmul_rn(x1, c), __fmul_rn(x2, s));
    float b = __fadd_rn(__fmul_rn(x2, c), __fmul_rn(x1, s));
    x1 = a;
    x2 = b;
}

// rope_seq returns the sequence holding row r, or -1.
__device__ __forceinline__ int rope_seq(const Seqs& seqs, int r) {
    for (int i = 0; i < seqs.n; i++)
        if (r >= seqs.row[i] && r < seqs.row[i] + seqs.len[i]) return i;
    return -1;
}

extern "C" __global__ void k_rope(float* x, int ldx, int nHeads, int headDim, const double* __restrict__ invFreq, Seqs seqs,
                                  int rows, const int* __restrict__ dpos, int hpb) {
    int half = headDim / 2;
    // The block's first angle (row blockIdx.x, pair threadIdx.x) is
    // computed before pdl_start: the positions come from the host, not
    // from the kernels before.
    double sn0 = 0.0, cs0 = 1.0;
    int s0 = rope_seq(seqs, blockIdx.x);
    if (blockIdx.x < rows && s0 >= 0 && threadIdx.x < half)
        sincos((double)(seq_pos(seqs, dpos, s0) + ((int)blockIdx.x - seqs.row[s0])) * invFreq[threadIdx.x], &sn0, &cs0);
    pdl_start();
    for (int r = blockIdx.x; r < rows; r += gridDim.x) {
        int s = rope_seq(seqs, r);
        if (s < 0) continue;
        double pos = (double)(seq_pos(seqs, dpos, s) + (r - seqs.row[s]));
        float* xr = x + (long long)r * ldx;
        for (int h0 = blockIdx.y * hpb; h0 < nHeads; h0 += gridDim.y * hpb) {
            int nh = min(hpb, nHeads - h0);
            for (int j = threadIdx.x; j < half; j += blockDim.x) {
                double sn = sn0, cs = cs0;
                if (r != (int)blockIdx.x || j != (int)threadIdx.x) sincos(pos * invFreq[j], &sn, &cs);
                float c = (float)cs, sf = (float)sn;
                float x1[ROPE_HEADS], x2[ROPE_HEADS];
#pragma unroll
                for (int i = 0; i < ROPE_HEADS; i++)
                    if (i < nh) {
                        x1[i] = xr[(h0 + i) * headDim + j];
                        x2[i] = xr[(h0 + i) * headDim + j + half];
                    }
#pragma unroll
                for (int i = 0; i < ROPE_HEADS; i++)
                    if (i < nh) {
                        rope_pair(x1[i], x2[i], c, sf);
                        xr[(h0 + i) * headDim + j] = x1[i];
                        xr[(h0 + i) * headDim + j + half] = x2[i];
                    }
            }
        }
    }
}

// k_logprobs scores one row of logits per block: the argmax (lowest index
// on ties) and, for a non-negative target, its log-softmax. out holds three
// ints per row: the log-probability's float bits, the argmax, and whether
// the target is the argmax.
extern "C" __global__ void __launch_bounds__(1024)
    k_logprobs(const float* __restrict__ L, int ld, int V, int rows, Ints tg, int* __restrict__ out) {
    pdl_start();
    __shared__ float rmax[32];
    __shared__ int ridx[32];
    __shared__ double rsum[32];
    int r = blockIdx.x;
    if (r >= rows) return;
    const float* lr = L + (long long)r * ld;
    float mx = -INF_F;
    int ai = 0x7fffffff;
    // Unrolled so that several loads are in flight (the order of the
    // comparisons, and of the sum below, stays that of c).
#pragma unroll 16
    for (int c = threadIdx.x; c < V; c += blockDim.x) {
        float v = lr[c];
        if (v > mx) {
            mx = v;
            ai = c;
        }
    }
    for (int o = 16; o > 0; o >>= 1) {
        float om = __shfl_xor_sync(FULL_MASK, mx, o);
        int oi = __shfl_xor_sync(FULL_MASK, ai, o);
        if (om > mx || (om == mx && oi < ai)) {
            mx = om;
            ai = oi;
        }
    }
    if ((threadIdx.x & 31) == 0) {
        rmax[threadIdx.x >> 5] = mx;
        ridx[threadIdx.x >> 5] = ai;
    }
    __syncthreads();
    mx = rmax[0];
    ai = ridx[0];
    for (int i = 1; i < (int)(blockDim.x >> 5); i++)
        if (rmax[i] > mx || (rmax[i] == mx && ridx[i] < ai)) {
            mx = rmax[i];
            ai = ridx[i];
        }
    if (ai == 0x7fffffff) ai = 0;
    int t = tg.v[r];
    if (t < 0) { // the argmax alone (greedy decoding): no sum of exponentials
        if (threadIdx.x == 0) {
            out[3 * r] = 0;
            out[3 * r + 1] = ai;
            out[3 * r + 2] = 0;
        }
        return;
    }
    double sum = 0.0;
#pragma unroll 16
    for (int c = threadIdx.x; c < V; c += blockDim.x) sum += (double)expf(lr[c] - mx);
    sum = block_sum_d(sum, rsum);
    if (threadIdx.x == 0) {
        float lp = 0.0f;
        int greedy = 0;
        if (t >= 0) {
            lp = (float)((double)lr[t] - (double)mx - log(sum));
            greedy = t == ai;
        }
        out[3 * r] = __float_as_int(lp);
        out[3 * r + 1] = ai;
        out[3 * r + 2] = greedy;
    }
}
