// Mamba-1 kernels: the causal depthwise convolution with its carried input
// window, and the selective scan with its carried SSM state.

// MAXK is the widest convolution supported (Mamba uses 4).
#define MAXK 8

// input_at returns the convolution input of channel e at chunk-relative time
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
    int e = blockIdx.x * blockDim.x + threadIdx.x;
    int s = blockIdx.z;
    if (e >= E || s >= seqs.n) return;
    int len = seqs.len[s], row = seqs.row[s];
    int t0 = blockIdx.y * tile;
    if (t0 >= len) return;
    float* st = (float*)conv.p[s];
    float wk[MAXK], win[MAXK];
#pragma unroll
    for (int j = 0; j < MAXK; j++) {
        int k = j - (MAXK - K);
        wk[j] = k >= 0 ? w[(long long)e * ldw + k] : 0.0f;
        win[j] = 0.0f;
    }
    // win[j] holds the input at time t - (MAXK-1-j) when producing time t.
#pragma unroll
    for (int j = 0; j < MAXK - 1; j++)
        if (j >= MAXK - K) win[j] = conv_input(x, ldx, st, row, E, K, t0 - (MAXK - 1 - j), e);
    int t1 = min(t0 + tile, len);
    float b = bias[e];
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

// scan_lanes runs the selective scan of one sequence (rows row … row+len-1,
// SSM state at state) with four
// threads per channel, each holding NPT of the channel's 4*NPT states in
// registers; y is summed over the four lanes with shuffles. Time is
// sequential. All 32 lanes of a warp stay in the loop (shuffles need them);
// lanes past E compute on a clamped channel and write nothing.
template <int NPT>
__device__ __forceinline__ void scan_lanes(float* __restrict__ dst, int ldd, const float* __restrict__ u, int ldu,
                                           const float* __restrict__ delta, int lddt, const float* __restrict__ B, int ldb,
                                           const float* __restrict__ C, int ldc, const float* __restrict__ z, int ldz,
                                           const float* __restrict__ A, int lda, const float* __restrict__ Dv,
                                           const float* __restrict__ dbias, int E, int row, int len, float* state,
                                           u16* __restrict__ sh, int ldsh, int shkind) {
    const int N = 4 * NPT;
    int lane = threadIdx.x & 3;
    int e = blockIdx.x * (blockDim.x >> 2) + (threadIdx.x >> 2);
    bool ok = e < E;
    int ec = ok ? e : E - 1;
    float* st = state + (long long)ec * N + lane * NPT;
    float h[NPT], a[NPT];
#pragma unroll
    for (int i = 0; i < NPT; i++) {
        h[i] = st[i];
        a[i] = A[(long long)ec * lda + lane * NPT + i];
    }
    float dskip = Dv[ec], db = dbias[ec];
    for (int t = 0; t < len; t++) {
        long long r = row + t;
        float ut = u[r * ldu + ec];
        float dt = softplus(delta[r * lddt + ec] + db);
        float zt = z[r * ldz + ec];
        const float* br = B + r * ldb + lane * NPT;
        const float* cr = C + r * ldc + lane * NPT;
        float du = dt * ut;
        float y = 0.0f;
#pragma unroll
        for (int i = 0; i < NPT; i++) {
            h[i] = expf(dt * a[i]) * h[i] + du * br[i];
            y += h[i] * cr[i];
        }
        y += __shfl_xor_sync(FULL_MASK, y, 1);
        y += __shfl_xor_sync(FULL_MASK, y, 2);
        if (ok && lane == 0) {
            y += dskip * ut;
            float o = y * silu(zt);
            dst[r * ldd + ec] = o;
            shadow(sh, ldsh, shkind, r, ec, o);
        }
    }
    if (ok) {
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

extern "C" __global__ void __launch_bounds__(128) k_scan4(SCAN_PARAMS) { scan_lanes<1>(SCAN_ARGS); }
extern "C" __global__ void __launch_bounds__(128) k_scan8(SCAN_PARAMS) { scan_lanes<2>(SCAN_ARGS); }
extern "C" __global__ void __launch_bounds__(128) k_scan16(SCAN_PARAMS) { scan_lanes<4>(SCAN_ARGS); }
extern "C" __global__ void __launch_bounds__(128) k_scan32(SCAN_PARAMS) { scan_lanes<8>(SCAN_ARGS); }
extern "C" __global__ void __launch_bounds__(128) k_scan64(SCAN_PARAMS) { scan_lanes<16>(SCAN_ARGS); }

// k_scan_any is the scan for any state size: one thread per channel, the
// state kept in device memory. Slow, but only odd configurations use it.
extern "C" __global__ void k_scan_any(SCAN_PARAMS) {
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
        float o = y * silu(z[r * ldz + e]);
        dst[r * ldd + e] = o;
        shadow(sh, ldsh, shkind, r, e, o);
    }
}
