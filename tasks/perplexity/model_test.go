package perplexity

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	_ "github.com/sambaeval/sambaeval/kernels/cpu"
	"github.com/sambaeval/sambaeval/model"
	"github.com/sambaeval/sambaeval/model/modeltest"
	"github.com/sambaeval/sambaeval/results"
	"github.com/sambaeval/sambaeval/tasks"
)

// run evaluates the task with the given settings on samba-tiny.
func run(t *testing.T, m *model.Model, tk *task) (*results.TaskResult, string, string) {
	t.Helper()
	var log bytes.Buffer
	dir := t.TempDir()
	res, err := tasks.Run([]tasks.Task{tk}, tasks.Options{Env: tasks.Env{Model: m, Seed: 1234, Log: &log}, OutputDir: dir, ChunkSize: 2048})
	if err != nil {
		t.Fatal(err)
	}
	return res.Tasks["perplexity"], log.String(), dir
}

func group(t *testing.T, tr *results.TaskResult, kind, name string) []results.Metric {
	t.Helper()
	for _, g := range tr.Groups {
		if g.Kind == kind && g.Name == name {
			return g.Metrics
		}
	}
	t.Fatalf("no %s group %q", kind, name)
	return nil
}

// corpusIDs is the test corpus stream built independently: each document
// tokenized whole, EOS between them.
func corpusIDs(t *testing.T, m *model.Model) []int32 {
	_, docs, _ := golden(t)
	var out []int32
	for i, d := range docs {
		if i > 0 {
			out = append(out, int32(m.Tokenizer.EOS()))
		}
		out = append(out, ids32(m.Tokenizer.Encode(d.Text))...)
	}
	return out
}

// direct sums the log-probabilities of seq[1:] after one plain pass.
func direct(t *testing.T, m *model.Model, seq []int32) float64 {
	t.Helper()
	s := m.NewSession()
	defer s.Free()
	out, err := s.Score(seq[:len(seq)-1], seq[1:])
	if err != nil {
		t.Fatal(err)
	}
	var lp float64
	for _, sc := range out {
		lp += float64(sc.LogProb)
	}
	return lp
}

func TestStreamingMatchesDirect(t *testing.T) {
	m := modeltest.Tiny(t)
	ids := corpusIDs(t, m)
	tr, log, dir := run(t, m, &task{data: "testdata/corpus", lengths: "16,64,100", mode: Streaming, buckets: "32", window: "4K", stride: "4K"})
	for _, L := range []int{16, 64, 100} {
		ms := group(t, tr, KindLength, results.TokenCount(L))
		lp := direct(t, m, ids[:L])
		if got, want := value(ms, "nll"), -lp/float64(L-1); got != want || value(ms, "predicted") != float64(L-1) {
			t.Errorf("L %d: nll %v over %v, direct pass %v over %d", L, got, value(ms, "predicted"), want, L-1)
		}
		if got := value(ms, "bits_per_byte"); math.Abs(got-(-lp/value(ms, "bytes")/math.Ln2)) > 1e-12 {
			t.Errorf("L %d: bits per byte %v", L, got)
		}
	}
	// Bucket 32–64 is the difference of two prefixes.
	ms := group(t, tr, KindBucket, "32–64")
	if got, want := value(ms, "nll"), -(direct(t, m, ids[:64])-direct(t, m, ids[:32]))/32; math.Abs(got-want) > 1e-9 {
		t.Errorf("bucket 32–64: nll %v, want %v", got, want)
	}
	if !strings.Contains(log, "| 100 | 99 |") {
		t.Errorf("table:\n%s", log)
	}
	if _, err := os.Stat(filepath.Join(dir, PlotFile)); err != nil {
		t.Error(err)
	}
}

func TestRollingWholeCorpus(t *testing.T) {
	m := modeltest.Tiny(t)
	ids := corpusIDs(t, m)
	n := len(ids)
	want, _, _ := golden(t)
	words, nbytes := 0, 0
	for _, c := range want {
		words, nbytes = words+c.Words, nbytes+c.Bytes
	}
	for _, window := range []int{n, 48} {
		tr, _, _ := run(t, m, &task{data: "testdata/corpus", lengths: results.TokenCount(n), mode: Rolling, window: results.TokenCount(window), stride: "4K", buckets: "4K"})
		ms := group(t, tr, KindLength, results.TokenCount(n))
		// Every token predicted once; words and bytes are lm-eval's counts
		// of the three documents.
		if value(ms, "predicted") != float64(n) || value(ms, "words") != float64(words) || value(ms, "bytes") != float64(nbytes) {
			t.Errorf("window %d: %v predicted, %v words, %v bytes; want %d, %d, %d", window, value(ms, "predicted"), value(ms, "words"), value(ms, "bytes"), n, words, nbytes)
		}
		var lp float64
		for _, w := range RollingWindows(n, window) {
			seq := ids[w.Start:w.End]
			if w.PrefixEOS {
				seq = append([]int32{int32(m.Tokenizer.EOS())}, seq...)
			}
			skip := w.ScoreFrom()
			s := m.NewSession()
			out, err := s.Score(seq[:len(seq)-1], seq[1:])
			s.Free()
			if err != nil {
				t.Fatal(err)
			}
			for _, sc := range out[skip:] {
				lp += float64(sc.LogProb)
			}
		}
		if got := value(ms, "word_perplexity"); math.Abs(got-math.Exp(-lp/float64(words)))/got > 1e-12 {
			t.Errorf("window %d: word perplexity %v, want %v", window, got, math.Exp(-lp/float64(words)))
		}
	}
}

func TestSlidingMatchesDirect(t *testing.T) {
	m := modeltest.Tiny(t)
	ids := corpusIDs(t, m)
	tr, _, _ := run(t, m, &task{data: "testdata/corpus", lengths: "40", mode: Sliding, stride: "16", tokens: "100", window: "4K", buckets: "4K"})
	// ArchScale: starts range(0, 100-40, 16) = 0, 16, 32, 48, the last dropped.
	var means []float64
	for _, a := range []int{0, 16, 32} {
		means = append(means, -direct(t, m, ids[a:a+40])/39)
	}
	mean, _ := results.Mean(means)
	ms := group(t, tr, KindLength, "40")
	if value(ms, "windows") != 3 || math.Abs(value(ms, "nll")-mean) > 1e-12 || math.Abs(value(ms, "token_perplexity")-math.Exp(mean)) > 1e-9 {
		t.Errorf("windows %v nll %v ppl %v, want 3, %v, %v", value(ms, "windows"), value(ms, "nll"), value(ms, "token_perplexity"), mean, math.Exp(mean))
	}
}

func TestFlagErrors(t *testing.T) {
	env := &tasks.Env{Model: modeltest.Tiny(t)}
	base := task{data: "testdata/corpus", lengths: "64", mode: Streaming, window: "4K", stride: "4K", buckets: "4K"}
	for _, c := range []struct {
		edit func(*task)
		want string
	}{
		{func(t *task) { t.lengths = "4K,x" }, "--context-lengths"},
		{func(t *task) { t.lengths = "" }, "--context-lengths"},
		{func(t *task) { t.mode = "chunked" }, "--ppl-mode"},
		{func(t *task) { t.window = "0" }, "--ppl-window"},
		{func(t *task) { t.stride = "-4K" }, "--ppl-stride"},
		{func(t *task) { t.buckets = "4Q" }, "--ppl-buckets"},
		{func(t *task) { t.mode, t.tokens = Sliding, "abc" }, "--ppl-tokens"},
		{func(t *task) { t.maxWindows = -1 }, "--ppl-max-windows"},
		{func(t *task) { t.docs = "alpha,nope" }, `no document "nope"`},
		{func(t *task) { t.data = "testdata/missing" }, "--ppl-data"},
		{func(t *task) { t.lengths = "1M" }, "fewer than the 1048576 needed"},
		{func(t *task) { t.mode, t.lengths, t.tokens = Sliding, "64", "70" }, "no 64-token window fits"},
	} {
		tk := base
		c.edit(&tk)
		_, err := tk.Build(env)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%+v: error %v, want one line mentioning %s", tk, err, c.want)
		}
	}
	// --ppl-docs picks documents in the order named.
	tk := base
	tk.docs, tk.lengths = "gamma,alpha", "10"
	prev := debug.SetGCPercent(77)
	plan, err := tk.Build(env)
	if got := debug.SetGCPercent(prev); got != 77 {
		t.Errorf("GC percent %d after Build, want the 77 set before", got)
	}
	if err != nil {
		t.Fatal(err)
	}
	if docs := plan.Config["documents"].([]string); len(docs) != 1 || docs[0] != "gamma" {
		t.Errorf("documents %v, want the 10 tokens from gamma alone", docs)
	}
}

// TestSambaTinyReadme reproduces the samba-tiny README's perplexities of
// little_women.txt (one document: no BOS, no EOS) through the task: the
// first N tokens, N−1 predictions. N = 2048 by default; 8192 and 32768
// with SAMBAEVAL_LONG_TESTS=1.
func TestSambaTinyReadme(t *testing.T) {
	if testing.Short() {
		t.Skip("samba-tiny perplexity skipped in -short mode")
	}
	lengths := "2048"
	if os.Getenv("SAMBAEVAL_LONG_TESTS") != "" {
		lengths = "2048,8192,32768"
	}
	tr, log, _ := run(t, modeltest.Tiny(t), &task{docs: "little_women", lengths: lengths, mode: Streaming, buckets: "2K", window: "4K", stride: "4K"})
	t.Logf("\n%s", log)
	for _, c := range []struct {
		n        string
		nll, ppl float64
	}{{"2K", 4.212304, 67.5119}, {"8K", 4.261339, 70.9049}, {"32K", 4.231751, 68.8377}} {
		if !strings.Contains(log, "| "+c.n+" |") {
			continue
		}
		ms := group(t, tr, KindLength, c.n)
		// The README gives the NLL to 6 decimals; perplexity must agree to
		// 4 significant digits (within half a unit of the fourth: the
		// reference 70.9049 sits on a rounding boundary).
		ppl := value(ms, "token_perplexity")
		if got := value(ms, "nll"); math.Abs(got-c.nll) > 1e-5 || math.Abs(ppl-c.ppl) > 5e-5*c.ppl {
			t.Errorf("N %s: mean NLL %.6f perplexity %.4f, README %.6f %.4f", c.n, got, value(ms, "token_perplexity"), c.nll, c.ppl)
		}
	}
}
