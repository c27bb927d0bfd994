package reproduce

import (
	"math"
	"strings"
)

// na marks a paper cell that has no number.
var na = math.NaN()

// Tables are the paper's tables that `sambaeval reproduce` knows, in the
// order `sambaeval reproduce --list` shows them. The numbers are those of
// the Samba paper (arXiv 2406.07522; the ICLR 2025 version where the two
// differ), as collected in eval-protocols.md §7.
var Tables = []*Table{
	samba38BBase,
	samba38BIT,
	samba38BITJune,
	slimPajamaPPL,
	lengthExtrapolation,
	passkeyGrid,
	sambaTinyCard,
}

// HumanEval's decoding in the paper (v1 App. A, ICLR App. G): nucleus
// sampling, τ = 0.2, top-p 0.95, one sample per problem for pass@1.
var humanevalPaper = Run{
	ID: "humaneval", Task: "humaneval", NumFewshot: 0,
	Options:  []Option{{"temperature", "0.2"}, {"top-p", "0.95"}, {"samples-per-task", "1"}},
	Protocol: "0-shot, nucleus sampling τ=0.2 top-p 0.95, 1 sample per problem, pass@1",
}

var samba38BBase = &Table{
	Name:   "samba-3.8b-base",
	Title:  "Samba-3.8B base model: the benchmarks this harness has",
	Source: "ICLR 2025 Table 7 = arXiv v1 Table 1",
	Notes: []string{
		"MMLU and GSM8K 5-shot, HumanEval 0-shot pass@1; GSM8K is reported as maj@1 (one greedy answer), shown here with both answer filters.",
		"The paper does not say which GSM8K answer extraction it used; lm-eval's strict-match and flexible-extract are both shown against the same paper number.",
		"HellaSwag, ARC-C, WinoGrande and TruthfulQA are not tasks of this harness.",
	},
	Models: []string{"Samba 3.8B", "TFM++ 3.8B", "Llama 3 8B", "Mistral 7.2B"},
	Digits: 1,
	Runs: []Run{
		{ID: "mmlu", Task: "mmlu", NumFewshot: 5, Protocol: "5-shot (first 5 dev rows), log-likelihood of \" A\"..\" D\", size-weighted accuracy"},
		{ID: "gsm8k", Task: "gsm8k", NumFewshot: 5, Protocol: "5-shot (train, seed 1234), greedy, exact match"},
		humanevalPaper,
	},
	Cells: []Cell{
		{Label: "MMLU", Run: "mmlu", Metric: "acc", Scale: 100, Paper: []float64{71.2, 67.2, 66.6, 60.1}},
		{Label: "GSM8K (strict-match)", Run: "gsm8k", Metric: "exact_match,strict-match", Scale: 100, Paper: []float64{69.6, 51.5, 45.8, 35.4}},
		{Label: "GSM8K (flexible-extract)", Run: "gsm8k", Metric: "exact_match,flexible-extract", Scale: 100, Paper: []float64{69.6, 51.5, 45.8, 35.4}},
		{Label: "HumanEval pass@1", Run: "humaneval", Metric: "pass@1", Scale: 100, Paper: []float64{54.9, 51.8, 28.7, 30.5}},
	},
}

var samba38BIT = &Table{
	Name:   "samba-3.8b-it",
	Title:  "Samba-3.8B-IT against Phi-3-mini-4K-instruct",
	Source: "ICLR 2025 Table 1 = arXiv v1 Table 4 (Phi-3 numbers from the Phi-3 report)",
	Notes: []string{
		"MMLU \"5-shot accuracy (averaged by category)\": whether that is the mean of the 4 category means or the size-weighted mean is not said; both are shown.",
		"The prompts are lm-eval's; the paper does not say whether they were wrapped in the chat format: --apply-chat-template does so (one user turn each).",
		"GovReport and SQuALITY (ROUGE-L) are not tasks of this harness.",
	},
	Models: []string{"Samba-3.8B-IT", "Phi-3-mini-4K-instruct"},
	Digits: 1,
	Runs: []Run{
		{ID: "mmlu", Task: "mmlu", NumFewshot: 5, Protocol: "5-shot (first 5 dev rows), log-likelihood of \" A\"..\" D\""},
		{ID: "gsm8k_cot", Task: "gsm8k_cot", NumFewshot: 8, Protocol: "8-shot chain of thought (Wei et al. exemplars), greedy, exact match"},
		humanevalPaper,
	},
	Cells: []Cell{
		{Label: "MMLU (mean of categories)", Run: "mmlu", Metric: "acc_macro_categories", Scale: 100, Paper: []float64{71.9, 68.8}},
		{Label: "MMLU (size-weighted)", Run: "mmlu", Metric: "acc", Scale: 100, Paper: []float64{71.9, 68.8}},
		{Label: "GSM8K CoT (strict-match)", Run: "gsm8k_cot", Metric: "exact_match,strict-match", Scale: 100, Paper: []float64{87.6, 82.5}},
		{Label: "GSM8K CoT (flexible-extract)", Run: "gsm8k_cot", Metric: "exact_match,flexible-extract", Scale: 100, Paper: []float64{87.6, 82.5}},
		{Label: "HumanEval pass@1", Run: "humaneval", Metric: "pass@1", Scale: 100, Paper: []float64{62.8, 58.5}},
	},
}

var samba38BITJune = &Table{
	Name:   "samba-3.8b-it-june",
	Title:  "Samba-3.8B-IT with the \"June\" post-training, against Phi-3-mini (June)",
	Source: "ICLR 2025 Table 8",
	Notes: []string{
		"Shots and decoding as in samba-3.8b-it; MMLU-Pro, ARC-C, GPQA and MBPP are not tasks of this harness.",
	},
	Models: []string{"Samba-3.8B-IT (June)", "Phi-3-mini (June)"},
	Digits: 1,
	Runs:   samba38BIT.Runs,
	Cells: []Cell{
		{Label: "MMLU (mean of categories)", Run: "mmlu", Metric: "acc_macro_categories", Scale: 100, Paper: []float64{69.0, 67.2}},
		{Label: "MMLU (size-weighted)", Run: "mmlu", Metric: "acc", Scale: 100, Paper: []float64{69.0, 67.2}},
		{Label: "GSM8K CoT (strict-match)", Run: "gsm8k_cot", Metric: "exact_match,strict-match", Scale: 100, Paper: []float64{86.4, 84.8}},
		{Label: "GSM8K CoT (flexible-extract)", Run: "gsm8k_cot", Metric: "exact_match,flexible-extract", Scale: 100, Paper: []float64{86.4, 84.8}},
		{Label: "HumanEval pass@1", Run: "humaneval", Metric: "pass@1", Scale: 100, Paper: []float64{70.1, 66.5}},
	},
}

// The context lengths of Fig. 2a.
var extrapolationLengths = []string{"1K", "2K", "4K", "8K", "16K", "32K", "64K", "128K", "256K", "512K", "1M"}

var slimPajamaPPL = &Table{
	Name:   "slimpajama-ppl",
	Title:  "Validation perplexity at 4K, 8K and 16K tokens of models trained at 4K",
	Source: "ICLR 2025 Table 3",
	Notes: []string{
		"Samba's pretrain.validate: the first L ∈ {4K, 8K, 16K} tokens of 200 sequences of 16,385 tokens (50 batches × 4), one forward pass each, every token scored, perplexity = exp(mean NLL).",
		"Here: windows of L tokens starting every 16,385 tokens of the corpus stream (documents joined by EOS), 200 per length, each scored whole (L − 1 predictions, the paper's L: a one-token difference).",
		"Upper block of the paper: 20B training tokens (421M–438M models); lower block: 100B (1.2B–1.4B).",
	},
	PaperData: "SlimPajama validation (not shipped: give a copy with --data-dir)",
	Models:    []string{"Samba 421M", "Samba 1.3B", "Mamba 432M", "Llama-2-SWA 438M", "Llama-2 438M", "Samba-NoPE 421M"},
	Digits:    2,
	Runs: []Run{
		{ID: "perplexity", Task: "perplexity", NumFewshot: -1, DataFlag: "ppl-data",
			Options: []Option{{"ppl-mode", "sliding"}, {"ppl-stride", "16385"}, {"context-lengths", "4K,8K,16K"},
				{"ppl-tokens", "3293385"}}, // 201 × 16,385: 200 windows of each length
			Protocol: "the first 4K, 8K, 16K tokens of 200 sequences of 16,385 tokens, one pass each, every token scored"},
	},
	Cells: []Cell{
		{Label: "4K", Run: "perplexity", Group: "4K", Metric: "token_perplexity", Scale: 1, Paper: []float64{10.06, 7.32, 10.70, 11.12, 11.14, 10.11}},
		{Label: "8K", Run: "perplexity", Group: "8K", Metric: "token_perplexity", Scale: 1, Paper: []float64{9.65, 7.11, 10.30, 10.66, 47.23, 28.97}},
		{Label: "16K", Run: "perplexity", Group: "16K", Metric: "token_perplexity", Scale: 1, Paper: []float64{9.57, 6.96, 10.24, 10.57, 249.03, 314.78}},
	},
}

var lengthExtrapolation = &Table{
	Name:   "length-extrapolation",
	Title:  "Perplexity against context length, 1K to 1M tokens (models trained at 4K)",
	Source: "ICLR 2025 Fig. 2a (values read off the figure, ±0.02)",
	Notes: []string{
		"The paper's \"sliding window approach (Press et al.) with a window size of 4096\", taken as ArchScale's eval_proofpile.py: windows of L tokens starting every 4096 tokens of the concatenated test stream, each scored whole, perplexity = exp(mean of the per-window mean NLL).",
		"That is about 175M tokens of forward passes for 1K…1M on a 1M-token stream; --task-option ppl-max-windows=N bounds the windows per length.",
		"Llama-3 1.6B explodes beyond 4K and SE-Llama-3 beyond 16K; they are left out.",
	},
	PaperData: "the Proof-Pile test subset of Position Interpolation (not shipped: give a copy with --data-dir)",
	Models:    []string{"Samba 1.7B", "Mistral 1.6B", "Mamba 1.8B"},
	Digits:    2,
	Approx:    true,
	Runs: []Run{
		{ID: "perplexity", Task: "perplexity", NumFewshot: -1, DataFlag: "ppl-data",
			Options:  []Option{{"ppl-mode", "sliding"}, {"ppl-stride", "4K"}, {"context-lengths", strings.Join(extrapolationLengths, ",")}},
			Protocol: "sliding windows of 1K…1M tokens starting every 4096 tokens, every token of a window scored"},
	},
	Cells: extrapolationCells([][]float64{
		{5.22, 5.54, 5.57}, {4.47, 4.72, 4.92}, {4.07, 4.29, 4.56}, {3.88, 4.08, 4.39}, {3.80, 3.98, 4.40}, {3.76, 3.93, 4.38},
		{3.75, 3.91, 4.37}, {3.74, 3.90, 4.40}, {3.74, 3.90, 4.45}, {3.73, 3.89, 4.52}, {3.71, 3.87, 4.57},
	}),
}

// extrapolationCells makes one cell per context length of Fig. 2a.
func extrapolationCells(paper [][]float64) []Cell {
	var cells []Cell
	for i, l := range extrapolationLengths {
		cells = append(cells, Cell{Label: l, Run: "perplexity", Group: l, Metric: "token_perplexity", Scale: 1, Paper: paper[i]})
	}
	return cells
}

var passkeyGrid = &Table{
	Name:   "passkey",
	Title:  "Passkey retrieval after 500 steps of passkey fine-tuning at 4K, 4K–256K tokens",
	Source: "ICLR 2025 §3.4 and App. C, arXiv v1 App. B (figure only)",
	Notes: []string{
		"7 lengths × 11 depths (0, 0.1, …, 1) × 5 random 5-digit keys = 385 trials, greedy decoding of the key.",
		"The paper gives a figure, not numbers: Samba 1.7B retrieves perfectly or near-perfectly at every length, so its cells read ≈100; Mistral 1.6B stays near 30% and fails beyond 4K.",
	},
	Models: []string{"Samba 1.7B (passkey-tuned)"},
	Digits: 0,
	Approx: true,
	Runs: []Run{
		{ID: "passkey", Task: "passkey", NumFewshot: 0,
			Options:  []Option{{"passkey-protocol", "samba-paper"}},
			Protocol: "Landmark template, 4K–256K tokens × 11 depths × 5 keys, greedy"},
	},
	Cells: []Cell{
		{Label: "all", Run: "passkey", Metric: "acc", Scale: 100, Paper: []float64{100}},
		{Label: "4K", Run: "passkey", Group: "4K", Metric: "acc", Scale: 100, Paper: []float64{100}},
		{Label: "8K", Run: "passkey", Group: "8K", Metric: "acc", Scale: 100, Paper: []float64{100}},
		{Label: "16K", Run: "passkey", Group: "16K", Metric: "acc", Scale: 100, Paper: []float64{100}},
		{Label: "32K", Run: "passkey", Group: "32K", Metric: "acc", Scale: 100, Paper: []float64{100}},
		{Label: "64K", Run: "passkey", Group: "64K", Metric: "acc", Scale: 100, Paper: []float64{100}},
		{Label: "128K", Run: "passkey", Group: "128K", Metric: "acc", Scale: 100, Paper: []float64{100}},
		{Label: "256K", Run: "passkey", Group: "256K", Metric: "acc", Scale: 100, Paper: []float64{100}},
	},
}

// sambaTinyCard is not from the paper: it holds the reference figures of
// the samba-tiny model card, computed by an independent implementation, so
// that the engine can be checked against them on a CPU.
var sambaTinyCard = &Table{
	Name:   "samba-tiny",
	Title:  "samba-tiny model card: passkey retrieval, 1K–16K tokens (a check of the engine, not a paper table)",
	Source: "models/samba-tiny/README.md, reference figures by an independent fp32 implementation",
	Notes: []string{
		"5 lengths × 5 depths (0, 0.25, 0.5, 0.75, 1) × the keys 89670, 54247, 43927, 29639; greedy decoding.",
		"The 8K and 16K cells, which the model only partly retrieves, are the most likely to move under small numerical differences.",
	},
	Models: []string{"model card"},
	Digits: 0,
	Runs: []Run{
		{ID: "passkey", Task: "passkey", NumFewshot: 0,
			Options:  []Option{{"passkey-protocol", "samba-tiny"}},
			Protocol: "Landmark template, 1K–16K tokens × 5 depths × 4 keys, greedy"},
	},
	Cells: []Cell{
		{Label: "1K", Run: "passkey", Group: "1K", Metric: "acc", Scale: 100, Paper: []float64{100}},
		{Label: "2K", Run: "passkey", Group: "2K", Metric: "acc", Scale: 100, Paper: []float64{100}},
		{Label: "4K", Run: "passkey", Group: "4K", Metric: "acc", Scale: 100, Paper: []float64{100}},
		{Label: "8K", Run: "passkey", Group: "8K", Metric: "acc", Scale: 100, Paper: []float64{75}},
		{Label: "16K", Run: "passkey", Group: "16K", Metric: "acc", Scale: 100, Paper: []float64{45}},
	},
}
