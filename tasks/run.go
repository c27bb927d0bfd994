package tasks

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sambaeval/sambaeval/evaluator"
	"github.com/sambaeval/sambaeval/results"
)

// Shard selects every Count-th document starting at Index.
type Shard struct{ Index, Count int }

// ParseShard reads "i/n" (0 ≤ i < n).
func ParseShard(s string) (Shard, error) {
	if s == "" {
		return Shard{0, 1}, nil
	}
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return Shard{}, fmt.Errorf("--shard %q: want i/n with 0 ≤ i < n", s)
	}
	return Shard{i, n}, nil
}

func (s Shard) String() string {
	if s.Count <= 1 {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}

// Options controls a run.
type Options struct {
	Env
	Limit      int
	Shard      Shard
	BatchSize  int
	ChunkSize  int
	OutputDir  string
	LogSamples bool
	// ChatTemplate, when set, wraps every prompt as a user turn of this
	// chat template (see ChatTemplate and applyChatTemplate).
	ChatTemplate string
	// Progress receives progress bars (nil: none).
	Progress io.Writer
	Command  string
	Version  string
}

// Select applies --limit (the first N documents, of each subtask when
// subtask is not nil) and then --shard (every Count-th of those), so shards
// of a limited run partition the same documents.
func Select(docs []Doc, limit int, sh Shard, subtask func(*Doc) string) []Doc {
	if limit > 0 && subtask != nil {
		seen := map[string]int{}
		var kept []Doc
		for i := range docs {
			k := subtask(&docs[i])
			if seen[k] < limit {
				seen[k]++
				kept = append(kept, docs[i])
			}
		}
		docs = kept
	} else if limit > 0 && limit < len(docs) {
		docs = docs[:limit]
	}
	if sh.Count <= 1 {
		return docs
	}
	var out []Doc
	for i, d := range docs {
		if i%sh.Count == sh.Index {
			out = append(out, d)
		}
	}
	return out
}

// Run evaluates the tasks and writes results.json (after each task, so a
// later failure loses nothing) and, when asked or when sharded, the samples.
func Run(ts []Task, o Options) (*results.Results, error) {
	m := o.Model
	info := results.ModelInfo{Source: "none", Name: "none (given completions)"}
	if m != nil {
		cfg, _ := json.Marshal(m.Config)
		info = results.ModelInfo{Source: m.Info.Source, Name: m.Info.Name, Path: m.Info.Path,
			CheckpointHash: m.Info.Hash(), Device: m.Info.Device, Config: cfg}
	}
	res := &results.Results{
		SchemaVersion: results.SchemaVersion,
		Sambaeval:     o.Version,
		Model:         info,
		Tasks:         map[string]*results.TaskResult{},
		Config:        results.RunConfig{Seed: o.Seed, BatchSize: o.BatchSize, ChunkSize: o.ChunkSize, Limit: o.Limit, Command: o.Command},
		Started:       time.Now().UTC().Format(time.RFC3339),
		Shard:         o.Shard.String(),
	}
	start := time.Now()
	lm := &evaluator.LM{M: m, BatchSize: o.BatchSize, ChunkSize: o.ChunkSize}
	for _, t := range ts {
		tr, err := runTask(t, lm, o)
		if err != nil {
			return res, fmt.Errorf("%s: %w", t.Name(), err)
		}
		res.Tasks[t.Name()] = tr
		res.WallSeconds = time.Since(start).Seconds()
		if err := res.Write(o.OutputDir); err != nil {
			return res, err
		}
	}
	return res, nil
}

func runTask(t Task, lm *evaluator.LM, o Options) (*results.TaskResult, error) {
	env := o.Env
	plan, err := t.Build(&env)
	if err != nil {
		return nil, err
	}
	if len(plan.Docs) == 0 {
		return nil, fmt.Errorf("empty dataset: no documents to evaluate")
	}
	docs := Select(plan.Docs, o.Limit, o.Shard, plan.Subtask)
	if len(docs) == 0 {
		return nil, fmt.Errorf("shard %s of %d documents is empty", o.Shard, len(plan.Docs))
	}
	var reqs []evaluator.Request
	first := make([]int, len(docs))
	for i, d := range docs {
		first[i] = len(reqs)
		reqs = append(reqs, d.Requests...)
	}
	if o.ChatTemplate != "" && lm.M != nil {
		if err := applyChatTemplate(reqs, o.ChatTemplate, lm.M.Tokenizer); err != nil {
			return nil, err
		}
	}
	cachePath := filepath.Join(o.OutputDir, "cache", t.Name()+".jsonl")
	if o.Shard.Count > 1 {
		cachePath = filepath.Join(o.OutputDir, "cache", fmt.Sprintf("%s.shard%dof%d.jsonl", t.Name(), o.Shard.Index, o.Shard.Count))
	}
	scope := "no-model"
	if lm.M != nil {
		scope = lm.M.Info.Hash()
	}
	cache, err := evaluator.OpenCache(cachePath, scope+"/"+t.Version())
	if err != nil {
		return nil, err
	}
	defer cache.Close()
	var resp []evaluator.Response
	if len(reqs) > 0 {
		if lm.M == nil {
			return nil, fmt.Errorf("needs a model")
		}
		if resp, err = evaluator.Evaluate(lm, reqs, cache, t.Name(), o.Progress); err != nil {
			return nil, err
		}
	}
	samples, err := scoreAll(plan, docs, resp, first)
	if err != nil {
		return nil, err
	}
	tr, err := t.Aggregate(samples)
	if err != nil {
		return nil, err
	}
	tr.Task, tr.Version, tr.NumFewshot, tr.Samples = t.Name(), t.Version(), plan.NumFewshot, len(samples)
	tr.DataFiles, tr.Config = plan.DataFiles, plan.Config
	if o.Shard.Count > 1 {
		tr.UnshardedSamples = len(Select(plan.Docs, o.Limit, Shard{0, 1}, plan.Subtask))
	}
	if o.LogSamples || o.Shard.Count > 1 {
		if err := results.WriteSamples(o.OutputDir, t.Name(), samples); err != nil {
			return nil, err
		}
	}
	if rp, ok := t.(Reporter); ok && o.Shard.Count <= 1 {
		w := o.Log
		if w == nil {
			w = io.Discard
		}
		if err := rp.Report(tr, o.OutputDir, w); err != nil {
			return nil, err
		}
	}
	return tr, nil
}

// scoreAll scores every document, on plan.ScoreWorkers goroutines when
// set; the samples come back in document order either way.
func scoreAll(plan *Plan, docs []Doc, resp []evaluator.Response, first []int) ([]results.Sample, error) {
	samples := make([]results.Sample, len(docs))
	errs := make([]error, len(docs))
	one := func(i int) {
		var r []evaluator.Response
		if n := len(docs[i].Requests); n > 0 {
			r = resp[first[i] : first[i]+n]
		}
		s, err := plan.Score(&docs[i], r)
		if err != nil {
			errs[i] = fmt.Errorf("doc %d: %w", docs[i].ID, err)
			return
		}
		s.DocID = docs[i].ID
		samples[i] = s
	}
	workers := max(plan.ScoreWorkers, 1)
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				one(i)
			}
		}()
	}
	for i := range docs {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return samples, nil
}
