package model

import (
	"fmt"
	"math"
	"strings"

	"github.com/sambaeval/sambaeval/kernels"
)

// SambaY (Phi-4-mini-flash-reasoning; docs/sambay.md derives every step):
// the mixers this file adds to the forward pass are differential attention
// (sliding-window, full, and cross-attention over the full layer's keys and
// values) and the gated memory unit.
//
// Differential attention is composed from the backend's Attention. With H
// query heads and G key/value heads of size hd, the DIFF Transformer splits
// heads even/odd: q1 = heads 0, 2, …, q2 = heads 1, 3, …, and likewise k1,
// k2, v1, v2 from the key/value heads, then computes, per head i of the
// H/2 pairs, A1_i = softmax(q1_i·k1ᵀ)·[v1 | v2] and A2_i =
// softmax(q2_i·k2ᵀ)·[v1 | v2]. The same numbers come out of one Attention
// of H heads of size 2hd over G/2 key/value heads of size 2hd:
//
//	key/value head g  = [k_2g | k_2g+1] = [k1_g | k2_g], [v1_g | v2_g]
//	                    (the stored layout, unchanged)
//	query head 2i     = [q_2i | 0]   → scores q1_i·k1_g
//	query head 2i+1   = [0 | q_2i+1] → scores q2_i·k2_g
//
// with scale 1/sqrt(hd), and query head j mapped to key/value head
// j / (2H/G) as the pair's heads are in the reference. The zero halves
// come from zero rows put into the query projection at load time; the
// output's consecutive heads 2i, 2i+1 are A1_i, A2_i. Then
// out_i = subln(A1_i − λ·A2_i)·(1 − λ_init) on each 2hd-wide row, and
// out_proj. The key/value cache holds exactly k and v.

// diffAttnWeights holds a differential attention mixer's weights.
type diffAttnWeights struct {
	// qkv is Wqkv with each query head widened to 2hd by hd zero rows
	// (after even heads, before odd ones): [2H·hd + 2G·hd, D] rows
	// q', k, v for self-attention, [2H·hd, D] for cross-attention.
	qkv  kernels.Weight
	bias kernels.Mat    // [1, rows of qkv], zero where the rows are
	o    kernels.Weight // out_proj [D, H·hd]
	oB   kernels.Mat    // [1, D]
	// lambda is λ = exp(λ_q1·λ_k1) − exp(λ_q2·λ_k2) + λ_init.
	lambda float32
	subln  kernels.Mat // [1, 2hd]: subln's weight times (1 − λ_init)
}

// gmuWeights holds a gated memory unit's weights.
type gmuWeights struct {
	in  kernels.Weight // [E, D]
	out kernels.Weight // [D, E]
}

// sambayWorkspace holds the activations of the SambaY mixers.
type sambayWorkspace struct {
	qkv       kernels.Mat // [M, 2H·hd + 2G·hd]: q', k, v of a self-attention mixer, q' of a cross one
	qkvShared kernels.Mat // the same for the mixer whose keys and values the cross-attention reads
	att       kernels.Mat // [M, 2H·hd]: the composite heads' outputs, A1_i and A2_i side by side
	diff      kernels.Mat // [M, H·hd]
	mem       kernels.Mat // [M, E]: the GMUs' memory
}

// lambdaInit is the DIFF Transformer's λ_init for the block with index
// depth (counted from 0 over all blocks, as ArchScale's and vLLM's
// lambda_init_fn(layer_idx)).
func lambdaInit(depth int) float64 { return 0.8 - 0.6*math.Exp(-0.3*float64(depth)) }

// sambayWorkspace allocates the SambaY buffers of a workspace of n rows
// when the layout has SambaY mixers.
func (m *Model) sambayWorkspace(ws *workspace, n int, mat func(rows, cols int) kernels.Mat) {
	c := &m.Config
	H, G, hd := c.NHead, c.NQueryGroups, c.HeadSize
	var diff, memory bool
	for _, b := range m.layout {
		for _, mx := range b.Mixers {
			diff = diff || mx.Differential
			memory = memory || mx.Memory || mx.Kind == GMU
		}
	}
	sw := &ws.sambay
	if diff {
		w := 2*H*hd + 2*G*hd
		sw.qkv, sw.qkvShared = mat(n, w), mat(n, w)
		sw.att, sw.diff = mat(n, 2*H*hd), mat(n, H*hd)
	}
	if memory {
		sw.mem = mat(n, c.DInner())
	}
}

// diffAttention adds a differential attention mixer's output to the
// residual x: self-attention over its own cache (sliding-window or full),
// or cross-attention over the keys and values of the mixer at kvSlot.
func (m *Model) diffAttention(mx *mixer, st *pass, x, h kernels.Mat) {
	c, be, w, M := &m.Config, m.be, mx.diff, st.M
	H, G, hd := c.NHead, c.NQueryGroups, c.HeadSize
	qw := 2 * H * hd
	buf := st.ws.sambay.qkv
	if mx.sharesKV {
		buf = st.ws.sambay.qkvShared // kept for the cross-attention mixers
	}
	qkv := rows(buf, M).ColSlice(0, w.qkv.Rows())
	be.MatMul(qkv, h, w.qkv, false) // [q' | k | v] = Wqkv h + b
	be.AddBias(qkv, w.bias)
	q := qkv.ColSlice(0, qw)
	slot := mx.slot
	var k, v kernels.Mat
	if mx.Kind == CrossAttention {
		k, v, slot = st.sharedK, st.sharedV, mx.kvSlot
	} else {
		k, v = qkv.ColSlice(qw, qw+G*hd), qkv.ColSlice(qw+G*hd, qw+2*G*hd)
		if mx.sharesKV {
			st.sharedK, st.sharedV = k, v
		}
	}
	caches := make([]*kernels.KVCache, len(st.states))
	for j, s := range st.states {
		caches[j] = s.kv[slot]
	}
	// A cross-attention mixer stores the shared keys and values into the
	// shared (full, never wrapping) cache again, unchanged.
	att := rows(st.ws.sambay.att, M)
	shape := kernels.AttnShape{NHead: H, NKV: G / 2, HeadDim: 2 * hd, Window: mx.Window, Scale: float32(1 / math.Sqrt(float64(hd)))}
	be.Attention(att, q, k, v, shape, caches, st.seqs)
	// Rows of 4hd: [A1_i | A2_i] for every pair i of every token.
	pairs := kernels.NewMat(att.Buf, M*H/2, 4*hd)
	a1 := pairs.ColSlice(0, 2*hd)
	be.AddScaled(a1, pairs.ColSlice(2*hd, 4*hd), -w.lambda) // A1 − λ·A2
	d := kernels.NewMat(st.ws.sambay.diff.Buf, M*H/2, 2*hd)
	be.RMSNorm(d, a1, w.subln, 1e-5) // subln(·)·(1 − λ_init)
	be.MatMul(x, kernels.NewMat(d.Buf, M, H*hd), w.o, true)
	be.AddBias(x, w.oB) // x += out_proj(·) + b
}

// gmuMix adds a gated memory unit's output to the residual x:
// x += out_proj(memory ⊙ SiLU(in_proj(h))).
func (m *Model) gmuMix(mx *mixer, st *pass, x, h kernels.Mat) {
	be, w, M := m.be, mx.gmu, st.M
	g := rows(st.ws.y, M) // the Mamba mixers' y is free here
	be.MatMul(g, h, w.in, false)
	be.SwiGLU(g, g, rows(st.ws.sambay.mem, M))
	be.MatMul(x, g, w.out, true)
}

// norm binds an RMSNorm weight, or for LayerNorm configs the weight and
// the bias beside it.
func (b *binder) norm(name string, c *Config) (norm, error) {
	w, err := b.vec(name, initOnes, 1, c.NEmbd)
	if err != nil || c.NormClass != "LayerNorm" {
		return norm{w: w}, err
	}
	bias, err := b.vec(strings.TrimSuffix(name, "weight")+"bias", initZeros, 1, c.NEmbd)
	return norm{w, bias}, err
}

// gmu binds a gated memory unit: attn.in_proj and attn.out_proj.
func (b *binder) gmu(p string, c *Config) (*gmuWeights, error) {
	D, E := c.NEmbd, c.DInner()
	g := &gmuWeights{}
	var err error
	if g.in, err = b.weight(p+"in_proj.weight", initNormal, E, D); err != nil {
		return nil, err
	}
	g.out, err = b.weight(p+"out_proj.weight", initOut, D, E)
	return g, err
}

// diffAttention binds a differential attention mixer of block depth:
// Wqkv (rows [Q | K | V], or Q alone for cross-attention) with its bias,
// out_proj with its bias, and inner_cross_attn's λ vectors and subln.
func (b *binder) diffAttention(p string, c *Config, depth int, cross bool) (*diffAttnWeights, error) {
	D, H, G, hd := c.NEmbd, c.NHead, c.NQueryGroups, c.HeadSize
	rows := (H + 2*G) * hd
	if cross {
		rows = H * hd
	}
	a := &diffAttnWeights{}
	wt, err := b.tensor(p+"Wqkv.weight", initNormal, rows, D)
	if err != nil {
		return nil, err
	}
	bt, err := b.tensor(p+"Wqkv.bias", initZeros, rows)
	if err != nil {
		return nil, err
	}
	if a.o, err = b.weight(p+"out_proj.weight", initOut, D, H*hd); err != nil {
		return nil, err
	}
	if a.oB, err = b.vec(p+"out_proj.bias", initZeros, 1, D); err != nil {
		return nil, err
	}
	inner := p + "inner_cross_attn."
	var lam [4][]float32
	for i, n := range []string{"lambda_q1", "lambda_k1", "lambda_q2", "lambda_k2"} {
		t, err := b.tensor(inner+n, initLambda, hd)
		if err != nil {
			return nil, err
		}
		if b.loading() {
			if lam[i], err = t.Float32s(); err != nil {
				return nil, err
			}
		}
	}
	st, err := b.tensor(inner+"subln.weight", initOnes, 2*hd)
	if err != nil || !b.loading() {
		return a, err
	}

	// Widen the query rows: head j's hd rows, then hd zero rows for even
	// j; hd zero rows, then the head's rows for odd j.
	rowBytes := D * wt.DType.Size()
	raw := make([]byte, (2*H*hd+rows-H*hd)*rowBytes)
	bias, err := bt.Float32s()
	if err != nil {
		return nil, err
	}
	wb := make([]float32, 2*H*hd+rows-H*hd)
	for j := 0; j < H; j++ {
		dst := (2*j + j%2) * hd // first row of head j in q'
		copy(raw[dst*rowBytes:(dst+hd)*rowBytes], wt.Data[j*hd*rowBytes:(j+1)*hd*rowBytes])
		copy(wb[dst:dst+hd], bias[j*hd:(j+1)*hd])
	}
	copy(raw[2*H*hd*rowBytes:], wt.Data[H*hd*rowBytes:]) // k, v
	copy(wb[2*H*hd:], bias[H*hd:])
	if a.qkv, err = b.be.LoadWeight(wt.DType, len(wb), D, raw); err != nil {
		return nil, fmt.Errorf("tensor %s: %w", wt.Name, err)
	}
	a.bias = b.upload(wb, 1)

	var s1, s2 float64
	for i := range lam[0] {
		s1 += float64(lam[0][i]) * float64(lam[1][i])
		s2 += float64(lam[2][i]) * float64(lam[3][i])
	}
	li := lambdaInit(depth)
	a.lambda = float32(math.Exp(s1) - math.Exp(s2) + li)
	sub, err := st.Float32s()
	if err != nil {
		return nil, err
	}
	for i := range sub {
		sub[i] *= float32(1 - li)
	}
	a.subln = b.upload(sub, 1)
	return a, nil
}

// sambayMixer binds the weights of a SambaY mixer of block depth: a GMU
// or differential (self- or cross-) attention.
func (b *binder) sambayMixer(mx *mixer, p string, c *Config, depth int) error {
	var err error
	switch {
	case mx.Kind == GMU:
		mx.gmu, err = b.gmu(p, c)
	case !mx.Differential:
		err = fmt.Errorf("block %d: cross-attention without differential attention is not supported", depth)
	default:
		mx.diff, err = b.diffAttention(p, c, depth, mx.Kind == CrossAttention)
	}
	return err
}

// linkCrossAttention points every cross-attention mixer at the cache of
// the last full-attention mixer before it.
func (m *Model) linkCrossAttention() error {
	var full *mixer
	for i, blk := range m.blocks {
		for _, mx := range blk.mixers {
			switch {
			case mx.Kind == Attention && mx.Window == 0:
				full = mx
			case mx.Kind == CrossAttention && full == nil:
				return fmt.Errorf("block %d: cross-attention with no full-attention block before it", i)
			case mx.Kind == CrossAttention:
				full.sharesKV = true
				mx.kvSlot = full.slot
			}
		}
	}
	return nil
}

// phi4FlashMLP binds Phi4FlashForCausalLM's MLP: fc1 [2F, D] whose first
// F rows give the gate and the last F the up projection, and fc2.
func (b *binder) phi4FlashMLP(p string, c *Config, F int) (*swiglu, error) {
	s := &swiglu{}
	t, err := b.tensor(p+"fc1.weight", initNormal, 2*F, c.NEmbd)
	if err != nil {
		return nil, err
	}
	if s.gate, err = b.rowRange(t, 0, F); err != nil {
		return nil, err
	}
	if s.up, err = b.rowRange(t, F, 2*F); err != nil {
		return nil, err
	}
	s.down, err = b.weight(p+"fc2.weight", initOut, c.NEmbd, F)
	return s, err
}

// phi4FlashNames are Phi4FlashForCausalLM's tensor names.
var phi4FlashNames = names{"model.embed_tokens.weight", "model.final_layernorm.weight", "lm_head.weight", "model.layers.%d."}
