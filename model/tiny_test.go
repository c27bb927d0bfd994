package model

import (
	"math"
	"testing"

	"github.com/sambaeval/sambaeval/kernels/cpu"
)

// The first ids of little_women.txt and the reference logits from the
// samba-tiny README (independent fp32 implementation).
var tinyIDs = []int32{29871, 30143, 462, 462, 259, 306, 29889, 13, 13, 462, 965, 349, 18799, 4214, 349, 6227}

func loadTiny(t testing.TB) *Model {
	t.Helper()
	m, err := LoadDir("../models/samba-tiny", cpu.New())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestTinyReferenceLogits(t *testing.T) {
	m := loadTiny(t)
	want := []struct {
		pos    int
		argmax int
		top    float64
		lse    float64
		first4 [4]float64
	}{
		{0, 13, 7.99773, 9.59376, [4]float64{-3.45697, -3.63721, -2.79471, -4.80695}},
		{1, 259, 7.42440, 10.59406, [4]float64{-0.54621, -0.73808, -0.44519, -2.05898}},
		{7, 13, 13.16531, 13.31523, [4]float64{-1.46200, -1.64479, 1.13514, -2.91129}},
		{15, 4574, 7.14733, 9.58923, [4]float64{-2.56935, -2.67490, -5.00983, -2.69860}},
	}
	for _, w := range want {
		s := m.NewSession()
		lg, err := s.Logits(tinyIDs[:w.pos+1])
		if err != nil {
			t.Fatal(err)
		}
		arg := 0
		for i, v := range lg {
			if v > lg[arg] {
				arg = i
			}
		}
		var sum float64
		for _, v := range lg {
			sum += math.Exp(float64(v) - float64(lg[arg]))
		}
		lse := float64(lg[arg]) + math.Log(sum)
		if arg != w.argmax || math.Abs(float64(lg[arg])-w.top) > 2e-4 || math.Abs(lse-w.lse) > 2e-4 {
			t.Errorf("pos %d: argmax %d logit %.5f lse %.5f, want %d %.5f %.5f", w.pos, arg, lg[arg], lse, w.argmax, w.top, w.lse)
		}
		for i, v := range w.first4 {
			if math.Abs(float64(lg[i])-v) > 2e-4 {
				t.Errorf("pos %d: logit[%d] = %.5f, want %.5f", w.pos, i, lg[i], v)
			}
		}
	}
}

// TestTinyReferenceGolden compares samba-tiny's log-probabilities over 576
// text tokens (64 more than its 512-key window) with the independent
// PyTorch reference (testdata/ref/samba.py, float64). Only the first and
// last 48 positions are scored, which keeps the output head's cost small.
func TestTinyReferenceGolden(t *testing.T) {
	if testing.Short() {
		t.Skip("a 576-token pass of samba-tiny on the reference kernels")
	}
	m := loadTiny(t)
	g := readGolden(t, "testdata/samba_tiny_golden.json")
	n := len(g.IDs)
	targets := make([]int32, n)
	for i := range targets {
		targets[i] = -1
		if i < 48 || (i >= n-49 && i < n-1) {
			targets[i] = g.IDs[i+1]
		}
	}
	s := m.NewSession()
	s.ChunkSize = 200
	sc, err := s.Score(g.IDs, targets)
	if err != nil {
		t.Fatal(err)
	}
	var worst float64
	for i, want := range g.LogProbs {
		if targets[i] < 0 {
			continue
		}
		worst = math.Max(worst, math.Abs(float64(sc[i].LogProb)-want))
		if g.Margin[i] > 1e-3 && sc[i].Argmax != g.Argmax[i] {
			t.Errorf("position %d: argmax %d, reference %d", i, sc[i].Argmax, g.Argmax[i])
		}
	}
	if worst > 1e-4 {
		t.Errorf("log-probabilities differ from the reference by up to %.3g", worst)
	}
	t.Logf("max |Δ log p| %.2g over 96 of %d positions", worst, n)
}
