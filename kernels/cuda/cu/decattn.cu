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

// ATTN_DEC_KERNEL defines decoding kernel name as device function fn
// (attn_decm, attn_decp) for head size hd and caches of type E, on blocks
// of warps warps; the last argument is fn's own (k_attn_decm's tile
// buffers, k_attn_decp's early copies).
#define ATTN_DEC_KERNEL(name, fn, warps, hd, E)                                                                                \
    extern "C" __global__ void __launch_bounds__(warps * 32) name(                                                             \
        float* __restrict__ dst, int ldd, const float* __restrict__ q, int ldq, const float* __restrict__ k, int ldk,          \
        const float* __restrict__ v, int ldv, int H, int G, int hdim, int window, float scale, Seqs seqs, Ptrs kc, Ptrs vc,    \
        Ints cap, const int* __restrict__ dpos, u16* __restrict__ sh, int ldsh, int shkind, int nsplit,                      \
        float* __restrict__ part, int ks, int store, int T, int last) {                                                        \
        fn<hd, E>(dst, ldd, q, ldq, k, ldk, v, ldv, H, G, window, scale, seqs, kc, vc, cap, dpos, sh, ldsh, shkind, nsplit,    \
                  part, store, T, last);                                                                                       \
    }

ATTN_DEC_KERNEL(k_attn_decm64, attn_decm, DM_WARPS, 64, float)
ATTN_DEC_KERNEL(k_attn_decm128, attn_decm, DM_WARPS, 128, float)
ATTN_DEC_KERNEL(k_attn_decm256, attn_decm, DM_WARPS, 256, float)
ATTN_DEC_KERNEL(k_attn_decm64_kv16, attn_decm, DM_WARPS, 64, u16)
ATTN_DEC_KERNEL(k_attn_decm128_kv16, attn_decm, DM_WARPS, 128, u16)
ATTN_DEC_KERNEL(k_attn_decm256_kv16, attn_decm, DM_WARPS, 256, u16)

// k_attn_decp<HD>: decoding attention with the key tiles, not the
// dimensions, shared among the warps ("per warp"). k_attn_decm's 8 warps
// share every 16-key tile (each takes 2 of the 16 steps of Q·Kᵀ and 1/8
// of P·V) and meet at three block barriers per tile, so a block's tiles
// are one long chain of dependent steps: at batch 16 (8 tiles per block)
// it took 21 µs per layer for 32 MB of keys and values, 1.5 TB/s (run 130
// of docs/performance-gpu-history.md; ncu in run 119: DRAM 28%, stalls on
// fixed-latency dependencies). Here each of the DP_WARPS warps streams
// tiles of its own (tiles w, w+4, … of the block's 4·T) through its own
// buffers in shared memory, with its own online softmax in registers (the
// scores' accumulators are P's A operand, as in flash.cu): no block
// barrier until the block adds its warps' partials at the end. A warp
// holds two key tiles and one value tile, so that its first two key tiles
// and first value tile are in flight at once (at batch 16 three quarters
// of a multiprocessor's bytes); its key tile n+2 is copied once Q·Kᵀ of n
// is done, its value tile n+1 once P·V of n is. Runs 154–160 of the
// history: 15.3 µs per layer at batch 16 in the traced step (run 159),
// greedy steps of 16 sequences 1.3–3.3% shorter than with k_attn_decm;
// at batch 1 2% longer, so attnDecWarps takes it from 8 sequences.
//
// The tiles are bf16 whatever the caches' type (float32 caches' keys and
// values rounded to nearest even as they are copied, through registers;
// bf16 ones by cp.async), so that both give the same bits; the step's own
// key and value are rounded the same way. The block's queries are bf16
// rows in shared memory (rows past Hg zero). Shared memory (dynamic, rows
// of HD+8 bf16 so that the 8 rows an ldmatrix reads fall in different
// banks): Q [16], then per warp K [2][16] and V [16], which at the end
// hold the warp's unnormalised outputs [16][HD+4] in float32. The grid,
// the partials for k_attn_combine and the store of the step's key and
// value (by the warp whose tile holds the slot's old key, once it has
// copied it) are k_attn_decm's, with 16·DP_WARPS·T keys per block.
#define DP_WARPS 4

// dp_copy issues the warp's copies of keys (or values) tb … tb+nk-1 of
// group g into the 16-row tile d as one group of copies: key j < P from
// ring slot j % cp of cache c, the step's own (j == P) from row orow of
// the chunk's x (both through ad_chunk16); rows nk … 15 are zeroed, so
// that no stale shared memory (NaN bits) reaches a product. nk ≤ 0 (no
// such tile) makes the group empty. The ring slot of row r is (tb % cp) +
// r, less cp past the end: one division per tile.
template <int HD, typename E>
__device__ __forceinline__ void dp_copy(u16* d, const E* c, const float* __restrict__ x, int ldx, long long orow, int tb,
                                        int nk, int P, int cp, long long kvDim, int g) {
    const int LD = HD + 8, CPR = HD / 8;
    if (nk <= 0) {
        cp_async_commit();
        return;
    }
    const int base = cp > 0 ? tb % cp : 0;
    for (int i = threadIdx.x & 31; i < 16 * CPR; i += 32) {
        int r = i / CPR, e = (i - r * CPR) * 8;
        u16* dd = d + r * LD + e;
        int j = tb + r;
        if (r >= nk) {
            *(uint4*)dd = make_uint4(0u, 0u, 0u, 0u);
        } else if (j >= P) {
            ad_chunk16(dd, x + (orow + (j - P)) * ldx + g * HD + e);
        } else {
            int slot = base + r;
            slot = slot < cp ? slot : cp >= 16 ? slot - cp : j % cp;
            ad_chunk16(dd, c + (long long)slot * kvDim + g * HD + e);
        }
    }
    cp_async_commit();
}

template <int HD, typename E>
__device__ __forceinline__ void attn_decp(float* __restrict__ dst, int ldd, const float* __restrict__ q, int ldq,
                                          const float* __restrict__ k, int ldk, const float* __restrict__ v, int ldv, int H,
                                          int G, int window, float scale, const Seqs& seqs, const Ptrs& kc, const Ptrs& vc,
                                          const Ints& cap, const int* __restrict__ dpos, u16* __restrict__ sh, int ldsh,
                                          int shkind, int nsplit, float* __restrict__ part, int store, int T, int early) {
    const int LD = HD + 8, OLD = HD + 4, NT = HD / 8;
    extern __shared__ __align__(16) u16 dp_smem[];
    __shared__ float s_m[DP_WARPS][16], s_l[DP_WARPS][16], s_f[DP_WARPS][16], s_L[16];
    int sp = blockIdx.x, g = blockIdx.y, s = blockIdx.z;
    if (s >= seqs.n || seqs.len[s] < 1) return;
    const int tid = threadIdx.x, lane = tid & 31, w = tid >> 5, gq = lane >> 2, tq = lane & 3;
    const int Hg = H / G;
    const int P = seq_pos(seqs, dpos, s);
    const long long orow = seqs.row[s];
    const int first = window > 0 ? max(0, P - window + 1) : 0;
    const int kbeg = first + sp * 16 * DP_WARPS * T, nkb = min(P - kbeg + 1, 16 * DP_WARPS * T);
    if (nkb <= 0) {
        pdl_start();
        ad_empty_split(part, orow, H, g, Hg, nsplit, sp, HD);
        return;
    }
    const int ntile = (nkb + 15) / 16;
    u16* sQ = dp_smem;
    u16* sK0 = sQ + 16 * LD + w * 48 * LD; // this warp's key tiles [2][16], value tile [16]
    u16* sV = sK0 + 32 * LD;
    const E* kcache = (const E*)kc.p[s];
    const E* vcache = (const E*)vc.p[s];
    const int cp = cap.v[s];
    const long long kvDim = (long long)G * HD;

    // The warp's tiles n = 0, 1, … are the block's w + 4n. Copies, one
    // group each: keys 0 and 1 and values 0 first, then keys n+2 after
    // Q·Kᵀ of n (into its buffer) and values n+1 after P·V of n, so that
    // before Q·Kᵀ of n at most 2 later groups may be pending and before
    // P·V of n 1. With early set, the first tiles are copied before
    // pdl_start when they hold only keys that earlier steps cached
    // (k_attn_decm's rule); else after the queries' loads are issued, so
    // that those do not wait behind every block's tiles. A tile past the
    // block's (t ≥ ntile) has nk 0: an empty group.
    int t = w;
    const int tb0 = kbeg + 16 * t, nk0 = t < ntile ? min(P - tb0 + 1, 16) : 0;
    const int t1 = t + DP_WARPS, tb1 = kbeg + 16 * t1, nk1 = t1 < ntile ? min(P - tb1 + 1, 16) : 0;
    const bool before = early && nk0 > 0 && (nk1 > 0 ? tb1 + nk1 : tb0 + nk0) - 1 < P;
    if (before) {
        dp_copy<HD>(sK0, kcache, k, ldk, orow, tb0, nk0, P, cp, kvDim, g);
        dp_copy<HD>(sK0 + 16 * LD, kcache, k, ldk, orow, tb1, nk1, P, cp, kvDim, g);
        dp_copy<HD>(sV, vcache, v, ldv, orow, tb0, nk0, P, cp, kvDim, g);
    }
    pdl_start();
    const float* qg = q + orow * ldq + (long long)g * Hg * HD;
    const int QPT = (16 * HD / 8 + DP_WARPS * 32 - 1) / (DP_WARPS * 32); // query chunks of 8 per thread
    float4 qv[QPT][2];
#pragma unroll
    for (int j = 0; j < QPT; j++) {
        int i = tid + j * DP_WARPS * 32, r = i / (HD / 8), e = (i - r * (HD / 8)) * 8;
        qv[j][0] = qv[j][1] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        if (r < Hg) {
            qv[j][0] = *(const float4*)(qg + r * HD + e);
            qv[j][1] = *(const float4*)(qg + r * HD + e + 4);
        }
    }
    if (!before) {
        dp_copy<HD>(sK0, kcache, k, ldk, orow, tb0, nk0, P, cp, kvDim, g);
        dp_copy<HD>(sK0 + 16 * LD, kcache, k, ldk, orow, tb1, nk1, P, cp, kvDim, g);
        dp_copy<HD>(sV, vcache, v, ldv, orow, tb0, nk0, P, cp, kvDim, g);
    }
#pragma unroll
    for (int j = 0; j < QPT; j++) {
        int i = tid + j * DP_WARPS * 32, r = i / (HD / 8), e = (i - r * (HD / 8)) * 8;
        float4 a = qv[j][0], b = qv[j][1];
        *(uint4*)(sQ + r * LD + e) = make_uint4(pack_bf16(a.x, a.y), pack_bf16(a.z, a.w), pack_bf16(b.x, b.y), pack_bf16(b.z, b.w));
    }
    __syncthreads();

    float o[NT][4];
#pragma unroll
    for (int i = 0; i < NT; i++) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;
    float m0 = -INF_F, m1 = -INF_F, l0 = 0.0f, l1 = 0.0f; // rows gq, gq+8 (l: this thread's keys)
    const int jw = max(first, P - cp);
    // ldmatrix rows: Q's A operand (row lane&15, k half lane>>4), K's B
    // operand (key (lane&7) + 8·(lane>>4), k half (lane>>3)&1), V's
    // transposed B operand (key (lane&7) + 8·((lane>>3)&1), n half lane>>4).
    const u16* qa = sQ + (lane & 15) * LD + (lane >> 4) * 8;
    const int kbo = ((lane & 7) + ((lane >> 4) << 3)) * LD + ((lane >> 3) & 1) * 8;
    const u16* vb = sV + ((lane & 7) + (((lane >> 3) & 1) << 3)) * LD + (lane >> 4) * 8;
    for (int n = 0; t < ntile; t += DP_WARPS, n++) {
        const int tb = kbeg + 16 * t, nk = min(P - tb + 1, 16);
        u16* sK = sK0 + (n & 1) * 16 * LD;
        const u16* kb = sK + kbo;
        cp_async_wait_upto(2); // this tile's keys
        __syncwarp();
        // S = Q·Kᵀ in two chains of mma (even and odd steps of 16 dimensions).
        float sc[2][2][4] = {};
#pragma unroll
        for (int kk = 0; kk < HD / 16; kk++) {
            unsigned a[4], b[4];
            ldsm_x4(a, qa + 16 * kk);
            ldsm_x4(b, kb + 16 * kk);
            mma_16816<false>(sc[kk & 1][0], a[0], a[1], a[2], a[3], b[0], b[1]);
            mma_16816<false>(sc[kk & 1][1], a[0], a[1], a[2], a[3], b[2], b[3]);
        }
        __syncwarp();
        const int tk = t + 2 * DP_WARPS, tbk = kbeg + 16 * tk;
        dp_copy<HD>(sK, kcache, k, ldk, orow, tbk, tk < ntile ? min(P - tbk + 1, 16) : 0, P, cp, kvDim, g);

        // Online softmax: element c of n-tile nt is key 8nt + 2tq + (c&1)
        // of row gq (c < 2) or gq+8; a row's 16 keys are on the 4 threads
        // of a quad.
        float x[2][4];
#pragma unroll
        for (int nt = 0; nt < 2; nt++)
#pragma unroll
            for (int c = 0; c < 4; c++)
                x[nt][c] = 8 * nt + 2 * tq + (c & 1) < nk ? (sc[0][nt][c] + sc[1][nt][c]) * scale : -INF_F;
        float mx0 = fmaxf(fmaxf(x[0][0], x[0][1]), fmaxf(x[1][0], x[1][1]));
        float mx1 = fmaxf(fmaxf(x[0][2], x[0][3]), fmaxf(x[1][2], x[1][3]));
        mx0 = fmaxf(mx0, __shfl_xor_sync(FULL_MASK, mx0, 1));
        mx1 = fmaxf(mx1, __shfl_xor_sync(FULL_MASK, mx1, 1));
        mx0 = fmaxf(mx0, __shfl_xor_sync(FULL_MASK, mx0, 2));
        mx1 = fmaxf(mx1, __shfl_xor_sync(FULL_MASK, mx1, 2));
        const float n0 = fmaxf(m0, mx0), n1 = fmaxf(m1, mx1);
        const float al0 = m0 > -INF_F ? expf(m0 - n0) : 0.0f, al1 = m1 > -INF_F ? expf(m1 - n1) : 0.0f;
        m0 = n0;
        m1 = n1;
#pragma unroll
        for (int nt = 0; nt < 2; nt++) {
            x[nt][0] = expf(x[nt][0] - n0);
            x[nt][1] = expf(x[nt][1] - n0);
            x[nt][2] = expf(x[nt][2] - n1);
            x[nt][3] = expf(x[nt][3] - n1);
        }
        l0 = l0 * al0 + ((x[0][0] + x[0][1]) + (x[1][0] + x[1][1]));
        l1 = l1 * al1 + ((x[0][2] + x[0][3]) + (x[1][2] + x[1][3]));
        const unsigned pa0 = pack_bf16(x[0][0], x[0][1]), pa1 = pack_bf16(x[0][2], x[0][3]);
        const unsigned pa2 = pack_bf16(x[1][0], x[1][1]), pa3 = pack_bf16(x[1][2], x[1][3]);

        cp_async_wait_upto(1); // this tile's values
        __syncwarp();
        if (store && cp > 0 && jw >= tb && jw < tb + nk) { // the slot's old key and value are copied
            long long off = (long long)(P % cp) * kvDim + g * HD;
            const float* kr = k + orow * ldk + g * HD;
            const float* vr = v + orow * ldv + g * HD;
            for (int e = lane * 4; e < HD; e += 128) {
                ad_put4((E*)kc.p[s] + off + e, *(const float4*)(kr + e));
                ad_put4((E*)vc.p[s] + off + e, *(const float4*)(vr + e));
            }
        }
        // O = α·O + P·V.
#pragma unroll
        for (int i = 0; i < NT; i++) {
            o[i][0] *= al0;
            o[i][1] *= al0;
            o[i][2] *= al1;
            o[i][3] *= al1;
        }
#pragma unroll
        for (int d0 = 0; d0 < HD; d0 += 16) {
            unsigned b[4];
            ldsm_x4_trans(b, vb + d0);
            mma_16816<false>(o[d0 / 8], pa0, pa1, pa2, pa3, b[0], b[1]);
            mma_16816<false>(o[d0 / 8 + 1], pa0, pa1, pa2, pa3, b[2], b[3]);
        }
        __syncwarp();
        const int tv = t + DP_WARPS, tbv = kbeg + 16 * tv;
        dp_copy<HD>(sV, vcache, v, ldv, orow, tbv, tv < ntile ? min(P - tbv + 1, 16) : 0, P, cp, kvDim, g);
    }
    cp_async_wait_all();
    l0 += __shfl_xor_sync(FULL_MASK, l0, 1);
    l1 += __shfl_xor_sync(FULL_MASK, l1, 1);
    l0 += __shfl_xor_sync(FULL_MASK, l0, 2);
    l1 += __shfl_xor_sync(FULL_MASK, l1, 2);

    // The block's partial: the warps' maxima, sums and outputs merged.
    float* so = (float*)sK0; // [16][OLD], within this warp's tiles
    __syncwarp();
#pragma unroll
    for (int i = 0; i < NT; i++) {
        int d = 8 * i + 2 * tq;
        *(float2*)(so + gq * OLD + d) = make_float2(o[i][0], o[i][1]);
        *(float2*)(so + (gq + 8) * OLD + d) = make_float2(o[i][2], o[i][3]);
    }
    if (tq == 0) {
        s_m[w][gq] = m0;
        s_m[w][gq + 8] = m1;
        s_l[w][gq] = l0;
        s_l[w][gq + 8] = l1;
    }
    __syncthreads();
    if (tid < Hg) {
        float M = -INF_F, L = 0.0f;
#pragma unroll
        for (int i = 0; i < DP_WARPS; i++) M = fmaxf(M, s_m[i][tid]);
#pragma unroll
        for (int i = 0; i < DP_WARPS; i++) {
            float f = s_m[i][tid] > -INF_F ? expf(s_m[i][tid] - M) : 0.0f;
            s_f[i][tid] = f;
            L += s_l[i][tid] * f;
        }
        s_L[tid] = L;
        if (nsplit > 1) {
            float* pp = part + ((orow * H + g * Hg + tid) * nsplit + sp) * (HD + 2);
            pp[0] = M;
            pp[1] = L;
        }
    }
    __syncthreads();
    const float* s_o0 = (const float*)(sQ + 16 * LD);
    for (int i = tid; i < Hg * HD; i += DP_WARPS * 32) {
        int h = i / HD, d = i - h * HD, head = g * Hg + h;
        float a = 0.0f;
#pragma unroll
        for (int j = 0; j < DP_WARPS; j++) a += s_f[j][h] * s_o0[j * 24 * LD + h * OLD + d];
        if (nsplit > 1) {
            part[((orow * H + head) * nsplit + sp) * (HD + 2) + 2 + d] = a;
        } else {
            a /= s_L[h];
            dst[orow * ldd + head * HD + d] = a;
            shadow(sh, ldsh, shkind, orow, head * HD + d, a);
        }
    }
}

ATTN_DEC_KERNEL(k_attn_decp64, attn_decp, DP_WARPS, 64, float)
ATTN_DEC_KERNEL(k_attn_decp128, attn_decp, DP_WARPS, 128, float)
ATTN_DEC_KERNEL(k_attn_decp256, attn_decp, DP_WARPS, 256, float)
ATTN_DEC_KERNEL(k_attn_decp64_kv16, attn_decp, DP_WARPS, 64, u16)
ATTN_DEC_KERNEL(k_attn_decp128_kv16, attn_decp, DP_WARPS, 128, u16)
ATTN_DEC_KERNEL(k_attn_decp256_kv16, attn_decp, DP_WARPS, 256, u16)
