// Package reproduce runs the Samba paper's tables: each table is data (the
// runs it needs, with the paper's shots, decoding and options, and for each
// cell the metric to read and the paper's numbers), and Reproduce runs it
// with tasks.Run and sets our numbers beside the paper's.
//
// Adding a table means adding one *Table value to Tables.
package reproduce

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/sambaeval/sambaeval/results"
	"github.com/sambaeval/sambaeval/tasks"
)

// Table is one table or figure of the paper.
type Table struct {
	// Name is the name on the command line.
	Name   string
	Title  string
	Source string
	// Notes are protocol details and caveats, printed with the table.
	Notes []string
	// PaperData names the data the paper used, when it is not shipped; the
	// output then says which data our numbers are on.
	PaperData string
	// Models are the paper's rows whose numbers each cell carries, in the
	// order of Cell.Paper; differences are against the first unless asked.
	Models []string
	// Digits is the number of decimals the paper prints.
	Digits int
	// Approx marks numbers read off a figure.
	Approx bool
	Runs   []Run
	Cells  []Cell
}

// Run is one evaluation a table needs: a task with the paper's settings.
type Run struct {
	// ID names the run in the table and its results directory.
	ID   string
	Task string
	// NumFewshot is the paper's number of shots (-1: the task's default).
	NumFewshot int
	// Options are the task's flags (without "--") and their values.
	Options []Option
	// DataFlag names the task's flag that takes the data location, for
	// tasks that do not read --data-dir (perplexity's --ppl-data): the
	// --data-dir of reproduce is passed to it.
	DataFlag string
	// Protocol says in a few words what the run does.
	Protocol string
}

// Option is one task flag.
type Option struct{ Name, Value string }

func (o Option) String() string { return "--" + o.Name + " " + o.Value }

// Cell is one number of the table.
type Cell struct {
	Label string
	// Run is the ID of the run that produces the number.
	Run string
	// Group is the results group holding the metric ("" for the task's own
	// metrics).
	Group string
	// Metric is the metric key, "name" or "name,filter".
	Metric string
	// Scale turns our value into the paper's unit (100 for percentages).
	Scale float64
	// Paper holds the paper's number for each of the table's Models (NaN
	// where it has none).
	Paper []float64
}

// Lookup returns the table with the given name.
func Lookup(name string) (*Table, error) {
	var names []string
	for _, t := range Tables {
		if t.Name == name {
			return t, nil
		}
		names = append(names, t.Name)
	}
	return nil, fmt.Errorf("unknown table %q (known: %s)", name, strings.Join(names, ", "))
}

// Validate checks that the table is well formed: unique run IDs, every
// cell's run exists, and every cell has one paper number per model.
func (t *Table) Validate() error {
	ids := map[string]bool{}
	for _, r := range t.Runs {
		if r.ID == "" || r.Task == "" || ids[r.ID] {
			return fmt.Errorf("table %s: run %q: empty or repeated ID, or no task", t.Name, r.ID)
		}
		ids[r.ID] = true
	}
	for _, c := range t.Cells {
		if !ids[c.Run] {
			return fmt.Errorf("table %s: cell %q: no run %q", t.Name, c.Label, c.Run)
		}
		if len(c.Paper) != len(t.Models) {
			return fmt.Errorf("table %s: cell %q: %d paper numbers for %d models", t.Name, c.Label, len(c.Paper), len(t.Models))
		}
		if c.Scale == 0 || c.Metric == "" {
			return fmt.Errorf("table %s: cell %q: no metric or scale", t.Name, c.Label)
		}
	}
	return nil
}

func (t *Table) run(id string) *Run {
	for i := range t.Runs {
		if t.Runs[i].ID == id {
			return &t.Runs[i]
		}
	}
	return nil
}

// Args are the `sambaeval run` arguments that make the run.
func (r *Run) Args() []string {
	args := []string{r.Task}
	if r.NumFewshot >= 0 {
		args = append(args, "--num-fewshot", fmt.Sprint(r.NumFewshot))
	}
	for _, o := range r.Options {
		args = append(args, "--"+o.Name, o.Value)
	}
	return args
}

// WriteList writes the tables, their runs and their cells.
func WriteList(w io.Writer) {
	for i, t := range Tables {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s: %s\n", t.Name, t.Title)
		fmt.Fprintf(w, "  source: %s\n", t.Source)
		fmt.Fprintf(w, "  paper rows: %s\n", strings.Join(t.Models, "; "))
		if t.PaperData != "" {
			fmt.Fprintf(w, "  paper data: %s\n", t.PaperData)
		}
		for _, r := range t.Runs {
			avail := ""
			if _, err := tasks.Get(r.Task); err != nil {
				avail = " [task not available in this build]"
			}
			fmt.Fprintf(w, "  run %s: sambaeval run %s%s\n", r.ID, strings.Join(r.Args(), " "), avail)
			fmt.Fprintf(w, "    %s\n", r.Protocol)
		}
		for _, c := range t.Cells {
			where := c.Metric
			if c.Group != "" {
				where = c.Group + " " + where
			}
			fmt.Fprintf(w, "  cell %s: %s %s; paper %s\n", c.Label, c.Run, where, t.formatPaper(c.Paper[0]))
		}
	}
}

// Options control Reproduce.
type Options struct {
	// Options are those of tasks.Run; OutputDir is the table's directory
	// (each run writes into OutputDir/<run ID>) and NumFewshot is ignored.
	tasks.Options
	// PaperModel is the paper row the differences are against ("": the
	// table's first).
	PaperModel string
	// Only restricts the table to these run IDs (nil: all).
	Only []string
	// TaskOptions are extra task flags applied after each run's own, for
	// the tasks that have them (such as --mmlu-subjects for a quick check).
	// They change the paper's protocol, and the output says so.
	TaskOptions []Option
}

// Status values of a cell other than an error message.
const (
	StatusOK           = "ok"
	StatusNotAvailable = "task not available"
	StatusNotRun       = "not run (--only)"
	// StatusLimited is a cell whose group or metric a run with --limit
	// did not reach (a passkey length after the first N documents).
	StatusLimited = "not reached with --limit"
)

// CellResult is one cell with our number beside the paper's.
type CellResult struct {
	Label, Run, Task, Group, Metric string
	// Paper is the paper's number for the chosen model, NaN if none; Ours,
	// Stderr and Delta (Ours − Paper) are in the paper's unit.
	Paper, Ours, Stderr, Delta float64
	// Samples is the number of documents our number is over.
	Samples int
	// Status is StatusOK, or why there is no number.
	Status string
	// Dir is the results directory of the run.
	Dir string
}

// Report is a reproduced table.
type Report struct {
	Table      *Table
	PaperModel string
	// Model is the evaluated model, from the first run that ran.
	Model results.ModelInfo
	// Data says which data the runs read.
	Data string
	// Notes add to the table's notes what makes this run differ from the
	// paper's protocol (a limit, task options, data).
	Notes []string
	Cells []CellResult
}

// Failed reports whether a run that was attempted failed.
func (r *Report) Failed() bool {
	for _, c := range r.Cells {
		switch c.Status {
		case StatusOK, StatusNotAvailable, StatusNotRun, StatusLimited:
		default:
			return true
		}
	}
	return false
}

// Reproduce runs the table's runs (each resumes from its cache when run
// again) and reads each cell's number. A run whose task is not in this
// build, or that fails, leaves its cells without a number and the reason
// in their Status; the other runs go on. The error is for bad options.
func Reproduce(t *Table, o Options) (*Report, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	col := 0
	if o.PaperModel != "" {
		col = slices.Index(t.Models, o.PaperModel)
		if col < 0 {
			return nil, fmt.Errorf("--paper-model %q: table %s has %s", o.PaperModel, t.Name, strings.Join(t.Models, "; "))
		}
	}
	for _, id := range o.Only {
		if t.run(id) == nil {
			return nil, fmt.Errorf("--only %q: table %s has no such run", id, t.Name)
		}
	}
	probe := taskFlags()
	for _, op := range o.TaskOptions {
		f := probe.Lookup(op.Name)
		if f == nil {
			return nil, fmt.Errorf("--task-option %s: no task has the flag --%s", op.Name, op.Name)
		}
		if err := f.Value.Set(op.Value); err != nil {
			return nil, fmt.Errorf("--task-option %s=%s: %v", op.Name, op.Value, err)
		}
	}
	rep := &Report{Table: t, PaperModel: t.Models[col], Data: "the shipped copies"}
	if o.DataDir != "" {
		rep.Data = o.DataDir
	}
	if t.PaperData != "" {
		rep.Notes = append(rep.Notes, fmt.Sprintf("the paper used %s; these numbers are on %s", t.PaperData, rep.Data))
	}
	if o.Limit > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("--limit %d: only part of each benchmark was evaluated; not comparable with the paper", o.Limit))
	}
	if o.ChatTemplate != "" {
		rep.Notes = append(rep.Notes, "every prompt wrapped as a user turn of the chat template "+o.ChatTemplate)
	}
	if len(o.TaskOptions) > 0 {
		var s []string
		for _, op := range o.TaskOptions {
			s = append(s, op.String())
		}
		rep.Notes = append(rep.Notes, "protocol changed by "+strings.Join(s, " "))
	}

	type outcome struct {
		res    *results.TaskResult
		status string
		dir    string
	}
	done := map[string]outcome{}
	haveModel := false
	for _, r := range t.Runs {
		dir := filepath.Join(o.OutputDir, r.ID)
		if _, err := tasks.Get(r.Task); err != nil {
			done[r.ID] = outcome{status: StatusNotAvailable, dir: dir}
			continue
		}
		if len(o.Only) > 0 && !slices.Contains(o.Only, r.ID) {
			done[r.ID] = outcome{status: StatusNotRun, dir: dir}
			continue
		}
		res, status := runOne(&r, o, dir)
		out := outcome{status: status, dir: dir}
		if res != nil {
			out.res = res.Tasks[r.Task]
			if !haveModel {
				rep.Model, haveModel = res.Model, true
			}
		}
		done[r.ID] = out
	}
	if !haveModel && o.Model != nil {
		rep.Model = results.ModelInfo{Source: o.Model.Info.Source, Name: o.Model.Info.Name, Path: o.Model.Info.Path,
			CheckpointHash: o.Model.Info.Hash(), Device: o.Model.Info.Device}
	}

	for _, c := range t.Cells {
		run := t.run(c.Run)
		out := done[c.Run]
		cr := CellResult{Label: c.Label, Run: c.Run, Task: run.Task, Group: c.Group, Metric: c.Metric,
			Paper: c.Paper[col], Ours: math.NaN(), Stderr: math.NaN(), Delta: math.NaN(), Status: out.status, Dir: out.dir}
		if out.status == StatusOK {
			m, n, err := lookup(out.res, c.Group, c.Metric)
			switch {
			case err != nil && o.Limit > 0:
				cr.Status = StatusLimited
			case err != nil:
				cr.Status = "error: " + err.Error()
			default:
				cr.Ours, cr.Stderr, cr.Samples = m.Value*c.Scale, m.Stderr*c.Scale, n
				cr.Delta = cr.Ours - cr.Paper
			}
		}
		rep.Cells = append(rep.Cells, cr)
	}
	return rep, nil
}

// taskFlags returns a flag set with every task's flags at their defaults.
// The tasks keep their settings in the variables these flags set, so a
// fresh set also resets what an earlier run changed.
func taskFlags() *pflag.FlagSet {
	fs := pflag.NewFlagSet("task options", pflag.ContinueOnError)
	for _, t := range tasks.All() {
		t.Flags(fs)
	}
	return fs
}

// runOne makes one run and returns its results and the cells' status.
func runOne(r *Run, o Options, dir string) (*results.Results, string) {
	task, err := tasks.Get(r.Task)
	if err != nil {
		return nil, StatusNotAvailable
	}
	fs := taskFlags()
	opts := slices.Clone(r.Options)
	if r.DataFlag != "" && o.DataDir != "" {
		opts = append(opts, Option{r.DataFlag, o.DataDir})
	}
	for _, op := range append(opts, o.TaskOptions...) {
		f := fs.Lookup(op.Name)
		if f == nil {
			return nil, fmt.Sprintf("option --%s not available in this build's %s", op.Name, r.Task)
		}
		if err := f.Value.Set(op.Value); err != nil {
			return nil, fmt.Sprintf("error: --%s %s: %v", op.Name, op.Value, err)
		}
	}
	to := o.Options
	to.NumFewshot, to.OutputDir = r.NumFewshot, dir
	if to.Log != nil {
		fmt.Fprintf(to.Log, "run %s: sambaeval run %s → %s\n", r.ID, strings.Join(r.Args(), " "), dir)
	}
	res, err := tasks.Run([]tasks.Task{task}, to)
	if err != nil {
		return nil, "error: " + firstLine(err.Error())
	}
	return res, StatusOK
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// lookup finds a metric of a task result or of one of its groups, with the
// number of samples it is over.
func lookup(tr *results.TaskResult, group, key string) (results.Metric, int, error) {
	if tr == nil {
		return results.Metric{}, 0, fmt.Errorf("no results")
	}
	ms, n := tr.Metrics, tr.Samples
	if group != "" {
		found := false
		for _, g := range tr.Groups {
			if g.Name == group {
				ms, n, found = g.Metrics, g.Samples, true
				break
			}
		}
		if !found {
			return results.Metric{}, 0, fmt.Errorf("no group %q in the %s results", group, tr.Task)
		}
	}
	m, ok := results.Find(ms, key)
	if !ok {
		return results.Metric{}, 0, fmt.Errorf("no metric %q in the %s results", key, tr.Task)
	}
	return m, n, nil
}

func (t *Table) formatPaper(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	s := fmt.Sprintf("%.*f", t.Digits, v)
	if t.Approx {
		s = "≈" + s
	}
	return s
}

func (t *Table) formatOurs(v float64, signed bool) string {
	if math.IsNaN(v) {
		return "—"
	}
	if signed {
		return fmt.Sprintf("%+.*f", t.Digits+1, v)
	}
	return fmt.Sprintf("%.*f", t.Digits+1, v)
}

// WriteMarkdown writes the reproduced table: a header with the model, the
// data and the notes, the table of paper and our numbers with their
// difference, the paper's other rows, and the command of each run.
func (r *Report) WriteMarkdown(w io.Writer) {
	t := r.Table
	fmt.Fprintf(w, "## %s: %s\n\n", t.Name, t.Title)
	fmt.Fprintf(w, "- paper: %s\n", t.Source)
	fmt.Fprintf(w, "- model: %s (checkpoint %s), against the paper's %s\n", r.Model.Name, shortHash(r.Model.CheckpointHash), r.PaperModel)
	fmt.Fprintf(w, "- data: %s\n", r.Data)
	for _, n := range append(slices.Clone(r.Notes), t.Notes...) {
		fmt.Fprintf(w, "- note: %s\n", n)
	}
	fmt.Fprintln(w)
	rows := [][]string{{"", "metric", "paper: " + r.PaperModel, "ours", "Δ", "± stderr", "samples", "status"}}
	for _, c := range r.Cells {
		metric := c.Task + " " + c.Metric
		if c.Group != "" {
			metric = c.Task + " " + c.Group + " " + c.Metric
		}
		n := ""
		if c.Samples > 0 {
			n = fmt.Sprint(c.Samples)
		}
		rows = append(rows, []string{c.Label, metric, t.formatPaper(c.Paper), t.formatOurs(c.Ours, false),
			t.formatOurs(c.Delta, true), t.formatOurs(c.Stderr, false), n, c.Status})
	}
	results.WriteMarkdownTable(w, rows)
	if len(t.Models) > 1 {
		fmt.Fprintln(w, "\nThe paper's rows:")
		fmt.Fprintln(w)
		rows := [][]string{append([]string{""}, t.Models...)}
		for _, c := range t.Cells {
			row := []string{c.Label}
			for _, v := range c.Paper {
				row = append(row, t.formatPaper(v))
			}
			rows = append(rows, row)
		}
		results.WriteMarkdownTable(w, rows)
	}
	fmt.Fprintln(w, "\nRuns:")
	fmt.Fprintln(w)
	for _, run := range t.Runs {
		dir := ""
		for _, c := range r.Cells {
			if c.Run == run.ID {
				dir = c.Dir
			}
		}
		proto := ""
		if run.Protocol != "" {
			proto = " (" + run.Protocol + ")"
		}
		fmt.Fprintf(w, "- %s: `sambaeval run %s`%s → %s\n", run.ID, strings.Join(run.Args(), " "), proto, dir)
	}
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// MarshalJSON writes the report with NaN numbers as null.
func (r *Report) MarshalJSON() ([]byte, error) {
	num := results.JSONNumber
	type cell struct {
		Label   string   `json:"label"`
		Run     string   `json:"run"`
		Task    string   `json:"task"`
		Group   string   `json:"group,omitempty"`
		Metric  string   `json:"metric"`
		Paper   *float64 `json:"paper"`
		Ours    *float64 `json:"ours"`
		Delta   *float64 `json:"delta"`
		Stderr  *float64 `json:"stderr"`
		Samples int      `json:"samples"`
		Status  string   `json:"status"`
		Dir     string   `json:"dir"`
	}
	type run struct {
		ID       string   `json:"id"`
		Args     []string `json:"args"`
		Protocol string   `json:"protocol"`
	}
	out := struct {
		Table      string            `json:"table"`
		Title      string            `json:"title"`
		Source     string            `json:"source"`
		PaperModel string            `json:"paper_model"`
		Approx     bool              `json:"paper_approximate,omitempty"`
		Model      results.ModelInfo `json:"model"`
		Data       string            `json:"data"`
		Notes      []string          `json:"notes"`
		Runs       []run             `json:"runs"`
		Cells      []cell            `json:"cells"`
	}{Table: r.Table.Name, Title: r.Table.Title, Source: r.Table.Source, PaperModel: r.PaperModel, Approx: r.Table.Approx,
		Model: r.Model, Data: r.Data, Notes: append(slices.Clone(r.Notes), r.Table.Notes...)}
	for _, rn := range r.Table.Runs {
		out.Runs = append(out.Runs, run{rn.ID, rn.Args(), rn.Protocol})
	}
	for _, c := range r.Cells {
		out.Cells = append(out.Cells, cell{c.Label, c.Run, c.Task, c.Group, c.Metric, num(c.Paper), num(c.Ours),
			num(c.Delta), num(c.Stderr), c.Samples, c.Status, c.Dir})
	}
	return json.Marshal(out)
}

// Write writes reproduce.md and reproduce.json into dir.
func (r *Report) Write(dir string) error {
	var md strings.Builder
	r.WriteMarkdown(&md)
	if err := results.WriteFileAtomic(filepath.Join(dir, "reproduce.md"), []byte(md.String())); err != nil {
		return fmt.Errorf("write reproduce.md: %w", err)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("write reproduce.json: %w", err)
	}
	if err := results.WriteFileAtomic(filepath.Join(dir, "reproduce.json"), append(b, '\n')); err != nil {
		return fmt.Errorf("write reproduce.json: %w", err)
	}
	return nil
}
