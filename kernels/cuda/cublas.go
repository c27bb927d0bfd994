package cuda

import (
	"fmt"
	"sync"
	"unsafe"
)

// cuBLAS enumerations (cublas_api.h, library_types.h).
const (
	opN = 0
	opT = 1

	typeF32  = 0  // CUDA_R_32F
	typeF16  = 2  // CUDA_R_16F
	typeBF16 = 14 // CUDA_R_16BF

	compute32F         = 68 // CUBLAS_COMPUTE_32F
	compute32FPedantic = 69 // CUBLAS_COMPUTE_32F_PEDANTIC: no TF32, no reduced precision

	gemmDefault = 0xffffffff // CUBLAS_GEMM_DEFAULT (-1 as a 32-bit int)

	mathDefault  = 0 // CUBLAS_DEFAULT_MATH
	mathPedantic = 2 // CUBLAS_PEDANTIC_MATH
)

// cublas holds the entry points of libcublas.
type cublas struct {
	lib     *library
	version int

	create, destroy, setStream, setMathMode, getVersion uintptr
	gemmEx, gemmStridedBatchedEx                        uintptr
}

var (
	cublasOnce sync.Once
	theCublas  *cublas
	cublasErr  error
)

// minCublas is the oldest cuBLAS supported (11.0: cublasComputeType_t).
const minCublas = 11000

func loadCublas() (*cublas, error) {
	cublasOnce.Do(func() { theCublas, cublasErr = openCublas() })
	return theCublas, cublasErr
}

func openCublas() (*cublas, error) {
	lib, err := openLibrary("cuBLAS", "SAMBAEVAL_LIBCUBLAS", cublasNames)
	if err != nil {
		return nil, err
	}
	c := &cublas{lib: lib}
	err = lib.bind([]symbol{
		sym(&c.create, "cublasCreate_v2"),
		sym(&c.destroy, "cublasDestroy_v2"),
		sym(&c.setStream, "cublasSetStream_v2"),
		sym(&c.setMathMode, "cublasSetMathMode"),
		sym(&c.getVersion, "cublasGetVersion_v2"),
		sym(&c.gemmEx, "cublasGemmEx"),
		sym(&c.gemmStridedBatchedEx, "cublasGemmStridedBatchedEx"),
	})
	if err != nil {
		return nil, fmt.Errorf("cuBLAS: %w", err)
	}
	return c, nil
}

func (c *cublas) check(op string, r uintptr) error {
	if r == 0 {
		return nil
	}
	return &Error{Lib: "cublas", Op: op, Code: int(r), Msg: cublasStatus(int(r))}
}

// cublasStatus names a cublasStatus_t.
func cublasStatus(s int) string {
	switch s {
	case 1:
		return "CUBLAS_STATUS_NOT_INITIALIZED"
	case 3:
		return "CUBLAS_STATUS_ALLOC_FAILED"
	case 7:
		return "CUBLAS_STATUS_INVALID_VALUE"
	case 8:
		return "CUBLAS_STATUS_ARCH_MISMATCH"
	case 11:
		return "CUBLAS_STATUS_MAPPING_ERROR"
	case 13:
		return "CUBLAS_STATUS_EXECUTION_FAILED"
	case 14:
		return "CUBLAS_STATUS_INTERNAL_ERROR"
	case 15:
		return "CUBLAS_STATUS_NOT_SUPPORTED"
	case 16:
		return "CUBLAS_STATUS_LICENSE_ERROR"
	}
	return fmt.Sprintf("cuBLAS status %d", s)
}

// handle is a cuBLAS handle bound to the backend's stream.
type handle struct {
	c *cublas
	h uintptr
}

// newHandle creates a handle on the current context, bound to stream.
func (c *cublas) newHandle(stream uintptr, pedantic bool) (*handle, error) {
	h := &handle{c: c}
	if err := c.check("cublasCreate", call(c.create, uintptr(unsafe.Pointer(&h.h)))); err != nil {
		return nil, err
	}
	var v int32
	if err := c.check("cublasGetVersion", call(c.getVersion, h.h, uintptr(unsafe.Pointer(&v)))); err != nil {
		h.close()
		return nil, err
	}
	c.version = int(v)
	if c.version < minCublas {
		h.close()
		return nil, fmt.Errorf("cuBLAS %d (%s) is too old: need 11.0 or newer", c.version, c.lib.name)
	}
	if err := c.check("cublasSetStream", call(c.setStream, h.h, stream)); err != nil {
		h.close()
		return nil, err
	}
	mode := uintptr(mathDefault)
	if pedantic {
		mode = mathPedantic
	}
	if err := c.check("cublasSetMathMode", call(c.setMathMode, h.h, mode)); err != nil {
		h.close()
		return nil, err
	}
	return h, nil
}

func (h *handle) close() {
	if h.h != 0 {
		call(h.c.destroy, h.h)
		h.h = 0
	}
}

// gemm is one row-major matrix product C = alpha·A·op(B) + beta·C where A
// is [M, K] and op(B) is Bᵀ for B [N, K] (transB) or B for B [K, N].
// Pointers are device addresses of elements of type aType / bType; C is
// float32. Batched products add the strides (in elements) per batch.
type gemm struct {
	M, N, K      int
	A            uintptr
	lda          int
	B            uintptr
	ldb          int
	transB       bool
	C            uintptr
	ldc          int
	aType, bType int
	alpha, beta  *float32
	compute      int
	batch        int
	sA, sB, sC   int64
}

// run issues the product. cuBLAS is column-major, so it computes
// Cᵀ = op(B)ᵀ·Aᵀ: its first operand is our B, its second our A.
func (h *handle) run(g *gemm) error {
	opA := uintptr(opN)
	if g.transB {
		opA = opT
	}
	if g.batch <= 1 {
		r := call(h.c.gemmEx, h.h, opA, opN, uintptr(g.N), uintptr(g.M), uintptr(g.K),
			uintptr(unsafe.Pointer(g.alpha)), g.B, uintptr(g.bType), uintptr(g.ldb),
			g.A, uintptr(g.aType), uintptr(g.lda),
			uintptr(unsafe.Pointer(g.beta)), g.C, typeF32, uintptr(g.ldc),
			uintptr(g.compute), gemmDefault)
		if r == 0 {
			return nil
		}
		return h.c.check(fmt.Sprintf("cublasGemmEx(M=%d N=%d K=%d)", g.M, g.N, g.K), r)
	}
	r := call(h.c.gemmStridedBatchedEx, h.h, opA, opN, uintptr(g.N), uintptr(g.M), uintptr(g.K),
		uintptr(unsafe.Pointer(g.alpha)), g.B, uintptr(g.bType), uintptr(g.ldb), uintptr(g.sB),
		g.A, uintptr(g.aType), uintptr(g.lda), uintptr(g.sA),
		uintptr(unsafe.Pointer(g.beta)), g.C, typeF32, uintptr(g.ldc), uintptr(g.sC),
		uintptr(g.batch), uintptr(g.compute), gemmDefault)
	if r == 0 {
		return nil
	}
	return h.c.check(fmt.Sprintf("cublasGemmStridedBatchedEx(M=%d N=%d K=%d batch=%d)", g.M, g.N, g.K, g.batch), r)
}
