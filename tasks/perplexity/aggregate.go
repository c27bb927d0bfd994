package perplexity

import (
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"

	"gonum.org/v1/plot"

	"github.com/sambaeval/sambaeval/evaluator"
	"github.com/sambaeval/sambaeval/results"
	"github.com/sambaeval/sambaeval/tasks"
)

func one(resp []evaluator.Response) (evaluator.Response, error) {
	if len(resp) != 1 {
		return evaluator.Response{}, fmt.Errorf("perplexity: %d responses, want 1", len(resp))
	}
	return resp[0], nil
}

func scoreStreaming(d *tasks.Doc, resp []evaluator.Response) (results.Sample, error) {
	sd := d.Data.(*streamDoc)
	r, err := one(resp)
	if err != nil {
		return results.Sample{}, err
	}
	if len(r.BucketLogProb) != len(sd.bounds) || len(r.BucketTokens) != len(sd.bounds) {
		return results.Sample{}, fmt.Errorf("perplexity: %d bucket sums for %d buckets", len(r.BucketLogProb), len(sd.bounds))
	}
	bytes, words := make([]int, len(sd.spans)), make([]int, len(sd.spans))
	for i, sp := range sd.spans {
		if sp.Tokens != r.BucketTokens[i] {
			return results.Sample{}, fmt.Errorf("perplexity: bucket ending at %d scored %d tokens, want %d", sd.bounds[i], r.BucketTokens[i], sp.Tokens)
		}
		bytes[i], words[i] = sp.Bytes, sp.Words
	}
	n := sd.bounds[len(sd.bounds)-1]
	return results.Sample{
		Prompt: fmt.Sprintf("<%d-token corpus stream>", n),
		Scores: map[string]float64{"logprob": r.LogProb, "tokens": float64(r.Tokens)},
		Extra: map[string]any{
			"mode": Streaming, "lengths": sd.lengths, "bucket_width": sd.bucket, "bounds": sd.bounds,
			"logprob": r.BucketLogProb, "tokens": r.BucketTokens, "bytes": bytes, "words": words,
		},
	}, nil
}

func scoreSliding(d *tasks.Doc, resp []evaluator.Response) (results.Sample, error) {
	wd := d.Data.(*windowDoc)
	r, err := one(resp)
	if err != nil {
		return results.Sample{}, err
	}
	m, _ := nll(r.LogProb, r.Tokens)
	return results.Sample{
		Prompt: fmt.Sprintf("<stream tokens %d–%d>", wd.start, wd.start+wd.length),
		Scores: map[string]float64{"nll": m, "logprob": r.LogProb, "tokens": float64(r.Tokens)},
		Extra:  map[string]any{"mode": Sliding, "length": wd.length, "start": wd.start},
	}, nil
}

func scoreRolling(d *tasks.Doc, resp []evaluator.Response) (results.Sample, error) {
	rd := d.Data.(*rollingDoc)
	r, err := one(resp)
	if err != nil {
		return results.Sample{}, err
	}
	if r.Tokens != rd.span.Tokens {
		return results.Sample{}, fmt.Errorf("perplexity: window %d–%d scored %d tokens, want %d", rd.w.Pred, rd.w.End, r.Tokens, rd.span.Tokens)
	}
	return results.Sample{
		Prompt: fmt.Sprintf("<stream tokens %d–%d, predicting from %d>", rd.w.Start, rd.w.End, rd.w.Pred),
		Scores: map[string]float64{"logprob": r.LogProb, "tokens": float64(r.Tokens)},
		Extra: map[string]any{"mode": Rolling, "lengths": rd.lengths, "pred": rd.w.Pred, "end": rd.w.End,
			"bytes": rd.span.Bytes, "words": rd.span.Words},
	}, nil
}

// ints reads a list of numbers from a sample's Extra, as stored in memory
// or read back from JSON.
func ints(m map[string]any, key string) ([]int, error) {
	switch v := m[key].(type) {
	case []int:
		return v, nil
	case []any:
		out := make([]int, len(v))
		for i, x := range v {
			f, ok := x.(float64)
			if !ok || f != math.Trunc(f) {
				return nil, fmt.Errorf("%s[%d] is not an integer", key, i)
			}
			out[i] = int(f)
		}
		return out, nil
	}
	return nil, fmt.Errorf("no list %q", key)
}

func floats(m map[string]any, key string) ([]float64, error) {
	switch v := m[key].(type) {
	case []float64:
		return v, nil
	case []any:
		out := make([]float64, len(v))
		for i, x := range v {
			f, ok := x.(float64)
			if !ok {
				return nil, fmt.Errorf("%s[%d] is not a number", key, i)
			}
			out[i] = f
		}
		return out, nil
	}
	return nil, fmt.Errorf("no list %q", key)
}

func number(m map[string]any, key string) (int, error) {
	switch v := m[key].(type) {
	case int:
		return v, nil
	case float64:
		return int(v), nil
	}
	return 0, fmt.Errorf("no number %q", key)
}

// total is what a set of predictions sums to.
type total struct {
	logprob             float64
	tokens, bytes, word int
}

func (t *total) add(o total) {
	t.logprob += o.logprob
	t.tokens += o.tokens
	t.bytes += o.bytes
	t.word += o.word
}

// Group kinds and metric names.
const (
	KindLength = "context_length"
	KindBucket = "position_bucket"
)

// info is a metric without a standard error (lower is better, or it is a count).
func info(name string, v float64) results.Metric {
	return results.Metric{Name: name, Value: v, Stderr: math.NaN()}
}

// lengthMetrics are the metrics of the first L tokens: token, word and byte
// perplexity as lm-eval defines them.
func lengthMetrics(L int, t total, words bool) []results.Metric {
	m, ppl := nll(t.logprob, t.tokens)
	out := []results.Metric{info("context_length", float64(L)), info("predicted", float64(t.tokens)),
		info("nll", m), info("token_perplexity", ppl)}
	if words {
		out = append(out,
			info("word_perplexity", math.Exp(-t.logprob/float64(t.word))),
			info("byte_perplexity", math.Exp(-t.logprob/float64(t.bytes))),
			info("bits_per_byte", -t.logprob/float64(t.bytes)/math.Ln2),
			info("words", float64(t.word)), info("bytes", float64(t.bytes)))
	}
	return out
}

func (*task) Aggregate(samples []results.Sample) (*results.TaskResult, error) {
	if len(samples) == 0 {
		return nil, errors.New("perplexity: no samples")
	}
	mode, _ := samples[0].Extra["mode"].(string)
	var tr *results.TaskResult
	var err error
	switch mode {
	case Streaming:
		if len(samples) != 1 {
			return nil, fmt.Errorf("perplexity: streaming mode has one sample, got %d", len(samples))
		}
		tr, err = aggregateStreaming(samples[0])
	case Sliding:
		tr, err = aggregateSliding(samples)
	case Rolling:
		tr, err = aggregateRolling(samples)
	default:
		return nil, fmt.Errorf("perplexity: sample has unknown mode %q", mode)
	}
	if err != nil {
		return nil, fmt.Errorf("perplexity: %w", err)
	}
	// The task's own metrics are those of the longest length.
	var last *results.Group
	for i := range tr.Groups {
		if tr.Groups[i].Kind == KindLength {
			last = &tr.Groups[i]
		}
	}
	for _, m := range last.Metrics {
		if m.Name != "context_length" && m.Name != "predicted" && m.Name != "words" && m.Name != "bytes" && m.Name != "windows" {
			tr.Metrics = append(tr.Metrics, m)
		}
	}
	return tr, nil
}

func aggregateStreaming(s results.Sample) (*results.TaskResult, error) {
	bounds, err1 := ints(s.Extra, "bounds")
	lp, err2 := floats(s.Extra, "logprob")
	toks, err3 := ints(s.Extra, "tokens")
	bytes, err4 := ints(s.Extra, "bytes")
	words, err5 := ints(s.Extra, "words")
	lengths, err6 := ints(s.Extra, "lengths")
	width, err7 := number(s.Extra, "bucket_width")
	if err := errors.Join(err1, err2, err3, err4, err5, err6, err7); err != nil {
		return nil, err
	}
	n := len(bounds)
	if len(lp) != n || len(toks) != n || len(bytes) != n || len(words) != n || width <= 0 {
		return nil, errors.New("streaming sample: bucket lists differ in length")
	}
	spanTotal := func(i int) total { return total{lp[i], toks[i], bytes[i], words[i]} }
	tr := &results.TaskResult{}
	for _, L := range lengths {
		var t total
		found := false
		for i, b := range bounds {
			if b > L {
				break
			}
			t.add(spanTotal(i))
			found = found || b == L
		}
		if !found || t.tokens == 0 {
			return nil, fmt.Errorf("streaming sample: no bucket ends at length %d", L)
		}
		tr.Groups = append(tr.Groups, results.Group{Name: results.TokenCount(L), Kind: KindLength, Samples: 1, Metrics: lengthMetrics(L, t, true)})
	}
	for a, i := 0, 0; a < bounds[n-1]; a += width {
		var t total
		for ; i < n && bounds[i] <= a+width; i++ {
			t.add(spanTotal(i))
		}
		end := min(a+width, bounds[n-1])
		if t.tokens == 0 {
			continue
		}
		m, ppl := nll(t.logprob, t.tokens)
		tr.Groups = append(tr.Groups, results.Group{
			Name: results.TokenCount(a) + "–" + results.TokenCount(end), Kind: KindBucket, Samples: 1,
			Metrics: []results.Metric{info("start", float64(a)), info("end", float64(end)), info("predicted", float64(t.tokens)),
				info("nll", m), info("token_perplexity", ppl)},
		})
	}
	return tr, nil
}

func aggregateSliding(samples []results.Sample) (*results.TaskResult, error) {
	byLen := map[int][]float64{}
	var lengths []int
	for _, s := range samples {
		L, err := number(s.Extra, "length")
		m, ok := s.Scores["nll"]
		if err != nil || !ok {
			return nil, fmt.Errorf("doc %d: sample lacks length or nll", s.DocID)
		}
		if byLen[L] == nil {
			lengths = append(lengths, L)
		}
		byLen[L] = append(byLen[L], m)
	}
	slices.Sort(lengths)
	tr := &results.TaskResult{}
	for _, L := range lengths {
		m, se := results.Mean(byLen[L])
		tr.Groups = append(tr.Groups, results.Group{Name: results.TokenCount(L), Kind: KindLength, Samples: len(byLen[L]),
			Metrics: []results.Metric{info("context_length", float64(L)), info("windows", float64(len(byLen[L]))),
				{Name: "nll", Value: m, Stderr: se}, info("token_perplexity", math.Exp(m))}})
	}
	return tr, nil
}

func aggregateRolling(samples []results.Sample) (*results.TaskResult, error) {
	byLen := map[int]*total{}
	var lengths []int
	for _, s := range samples {
		ls, err1 := ints(s.Extra, "lengths")
		b, err2 := number(s.Extra, "bytes")
		w, err3 := number(s.Extra, "words")
		lp, ok1 := s.Scores["logprob"]
		n, ok2 := s.Scores["tokens"]
		if err := errors.Join(err1, err2, err3); err != nil || !ok1 || !ok2 {
			return nil, fmt.Errorf("doc %d: sample lacks lengths, bytes, words, logprob or tokens", s.DocID)
		}
		for _, L := range ls {
			if byLen[L] == nil {
				byLen[L] = &total{}
				lengths = append(lengths, L)
			}
			byLen[L].add(total{lp, int(n), b, w})
		}
	}
	slices.Sort(lengths)
	tr := &results.TaskResult{}
	for _, L := range lengths {
		tr.Groups = append(tr.Groups, results.Group{Name: results.TokenCount(L), Kind: KindLength, Samples: len(samples), Metrics: lengthMetrics(L, *byLen[L], true)})
	}
	return tr, nil
}

// PlotFile is the name of the figure written next to results.json.
const PlotFile = "perplexity.png"

func value(ms []results.Metric, name string) float64 {
	if m, ok := results.Find(ms, name); ok {
		return m.Value
	}
	return math.NaN()
}

// Report writes perplexity.png (token perplexity against context length,
// and per position bucket) into dir and the tables to w.
func (*task) Report(tr *results.TaskResult, dir string, w io.Writer) error {
	var byLen, byBucket results.Series
	byLen.Name = "first L tokens"
	byBucket.Name = "tokens in the bucket ending at L"
	var ticks []plot.Tick
	fmt.Fprintln(w, "perplexity by context length:")
	fmt.Fprintln(w, "| context | predicted | NLL | token ppl | word ppl | byte ppl | bits/byte |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, g := range tr.Groups {
		if g.Kind != KindLength {
			continue
		}
		L := value(g.Metrics, "context_length")
		pred := value(g.Metrics, "predicted")
		predS := fmt.Sprintf("%.0f", pred)
		if math.IsNaN(pred) {
			predS = fmt.Sprintf("%.0f windows", value(g.Metrics, "windows"))
		}
		fmt.Fprintf(w, "| %s | %s | %.6f | %s | %s | %s | %s |\n", g.Name, predS, value(g.Metrics, "nll"),
			f4(value(g.Metrics, "token_perplexity")), f4(value(g.Metrics, "word_perplexity")),
			f4(value(g.Metrics, "byte_perplexity")), f4(value(g.Metrics, "bits_per_byte")))
		byLen.X = append(byLen.X, L)
		byLen.Y = append(byLen.Y, value(g.Metrics, "token_perplexity"))
		ticks = append(ticks, plot.Tick{Value: L, Label: g.Name})
	}
	header := false
	for _, g := range tr.Groups {
		if g.Kind != KindBucket {
			continue
		}
		if !header {
			fmt.Fprintln(w, "perplexity by position:")
			fmt.Fprintln(w, "| positions | predicted | NLL | token ppl |")
			fmt.Fprintln(w, "|---|---|---|---|")
			header = true
		}
		fmt.Fprintf(w, "| %s | %.0f | %.6f | %s |\n", g.Name, value(g.Metrics, "predicted"), value(g.Metrics, "nll"), f4(value(g.Metrics, "token_perplexity")))
		byBucket.X = append(byBucket.X, value(g.Metrics, "end"))
		byBucket.Y = append(byBucket.Y, value(g.Metrics, "token_perplexity"))
	}
	if len(byLen.X) == 0 {
		return errors.New("perplexity: the result has no context-length groups")
	}
	if len(ticks) < 4 && len(byBucket.X) > 0 {
		// Few lengths: mark the powers of two along the buckets too.
		ticks = nil
		for x := 1 << 10; x <= int(slices.Max(byBucket.X)); x *= 2 {
			if float64(x) >= byBucket.X[0] {
				ticks = append(ticks, plot.Tick{Value: float64(x), Label: results.TokenCount(x)})
			}
		}
		for _, L := range byLen.X {
			if !slices.ContainsFunc(ticks, func(t plot.Tick) bool { return t.Value == L }) {
				ticks = append(ticks, plot.Tick{Value: L, Label: results.TokenCount(int(L))})
			}
		}
	}
	lp := &results.LinePlot{
		Title: "Perplexity against context length", XLabel: "context length (tokens)", YLabel: "token perplexity",
		LogX: true, XTicks: ticks, Series: []results.Series{byLen},
	}
	if len(byBucket.X) > 0 {
		lp.Series = append(lp.Series, byBucket)
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range lp.Series {
		for _, y := range s.Y {
			lo, hi = math.Min(lo, y), math.Max(hi, y)
		}
	}
	lp.LogY = hi > 10*lo
	return lp.WritePNG(filepath.Join(dir, PlotFile))
}

func f4(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	return fmt.Sprintf("%.4f", v)
}
