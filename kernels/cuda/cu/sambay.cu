// Kernels of the SambaY (Phi-4-mini-flash-reasoning) operations: LayerNorm
// with a bias, a bias added to every row, and a scaled accumulation.

// k_layernorm: one block per row; mean and variance are taken in double as
// the reference takes them. dst may alias x.
extern "C" __global__ void k_layernorm(float* dst, int ldd, const float* x, int ldx, const float* __restrict__ w,
                                       const float* __restrict__ b, int rows, int cols, float eps, u16* __restrict__ sh,
                                       int ldsh, int shkind) {
    pdl_start();
    __shared__ double red[32];
    for (int r = blockIdx.x; r < rows; r += gridDim.x) {
        const float* xr = x + (long long)r * ldx;
        double s = 0.0;
        for (int c = threadIdx.x; c < cols; c += blockDim.x) s += (double)xr[c];
        double mean = block_sum_d(s, red) / (double)cols;
        double ss = 0.0;
        for (int c = threadIdx.x; c < cols; c += blockDim.x) {
            double d = (double)xr[c] - mean;
            ss += d * d;
        }
        double scale = 1.0 / sqrt(block_sum_d(ss, red) / (double)cols + (double)eps);
        float* dr = dst + (long long)r * ldd;
        for (int c = threadIdx.x; c < cols; c += blockDim.x) {
            float v = (float)(((double)xr[c] - mean) * scale) * w[c] + b[c];
            dr[c] = v;
            shadow(sh, ldsh, shkind, r, c, v);
        }
    }
}

// k_add_bias: dst[r] += bias for every row r.
extern "C" __global__ void k_add_bias(float* dst, int ldd, const float* __restrict__ bias, int rows, int cols) {
    pdl_start();
    for (int r = blockIdx.y; r < rows; r += gridDim.y)
        for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < cols; c += gridDim.x * blockDim.x)
            dst[(long long)r * ldd + c] += bias[c];
}

// k_add_scaled: dst += alpha * x.
extern "C" __global__ void k_add_scaled(float* dst, int ldd, const float* x, int ldx, int rows, int cols, float alpha) {
    pdl_start();
    for (int r = blockIdx.y; r < rows; r += gridDim.y)
        for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < cols; c += gridDim.x * blockDim.x)
            dst[(long long)r * ldd + c] += alpha * x[(long long)r * ldx + c];
}
