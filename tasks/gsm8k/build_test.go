package gsm8k

import (
	"strings"
	"testing"

	"github.com/sambaeval/sambaeval/datasets"
	"github.com/sambaeval/sambaeval/tasks"
)

func TestBuildMatchesLMEvalShots(t *testing.T) {
	train, _, err := datasets.LoadGSM8K(datasets.Embedded(), datasets.GSM8KTrain)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := (&task{name: "gsm8k"}).Build(&tasks.Env{NumFewshot: -1, Seed: 1234})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Docs) != 1319 {
		t.Fatalf("%d docs", len(plan.Docs))
	}
	// CPython: random.Random(1234).sample(range(7473), 5) for the first two documents.
	for doc, idx := range [][]int{{6374, 3610, 957, 61, 742}, {7462, 6610, 4769, 286, 5501}} {
		var want strings.Builder
		for _, j := range idx {
			want.WriteString("Question: " + train[j].Question + "\nAnswer: " + train[j].Answer + "\n\n")
		}
		ctx := plan.Docs[doc].Requests[0].Context
		if !strings.HasPrefix(ctx, want.String()) || !strings.HasSuffix(ctx, "\nAnswer:") {
			t.Fatalf("doc %d: shots differ from lm-eval's", doc)
		}
	}
	cot, err := (&task{name: "gsm8k_cot", cot: true}).Build(&tasks.Env{NumFewshot: -1})
	if err != nil {
		t.Fatal(err)
	}
	d := cot.Docs[0].Data.(*doc)
	if !strings.HasPrefix(d.prompt, "Q: There are 15 trees") || strings.Count(d.prompt, "The answer is") != 8 || !strings.HasSuffix(d.prompt, "\nA:") {
		t.Fatalf("cot prompt %q", d.prompt[:80])
	}
	if d.target != "18" { // Janet's ducks
		t.Fatalf("cot target %q", d.target)
	}
}
