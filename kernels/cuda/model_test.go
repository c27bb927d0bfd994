package cuda

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/sambaeval/sambaeval/kernels"
	"github.com/sambaeval/sambaeval/kernels/cpu"
	"github.com/sambaeval/sambaeval/model"
)

// tinyDir finds models/samba-tiny from the working directory or above
// (go test runs in the package directory, the GPU script in the root).
func tinyDir(t testing.TB) string {
	dir, _ := os.Getwd()
	for {
		p := filepath.Join(dir, "models", "samba-tiny")
		if _, err := os.Stat(filepath.Join(p, "config.json")); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("models/samba-tiny not found above the working directory")
		}
		dir = parent
	}
}

// zipfTokens draws n token ids below v with a Zipf law, roughly like text.
func zipfTokens(n, v int, seed uint64) []int32 {
	z := rand.NewZipf(rand.New(rand.NewPCG(seed, 99)), 1.1, 10, uint64(v-1))
	ids := make([]int32, n)
	for i := range ids {
		ids[i] = int32(z.Uint64())
	}
	return ids
}

// nll scores ids[1:] given the prefixes with one session fed chunk tokens
// at a time and returns the per-token negative log-likelihoods.
func nll(t testing.TB, m *model.Model, ids []int32, chunk int) []float64 {
	t.Helper()
	s := m.NewSession()
	defer s.Free()
	s.ChunkSize = chunk
	scores, err := s.Score(ids[:len(ids)-1], ids[1:])
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float64, len(scores))
	for i, sc := range scores {
		out[i] = -float64(sc.LogProb)
		if math.IsNaN(out[i]) || math.IsInf(out[i], 0) {
			t.Fatalf("token %d: log-probability %v", i, sc.LogProb)
		}
	}
	return out
}

func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// comparePerplexity checks exp(mean NLL) of got against want.
func comparePerplexity(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	pg, pw := math.Exp(mean(got)), math.Exp(mean(want))
	rel := math.Abs(pg/pw - 1)
	var maxDiff float64
	for i := range got {
		maxDiff = math.Max(maxDiff, math.Abs(got[i]-want[i]))
	}
	t.Logf("%s: perplexity %.6f vs %.6f (relative difference %.2e, max per-token |ΔNLL| %.2e)", what, pg, pw, rel, maxDiff)
	if rel > tol {
		t.Errorf("%s: perplexity differs by %.2e relative, more than %.0e", what, rel, tol)
	}
}

// TestTinyParity scores 1200 tokens (the 512-token window wraps twice) with
// samba-tiny on the CPU and on the GPU in both modes.
func TestTinyParity(t *testing.T) {
	g := gpu(t, true) // skips without a GPU
	gb := gpu(t, false)
	dir := tinyDir(t)
	ids := zipfTokens(1201, 32000, 1)
	mc, err := model.LoadDir(dir, cpu.New())
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Close()
	want := nll(t, mc, ids, 2048)
	for _, c := range []struct {
		be  *Backend
		tol float64
	}{{g, 1e-4}, {gb, 5e-3}} {
		m, err := model.LoadDir(dir, c.be)
		if err != nil {
			t.Fatal(err)
		}
		comparePerplexity(t, "samba-tiny "+modeName(c.be), nll(t, m, ids, 2048), want, c.tol)
		m.Close()
	}
}

func modeName(b *Backend) string {
	if b.fp32 {
		return "fp32"
	}
	return "bf16"
}

// TestTinyStreaming feeds 5000 tokens to samba-tiny on the GPU in chunks of
// 4096, 512, 7 and 1 tokens; the NLL must not depend on the chunking.
func TestTinyStreaming(t *testing.T) {
	g := gpu(t, true)
	m, err := model.LoadDir(tinyDir(t), g)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ids := zipfTokens(5001, 32000, 2)
	want := nll(t, m, ids, 4096)
	chunks := []int{512, 7, 1}
	if testing.Short() {
		chunks = chunks[:2]
	}
	for _, chunk := range chunks {
		got := nll(t, m, ids, chunk)
		var sg, sw, maxDiff float64
		for i := range got {
			sg += got[i]
			sw += want[i]
			maxDiff = math.Max(maxDiff, math.Abs(got[i]-want[i]))
		}
		rel := math.Abs(sg/sw - 1)
		t.Logf("chunk %d: total NLL %.6f vs %.6f (relative %.2e, max per-token |Δ| %.2e)", chunk, sg, sw, rel, maxDiff)
		if rel > 1e-5 {
			t.Errorf("chunk %d: total NLL differs by %.2e relative from chunk 4096", chunk, rel)
		}
	}
}

// TestRandom421M compares a Samba_421M with random bf16 weights on the CPU
// and on the GPU.
func TestRandom421M(t *testing.T) {
	if testing.Short() {
		t.Skip("the CPU reference of a 421M model is slow")
	}
	g := gpu(t, true)
	gb := gpu(t, false)
	cfg, err := model.Named("Samba_421M")
	if err != nil {
		t.Fatal(err)
	}
	weights, err := randomCheckpoint(cfg, 421)
	if err != nil {
		t.Fatal(err)
	}
	ids := zipfTokens(161, cfg.VocabSize, 3)
	run := func(be kernels.Backend) []float64 {
		m, err := model.New(cfg, weights, be)
		if err != nil {
			t.Fatal(err)
		}
		return nll(t, m, ids, 2048)
	}
	want := run(cpu.New())
	comparePerplexity(t, "Samba_421M random fp32", run(g), want, 1e-4)
	comparePerplexity(t, "Samba_421M random bf16", run(gb), want, 5e-3)
}
