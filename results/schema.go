// Package results defines what an evaluation writes: results.json (its
// schema is versioned), per-sample JSON lines, and the readers and writers
// for them. Tables, plots, paper comparison and regression compare build on
// these types.
package results

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
)

// SchemaVersion is the version of the results.json layout. It changes when
// a field changes meaning or disappears; new fields do not change it.
const SchemaVersion = 1

// Results is the content of results.json.
type Results struct {
	SchemaVersion int                    `json:"schema_version"`
	Sambaeval     string                 `json:"sambaeval_version"`
	Model         ModelInfo              `json:"model"`
	Tasks         map[string]*TaskResult `json:"tasks"`
	Config        RunConfig              `json:"config"`
	Started       string                 `json:"started"`
	WallSeconds   float64                `json:"wall_seconds"`
	// Shard is set when this file holds one shard of a run ("i/n").
	Shard string `json:"shard,omitempty"`
}

// ModelInfo identifies the model that was evaluated.
type ModelInfo struct {
	Source         string          `json:"source"`
	Name           string          `json:"name"`
	Path           string          `json:"path,omitempty"`
	CheckpointHash string          `json:"checkpoint_hash"`
	Device         string          `json:"device"`
	Config         json.RawMessage `json:"config"`
}

// RunConfig records the settings of the run.
type RunConfig struct {
	Seed      int64  `json:"seed"`
	BatchSize int    `json:"batch_size"`
	ChunkSize int    `json:"chunk_size"`
	Limit     int    `json:"limit,omitempty"`
	Command   string `json:"command,omitempty"`
}

// TaskResult holds one task's metrics.
type TaskResult struct {
	Task       string            `json:"task"`
	Version    string            `json:"version"`
	NumFewshot int               `json:"num_fewshot"`
	Samples    int               `json:"samples"`
	Metrics    []Metric          `json:"metrics"`
	Groups     []Group           `json:"groups,omitempty"`
	DataFiles  map[string]string `json:"data_files,omitempty"`
	Config     map[string]any    `json:"config,omitempty"`
	// UnshardedSamples is set in a shard's results: the number of
	// documents of the whole run (all shards together), so that merging
	// can tell whether a shard's samples are all there.
	UnshardedSamples int `json:"unsharded_samples,omitempty"`
}

// Group holds the metrics of a subset of a task's documents (an MMLU
// subject or category, a passkey length, a perplexity context length).
type Group struct {
	Name    string   `json:"name"`
	Kind    string   `json:"kind,omitempty"`
	Samples int      `json:"samples"`
	Metrics []Metric `json:"metrics"`
}

// Metric is one number with its standard error.
type Metric struct {
	Name string `json:"name"`
	// Filter names the answer extraction (e.g. "strict-match"); empty if none.
	Filter string  `json:"filter,omitempty"`
	Value  float64 `json:"value"`
	// Stderr is the standard error of Value; NaN (written as null) when it
	// does not apply.
	Stderr         float64 `json:"-"`
	HigherIsBetter bool    `json:"higher_is_better"`
}

type metricJSON struct {
	Name           string   `json:"name"`
	Filter         string   `json:"filter,omitempty"`
	Value          float64  `json:"value"`
	Stderr         *float64 `json:"stderr"`
	HigherIsBetter bool     `json:"higher_is_better"`
}

// MarshalJSON writes Stderr as null when it is NaN.
func (m Metric) MarshalJSON() ([]byte, error) {
	j := metricJSON{Name: m.Name, Filter: m.Filter, Value: m.Value, HigherIsBetter: m.HigherIsBetter}
	if !math.IsNaN(m.Stderr) && !math.IsInf(m.Stderr, 0) {
		s := m.Stderr
		j.Stderr = &s
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads a null Stderr as NaN.
func (m *Metric) UnmarshalJSON(b []byte) error {
	var j metricJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*m = Metric{Name: j.Name, Filter: j.Filter, Value: j.Value, Stderr: math.NaN(), HigherIsBetter: j.HigherIsBetter}
	if j.Stderr != nil {
		m.Stderr = *j.Stderr
	}
	return nil
}

// Key is "name" or "name,filter", as lm-eval spells metric keys.
func (m Metric) Key() string {
	if m.Filter == "" {
		return m.Name
	}
	return m.Name + "," + m.Filter
}

// Find returns the metric with the given key.
func Find(ms []Metric, key string) (Metric, bool) {
	for _, m := range ms {
		if m.Key() == key {
			return m, true
		}
	}
	return Metric{}, false
}

// Sample is what one document produced: the exact prompt, the target, the
// model's outputs, the prediction and its per-metric scores.
type Sample struct {
	DocID  int    `json:"doc_id"`
	Prompt string `json:"prompt"`
	Target string `json:"target"`
	// Loglikelihoods holds one summed log-probability per choice.
	Loglikelihoods []float64 `json:"loglikelihoods,omitempty"`
	// Generation holds the generated text(s).
	Generation []string `json:"generation,omitempty"`
	Pred       string   `json:"pred"`
	// Scores maps a metric key to this document's score.
	Scores map[string]float64 `json:"scores"`
	// Extra holds task-specific fields (subject, length, depth, ...).
	Extra map[string]any `json:"extra,omitempty"`
}

// WriteFileAtomic writes data to path through a temporary file and rename,
// so that readers never see a partial file.
func WriteFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Write writes results.json into dir atomically.
func (r *Results) Write(dir string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(filepath.Join(dir, "results.json"), append(b, '\n'))
}

// Read reads a results.json file (or the one in a directory).
func Read(path string) (*Results, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, "results.json")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Results
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if r.SchemaVersion != SchemaVersion {
		return nil, fmt.Errorf("%s: schema_version %d, this sambaeval reads %d", path, r.SchemaVersion, SchemaVersion)
	}
	return &r, nil
}

// WriteSamples writes samples_<task>.jsonl into dir atomically.
func WriteSamples(dir, task string, samples []Sample) error {
	var buf []byte
	for _, s := range samples {
		b, err := json.Marshal(s)
		if err != nil {
			return err
		}
		buf = append(append(buf, b...), '\n')
	}
	return WriteFileAtomic(filepath.Join(dir, "samples_"+task+".jsonl"), buf)
}

// ReadSamples reads a samples_<task>.jsonl file.
func ReadSamples(path string) ([]Sample, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []Sample
	for i, ln := range splitLines(b) {
		var s Sample
		if err := json.Unmarshal(ln, &s); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, i+1, err)
		}
		out = append(out, s)
	}
	return out, nil
}

func splitLines(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := 0
		for i < len(b) && b[i] != '\n' {
			i++
		}
		if i > 0 {
			out = append(out, b[:i])
		}
		if i == len(b) {
			break
		}
		b = b[i+1:]
	}
	return out
}
