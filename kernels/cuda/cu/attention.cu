// Causal (sliding-window) attention. Short chunks use k_attn, a
// flash-decoding kernel on the CUDA cores, or k_attn_dec when every chunk
// has length 1 (decoding: each key is read once per key/value group; its
// tensor-core twin k_attn_decm is in decattn.cu); long chunks use cuBLAS
// for Q·Kᵀ and P·V with k_kv_gather, k_q_pack, k_softmax and k_scatter_o
// around them (or flash attention, flash.cu). k_kv_store then writes the
// chunk's keys and values into the ring caches, except where k_attn_dec or
// k_attn_decm has stored them.
//
// The caches hold float32 (kvkind KIND_F32: the fp32 mode, and the bf16
// mode with the backend's f32KV knob) or bf16 (KIND_BF16: the bf16 mode's
// caches, rounded to nearest even when stored); offsets into them count
// their elements. Each launch reads one kind: a kvkind argument, or for
// k_attn_dec and k_attn_decm the kernel (the _kv16 ones read bf16). The
// readers that round the keys and values to bf16 for their products
// (k_attn_decm, k_kv_gather for flash attention and cuBLAS in bf16 mode)
// see the same bits from either kind; the float32 ones see the cached keys
// and values rounded to bf16, and the chunk's own exactly (k_attn,
// k_attn_grp) or, in k_attn_dec_kv16, whose bf16 tiles hold the decoding
// step's own key and value too, rounded as the cache stores them.

#define ATT_WARPS 8
#define ATT_KEYS 4    // keys per warp per step
#define MAXD 8        // head dimensions per lane: head_dim <= 256

// k_attn: one block per (head, key split, query, sequence); the block's
// warps take interleaved groups of ATT_KEYS keys of the split's share of the
// query's window, each keeping an online softmax, and combine them at the
// end. A key at position j comes from the chunk (k, v rows) when j >= pos,
// else from the ring cache slot j % cap (of kind kvkind). With nsplit == 1
// the block writes the output; otherwise it writes its partial (max, sum,
// unnormalised output) to part, slot ((batch row)*H + h)*nsplit + split,
// and k_attn_combine finishes.
extern "C" __global__ void __launch_bounds__(ATT_WARPS * 32)
    k_attn(float* __restrict__ dst, int ldd, const float* __restrict__ q, int ldq, const float* __restrict__ k, int ldk,
           const float* __restrict__ v, int ldv, int H, int G, int hd, int window, float scale, Seqs seqs, Ptrs kc, Ptrs vc,
           Ints cap, const int* __restrict__ dpos, u16* __restrict__ sh, int ldsh, int shkind, int nsplit,
           float* __restrict__ part, int kvkind) {
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
    const void* kcache = (const void*)kc.p[s];
    const void* vcache = (const void*)vc.p[s];
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
        const void* vr[ATT_KEYS];
        int vk[ATT_KEYS]; // vr's kind: a chunk row's (float32) or the cache's
#pragma unroll
        for (int u = 0; u < ATT_KEYS; u++) {
            int j = j0 + u;
            dot[u] = 0.0f;
            vr[u] = 0;
            vk[u] = KIND_F32;
            if (j <= kend) {
                const void* kr;
                if (j >= P) {
                    long long rr = row + (j - P);
                    kr = k + rr * ldk + g * hd;
                    vr[u] = v + rr * ldv + g * hd;
                } else {
                    long long o = (long long)(j % cp) * kvDim + g * hd;
                    kr = elem_ptr(kcache, o, kvkind);
                    vr[u] = elem_ptr(vcache, o, kvkind);
                    vk[u] = kvkind;
                }
#pragma unroll
                for (int i = 0; i < MAXD; i++) {
                    int d = lane + 32 * i;
                    if (d < hd) dot[u] += qv[i] * load(kr, d, vk[u]);
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
                    if (d < hd) acc[i] += pj * load(vr[u], d, vk[u]);
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

// k_attn_combine merges the nsplit partials of k_attn or k_attn_dec. Block
// (h·DC + dc, query, sequence) of 256 threads takes COMB_DIMS output
// dimensions of head h (chunk dc); thread (dimension d, split group sg)
// sums the splits sg, sg + COMB_GROUPS, … of its dimension, weighted by
// exp(max_i - max), even and odd ones apart, and the COMB_GROUPS group
// sums are added in a fixed order. A decoding step waits on this kernel,
// so its chain is kept short (it was 4.85 µs a call at batch 1 with 64
// splits, run 64): right after the dependency wait each thread issues the
// loads of its first COMB_PRE splits' values and each warp those of every
// split's max and sum (lane l splits l, l+32, …), so that one memory
// latency covers them all; each warp then computes the maximum, the
// weights and their sum L by shuffles alone (no block barrier), and a
// split's weight reaches the threads summing it by a shuffle from the lane
// that holds it. A split without keys has max -inf, weight 0, and its other
// values are read but never used (k_attn_dec does not write them).
#define COMB_DIMS 64
#define COMB_GROUPS 4
#define COMB_PRE 16 // prefetched splits per thread (COMB_GROUPS·COMB_PRE = 64 splits)
extern "C" __global__ void __launch_bounds__(256)
    k_attn_combine(float* __restrict__ dst, int ldd, const float* __restrict__ part, int H, int hd, int nsplit, Seqs seqs,
                   u16* __restrict__ sh, int ldsh, int shkind) {
    pdl_start();
    __shared__ float s_o[COMB_GROUPS][COMB_DIMS];
    const int nchunk = (hd + COMB_DIMS - 1) / COMB_DIMS;
    const int h = blockIdx.x / nchunk, dc = blockIdx.x % nchunk, t = blockIdx.y, s = blockIdx.z;
    if (s >= seqs.n || t >= seqs.len[s]) return; // uniform over the block
    const long long orow = seqs.row[s] + t, stride = hd + 2;
    const float* pp = part + (orow * H + h) * nsplit * stride;
    const int lane = threadIdx.x & 31, dl = threadIdx.x % COMB_DIMS, sg = threadIdx.x / COMB_DIMS;
    const int d = dc * COMB_DIMS + dl;
    const float* col = pp + 2 + min(d, hd - 1); // a dimension past hd reads the last one, unused
    float v[COMB_PRE];
#pragma unroll
    for (int k = 0; k < COMB_PRE; k++) {
        int i = sg + k * COMB_GROUPS;
        v[k] = i < nsplit ? col[i * stride] : 0.0f;
    }
    // Every split's max and sum, lane l holding splits l + 32j.
    const int NJ = COMBINE_MAX / 32;
    float2 ml[NJ];
#pragma unroll
    for (int j = 0; j < NJ; j++) {
        int i = lane + 32 * j;
        ml[j] = i < nsplit ? make_float2(pp[i * stride], pp[i * stride + 1]) : make_float2(-INF_F, 0.0f);
    }
    float M = -INF_F;
#pragma unroll
    for (int j = 0; j < NJ; j++) M = fmaxf(M, ml[j].x);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) M = fmaxf(M, __shfl_xor_sync(FULL_MASK, M, o));
    float w[NJ], L = 0.0f;
#pragma unroll
    for (int j = 0; j < NJ; j++) {
        w[j] = ml[j].x > -INF_F ? expf(ml[j].x - M) : 0.0f;
        if (w[j] != 0.0f) L += ml[j].y * w[j];
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) L += __shfl_xor_sync(FULL_MASK, L, o);
    // Split i = sg + k·COMB_GROUPS (k = 8j + kk: i = 32j + sg + 4kk) goes
    // to o0 for even k, o1 for odd, in order; its weight is lane (i mod
    // 32)'s w[j] (warp-uniform: a warp's threads share sg).
    float o0 = 0.0f, o1 = 0.0f;
#pragma unroll
    for (int j = 0; j < NJ; j++) {
        if (32 * j >= nsplit) break;
#pragma unroll
        for (int kk = 0; kk < 32 / COMB_GROUPS; kk++) {
            const int k = 8 * j + kk, i = sg + k * COMB_GROUPS;
            const float wi = __shfl_sync(FULL_MASK, w[j], sg + kk * COMB_GROUPS);
            if (i < nsplit && wi != 0.0f) {
                const float vi = k < COMB_PRE ? v[k < COMB_PRE ? k : 0] : col[i * stride];
                if (kk % 2 == 0)
                    o0 += wi * vi;
                else
                    o1 += wi * vi;
            }
        }
    }
    s_o[sg][dl] = o0 + o1;
    __syncthreads();
    if (sg == 0 && d < hd) {
        float o = ((s_o[0][dl] + s_o[1][dl]) + (s_o[2][dl] + s_o[3][dl])) / L;
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

// k_attn_dec's and k_attn_decm's key and value tiles in shared memory hold
// the caches' type E: float (float32 caches) or u16 (bf16 caches), rows of
// hd elements padded by 16 bytes (AD_LD). The copies move 16 bytes (AD_EPC
// elements) per thread and row.
#define AD_EPC(E) (16 / (int)sizeof(E))
#define AD_LD(hd, E) ((hd) + AD_EPC(E))

// ad_chunk16 copies the 16 bytes of tile elements at dst from src (a
// float32 key or value row of the chunk, or of a cache): asynchronously
// when both have one type; into a bf16 tile from float32 through
// registers, rounded to nearest even (pack_bf16, as the caches are).
__device__ __forceinline__ void ad_chunk16(float* dst, const float* __restrict__ src) { cp_async16(dst, src); }

__device__ __forceinline__ void ad_chunk16(u16* dst, const u16* __restrict__ src) { cp_async16(dst, src); }

__device__ __forceinline__ void ad_chunk16(u16* dst, const float* __restrict__ src) {
    float4 a = *(const float4*)src, b = *(const float4*)(src + 4);
    *(uint4*)dst = make_uint4(pack_bf16(a.x, a.y), pack_bf16(a.z, a.w), pack_bf16(b.x, b.y), pack_bf16(b.z, b.w));
}

// ad_get4 reads 4 consecutive tile elements at p as float32.
__device__ __forceinline__ float4 ad_get4(const float* p) { return *(const float4*)p; }

__device__ __forceinline__ float4 ad_get4(const u16* p) {
    uint2 x = *(const uint2*)p;
    return make_float4(bf16_to_f32((u16)x.x), bf16_to_f32((u16)(x.x >> 16)), bf16_to_f32((u16)x.y),
                       bf16_to_f32((u16)(x.y >> 16)));
}

// ad_put4 stores 4 values at p in a cache of element type E (rounded to
// nearest even for bf16).
__device__ __forceinline__ void ad_put4(float* p, float4 x) { *(float4*)p = x; }

__device__ __forceinline__ void ad_put4(u16* p, float4 x) {
    *(uint2*)p = make_uint2(pack_bf16(x.x, x.y), pack_bf16(x.z, x.w));
}

// ad_copy_tile issues this thread's copies of the decoding tile t (keys
// kbeg + t·ks …, at most up to P) into buffer t % nbuf (rows of ld
// elements): rows r0, r0 + rstep, … of the keys and values, AD_EPC(E)
// elements from element ce. A key at position j comes from the chunk (k, v
// rows, ad_chunk16) when j >= P, else from the ring cache slot j % cp
// (cp.async: the tiles have the caches' type).
template <typename E>
__device__ __forceinline__ void ad_copy_tile(E* s_k, E* s_v, int t, int nbuf, int kbeg, int ks, int ld, int P, int row,
                                             const float* __restrict__ k, int ldk, const float* __restrict__ v, int ldv, int g,
                                             int hd, const E* kcache, const E* vcache, int cp, long long kvDim, int r0,
                                             int rstep, int ce) {
    if (r0 >= rstep) return;
    int tb = kbeg + t * ks, nk = min(P - tb + 1, ks);
    E* bk = s_k + (t % nbuf) * ks * ld;
    E* bv = s_v + (t % nbuf) * ks * ld;
    for (int r = r0; r < nk; r += rstep) {
        int j = tb + r;
        if (j >= P) { // the chunk's own key (j == P)
            long long rr = row + (j - P);
            ad_chunk16(bk + r * ld + ce, k + rr * ldk + g * hd + ce);
            ad_chunk16(bv + r * ld + ce, v + rr * ldv + g * hd + ce);
        } else {
            long long o = (long long)(j % cp) * kvDim + g * hd + ce;
            cp_async16(bk + r * ld + ce, kcache + o);
            cp_async16(bv + r * ld + ce, vcache + o);
        }
    }
}

// ad_next_tile issues the copies of tile t+nbuf-1 (if any; one group,
// empty past the last tile) into the buffer tile t-1 used, which every
// thread is past (the barrier ending the previous tile), then waits for
// tile t's, with nbuf-1 groups of copies ahead of it, and synchronises the
// block: k_attn_dec's double buffering (nbuf 1 or 2, tile 0 issued before
// the loop) and k_attn_decm's deeper one (tiles 0 … nbuf-2 issued before).
template <typename E>
__device__ __forceinline__ void ad_next_tile(E* s_k, E* s_v, int t, int ntile, int nbuf, int kbeg, int ks, int ld, int P,
                                             int row, const float* __restrict__ k, int ldk, const float* __restrict__ v, int ldv,
                                             int g, int hd, const E* kcache, const E* vcache, int cp, long long kvDim, int r0,
                                             int rstep, int ce) {
    if (nbuf > 1) {
        if (t + nbuf - 1 < ntile)
            ad_copy_tile(s_k, s_v, t + nbuf - 1, nbuf, kbeg, ks, ld, P, row, k, ldk, v, ldv, g, hd, kcache, vcache, cp, kvDim, r0,
                         rstep, ce);
        cp_async_commit();
    }
    cp_async_wait_upto(nbuf - 1);
    __syncthreads();
}

// ad_store_kv writes the step's key and value rows (group g of the chunk's
// row orow) into ring slot P % cp of the caches, k_kv_store's work: the
// caller's block does it once the slot's old key (P - cp, the only key
// that maps there, read by this block alone) is in shared memory.
template <typename E>
__device__ __forceinline__ void ad_store_kv(E* kcache, E* vcache, const float* __restrict__ k, int ldk,
                                            const float* __restrict__ v, int ldv, long long orow, int P, int cp, long long kvDim,
                                            int g, int hd) {
    long long off = (long long)(P % cp) * kvDim + g * hd;
    const float* kr = k + orow * ldk + g * hd;
    const float* vr = v + orow * ldv + g * hd;
    for (int c = threadIdx.x * 4; c < hd; c += blockDim.x * 4) {
        ad_put4(kcache + off + c, *(const float4*)(kr + c));
        ad_put4(vcache + off + c, *(const float4*)(vr + c));
    }
}

// ad_softmax_tile is the online softmax of one key tile, one warp per head:
// lane j < nk adds the nparts partial scores of key j (s_red[i·partStride +
// h·rowStride + j], in order), scales, and the warp updates the head's
// running max s_m and sum s_l, leaving the tile's probabilities in s_p[h]
// (row stride ks + 1; keys past nk 0) and the factor exp(old max - new max)
// that rescales the earlier outputs in s_a.
__device__ __forceinline__ void ad_softmax_tile(const float* s_red, int nparts, int partStride, int rowStride, float* s_p,
                                                int ks, float* s_m, float* s_l, float* s_a, int Hg, int nk, float scale) {
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    for (int h = w; h < Hg; h += nw) {
        float x = -INF_F;
        if (lane < nk) {
            float d = 0.0f;
            for (int i = 0; i < nparts; i++) d += s_red[i * partStride + h * rowStride + lane];
            x = d * scale;
        }
        float mx = x;
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(FULL_MASK, mx, o));
        float mold = s_m[h], mnew = fmaxf(mold, mx);
        float e = lane < nk ? expf(x - mnew) : 0.0f;
        float sum = e;
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(FULL_MASK, sum, o);
        if (lane < ks) s_p[h * (ks + 1) + lane] = e;
        if (lane == 0) {
            float alpha = mold > -INF_F ? expf(mold - mnew) : 0.0f;
            s_a[h] = alpha;
            s_m[h] = mnew;
            s_l[h] = s_l[h] * alpha + sum;
        }
    }
}

// ad_empty_split writes the partials of a split without keys (max -inf,
// which k_attn_combine skips).
__device__ __forceinline__ void ad_empty_split(float* __restrict__ part, long long orow, int H, int g, int Hg, int nsplit, int sp,
                                               int hd) {
    for (int hh = threadIdx.x; hh < Hg; hh += blockDim.x) {
        float* pp = part + ((orow * H + g * Hg + hh) * nsplit + sp) * (hd + 2);
        pp[0] = -INF_F;
        pp[1] = 0.0f;
    }
}

// k_attn_dec attends one new token per sequence (every chunk has length
// 1) reading each key and value once for all Hg = H/G ≤ AD_MAXG query heads
// of a group, in float32 with expf (k_attn's numerics). Grid (nsplit, G,
// nseq), AD_THREADS threads: block (sp, g, s) takes keys kbeg … kbeg+nkb-1
// with kbeg = first + sp·ks·T, nkb ≤ ks·T, of sequence s's window [first,
// p], in tiles of ks keys (ks = 16 or 32; T tiles per block), splits past p
// being empty. The host fixes nsplit and T from the window or the caches'
// capacity, never from the positions, which may come from dpos during a
// recorded step.
//
// The keys and values are float32 in k_attn_dec, bf16 in k_attn_dec_kv16
// (E: the caches' type, which the tiles keep; the products are float32
// either way, so the bf16 caches' keys and values enter them rounded, the
// step's own included).
//
// Dynamic shared memory (rows padded by 16 bytes: ld = hd+4 floats for the
// queries, lt = AD_LD(hd, E) = hd+4 floats or hd+8 bf16 for the tiles,
// which keeps the 16-byte copies aligned and, for float32, puts the rows
// of 8 consecutive keys in different banks when hd is a multiple of 32):
//   s_q   [Hg][ld]            the group's query rows
//   s_k   [nbuf][ks][lt]      key tiles   } nbuf = 2 when T > 1: tile t+1
//   s_v   [nbuf][ks][lt]      value tiles } is copied while t is used
//   s_red [AD_THREADS/ks][Hg][ks]  partial scores of the dimension slices
//   s_p   [Hg][ks+1]          probabilities (padded: two heads read in one
//                             warp fall in different banks)
// 4·(Hg·ld + AD_THREADS·Hg + Hg·(ks+1)) + 2·nbuf·ks·lt·sizeof(E) bytes
// (adSmem in attention.go). Per tile:
//  1. copies (cp.async, issued one tile ahead): AD_THREADS/(hd/AD_EPC(E))
//     rows at a time, 16 bytes per thread (the chunk's own key converted
//     through registers for bf16 tiles, ad_chunk16);
//  2. partial scores: thread (key j = tid % ks, slice sl = tid / ks) sums
//     q_h·k_j over the float4 columns sl, sl + AD_THREADS/ks, … for every
//     head h; a warp's lanes are consecutive keys of one or two slices, so
//     the query loads are broadcasts and the key rows conflict-free (bf16
//     rows, 8 bytes per lane: keys j and j+8 share banks, 2-way);
//  3. per head one warp (lane = key) adds the slices in order, scales,
//     and updates the head's running max and sum (online softmax: the
//     earlier tiles' sum and outputs are scaled by exp(old max - new max));
//  4. O[h][c…c+3] = α_h·O[h][c…c+3] + Σ_j P[h][j]·V[j][c…c+3]: thread
//     (column c = tid % (hd/4), head group tid / (hd/4)) keeps AD_HPT float4
//     accumulators, one per head of its group (heads hg, hg + groups, …);
//     each value float4 is read once for all of them.
// With nsplit == 1 the block writes dst (and the 16-bit shadow); else its
// partial (max, sum, unnormalised O) in k_attn's layout, slot ((batch
// row)*H + h)*nsplit + sp with h = g·Hg + hh, and k_attn_combine finishes.
// An empty split writes only max = -inf, which k_attn_combine skips.
//
// With store set, the block whose keys include ring slot P % cp's current
// key also writes the new key and value there (k_kv_store's work), once
// that key's tile is in shared memory: the slot holds key P - cp, which
// only that block reads (the window's keys are fewer than cp + 2). When
// P - cp is before the window no block reads the slot and the block with
// key first writes it (rounded to bf16 for bf16 caches).
template <typename E>
__device__ __forceinline__ void attn_dec(float* __restrict__ dst, int ldd, const float* __restrict__ q, int ldq,
                                         const float* __restrict__ k, int ldk, const float* __restrict__ v, int ldv, int H,
                                         int G, int hd, int window, float scale, const Seqs& seqs, const Ptrs& kc,
                                         const Ptrs& vc, const Ints& cap, const int* __restrict__ dpos, u16* __restrict__ sh,
                                         int ldsh, int shkind, int nsplit, float* __restrict__ part, int ks, int store,
                                         int T) {
    extern __shared__ __align__(16) float ad_smem[];
    __shared__ float s_m[AD_MAXG], s_l[AD_MAXG], s_a[AD_MAXG];
    int sp = blockIdx.x, g = blockIdx.y, s = blockIdx.z;
    if (s >= seqs.n || seqs.len[s] < 1) return;
    int tid = threadIdx.x;
    int Hg = H / G;
    int P = seq_pos(seqs, dpos, s), row = seqs.row[s];
    long long orow = row; // the query's batch row (its chunk has length 1)
    int first = window > 0 ? max(0, P - window + 1) : 0;
    int kbeg = first + sp * ks * T, nkb = min(P - kbeg + 1, ks * T);
    if (nkb <= 0) { // only when nsplit > 1: split sp = 0 always has key first
        ad_empty_split(part, orow, H, g, Hg, nsplit, sp, hd);
        return;
    }
    int ntile = (nkb + ks - 1) / ks, nbuf = T > 1 ? 2 : 1;
    int ld = hd + 4, lt = AD_LD(hd, E);
    float* s_q = ad_smem;
    E* s_k = (E*)(s_q + Hg * ld);
    E* s_v = s_k + nbuf * ks * lt;
    float* s_red = (float*)(s_v + nbuf * ks * lt);
    float* s_p = s_red + AD_THREADS * Hg;
    for (int h = tid; h < Hg; h += AD_THREADS) {
        s_m[h] = -INF_F;
        s_l[h] = 0.0f;
    }

    // Thread (row r0, column c4) of the query copies' and step 4's
    // rows-per-pass layout (float4 columns); (tr0, ce) of the tile copies'
    // (AD_EPC(E) elements per column; the same for float32).
    int ncol = hd >> 2, rstep = AD_THREADS / ncol;
    int c4 = (tid % ncol) * 4, r0 = tid / ncol;
    int tcol = hd / AD_EPC(E), trstep = AD_THREADS / tcol;
    int ce = (tid % tcol) * AD_EPC(E), tr0 = tid / tcol;
    const E* kcache = (const E*)kc.p[s];
    const E* vcache = (const E*)vc.p[s];
    int cp = cap.v[s];
    long long kvDim = (long long)G * hd;
    if (r0 < rstep) {
        const float* qg = q + orow * ldq + (long long)g * Hg * hd;
        for (int r = r0; r < Hg; r += rstep) cp_async16(s_q + r * ld + c4, qg + r * hd + c4);
    }
    ad_copy_tile(s_k, s_v, 0, nbuf, kbeg, ks, lt, P, row, k, ldk, v, ldv, g, hd, kcache, vcache, cp, kvDim, tr0, trstep, ce);
    cp_async_commit();

    int groups = rstep;
    float4 o[AD_HPT];
#pragma unroll
    for (int u = 0; u < AD_HPT; u++) o[u] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    int nsl = AD_THREADS / ks;
    int jw = max(first, P - cp); // the key whose slot the new key takes
    for (int t = 0; t < ntile; t++) {
        int tb = kbeg + t * ks, nk = min(P - tb + 1, ks);
        const E* bk = s_k + (t % nbuf) * ks * lt;
        const E* bv = s_v + (t % nbuf) * ks * lt;
        ad_next_tile(s_k, s_v, t, ntile, nbuf, kbeg, ks, lt, P, row, k, ldk, v, ldv, g, hd, kcache, vcache, cp, kvDim, tr0, trstep,
                     ce);
        if (store && cp > 0 && jw >= tb && jw < tb + nk)
            ad_store_kv((E*)kc.p[s], (E*)vc.p[s], k, ldk, v, ldv, orow, P, cp, kvDim, g, hd);

        // 2. Partial scores over this thread's slice of the dimensions.
        {
            int j = tid % ks, sl = tid / ks;
            float acc[AD_MAXG];
#pragma unroll
            for (int h = 0; h < AD_MAXG; h++) acc[h] = 0.0f;
            const E* kj = bk + j * lt;
            for (int c = sl * 4; c < hd; c += nsl * 4) {
                float4 kk = ad_get4(kj + c);
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
#pragma unroll
            for (int h = 0; h < AD_MAXG; h++)
                if (h < Hg) s_red[(sl * Hg + h) * ks + j] = acc[h];
        }
        __syncthreads();

        // 3. Online softmax over the tile's keys, one warp per head.
        ad_softmax_tile(s_red, nsl, Hg * ks, ks, s_p, ks, s_m, s_l, s_a, Hg, nk, scale);
        __syncthreads();

        // 4. O = α·O + P·V for this thread's float4 column and heads.
        if (r0 < rstep) {
#pragma unroll
            for (int u = 0; u < AD_HPT; u++) {
                int h = r0 + u * groups;
                if (h < Hg) {
                    float al = s_a[h];
                    o[u].x *= al;
                    o[u].y *= al;
                    o[u].z *= al;
                    o[u].w *= al;
                }
            }
            for (int jj = 0; jj < nk; jj++) {
                float4 vv = ad_get4(bv + jj * lt + c4);
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
        }
        __syncthreads(); // the next tile's copy reuses this buffer; s_p, s_a
    }

    if (r0 >= rstep) return;
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

#define ATTN_DEC(name, E)                                                                                                    \
    extern "C" __global__ void __launch_bounds__(AD_THREADS)                                                                  \
        name(float* __restrict__ dst, int ldd, const float* __restrict__ q, int ldq, const float* __restrict__ k, int ldk,    \
             const float* __restrict__ v, int ldv, int H, int G, int hd, int window, float scale, Seqs seqs, Ptrs kc,         \
             Ptrs vc, Ints cap, const int* __restrict__ dpos, u16* __restrict__ sh, int ldsh, int shkind, int nsplit,         \
             float* __restrict__ part, int ks, int store, int T) {                                                            \
        pdl_start();                                                                                                          \
        attn_dec<E>(dst, ldd, q, ldq, k, ldk, v, ldv, H, G, hd, window, scale, seqs, kc, vc, cap, dpos, sh, ldsh, shkind,     \
                    nsplit, part, ks, store, T);                                                                              \
    }

ATTN_DEC(k_attn_dec, float)
ATTN_DEC(k_attn_dec_kv16, u16)

// k_kv_store writes each sequence's last min(len, cap) keys and values into
// ring slot (pos % cap) of its caches, of kind kvkind (rounded to nearest
// even for bf16).
extern "C" __global__ void k_kv_store(const float* __restrict__ k, int ldk, const float* __restrict__ v, int ldv, int kvDim,
                                      Seqs seqs, Ptrs kc, Ptrs vc, Ints cap, const int* __restrict__ dpos, int kvkind) {
    pdl_start();
    int s = blockIdx.z;
    if (s >= seqs.n) return;
    int cp = cap.v[s];
    if (cp <= 0) return;
    int len = seqs.len[s];
    void* kd = (void*)kc.p[s];
    void* vd = (void*)vc.p[s];
    for (int t = max(0, len - cp) + blockIdx.y; t < len; t += gridDim.y) {
        long long slot = (long long)((seq_pos(seqs, dpos, s) + t) % cp) * kvDim;
        long long rr = seqs.row[s] + t;
        for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < kvDim; c += gridDim.x * blockDim.x) {
            store(kd, slot + c, k[rr * ldk + c], kvkind);
            store(vd, slot + c, v[rr * ldv + c], kvkind);
        }
    }
}

// k_kv_gather lays out the keys and values of positions P-ctx … P-ctx+n-1
// of one sequence contiguously ([n, kvDim], in the matrix-product kind):
// earlier positions from the ring caches (of kind kvkind), the chunk's
// from k and v. Both kinds round to the product's kind the same way: a bf16
// cache's values are copied as they are into a bf16 product.
extern "C" __global__ void k_kv_gather(void* __restrict__ Ko, void* __restrict__ Vo, int kind, const float* __restrict__ k,
                                       int ldk, const float* __restrict__ v, int ldv, const void* __restrict__ kcache,
                                       const void* __restrict__ vcache, int kvkind, int cap, int kvDim, int P, int ctx, int row,
                                       int n) {
    pdl_start();
    for (int j = blockIdx.y; j < n; j += gridDim.y) {
        int p = P - ctx + j;
        long long jo = (long long)j * kvDim;
        if (p >= P) {
            long long rr = row + (p - P);
            const float* kr = k + rr * ldk;
            const float* vr = v + rr * ldv;
            for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < kvDim; c += gridDim.x * blockDim.x) {
                store(Ko, jo + c, kr[c], kind);
                store(Vo, jo + c, vr[c], kind);
            }
        } else {
            long long o = (long long)(p % cap) * kvDim;
            for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < kvDim; c += gridDim.x * blockDim.x) {
                store(Ko, jo + c, load(kcache, o + c, kvkind), kind);
                store(Vo, jo + c, load(vcache, o + c, kvkind), kind);
            }
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
