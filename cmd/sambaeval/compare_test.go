package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCompareExitCodes runs `sambaeval compare` on results.json files made
// from testdata/compare/base.json by one change each.
func TestCompareExitCodes(t *testing.T) {
	dir := t.TempDir()
	base := "testdata/compare/base.json"
	// variant writes base.json with one change.
	variant := func(name string, edit func(m map[string]any)) string {
		b, err := os.ReadFile(base)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		json.Unmarshal(b, &m)
		edit(m)
		b, _ = json.Marshal(m)
		p := filepath.Join(dir, name+".json")
		os.WriteFile(p, b, 0o644)
		return p
	}
	metric := func(m map[string]any, task string, i int) map[string]any {
		return m["tasks"].(map[string]any)[task].(map[string]any)["metrics"].([]any)[i].(map[string]any)
	}
	within := variant("within", func(m map[string]any) { metric(m, "mmlu", 0)["value"] = 0.58 })
	drop := variant("drop", func(m map[string]any) { metric(m, "mmlu", 0)["value"] = 0.50 })
	better := variant("better", func(m map[string]any) {
		metric(m, "mmlu", 0)["value"] = 0.70
		metric(m, "perplexity", 0)["value"] = 9.0
	})
	ppl := variant("ppl", func(m map[string]any) { metric(m, "perplexity", 0)["value"] = 10.3 })
	nll := variant("nll", func(m map[string]any) { metric(m, "perplexity", 1)["value"] = 2.34 })
	missing := variant("missing", func(m map[string]any) { delete(m["tasks"].(map[string]any), "gsm8k") })
	schema := variant("schema", func(m map[string]any) { m["schema_version"] = 99 })

	cases := []struct {
		args []string
		code int
		// rows are the expected rows of the table (cells trimmed), keyed by
		// their first two cells.
		rows [][]string
		last string
	}{
		{[]string{base, base}, 0, [][]string{{"mmlu", "acc", "0.6000", "0.6000", "+0.0000", "0.0283", "0.0283", "same"}}, "no regression in 8 metrics"},
		{[]string{base, within}, 0, [][]string{{"mmlu", "acc", "0.6000", "0.5800", "-0.0200", "0.0283", "0.0283", "within tolerance"}}, "no regression in 8 metrics"},
		{[]string{base, drop}, 2, [][]string{{"mmlu", "acc", "0.6000", "0.5000", "-0.1000", "0.0283", "0.0283", "REGRESSION"}}, "1 of 8 metrics regressed or are missing"},
		// --max-drop in points for metrics in [0, 1], in percent of the base value for others.
		{[]string{base, drop, "--max-drop", "10"}, 0, [][]string{
			{"mmlu", "acc", "0.6000", "0.5000", "-0.1000", "0.0283", "0.1000", "within tolerance"},
			{"perplexity", "tokens", "1000000.0000", "1000000.0000", "+0.0000", "—", "100000.0000", "same"}}, "no regression in 8 metrics"},
		{[]string{base, drop, "--max-drop", "5"}, 2, [][]string{{"mmlu", "acc", "0.6000", "0.5000", "-0.1000", "0.0283", "0.0500", "REGRESSION"}}, ""},
		{[]string{base, better}, 0, [][]string{
			{"mmlu", "acc", "0.6000", "0.7000", "+0.1000", "0.0283", "0.0283", "better"},
			{"perplexity", "perplexity", "10.0000", "9.0000", "-1.0000", "—", "0.0000", "better"}}, ""},
		// A perplexity without stderr regresses on any rise, unless --max-ppl-rise allows it.
		{[]string{base, ppl}, 2, [][]string{{"perplexity", "perplexity", "10.0000", "10.3000", "+0.3000", "—", "0.0000", "REGRESSION"}}, ""},
		{[]string{base, ppl, "--max-ppl-rise", "5"}, 0, [][]string{{"perplexity", "perplexity", "10.0000", "10.3000", "+0.3000", "—", "0.5000", "within tolerance"}}, ""},
		{[]string{base, ppl, "--max-ppl-rise", "2"}, 2, [][]string{{"perplexity", "perplexity", "10.0000", "10.3000", "+0.3000", "—", "0.2000", "REGRESSION"}}, ""},
		// The log of a perplexity: 5% allows ln(1.05) = 0.0488 more NLL.
		{[]string{base, nll, "--max-ppl-rise", "5"}, 0, [][]string{{"perplexity", "nll", "2.3000", "2.3400", "+0.0400", "—", "0.0488", "within tolerance"}}, ""},
		{[]string{base, nll, "--max-ppl-rise", "3"}, 2, [][]string{{"perplexity", "nll", "2.3000", "2.3400", "+0.0400", "—", "0.0296", "REGRESSION"}}, ""},
		{[]string{base, missing}, 2, [][]string{{"gsm8k", "(task)", "—", "—", "—", "—", "—", "MISSING"}}, "1 of 7 metrics regressed or are missing"},
		{[]string{base, drop, "--groups"}, 2, [][]string{{"mmlu / stem", "acc", "0.5000", "0.5000", "+0.0000", "0.0127", "0.0127", "same"}}, "1 of 9 metrics regressed or are missing"},
	}
	for _, c := range cases {
		out, stderr, err := sambaeval(t, append([]string{"compare"}, c.args...)...)
		if code := exitCode(t, err); code != c.code {
			t.Errorf("%v: exit %d, want %d\n%s%s", c.args, code, c.code, out, stderr)
			continue
		}
		got := tableRows(out)
		for _, w := range c.rows {
			if g := got[w[0]+" "+w[1]]; strings.Join(g, "|") != strings.Join(w, "|") {
				t.Errorf("%v: row %q, want %q", c.args, g, w)
			}
		}
		if c.last != "" && !strings.HasSuffix(strings.TrimSpace(out), "\n"+c.last) {
			t.Errorf("%v: output does not end in %q:\n%s", c.args, c.last, out)
		}
		if c.code == 2 && !strings.HasPrefix(stderr, "sambaeval: 1 regression(s) of ") {
			t.Errorf("%v: stderr %q", c.args, stderr)
		}
	}

	// --json gives the same verdicts.
	out, _, err := sambaeval(t, "compare", base, drop, "--json")
	var j struct {
		Diffs []struct{ Task, Metric, Verdict string }
	}
	if exitCode(t, err) != 2 || json.Unmarshal([]byte(out), &j) != nil || len(j.Diffs) != 8 ||
		j.Diffs[2].Task != "mmlu" || j.Diffs[2].Metric != "acc" || j.Diffs[2].Verdict != "REGRESSION" {
		t.Errorf("--json: %v %s", err, out)
	}

	// Errors exit 1.
	failsWithOneLine(t, "no such file", "compare", base, filepath.Join(dir, "nonexistent.json"))
	failsWithOneLine(t, "schema_version 99, this sambaeval reads 1", "compare", base, schema)
	failsWithOneLine(t, "--max-drop -1 must not be negative", "compare", base, base, "--max-drop", "-1")
	failsWithOneLine(t, "accepts 2 arg(s)", "compare", base)
}

// tableRows reads the rows of a Markdown table, cells trimmed, keyed by
// their first two cells.
func tableRows(out string) map[string][]string {
	rows := map[string][]string{}
	for _, ln := range strings.Split(out, "\n") {
		if !strings.HasPrefix(ln, "|") {
			continue
		}
		cells := strings.Split(strings.Trim(ln, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if len(cells) > 1 {
			rows[cells[0]+" "+cells[1]] = cells
		}
	}
	return rows
}
