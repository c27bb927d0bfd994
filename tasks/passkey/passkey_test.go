package passkey

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sambaeval/sambaeval/evaluator"
	"github.com/sambaeval/sambaeval/model/modeltest"
	"github.com/sambaeval/sambaeval/results"
	"github.com/sambaeval/sambaeval/tasks"
	"github.com/sambaeval/sambaeval/tokenizer"
)

func llama(t testing.TB) *tokenizer.Tokenizer {
	t.Helper()
	tok, err := tokenizer.Load("../../models/samba-tiny/tokenizer.model")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestPrompt(t *testing.T) {
	want := TaskLine + "\n" + Filler + "\nThe pass key is 12345. Remember it. 12345 is the pass key.\n" + Filler + " " + Filler + "\n" + Question
	if got := Prompt(3, 1, "12345"); got != want {
		t.Errorf("Prompt(3, 1):\n%q\nwant\n%q", got, want)
	}
	// Depth 0: the key line right after the task line (an empty filler part).
	if got := Prompt(1, 0, "7"); !strings.HasPrefix(got, TaskLine+"\n\nThe pass key is 7.") || !strings.HasSuffix(got, Filler+"\n"+Question) {
		t.Errorf("Prompt(1, 0) = %q", got)
	}
	for _, c := range []struct {
		depth float64
		n, k  int
	}{{0, 40, 0}, {0.25, 40, 10}, {0.5, 83, 42}, {0.75, 83, 62}, {1, 83, 83}, {0.25, 2, 1}, {0.25, 1, 0}} {
		if got := Depth(c.depth, c.n); got != c.k {
			t.Errorf("Depth(%v, %d) = %d, want %d", c.depth, c.n, got, c.k)
		}
	}
}

// TestPromptTokens checks the prompt sizes against the samba-tiny README:
// 1006, 2038, 4078, 8182, 16366 and 32758 tokens for L = 1K … 32K, at
// every depth and for every key of the README.
func TestPromptTokens(t *testing.T) {
	tok := llama(t)
	count := func(s string) int { return len(tok.Encode(s)) }
	for _, c := range []struct{ length, tokens int }{
		{1024, 1006}, {2048, 2038}, {4096, 4078}, {8192, 8182}, {16384, 16366}, {32768, 32758},
	} {
		for _, d := range []float64{0, 0.25, 0.5, 0.75, 1} {
			for _, key := range []string{"89670", "54247", "43927", "29639"} {
				n, k, nt, err := Fit(count, c.length, d, key, 0)
				if err != nil {
					t.Fatal(err)
				}
				if nt != c.tokens || count(Prompt(n, k, key)) != nt || k != Depth(d, n) {
					t.Errorf("L %d depth %v key %s: n %d k %d, %d tokens, want %d", c.length, d, key, n, k, nt, c.tokens)
				}
				if more := count(Prompt(n+1, Depth(d, n+1), key)); more <= c.length {
					t.Errorf("L %d: n+1 = %d repeats still fit (%d tokens)", c.length, n+1, more)
				}
			}
		}
	}
}

func TestFitSearch(t *testing.T) {
	// A synthetic tokenizer: one token per 4 bytes.
	count := func(s string) int { return (len(s) + 3) / 4 }
	want, _, _, err := Fit(count, 5000, 0.5, "12345", 0)
	if err != nil {
		t.Fatal(err)
	}
	if count(Prompt(want, Depth(0.5, want), "12345")) > 5000 || count(Prompt(want+1, Depth(0.5, want+1), "12345")) <= 5000 {
		t.Fatalf("n = %d is not the largest fitting count", want)
	}
	for _, guess := range []int{1, 2, want - 1, want, want + 1, 3 * want, 20 * want} {
		if n, _, _, _ := Fit(count, 5000, 0.5, "12345", guess); n != want {
			t.Errorf("guess %d: n = %d, want %d", guess, n, want)
		}
	}
	if _, _, _, err := Fit(count, 10, 0.5, "12345", 0); err == nil || !strings.Contains(err.Error(), "shorter than the prompt") {
		t.Errorf("too short a length: %v", err)
	}
}

func TestParseDepths(t *testing.T) {
	got, err := ParseDepths("1, 0,0.5,0")
	if err != nil || !slices.Equal(got, []float64{0, 0.5, 1}) {
		t.Errorf("ParseDepths: %v %v", got, err)
	}
	for _, bad := range []string{"1.5", "-0.1", "x", "", "NaN"} {
		if _, err := ParseDepths(bad); err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: error %v, want a one-line error", bad, err)
		}
	}
}

func TestCellKeys(t *testing.T) {
	a := CellKeys(1234, 4096, 0.5, 5)
	if !slices.Equal(a, CellKeys(1234, 4096, 0.5, 5)) {
		t.Fatal("keys are not reproducible")
	}
	for _, k := range a {
		if k < 10000 || k > 99999 {
			t.Errorf("key %d is not 5 digits", k)
		}
	}
	// The first keys of a cell do not depend on how many are drawn.
	if !slices.Equal(a[:3], CellKeys(1234, 4096, 0.5, 3)) {
		t.Error("keys depend on the count drawn")
	}
	for _, other := range [][]int{CellKeys(1235, 4096, 0.5, 5), CellKeys(1234, 8192, 0.5, 5), CellKeys(1234, 4096, 0.6, 5)} {
		if slices.Equal(a, other) {
			t.Error("different cells or seeds give the same keys")
		}
	}
}

func TestCorrect(t *testing.T) {
	for _, c := range []struct {
		out  string
		want bool
	}{{" 89670", true}, {"89670.", true}, {" 89670\n", true}, {" 8967.", false}, {" 89671", false}, {"", false}, {" 896701", false}, {" 12 89670", false}} {
		if got := Correct(c.out, 89670); got != c.want {
			t.Errorf("Correct(%q) = %v", c.out, got)
		}
	}
}

// readmeSamples makes samples with the samba-tiny README's counts at 8K
// and 16K (correct by depth 0 / 0.25 / 0.5 / 0.75 / 1, of 4 each).
func readmeSamples() []results.Sample {
	counts := map[int][]int{8192: {1, 2, 4, 4, 4}, 16384: {0, 0, 1, 4, 4}}
	toks := map[int]int{8192: 8182, 16384: 16366}
	var out []results.Sample
	for _, L := range []int{8192, 16384} {
		for di, d := range []float64{0, 0.25, 0.5, 0.75, 1} {
			for k := range 4 {
				acc := 0.0
				if k < counts[L][di] {
					acc = 1
				}
				out = append(out, results.Sample{DocID: len(out), Scores: map[string]float64{"acc": acc},
					Extra: map[string]any{"length": L, "depth": d, "prompt_tokens": toks[L]}})
			}
		}
	}
	return out
}

func TestAggregateAndReport(t *testing.T) {
	dir := t.TempDir()
	// Through a samples file, as merged shards are read back.
	if err := results.WriteSamples(dir, "passkey", readmeSamples()); err != nil {
		t.Fatal(err)
	}
	samples, err := results.ReadSamples(filepath.Join(dir, "samples_passkey.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	tk := &task{}
	tr, err := tk.Aggregate(samples)
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := results.Find(tr.Metrics, "acc"); math.Abs(m.Value-24.0/40) > 1e-12 {
		t.Errorf("overall acc %v, want 24/40", m.Value)
	}
	want := map[string]float64{"8K": 15, "16K": 9, "depth 0": 1, "depth 0.25": 2, "depth 1": 8, "8K @ 0.25": 2, "16K @ 0.5": 1}
	for _, g := range tr.Groups {
		if w, ok := want[g.Name]; ok {
			if c, _ := results.Find(g.Metrics, "correct"); c.Value != w {
				t.Errorf("group %s: %v correct, want %v", g.Name, c.Value, w)
			}
			delete(want, g.Name)
		}
	}
	if len(want) > 0 {
		t.Errorf("groups missing: %v", want)
	}
	var buf bytes.Buffer
	if err := tk.Report(tr, dir, &buf); err != nil {
		t.Fatal(err)
	}
	for _, row := range []string{
		"| length | prompt tokens | correct | depth 0 | depth 0.25 | depth 0.5 | depth 0.75 | depth 1 |",
		"| 8K | 8182 | 15 of 20 | 1/4 | 2/4 | 4/4 | 4/4 | 4/4 |",
		"| 16K | 16366 | 9 of 20 | 0/4 | 0/4 | 1/4 | 4/4 | 4/4 |",
	} {
		if !strings.Contains(buf.String(), row+"\n") {
			t.Errorf("table lacks %q:\n%s", row, buf.String())
		}
	}
	if st, err := os.Stat(filepath.Join(dir, HeatmapFile)); err != nil || st.Size() < 1000 {
		t.Errorf("heatmap: %v", err)
	}
	if _, err := tk.Aggregate([]results.Sample{{Scores: map[string]float64{"acc": 1}}}); err == nil {
		t.Error("a sample without length and depth was accepted")
	}
}

func TestBuild(t *testing.T) {
	env := &tasks.Env{Model: modeltest.Tiny(t), Seed: 1234}
	tk := &task{protocol: "samba-tiny", lengths: "1K,2K", depths: "0,1"}
	plan, err := tk.Build(env)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Docs) != 2*2*4 {
		t.Fatalf("%d docs, want 16", len(plan.Docs))
	}
	lm := &evaluator.LM{M: env.Model}
	for _, d := range plan.Docs {
		tr := d.Data.(*trial)
		r := d.Requests[0]
		want := map[int]int{1024: 1006, 2048: 2038}[tr.Length]
		if r.Kind != evaluator.GenerateUntil || r.MaxTokens != 6 || tr.Tokens != want {
			t.Errorf("doc %d: %s, max %d tokens, prompt %d tokens (want %d)", d.ID, r.Kind, r.MaxTokens, tr.Tokens, want)
		}
		if ctx, _ := lm.EncodePair(r.Context, ""); len(ctx) != want {
			t.Errorf("doc %d: the request's context has %d tokens, want %d", d.ID, len(ctx), want)
		}
		if !slices.Contains([]int{89670, 54247, 43927, 29639}, tr.Key) || !strings.Contains(r.Context, KeyLine(itoa(tr.Key))) {
			t.Errorf("doc %d: key %d", d.ID, tr.Key)
		}
	}
	// Random keys: reproducible from the seed.
	tk = &task{protocol: "samba-tiny", lengths: "1K", depths: "0.5", keysPerCell: 3}
	plan, err = tk.Build(env)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range CellKeys(1234, 1024, 0.5, 3) {
		if got := plan.Docs[i].Data.(*trial).Key; got != k {
			t.Errorf("doc %d: key %d, want %d", i, got, k)
		}
	}
	for _, c := range []struct {
		tk   task
		want string
	}{
		{task{protocol: "nope"}, "--passkey-protocol"},
		{task{protocol: "samba-tiny", lengths: "1K,abc"}, "--lengths"},
		{task{protocol: "samba-tiny", lengths: "10"}, "shorter than the prompt"},
		{task{protocol: "samba-tiny", depths: "0,2"}, "--depths"},
		{task{protocol: "samba-tiny", keysPerCell: -1}, "--keys-per-cell"},
	} {
		_, err := c.tk.Build(env)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%+v: error %v, want one line mentioning %s", c.tk, err, c.want)
		}
	}
}
