package model

import (
	"fmt"
	"strings"
)

// MixerKind says what a token mixer computes.
type MixerKind int

const (
	// Mamba is a Mamba-1 selective state-space mixer.
	Mamba MixerKind = iota
	// Attention is causal self-attention, sliding-window when the mixer's
	// Window is positive.
	Attention
	// MLP is a SwiGLU MLP standing where a mixer would (lit-gpt's
	// abl_mamba ablation, the paper's MLP2-SWA-MLP); it mixes nothing
	// across positions.
	MLP
	// GMU is SambaY's gated memory unit: out_proj(memory ⊙
	// SiLU(in_proj(x))), where memory is the ungated SSM output of the
	// Mamba mixer marked Memory. It keeps no state of its own.
	GMU
	// CrossAttention is SambaY's cross-decoder attention: queries of its
	// own over the keys and values of the last full-attention mixer before
	// it (YOCO), full causal, keeping no cache of its own.
	CrossAttention
)

func (k MixerKind) String() string {
	switch k {
	case Mamba:
		return "mamba"
	case Attention:
		return "attention"
	case MLP:
		return "mlp"
	case GMU:
		return "gmu"
	case CrossAttention:
		return "cross-attention"
	}
	return fmt.Sprintf("MixerKind(%d)", int(k))
}

// Mixer is one token mixer of a block, applied as x += mixer(RMSNorm(x)).
type Mixer struct {
	Kind MixerKind
	// Window is the attention window in keys including the query itself;
	// 0 means full causal attention.
	Window int
	// Hidden is the intermediate width of an MLP mixer.
	Hidden int
	// Differential makes an attention mixer differential (SambaY, after
	// the DIFF Transformer): two softmax maps per head pair, the second
	// subtracted with a learned weight λ.
	Differential bool
	// Memory makes a Mamba mixer also hand its ungated SSM output y (D·u
	// included) to the GMU mixers after it (SambaY's layer L/2).
	Memory bool
}

func (m Mixer) String() string {
	prefix := ""
	if m.Differential {
		prefix = "diff-"
	}
	switch {
	case m.Kind == Attention && m.Window > 0:
		return fmt.Sprintf("%sswa%d", prefix, m.Window)
	case m.Kind == Attention:
		return prefix + "attn"
	case m.Kind == CrossAttention:
		return prefix + "xattn"
	case m.Kind == MLP:
		return fmt.Sprintf("mlp%d", m.Hidden)
	case m.Kind == Mamba && m.Memory:
		return "mamba→mem"
	}
	return m.Kind.String()
}

// Block is one block of the model (one entry of lit-gpt's transformer.h, or
// of Hugging Face's model.layers): its token mixers in order, each pre-norm
// with a residual connection, then optionally a SwiGLU MLP, also pre-norm
// with a residual connection.
//
//	Samba block i:        {Mixers: [mamba] or [swa2048], MLP: true}
//	Mamba-SWA-MLP:        {Mixers: [mamba, swa2048], MLP: true}
//	Mamba (no MLP):       {Mixers: [mamba]}
//	Llama / Mistral:      {Mixers: [attn] or [swa], MLP: true}
type Block struct {
	Mixers []Mixer
	MLP    bool
}

func (b Block) String() string {
	parts := make([]string, 0, len(b.Mixers)+1)
	for _, m := range b.Mixers {
		parts = append(parts, m.String())
	}
	if b.MLP {
		parts = append(parts, "mlp")
	}
	return strings.Join(parts, "+")
}

func (b Block) equal(o Block) bool {
	if b.MLP != o.MLP || len(b.Mixers) != len(o.Mixers) {
		return false
	}
	for i := range b.Mixers {
		if b.Mixers[i] != o.Mixers[i] {
			return false
		}
	}
	return true
}

// LayoutString describes a layout compactly: the shortest repeating
// pattern, e.g. "6×[mamba+mlp, swa2048+mlp]", or, when nothing repeats
// throughout, runs of equal blocks and of pairs repeated at least three
// times, e.g. "mamba+mlp, attn+mlp, 10×mamba+mlp" or "8×[mamba+mlp,
// diff-swa512+mlp], mamba→mem+mlp, diff-attn+mlp, 7×[gmu+mlp, diff-xattn+mlp]".
func LayoutString(blocks []Block) string {
	n := len(blocks)
	for p := 1; p < n; p++ {
		if n%p != 0 {
			continue
		}
		ok := true
		for i := p; i < n && ok; i++ {
			ok = blocks[i].equal(blocks[i-p])
		}
		if ok {
			parts := make([]string, p)
			for i := range parts {
				parts[i] = blocks[i].String()
			}
			if p == 1 {
				return fmt.Sprintf("%d×%s", n/p, parts[0])
			}
			return fmt.Sprintf("%d×[%s]", n/p, strings.Join(parts, ", "))
		}
	}
	var parts []string
	for i := 0; i < n; {
		j := i + 1
		for j < n && blocks[j].equal(blocks[i]) {
			j++
		}
		if j-i == 1 {
			// A pair repeated at least three times?
			k := i + 2
			for k+1 < n && blocks[k].equal(blocks[k-2]) && blocks[k+1].equal(blocks[k-1]) {
				k += 2
			}
			if i+1 < n && (k-i)/2 >= 3 {
				parts = append(parts, fmt.Sprintf("%d×[%s, %s]", (k-i)/2, blocks[i], blocks[i+1]))
				i = k
				continue
			}
			parts = append(parts, blocks[i].String())
		} else {
			parts = append(parts, fmt.Sprintf("%d×%s", j-i, blocks[i].String()))
		}
		i = j
	}
	return strings.Join(parts, ", ")
}

// ArchInfo describes one architecture the engine runs.
type ArchInfo struct {
	Name        string // as Config.Arch reports it
	Description string
}

// Architectures lists the architectures the engine runs.
func Architectures() []ArchInfo {
	return []ArchInfo{
		{"samba", "Mamba and sliding-window attention blocks alternating, each block with a SwiGLU MLP (lit-gpt mb_per_layer=2)"},
		{"mamba-swa-mlp", "Mamba, then SWA, then the MLP in every block (lit-gpt mamba_swa_mlp)"},
		{"mamba-mlp", "Mamba and the MLP in every block (lit-gpt mb_per_layer=1)"},
		{"mamba", "Mamba blocks without MLP (lit-gpt mamba=True, mamba_ssm blocks)"},
		{"mlp2-swa-mlp", "Samba with an MLP of width 2·d in place of each Mamba (lit-gpt abl_mamba)"},
		{"llama", "full causal attention and the MLP in every block (lit-gpt LLaMA_*, Hugging Face LlamaForCausalLM)"},
		{"llama-swa", "sliding-window attention and the MLP in every block (lit-gpt LLaMA_*_SWA)"},
		{"llama-swa-full", "SWA blocks with every full_per_layer-th block full attention"},
		{"hybrid", "Mamba blocks with attention where attn_layer_pos says (lit-gpt layer-placement ablations)"},
		{"mistral", "Hugging Face MistralForCausalLM: the llama blocks with sliding_window"},
		{"phi3", "Hugging Face Phi3ForCausalLM: fused qkv_proj and gate_up_proj"},
		{"sambay", "Phi-4-mini-flash-reasoning (Phi4FlashForCausalLM): Mamba and differential SWA, then a Mamba saving its memory, one full attention layer whose keys and values the cross-attention layers reuse, and GMUs"},
	}
}

// describeLayout names the architecture a layout belongs to, in the
// paper's terms: samba, mamba, mamba-mlp, mamba-swa-mlp, mlp2-swa-mlp,
// llama (full attention), llama-swa, sambay (a YOCO cross-decoder), or
// hybrid for anything else.
func describeLayout(blocks []Block) string {
	count := map[string]int{}
	perBlock := 0
	for _, b := range blocks {
		perBlock = max(perBlock, len(b.Mixers))
		for _, m := range b.Mixers {
			switch {
			case m.Kind == Attention && m.Window > 0:
				count["swa"]++
			default:
				count[m.Kind.String()]++
			}
		}
		if b.MLP {
			count["ffn"]++
		}
	}
	n := len(blocks)
	mamba, swa, attn, mlp, ffn := count["mamba"], count["swa"], count["attention"], count["mlp"], count["ffn"]
	switch {
	case count["gmu"] > 0 || count["cross-attention"] > 0:
		return "sambay"
	case mamba == n && ffn == 0 && perBlock == 1:
		return "mamba"
	case mamba == n && ffn == n && perBlock == 1:
		return "mamba-mlp"
	case perBlock == 2 && mamba == n && swa == n && ffn == n:
		return "mamba-swa-mlp"
	case mamba == 0 && mlp == 0 && attn == n && ffn == n:
		return "llama"
	case mamba == 0 && mlp == 0 && swa == n && ffn == n:
		return "llama-swa"
	case mamba == 0 && mlp == 0 && swa+attn == n && ffn == n:
		return "llama-swa-full"
	case perBlock == 1 && mamba > 0 && mamba == swa && mamba+swa == n && ffn == n:
		return "samba"
	case perBlock == 1 && mlp > 0 && mlp == swa && mlp+swa == n && ffn == n:
		return "mlp2-swa-mlp"
	}
	return "hybrid"
}
