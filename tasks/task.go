// Package tasks is the registry of evaluation tasks and the runner that
// takes a task from its documents to its metrics. Each task lives in its own
// folder tasks/<name>/ and registers itself in init; adding a task means
// adding one folder (and one import line in tasks/all).
package tasks

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/spf13/pflag"

	"github.com/sambaeval/sambaeval/evaluator"
	"github.com/sambaeval/sambaeval/model"
	"github.com/sambaeval/sambaeval/results"
)

// Task is one evaluation.
type Task interface {
	// Name is the name used on the command line.
	Name() string
	// Description is one line for `sambaeval list`.
	Description() string
	// Defaults says the task's default settings in a few words ("5-shot, test split").
	Defaults() string
	// Version changes whenever prompts, data or scoring change.
	Version() string
	// Flags adds the task's own flags to `sambaeval run`.
	Flags(fs *pflag.FlagSet)
	// Build loads the task's data and makes its documents and requests.
	Build(env *Env) (*Plan, error)
	// Aggregate computes the task's metrics from its samples, in document
	// order. It needs nothing but the samples, so shards can be merged.
	Aggregate(samples []results.Sample) (*results.TaskResult, error)
}

// Reporter is implemented by tasks that present their results beyond the
// metric table: figures written next to results.json, and a text table.
type Reporter interface {
	// Report writes the task's figures into dir and its text table to w.
	// It needs nothing but the task's result.
	Report(tr *results.TaskResult, dir string, w io.Writer) error
}

// Env is what a task sees when it builds its documents.
type Env struct {
	// NumFewshot is the --num-fewshot value, or -1 for the task's default.
	NumFewshot int
	// Seed is the --seed value.
	Seed int64
	// DataDir is the --data-dir value ("" for the shipped copies).
	DataDir string
	// Model is the model to be evaluated; tasks use its tokenizer to size
	// prompts in tokens.
	Model *model.Model
	// Log receives notes for the user.
	Log io.Writer
}

// Doc is one document: the requests it needs answered, and whatever its
// scorer needs.
type Doc struct {
	ID       int
	Requests []evaluator.Request
	// Data is the task's own document (question, answer, ...).
	Data any
}

// Plan is a task ready to run.
type Plan struct {
	Docs       []Doc
	NumFewshot int
	// DataFiles maps each data file read to its sha256.
	DataFiles map[string]string
	// Config records the task's settings in results.json.
	Config map[string]any
	// Score turns one document's responses into its sample.
	Score func(d *Doc, resp []evaluator.Response) (results.Sample, error)
	// Subtask, when set, names each document's subtask (an MMLU subject):
	// --limit then applies per subtask, as lm-eval applies it.
	Subtask func(d *Doc) string
	// ScoreWorkers, when above 1, lets Score run on that many documents at
	// once (HumanEval runs programs).
	ScoreWorkers int
}

// ModelFree is implemented by tasks that can run without a model in some
// configurations (HumanEval scoring given completions).
type ModelFree interface {
	NeedsModel() bool
}

// FlagChecker is an optional Task interface: CheckFlags reports a bad value
// of the task's own flags (and of the --num-fewshot it is given, -1 for its
// default) before anything is loaded, so that a typo does not wait for a
// large model to load first. Build reports the same errors.
type FlagChecker interface {
	CheckFlags(numFewshot int) error
}

// CheckFlags runs the FlagChecker of each task that has one, before
// anything is loaded; the first error comes back prefixed with its task.
func CheckFlags(ts []Task, numFewshot int) error {
	for _, t := range ts {
		if fc, ok := t.(FlagChecker); ok {
			if err := fc.CheckFlags(numFewshot); err != nil {
				return fmt.Errorf("%s: %w", t.Name(), err)
			}
		}
	}
	return nil
}

var (
	mu       sync.Mutex
	registry = map[string]Task{}
)

// Register adds a task to the registry; it panics on a duplicate name.
func Register(t Task) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registry[t.Name()]; dup {
		panic("tasks: registered twice: " + t.Name())
	}
	registry[t.Name()] = t
}

// Get returns a registered task.
func Get(name string) (Task, error) {
	mu.Lock()
	defer mu.Unlock()
	if t, ok := registry[name]; ok {
		return t, nil
	}
	return nil, fmt.Errorf("unknown task %q (known: %s)", name, strings.Join(namesLocked(), ", "))
}

// All returns every registered task, sorted by name.
func All() []Task {
	mu.Lock()
	defer mu.Unlock()
	var out []Task
	for _, n := range namesLocked() {
		out = append(out, registry[n])
	}
	return out
}

func namesLocked() []string {
	var names []string
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Parse splits a comma-separated task list and looks each name up.
func Parse(list string) ([]Task, error) {
	var out []Task
	seen := map[string]bool{}
	for _, n := range strings.Split(list, ",") {
		n = strings.TrimSpace(n)
		if n == "" || seen[n] {
			continue
		}
		seen[n] = true
		t, err := Get(n)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no task named in %q", list)
	}
	return out, nil
}
