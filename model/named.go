package model

import (
	"fmt"
	"sort"
	"strings"
)

// samba returns the common fields of the Samba configurations in
// microsoft/Samba lit_gpt/config.py.
func samba(name string, nLayer, nHead, nEmbd, inter int) Config {
	return Config{
		Name: name, Architecture: "samba", BlockSize: 4096, VocabSize: 32000, PaddingMultiple: 64,
		NLayer: nLayer, NEmbd: nEmbd, NHead: nHead, NQueryGroups: nHead, HeadSize: nEmbd / nHead,
		IntermediateSize: inter, LocalWindow: 2048, RopeBase: 10000, RotaryPercentage: 1,
		NormEps: 1e-5, MbPerLayer: 2, MambaInit: true, TieEmbeddings: true,
		MambaConvBias: true, NormClass: "RMSNorm", MLPClass: "LLaMAMLP",
		BOSTokenID: 1, EOSTokenID: 2, TorchDType: "bfloat16",
	}
}

// named holds the built-in configurations, keyed by name.
var named = map[string]func() Config{
	"Samba_421M": func() Config { return samba("Samba_421M", 12, 12, 1536, 4096) },
	"Samba_421M_mqa": func() Config {
		c := samba("Samba_421M_mqa", 12, 12, 1536, 4608)
		c.NQueryGroups = 1
		return c
	},
	"Samba_421M_gqa2": func() Config {
		c := samba("Samba_421M_gqa2", 12, 12, 1536, 4608)
		c.NQueryGroups = 2
		return c
	},
	"Samba_421M_gqa4": func() Config {
		c := samba("Samba_421M_gqa4", 12, 12, 1536, 4608)
		c.NQueryGroups = 4
		return c
	},
	"Samba_421M_mqa6": func() Config {
		// 6 query heads of size 256 sharing one key/value head (paper Table 6's best).
		c := samba("Samba_421M_mqa6", 12, 6, 1536, 4608)
		c.NQueryGroups = 1
		return c
	},
	"Samba_421M_1k_window": func() Config {
		c := samba("Samba_421M_1k_window", 12, 12, 1536, 4096)
		c.LocalWindow = 1024
		return c
	},
	"Samba_421M_512_window": func() Config {
		c := samba("Samba_421M_512_window", 12, 12, 1536, 4096)
		c.LocalWindow = 512
		return c
	},
	"Samba_421M_nope": func() Config {
		c := samba("Samba_421M_nope", 12, 12, 1536, 4096)
		c.NoPE = true
		return c
	},
	"Samba_1.3B": func() Config { return samba("Samba_1.3B", 18, 18, 2304, 6144) },
	"Samba_1.3B_nope": func() Config {
		c := samba("Samba_1.3B_nope", 18, 18, 2304, 6144)
		c.NoPE = true
		return c
	},
	"Samba_1.7B": func() Config {
		// Paper Table 12: 48 layers (24 blocks), d_model 2048, 32 query / 4 KV
		// heads, MLP 8196 as printed (possibly a typo for 8192), Phi-2 vocabulary.
		c := samba("Samba_1.7B", 24, 32, 2048, 8196)
		c.NQueryGroups = 4
		c.VocabSize = 50304
		return c
	},
	"Samba_3.8B": func() Config {
		// Paper Table 12: 64 layers (32 blocks), d_model 2816, 11 query heads
		// of 256 sharing one KV head, MLP 9984, Phi-3 vocabulary (32064 rows).
		c := samba("Samba_3.8B", 32, 11, 2816, 9984)
		c.NQueryGroups = 1
		c.HeadSize = 256
		c.VocabSize = 32064
		c.AddedTokens = "phi3"
		return c
	},
}

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
// (tied embeddings counted once).
func (c *Config) ParamCount() int64 {
	D, E, R, N, K := int64(c.NEmbd), int64(c.DInner()), int64(c.MambaDtRank), int64(c.MambaDState), int64(c.MambaDConv)
	blocks, _ := c.Blocks()
	var n int64
	for _, b := range blocks {
		n += 2*D + 3*D*int64(c.IntermediateSize) // norms and MLP
		if b.Mixer == Mamba {
			n += 2*E*D + E*K + E + (R+2*N)*E + E*R + E + E*N + E + D*E
			continue
		}
		n += int64(c.QKVRows())*D + D*int64(c.NHead*c.HeadSize)
	}
	n += int64(c.PaddedVocabSize)*D + D
	if !c.TieEmbeddings {
		n += int64(c.PaddedVocabSize) * D
	}
	return n
}
