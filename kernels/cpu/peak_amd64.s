//go:build amd64

#include "textflag.h"

// func addChain(n int)
// Runs 8·n dependent one-cycle integer additions.
TEXT ·addChain(SB), NOSPLIT, $0-8
	MOVQ n+0(FP), CX
	XORQ AX, AX
addloop:
	ADDQ $1, AX
	ADDQ $1, AX
	ADDQ $1, AX
	ADDQ $1, AX
	ADDQ $1, AX
	ADDQ $1, AX
	ADDQ $1, AX
	ADDQ $1, AX
	DECQ CX
	JNZ addloop
	RET

// func fmaBurst(n int)
// Runs 12·n independent 8-lane fused multiply-adds (192·n flops).
TEXT ·fmaBurst(SB), NOSPLIT, $0-8
	MOVQ n+0(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	VXORPS Y12, Y12, Y12
	VXORPS Y13, Y13, Y13
fmaloop:
	VFMADD231PS Y12, Y13, Y0
	VFMADD231PS Y12, Y13, Y1
	VFMADD231PS Y12, Y13, Y2
	VFMADD231PS Y12, Y13, Y3
	VFMADD231PS Y12, Y13, Y4
	VFMADD231PS Y12, Y13, Y5
	VFMADD231PS Y12, Y13, Y6
	VFMADD231PS Y12, Y13, Y7
	VFMADD231PS Y12, Y13, Y8
	VFMADD231PS Y12, Y13, Y9
	VFMADD231PS Y12, Y13, Y10
	VFMADD231PS Y12, Y13, Y11
	DECQ CX
	JNZ fmaloop
	VZEROUPPER
	RET

// func readStreams(p unsafe.Pointer, n, stride int) uint64
// Reads n bytes (a multiple of 64) from each of the 8 streams p + i·stride,
// interleaved, folding them with XOR so that the loads are not dead.
TEXT ·readStreams(SB), NOSPLIT, $0-32
	MOVQ p+0(FP), SI
	MOVQ n+8(FP), CX
	MOVQ stride+16(FP), BX
	LEAQ (SI)(BX*4), DI
	LEAQ (BX)(BX*2), DX
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	SHRQ $6, CX
	JZ rs_done
rs_loop:
	VPXOR (SI), Y0, Y0
	VPXOR 32(SI), Y1, Y1
	VPXOR (SI)(BX*1), Y0, Y0
	VPXOR 32(SI)(BX*1), Y1, Y1
	VPXOR (SI)(BX*2), Y0, Y0
	VPXOR 32(SI)(BX*2), Y1, Y1
	VPXOR (SI)(DX*1), Y0, Y0
	VPXOR 32(SI)(DX*1), Y1, Y1
	VPXOR (DI), Y0, Y0
	VPXOR 32(DI), Y1, Y1
	VPXOR (DI)(BX*1), Y0, Y0
	VPXOR 32(DI)(BX*1), Y1, Y1
	VPXOR (DI)(BX*2), Y0, Y0
	VPXOR 32(DI)(BX*2), Y1, Y1
	VPXOR (DI)(DX*1), Y0, Y0
	VPXOR 32(DI)(DX*1), Y1, Y1
	ADDQ $64, SI
	ADDQ $64, DI
	DECQ CX
	JNZ rs_loop
rs_done:
	VPXOR Y1, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPXOR X1, X0, X0
	MOVQ X0, AX
	MOVQ AX, ret+24(FP)
	VZEROUPPER
	RET
