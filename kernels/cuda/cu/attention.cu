// Causal (sliding-window) attention. Short chunks use k_attn, a
// flash-decoding kernel on the CUDA cores, or k_attn_dec when every chunk
// has length 1 (decoding: each key is read once per key/value group); long
// chunks use cuBLAS for Q·Kᵀ and P·V with k_kv_gather, k_q_pack, k_softmax
// and k_scatter_o around them (or flash attention, flash.cu). k_kv_store
// then writes the chunk's keys and values into the ring caches.

#define ATT_WARPS 8
#define ATT_KEYS 4    // keys per warp per step
#define MAXD 8        // head dimensions per lane: head_dim <= 256

// k_attn: one block per (head, key split, query, sequence); the block's
// warps take interleaved groups of ATT_KEYS keys of the split's share of the
// query's window, each keeping an online softmax, and combine them at the
// end. A key at position j comes from the chunk (k, v rows) when j >= pos,
// else from the ring cache slot j % cap. With nsplit == 1 the block writes
// the output; otherwise it writes its partial (max, sum, unnormalised
// output) to part, slot ((batch row)*H + h)*nsplit + split, and
// k_attn_combine finishes.
extern "C" __global__ void __launch_bounds__(ATT_WARPS * 32)
    k_attn(float* __restrict__ dst, int ldd, const float* __restrict__ q, int ldq, const float* __restrict__ k, int ldk,
           const float* __restrict__ v, int ldv, int H, int G, int hd, int window, float scale, Seqs seqs, Ptrs kc, Ptrs vc,
           Ints cap, const int* __restrict__ dpos, u16* __restrict__ sh, int ldsh, int shkind, int nsplit,
           float* __restrict__ part) {
    pdl_start();
    __shared__ float sm_m[ATT_WARPS], sm_l[ATT_WARPS];
    __shared__ float sm_acc[ATT_WARPS][MAXD * 32];
    int h = blockIdx.x % H, sp = blockIdx.x / H, t = blockIdx.y, s = blockIdx.z;
    if (s >= seqs.n || t >= seqs.len[s]) return;
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    int g = h / (H / G);
    int P = seq_pos(seqs, dpos, s), row = seqs.row[s];
    int p = P + t;
    int first = window > 0 ? max(0, p - window + 1) : 0;
    int per = (p - first + nsplit) / nsplit; // ceil(keys / nsplit)
    int kbeg = first + sp * per, kend = min(p, kbeg + per - 1);
    int kvDim = G * hd;
    const float* kcache = (const float*)kc.p[s];
    const float* vcache = (const float*)vc.p[s];
    int cp = cap.v[s];
    const float* qr = q + (long long)(row + t) * ldq + h * hd;
    float qv[MAXD], acc[MAXD];
#pragma unroll
    for (int i = 0; i < MAXD; i++) {
        int d = lane + 32 * i;
        qv[i] = d < hd ? qr[d] : 0.0f;
        acc[i] = 0.0f;
    }
    float m = -INF_F, l = 0.0f;
    for (int j0 = kbeg + w * ATT_KEYS; j0 <= kend; j0 += ATT_WARPS * ATT_KEYS) {
        float dot[ATT_KEYS];
        const float* vr[ATT_KEYS];
#pragma unroll
        for (int u = 0; u < ATT_KEYS; u++) {
            int j = j0 + u;
            dot[u] = 0.0f;
            vr[u] = 0;
            if (j <= kend) {
                const float* kr;
                if (j >= P) {
                    long long rr = row + (j - P);
                    kr = k + rr * ldk + g * hd;
                    vr[u] = v + rr * ldv + g * hd;
                } else {
                    long long o = (long long)(j % cp) * kvDim + g * hd;
                    kr = kcache + o;
                    vr[u] = vcache + o;
                }
#pragma unroll
                for (int i = 0; i < MAXD; i++) {
                    int d = lane + 32 * i;
                    if (d < hd) dot[u] += qv[i] * kr[d];
                }
            }
        }
#pragma unroll
        for (int o = 16; o > 0; o >>= 1)
#pragma unroll
            for (int u = 0; u < ATT_KEYS; u++) dot[u] += __shfl_xor_sync(FULL_MASK, dot[u], o);
        float sc[ATT_KEYS];
        float mx = m;
#pragma unroll
        for (int u = 0; u < ATT_KEYS; u++) {
            sc[u] = j0 + u <= kend ? dot[u] * scale : -INF_F;
            mx = fmaxf(mx, sc[u]);
        }
        float corr = expf(m - mx);
        l *= corr;
#pragma unroll
        for (int i = 0; i < MAXD; i++) acc[i] *= corr;
#pragma unroll
        for (int u = 0; u < ATT_KEYS; u++) {
            if (j0 + u <= kend) {
                float pj = expf(sc[u] - mx);
                l += pj;
#pragma unroll
                for (int i = 0; i < MAXD; i++) {
                    int d = lane + 32 * i;
                    if (d < hd) acc[i] += pj * vr[u][d];
                }
            }
        }
        m = mx;
    }
    if (lane == 0) {
        sm_m[w] = m;
        sm_l[w] = l;
    }
#pragma unroll
    for (int i = 0; i < MAXD; i++) {
        int d = lane + 32 * i;
        if (d < hd) sm_acc[w][d] = acc[i];
    }
    __syncthreads();
    float M = -INF_F;
    for (int i = 0; i < ATT_WARPS; i++) M = fmaxf(M, sm_m[i]);
    float L = 0.0f;
    for (int i = 0; i < ATT_WARPS; i++)
        if (sm_m[i] > -INF_F) L += sm_l[i] * expf(sm_m[i] - M);
    long long orow = row + t;
    float* pp = part + ((orow * H + h) * nsplit + sp) * (hd + 2);
    if (nsplit > 1 && threadIdx.x == 0) {
        pp[0] = M;
        pp[1] = L;
    }
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float o = 0.0f;
        for (int i = 0; i < ATT_WARPS; i++)
            if (sm_m[i] > -INF_F) o += sm_acc[i][d] * expf(sm_m[i] - M);
        if (nsplit > 1) {
            pp[2 + d] = o;
            continue;
        }
        o /= L;
        dst[orow * ldd + h * hd + d] = o;
        shadow(sh, ldsh, shkind, orow, h * hd + d, o);
    }
}

// COMBINE_MAX is the most partials k_attn_combine merges (the host keeps
// nsplit at or below it).
#define COMBINE_MAX 256

// k_attn_combine merges the nsplit partials of k_attn or k_attn_dec for one
// (head, query, sequence) block of 256 threads. The splits' weights
// exp(max_i - max) are computed once, in parallel, into shared memory;
// then each output dimension sums its partials with independent loads. A
// split without keys has max -inf, weight 0, and its other values are
// never read (k_attn_dec does not write them).
extern "C" __global__ void __launch_bounds__(256)
    k_attn_combine(float* __restrict__ dst, int ldd, const float* __restrict__ part, int H, int hd, int nsplit, Seqs seqs,
                   u16* __restrict__ sh, int ldsh, int shkind) {
    pdl_start();
    __shared__ float s_w[COMBINE_MAX];
    __shared__ float red[32];
    int h = blockIdx.x, t = blockIdx.y, s = blockIdx.z;
    if (s >= seqs.n || t >= seqs.len[s]) return; // uniform over the block
    long long orow = seqs.row[s] + t;
    const float* pp = part + (orow * H + h) * nsplit * (hd + 2);
    float m = -INF_F;
    for (int i = threadIdx.x; i < nsplit; i += blockDim.x) m = fmaxf(m, pp[(long long)i * (hd + 2)]);
    float M = block_max(m, red);
    float lsum = 0.0f;
    for (int i = threadIdx.x; i < nsplit; i += blockDim.x) {
        float mi = pp[(long long)i * (hd + 2)];
        float w = mi > -INF_F ? expf(mi - M) : 0.0f;
        s_w[i] = w;
        if (w != 0.0f) lsum += pp[(long long)i * (hd + 2) + 1] * w;
    }
    float L = block_sum(lsum, red); // its barriers also publish s_w
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float o0 = 0.0f, o1 = 0.0f, o2 = 0.0f, o3 = 0.0f;
        const float* col = pp + 2 + d;
        int i = 0;
        for (; i + 4 <= nsplit; i += 4) {
            float w0 = s_w[i], w1 = s_w[i + 1], w2 = s_w[i + 2], w3 = s_w[i + 3];
            if (w0 != 0.0f) o0 += w0 * col[(long long)i * (hd + 2)];
            if (w1 != 0.0f) o1 += w1 * col[(long long)(i + 1) * (hd + 2)];
            if (w2 != 0.0f) o2 += w2 * col[(long long)(i + 2) * (hd + 2)];
            if (w3 != 0.0f) o3 += w3 * col[(long long)(i + 3) * (hd + 2)];
        }
        for (; i < nsplit; i++)
            if (s_w[i] != 0.0f) o0 += s_w[i] * col[(long long)i * (hd + 2)];
        float o = ((o0 + o1) + (o2 + o3)) / L;
        dst[orow * ldd + h * hd + d] = o;
        shadow(sh, ldsh, shkind, orow, h * hd + d, o);
    }
}

// Decoding attention per key/value group (k_attn_dec). AD_THREADS threads
// per block; at most AD_MAXG query heads per key/value head; AD_HPT heads
// per thread in the P·V step (enough for head sizes up to 256: at least
// AD_THREADS/64 = 4 head groups).
#define AD_THREADS 256
#define AD_MAXG 16
#define AD_HPT 4

// ad_copy16 copies 16 bytes from global to shared memory: with cp.async
// on sm_80 and later (no registers, every copy of the block in flight at
// once), through a register before. ad_copy_wait waits for this thread's
// copies; a __syncthreads must follow before others read them.
__device__ __forceinline__ void ad_copy16(float* dst, const float* __restrict__ src) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    unsigned a;
    asm("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }" : "=r"(a) : "l"(dst));
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(a), "l"(src));
#else
    *(float4*)dst = __ldg((const float4*)src);
#endif
}

__device__ __forceinline__ void ad_copy_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.wait_all;\n" ::: "memory");
#endif
}

// k_attn_dec attends one new token per sequence (every chunk has length
// 1) reading each key and value once for all Hg = H/G ≤ AD_MAXG query heads
// of a group, in float32 with expf (k_attn's numerics). Grid (nsplit, G,
// nseq), AD_THREADS threads: block (sp, g, s) takes keys kbeg … kbeg+nk-1
// with kbeg = first + sp·ks, nk ≤ ks (ks = 16 or 32) of sequence s's
// window [first, p]; splits past p are empty. The host fixes nsplit from
// the window or the caches' capacity, never from the positions, which may
// come from dpos during a recorded step.
//
// Dynamic shared memory (floats; rows padded to ld = hd+4, which keeps the
// float4 copies 16-byte aligned and puts the rows of 8 consecutive keys in
// different banks when hd is a multiple of 32):
//   s_q  [Hg][ld]  the group's query rows        } later s_red
//   s_k  [ks][ld]  the split's keys              } [AD_THREADS/ks][Hg][ks]
//   s_v  [ks][ld]  the split's values
//   s_p  [Hg][ks+1] probabilities (padded: two heads read in one warp
//                   fall in different banks)
// 4·(max((Hg+ks)·ld, AD_THREADS·Hg) + ks·ld + Hg·(ks+1)) bytes (adSmem in
// attention.go). Steps:
//  1. copy Q, K and V into shared memory, all copies issued before one
//     wait (AD_THREADS/(hd/4) rows at a time, one float4 column per thread);
//  2. partial scores: thread (key j = tid % ks, slice sl = tid / ks) sums
//     q_h·k_j over the float4 columns sl, sl + AD_THREADS/ks, … for every
//     head h; a warp's lanes are consecutive keys of one or two slices, so
//     the query loads are broadcasts and the key rows conflict-free. The
//     slices' sums go to s_red (over s_q and s_k, which are done with);
//  3. per head one warp (lane = key) adds the slices in order, scales,
//     takes max, exp and sum with shuffles and writes the probabilities;
//  4. O[h][c…c+3] = Σ_j P[h][j]·V[j][c…c+3]: thread (column c = tid %
//     (hd/4), head group tid / (hd/4)) keeps AD_HPT float4 accumulators,
//     one per head of its group (heads hg, hg + groups, …); each value
//     float4 is read once for all of them.
// With nsplit == 1 the block writes dst (and the 16-bit shadow); else its
// partial (max, sum, unnormalised O) in k_attn's layout, slot ((batch
// row)*H + h)*nsplit + sp with h = g·Hg + hh, and k_attn_combine finishes.
// An empty split writes only max = -inf, which k_attn_combine skips.
extern "C" __global__ void __launch_bounds__(AD_THREADS)
    k_attn_dec(float* __restrict__ dst, int ldd, const float* __restrict__ q, int ldq, const float* __restrict__ k, int ldk,
               const float* __restrict__ v, int ldv, int H, int G, int hd, int window, float scale, Seqs seqs, Ptrs kc,
               Ptrs vc, Ints cap, const int* __restrict__ dpos, u16* __restrict__ sh, int ldsh, int shkind, int nsplit,
               float* __restrict__ part, int ks) {
    pdl_start();
    extern __shared__ __align__(16) float ad_smem[];
    __shared__ float s_m[AD_MAXG], s_l[AD_MAXG];
    int sp = blockIdx.x, g = blockIdx.y, s = blockIdx.z;
    if (s >= seqs.n || seqs.len[s] < 1) return;
    int tid = threadIdx.x, lane = tid & 31, w = tid >> 5;
    int Hg = H / G;
    int P = seq_pos(seqs, dpos, s), row = seqs.row[s];
    long long orow = row; // the query's batch row (its chunk has length 1)
    int first = window > 0 ? max(0, P - window + 1) : 0;
    int kbeg = first + sp * ks, nk = min(P - kbeg + 1, ks);
    if (nk <= 0) { // only when nsplit > 1: split sp = 0 always has key first
        for (int hh = tid; hh < Hg; hh += blockDim.x) {
            float* pp = part + ((orow * H + g * Hg + hh) * nsplit + sp) * (hd + 2);
            pp[0] = -INF_F;
            pp[1] = 0.0f;
        }
        return;
    }
    int ld = hd + 4;
    float* s_q = ad_smem;
    float* s_k = s_q + Hg * ld;
    float* s_red = ad_smem;
    float* s_v = ad_smem + max((Hg + ks) * ld, AD_THREADS * Hg);
    float* s_p = s_v + ks * ld;

    // 1. Copies. Thread (row r0, column c4) of the rows-per-pass layout.
    int ncol = hd >> 2, rstep = AD_THREADS / ncol;
    int c4 = (tid % ncol) * 4, r0 = tid / ncol;
    if (r0 < rstep) {
        const float* qg = q + orow * ldq + (long long)g * Hg * hd;
        for (int r = r0; r < Hg; r += rstep) ad_copy16(s_q + r * ld + c4, qg + r * hd + c4);
        const float* kcache = (const float*)kc.p[s];
        const float* vcache = (const float*)vc.p[s];
        int cp = cap.v[s];
        long long kvDim = (long long)G * hd;
        for (int r = r0; r < nk; r += rstep) {
            int j = kbeg + r;
            const float *kr, *vr;
            if (j >= P) { // the chunk's own key (j == P)
                long long rr = row + (j - P);
                kr = k + rr * ldk + g * hd;
                vr = v + rr * ldv + g * hd;
            } else {
                long long o = (long long)(j % cp) * kvDim + g * hd;
                kr = kcache + o;
                vr = vcache + o;
            }
            ad_copy16(s_k + r * ld + c4, kr + c4);
            ad_copy16(s_v + r * ld + c4, vr + c4);
        }
    }
    ad_copy_wait();
    __syncthreads();

    // 2. Partial scores over this thread's slice of the dimensions.
    int nsl = AD_THREADS / ks;
    int j = tid % ks, sl = tid / ks;
    float acc[AD_MAXG];
#pragma unroll
    for (int h = 0; h < AD_MAXG; h++) acc[h] = 0.0f;
    const float* kj = s_k + j * ld;
    for (int c = sl * 4; c < hd; c += nsl * 4) {
        float4 kk = *(const float4*)(kj + c);
#pragma unroll
        for (int h = 0; h < AD_MAXG; h++) {
            if (h < Hg) {
                float4 qq = *(const float4*)(s_q + h * ld + c);
                float a = acc[h];
                a = fmaf(qq.x, kk.x, a);
                a = fmaf(qq.y, kk.y, a);
                a = fmaf(qq.z, kk.z, a);
                a = fmaf(qq.w, kk.w, a);
                acc[h] = a;
            }
        }
    }
    __syncthreads(); // s_red overwrites s_q and s_k
#pragma unroll
    for (int h = 0; h < AD_MAXG; h++)
        if (h < Hg) s_red[(sl * Hg + h) * ks + j] = acc[h];
    __syncthreads();

    // 3. Softmax over the split's keys, one warp per head.
    for (int h = w; h < Hg; h += AD_THREADS / 32) {
        float x = -INF_F;
        if (lane < nk) {
            float d = 0.0f;
            for (int i = 0; i < nsl; i++) d += s_red[(i * Hg + h) * ks + lane];
            x = d * scale;
        }
        float mx = x;
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(FULL_MASK, mx, o));
        float e = lane < nk ? expf(x - mx) : 0.0f;
        float sum = e;
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(FULL_MASK, sum, o);
        if (lane < ks) s_p[h * (ks + 1) + lane] = e;
        if (lane == 0) {
            s_m[h] = mx;
            s_l[h] = sum;
        }
    }
    __syncthreads();

    // 4. O = P·V for this thread's float4 column and heads.
    if (r0 >= rstep) return; // no further __syncthreads
    int groups = rstep;
    float4 o[AD_HPT];
#pragma unroll
    for (int u = 0; u < AD_HPT; u++) o[u] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    for (int jj = 0; jj < nk; jj++) {
        float4 vv = *(const float4*)(s_v + jj * ld + c4);
#pragma unroll
        for (int u = 0; u < AD_HPT; u++) {
            int h = r0 + u * groups;
            if (h < Hg) {
                float pj = s_p[h * (ks + 1) + jj];
                o[u].x = fmaf(pj, vv.x, o[u].x);
                o[u].y = fmaf(pj, vv.y, o[u].y);
                o[u].z = fmaf(pj, vv.z, o[u].z);
                o[u].w = fmaf(pj, vv.w, o[u].w);
            }
        }
    }
#pragma unroll
    for (int u = 0; u < AD_HPT; u++) {
        int h = r0 + u * groups;
        if (h >= Hg) continue;
        int head = g * Hg + h;
        float ov[4] = {o[u].x, o[u].y, o[u].z, o[u].w};
        if (nsplit > 1) {
            float* pp = part + ((orow * H + head) * nsplit + sp) * (hd + 2);
            if (c4 == 0) {
                pp[0] = s_m[h];
                pp[1] = s_l[h];
            }
#pragma unroll
            for (int i = 0; i < 4; i++) pp[2 + c4 + i] = ov[i];
        } else {
            float L = s_l[h];
#pragma unroll
            for (int i = 0; i < 4; i++) {
                float val = ov[i] / L;
                dst[orow * ldd + head * hd + c4 + i] = val;
                shadow(sh, ldsh, shkind, orow, head * hd + c4 + i, val);
            }
        }
    }
}

// k_kv_store writes each sequence's last min(len, cap) keys and values into
// ring slot (pos % cap) of its caches.
extern "C" __global__ void k_kv_store(const float* __restrict__ k, int ldk, const float* __restrict__ v, int ldv, int kvDim,
                                      Seqs seqs, Ptrs kc, Ptrs vc, Ints cap, const int* __restrict__ dpos) {
    pdl_start();
    int s = blockIdx.z;
    if (s >= seqs.n) return;
    int cp = cap.v[s];
    if (cp <= 0) return;
    int len = seqs.len[s];
    float* kd = (float*)kc.p[s];
    float* vd = (float*)vc.p[s];
    for (int t = max(0, len - cp) + blockIdx.y; t < len; t += gridDim.y) {
        long long slot = (long long)((seq_pos(seqs, dpos, s) + t) % cp) * kvDim;
        long long rr = seqs.row[s] + t;
        for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < kvDim; c += gridDim.x * blockDim.x) {
            kd[slot + c] = k[rr * ldk + c];
            vd[slot + c] = v[rr * ldv + c];
        }
    }
}

// k_kv_gather lays out the keys and values of positions P-ctx … P-ctx+n-1
// of one sequence contiguously ([n, kvDim], in the matrix-product kind):
// earlier positions from the ring caches, the chunk's from k and v.
extern "C" __global__ void k_kv_gather(void* __restrict__ Ko, void* __restrict__ Vo, int kind, const float* __restrict__ k,
                                       int ldk, const float* __restrict__ v, int ldv, const float* __restrict__ kcache,
                                       const float* __restrict__ vcache, int cap, int kvDim, int P, int ctx, int row, int n) {
    pdl_start();
    for (int j = blockIdx.y; j < n; j += gridDim.y) {
        int p = P - ctx + j;
        const float *kr, *vr;
        if (p >= P) {
            long long rr = row + (p - P);
            kr = k + rr * ldk;
            vr = v + rr * ldv;
        } else {
            long long o = (long long)(p % cap) * kvDim;
            kr = kcache + o;
            vr = vcache + o;
        }
        for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < kvDim; c += gridDim.x * blockDim.x) {
            store(Ko, (long long)j * kvDim + c, kr[c], kind);
            store(Vo, (long long)j * kvDim + c, vr[c], kind);
        }
    }
}

// k_q_pack copies the T query rows of one sequence into Qo laid out as
// [G][T][H/G][hd], so that each key/value group's queries form one matrix
// whose row (t, hh) is query t of head g*(H/G)+hh.
extern "C" __global__ void k_q_pack(void* __restrict__ Qo, int kind, const float* __restrict__ q, int ldq, int row, int T,
                                    int H, int G, int hd) {
    pdl_start();
    int Hg = H / G;
    for (int t = blockIdx.y; t < T; t += gridDim.y) {
        const float* qr = q + (long long)(row + t) * ldq;
        for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < H * hd; c += gridDim.x * blockDim.x) {
            int h = c / hd, d = c - h * hd;
            int g = h / Hg, hh = h - g * Hg;
            store(Qo, (((long long)g * T + t) * Hg + hh) * hd + d, qr[c], kind);
        }
    }
}

// SMX_PER is how many scores per thread k_softmax keeps in registers: rows
// of up to blockDim.x*SMX_PER columns are read once.
#define SMX_PER 16

// k_softmax turns one block of scores into probabilities. S holds, per
// group g (stride sg), rows (i, hh) for queries t0+i of a sequence at
// positions P+t0+i, and columns c for key positions base+c. Keys outside a
// query's causal window get probability 0. One block per row; fast uses
// __expf (bf16 mode).
extern "C" __global__ void k_softmax(const float* __restrict__ S, long long sg, int ldS, void* __restrict__ Pm, long long pg,
                                     int ldP, int kind, int rowsPerG, int G, int Hg, int span, int t0, int P, int window,
                                     int base, int fast) {
    pdl_start();
    __shared__ float red[32];
    int nt = blockDim.x;
    for (int b = blockIdx.x; b < rowsPerG * G; b += gridDim.x) {
        int g = b / rowsPerG, rho = b - g * rowsPerG;
        int p = P + t0 + rho / Hg;
        int lo = window > 0 ? max(0, p - window + 1) : 0;
        int c0 = max(lo - base, 0), c1 = min(p - base, span - 1);
        const float* sr = S + g * sg + (long long)rho * ldS;
        long long po = g * pg + (long long)rho * ldP;
        if (span <= nt * SMX_PER) {
            float v[SMX_PER];
            float mx = -INF_F;
#pragma unroll
            for (int i = 0; i < SMX_PER; i++) {
                int c = threadIdx.x + i * nt;
                v[i] = (c >= c0 && c <= c1) ? sr[c] : -INF_F;
                mx = fmaxf(mx, v[i]);
            }
            mx = block_max(mx, red);
            float sum = 0.0f;
#pragma unroll
            for (int i = 0; i < SMX_PER; i++) {
                int c = threadIdx.x + i * nt;
                float e = 0.0f;
                if (c >= c0 && c <= c1) e = fast ? __expf(v[i] - mx) : expf(v[i] - mx);
                v[i] = e;
                sum += e;
            }
            sum = block_sum(sum, red);
            float inv = 1.0f / sum;
#pragma unroll
            for (int i = 0; i < SMX_PER; i++) {
                int c = threadIdx.x + i * nt;
                if (c < span) store(Pm, po + c, v[i] * inv, kind);
            }
            continue;
        }
        float mx = -INF_F;
        for (int c = c0 + threadIdx.x; c <= c1; c += nt) mx = fmaxf(mx, sr[c]);
        mx = block_max(mx, red);
        float sum = 0.0f;
        for (int c = c0 + threadIdx.x; c <= c1; c += nt) sum += expf(sr[c] - mx);
        sum = block_sum(sum, red);
        float inv = 1.0f / sum;
        for (int c = threadIdx.x; c < span; c += nt) {
            float pv = (c >= c0 && c <= c1) ? expf(sr[c] - mx) * inv : 0.0f;
            store(Pm, po + c, pv, kind);
        }
    }
}

// k_softmax_warp is k_softmax with one warp per row: an online maximum and
// sum in one pass over the row, combined with shuffles, then a second pass
// writes the probabilities. No block-wide synchronisation.
extern "C" __global__ void __launch_bounds__(256)
    k_softmax_warp(const float* __restrict__ S, long long sg, int ldS, void* __restrict__ Pm, long long pg, int ldP, int kind,
                   int rowsPerG, int G, int Hg, int span, int t0, int P, int window, int base, int fast) {
    pdl_start();
    int lane = threadIdx.x & 31, warps = blockDim.x >> 5;
    for (int b = blockIdx.x * warps + (threadIdx.x >> 5); b < rowsPerG * G; b += gridDim.x * warps) {
        int g = b / rowsPerG, rho = b - g * rowsPerG;
        int p = P + t0 + rho / Hg;
        int lo = window > 0 ? max(0, p - window + 1) : 0;
        int c0 = max(lo - base, 0), c1 = min(p - base, span - 1);
        const float* sr = S + g * sg + (long long)rho * ldS;
        long long po = g * pg + (long long)rho * ldP;
        float m = -INF_F, sum = 0.0f;
        for (int c = c0 + lane; c <= c1; c += 32) {
            float x = sr[c];
            if (x > m) {
                sum = (m == -INF_F ? 0.0f : sum * (fast ? __expf(m - x) : expf(m - x))) + 1.0f;
                m = x;
            } else {
                sum += fast ? __expf(x - m) : expf(x - m);
            }
        }
        for (int o = 16; o > 0; o >>= 1) {
            float om = __shfl_xor_sync(FULL_MASK, m, o), os = __shfl_xor_sync(FULL_MASK, sum, o);
            float nm = fmaxf(m, om);
            float a = m == -INF_F ? 0.0f : sum * (fast ? __expf(m - nm) : expf(m - nm));
            float bb = om == -INF_F ? 0.0f : os * (fast ? __expf(om - nm) : expf(om - nm));
            sum = a + bb;
            m = nm;
        }
        float inv = 1.0f / sum;
        for (int c = lane; c < span; c += 32) {
            float pv = 0.0f;
            if (c >= c0 && c <= c1) pv = (fast ? __expf(sr[c] - m) : expf(sr[c] - m)) * inv;
            store(Pm, po + c, pv, kind);
        }
    }
}

// k_scatter_o copies attention outputs from the [G][T][H/G][hd] layout
// back to the rows of dst.
extern "C" __global__ void k_scatter_o(float* __restrict__ dst, int ldd, const float* __restrict__ O, int row, int T, int H,
                                       int G, int hd, u16* __restrict__ sh, int ldsh, int shkind) {
    pdl_start();
    int Hg = H / G;
    for (int t = blockIdx.y; t < T; t += gridDim.y) {
        long long r = row + t;
        for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < H * hd; c += gridDim.x * blockDim.x) {
            int h = c / hd, d = c - h * hd;
            int g = h / Hg, hh = h - g * Hg;
            float o = O[(((long long)g * T + t) * Hg + hh) * hd + d];
            dst[r * ldd + c] = o;
            shadow(sh, ldsh, shkind, r, c, o);
        }
    }
}
