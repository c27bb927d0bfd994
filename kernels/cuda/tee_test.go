package cuda

import (
	"fmt"
	"math"

	"github.com/sambaeval/sambaeval/dtype"
	"github.com/sambaeval/sambaeval/kernels"
	"github.com/sambaeval/sambaeval/kernels/cpu"
)

// tee is a kernels.Backend that runs every operation on the CPU reference
// and on the GPU, each on its own copy of every buffer, and compares the
// outputs after each operation: the first operation whose GPU result
// departs from the CPU's by more than tol (relative to the largest CPU
// magnitude) is recorded with where it happened. It localises a model-level
// difference to one operation.
type tee struct {
	c     *cpu.Backend
	g     kernels.Backend
	tol   float64
	ops   int
	pos   int    // position of the first row of the current pass
	first string // the first mismatch, "" while there is none
}

type teeBuf struct{ c, g kernels.Buffer }

func (t *teeBuf) Len() int { return t.c.Len() }

type teeWeight struct{ c, g kernels.Weight }

func (w *teeWeight) Rows() int          { return w.c.Rows() }
func (w *teeWeight) Cols() int          { return w.c.Cols() }
func (w *teeWeight) DType() dtype.DType { return w.c.DType() }

func newTee(g kernels.Backend, tol float64) *tee { return &tee{c: cpu.New(), g: g, tol: tol} }

// split returns m's CPU and GPU views (the zero Mat stays zero).
func split(m kernels.Mat) (kernels.Mat, kernels.Mat) {
	if m.Buf == nil {
		return m, m
	}
	b := m.Buf.(*teeBuf)
	c, g := m, m
	c.Buf, g.Buf = b.c, b.g
	return c, g
}

func (t *tee) check(op string, dsts ...kernels.Mat) {
	t.ops++
	if t.first != "" {
		return
	}
	for i, m := range dsts {
		c, g := split(m)
		want, got := readMat(t.c, c), readMat(t.g, g)
		var maxRef, maxDiff float64
		worst := 0
		for j := range want {
			maxRef = math.Max(maxRef, math.Abs(float64(want[j])))
			if d := math.Abs(float64(got[j] - want[j])); d > maxDiff || math.IsNaN(d) {
				maxDiff, worst = d, j
			}
		}
		if maxDiff > t.tol*math.Max(maxRef, 1e-6) || math.IsNaN(maxDiff) {
			t.first = fmt.Sprintf("op %d %s (pass from position %d), output %d [%d×%d, stride %d]: max |diff| %.3g at row %d col %d (GPU %v, CPU %v), max |CPU| %.3g",
				t.ops, op, t.pos, i, m.Rows, m.Cols, m.Stride, maxDiff, worst/m.Cols, worst%m.Cols, got[worst], want[worst], maxRef)
		}
	}
}

func (t *tee) Name() string { return "tee(" + t.c.Name() + ", " + t.g.Name() + ")" }
func (t *tee) Close() error { return nil }
func (t *tee) Alloc(n int) kernels.Buffer {
	return &teeBuf{t.c.Alloc(n), t.g.Alloc(n)}
}
func (t *tee) Free(b kernels.Buffer) {
	tb := b.(*teeBuf)
	t.c.Free(tb.c)
	t.g.Free(tb.g)
}
func (t *tee) Write(b kernels.Buffer, off int, src []float32) {
	tb := b.(*teeBuf)
	t.c.Write(tb.c, off, src)
	t.g.Write(tb.g, off, src)
}
func (t *tee) Read(dst []float32, b kernels.Buffer, off int) { t.g.Read(dst, b.(*teeBuf).g, off) }
func (t *tee) Copy(dst kernels.Buffer, dstOff int, src kernels.Buffer, srcOff, n int) {
	d, s := dst.(*teeBuf), src.(*teeBuf)
	t.c.Copy(d.c, dstOff, s.c, srcOff, n)
	t.g.Copy(d.g, dstOff, s.g, srcOff, n)
}
func (t *tee) Zero(b kernels.Buffer) {
	tb := b.(*teeBuf)
	t.c.Zero(tb.c)
	t.g.Zero(tb.g)
}
func (t *tee) LoadWeight(dt dtype.DType, rows, cols int, data []byte) (kernels.Weight, error) {
	c, err := t.c.LoadWeight(dt, rows, cols, data)
	if err != nil {
		return nil, err
	}
	g, err := t.g.LoadWeight(dt, rows, cols, data)
	if err != nil {
		return nil, err
	}
	return &teeWeight{c, g}, nil
}
func (t *tee) Embed(dst kernels.Mat, table kernels.Weight, ids []int32) {
	w := table.(*teeWeight)
	dc, dg := split(dst)
	t.c.Embed(dc, w.c, ids)
	t.g.Embed(dg, w.g, ids)
	t.check("Embed", dst)
}
func (t *tee) RMSNorm(dst, x, w kernels.Mat, eps float32) {
	dc, dg := split(dst)
	xc, xg := split(x)
	wc, wg := split(w)
	t.c.RMSNorm(dc, xc, wc, eps)
	t.g.RMSNorm(dg, xg, wg, eps)
	t.check("RMSNorm", dst)
}
func (t *tee) LayerNorm(dst, x, w, b kernels.Mat, eps float32) {
	dc, dg := split(dst)
	xc, xg := split(x)
	wc, wg := split(w)
	bc, bg := split(b)
	t.c.LayerNorm(dc, xc, wc, bc, eps)
	t.g.LayerNorm(dg, xg, wg, bg, eps)
	t.check("LayerNorm", dst)
}
func (t *tee) MatMul(dst, x kernels.Mat, w kernels.Weight, acc bool) {
	tw := w.(*teeWeight)
	dc, dg := split(dst)
	xc, xg := split(x)
	t.c.MatMul(dc, xc, tw.c, acc)
	t.g.MatMul(dg, xg, tw.g, acc)
	t.check(fmt.Sprintf("MatMul [%d×%d]·[%d×%d]ᵀ acc %v", x.Rows, x.Cols, w.Rows(), w.Cols(), acc), dst)
}
func (t *tee) Add(dst, x kernels.Mat) {
	dc, dg := split(dst)
	xc, xg := split(x)
	t.c.Add(dc, xc)
	t.g.Add(dg, xg)
	t.check("Add", dst)
}
func (t *tee) SwiGLU(dst, gate, up kernels.Mat) {
	dc, dg := split(dst)
	gc, gg := split(gate)
	uc, ug := split(up)
	t.c.SwiGLU(dc, gc, uc)
	t.g.SwiGLU(dg, gg, ug)
	t.check("SwiGLU", dst)
}
func (t *tee) AddBias(dst, bias kernels.Mat) {
	dc, dg := split(dst)
	bc, bg := split(bias)
	t.c.AddBias(dc, bc)
	t.g.AddBias(dg, bg)
	t.check("AddBias", dst)
}
func (t *tee) AddScaled(dst, x kernels.Mat, alpha float32) {
	dc, dg := split(dst)
	xc, xg := split(x)
	t.c.AddScaled(dc, xc, alpha)
	t.g.AddScaled(dg, xg, alpha)
	t.check("AddScaled", dst)
}
func mambaStates(st []*kernels.MambaState) (c, g []*kernels.MambaState) {
	for _, s := range st {
		conv, ssm := s.Conv.(*teeBuf), s.SSM.(*teeBuf)
		c = append(c, &kernels.MambaState{Conv: conv.c, SSM: ssm.c})
		g = append(g, &kernels.MambaState{Conv: conv.g, SSM: ssm.g})
	}
	return c, g
}
func (t *tee) MambaConv(dst, x, w, bias kernels.Mat, st []*kernels.MambaState, seqs []kernels.Seq) {
	t.pos = seqs[0].Pos
	dc, dg := split(dst)
	xc, xg := split(x)
	wc, wg := split(w)
	bc, bg := split(bias)
	sc, sg := mambaStates(st)
	t.c.MambaConv(dc, xc, wc, bc, sc, seqs)
	t.g.MambaConv(dg, xg, wg, bg, sg, seqs)
	t.check("MambaConv", dst, kernels.NewMat(st[0].Conv, 1, st[0].Conv.Len()))
}
func (t *tee) SelectiveScan(dst, u, delta, B, C, z kernels.Mat, p kernels.ScanParams, st []*kernels.MambaState, seqs []kernels.Seq) {
	dc, dg := split(dst)
	uc, ug := split(u)
	ec, eg := split(delta)
	Bc, Bg := split(B)
	Cc, Cg := split(C)
	zc, zg := split(z)
	ac, ag := split(p.A)
	Dc, Dg := split(p.D)
	bc, bg := split(p.DeltaBias)
	sc, sg := mambaStates(st)
	t.c.SelectiveScan(dc, uc, ec, Bc, Cc, zc, kernels.ScanParams{A: ac, D: Dc, DeltaBias: bc}, sc, seqs)
	t.g.SelectiveScan(dg, ug, eg, Bg, Cg, zg, kernels.ScanParams{A: ag, D: Dg, DeltaBias: bg}, sg, seqs)
	t.check(fmt.Sprintf("SelectiveScan (gated %v)", z.Buf != nil), dst, kernels.NewMat(st[0].SSM, 1, st[0].SSM.Len()))
}
func (t *tee) RoPE(x kernels.Mat, nHeads, headDim int, base float64, seqs []kernels.Seq) {
	xc, xg := split(x)
	t.c.RoPE(xc, nHeads, headDim, base, seqs)
	t.g.RoPE(xg, nHeads, headDim, base, seqs)
	t.check("RoPE", x)
}
func (t *tee) Attention(dst, q, k, v kernels.Mat, sh kernels.AttnShape, caches []*kernels.KVCache, seqs []kernels.Seq) {
	t.pos = seqs[0].Pos
	dc, dg := split(dst)
	qc, qg := split(q)
	kc, kg := split(k)
	vc, vg := split(v)
	var cc, cg []*kernels.KVCache
	for _, c := range caches {
		if c.K == nil {
			cc, cg = append(cc, &kernels.KVCache{}), append(cg, &kernels.KVCache{})
			continue
		}
		kb, vb := c.K.(*teeBuf), c.V.(*teeBuf)
		cc = append(cc, &kernels.KVCache{K: kb.c, V: vb.c, Cap: c.Cap})
		cg = append(cg, &kernels.KVCache{K: kb.g, V: vb.g, Cap: c.Cap})
	}
	t.c.Attention(dc, qc, kc, vc, sh, cc, seqs)
	t.g.Attention(dg, qg, kg, vg, sh, cg, seqs)
	outs := []kernels.Mat{dst}
	if c := caches[0]; c.Cap > 0 {
		outs = append(outs, kernels.NewMat(c.K, 1, c.K.Len()), kernels.NewMat(c.V, 1, c.V.Len()))
	}
	t.check(fmt.Sprintf("Attention %+v, cache cap %d", sh, caches[0].Cap), outs...)
}
func (t *tee) LogProbs(out []kernels.TokenScore, logits kernels.Mat, targets []int32) {
	lc, lg := split(logits)
	want := make([]kernels.TokenScore, len(out))
	t.c.LogProbs(want, lc, targets)
	t.g.LogProbs(out, lg, targets)
	t.ops++
	for i := range out {
		if d := math.Abs(float64(out[i].LogProb - want[i].LogProb)); t.first == "" && d > 1e-3 {
			t.first = fmt.Sprintf("op %d LogProbs row %d: GPU %v, CPU %v", t.ops, i, out[i].LogProb, want[i].LogProb)
		}
	}
}
