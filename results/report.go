package results

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// ReportFile is the name of the report WriteReport writes.
const ReportFile = "report.md"

// WriteReport renders the results directory dir (its results.json, and the
// samples files and PNG figures beside it) as Markdown into dir/report.md,
// and returns the report's path.
func WriteReport(dir string) (string, error) {
	r, err := Read(dir)
	if err != nil {
		return "", fmt.Errorf("report: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("report: %w", err)
	}
	var files []string
	for _, e := range entries {
		if !e.IsDir() {
			files = append(files, e.Name())
		}
	}
	var buf bytes.Buffer
	Report(&buf, r, files)
	path := filepath.Join(dir, ReportFile)
	if err := WriteFileAtomic(path, buf.Bytes()); err != nil {
		return "", fmt.Errorf("report: %w", err)
	}
	return path, nil
}

// Report writes the Markdown report of r: the run, the summary table, then
// one section per task with its settings, its groups, its samples file and
// its figures. files are the names of the files in the results directory;
// a PNG whose name starts with a task's name followed by "_", "-" or "."
// is shown in that task's section, any other PNG at the end.
func Report(w io.Writer, r *Results, files []string) {
	sort.Strings(files)
	names := sortedTasks(r)
	fmt.Fprintf(w, "# Evaluation of %s\n\n", r.Model.Name)
	kv := [][2]string{
		{"model", fmt.Sprintf("%s (%s)", r.Model.Name, r.Model.Source)},
		{"checkpoint hash", "`" + r.Model.CheckpointHash + "`"},
		{"device", r.Model.Device},
		{"sambaeval", r.Sambaeval},
		{"started", r.Started},
		{"wall time", fmt.Sprintf("%.1f s", r.WallSeconds)},
		{"seed", fmt.Sprint(r.Config.Seed)},
	}
	if r.Model.Path != "" {
		kv = append(kv, [2]string{"model path", "`" + r.Model.Path + "`"})
	}
	if r.Config.Limit > 0 {
		kv = append(kv, [2]string{"limit", fmt.Sprintf("%d documents per task (or subtask): not the full benchmark", r.Config.Limit)})
	}
	if r.Shard != "" {
		kv = append(kv, [2]string{"shard", r.Shard + ": these are one shard's documents only (see `sambaeval merge`)"})
	}
	if r.Config.Command != "" {
		kv = append(kv, [2]string{"command", "`" + r.Config.Command + "`"})
	}
	for _, p := range kv {
		fmt.Fprintf(w, "- **%s**: %s\n", p[0], p[1])
	}
	fmt.Fprintln(w, "\n## Summary")
	fmt.Fprintln(w)
	WriteTable(w, r, false)

	// A figure belongs to the task with the longest name that prefixes it
	// (gsm8k_cot_x.png to gsm8k_cot, not gsm8k).
	owner := map[string]string{}
	for _, f := range files {
		for _, name := range names {
			if isPNG(f) && belongsTo(f, name) && len(name) > len(owner[f]) {
				owner[f] = name
			}
		}
	}
	for _, name := range names {
		t := r.Tasks[name]
		fmt.Fprintf(w, "\n## %s\n\n", name)
		fmt.Fprintf(w, "- version %s, %d-shot, %d samples\n", t.Version, t.NumFewshot, t.Samples)
		if len(t.Config) > 0 {
			keys := make([]string, 0, len(t.Config))
			for k := range t.Config {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			var parts []string
			for _, k := range keys {
				parts = append(parts, fmt.Sprintf("%s = %v", k, t.Config[k]))
			}
			fmt.Fprintf(w, "- settings: %s\n", strings.Join(parts, "; "))
		}
		if len(t.DataFiles) > 0 {
			keys := make([]string, 0, len(t.DataFiles))
			for k := range t.DataFiles {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			fmt.Fprintln(w, "- data files:")
			for _, k := range keys {
				fmt.Fprintf(w, "  - `%s` sha256 `%s`\n", k, t.DataFiles[k])
			}
		}
		if s := "samples_" + name + ".jsonl"; slices.Contains(files, s) {
			fmt.Fprintf(w, "- samples: [%s](%s)\n", s, s)
		}
		if len(t.Groups) > 0 {
			fmt.Fprintln(w, "\n### Groups")
			fmt.Fprintln(w)
			rows := [][]string{{"group", "kind", "metric", "value", "± stderr", "samples"}}
			for _, g := range t.Groups {
				for _, m := range g.Metrics {
					rows = append(rows, []string{g.Name, g.Kind, m.Key(), formatValue(m.Value), formatValue(m.Stderr), fmt.Sprint(g.Samples)})
				}
			}
			writeMarkdown(w, rows)
		}
		for _, f := range files {
			if owner[f] == name {
				fmt.Fprintf(w, "\n![%s](%s)\n", strings.TrimSuffix(f, filepath.Ext(f)), f)
			}
		}
	}
	var rest []string
	for _, f := range files {
		if isPNG(f) && owner[f] == "" {
			rest = append(rest, f)
		}
	}
	if len(rest) > 0 {
		fmt.Fprintln(w, "\n## Figures")
		for _, f := range rest {
			fmt.Fprintf(w, "\n![%s](%s)\n", strings.TrimSuffix(f, filepath.Ext(f)), f)
		}
	}
}

// WriteMarkdownTable writes rows (the first is the header) as a Markdown
// table with aligned columns.
func WriteMarkdownTable(w io.Writer, rows [][]string) { writeMarkdown(w, rows) }

func isPNG(name string) bool { return strings.EqualFold(filepath.Ext(name), ".png") }

// belongsTo reports whether a file name starts with the task's name and a
// separator.
func belongsTo(file, task string) bool {
	rest, ok := strings.CutPrefix(file, task)
	return ok && rest != "" && strings.ContainsRune("_-.", rune(rest[0]))
}
