package cuda

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/sambaeval/sambaeval/dtype"
	"github.com/sambaeval/sambaeval/kernels"
	"github.com/sambaeval/sambaeval/kernels/cpu"
)

// Every test here runs an operation on the CPU reference and on the GPU
// with the same random inputs and compares the results.

func TestBufferOps(t *testing.T) {
	g := gpu(t, false)
	x := g.Alloc(1000)
	defer g.Free(x)
	for i, v := range readBuf(g, x) {
		if v != 0 {
			t.Fatalf("Alloc: element %d = %v, want 0", i, v)
		}
	}
	src := randn(rand.New(rand.NewPCG(1, 1)), 300, 1)
	g.Write(x, 100, src)
	got := make([]float32, 300)
	g.Read(got, x, 100)
	if err := closeEnough(got, src, 0); err != nil {
		t.Fatalf("Write/Read: %v", err)
	}
	y := g.Alloc(500)
	defer g.Free(y)
	g.Copy(y, 7, x, 150, 200)
	g.Read(got[:200], y, 7)
	if err := closeEnough(got[:200], src[50:250], 0); err != nil {
		t.Fatalf("Copy: %v", err)
	}
	g.Zero(x)
	for i, v := range readBuf(g, x) {
		if v != 0 {
			t.Fatalf("Zero: element %d = %v", i, v)
		}
	}
}

// TestKVBufferOps checks the bf16 mode's key/value cache buffers (AllocKV):
// bf16 elements (Write rounds to nearest even, Read widens), Copy between
// two of them, Zero, an odd length (a padded last word), and the float32
// ones f32KV gives.
func TestKVBufferOps(t *testing.T) {
	g := gpu(t, false)
	if g.KVBytes() != 2 {
		t.Fatalf("KVBytes %d in bf16 mode, want 2", g.KVBytes())
	}
	x, y := g.AllocKV(999, 1), g.AllocKV(3, 167)
	defer g.Free(x)
	defer g.Free(y)
	if x.Len() != 999 || y.Len() != 501 || dev(x).kind != kindBF16 || dev(x).words() != 500 {
		t.Fatalf("AllocKV: lengths %d, %d, kind %d, %d words", x.Len(), y.Len(), dev(x).kind, dev(x).words())
	}
	for i, v := range readBuf(g, x) {
		if v != 0 {
			t.Fatalf("AllocKV: element %d = %v, want 0", i, v)
		}
	}
	src := randn(rand.New(rand.NewPCG(1, 2)), 300, 1)
	src[0], src[1] = 1+1.0/256, 1+3.0/256 // ties: to 1 and to 1+1/64
	g.Write(x, 699, src)
	got := make([]float32, 300)
	g.Read(got, x, 699)
	if err := closeEnough(got, roundTo(dtype.BF16, src), 0); err != nil {
		t.Fatalf("Write/Read: %v", err)
	}
	if got[0] != 1 || got[1] != 1+1.0/64 {
		t.Fatalf("ties rounded to %v, %v, want 1, %v", got[0], got[1], 1+1.0/64)
	}
	g.Copy(y, 1, x, 750, 249)
	g.Read(got[:249], y, 1)
	if err := closeEnough(got[:249], roundTo(dtype.BF16, src[51:]), 0); err != nil {
		t.Fatalf("Copy: %v", err)
	}
	g.Zero(x)
	for i, v := range readBuf(g, x) {
		if v != 0 {
			t.Fatalf("Zero: element %d = %v", i, v)
		}
	}
	g.f32KV = true
	z := g.AllocKV(10, 10)
	g.f32KV = false
	defer g.Free(z)
	if g.KVBytes() != 2 || dev(z).kind != kindF32 || z.Len() != 100 {
		t.Fatalf("f32KV: kind %d, length %d", dev(z).kind, z.Len())
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Copy from a bf16 buffer into a float32 one did not panic")
			}
		}()
		g.Copy(z, 0, x, 0, 10)
	}()
}

func TestMatMul(t *testing.T) {
	cases := []struct {
		M, N, K int
		dt      dtype.DType
		acc     bool
		pad     int
	}{
		{1, 7, 5, dtype.BF16, false, 0},
		{3, 64, 33, dtype.BF16, true, 3},
		{64, 96, 256, dtype.BF16, false, 8},
		{130, 40, 72, dtype.F16, true, 1},
		{17, 50, 64, dtype.F32, false, 2},
		{200, 300, 512, dtype.BF16, true, 0},
		// decoding products (k_gemv2 and the old k_gemv, k_gemv_mma,
		// in bf16 mode): weight rows not a multiple of 8 nor
		// of k_gemv2's rows per block, K/8 not a multiple of its 8 warps
		// (K = 8: one chunk, seven idle warps)
		{1, 96, 256, dtype.BF16, true, 0},
		{4, 40, 64, dtype.F16, true, 4},
		{2, 300, 520, dtype.BF16, false, 0},
		{1, 7, 8, dtype.BF16, false, 0},
		{3, 13, 72, dtype.F16, true, 4},
		{4, 1001, 136, dtype.BF16, false, 0},
		{1, 301, 2824, dtype.BF16, true, 0},
		{4, 67, 5640, dtype.F16, false, 4},
		{16, 208, 512, dtype.BF16, false, 0},
		{9, 100, 176, dtype.BF16, true, 3},
		{5, 64, 136, dtype.F16, false, 0},
		{16, 3000, 256, dtype.BF16, true, 0},
		// x_proj's shape (split K in k_gemv_mma), and split K with the
		// residual added (o_proj, out_proj and down at ≤ 8 rows)
		{16, 208, 5632, dtype.BF16, true, 0},
		{6, 208, 5632, dtype.BF16, false, 4},
		{4, 96, 1024, dtype.BF16, true, 0},
		{8, 300, 2816, dtype.F16, true, 4},
	}
	modes(t, func(t *testing.T, g *Backend) {
		cb := cpu.New()
		for _, c := range cases {
			var ref []float32              // k_gemv2's result with gemv2RB's choice
			mmaRefs := map[int][]float32{} // see mmaBits
			// k_gemv2 needs K a multiple of 8, 16-bit weights and x's
			// rows 16-byte aligned (newTwin offsets them by pad floats).
			// k_gemv_mma takes a 16-bit copy of x, aligned whatever pad.
			mmaFits := c.K%8 == 0 && c.dt != dtype.F32
			fits := mmaFits && c.pad%4 == 0
			for _, v := range gemvVariants(g, c.M, fits, mmaFits) {
				t.Run(fmt.Sprintf("%dx%dx%d_%s_acc%v%s", c.M, c.N, c.K, c.dt, c.acc, v.name), func(t *testing.T) {
					defer v.set(g)()
					r := rand.New(rand.NewPCG(uint64(c.M), uint64(c.N*1000+c.K)))
					xv := randn(r, c.M*c.K, 1)
					wv := randn(r, c.N*c.K, 0.1)
					raw := weightBytes(c.dt, wv)
					wc, err := cb.LoadWeight(c.dt, c.N, c.K, raw)
					if err != nil {
						t.Fatal(err)
					}
					wg, err := g.LoadWeight(c.dt, c.N, c.K, raw)
					if err != nil {
						t.Fatal(err)
					}
					// In bf16 mode cuBLAS products take x rounded to the
					// weights' type; k_gemv2 and k_gemv take it as it is.
					x := newTwin(cb, g, c.M, c.K, c.pad, xv)
					xref := xv
					gemv := g.usesGemv(x.g, wg.(*Weight))
					if !g.fp32 && !gemv {
						xref = roundTo(c.dt, xv)
					}
					if v.gemv2 != (gemv && !v.old) {
						t.Fatalf("usesGemv = %v for %d rows of %d×%d (variant %q)", gemv, c.M, c.N, c.K, v.name)
					}
					if mma := !gemv && g.mmaTakes(x.g, wg.(*Weight), false); mma != v.mma {
						t.Fatalf("mmaTakes = %v for %d rows of %d×%d (variant %q)", mma, c.M, c.N, c.K, v.name)
					}
					xc := newTwin(cb, g, c.M, c.K, c.pad, xref).c
					init := randn(r, c.M*c.N, 1)
					d := newTwin(cb, g, c.M, c.N, c.pad, init)
					cb.MatMul(d.c, xc, wc, c.acc)
					g.MatMul(d.g, x.g, wg, c.acc)
					got := readMat(g, d.g)
					if err := closeEnough(got, readMat(cb, d.c), 1e-5); err != nil {
						t.Fatal(err)
					}
					mmaBits(t, g, v, c.M, wg, nil, got, mmaRefs)
					shadowed(t, g, v, d.g)
					if v.mma && (g.tiledTakes(c.M) || g.mmbFor(c.M, wg.(*Weight), false)) && wg.(*Weight).tiled == 0 {
						t.Errorf("%d rows: no tiled copy of the weights was made", c.M)
					}
					// Every output is summed in an order that does not
					// depend on the rows per block.
					if v.gemv2 {
						if ref == nil {
							ref = got
						} else if !slices.Equal(got, ref) {
							t.Errorf("k_gemv2 with RB %d differs from RB %d (not bitwise equal)", v.rb, g.gemv2RB(c.K, 1))
						}
					}
				})
			}
		}
	})
}

// gemvVariant is one setting of the decoding-product knobs.
type gemvVariant struct {
	name     string
	gemv2    bool // k_gemv2 runs (bf16 mode, one row; at most gemvRows with a forced RB)
	mma      bool // k_gemv_mma runs (bf16 mode, 2 to mmaRows rows; one row with mmaOne)
	old      bool
	rb       int
	one, off bool // mmaOne, noMMA
	noPair   bool
	noSplit  bool // noSplitK
	noTiled  bool // row-major k_gemv_mma rather than k_gemv_mmt
	rt       int  // tiledRT and tiledFusedRT
	noMMB    bool
	mmbAll   bool
	single   bool // mmbSingle
	ring     int  // mmbRing
}

// set applies v to g and returns the function restoring the defaults.
func (v gemvVariant) set(g *Backend) func() {
	g.oldGemv, g.gemvRB, g.mmaOne, g.noMMA, g.noPair, g.noSplitK = v.old, v.rb, v.one, v.off, v.noPair, v.noSplit
	g.noTiled, g.tiledRT, g.tiledFusedRT = v.noTiled, v.rt, v.rt
	g.noMMB, g.mmbAll, g.mmbSingle, g.mmbRing = v.noMMB, v.mmbAll, v.single, v.ring
	return func() {
		g.oldGemv, g.gemvRB, g.mmaOne, g.noMMA, g.noPair, g.noSplitK = false, 0, false, false, false, false
		g.noTiled, g.tiledRT, g.tiledFusedRT = false, 0, 0
		g.noMMB, g.mmbAll, g.mmbSingle, g.mmbRing = false, false, false, 0
	}
}

// mmaBits checks that every variant running k_gemv_mma or k_gemv_mmt
// (row-major or tiled weights, any tiles per warp) gives the same results
// bitwise as the others that split K into as many parts (as launchMMA
// plans it for m rows of w1, and w2 when fused): refs keeps the first
// result of each split.
func mmaBits(t *testing.T, g *Backend, v gemvVariant, m int, w1, w2 kernels.Weight, got []float32, refs map[int][]float32) {
	t.Helper()
	if !v.mma {
		return
	}
	var plan mmaCall
	func() {
		defer g.enter()()
		var t2 *Weight
		if w2 != nil {
			t2 = w2.(*Weight)
		}
		plan = g.mmaPlan(m, w1.(*Weight), t2)
	}()
	if mmb := strings.HasPrefix(plan.name, "k_gemv_mmb"); mmb != g.mmbFor(m, w1.(*Weight), w2 != nil) {
		t.Errorf("variant %q, %d rows: the product ran %s (mmbTakes %v)", v.name, m, plan.name, g.mmbTakes(m))
	}
	// The same split of K and the same slices per part (8 but k_gemv_mmb's
	// 16) give the same sums in the same order.
	key := plan.ks*100 + plan.warps
	if ref, ok := refs[key]; !ok {
		refs[key] = got
	} else if !slices.Equal(got, ref) {
		t.Errorf("variant %q differs from the other k_gemv_mma/k_gemv_mmt/k_gemv_mmb results of K in %d parts of %d slices (not bitwise equal)", v.name, plan.ks, plan.warps)
	}
}

// shadowed checks that a k_gemv_mma, k_gemv_mmt or k_gemv_mmb product left
// a valid 16-bit shadow of its output, so that the next product reads it
// without a conversion.
func shadowed(t *testing.T, g *Backend, v gemvVariant, out kernels.Mat) {
	t.Helper()
	if !v.mma {
		return
	}
	defer g.enter()()
	buf := dev(out.Buf)
	if s := g.shadows[buf]; s == nil || s.ver == 0 || s.ver != buf.ver {
		t.Errorf("variant %q: the product's 16-bit shadow of its output is not valid", v.name)
	}
}

// gemvVariants lists the decoding-product variants that apply to M rows of
// a shape k_gemv2 takes when fits (k_gemv_mma when mmaFits): the default
// (first), then in bf16 mode k_gemv2 with each forced rows per block and
// the old k_gemv for at most gemvRows rows, and for at most mmaRows rows
// k_gemv_mma for one row (mmaOne) and cuBLAS for more (noMMA).
func gemvVariants(g *Backend, M int, fits, mmaFits bool) []gemvVariant {
	small := !g.fp32 && M <= gemvRows && fits
	mma := !g.fp32 && M <= mmaRows && mmaFits
	vs := []gemvVariant{{gemv2: small && M == 1, mma: mma && M > 1}}
	if small {
		for _, rb := range []int{1, 2, 4, 8} {
			vs = append(vs, gemvVariant{name: fmt.Sprintf("_rb%d", rb), gemv2: true, rb: rb})
		}
		vs = append(vs, gemvVariant{name: "_k_gemv", old: true})
	}
	switch {
	case mma && M == 1:
		vs = append(vs, gemvVariant{name: "_mma", mma: true, one: true, noTiled: true},
			gemvVariant{name: "_mmt1", mma: true, one: true, rt: 1}, gemvVariant{name: "_mmt2", mma: true, one: true, rt: 2})
	case mma:
		vs = append(vs, gemvVariant{name: "_cublas", off: true}, gemvVariant{name: "_nosplit", mma: true, noSplit: true},
			gemvVariant{name: "_rowmajor", mma: true, noTiled: true},
			gemvVariant{name: "_mmt1", mma: true, rt: 1, noMMB: true},
			gemvVariant{name: "_mmt2", mma: true, rt: 2, noMMB: true},
			gemvVariant{name: "_nommb", mma: true, noMMB: true},
			gemvVariant{name: "_mmb", mma: true, mmbAll: true, single: true},
			gemvVariant{name: "_mmb_ring2", mma: true, mmbAll: true, single: true, ring: 1})
	}
	return vs
}

// TestMatMulSwiGLU checks the fused gate/up product (k_gemv2_swiglu with
// each rows per block, the old k_gemv_swiglu4, k_gemv_mma_swiglu, and
// gateUpPair where k_gemv_mma declines) against two products and SwiGLU on
// the CPU, with the weights in either order in memory, and that what it
// does not take (noPair, more than pairRows rows) is refused.
func TestMatMulSwiGLU(t *testing.T) {
	g := gpu(t, false)
	cb := cpu.New()
	for _, c := range []struct {
		M, N, K int
		dt      dtype.DType
	}{{1, 96, 256, dtype.BF16}, {4, 100, 176, dtype.BF16}, {3, 40, 64, dtype.F16}, {1, 9, 8, dtype.BF16},
		{4, 13, 72, dtype.F16}, {2, 301, 2824, dtype.BF16}, {16, 100, 176, dtype.BF16}, {7, 40, 64, dtype.F16},
		{5, 13, 72, dtype.F16}, {40, 60, 96, dtype.BF16}} {
		var ref []float32              // k_gemv2_swiglu's result with gemv2RB's choice
		mmaRefs := map[int][]float32{} // see mmaBits
		vs := gemvVariants(g, c.M, true, true)
		if c.M > 1 {
			vs = append(vs, gemvVariant{name: "_two", off: true, noPair: true})
		}
		for _, v := range vs {
			pair := !v.gemv2 && !v.old && !v.mma && !v.noPair && c.M >= 2 && c.M <= pairRows // gateUpPair runs
			t.Run(fmt.Sprintf("%dx%dx%d_%s%s", c.M, c.N, c.K, c.dt, v.name), func(t *testing.T) {
				defer v.set(g)()
				r := rand.New(rand.NewPCG(5, uint64(c.M*c.N)))
				xv := randn(r, c.M*c.K, 1)
				var wc, wg [2]kernels.Weight
				for i := range wc {
					raw := weightBytes(c.dt, randn(r, c.N*c.K, 0.1))
					wc[i], _ = cb.LoadWeight(c.dt, c.N, c.K, raw)
					var err error
					if wg[i], err = g.LoadWeight(c.dt, c.N, c.K, raw); err != nil {
						t.Fatal(err)
					}
				}
				x := newTwin(cb, g, c.M, c.K, 4, xv)
				xref := xv // k_gemv2_swiglu and k_gemv_swiglu4 take x unrounded
				if v.mma || pair {
					xref = roundTo(c.dt, xv)
				}
				xc := newTwin(cb, g, c.M, c.K, 0, xref).c
				gate := newTwin(cb, g, c.M, c.N, 1, make([]float32, c.M*c.N))
				up := newTwin(cb, g, c.M, c.N, 0, make([]float32, c.M*c.N))
				cb.MatMul(gate.c, xc, wc[0], false)
				cb.MatMul(up.c, xc, wc[1], false)
				cb.SwiGLU(gate.c, gate.c, up.c)
				took := g.MatMulSwiGLU(gate.g, x.g, wg[0], wg[1])
				if want := v.gemv2 || v.old || v.mma || pair; took != want {
					t.Fatalf("MatMulSwiGLU took the product: %v, want %v", took, want)
				}
				if !took {
					return // cuBLAS products follow in the model
				}
				got := readMat(g, gate.g)
				if err := closeEnough(got, readMat(cb, gate.c), 1e-5); err != nil {
					t.Fatal(err)
				}
				mmaBits(t, g, v, c.M, wg[0], wg[1], got, mmaRefs)
				shadowed(t, g, v, gate.g)
				// The weights the other way round: the second (higher in
				// memory) is now the gate.
				cb.MatMul(gate.c, xc, wc[1], false)
				cb.MatMul(up.c, xc, wc[0], false)
				cb.SwiGLU(gate.c, gate.c, up.c)
				if !g.MatMulSwiGLU(gate.g, x.g, wg[1], wg[0]) {
					t.Fatal("MatMulSwiGLU declined the weights in the other order")
				}
				if err := closeEnough(readMat(g, gate.g), readMat(cb, gate.c), 1e-5); err != nil {
					t.Fatalf("weights in the other order: %v", err)
				}
				if v.gemv2 {
					if ref == nil {
						ref = got
					} else if !slices.Equal(got, ref) {
						t.Errorf("k_gemv2_swiglu with RB %d differs from RB %d (not bitwise equal)", v.rb, g.gemv2RB(c.K, 2))
					}
				}
			})
		}
	}
	big := newTwin(cb, g, pairRows+1, 64, 0, make([]float32, (pairRows+1)*64))
	w, _ := g.LoadWeight(dtype.BF16, 8, 64, make([]byte, 2*8*64))
	d := newTwin(cb, g, pairRows+1, 8, 0, make([]float32, (pairRows+1)*8))
	if g.MatMulSwiGLU(d.g, big.g, w, w) {
		t.Errorf("MatMulSwiGLU took %d rows", pairRows+1)
	}
}

// TestMLP checks k_mlp_mmb (Backend.MLP: the gate/up, a grid-wide barrier
// and the down product in one kernel, its K in parts added by
// k_splitk_sum): the hidden activations bit for bit against k_gemv_mmb's
// fused gate/up (the same code), the residual against the same MLP as
// separate operations and against the CPU, for 9–16 rows (and 5 with
// mmbAll: k_mlp_mmb_1), K of the down product in 1 to 3 parts, widths not
// multiples of 16 or 32; twice in a row (the barrier's words are reused);
// and that it declines what it does not take.
func TestMLP(t *testing.T) {
	g := gpu(t, false)
	if !g.mmbTakes(16) {
		t.Skip("k_mlp_mmb needs sm_90 and NVRTC 12")
	}
	cb := cpu.New()
	for _, c := range []struct {
		M, F, D int
		all     bool
	}{{16, 1000, 256, false}, {16, 4008, 200, false}, {13, 8000, 96, false}, {9, 256, 2816, false}, {5, 3000, 128, true}} {
		t.Run(fmt.Sprintf("%dx%dx%d", c.M, c.F, c.D), func(t *testing.T) {
			g.mmbAll = c.all
			defer func() { g.mmbAll = false }()
			r := rand.New(rand.NewPCG(9, uint64(c.F)))
			var wc, wg [3]kernels.Weight
			for i, shape := range [3][2]int{{c.F, c.D}, {c.F, c.D}, {c.D, c.F}} {
				raw := weightBytes(dtype.BF16, randn(r, shape[0]*shape[1], 0.05))
				wc[i], _ = cb.LoadWeight(dtype.BF16, shape[0], shape[1], raw)
				var err error
				if wg[i], err = g.LoadWeight(dtype.BF16, shape[0], shape[1], raw); err != nil {
					t.Fatal(err)
				}
			}
			hv, xv := randn(r, c.M*c.D, 1), randn(r, c.M*c.D, 1)
			h := newTwin(cb, g, c.M, c.D, 0, hv)
			hid := newTwin(cb, g, c.M, c.F, 0, make([]float32, c.M*c.F))
			// The same MLP as separate operations on the GPU.
			sep := newTwin(cb, g, c.M, c.D, 4, xv)
			if !g.MatMulSwiGLU(hid.g, h.g, wg[0], wg[1]) {
				t.Fatal("MatMulSwiGLU declined the gate/up")
			}
			wantHid := readMat(g, hid.g)
			g.MatMul(sep.g, hid.g, wg[2], true)
			// The CPU, from the activations rounded as the GPU rounds them.
			x := newTwin(cb, g, c.M, c.D, 4, xv)
			hc := newTwin(cb, g, c.M, c.D, 0, roundTo(dtype.BF16, hv)).c
			up := newTwin(cb, g, c.M, c.F, 0, make([]float32, c.M*c.F)).c
			cb.MatMul(hid.c, hc, wc[0], false)
			cb.MatMul(up, hc, wc[1], false)
			cb.SwiGLU(hid.c, hid.c, up)
			hr := newTwin(cb, g, c.M, c.F, 0, roundTo(dtype.BF16, readMat(cb, hid.c))).c
			cb.MatMul(x.c, hr, wc[2], true)
			want := readMat(cb, x.c)
			var first []float32
			for run := range 2 {
				x := newTwin(cb, g, c.M, c.D, 4, xv)
				if !g.MLP(x.g, h.g, hid.g, wg[0], wg[1], wg[2]) {
					t.Fatal("MLP declined")
				}
				got := readMat(g, x.g)
				if j := firstBitDiff(readMat(g, hid.g), wantHid); j >= 0 {
					t.Fatalf("run %d: hidden activation %d differs from k_gemv_mmb's", run, j)
				}
				if err := closeEnough(got, readMat(g, sep.g), 1e-5); err != nil {
					t.Fatalf("run %d: against separate operations: %v", run, err)
				}
				if err := closeEnough(got, want, 1e-3); err != nil {
					t.Fatalf("run %d: against the CPU: %v", run, err)
				}
				if run == 0 {
					first = got
				} else if j := firstBitDiff(got, first); j >= 0 {
					t.Fatalf("second run: output %d is %v, %v in the first", j, got[j], first[j])
				}
			}
		})
	}
	// What it declines: one row, a down product of another shape, the knob.
	w := func(rows, cols int) kernels.Weight {
		wt, err := g.LoadWeight(dtype.BF16, rows, cols, make([]byte, 2*rows*cols))
		if err != nil {
			t.Fatal(err)
		}
		return wt
	}
	gate, up, down := w(256, 128), w(256, 128), w(128, 256)
	for _, c := range []struct {
		name string
		M    int
		down kernels.Weight
		off  bool
	}{{"one row", 1, down, false}, {"down of another shape", 16, w(120, 256), false}, {"noMLP", 16, down, true}} {
		g.noMLP = c.off
		x := newTwin(cb, g, c.M, 128, 0, make([]float32, c.M*128))
		hid := newTwin(cb, g, c.M, 256, 0, make([]float32, c.M*256))
		if g.MLP(x.g, x.g, hid.g, gate, up, c.down) {
			t.Errorf("%s: MLP took it", c.name)
		}
	}
	g.noMLP = false
}

// TestScanDelta checks k_scan_dec_dtf (SelectiveScanDelta: dt_proj inside
// a decoding step's scan) against dt_proj as a product and the scan on the
// CPU over three steps, and that it declines what it does not take.
func TestScanDelta(t *testing.T) {
	modes(t, func(t *testing.T, g *Backend) {
		cb := cpu.New()
		const E, N, R = 203, 16, 24
		r := rand.New(rand.NewPCG(9, 9))
		lens := []int{1, 0, 1}
		type st struct{ c, g *kernels.MambaState }
		var states []st
		var sc, sg []*kernels.MambaState
		for range lens {
			ssm := randn(r, E*N, 1)
			mk := func(b kernels.Backend) *kernels.MambaState {
				s := &kernels.MambaState{Conv: b.Alloc(3 * E), SSM: b.Alloc(E * N)}
				b.Write(s.SSM, 0, ssm)
				return s
			}
			s := st{mk(cb), mk(g)}
			states = append(states, s)
			sc, sg = append(sc, s.c), append(sg, s.g)
		}
		aVals := scanDecay(r, E*N)
		A := newTwin(cb, g, E, N, 4, aVals)
		Dv := newTwin(cb, g, 1, E, 0, randn(r, E, 1))
		DB := newTwin(cb, g, 1, E, 0, randn(r, E, 0.5))
		raw := weightBytes(dtype.BF16, randn(r, E*R, 0.2))
		wc, _ := cb.LoadWeight(dtype.BF16, E, R, raw)
		wg, err := g.LoadWeight(dtype.BF16, E, R, raw)
		if err != nil {
			t.Fatal(err)
		}
		pc := kernels.ScanParams{A: A.c, D: Dv.c, DeltaBias: DB.c}
		pg := kernels.ScanParams{A: A.g, D: Dv.g, DeltaBias: DB.g}
		var seqs []kernels.Seq
		M := 0
		for _, n := range lens {
			seqs = append(seqs, kernels.Seq{Row: M, Len: n, Pos: 5})
			M += n
		}
		for step := range 3 {
			u := newTwin(cb, g, M, E, 1, randn(r, M*E, 1))
			z := newTwin(cb, g, M, E, 2, randn(r, M*E, 1))
			dbc := newTwin(cb, g, M, R+2*N, 0, randn(r, M*(R+2*N), 1)) // [δ | B | C] as the model has it
			delta := newTwin(cb, g, M, E, 0, make([]float32, M*E))
			y := newTwin(cb, g, M, E, 0, make([]float32, M*E))
			B, C := func(m kernels.Mat) kernels.Mat { return m.ColSlice(R, R+N) }, func(m kernels.Mat) kernels.Mat { return m.ColSlice(R+N, R+2*N) }
			cb.MatMul(delta.c, dbc.c.ColSlice(0, R), wc, false)
			cb.SelectiveScan(y.c, u.c, delta.c, B(dbc.c), C(dbc.c), z.c, pc, sc, seqs)
			took := g.SelectiveScanDelta(y.g, u.g, dbc.g.ColSlice(0, R), wg, B(dbc.g), C(dbc.g), z.g, pg, sg, seqs)
			if took != !g.fp32 {
				t.Fatalf("SelectiveScanDelta took the step: %v (fp32 mode %v)", took, g.fp32)
			}
			if !took {
				return
			}
			if err := closeEnough(readMat(g, y.g), readMat(cb, y.c), 1e-5); err != nil {
				t.Fatalf("step %d output: %v", step, err)
			}
			for i, s := range states {
				if err := closeEnough(readBuf(g, s.g.SSM), readBuf(cb, s.c.SSM), 1e-5); err != nil {
					t.Fatalf("step %d state %d: %v", step, i, err)
				}
			}
		}
		// Declined: a chunk longer than one row, R not a multiple of 8.
		long := []kernels.Seq{{Row: 0, Len: 2}}
		u := newTwin(cb, g, 2, E, 0, make([]float32, 2*E))
		dbc := newTwin(cb, g, 2, R+2*N, 0, make([]float32, 2*(R+2*N)))
		if g.SelectiveScanDelta(u.g, u.g, dbc.g.ColSlice(0, R), wg, dbc.g.ColSlice(R, R+N), dbc.g.ColSlice(R+N, R+2*N), kernels.Mat{}, pg, sg[:1], long) {
			t.Error("SelectiveScanDelta took a chunk of two rows")
		}
		w12, _ := g.LoadWeight(dtype.BF16, E, 12, make([]byte, 2*E*12))
		one := []kernels.Seq{{Row: 0, Len: 1}}
		if g.SelectiveScanDelta(u.g, u.g, dbc.g.ColSlice(0, 12), w12, dbc.g.ColSlice(R, R+N), dbc.g.ColSlice(R+N, R+2*N), kernels.Mat{}, pg, sg[:1], one) {
			t.Error("SelectiveScanDelta took R = 12")
		}
	})
}

func TestEmbed(t *testing.T) {
	modes(t, func(t *testing.T, g *Backend) {
		cb := cpu.New()
		for _, dt := range []dtype.DType{dtype.F32, dtype.BF16, dtype.F16} {
			for _, n := range []int{5, 100} {
				t.Run(fmt.Sprintf("%s_%d", dt, n), func(t *testing.T) {
					r := rand.New(rand.NewPCG(2, uint64(n)))
					const V, D = 50, 24
					raw := weightBytes(dt, randn(r, V*D, 1))
					wc, _ := cb.LoadWeight(dt, V, D, raw)
					wg, err := g.LoadWeight(dt, V, D, raw)
					if err != nil {
						t.Fatal(err)
					}
					ids := make([]int32, n)
					for i := range ids {
						ids[i] = int32(r.IntN(V))
					}
					d := newTwin(cb, g, n, D, 4, make([]float32, n*D))
					cb.Embed(d.c, wc, ids)
					g.Embed(d.g, wg, ids)
					if err := closeEnough(readMat(g, d.g), readMat(cb, d.c), 0); err != nil {
						t.Fatal(err)
					}
				})
			}
		}
	})
}

func TestElementwise(t *testing.T) {
	modes(t, func(t *testing.T, g *Backend) {
		cb := cpu.New()
		// k_rmsnorm_reg1k (or with rms256 k_rmsnorm_reg) takes up to 64
		// rows of up to 4096 values, k_rmsnorm the others.
		for _, sz := range []struct{ rows, cols int }{{1, 96}, {3, 1000}, {70, 300}, {2, 4096}, {3, 5000}, {64, 2816}, {65, 2816}, {1, 2816}, {-1, 2816}, {-2, 4096}} {
			rms256 := sz.rows < 0 // the same sizes on k_rmsnorm_reg
			if rms256 {
				sz.rows = -sz.rows
			}
			t.Run(fmt.Sprintf("%dx%d_rms256_%v", sz.rows, sz.cols, rms256), func(t *testing.T) {
				g.rms256 = rms256
				defer func() { g.rms256 = false }()
				r := rand.New(rand.NewPCG(3, uint64(sz.rows*sz.cols)))
				n := sz.rows * sz.cols
				x := newTwin(cb, g, sz.rows, sz.cols, 5, randn(r, n, 2))
				w := newTwin(cb, g, 1, sz.cols, 0, randn(r, sz.cols, 1))
				d := newTwin(cb, g, sz.rows, sz.cols, 3, make([]float32, n))
				cb.RMSNorm(d.c, x.c, w.c, 1e-5)
				g.RMSNorm(d.g, x.g, w.g, 1e-5)
				if err := closeEnough(readMat(g, d.g), readMat(cb, d.c), 2e-6); err != nil {
					t.Fatalf("RMSNorm: %v", err)
				}
				cb.Add(d.c, x.c)
				g.Add(d.g, x.g)
				if err := closeEnough(readMat(g, d.g), readMat(cb, d.c), 2e-6); err != nil {
					t.Fatalf("Add: %v", err)
				}
				up := newTwin(cb, g, sz.rows, sz.cols, 1, randn(r, n, 1))
				cb.SwiGLU(x.c, x.c, up.c) // dst aliases gate
				g.SwiGLU(x.g, x.g, up.g)
				if err := closeEnough(readMat(g, x.g), readMat(cb, x.c), 2e-6); err != nil {
					t.Fatalf("SwiGLU: %v", err)
				}
				if sz.cols%4 == 0 { // aligned rows: the four-wide kernel
					ga := newTwin(cb, g, sz.rows, sz.cols, 0, randn(r, n, 2))
					ua := newTwin(cb, g, sz.rows, sz.cols, 4, randn(r, n, 1))
					cb.SwiGLU(ga.c, ga.c, ua.c)
					g.SwiGLU(ga.g, ga.g, ua.g)
					if err := closeEnough(readMat(g, ga.g), readMat(cb, ga.c), 2e-6); err != nil {
						t.Fatalf("SwiGLU aligned: %v", err)
					}
				}
			})
		}
	})
}

// TestShadowReuse checks that a product reading a produced activation,
// directly or through a row or column view, sees the current values: the
// 16-bit shadow must be used only while it matches the buffer.
func TestShadowReuse(t *testing.T) {
	g := gpu(t, false)
	cb := cpu.New()
	r := rand.New(rand.NewPCG(4, 4))
	const M, K, N = 40, 64, 24
	raw := weightBytes(dtype.BF16, randn(r, N*K, 0.1))
	wc, _ := cb.LoadWeight(dtype.BF16, N, K, raw)
	wg, _ := g.LoadWeight(dtype.BF16, N, K, raw)
	x := newTwin(cb, g, M, 2*K, 0, randn(r, M*2*K, 1))
	w := newTwin(cb, g, 1, 2*K, 0, randn(r, 2*K, 1))
	h := newTwin(cb, g, M, 2*K, 0, make([]float32, M*2*K))
	d := newTwin(cb, g, M, N, 0, make([]float32, M*N))
	check := func(step string, hc, hg kernels.Mat) {
		t.Helper()
		xr := roundTo(dtype.BF16, readMat(cb, hc))
		ref := newTwin(cb, g, hc.Rows, hc.Cols, 0, xr).c
		dc, dg := d.c.RowSlice(0, hc.Rows), d.g.RowSlice(0, hg.Rows)
		cb.MatMul(dc, ref, wc, false)
		g.MatMul(dg, hg, wg, false)
		if err := closeEnough(readMat(g, dg), readMat(cb, dc), 1e-5); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	cb.RMSNorm(h.c, x.c, w.c, 1e-5)
	g.RMSNorm(h.g, x.g, w.g, 1e-5)
	check("shadow, right half", h.c.ColSlice(K, 2*K), h.g.ColSlice(K, 2*K))
	check("shadow, rows 8..20 left half", h.c.RowSlice(8, 20).ColSlice(0, K), h.g.RowSlice(8, 20).ColSlice(0, K))
	// Overwrite part of h: the shadow is stale and must not be used.
	upd := randn(r, 2*K, 3)
	cb.Write(h.c.Buf, h.c.Off, upd)
	g.Write(h.g.Buf, h.g.Off, upd)
	check("after Write", h.c.ColSlice(0, K), h.g.ColSlice(0, K))
}

// mambaCase is a batch of sequences for the Mamba operations: per call,
// the lengths of the sequences (0 skips one).
type mambaCase struct {
	name      string
	E, N      int
	K         int
	calls     [][]int
	scan16    string // scan variant for 16 states
	noScanDec bool   // decoding steps on the chunked scans
	bcOff     int    // column of B in the [M, 2N+8] matrix B and C come from (3 if 0)
}

var mambaCases = []mambaCase{
	{"stream one", 200, 16, 4, [][]int{{5}, {1}, {100}, {3}, {1}}, "", false, 0},
	{"batch", 72, 16, 4, [][]int{{1, 40, 130}, {1, 1, 1}, {64, 0, 65}}, "", false, 0},
	{"batch scan s4", 72, 16, 4, [][]int{{1, 40, 130}, {33, 1, 2}}, "s4", false, 0},
	{"batch scan p4", 72, 16, 4, [][]int{{1, 40, 130}, {33, 1, 2}}, "p4", false, 0},
	{"batch scan p8", 72, 16, 4, [][]int{{1, 40, 130}, {33, 1, 2}}, "p8", false, 0},
	{"batch scan p16", 72, 16, 4, [][]int{{1, 40, 130}, {33, 1, 2}}, "p16", false, 0},
	{"batch scan q8", 72, 16, 4, [][]int{{1, 40, 130}, {33, 1, 2}}, "q8", false, 0},
	{"batch scan q16", 72, 16, 4, [][]int{{1, 40, 130}, {33, 1, 2}}, "q16", false, 0},
	{"long scan q16", 20, 16, 4, [][]int{{100}, {70}}, "q16", false, 0},
	{"state8 width2", 40, 8, 2, [][]int{{3, 70}, {1, 2}}, "", false, 0},
	{"state12 generic", 36, 12, 3, [][]int{{10, 1}, {2, 33}}, "", false, 0},
	// decoding steps (k_scan_dec: every sequence at most one row, B and C
	// aligned) and the same on the chunked scan
	{"decode", 203, 16, 4, [][]int{{1, 1, 1, 1}, {1, 0, 1, 1}, {1, 1, 1, 1}}, "", false, 4},
	{"decode chunked", 203, 16, 4, [][]int{{1, 1, 1, 1}, {1, 0, 1, 1}}, "", true, 4},
	{"decode unaligned B", 64, 16, 4, [][]int{{1, 1}, {1, 1}}, "", false, 3},
}

// maxLen is the longest of seqs.
func maxLen(seqs []kernels.Seq) int {
	n := 0
	for _, s := range seqs {
		n = max(n, s.Len)
	}
	return n
}

func TestMamba(t *testing.T) {
	modes(t, func(t *testing.T, g *Backend) {
		cb := cpu.New()
		for _, mc := range mambaCases {
			t.Run(mc.name, func(t *testing.T) {
				g.scan16, g.noScanDec = mc.scan16, mc.noScanDec
				defer func() { g.scan16, g.noScanDec = "", false }()
				testMamba(t, cb, g, mc)
			})
		}
	})
}

func testMamba(t *testing.T, cb *cpu.Backend, g *Backend, mc mambaCase) {
	r := rand.New(rand.NewPCG(5, uint64(mc.E*mc.N)))
	E, N, K := mc.E, mc.N, mc.K
	nseq := len(mc.calls[0])
	type st struct{ c, g *kernels.MambaState }
	states := make([]st, nseq)
	for i := range states {
		conv, ssm := randn(r, (K-1)*E, 1), randn(r, E*N, 1)
		mk := func(b kernels.Backend) *kernels.MambaState {
			s := &kernels.MambaState{Conv: b.Alloc(max(1, (K-1)*E)), SSM: b.Alloc(E * N)}
			b.Write(s.Conv, 0, conv)
			b.Write(s.SSM, 0, ssm)
			return s
		}
		states[i] = st{mk(cb), mk(g)}
	}
	convW := newTwin(cb, g, E, K, 0, randn(r, E*K, 0.5))
	convB := newTwin(cb, g, 1, E, 0, randn(r, E, 0.1))
	aVals := scanDecay(r, E*N)
	A := newTwin(cb, g, E, N, 4, aVals) // padded rows, 16-byte aligned (k_scan_dec)
	Dv := newTwin(cb, g, 1, E, 0, randn(r, E, 1))
	dbias := make([]float32, E)
	for i := range dbias {
		dbias[i] = float32(-4 + 3*r.Float64())
	}
	DB := newTwin(cb, g, 1, E, 0, dbias)
	for ci, lens := range mc.calls {
		var seqs []kernels.Seq
		var sc, sg []*kernels.MambaState
		M := 0
		for i, n := range lens {
			seqs = append(seqs, kernels.Seq{Row: M, Len: n, Pos: 0})
			sc, sg = append(sc, states[i].c), append(sg, states[i].g)
			M += n
		}
		x := newTwin(cb, g, M, E, 3, randn(r, M*E, 1))
		u := newTwin(cb, g, M, E, 0, make([]float32, M*E))
		cb.MambaConv(u.c, x.c, convW.c, convB.c, sc, seqs)
		g.MambaConv(u.g, x.g, convW.g, convB.g, sg, seqs)
		if err := closeEnough(readMat(g, u.g), readMat(cb, u.c), 1e-6); err != nil {
			t.Fatalf("call %d MambaConv output: %v", ci, err)
		}
		for i := range states {
			if err := closeEnough(readBuf(g, states[i].g.Conv), readBuf(cb, states[i].c.Conv), 0); err != nil {
				t.Fatalf("call %d MambaConv state %d: %v", ci, i, err)
			}
		}
		delta := newTwin(cb, g, M, E, 1, randn(r, M*E, 1))
		o := mc.bcOff
		if o == 0 {
			o = 3
		}
		bc := newTwin(cb, g, M, 2*N+8, 0, randn(r, M*(2*N+8), 1)) // B at column o, C after it
		z := newTwin(cb, g, M, E, 2, randn(r, M*E, 1))
		y := newTwin(cb, g, M, E, 0, make([]float32, M*E))
		pc := kernels.ScanParams{A: A.c, D: Dv.c, DeltaBias: DB.c}
		pg := kernels.ScanParams{A: A.g, D: Dv.g, DeltaBias: DB.g}
		if dec := g.scanDec(bc.g.ColSlice(o, o+N), bc.g.ColSlice(o+N, o+2*N), A.g, N, seqs); dec != (N == 16 && !mc.noScanDec && o%4 == 0 && maxLen(seqs) <= 1) {
			t.Fatalf("call %d: scanDec = %v", ci, dec)
		}
		cb.SelectiveScan(y.c, u.c, delta.c, bc.c.ColSlice(o, o+N), bc.c.ColSlice(o+N, o+2*N), z.c, pc, sc, seqs)
		g.SelectiveScan(y.g, u.g, delta.g, bc.g.ColSlice(o, o+N), bc.g.ColSlice(o+N, o+2*N), z.g, pg, sg, seqs)
		if err := closeEnough(readMat(g, y.g), readMat(cb, y.c), 1e-5); err != nil {
			t.Fatalf("call %d SelectiveScan output: %v", ci, err)
		}
		for i := range states {
			if err := closeEnough(readBuf(g, states[i].g.SSM), readBuf(cb, states[i].c.SSM), 1e-5); err != nil {
				t.Fatalf("call %d SelectiveScan state %d: %v", ci, i, err)
			}
		}
	}
}

func TestRoPE(t *testing.T) {
	modes(t, func(t *testing.T, g *Backend) {
		cb := cpu.New()
		// k_rope takes one head per block for up to 64 rows (decoding),
		// else 16 heads at a time: 12 heads (Samba_3.8B's q|k) and 35 take
		// one and three rounds. The last two rows belong to no sequence
		// and stay.
		for _, rows := range []int{12, 100} {
			seqs := []kernels.Seq{{Row: 0, Len: 3, Pos: 0}, {Row: 3, Len: 5, Pos: 1_500_000}, {Row: 8, Len: rows - 10, Pos: 70_000}}
			for _, sh := range []struct{ heads, hd int }{{3, 64}, {1, 256}, {2, 6}, {12, 256}, {35, 32}} {
				t.Run(fmt.Sprintf("%drows_%dx%d", rows, sh.heads, sh.hd), func(t *testing.T) {
					r := rand.New(rand.NewPCG(6, uint64(sh.hd)))
					x := newTwin(cb, g, rows, sh.heads*sh.hd, 7, randn(r, rows*sh.heads*sh.hd, 1))
					cb.RoPE(x.c, sh.heads, sh.hd, 10000, seqs)
					g.RoPE(x.g, sh.heads, sh.hd, 10000, seqs)
					if err := closeEnough(readMat(g, x.g), readMat(cb, x.c), 1e-6); err != nil {
						t.Fatal(err)
					}
				})
			}
		}
	})
}

// attnCase is one Attention call: per sequence its chunk length and start
// position; caches hold random keys and values for earlier positions.
type attnCase struct {
	name        string
	H, G, hd, W int
	lens, pos   []int
	block       int  // attnBlock override
	warpSoftmax bool // k_softmax_warp instead of k_softmax
}

var attnCases = []attnCase{
	{"decode ring", 4, 1, 64, 16, []int{1}, []int{40}, 0, false},
	{"decode batch gqa", 8, 2, 32, 16, []int{1, 1, 1}, []int{0, 5, 100}, 0, false},
	{"prefill from zero", 4, 2, 64, 32, []int{100}, []int{0}, 0, false},
	{"prefill continuing", 4, 1, 128, 48, []int{150}, []int{70}, 0, false},
	{"short chunk continuing", 2, 2, 64, 20, []int{7}, []int{33}, 0, false},
	{"full attention", 4, 4, 64, 0, []int{90, 3}, []int{30, 200}, 0, false},
	{"mqa head 256 mixed", 3, 1, 256, 64, []int{80, 2}, []int{10, 500}, 0, false},
	{"many query blocks", 2, 1, 64, 100, []int{1300}, []int{250}, 256, false},
	{"window 1", 2, 1, 32, 1, []int{70, 1}, []int{3, 9}, 0, false},
	{"full attention long context", 2, 1, 64, 0, []int{70}, []int{5000}, 0, false},
	// long windows split each query's keys over several blocks
	{"decode split keys", 2, 1, 64, 1000, []int{1, 1, 1}, []int{1500, 20, 1}, 0, false},
	{"short chunk split keys", 4, 2, 128, 700, []int{7, 3}, []int{2000, 0}, 0, false},
	{"decode split full attention", 3, 3, 64, 0, []int{1}, []int{900}, 0, false},
	{"prefill continuing, warp softmax", 4, 1, 128, 48, []int{150}, []int{70}, 0, true},
	{"many query blocks, warp softmax", 2, 1, 64, 100, []int{1300}, []int{250}, 256, true},
	{"full attention long context, warp softmax", 2, 1, 64, 0, []int{70}, []int{5000}, 0, true},
	// more query heads per key/value head than k_attn_grp takes
	{"decode 20 heads per group", 20, 1, 32, 50, []int{1, 2}, []int{70, 3}, 0, false},
	{"flash gqa 128", 6, 2, 128, 300, []int{200}, []int{1000}, 0, false},
	{"flash mqa 256 11 heads", 11, 1, 256, 128, []int{150, 1}, []int{300, 40}, 0, false},
	{"long head 32", 2, 1, 32, 64, []int{100}, []int{10}, 0, false},
	// decoding steps (every chunk of length 1, k_attn_dec unless a variant
	// says otherwise): positions below and above the window (the ring
	// wraps), 1 to 16 query heads per key/value head, many sequences
	{"decode 17 sequences mqa 11 heads of 256", 11, 1, 256, 100, ones(17), decodePos, 0, false},
	{"decode 17 sequences gqa 64", 8, 2, 64, 70, ones(17), decodePos, 0, false},
	{"decode 3 sequences 1 head per group 256", 2, 2, 256, 40, ones(3), []int{3, 39, 500}, 0, false},
	{"decode 11 heads of 64", 11, 1, 64, 50, ones(3), []int{0, 49, 777}, 0, false},
	{"decode window 2048 11 heads of 256", 11, 1, 256, 2048, ones(1), []int{3000}, 0, false},
	{"decode 16 heads per group 256", 16, 1, 256, 64, ones(2), []int{10, 200}, 0, false},
	{"decode head 36", 6, 2, 36, 30, ones(3), []int{2, 29, 77}, 0, false},
	{"decode full attention small cache", 4, 1, 64, 0, ones(3), []int{0, 37, 300}, 0, false},
	{"decode full attention 11 heads of 256", 11, 1, 256, 0, ones(2), []int{5, 1100}, 0, false},
}

// decodePos are positions of 17 decoding sequences, below, at and above
// the windows of the decoding cases.
var decodePos = []int{0, 1, 5, 39, 50, 68, 69, 70, 99, 100, 101, 150, 333, 1000, 4096, 12345, 99999}

// ones is n chunk lengths of 1.
func ones(n int) []int {
	l := make([]int, n)
	for i := range l {
		l[i] = 1
	}
	return l
}

// attnVariant selects the attention kernels of one run of the cases.
type attnVariant struct {
	name                    string
	grp, noFlash, flashBN64 bool
	noDec                   bool // k_attn for decoding steps
	decKeys                 int  // k_attn_dec's keys per block (0: its choice)
	noDecStore              bool // k_kv_store stores the keys of a decoding step, not k_attn_dec
	decTiles                int  // k_attn_dec's tiles per block (0: its choice)
	decBufs                 int  // k_attn_decm's tile buffers (0: its choice)
	noDecMMA                bool // k_attn_dec's float32 products, not k_attn_decm's bf16 ones
	f32KV                   bool // float32 key/value caches in bf16 mode
	decWarps                int  // k_attn_decp for every decoding step (> 0) or none (< 0)
	decLate                 bool // k_attn_decp copies its first tiles after loading the queries
}

var attnVariants = []attnVariant{
	{name: "default"},
	{name: "k_attn_grp, cuBLAS", grp: true, noFlash: true},
	{name: "flash 64-key tiles", flashBN64: true},
	{name: "k_attn for decoding", noDec: true},
	{name: "k_attn_dec 16 keys", decKeys: 16},
	{name: "k_attn_dec 32 keys", decKeys: 32},
	{name: "k_attn_dec, k_kv_store", noDecStore: true},
	{name: "k_attn_dec one tile per block", decTiles: 1},
	{name: "k_attn_dec 2 tiles of 16 keys", decKeys: 16, decTiles: 2},
	{name: "k_attn_dec 8 tiles, k_kv_store", decTiles: 8, noDecStore: true},
	{name: "k_attn_decm 8 tiles, 3 buffers", decTiles: 8, decBufs: 3},
	{name: "k_attn_decm 8 tiles, 2 buffers", decTiles: 8, decBufs: 2},
	{name: "k_attn_decm, no k_attn_decp", decWarps: -1},
	{name: "k_attn_decp", decWarps: 1},
	{name: "k_attn_decp, k_kv_store", decWarps: 1, noDecStore: true},
	{name: "k_attn_decp, first tiles after the queries", decWarps: 1, decLate: true},
	{name: "k_attn_decp, float32 caches", decWarps: 1, f32KV: true},
	{name: "k_attn_dec float32 products", noDecMMA: true},
	{name: "k_attn_dec float32 products, 8 tiles", noDecMMA: true, decTiles: 8},
	{name: "float32 caches", f32KV: true},
	{name: "k_attn_grp, cuBLAS, float32 caches", grp: true, noFlash: true, f32KV: true},
	{name: "k_attn_dec float32 products, float32 caches", noDecMMA: true, f32KV: true},
}

// useAttnKnobs sets g's knobs for variant av and case ac and returns what
// resets them.
func useAttnKnobs(g *Backend, av attnVariant, ac attnCase) (reset func()) {
	g.attnBlock, g.softmaxWarp = ac.block, ac.warpSoftmax
	g.attnGrp, g.noFlash, g.flashBN64 = av.grp, av.noFlash, av.flashBN64
	g.noAttnDec, g.attnDecKeys, g.noDecStore, g.attnDecTiles = av.noDec, av.decKeys, av.noDecStore, av.decTiles
	g.noDecMMA, g.f32KV, g.decBufs, g.decWarps, g.decLate = av.noDecMMA, av.f32KV, av.decBufs, av.decWarps, av.decLate
	return func() {
		g.attnBlock, g.softmaxWarp = 0, false
		g.attnGrp, g.noFlash, g.flashBN64 = false, false, false
		g.noAttnDec, g.attnDecKeys, g.noDecStore, g.attnDecTiles = false, 0, false, 0
		g.noDecMMA, g.f32KV, g.decBufs, g.decWarps, g.decLate = false, false, 0, 0, false
	}
}

func TestAttention(t *testing.T) {
	modes(t, func(t *testing.T, g *Backend) {
		cb := cpu.New()
		for _, av := range attnVariants {
			if g.fp32 && (av.flashBN64 || av.f32KV) {
				continue // no flash attention in fp32 mode, and float32 caches always
			}
			t.Run(av.name, func(t *testing.T) {
				for _, ac := range attnCases {
					t.Run(ac.name, func(t *testing.T) {
						defer useAttnKnobs(g, av, ac)()
						testAttention(t, cb, g, ac)
					})
				}
			})
		}
	})
}

// attnCaches returns, per sequence of ac, its cache's capacity and random
// keys and values for it, rounded to bf16 when kv16 (so that float32 and
// bf16 caches hold the same values).
func attnCaches(r *rand.Rand, ac attnCase, kv16 bool) (caps []int, keys, values [][]float32) {
	kvDim := ac.G * ac.hd
	for i, n := range ac.lens {
		capacity := ac.W - 1
		if ac.W == 0 {
			capacity = ac.pos[i] + n + 5
		}
		kv, vv := randn(r, max(capacity, 1)*kvDim, 1), randn(r, max(capacity, 1)*kvDim, 1)
		if kv16 {
			kv, vv = roundTo(dtype.BF16, kv), roundTo(dtype.BF16, vv)
		}
		caps, keys, values = append(caps, capacity), append(keys, kv), append(values, vv)
	}
	return caps, keys, values
}

// newCache makes a cache of capacity positions of dim elements on b
// holding keys kv and values vv: float32 buffers from Alloc, or from
// AllocKV where b has it (the GPU: its mode's caches).
func newCache(b kernels.Backend, capacity, dim int, kv, vv []float32) *kernels.KVCache {
	alloc := func() kernels.Buffer { return b.Alloc(max(capacity, 1) * dim) }
	if a, ok := b.(kernels.KVCacheAllocator); ok {
		alloc = func() kernels.Buffer { return a.AllocKV(max(capacity, 1), dim) }
	}
	c := &kernels.KVCache{K: alloc(), V: alloc(), Cap: capacity}
	b.Write(c.K, 0, kv)
	b.Write(c.V, 0, vv)
	return c
}

// testAttention compares one Attention call on the GPU with the CPU's. With
// bf16 caches both start from the same (bf16) keys and values, and the GPU's
// caches after the call must be the CPU's rounded to bf16.
func testAttention(t *testing.T, cb *cpu.Backend, g *Backend, ac attnCase) {
	r := rand.New(rand.NewPCG(7, uint64(ac.H*1000+ac.hd+ac.W)))
	kvDim := ac.G * ac.hd
	kv16 := g.KVBytes() == 2
	var seqs []kernels.Seq
	var cc, cg []*kernels.KVCache
	M, long := 0, false
	caps, keys, values := attnCaches(r, ac, kv16)
	for i, n := range ac.lens {
		seqs = append(seqs, kernels.Seq{Row: M, Len: n, Pos: ac.pos[i]})
		M += n
		if n > simtMaxLen {
			long = true
		}
		cc = append(cc, newCache(cb, caps[i], kvDim, keys[i], values[i]))
		cg = append(cg, newCache(g, caps[i], kvDim, keys[i], values[i]))
	}
	qkvCols := (ac.H + 2*ac.G) * ac.hd
	data := randn(r, M*qkvCols, 1)
	qkv := newTwin(cb, g, M, qkvCols, 0, data)
	split := func(m kernels.Mat) (q, k, v kernels.Mat) {
		H, G, hd := ac.H, ac.G, ac.hd
		return m.ColSlice(0, H*hd), m.ColSlice(H*hd, (H+G)*hd), m.ColSlice((H+G)*hd, (H+2*G)*hd)
	}
	qc, kc, vc := split(qkv.c)
	qg, kg, vg := split(qkv.g)
	d := newTwin(cb, g, M, ac.H*ac.hd, 2, make([]float32, M*ac.H*ac.hd))
	sh := kernels.AttnShape{NHead: ac.H, NKV: ac.G, HeadDim: ac.hd, Window: ac.W, Scale: float32(1 / math.Sqrt(float64(ac.hd)))}
	var ran []string
	g.onLaunch = func(name string) { ran = append(ran, name) }
	g.Attention(d.g, qg, kg, vg, sh, cg, seqs)
	g.onLaunch = nil
	if ownKV16(ran) {
		qc, kc, vc = split(newTwin(cb, g, M, qkvCols, 0, roundKV(data, ac)).c)
	}
	cb.Attention(d.c, qc, kc, vc, sh, cc, seqs)
	tol := 2e-5
	if long && !g.fp32 {
		tol = 3e-2 // the cuBLAS path multiplies in bf16
	}
	decode := maxLen(seqs) == 1
	if decode && !g.fp32 && !g.noDecMMA && !g.noAttnDec && !g.attnGrp && (ac.hd == 64 || ac.hd == 128 || ac.hd == 256) && ac.H/ac.G <= 16 {
		tol = 2e-2 // k_attn_decm multiplies in bf16
	}
	if err := closeEnough(readMat(g, d.g), readMat(cb, d.c), tol); err != nil {
		t.Fatalf("output: %v", err)
	}
	cacheDT := dtype.F32
	if kv16 {
		cacheDT = dtype.BF16
	}
	for i := range cc {
		if err := closeEnough(readBuf(g, cg[i].K), roundTo(cacheDT, readBuf(cb, cc[i].K)), 0); err != nil {
			t.Fatalf("key cache %d: %v", i, err)
		}
		if err := closeEnough(readBuf(g, cg[i].V), roundTo(cacheDT, readBuf(cb, cc[i].V)), 0); err != nil {
			t.Fatalf("value cache %d: %v", i, err)
		}
	}
}

// ownKV16 reports whether the kernels named ran include a decoding kernel
// over bf16 caches (k_attn_dec_kv16, k_attn_decm<hd>_kv16): those attend to
// the step's own key and value rounded to bf16, as the cache then holds
// them (k_attn_decm rounds every key and value for its bf16 products
// anyway; k_attn_dec's float32 products see the difference).
func ownKV16(ran []string) bool {
	return slices.ContainsFunc(ran, func(n string) bool { return strings.HasPrefix(n, "k_attn_dec") && strings.HasSuffix(n, "_kv16") })
}

// roundKV returns rows of q|k|v (ac's shape) with the keys and values
// rounded to bf16: the inputs as ownKV16's kernels take them.
func roundKV(qkv []float32, ac attnCase) []float32 {
	cols, q := (ac.H+2*ac.G)*ac.hd, ac.H*ac.hd
	out := slices.Clone(qkv)
	for i := 0; i+cols <= len(out); i += cols {
		copy(out[i+q:i+cols], roundTo(dtype.BF16, out[i+q:i+cols]))
	}
	return out
}

// TestAttentionKV16 runs the attention cases in bf16 mode with every
// variant's kernels over bf16 caches and over float32 ones (f32KV) holding
// the same values (random, rounded to bf16). Every reader then sees the
// same numbers from either (the float32 run takes the step's own keys and
// values rounded where the bf16 run's decoding kernel rounds them, see
// ownKV16), so the outputs must agree bit for bit wherever the same
// kernels run (k_attn_dec_kv16 wants head sizes that are
// multiples of 8, k_attn takes the others: there within float32
// rounding), and the caches after the call too once the float32 ones are
// rounded to bf16: a wrong conversion, stride or offset in a reader or
// writer of 16-bit caches fails here exactly. The decoding kernels must be
// the _kv16 ones for bf16 caches and only for them.
func TestAttentionKV16(t *testing.T) {
	g := gpu(t, false)
	for _, av := range attnVariants {
		if av.f32KV {
			continue // the test sets f32KV itself
		}
		t.Run(av.name, func(t *testing.T) {
			for _, ac := range attnCases {
				t.Run(ac.name, func(t *testing.T) {
					defer useAttnKnobs(g, av, ac)()
					testAttentionKV16(t, g, ac)
				})
			}
		})
	}
}

func testAttentionKV16(t *testing.T, g *Backend, ac attnCase) {
	r := rand.New(rand.NewPCG(7, uint64(ac.H*1000+ac.hd+ac.W)))
	kvDim := ac.G * ac.hd
	caps, keys, values := attnCaches(r, ac, true)
	var seqs []kernels.Seq
	M := 0
	for i, n := range ac.lens {
		seqs = append(seqs, kernels.Seq{Row: M, Len: n, Pos: ac.pos[i]})
		M += n
	}
	qkvCols := (ac.H + 2*ac.G) * ac.hd
	qkv := g.Alloc(M * qkvCols)
	defer g.Free(qkv)
	data := randn(r, M*qkvCols, 1)
	g.Write(qkv, 0, data)
	m := kernels.NewMat(qkv, M, qkvCols)
	q, k, v := m.ColSlice(0, ac.H*ac.hd), m.ColSlice(ac.H*ac.hd, (ac.H+ac.G)*ac.hd), m.ColSlice((ac.H+ac.G)*ac.hd, qkvCols)
	sh := kernels.AttnShape{NHead: ac.H, NKV: ac.G, HeadDim: ac.hd, Window: ac.W, Scale: float32(1 / math.Sqrt(float64(ac.hd)))}
	// attend runs the call over fresh caches of the kind f32KV selects and
	// returns the output, the caches' contents and the kernels launched.
	attend := func(f32KV bool) (out []float32, caches [][]float32, names []string) {
		g.f32KV = f32KV
		defer func() { g.f32KV = false }()
		var cs []*kernels.KVCache
		for i := range seqs {
			cs = append(cs, newCache(g, caps[i], kvDim, keys[i], values[i]))
		}
		dst := g.Alloc(M * ac.H * ac.hd)
		g.onLaunch = func(name string) { names = append(names, name) }
		g.Attention(kernels.NewMat(dst, M, ac.H*ac.hd), q, k, v, sh, cs, seqs)
		g.onLaunch = nil
		out = readBuf(g, dst)
		g.Free(dst)
		for _, c := range cs {
			caches = append(caches, roundTo(dtype.BF16, readBuf(g, c.K)), roundTo(dtype.BF16, readBuf(g, c.V)))
			g.Free(c.K)
			g.Free(c.V)
		}
		return out, caches, names
	}
	o16, c16, n16 := attend(false)
	if ownKV16(n16) {
		g.Write(qkv, 0, roundKV(data, ac)) // the inputs as the _kv16 decoding kernels take them
	}
	o32, c32, n32 := attend(true)
	for _, n := range n16 {
		if strings.HasPrefix(n, "k_attn_dec") && !strings.HasSuffix(n, "_kv16") {
			t.Errorf("bf16 caches read by %s", n)
		}
	}
	for _, n := range n32 {
		if strings.HasSuffix(n, "_kv16") {
			t.Errorf("float32 caches read by %s", n)
		}
	}
	for i := range c16 {
		if j := firstBitDiff(c16[i], c32[i]); j >= 0 {
			t.Fatalf("cache buffer %d (keys, values of each sequence) element %d: %v with bf16 caches, %v with float32 ones rounded", i, j, c16[i][j], c32[i][j])
		}
	}
	same := len(n16) == len(n32)
	for i := 0; same && i < len(n16); i++ {
		same = strings.TrimSuffix(n16[i], "_kv16") == n32[i]
	}
	if !same {
		t.Logf("other kernels for float32 caches: %v, for bf16: %v", n32, n16)
		if err := closeEnough(o16, o32, 2e-5); err != nil {
			t.Fatalf("output: %v", err)
		}
		return
	}
	if j := firstBitDiff(o16, o32); j >= 0 {
		t.Fatalf("output element %d: %v with bf16 caches, %v with float32 ones (kernels %v)", j, o16[j], o32[j], n16)
	}
}

// firstBitDiff is the first index where a and b (of one length) differ in
// their bits, -1 if none.
func firstBitDiff(a, b []float32) int {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}

func TestLogProbs(t *testing.T) {
	g := gpu(t, false)
	cb := cpu.New()
	r := rand.New(rand.NewPCG(8, 8))
	const M, V = 70, 1000
	vals := randn(r, M*V, 3)
	for i := 0; i < M; i += 7 { // ties: the lowest index must win
		vals[i*V+10], vals[i*V+500] = 50, 50
	}
	targets := make([]int32, M)
	for i := range targets {
		targets[i] = int32(r.IntN(V))
	}
	targets[3], targets[14] = -1, 10
	l := newTwin(cb, g, M, V, 24, vals)
	want, got := make([]kernels.TokenScore, M), make([]kernels.TokenScore, M)
	cb.LogProbs(want, l.c, targets)
	g.LogProbs(got, l.g, targets)
	for i := range want {
		if got[i].Argmax != want[i].Argmax || got[i].Greedy != want[i].Greedy || math.Abs(float64(got[i].LogProb-want[i].LogProb)) > 1e-5 {
			t.Errorf("row %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

// TestGemv2RB checks gemv2RB's choice at the Samba_3.8B decoding shapes
// (no GPU needed) and that every rows per block has its kernels loaded.
func TestGemv2RB(t *testing.T) {
	var b Backend
	for _, c := range []struct{ k, nw, want, old int }{
		{2816, 1, 4, 4}, {5632, 1, 4, 2}, {9984, 1, 4, 2}, {2816, 2, 2, 2}, {176, 1, 8, 8}, {1024, 1, 8, 8}, {8, 2, 8, 8},
		{20480, 1, 4, 1}, {20480, 2, 2, 1},
	} {
		b.oldRB = false
		if got := b.gemv2RB(c.k, c.nw); got != c.want {
			t.Errorf("gemv2RB(%d, %d) = %d, want %d", c.k, c.nw, got, c.want)
		}
		b.oldRB = true
		if got := b.gemv2RB(c.k, c.nw); got != c.old {
			t.Errorf("gemv2RB(%d, %d) with oldRB = %d, want %d", c.k, c.nw, got, c.old)
		}
	}
	b.oldRB = false
	for rb, names := range gemv2Kernels {
		b.gemvRB = rb
		if got := b.gemv2RB(2816, 1); got != rb {
			t.Errorf("forced RB %d: got %d", rb, got)
		}
		for _, n := range names {
			if !slices.Contains(kernelNames, n) {
				t.Errorf("%s is not in kernelNames", n)
			}
		}
	}
}

// TestMMBFits checks which decoding products k_gemv_mmb takes (no GPU
// needed): the gate/up, single weights with mmbSingle, K up to mmbWarps ·
// mmbXS steps; and its launch for Samba_3.8B's gate/up on an H200.
func TestMMBFits(t *testing.T) {
	b := Backend{sms: 132, smemMax: 227 << 10}
	for _, c := range []struct {
		K             int
		fused, single bool
		want          bool
	}{
		{2816, true, false, true}, {2816, false, false, false}, {2816, false, true, true},
		{3072, true, false, true}, {3104, true, false, false}, {5632, false, true, false},
	} {
		b.mmbSingle = c.single
		if got := b.mmbFits(&Weight{rows: 9984, cols: c.K, dt: dtype.BF16}, c.fused); got != c.want {
			t.Errorf("mmbFits(K %d, fused %v, mmbSingle %v) = %v, want %v", c.K, c.fused, c.single, got, c.want)
		}
	}
	c, ok := b.mmbPlan(2, &Weight{rows: 9984, cols: 2816, dt: dtype.BF16}, true, 1, 2)
	if !ok || c.grid[0] != 132 || c.ks != 1 || c.warps != 16 || c.name != "k_gemv_mmb_swiglu_2" || c.ns != 2 || c.shmem != 2*16*2*2*1024 {
		t.Errorf("mmbPlan(16 rows of the gate/up) = %+v, %v; want 132 blocks of 16 warps, k_gemv_mmb_swiglu_2, 2 stages of 64 KB", c, ok)
	}
	if c, _ := b.mmbPlan(1, &Weight{rows: 40, cols: 64, dt: dtype.BF16}, false, 1, 0); c.grid[0] != 3 || c.name != "k_gemv_mmb_1" {
		t.Errorf("mmbPlan(8 rows of 40×64) = %+v; want 3 blocks (one per band), k_gemv_mmb_1", c)
	}
	// k_mlp_mmb on Samba_3.8B's MLP: the down product's K of 9984 (312
	// steps) in 3 parts of 104, 6–7 steps per warp; 2 stages of 64 KB.
	if parts, ns, shmem, ok := b.mlpPlan(9984); !ok || parts != 3 || ns != 2 || shmem != 2*16*4*1024 {
		t.Errorf("mlpPlan(9984) = %d parts, %d stages, %d bytes, %v; want 3, 2, 128 KB, true", parts, ns, shmem, ok)
	}
	if parts, _, _, _ := b.mlpPlan(256); parts != 1 {
		t.Errorf("mlpPlan(256) = %d parts, want 1", parts)
	}
	for _, n := range []string{"k_gemv_mmb_1", "k_gemv_mmb_2", "k_gemv_mmb_swiglu_1", "k_gemv_mmb_swiglu_2", "k_mlp_mmb_1", "k_mlp_mmb_2"} {
		if !slices.Contains(kernelNames, n) {
			t.Errorf("%s is not in kernelNames", n)
		}
	}
}

// TestMMATakes checks which Samba_3.8B decoding products k_gemv_mma
// takes (no GPU needed) and that its kernels are loaded.
func TestMMATakes(t *testing.T) {
	var b Backend
	for _, c := range []struct {
		M, N, K int
		want    bool
	}{
		{1, 2816, 2816, false}, {2, 2816, 2816, true}, {8, 32064, 2816, true}, {9, 32064, 2816, false},
		{16, 2816, 5632, true}, {16, 9984, 2816, false}, {16, 208, 5632, true}, {17, 208, 5632, false}, {4, 100, 180, false},
	} {
		w := &Weight{rows: c.N, cols: c.K, dt: dtype.BF16}
		if got := b.mmaTakes(kernels.Mat{Rows: c.M, Cols: c.K}, w, false); got != c.want {
			t.Errorf("mmaTakes(%d rows, %d×%d) = %v, want %v", c.M, c.N, c.K, got, c.want)
		}
	}
	b.mmaAll = true
	if !b.mmaTakes(kernels.Mat{Rows: 16, Cols: 2816}, &Weight{rows: 9984, cols: 2816, dt: dtype.BF16}, false) {
		t.Error("mmaAll: 16 rows of 9984×2816 not taken")
	}
	// K is split for 2 blocks per multiprocessor at ≤ 8 rows, and above 8
	// rows where the blocks would leave more than half of an H200's 132
	// multiprocessors idle; with at least 8 steps per part.
	b.sms = 132
	for _, c := range []struct{ M, N, K, want int }{
		{16, 208, 5632, 8}, {16, 2816, 2816, 1}, {16, 5632, 176, 1}, {16, 208, 512, 2}, {16, 64, 256, 1},
		{16, 1000, 5632, 2}, {16, 1056, 5632, 2}, {16, 1100, 5632, 1},
		{8, 2816, 2816, 2}, {2, 2816, 9984, 2}, {4, 11264, 2816, 1}, {8, 208, 5632, 8}, {8, 5632, 176, 1},
	} {
		if got := b.mmaSplit(c.M, (c.N+15)/16, c.K); got != c.want {
			t.Errorf("mmaSplit(%d rows, %d×%d) = %d, want %d", c.M, c.N, c.K, got, c.want)
		}
	}
	b.splitFill = -1
	if got := b.mmaSplit(8, 176, 2816); got != 1 {
		t.Errorf("splitFill -1: mmaSplit(8 rows, 2816×2816) = %d, want 1", got)
	}
	b.splitFill = 0
	b.noSplitK = true
	if got := b.mmaSplit(16, 13, 5632); got != 1 {
		t.Errorf("noSplitK: mmaSplit(208×5632) = %d, want 1", got)
	}
	for _, byMT := range mmaKernels {
		for _, n := range byMT {
			if !slices.Contains(kernelNames, n) {
				t.Errorf("%s is not in kernelNames", n)
			}
		}
	}
}
