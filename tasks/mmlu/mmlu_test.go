package mmlu

import (
	"math"
	"strings"
	"testing"

	"github.com/sambaeval/sambaeval/datasets"
	"github.com/sambaeval/sambaeval/evaluator"
	"github.com/sambaeval/sambaeval/results"
	"github.com/sambaeval/sambaeval/tasks"
)

func TestPromptFormat(t *testing.T) {
	q := datasets.MMLUItem{Subject: "high_school_physics", Question: "  What is 1+1? \n", Choices: [4]string{"1", "2", "3", "4"}, Answer: 1}
	shot := datasets.MMLUItem{Subject: "high_school_physics", Question: "Pick C.", Choices: [4]string{"a", "b", "c", "d"}, Answer: 2}
	want := "The following are multiple choice questions (with answers) about high school physics.\n\n" +
		"Pick C.\nA. a\nB. b\nC. c\nD. d\nAnswer: C\n\n" +
		"What is 1+1?\nA. 1\nB. 2\nC. 3\nD. 4\nAnswer:"
	if got := Prompt(q, []datasets.MMLUItem{shot}); got != want {
		t.Fatalf("prompt:\n%q\nwant\n%q", got, want)
	}
}

func TestBuildShipped(t *testing.T) {
	tk := &task{split: datasets.MMLUTest}
	plan, err := tk.Build(&tasks.Env{NumFewshot: -1})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Docs) != 14042 || plan.NumFewshot != 5 {
		t.Fatalf("%d docs, %d shots", len(plan.Docs), plan.NumFewshot)
	}
	d := plan.Docs[0]
	if len(d.Requests) != 4 || d.Requests[2].Continuation != " C" || !strings.HasSuffix(d.Requests[0].Context, "\nAnswer:") {
		t.Fatalf("requests %+v", d.Requests)
	}
	// Five shots, each ending in its answer letter and a blank line.
	if n := strings.Count(d.Requests[0].Context, "\nAnswer: "); n != 5 {
		t.Fatalf("%d shots in the prompt", n)
	}
	// --limit applies per subject, as lm-eval applies it per subtask.
	sel := tasks.Select(plan.Docs, 2, tasks.Shard{Index: 0, Count: 1}, plan.Subtask)
	if len(sel) != 2*57 {
		t.Fatalf("limit 2 per subject kept %d docs", len(sel))
	}
	tk.subjects = "anatomy,virology"
	plan, err = tk.Build(&tasks.Env{NumFewshot: 0})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Docs) != 135+166 || strings.Contains(plan.Docs[0].Requests[0].Context, "Answer: ") {
		t.Fatalf("subjects filter / zero-shot: %d docs", len(plan.Docs))
	}
	tk.subjects = "astrology"
	if _, err := tk.Build(&tasks.Env{NumFewshot: 0}); err == nil {
		t.Fatal("unknown subject accepted")
	}
}

func sample(subject string, acc float64) results.Sample {
	return results.Sample{Scores: map[string]float64{"acc": acc}, Extra: map[string]any{"subject": subject}}
}

func TestAggregate(t *testing.T) {
	// anatomy 3/4, virology 0/2, philosophy 1/1: three subjects in three categories.
	var ss []results.Sample
	for _, a := range []float64{1, 1, 1, 0} {
		ss = append(ss, sample("anatomy", a))
	}
	ss = append(ss, sample("virology", 0), sample("virology", 0), sample("philosophy", 1))
	tr, err := (&task{}).Aggregate(ss)
	if err != nil {
		t.Fatal(err)
	}
	get := func(k string) float64 { m, _ := results.Find(tr.Metrics, k); return m.Value }
	if math.Abs(get("acc")-4.0/7) > 1e-12 {
		t.Errorf("micro acc %v, want 4/7", get("acc"))
	}
	if math.Abs(get("acc_macro_subjects")-(0.75+0+1)/3) > 1e-12 {
		t.Errorf("macro over subjects %v", get("acc_macro_subjects"))
	}
	cats := map[string]float64{}
	for _, g := range tr.Groups {
		if g.Kind == "category" {
			cats[g.Name] = g.Metrics[0].Value
		}
	}
	want := map[string]float64{}
	for _, s := range []string{"anatomy", "virology", "philosophy"} {
		sub, _ := datasets.LookupMMLUSubject(s)
		want[sub.Group] = map[string]float64{"anatomy": 0.75, "virology": 0, "philosophy": 1}[s]
	}
	for g, v := range want {
		if cats[g] != v {
			t.Errorf("category %s: %v, want %v", g, cats[g], v)
		}
	}
	if _, err := (&task{}).Aggregate([]results.Sample{sample("astrology", 1)}); err == nil {
		t.Error("unknown subject accepted")
	}
}

func TestScorePicksArgmax(t *testing.T) {
	d := &tasks.Doc{Data: &doc{item: datasets.MMLUItem{Answer: 2, Subject: "anatomy"}}}
	s, _ := score(d, []evaluator.Response{{LogProb: -3}, {LogProb: -1}, {LogProb: -1}, {LogProb: -2}})
	if s.Pred != "B" || s.Scores["acc"] != 0 {
		t.Fatalf("ties go to the first choice (np.argmax): %+v", s)
	}
}
