package main

import (
	"strings"
	"testing"
)

func TestListModels(t *testing.T) {
	out, stderr, err := sambaeval(t, "list-models")
	if err != nil {
		t.Fatal(err, stderr)
	}
	for _, arch := range []string{"samba", "mamba-swa-mlp", "mamba-mlp", "mamba", "mlp2-swa-mlp", "llama", "llama-swa", "mistral", "phi3"} {
		if !strings.Contains(out, "\n  "+arch+" ") {
			t.Errorf("architecture %s not listed", arch)
		}
	}
	// name → fields that must appear on its line (arch, format, parameters, limit, layout).
	want := map[string][]string{
		"Samba_421M":         {" samba ", "lit-gpt", " 422M ", "6×[mamba+mlp, swa2048+mlp]"},
		"Mamba_SWA_MLP_400M": {" mamba-swa-mlp ", " 395M ", "8×mamba+swa2048+mlp"},
		"Mamba_370M":         {" mamba ", "48×mamba"},
		"LLaMA_438M":         {" llama ", " 438M ", " 4096 ", "12×attn+mlp"},
		"Mistral-7B-v0.1":    {" mistral ", "hf-llama", " 4097 ", "32×swa4097+mlp"},
		"Phi-3-mini-4k":      {" phi3 ", "hf-phi3", " 3821M "},
	}
	for name, fields := range want {
		var line string
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, name+" ") {
				line = l
			}
		}
		if line == "" {
			t.Errorf("%s not listed", name)
			continue
		}
		for _, f := range fields {
			if !strings.Contains(line, f) {
				t.Errorf("%s: %q lacks %q", name, line, f)
			}
		}
	}
}
