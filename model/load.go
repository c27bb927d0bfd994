package model

import (
	"fmt"
	"math"

	"github.com/sambaeval/sambaeval/checkpoint"
	"github.com/sambaeval/sambaeval/kernels"
)

// binder loads named tensors from a checkpoint onto a backend, checking
// each against the shape the configuration implies.
type binder struct {
	src  checkpoint.Source
	be   kernels.Backend // nil: check names and shapes only
	used map[string]bool
}

func (b *binder) tensor(name string, shape ...int) (*checkpoint.Tensor, error) {
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

// sameShape compares shapes, treating a conv weight [E, 1, K] as [E, K].
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

// weight binds a [rows, cols] matrix kept in its stored type.
func (b *binder) weight(name string, rows, cols int) (kernels.Weight, error) {
	t, err := b.tensor(name, rows, cols)
	if err != nil || b.be == nil {
		return nil, err
	}
	w, err := b.be.LoadWeight(t.DType, rows, cols, t.Data)
	if err != nil {
		return nil, fmt.Errorf("tensor %s: %w", name, err)
	}
	return w, nil
}

// vec binds a small parameter as float32 on the backend, reshaped to
// [rows, len/rows]; shape is the stored shape.
func (b *binder) vec(name string, rows int, shape ...int) (kernels.Mat, error) {
	t, err := b.tensor(name, shape...)
	if err != nil || b.be == nil {
		return kernels.Mat{}, err
	}
	v, err := t.Float32s()
	if err != nil {
		return kernels.Mat{}, err
	}
	return b.upload(v, rows), nil
}

func (b *binder) upload(v []float32, rows int) kernels.Mat {
	if b.be == nil {
		return kernels.Mat{}
	}
	buf := b.be.Alloc(len(v))
	b.be.Write(buf, 0, v)
	return kernels.NewMat(buf, rows, len(v)/rows)
}

// permuteQKV reorders the rows of lit-gpt's fused QKV weight from the
// grouped layout (per query group: its q heads, then k, then v) to
// [all q heads | all k heads | all v heads], so q, k and v are column
// ranges of the projection's output.
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
	return m.load(src)
}

// load binds every weight of the configuration from src (only checks them
// when the model has no backend).
func (m *Model) load(src checkpoint.Source) error {
	c := &m.Config
	b := &binder{src: src, be: m.be, used: map[string]bool{}}
	D, V, F := c.NEmbd, c.PaddedVocabSize, c.IntermediateSize
	var err error
	if m.wte, err = b.weight("transformer.wte.weight", V, D); err != nil {
		return err
	}
	m.head = m.wte
	if c.TieEmbeddings {
		// A tied lm_head may be saved beside the embedding; it must agree in shape.
		if _, ok := src.Tensor("lm_head.weight"); ok {
			if _, err := b.tensor("lm_head.weight", V, D); err != nil {
				return err
			}
		}
	} else if m.head, err = b.weight("lm_head.weight", V, D); err != nil {
		return err
	}
	if m.lnF, err = b.vec("transformer.ln_f.weight", 1, D); err != nil {
		return err
	}
	for i, spec := range m.layout {
		p := fmt.Sprintf("transformer.h.%d.", i)
		blk := &block{Block: spec}
		if blk.norm1, err = b.vec(p+"norm_1.weight", 1, D); err != nil {
			return err
		}
		if blk.norm2, err = b.vec(p+"norm_2.weight", 1, D); err != nil {
			return err
		}
		if blk.w1, err = b.weight(p+"mlp.swiglu.w1.weight", F, D); err != nil {
			return err
		}
		if blk.w2, err = b.weight(p+"mlp.swiglu.w2.weight", F, D); err != nil {
			return err
		}
		if blk.w3, err = b.weight(p+"mlp.swiglu.w3.weight", D, F); err != nil {
			return err
		}
		if spec.Mixer == Mamba {
			blk.mamba, err = b.mamba(p+"attn.", c)
		} else {
			blk.attn, err = b.attention(p+"attn.", c)
		}
		if err != nil {
			return err
		}
		m.blocks = append(m.blocks, blk)
	}
	for _, name := range src.Names() {
		if !b.used[name] && name != "lm_head.weight" {
			return fmt.Errorf("tensor %s is not part of a %s model with this config", name, c.Name)
		}
	}
	return nil
}

func (b *binder) mamba(p string, c *Config) (*mambaMixer, error) {
	D, E, R, N, K := c.NEmbd, c.DInner(), c.MambaDtRank, c.MambaDState, c.MambaDConv
	mx := &mambaMixer{}
	var err error
	if mx.inProj, err = b.weight(p+"in_proj.weight", 2*E, D); err != nil {
		return nil, err
	}
	if mx.convW, err = b.vec(p+"conv1d.weight", E, E, 1, K); err != nil {
		return nil, err
	}
	if c.MambaConvBias {
		if mx.convB, err = b.vec(p+"conv1d.bias", 1, E); err != nil {
			return nil, err
		}
	} else {
		mx.convB = b.upload(make([]float32, E), 1)
	}
	if mx.xProj, err = b.weight(p+"x_proj.weight", R+2*N, E); err != nil {
		return nil, err
	}
	if mx.dtProj, err = b.weight(p+"dt_proj.weight", E, R); err != nil {
		return nil, err
	}
	if mx.scan.DeltaBias, err = b.vec(p+"dt_proj.bias", 1, E); err != nil {
		return nil, err
	}
	t, err := b.tensor(p+"A_log", E, N)
	if err != nil {
		return nil, err
	}
	if b.be == nil {
		mx.scan.A = kernels.Mat{}
		if _, err = b.tensor(p+"D", E); err != nil {
			return nil, err
		}
		_, err = b.tensor(p+"out_proj.weight", D, E)
		return mx, err
	}
	aLog, err := t.Float32s()
	if err != nil {
		return nil, err
	}
	for i, v := range aLog {
		aLog[i] = -float32(math.Exp(float64(v))) // A = -exp(A_log), in fp32
	}
	mx.scan.A = b.upload(aLog, E)
	if mx.scan.D, err = b.vec(p+"D", 1, E); err != nil {
		return nil, err
	}
	if mx.outProj, err = b.weight(p+"out_proj.weight", D, E); err != nil {
		return nil, err
	}
	return mx, nil
}

func (b *binder) attention(p string, c *Config) (*attention, error) {
	D := c.NEmbd
	t, err := b.tensor(p+"attn.weight", c.QKVRows(), D)
	if err != nil {
		return nil, err
	}
	a := &attention{}
	if b.be == nil {
		_, err = b.tensor(p+"proj.weight", D, c.NHead*c.HeadSize)
		return a, err
	}
	t = permuteQKV(t, c.NHead, c.NQueryGroups, c.HeadSize)
	if a.qkv, err = b.be.LoadWeight(t.DType, c.QKVRows(), D, t.Data); err != nil {
		return nil, fmt.Errorf("tensor %s: %w", t.Name, err)
	}
	if a.proj, err = b.weight(p+"proj.weight", D, c.NHead*c.HeadSize); err != nil {
		return nil, err
	}
	return a, nil
}
