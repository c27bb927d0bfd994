package model

import (
	"github.com/sambaeval/sambaeval/tokenizer"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sambaeval/sambaeval/kernels/cpu"
)

// llama2Config is the config.json of meta-llama/Llama-2-7b-hf.
const llama2Config = `{
  "_name_or_path": "meta-llama/Llama-2-7b-hf",
  "architectures": ["LlamaForCausalLM"],
  "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 4096,
  "initializer_range": 0.02, "intermediate_size": 11008, "max_position_embeddings": 4096,
  "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 32,
  "num_key_value_heads": 32, "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": null,
  "tie_word_embeddings": false, "torch_dtype": "float16", "transformers_version": "4.31.0.dev0",
  "use_cache": true, "vocab_size": 32000
}`

func TestParseHFConfig(t *testing.T) {
	cases := []struct {
		name string
		js   string
		want func(*Config) bool
	}{
		{"llama-2", llama2Config, func(c *Config) bool {
			named, _ := Named("Llama-2-7b")
			return c.Arch() == "llama" && c.Format == FormatHFLlama && c.Name == "meta-llama/Llama-2-7b-hf" &&
				c.ParamCount() == named.ParamCount() && c.ParamCount() == 6738415616 && c.ContextLimit() == 4096 &&
				c.PaddedVocabSize == 32000 && !c.TieEmbeddings && c.RopeBase == 10000
		}},
		{"llama-3", `{"architectures": ["LlamaForCausalLM"], "hidden_size": 4096, "intermediate_size": 14336,
			"num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256,
			"max_position_embeddings": 8192, "rope_theta": 500000.0, "bos_token_id": 128000, "eos_token_id": 128001}`,
			func(c *Config) bool {
				return c.NQueryGroups == 8 && c.RopeBase == 500000 && c.BOSTokenID == 128000 && c.NormEps == 1e-6 &&
					c.ParamCount() == 8030261248
			}},
		{"eos list", `{"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 128,
			"num_hidden_layers": 1, "num_attention_heads": 4, "eos_token_id": [128001, 128008, 128009]}`,
			func(c *Config) bool { return c.EOSTokenID == 128001 && c.VocabSize == 32000 }},
		{"rope_parameters (transformers 5)", `{"architectures": ["LlamaForCausalLM"], "hidden_size": 64,
			"intermediate_size": 128, "num_hidden_layers": 1, "num_attention_heads": 4,
			"rope_parameters": {"rope_type": "default", "rope_theta": 250000.0}}`,
			func(c *Config) bool { return c.RopeBase == 250000 }},
		{"mistral", `{"architectures": ["MistralForCausalLM"], "hidden_size": 4096, "intermediate_size": 14336,
			"num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
			"max_position_embeddings": 32768, "sliding_window": 4096, "rope_theta": 10000.0, "vocab_size": 32000}`,
			func(c *Config) bool {
				blocks, _ := c.Blocks()
				return c.Arch() == "mistral" && blocks[0].Mixers[0].Window == 4097 && c.ContextLimit() == 0
			}},
		{"mistral v0.2 (no window)", `{"model_type": "mistral", "hidden_size": 64, "intermediate_size": 128,
			"num_hidden_layers": 1, "num_attention_heads": 4, "sliding_window": null, "max_position_embeddings": 32768}`,
			func(c *Config) bool { return c.LocalWindow == 0 && c.ContextLimit() == 32768 }},
		{"phi-3-mini-4k", `{"architectures": ["Phi3ForCausalLM"], "hidden_size": 3072, "intermediate_size": 8192,
			"num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32, "vocab_size": 32064,
			"max_position_embeddings": 4096, "original_max_position_embeddings": 4096, "sliding_window": 2047,
			"rope_scaling": null, "rms_norm_eps": 1e-05, "bos_token_id": 1, "eos_token_id": 32000, "pad_token_id": 32000}`,
			func(c *Config) bool {
				named, _ := Named("Phi-3-mini-4k")
				return c.Format == FormatHFPhi3 && c.LocalWindow == 2048 && c.AddedTokens == "phi3" &&
					c.EOSTokenID == 32000 && c.ParamCount() == named.ParamCount() && c.ParamCount() == 3821079552
			}},
	}
	for _, tc := range cases {
		c, err := ParseConfig("config.json", []byte(tc.js))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !tc.want(c) {
			t.Errorf("%s: unexpected config %+v", tc.name, c)
		}
	}
}

func TestParseHFConfigRefusals(t *testing.T) {
	base := `"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 1, "num_attention_heads": 4`
	cases := map[string]string{
		`{"architectures": ["LlamaForCausalLM"], ` + base + `, "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0,
			"high_freq_factor": 4.0, "original_max_position_embeddings": 8192, "rope_type": "llama3"}}`: `rope_scaling type "llama3" (Llama-3.1 frequency rescaling) not supported`,
		`{"architectures": ["Phi3ForCausalLM"], ` + base + `, "rope_scaling": {"type": "longrope", "long_factor": [1.0]}}`: `rope_scaling type "longrope" not supported`,
		`{"architectures": ["Qwen2ForCausalLM"], ` + base + `}`:                                                            "unsupported Hugging Face architecture Qwen2ForCausalLM",
		`{"model_type": "gpt2"}`: "unsupported Hugging Face architecture model_type gpt2",
		`{"architectures": ["LlamaForCausalLM"], ` + base + `, "attention_bias": true}`:                                "attention_bias/mlp_bias not supported",
		`{"architectures": ["LlamaForCausalLM"], ` + base + `, "hidden_act": "gelu"}`:                                  `hidden_act "gelu" not supported`,
		`{"architectures": ["Phi3ForCausalLM"], ` + base + `, "partial_rotary_factor": 0.75}`:                          "partial_rotary_factor 0.75 not supported",
		`{"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "num_hidden_layers": 1, "num_attention_heads": 4}`: "intermediate_size 0 must be positive",
	}
	for js, want := range cases {
		_, err := ParseConfig("config.json", []byte(js))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s\nerr = %v, want %q", js, err, want)
		}
	}
}

func TestLitGPTRefusals(t *testing.T) {
	base := `"n_layer": 2, "n_embd": 8, "n_head": 2, "vocab_size": 10, "intermediate_size": 4`
	cases := map[string]string{
		`{` + base + `, "use_mega": true}`:                           "use_mega (S6-Mega) not supported",
		`{` + base + `, "gla_per_layer": 2}`:                         "gla_per_layer",
		`{` + base + `, "ret_per_layer": 2}`:                         "ret_per_layer",
		`{` + base + `, "mamba": true, "rms_norm": false}`:           "rms_norm false",
		`{` + base + `, "parallel_residual": true}`:                  "parallel_residual",
		`{` + base + `, "mamba": true, "mamba_swa_mlp": true}`:       "mamba together with mamba_swa_mlp",
		`{` + base + `, "checkpoint_format": "gguf"}`:                `checkpoint_format "gguf" unknown`,
		`{` + base + `, "mb_per_layer": 1, "mamba_proj_bias": true}`: "mamba_proj_bias",
	}
	for js, want := range cases {
		_, err := ParseConfig("config.json", []byte(js))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", js, err, want)
		}
	}
	// lit-gpt's defaults for fields a pure Mamba model never uses do not matter.
	c, err := ParseConfig("config.json", []byte(`{"n_layer": 2, "n_embd": 32, "vocab_size": 10, "mamba": true,
		"_norm_class": "LayerNorm", "_mlp_class": "GptNeoxMLP", "bias": true, "parallel_residual": true, "rotary_percentage": 0.25}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Arch() != "mamba" || !c.TieEmbeddings || c.ContextLimit() != 0 {
		t.Fatalf("pure Mamba config read as %s (tied %v)", c.Arch(), c.TieEmbeddings)
	}
}

func TestDirTokenizer(t *testing.T) {
	write := func(dir, name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sp := t.TempDir()
	write(sp, "tokenizer.model", "x")
	write(sp, "tokenizer.json", `{"model": {"type": "BPE"}}`)
	if got, err := dirTokenizer(sp); err != nil || got != filepath.Join(sp, "tokenizer.model") {
		t.Errorf("tokenizer.model beside tokenizer.json: %q, %v", got, err)
	}
	bl := t.TempDir()
	write(bl, "tokenizer.json", `{"model": {"type": "BPE"}}`)
	if got, err := dirTokenizer(bl); err != nil || got != filepath.Join(bl, "tokenizer.json") {
		t.Errorf("tokenizer.json alone: %q, %v", got, err)
	}
	// A SentencePiece-style tokenizer.json (byte fallback) is not a byte-level BPE: loading it fails clearly.
	js := t.TempDir()
	write(js, "tokenizer.json", `{"model": {"type": "BPE", "byte_fallback": true, "vocab": {}, "merges": []}, "decoder": {"type": "Sequence"}}`)
	if _, err := tokenizer.LoadAny(filepath.Join(js, "tokenizer.json")); err == nil {
		t.Errorf("SentencePiece-style tokenizer.json loaded as byte-level BPE")
	}
	if _, err := dirTokenizer(t.TempDir()); err == nil || !strings.Contains(err.Error(), "has no tokenizer.model or tokenizer.json") {
		t.Errorf("no tokenizer: %v", err)
	}
}

func TestOpenHFDirectory(t *testing.T) {
	// The tiny Hugging Face models carry no tokenizer: Open says so.
	_, err := open(Spec{Model: "testdata/archs/hf_phi3"}, cpu.New())
	if err == nil || !strings.Contains(err.Error(), "hf_phi3 has no tokenizer.model") {
		t.Fatalf("err = %v", err)
	}
	// A full-attention model from a config file: the long-context option
	// reaches the model.
	cfg := filepath.Join(t.TempDir(), "tiny-llama", "config.json")
	os.Mkdir(filepath.Dir(cfg), 0o755)
	os.WriteFile(cfg, []byte(`{"architectures": ["LlamaForCausalLM"], "hidden_size": 32, "intermediate_size": 48,
		"num_hidden_layers": 1, "num_attention_heads": 4, "vocab_size": 32000, "max_position_embeddings": 16}`), 0o644)
	seed := uint64(3)
	for _, long := range []bool{false, true} {
		m, err := Open(Spec{RandomWeights: &seed, Config: cfg, Device: "cpu", AllowLongContext: long})
		if err != nil {
			t.Fatal(err)
		}
		ids := make([]int32, 20)
		err = m.NewSession().Prefill(ids)
		if m.Info.Name != "tiny-llama" {
			t.Errorf("model from %s named %q", cfg, m.Info.Name)
		}
		if long != (err == nil) || m.ContextLimit() != 16 {
			t.Errorf("AllowLongContext %v: 20 tokens past a 16-token context: err = %v", long, err)
		}
	}
}

func TestHFAddBOS(t *testing.T) {
	tok, err := tokenizer.Load("../models/samba-tiny/tokenizer.model")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if !hfAddBOS(dir, tok, true) || hfAddBOS(dir, tok, false) {
		t.Fatal("without tokenizer_config.json the family default must stand")
	}
	os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(`{"add_bos_token": false, "add_eos_token": false}`), 0o644)
	if hfAddBOS(dir, tok, true) {
		t.Fatal("add_bos_token false (Phi-3) ignored")
	}
	c, err := ParseHFConfig([]byte(`{"architectures": ["MistralForCausalLM"], "hidden_size": 32, "intermediate_size": 48,
		"num_hidden_layers": 1, "num_attention_heads": 4, "vocab_size": 32000}`))
	if err != nil || !c.AddBOS {
		t.Fatalf("Mistral should add BOS by default: %v %v", c, err)
	}
}
