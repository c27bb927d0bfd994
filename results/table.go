package results

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
)

// formatValue prints a metric value: four decimals.
func formatValue(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	return fmt.Sprintf("%.4f", v)
}

// WriteTable writes the summary table of r as Markdown: one row per task
// metric, then with groups when asked.
func WriteTable(w io.Writer, r *Results, groups bool) {
	names := make([]string, 0, len(r.Tasks))
	for n := range r.Tasks {
		names = append(names, n)
	}
	sort.Strings(names)
	rows := [][]string{{"task", "metric", "filter", "n-shot", "value", "± stderr", "samples"}}
	for _, n := range names {
		t := r.Tasks[n]
		for _, m := range t.Metrics {
			rows = append(rows, []string{n, m.Name, m.Filter, fmt.Sprint(t.NumFewshot), formatValue(m.Value), formatValue(m.Stderr), fmt.Sprint(t.Samples)})
		}
		if groups {
			for _, g := range t.Groups {
				for _, m := range g.Metrics {
					rows = append(rows, []string{" - " + g.Name, m.Name, m.Filter, "", formatValue(m.Value), formatValue(m.Stderr), fmt.Sprint(g.Samples)})
				}
			}
		}
	}
	writeMarkdown(w, rows)
}

// writeMarkdown writes rows (the first is the header) as an aligned table.
func writeMarkdown(w io.Writer, rows [][]string) {
	width := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	line := func(r []string) {
		var b strings.Builder
		b.WriteString("|")
		for i, c := range r {
			b.WriteString(" " + c + strings.Repeat(" ", width[i]-len([]rune(c))) + " |")
		}
		fmt.Fprintln(w, b.String())
	}
	line(rows[0])
	sep := make([]string, len(width))
	for i, n := range width {
		sep[i] = strings.Repeat("-", n)
	}
	line(sep)
	for _, r := range rows[1:] {
		line(r)
	}
}
