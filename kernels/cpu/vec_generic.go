package cpu

import (
	"math"
	"unsafe"
)

// Portable versions of the vector kernels. Each computes the same formula
// as its assembly twin in vec_amd64.s, lane for lane, except that the
// assembly fuses multiply-adds where these round the product first.

func init() {
	k := genericKernels
	k.exp = expSliceGo
	k.swiglu = swigluGo
	k.sumSquares = sumSquaresGo
	k.scaleMul = scaleMulGo
	k.add = addGo
	k.max = maxGo
	k.sumExp = sumExpGo
	k.convSiLU = convSiLUGo
	k.scan = scanGo
	k.softmaxRow = softmaxRowGo
}

// Constants of expGo, bit for bit those of vec_amd64.s.
var (
	expHi   = math.Float32frombits(0x42b20000) // 89
	expLo   = math.Float32frombits(0xc2d00000) // -104
	log2e   = math.Float32frombits(0x3fb8aa3b)
	ln2hi   = math.Float32frombits(0x3f318000)
	ln2lo   = math.Float32frombits(0xb95e8083)
	expPoly = [...]float32{ // 1/7!, 1/6!, …, 1/1!, 1/0!
		math.Float32frombits(0x39500d01), math.Float32frombits(0x3ab60b61),
		math.Float32frombits(0x3c088889), math.Float32frombits(0x3d2aaaab),
		math.Float32frombits(0x3e2aaaab), math.Float32frombits(0x3f000000),
		1, 1,
	}
	atanhPoly = [...]float32{ // 1/13, 1/11, …, 1/3, 1
		math.Float32frombits(0x3d9d89d9), math.Float32frombits(0x3dba2e8c),
		math.Float32frombits(0x3de38e39), math.Float32frombits(0x3e124925),
		math.Float32frombits(0x3e4ccccd), math.Float32frombits(0x3eaaaaab),
		1,
	}
)

// expGo is a float32 exp accurate to about one ulp: x is clamped to
// [-104, 89] (NaN stays NaN), written as n·ln2 + r with n = round(x·log2 e)
// and |r| ≤ ln2/2 (ln 2 in two parts, so r is nearly exact), exp(r) is
// the Taylor polynomial of degree 7 (truncation error below 10⁻⁸), and
// 2^n is applied as 2^(n>>1)·2^(n-(n>>1)), so that results beyond the
// float32 range overflow to +Inf or round to subnormals and 0 correctly.
func expGo(x float32) float32 {
	if x > expHi {
		x = expHi
	} else if x < expLo {
		x = expLo
	}
	n := float32(math.RoundToEven(float64(x * log2e)))
	r := x - float32(n*ln2hi)
	r -= float32(n * ln2lo)
	p := expPoly[0]
	for _, c := range expPoly[1:] {
		p = float32(p*r) + c
	}
	ni := int32(n)
	n1 := ni >> 1
	n2 := ni - n1
	s1 := math.Float32frombits(uint32(n1+127) << 23)
	s2 := math.Float32frombits(uint32(n2+127) << 23)
	return float32(p*s1) * s2
}

// siluGo is x / (1 + exp(-x)).
func siluGo(x float32) float32 { return x / (1 + expGo(-x)) }

// softplusGo is log(1 + eˣ) computed as max(x, 0) + log1p(y) with
// y = exp(-|x|) ≤ 1 and log1p(y) = 2·atanh(s) = 2s·(1 + s²/3 + s⁴/5 + …),
// s = y/(2+y) ≤ 1/3, summed to s¹² (relative error below 2·10⁻⁸ before
// rounding). For x > 20 this rounds to x, PyTorch's threshold.
func softplusGo(x float32) float32 {
	m := max(x, 0)
	y := expGo(-float32(math.Abs(float64(x))))
	s := y / (2 + y)
	w := s * s
	q := atanhPoly[0]
	for _, c := range atanhPoly[1:] {
		q = float32(q*w) + c
	}
	return float32((s+s)*q) + m
}

// expSliceGo sets dst[i] = exp(src[i]).
func expSliceGo(dst, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = expGo(v)
	}
}

// swigluGo sets dst[i] = SiLU(g[i])·u[i].
func swigluGo(dst, g, u []float32) {
	dst, u = dst[:len(g)], u[:len(g)]
	for i, v := range g {
		dst[i] = siluGo(v) * u[i]
	}
}

// hsum8 adds eight lanes in the fixed order of the assembly's HSUM8.
func hsum8(l *[8]float32) float32 {
	return ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]))
}

// sumSquaresGo returns Σ x[i]² in float32: four 8-lane accumulators over
// blocks of 32, then single 8-element blocks and a last partial block into
// the first accumulator, combined as (a0+a1)+(a2+a3) lane-wise and reduced
// by hsum8. The order depends only on len(x).
func sumSquaresGo(x []float32) float32 {
	var acc [4][8]float32
	i := 0
	for ; i+32 <= len(x); i += 32 {
		for a := range acc {
			for l := range 8 {
				v := x[i+8*a+l]
				acc[a][l] += float32(v * v)
			}
		}
	}
	for ; i < len(x); i += 8 {
		for l := 0; l < 8 && i+l < len(x); l++ {
			v := x[i+l]
			acc[0][l] += float32(v * v)
		}
	}
	var s [8]float32
	for l := range s {
		s[l] = (acc[0][l] + acc[1][l]) + (acc[2][l] + acc[3][l])
	}
	return hsum8(&s)
}

// scaleMulGo sets dst[i] = (x[i]·s)·w[i].
func scaleMulGo(dst, x, w []float32, s float32) {
	dst, w = dst[:len(x)], w[:len(x)]
	for i, v := range x {
		dst[i] = float32(v*s) * w[i]
	}
}

// addGo sets dst[i] += x[i].
func addGo(dst, x []float32) {
	dst = dst[:len(x)]
	for i, v := range x {
		dst[i] += v
	}
}

// maxGo returns the largest element of x (len(x) ≥ 1).
func maxGo(x []float32) float32 {
	m := x[0]
	for _, v := range x[1:] {
		m = max(m, v)
	}
	return m
}

// sumExpGo returns Σ exp(x[i] - m) with the terms computed in float32 and
// added in float64, eight lanes at a time.
func sumExpGo(x []float32, m float32) float64 {
	var acc [8]float64
	for i := 0; i < len(x); i += 8 {
		for l := 0; l < 8 && i+l < len(x); l++ {
			acc[l] += float64(expGo(x[i+l] - m))
		}
	}
	return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))
}

// convSiLUGo sets dst[e] = SiLU(bias[e] + Σₖ w[k·n+e]·xₖ[e]) for the four
// taps x0 (oldest) … x3 (current), n = len(dst).
func convSiLUGo(dst, x0, x1, x2, x3, w, bias []float32) {
	n := len(dst)
	x0, x1, x2, x3, bias, w = x0[:n], x1[:n], x2[:n], x3[:n], bias[:n], w[:4*n]
	for e := range dst {
		c := bias[e]
		c += float32(w[e] * x0[e])
		c += float32(w[n+e] * x1[e])
		c += float32(w[2*n+e] * x2[e])
		c += float32(w[3*n+e] * x3[e])
		dst[e] = siluGo(c)
	}
}

// softmaxRowGo sets p[i] = exp(p[i]·scale - m) for lo ≤ i ≤ hi and p[i] = 0
// elsewhere, and returns Σ p[i] accumulated in eight lanes (lane i%8) over
// the blocks of 8 in order and reduced by hsum8. len(p) is a multiple of 8.
func softmaxRowGo(p []float32, lo, hi int, scale, m float32) float32 {
	var acc [8]float32
	for i := range p {
		v := float32(0)
		if i >= lo && i <= hi {
			v = expGo(float32(p[i]*scale) - m)
		}
		p[i] = v
		acc[i%8] += v
	}
	return hsum8(&acc)
}

// scanArgs describes one 8-channel tile of the selective scan for scanAVX
// and scanGo; the assembly reads the fields at fixed offsets (noted), so
// their order and types must not change.
type scanArgs struct {
	steps            int            // 0
	u, delta, z, dst unsafe.Pointer // 8, 16, 24, 32: row 0, channel 0 of the tile
	us, ds, zs, ys   uintptr        // 40, 48, 56, 64: row strides in bytes
	b, c             unsafe.Pointer // 72, 80: B and C, row 0
	bs, cs           uintptr        // 88, 96
	n                int            // 104: states per channel
	state            unsafe.Pointer // 112: [n][8] float32, updated
	a                unsafe.Pointer // 120: [n][8] float32, A transposed
	bias             unsafe.Pointer // 128: [8] float32, Δ bias
	d                unsafe.Pointer // 136: [8] float32, skip
}

// at returns the float32 at p + off bytes.
func at(p unsafe.Pointer, off uintptr) *float32 { return (*float32)(unsafe.Add(p, off)) }

// scanGo runs the selective scan over one tile of 8 channels:
//
//	Δ = softplus(delta + bias); s[n] = exp(Δ·A[n])·s[n] + (Δ·u)·B[n];
//	y = Σₙ s[n]·C[n] (n in order); y += D·u; dst = y·SiLU(z).
func scanGo(a *scanArgs) {
	st := unsafe.Slice((*float32)(a.state), a.n*8)
	av := unsafe.Slice((*float32)(a.a), a.n*8)
	bias := (*[8]float32)(a.bias)
	dsk := (*[8]float32)(a.d)
	for t := 0; t < a.steps; t++ {
		ut := uintptr(t)
		for l := 0; l < 8; l++ {
			ch := uintptr(4 * l)
			u := *at(a.u, ut*a.us+ch)
			dt := softplusGo(*at(a.delta, ut*a.ds+ch) + bias[l])
			du := dt * u
			var y float32
			for n := 0; n < a.n; n++ {
				bn := *at(a.b, ut*a.bs+uintptr(4*n))
				cn := *at(a.c, ut*a.cs+uintptr(4*n))
				s := &st[8*n+l]
				*s = float32(expGo(float32(dt*av[8*n+l]))**s) + float32(du*bn)
				y += float32(*s * cn)
			}
			y += float32(dsk[l] * u)
			*at(a.dst, ut*a.ys+ch) = y * siluGo(*at(a.z, ut*a.zs+ch))
		}
	}
}
