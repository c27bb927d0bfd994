package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// yocoBlocks is the layout of ArchScale's decoder-hybrid-decoder (yoco
// with gmu_yoco, lit_gpt/model.py Block), the architecture of
// Phi-4-mini-flash-reasoning. With L blocks:
//
//   - self-decoder, blocks i < L/2: Mamba where i % mb_per_layer == 0,
//     else sliding-window attention of local_window keys;
//   - block L/2: Mamba whose ungated SSM output is the GMUs' memory;
//   - block L/2+1: full attention, the only growing key/value cache;
//   - cross-decoder, blocks i ≥ L/2+2: a GMU where i is even, else
//     cross-attention over block L/2+1's keys and values.
//
// Attention is differential when use_da is set; every block has an MLP.
func (c *Config) yocoBlocks() ([]Block, error) {
	L := c.NLayer
	if L%4 != 0 {
		return nil, fmt.Errorf("yoco: n_layer %d must be a multiple of 4", L)
	}
	if c.MbPerLayer <= 0 {
		return nil, fmt.Errorf("yoco: mb_per_layer %d must be positive", c.MbPerLayer)
	}
	blocks := make([]Block, L)
	for i := range blocks {
		var m Mixer
		switch {
		case i < L/2 && i%c.MbPerLayer == 0:
			m = Mixer{Kind: Mamba}
		case i < L/2:
			m = Mixer{Kind: Attention, Window: max(c.LocalWindow, 0), Differential: c.UseDA}
		case i == L/2:
			m = Mixer{Kind: Mamba, Memory: true}
		case i == L/2+1:
			m = Mixer{Kind: Attention, Differential: c.UseDA}
		case i%2 == 0:
			m = Mixer{Kind: GMU}
		default:
			m = Mixer{Kind: CrossAttention, Differential: c.UseDA}
		}
		blocks[i] = Block{Mixers: []Mixer{m}, MLP: c.hasMLP()}
	}
	return blocks, nil
}

// validateSambaY checks the SambaY fields: the engine runs the
// configuration of Phi-4-mini-flash-reasoning (yoco with GMUs, differential
// attention with biases, LayerNorm, no positional encoding, Mamba on even
// blocks) from Phi4FlashForCausalLM's tensor names, and nothing else with
// these fields.
func (c *Config) validateSambaY(bad func(format string, a ...any)) {
	if !c.YOCO {
		if c.Format == FormatHFPhi4Flash {
			bad("checkpoint_format %s needs yoco", c.Format)
		}
		for _, f := range []struct {
			on   bool
			name string
		}{{c.GMUYOCO, "gmu_yoco"}, {c.UseDA, "use_da"}, {c.AttnBias, "attn_bias"}, {c.AttnOutBias, "attn_out_bias"}} {
			if f.on {
				bad("%s is supported only in the SambaY layout (yoco)", f.name)
			}
		}
		return
	}
	var missing []string
	for _, f := range []struct {
		ok   bool
		name string
	}{
		{c.Format == FormatHFPhi4Flash, "checkpoint_format " + FormatHFPhi4Flash},
		{c.GMUYOCO, "gmu_yoco"},
		{c.UseDA, "use_da"},
		{c.NoPE, "nope"},
		{c.AttnBias && c.AttnOutBias, "attn_bias and attn_out_bias"},
		{c.NormClass == "LayerNorm", "_norm_class LayerNorm"},
		{c.MbPerLayer == 2, "mb_per_layer 2"},
		{c.hasMLP(), "mlp"},
		{c.LocalWindow > 0, "a positive local_window"},
	} {
		if !f.ok {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		bad("yoco (SambaY) is supported as Phi-4-mini-flash-reasoning has it, which also needs %s", strings.Join(missing, ", "))
	}
	if c.Mamba || c.MambaSWAMLP || c.AblMamba || c.AttnLayerPos != "" {
		bad("yoco does not combine with mamba, mamba_swa_mlp, abl_mamba or attn_layer_pos")
	}
	if c.NHead%2 != 0 || c.NQueryGroups%2 != 0 {
		bad("differential attention needs an even number of heads and of key/value heads (have %d and %d)", c.NHead, c.NQueryGroups)
	}
}

// phi4FlashConfig holds the config.json fields of Phi4FlashForCausalLM
// beyond those of hfConfig, with the defaults of its
// configuration_phi4flash.py for fields a file may omit.
type phi4FlashConfig struct {
	LayerNormEps  float64         `json:"layer_norm_eps"`
	MbPerLayer    *int            `json:"mb_per_layer"`
	MambaDState   int             `json:"mamba_d_state"`
	MambaDConv    int             `json:"mamba_d_conv"`
	MambaExpand   int             `json:"mamba_expand"`
	MambaDtRank   json.RawMessage `json:"mamba_dt_rank"`
	MambaConvBias *bool           `json:"mamba_conv_bias"`
	MambaProjBias *bool           `json:"mamba_proj_bias"`
	SlidingWindow json.RawMessage `json:"sliding_window"`
}

// parsePhi4Flash translates the config.json of Phi4FlashForCausalLM
// (microsoft/Phi-4-mini-flash-reasoning) into a Config, with the fields of
// ArchScale's phi4miniflash config:
//
//   - hidden_size, intermediate_size, num_hidden_layers (a multiple of 4),
//     num_attention_heads, num_key_value_heads and head_dim give the shapes;
//     the vocabulary is not padded; the head is tied unless
//     tie_word_embeddings is false;
//   - sliding_window w is ArchScale's local_window: flash-attn's
//     window_size=(w-1, 0), w keys including the query (vLLM passes it as
//     per_layer_sliding_window), not Mistral's w+1;
//   - layer_norm_eps is the eps of every LayerNorm; mb_per_layer and the
//     mamba_* fields default as configuration_phi4flash.py has them (2;
//     d_state 16, d_conv 4, expand 2, dt_rank "auto" = ceil(d/16), conv
//     bias, no projection bias);
//   - there is no positional encoding (rope_theta and rotary fields, if
//     present, are not used by the model's code);
//   - max_position_embeddings is the context limit of the full-attention
//     layer.
func parsePhi4Flash(h *hfConfig, b []byte) (*Config, error) {
	var p phi4FlashConfig
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, err
	}
	var errs []string
	bad := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	if h.HiddenAct != "" && h.HiddenAct != "silu" {
		bad("hidden_act %q not supported (silu)", h.HiddenAct)
	}
	c := &Config{
		Name:             h.NameOrPath,
		Architecture:     "sambay",
		Format:           FormatHFPhi4Flash,
		BlockSize:        h.MaxPosition,
		VocabSize:        h.VocabSize,
		NLayer:           h.NumHiddenLayers,
		NEmbd:            h.HiddenSize,
		NHead:            h.NumAttentionHeads,
		NQueryGroups:     h.NumKeyValueHeads,
		HeadSize:         h.HeadDim,
		IntermediateSize: h.IntermediateSize,
		NormEps:          p.LayerNormEps,
		MbPerLayer:       2,
		MambaDState:      p.MambaDState,
		MambaDConv:       p.MambaDConv,
		MambaExpand:      p.MambaExpand,
		MambaConvBias:    true,
		TieEmbeddings:    true,
		NoPE:             true,
		YOCO:             true,
		GMUYOCO:          true,
		UseDA:            true,
		AttnBias:         true,
		AttnOutBias:      true,
		NormClass:        "LayerNorm",
		MLPClass:         "LLaMAMLP",
		TorchDType:       h.TorchDType,
	}
	if c.TorchDType == "" {
		c.TorchDType = h.DType
	}
	if c.VocabSize == 0 {
		c.VocabSize = 200064
	}
	c.PaddedVocabSize = c.VocabSize
	if bytes.Contains(b, []byte(`"tie_word_embeddings"`)) {
		c.TieEmbeddings = h.TieWordEmbeddings
	}
	if p.MbPerLayer != nil {
		c.MbPerLayer = *p.MbPerLayer
	}
	if p.MambaConvBias != nil {
		c.MambaConvBias = *p.MambaConvBias
	}
	if p.MambaProjBias != nil {
		c.MambaProjBias = *p.MambaProjBias
	}
	switch raw := string(bytes.TrimSpace(p.MambaDtRank)); raw {
	case "", "null", `"auto"`:
	default:
		if err := json.Unmarshal(p.MambaDtRank, &c.MambaDtRank); err != nil {
			bad("mamba_dt_rank %s: want \"auto\" or a number", raw)
		}
	}
	switch raw := string(bytes.TrimSpace(p.SlidingWindow)); raw {
	case "", "null":
		bad("sliding_window missing (the self-decoder's attention is windowed)")
	default:
		if err := json.Unmarshal(p.SlidingWindow, &c.LocalWindow); err != nil || c.LocalWindow <= 0 {
			bad("sliding_window %s: want a positive number of keys", raw)
		}
	}
	var err error
	if c.BOSTokenID, err = firstID(h.BOSTokenID, 1); err != nil {
		bad("bos_token_id: %v", err)
	}
	if c.EOSTokenID, err = firstID(h.EOSTokenID, 2); err != nil {
		bad("eos_token_id: %v", err)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("Phi4FlashForCausalLM: %s", strings.Join(errs, "; "))
	}
	c.fill()
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("Phi4FlashForCausalLM: %w", err)
	}
	return c, nil
}

// phi4MiniFlash is Phi-4-mini-flash-reasoning's configuration (its
// config.json at revision 1dff8163, with configuration_phi4flash.py's
// defaults for the Mamba fields; ArchScale's phi4miniflash_d32 agrees).
func phi4MiniFlash() Config {
	return Config{
		Name: "Phi4_mini_flash", Architecture: "sambay", Format: FormatHFPhi4Flash,
		BlockSize: 262144, VocabSize: 200064, PaddedVocabSize: 200064,
		NLayer: 32, NEmbd: 2560, NHead: 40, NQueryGroups: 20, HeadSize: 64, IntermediateSize: 10240,
		LocalWindow: 512, NormEps: 1e-5, MbPerLayer: 2,
		MambaDState: 16, MambaDConv: 4, MambaExpand: 2, MambaDtRank: 160, MambaConvBias: true,
		TieEmbeddings: true, NoPE: true, YOCO: true, GMUYOCO: true, UseDA: true, AttnBias: true, AttnOutBias: true,
		NormClass: "LayerNorm", MLPClass: "LLaMAMLP", BOSTokenID: 1, EOSTokenID: 2, TorchDType: "bfloat16",
	}
}
