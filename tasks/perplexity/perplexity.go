// Package perplexity is long-context perplexity on a text corpus, in three
// modes (eval-protocols.md §6):
//
//   - streaming (default): one causal pass over the corpus stream with the
//     model's state carried, reporting the perplexity of the first L tokens
//     for every context length L and of every position bucket (0–4K,
//     4K–8K, …), so that extrapolation shows at a glance. Memory does not
//     grow with the length: log-probabilities are summed per bucket as the
//     pass goes.
//   - sliding: ArchScale's protocol (after LongLoRA), as the Samba paper
//     used for Proof-Pile: windows of L tokens starting every stride tokens,
//     each scored whole, perplexity = exp(mean of the per-window mean NLL).
//   - rolling: lm-eval's loglikelihood_rolling: the first L tokens cut into
//     disjoint windows of the maximum length, the first one after the EOS
//     token, every token scored once.
//
// The corpus stream is the documents' tokens (no BOS) with the EOS token
// between two documents, as Samba was trained; a single document has no
// EOS at all. The EOS between documents is predicted like any token.
//
// Word and byte perplexity are lm-eval's: word_perplexity =
// exp(−Σ log p / words), byte_perplexity = exp(−Σ log p / bytes) and
// bits_per_byte = −Σ log p / bytes / ln 2, where words and bytes are
// counted on the text of the predicted tokens: for the first L tokens,
// tokens 1 … L−1 in streaming mode (token 0 is context only) and tokens
// 0 … L−1 in rolling mode. A token's text is what SentencePiece's decoder
// emits when the token is added, each document decoded on its own: the
// dummy-prefix space of a document's first token is no text, a character
// spread over byte pieces counts with its last byte, and the EOS between
// documents has none. Bytes are the UTF-8 length of that text; words are,
// per document, 1 + the white-space runs (Python's str.isspace) that begin
// in it, which for a whole document is lm-eval's len(re.split(r"\s+", doc)).
package perplexity

import (
	"errors"
	"fmt"
	"math"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/sambaeval/sambaeval/datasets"
	"github.com/sambaeval/sambaeval/evaluator"
	"github.com/sambaeval/sambaeval/results"
	"github.com/sambaeval/sambaeval/tasks"
	"github.com/sambaeval/sambaeval/tokenizer"
)

func init() { tasks.Register(&task{}) }

// The modes of --ppl-mode.
const (
	Streaming = "streaming"
	Sliding   = "sliding"
	Rolling   = "rolling"
)

type task struct {
	data, column, docs string
	lengths            string
	mode               string
	window, stride     string
	buckets            string
	tokens             string
	maxWindows         int
}

func (*task) Name() string { return "perplexity" }
func (*task) Description() string {
	return "long-context perplexity on a text corpus: one streaming pass (per length and position bucket), ArchScale sliding windows, or lm-eval rolling windows"
}
func (*task) Defaults() string {
	return "streaming over the shipped public-domain books, lengths 1K–1M, 4K buckets"
}
func (*task) Version() string { return "1" }

// DefaultLengths are the context lengths of the Samba paper's Proof-Pile figure.
const DefaultLengths = "1K,2K,4K,8K,16K,32K,64K,128K,256K,512K,1M"

func (t *task) Flags(fs *pflag.FlagSet) {
	fs.StringVar(&t.data, "ppl-data", "", "perplexity: corpus: a .txt/.jsonl/.parquet file, a folder of them, or hf://OWNER/NAME (default: the shipped public-domain books)")
	fs.StringVar(&t.column, "ppl-text-column", "", "perplexity: field or column holding the text in JSON Lines and Parquet files (default: text)")
	fs.StringVar(&t.docs, "ppl-docs", "", "perplexity: comma-separated documents to use, in that order (default: all, in corpus order), e.g. little_women")
	fs.StringVar(&t.lengths, "context-lengths", DefaultLengths, "perplexity: context lengths in tokens")
	fs.StringVar(&t.mode, "ppl-mode", Streaming, "perplexity: streaming (one pass, state carried), sliding (ArchScale windows) or rolling (lm-eval disjoint windows)")
	fs.StringVar(&t.window, "ppl-window", "4K", "perplexity: rolling mode: the window (maximum length) in tokens")
	fs.StringVar(&t.stride, "ppl-stride", "4K", "perplexity: sliding mode: tokens between window starts")
	fs.StringVar(&t.buckets, "ppl-buckets", "4K", "perplexity: streaming mode: width of the position buckets in tokens")
	fs.StringVar(&t.tokens, "ppl-tokens", "", "perplexity: sliding mode: tokens of the corpus stream to take windows from (default: the longest length plus two strides)")
	fs.IntVar(&t.maxWindows, "ppl-max-windows", 0, "perplexity: sliding mode: at most this many windows per length, the first ones (0: all)")
}

// settings are the parsed flags.
type settings struct {
	lengths                []int
	mode                   string
	window, stride, bucket int
	budget                 int
	maxWindows             int
}

func (t *task) parse() (*settings, error) {
	s := &settings{mode: t.mode, maxWindows: t.maxWindows}
	var err error
	if s.lengths, err = results.ParseTokenCounts(t.lengths); err != nil {
		return nil, fmt.Errorf("--context-lengths: %w", err)
	}
	for _, f := range []struct {
		name string
		val  string
		dst  *int
	}{{"--ppl-window", t.window, &s.window}, {"--ppl-stride", t.stride, &s.stride}, {"--ppl-buckets", t.buckets, &s.bucket}} {
		if *f.dst, err = results.ParseTokenCount(f.val); err != nil {
			return nil, fmt.Errorf("%s: %w", f.name, err)
		}
	}
	if s.maxWindows < 0 {
		return nil, fmt.Errorf("--ppl-max-windows %d must not be negative", s.maxWindows)
	}
	longest := s.lengths[len(s.lengths)-1]
	switch s.mode {
	case Streaming, Rolling:
		s.budget = longest
		if s.mode == Streaming && longest < 2 {
			return nil, errors.New("--context-lengths: streaming needs lengths of at least 2 tokens")
		}
	case Sliding:
		if s.lengths[0] < 2 {
			return nil, errors.New("--context-lengths: sliding windows need at least 2 tokens")
		}
		s.budget = longest + 2*s.stride
		if t.tokens != "" {
			if s.budget, err = results.ParseTokenCount(t.tokens); err != nil {
				return nil, fmt.Errorf("--ppl-tokens: %w", err)
			}
		}
	default:
		return nil, fmt.Errorf("--ppl-mode %q: want streaming, sliding or rolling", s.mode)
	}
	return s, nil
}

// selectDocs keeps the named documents, in the order named.
func selectDocs(all []datasets.Text, names string) ([]Doc, error) {
	var out []Doc
	if strings.TrimSpace(names) == "" {
		for _, t := range all {
			out = append(out, Doc{Name: t.Name, Text: t.Text})
		}
		return out, nil
	}
	for _, n := range strings.Split(names, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		i := slices.IndexFunc(all, func(t datasets.Text) bool { return t.Name == n })
		if i < 0 {
			var known []string
			for _, t := range all {
				known = append(known, t.Name)
			}
			if len(known) > 12 {
				known = append(known[:12], "…")
			}
			return nil, fmt.Errorf("--ppl-docs: no document %q in the corpus (it has %s)", n, strings.Join(known, ", "))
		}
		out = append(out, Doc{Name: all[i].Name, Text: all[i].Text})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--ppl-docs %q names no document", names)
	}
	return out, nil
}

// Per-document data of each mode, handed from Build to Score.
type (
	streamDoc struct {
		bounds  []int  // span boundaries: bucket edges and context lengths
		spans   []Span // what each span covers
		lengths []int
		bucket  int
	}
	windowDoc struct {
		length, start int
	}
	rollingDoc struct {
		w       Window
		lengths []int // the context lengths whose windows include this one
		span    Span
	}
)

// CheckFlags implements tasks.FlagChecker.
func (t *task) CheckFlags(int) error {
	_, err := t.parse()
	return err
}

func (t *task) Build(env *tasks.Env) (*tasks.Plan, error) {
	s, err := t.parse()
	if err != nil {
		return nil, err
	}
	if env.Model == nil || env.Model.Tokenizer == nil {
		return nil, errors.New("perplexity needs the model's tokenizer")
	}
	tok := env.Model.Tokenizer
	defer collectOften()()
	src, err := datasets.ParseSource(t.data, nil)
	if err != nil {
		return nil, fmt.Errorf("--ppl-data: %w", err)
	}
	texts, files, err := datasets.LoadTexts(src, datasets.TextOptions{Column: t.column})
	if err != nil {
		return nil, fmt.Errorf("--ppl-data: %w", err)
	}
	docs, err := selectDocs(texts, t.docs)
	if err != nil {
		return nil, err
	}
	st, err := BuildStream(tok, docs, s.budget)
	if err != nil {
		return nil, fmt.Errorf("--ppl-data: %w", err)
	}
	if len(st.Tokens) < s.budget {
		return nil, fmt.Errorf("the corpus (%s) has %d tokens, fewer than the %d needed for --context-lengths %s in %s mode",
			st.describe(), len(st.Tokens), s.budget, t.lengths, s.mode)
	}
	plan := &tasks.Plan{DataFiles: map[string]string{}, Config: map[string]any{
		"mode": s.mode, "context_lengths": s.lengths, "documents": st.Docs, "stream_tokens": len(st.Tokens),
		"stream": "documents tokenized without BOS, joined with the EOS token between two documents",
	}}
	for _, f := range files {
		plan.DataFiles[f.Name] = f.SHA256
	}
	switch s.mode {
	case Streaming:
		err = buildStreaming(plan, st, tok, s)
	case Sliding:
		err = buildSliding(plan, st, s, env)
	case Rolling:
		err = buildRolling(plan, st, tok, s)
	}
	if err != nil {
		return nil, err
	}
	return plan, nil
}

// buildGCPercent is the garbage collector's setting while the stream is
// built. Reading the corpus and tokenizing a million tokens make garbage in
// proportion to the length; collected only at Go's default pace (when the
// heap has doubled), it would raise the peak memory of a long run above
// that of a short one for nothing.
const buildGCPercent = 10

// collectOften makes the garbage collector run more often until the
// returned function is called, unless it was set to run more often still
// (or not at all) already.
func collectOften() (restore func()) {
	old := debug.SetGCPercent(buildGCPercent)
	if old < buildGCPercent {
		debug.SetGCPercent(old)
		return func() {}
	}
	return func() { debug.SetGCPercent(old) }
}

// Counting says which text word and byte perplexity divide by.
const Counting = "the decoded text of the predicted tokens (per document, SentencePiece's decoder; the EOS between documents has none); " +
	"bytes: its UTF-8 length; words: per document, 1 + the white-space runs (Python's str.isspace) that begin in it, which for a whole document is lm-eval's len(re.split(r\"\\s+\", doc))"

// Bounds returns the span boundaries of streaming mode: every multiple of
// bucket below n, every length, and n, ascending.
func Bounds(lengths []int, bucket, n int) []int {
	var b []int
	for x := bucket; x < n; x += bucket {
		b = append(b, x)
	}
	b = append(b, lengths...)
	b = append(b, n)
	slices.Sort(b)
	return slices.Compact(b)
}

func buildStreaming(plan *tasks.Plan, st *Stream, tok tokenizer.Interface, s *settings) error {
	n := len(st.Tokens)
	bounds := Bounds(s.lengths, s.bucket, n)
	spans, err := st.Spans(tok, bounds, 1)
	if err != nil {
		return err
	}
	plan.Config["bucket_width"] = s.bucket
	plan.Config["scored"] = "one pass over the stream with the state carried; the first token is context only, so the first L tokens give L−1 predictions"
	plan.Config["word_byte_counting"] = Counting
	plan.Score = scoreStreaming
	plan.Docs = []tasks.Doc{{
		ID:       0,
		Data:     &streamDoc{bounds: bounds, spans: spans, lengths: s.lengths, bucket: s.bucket},
		Requests: []evaluator.Request{{Kind: evaluator.LoglikelihoodRolling, Tokens: st.Tokens, Buckets: bounds}},
	}}
	return nil
}

func buildSliding(plan *tasks.Plan, st *Stream, s *settings, env *tasks.Env) error {
	n := len(st.Tokens)
	total := 0
	plan.Score = scoreSliding
	for _, L := range s.lengths {
		starts := SlidingStarts(n, L, s.stride)
		if s.maxWindows > 0 && len(starts) > s.maxWindows {
			starts = starts[:s.maxWindows]
		}
		if len(starts) == 0 {
			return fmt.Errorf("--context-lengths: no %d-token window fits in the %d-token stream with stride %d (ArchScale needs more than length + 2 strides; raise --ppl-tokens)", L, n, s.stride)
		}
		for _, a := range starts {
			plan.Docs = append(plan.Docs, tasks.Doc{
				ID:       len(plan.Docs),
				Data:     &windowDoc{length: L, start: a},
				Requests: []evaluator.Request{{Kind: evaluator.LoglikelihoodRolling, Tokens: st.Tokens[a : a+L]}},
			})
			total += L
		}
	}
	plan.Config["stride"] = s.stride
	plan.Config["max_windows"] = s.maxWindows
	plan.Config["scored"] = "ArchScale eval_proofpile: windows of L tokens at starts 0, stride, … < stream − L, the last start dropped; all L−1 predictions of a window scored; perplexity = exp(mean over windows of the window's mean NLL)"
	if env.Log != nil {
		fmt.Fprintf(env.Log, "perplexity: sliding mode, %d windows, %d tokens to run\n", len(plan.Docs), total)
	}
	return nil
}

func buildRolling(plan *tasks.Plan, st *Stream, tok tokenizer.Interface, s *settings) error {
	type key struct{ start, end, pred int }
	index := map[key]int{}
	var ws []*rollingDoc
	var bounds []int
	for _, L := range s.lengths {
		for _, w := range RollingWindows(L, s.window) {
			k := key{w.Start, w.End, w.Pred}
			i, ok := index[k]
			if !ok {
				i = len(ws)
				index[k] = i
				ws = append(ws, &rollingDoc{w: w})
				bounds = append(bounds, w.Pred, w.End)
			}
			ws[i].lengths = append(ws[i].lengths, L)
		}
	}
	// One span per window: between consecutive boundaries, the windows'
	// predicted ranges [Pred, End) are unions of spans.
	slices.Sort(bounds)
	bounds = slices.Compact(bounds)
	if bounds[0] == 0 {
		bounds = bounds[1:]
	}
	spans, err := st.Spans(tok, bounds, 0)
	if err != nil {
		return err
	}
	for i, w := range ws {
		for j, b := range bounds {
			lo := 0
			if j > 0 {
				lo = bounds[j-1]
			}
			if lo >= w.w.Pred && b <= w.w.End {
				w.span.Add(spans[j])
			}
		}
		plan.Docs = append(plan.Docs, tasks.Doc{
			ID:   i,
			Data: w,
			Requests: []evaluator.Request{{Kind: evaluator.LoglikelihoodRolling, Tokens: st.Tokens[w.w.Start:w.w.End],
				PrefixEOS: w.w.PrefixEOS, ScoreFrom: w.w.ScoreFrom()}},
		})
	}
	plan.Score = scoreRolling
	plan.Config["window"] = s.window
	plan.Config["scored"] = "lm-eval loglikelihood_rolling on the first L tokens: disjoint windows of the window length, the first after the EOS token, every token predicted once (L predictions)"
	plan.Config["word_byte_counting"] = Counting
	return nil
}

// nll returns the mean negative log-likelihood and its perplexity.
func nll(logprob float64, tokens int) (float64, float64) {
	m := -logprob / float64(tokens)
	return m, math.Exp(m)
}
