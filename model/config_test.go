package model

import (
	"os"
	"strings"
	"testing"
)

func TestNamedParamCounts(t *testing.T) {
	// Tied parameter counts from the architecture reference (§2): they match
	// the model names, which confirms the shapes.
	want := map[string]float64{"Samba_421M": 421.8e6, "Samba_1.3B": 1.330e9, "Samba_1.7B": 1.742e9, "Samba_3.8B": 3.864e9}
	for name, p := range want {
		c, err := Named(name)
		if err != nil {
			t.Fatal(err)
		}
		got := float64(c.ParamCount())
		if d := (got - p) / p; d > 0.001 || d < -0.001 {
			t.Errorf("%s: %d parameters, want about %.4g", name, c.ParamCount(), p)
		}
	}
}

func TestBlocksLayout(t *testing.T) {
	c, _ := Named("Samba_421M")
	blocks, _ := c.Blocks()
	for i, b := range blocks {
		if (i%2 == 0) != (b.Mixer == Mamba) {
			t.Fatalf("block %d is %v", i, b.Mixer)
		}
		if b.Mixer == Attention && b.Window != 2048 {
			t.Fatalf("block %d window %d", i, b.Window)
		}
	}
	c.AttnLayerPos = "[1,5]"
	blocks, _ = c.Blocks()
	if blocks[1].Mixer != Attention || blocks[5].Mixer != Attention || blocks[3].Mixer != Mamba {
		t.Fatalf("attn_layer_pos ignored: %v", blocks)
	}
	c.AttnLayerPos = ""
	c.FullPerLayer = 2
	blocks, _ = c.Blocks()
	if blocks[1].Window != 0 {
		t.Fatalf("full_per_layer=2 leaves block 1 windowed: %v", blocks[1])
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
