package reproduce

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/sambaeval/sambaeval/evaluator"
	_ "github.com/sambaeval/sambaeval/kernels/cpu"
	"github.com/sambaeval/sambaeval/model/modeltest"
	"github.com/sambaeval/sambaeval/results"
	"github.com/sambaeval/sambaeval/tasks"
	_ "github.com/sambaeval/sambaeval/tasks/all"
)

// fakeTask scores every document with the value of its flag, so that the
// test knows what each run must report; it fails to build when asked.
type fakeTask struct {
	value float64
	fail  bool
	data  string
}

func (*fakeTask) Name() string        { return "fake_repro" }
func (*fakeTask) Description() string { return "test task" }
func (*fakeTask) Defaults() string    { return "" }
func (*fakeTask) Version() string     { return "1" }
func (f *fakeTask) Flags(fs *pflag.FlagSet) {
	fs.Float64Var(&f.value, "fake-repro-value", 0.5, "")
	fs.BoolVar(&f.fail, "fake-repro-fail", false, "")
	fs.StringVar(&f.data, "fake-repro-data", "", "")
}
func (f *fakeTask) Build(env *tasks.Env) (*tasks.Plan, error) {
	if f.fail {
		return nil, errors.New("asked to fail\nsecond line")
	}
	v := f.value
	if f.data != "" { // the test passes a number as the "data location"
		var err error
		if v, err = strconv.ParseFloat(f.data, 64); err != nil {
			return nil, err
		}
	}
	p := &tasks.Plan{NumFewshot: max(env.NumFewshot, 0), Score: func(d *tasks.Doc, r []evaluator.Response) (results.Sample, error) {
		return results.Sample{Scores: map[string]float64{"acc": v}}, nil
	}}
	for i := 0; i < 3; i++ {
		p.Docs = append(p.Docs, tasks.Doc{ID: i, Requests: []evaluator.Request{{Kind: evaluator.Loglikelihood, Context: "It was", Continuation: " the"}}})
	}
	return p, nil
}
func (*fakeTask) Aggregate(s []results.Sample) (*results.TaskResult, error) {
	var xs []float64
	for _, x := range s {
		xs = append(xs, x.Scores["acc"])
	}
	m, se := results.Mean(xs)
	acc := []results.Metric{{Name: "acc", Value: m, Stderr: se, HigherIsBetter: true}}
	return &results.TaskResult{Metrics: acc, Groups: []results.Group{{Name: "g", Samples: len(s), Metrics: acc}}}, nil
}

func init() { tasks.Register(&fakeTask{}) }

var testTable = &Table{
	Name: "test", Title: "a test table", Source: "none", Models: []string{"A", "B"}, Digits: 1,
	Runs: []Run{
		{ID: "a", Task: "fake_repro", NumFewshot: 0, Options: []Option{{"fake-repro-value", "0.25"}}},
		{ID: "default", Task: "fake_repro", NumFewshot: 0},
		{ID: "fails", Task: "fake_repro", NumFewshot: 0, Options: []Option{{"fake-repro-fail", "true"}}},
		{ID: "absent", Task: "no_such_task", NumFewshot: 0},
		{ID: "badopt", Task: "fake_repro", NumFewshot: 0, Options: []Option{{"no-such-flag", "1"}}},
	},
	Cells: []Cell{
		{Label: "a", Run: "a", Metric: "acc", Scale: 100, Paper: []float64{30, 20}},
		{Label: "a group", Run: "a", Group: "g", Metric: "acc", Scale: 100, Paper: []float64{na, 20}},
		{Label: "default", Run: "default", Metric: "acc", Scale: 1, Paper: []float64{0.5, 0.5}},
		{Label: "no metric", Run: "a", Metric: "f1", Scale: 1, Paper: []float64{1, 1}},
		{Label: "no group", Run: "a", Group: "h", Metric: "acc", Scale: 1, Paper: []float64{1, 1}},
		{Label: "fails", Run: "fails", Metric: "acc", Scale: 1, Paper: []float64{1, 1}},
		{Label: "absent", Run: "absent", Metric: "acc", Scale: 1, Paper: []float64{1, 1}},
		{Label: "badopt", Run: "badopt", Metric: "acc", Scale: 1, Paper: []float64{1, 1}},
	},
}

func TestReproduce(t *testing.T) {
	m := modeltest.Tiny(t)
	dir := t.TempDir()
	o := Options{Options: tasks.Options{Env: tasks.Env{Model: m, Seed: 1234}, BatchSize: 1, ChunkSize: 64, OutputDir: dir}, PaperModel: "B"}
	rep, err := Reproduce(testTable, o)
	if err != nil {
		t.Fatal(err)
	}
	nan := math.NaN()
	want := []struct {
		status              string
		paper, ours, stderr float64
	}{
		{StatusOK, 20, 25, 0},
		{StatusOK, 20, 25, 0},
		{StatusOK, 0.5, 0.5, 0}, // the option set by run "a" does not leak into the next run
		{`error: no metric "f1" in the fake_repro results`, 1, nan, nan},
		{`error: no group "h" in the fake_repro results`, 1, nan, nan},
		{"error: fake_repro: asked to fail", 1, nan, nan},
		{StatusNotAvailable, 1, nan, nan},
		{"option --no-such-flag not available in this build's fake_repro", 1, nan, nan},
	}
	same := func(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }
	for i, w := range want {
		c := rep.Cells[i]
		if c.Status != w.status || !same(c.Paper, w.paper) || !same(c.Ours, w.ours) || !same(c.Stderr, w.stderr) || !same(c.Delta, w.ours-w.paper) {
			t.Errorf("cell %s: %+v, want %+v", c.Label, c, w)
		}
	}
	if !rep.Failed() {
		t.Error("Failed() is false with failed runs")
	}
	if rep.PaperModel != "B" || rep.Model.Name != "samba-tiny" {
		t.Errorf("paper model %q, model %q", rep.PaperModel, rep.Model.Name)
	}
	if _, err := results.Read(filepath.Join(dir, "a")); err != nil {
		t.Error(err)
	}

	if err := rep.Write(dir); err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "reproduce.md"))
	for _, w := range []string{
		"| a         | fake_repro acc   | 20.0     | 25.00 | +5.00 | 0.00     | 3       | ok    ",
		"| a group   | fake_repro g acc | 20.0     | 25.00 | +5.00 | 0.00     | 3       | ok    ",
		"| absent    | no_such_task acc | 1.0      | —     | —     | —        |         | task not available    ",
		"The paper's rows:",
		"| a group   | —    | 20.0 |",
		"- fails: `sambaeval run fake_repro --num-fewshot 0 --fake-repro-fail true`",
	} {
		if !strings.Contains(string(md), w) {
			t.Errorf("reproduce.md lacks %q:\n%s", w, md)
		}
	}
	var j struct {
		Table string
		Cells []struct {
			Label  string
			Paper  *float64
			Ours   *float64
			Status string
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, "reproduce.json"))
	if err := json.Unmarshal(b, &j); err != nil {
		t.Fatal(err)
	}
	if j.Table != "test" || len(j.Cells) != 8 || *j.Cells[0].Ours != 25 || j.Cells[6].Ours != nil || j.Cells[1].Paper == nil {
		t.Errorf("%s", b)
	}

	// --only runs the named runs; the others are "not run" (or not available).
	o.Only, o.OutputDir = []string{"default"}, t.TempDir()
	rep, err = Reproduce(testTable, o)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Cells[0].Status != StatusNotRun || rep.Cells[2].Status != StatusOK || rep.Cells[6].Status != StatusNotAvailable || rep.Failed() {
		t.Errorf("%+v", rep.Cells)
	}
	// --task-option applies after the run's own options.
	o.TaskOptions = []Option{{"fake-repro-value", "1"}}
	if rep, err = Reproduce(testTable, o); err != nil || rep.Cells[2].Ours != 1 {
		t.Errorf("%v %+v", err, rep.Cells[2])
	}
	// With --limit, a group or metric the run did not reach is no failure.
	o.TaskOptions, o.Only, o.Limit, o.OutputDir = nil, []string{"a"}, 1, t.TempDir()
	if rep, err = Reproduce(testTable, o); err != nil || rep.Cells[0].Ours != 25 || rep.Cells[0].Samples != 1 ||
		rep.Cells[3].Status != StatusLimited || rep.Cells[4].Status != StatusLimited || rep.Failed() {
		t.Errorf("%v %+v", err, rep.Cells)
	}
	o.Only, o.Limit = nil, 0
	// --data-dir goes to a run's DataFlag.
	withData := *testTable
	withData.Runs = slices.Clone(testTable.Runs)
	withData.Runs[1].DataFlag = "fake-repro-data"
	o.TaskOptions, o.DataDir, o.OutputDir = nil, "0.75", t.TempDir()
	if rep, err = Reproduce(&withData, o); err != nil || rep.Cells[2].Ours != 0.75 || rep.Data != "0.75" {
		t.Errorf("%v %+v", err, rep.Cells[2])
	}
}

func TestReproduceBadOptions(t *testing.T) {
	o := Options{}
	cases := []struct {
		change func(*Options)
		want   string
	}{
		{func(o *Options) { o.PaperModel = "C" }, `--paper-model "C": table test has A; B`},
		{func(o *Options) { o.Only = []string{"zz"} }, `--only "zz": table test has no such run`},
		{func(o *Options) { o.TaskOptions = []Option{{"nope", "1"}} }, "--task-option nope: no task has the flag --nope"},
		{func(o *Options) { o.TaskOptions = []Option{{"fake-repro-value", "x"}} }, "--task-option fake-repro-value=x:"},
	}
	for _, c := range cases {
		oo := o
		c.change(&oo)
		if _, err := Reproduce(testTable, oo); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want %q", err, c.want)
		}
	}
}

func TestTables(t *testing.T) {
	seen := map[string]bool{}
	for _, tb := range Tables {
		if err := tb.Validate(); err != nil {
			t.Error(err)
		}
		if seen[tb.Name] {
			t.Errorf("table %s twice", tb.Name)
		}
		seen[tb.Name] = true
		if got, err := Lookup(tb.Name); err != nil || got != tb {
			t.Errorf("Lookup(%s): %v", tb.Name, err)
		}
	}
	if _, err := Lookup("nope"); err == nil || !strings.Contains(err.Error(), "samba-3.8b-base") {
		t.Errorf("error %v", err)
	}
	bad := *testTable
	bad.Cells = []Cell{{Label: "x", Run: "zz", Metric: "acc", Scale: 1, Paper: []float64{1, 1}}}
	if err := bad.Validate(); err == nil {
		t.Error("a cell of a missing run validates")
	}
	bad.Cells = []Cell{{Label: "x", Run: "a", Metric: "acc", Scale: 1, Paper: []float64{1}}}
	if err := bad.Validate(); err == nil {
		t.Error("a cell with one paper number for two models validates")
	}
}

func TestWriteList(t *testing.T) {
	var buf bytes.Buffer
	WriteList(&buf)
	out := buf.String()
	for _, tb := range Tables {
		if !strings.Contains(out, tb.Name+": "+tb.Title+"\n") {
			t.Errorf("no header for %s", tb.Name)
		}
		for _, r := range tb.Runs {
			line := "  run " + r.ID + ": sambaeval run " + strings.Join(r.Args(), " ")
			if _, err := tasks.Get(r.Task); err != nil {
				line += " [task not available in this build]"
			}
			if !strings.Contains(out, line+"\n") {
				t.Errorf("no line %q", line)
			}
		}
	}
}
