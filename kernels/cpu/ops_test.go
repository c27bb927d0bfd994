package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sambaeval/sambaeval/kernels"
)

// closeTo reports whether got is within rel·(|want|+floor) of want.
func closeTo(got, want, rel, floor float64) bool {
	return math.Abs(got-want) <= rel*(math.Abs(want)+floor)
}

func compareMats(t *testing.T, what string, got, want kernels.Mat, rel, floor float64) {
	t.Helper()
	for r := 0; r < want.Rows; r++ {
		g, w := row(got, r), row(want, r)
		for c := range w {
			if !closeTo(float64(g[c]), float64(w[c]), rel, floor) {
				t.Fatalf("%s[%d][%d] = %g, reference %g", what, r, c, g[c], w[c])
			}
		}
	}
}

func TestRowOpsMatchReference(t *testing.T) {
	ref := NewReference()
	for _, fast := range fastBackends(t, 0) {
		for _, sh := range []struct{ rows, cols int }{{1, 1}, {3, 7}, {17, 256}, {5, 1000}} {
			t.Run(fmt.Sprintf("%s/%dx%d", fast.impl, sh.rows, sh.cols), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(uint64(sh.rows), uint64(sh.cols)))
				x := randMat(rng, fast, sh.rows, sh.cols, 1, 3)
				y := randMat(rng, fast, sh.rows, sh.cols, 2, 12)
				w := randMat(rng, fast, 1, sh.cols, 0, 1)

				want, got := copyMat(ref, y), copyMat(fast, y)
				ref.RMSNorm(want, x, w, 1e-5)
				fast.RMSNorm(got, x, w, 1e-5)
				compareMats(t, "RMSNorm", got, want, 2e-6, 1e-6)

				want, got = copyMat(ref, y), copyMat(fast, y)
				ref.Add(want, x)
				fast.Add(got, x)
				compareMats(t, "Add", got, want, 0, 0)

				// SwiGLU, writing over its gate input as the model does.
				want, got = copyMat(ref, y), copyMat(fast, y)
				ref.SwiGLU(want, want, x)
				fast.SwiGLU(got, got, x)
				compareMats(t, "SwiGLU", got, want, 5e-7, 1e-30)
			})
		}
	}
}

func TestLogProbsMatchReference(t *testing.T) {
	ref := NewReference()
	for _, fast := range fastBackends(t, 0) {
		for _, V := range []int{1, 5, 64, 1003, 32000} {
			rng := rand.New(rand.NewPCG(uint64(V), 9))
			const M = 6
			logits := randMat(rng, fast, M, V, 1, 15)
			// Ties: the first of equal maxima wins.
			row(logits, 1)[V/2] = 100
			row(logits, 1)[V-1] = 100
			targets := []int32{0, int32(V / 2), int32(V - 1), -1, int32(V / 3), int32(rng.IntN(V))}
			want := make([]kernels.TokenScore, M)
			got := make([]kernels.TokenScore, M)
			ref.LogProbs(want, logits, targets)
			fast.LogProbs(got, logits, targets)
			for i := range want {
				if got[i].Argmax != want[i].Argmax || got[i].Greedy != want[i].Greedy || !closeTo(float64(got[i].LogProb), float64(want[i].LogProb), 1e-6, 1) {
					t.Errorf("%s V=%d row %d: %+v, reference %+v", fast.impl, V, i, got[i], want[i])
				}
			}
		}
	}
}

// mambaCase is a random Mamba layer input: T rows split into sequences.
type mambaCase struct {
	E, N                  int
	x, delta, z, B, C     kernels.Mat
	weight, bias, A, D, b kernels.Mat
}

func newMambaCase(rng *rand.Rand, be kernels.Backend, T, E, N int) *mambaCase {
	c := &mambaCase{E: E, N: N}
	c.x = randMat(rng, be, T, E, 1, 2)
	c.delta = randMat(rng, be, T, E, 3, 3)
	c.z = randMat(rng, be, T, E, 0, 3)
	bc := randMat(rng, be, T, 2*N+3, 0, 1)
	c.B, c.C = bc.ColSlice(3, 3+N), bc.ColSlice(3+N, 3+2*N)
	c.weight = randMat(rng, be, E, 4, 0, 0.7)
	c.bias = randMat(rng, be, 1, E, 0, 0.3)
	c.A = randMat(rng, be, E, N, 0, 1)
	for e := 0; e < E; e++ {
		a := row(c.A, e)
		for n := range a {
			a[n] = -float32(n+1) * (0.5 + a[n]/4)
		}
	}
	c.D = randMat(rng, be, 1, E, 0, 1)
	c.b = randMat(rng, be, 1, E, 0, 2)
	return c
}

// run feeds the sequences of lens (each starting from a fresh state, or
// from states when given) through MambaConv and SelectiveScan on be and
// returns the conv output, the scan output and the states.
func (c *mambaCase) run(be kernels.Backend, seqs []kernels.Seq, states []*kernels.MambaState) (u, y kernels.Mat, _ []*kernels.MambaState) {
	T := c.x.Rows
	if states == nil {
		for range seqs {
			states = append(states, &kernels.MambaState{Conv: be.Alloc(3 * c.E), SSM: be.Alloc(c.E * c.N)})
		}
	}
	u = kernels.NewMat(be.Alloc(T*c.E), T, c.E)
	y = kernels.NewMat(be.Alloc(T*(c.E+5)), T, c.E+5).ColSlice(2, 2+c.E)
	x := copyMat(be, c.x)
	be.MambaConv(u, x, copyMat(be, c.weight), copyMat(be, c.bias), states, seqs)
	p := kernels.ScanParams{A: copyMat(be, c.A), D: copyMat(be, c.D), DeltaBias: copyMat(be, c.b)}
	be.SelectiveScan(y, u, copyMat(be, c.delta), copyMat(be, c.B), copyMat(be, c.C), copyMat(be, c.z), p, states, seqs)
	return u, y, states
}

func TestMambaMatchesReference(t *testing.T) {
	ref := NewReference()
	seqs := []kernels.Seq{{Row: 0, Len: 2, Pos: 0}, {Row: 2, Len: 9, Pos: 0}, {Row: 11, Len: 30, Pos: 0}}
	for _, fast := range fastBackends(t, 0) {
		for _, sh := range []struct{ E, N int }{{8, 16}, {20, 16}, {67, 5}, {256, 16}} {
			rng := rand.New(rand.NewPCG(uint64(sh.E), uint64(sh.N)))
			c := newMambaCase(rng, fast, 41, sh.E, sh.N)
			uw, yw, sw := c.run(ref, seqs, nil)
			ug, yg, sg := c.run(fast, seqs, nil)
			name := fmt.Sprintf("%s E=%d N=%d", fast.impl, sh.E, sh.N)
			compareMats(t, name+" conv", ug, uw, 1e-6, 1)
			compareMats(t, name+" scan", yg, yw, 2e-6, 1)
			for i := range sw {
				for _, bufs := range [][2]kernels.Buffer{{sg[i].Conv, sw[i].Conv}, {sg[i].SSM, sw[i].SSM}} {
					g, w := data(bufs[0]), data(bufs[1])
					for j := range w {
						if !closeTo(float64(g[j]), float64(w[j]), 2e-6, 1) {
							t.Fatalf("%s: state %d element %d = %g, reference %g", name, i, j, g[j], w[j])
						}
					}
				}
			}
		}
	}
}

// TestMambaChunkInvariant checks bitwise that one sequence gives the same
// outputs and final state whether fed at once, in chunks of any size, or
// beside other sequences in a batch.
func TestMambaChunkInvariant(t *testing.T) {
	const T, E, N = 23, 20, 16
	for _, fast := range fastBackends(t, 0) {
		rng := rand.New(rand.NewPCG(5, 5))
		c := newMambaCase(rng, fast, T, E, N)
		u0, y0, s0 := c.run(fast, []kernels.Seq{{Row: 0, Len: T}}, nil)
		for _, chunk := range []int{1, 2, 3, 7, 22} {
			// Feed the same rows chunk by chunk through one state; each call
			// sees only its chunk's rows.
			st := []*kernels.MambaState{{Conv: fast.Alloc(3 * E), SSM: fast.Alloc(E * N)}}
			for r0 := 0; r0 < T; r0 += chunk {
				n := min(chunk, T-r0)
				sub := *c
				for _, m := range []*kernels.Mat{&sub.x, &sub.delta, &sub.z, &sub.B, &sub.C} {
					*m = m.RowSlice(r0, r0+n)
				}
				u, y, _ := sub.run(fast, []kernels.Seq{{Row: 0, Len: n, Pos: r0}}, st)
				for r := 0; r < n; r++ {
					if !sameBits(row(u, r), row(u0, r0+r)) || !sameBits(row(y, r), row(y0, r0+r)) {
						t.Fatalf("%s chunk %d: row %d differs from the single pass", fast.impl, chunk, r0+r)
					}
				}
			}
			if !sameBits(data(st[0].Conv), data(s0[0].Conv)) || !sameBits(data(st[0].SSM), data(s0[0].SSM)) {
				t.Errorf("%s chunk %d: final state differs from the single pass", fast.impl, chunk)
			}
		}
		// The same rows as the middle sequence of a batch.
		big := newMambaCase(rng, fast, T+9, E, N)
		for _, m := range []struct{ dst, src *kernels.Mat }{{&big.x, &c.x}, {&big.delta, &c.delta}, {&big.z, &c.z}, {&big.B, &c.B}, {&big.C, &c.C}} {
			for r := 0; r < T; r++ {
				copy(row(*m.dst, 4+r), row(*m.src, r))
			}
		}
		big.weight, big.bias, big.A, big.D, big.b = c.weight, c.bias, c.A, c.D, c.b
		u, y, _ := big.run(fast, []kernels.Seq{{Row: 0, Len: 4}, {Row: 4, Len: T}, {Row: 4 + T, Len: 5}}, nil)
		for r := 0; r < T; r++ {
			if !sameBits(row(u, 4+r), row(u0, r)) || !sameBits(row(y, 4+r), row(y0, r)) {
				t.Fatalf("%s: row %d differs inside a batch", fast.impl, r)
			}
		}
	}
}
