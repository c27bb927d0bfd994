package model

import (
	"fmt"
	"sort"
	"strings"
)

// litgpt returns the fields microsoft/Samba's lit_gpt/config.py gives its
// LLaMA baselines (full attention, untied head, RMSNorm, SwiGLU MLP, no
// biases, vocabulary 32000 padded to a multiple of 64).
func litgpt(name string, nLayer, nHead, nEmbd, inter int) Config {
	return Config{
		Name: name, BlockSize: 4096, VocabSize: 32000, PaddingMultiple: 64,
		NLayer: nLayer, NEmbd: nEmbd, NHead: nHead, NQueryGroups: nHead, HeadSize: nEmbd / nHead,
		IntermediateSize: inter, RopeBase: 10000, RotaryPercentage: 1, NormEps: 1e-5,
		MambaConvBias: true, NormClass: "FusedRMSNorm", MLPClass: "LLaMAMLP",
		BOSTokenID: 1, EOSTokenID: 2, TorchDType: "bfloat16",
	}
}

// samba returns the common fields of the Samba configurations in
// microsoft/Samba lit_gpt/config.py: Mamba on even blocks, SWA-2048 on odd
// blocks, tied embeddings (mamba_init).
func samba(name string, nLayer, nHead, nEmbd, inter int) Config {
	c := litgpt(name, nLayer, nHead, nEmbd, inter)
	c.MbPerLayer, c.LocalWindow, c.MambaInit, c.TieEmbeddings = 2, 2048, true, true
	c.NormClass = "RMSNorm"
	return c
}

// llamaSWA is a lit-gpt LLaMA baseline with every attention block windowed.
func llamaSWA(name string, nLayer, nHead, nEmbd, inter, window int) Config {
	c := litgpt(name, nLayer, nHead, nEmbd, inter)
	c.LocalWindow = window
	return c
}

// mambaOnly is a lit-gpt Mamba_* config: mamba_ssm blocks (RMSNorm, Mamba
// mixer, no MLP), tied embeddings.
func mambaOnly(name string, nLayer, nEmbd int) Config {
	return Config{
		Name: name, BlockSize: 4096, VocabSize: 32000, PaddingMultiple: 64,
		NLayer: nLayer, NEmbd: nEmbd, NormEps: 1e-5, Mamba: true, TieEmbeddings: true,
		MambaConvBias: true, BOSTokenID: 1, EOSTokenID: 2, TorchDType: "bfloat16",
	}
}

// with applies edits to a copy of c.
func with(c Config, edits ...func(*Config)) Config {
	for _, e := range edits {
		e(&c)
	}
	return c
}

func setGroups(g, inter int) func(*Config) {
	return func(c *Config) { c.NQueryGroups, c.IntermediateSize = g, inter }
}
func setTied(c *Config)                  { c.MambaInit, c.TieEmbeddings = true, true }
func setNoPE(c *Config)                  { c.NoPE = true }
func setAblMamba(c *Config)              { c.AblMamba = true }
func setBlockSize(n int) func(*Config)   { return func(c *Config) { c.BlockSize = n } }
func setAttnAt(pos string) func(*Config) { return func(c *Config) { c.AttnLayerPos = pos } }

// setPhiVocab gives the Phi-2 vocabulary of the paper's 1.7B models.
func setPhiVocab(c *Config) { c.VocabSize = 50304 }

// hf returns a Hugging Face decoder config as ParseHFConfig reads it.
func hf(name, arch, format string, nLayer, nHead, nKV, nEmbd, inter, vocab, ctx int, theta float64) Config {
	return Config{
		Name: name, Architecture: arch, Format: format, BlockSize: ctx, VocabSize: vocab, PaddedVocabSize: vocab,
		NLayer: nLayer, NEmbd: nEmbd, NHead: nHead, NQueryGroups: nKV, HeadSize: nEmbd / nHead,
		IntermediateSize: inter, RopeBase: theta, RotaryPercentage: 1, NormEps: 1e-5,
		NormClass: "RMSNorm", MLPClass: "LLaMAMLP", BOSTokenID: 1, EOSTokenID: 2, TorchDType: "bfloat16",
	}
}

// named holds the built-in configurations: microsoft/Samba's lit_gpt
// configs (those whose blocks this engine runs), the paper's 1.7B/3.8B
// models and 1.7B baselines (ICLR Tables 11 and 12), and the shapes of
// the Hugging Face comparators (for random-weight runs; their checkpoints
// bring their own config.json).
var named = map[string]func() Config{
	// Samba (lit_gpt/config.py).
	"Samba_421M":            func() Config { return samba("Samba_421M", 12, 12, 1536, 4096) },
	"Samba_421M_mqa":        func() Config { return with(samba("Samba_421M_mqa", 12, 12, 1536, 0), setGroups(1, 4608)) },
	"Samba_421M_gqa2":       func() Config { return with(samba("Samba_421M_gqa2", 12, 12, 1536, 0), setGroups(2, 4608)) },
	"Samba_421M_gqa4":       func() Config { return with(samba("Samba_421M_gqa4", 12, 12, 1536, 0), setGroups(4, 4608)) },
	"Samba_421M_mqa6":       func() Config { return with(samba("Samba_421M_mqa6", 12, 6, 1536, 0), setGroups(1, 4608)) },
	"Samba_421M_1k_window":  func() Config { return with(samba("Samba_421M_1k_window", 12, 12, 1536, 4096), setWindow(1024)) },
	"Samba_421M_512_window": func() Config { return with(samba("Samba_421M_512_window", 12, 12, 1536, 4096), setWindow(512)) },
	"Samba_421M_nope":       func() Config { return with(samba("Samba_421M_nope", 12, 12, 1536, 4096), setNoPE) },
	"Samba_421M_abl_mamba":  func() Config { return with(samba("Samba_421M_abl_mamba", 12, 12, 1536, 4096), setAblMamba) },
	"Samba_1.3B":            func() Config { return samba("Samba_1.3B", 18, 18, 2304, 6144) },
	"Samba_1.3B_nope":       func() Config { return with(samba("Samba_1.3B_nope", 18, 18, 2304, 6144), setNoPE) },
	"Samba_1.3B_abl_mamba":  func() Config { return with(samba("Samba_1.3B_abl_mamba", 18, 18, 2304, 6144), setAblMamba) },

	// Mamba-SWA-MLP (lit_gpt/config.py): Mamba, SWA and MLP in every block.
	"Mamba_SWA_MLP_400M": func() Config {
		return with(samba("Mamba_SWA_MLP_400M", 8, 12, 1536, 4096), func(c *Config) { c.MbPerLayer, c.MambaSWAMLP = 0, true })
	},
	"Mamba_SWA_MLP_1.3B": func() Config {
		return with(samba("Mamba_SWA_MLP_1.3B", 12, 18, 2304, 6144), func(c *Config) { c.MbPerLayer, c.MambaSWAMLP = 0, true })
	},

	// Mamba (lit_gpt/config.py, mamba=True).
	"Mamba_370M": func() Config { return mambaOnly("Mamba_370M", 48, 1024) },
	"Mamba_430M": func() Config { return mambaOnly("Mamba_430M", 60, 1024) },
	"Mamba_1.3B": func() Config { return mambaOnly("Mamba_1.3B", 48, 2048) },

	// LLaMA baselines (lit_gpt/config.py): full attention unless windowed.
	"LLaMA_438M":          func() Config { return litgpt("LLaMA_438M", 12, 12, 1536, 4096) },
	"LLaMA_438M2k":        func() Config { return with(litgpt("LLaMA_438M2k", 12, 12, 1536, 4096), setBlockSize(2048)) },
	"LLaMA_438M_SWA":      func() Config { return llamaSWA("LLaMA_438M_SWA", 12, 12, 1536, 4096, 2048) },
	"LLaMA_438M_SWA_full": func() Config { return with(llamaSWA("LLaMA_438M_SWA_full", 12, 12, 1536, 4096, 2048), setFullPer(2)) },
	"LLaMA_438M_SWA_mqa":  func() Config { return with(llamaSWA("LLaMA_438M_SWA_mqa", 12, 12, 1536, 0, 2048), setGroups(1, 4608)) },
	"LLaMA_438M_SWA_mqa6": func() Config { return with(llamaSWA("LLaMA_438M_SWA_mqa6", 12, 6, 1536, 0, 2048), setGroups(1, 4608)) },
	"LLaMA_438M_SWA_gqa2": func() Config { return with(llamaSWA("LLaMA_438M_SWA_gqa2", 12, 12, 1536, 0, 2048), setGroups(2, 4608)) },
	"LLaMA_438M_SWA_gqa4": func() Config { return with(llamaSWA("LLaMA_438M_SWA_gqa4", 12, 12, 1536, 0, 2048), setGroups(4, 4608)) },
	"LLaMA_438M8k_SWA":    func() Config { return with(llamaSWA("LLaMA_438M8k_SWA", 12, 12, 1536, 4096, 2048), setBlockSize(8192)) },
	"LLaMA_438M16k_SWA": func() Config {
		return with(llamaSWA("LLaMA_438M16k_SWA", 12, 12, 1536, 4096, 2048), setBlockSize(16384))
	},
	"LLaMA_438M32k_SWA": func() Config {
		return with(llamaSWA("LLaMA_438M32k_SWA", 12, 12, 1536, 4096, 2048), setBlockSize(32768))
	},
	"LLaMA_438M_SWA_8k4k": func() Config {
		return with(llamaSWA("LLaMA_438M_SWA_8k4k", 14, 12, 1536, 4096, 4096), setBlockSize(8192), setTied)
	},
	"LLaMA_438M_SWA_8k2k": func() Config {
		return with(llamaSWA("LLaMA_438M_SWA_8k2k", 14, 12, 1536, 4096, 2048), setBlockSize(8192), setTied)
	},
	"LLaMA_1.3B":     func() Config { return with(litgpt("LLaMA_1.3B", 20, 18, 2304, 6144), setTied) },
	"LLaMA_1.3B_SWA": func() Config { return with(llamaSWA("LLaMA_1.3B_SWA", 20, 18, 2304, 6144, 2048), setTied) },
	"LLaMA_1.3B_SWA_8k4k": func() Config {
		return with(llamaSWA("LLaMA_1.3B_SWA_8k4k", 20, 18, 2304, 6144, 4096), setBlockSize(8192), setTied)
	},
	"LLaMA_1.3B_SWA_8k2k": func() Config {
		return with(llamaSWA("LLaMA_1.3B_SWA_8k2k", 20, 18, 2304, 6144, 2048), setBlockSize(8192), setTied)
	},
	"LLaMA_2.9B": func() Config { return with(litgpt("LLaMA_2.9B", 24, 24, 3072, 8192), setBlockSize(2048)) },

	// Layer-placement ablations (lit_gpt/config.py): Mamba everywhere but
	// the full-attention blocks listed in attn_layer_pos.
	"LLaMA_449M_full_mamba_0": func() Config {
		return with(litgpt("LLaMA_449M_full_mamba_0", 12, 12, 1536, 4096), setTied, setAttnAt("[0,]"))
	},
	"LLaMA_449M_full_mamba_5": func() Config {
		return with(litgpt("LLaMA_449M_full_mamba_5", 12, 12, 1536, 4096), setTied, setAttnAt("[5,]"))
	},
	"LLaMA_449M_full_mamba_11": func() Config {
		return with(litgpt("LLaMA_449M_full_mamba_11", 12, 12, 1536, 4096), setTied, setAttnAt("[11,]"))
	},
	"LLaMA_443M_full_mamba_1,5": func() Config {
		return with(litgpt("LLaMA_443M_full_mamba_1,5", 12, 12, 1536, 4096), setTied, setAttnAt("[1,5]"))
	},

	// The paper's larger Samba models (ICLR Table 12), unpublished in code.
	"Samba_1.7B": func() Config {
		// 48 layers (24 blocks), d_model 2048, 32 query / 4 KV heads, MLP
		// 8196 as printed (possibly a typo for 8192), Phi-2 vocabulary.
		return with(samba("Samba_1.7B", 24, 32, 2048, 0), setGroups(4, 8196), setPhiVocab)
	},
	"Samba_3.8B": func() Config {
		// 64 layers (32 blocks), d_model 2816, 11 query heads of 256
		// sharing one KV head, MLP 9984, Phi-3 vocabulary (32064 rows).
		return with(samba("Samba_3.8B", 32, 11, 2816, 0), setGroups(1, 9984), func(c *Config) {
			c.HeadSize, c.VocabSize, c.AddedTokens = 256, 32064, "phi3"
		})
	},

	// The paper's 1.7B baselines (ICLR Table 11: d_model 2048, 32 query /
	// 4 KV heads, MLP 8196, Phi-2 vocabulary, window 2048, trained at 4K).
	// Table 11 counts sub-layers, as for Samba_1.7B; tying is not published
	// (the names' sizes fit untied Llama/Mistral and tied Mamba models).
	// Mamba_MLP_1.7B, 24 × (Mamba, MLP 8196), computes to 1.95B: the paper
	// gives no size for it.
	"Llama-3_1.6B": func() Config {
		return with(litgpt("Llama-3_1.6B", 24, 32, 2048, 0), setGroups(4, 8196), setPhiVocab)
	},
	"Mistral_1.6B": func() Config {
		return with(llamaSWA("Mistral_1.6B", 24, 32, 2048, 0, 2048), setGroups(4, 8196), setPhiVocab)
	},
	"Mamba_1.8B": func() Config { return with(mambaOnly("Mamba_1.8B", 64, 2048), setPhiVocab) },
	"Mamba_SWA_MLP_1.7B": func() Config {
		return with(samba("Mamba_SWA_MLP_1.7B", 18, 32, 2048, 0), setGroups(4, 8196), setPhiVocab,
			func(c *Config) { c.MbPerLayer, c.MambaSWAMLP = 0, true })
	},
	"Mamba_MLP_1.7B": func() Config {
		return with(samba("Mamba_MLP_1.7B", 24, 32, 2048, 8196), setPhiVocab, func(c *Config) { c.MbPerLayer = 1 })
	},

	// Hugging Face comparators (their config.json values).
	"Llama-2-7b": func() Config {
		return hf("Llama-2-7b", "llama", FormatHFLlama, 32, 32, 32, 4096, 11008, 32000, 4096, 10000)
	},
	"Llama-2-13b": func() Config {
		return hf("Llama-2-13b", "llama", FormatHFLlama, 40, 40, 40, 5120, 13824, 32000, 4096, 10000)
	},
	"Meta-Llama-3-8B": func() Config {
		return with(hf("Meta-Llama-3-8B", "llama", FormatHFLlama, 32, 32, 8, 4096, 14336, 128256, 8192, 500000),
			func(c *Config) { c.BOSTokenID, c.EOSTokenID = 128000, 128001 })
	},
	"Mistral-7B-v0.1": func() Config {
		// sliding_window 4096 keys before the query: a window of 4097.
		return with(hf("Mistral-7B-v0.1", "mistral", FormatHFLlama, 32, 32, 8, 4096, 14336, 32000, 32768, 10000), setWindow(4097))
	},
	"Phi4_mini_flash": phi4MiniFlash,
	"Phi-3-mini-4k": func() Config {
		// sliding_window 2047 keys before the query: a window of 2048.
		return with(hf("Phi-3-mini-4k", "phi3", FormatHFPhi3, 32, 32, 32, 3072, 8192, 32064, 4096, 10000), setWindow(2048),
			func(c *Config) { c.EOSTokenID, c.AddedTokens = 32000, "phi3" })
	},
}

func setWindow(w int) func(*Config)  { return func(c *Config) { c.LocalWindow = w } }
func setFullPer(n int) func(*Config) { return func(c *Config) { c.FullPerLayer = n } }

// Named returns a built-in configuration by name (case-insensitive).
func Named(name string) (*Config, error) {
	for n, f := range named {
		if strings.EqualFold(n, name) {
			c := f()
			c.fill()
			if err := c.Validate(); err != nil {
				return nil, fmt.Errorf("built-in config %s: %w", n, err)
			}
			return &c, nil
		}
	}
	return nil, fmt.Errorf("unknown config %q (known: %s)", name, strings.Join(NamedConfigs(), ", "))
}

// NamedConfigs lists the built-in configuration names.
func NamedConfigs() []string {
	names := make([]string, 0, len(named))
	for n := range named {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ParamCount returns the number of distinct parameters of a configuration
// (tied embeddings counted once), 0 for an invalid one.
func (c *Config) ParamCount() int64 {
	specs, err := c.tensorSpecs()
	if err != nil {
		return 0
	}
	var n int64
	for _, s := range specs {
		p := int64(1)
		for _, d := range s.shape {
			p *= int64(d)
		}
		n += p
	}
	return n
}

// MatMulParams returns how many weights each token is multiplied by: in
// the blocks' projections, and in the output head (the embedding when
// tied). Norm weights, biases, convolutions and scan parameters are left
// out, as is the embedding lookup.
func (c *Config) MatMulParams() (blocks, head int64) {
	specs, err := c.tensorSpecs()
	if err != nil {
		return 0, 0
	}
	for _, s := range specs {
		if len(s.shape) != 2 || (s.init != initNormal && s.init != initOut && s.init != initDtProj) {
			continue
		}
		n := int64(s.shape[0]) * int64(s.shape[1])
		switch {
		case strings.Contains(s.name, "lm_head"):
			head = n
		case strings.Contains(s.name, "wte") || strings.Contains(s.name, "embed_tokens"):
			if c.TieEmbeddings {
				head = n
			}
		default:
			blocks += n
		}
	}
	return blocks, head
}
