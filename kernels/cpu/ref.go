package cpu

import (
	"math"

	"github.com/sambaeval/sambaeval/kernels"
)

// refEmbed is the reference Embed.
func (b *Backend) refEmbed(dst kernels.Mat, table kernels.Weight, ids []int32) {
	w := table.(*Weight)
	b.parallelFor(len(ids), 16, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			w.rowTo(row(dst, i), int(ids[i]))
		}
	})
}

// refRMSNorm is the reference RMSNorm.
func (b *Backend) refRMSNorm(dst, x, w kernels.Mat, eps float32) {
	wt := row(w, 0)
	b.parallelFor(x.Rows, 8, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, dr := row(x, r), row(dst, r)
			var ss float64
			for _, v := range xr {
				ss += float64(v) * float64(v)
			}
			scale := float32(1 / math.Sqrt(ss/float64(len(xr))+float64(eps)))
			for i, v := range xr {
				dr[i] = v * scale * wt[i]
			}
		}
	})
}

// refAdd is the reference Add.
func (b *Backend) refAdd(dst, x kernels.Mat) {
	b.parallelFor(x.Rows, 8, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, dr := row(x, r), row(dst, r)
			for i, v := range xr {
				dr[i] += v
			}
		}
	})
}

func silu(x float32) float32 { return x / (1 + float32(math.Exp(float64(-x)))) }

// softplus is PyTorch's softplus with threshold 20.
func softplus(x float32) float32 {
	if x > 20 {
		return x
	}
	return float32(math.Log1p(math.Exp(float64(x))))
}

// refSwiGLU is the reference SwiGLU.
func (b *Backend) refSwiGLU(dst, gate, up kernels.Mat) {
	b.parallelFor(gate.Rows, 8, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			g, u, d := row(gate, r), row(up, r), row(dst, r)
			for i := range g {
				d[i] = silu(g[i]) * u[i]
			}
		}
	})
}

// refMatMul is the reference GEMM: each output element is one float32 dot
// product summed in k order.
func (b *Backend) refMatMul(dst, x kernels.Mat, w *Weight, accumulate bool) {
	const nb = 16 // weight rows widened at a time
	b.parallelFor((w.rows+nb-1)/nb, 1, func(lo, hi int) {
		wf := make([]float32, nb*w.cols)
		for blk := lo; blk < hi; blk++ {
			n0 := blk * nb
			n1 := min(n0+nb, w.rows)
			for n := n0; n < n1; n++ {
				w.rowTo(wf[(n-n0)*w.cols:(n-n0+1)*w.cols], n)
			}
			for m := 0; m < x.Rows; m++ {
				xr, dr := row(x, m), row(dst, m)
				for n := n0; n < n1; n++ {
					wr := wf[(n-n0)*w.cols : (n-n0+1)*w.cols]
					var s float32
					for k, v := range xr {
						s += v * wr[k]
					}
					if accumulate {
						dr[n] += s
					} else {
						dr[n] = s
					}
				}
			}
		}
	})
}

// refMambaConv is the reference MambaConv.
func (b *Backend) refMambaConv(dst, x, weight, bias kernels.Mat, states []*kernels.MambaState, seqs []kernels.Seq) {
	E, K := x.Cols, weight.Cols
	for si, s := range seqs {
		conv := data(states[si].Conv) // [K-1, E]
		// input returns x at chunk-relative time t (t < 0: from the state).
		input := func(t, e int) float32 {
			if t < 0 {
				return conv[(K-1+t)*E+e]
			}
			return row(x, s.Row+t)[e]
		}
		b.parallelFor(E, 64, func(lo, hi int) {
			for e := lo; e < hi; e++ {
				w := row(weight, e)
				bias := row(bias, 0)[e]
				for t := 0; t < s.Len; t++ {
					c := bias
					for k := 0; k < K; k++ {
						c += w[k] * input(t-(K-1)+k, e)
					}
					row(dst, s.Row+t)[e] = silu(c)
				}
			}
		})
		// The new state is the last K-1 inputs, which may still reach into the old state.
		next := make([]float32, (K-1)*E)
		for j := 0; j < K-1; j++ {
			t := s.Len - (K - 1) + j
			for e := 0; e < E; e++ {
				next[j*E+e] = input(t, e)
			}
		}
		copy(conv, next)
	}
}

// refSelectiveScan is the reference SelectiveScan.
func (b *Backend) refSelectiveScan(dst, u, delta, B, C, z kernels.Mat, p kernels.ScanParams, states []*kernels.MambaState, seqs []kernels.Seq) {
	E, N := u.Cols, B.Cols
	dskip, dbias := row(p.D, 0), row(p.DeltaBias, 0)
	for si, s := range seqs {
		ssm := data(states[si].SSM) // [E, N]
		b.parallelFor(E, 16, func(lo, hi int) {
			for e := lo; e < hi; e++ {
				st := ssm[e*N : (e+1)*N]
				a := row(p.A, e)
				for t := 0; t < s.Len; t++ {
					r := s.Row + t
					ut := row(u, r)[e]
					dt := softplus(row(delta, r)[e] + dbias[e])
					bt, ct := row(B, r), row(C, r)
					var y float32
					for n := 0; n < N; n++ {
						st[n] = float32(math.Exp(float64(dt*a[n])))*st[n] + dt*ut*bt[n]
						y += st[n] * ct[n]
					}
					y += dskip[e] * ut
					if z.Buf != nil {
						y *= silu(row(z, r)[e])
					}
					row(dst, r)[e] = y
				}
			}
		})
	}
}

// refRoPE is the reference RoPE.
func (b *Backend) refRoPE(x kernels.Mat, nHeads, headDim int, base float64, seqs []kernels.Seq) {
	half := headDim / 2
	invFreq := make([]float64, half)
	for j := range invFreq {
		invFreq[j] = math.Pow(base, -float64(2*j)/float64(headDim))
	}
	for _, s := range seqs {
		b.parallelFor(s.Len, 4, func(lo, hi int) {
			for t := lo; t < hi; t++ {
				pos := float64(s.Pos + t)
				xr := row(x, s.Row+t)
				for j := 0; j < half; j++ {
					sin, cos := math.Sincos(pos * invFreq[j])
					c, sn := float32(cos), float32(sin)
					for h := 0; h < nHeads; h++ {
						v := xr[h*headDim : (h+1)*headDim]
						x1, x2 := v[j], v[j+half]
						v[j] = x1*c - x2*sn
						v[j+half] = x2*c + x1*sn
					}
				}
			}
		})
	}
}

// refAttention is the reference Attention.
func (b *Backend) refAttention(dst, q, k, v kernels.Mat, sh kernels.AttnShape, caches []*kernels.KVCache, seqs []kernels.Seq) {
	hd, kvDim := sh.HeadDim, sh.NKV*sh.HeadDim
	group := sh.NHead / sh.NKV
	for si, s := range seqs {
		c := caches[si]
		var ck, cv []float32
		if c.Cap > 0 {
			ck, cv = data(c.K), data(c.V)
		}
		// key returns the key and value rows of absolute position j.
		key := func(j int) ([]float32, []float32) {
			if j >= s.Pos {
				r := s.Row + j - s.Pos
				return row(k, r), row(v, r)
			}
			o := (j % c.Cap) * kvDim
			return ck[o : o+kvDim], cv[o : o+kvDim]
		}
		b.parallelFor(s.Len*sh.NHead, 4, func(lo, hi int) {
			scores := make([]float64, 0, 256)
			acc := make([]float64, hd)
			for i := lo; i < hi; i++ {
				t, h := i/sh.NHead, i%sh.NHead
				g := h / group
				pos := s.Pos + t
				first := 0
				if sh.Window > 0 {
					first = max(0, pos-sh.Window+1)
				}
				qh := row(q, s.Row+t)[h*hd : (h+1)*hd]
				scores = scores[:0]
				mx := math.Inf(-1)
				for j := first; j <= pos; j++ {
					kr, _ := key(j)
					kh := kr[g*hd : (g+1)*hd]
					var d float32
					for x := range qh {
						d += qh[x] * kh[x]
					}
					sc := float64(d * sh.Scale)
					scores = append(scores, sc)
					mx = math.Max(mx, sc)
				}
				clear(acc)
				var sum float64
				for jj, sc := range scores {
					p := math.Exp(sc - mx)
					sum += p
					_, vr := key(first + jj)
					vh := vr[g*hd : (g+1)*hd]
					for x := range acc {
						acc[x] += p * float64(vh[x])
					}
				}
				out := row(dst, s.Row+t)[h*hd : (h+1)*hd]
				for x := range out {
					out[x] = float32(acc[x] / sum)
				}
			}
		})
		// Store the chunk's keys and values; a ring keeps only the last Cap.
		if c.Cap > 0 {
			start := max(0, s.Len-c.Cap)
			for t := start; t < s.Len; t++ {
				o := ((s.Pos + t) % c.Cap) * kvDim
				copy(ck[o:o+kvDim], row(k, s.Row+t))
				copy(cv[o:o+kvDim], row(v, s.Row+t))
			}
		}
	}
}

// refLogProbs is the reference LogProbs.
func (b *Backend) refLogProbs(out []kernels.TokenScore, logits kernels.Mat, targets []int32) {
	b.parallelFor(logits.Rows, 4, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			l := row(logits, r)
			arg := 0
			for i, v := range l {
				if v > l[arg] {
					arg = i
				}
			}
			mx := float64(l[arg])
			var sum float64
			for _, v := range l {
				sum += math.Exp(float64(v) - mx)
			}
			ts := kernels.TokenScore{Argmax: int32(arg)}
			if t := targets[r]; t >= 0 {
				ts.LogProb = float32(float64(l[t]) - mx - math.Log(sum))
				ts.Greedy = int(t) == arg
			}
			out[r] = ts
		}
	})
}
