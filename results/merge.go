package results

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// SamplesPath is the path of a task's samples file in a results directory.
func SamplesPath(dir, task string) string {
	return filepath.Join(dir, "samples_"+task+".jsonl")
}

// ShardDir is one shard's output directory read back: its results.json and
// the samples of each of its tasks.
type ShardDir struct {
	Dir     string
	Results *Results
	// Index and Count are the shard's place, from its "shard" field.
	Index, Count int
	// Samples holds each task's samples in the shard's document order.
	Samples map[string][]Sample
}

// ParseShardField reads a results.json "shard" field, "i/n" with 0 ≤ i < n.
func ParseShardField(s string) (index, count int, err error) {
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 2 || i < 0 || i >= n {
		return 0, 0, fmt.Errorf("shard %q: want i/n with 0 ≤ i < n and n ≥ 2", s)
	}
	return i, n, nil
}

// ReadShard reads the output directory of one shard of a run: results.json,
// which must carry a "shard" field, and samples_<task>.jsonl for each task.
func ReadShard(dir string) (*ShardDir, error) {
	r, err := Read(dir)
	if err != nil {
		return nil, fmt.Errorf("read shard: %w", err)
	}
	if r.Shard == "" {
		return nil, fmt.Errorf("read shard: %s/results.json is not a shard's (no \"shard\" field)", dir)
	}
	sd := &ShardDir{Dir: dir, Results: r, Samples: map[string][]Sample{}}
	if sd.Index, sd.Count, err = ParseShardField(r.Shard); err != nil {
		return nil, fmt.Errorf("read shard: %s/results.json: %w", dir, err)
	}
	for name, tr := range r.Tasks {
		path := SamplesPath(dir, name)
		s, err := ReadSamples(path)
		if err != nil {
			return nil, fmt.Errorf("read shard: %w", err)
		}
		if len(s) != tr.Samples {
			return nil, fmt.Errorf("read shard: %s has %d samples, results.json says %d", path, len(s), tr.Samples)
		}
		sd.Samples[name] = s
	}
	return sd, nil
}

// Aggregator computes a task's metrics from all of its samples, given in
// document order: the task's own Aggregate.
type Aggregator func(task string, samples []Sample) (*TaskResult, error)

// Merged is a run put back together from its shards.
type Merged struct {
	Results *Results
	// Samples holds each task's samples in document order.
	Samples map[string][]Sample
}

// Write writes results.json and samples_<task>.jsonl of every task into dir.
func (m *Merged) Write(dir string) error {
	for name, s := range m.Samples {
		if err := WriteSamples(dir, name, s); err != nil {
			return fmt.Errorf("write merged samples of %s: %w", name, err)
		}
	}
	if err := m.Results.Write(dir); err != nil {
		return fmt.Errorf("write merged results: %w", err)
	}
	return nil
}

// MergeShards checks that shards are all the shards of one run, consistent
// with each other, and puts them back together: for each task, the union of
// the samples in the order of the unsharded run (shard i/n holds the
// documents at positions i, i+n, i+2n, ... of that order) and its metrics
// recomputed from them by agg, so that the result is that of the unsharded
// run. The shards must share the model, seed, limit, tasks and the tasks'
// versions and settings, and together hold every document exactly once.
func MergeShards(shards []*ShardDir, agg Aggregator) (*Merged, error) {
	if len(shards) == 0 {
		return nil, fmt.Errorf("merge: no shard directories given")
	}
	s0 := shards[0]
	n := s0.Count
	byIndex := make([]*ShardDir, n)
	for _, s := range shards {
		if s.Count != n {
			return nil, fmt.Errorf("merge: %s is shard %s but %s is shard %s of a different count", s.Dir, s.Results.Shard, s0.Dir, s0.Results.Shard)
		}
		if d := byIndex[s.Index]; d != nil {
			return nil, fmt.Errorf("merge: %s and %s are both shard %s", d.Dir, s.Dir, s.Results.Shard)
		}
		byIndex[s.Index] = s
		if err := sameRun(s0, s); err != nil {
			return nil, fmt.Errorf("merge: %w", err)
		}
	}
	var missing []string
	for i, s := range byIndex {
		if s == nil {
			missing = append(missing, fmt.Sprintf("%d/%d", i, n))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("merge: shard %s missing (have %d of %d shards)", strings.Join(missing, ", "), n-len(missing), n)
	}

	r0 := s0.Results
	out := &Results{
		SchemaVersion: SchemaVersion,
		Sambaeval:     r0.Sambaeval,
		Model:         r0.Model,
		Tasks:         map[string]*TaskResult{},
		Config:        r0.Config,
		Started:       r0.Started,
	}
	var devices []string
	for _, s := range byIndex {
		r := s.Results
		if !slices.Contains(devices, r.Model.Device) {
			devices = append(devices, r.Model.Device)
		}
		if r.Started != "" && (out.Started == "" || r.Started < out.Started) {
			out.Started = r.Started // RFC 3339 in UTC sorts as text
		}
		out.WallSeconds = max(out.WallSeconds, r.WallSeconds)
	}
	out.Model.Device = strings.Join(devices, ",")

	m := &Merged{Results: out, Samples: map[string][]Sample{}}
	for _, name := range sortedTasks(r0) {
		all, err := interleave(name, byIndex)
		if err != nil {
			return nil, fmt.Errorf("merge: %w", err)
		}
		tr, err := agg(name, all)
		if err != nil {
			return nil, fmt.Errorf("merge: %s: %w", name, err)
		}
		t0 := r0.Tasks[name]
		tr.Task, tr.Version, tr.NumFewshot, tr.Samples = t0.Task, t0.Version, t0.NumFewshot, len(all)
		tr.DataFiles, tr.Config, tr.UnshardedSamples = t0.DataFiles, t0.Config, 0
		out.Tasks[name] = tr
		m.Samples[name] = all
	}
	return m, nil
}

func sortedTasks(r *Results) []string {
	names := make([]string, 0, len(r.Tasks))
	for n := range r.Tasks {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// sameRun reports how shard b differs from shard a in what must be equal.
func sameRun(a, b *ShardDir) error {
	ra, rb := a.Results, b.Results
	diff := func(what string, va, vb any) error {
		return fmt.Errorf("%s: %s %v differs from %s's %v", b.Dir, what, vb, a.Dir, va)
	}
	switch {
	case ra.Model.CheckpointHash != rb.Model.CheckpointHash:
		return diff("model checkpoint hash", ra.Model.CheckpointHash, rb.Model.CheckpointHash)
	case ra.Config.Seed != rb.Config.Seed:
		return diff("seed", ra.Config.Seed, rb.Config.Seed)
	case ra.Config.Limit != rb.Config.Limit:
		return diff("limit", ra.Config.Limit, rb.Config.Limit)
	}
	if ta, tb := sortedTasks(ra), sortedTasks(rb); !slices.Equal(ta, tb) {
		return diff("tasks", ta, tb)
	}
	for name, ta := range ra.Tasks {
		tb := rb.Tasks[name]
		switch {
		case ta.Version != tb.Version:
			return diff(name+" version", ta.Version, tb.Version)
		case ta.NumFewshot != tb.NumFewshot:
			return diff(name+" num_fewshot", ta.NumFewshot, tb.NumFewshot)
		case ta.UnshardedSamples != tb.UnshardedSamples:
			return diff(name+" document count", ta.UnshardedSamples, tb.UnshardedSamples)
		case !reflect.DeepEqual(ta.DataFiles, tb.DataFiles):
			return diff(name+" data files", ta.DataFiles, tb.DataFiles)
		case !sameJSON(ta.Config, tb.Config):
			return diff(name+" settings", ta.Config, tb.Config)
		}
	}
	return nil
}

func sameJSON(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}

// interleave puts a task's samples back in the unsharded order, checking
// that each shard holds exactly its share of the documents and that no
// document appears twice.
func interleave(task string, shards []*ShardDir) ([]Sample, error) {
	n := len(shards)
	total := 0
	for _, s := range shards {
		total += len(s.Samples[task])
	}
	want := shards[0].Results.Tasks[task].UnshardedSamples
	if want == 0 {
		want = total // written before unsharded_samples existed: the counts must still fit
	}
	for i, s := range shards {
		// Shard i of n holds positions i, i+n, ... of want documents.
		share := (want - i + n - 1) / n
		if got := len(s.Samples[task]); got != share {
			return nil, fmt.Errorf("%s: %s (shard %d/%d) has %d of its %d documents (the run has %d)", task, s.Dir, i, n, got, share, want)
		}
	}
	out := make([]Sample, total)
	seen := make(map[int]string, total)
	for p := range out {
		s := shards[p%n]
		out[p] = s.Samples[task][p/n]
		id := out[p].DocID
		if d, dup := seen[id]; dup {
			return nil, fmt.Errorf("%s: document %d is in %s and in %s", task, id, d, s.Dir)
		}
		seen[id] = s.Dir
	}
	return out, nil
}
