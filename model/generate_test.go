package model

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/sambaeval/sambaeval/dtype"
	"github.com/sambaeval/sambaeval/kernels/cpu"
)

func TestSamplerGreedyAndDistribution(t *testing.T) {
	logits := []float32{1, 3, 3, 0.5}
	g, _ := NewSampler(SampleOptions{})
	if g.Sample(logits) != 1 {
		t.Fatal("greedy should pick the lowest id among ties")
	}
	// Temperature 1: frequencies follow softmax.
	s, _ := NewSampler(SampleOptions{Temperature: 1, Seed: 1})
	counts := make([]int, 4)
	const n = 200000
	for i := 0; i < n; i++ {
		counts[s.Sample(logits)]++
	}
	var z float64
	for _, l := range logits {
		z += math.Exp(float64(l))
	}
	for i, l := range logits {
		want := math.Exp(float64(l)) / z
		if got := float64(counts[i]) / n; math.Abs(got-want) > 0.005 {
			t.Errorf("token %d: frequency %.4f, softmax %.4f", i, got, want)
		}
	}
	// Top-k 2 never picks tokens 0 or 3; top-p 0.5 keeps only the first of the two tied leaders.
	k, _ := NewSampler(SampleOptions{Temperature: 1, TopK: 2, Seed: 2})
	p, _ := NewSampler(SampleOptions{Temperature: 1, TopP: 0.4, Seed: 3})
	for i := 0; i < 10000; i++ {
		if x := k.Sample(logits); x != 1 && x != 2 {
			t.Fatalf("top-k 2 sampled %d", x)
		}
		if x := p.Sample(logits); x != 1 {
			t.Fatalf("top-p 0.4 sampled %d", x)
		}
	}
	for _, bad := range []SampleOptions{{Temperature: -1}, {TopP: 1.5}, {TopK: -2}} {
		if _, err := NewSampler(bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestGenerateGreedyMatchesScoring(t *testing.T) {
	c := smallConfig("gen", 4, 2)
	m := randomModel(t, c, 8)
	prompt := randomIDs(20, c.VocabSize, 4)
	s := m.NewSession()
	res, err := m.Generate([]*Request{{Session: s, Prompt: prompt, MaxTokens: 12, EOS: -1}}, 64)
	if err != nil {
		t.Fatal(err)
	}
	if len(res[0].Tokens) != 12 || res[0].Reason != "length" {
		t.Fatalf("got %d tokens, reason %s", len(res[0].Tokens), res[0].Reason)
	}
	// Each generated token must be the argmax of a full pass over what precedes it.
	all := append(append([]int32(nil), prompt...), res[0].Tokens...)
	sc := score(t, m, all, 1000)
	for i := len(prompt) - 1; i < len(all)-1; i++ {
		if !sc[i].Greedy {
			t.Fatalf("token %d (%d) is not the argmax %d of a full pass", i+1, all[i+1], sc[i].Argmax)
		}
	}
	// Batched generation gives the same tokens, and stops work.
	s1, s2 := m.NewSession(), m.NewSession()
	stopAt := res[0].Tokens[4]
	res2, err := m.Generate([]*Request{
		{Session: s1, Prompt: prompt, MaxTokens: 12, EOS: -1},
		{Session: s2, Prompt: prompt, MaxTokens: 12, EOS: stopAt},
	}, 64)
	if err != nil {
		t.Fatal(err)
	}
	for i, tok := range res[0].Tokens {
		if res2[0].Tokens[i] != tok {
			t.Fatalf("batched generation differs at %d", i)
		}
	}
	if res2[1].Reason != "eos" || len(res2[1].Tokens) > 4 {
		t.Fatalf("EOS not honoured: %+v", res2[1])
	}
	s3 := m.NewSession()
	res3, _ := m.Generate([]*Request{{Session: s3, Prompt: prompt, MaxTokens: 12, EOS: -1,
		Stop: func(g []int32) bool { return len(g) == 3 }}}, 64)
	if res3[0].Reason != "stop" || len(res3[0].Tokens) != 3 {
		t.Fatalf("stop callback not honoured: %+v", res3[0])
	}
}

// TestArgmaxBatchMatchesLogits checks the backend-side argmax against the
// host's argmax of the logits, for sequences of different lengths (the head
// gathers their last rows) and for a decoding step (one row each, read in
// place), and that it never picks a padded vocabulary row.
func TestArgmaxBatchMatchesLogits(t *testing.T) {
	c := smallConfig("argmax", 4, 2) // vocabulary 300 padded to 320
	src, err := RandomCheckpoint(c, 9, dtype.F32)
	if err != nil {
		t.Fatal(err)
	}
	// Padded rows 300+2i and 301+2i of the (tied) head are ±1000 times row
	// i: one of each pair has a logit 1000 times row i's in magnitude, so a
	// padded row would win every argmax if it were looked at.
	wte, ok := src.Tensor("transformer.wte.weight")
	if !ok {
		t.Fatal("no transformer.wte.weight")
	}
	D := c.NEmbd
	v := make([]float32, len(wte.Data)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(wte.Data[4*i:]))
	}
	for p := c.VocabSize; p < c.PaddedVocabSize; p++ {
		i, sign := (p-c.VocabSize)/2, float32(1-2*((p-c.VocabSize)%2))
		for d := range D {
			v[p*D+d] = 1000 * sign * v[i*D+d]
		}
	}
	for i, x := range v {
		binary.LittleEndian.PutUint32(wte.Data[4*i:], math.Float32bits(x))
	}
	m, err := New(c, src, cpu.New())
	if err != nil {
		t.Fatal(err)
	}
	feeds := [][][]int32{
		{randomIDs(7, c.VocabSize, 1), randomIDs(1, c.VocabSize, 2), randomIDs(30, c.VocabSize, 3)},
		{randomIDs(1, c.VocabSize, 4), randomIDs(1, c.VocabSize, 5), randomIDs(1, c.VocabSize, 6)},
	}
	a := []*Session{m.NewSession(), m.NewSession(), m.NewSession()}
	b := []*Session{m.NewSession(), m.NewSession(), m.NewSession()}
	for step, ids := range feeds {
		lg, err := m.LogitsBatch(a, ids, 8)
		if err != nil {
			t.Fatal(err)
		}
		best, err := m.ArgmaxBatch(b, ids, 8)
		if err != nil {
			t.Fatal(err)
		}
		for j := range ids {
			if len(lg[j]) != c.VocabSize {
				t.Fatalf("step %d seq %d: %d logits, want %d", step, j, len(lg[j]), c.VocabSize)
			}
			if want := argmax(lg[j]); best[j] != want {
				t.Errorf("step %d seq %d: ArgmaxBatch %d, argmax of the logits %d", step, j, best[j], want)
			}
		}
	}
}
