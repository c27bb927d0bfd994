package model

import (
	"os"
	"strings"
	"testing"
)

func TestNamedParamCounts(t *testing.T) {
	cases := []struct {
		name string
		want float64 // parameters
		tol  float64 // relative
	}{
		// Tied counts from the architecture reference (§2): they match the
		// model names, which confirms the shapes.
		{"Samba_421M", 421.8e6, 0.001}, {"Samba_1.3B", 1.330e9, 0.001}, {"Samba_1.7B", 1.742e9, 0.001}, {"Samba_3.8B", 3.864e9, 0.001},
		// Paper Table 3 sizes of the 421M-scale comparators (rounded in the paper).
		{"LLaMA_438M", 438e6, 0.005}, {"LLaMA_438M_SWA", 438e6, 0.005}, {"Mamba_430M", 432e6, 0.005},
		{"Mamba_SWA_MLP_400M", 400e6, 0.015}, {"Samba_421M_abl_mamba", 417e6, 0.005}, {"Samba_421M_nope", 421e6, 0.005},
		// Names of the placement ablations.
		{"LLaMA_449M_full_mamba_0", 449e6, 0.005}, {"LLaMA_443M_full_mamba_1,5", 443e6, 0.005},
		// Published parameter counts of the Hugging Face comparators.
		{"Llama-2-7b", 6738415616, 0}, {"Meta-Llama-3-8B", 8030261248, 0}, {"Mistral-7B-v0.1", 7241732096, 0}, {"Phi-3-mini-4k", 3821079552, 0},
	}
	for _, tc := range cases {
		c, err := Named(tc.name)
		if err != nil {
			t.Fatal(err)
		}
		got := float64(c.ParamCount())
		if d := (got - tc.want) / tc.want; d > tc.tol || d < -tc.tol {
			t.Errorf("%s: %d parameters, want about %.4g", tc.name, c.ParamCount(), tc.want)
		}
	}
}

func TestBlocksLayout(t *testing.T) {
	layout := func(name string, edit func(*Config)) string {
		t.Helper()
		c, err := Named(name)
		if err != nil {
			t.Fatal(err)
		}
		if edit != nil {
			edit(c)
		}
		blocks, err := c.Blocks()
		if err != nil {
			t.Fatal(err)
		}
		return LayoutString(blocks)
	}
	cases := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"Samba_421M", nil, "6×[mamba+mlp, swa2048+mlp]"},
		{"Samba_421M", func(c *Config) { c.AttnLayerPos = "[1,5]" }, "mamba+mlp, swa2048+mlp, 3×mamba+mlp, swa2048+mlp, 6×mamba+mlp"},
		{"Samba_421M", func(c *Config) { c.FullPerLayer = 4 }, "3×[mamba+mlp, swa2048+mlp, mamba+mlp, attn+mlp]"},
		{"Samba_421M", func(c *Config) { f := false; c.MLP = &f }, "6×[mamba, swa2048]"},
		{"Samba_421M_abl_mamba", nil, "6×[mlp3072+mlp, swa2048+mlp]"},
		{"Mamba_SWA_MLP_400M", nil, "8×mamba+swa2048+mlp"},
		{"Mamba_370M", nil, "48×mamba"},
		{"Mamba_MLP_1.7B", nil, "24×mamba+mlp"},
		{"LLaMA_438M", nil, "12×attn+mlp"},
		{"LLaMA_438M_SWA", nil, "12×swa2048+mlp"},
		{"LLaMA_438M_SWA_full", nil, "6×[swa2048+mlp, attn+mlp]"},
		{"LLaMA_443M_full_mamba_1,5", nil, "mamba+mlp, attn+mlp, 3×mamba+mlp, attn+mlp, 6×mamba+mlp"},
		{"LLaMA_449M_full_mamba_0", nil, "attn+mlp, 11×mamba+mlp"},
		{"Mistral-7B-v0.1", nil, "32×swa4097+mlp"},
		{"Meta-Llama-3-8B", nil, "32×attn+mlp"},
	}
	for _, tc := range cases {
		if got := layout(tc.name, tc.edit); got != tc.want {
			t.Errorf("%s: layout %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestArch(t *testing.T) {
	want := map[string]string{
		"Samba_421M": "samba", "Samba_421M_nope": "samba", "Samba_421M_abl_mamba": "mlp2-swa-mlp",
		"Mamba_SWA_MLP_1.3B": "mamba-swa-mlp", "Mamba_1.3B": "mamba", "Mamba_MLP_1.7B": "mamba-mlp",
		"LLaMA_1.3B": "llama", "LLaMA_438M_SWA": "llama-swa", "LLaMA_438M_SWA_full": "llama-swa-full",
		"LLaMA_449M_full_mamba_5": "hybrid", "Mistral-7B-v0.1": "mistral", "Phi-3-mini-4k": "phi3",
	}
	for name, arch := range want {
		c, err := Named(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Arch(); got != arch {
			t.Errorf("%s: arch %q, want %q", name, got, arch)
		}
	}
}

func TestSambaTinyConfig(t *testing.T) {
	c, err := ReadConfig("../models/samba-tiny/config.json")
	if err != nil {
		t.Fatal(err)
	}
	if c.DInner() != 512 || c.MambaDtRank != 16 || c.QKVRows() != 384 || !c.TieEmbeddings {
		t.Fatalf("samba-tiny derived shapes wrong: %+v", c)
	}
	if got := c.ParamCount(); got != 15321344 {
		t.Fatalf("samba-tiny has %d parameters, its README says 15,321,344", got)
	}
}

func TestBadConfigs(t *testing.T) {
	cases := map[string]string{
		`{"n_layer": 0, "n_embd": 8, "n_head": 2, "vocab_size": 10, "intermediate_size": 4}`:                             "n_layer",
		`{"n_layer": 2, "n_embd": 8, "n_head": 3, "n_query_groups": 2, "vocab_size": 10, "intermediate_size": 4}`:        "n_query_groups",
		`{"n_layer": 2, "n_embd": 8, "n_head": 2, "vocab_size": 10, "intermediate_size": 4, "_norm_class": "LayerNorm"}`: "_norm_class",
		`{"n_layer": 2, "n_embd": 8, "n_head": 2, "vocab_size": 10, "intermediate_size": 4, "attn_layer_pos": "[7]"}`:    "attn_layer_pos",
		`{"n_layer": "two"}`: "config.json",
	}
	for js, want := range cases {
		_, err := ParseConfig("config.json", []byte(js))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want mention of %q", js, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("error is not one line: %q", err)
		}
	}
	if _, err := ReadConfig("does-not-exist.json"); !os.IsNotExist(err) {
		t.Errorf("missing file: %v", err)
	}
}
