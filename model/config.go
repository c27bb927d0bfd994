// Package model holds the Samba architecture and its relatives: the
// configuration (lit-gpt field names, or a Hugging Face config.json), the
// block layout it implies (Mamba, sliding-window or full attention and
// SwiGLU MLPs, in the combinations of the Samba paper's comparisons and of
// Llama, Mistral and Phi-3), the forward pass written against the kernels
// interface, streaming sessions that carry Mamba and attention state,
// scoring and decoding.
package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Config describes a model. JSON field names are lit-gpt's, as in the
// config.json of a Samba model directory; a Hugging Face config.json is
// translated into the same fields (see ParseConfig).
type Config struct {
	Name         string `json:"name"`
	Architecture string `json:"architecture,omitempty"`
	// Format names the checkpoint's tensor names: "" or "lit-gpt" for
	// microsoft/Samba's lit_gpt modules (transformer.h.{i}...), "hf-llama"
	// for Hugging Face LlamaForCausalLM and MistralForCausalLM
	// (model.layers.{i}... with separate q/k/v and gate/up projections),
	// "hf-phi3" for Phi3ForCausalLM (fused qkv_proj and gate_up_proj).
	Format           string  `json:"checkpoint_format,omitempty"`
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
	// MbPerLayer puts a Mamba mixer in block i when i % MbPerLayer == 0
	// (0 or negative: no Mamba blocks).
	MbPerLayer int `json:"mb_per_layer"`
	// FullPerLayer makes block i use full attention when
	// i % FullPerLayer == FullPerLayer-1 (lit-gpt default 1000000: never).
	FullPerLayer int `json:"full_per_layer,omitempty"`
	// AttnLayerPos lists the attention blocks explicitly ("[1,5]"); every
	// other block is Mamba.
	AttnLayerPos string `json:"attn_layer_pos,omitempty"`
	// Mamba makes every block a bare Mamba mixer with no MLP (lit-gpt's
	// Mamba_* configs, built from mamba_ssm blocks: norm, mixer).
	Mamba bool `json:"mamba,omitempty"`
	// MambaSWAMLP makes every block Mamba, then attention, then the MLP
	// (lit-gpt's Mamba_SWA_MLP_* configs: norm_m, mb, norm_attn, attn).
	MambaSWAMLP bool `json:"mamba_swa_mlp,omitempty"`
	// AblMamba puts a SwiGLU MLP of width 2·n_embd where the Mamba mixers
	// would be (lit-gpt's *_abl_mamba configs, the paper's MLP2-SWA-MLP).
	AblMamba bool `json:"abl_mamba,omitempty"`
	// MLP is lit-gpt's mlp flag: false drops the MLP of every block
	// (default true).
	MLP *bool `json:"mlp,omitempty"`
	// RMSNorm is lit-gpt's rms_norm flag of the Mamba_* configs (default
	// true; false, LayerNorm, is not supported).
	RMSNorm *bool `json:"rms_norm,omitempty"`
	// NoPE disables rotary embeddings.
	NoPE bool `json:"nope,omitempty"`
	// YOCO selects ArchScale's decoder-hybrid-decoder layout (SambaY,
	// Phi-4-mini-flash-reasoning; see yocoBlocks), GMUYOCO its gated
	// memory units, UseDA differential attention, AttnBias and AttnOutBias
	// the biases of the attention projections (ArchScale's field names).
	YOCO          bool   `json:"yoco,omitempty"`
	GMUYOCO       bool   `json:"gmu_yoco,omitempty"`
	UseDA         bool   `json:"use_da,omitempty"`
	AttnBias      bool   `json:"attn_bias,omitempty"`
	AttnOutBias   bool   `json:"attn_out_bias,omitempty"`
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
	// AddBOS prepends the BOS token to every context, as the Hugging Face
	// tokenizers of Llama and Mistral do (add_bos_token). Samba, trained
	// without BOS, leaves it false.
	AddBOS     bool   `json:"add_bos,omitempty"`
	TorchDType string `json:"torch_dtype,omitempty"`
	// AddedTokens names special tokens beyond the SentencePiece vocabulary,
	// e.g. "phi3" for Phi-3's ids 32000–32010.
	AddedTokens string `json:"added_tokens,omitempty"`

	// lit-gpt features this engine does not run; read only to refuse them.
	UseMega             bool `json:"use_mega,omitempty"`
	GLAPerLayer         int  `json:"gla_per_layer,omitempty"`
	RetPerLayer         int  `json:"ret_per_layer,omitempty"`
	SCAttn              bool `json:"sc_attn,omitempty"`
	SharedAttentionNorm bool `json:"shared_attention_norm,omitempty"`
	CondenseRatio       int  `json:"condense_ratio,omitempty"`
}

// Checkpoint formats (Config.Format).
const (
	FormatLitGPT  = "lit-gpt"
	FormatHFLlama = "hf-llama"
	FormatHFPhi3  = "hf-phi3"
	// FormatHFPhi4Flash names Phi4FlashForCausalLM's tensors
	// (model.layers.{i}.attn..., fused Wqkv with biases, mlp.fc1/fc2).
	FormatHFPhi4Flash = "hf-phi4flash"
)

func (c *Config) hasMLP() bool { return c.MLP == nil || *c.MLP }

// Blocks returns the layout of the model, block by block, reading lit-gpt's
// rules:
//   - mamba: every block a Mamba mixer, no MLP;
//   - mamba_swa_mlp: every block Mamba, then attention, then the MLP;
//   - otherwise one mixer per block: Mamba where i % mb_per_layer == 0 (or
//     where i is not listed in attn_layer_pos), an MLP of width 2·n_embd
//     there instead under abl_mamba, attention elsewhere; then the MLP
//     unless mlp is false.
//
// Attention is windowed by local_window unless full_per_layer selects the
// block for full attention (i % full_per_layer == full_per_layer-1), or
// local_window ≤ 0. Hugging Face configs read as attention-only layouts.
func (c *Config) Blocks() ([]Block, error) {
	if c.NLayer <= 0 {
		return nil, fmt.Errorf("n_layer %d must be positive", c.NLayer)
	}
	full := c.FullPerLayer
	if full <= 0 {
		full = 1000000
	}
	attention := func(i int) Mixer {
		m := Mixer{Kind: Attention}
		if c.LocalWindow > 0 && i%full < full-1 {
			m.Window = c.LocalWindow
		}
		return m
	}
	blocks := make([]Block, c.NLayer)
	switch {
	case c.YOCO:
		return c.yocoBlocks()
	case c.Mamba:
		for i := range blocks {
			blocks[i] = Block{Mixers: []Mixer{{Kind: Mamba}}}
		}
		return blocks, nil
	case c.MambaSWAMLP:
		for i := range blocks {
			blocks[i] = Block{Mixers: []Mixer{{Kind: Mamba}, attention(i)}, MLP: c.hasMLP()}
		}
		return blocks, nil
	}
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
	for i := range blocks {
		mamba := c.MbPerLayer > 0 && i%c.MbPerLayer == 0
		if attnAt != nil {
			mamba = !attnAt[i]
		}
		m := attention(i)
		switch {
		case mamba && c.AblMamba:
			m = Mixer{Kind: MLP, Hidden: 2 * c.NEmbd}
		case mamba:
			m = Mixer{Kind: Mamba}
		}
		blocks[i] = Block{Mixers: []Mixer{m}, MLP: c.hasMLP()}
	}
	return blocks, nil
}

// Arch names the architecture: the Architecture field when set, else one
// derived from the layout (samba, mamba, mamba-mlp, mamba-swa-mlp,
// mlp2-swa-mlp, llama, llama-swa, llama-swa-full or hybrid).
func (c *Config) Arch() string {
	if c.Architecture != "" {
		return c.Architecture
	}
	blocks, err := c.Blocks()
	if err != nil {
		return "invalid"
	}
	return describeLayout(blocks)
}

// ContextLimit is the longest sequence a model of this configuration runs
// unless asked to go on: the trained context (BlockSize) when some block
// has full attention, whose cache grows and whose quality collapses past
// the trained length; 0 (no limit) when every mixer's state is bounded
// (Mamba and sliding-window attention).
func (c *Config) ContextLimit() int {
	blocks, err := c.Blocks()
	if err != nil || !fullAttention(blocks) {
		return 0
	}
	return c.BlockSize
}

// fullAttention reports whether some block attends over the whole context,
// so that its key/value cache grows with the sequence.
func fullAttention(blocks []Block) bool {
	for _, b := range blocks {
		for _, m := range b.Mixers {
			if m.Kind == Attention && m.Window == 0 {
				return true
			}
		}
	}
	return false
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
	if c.MambaInit || c.Mamba {
		c.TieEmbeddings = true // lit-gpt ties lm_head to wte when mamba or mamba_init
	}
}

// Validate checks that the configuration describes a model this engine runs.
func (c *Config) Validate() error {
	var errs []string
	bad := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	if c.NEmbd <= 0 {
		bad("n_embd %d must be positive", c.NEmbd)
	}
	if c.VocabSize <= 0 || c.PaddedVocabSize < c.VocabSize {
		bad("vocab_size %d / padded_vocab_size %d", c.VocabSize, c.PaddedVocabSize)
	}
	switch c.Format {
	case "", FormatLitGPT, FormatHFLlama, FormatHFPhi3, FormatHFPhi4Flash:
	default:
		bad("checkpoint_format %q unknown (lit-gpt, hf-llama, hf-phi3, hf-phi4flash)", c.Format)
	}
	c.validateSambaY(bad)
	for _, u := range []struct {
		on   bool
		what string
	}{
		{c.UseMega, "use_mega (S6-Mega)"},
		{c.GLAPerLayer > 0, "gla_per_layer (gated linear attention)"},
		{c.RetPerLayer > 0, "ret_per_layer (RetNet)"},
		{c.SCAttn, "sc_attn (short convolutions in attention)"},
		{c.SharedAttentionNorm, "shared_attention_norm"},
		{c.CondenseRatio > 1, "condense_ratio (position interpolation)"},
		{c.Mamba && c.MambaSWAMLP, "mamba together with mamba_swa_mlp"},
	} {
		if u.on {
			bad("%s not supported", u.what)
		}
	}
	blocks, err := c.Blocks()
	if err != nil {
		bad("%v", err)
	}
	var hasMamba, hasAttn, hasMLP bool
	for _, b := range blocks {
		hasMLP = hasMLP || b.MLP
		for _, m := range b.Mixers {
			hasMamba = hasMamba || m.Kind == Mamba
			hasAttn = hasAttn || m.Kind == Attention
			hasMLP = hasMLP || m.Kind == MLP
		}
	}
	if c.Mamba {
		if c.RMSNorm != nil && !*c.RMSNorm {
			bad("rms_norm false (LayerNorm) not supported")
		}
	} else {
		if c.ParallelResidual {
			bad("parallel_residual not supported (blocks are sequential)")
		}
		if n := c.NormClass; n != "" && n != "RMSNorm" && n != "FusedRMSNorm" && !(n == "LayerNorm" && c.YOCO) {
			bad("_norm_class %q not supported (RMSNorm; LayerNorm in SambaY models)", n)
		}
	}
	if hasAttn {
		if c.NHead <= 0 {
			bad("n_head %d must be positive", c.NHead)
		} else if c.NQueryGroups <= 0 || c.NHead%c.NQueryGroups != 0 {
			bad("n_head %d is not a multiple of n_query_groups %d", c.NHead, c.NQueryGroups)
		}
		if c.HeadSize <= 0 || c.HeadSize%2 != 0 {
			bad("head_size %d must be positive and even", c.HeadSize)
		}
		if c.RotaryPercentage != 1 && !c.NoPE {
			bad("rotary_percentage %v not supported (rotary embeddings over the whole head)", c.RotaryPercentage)
		}
		if c.RopeBase <= 0 {
			bad("rope_base %v must be positive", c.RopeBase)
		}
	}
	if hasMamba {
		if c.MambaDConv < 1 || c.MambaDState < 1 || c.MambaExpand < 1 || c.MambaDtRank < 1 {
			bad("mamba d_conv %d, d_state %d, expand %d, dt_rank %d must be positive", c.MambaDConv, c.MambaDState, c.MambaExpand, c.MambaDtRank)
		}
		if c.MambaProjBias {
			bad("mamba_proj_bias not supported (Mamba projections have no biases)")
		}
	}
	if hasMLP {
		if c.IntermediateSize <= 0 {
			bad("intermediate_size %d must be positive", c.IntermediateSize)
		}
		if n := c.MLPClass; n != "" && n != "LLaMAMLP" {
			bad("_mlp_class %q not supported (LLaMAMLP, the SwiGLU MLP)", n)
		}
	}
	if c.Bias && (hasAttn || hasMLP) {
		bad("bias not supported (attention and MLP projections without biases)")
	}
	if len(errs) > 0 {
		return errors.New("config: " + strings.Join(errs, "; "))
	}
	return nil
}

// ReadConfig reads a config.json: lit-gpt field names, or a Hugging Face
// config (see ParseConfig). A config without a name is named after its
// directory (or after the file when it is not called config.json).
func ReadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := ParseConfig(path, b)
	if err != nil {
		return nil, err
	}
	if c.Name == "" {
		c.Name = strings.TrimSuffix(filepath.Base(path), ".json")
		if abs, err := filepath.Abs(path); err == nil && filepath.Base(abs) == "config.json" {
			c.Name = filepath.Base(filepath.Dir(abs))
		}
	}
	return c, nil
}

// ParseConfig parses config.json contents; name is used in errors. A
// Hugging Face config (one with "architectures" or "model_type") is
// translated by the rules of ParseHFConfig; anything else is read with
// lit-gpt's field names and defaults.
func ParseConfig(name string, b []byte) (*Config, error) {
	var probe struct {
		Architectures []string `json:"architectures"`
		ModelType     string   `json:"model_type"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	if len(probe.Architectures) > 0 || probe.ModelType != "" {
		c, err := ParseHFConfig(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return c, nil
	}
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
