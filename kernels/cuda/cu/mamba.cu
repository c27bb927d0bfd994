// Mamba-1 kernels: the causal depthwise convolution with its carried input
// window, and the selective scan with its carried SSM state.

// MAXK is the widest convolution supported (Mamba uses 4).
#define MAXK 8

// conv_input returns the convolution input of channel e at chunk-relative time
// t of a sequence whose first row is row: rows of x for t >= 0, the carried
// window st ([K-1, E], oldest first) for -(K-1) <= t < 0.
__device__ __forceinline__ float conv_input(const float* __restrict__ x, int ldx, const float* st, int row, int E, int K,
                                            int t, int e) {
    return t >= 0 ? x[(long long)(row + t) * ldx + e] : st[(long long)(K - 1 + t) * E + e];
}

// k_mamba_conv computes dst = SiLU(conv(x) + bias) for one channel (thread)
// over one tile of time steps of one sequence (blockIdx.z). The window of
// the last MAXK inputs is kept right-aligned in registers so that every
// index is a compile-time constant. When fused is set (every sequence fits
// one tile), the thread also stores the new carried window; otherwise
// k_conv_state does it after all tiles have read the old one.
extern "C" __global__ void __launch_bounds__(128)
    k_mamba_conv(float* __restrict__ dst, int ldd, const float* __restrict__ x, int ldx, const float* __restrict__ w, int ldw,
                 const float* __restrict__ bias, int E, int K, int tile, int fused, Seqs seqs, Ptrs conv, u16* __restrict__ sh,
                 int ldsh, int shkind) {
    // The weights, the bias and the carried window (last written by this
    // layer's convolution of the previous chunk) are loaded before
    // pdl_start, so that those loads overlap the previous kernel's tail;
    // x is read after.
    int e = blockIdx.x * blockDim.x + threadIdx.x;
    int s = blockIdx.z;
    int len = s < seqs.n ? seqs.len[s] : 0, row = s < seqs.n ? seqs.row[s] : 0;
    int t0 = blockIdx.y * tile;
    bool active = e < E && s < seqs.n && t0 < len;
    float* st = active ? (float*)conv.p[s] : (float*)0;
    float wk[MAXK], win[MAXK], b = 0.0f;
#pragma unroll
    for (int j = 0; j < MAXK; j++) {
        int k = j - (MAXK - K);
        wk[j] = active && k >= 0 ? w[(long long)e * ldw + k] : 0.0f;
        win[j] = 0.0f;
    }
    // win[j] holds the input at time t - (MAXK-1-j) when producing time t.
#pragma unroll
    for (int j = 0; j < MAXK - 1; j++) {
        int t = t0 - (MAXK - 1 - j);
        if (active && j >= MAXK - K && t < 0) win[j] = st[(long long)(K - 1 + t) * E + e];
    }
    if (active) b = bias[e];
    pdl_start();
    if (!active) return;
#pragma unroll
    for (int j = 0; j < MAXK - 1; j++) {
        int t = t0 - (MAXK - 1 - j);
        if (j >= MAXK - K && t >= 0) win[j] = x[(long long)(row + t) * ldx + e];
    }
    int t1 = min(t0 + tile, len);
    for (int t = t0; t < t1; t++) {
        win[MAXK - 1] = x[(long long)(row + t) * ldx + e];
        float c = b;
#pragma unroll
        for (int j = 0; j < MAXK; j++) c += wk[j] * win[j];
        float o = silu(c);
        dst[(long long)(row + t) * ldd + e] = o;
        shadow(sh, ldsh, shkind, row + t, e, o);
#pragma unroll
        for (int j = 0; j < MAXK - 1; j++) win[j] = win[j + 1];
    }
    if (fused) {
        // Now win[j] is the input at time len - (MAXK-1-j); window row i is
        // the input at time len - (K-1) + i, that is win[MAXK-K+i].
#pragma unroll
        for (int j = 0; j < MAXK - 1; j++) {
            int i = j - (MAXK - K);
            if (i >= 0) st[(long long)i * E + e] = win[j];
        }
    }
}

// k_conv_state stores each sequence's last K-1 inputs (which may reach back
// into the old window) as its new carried window.
extern "C" __global__ void k_conv_state(const float* __restrict__ x, int ldx, int E, int K, Seqs seqs, Ptrs conv) {
    pdl_start();
    int e = blockIdx.x * blockDim.x + threadIdx.x;
    int s = blockIdx.z;
    if (e >= E || s >= seqs.n) return;
    int len = seqs.len[s], row = seqs.row[s];
    float* st = (float*)conv.p[s];
    float v[MAXK];
#pragma unroll
    for (int i = 0; i < MAXK - 1; i++)
        if (i < K - 1) v[i] = conv_input(x, ldx, st, row, E, K, len - (K - 1) + i, e);
#pragma unroll
    for (int i = 0; i < MAXK - 1; i++)
        if (i < K - 1) st[(long long)i * E + e] = v[i];
}

// SCAN_L is the number of time steps a scan block stages at once.
#define SCAN_L 32

// scan_chunked runs the selective scan of one sequence (rows row …
// row+len-1, SSM state at state) for the CH = 128/LANES channels of a block
// of 128 threads. LANES threads share a channel, each holding NPT of its
// N = LANES*NPT states in registers; y is summed over the lanes with
// shuffles, or with PARTIAL through shared memory after each chunk (no
// shuffles in the recurrence). Time is sequential, SCAN_L steps at a time:
// the block first
// loads the chunk's inputs with coalesced reads into shared memory,
// computing Δ = softplus(δ + bias), Δ·u, D·u and SiLU(z) once per (step,
// channel); then runs the recurrence from shared memory; then writes the
// chunk's outputs. FAST uses exp2 with A premultiplied by log2(e) for
// exp(Δ·A) (bf16 mode); otherwise expf as the reference. Threads past E
// compute on a clamped channel and write nothing.
// scan_prefetch loads the raw inputs of the chunk starting at time t0 into
// registers: IT items (i = tid + 128k: step i / CH, channel i % CH) of u, δ
// and z, ITB items (step i / N, state i % N) of B and C.
template <int IT, int ITB, int CH, int N>
__device__ __forceinline__ void scan_prefetch(float* pu, float* pd, float* pz, float* pB, float* pC, const float* __restrict__ u,
                                              int ldu, const float* __restrict__ delta, int lddt, const float* __restrict__ z,
                                              int ldz, const float* __restrict__ B, int ldb, const float* __restrict__ C, int ldc,
                                              int tid, int e0, int E, int row, int t0, int len) {
#pragma unroll
    for (int k = 0; k < IT; k++) {
        int i = tid + 128 * k, tt = i / CH, e = e0 + i % CH;
        if (i < SCAN_L * CH && t0 + tt < len && e < E) {
            long long r = row + t0 + tt;
            pu[k] = u[r * ldu + e];
            pd[k] = delta[r * lddt + e];
            pz[k] = z ? z[r * ldz + e] : 0.0f;
        }
    }
#pragma unroll
    for (int k = 0; k < ITB; k++) {
        int i = tid + 128 * k, tt = i / N, n = i % N;
        if (i < SCAN_L * N && t0 + tt < len) {
            long long r = row + t0 + tt;
            pB[k] = B[r * ldb + n];
            pC[k] = C[r * ldc + n];
        }
    }
}

template <int NPT, int LANES, bool FAST, bool PARTIAL, bool PREFETCH>
__device__ __forceinline__ void scan_chunked(float* __restrict__ dst, int ldd, const float* __restrict__ u, int ldu,
                                             const float* __restrict__ delta, int lddt, const float* __restrict__ B, int ldb,
                                             const float* __restrict__ C, int ldc, const float* __restrict__ z, int ldz,
                                             const float* __restrict__ A, int lda, const float* __restrict__ Dv,
                                             const float* __restrict__ dbias, int E, int row, int len, float* state,
                                             u16* __restrict__ sh, int ldsh, int shkind) {
    const int N = LANES * NPT, CH = 128 / LANES;
    __shared__ float s_dt[SCAN_L][CH], s_du[SCAN_L][CH], s_Du[SCAN_L][CH], s_gz[SCAN_L][CH], s_y[SCAN_L][CH];
    __shared__ float s_B[SCAN_L][N], s_C[SCAN_L][N];
    // Per-lane partial y, channel cc's lanes at cc*(LANES+1): the padding
    // puts the LANES partials of the 128/LANES channels that one warp sums
    // in the reduction below in distinct banks (unpadded, all channels'
    // lane l fell in one or two banks: a 16-way conflict for 16 lanes).
    __shared__ float s_yp[PARTIAL ? SCAN_L : 1][PARTIAL ? CH * (LANES + 1) : 1];
    int tid = threadIdx.x;
    int c = tid / LANES, lane = tid % LANES;
    int e0 = blockIdx.x * CH;
    int ec = min(e0 + c, E - 1);
    float* st = state + (long long)ec * N + lane * NPT;
    float h[NPT], a[NPT];
#pragma unroll
    for (int i = 0; i < NPT; i++) {
        h[i] = st[i];
        a[i] = A[(long long)ec * lda + lane * NPT + i];
        if (FAST) a[i] *= 1.4426950408889634f;
    }
    // With PREFETCH the raw inputs of the next chunk are loaded into
    // registers (IT items of u, δ, z and ITB of B, C per thread) before the
    // current chunk's recurrence runs, so that their memory latency
    // overlaps it; the staging below then reads the registers.
    const int IT = PREFETCH ? (SCAN_L * CH + 127) / 128 : 1, ITB = PREFETCH ? (SCAN_L * N + 127) / 128 : 1;
    float pu[IT], pd[IT], pz[IT], pB[ITB], pC[ITB];
#define SCAN_PREFETCH(T0) scan_prefetch<IT, ITB, CH, N>(pu, pd, pz, pB, pC, u, ldu, delta, lddt, z, ldz, B, ldb, C, ldc, tid, e0, E, row, T0, len)
    if (PREFETCH) SCAN_PREFETCH(0);
    for (int t0 = 0; t0 < len; t0 += SCAN_L) {
        int L = min(SCAN_L, len - t0);
        if (PREFETCH) {
#pragma unroll
            for (int k = 0; k < IT; k++) {
                int i = tid + 128 * k, tt = i / CH, cc = i % CH, e = e0 + cc;
                if (i < SCAN_L * CH && tt < L && e < E) {
                    float dt = softplus(pd[k] + dbias[e]);
                    s_dt[tt][cc] = dt;
                    s_du[tt][cc] = dt * pu[k];
                    s_Du[tt][cc] = Dv[e] * pu[k];
                    s_gz[tt][cc] = z ? silu(pz[k]) : 1.0f;
                }
            }
#pragma unroll
            for (int k = 0; k < ITB; k++) {
                int i = tid + 128 * k, tt = i / N, n = i % N;
                if (i < SCAN_L * N && tt < L) {
                    s_B[tt][n] = pB[k];
                    s_C[tt][n] = pC[k];
                }
            }
            __syncthreads();
            if (t0 + SCAN_L < len) SCAN_PREFETCH(t0 + SCAN_L);
        } else {
            for (int i = tid; i < SCAN_L * CH; i += 128) {
                int tt = i / CH, cc = i % CH, e = e0 + cc;
                if (tt < L && e < E) {
                    long long r = row + t0 + tt;
                    float ut = u[r * ldu + e];
                    float dt = softplus(delta[r * lddt + e] + dbias[e]);
                    s_dt[tt][cc] = dt;
                    s_du[tt][cc] = dt * ut;
                    s_Du[tt][cc] = Dv[e] * ut;
                    s_gz[tt][cc] = z ? silu(z[r * ldz + e]) : 1.0f; // no z: no gate
                }
            }
            for (int i = tid; i < SCAN_L * N; i += 128) {
                int tt = i / N, n = i % N;
                if (tt < L) {
                    long long r = row + t0 + tt;
                    s_B[tt][n] = B[r * ldb + n];
                    s_C[tt][n] = C[r * ldc + n];
                }
            }
            __syncthreads();
        }
#pragma unroll 4
        for (int tt = 0; tt < L; tt++) {
            float dt = s_dt[tt][c], du = s_du[tt][c];
            float y = 0.0f;
#pragma unroll
            for (int i = 0; i < NPT; i++) {
                float ea = FAST ? exp2f(dt * a[i]) : expf(dt * a[i]);
                h[i] = ea * h[i] + du * s_B[tt][lane * NPT + i];
                y += h[i] * s_C[tt][lane * NPT + i];
            }
            if (PARTIAL) {
                s_yp[PARTIAL ? tt : 0][PARTIAL ? c * (LANES + 1) + lane : 0] = y;
                continue;
            }
#pragma unroll
            for (int o = 1; o < LANES; o <<= 1) y += __shfl_xor_sync(FULL_MASK, y, o);
            if (lane == 0) s_y[tt][c] = (y + s_Du[tt][c]) * s_gz[tt][c];
        }
        __syncthreads();
        if (PARTIAL) {
            for (int i = tid; i < SCAN_L * CH; i += 128) {
                int tt = i / CH, cc = i % CH;
                if (tt < L) {
                    float y = 0.0f;
#pragma unroll
                    for (int l = 0; l < LANES; l++) y += s_yp[PARTIAL ? tt : 0][PARTIAL ? cc * (LANES + 1) + l : 0];
                    s_y[tt][cc] = (y + s_Du[tt][cc]) * s_gz[tt][cc];
                }
            }
            __syncthreads();
        }
        for (int i = tid; i < SCAN_L * CH; i += 128) {
            int tt = i / CH, cc = i % CH, e = e0 + cc;
            if (tt < L && e < E) {
                long long r = row + t0 + tt;
                float o = s_y[tt][cc];
                dst[r * ldd + e] = o;
                shadow(sh, ldsh, shkind, r, e, o);
            }
        }
    }
    if (e0 + c < E) {
#pragma unroll
        for (int i = 0; i < NPT; i++) st[i] = h[i];
    }
}

#define SCAN_PARAMS                                                                                                          \
    float *__restrict__ dst, int ldd, const float *__restrict__ u, int ldu, const float *__restrict__ delta, int lddt,      \
        const float *__restrict__ B, int ldb, const float *__restrict__ C, int ldc, const float *__restrict__ z, int ldz,   \
        const float *__restrict__ A, int lda, const float *__restrict__ Dv, const float *__restrict__ dbias, int E, int N,  \
        Seqs seqs, Ptrs ssm, u16 *__restrict__ sh, int ldsh, int shkind
// The wrappers read the sequence's entries here, so that the tables stay in
// parameter memory instead of being copied to each thread's stack.
#define SCAN_ARGS                                                                                                            \
    dst, ldd, u, ldu, delta, lddt, B, ldb, C, ldc, z, ldz, A, lda, Dv, dbias, E, seqs.row[blockIdx.y], seqs.len[blockIdx.y], \
        (float*)ssm.p[blockIdx.y], sh, ldsh, shkind
#define SCAN_KERNEL(name, npt, lanes, fast, partial)                                                                  \
    extern "C" __global__ void __launch_bounds__(128) name(SCAN_PARAMS) { pdl_start();                                                 \
        scan_chunked<npt, lanes, fast, partial, false>(SCAN_ARGS);                                                       \
    }
#define SCAN_KERNEL_PF(name, npt, lanes, fast)                                                                        \
    extern "C" __global__ void __launch_bounds__(128) name(SCAN_PARAMS) { pdl_start();                                  \
        scan_chunked<npt, lanes, fast, true, true>(SCAN_ARGS);                                                           \
    }

// k_scan<N>[f]: state size N, 4 lanes per channel; k_scan16x8: 8 lanes;
// k_scan16p<L>: L lanes, partial sums through shared memory. The f variants
// use fast exponentials.
SCAN_KERNEL(k_scan4, 1, 4, false, false)
SCAN_KERNEL(k_scan8, 2, 4, false, false)
SCAN_KERNEL(k_scan16, 4, 4, false, false)
SCAN_KERNEL(k_scan32, 8, 4, false, false)
SCAN_KERNEL(k_scan64, 16, 4, false, false)
SCAN_KERNEL(k_scan16x8, 2, 8, false, false)
SCAN_KERNEL(k_scan16p4, 4, 4, false, true)
SCAN_KERNEL(k_scan16p8, 2, 8, false, true)
SCAN_KERNEL(k_scan16p16, 1, 16, false, true)
SCAN_KERNEL(k_scan4f, 1, 4, true, false)
SCAN_KERNEL(k_scan8f, 2, 4, true, false)
SCAN_KERNEL(k_scan16f, 4, 4, true, false)
SCAN_KERNEL(k_scan32f, 8, 4, true, false)
SCAN_KERNEL(k_scan64f, 16, 4, true, false)
SCAN_KERNEL(k_scan16x8f, 2, 8, true, false)
SCAN_KERNEL(k_scan16p4f, 4, 4, true, true)
SCAN_KERNEL(k_scan16p8f, 2, 8, true, true)
SCAN_KERNEL(k_scan16p16f, 1, 16, true, true)
// k_scan16q<L>[f]: k_scan16p<L> with the next chunk's inputs prefetched.
SCAN_KERNEL_PF(k_scan16q8, 2, 8, false)
SCAN_KERNEL_PF(k_scan16q16, 1, 16, false)
SCAN_KERNEL_PF(k_scan16q8f, 2, 8, true)
SCAN_KERNEL_PF(k_scan16q16f, 1, 16, true)

// k_scan_any is the scan for any state size: one thread per channel, the
// state kept in device memory. Slow, but only odd configurations use it.
extern "C" __global__ void k_scan_any(SCAN_PARAMS) {
    pdl_start();
    int e = blockIdx.x * blockDim.x + threadIdx.x;
    int s = blockIdx.y;
    if (e >= E) return;
    int len = seqs.len[s], row = seqs.row[s];
    float* st = (float*)ssm.p[s] + (long long)e * N;
    const float* a = A + (long long)e * lda;
    for (int t = 0; t < len; t++) {
        long long r = row + t;
        float ut = u[r * ldu + e];
        float dt = softplus(delta[r * lddt + e] + dbias[e]);
        float du = dt * ut;
        float y = 0.0f;
        for (int n = 0; n < N; n++) {
            float hn = expf(dt * a[n]) * st[n] + du * B[r * ldb + n];
            st[n] = hn;
            y += hn * C[r * ldc + n];
        }
        y += Dv[e] * ut;
        float o = z ? y * silu(z[r * ldz + e]) : y;
        dst[r * ldd + e] = o;
        shadow(sh, ldsh, shkind, r, e, o);
    }
}

// k_scan_dec{,f} is the scan of a decoding step for 16 states: every
// sequence has at most one row (blockIdx.y: sequence). Four threads share a
// channel, each with 4 of its states in registers (float4 loads of the
// state, A, B and C), and add their y terms with two shuffles; grid
// (ceil(4E / 128), sequences). The chunked scans stage 32 steps through
// shared memory, which a single step does not need. FAST as scan_chunked.
//
// k_scan_dec_dtf (bf16 mode) also computes delta = dlow·W_dtᵀ, the dt_proj product
// that precedes the scan (dlow [rows, R] float32, W_dt [E, R] 16-bit of
// kind `kind`, R a multiple of 8 with 16-byte aligned rows): the channel's
// four threads take its weight row's 16-byte chunks in turn (q, q+4, …),
// sum them in float32 with the activations unrounded (as k_gemv2), and add
// their partial sums with two shuffles.
// The channel's parameters, its carried state and (k_scan_dec_dtf) its
// dt_proj weight row are loaded before pdl_start, so that those loads
// overlap the previous kernel's tail: no kernel of the step writes them
// before the scan (the state was last written by this layer's scan in the
// previous step). The activations are read after.
#define DTF_CHUNKS 8 // 16-byte chunks of W_dt per thread: R ≤ 4·8·8 = 256

template <bool FAST, bool PROJ>
__device__ __forceinline__ void scan_dec(float* __restrict__ dst, int ldd, const float* __restrict__ u, int ldu,
                                         const float* __restrict__ delta, int lddt, const float* __restrict__ B, int ldb,
                                         const float* __restrict__ C, int ldc, const float* __restrict__ z, int ldz,
                                         const float* __restrict__ A, int lda, const float* __restrict__ Dv,
                                         const float* __restrict__ dbias, int E, int row, int len, float* st_, u16* __restrict__ sh,
                                         int ldsh, int shkind, const u16* __restrict__ Wdt, int R, int kind) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    int e = min(i >> 2, E - 1), q = (i & 3) * 4; // clamped channel: the shuffles need every lane
    bool live = (i >> 2) < E && len > 0;
    long long r = row;
    float4 h = make_float4(0.0f, 0.0f, 0.0f, 0.0f), a = h, b = h, c = h;
    float* st = st_ + (long long)e * 16 + q;
    float bias = 0.0f, dv = 0.0f;
    uint4 wq[PROJ ? DTF_CHUNKS : 1];
    if (live) {
        h = *(const float4*)st;
        a = *(const float4*)(A + (long long)e * lda + q);
        bias = dbias[e];
        dv = Dv[e];
        if (PROJ) {
            const uint4* wr = (const uint4*)(Wdt + (long long)e * R);
#pragma unroll
            for (int j = 0; j < DTF_CHUNKS; j++) {
                int ch = (i & 3) + 4 * j;
                wq[j] = ch < (R >> 3) ? __ldg(wr + ch) : make_uint4(0, 0, 0, 0);
            }
        }
    }
    pdl_start();
    // Every input written by the kernels before is loaded at once, so that
    // one memory latency covers them (the dt_proj sums wait for theirs).
    float ut = 0.0f, dlt = 0.0f, zr = 0.0f;
    if (live) {
        ut = u[r * ldu + e];
        if (!PROJ) dlt = delta[r * lddt + e];
        b = *(const float4*)(B + r * ldb + q);
        c = *(const float4*)(C + r * ldc + q);
        if (z && q == 0) zr = z[r * ldz + e];
    }
    float draw = 0.0f;
    if (PROJ) {
        // delta (before its bias) = Σ_k dlow[k]·W_dt[e, k]
        const float* xr = delta + r * lddt;
        if (live)
#pragma unroll
            for (int j = 0; j < DTF_CHUNKS; j++) {
                int ch = (i & 3) + 4 * j;
                if (ch < (R >> 3)) {
                    float w[8];
                    widen8(wq[j], kind, w);
                    float4 a4 = __ldg((const float4*)(xr + 8 * ch)), b4 = __ldg((const float4*)(xr + 8 * ch + 4));
                    float xv[8] = {a4.x, a4.y, a4.z, a4.w, b4.x, b4.y, b4.z, b4.w};
#pragma unroll
                    for (int k = 0; k < 8; k++) draw = fmaf(w[k], xv[k], draw);
                }
            }
        draw += __shfl_xor_sync(FULL_MASK, draw, 1);
        draw += __shfl_xor_sync(FULL_MASK, draw, 2);
    }
    float dt = live ? softplus((PROJ ? draw : dlt) + bias) : 0.0f;
    float av[4] = {a.x, a.y, a.z, a.w}, bv[4] = {b.x, b.y, b.z, b.w}, cv[4] = {c.x, c.y, c.z, c.w};
    float hv[4] = {h.x, h.y, h.z, h.w};
    float du = dt * ut, y = 0.0f;
#pragma unroll
    for (int k = 0; k < 4; k++) {
        float ea = FAST ? exp2f(dt * (av[k] * 1.4426950408889634f)) : expf(dt * av[k]);
        hv[k] = ea * hv[k] + du * bv[k];
        y += hv[k] * cv[k];
    }
    y += __shfl_xor_sync(FULL_MASK, y, 1);
    y += __shfl_xor_sync(FULL_MASK, y, 2);
    if (!live) return;
    *(float4*)st = make_float4(hv[0], hv[1], hv[2], hv[3]);
    if (q == 0) {
        float gz = z ? silu(zr) : 1.0f;
        float o = (y + dv * ut) * gz;
        dst[r * ldd + e] = o;
        shadow(sh, ldsh, shkind, r, e, o);
    }
}

#define SCAN_DEC_ARGS                                                                                                      \
    dst, ldd, u, ldu, delta, lddt, B, ldb, C, ldc, z, ldz, A, lda, Dv, dbias, E, seqs.row[blockIdx.y], seqs.len[blockIdx.y], \
        (float*)ssm.p[blockIdx.y], sh, ldsh, shkind

extern "C" __global__ void __launch_bounds__(128) k_scan_dec(SCAN_PARAMS) {
    scan_dec<false, false>(SCAN_DEC_ARGS, 0, 0, 0);
}

extern "C" __global__ void __launch_bounds__(128) k_scan_decf(SCAN_PARAMS) {
    scan_dec<true, false>(SCAN_DEC_ARGS, 0, 0, 0);
}

// k_scan_dec_dtf: delta is dlow (the x_proj output's first R columns).
extern "C" __global__ void __launch_bounds__(128) k_scan_dec_dtf(SCAN_PARAMS, const u16* __restrict__ Wdt, int R, int kind) {
    scan_dec<true, true>(SCAN_DEC_ARGS, Wdt, R, kind);
}
