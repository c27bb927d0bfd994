package cpu

import "github.com/sambaeval/sambaeval/kernels"

// The kernels.Backend operations: the reference loops for ImplReference,
// the fast path otherwise.

// Embed implements kernels.Backend.
func (b *Backend) Embed(dst kernels.Mat, table kernels.Weight, ids []int32) {
	b.refEmbed(dst, table, ids)
}

// RMSNorm implements kernels.Backend.
func (b *Backend) RMSNorm(dst, x, w kernels.Mat, eps float32) {
	if b.k == nil {
		b.refRMSNorm(dst, x, w, eps)
		return
	}
	b.rmsNorm(dst, x, w, eps)
}

// MatMul implements kernels.Backend.
func (b *Backend) MatMul(dst, x kernels.Mat, w kernels.Weight, accumulate bool) {
	if b.k == nil {
		b.refMatMul(dst, x, w.(*Weight), accumulate)
		return
	}
	b.matMul(dst, x, w.(*Weight), accumulate)
}

// Add implements kernels.Backend.
func (b *Backend) Add(dst, x kernels.Mat) {
	if b.k == nil {
		b.refAdd(dst, x)
		return
	}
	b.add(dst, x)
}

// SwiGLU implements kernels.Backend.
func (b *Backend) SwiGLU(dst, gate, up kernels.Mat) {
	if b.k == nil {
		b.refSwiGLU(dst, gate, up)
		return
	}
	b.swiGLU(dst, gate, up)
}

// MambaConv implements kernels.Backend.
func (b *Backend) MambaConv(dst, x, weight, bias kernels.Mat, states []*kernels.MambaState, seqs []kernels.Seq) {
	if b.k == nil {
		b.refMambaConv(dst, x, weight, bias, states, seqs)
		return
	}
	b.mambaConv(dst, x, weight, bias, states, seqs)
}

// SelectiveScan implements kernels.Backend.
func (b *Backend) SelectiveScan(dst, u, delta, B, C, z kernels.Mat, p kernels.ScanParams, states []*kernels.MambaState, seqs []kernels.Seq) {
	// The fast kernels always gate; the ungated scan (SambaY's one memory
	// layer) takes the reference.
	if b.k == nil || z.Buf == nil {
		b.refSelectiveScan(dst, u, delta, B, C, z, p, states, seqs)
		return
	}
	b.selectiveScan(dst, u, delta, B, C, z, p, states, seqs)
}

// RoPE implements kernels.Backend.
func (b *Backend) RoPE(x kernels.Mat, nHeads, headDim int, base float64, seqs []kernels.Seq) {
	b.refRoPE(x, nHeads, headDim, base, seqs)
}

// Attention implements kernels.Backend.
func (b *Backend) Attention(dst, q, k, v kernels.Mat, shape kernels.AttnShape, caches []*kernels.KVCache, seqs []kernels.Seq) {
	if b.k == nil || shape.HeadDim > len(zeroRow) {
		b.refAttention(dst, q, k, v, shape, caches, seqs)
		return
	}
	b.attention(dst, q, k, v, shape, caches, seqs)
}

// LogProbs implements kernels.Backend.
func (b *Backend) LogProbs(out []kernels.TokenScore, logits kernels.Mat, targets []int32) {
	if b.k == nil {
		b.refLogProbs(out, logits, targets)
		return
	}
	b.logProbs(out, logits, targets)
}
