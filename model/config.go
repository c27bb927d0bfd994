// Package model holds the Samba architecture: its configuration, the forward
// pass written against the kernels interface, streaming sessions that carry
// Mamba and sliding-window state, scoring and decoding.
package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Config describes a model. JSON field names are lit-gpt's, as in the
// config.json of a Samba model directory.
type Config struct {
	Name             string  `json:"name"`
	Architecture     string  `json:"architecture,omitempty"`
	BlockSize        int     `json:"block_size"`
	VocabSize        int     `json:"vocab_size"`
	PaddingMultiple  int     `json:"padding_multiple,omitempty"`
	PaddedVocabSize  int     `json:"padded_vocab_size"`
	NLayer           int     `json:"n_layer"`
	NEmbd            int     `json:"n_embd"`
	NHead            int     `json:"n_head"`
	NQueryGroups     int     `json:"n_query_groups"`
	HeadSize         int     `json:"head_size"`
	IntermediateSize int     `json:"intermediate_size"`
	LocalWindow      int     `json:"local_window"`
	RopeBase         float64 `json:"rope_base"`
	RotaryPercentage float64 `json:"rotary_percentage"`
	NormEps          float64 `json:"norm_eps"`
	Bias             bool    `json:"bias"`
	ParallelResidual bool    `json:"parallel_residual,omitempty"`
	// MbPerLayer puts a Mamba mixer in block i when i % MbPerLayer == 0.
	MbPerLayer int `json:"mb_per_layer"`
	// FullPerLayer makes block i use full attention when
	// i % FullPerLayer == FullPerLayer-1 (lit-gpt default 1000000: never).
	FullPerLayer int `json:"full_per_layer,omitempty"`
	// AttnLayerPos lists the attention blocks explicitly ("[1,5]"); every
	// other block is Mamba.
	AttnLayerPos string `json:"attn_layer_pos,omitempty"`
	// NoPE disables rotary embeddings.
	NoPE          bool   `json:"nope,omitempty"`
	MambaInit     bool   `json:"mamba_init,omitempty"`
	MambaDState   int    `json:"mamba_d_state"`
	MambaDConv    int    `json:"mamba_d_conv"`
	MambaExpand   int    `json:"mamba_expand"`
	MambaDtRank   int    `json:"mamba_dt_rank"`
	MambaConvBias bool   `json:"mamba_conv_bias"`
	MambaProjBias bool   `json:"mamba_proj_bias"`
	TieEmbeddings bool   `json:"tie_embeddings"`
	NormClass     string `json:"_norm_class,omitempty"`
	MLPClass      string `json:"_mlp_class,omitempty"`
	BOSTokenID    int    `json:"bos_token_id"`
	EOSTokenID    int    `json:"eos_token_id"`
	TorchDType    string `json:"torch_dtype,omitempty"`
	// AddedTokens names special tokens beyond the SentencePiece vocabulary,
	// e.g. "phi3" for Phi-3's ids 32000–32010.
	AddedTokens string `json:"added_tokens,omitempty"`
}

// Mixer is the token mixer of a block.
type Mixer int

const (
	// Mamba is a Mamba-1 selective state-space mixer.
	Mamba Mixer = iota
	// Attention is causal self-attention, sliding-window when the block's
	// Window is positive.
	Attention
)

func (m Mixer) String() string {
	if m == Mamba {
		return "mamba"
	}
	return "attention"
}

// Block describes one block: a token mixer then a SwiGLU MLP, each pre-norm
// with a residual connection.
type Block struct {
	Mixer Mixer
	// Window is the attention window in keys including the query itself;
	// 0 means full causal attention.
	Window int
}

// Blocks returns the layout of the model, block by block, reading lit-gpt's
// rules: Mamba where i % mb_per_layer == 0 (or where i is not listed in
// attn_layer_pos), attention elsewhere, windowed by local_window unless
// full_per_layer selects the block for full attention.
func (c *Config) Blocks() ([]Block, error) {
	var attnAt map[int]bool
	if c.AttnLayerPos != "" {
		attnAt = map[int]bool{}
		s := strings.Trim(strings.TrimSpace(c.AttnLayerPos), "[]()")
		for _, f := range strings.Split(s, ",") {
			f = strings.TrimSpace(f)
			if f == "" {
				continue
			}
			i, err := strconv.Atoi(f)
			if err != nil || i < 0 || i >= c.NLayer {
				return nil, fmt.Errorf("attn_layer_pos %q: bad block index %q", c.AttnLayerPos, f)
			}
			attnAt[i] = true
		}
	}
	full := c.FullPerLayer
	if full <= 0 {
		full = 1000000
	}
	blocks := make([]Block, c.NLayer)
	for i := range blocks {
		mamba := c.MbPerLayer > 0 && i%c.MbPerLayer == 0
		if attnAt != nil {
			mamba = !attnAt[i]
		}
		if mamba {
			blocks[i] = Block{Mixer: Mamba}
			continue
		}
		b := Block{Mixer: Attention}
		if c.LocalWindow > 0 && i%full < full-1 {
			b.Window = c.LocalWindow
		}
		blocks[i] = b
	}
	return blocks, nil
}

// DInner is the Mamba inner width E = expand · n_embd.
func (c *Config) DInner() int { return c.MambaExpand * c.NEmbd }

// QKVRows is the number of rows of the fused QKV weight.
func (c *Config) QKVRows() int { return (c.NHead + 2*c.NQueryGroups) * c.HeadSize }

// fill applies lit-gpt's derived defaults to fields a config file may omit.
func (c *Config) fill() {
	if c.NQueryGroups == 0 {
		c.NQueryGroups = c.NHead
	}
	if c.HeadSize == 0 && c.NHead > 0 {
		c.HeadSize = c.NEmbd / c.NHead
	}
	if c.PaddedVocabSize == 0 {
		m := c.PaddingMultiple
		if m <= 0 {
			m = 512
		}
		c.PaddedVocabSize = (c.VocabSize + m - 1) / m * m
	}
	if c.RopeBase == 0 {
		c.RopeBase = 10000
	}
	if c.RotaryPercentage == 0 {
		c.RotaryPercentage = 1
	}
	if c.NormEps == 0 {
		c.NormEps = 1e-5
	}
	if c.MambaDState == 0 {
		c.MambaDState = 16
	}
	if c.MambaDConv == 0 {
		c.MambaDConv = 4
	}
	if c.MambaExpand == 0 {
		c.MambaExpand = 2
	}
	if c.MambaDtRank == 0 {
		c.MambaDtRank = (c.NEmbd + 15) / 16
	}
	if c.MambaInit {
		c.TieEmbeddings = true
	}
}

// Validate checks that the configuration describes a model this engine runs.
func (c *Config) Validate() error {
	var errs []string
	bad := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	if c.NLayer <= 0 {
		bad("n_layer %d must be positive", c.NLayer)
	}
	if c.NEmbd <= 0 {
		bad("n_embd %d must be positive", c.NEmbd)
	}
	if c.NHead <= 0 {
		bad("n_head %d must be positive", c.NHead)
	} else if c.NQueryGroups <= 0 || c.NHead%c.NQueryGroups != 0 {
		bad("n_head %d is not a multiple of n_query_groups %d", c.NHead, c.NQueryGroups)
	}
	if c.HeadSize <= 0 || c.HeadSize%2 != 0 {
		bad("head_size %d must be positive and even", c.HeadSize)
	}
	if c.VocabSize <= 0 || c.PaddedVocabSize < c.VocabSize {
		bad("vocab_size %d / padded_vocab_size %d", c.VocabSize, c.PaddedVocabSize)
	}
	if c.IntermediateSize <= 0 {
		bad("intermediate_size %d must be positive", c.IntermediateSize)
	}
	if c.LocalWindow < 0 {
		bad("local_window %d must not be negative", c.LocalWindow)
	}
	if c.RotaryPercentage != 1 && !c.NoPE {
		bad("rotary_percentage %v not supported (Samba uses 1.0)", c.RotaryPercentage)
	}
	if c.ParallelResidual {
		bad("parallel_residual not supported (Samba blocks are sequential)")
	}
	if c.MambaDConv < 1 || c.MambaDState < 1 || c.MambaExpand < 1 || c.MambaDtRank < 1 {
		bad("mamba d_conv %d, d_state %d, expand %d, dt_rank %d must be positive", c.MambaDConv, c.MambaDState, c.MambaExpand, c.MambaDtRank)
	}
	if c.MambaProjBias {
		bad("mamba_proj_bias not supported (Samba has no Mamba projection biases)")
	}
	if c.Bias {
		bad("bias not supported (Samba has no attention/MLP biases)")
	}
	if n := c.NormClass; n != "" && n != "RMSNorm" && n != "FusedRMSNorm" {
		bad("_norm_class %q not supported (RMSNorm)", n)
	}
	if n := c.MLPClass; n != "" && n != "LLaMAMLP" {
		bad("_mlp_class %q not supported (LLaMAMLP, the SwiGLU MLP)", n)
	}
	if len(errs) == 0 {
		if _, err := c.Blocks(); err != nil {
			bad("%v", err)
		}
	}
	if len(errs) > 0 {
		return errors.New("config: " + strings.Join(errs, "; "))
	}
	return nil
}

// ReadConfig reads a config.json.
func ReadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseConfig(path, b)
}

// ParseConfig parses config.json contents; name is used in errors.
func ParseConfig(name string, b []byte) (*Config, error) {
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	c.fill()
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &c, nil
}
