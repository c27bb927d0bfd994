package model

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sambaeval/sambaeval/checkpoint"
	"github.com/sambaeval/sambaeval/dtype"
	"github.com/sambaeval/sambaeval/kernels/cpu"
)

// pthConfig describes checkpoint/testdata/samba.pth, a small lit-gpt
// checkpoint saved by torch (block 0 Mamba, block 1 SWA) with its AdamW state.
func pthConfig() *Config {
	c := samba("pth-test", 2, 4, 32, 8)
	c.NQueryGroups, c.HeadSize = 1, 8
	c.VocabSize, c.PaddedVocabSize = 16, 16
	c.MambaDState, c.MambaDtRank = 4, 2
	c.LocalWindow = 4
	c.fill()
	return &c
}

func TestLoadAndConvertPth(t *testing.T) {
	const pth = "../checkpoint/testdata/samba.pth"
	cfg := pthConfig()
	m, err := LoadPth(pth, cfg, cpu.New())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ids := []int32{1, 5, 9, 3, 3, 7, 0, 15, 2, 11}
	want := score(t, m, ids, 3)

	for _, dt := range []dtype.DType{dtype.F32, dtype.BF16} {
		dir := t.TempDir()
		src, _ := OpenPth(pth)
		if err := Convert(src, cfg, dt, "", dir); err != nil {
			t.Fatal(err)
		}
		src.Close()
		m2, err := LoadDir(dir, cpu.New())
		if err != nil {
			t.Fatal(err)
		}
		got := score(t, m2, ids, 4)
		m2.Close()
		tol := 0.0 // f32: the same weights exactly
		if dt == dtype.BF16 {
			tol = 0.2 // bf16 rounding of every weight
		}
		if d := maxDiff(want, got); d > tol {
			t.Errorf("%s: converted model differs from the .pth by %g", dt, d)
		}
		if dt == dtype.F32 {
			if _, err := os.Stat(filepath.Join(dir, "model.safetensors")); err != nil {
				t.Error(err)
			}
			src, _ := checkpoint.OpenDir(dir)
			if _, ok := src.Tensor("lm_head.weight"); ok {
				t.Error("tied lm_head written beside the embedding")
			}
			src.Close()
		}
	}
	// The wrong config is refused before anything is written.
	bad := pthConfig()
	bad.MambaDState = 16
	src, _ := OpenPth(pth)
	defer src.Close()
	dir := filepath.Join(t.TempDir(), "out")
	if err := Convert(src, bad, dtype.BF16, "", dir); err == nil || !strings.Contains(err.Error(), "transformer.h.0.attn.x_proj.weight: shape [10, 64], want [34, 64]") {
		t.Fatalf("mismatched config: err = %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatal("a directory was written for a checkpoint that does not load")
	}
}
