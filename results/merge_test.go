package results

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// shardOf makes shard i of n of a run over docs document IDs (shard i holds
// the documents at positions i, i+n, ...); acc of a document is its ID mod 2.
func shardOf(i, n int, ids []int) *ShardDir {
	var samples []Sample
	for p := i; p < len(ids); p += n {
		samples = append(samples, Sample{DocID: ids[p], Scores: map[string]float64{"acc": float64(ids[p] % 2)}})
	}
	r := &Results{
		SchemaVersion: SchemaVersion,
		Model:         ModelInfo{Name: "m", CheckpointHash: "sha256:aa", Device: fmt.Sprintf("cuda:%d", i)},
		Config:        RunConfig{Seed: 1234, Limit: 0},
		Shard:         fmt.Sprintf("%d/%d", i, n),
		Started:       fmt.Sprintf("2026-01-01T00:00:0%dZ", 9-i),
		WallSeconds:   float64(10 + i),
		Tasks: map[string]*TaskResult{"t": {Task: "t", Version: "1", NumFewshot: 5, Samples: len(samples),
			UnshardedSamples: len(ids), Config: map[string]any{"k": "v"}}},
	}
	return &ShardDir{Dir: fmt.Sprintf("s%d", i), Results: r, Index: i, Count: n, Samples: map[string][]Sample{"t": samples}}
}

func shards(n int, ids []int) []*ShardDir {
	var out []*ShardDir
	for i := 0; i < n; i++ {
		out = append(out, shardOf(i, n, ids))
	}
	return out
}

// orderAgg records the document order it is given.
func orderAgg(order *[]int) Aggregator {
	return func(task string, s []Sample) (*TaskResult, error) {
		*order = nil
		var xs []float64
		for _, x := range s {
			*order = append(*order, x.DocID)
			xs = append(xs, x.Scores["acc"])
		}
		m, se := Mean(xs)
		return &TaskResult{Metrics: []Metric{{Name: "acc", Value: m, Stderr: se, HigherIsBetter: true}}}, nil
	}
}

func TestMergeShardsRestoresOrder(t *testing.T) {
	ids := []int{3, 7, 8, 10, 15, 20, 21} // 7 documents: shares 3, 2, 2 over 3 shards
	for _, n := range []int{2, 3, 7} {
		ss := shards(n, ids)
		// Given in any order.
		ss[0], ss[n-1] = ss[n-1], ss[0]
		var order []int
		m, err := MergeShards(ss, orderAgg(&order))
		if err != nil {
			t.Fatal(n, err)
		}
		if fmt.Sprint(order) != fmt.Sprint(ids) {
			t.Errorf("%d shards: order %v, want %v", n, order, ids)
		}
		tr := m.Results.Tasks["t"]
		if tr.Samples != len(ids) || tr.UnshardedSamples != 0 || tr.Task != "t" || tr.Version != "1" || tr.NumFewshot != 5 || tr.Config["k"] != "v" {
			t.Errorf("%d shards: %+v", n, tr)
		}
		if m.Results.Shard != "" || m.Results.WallSeconds != float64(10+n-1) || m.Results.Started != fmt.Sprintf("2026-01-01T00:00:0%dZ", 9-(n-1)) {
			t.Errorf("%d shards: shard %q wall %v started %s", n, m.Results.Shard, m.Results.WallSeconds, m.Results.Started)
		}
		if n == 2 && m.Results.Model.Device != "cuda:0,cuda:1" {
			t.Errorf("devices %q", m.Results.Model.Device)
		}
	}
}

func TestMergeShardsErrors(t *testing.T) {
	ids := []int{0, 1, 2, 3, 4}
	cases := []struct {
		name   string
		shards func() []*ShardDir
		want   string
	}{
		{"none", func() []*ShardDir { return nil }, "no shard directories given"},
		{"missing", func() []*ShardDir { return shards(3, ids)[:2] }, "shard 2/3 missing (have 2 of 3 shards)"},
		{"twice", func() []*ShardDir { s := shards(2, ids); return []*ShardDir{s[0], s[1], s[0]} }, "s0 and s0 are both shard 0/2"},
		{"other count", func() []*ShardDir { return []*ShardDir{shardOf(0, 2, ids), shardOf(1, 3, ids)} }, "s1 is shard 1/3 but s0 is shard 0/2"},
		{"model", func() []*ShardDir {
			s := shards(2, ids)
			s[1].Results.Model.CheckpointHash = "sha256:bb"
			return s
		}, "s1: model checkpoint hash sha256:bb differs from s0's sha256:aa"},
		{"seed", func() []*ShardDir { s := shards(2, ids); s[1].Results.Config.Seed = 1; return s }, "s1: seed 1 differs from s0's 1234"},
		{"limit", func() []*ShardDir { s := shards(2, ids); s[1].Results.Config.Limit = 9; return s }, "s1: limit 9 differs from s0's 0"},
		{"version", func() []*ShardDir { s := shards(2, ids); s[1].Results.Tasks["t"].Version = "2"; return s }, "s1: t version 2 differs from s0's 1"},
		{"shots", func() []*ShardDir { s := shards(2, ids); s[1].Results.Tasks["t"].NumFewshot = 0; return s }, "s1: t num_fewshot 0 differs"},
		{"settings", func() []*ShardDir {
			s := shards(2, ids)
			s[1].Results.Tasks["t"].Config = map[string]any{"k": "w"}
			return s
		}, "s1: t settings"},
		{"tasks", func() []*ShardDir {
			s := shards(2, ids)
			s[1].Results.Tasks["u"] = s[1].Results.Tasks["t"]
			return s
		}, "s1: tasks [t u] differs from s0's [t]"},
		{"short shard", func() []*ShardDir {
			s := shards(2, ids)
			s[1].Samples["t"] = s[1].Samples["t"][:1]
			return s
		}, "t: s1 (shard 1/2) has 1 of its 2 documents (the run has 5)"},
		{"shards shorter than the run", func() []*ShardDir {
			s := shards(2, ids[:4])
			for _, x := range s {
				x.Results.Tasks["t"].UnshardedSamples = 5
			}
			return s
		}, "t: s0 (shard 0/2) has 2 of its 3 documents (the run has 5)"},
		{"duplicate document", func() []*ShardDir {
			s := shards(2, ids)
			s[1].Samples["t"][0].DocID = 2
			return s
		}, "t: document 2 is in s1 and in s0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var order []int
			_, err := MergeShards(c.shards(), orderAgg(&order))
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v, want one line with %q", err, c.want)
			}
		})
	}
}

func TestReadShardWriteMerged(t *testing.T) {
	dir := t.TempDir()
	ids := []int{0, 1, 2}
	var dirs []string
	for _, s := range shards(2, ids) {
		d := filepath.Join(dir, s.Dir)
		if err := s.Results.Write(d); err != nil {
			t.Fatal(err)
		}
		if err := WriteSamples(d, "t", s.Samples["t"]); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, d)
	}
	var read []*ShardDir
	for _, d := range dirs {
		s, err := ReadShard(d)
		if err != nil {
			t.Fatal(err)
		}
		read = append(read, s)
	}
	var order []int
	m, err := MergeShards(read, orderAgg(&order))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "merged")
	if err := m.Write(out); err != nil {
		t.Fatal(err)
	}
	got, err := ReadSamples(SamplesPath(out, "t"))
	if err != nil || len(got) != 3 || got[0].DocID != 0 || got[1].DocID != 1 || got[2].DocID != 2 {
		t.Fatalf("%v %+v", err, got)
	}
	r, err := Read(out)
	if err != nil || r.Tasks["t"].Metrics[0].Value != 1.0/3 {
		t.Fatalf("%v %+v", err, r)
	}

	// A samples file that disagrees with results.json, and a run that is not a shard.
	os.WriteFile(SamplesPath(dirs[0], "t"), []byte(`{"doc_id":0,"scores":{"acc":0}}`+"\n"), 0o644)
	if _, err := ReadShard(dirs[0]); err == nil || !strings.Contains(err.Error(), "samples_t.jsonl has 1 samples, results.json says 2") {
		t.Errorf("error %v", err)
	}
	if _, err := ReadShard(out); err == nil || !strings.Contains(err.Error(), "is not a shard's") {
		t.Errorf("error %v", err)
	}
	os.Remove(SamplesPath(dirs[1], "t"))
	if _, err := ReadShard(dirs[1]); err == nil || !strings.Contains(err.Error(), "samples_t.jsonl") {
		t.Errorf("error %v", err)
	}
}
