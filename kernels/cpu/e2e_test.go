package cpu_test

import (
	"math"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/sambaeval/sambaeval/kernels"
	"github.com/sambaeval/sambaeval/kernels/cpu"
	"github.com/sambaeval/sambaeval/model"
)

const tinyDir = "../../models/samba-tiny"

// readTokens reads testdata/little_women.tokens.
func readTokens(t testing.TB) []int32 {
	b, err := os.ReadFile("testdata/little_women.tokens")
	if err != nil {
		t.Fatal(err)
	}
	var ids []int32
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		for _, f := range strings.Fields(line) {
			id, err := strconv.Atoi(f)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, int32(id))
		}
	}
	return ids
}

func loadTiny(t testing.TB, be kernels.Backend) *model.Model {
	t.Helper()
	m, err := model.LoadDir(tinyDir, be)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// score returns the log-probabilities of ids[1:] given their prefixes.
func score(t testing.TB, m *model.Model, ids []int32, chunk int) []kernels.TokenScore {
	t.Helper()
	s := m.NewSession()
	s.ChunkSize = chunk
	out, err := s.Score(ids[:len(ids)-1], ids[1:])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func fastImpls(t testing.TB) []*cpu.Backend {
	var bs []*cpu.Backend
	for _, impl := range []cpu.Impl{cpu.ImplAVX2, cpu.ImplGeneric} {
		if b, err := cpu.NewWithOptions(cpu.Options{Impl: impl}); err == nil {
			bs = append(bs, b)
		}
	}
	return bs
}

// tokensFor is how many tokens the slower checks feed each backend: the
// portable path is some twenty times slower than the assembly.
func tokensFor(be *cpu.Backend, n, div int) int {
	if be.Impl() == cpu.ImplGeneric {
		return n / div
	}
	return n
}

// TestTinyNLLMatchesReference scores 511 tokens of real text with
// samba-tiny on the fast paths (the portable one on the first 127) and on
// the reference backend: every per-token NLL agrees within 1e-4 relative
// (with an absolute floor of 1e-4 for tokens the model is nearly sure of)
// and the mean NLL within 1e-5 relative.
func TestTinyNLLMatchesReference(t *testing.T) {
	if testing.Short() {
		t.Skip("the reference backend takes several seconds")
	}
	ids := readTokens(t)
	ref := score(t, loadTiny(t, cpu.NewReference()), ids, 2048)
	for _, be := range fastImpls(t) {
		n := tokensFor(be, len(ids), 4)
		// Scoring is causal and the reference is chunk invariant, so the
		// first n-1 reference scores are those of the first n tokens.
		want := ref[:n-1]
		got := score(t, loadTiny(t, be), ids[:n], 2048)
		var sumW, sumG, worst float64
		for i := range want {
			w, g := -float64(want[i].LogProb), -float64(got[i].LogProb)
			sumW += w
			sumG += g
			d := math.Abs(g - w)
			worst = max(worst, d/max(w, 1))
			if d > 1e-4*max(w, 1) {
				t.Errorf("%s: token %d: NLL %.7f, reference %.7f", be.Name(), i, g, w)
			}
		}
		if math.Abs(sumG-sumW) > 1e-5*sumW {
			t.Errorf("%s: mean NLL %.7f, reference %.7f", be.Name(), sumG/float64(len(want)), sumW/float64(len(want)))
		}
		t.Logf("%s: mean NLL %.6f (reference %.6f), worst per-token difference %.2g relative", be.Name(), sumG/float64(len(want)), sumW/float64(len(want)), worst)
	}
}

// TestTinyChunkAndBatchInvariant scores the same text in one pass, in
// chunks of several sizes, token by token, and beside other sequences,
// and requires bitwise equal results.
func TestTinyChunkAndBatchInvariant(t *testing.T) {
	for _, be := range fastImpls(t) {
		ids := readTokens(t)[:tokensFor(be, 128, 5)]
		m := loadTiny(t, be)
		whole := score(t, m, ids, 2048)
		check := func(what string, got []kernels.TokenScore) {
			t.Helper()
			for i := range whole {
				if got[i] != whole[i] {
					t.Fatalf("%s, %s: token %d scores %+v, one pass %+v", be.Name(), what, i, got[i], whole[i])
				}
			}
		}
		for _, chunk := range []int{1, 7, 64} {
			check("chunk "+strconv.Itoa(chunk), score(t, m, ids, chunk))
		}
		// In a batch with two other sequences of different lengths.
		other1, other2 := readTokens(t)[300:420], readTokens(t)[100:133]
		ss := []*model.Session{m.NewSession(), m.NewSession(), m.NewSession()}
		in := [][]int32{other1[:len(other1)-1], ids[:len(ids)-1], other2[:len(other2)-1]}
		tg := [][]int32{other1[1:], ids[1:], other2[1:]}
		got, err := m.ScoreBatch(ss, in, tg, 50)
		if err != nil {
			t.Fatal(err)
		}
		check("batched, chunk 50", got[1])
	}
}
