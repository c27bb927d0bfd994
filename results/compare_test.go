package results

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func readBase(t *testing.T) *Results {
	t.Helper()
	r, err := Read("testdata/base.json")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// set changes the value of a task metric (or of a group's, "task/group").
func set(r *Results, task, key string, v float64) {
	name, group, _ := strings.Cut(task, "/")
	ms := r.Tasks[name].Metrics
	if group != "" {
		for _, g := range r.Tasks[name].Groups {
			if g.Name == group {
				ms = g.Metrics
			}
		}
	}
	for i := range ms {
		if ms[i].Key() == key {
			ms[i].Value = v
			return
		}
	}
	panic("no metric " + task + " " + key)
}

func TestCompare(t *testing.T) {
	nan := math.NaN()
	tol := func(drop, ppl float64, groups bool) Tolerance {
		return Tolerance{MaxDrop: drop, MaxPPLRise: ppl, Groups: groups}
	}
	cases := []struct {
		name   string
		change func(r *Results)
		tol    Tolerance
		want   map[string]Verdict // "task key" or "task/group key"
		failed int
	}{
		{"identical", func(*Results) {}, DefaultTolerance(),
			map[string]Verdict{"mmlu acc": Same, "gsm8k exact_match,strict-match": Same, "perplexity perplexity": Same}, 0},
		// 0.02 worse; combined stderr sqrt(2)·0.02 = 0.0283.
		{"drop within stderr", func(r *Results) { set(r, "mmlu", "acc", 0.58) }, DefaultTolerance(),
			map[string]Verdict{"mmlu acc": Within}, 0},
		{"drop beyond stderr", func(r *Results) { set(r, "mmlu", "acc", 0.57) }, DefaultTolerance(),
			map[string]Verdict{"mmlu acc": Regression}, 1},
		{"rise beyond stderr", func(r *Results) { set(r, "mmlu", "acc", 0.63) }, DefaultTolerance(),
			map[string]Verdict{"mmlu acc": Better}, 0},
		// No stderr: any worsening regresses.
		{"no stderr, tiny drop", func(r *Results) { set(r, "mmlu", "acc_macro_categories", 0.5799) }, DefaultTolerance(),
			map[string]Verdict{"mmlu acc_macro_categories": Regression}, 1},
		// --max-drop 5 points replaces the stderr.
		{"max-drop allows 5 points", func(r *Results) { set(r, "mmlu", "acc", 0.55); set(r, "gsm8k", "exact_match,strict-match", 0.26) },
			tol(5, nan, false), map[string]Verdict{"mmlu acc": Within, "gsm8k exact_match,strict-match": Within}, 0},
		{"max-drop exceeded", func(r *Results) { set(r, "mmlu", "acc", 0.5499) }, tol(5, nan, false),
			map[string]Verdict{"mmlu acc": Regression}, 1},
		// Outside [0, 1] --max-drop is a percentage of the base value: 5% of 1e6.
		{"max-drop relative outside [0,1]", func(r *Results) { set(r, "perplexity", "tokens", 960000) }, tol(5, nan, false),
			map[string]Verdict{"perplexity tokens": Within}, 0},
		{"max-drop relative exceeded", func(r *Results) { set(r, "perplexity", "tokens", 940000) }, tol(5, nan, false),
			map[string]Verdict{"perplexity tokens": Regression}, 1},
		// Perplexity: lower is better, no stderr, compared by relative rise.
		{"ppl rise without tolerance", func(r *Results) { set(r, "perplexity", "perplexity", 10.01) }, DefaultTolerance(),
			map[string]Verdict{"perplexity perplexity": Regression}, 1},
		{"ppl fall", func(r *Results) { set(r, "perplexity", "perplexity", 9.5) }, DefaultTolerance(),
			map[string]Verdict{"perplexity perplexity": Better}, 0},
		{"ppl rise 3% allowed 5%", func(r *Results) { set(r, "perplexity", "perplexity", 10.3) }, tol(nan, 5, false),
			map[string]Verdict{"perplexity perplexity": Within}, 0},
		{"ppl rise 3% allowed 2%", func(r *Results) { set(r, "perplexity", "perplexity", 10.3) }, tol(nan, 2, false),
			map[string]Verdict{"perplexity perplexity": Regression}, 1},
		// --max-drop does not apply to perplexities, nor --max-ppl-rise to others.
		{"max-drop leaves ppl to stderr", func(r *Results) { set(r, "perplexity", "perplexity", 10.3) }, tol(50, nan, false),
			map[string]Verdict{"perplexity perplexity": Regression}, 1},
		// The log of a perplexity: --max-ppl-rise 5 allows ln(1.05) = 0.0488 of NLL, log2(1.05) = 0.0704 bits.
		{"nll rise within ppl tolerance", func(r *Results) { set(r, "perplexity", "nll", 2.3+0.048) }, tol(50, 5, false),
			map[string]Verdict{"perplexity nll": Within}, 0},
		{"nll rise beyond ppl tolerance", func(r *Results) { set(r, "perplexity", "nll", 2.3+0.049) }, tol(50, 5, false),
			map[string]Verdict{"perplexity nll": Regression}, 1},
		{"bits per byte rise", func(r *Results) { set(r, "perplexity", "bits_per_byte", 1.0+0.071) }, tol(nan, 5, false),
			map[string]Verdict{"perplexity bits_per_byte": Regression}, 1},
		{"bits per byte within", func(r *Results) { set(r, "perplexity", "bits_per_byte", 1.0+0.070) }, tol(nan, 5, false),
			map[string]Verdict{"perplexity bits_per_byte": Within}, 0},
		{"groups compared when asked", func(r *Results) { set(r, "mmlu/stem", "acc", 0.40) }, tol(nan, nan, true),
			map[string]Verdict{"mmlu/stem acc": Regression, "mmlu acc": Same}, 1},
		{"groups ignored by default", func(r *Results) { set(r, "mmlu/stem", "acc", 0.40) }, DefaultTolerance(),
			map[string]Verdict{"mmlu acc": Same}, 0},
		{"missing task", func(r *Results) { delete(r.Tasks, "gsm8k") }, DefaultTolerance(),
			map[string]Verdict{"gsm8k (task)": Missing}, 1},
		{"missing metric", func(r *Results) { r.Tasks["mmlu"].Metrics = r.Tasks["mmlu"].Metrics[:1] }, DefaultTolerance(),
			map[string]Verdict{"mmlu acc_macro_categories": Missing}, 1},
		{"new task", func(r *Results) {
			r.Tasks["extra"] = &TaskResult{Task: "extra", Metrics: []Metric{{Name: "acc", Value: 1}}}
		},
			DefaultTolerance(), map[string]Verdict{"extra acc": Added}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			base, cur := readBase(t), readBase(t)
			c.change(cur)
			cmp := Compare(base, cur, c.tol)
			got := map[string]Verdict{}
			for _, d := range cmp.Diffs {
				k := d.Task
				if d.Group != "" {
					k += "/" + d.Group
				}
				got[k+" "+d.Metric] = d.Verdict
			}
			for k, v := range c.want {
				if got[k] != v {
					t.Errorf("%s: verdict %q, want %q", k, got[k], v)
				}
			}
			if n := cmp.Regressions(); n != c.failed {
				t.Errorf("%d regressions, want %d: %+v", n, c.failed, cmp.Diffs)
			}
		})
	}
}

func TestCompareDiffNumbers(t *testing.T) {
	base, cur := readBase(t), readBase(t)
	set(cur, "mmlu", "acc", 0.55)
	var d Diff
	for _, x := range Compare(base, cur, DefaultTolerance()).Diffs {
		if x.Task == "mmlu" && x.Metric == "acc" {
			d = x
		}
	}
	want := math.Sqrt(0.02*0.02 + 0.02*0.02)
	b0, n0 := 0.60, 0.55
	if d.Base != b0 || d.New != n0 || d.Delta != n0-b0 || d.Stderr != want || d.Allowed != want {
		t.Fatalf("%+v", d)
	}
	// NaN numbers are written as null.
	b, err := json.Marshal(Compare(base, cur, DefaultTolerance()))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"metric":"acc_macro_categories","base":0.58,"new":0.58,"delta":0,"stderr":null`)) {
		t.Errorf("%s", b)
	}
}

func TestCompareNotes(t *testing.T) {
	base, cur := readBase(t), readBase(t)
	cur.Tasks["mmlu"].Version = "2"
	cur.Tasks["gsm8k"].Samples = 100
	cur.Config.Limit = 100
	cur.Model.CheckpointHash = "sha256:02"
	c := Compare(base, cur, DefaultTolerance())
	var buf bytes.Buffer
	WriteComparison(&buf, c)
	for _, want := range []string{
		"note: models: base samba-tiny (sha256:00000), new samba-tiny (sha256:02)",
		"note: limit: base 0, new 100 (0: all documents)",
		"note: gsm8k: samples 1319 in base, 100 in new",
		"note: mmlu: version 1 in base, 2 in new",
		"no regression in 8 metrics",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("missing %q in\n%s", want, buf.String())
		}
	}
}
