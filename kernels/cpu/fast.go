package cpu

import (
	"math"
	"unsafe"

	"github.com/sambaeval/sambaeval/kernels"
)

// The fast path of the row-wise and recurrent operations. Each output row
// depends only on its own input row (and, for the convolution and the
// scan, on the same sequence's earlier rows through the carried state), so
// batch and chunk invariance hold by construction.

// rmsNorm is the fast RMSNorm: Σx² in float32 lanes (sumSquares), the
// scale in float64 as in the reference, then (x·scale)·w.
func (b *Backend) rmsNorm(dst, x, w kernels.Mat, eps float32) {
	checkView("RMSNorm", "x", x, x.Rows, x.Cols)
	checkView("RMSNorm", "dst", dst, x.Rows, x.Cols)
	checkView("RMSNorm", "w", w, 1, x.Cols)
	wt := row(w, 0)
	n := float64(x.Cols)
	b.parallelFor(x.Rows, 16, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr := row(x, r)
			ss := b.k.sumSquares(xr)
			scale := float32(1 / math.Sqrt(float64(ss)/n+float64(eps)))
			b.k.scaleMul(row(dst, r), xr, wt, scale)
		}
	})
}

// add is the fast Add.
func (b *Backend) add(dst, x kernels.Mat) {
	checkView("Add", "x", x, x.Rows, x.Cols)
	checkView("Add", "dst", dst, x.Rows, x.Cols)
	b.parallelFor(x.Rows, 16, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			b.k.add(row(dst, r), row(x, r))
		}
	})
}

// swiGLU is the fast SwiGLU.
func (b *Backend) swiGLU(dst, gate, up kernels.Mat) {
	checkView("SwiGLU", "gate", gate, gate.Rows, gate.Cols)
	checkView("SwiGLU", "up", up, gate.Rows, gate.Cols)
	checkView("SwiGLU", "dst", dst, gate.Rows, gate.Cols)
	b.parallelFor(gate.Rows, 8, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			b.k.swiglu(row(dst, r), row(gate, r), row(up, r))
		}
	})
}

// mambaConv is the fast MambaConv for 4-tap convolutions (every Samba
// configuration); other widths take the reference path.
func (b *Backend) mambaConv(dst, x, weight, bias kernels.Mat, states []*kernels.MambaState, seqs []kernels.Seq) {
	E, K := x.Cols, weight.Cols
	if K != 4 {
		b.refMambaConv(dst, x, weight, bias, states, seqs)
		return
	}
	checkView("MambaConv", "x", x, x.Rows, E)
	checkView("MambaConv", "dst", dst, x.Rows, E)
	checkView("MambaConv", "weight", weight, E, K)
	checkView("MambaConv", "bias", bias, 1, E)
	// Taps as [K][E], so that each is a vector over channels.
	taps := make([]float32, K*E)
	for e := 0; e < E; e++ {
		for k, v := range row(weight, e) {
			taps[k*E+e] = v
		}
	}
	bs := row(bias, 0)
	for si, s := range seqs {
		conv := data(states[si].Conv) // [K-1, E], oldest first
		if len(conv) < (K-1)*E {
			panic("cpu: MambaConv: conv state too small")
		}
		// input returns x at chunk-relative time t (t < 0: from the state).
		input := func(t int) []float32 {
			if t < 0 {
				return conv[(K-1+t)*E : (K+t)*E]
			}
			return row(x, s.Row+t)
		}
		b.parallelFor(s.Len, 8, func(lo, hi int) {
			for t := lo; t < hi; t++ {
				b.k.convSiLU(row(dst, s.Row+t), input(t-3), input(t-2), input(t-1), input(t), taps, bs)
			}
		})
		// The new state is the last K-1 inputs, which may still reach into the old state.
		next := make([]float32, (K-1)*E)
		for j := 0; j < K-1; j++ {
			copy(next[j*E:(j+1)*E], input(s.Len-(K-1)+j))
		}
		copy(conv, next)
	}
}

// selectiveScan is the fast SelectiveScan: tiles of 8 channels, each run
// through all of a sequence's steps by the scan kernel with its state in
// a transposed [N][8] block; channels beyond the last full tile take the
// same kernel on padded copies of their rows.
func (b *Backend) selectiveScan(dst, u, delta, B, C, z kernels.Mat, p kernels.ScanParams, states []*kernels.MambaState, seqs []kernels.Seq) {
	T, E, N := u.Rows, u.Cols, B.Cols
	for _, c := range []struct {
		name string
		m    kernels.Mat
		cols int
	}{{"u", u, E}, {"delta", delta, E}, {"z", z, E}, {"dst", dst, E}, {"B", B, N}, {"C", C, N}} {
		checkView("SelectiveScan", c.name, c.m, T, c.cols)
	}
	checkView("SelectiveScan", "A", p.A, E, N)
	checkView("SelectiveScan", "D", p.D, 1, E)
	checkView("SelectiveScan", "DeltaBias", p.DeltaBias, 1, E)
	dskip, dbias := row(p.D, 0), row(p.DeltaBias, 0)
	tiles := (E + 7) / 8
	for si, s := range seqs {
		if s.Len == 0 {
			continue
		}
		ssm := data(states[si].SSM) // [E, N]
		if len(ssm) < E*N {
			panic("cpu: SelectiveScan: SSM state too small")
		}
		// A step of one tile costs about as much as a goroutine start:
		// short sequences (decoding) take larger shares.
		b.parallelFor(tiles, max(1, 64/s.Len), func(lo, hi int) {
			st := make([]float32, N*8)
			at := make([]float32, N*8)
			var bias, d [8]float32
			var pad *scanPad
			ad := data(p.A.Buf)
			for tile := lo; tile < hi; tile++ {
				e0 := tile * 8
				w := min(8, E-e0)
				clear(st)
				clear(at)
				bias, d = [8]float32{}, [8]float32{}
				for l := 0; l < w; l++ {
					srow := ssm[(e0+l)*N : (e0+l+1)*N]
					arow := ad[p.A.Off+(e0+l)*p.A.Stride:][:N]
					for n := range srow {
						st[8*n+l], at[8*n+l] = srow[n], arow[n]
					}
					bias[l], d[l] = dbias[e0+l], dskip[e0+l]
				}
				el := func(m kernels.Mat, r, c int) unsafe.Pointer {
					return unsafe.Pointer(&data(m.Buf)[m.Off+r*m.Stride+c])
				}
				args := scanArgs{
					steps: s.Len, n: N,
					u: el(u, s.Row, e0), delta: el(delta, s.Row, e0), z: el(z, s.Row, e0), dst: el(dst, s.Row, e0),
					us: uintptr(4 * u.Stride), ds: uintptr(4 * delta.Stride), zs: uintptr(4 * z.Stride), ys: uintptr(4 * dst.Stride),
					b: el(B, s.Row, 0), c: el(C, s.Row, 0), bs: uintptr(4 * B.Stride), cs: uintptr(4 * C.Stride),
					state: unsafe.Pointer(&st[0]), a: unsafe.Pointer(&at[0]),
					bias: unsafe.Pointer(&bias[0]), d: unsafe.Pointer(&d[0]),
				}
				if w == 8 {
					b.k.scan(&args)
				} else {
					// A partial tile: run it on 8-wide copies of its rows.
					if pad == nil {
						pad = newScanPad(s.Len)
					}
					pad.run(b.k, &args, w, dst, s.Row, e0)
				}
				for l := 0; l < w; l++ {
					srow := ssm[(e0+l)*N : (e0+l+1)*N]
					for n := range srow {
						srow[n] = st[8*n+l]
					}
				}
			}
		})
	}
}

// scanPad holds 8-wide copies of a partial tile's inputs and output.
type scanPad struct {
	u, delta, z, y []float32 // [steps][8]
}

func newScanPad(steps int) *scanPad {
	return &scanPad{u: make([]float32, 8*steps), delta: make([]float32, 8*steps), z: make([]float32, 8*steps), y: make([]float32, 8*steps)}
}

// run copies the first w channels of each step into the pad (zeros in the
// others), runs the kernel on it, and copies the w outputs to
// dst rows row0… at column e0. The lanes of a tile do not interact, so the
// real channels see the same arithmetic as in a full tile.
func (p *scanPad) run(k *kernelSet, a *scanArgs, w int, dst kernels.Mat, row0, e0 int) {
	for t := 0; t < a.steps; t++ {
		for l := 0; l < 8; l++ {
			var uv, dv, zv float32
			if l < w {
				off := uintptr(t)
				uv = *at(a.u, off*a.us+uintptr(4*l))
				dv = *at(a.delta, off*a.ds+uintptr(4*l))
				zv = *at(a.z, off*a.zs+uintptr(4*l))
			}
			p.u[8*t+l], p.delta[8*t+l], p.z[8*t+l] = uv, dv, zv
		}
	}
	a.u, a.delta, a.z, a.dst = unsafe.Pointer(&p.u[0]), unsafe.Pointer(&p.delta[0]), unsafe.Pointer(&p.z[0]), unsafe.Pointer(&p.y[0])
	a.us, a.ds, a.zs, a.ys = 32, 32, 32, 32
	k.scan(a)
	for t := 0; t < a.steps; t++ {
		copy(row(dst, row0+t)[e0:e0+w], p.y[8*t:8*t+w])
	}
}

// logProbs is the fast LogProbs: the maximum, the first index holding
// it, and Σ exp(l - max) with float32 terms summed in float64.
func (b *Backend) logProbs(out []kernels.TokenScore, logits kernels.Mat, targets []int32) {
	checkView("LogProbs", "logits", logits, logits.Rows, logits.Cols)
	if logits.Cols == 0 {
		return
	}
	b.parallelFor(logits.Rows, 4, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			l := row(logits, r)
			mx := b.k.max(l)
			arg := 0
			for i, v := range l {
				if v == mx {
					arg = i
					break
				}
			}
			ts := kernels.TokenScore{Argmax: int32(arg)}
			if t := targets[r]; t >= 0 {
				sum := b.k.sumExp(l, mx)
				ts.LogProb = float32(float64(l[t]) - float64(mx) - math.Log(sum))
				ts.Greedy = int(t) == arg
			}
			out[r] = ts
		}
	})
}
