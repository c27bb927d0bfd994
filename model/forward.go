package model

import (
	"fmt"
	"math"
	"sync/atomic"

	"github.com/sambaeval/sambaeval/checkpoint"
	"github.com/sambaeval/sambaeval/kernels"
	"github.com/sambaeval/sambaeval/tokenizer"
)

// Model is a loaded model on one backend: Samba or any layout of Mamba,
// attention and MLP blocks that Config.Blocks describes, or SambaY
// (sambay.go).
//
// The forward pass (paper §2; architecture reference §1): x = wte[ids];
// per block, for each of its mixers x += mixer(RMSNorm(x)), then, when the
// block has one, x += MLP(RMSNorm(x)); logits = RMSNorm(x)·headᵀ (SambaY:
// LayerNorm with a bias in place of every RMSNorm). The residual stream x
// stays float32 throughout.
type Model struct {
	Config Config
	// Tokenizer is the model's tokenizer (set by Open).
	Tokenizer tokenizer.Interface
	// Info says where the model came from (set by Open).
	Info *Info
	// AllowLongContext lets a model with full attention run sequences
	// longer than its trained context (Config.BlockSize), which it
	// otherwise refuses. Its key/value cache grows with the sequence.
	AllowLongContext bool

	be     kernels.Backend
	layout []Block

	wte, head kernels.Weight // [V, D]; head is wte when tied
	lnF       norm
	blocks    []*block
	slots     int // mixers in the model: each keeps its own state

	ws     *workspace
	tokens atomic.Int64
	src    checkpoint.Source // closed by Close
}

// block holds one block's weights.
type block struct {
	mixers  []*mixer
	mlpNorm norm
	mlp     *swiglu // nil when the block has no MLP
}

// norm is an RMSNorm weight, or a LayerNorm weight and bias.
type norm struct {
	w, b kernels.Mat // [1, D]; b has no buffer for RMSNorm
}

// mixer holds one token mixer's weights.
type mixer struct {
	Mixer
	norm  norm
	slot  int // index of this mixer's state in State
	mamba *mambaWeights
	attn  *attnWeights
	mlp   *swiglu // Kind == MLP
	diff  *diffAttnWeights
	gmu   *gmuWeights
	// kvSlot is the state slot whose keys and values a cross-attention
	// mixer reads; sharesKV marks the attention mixer that provides them.
	kvSlot   int
	sharesKV bool
}

// mambaWeights holds a Mamba-1 mixer's weights.
type mambaWeights struct {
	inProj  kernels.Weight // [2E, D] → [x | z]
	convW   kernels.Mat    // [E, K]
	convB   kernels.Mat    // [1, E]
	xProj   kernels.Weight // [R+2N, E] → [δ | B | C]
	dtProj  kernels.Weight // [E, R]
	scan    kernels.ScanParams
	outProj kernels.Weight // [D, E]
}

// attnWeights holds a causal self-attention mixer's weights.
type attnWeights struct {
	qkv kernels.Weight // [(H+2G)·hd, D]: the H query heads, then G key heads, then G value heads
	o   kernels.Weight // [D, H·hd]
}

// swiglu holds a SwiGLU MLP's weights: down(SiLU(gate·x) ⊙ up·x).
type swiglu struct {
	gate, up kernels.Weight // [F, D]
	down     kernels.Weight // [D, F]
}

// New loads a model with configuration cfg from the tensors in src onto be.
// Every tensor is checked against the shape cfg implies before any compute.
func New(cfg *Config, src checkpoint.Source, be kernels.Backend) (_ *Model, err error) {
	defer kernels.Catch(&err) // the device out of memory while uploading
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	layout, err := cfg.Blocks()
	if err != nil {
		return nil, err
	}
	m := &Model{Config: *cfg, be: be, layout: layout}
	if err := m.load(&binder{src: src, be: be, used: map[string]bool{}}); err != nil {
		return nil, err
	}
	return m, nil
}

// Backend returns the backend the model runs on.
func (m *Model) Backend() kernels.Backend { return m.be }

// Layout returns the block structure.
func (m *Model) Layout() []Block { return m.layout }

// headRows bounds how many rows of logits exist at once.
const headRows = 64

// workspace holds the activations of one forward step of up to cap rows.
type workspace struct {
	cap             int
	x, h            kernels.Mat // [M, D] residual stream, normed input
	xz, u, delta, y kernels.Mat // Mamba: [M, 2E], [M, E] ×3
	dbc             kernels.Mat // [M, R+2N]
	qkv, att        kernels.Mat // attention: [M, (H+2G)·hd] (q | k | v), [M, H·hd]
	gate, up        kernels.Mat // MLP: [M, F] ×2 (F the widest MLP)
	sambay          sambayWorkspace
	logits          kernels.Mat // [headRows, V]
	headIn          kernels.Mat // [headRows, D]: rows gathered for the head
	bufs            []kernels.Buffer
}

func (m *Model) workspace(rows int) *workspace {
	if m.ws != nil && m.ws.cap >= rows {
		return m.ws
	}
	if m.ws != nil {
		for _, b := range m.ws.bufs {
			m.be.Free(b)
		}
	}
	c := &m.Config
	n := max(rows, 16)
	ws := &workspace{cap: n}
	mat := func(r, cols int) kernels.Mat {
		b := m.be.Alloc(r * cols)
		ws.bufs = append(ws.bufs, b)
		return kernels.NewMat(b, r, cols)
	}
	D, E := c.NEmbd, c.DInner()
	ws.x, ws.h = mat(n, D), mat(n, D)
	ws.logits = mat(headRows, c.PaddedVocabSize)
	ws.headIn = mat(headRows, D)
	F := 0
	for _, b := range m.layout {
		if b.MLP {
			F = max(F, c.IntermediateSize)
		}
		for _, mx := range b.Mixers {
			switch {
			case mx.Kind == Mamba && ws.xz.Buf == nil:
				ws.xz, ws.u, ws.delta, ws.y = mat(n, 2*E), mat(n, E), mat(n, E), mat(n, E)
				ws.dbc = mat(n, c.MambaDtRank+2*c.MambaDState)
			case mx.Kind == Attention && !mx.Differential && ws.qkv.Buf == nil:
				H, G, hd := c.NHead, c.NQueryGroups, c.HeadSize
				ws.qkv, ws.att = mat(n, (H+2*G)*hd), mat(n, H*hd)
			case mx.Kind == MLP:
				F = max(F, mx.Hidden)
			}
		}
	}
	if F > 0 {
		ws.gate, ws.up = mat(n, F), mat(n, F)
	}
	m.sambayWorkspace(ws, n, mat)
	m.ws = ws
	return ws
}

// rows views the first M rows of a workspace matrix.
func rows(x kernels.Mat, M int) kernels.Mat { return x.RowSlice(0, M) }

// pass is what one forward pass works on: the batch's new tokens back to
// back, which rows belong to which sequence, and the sequences' states.
type pass struct {
	ws     *workspace
	M      int
	seqs   []kernels.Seq
	states []*State
	// sharedK and sharedV are the chunk's keys and values of the
	// attention mixer whose cache the cross-attention mixers read.
	sharedK, sharedV kernels.Mat
}

// forward runs the blocks over one batch: ids holds every sequence's new
// tokens back to back, seqs says which rows belong to which state. It
// leaves RMSNorm_f(x) in the returned [M, D] matrix.
func (m *Model) forward(ids []int32, seqs []kernels.Seq, states []*State) kernels.Mat {
	c, be := &m.Config, m.be
	M := len(ids)
	st := &pass{ws: m.workspace(M), M: M, seqs: seqs, states: states}
	x, h := rows(st.ws.x, M), rows(st.ws.h, M)
	eps := float32(c.NormEps)

	be.Embed(x, m.wte, ids) // x = wte[ids], no scaling
	for _, blk := range m.blocks {
		for _, mx := range blk.mixers {
			// x = x + mixer(Norm(x))
			m.normalize(h, x, mx.norm, eps)
			switch {
			case mx.Kind == Mamba:
				m.mamba(mx, st, x, h)
			case mx.diff != nil:
				m.diffAttention(mx, st, x, h)
			case mx.Kind == Attention:
				m.attention(mx, st, x, h)
			case mx.Kind == MLP:
				m.mlp(mx.mlp, st, x, h)
			case mx.Kind == GMU:
				m.gmuMix(mx, st, x, h)
			}
		}
		if blk.mlp != nil {
			// x = x + MLP(Norm(x))
			m.normalize(h, x, blk.mlpNorm, eps)
			m.mlp(blk.mlp, st, x, h)
		}
	}
	m.normalize(h, x, m.lnF, eps)
	return h
}

// normalize sets dst = RMSNorm(x), or LayerNorm(x) when n has a bias.
func (m *Model) normalize(dst, x kernels.Mat, n norm, eps float32) {
	if n.b.Buf != nil {
		m.be.LayerNorm(dst, x, n.w, n.b, eps)
		return
	}
	m.be.RMSNorm(dst, x, n.w, eps)
}

// mamba adds the Mamba-1 mixer's output to the residual x.
func (m *Model) mamba(mx *mixer, st *pass, x, h kernels.Mat) {
	c, be, w, M := &m.Config, m.be, mx.mamba, st.M
	E, R, N := c.DInner(), c.MambaDtRank, c.MambaDState
	ss := make([]*kernels.MambaState, len(st.states))
	for j, s := range st.states {
		ss[j] = s.mamba[mx.slot]
	}
	xz := rows(st.ws.xz, M)
	be.MatMul(xz, h, w.inProj, false) // [x | z] = in_proj(h)
	xin, z := xz.ColSlice(0, E), xz.ColSlice(E, 2*E)
	u := rows(st.ws.u, M)
	be.MambaConv(u, xin, w.convW, w.convB, ss, st.seqs) // u = SiLU(conv1d(x) + b)
	dbc := rows(st.ws.dbc, M)
	be.MatMul(dbc, u, w.xProj, false) // [δ | B | C] = x_proj(u)
	y := rows(st.ws.y, M)
	B, C := dbc.ColSlice(R, R+N), dbc.ColSlice(R+N, R+2*N)
	// scan runs the selective scan with Δ = W_dt δ (its bias added in the
	// scan): dt_proj inside the scan where the backend can (decoding).
	scan := func(dst, z kernels.Mat) {
		if d, ok := be.(kernels.DeltaScan); ok && d.SelectiveScanDelta(dst, u, dbc.ColSlice(0, R), w.dtProj, B, C, z, w.scan, ss, st.seqs) {
			return
		}
		delta := rows(st.ws.delta, M)
		be.MatMul(delta, dbc.ColSlice(0, R), w.dtProj, false)
		be.SelectiveScan(dst, u, delta, B, C, z, w.scan, ss, st.seqs)
	}
	if mx.Memory {
		// SambaY: the ungated y is the GMUs' memory; gate it separately.
		mem := rows(st.ws.sambay.mem, M)
		scan(mem, kernels.Mat{})
		be.SwiGLU(y, z, mem)
	} else {
		scan(y, z)
	}
	be.MatMul(x, y, w.outProj, true) // x += out_proj(y ⊙ SiLU(z))
}

// attention adds the causal (sliding-window or full) attention mixer's
// output to the residual x.
func (m *Model) attention(mx *mixer, st *pass, x, h kernels.Mat) {
	c, be, w, M := &m.Config, m.be, mx.attn, st.M
	H, G, hd := c.NHead, c.NQueryGroups, c.HeadSize
	caches := make([]*kernels.KVCache, len(st.states))
	for j, s := range st.states {
		caches[j] = s.kv[mx.slot]
	}
	// One product for the three projections: [q | k | v] = W_qkv h.
	qkv := rows(st.ws.qkv, M)
	be.MatMul(qkv, h, w.qkv, false)
	q, k, v := qkv.ColSlice(0, H*hd), qkv.ColSlice(H*hd, (H+G)*hd), qkv.ColSlice((H+G)*hd, (H+2*G)*hd)
	if !c.NoPE {
		// The key heads follow the query heads: one rotation covers both.
		be.RoPE(qkv.ColSlice(0, (H+G)*hd), H+G, hd, c.RopeBase, st.seqs)
	}
	att := rows(st.ws.att, M)
	shape := kernels.AttnShape{NHead: H, NKV: G, HeadDim: hd, Window: mx.Window, Scale: float32(1 / math.Sqrt(float64(hd)))}
	be.Attention(att, q, k, v, shape, caches, st.seqs)
	be.MatMul(x, att, w.o, true) // x += W_o att
}

// mlp adds a SwiGLU MLP's output to the residual x:
// x += down(SiLU(gate·h) ⊙ up·h).
func (m *Model) mlp(w *swiglu, st *pass, x, h kernels.Mat) {
	be, M, F := m.be, st.M, w.gate.Rows()
	// Contiguous [M, F] views: the workspace is as wide as the widest MLP.
	gate, up := kernels.NewMat(st.ws.gate.Buf, M, F), kernels.NewMat(st.ws.up.Buf, M, F)
	if m.fusedMLP(x, h, gate, w) {
		return
	}
	if !m.gatedMLP(gate, h, w) {
		be.MatMul(gate, h, w.gate, false)
		be.MatMul(up, h, w.up, false)
		be.SwiGLU(gate, gate, up)
	}
	be.MatMul(x, gate, w.down, true)
}

// String describes the model briefly.
func (m *Model) String() string {
	c := &m.Config
	return fmt.Sprintf("%s (%s, %d blocks, d_model %d, %.1fM parameters) on %s", c.Name, c.Arch(), c.NLayer, c.NEmbd, float64(c.ParamCount())/1e6, m.be.Name())
}
