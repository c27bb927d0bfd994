package model

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sambaeval/sambaeval/checkpoint"
	"github.com/sambaeval/sambaeval/dtype"
	"github.com/sambaeval/sambaeval/kernels"
	"github.com/sambaeval/sambaeval/kernels/cpu"
)

// smallConfig is a Samba shape small enough for exhaustive tests: window
// 16 is much shorter than the test sequences.
func smallConfig(name string, heads, groups int) *Config {
	c := samba(name, 4, heads, 64, 96)
	c.NQueryGroups = groups
	c.HeadSize = 16
	c.VocabSize, c.PaddedVocabSize = 300, 320
	c.LocalWindow = 16
	c.MambaDtRank = 4
	c.fill()
	return &c
}

func randomModel(t testing.TB, c *Config, seed uint64) *Model {
	t.Helper()
	src, err := RandomCheckpoint(c, seed, dtype.F32)
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(c, src, cpu.New())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func randomIDs(n int, vocab int, seed uint64) []int32 {
	r := rand.New(rand.NewPCG(seed, 1))
	ids := make([]int32, n)
	for i := range ids {
		ids[i] = int32(r.IntN(vocab))
	}
	return ids
}

// nextTargets returns the targets that score ids[i+1] at row i.
func nextTargets(ids []int32) []int32 {
	t := make([]int32, len(ids))
	copy(t, ids[1:])
	t[len(t)-1] = -1
	return t
}

func score(t testing.TB, m *Model, ids []int32, chunk int) []kernels.TokenScore {
	t.Helper()
	s := m.NewSession()
	s.ChunkSize = chunk
	sc, err := s.Score(ids, nextTargets(ids))
	if err != nil {
		t.Fatal(err)
	}
	return sc[:len(ids)-1]
}

func maxDiff(a, b []kernels.TokenScore) float64 {
	var d float64
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i].LogProb-b[i].LogProb)))
	}
	return d
}

func TestStreamingEqualsFullSequence(t *testing.T) {
	for _, c := range []*Config{smallConfig("mha", 4, 4), smallConfig("gqa", 4, 2), smallConfig("mqa", 4, 1)} {
		m := randomModel(t, c, 7)
		ids := randomIDs(300, c.VocabSize, 3)
		full := score(t, m, ids, len(ids))
		for _, chunk := range []int{1, 7, 512, 4096} {
			if d := maxDiff(full, score(t, m, ids, chunk)); d > 1e-5 {
				t.Errorf("%s: chunk %d differs from the full pass by %g", c.Name, chunk, d)
			}
		}
	}
}

// TestWindowSemantics checks on a single attention block that the query at
// position i sees keys i-(w-1) … i and nothing earlier.
func TestWindowSemantics(t *testing.T) {
	c := smallConfig("swa", 4, 2)
	c.NLayer, c.AttnLayerPos = 1, "[0]"
	m := randomModel(t, c, 11)
	const w, i = 16, 40
	ids := randomIDs(i+1, c.VocabSize, 5)
	base := score(t, m, append(ids, 0), 64)[i]
	for _, p := range []int{i - w, i - w - 5, 0} { // outside the window: no effect
		alt := append([]int32(nil), ids...)
		alt[p] = (alt[p] + 1) % int32(c.VocabSize)
		if got := score(t, m, append(alt, 0), 64)[i]; got != base {
			t.Errorf("changing token %d (outside the window of query %d) changed its output", p, i)
		}
	}
	alt := append([]int32(nil), ids...)
	alt[i-w+1] = (alt[i-w+1] + 1) % int32(c.VocabSize)
	if got := score(t, m, append(alt, 0), 64)[i]; got == base {
		t.Errorf("changing token %d (oldest key inside the window) left query %d unchanged", i-w+1, i)
	}
}

func TestFullAttentionCacheGrows(t *testing.T) {
	c := smallConfig("full", 4, 2)
	c.LocalWindow = 0 // every attention block full causal
	m := randomModel(t, c, 2)
	ids := randomIDs(600, c.VocabSize, 9)
	full := score(t, m, ids, len(ids))
	if d := maxDiff(full, score(t, m, ids, 100)); d > 1e-5 {
		t.Fatalf("full attention: chunked differs by %g", d)
	}
	// A change at position 0 must reach position 599 (no window).
	alt := append([]int32(nil), ids...)
	alt[0] = (alt[0] + 1) % int32(c.VocabSize)
	if score(t, m, alt, 256)[598] == full[598] {
		t.Fatal("full attention did not see the first token")
	}
}

func TestSnapshotRestore(t *testing.T) {
	c := smallConfig("snap", 4, 1)
	m := randomModel(t, c, 4)
	prefix := randomIDs(50, c.VocabSize, 1)
	conts := [][]int32{randomIDs(9, c.VocabSize, 2), randomIDs(30, c.VocabSize, 3)}

	s := m.NewSession()
	if err := s.Prefill(prefix); err != nil {
		t.Fatal(err)
	}
	snap := s.Snapshot()
	for k, cont := range conts {
		if err := s.Restore(snap); err != nil {
			t.Fatal(err)
		}
		// Score the continuation after the snapshot...
		got, err := s.Score(cont, nextTargets(cont))
		if err != nil {
			t.Fatal(err)
		}
		// ...and from scratch over prefix+continuation.
		whole := append(append([]int32(nil), prefix...), cont...)
		want := score(t, m, whole, 17)[len(prefix):]
		if d := maxDiff(got[:len(cont)-1], want); d != 0 {
			t.Errorf("continuation %d: scoring from the snapshot differs by %g", k, d)
		}
		if s.Pos() != len(whole) {
			t.Errorf("pos %d want %d", s.Pos(), len(whole))
		}
	}
}

func TestBatchEqualsSingle(t *testing.T) {
	c := smallConfig("batch", 4, 2)
	m := randomModel(t, c, 6)
	var ids, tg [][]int32
	var sess []*Session
	for k, n := range []int{5, 40, 1, 23} {
		x := randomIDs(n, c.VocabSize, uint64(k))
		ids = append(ids, x)
		tg = append(tg, nextTargets(x))
		sess = append(sess, m.NewSession())
	}
	got, err := m.ScoreBatch(sess, ids, tg, 8)
	if err != nil {
		t.Fatal(err)
	}
	for k := range ids {
		s := m.NewSession()
		s.ChunkSize = 3
		want, _ := s.Score(ids[k], tg[k])
		for i := range want {
			if want[i] != got[k][i] {
				t.Fatalf("sequence %d row %d: batch %+v single %+v", k, i, got[k][i], want[i])
			}
		}
	}
}

func TestStateIsBoundedByWindow(t *testing.T) {
	c := smallConfig("mem", 4, 1)
	m := randomModel(t, c, 1)
	s := m.NewSession()
	before := s.StateBytes()
	if err := s.Prefill(randomIDs(2000, c.VocabSize, 1)); err != nil {
		t.Fatal(err)
	}
	if after := s.StateBytes(); after != before {
		t.Fatalf("state grew from %d to %d bytes", before, after)
	}
}

func TestLoaderErrors(t *testing.T) {
	c := smallConfig("load", 4, 2)
	good, err := RandomCheckpoint(c, 1, dtype.BF16)
	if err != nil {
		t.Fatal(err)
	}
	clone := func() checkpoint.Map {
		m := checkpoint.Map{}
		for k, v := range good {
			m[k] = v
		}
		return m
	}
	cases := []struct {
		name string
		edit func(checkpoint.Map)
		want string
	}{
		{"missing", func(m checkpoint.Map) { delete(m, "transformer.h.1.attn.proj.weight") }, "transformer.h.1.attn.proj.weight missing"},
		{"shape", func(m checkpoint.Map) {
			t := *m["transformer.h.0.attn.A_log"]
			t.Shape = []int{t.Shape[1], t.Shape[0]}
			m[t.Name] = &t
		}, "transformer.h.0.attn.A_log: shape [16, 128], want [128, 16]"},
		{"extra", func(m checkpoint.Map) {
			m["transformer.h.9.attn.D"] = good["transformer.h.0.attn.D"]
		}, "transformer.h.9.attn.D is not part"},
		{"dtype", func(m checkpoint.Map) {
			t := *m["transformer.ln_f.weight"]
			t.DType = dtype.I32
			t.Data = make([]byte, 4*t.Numel())
			m[t.Name] = &t
		}, "transformer.ln_f.weight: dtype I32"},
	}
	for _, tc := range cases {
		src := clone()
		tc.edit(src)
		_, err := New(c, src, cpu.New())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
	if _, err := New(c, clone(), cpu.New()); err != nil {
		t.Fatalf("unedited checkpoint rejected: %v", err)
	}
}

func TestRandomIsDeterministic(t *testing.T) {
	c := smallConfig("det", 4, 2)
	a, _ := RandomCheckpoint(c, 42, dtype.BF16)
	b, _ := RandomCheckpoint(c, 42, dtype.BF16)
	d, _ := RandomCheckpoint(c, 43, dtype.BF16)
	for name, t1 := range a {
		if string(t1.Data) != string(b[name].Data) {
			t.Fatalf("%s differs between two builds with the same seed", name)
		}
	}
	if string(a["transformer.wte.weight"].Data) == string(d["transformer.wte.weight"].Data) {
		t.Fatal("seeds 42 and 43 gave the same embedding")
	}
	// A_log is log(1..16) per channel; A = -exp(A_log) = -(1..16).
	v, _ := a["transformer.h.0.attn.A_log"].Float32s()
	if math.Abs(float64(v[16+3])-math.Log(4)) > 1e-2 {
		t.Fatalf("A_log[1,3] = %v, want log 4", v[19])
	}
}
