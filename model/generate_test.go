package model

import (
	"math"
	"testing"
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
