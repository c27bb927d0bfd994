//go:build amd64

#include "textflag.h"

// Vector kernels for the element-wise and row-wise operations (AVX2, FMA).
// vec_amd64.go declares them; vec_generic.go holds portable Go twins that
// compute the same formulas (with separate multiplies and adds) and
// documents each one.

// BCAST8 defines a 32-byte constant: eight copies of the 32-bit value v.
#define BCAST8(name, v) \
	DATA name+0(SB)/4, v; \
	DATA name+4(SB)/4, v; \
	DATA name+8(SB)/4, v; \
	DATA name+12(SB)/4, v; \
	DATA name+16(SB)/4, v; \
	DATA name+20(SB)/4, v; \
	DATA name+24(SB)/4, v; \
	DATA name+28(SB)/4, v; \
	GLOBL name(SB), RODATA|NOPTR, $32

BCAST8(expHi<>, $0x42b20000)   // 89: exp overflows to +Inf above ~88.72
BCAST8(expLo<>, $0xc2d00000)   // -104: exp underflows to 0 below ~-103.97
BCAST8(log2e<>, $0x3fb8aa3b)   // log2(e)
BCAST8(ln2hi<>, $0x3f318000)   // 0.693359375, ln 2 rounded to 11 bits
BCAST8(ln2lo<>, $0xb95e8083)   // ln 2 - ln2hi
BCAST8(inv2<>, $0x3f000000)    // 1/2!
BCAST8(inv6<>, $0x3e2aaaab)    // 1/3!
BCAST8(inv24<>, $0x3d2aaaab)   // 1/4!
BCAST8(inv120<>, $0x3c088889)  // 1/5!
BCAST8(inv720<>, $0x3ab60b61)  // 1/6!
BCAST8(inv5040<>, $0x39500d01) // 1/7!
BCAST8(one<>, $0x3f800000)     // 1
BCAST8(two<>, $0x40000000)     // 2
BCAST8(bias127<>, $127)        // float32 exponent bias
BCAST8(absMask<>, $0x7fffffff)
BCAST8(signBit<>, $0x80000000)
BCAST8(third<>, $0x3eaaaaab)   // 1/3
BCAST8(fifth<>, $0x3e4ccccd)   // 1/5
BCAST8(seventh<>, $0x3e124925) // 1/7
BCAST8(ninth<>, $0x3de38e39)   // 1/9
BCAST8(eleventh<>, $0x3dba2e8c) // 1/11
BCAST8(thirteenth<>, $0x3d9d89d9) // 1/13

// lane<> is 0, 1, …, 7 as int32; tailMask<> is eight -1 then eight 0, so
// that the 8 ints at tailMask<>+4·(8-r) enable the first r lanes.
DATA lane<>+0(SB)/4, $0
DATA lane<>+4(SB)/4, $1
DATA lane<>+8(SB)/4, $2
DATA lane<>+12(SB)/4, $3
DATA lane<>+16(SB)/4, $4
DATA lane<>+20(SB)/4, $5
DATA lane<>+24(SB)/4, $6
DATA lane<>+28(SB)/4, $7
GLOBL lane<>(SB), RODATA|NOPTR, $32

DATA tailMask<>+0(SB)/4, $-1
DATA tailMask<>+4(SB)/4, $-1
DATA tailMask<>+8(SB)/4, $-1
DATA tailMask<>+12(SB)/4, $-1
DATA tailMask<>+16(SB)/4, $-1
DATA tailMask<>+20(SB)/4, $-1
DATA tailMask<>+24(SB)/4, $-1
DATA tailMask<>+28(SB)/4, $-1
DATA tailMask<>+32(SB)/4, $0
DATA tailMask<>+36(SB)/4, $0
DATA tailMask<>+40(SB)/4, $0
DATA tailMask<>+44(SB)/4, $0
DATA tailMask<>+48(SB)/4, $0
DATA tailMask<>+52(SB)/4, $0
DATA tailMask<>+56(SB)/4, $0
DATA tailMask<>+60(SB)/4, $0
GLOBL tailMask<>(SB), RODATA|NOPTR, $64

// TAILMASK loads into m the mask enabling the first r (1..7) lanes; r is
// a general register holding the count, tmp a scratch register.
#define TAILMASK(r, tmp, m) \
	MOVQ $8, tmp; \
	SUBQ r, tmp; \
	LEAQ tailMask<>(SB), r; \
	VMOVDQU (r)(tmp*4), m

// EXP8 sets x = exp(x) lane-wise (see expGo): x is clamped to [-104, 89]
// (keeping NaN), split as n·ln2 + r with n = round(x·log2 e), exp(r) is a
// degree-7 Taylor polynomial, and 2^n is applied as two factors 2^(n>>1)
// and 2^(n-(n>>1)) so that the result over- and underflows (to +Inf, to
// subnormals and 0) with a single rounding. Clobbers t1, t2, t3.
#define EXP8(x, t1, t2, t3) \
	VMOVUPS expHi<>(SB), t3; \
	VMINPS x, t3, x; \
	VMOVUPS expLo<>(SB), t3; \
	VMAXPS x, t3, x; \
	VMULPS log2e<>(SB), x, t1; \
	VROUNDPS $0, t1, t1; \
	VFNMADD231PS ln2hi<>(SB), t1, x; \
	VFNMADD231PS ln2lo<>(SB), t1, x; \
	VMOVUPS inv5040<>(SB), t2; \
	VFMADD213PS inv720<>(SB), x, t2; \
	VFMADD213PS inv120<>(SB), x, t2; \
	VFMADD213PS inv24<>(SB), x, t2; \
	VFMADD213PS inv6<>(SB), x, t2; \
	VFMADD213PS inv2<>(SB), x, t2; \
	VFMADD213PS one<>(SB), x, t2; \
	VFMADD213PS one<>(SB), x, t2; \
	VCVTPS2DQ t1, t1; \
	VPSRAD $1, t1, t3; \
	VPSUBD t3, t1, t1; \
	VPADDD bias127<>(SB), t3, t3; \
	VPADDD bias127<>(SB), t1, t1; \
	VPSLLD $23, t3, t3; \
	VPSLLD $23, t1, t1; \
	VMULPS t3, t2, t2; \
	VMULPS t1, t2, x

// SILU8 sets x = x / (1 + exp(-x)). Clobbers t1..t4.
#define SILU8(x, t1, t2, t3, t4) \
	VXORPS signBit<>(SB), x, t4; \
	EXP8(t4, t1, t2, t3); \
	VADDPS one<>(SB), t4, t4; \
	VDIVPS t4, x, x

// SOFTPLUS8 sets x = max(x, 0) + log1p(exp(-|x|)) (see softplusGo), with
// log1p(y) = 2·atanh(s), s = y/(2+y) ≤ 1/3, as an odd series in s.
// Clobbers t1..t4.
#define SOFTPLUS8(x, t1, t2, t3, t4) \
	VXORPS t4, t4, t4; \
	VMAXPS t4, x, t4; \
	VANDPS absMask<>(SB), x, t1; \
	VXORPS signBit<>(SB), t1, t1; \
	EXP8(t1, t2, t3, x); \
	VADDPS two<>(SB), t1, t2; \
	VDIVPS t2, t1, t2; \
	VMULPS t2, t2, t3; \
	VMOVUPS thirteenth<>(SB), x; \
	VFMADD213PS eleventh<>(SB), t3, x; \
	VFMADD213PS ninth<>(SB), t3, x; \
	VFMADD213PS seventh<>(SB), t3, x; \
	VFMADD213PS fifth<>(SB), t3, x; \
	VFMADD213PS third<>(SB), t3, x; \
	VFMADD213PS one<>(SB), t3, x; \
	VADDPS t2, t2, t2; \
	VMULPS t2, x, x; \
	VADDPS t4, x, x

// HSUM8 reduces the 8 lanes of y (X register x is its low half) to lane 0
// of x in the fixed order ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)).
// Clobbers t (an X register).
#define HSUM8(y, x, t) \
	VEXTRACTF128 $1, y, t; \
	VADDPS t, x, x; \
	VMOVHLPS x, x, t; \
	VADDPS t, x, x; \
	VMOVSHDUP x, t; \
	VADDSS t, x, x

// func expAVX(dst, src *float32, n int)
TEXT ·expAVX(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SUBQ $8, CX
	JLT exp_tail
exp_loop:
	VMOVUPS (SI), Y0
	EXP8(Y0, Y1, Y2, Y3)
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JGE exp_loop
exp_tail:
	ADDQ $8, CX
	JZ exp_done
	TAILMASK(CX, DX, Y7)
	VMASKMOVPS (SI), Y7, Y0
	EXP8(Y0, Y1, Y2, Y3)
	VMASKMOVPS Y0, Y7, (DI)
exp_done:
	VZEROUPPER
	RET

// func swigluAVX(dst, gate, u *float32, n int)
TEXT ·swigluAVX(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ gate+8(FP), SI
	MOVQ u+16(FP), DX
	MOVQ n+24(FP), CX
	SUBQ $8, CX
	JLT swiglu_tail
swiglu_loop:
	VMOVUPS (SI), Y0
	SILU8(Y0, Y1, Y2, Y3, Y4)
	VMULPS (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, DI
	SUBQ $8, CX
	JGE swiglu_loop
swiglu_tail:
	ADDQ $8, CX
	JZ swiglu_done
	TAILMASK(CX, BX, Y7)
	VMASKMOVPS (SI), Y7, Y0
	VMASKMOVPS (DX), Y7, Y5
	SILU8(Y0, Y1, Y2, Y3, Y4)
	VMULPS Y5, Y0, Y0
	VMASKMOVPS Y0, Y7, (DI)
swiglu_done:
	VZEROUPPER
	RET

// func sumSquaresAVX(x *float32, n int) float32
TEXT ·sumSquaresAVX(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	SUBQ $32, CX
	JLT sumsq_rest
sumsq_loop32:
	VMOVUPS (SI), Y4
	VMOVUPS 32(SI), Y5
	VMOVUPS 64(SI), Y6
	VMOVUPS 96(SI), Y7
	VFMADD231PS Y4, Y4, Y0
	VFMADD231PS Y5, Y5, Y1
	VFMADD231PS Y6, Y6, Y2
	VFMADD231PS Y7, Y7, Y3
	ADDQ $128, SI
	SUBQ $32, CX
	JGE sumsq_loop32
sumsq_rest:
	ADDQ $32, CX
	SUBQ $8, CX
	JLT sumsq_tail
sumsq_loop8:
	VMOVUPS (SI), Y4
	VFMADD231PS Y4, Y4, Y0
	ADDQ $32, SI
	SUBQ $8, CX
	JGE sumsq_loop8
sumsq_tail:
	ADDQ $8, CX
	JZ sumsq_done
	TAILMASK(CX, DX, Y7)
	VMASKMOVPS (SI), Y7, Y4
	VFMADD231PS Y4, Y4, Y0
sumsq_done:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	HSUM8(Y0, X0, X1)
	MOVSS X0, ret+16(FP)
	VZEROUPPER
	RET

// func scaleMulAVX(dst, x, w *float32, s float32, n int)
TEXT ·scaleMulAVX(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ w+16(FP), DX
	VBROADCASTSS s+24(FP), Y6
	MOVQ n+32(FP), CX
	SUBQ $8, CX
	JLT scalemul_tail
scalemul_loop:
	VMULPS (SI), Y6, Y0
	VMULPS (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, DI
	SUBQ $8, CX
	JGE scalemul_loop
scalemul_tail:
	ADDQ $8, CX
	JZ scalemul_done
	TAILMASK(CX, BX, Y7)
	VMASKMOVPS (SI), Y7, Y0
	VMASKMOVPS (DX), Y7, Y1
	VMULPS Y6, Y0, Y0
	VMULPS Y1, Y0, Y0
	VMASKMOVPS Y0, Y7, (DI)
scalemul_done:
	VZEROUPPER
	RET

// func addAVX(dst, x *float32, n int)
TEXT ·addAVX(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	SUBQ $8, CX
	JLT add_tail
add_loop:
	VMOVUPS (DI), Y0
	VADDPS (SI), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JGE add_loop
add_tail:
	ADDQ $8, CX
	JZ add_done
	TAILMASK(CX, BX, Y7)
	VMASKMOVPS (SI), Y7, Y1
	VMASKMOVPS (DI), Y7, Y0
	VADDPS Y1, Y0, Y0
	VMASKMOVPS Y0, Y7, (DI)
add_done:
	VZEROUPPER
	RET

// func maxAVX(x *float32, n int) float32
// n ≥ 1.
TEXT ·maxAVX(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS (SI), Y0
	VMOVAPS Y0, Y1
	VMOVAPS Y0, Y2
	SUBQ $16, CX
	JLT max_rest
max_loop16:
	VMAXPS (SI), Y0, Y0
	VMAXPS 32(SI), Y1, Y1
	ADDQ $64, SI
	SUBQ $16, CX
	JGE max_loop16
max_rest:
	ADDQ $16, CX
	JZ max_done
max_loop1:
	VMAXSS (SI), X2, X2
	ADDQ $4, SI
	DECQ CX
	JNZ max_loop1
max_done:
	VMAXPS Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VMAXPS X1, X0, X0
	VMOVHLPS X0, X0, X1
	VMAXPS X1, X0, X0
	VMOVSHDUP X0, X1
	VMAXSS X1, X0, X0
	VMAXSS X2, X0, X0
	MOVSS X0, ret+16(FP)
	VZEROUPPER
	RET

// func sumExpAVX(x *float32, n int, m float32) float64
TEXT ·sumExpAVX(SB), NOSPLIT, $0-32
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS m+16(FP), Y6
	VXORPD Y8, Y8, Y8
	VXORPD Y9, Y9, Y9
	SUBQ $8, CX
	JLT sumexp_tail
sumexp_loop:
	VMOVUPS (SI), Y0
	VSUBPS Y6, Y0, Y0
	EXP8(Y0, Y1, Y2, Y3)
	VCVTPS2PD X0, Y1
	VEXTRACTF128 $1, Y0, X2
	VCVTPS2PD X2, Y2
	VADDPD Y1, Y8, Y8
	VADDPD Y2, Y9, Y9
	ADDQ $32, SI
	SUBQ $8, CX
	JGE sumexp_loop
sumexp_tail:
	ADDQ $8, CX
	JZ sumexp_done
	TAILMASK(CX, DX, Y7)
	VMASKMOVPS (SI), Y7, Y0
	VSUBPS Y6, Y0, Y0
	EXP8(Y0, Y1, Y2, Y3)
	VANDPS Y7, Y0, Y0
	VCVTPS2PD X0, Y1
	VEXTRACTF128 $1, Y0, X2
	VCVTPS2PD X2, Y2
	VADDPD Y1, Y8, Y8
	VADDPD Y2, Y9, Y9
sumexp_done:
	VADDPD Y9, Y8, Y8
	VEXTRACTF128 $1, Y8, X9
	VADDPD X9, X8, X8
	VUNPCKHPD X8, X8, X9
	VADDSD X9, X8, X8
	MOVSD X8, ret+24(FP)
	VZEROUPPER
	RET

// func convSiLUAVX(dst, x0, x1, x2, x3, w, bias *float32, n int)
// w holds the four taps as [4][n].
TEXT ·convSiLUAVX(SB), NOSPLIT, $0-64
	MOVQ dst+0(FP), DI
	MOVQ x0+8(FP), R8
	MOVQ x1+16(FP), R9
	MOVQ x2+24(FP), R10
	MOVQ x3+32(FP), R11
	MOVQ w+40(FP), SI
	MOVQ bias+48(FP), DX
	MOVQ n+56(FP), CX
	MOVQ CX, R12
	SHLQ $2, R12 // bytes per tap row
	XORQ AX, AX  // byte offset
	SUBQ $8, CX
	JLT conv_tail
conv_loop:
	VMOVUPS (DX)(AX*1), Y0
	LEAQ (SI)(AX*1), BX
	VMOVUPS (BX), Y1
	VFMADD231PS (R8)(AX*1), Y1, Y0
	ADDQ R12, BX
	VMOVUPS (BX), Y1
	VFMADD231PS (R9)(AX*1), Y1, Y0
	ADDQ R12, BX
	VMOVUPS (BX), Y1
	VFMADD231PS (R10)(AX*1), Y1, Y0
	ADDQ R12, BX
	VMOVUPS (BX), Y1
	VFMADD231PS (R11)(AX*1), Y1, Y0
	SILU8(Y0, Y1, Y2, Y3, Y4)
	VMOVUPS Y0, (DI)(AX*1)
	ADDQ $32, AX
	SUBQ $8, CX
	JGE conv_loop
conv_tail:
	ADDQ $8, CX
	JZ conv_done
	TAILMASK(CX, R13, Y7)
	VMASKMOVPS (DX)(AX*1), Y7, Y0
	LEAQ (SI)(AX*1), BX
	VMASKMOVPS (BX), Y7, Y1
	VMASKMOVPS (R8)(AX*1), Y7, Y2
	VFMADD231PS Y2, Y1, Y0
	ADDQ R12, BX
	VMASKMOVPS (BX), Y7, Y1
	VMASKMOVPS (R9)(AX*1), Y7, Y2
	VFMADD231PS Y2, Y1, Y0
	ADDQ R12, BX
	VMASKMOVPS (BX), Y7, Y1
	VMASKMOVPS (R10)(AX*1), Y7, Y2
	VFMADD231PS Y2, Y1, Y0
	ADDQ R12, BX
	VMASKMOVPS (BX), Y7, Y1
	VMASKMOVPS (R11)(AX*1), Y7, Y2
	VFMADD231PS Y2, Y1, Y0
	SILU8(Y0, Y1, Y2, Y3, Y4)
	VMASKMOVPS Y0, Y7, (DI)(AX*1)
conv_done:
	VZEROUPPER
	RET

// func scanAVX(a *scanArgs)
// See scanArgs and scanGo. Runs the recurrence for 8 channels over a.t
// steps; the state and A are [a.n][8], transposed by the caller.
TEXT ·scanAVX(SB), NOSPLIT, $0-8
	MOVQ a+0(FP), AX
	MOVQ 0(AX), CX    // steps
	MOVQ 8(AX), SI    // u
	MOVQ 16(AX), DI   // delta
	MOVQ 24(AX), R8   // z
	MOVQ 32(AX), R9   // dst
	MOVQ 72(AX), R10  // B
	MOVQ 80(AX), R11  // C
	MOVQ 104(AX), DX  // n
	SHLQ $2, DX       // 4n: end of the B/C offset
	MOVQ 112(AX), R12 // state
	MOVQ 120(AX), R13 // A
	MOVQ 128(AX), BX
	VMOVUPS (BX), Y15 // delta bias
	MOVQ 136(AX), BX
	VMOVUPS (BX), Y14 // D
	TESTQ CX, CX
	JZ scan_done
scan_t:
	VMOVUPS (DI), Y0
	VADDPS Y15, Y0, Y0
	SOFTPLUS8(Y0, Y3, Y4, Y5, Y6) // Δ
	VMOVUPS (SI), Y10             // u
	VMULPS Y10, Y0, Y1            // Δ·u
	VXORPS Y2, Y2, Y2             // y
	XORQ R14, R14                 // 32n
	XORQ BX, BX                   // 4n
scan_n:
	VMULPS (R13)(R14*1), Y0, Y3   // Δ·A[n]
	EXP8(Y3, Y4, Y5, Y6)
	VBROADCASTSS (R10)(BX*1), Y7
	VMULPS Y7, Y1, Y7             // Δ·u·B[n]
	VMOVUPS (R12)(R14*1), Y8
	VFMADD213PS Y7, Y3, Y8        // s = exp(Δ·A)·s + Δ·u·B
	VMOVUPS Y8, (R12)(R14*1)
	VBROADCASTSS (R11)(BX*1), Y9
	VFMADD231PS Y9, Y8, Y2        // y += s·C[n]
	ADDQ $32, R14
	ADDQ $4, BX
	CMPQ BX, DX
	JNE scan_n
	VMULPS Y14, Y10, Y3
	VADDPS Y3, Y2, Y2             // y += D·u
	VMOVUPS (R8), Y3
	SILU8(Y3, Y4, Y5, Y6, Y7)
	VMULPS Y3, Y2, Y2             // y·SiLU(z)
	VMOVUPS Y2, (R9)
	ADDQ 40(AX), SI
	ADDQ 48(AX), DI
	ADDQ 56(AX), R8
	ADDQ 64(AX), R9
	ADDQ 88(AX), R10
	ADDQ 96(AX), R11
	DECQ CX
	JNZ scan_t
scan_done:
	VZEROUPPER
	RET

// func softmaxRowAVX(p *float32, n8, lo, hi int, scale, m float32) float32
// For i in [lo, hi]: p[i] = exp(p[i]·scale - m); elsewhere p[i] = 0;
// returns the sum of p with one 8-lane accumulator over the n8/8 blocks in
// order, reduced by HSUM8.
TEXT ·softmaxRowAVX(SB), NOSPLIT, $0-44
	MOVQ p+0(FP), SI
	MOVQ n8+8(FP), CX
	VBROADCASTSS scale+32(FP), Y10
	VBROADCASTSS m+36(FP), Y11
	MOVQ lo+16(FP), AX
	DECQ AX
	MOVQ AX, X12
	VPBROADCASTD X12, Y12          // lo-1
	MOVQ hi+24(FP), AX
	INCQ AX
	MOVQ AX, X13
	VPBROADCASTD X13, Y13          // hi+1
	VMOVDQU lane<>(SB), Y14        // indices of the current block
	MOVL $8, AX
	MOVQ AX, X15
	VPBROADCASTD X15, Y15
	VXORPS Y9, Y9, Y9
	SHRQ $3, CX
	JZ softmax_done
softmax_loop:
	VMOVUPS (SI), Y0
	VMULPS Y10, Y0, Y0
	VSUBPS Y11, Y0, Y0
	EXP8(Y0, Y1, Y2, Y3)
	VPCMPGTD Y12, Y14, Y4          // i > lo-1
	VPCMPGTD Y14, Y13, Y5          // hi+1 > i
	VPAND Y5, Y4, Y4
	VANDPS Y4, Y0, Y0
	VMOVUPS Y0, (SI)
	VADDPS Y0, Y9, Y9
	VPADDD Y15, Y14, Y14
	ADDQ $32, SI
	DECQ CX
	JNZ softmax_loop
softmax_done:
	HSUM8(Y9, X9, X1)
	MOVSS X9, ret+40(FP)
	VZEROUPPER
	RET
