package model

import (
	"fmt"
	"math"
	"strings"

	"github.com/sambaeval/sambaeval/checkpoint"
	"github.com/sambaeval/sambaeval/dtype"
	"github.com/sambaeval/sambaeval/kernels"
)

// initKind says how RandomCheckpoint initialises a tensor.
type initKind int

const (
	initNormal initKind = iota // N(0, 0.02): embeddings and input projections
	initOut                    // N(0, 0.02/sqrt(residuals per block · n_layer)): projections into the residual stream
	initOnes                   // norm weights, Mamba's D
	initConv                   // U(±1/sqrt(d_conv)): Mamba's conv1d weight and bias
	initDtProj                 // U(±1/sqrt(dt_rank)): Mamba's dt_proj weight
	initDtBias                 // softplus⁻¹(Δ), Δ log-uniform in [0.001, 0.1]: Mamba's dt_proj bias
	initALog                   // log(1..N) along each row: Mamba's A_log
	initZeros                  // biases (SambaY)
	initLambda                 // N(0, 0.1): differential attention's λ vectors
)

// tensorSpec is one tensor a configuration needs.
type tensorSpec struct {
	name  string
	shape []int
	init  initKind
}

// binder loads named tensors from a checkpoint onto a backend, checking
// each against the shape the configuration implies. With no backend it
// only checks; with specs set it reads nothing and lists the tensors the
// configuration needs instead (for RandomCheckpoint and ParamCount).
type binder struct {
	src   checkpoint.Source
	be    kernels.Backend
	used  map[string]bool
	specs *[]tensorSpec
}

func (b *binder) tensor(name string, init initKind, shape ...int) (*checkpoint.Tensor, error) {
	if b.specs != nil {
		*b.specs = append(*b.specs, tensorSpec{name, shape, init})
		return &checkpoint.Tensor{Name: name, DType: dtype.F32, Shape: shape}, nil
	}
	t, ok := b.src.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("tensor %s missing (want %s)", name, checkpoint.FormatShape(shape))
	}
	if !sameShape(t.Shape, shape) {
		return nil, fmt.Errorf("tensor %s: shape %s, want %s", name, t.ShapeString(), checkpoint.FormatShape(shape))
	}
	if !t.DType.IsFloat() {
		return nil, fmt.Errorf("tensor %s: dtype %s, want a float type", name, t.DType)
	}
	b.used[name] = true
	return t, nil
}

func sameShape(got, want []int) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

// loading reports whether tensors go onto a backend (not only checked or listed).
func (b *binder) loading() bool { return b.be != nil && b.specs == nil }

// weight binds a [rows, cols] matrix kept in its stored type.
func (b *binder) weight(name string, init initKind, rows, cols int) (kernels.Weight, error) {
	t, err := b.tensor(name, init, rows, cols)
	if err != nil || !b.loading() {
		return nil, err
	}
	return b.rowRange(t, 0, rows)
}

// rowRange binds rows [r0, r1) of a matrix tensor as a weight of its own,
// without copying (fused projections are split this way).
func (b *binder) rowRange(t *checkpoint.Tensor, r0, r1 int) (kernels.Weight, error) {
	if !b.loading() {
		return nil, nil
	}
	cols := t.Shape[len(t.Shape)-1]
	rowBytes := cols * t.DType.Size()
	w, err := b.be.LoadWeight(t.DType, r1-r0, cols, t.Data[r0*rowBytes:r1*rowBytes])
	if err != nil {
		return nil, fmt.Errorf("tensor %s: %w", t.Name, err)
	}
	return w, nil
}

// vec binds a small parameter as float32 on the backend, viewed as
// [rows, len/rows]; shape is the stored shape.
func (b *binder) vec(name string, init initKind, rows int, shape ...int) (kernels.Mat, error) {
	t, err := b.tensor(name, init, shape...)
	if err != nil || !b.loading() {
		return kernels.Mat{}, err
	}
	v, err := t.Float32s()
	if err != nil {
		return kernels.Mat{}, err
	}
	return b.upload(v, rows), nil
}

func (b *binder) upload(v []float32, rows int) kernels.Mat {
	if !b.loading() {
		return kernels.Mat{}
	}
	buf := b.be.Alloc(len(v))
	b.be.Write(buf, 0, v)
	return kernels.NewMat(buf, rows, len(v)/rows)
}

// permuteQKV reorders the rows of lit-gpt's fused QKV weight from the
// grouped layout (per query group: its q heads, then k, then v) to
// [all q heads | all k heads | all v heads].
func permuteQKV(t *checkpoint.Tensor, nHead, nGroups, headSize int) *checkpoint.Tensor {
	qPer := nHead / nGroups
	rowBytes := len(t.Data) / t.Shape[0]
	out := make([]byte, len(t.Data))
	head := headSize * rowBytes
	for g := 0; g < nGroups; g++ {
		src := g * (qPer + 2) * head
		for j := 0; j < qPer; j++ { // q heads of group g
			dst := (g*qPer + j) * head
			copy(out[dst:dst+head], t.Data[src+j*head:])
		}
		kDst := (nHead + g) * head
		copy(out[kDst:kDst+head], t.Data[src+qPer*head:])
		vDst := (nHead + nGroups + g) * head
		copy(out[vDst:vDst+head], t.Data[src+(qPer+1)*head:])
	}
	return &checkpoint.Tensor{Name: t.Name, DType: t.DType, Shape: t.Shape, Data: out}
}

// Check verifies that src holds exactly the tensors of a model with
// configuration cfg, with the right shapes, without loading anything.
func Check(cfg *Config, src checkpoint.Source) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	layout, err := cfg.Blocks()
	if err != nil {
		return err
	}
	m := &Model{Config: *cfg, layout: layout}
	return m.load(&binder{src: src, used: map[string]bool{}})
}

// tensorSpecs lists every tensor of configuration cfg (a tied head once).
func (c *Config) tensorSpecs() ([]tensorSpec, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	layout, err := c.Blocks()
	if err != nil {
		return nil, err
	}
	var specs []tensorSpec
	m := &Model{Config: *c, layout: layout}
	if err := m.load(&binder{specs: &specs}); err != nil {
		return nil, err
	}
	return specs, nil
}

// names are the tensor names of one checkpoint format.
type names struct {
	embed, finalNorm, head string
	block                  string // prefix of block i, a format with one %d
}

func (c *Config) names() names {
	if c.Format == FormatHFPhi4Flash {
		return phi4FlashNames
	}
	if c.Format == FormatHFLlama || c.Format == FormatHFPhi3 {
		return names{"model.embed_tokens.weight", "model.norm.weight", "lm_head.weight", "model.layers.%d."}
	}
	return names{"transformer.wte.weight", "transformer.ln_f.weight", "lm_head.weight", "transformer.h.%d."}
}

// mixerNames returns, within its block, the name of mixer j's norm weight
// and the prefix of its weights.
func (c *Config) mixerNames(j int) (norm, prefix string) {
	switch {
	case c.Format == FormatHFPhi4Flash:
		return "input_layernorm.weight", "attn."
	case c.Format == FormatHFLlama || c.Format == FormatHFPhi3:
		return "input_layernorm.weight", "self_attn."
	case c.Mamba:
		return "norm.weight", "mixer." // mamba_ssm's Block
	case c.MambaSWAMLP && j == 0:
		return "norm_m.weight", "mb."
	case c.MambaSWAMLP:
		return "norm_attn.weight", "attn."
	}
	return "norm_1.weight", "attn."
}

// mlpNames returns, within its block, the name of the MLP's norm weight and
// the prefix of its weights.
func (c *Config) mlpNames() (norm, prefix string) {
	if c.Format == FormatHFLlama || c.Format == FormatHFPhi3 || c.Format == FormatHFPhi4Flash {
		return "post_attention_layernorm.weight", "mlp."
	}
	return "norm_2.weight", "mlp."
}

// residuals is the number of residual branches per block, by which
// lit-gpt's mamba_init scales the output projections.
func residuals(blocks []Block) int {
	if len(blocks) == 0 {
		return 1
	}
	n := len(blocks[0].Mixers)
	if blocks[0].MLP {
		n++
	}
	return n
}

// load binds every weight of the configuration through b.
func (m *Model) load(b *binder) error {
	c := &m.Config
	nm := c.names()
	D, V := c.NEmbd, c.PaddedVocabSize
	var err error
	if m.wte, err = b.weight(nm.embed, initNormal, V, D); err != nil {
		return err
	}
	m.head = m.wte
	if c.TieEmbeddings {
		// A tied lm_head may be saved beside the embedding; it must agree in shape.
		if b.src != nil {
			if _, ok := b.src.Tensor(nm.head); ok {
				if _, err := b.tensor(nm.head, initNormal, V, D); err != nil {
					return err
				}
			}
		}
	} else if m.head, err = b.weight(nm.head, initNormal, V, D); err != nil {
		return err
	}
	if m.lnF, err = b.norm(nm.finalNorm, c); err != nil {
		return err
	}
	slot := 0
	for i, spec := range m.layout {
		p := fmt.Sprintf(nm.block, i)
		blk := &block{}
		for j, mspec := range spec.Mixers {
			norm, prefix := c.mixerNames(j)
			mx := &mixer{Mixer: mspec, slot: slot}
			slot++
			if mx.norm, err = b.norm(p+norm, c); err != nil {
				return err
			}
			switch {
			case mspec.Kind == Mamba:
				mx.mamba, err = b.mamba(p+prefix, c)
			case mspec.Kind == GMU || mspec.Kind == CrossAttention || mspec.Differential:
				err = b.sambayMixer(mx, p+prefix, c, i)
			case mspec.Kind == Attention:
				mx.attn, err = b.attention(p+prefix, c)
			case mspec.Kind == MLP:
				mx.mlp, err = b.swiglu(p+prefix, c, mspec.Hidden)
			}
			if err != nil {
				return err
			}
			blk.mixers = append(blk.mixers, mx)
		}
		if spec.MLP {
			norm, prefix := c.mlpNames()
			if blk.mlpNorm, err = b.norm(p+norm, c); err != nil {
				return err
			}
			if blk.mlp, err = b.swiglu(p+prefix, c, c.IntermediateSize); err != nil {
				return err
			}
		}
		m.blocks = append(m.blocks, blk)
	}
	m.slots = slot
	if err := m.linkCrossAttention(); err != nil {
		return err
	}
	if b.src == nil {
		return nil
	}
	for _, name := range b.src.Names() {
		if b.used[name] || name == nm.head {
			continue
		}
		if strings.HasSuffix(name, ".rotary_emb.inv_freq") && c.Format != "" && c.Format != FormatLitGPT {
			continue // a buffer some Hugging Face exports keep; RoPE is computed
		}
		return fmt.Errorf("tensor %s is not part of a %s model with this config", name, c.Name)
	}
	return nil
}

// mamba binds a Mamba-1 mixer: in_proj, conv1d, x_proj, dt_proj, A_log, D
// and out_proj, the names of mamba_ssm's Mamba module.
func (b *binder) mamba(p string, c *Config) (*mambaWeights, error) {
	D, E, R, N, K := c.NEmbd, c.DInner(), c.MambaDtRank, c.MambaDState, c.MambaDConv
	mx := &mambaWeights{}
	var err error
	if mx.inProj, err = b.weight(p+"in_proj.weight", initNormal, 2*E, D); err != nil {
		return nil, err
	}
	if mx.convW, err = b.vec(p+"conv1d.weight", initConv, E, E, 1, K); err != nil {
		return nil, err
	}
	if c.MambaConvBias {
		if mx.convB, err = b.vec(p+"conv1d.bias", initConv, 1, E); err != nil {
			return nil, err
		}
	} else {
		mx.convB = b.upload(make([]float32, E), 1)
	}
	if mx.xProj, err = b.weight(p+"x_proj.weight", initNormal, R+2*N, E); err != nil {
		return nil, err
	}
	if mx.dtProj, err = b.weight(p+"dt_proj.weight", initDtProj, E, R); err != nil {
		return nil, err
	}
	if mx.scan.DeltaBias, err = b.vec(p+"dt_proj.bias", initDtBias, 1, E); err != nil {
		return nil, err
	}
	t, err := b.tensor(p+"A_log", initALog, E, N)
	if err != nil {
		return nil, err
	}
	if b.loading() {
		aLog, err := t.Float32s()
		if err != nil {
			return nil, err
		}
		for i, v := range aLog {
			aLog[i] = -float32(math.Exp(float64(v))) // A = -exp(A_log), in fp32
		}
		mx.scan.A = b.upload(aLog, E)
	}
	if mx.scan.D, err = b.vec(p+"D", initOnes, 1, E); err != nil {
		return nil, err
	}
	if mx.outProj, err = b.weight(p+"out_proj.weight", initOut, D, E); err != nil {
		return nil, err
	}
	return mx, nil
}

// attention binds the query, key, value and output projections, stored as
// lit-gpt's fused attn.weight (grouped rows, see permuteQKV) and
// proj.weight, as Hugging Face's q_proj, k_proj, v_proj and o_proj, or as
// Phi-3's fused qkv_proj ([Q | K | V] rows) and o_proj.
func (b *binder) attention(p string, c *Config) (*attnWeights, error) {
	D, H, G, hd := c.NEmbd, c.NHead, c.NQueryGroups, c.HeadSize
	a := &attnWeights{}
	var (
		fused, out string
		err        error
	)
	switch c.Format {
	case FormatHFLlama:
		// Separate projections, concatenated into one weight.
		out = "o_proj.weight"
		var parts [3]*checkpoint.Tensor
		for i, n := range []string{"q_proj.weight", "k_proj.weight", "v_proj.weight"} {
			rows := G * hd
			if i == 0 {
				rows = H * hd
			}
			if parts[i], err = b.tensor(p+n, initNormal, rows, D); err != nil {
				return nil, err
			}
		}
		if b.loading() {
			if parts[0].DType != parts[1].DType || parts[0].DType != parts[2].DType {
				return nil, fmt.Errorf("%sq_proj, k_proj and v_proj: mixed dtypes %s, %s, %s", p, parts[0].DType, parts[1].DType, parts[2].DType)
			}
			data := make([]byte, 0, len(parts[0].Data)+len(parts[1].Data)+len(parts[2].Data))
			for _, t := range parts {
				data = append(data, t.Data...)
			}
			t := &checkpoint.Tensor{Name: p + "{q,k,v}_proj.weight", DType: parts[0].DType, Shape: []int{(H + 2*G) * hd, D}, Data: data}
			if a.qkv, err = b.rowRange(t, 0, (H+2*G)*hd); err != nil {
				return nil, err
			}
		}
		a.o, err = b.weight(p+out, initOut, D, H*hd)
		return a, err
	case FormatHFPhi3:
		fused, out = "qkv_proj.weight", "o_proj.weight"
	default:
		fused, out = "attn.weight", "proj.weight"
	}
	t, err := b.tensor(p+fused, initNormal, (H+2*G)*hd, D)
	if err != nil {
		return nil, err
	}
	if b.loading() {
		if c.Format != FormatHFPhi3 && G > 1 {
			t = permuteQKV(t, H, G, hd) // with one group the layout is already q | k | v
		}
		if a.qkv, err = b.rowRange(t, 0, (H+2*G)*hd); err != nil {
			return nil, err
		}
	}
	a.o, err = b.weight(p+out, initOut, D, H*hd)
	return a, err
}

// swiglu binds a SwiGLU MLP of width F: xformers' swiglu.w1/w2/w3 (gate,
// up, down) in lit-gpt, gate_proj/up_proj/down_proj in Hugging Face Llama,
// Phi-3's fused gate_up_proj ([gate | up] rows) and down_proj.
func (b *binder) swiglu(p string, c *Config, F int) (*swiglu, error) {
	D := c.NEmbd
	s := &swiglu{}
	var err error
	switch c.Format {
	case FormatHFPhi4Flash:
		return b.phi4FlashMLP(p, c, F)
	case FormatHFLlama:
		if s.gate, err = b.weight(p+"gate_proj.weight", initNormal, F, D); err != nil {
			return nil, err
		}
		if s.up, err = b.weight(p+"up_proj.weight", initNormal, F, D); err != nil {
			return nil, err
		}
		s.down, err = b.weight(p+"down_proj.weight", initOut, D, F)
	case FormatHFPhi3:
		var t *checkpoint.Tensor
		if t, err = b.tensor(p+"gate_up_proj.weight", initNormal, 2*F, D); err != nil {
			return nil, err
		}
		if s.gate, err = b.rowRange(t, 0, F); err != nil {
			return nil, err
		}
		if s.up, err = b.rowRange(t, F, 2*F); err != nil {
			return nil, err
		}
		s.down, err = b.weight(p+"down_proj.weight", initOut, D, F)
	default:
		if s.gate, err = b.weight(p+"swiglu.w1.weight", initNormal, F, D); err != nil {
			return nil, err
		}
		if s.up, err = b.weight(p+"swiglu.w2.weight", initNormal, F, D); err != nil {
			return nil, err
		}
		s.down, err = b.weight(p+"swiglu.w3.weight", initOut, D, F)
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}
