package cuda

import "github.com/sambaeval/sambaeval/kernels"

// The operations SambaY (Phi-4-mini-flash-reasoning) adds, in
// cu/sambay.cu.

// optMat passes m, or a null pointer and stride 0 when m has no buffer.
func (p *params) optMat(m kernels.Mat) {
	if m.Buf == nil {
		p.ptr(0)
		p.i32(0)
		return
	}
	p.mat(m)
}

// LayerNorm implements kernels.Backend.
func (b *Backend) LayerNorm(dst, x, w, bias kernels.Mat, eps float32) {
	if x.Rows == 0 {
		return
	}
	defer b.enter()()
	sh, ldsh, kind := b.shadowOut(dst)
	b.p.reset()
	b.p.mat(dst)
	b.p.mat(x)
	b.p.ptr(addr(w))
	b.p.ptr(addr(bias))
	b.p.i32(x.Rows)
	b.p.i32(x.Cols)
	b.p.f32(eps)
	b.p.shadow(sh, ldsh, kind)
	b.launch("k_layernorm", grid1(x.Rows, 1), dim3{256, 1, 1}, 0)
	b.produced(dst, sh != 0)
}

// AddBias implements kernels.Backend.
func (b *Backend) AddBias(dst, bias kernels.Mat) {
	if dst.Rows == 0 {
		return
	}
	defer b.enter()()
	b.p.reset()
	b.p.mat(dst)
	b.p.ptr(addr(bias))
	b.p.i32(dst.Rows)
	b.p.i32(dst.Cols)
	b.launch("k_add_bias", grid2(dst.Rows, dst.Cols, 256), dim3{256, 1, 1}, 0)
	b.produced(dst, false)
}

// AddScaled implements kernels.Backend.
func (b *Backend) AddScaled(dst, x kernels.Mat, alpha float32) {
	if x.Rows == 0 {
		return
	}
	defer b.enter()()
	b.p.reset()
	b.p.mat(dst)
	b.p.mat(x)
	b.p.i32(x.Rows)
	b.p.i32(x.Cols)
	b.p.f32(alpha)
	b.launch("k_add_scaled", grid2(x.Rows, x.Cols, 256), dim3{256, 1, 1}, 0)
	b.produced(dst, false)
}
