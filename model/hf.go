package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// hfFamily is what this engine knows about one Hugging Face model class.
type hfFamily struct {
	arch    string // Config.Architecture
	format  string // Config.Format
	normEps float64
	vocab   int
	bos     int
	eos     int
	addBOS  bool // the tokenizer's add_bos_token default
}

// hfFamilies are the supported Hugging Face classes, keyed by the
// architectures entry and by model_type, with the defaults of their
// transformers configuration classes for fields a config.json may omit.
var hfFamilies = map[string]hfFamily{
	"LlamaForCausalLM":   {"llama", FormatHFLlama, 1e-6, 32000, 1, 2, true},
	"MistralForCausalLM": {"mistral", FormatHFLlama, 1e-6, 32000, 1, 2, true},
	"Phi3ForCausalLM":    {"phi3", FormatHFPhi3, 1e-5, 32064, 1, 32000, false},
}

var hfModelTypes = map[string]string{"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM", "phi3": "Phi3ForCausalLM",
	"phi4flash": "Phi4FlashForCausalLM"}

// hfConfig holds the config.json fields of a Hugging Face decoder.
type hfConfig struct {
	NameOrPath          string          `json:"_name_or_path"`
	Architectures       []string        `json:"architectures"`
	ModelType           string          `json:"model_type"`
	HiddenSize          int             `json:"hidden_size"`
	IntermediateSize    int             `json:"intermediate_size"`
	NumHiddenLayers     int             `json:"num_hidden_layers"`
	NumAttentionHeads   int             `json:"num_attention_heads"`
	NumKeyValueHeads    int             `json:"num_key_value_heads"`
	HeadDim             int             `json:"head_dim"`
	VocabSize           int             `json:"vocab_size"`
	MaxPosition         int             `json:"max_position_embeddings"`
	RMSNormEps          float64         `json:"rms_norm_eps"`
	RopeTheta           float64         `json:"rope_theta"`
	RopeScaling         json.RawMessage `json:"rope_scaling"`
	RopeParameters      json.RawMessage `json:"rope_parameters"`
	PartialRotaryFactor *float64        `json:"partial_rotary_factor"`
	SlidingWindow       *int            `json:"sliding_window"`
	TieWordEmbeddings   bool            `json:"tie_word_embeddings"`
	HiddenAct           string          `json:"hidden_act"`
	AttentionBias       bool            `json:"attention_bias"`
	MLPBias             bool            `json:"mlp_bias"`
	BOSTokenID          json.RawMessage `json:"bos_token_id"`
	EOSTokenID          json.RawMessage `json:"eos_token_id"`
	TorchDType          string          `json:"torch_dtype"`
	DType               string          `json:"dtype"`
}

// ParseHFConfig translates the config.json of a Hugging Face
// LlamaForCausalLM (Llama-2, Llama-3), MistralForCausalLM or
// Phi3ForCausalLM checkpoint into a Config (Phi4FlashForCausalLM by the
// rules of parsePhi4Flash):
//
//   - hidden_size, intermediate_size, num_hidden_layers,
//     num_attention_heads, num_key_value_heads and head_dim give the shapes;
//     vocab_size is not padded;
//   - rope_theta is the RoPE base; any rope_scaling other than "default"
//     (Llama-3.1's "llama3" frequency rescaling, linear, dynamic, Phi-3's
//     longrope/su) is refused, since the engine's RoPE takes one base;
//   - max_position_embeddings is the trained context (BlockSize): models
//     with full attention refuse longer sequences unless asked;
//   - sliding_window w is read as flash-attn's left window, the number of
//     earlier keys a query sees, as Mistral's reference code and Phi-3's
//     modeling code pass it (window_size=(w, w)): a query sees w+1 keys,
//     itself included, so Window = w+1 (architecture reference pitfall 1:
//     Phi-3's 2047 is Samba's 2048). Current transformers masks admit w
//     keys, one fewer; the two differ only in the oldest key of positions
//     ≥ w.
//   - Phi-3 models with the 32064-row vocabulary get Phi-3's added tokens.
func ParseHFConfig(b []byte) (*Config, error) {
	var h hfConfig
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, err
	}
	class := ""
	if len(h.Architectures) > 0 {
		class = h.Architectures[0]
	} else {
		class = hfModelTypes[h.ModelType]
	}
	if class == "Phi4FlashForCausalLM" {
		return parsePhi4Flash(&h, b)
	}
	fam, ok := hfFamilies[class]
	if !ok {
		what := class
		if what == "" {
			what = "model_type " + h.ModelType
		}
		return nil, fmt.Errorf("unsupported Hugging Face architecture %s (supported: LlamaForCausalLM, MistralForCausalLM, Phi3ForCausalLM, Phi4FlashForCausalLM)", what)
	}
	var errs []string
	bad := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	if h.HiddenAct != "" && h.HiddenAct != "silu" {
		bad("hidden_act %q not supported (silu)", h.HiddenAct)
	}
	if h.AttentionBias || h.MLPBias {
		bad("attention_bias/mlp_bias not supported (projections without biases)")
	}
	if h.PartialRotaryFactor != nil && *h.PartialRotaryFactor != 1 {
		bad("partial_rotary_factor %v not supported (rotary embeddings over the whole head)", *h.PartialRotaryFactor)
	}
	theta := h.RopeTheta
	for _, raw := range []json.RawMessage{h.RopeScaling, h.RopeParameters} {
		typ, base, err := ropeType(raw)
		if err != nil {
			bad("%v", err)
			continue
		}
		if base > 0 {
			theta = base
		}
		switch typ {
		case "", "default":
		case "llama3":
			bad(`rope_scaling type "llama3" (Llama-3.1 frequency rescaling) not supported: the RoPE kernel takes a single base and would need per-frequency inverse frequencies`)
		default:
			bad("rope_scaling type %q not supported (only unscaled RoPE)", typ)
		}
	}
	if theta == 0 {
		theta = 10000
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s: %s", class, strings.Join(errs, "; "))
	}

	c := &Config{
		Name:             h.NameOrPath, // LoadDir names a model without one after its directory
		Architecture:     fam.arch,
		Format:           fam.format,
		BlockSize:        h.MaxPosition,
		VocabSize:        h.VocabSize,
		NLayer:           h.NumHiddenLayers,
		NEmbd:            h.HiddenSize,
		NHead:            h.NumAttentionHeads,
		NQueryGroups:     h.NumKeyValueHeads,
		HeadSize:         h.HeadDim,
		IntermediateSize: h.IntermediateSize,
		RopeBase:         theta,
		RotaryPercentage: 1,
		NormEps:          h.RMSNormEps,
		TieEmbeddings:    h.TieWordEmbeddings,
		NormClass:        "RMSNorm",
		MLPClass:         "LLaMAMLP",
		TorchDType:       h.TorchDType,
	}
	if c.TorchDType == "" {
		c.TorchDType = h.DType
	}
	if c.VocabSize == 0 {
		c.VocabSize = fam.vocab
	}
	c.PaddedVocabSize = c.VocabSize
	if c.NormEps == 0 {
		c.NormEps = fam.normEps
	}
	if h.SlidingWindow != nil && *h.SlidingWindow > 0 {
		c.LocalWindow = *h.SlidingWindow + 1
	}
	var err error
	c.AddBOS = fam.addBOS
	if c.BOSTokenID, err = firstID(h.BOSTokenID, fam.bos); err != nil {
		return nil, fmt.Errorf("%s: bos_token_id: %w", class, err)
	}
	if c.EOSTokenID, err = firstID(h.EOSTokenID, fam.eos); err != nil {
		return nil, fmt.Errorf("%s: eos_token_id: %w", class, err)
	}
	if fam.arch == "phi3" && c.VocabSize >= 32011 {
		c.AddedTokens = "phi3"
	}
	c.fill()
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", class, err)
	}
	return c, nil
}

// ropeType reads the type and base of a rope_scaling or rope_parameters
// object (null or absent: none).
func ropeType(raw json.RawMessage) (typ string, theta float64, err error) {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return "", 0, nil
	}
	var r struct {
		Type      string  `json:"type"`
		RopeType  string  `json:"rope_type"`
		RopeTheta float64 `json:"rope_theta"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return "", 0, fmt.Errorf("rope_scaling: %v", err)
	}
	if r.RopeType != "" {
		return r.RopeType, r.RopeTheta, nil
	}
	return r.Type, r.RopeTheta, nil
}

// firstID reads a token id that may be a number, a list of numbers (the
// first is taken) or null (def is taken).
func firstID(raw json.RawMessage, def int) (int, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return def, nil
	}
	var id int
	if err := json.Unmarshal(raw, &id); err == nil {
		return id, nil
	}
	var ids []int
	if err := json.Unmarshal(raw, &ids); err != nil {
		return 0, err
	}
	if len(ids) == 0 {
		return 0, errors.New("empty list")
	}
	return ids[0], nil
}
