// Shared definitions for the sambaeval CUDA kernels. The sources are
// compiled at run time by NVRTC with no include path, so they use no
// headers: 16-bit floats are handled as raw bit patterns.

typedef unsigned short u16;
typedef unsigned long long u64;

// MAXSEQ is the most sequences one launch handles; the host splits larger
// batches. It must match maxSeq in the Go code.
#define MAXSEQ 64

// Seqs locates the sequences of a batch (kernels.Seq), passed by value.
struct Seqs {
    int n;
    int row[MAXSEQ];
    int len[MAXSEQ];
    int pos[MAXSEQ];
};

// seq_pos is the position of sequence s's first row: from dpos (device
// memory, written before each replay of a recorded decoding step) when
// given, else from the table passed by value.
__device__ __forceinline__ int seq_pos(const Seqs& seqs, const int* dpos, int s) { return dpos ? dpos[s] : seqs.pos[s]; }

// Ptrs holds one device pointer per sequence (its state buffers).
struct Ptrs {
    u64 p[MAXSEQ];
};

// Ints holds one int per sequence or row (cache capacities, token ids,
// targets).
struct Ints {
    int v[MAXSEQ];
};

// Element kinds of 16-bit or 32-bit data: KIND_F32 = 0, KIND_BF16 = 1,
// KIND_F16 = 2.
#define KIND_F32 0
#define KIND_BF16 1
#define KIND_F16 2

__device__ __forceinline__ float bf16_to_f32(u16 h) { return __uint_as_float(((unsigned)h) << 16); }

// f32_to_bf16 rounds to nearest even; NaN stays NaN (as dtype.F32ToBF16).
__device__ __forceinline__ u16 f32_to_bf16(float f) {
    unsigned u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (u16)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (u16)(u >> 16);
}

__device__ __forceinline__ float f16_to_f32(u16 h) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
}

__device__ __forceinline__ u16 f32_to_f16(float f) {
    u16 h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
}

__device__ __forceinline__ u16 to16(float f, int kind) { return kind == KIND_F16 ? f32_to_f16(f) : f32_to_bf16(f); }

__device__ __forceinline__ float from16(u16 h, int kind) { return kind == KIND_F16 ? f16_to_f32(h) : bf16_to_f32(h); }

// pack_bf16 rounds lo and hi to bf16 (nearest even, as f32_to_bf16) into
// one register, lo in the low half.
__device__ __forceinline__ unsigned pack_bf16(float lo, float hi) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    unsigned r;
    asm("cvt.rn.bf16x2.f32 %0, %2, %1;\n" : "=r"(r) : "f"(lo), "f"(hi));
    return r;
#else
    return (unsigned)f32_to_bf16(lo) | (unsigned)f32_to_bf16(hi) << 16;
#endif
}

// store writes v as element i of an array of the given kind.
__device__ __forceinline__ void store(void* p, long long i, float v, int kind) {
    if (kind == KIND_F32)
        ((float*)p)[i] = v;
    else
        ((u16*)p)[i] = to16(v, kind);
}

// load reads element i of an array of the given kind as float32.
__device__ __forceinline__ float load(const void* p, long long i, int kind) {
    return kind == KIND_F32 ? ((const float*)p)[i] : from16(((const u16*)p)[i], kind);
}

// elem_ptr is the address of element i of an array of the given kind.
__device__ __forceinline__ const void* elem_ptr(const void* p, long long i, int kind) {
    return kind == KIND_F32 ? (const void*)((const float*)p + i) : (const void*)((const u16*)p + i);
}

// shadow writes the 16-bit copy of an output element when the host asked
// for one (sh != 0): the next matrix product reading it skips a conversion.
__device__ __forceinline__ void shadow(u16* sh, int ldsh, int kind, long long r, int c, float v) {
    if (sh) sh[r * ldsh + c] = to16(v, kind);
}

__device__ __forceinline__ float silu(float x) { return x / (1.0f + expf(-x)); }

// softplus is PyTorch's, with threshold 20.
__device__ __forceinline__ float softplus(float x) { return x > 20.0f ? x : log1pf(expf(x)); }

#define FULL_MASK 0xffffffffu

// INF_F is +infinity (NVRTC has no math.h to define INFINITY).
#define INF_F __int_as_float(0x7f800000)

// Block reductions. blockDim.x must be a multiple of 32 and every thread of
// the block must call them; every thread gets the result. red needs 32
// elements of shared memory and may be reused by the next call.
__device__ __forceinline__ float block_sum(float v, float* red) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
    __syncthreads();
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = v;
    __syncthreads();
    float t = 0.0f;
    int nw = blockDim.x >> 5;
    for (int i = 0; i < nw; i++) t += red[i];
    return t;
}

// block_sum_d adds the warps' totals by a second butterfly within each
// warp (lane i holds warp i's total) rather than one by one: at 1024
// threads a loop over the 32 totals was a chain of dependent loads and adds
// on a decoding step's critical path (k_rmsnorm_reg1k). Every thread takes
// lane 0's sum, so all get the same bits.
__device__ __forceinline__ double block_sum_d(double v, double* red) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
    __syncthreads();
    const int lane = threadIdx.x & 31;
    if (lane == 0) red[threadIdx.x >> 5] = v;
    __syncthreads();
    double t = lane < (int)(blockDim.x >> 5) ? red[lane] : 0.0;
    for (int o = 16; o > 0; o >>= 1) t += __shfl_xor_sync(FULL_MASK, t, o);
    return __shfl_sync(FULL_MASK, t, 0);
}

// rms_finish adds the threads' sums of squares ss (block_sum_d) and
// returns 1/sqrt(ss/cols + eps); every thread of the block must call it.
__device__ __forceinline__ float rms_finish(double ss, int cols, float eps, double* red) {
    ss = block_sum_d(ss, red);
    return (float)(1.0 / sqrt(ss / (double)cols + (double)eps));
}

// rms_scale returns 1/sqrt(mean(x²) + eps) over the cols elements of row
// xr, the sum of squares taken in double as the reference does, in an order
// that depends only on cols and blockDim.x: thread t adds elements t,
// t + blockDim.x, … in turn (fma), then block_sum_d (k_rmsnorm's scale).
// Every thread of the block must call it.
__device__ __forceinline__ float rms_scale(const float* xr, int cols, float eps, double* red) {
    double ss = 0.0;
    const int n = blockDim.x;
    int c = threadIdx.x;
    // Four loads issued before their sums (the adds stay in order).
    for (; c + 3 * n < cols; c += 4 * n) {
        double a = xr[c], b = xr[c + n], d = xr[c + 2 * n], e = xr[c + 3 * n];
        ss = fma(a, a, ss);
        ss = fma(b, b, ss);
        ss = fma(d, d, ss);
        ss = fma(e, e, ss);
    }
    for (; c < cols; c += n) {
        double a = xr[c];
        ss = fma(a, a, ss);
    }
    return rms_finish(ss, cols, eps, red);
}

__device__ __forceinline__ float block_max(float v, float* red) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(FULL_MASK, v, o));
    __syncthreads();
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = v;
    __syncthreads();
    float t = red[0];
    int nw = blockDim.x >> 5;
    for (int i = 1; i < nw; i++) t = fmaxf(t, red[i]);
    return t;
}

// Programmatic dependent launch (sm_90): the backend may launch a kernel
// while the previous kernel of the stream is still running. Every kernel
// calls pdl_start() before touching memory: griddepcontrol.wait holds it
// until the previous kernel has completed and its writes are visible, and
// griddepcontrol.launch_dependents then lets the next kernel be scheduled
// once every block of this one has started, so that its launch latency
// overlaps this kernel's tail. Both are no-ops without the launch
// attribute and compile to nothing before sm_90.
//
// Compiled with -DSAMBAEVAL_TRACE (SAMBAEVAL_CUDA_TRACE=1, a diagnostic
// build), the first thread of block 0 also writes the time it passed the
// wait, with its grid and block sizes, to sambaeval_trace: kernel i passes
// it when kernel i-1 has completed, so consecutive times are how long each
// kernel held up the next one (TestDecodeBench's timeline).
#ifdef SAMBAEVAL_TRACE
#define TRACE_MAX 65536
__device__ unsigned long long sambaeval_trace[2 * TRACE_MAX];
__device__ unsigned int sambaeval_trace_n;
#endif
__device__ __forceinline__ void pdl_start() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#ifndef SAMBAEVAL_PDL_NO_TRIGGER
    asm volatile("griddepcontrol.launch_dependents;" :::);
#endif
#endif
#ifdef SAMBAEVAL_TRACE
    if ((blockIdx.x | blockIdx.y | blockIdx.z | threadIdx.x | threadIdx.y | threadIdx.z) == 0) {
        unsigned long long t;
        asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
        unsigned i = atomicAdd(&sambaeval_trace_n, 1u);
        if (i < TRACE_MAX) {
            sambaeval_trace[2 * i] = t;
            sambaeval_trace[2 * i + 1] = ((unsigned long long)gridDim.x << 32) | ((unsigned long long)gridDim.y << 16) | blockDim.x;
        }
    }
#endif
}

// Asynchronous 16-byte copies from global to shared memory (cp.async, sm_80
// and later: no registers, every copy of the block in flight at once; before
// sm_80 a copy through a register). cp_async_commit closes this thread's
// group of copies, cp_async_wait_upto waits for every group but the last n
// (the tiles being prefetched), cp_async_wait_all for all of them; a
// __syncthreads must follow before other threads read the copies.
__device__ __forceinline__ unsigned smem_addr(const void* p) {
    unsigned a;
    asm("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }" : "=r"(a) : "l"(p));
    return a;
}

__device__ __forceinline__ void cp_async16(void* dst, const void* __restrict__ src) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(smem_addr(dst)), "l"(src));
#else
    *(uint4*)dst = __ldg((const uint4*)src);
#endif
}

__device__ __forceinline__ void cp_async_commit() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}

// cp_async_wait_upto waits until at most n (0 … 3) of this thread's
// groups of copies are pending (the tiles being prefetched).
__device__ __forceinline__ void cp_async_wait_upto(int n) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    if (n <= 0)
        asm volatile("cp.async.wait_group 0;\n" ::: "memory");
    else if (n == 1)
        asm volatile("cp.async.wait_group 1;\n" ::: "memory");
    else if (n == 2)
        asm volatile("cp.async.wait_group 2;\n" ::: "memory");
    else
        asm volatile("cp.async.wait_group 3;\n" ::: "memory");
#endif
}

__device__ __forceinline__ void cp_async_wait_all() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.wait_all;\n" ::: "memory");
#endif
}
