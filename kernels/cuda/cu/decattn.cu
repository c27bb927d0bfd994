// Decoding attention on the tensor cores (bf16 mode): k_attn_decm<HD> is
// k_attn_dec (attention.cu) with its two products, Q·Kᵀ and P·V, done by
// mma.sync m16n8k16 in bf16 with float32 accumulators, as flash attention
// does them for long chunks. The grid, the key tiles (16 keys, T per block,
// copied through cp.async in the caches' type), the online softmax in
// float32 with expf, the partials for k_attn_combine and the store of the
// step's key and value are k_attn_dec's; the tiles are copied nbuf-1 ahead
// (up to three, decmBufs in attention.go) instead of k_attn_dec's one.
//
// k_attn_decm<HD> reads float32 caches and rounds their keys and values
// to bf16 (pack_bf16) for the products; k_attn_decm<HD>_kv16 reads bf16
// caches (E = u16: tiles of half the bytes, the products' operands taken
// as they are) and rounds the step's own key and value to bf16 with the
// same round-to-nearest-even when it copies them to its tile and stores
// them. So both give the same bits, given caches of the same values.
//
// The Hg ≤ 16 query heads of the group are the 16 rows of the mma's A
// operand (rows past Hg are zero). Q·Kᵀ: the HD/16 steps of 16 dimensions
// are shared among the 8 warps (warp w takes steps w, w+8, …), each warp
// keeping its steps' Q fragments in registers for the whole block and
// writing its partial 16×16 scores to shared memory; the softmax warps add
// the 8 partials in warp order. P·V: the HD/8 output tiles of 8 dimensions
// are shared among the warps (w, w+8, …), each warp reading P's 16×16
// fragment and its tiles' values. Keys past the window are zero in V and
// zero in P, so that stale shared memory never reaches an output.

#define DM_WARPS 8
#define DM_KEYS 16

// k_attn_decm's dynamic shared memory (adSmemMMA in attention.go gives its
// bytes): key and value tiles [nbuf][16][AD_LD(HD, E)] in the caches'
// type, then in floats the warps' partial scores [8][16][17] and the
// probabilities [16][17].

// dm_pair is the bf16 pair of tile elements p[0] (low half) and p[1]:
// rounded from float32, as stored in bf16.
__device__ __forceinline__ unsigned dm_pair(const float* p) {
    float2 x = *(const float2*)p;
    return pack_bf16(x.x, x.y);
}

__device__ __forceinline__ unsigned dm_pair(const u16* p) { return *(const unsigned*)p; }

// dm_join is the bf16 pair of tile elements lo (low half) and hi.
__device__ __forceinline__ unsigned dm_join(float lo, float hi) { return pack_bf16(lo, hi); }

__device__ __forceinline__ unsigned dm_join(u16 lo, u16 hi) { return (unsigned)lo | (unsigned)hi << 16; }

// dm_softmax_tile is ad_softmax_tile for k_attn_decm's 16-key tiles with
// a half-warp per head instead of a warp: all of the block's up to 16
// heads in one pass over its 256 threads (with 11 heads on 8 warps, three
// warps would take two heads each, one after the other). The partial
// scores are added in the same order, the maximum is exact, and the
// exponentials' sum is the same tree (ad_softmax_tile's first butterfly
// step adds the zeros of lanes 16–31), so the results are bitwise the
// same. Run 97 (H200, one process): greedy steps 1.5% shorter at batch 16
// (3.615 / 3.587 ms against 3.671) and 0.5% at batch 1 (2.567 / 2.574
// against 2.584).
__device__ __forceinline__ void dm_softmax_tile(const float* s_red, float* s_p, float* s_m, float* s_l, float* s_a, int Hg, int nk,
                                                float scale) {
    const int h = threadIdx.x >> 4, j = threadIdx.x & 15;
    const bool on = h < Hg;
    float x = -INF_F;
    if (on && j < nk) {
        float d = 0.0f;
        for (int i = 0; i < DM_WARPS; i++) d += s_red[i * 16 * 17 + h * 17 + j];
        x = d * scale;
    }
    float mx = x;
#pragma unroll
    for (int o = 8; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(FULL_MASK, mx, o));
    float mold = on ? s_m[h] : 0.0f, mnew = fmaxf(mold, mx);
    float e = on && j < nk ? expf(x - mnew) : 0.0f;
    float sum = e;
#pragma unroll
    for (int o = 8; o > 0; o >>= 1) sum += __shfl_xor_sync(FULL_MASK, sum, o);
    if (on) s_p[h * (DM_KEYS + 1) + j] = e;
    if (on && j == 0) {
        float alpha = mold > -INF_F ? expf(mold - mnew) : 0.0f;
        s_a[h] = alpha;
        s_m[h] = mnew;
        s_l[h] = s_l[h] * alpha + sum;
    }
}

template <int HD, typename E>
__device__ __forceinline__ void attn_decm(float* __restrict__ dst, int ldd, const float* __restrict__ q, int ldq,
                                          const float* __restrict__ k, int ldk, const float* __restrict__ v, int ldv, int H,
                                          int G, int window, float scale, const Seqs& seqs, const Ptrs& kc, const Ptrs& vc,
                                          const Ints& cap, const int* __restrict__ dpos, u16* __restrict__ sh, int ldsh,
                                          int shkind, int nsplit, float* __restrict__ part, int store, int T, int nbuf) {
    extern __shared__ __align__(16) float dm_smem[];
    __shared__ float s_m[16], s_l[16], s_a[16];
    const int ld = AD_LD(HD, E);
    int sp = blockIdx.x, g = blockIdx.y, s = blockIdx.z;
    if (s >= seqs.n || seqs.len[s] < 1) return;
    int tid = threadIdx.x, lane = tid & 31, w = tid >> 5, gq = lane >> 2, tq = lane & 3;
    int Hg = H / G;
    int P = seq_pos(seqs, dpos, s), row = seqs.row[s];
    long long orow = row;
    int first = window > 0 ? max(0, P - window + 1) : 0;
    int kbeg = first + sp * DM_KEYS * T, nkb = min(P - kbeg + 1, DM_KEYS * T);
    if (nkb <= 0) {
        pdl_start();
        ad_empty_split(part, orow, H, g, Hg, nsplit, sp, HD);
        return;
    }
    int ntile = (nkb + DM_KEYS - 1) / DM_KEYS; // nbuf: 1 … 4 tile buffers (decmBufs in attention.go)
    E* s_k = (E*)dm_smem;
    E* s_v = s_k + nbuf * DM_KEYS * ld;
    float* s_red = (float*)(s_v + nbuf * DM_KEYS * ld); // [8][16][17]
    float* s_p = s_red + DM_WARPS * 16 * 17;            // [16][17]
    if (tid < 16) {
        s_m[tid] = -INF_F;
        s_l[tid] = 0.0f;
    }
    for (int i = tid; i < 16 * 17; i += blockDim.x) s_p[i] = 0.0f; // rows past Hg stay zero

    int ncol = HD / AD_EPC(E), rstep = (DM_WARPS * 32) / ncol;
    int ce = (tid % ncol) * AD_EPC(E), r0 = tid / ncol;
    const E* kcache = (const E*)kc.p[s];
    const E* vcache = (const E*)vc.p[s];
    int cp = cap.v[s];
    long long kvDim = (long long)G * HD;
    // The first tile's copies are issued before pdl_start when it holds
    // only cached keys (earlier steps wrote them), so that they overlap the
    // previous kernel's tail; a tile with the step's own key (written by
    // the kernels before) waits.
    bool cached = kbeg + min(nkb, DM_KEYS) - 1 < P;
    if (cached) {
        ad_copy_tile(s_k, s_v, 0, nbuf, kbeg, DM_KEYS, ld, P, row, k, ldk, v, ldv, g, HD, kcache, vcache, cp, kvDim, r0, rstep, ce);
        cp_async_commit();
    }
    pdl_start();
    if (!cached) {
        ad_copy_tile(s_k, s_v, 0, nbuf, kbeg, DM_KEYS, ld, P, row, k, ldk, v, ldv, g, HD, kcache, vcache, cp, kvDim, r0, rstep, ce);
        cp_async_commit();
    }
    // Tiles 1 … nbuf-2 (one group each, empty past the last tile).
    for (int t = 1; t < nbuf - 1; t++) {
        if (t < ntile)
            ad_copy_tile(s_k, s_v, t, nbuf, kbeg, DM_KEYS, ld, P, row, k, ldk, v, ldv, g, HD, kcache, vcache, cp, kvDim, r0, rstep,
                         ce);
        cp_async_commit();
    }

    // This warp's Q fragments (A operand: rows = heads, k = dimensions).
    const int KS = HD / 16, KPW = (KS + DM_WARPS - 1) / DM_WARPS;
    unsigned qa[KPW][4];
    const float* qg = q + orow * ldq + (long long)g * Hg * HD;
#pragma unroll
    for (int i = 0; i < KPW; i++) {
        int kk = w + i * DM_WARPS;
        int d = 16 * kk + 2 * tq;
        float2 z2 = make_float2(0.0f, 0.0f);
        float2 a = z2, b = z2, c = z2, e = z2;
        if (kk < KS) {
            if (gq < Hg) {
                a = *(const float2*)(qg + gq * HD + d);
                c = *(const float2*)(qg + gq * HD + d + 8);
            }
            if (gq + 8 < Hg) {
                b = *(const float2*)(qg + (gq + 8) * HD + d);
                e = *(const float2*)(qg + (gq + 8) * HD + d + 8);
            }
        }
        qa[i][0] = pack_bf16(a.x, a.y);
        qa[i][1] = pack_bf16(b.x, b.y);
        qa[i][2] = pack_bf16(c.x, c.y);
        qa[i][3] = pack_bf16(e.x, e.y);
    }
    // This warp's output tiles (rows gq, gq+8; dimensions 8·nt + 2tq, +1).
    const int NT = HD / 8, NPW = NT / DM_WARPS;
    float o[NPW][4];
#pragma unroll
    for (int i = 0; i < NPW; i++) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;

    int jw = max(first, P - cp);
    for (int t = 0; t < ntile; t++) {
        int tb = kbeg + t * DM_KEYS, nk = min(P - tb + 1, DM_KEYS);
        const E* bk = s_k + (t % nbuf) * DM_KEYS * ld;
        const E* bv = s_v + (t % nbuf) * DM_KEYS * ld;
        ad_next_tile(s_k, s_v, t, ntile, nbuf, kbeg, DM_KEYS, ld, P, row, k, ldk, v, ldv, g, HD, kcache, vcache, cp, kvDim, r0,
                     rstep, ce);
        if (store && cp > 0 && jw >= tb && jw < tb + nk)
            ad_store_kv((E*)kc.p[s], (E*)vc.p[s], k, ldk, v, ldv, orow, P, cp, kvDim, g, HD);

        // Partial scores S_w = Q·Kᵀ over this warp's dimension steps.
        float sc[2][4] = {{0.0f, 0.0f, 0.0f, 0.0f}, {0.0f, 0.0f, 0.0f, 0.0f}};
#pragma unroll
        for (int i = 0; i < KPW; i++) {
            int kk = w + i * DM_WARPS;
            if (kk < KS) {
                int d = 16 * kk + 2 * tq;
#pragma unroll
                for (int nt = 0; nt < 2; nt++) {
                    const E* kr = bk + (8 * nt + gq) * ld + d;
                    mma_16816<false>(sc[nt], qa[i][0], qa[i][1], qa[i][2], qa[i][3], dm_pair(kr), dm_pair(kr + 8));
                }
            }
        }
        float* red = s_red + w * 16 * 17;
#pragma unroll
        for (int nt = 0; nt < 2; nt++) {
            int col = 8 * nt + 2 * tq;
            red[gq * 17 + col] = sc[nt][0];
            red[gq * 17 + col + 1] = sc[nt][1];
            red[(gq + 8) * 17 + col] = sc[nt][2];
            red[(gq + 8) * 17 + col + 1] = sc[nt][3];
        }
        __syncthreads();

        // Online softmax over the tile's keys, a half-warp per head.
        dm_softmax_tile(s_red, s_p, s_m, s_l, s_a, Hg, nk, scale);
        __syncthreads();

        // O = α·O + P·V for this warp's output tiles.
        unsigned pa0 = pack_bf16(s_p[gq * 17 + 2 * tq], s_p[gq * 17 + 2 * tq + 1]);
        unsigned pa1 = pack_bf16(s_p[(gq + 8) * 17 + 2 * tq], s_p[(gq + 8) * 17 + 2 * tq + 1]);
        unsigned pa2 = pack_bf16(s_p[gq * 17 + 2 * tq + 8], s_p[gq * 17 + 2 * tq + 9]);
        unsigned pa3 = pack_bf16(s_p[(gq + 8) * 17 + 2 * tq + 8], s_p[(gq + 8) * 17 + 2 * tq + 9]);
        float al0 = gq < Hg ? s_a[gq] : 0.0f, al1 = gq + 8 < Hg ? s_a[gq + 8] : 0.0f;
        int j0 = 2 * tq, j1 = 2 * tq + 1, j2 = 2 * tq + 8, j3 = 2 * tq + 9;
#pragma unroll
        for (int i = 0; i < NPW; i++) {
            int dcol = 8 * (w + i * DM_WARPS) + gq;
            E v0 = j0 < nk ? bv[j0 * ld + dcol] : (E)0, v1 = j1 < nk ? bv[j1 * ld + dcol] : (E)0;
            E v2 = j2 < nk ? bv[j2 * ld + dcol] : (E)0, v3 = j3 < nk ? bv[j3 * ld + dcol] : (E)0;
            o[i][0] *= al0;
            o[i][1] *= al0;
            o[i][2] *= al1;
            o[i][3] *= al1;
            mma_16816<false>(o[i], pa0, pa1, pa2, pa3, dm_join(v0, v1), dm_join(v2, v3));
        }
        __syncthreads(); // the next tile's copy reuses this buffer; s_p, s_a
    }

#pragma unroll
    for (int hr = 0; hr < 2; hr++) {
        int h = gq + 8 * hr;
        if (h >= Hg) continue;
        int head = g * Hg + h;
        float L = s_l[h];
        float* pp = part + ((orow * H + head) * nsplit + sp) * (HD + 2);
        if (nsplit > 1 && w == 0 && tq == 0) {
            pp[0] = s_m[h];
            pp[1] = L;
        }
#pragma unroll
        for (int i = 0; i < NPW; i++) {
            int d = 8 * (w + i * DM_WARPS) + 2 * tq;
            float a = o[i][2 * hr], b = o[i][2 * hr + 1];
            if (nsplit > 1) {
                pp[2 + d] = a;
                pp[2 + d + 1] = b;
            } else {
                a /= L;
                b /= L;
                dst[orow * ldd + head * HD + d] = a;
                dst[orow * ldd + head * HD + d + 1] = b;
                shadow(sh, ldsh, shkind, orow, head * HD + d, a);
                shadow(sh, ldsh, shkind, orow, head * HD + d + 1, b);
            }
        }
    }
}

#define ATTN_DECM(name, hd, E)                                                                                                 \
    extern "C" __global__ void __launch_bounds__(DM_WARPS * 32) name(                                                          \
        float* __restrict__ dst, int ldd, const float* __restrict__ q, int ldq, const float* __restrict__ k, int ldk,          \
        const float* __restrict__ v, int ldv, int H, int G, int hdim, int window, float scale, Seqs seqs, Ptrs kc, Ptrs vc,    \
        Ints cap, const int* __restrict__ dpos, u16* __restrict__ sh, int ldsh, int shkind, int nsplit,                      \
        float* __restrict__ part, int ks, int store, int T, int nbuf) {                                                        \
        attn_decm<hd, E>(dst, ldd, q, ldq, k, ldk, v, ldv, H, G, window, scale, seqs, kc, vc, cap, dpos, sh, ldsh, shkind,     \
                         nsplit, part, store, T, nbuf);                                                                        \
    }

ATTN_DECM(k_attn_decm64, 64, float)
ATTN_DECM(k_attn_decm128, 128, float)
ATTN_DECM(k_attn_decm256, 256, float)
ATTN_DECM(k_attn_decm64_kv16, 64, u16)
ATTN_DECM(k_attn_decm128_kv16, 128, u16)
ATTN_DECM(k_attn_decm256_kv16, 256, u16)
