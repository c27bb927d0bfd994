// Package passkey is the passkey-retrieval task in the Landmark-attention
// template (eval-protocols.md §5): a task line, filler sentences, a line
// giving a 5-digit key at some depth, more filler, and the question; the
// model must answer with the key by greedy decoding.
//
// Prompts are sized in tokens of the model's own tokenizer: for a target
// length L, n is the largest number of filler repeats whose prompt has at
// most L tokens (no BOS), and the key line follows the first
// k = floor(depth·n + 0.5) of them.
package passkey

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/sambaeval/sambaeval/evaluator"
	"github.com/sambaeval/sambaeval/results"
	"github.com/sambaeval/sambaeval/tasks"
)

func init() { tasks.Register(&task{}) }

// The template parts, joined by newlines.
const (
	TaskLine = "There is an important info hidden inside a lot of irrelevant text. Find it and memorize them. I will quiz you about the important information there."
	Filler   = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again."
	Question = "What is the pass key? The pass key is"
)

// KeyLine is the line that gives the key.
func KeyLine(key string) string {
	return "The pass key is " + key + ". Remember it. " + key + " is the pass key."
}

func fillers(m int) string {
	if m <= 0 {
		return ""
	}
	return strings.Repeat(Filler+" ", m-1) + Filler
}

// Prompt is the prompt with n filler repeats, the key line after the first
// k of them (repeats joined by single spaces, parts by newlines).
func Prompt(n, k int, key string) string {
	return TaskLine + "\n" + fillers(k) + "\n" + KeyLine(key) + "\n" + fillers(n-k) + "\n" + Question
}

// Depth returns k = floor(depth·n + 0.5), the filler repeats before the key.
func Depth(depth float64, n int) int { return int(math.Floor(depth*float64(n) + 0.5)) }

// Fit returns the largest n whose prompt (with the key at depth) has at
// most maxTokens tokens, with k and that prompt's token count. count gives a
// text's token count; guess, if positive, is where the search starts.
func Fit(count func(string) int, maxTokens int, depth float64, key string, guess int) (n, k, tokens int, err error) {
	size := func(n int) int { return count(Prompt(n, Depth(depth, n), key)) }
	t0 := size(0)
	if t0 > maxTokens {
		return 0, 0, 0, fmt.Errorf("length %d is shorter than the prompt without filler (%d tokens)", maxTokens, t0)
	}
	if guess <= 0 {
		per := max(size(1)-t0, 1)
		guess = (maxTokens - t0) / per
	}
	// Bracket the answer: size(lo) ≤ maxTokens < size(hi).
	lo, hi := 0, -1
	if t := size(guess); t <= maxTokens {
		lo = guess
		for step := 1; ; step *= 2 {
			if size(lo+step) > maxTokens {
				hi = lo + step
				break
			}
			lo += step
		}
	} else {
		hi = guess
		for step := 1; ; step *= 2 {
			c := max(hi-step, 0)
			if c == 0 || size(c) <= maxTokens {
				lo = c
				break
			}
			hi = c
		}
	}
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if size(mid) <= maxTokens {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo, Depth(depth, lo), size(lo), nil
}

// Protocol is a named set of lengths, depths and keys.
type Protocol struct {
	Name    string
	Lengths []int
	Depths  []float64
	// Keys are used for every cell when set; otherwise KeysPerCell random
	// 5-digit keys are drawn per cell from the seed.
	Keys        []int
	KeysPerCell int
	Note        string
}

// Protocols are the named protocols of --passkey-protocol.
var Protocols = []Protocol{
	{
		Name:    "samba-tiny",
		Lengths: []int{1 << 10, 2 << 10, 4 << 10, 8 << 10, 16 << 10},
		Depths:  []float64{0, 0.25, 0.5, 0.75, 1},
		Keys:    []int{89670, 54247, 43927, 29639},
		Note:    "the samba-tiny README's passkey table: 5 lengths × 5 depths × the same 4 keys",
	},
	{
		Name:        "samba-paper",
		Lengths:     []int{4 << 10, 8 << 10, 16 << 10, 32 << 10, 64 << 10, 128 << 10, 256 << 10},
		Depths:      []float64{0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1},
		KeysPerCell: 5,
		Note:        "the Samba paper's grid (App. B): 7 lengths × 11 depths × 5 random keys",
	},
}

// LookupProtocol returns the protocol with the given name.
func LookupProtocol(name string) (Protocol, error) {
	var names []string
	for _, p := range Protocols {
		if p.Name == name {
			return p, nil
		}
		names = append(names, p.Name)
	}
	return Protocol{}, fmt.Errorf("--passkey-protocol %q: unknown (known: %s)", name, strings.Join(names, ", "))
}

// ParseDepths reads a comma-separated list of depths in [0, 1], sorted,
// without repeats.
func ParseDepths(list string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		d, err := strconv.ParseFloat(f, 64)
		if err != nil || math.IsNaN(d) || d < 0 || d > 1 {
			return nil, fmt.Errorf("--depths: %q is not a depth in [0, 1]", f)
		}
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--depths %q names no depth", list)
	}
	slices.Sort(out)
	return out, nil
}

// CellKeys draws the random keys of one (length, depth) cell: 5-digit
// numbers from a stream seeded by the seed, the length and the depth, so a
// cell's keys do not depend on which other cells are evaluated.
func CellKeys(seed int64, length int, depth float64, n int) []int {
	rng := rand.New(rand.NewPCG(uint64(seed), uint64(length)<<32^math.Float64bits(depth)))
	keys := make([]int, n)
	for i := range keys {
		keys[i] = 10000 + rng.IntN(90000)
	}
	return keys
}

type task struct {
	protocol    string
	lengths     string
	depths      string
	keysPerCell int
}

func (*task) Name() string { return "passkey" }
func (*task) Description() string {
	return "passkey retrieval (Landmark template), filler sized in model tokens, greedy decoding of the key"
}
func (*task) Defaults() string {
	return "protocol samba-tiny: lengths 1K–16K, depths 0/0.25/0.5/0.75/1, keys 89670 54247 43927 29639"
}
func (*task) Version() string { return "1" }

func (t *task) Flags(fs *pflag.FlagSet) {
	var names []string
	for _, p := range Protocols {
		names = append(names, p.Name+" ("+p.Note+")")
	}
	fs.StringVar(&t.protocol, "passkey-protocol", "samba-tiny", "passkey: lengths, depths and keys: "+strings.Join(names, "; "))
	fs.StringVar(&t.lengths, "lengths", "", "passkey: target prompt lengths in tokens, e.g. 1K,2K,4K,1M (default: the protocol's)")
	fs.StringVar(&t.depths, "depths", "", "passkey: key depths in [0, 1], e.g. 0,0.5,1 (default: the protocol's)")
	fs.IntVar(&t.keysPerCell, "keys-per-cell", 0, "passkey: random 5-digit keys per (length, depth), drawn from --seed (default: the protocol's keys)")
}

// trial is one prompt.
type trial struct {
	Length  int
	Depth   float64
	Key     int
	N, K    int
	Tokens  int // prompt tokens
	Answer  int // tokens of " KEY" after the prompt
	compact string
}

// Criterion says when a trial counts as correct.
const Criterion = "the first run of digits in the greedy output (at most as many tokens as \" KEY\" takes after the prompt: 6 for Llama-2) equals the key"

// flagsProtocol is the protocol the flags select, with their overrides.
func (t *task) flagsProtocol() (Protocol, error) {
	p, err := LookupProtocol(t.protocol)
	if err != nil {
		return p, err
	}
	if t.lengths != "" {
		if p.Lengths, err = results.ParseTokenCounts(t.lengths); err != nil {
			return p, fmt.Errorf("--lengths: %w", err)
		}
	}
	if t.depths != "" {
		if p.Depths, err = ParseDepths(t.depths); err != nil {
			return p, err
		}
	}
	switch {
	case t.keysPerCell < 0:
		return p, fmt.Errorf("--keys-per-cell %d must be positive", t.keysPerCell)
	case t.keysPerCell > 0:
		p.Keys, p.KeysPerCell = nil, t.keysPerCell
	}
	return p, nil
}

// CheckFlags implements tasks.FlagChecker.
func (t *task) CheckFlags(int) error {
	_, err := t.flagsProtocol()
	return err
}

func (t *task) Build(env *tasks.Env) (*tasks.Plan, error) {
	p, err := t.flagsProtocol()
	if err != nil {
		return nil, err
	}
	if env.Model == nil || env.Model.Tokenizer == nil {
		return nil, errors.New("passkey needs the model's tokenizer to size prompts")
	}
	tok := env.Model.Tokenizer
	count := func(s string) int { return len(tok.Encode(s)) }
	plan := &tasks.Plan{Score: score, Config: map[string]any{
		"protocol": p.Name, "lengths": p.Lengths, "depths": p.Depths,
		"template":  "Landmark/LongLoRA: task line, filler, key line, filler, question, joined by newlines; no BOS",
		"sizing":    "n = the largest filler repeat count whose prompt has at most L tokens; the key line after k = floor(depth·n + 0.5) repeats",
		"decoding":  "greedy",
		"criterion": Criterion,
	}}
	if p.Keys != nil {
		plan.Config["keys"] = p.Keys
	} else {
		plan.Config["keys_per_cell"] = p.KeysPerCell
		plan.Config["keys_seed"] = env.Seed
	}
	for _, L := range p.Lengths {
		for _, d := range p.Depths {
			keys := p.Keys
			if keys == nil {
				keys = CellKeys(env.Seed, L, d, p.KeysPerCell)
			}
			guess := 0
			for _, key := range keys {
				ks := strconv.Itoa(key)
				n, k, nt, err := Fit(count, L, d, ks, guess)
				if err != nil {
					return nil, fmt.Errorf("--lengths: %w", err)
				}
				guess = n
				tr := &trial{Length: L, Depth: d, Key: key, N: n, K: k, Tokens: nt,
					Answer: count(Question+" "+ks) - count(Question)}
				tr.compact = fmt.Sprintf("%s\n<filler ×%d>\n%s\n<filler ×%d>\n%s", TaskLine, k, KeyLine(ks), n-k, Question)
				plan.Docs = append(plan.Docs, tasks.Doc{
					ID:       len(plan.Docs),
					Data:     tr,
					Requests: []evaluator.Request{{Kind: evaluator.GenerateUntil, Context: Prompt(n, k, ks), MaxTokens: max(tr.Answer, 1)}},
				})
			}
		}
	}
	return plan, nil
}

var digits = regexp.MustCompile(`[0-9]+`)

// Correct applies Criterion to a generated text.
func Correct(generated string, key int) bool {
	return digits.FindString(generated) == strconv.Itoa(key)
}

func score(d *tasks.Doc, resp []evaluator.Response) (results.Sample, error) {
	tr := d.Data.(*trial)
	if len(resp) != 1 {
		return results.Sample{}, fmt.Errorf("passkey: %d responses, want 1", len(resp))
	}
	acc := 0.0
	if Correct(resp[0].Text, tr.Key) {
		acc = 1
	}
	return results.Sample{
		Prompt: tr.compact, Target: " " + strconv.Itoa(tr.Key),
		Generation: []string{resp[0].Text}, Pred: digits.FindString(resp[0].Text),
		Scores: map[string]float64{"acc": acc},
		Extra: map[string]any{
			"length": tr.Length, "depth": tr.Depth, "key": tr.Key, "filler_repeats": tr.N,
			"key_after": tr.K, "prompt_tokens": tr.Tokens,
		},
	}, nil
}

// num reads a number from a sample's Extra, as stored in memory or read
// back from JSON.
func num(m map[string]any, key string) (float64, error) {
	switch v := m[key].(type) {
	case int:
		return float64(v), nil
	case float64:
		return v, nil
	}
	return 0, fmt.Errorf("sample has no number %q", key)
}

// cell accumulates the trials of one group.
type cell struct {
	length     int
	depth      float64
	accs       []float64
	minT, maxT int
}

func (c *cell) add(acc float64, tokens int) {
	if len(c.accs) == 0 || tokens < c.minT {
		c.minT = tokens
	}
	c.maxT = max(c.maxT, tokens)
	c.accs = append(c.accs, acc)
}

func (c *cell) metrics(withDepth bool) []results.Metric {
	m, se := results.Mean(c.accs)
	out := []results.Metric{
		{Name: "acc", Value: m, Stderr: se, HigherIsBetter: true},
		{Name: "correct", Value: math.Round(m * float64(len(c.accs))), Stderr: math.NaN(), HigherIsBetter: true},
	}
	info := func(name string, v float64) {
		out = append(out, results.Metric{Name: name, Value: v, Stderr: math.NaN()})
	}
	if c.length > 0 {
		info("context_length", float64(c.length))
		info("prompt_tokens_min", float64(c.minT))
		info("prompt_tokens_max", float64(c.maxT))
	}
	if withDepth {
		info("depth", c.depth)
	}
	return out
}

// Group kinds.
const (
	KindLength = "length"
	KindDepth  = "depth"
	KindCell   = "length×depth"
)

func fmtDepth(d float64) string { return strconv.FormatFloat(d, 'g', -1, 64) }

func (*task) Aggregate(samples []results.Sample) (*results.TaskResult, error) {
	if len(samples) == 0 {
		return nil, errors.New("passkey: no samples")
	}
	byLen, byDepth := map[int]*cell{}, map[float64]*cell{}
	type ld struct {
		l int
		d float64
	}
	byCell := map[ld]*cell{}
	all := &cell{}
	var lens []int
	var depths []float64
	for _, s := range samples {
		l, err1 := num(s.Extra, "length")
		d, err2 := num(s.Extra, "depth")
		nt, err3 := num(s.Extra, "prompt_tokens")
		acc, ok := s.Scores["acc"]
		if err := errors.Join(err1, err2, err3); err != nil || !ok {
			return nil, fmt.Errorf("passkey: doc %d: sample lacks length, depth, prompt_tokens or acc", s.DocID)
		}
		L := int(l)
		if byLen[L] == nil {
			byLen[L] = &cell{length: L}
			lens = append(lens, L)
		}
		if byDepth[d] == nil {
			byDepth[d] = &cell{depth: d}
			depths = append(depths, d)
		}
		if byCell[ld{L, d}] == nil {
			byCell[ld{L, d}] = &cell{length: L, depth: d}
		}
		for _, c := range []*cell{byLen[L], byDepth[d], byCell[ld{L, d}], all} {
			c.add(acc, int(nt))
		}
	}
	slices.Sort(lens)
	slices.Sort(depths)
	tr := &results.TaskResult{Metrics: all.metrics(false)}
	for _, L := range lens {
		tr.Groups = append(tr.Groups, results.Group{Name: results.TokenCount(L), Kind: KindLength, Samples: len(byLen[L].accs), Metrics: byLen[L].metrics(false)})
	}
	for _, d := range depths {
		tr.Groups = append(tr.Groups, results.Group{Name: "depth " + fmtDepth(d), Kind: KindDepth, Samples: len(byDepth[d].accs), Metrics: byDepth[d].metrics(true)})
	}
	for _, L := range lens {
		for _, d := range depths {
			if c := byCell[ld{L, d}]; c != nil {
				tr.Groups = append(tr.Groups, results.Group{Name: results.TokenCount(L) + " @ " + fmtDepth(d), Kind: KindCell, Samples: len(c.accs), Metrics: c.metrics(true)})
			}
		}
	}
	return tr, nil
}

// grid is the per-cell view of a result: rows are lengths, columns depths.
type grid struct {
	lengths []int
	depths  []float64
	correct map[[2]float64][2]int // (length, depth) → (correct, trials)
	tokens  map[int][2]int        // length → (min, max) prompt tokens
}

func metric(ms []results.Metric, name string) (float64, bool) {
	m, ok := results.Find(ms, name)
	return m.Value, ok
}

func gridOf(tr *results.TaskResult) (*grid, error) {
	g := &grid{correct: map[[2]float64][2]int{}, tokens: map[int][2]int{}}
	for _, gr := range tr.Groups {
		switch gr.Kind {
		case KindCell:
			l, ok1 := metric(gr.Metrics, "context_length")
			d, ok2 := metric(gr.Metrics, "depth")
			c, ok3 := metric(gr.Metrics, "correct")
			if !ok1 || !ok2 || !ok3 {
				return nil, fmt.Errorf("passkey: group %q lacks context_length, depth or correct", gr.Name)
			}
			if !slices.Contains(g.lengths, int(l)) {
				g.lengths = append(g.lengths, int(l))
			}
			if !slices.Contains(g.depths, d) {
				g.depths = append(g.depths, d)
			}
			g.correct[[2]float64{l, d}] = [2]int{int(c), gr.Samples}
		case KindLength:
			l, _ := metric(gr.Metrics, "context_length")
			lo, _ := metric(gr.Metrics, "prompt_tokens_min")
			hi, _ := metric(gr.Metrics, "prompt_tokens_max")
			g.tokens[int(l)] = [2]int{int(lo), int(hi)}
		}
	}
	if len(g.lengths) == 0 {
		return nil, errors.New("passkey: the result has no length×depth groups")
	}
	slices.Sort(g.lengths)
	slices.Sort(g.depths)
	return g, nil
}

// HeatmapFile is the name of the heatmap written next to results.json.
const HeatmapFile = "passkey_heatmap.png"

// Report writes passkey_heatmap.png into dir and the table of correct
// trials by length and depth to w.
func (*task) Report(tr *results.TaskResult, dir string, w io.Writer) error {
	g, err := gridOf(tr)
	if err != nil {
		return err
	}
	writeTable(w, g)
	h := &results.Heatmap{
		Title: "Passkey retrieval", XLabel: "depth of the key in the prompt", YLabel: "prompt length (tokens)",
		Min: 0, Max: 1,
	}
	for _, d := range g.depths {
		h.XTicks = append(h.XTicks, fmtDepth(d))
	}
	for _, L := range g.lengths {
		h.YTicks = append(h.YTicks, results.TokenCount(L))
		var vals []float64
		var labels []string
		for _, d := range g.depths {
			c, ok := g.correct[[2]float64{float64(L), d}]
			if !ok || c[1] == 0 {
				vals, labels = append(vals, math.NaN()), append(labels, "")
				continue
			}
			vals = append(vals, float64(c[0])/float64(c[1]))
			labels = append(labels, fmt.Sprintf("%d/%d", c[0], c[1]))
		}
		h.Values, h.Labels = append(h.Values, vals), append(h.Labels, labels)
	}
	return h.WritePNG(filepath.Join(dir, HeatmapFile))
}

// writeTable writes the README-style table: per length, the prompt
// tokens, the trials answered correctly, and the count per depth.
func writeTable(w io.Writer, g *grid) {
	var hdr strings.Builder
	hdr.WriteString("| length | prompt tokens | correct |")
	sep := "|---|---|---|"
	for _, d := range g.depths {
		hdr.WriteString(" depth " + fmtDepth(d) + " |")
		sep += "---|"
	}
	fmt.Fprintln(w, "passkey retrieval, correct trials by length and depth:")
	fmt.Fprintln(w, hdr.String())
	fmt.Fprintln(w, sep)
	for _, L := range g.lengths {
		toks := g.tokens[L]
		ts := strconv.Itoa(toks[0])
		if toks[1] != toks[0] {
			ts += "–" + strconv.Itoa(toks[1])
		}
		var row strings.Builder
		good, all := 0, 0
		for _, d := range g.depths {
			c := g.correct[[2]float64{float64(L), d}]
			good, all = good+c[0], all+c[1]
			fmt.Fprintf(&row, " %d/%d |", c[0], c[1])
		}
		fmt.Fprintf(w, "| %s | %s | %d of %d |%s\n", results.TokenCount(L), ts, good, all, row.String())
	}
}
