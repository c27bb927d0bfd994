package model

import (
	"fmt"
	"math"
	"sync/atomic"

	"github.com/sambaeval/sambaeval/checkpoint"
	"github.com/sambaeval/sambaeval/kernels"
	"github.com/sambaeval/sambaeval/tokenizer"
)

// Model is a loaded Samba model on one backend.
//
// The forward pass (paper §2; architecture reference §1): x = wte[ids];
// per block x += mixer(RMSNorm(x)); x += MLP(RMSNorm(x)); logits =
// RMSNorm(x)·wteᵀ. The residual stream x stays float32 throughout.
type Model struct {
	Config Config
	// Tokenizer is the model's tokenizer (set by Open).
	Tokenizer *tokenizer.Tokenizer
	// Info says where the model came from (set by Open).
	Info *Info

	be     kernels.Backend
	layout []Block

	wte, head kernels.Weight // [V, D]; head is wte when tied
	lnF       kernels.Mat    // [1, D]
	blocks    []*block

	ws     *workspace
	tokens atomic.Int64
	src    checkpoint.Source // closed by Close
}

// block holds one block's weights.
type block struct {
	Block
	norm1, norm2 kernels.Mat    // [1, D]
	mamba        *mambaMixer    // when Mixer == Mamba
	attn         *attention     // when Mixer == Attention
	w1, w2, w3   kernels.Weight // SwiGLU: w3(SiLU(w1 x) ⊙ w2 x)
}

// mambaMixer holds a Mamba-1 mixer's weights.
type mambaMixer struct {
	inProj  kernels.Weight // [2E, D] → [x | z]
	convW   kernels.Mat    // [E, K]
	convB   kernels.Mat    // [1, E]
	xProj   kernels.Weight // [R+2N, E] → [δ | B | C]
	dtProj  kernels.Weight // [E, R]
	scan    kernels.ScanParams
	outProj kernels.Weight // [D, E]
}

// attention holds a causal self-attention mixer's weights.
type attention struct {
	qkv  kernels.Weight // [(H+2G)·hd, D], rows as [q heads | k heads | v heads]
	proj kernels.Weight // [D, H·hd]
}

// New loads a model with configuration cfg from the tensors in src onto be.
// Every tensor is checked against the shape cfg implies before any compute.
func New(cfg *Config, src checkpoint.Source, be kernels.Backend) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	layout, err := cfg.Blocks()
	if err != nil {
		return nil, err
	}
	m := &Model{Config: *cfg, be: be, layout: layout}
	if err := m.load(src); err != nil {
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
	qkv, att        kernels.Mat // attention: [M, (H+2G)·hd], [M, H·hd]
	gate, up        kernels.Mat // MLP: [M, F] ×2
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
	ws.gate, ws.up = mat(n, c.IntermediateSize), mat(n, c.IntermediateSize)
	ws.logits = mat(headRows, c.PaddedVocabSize)
	ws.headIn = mat(headRows, D)
	for _, b := range m.layout {
		if b.Mixer == Mamba && ws.xz.Buf == nil {
			ws.xz, ws.u, ws.delta, ws.y = mat(n, 2*E), mat(n, E), mat(n, E), mat(n, E)
			ws.dbc = mat(n, c.MambaDtRank+2*c.MambaDState)
		}
		if b.Mixer == Attention && ws.qkv.Buf == nil {
			ws.qkv, ws.att = mat(n, c.QKVRows()), mat(n, c.NHead*c.HeadSize)
		}
	}
	m.ws = ws
	return ws
}

// rows views the first M rows of a workspace matrix.
func rows(x kernels.Mat, M int) kernels.Mat { return x.RowSlice(0, M) }

// forward runs the blocks over one batch: ids holds every sequence's new
// tokens back to back, seqs says which rows belong to which state. It
// leaves RMSNorm_f(x) in the returned [M, D] matrix.
func (m *Model) forward(ids []int32, seqs []kernels.Seq, states []*State) kernels.Mat {
	c, be := &m.Config, m.be
	M := len(ids)
	ws := m.workspace(M)
	x, h := rows(ws.x, M), rows(ws.h, M)
	eps := float32(c.NormEps)

	be.Embed(x, m.wte, ids) // x = wte[ids], no scaling
	for i, blk := range m.blocks {
		// x = x + mixer(RMSNorm(x))
		be.RMSNorm(h, x, blk.norm1, eps)
		if blk.Mixer == Mamba {
			m.mamba(blk.mamba, ws, x, h, M, i, seqs, states)
		} else {
			m.attention(blk, ws, x, h, M, i, seqs, states)
		}
		// x = x + w3(SiLU(w1·RMSNorm(x)) ⊙ w2·RMSNorm(x))
		be.RMSNorm(h, x, blk.norm2, eps)
		gate, up := rows(ws.gate, M), rows(ws.up, M)
		be.MatMul(gate, h, blk.w1, false)
		be.MatMul(up, h, blk.w2, false)
		be.SwiGLU(gate, gate, up)
		be.MatMul(x, gate, blk.w3, true)
	}
	be.RMSNorm(h, x, m.lnF, eps)
	return h
}

// mamba adds the Mamba-1 mixer's output for block i to the residual x.
func (m *Model) mamba(mx *mambaMixer, ws *workspace, x, h kernels.Mat, M, i int, seqs []kernels.Seq, states []*State) {
	c, be := &m.Config, m.be
	E, R, N := c.DInner(), c.MambaDtRank, c.MambaDState
	st := make([]*kernels.MambaState, len(states))
	for j, s := range states {
		st[j] = s.mamba[i]
	}
	xz := rows(ws.xz, M)
	be.MatMul(xz, h, mx.inProj, false) // [x | z] = in_proj(h)
	xin, z := xz.ColSlice(0, E), xz.ColSlice(E, 2*E)
	u := rows(ws.u, M)
	be.MambaConv(u, xin, mx.convW, mx.convB, st, seqs) // u = SiLU(conv1d(x) + b)
	dbc := rows(ws.dbc, M)
	be.MatMul(dbc, u, mx.xProj, false) // [δ | B | C] = x_proj(u)
	delta := rows(ws.delta, M)
	be.MatMul(delta, dbc.ColSlice(0, R), mx.dtProj, false) // W_dt δ (bias added in the scan)
	y := rows(ws.y, M)
	be.SelectiveScan(y, u, delta, dbc.ColSlice(R, R+N), dbc.ColSlice(R+N, R+2*N), z, mx.scan, st, seqs)
	be.MatMul(x, y, mx.outProj, true) // x += out_proj(y ⊙ SiLU(z))
}

// attention adds the (sliding-window) attention mixer's output for block i to x.
func (m *Model) attention(blk *block, ws *workspace, x, h kernels.Mat, M, i int, seqs []kernels.Seq, states []*State) {
	c, be := &m.Config, m.be
	H, G, hd := c.NHead, c.NQueryGroups, c.HeadSize
	caches := make([]*kernels.KVCache, len(states))
	for j, s := range states {
		caches[j] = s.kv[i]
	}
	qkv := rows(ws.qkv, M)
	be.MatMul(qkv, h, blk.attn.qkv, false)
	q, k, v := qkv.ColSlice(0, H*hd), qkv.ColSlice(H*hd, (H+G)*hd), qkv.ColSlice((H+G)*hd, (H+2*G)*hd)
	if !c.NoPE {
		be.RoPE(q, H, hd, c.RopeBase, seqs)
		be.RoPE(k, G, hd, c.RopeBase, seqs)
	}
	att := rows(ws.att, M)
	shape := kernels.AttnShape{NHead: H, NKV: G, HeadDim: hd, Window: blk.Window, Scale: float32(1 / math.Sqrt(float64(hd)))}
	be.Attention(att, q, k, v, shape, caches, seqs)
	be.MatMul(x, att, blk.attn.proj, true)
}

// String describes the model briefly.
func (m *Model) String() string {
	c := &m.Config
	return fmt.Sprintf("%s (%d blocks, d_model %d, %.1fM parameters) on %s", c.Name, c.NLayer, c.NEmbd, float64(c.ParamCount())/1e6, m.be.Name())
}
