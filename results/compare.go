package results

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
)

// Tolerance says how much worse a new result may be than a baseline before
// the difference counts as a regression. A NaN field means "the metric's
// standard error": a metric regresses when it is worse by more than
// sqrt(se_base² + se_new²) (the standard errors that are known), or by
// anything at all when neither is known.
type Tolerance struct {
	// MaxDrop is the allowed worsening of metrics other than perplexities:
	// in points (hundredths) for metrics whose two values lie in [0, 1]
	// (accuracies, exact match, pass@k), in percent of the baseline value
	// for others. NaN: the standard error.
	MaxDrop float64
	// MaxPPLRise is the allowed rise of a perplexity (see IsPerplexity),
	// in percent of the baseline value; for the logarithm of a perplexity
	// (see LogBase), the rise of the log that makes the perplexity rise by
	// that percentage. NaN: the standard error.
	MaxPPLRise float64
	// Groups compares the metrics of groups (subjects, lengths, ...) too.
	Groups bool
}

// DefaultTolerance compares against the standard errors, top-level
// metrics only.
func DefaultTolerance() Tolerance {
	return Tolerance{MaxDrop: math.NaN(), MaxPPLRise: math.NaN()}
}

// IsPerplexity reports whether a metric is a perplexity (lower is better,
// compared by its relative rise).
func IsPerplexity(m Metric) bool {
	n := strings.ToLower(m.Name)
	return !m.HigherIsBetter && (strings.Contains(n, "perplexity") || strings.Contains(n, "ppl"))
}

// LogBase returns the base of a metric that is the logarithm of a
// perplexity: e for a mean negative log-likelihood ("nll", "*_nll"), 2 for
// bits per byte; 0 for other metrics.
func LogBase(m Metric) float64 {
	if m.HigherIsBetter {
		return 0
	}
	switch n := strings.ToLower(m.Name); {
	case n == "nll" || strings.HasSuffix(n, "_nll"):
		return math.E
	case n == "bits_per_byte" || n == "bpb":
		return 2
	}
	return 0
}

// Verdict is the outcome of comparing one metric.
type Verdict string

// The verdicts. Regression and Missing fail a comparison.
const (
	Same       Verdict = "same"
	Within     Verdict = "within tolerance"
	Better     Verdict = "better"
	Regression Verdict = "REGRESSION"
	Missing    Verdict = "MISSING"
	Added      Verdict = "new"
)

// Diff is the comparison of one metric.
type Diff struct {
	Task string `json:"task"`
	// Group is the group's name, "" for the task's own metrics.
	Group  string  `json:"group,omitempty"`
	Metric string  `json:"metric"` // the metric key, "name" or "name,filter"
	Base   float64 `json:"base"`
	New    float64 `json:"new"`
	// Delta is New − Base.
	Delta float64 `json:"delta"`
	// Stderr is the combined standard error sqrt(se_base² + se_new²), NaN
	// when neither is known.
	Stderr float64 `json:"stderr"`
	// Allowed is the worsening allowed, in the metric's own units.
	Allowed        float64 `json:"allowed"`
	HigherIsBetter bool    `json:"higher_is_better"`
	Verdict        Verdict `json:"verdict"`
}

// Failed reports whether the diff fails the comparison.
func (d Diff) Failed() bool { return d.Verdict == Regression || d.Verdict == Missing }

// JSONNumber returns v as a JSON number: nil (null) for NaN and ±Inf,
// which JSON cannot hold.
func JSONNumber(v float64) *float64 {
	if bad(v) {
		return nil
	}
	return &v
}

// MarshalJSON writes NaN numbers as null.
func (d Diff) MarshalJSON() ([]byte, error) {
	num := JSONNumber
	return json.Marshal(struct {
		Task           string   `json:"task"`
		Group          string   `json:"group,omitempty"`
		Metric         string   `json:"metric"`
		Base           *float64 `json:"base"`
		New            *float64 `json:"new"`
		Delta          *float64 `json:"delta"`
		Stderr         *float64 `json:"stderr"`
		Allowed        *float64 `json:"allowed"`
		HigherIsBetter bool     `json:"higher_is_better"`
		Verdict        Verdict  `json:"verdict"`
	}{d.Task, d.Group, d.Metric, num(d.Base), num(d.New), num(d.Delta), num(d.Stderr), num(d.Allowed), d.HigherIsBetter, d.Verdict})
}

// Comparison is the metric-by-metric comparison of two results.
type Comparison struct {
	Diffs []Diff `json:"diffs"`
	// Notes say where the two runs differ in ways that make their numbers
	// less comparable (task versions, shots, sample counts, settings).
	Notes []string `json:"notes,omitempty"`
}

// Regressions counts the diffs that fail the comparison.
func (c *Comparison) Regressions() int {
	n := 0
	for _, d := range c.Diffs {
		if d.Failed() {
			n++
		}
	}
	return n
}

// Compare compares every metric of base with the same metric of new: a
// metric that is worse in new by more than tol allows is a Regression, a
// task or metric of base that new lacks is Missing.
func Compare(base, new *Results, tol Tolerance) *Comparison {
	c := &Comparison{}
	if base.Model.CheckpointHash != new.Model.CheckpointHash {
		c.Notes = append(c.Notes, fmt.Sprintf("models: base %s (%s), new %s (%s)",
			base.Model.Name, short(base.Model.CheckpointHash), new.Model.Name, short(new.Model.CheckpointHash)))
	}
	if base.Config.Limit != new.Config.Limit {
		c.Notes = append(c.Notes, fmt.Sprintf("limit: base %d, new %d (0: all documents)", base.Config.Limit, new.Config.Limit))
	}
	if base.Config.Seed != new.Config.Seed {
		c.Notes = append(c.Notes, fmt.Sprintf("seed: base %d, new %d", base.Config.Seed, new.Config.Seed))
	}
	for _, name := range sortedTasks(base) {
		tb, tn := base.Tasks[name], new.Tasks[name]
		if tn == nil {
			c.Diffs = append(c.Diffs, Diff{Task: name, Metric: "(task)", Base: math.NaN(), New: math.NaN(),
				Delta: math.NaN(), Stderr: math.NaN(), Allowed: math.NaN(), Verdict: Missing})
			continue
		}
		c.Notes = append(c.Notes, taskNotes(tb, tn)...)
		c.compareMetrics(name, "", tb.Metrics, tn.Metrics, tol)
		if tol.Groups {
			for _, gb := range tb.Groups {
				var gn []Metric
				for _, g := range tn.Groups {
					if g.Name == gb.Name && g.Kind == gb.Kind {
						gn = g.Metrics
					}
				}
				c.compareMetrics(name, gb.Name, gb.Metrics, gn, tol)
			}
		}
	}
	for _, name := range sortedTasks(new) {
		if base.Tasks[name] == nil {
			for _, m := range new.Tasks[name].Metrics {
				c.Diffs = append(c.Diffs, Diff{Task: name, Metric: m.Key(), Base: math.NaN(), New: m.Value,
					Delta: math.NaN(), Stderr: m.Stderr, Allowed: math.NaN(), HigherIsBetter: m.HigherIsBetter, Verdict: Added})
			}
		}
	}
	return c
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func taskNotes(b, n *TaskResult) []string {
	var out []string
	note := func(what string, vb, vn any) {
		out = append(out, fmt.Sprintf("%s: %s %v in base, %v in new", b.Task, what, vb, vn))
	}
	if b.Version != n.Version {
		note("version", b.Version, n.Version)
	}
	if b.NumFewshot != n.NumFewshot {
		note("num_fewshot", b.NumFewshot, n.NumFewshot)
	}
	if b.Samples != n.Samples {
		note("samples", b.Samples, n.Samples)
	}
	if !sameJSON(b.Config, n.Config) {
		note("settings", configString(b.Config), configString(n.Config))
	}
	if !sameJSON(b.DataFiles, n.DataFiles) {
		out = append(out, b.Task+": data files differ")
	}
	return out
}

func configString(c map[string]any) string {
	b, _ := json.Marshal(c)
	return string(b)
}

func (c *Comparison) compareMetrics(task, group string, base, new []Metric, tol Tolerance) {
	for _, mb := range base {
		d := Diff{Task: task, Group: group, Metric: mb.Key(), Base: mb.Value, HigherIsBetter: mb.HigherIsBetter}
		mn, ok := Find(new, mb.Key())
		if !ok {
			d.New, d.Delta, d.Stderr, d.Allowed, d.Verdict = math.NaN(), math.NaN(), math.NaN(), math.NaN(), Missing
			c.Diffs = append(c.Diffs, d)
			continue
		}
		d.New, d.Delta = mn.Value, mn.Value-mb.Value
		d.Stderr = combined(mb.Stderr, mn.Stderr)
		d.Allowed, d.Verdict = judge(mb, mn, d.Stderr, tol)
		c.Diffs = append(c.Diffs, d)
	}
}

// combined is sqrt(a² + b²) over the known standard errors; NaN if none is.
func combined(a, b float64) float64 {
	known := false
	var ss float64
	for _, s := range []float64{a, b} {
		if !math.IsNaN(s) && !math.IsInf(s, 0) {
			known = true
			ss += s * s
		}
	}
	if !known {
		return math.NaN()
	}
	return math.Sqrt(ss)
}

// judge returns the worsening allowed for a metric and the verdict.
func judge(b, n Metric, stderr float64, tol Tolerance) (float64, Verdict) {
	if math.IsNaN(b.Value) || math.IsNaN(n.Value) {
		if math.IsNaN(b.Value) && math.IsNaN(n.Value) {
			return math.NaN(), Same
		}
		return math.NaN(), Regression
	}
	allowed := stderr
	ppl, logBase := IsPerplexity(b), LogBase(b)
	switch {
	case ppl && !math.IsNaN(tol.MaxPPLRise):
		allowed = math.Abs(b.Value) * tol.MaxPPLRise / 100
	case logBase > 0 && !math.IsNaN(tol.MaxPPLRise):
		allowed = math.Log1p(tol.MaxPPLRise/100) / math.Log(logBase)
	case !ppl && logBase == 0 && !math.IsNaN(tol.MaxDrop):
		if inUnit(b.Value) && inUnit(n.Value) {
			allowed = tol.MaxDrop / 100
		} else {
			allowed = math.Abs(b.Value) * tol.MaxDrop / 100
		}
	}
	if math.IsNaN(allowed) {
		allowed = 0
	}
	// worse is how much worse new is, in the metric's units.
	worse := b.Value - n.Value
	if !b.HigherIsBetter {
		worse = -worse
	}
	// A tolerance of exactly the difference is within it; a relative slack
	// keeps values that print equal from failing on rounding.
	slack := 1e-12 * math.Max(math.Abs(b.Value), math.Abs(n.Value))
	switch {
	case b.Value == n.Value:
		return allowed, Same
	case worse > allowed+slack:
		return allowed, Regression
	case -worse > allowed+slack:
		return allowed, Better
	}
	return allowed, Within
}

func inUnit(v float64) bool { return v >= 0 && v <= 1 }

// WriteComparison writes the comparison as notes and a Markdown table, then
// a one-line summary.
func WriteComparison(w io.Writer, c *Comparison) {
	for _, n := range c.Notes {
		fmt.Fprintln(w, "note: "+n)
	}
	if len(c.Notes) > 0 {
		fmt.Fprintln(w)
	}
	rows := [][]string{{"task", "metric", "base", "new", "delta", "± stderr", "allowed", "verdict"}}
	for _, d := range c.Diffs {
		task := d.Task
		if d.Group != "" {
			task += " / " + d.Group
		}
		rows = append(rows, []string{task, d.Metric, formatValue(d.Base), formatValue(d.New),
			formatDelta(d.Delta), formatValue(d.Stderr), formatValue(d.Allowed), string(d.Verdict)})
	}
	writeMarkdown(w, rows)
	fmt.Fprintln(w)
	if n := c.Regressions(); n > 0 {
		fmt.Fprintf(w, "%d of %d metrics regressed or are missing\n", n, len(c.Diffs))
	} else {
		fmt.Fprintf(w, "no regression in %d metrics\n", len(c.Diffs))
	}
}

func formatDelta(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	return fmt.Sprintf("%+.4f", v)
}
