package model

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sambaeval/sambaeval/checkpoint"
	"github.com/sambaeval/sambaeval/dtype"
)

// phi4FlashConfigJSON is the config.json of
// microsoft/Phi-4-mini-flash-reasoning: the architecture-relevant fields
// at revision 1dff8163 as onnxruntime/mobius's test pins them (the Mamba
// fields come from configuration_phi4flash.py's defaults).
const phi4FlashConfigJSON = `{
  "_name_or_path": "microsoft/Phi-4-mini-flash-reasoning",
  "architectures": ["Phi4FlashForCausalLM"], "model_type": "phi4flash",
  "vocab_size": 200064, "hidden_size": 2560, "intermediate_size": 10240, "num_hidden_layers": 32,
  "num_attention_heads": 40, "num_key_value_heads": 20, "max_position_embeddings": 262144,
  "sliding_window": 512, "hidden_act": "silu", "layer_norm_eps": 1e-05, "tie_word_embeddings": true,
  "torch_dtype": "bfloat16", "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2
}`

func TestPhi4FlashConfig(t *testing.T) {
	c, err := ParseConfig("config.json", []byte(phi4FlashConfigJSON))
	if err != nil {
		t.Fatal(err)
	}
	named, err := Named("Phi4_mini_flash")
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []*Config{c, named} {
		blocks, err := cfg.Blocks()
		if err != nil {
			t.Fatal(err)
		}
		const layout = "8×[mamba+mlp, diff-swa512+mlp], mamba→mem+mlp, diff-attn+mlp, 7×[gmu+mlp, diff-xattn+mlp]"
		if got := LayoutString(blocks); got != layout {
			t.Errorf("%s: layout %s, want %s", cfg.Name, got, layout)
		}
		// 3.853B parameters (samba-architecture.md §4.4, computed from
		// the published shapes; the tied head counted once).
		if got := cfg.ParamCount(); got != 3852562944 {
			t.Errorf("%s: %d parameters, want 3852562944", cfg.Name, got)
		}
		if cfg.Arch() != "sambay" || cfg.Format != FormatHFPhi4Flash || cfg.DInner() != 5120 || cfg.MambaDtRank != 160 ||
			cfg.MambaDState != 16 || cfg.MambaDConv != 4 || !cfg.MambaConvBias || !cfg.TieEmbeddings || !cfg.NoPE ||
			cfg.HeadSize != 64 || cfg.ContextLimit() != 262144 || cfg.NormEps != 1e-5 {
			t.Errorf("%s: unexpected config %+v", cfg.Name, cfg)
		}
		// The growing cache is layer 17's keys and values: 2 · 20 heads ·
		// 64 · 4 bytes per token (2 bytes per element in bf16); the rest
		// is 9 Mamba states (float32 either way) and 8 rings of 511
		// positions.
		mamba, rings := int64(9*(3*5120+5120*16)*4), int64(8*511*2*1280)
		if got, want := cfg.StateBytes(1000, 4), mamba+4*rings+1000*10240; got != want {
			t.Errorf("%s: state after 1000 tokens %d bytes, want %d", cfg.Name, got, want)
		}
		if got, want := cfg.StateBytes(1000, 2), mamba+2*rings+1000*5120; got != want {
			t.Errorf("%s: state after 1000 tokens with bf16 caches %d bytes, want %d", cfg.Name, got, want)
		}
	}
	if c.Name != "microsoft/Phi-4-mini-flash-reasoning" || c.LocalWindow != 512 {
		t.Errorf("name %q, window %d", c.Name, c.LocalWindow)
	}
}

func TestPhi4FlashRefusals(t *testing.T) {
	edit := func(old, new string) string {
		if !strings.Contains(phi4FlashConfigJSON, old) {
			t.Fatalf("%q not in the config", old)
		}
		return strings.Replace(phi4FlashConfigJSON, old, new, 1)
	}
	cases := map[string]string{
		edit(`"num_hidden_layers": 32`, `"num_hidden_layers": 30`):                              "multiple of 4",
		edit(`"sliding_window": 512,`, ``):                                                      "sliding_window missing",
		edit(`"sliding_window": 512`, `"sliding_window": [512]`):                                "sliding_window",
		edit(`"hidden_act": "silu"`, `"hidden_act": "gelu"`):                                    "hidden_act",
		edit(`"num_key_value_heads": 20`, `"num_key_value_heads": 5`):                           "even number",
		edit(`"model_type": "phi4flash"`, `"model_type": "phi4flash", "mb_per_layer": 3`):       "mb_per_layer 2",
		edit(`"model_type": "phi4flash"`, `"model_type": "phi4flash", "mamba_proj_bias": true`): "mamba_proj_bias",
		edit(`"model_type": "phi4flash"`, `"model_type": "phi4flash", "mamba_dt_rank": "big"`):  "mamba_dt_rank",
	}
	for js, want := range cases {
		_, err := ParseConfig("config.json", []byte(js))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want mention of %q", err, want)
		}
	}
	// SambaY's fields outside the SambaY layout, and the layout without
	// the rest of Phi-4-mini-flash's configuration, are refused.
	lit := map[string]string{
		`{"n_layer": 2, "n_embd": 8, "n_head": 2, "vocab_size": 10, "intermediate_size": 4, "use_da": true}`:                      "use_da is supported only",
		`{"n_layer": 4, "n_embd": 8, "n_head": 2, "vocab_size": 10, "intermediate_size": 4, "mb_per_layer": 2, "yoco": true}`:     "checkpoint_format hf-phi4flash",
		`{"n_layer": 2, "n_embd": 8, "n_head": 2, "vocab_size": 10, "intermediate_size": 4, "checkpoint_format": "hf-phi4flash"}`: "needs yoco",
	}
	for js, want := range lit {
		_, err := ParseConfig("config.json", []byte(js))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want mention of %q", js, err, want)
		}
	}
}

// TestSambaYState checks the tiny SambaY's state: its size matches
// StateBytes (only the full-attention layer grows), a snapshot resumes
// exactly, and sequences batched together score as they do alone.
func TestSambaYState(t *testing.T) {
	m := loadArch(t, "sambay")
	c := &m.Config
	s := m.NewSession()
	if err := s.Prefill(randomIDs(256, c.VocabSize, 1)); err != nil { // the cache grows to exactly 256 positions
		t.Fatal(err)
	}
	if got, want := s.StateBytes(), c.StateBytes(256, 4); got != want {
		t.Errorf("state after 256 tokens: %d bytes, StateBytes says %d", got, want)
	}
	if per := c.StateBytes(257, 4) - c.StateBytes(256, 4); per != 2*2*8*4 {
		t.Errorf("growing cache: %d bytes per token, want %d (2 · 2 heads · 8 · 4 bytes)", per, 2*2*8*4)
	}

	prefix, cont := randomIDs(37, c.VocabSize, 2), randomIDs(25, c.VocabSize, 3)
	s = m.NewSession()
	if err := s.Prefill(prefix); err != nil {
		t.Fatal(err)
	}
	snap := s.Snapshot()
	if err := s.Prefill(randomIDs(19, c.VocabSize, 4)); err != nil { // move away, then come back
		t.Fatal(err)
	}
	if err := s.Restore(snap); err != nil {
		t.Fatal(err)
	}
	got, err := s.Score(cont, nextTargets(cont))
	if err != nil {
		t.Fatal(err)
	}
	whole := append(append([]int32(nil), prefix...), cont...)
	if d := maxDiff(got[:len(cont)-1], score(t, m, whole, 5)[len(prefix):]); d != 0 {
		t.Errorf("scoring from a snapshot differs by %g", d)
	}

	var ids, tg [][]int32
	var sess []*Session
	for k, n := range []int{3, 40, 1, 23} {
		x := randomIDs(n, c.VocabSize, uint64(10+k))
		ids, tg, sess = append(ids, x), append(tg, nextTargets(x)), append(sess, m.NewSession())
	}
	batch, err := m.ScoreBatch(sess, ids, tg, 6)
	if err != nil {
		t.Fatal(err)
	}
	for k := range ids {
		alone := m.NewSession()
		alone.ChunkSize = 4
		want, _ := alone.Score(ids[k], tg[k])
		for i := range want {
			if want[i] != batch[k][i] {
				t.Fatalf("sequence %d row %d: batch %+v alone %+v", k, i, batch[k][i], want[i])
			}
		}
	}
}

// TestOpenPhi4FlashDirectory opens a Phi4FlashForCausalLM directory laid
// out as on the Hugging Face hub: config.json, sharded safetensors with an
// index, and a byte-level BPE tokenizer.json with its tokenizer_config.json.
func TestOpenPhi4FlashDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "Phi-4-mini-flash-tiny")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	for _, ac := range archCases {
		if ac.name == "sambay" {
			h = maps.Clone(ac.hf)
		}
	}
	h["vocab_size"] = 800 // the test tokenizer has 765 tokens
	cj, _ := json.Marshal(h)
	cfg, err := ParseConfig("config.json", cj)
	if err != nil {
		t.Fatal(err)
	}
	src, err := RandomCheckpoint(cfg, 5, dtype.BF16)
	if err != nil {
		t.Fatal(err)
	}
	// Two shards and an index, as the hub has the real model.
	index := map[string]any{"metadata": map[string]any{}, "weight_map": map[string]string{}}
	shards := map[string][]*checkpoint.Tensor{}
	for i, name := range src.Names() {
		shard := fmt.Sprintf("model-%05d-of-00002.safetensors", 1+i%2)
		shards[shard] = append(shards[shard], src[name])
		index["weight_map"].(map[string]string)[name] = shard
	}
	for shard, ts := range shards {
		if err := checkpoint.WriteSafetensors(filepath.Join(dir, shard), ts, map[string]string{"format": "pt"}); err != nil {
			t.Fatal(err)
		}
	}
	ij, _ := json.Marshal(index)
	tj, err := os.ReadFile("../tokenizer/testdata/bpe/tiny_o200k.json")
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"config.json": cj, checkpoint.IndexFile: ij, "tokenizer.json": tj,
		"tokenizer_config.json": []byte(`{"eos_token": "<|endoftext|>"}`),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m, err := Open(Spec{Model: dir, Device: "cpu"})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Config.Arch() != "sambay" || m.Info.Name != "Phi-4-mini-flash-tiny" {
		t.Errorf("opened %s as %s", m.Info.Name, m.Config.Arch())
	}
	ids := m.Tokenizer.Encode("<|user|>Hello, world!<|end|><|assistant|>")
	if len(ids) < 4 || ids[0] != 762 || m.Tokenizer.EOS() != 759 {
		t.Fatalf("tokenizer: %v, EOS %d", ids, m.Tokenizer.EOS())
	}
	toks := make([]int32, len(ids))
	for i, id := range ids {
		toks[i] = int32(id)
	}
	if _, err := m.NewSession().Logits(toks); err != nil {
		t.Fatal(err)
	}
}
