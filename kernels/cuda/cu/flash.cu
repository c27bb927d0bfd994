// Flash attention for long chunks on the tensor cores (bf16 mode): one
// block of FA_WARPS warps per 64 query rows of one key/value head, the
// scores never leaving registers. Query rows are the (position, head) pairs
// of the group laid out as row ρ = t·Hg + hh (query t of head g·Hg+hh), so
// that the heads sharing a key/value head share every key tile. Keys and
// values come from the contiguous bf16 copies k_kv_gather makes (key j is
// position P-ctx+j), through shared memory, double-buffered with cp.async;
// Q·Kᵀ and P·V are mma.sync m16n8k16 products with float32 accumulators and
// the softmax is online in base 2.

#define FA_WARPS 4
#define FA_BM (16 * FA_WARPS)

__device__ __forceinline__ void ldsm_x4(unsigned* r, const void* p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_addr(p)));
}

__device__ __forceinline__ void ldsm_x4_trans(unsigned* r, const void* p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_addr(p)));
}

// flash_load starts copying keys and values j0 … j0+BN-1 (clamped to the
// last key) of head g into one buffer of shared memory.
template <int HD, int BN>
__device__ __forceinline__ void flash_load(u16* dk, u16* dv, const u16* __restrict__ K, const u16* __restrict__ V, int ldkv,
                                           int n, int g, int j0) {
    const int LD = HD + 8;
    for (int i = threadIdx.x; i < BN * HD / 8; i += FA_WARPS * 32) {
        int r = i / (HD / 8), c = (i - r * (HD / 8)) * 8;
        long long j = min(j0 + r, n - 1);
        cp_async16(dk + r * LD + c, K + j * ldkv + g * HD + c);
        cp_async16(dv + r * LD + c, V + j * ldkv + g * HD + c);
    }
    cp_async_commit();
}

// flash<HD, BN> attends T queries of one sequence (rows row … row+T-1 of q
// and dst, positions P …) for key/value head blockIdx.y, query rows
// blockIdx.x·64 … of the group. K and V are [n, ldkv] bf16; scale2 is the
// attention scale times log2(e). Shared memory (dynamic): Q [64][HD+8],
// then K and V [2][BN][HD+8] each; the padding of 8 elements makes the 8
// rows an ldmatrix reads fall in different banks.
template <int HD, int BN>
__device__ __forceinline__ void flash(float* __restrict__ dst, int ldd, const float* __restrict__ q, int ldq,
                                      const u16* __restrict__ K, const u16* __restrict__ V, int ldkv, int n, int T, int Hg,
                                      int row, int P, int ctx, int window, float scale2, u16* __restrict__ sh, int ldsh,
                                      int shkind) {
    const int LD = HD + 8;
    extern __shared__ __align__(16) u16 fa_smem[];
    u16* sQ = fa_smem;
    u16* sK = sQ + FA_BM * LD;
    u16* sV = sK + 2 * BN * LD;
    int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    int gq = lane >> 2, tq = lane & 3;
    int g = blockIdx.y;
    int rows = T * Hg;
    int r0 = blockIdx.x * FA_BM;
    int base = P - ctx; // position of key 0

    // Q tile, rounded to bf16; rows past the chunk are zeros.
    for (int i = tid; i < FA_BM * HD / 4; i += FA_WARPS * 32) {
        int r = i / (HD / 4), c = (i - r * (HD / 4)) * 4;
        int rho = r0 + r;
        uint2 pk = make_uint2(0, 0);
        if (rho < rows) {
            int t = rho / Hg, hh = rho - t * Hg;
            float4 x = *(const float4*)(q + (long long)(row + t) * ldq + (g * Hg + hh) * HD + c);
            pk = make_uint2(pack_bf16(x.x, x.y), pack_bf16(x.z, x.w));
        }
        *(uint2*)(sQ + r * LD + c) = pk;
    }

    // The keys any row of the block can see.
    int pmin = P + r0 / Hg, pmax = P + min(r0 + FA_BM - 1, rows - 1) / Hg;
    int jlo = window > 0 ? max(0, pmin - window + 1 - base) : 0;
    int jhi = min(pmax - base, n - 1);
    int ntiles = jhi >= jlo ? (jhi - jlo + BN) / BN : 0;

    if (ntiles > 0) flash_load<HD, BN>(sK, sV, K, V, ldkv, n, g, jlo);

    // This lane's two rows (gq and gq+8 of the warp's 16) and their positions.
    int rhoA = r0 + warp * 16 + gq, rhoB = rhoA + 8;
    int posA = rhoA < rows ? P + rhoA / Hg : -1, posB = rhoB < rows ? P + rhoB / Hg : -1;

    float o[HD / 8][4];
#pragma unroll
    for (int d = 0; d < HD / 8; d++) o[d][0] = o[d][1] = o[d][2] = o[d][3] = 0.0f;
    float mA = -INF_F, mB = -INF_F, lA = 0.0f, lB = 0.0f;

    for (int it = 0; it < ntiles; it++) {
        cp_async_wait_all();
        __syncthreads();
        if (it + 1 < ntiles)
            flash_load<HD, BN>(sK + ((it + 1) & 1) * BN * LD, sV + ((it + 1) & 1) * BN * LD, K, V, ldkv, n, g,
                               jlo + (it + 1) * BN);
        const u16* tK = sK + (it & 1) * BN * LD;
        const u16* tV = sV + (it & 1) * BN * LD;

        float s[BN / 8][4];
#pragma unroll
        for (int nt = 0; nt < BN / 8; nt++) s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.0f;
#pragma unroll
        for (int kk = 0; kk < HD / 16; kk++) {
            unsigned a[4];
            ldsm_x4(a, sQ + (warp * 16 + (lane & 15)) * LD + kk * 16 + (lane >> 4) * 8);
#pragma unroll
            for (int nt = 0; nt < BN / 8; nt += 2) {
                unsigned b[4];
                ldsm_x4(b, tK + (nt * 8 + (lane & 7) + (lane >> 4) * 8) * LD + kk * 16 + ((lane >> 3) & 1) * 8);
                mma_16816<false>(s[nt], a[0], a[1], a[2], a[3], b[0], b[1]);
                mma_16816<false>(s[nt + 1], a[0], a[1], a[2], a[3], b[2], b[3]);
            }
        }

        // Mask, scale into base 2, and the running maxima.
        int j0 = jlo + it * BN;
        float xA = mA, xB = mB;
#pragma unroll
        for (int nt = 0; nt < BN / 8; nt++)
#pragma unroll
            for (int i = 0; i < 4; i++) {
                int j = j0 + nt * 8 + 2 * tq + (i & 1);
                int kp = base + j;
                int pr = i < 2 ? posA : posB;
                bool ok = j < n && pr >= 0 && kp <= pr && (window <= 0 || kp > pr - window);
                float v = ok ? s[nt][i] * scale2 : -INF_F;
                s[nt][i] = v;
                if (i < 2)
                    xA = fmaxf(xA, v);
                else
                    xB = fmaxf(xB, v);
            }
        xA = fmaxf(xA, __shfl_xor_sync(FULL_MASK, xA, 1));
        xA = fmaxf(xA, __shfl_xor_sync(FULL_MASK, xA, 2));
        xB = fmaxf(xB, __shfl_xor_sync(FULL_MASK, xB, 1));
        xB = fmaxf(xB, __shfl_xor_sync(FULL_MASK, xB, 2));
        float uA = xA == -INF_F ? 0.0f : xA, uB = xB == -INF_F ? 0.0f : xB;
        float cA = exp2f(mA - uA), cB = exp2f(mB - uB);
        mA = xA;
        mB = xB;
        lA *= cA;
        lB *= cB;
#pragma unroll
        for (int d = 0; d < HD / 8; d++) {
            o[d][0] *= cA;
            o[d][1] *= cA;
            o[d][2] *= cB;
            o[d][3] *= cB;
        }
#pragma unroll
        for (int nt = 0; nt < BN / 8; nt++) {
            s[nt][0] = exp2f(s[nt][0] - uA);
            s[nt][1] = exp2f(s[nt][1] - uA);
            s[nt][2] = exp2f(s[nt][2] - uB);
            s[nt][3] = exp2f(s[nt][3] - uB);
            lA += s[nt][0] + s[nt][1];
            lB += s[nt][2] + s[nt][3];
        }

        // O += P·V, P taken from the score registers as A fragments.
#pragma unroll
        for (int kk = 0; kk < BN / 16; kk++) {
            unsigned a0 = pack_bf16(s[2 * kk][0], s[2 * kk][1]);
            unsigned a1 = pack_bf16(s[2 * kk][2], s[2 * kk][3]);
            unsigned a2 = pack_bf16(s[2 * kk + 1][0], s[2 * kk + 1][1]);
            unsigned a3 = pack_bf16(s[2 * kk + 1][2], s[2 * kk + 1][3]);
#pragma unroll
            for (int d = 0; d < HD / 8; d += 2) {
                unsigned b[4];
                ldsm_x4_trans(b, tV + (kk * 16 + (lane & 15)) * LD + d * 8 + (lane >> 4) * 8);
                mma_16816<false>(o[d], a0, a1, a2, a3, b[0], b[1]);
                mma_16816<false>(o[d + 1], a0, a1, a2, a3, b[2], b[3]);
            }
        }
    }

    lA += __shfl_xor_sync(FULL_MASK, lA, 1);
    lA += __shfl_xor_sync(FULL_MASK, lA, 2);
    lB += __shfl_xor_sync(FULL_MASK, lB, 1);
    lB += __shfl_xor_sync(FULL_MASK, lB, 2);
#pragma unroll
    for (int half = 0; half < 2; half++) {
        int rho = half ? rhoB : rhoA;
        if (rho >= rows) continue;
        float inv = 1.0f / (half ? lB : lA);
        int t = rho / Hg, hh = rho - t * Hg;
        long long r = row + t;
        int c0 = (g * Hg + hh) * HD + 2 * tq;
#pragma unroll
        for (int d = 0; d < HD / 8; d++) {
            float v0 = o[d][2 * half] * inv, v1 = o[d][2 * half + 1] * inv;
            int c = c0 + d * 8;
            *(float2*)(dst + r * ldd + c) = make_float2(v0, v1);
            shadow(sh, ldsh, shkind, r, c, v0);
            shadow(sh, ldsh, shkind, r, c + 1, v1);
        }
    }
}

#define FLASH_KERNEL(name, hd, bn, minBlocks)                                                                                \
    extern "C" __global__ void __launch_bounds__(FA_WARPS * 32, minBlocks)                                                   \
        name(float* __restrict__ dst, int ldd, const float* __restrict__ q, int ldq, const u16* __restrict__ K,              \
             const u16* __restrict__ V, int ldkv, int n, int T, int Hg, int row, int P, int ctx, int window, float scale2,   \
             u16* __restrict__ sh, int ldsh, int shkind) { pdl_start();                                                                   \
        flash<hd, bn>(dst, ldd, q, ldq, K, V, ldkv, n, T, Hg, row, P, ctx, window, scale2, sh, ldsh, shkind);               \
    }

// k_flash<HD>_<BN>: head size HD, BN keys per tile.
FLASH_KERNEL(k_flash64_64, 64, 64, 3)
FLASH_KERNEL(k_flash128_64, 128, 64, 2)
FLASH_KERNEL(k_flash256_32, 256, 32, 1)
FLASH_KERNEL(k_flash256_64, 256, 64, 1)
