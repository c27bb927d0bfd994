// Package cuda is the NVIDIA GPU backend. It reaches the GPU without cgo:
// libcuda (driver API), libnvrtc (run-time compilation of the embedded
// CUDA C kernels for the device's architecture, cached on disk) and
// libcublas (matrix products) are loaded with dlopen through purego, so the
// same CGO_ENABLED=0 binary runs on machines without a GPU, where opening
// this backend fails with an error naming what is missing and "auto" picks
// the CPU.
//
// Device strings (after "cuda:" in --device): "" or "N" selects GPU N;
// ",fp32" selects the exact float32 mode. In the default (bf16) mode matrix
// products take bf16 (or f16) weights as stored and round the activations
// to the same type, accumulating in float32 (cublasGemmEx with
// CUBLAS_COMPUTE_32F), except small decoding products (k_gemv2 and the fused
// gate/up of kernels.GatedMatMul), which take the float32 activations as
// they are; attention of long chunks is flash attention on the tensor
// cores (bf16 queries, keys, values and probabilities, float32
// accumulation); the key/value caches hold bf16 (kernels.KVCacheAllocator);
// everything else is float32. Decoding steps are recorded as CUDA graphs
// and replayed (kernels.StepRecorder). In fp32 mode weights are widened to
// float32 on the device, every product is a pedantic float32 one (no
// TF32), every kernel uses accurate exponentials, the caches are float32
// and steps are not recorded, matching the CPU reference to rounding. The
// environment variable SAMBAEVAL_CUDA_FP32=1 selects fp32 mode too.
//
// Batched decoding (2–16 sequences) reads tiled copies of the weights, made
// on first use while at least 1/8 of the device memory stays free: as much
// memory again as the weights, for steps about 10% shorter at 2–8
// sequences and about 5% at 16.
// SAMBAEVAL_CUDA_TILED=0 keeps to the weights as loaded.
//
// Kernels are compiled by NVRTC on first use for the device's compute
// capability and cached in $SAMBAEVAL_CACHE/cuda (else the user cache
// directory's sambaeval/cuda), keyed by the source, the architecture and
// the driver and NVRTC versions. SAMBAEVAL_LIBCUDA, SAMBAEVAL_LIBNVRTC and
// SAMBAEVAL_LIBCUBLAS name library paths to use instead of the search.
//
// Operations run asynchronously on one stream; Read, LogProbs and Close
// wait for it. The kernels.Backend interface has no error results, so an
// operation that the device rejects (out of memory, a failed launch)
// panics with an *Error, a kernels.Fault, which the model's calls return as
// their error (kernels.Catch). docs/performance-gpu.md has the measurements.
package cuda

import (
	"embed"
	"fmt"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"github.com/sambaeval/sambaeval/dtype"
	"github.com/sambaeval/sambaeval/kernels"
)

func init() {
	kernels.Register("cuda", 10, func(device string) (kernels.Backend, error) {
		opts, err := ParseDevice(device)
		if err != nil {
			return nil, err
		}
		return New(opts)
	})
}

// Options configure a backend.
type Options struct {
	// Device is the GPU ordinal.
	Device int
	// FP32 selects the exact float32 mode.
	FP32 bool
}

// ParseDevice parses the part of a --device value after "cuda:": an
// optional GPU ordinal and options separated by commas ("1", "0,fp32",
// "fp32", "bf16").
func ParseDevice(s string) (Options, error) {
	var o Options
	o.FP32 = os.Getenv("SAMBAEVAL_CUDA_FP32") == "1"
	if s == "" {
		return o, nil
	}
	for i, f := range strings.Split(s, ",") {
		switch f = strings.TrimSpace(f); {
		case f == "fp32":
			o.FP32 = true
		case f == "bf16":
			o.FP32 = false
		case i == 0:
			n, err := strconv.Atoi(f)
			if err != nil || n < 0 {
				return o, fmt.Errorf("cuda device %q: want a GPU number and options fp32 or bf16, e.g. cuda:0,fp32", s)
			}
			o.Device = n
		default:
			return o, fmt.Errorf("cuda device %q: unknown option %q (have fp32, bf16)", s, f)
		}
	}
	return o, nil
}

//go:embed cu/common.cuh cu/basic.cu cu/gemv.cu cu/mamba.cu cu/attention.cu cu/decode.cu cu/flash.cu cu/decattn.cu cu/sambay.cu
var sources embed.FS

// source returns the kernels' CUDA C source, the files in a fixed order.
func source() string {
	var b strings.Builder
	for _, f := range []string{"cu/common.cuh", "cu/basic.cu", "cu/gemv.cu", "cu/mamba.cu", "cu/attention.cu", "cu/decode.cu", "cu/flash.cu", "cu/decattn.cu", "cu/sambay.cu"} {
		s, err := sources.ReadFile(f)
		if err != nil {
			panic(err) // embedded at build time
		}
		fmt.Fprintf(&b, "// ---- %s\n%s\n", f, s)
	}
	return b.String()
}

// kernelNames lists every kernel the backend loads.
var kernelNames = []string{
	"k_convert", "k_widen", "k_embed", "k_rmsnorm", "k_rmsnorm_reg", "k_rmsnorm_reg1k", "k_add", "k_swiglu", "k_swiglu4", "k_gemv", "k_rope", "k_logprobs",
	"k_mamba_conv", "k_conv_state", "k_scan_any",
	"k_scan4", "k_scan8", "k_scan16", "k_scan32", "k_scan64", "k_scan16x8", "k_scan16p4", "k_scan16p8", "k_scan16p16",
	"k_scan4f", "k_scan8f", "k_scan16f", "k_scan32f", "k_scan64f", "k_scan16x8f", "k_scan16p4f", "k_scan16p8f", "k_scan16p16f",
	"k_scan16q8", "k_scan16q16", "k_scan16q8f", "k_scan16q16f",
	"k_attn", "k_attn_combine", "k_kv_store", "k_kv_gather", "k_q_pack", "k_softmax", "k_softmax_warp", "k_scatter_o",
	"k_gemv_mma_1", "k_gemv_mma_2", "k_gemv_mma_swiglu_1", "k_gemv_mma_swiglu_2", "k_gemv_swiglu4",
	"k_gemv_mmt1_1", "k_gemv_mmt1_2", "k_gemv_mmt2_1", "k_gemv_mmt2_2",
	"k_gemv_mmt1_swiglu_1", "k_gemv_mmt1_swiglu_2", "k_gemv_mmt2_swiglu_1", "k_gemv_mmt2_swiglu_2", "k_interleave",
	"k_gemv_mmb_1", "k_gemv_mmb_2", "k_gemv_mmb_swiglu_1", "k_gemv_mmb_swiglu_2", "k_mlp_mmb_1", "k_mlp_mmb_2",
	"k_gemv2_1", "k_gemv2_2", "k_gemv2_4", "k_gemv2_8",
	"k_gemv2_swiglu_1", "k_gemv2_swiglu_2", "k_gemv2_swiglu_4", "k_gemv2_swiglu_8",
	"k_scan_dec", "k_scan_decf", "k_scan_dec_dtf", "k_attn_decm64", "k_attn_decm128", "k_attn_decm256",
	"k_attn_decm64_kv16", "k_attn_decm128_kv16", "k_attn_decm256_kv16",
	"k_attn_decp64", "k_attn_decp128", "k_attn_decp256", "k_attn_decp64_kv16", "k_attn_decp128_kv16", "k_attn_decp256_kv16",
	"k_attn_grp1", "k_attn_grp2", "k_attn_grp4", "k_attn_grp8", "k_attn_dec", "k_attn_dec_kv16",
	"k_flash64_64", "k_flash128_64", "k_flash256_32", "k_flash256_64",
	"k_layernorm", "k_add_bias", "k_add_scaled", "k_splitk_sum",
}

// Backend is the CUDA backend. It is safe for concurrent use (operations
// are serialised), though the model drives it from one goroutine.
type Backend struct {
	mu   sync.Mutex
	d    *driver
	nv   *nvrtc
	blas *handle

	opts    Options
	dev     int32   // CUdevice
	ctx     uintptr // the device's primary context
	stream  uintptr
	module  uintptr
	fn      map[string]uintptr
	name    string
	cc      int // compute capability, e.g. 90
	sms     int
	smemMax int // shared memory one block may opt in to (bytes)
	fp32    bool
	actKind int // 16-bit kind activations are shadowed in (kindBF16 or kindF16)

	one, zero float32 // GEMM alpha/beta constants (host memory read by cuBLAS)
	scale     float32 // the attention scale, as a GEMM alpha

	// Tuning knobs for tests and benchmarks. attnBlock overrides the cuBLAS
	// attention path's query block (0: queryBlock); scan16 names the scan
	// variant for 16 states (see scanVariants; "": defaultScan16);
	// softmaxWarp selects k_softmax_warp over k_softmax; noGemv sends
	// every product to cuBLAS; noMMA sends products of 2–16 rows (and
	// their fused gate/up) to cuBLAS instead of k_gemv_mma, mmaOne takes
	// k_gemv_mma for one row too (instead of k_gemv2), mmaAll for more
	// than 8 rows whatever the weights' size; gemvRB forces
	// k_gemv2's rows per block (1, 2, 4 or 8; 0: gemv2RB's choice) and
	// oldRB gemv2RB's previous rule;
	// oldGemv takes the previous decoding path instead of k_gemv2 (k_gemv
	// up to 32 MB of weights, else cuBLAS; k_gemv_swiglu4); attnGrp takes
	// k_attn_grp instead of k_attn or k_attn_dec for short chunks;
	// noAttnDec keeps decoding steps (chunks of length 1) on k_attn
	// instead of k_attn_dec; attnDecKeys forces k_attn_dec's keys per
	// tile (16 or 32; 0: chosen by attnDec) and attnDecTiles its tiles per
	// block (0: chosen by attnDec); noDecMMA keeps bf16 decoding steps on
	// k_attn_dec's float32 products instead of k_attn_decm's tensor cores;
	// noFlash sends long chunks' attention to cuBLAS; flashBN64 takes
	// 64-key tiles for head size 256; noGraph runs decoding steps without
	// recording; noDecStore leaves the decoding step's keys and values to
	// k_kv_store instead of k_attn_dec or k_attn_decm; noScanDec runs a
	// decoding step's scan on the chunked kernels instead of k_scan_dec;
	// noScanDelta makes SelectiveScanDelta decline (dt_proj then runs as a
	// product before the scan); noEarly makes k_gemv2 and k_gemv_mma
	// load their first weights after waiting for the previous kernel
	// rather than before; noPair keeps the gate/up products of 2 to
	// pairRows rows that k_gemv_mma declines as two cuBLAS products
	// instead of gateUpPair's batch of two; noSplitK keeps k_gemv_mma's
	// K whole (see mmaSplit), splitFill splits every product into enough
	// parts for splitFill blocks per multiprocessor (-1: never, as for more
	// than 8 rows); f32KV keeps the key/value caches float32 in bf16 mode
	// (AllocKV): it applies to the caches allocated while it is set, so it
	// is set before the sessions it concerns are made (one Attention call
	// takes caches of one type); decBufs sets k_attn_decm's tile buffers
	// (2 … 4; 0: decmBufs's choice); decWarps takes k_attn_decp instead of
	// k_attn_decm for every decoding step (> 0) or none (< 0; 0:
	// attnDecWarps's rule), decLate has it copy its first tiles after
	// loading the queries rather than before the PDL wait; rms256 keeps
	// decoding steps' RMSNorm on k_rmsnorm_reg's 256 threads instead of
	// k_rmsnorm_reg1k's 1024;
	// noTiled keeps the products of 2 to mmaRows rows on k_gemv_mma's
	// row-major weights instead of k_gemv_mmt's tiled copies (see
	// Backend.tiled; SAMBAEVAL_CUDA_TILED=0 sets it), rowMajorWide keeps
	// those of more than tiledRows rows on them (as before run 128);
	// tiledRT and tiledFusedRT force k_gemv_mmt's tiles of 16 rows per warp
	// for one weight and for the fused gate/up (1 or 2; 0: mmtRT's choice);
	// noMMB keeps the fused gate/up of more than tiledRows rows off
	// k_gemv_mmb (SAMBAEVAL_CUDA_MMB=0 sets it), mmbAll takes k_gemv_mmb
	// from 2 rows on (SAMBAEVAL_CUDA_MMB=all), mmbSingle for the products of
	// one weight too; mmbRing sets its ring bytes per block (0: mmbRing);
	// noMLP keeps the MLP of 9–16 rows off k_mlp_mmb (k_gemv_mmb's gate/up,
	// then cuBLAS's down product; SAMBAEVAL_CUDA_MLP=0 sets it), mlpRing
	// sets k_mlp_mmb's ring bytes per block (0: mlpRing), mlpParts the
	// least parts it splits the down product's K into (0: mlpPlan's).
	// The defaults are the faster on an H200 (docs/performance-gpu.md).
	attnBlock    int
	scan16       string
	softmaxWarp  bool
	noGemv       bool
	noMMA        bool
	mmaOne       bool
	mmaAll       bool
	gemvRB       int
	oldRB        bool
	oldGemv      bool
	attnGrp      bool
	noAttnDec    bool
	attnDecKeys  int
	attnDecTiles int
	noDecMMA     bool
	noFlash      bool
	flashBN64    bool
	noGraph      bool
	noDecStore   bool
	noScanDec    bool
	noScanDelta  bool
	noEarly      bool
	noPair       bool
	noSplitK     bool
	splitFill    int
	f32KV        bool
	decBufs      int
	decWarps     int
	decLate      bool
	rms256       bool
	noTiled      bool
	rowMajorWide bool
	tiledRT      int
	tiledFusedRT int
	noMMB        bool
	mmbAll       bool
	mmbSingle    bool
	mmbRing      int
	noMLP        bool
	mlpRing      int
	mlpParts     int
	// pdl launches kernels with programmatic dependent launch (sm_90 and a
	// driver with cuLaunchKernelEx; SAMBAEVAL_CUDA_PDL=0 turns it off).
	pdl bool
	// poison fills every allocation with NaN (SAMBAEVAL_CUDA_POISON=1):
	// a kernel that reads memory nothing wrote then spoils the results.
	poison bool
	// onLaunch, when set, is called after each kernel or cuBLAS call is
	// queued (benchmark tracing).
	onLaunch func(name string)

	p          params // kernel argument block
	launchCfg  launchConfig
	launchAttr launchAttr

	// scratch buffers, grown on demand
	conv16 scratch // activations converted for a GEMM
	pair   scratch // gateUpPair's two products
	splitK scratch // a split-K k_gemv_mma's (or k_mlp_mmb's) partial sums
	mlpBar uintptr // k_mlp_mmb's grid-wide barrier: two words
	ids    scratch // token ids
	scores scratch // LogProbs output
	att    attnScratch

	shadows   map[*buffer]*shadowCopy
	invFreq   map[[2]float64]uintptr
	dynShared map[string]int // dynamic shared memory allowed per kernel
	graph     graphState     // recorded decoding steps
	gen       uint64         // bumped whenever device memory is freed
	seqT      seqTable
	ptrA      ptrTable
	ptrB      ptrTable
	ints      intTable
	closed    bool
	compiled  bool // the CUBIN was compiled now, not read from the cache
}

// Element kinds shared with the kernels.
const (
	kindF32  = 0
	kindBF16 = 1
	kindF16  = 2
)

// maxSeq is MAXSEQ of the kernels: the most sequences one launch takes.
const maxSeq = 64

// seqTable, ptrTable and intTable mirror Seqs, Ptrs and Ints of the kernels.
type seqTable struct {
	N             int32
	Row, Len, Pos [maxSeq]int32
}
type ptrTable [maxSeq]uint64
type intTable [maxSeq]int32

// New opens GPU opts.Device: it loads the libraries, compiles (or reads
// from the cache) the kernels and creates a stream and a cuBLAS handle.
func New(opts Options) (*Backend, error) {
	d, err := loadDriver()
	if err != nil {
		return nil, err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var count int32
	if err := d.check("cuDeviceGetCount", call(d.cuDeviceGetCount, uintptr(unsafe.Pointer(&count)))); err != nil {
		return nil, err
	}
	if count == 0 {
		return nil, fmt.Errorf("%w: the CUDA driver reports no GPU", ErrUnavailable)
	}
	if opts.Device >= int(count) {
		return nil, fmt.Errorf("cuda:%d: only %d GPU(s) present", opts.Device, count)
	}
	nv, err := loadNVRTC()
	if err != nil {
		return nil, err
	}
	cb, err := loadCublas()
	if err != nil {
		return nil, err
	}
	b := &Backend{d: d, nv: nv, opts: opts, fp32: opts.FP32, actKind: kindBF16, one: 1,
		shadows: map[*buffer]*shadowCopy{}, invFreq: map[[2]float64]uintptr{}, fn: map[string]uintptr{},
		dynShared: map[string]int{}}
	if err := b.init(cb); err != nil {
		b.release()
		return nil, err
	}
	return b, nil
}

func (b *Backend) init(cb *cublas) error {
	d := b.d
	if err := d.check("cuDeviceGet", call(d.cuDeviceGet, uintptr(unsafe.Pointer(&b.dev)), uintptr(b.opts.Device))); err != nil {
		return err
	}
	attr := func(a int) int {
		var v int32
		call(d.cuDeviceGetAttribute, uintptr(unsafe.Pointer(&v)), uintptr(a), uintptr(b.dev))
		return int(v)
	}
	b.cc = attr(attrComputeMajor)*10 + attr(attrComputeMinor)
	b.sms = attr(attrMultiprocessorCount)
	b.smemMax = attr(attrMaxSharedOptin)
	nameBuf := make([]byte, 256)
	call(d.cuDeviceGetName, uintptr(unsafe.Pointer(&nameBuf[0])), uintptr(len(nameBuf)), uintptr(b.dev))
	devName := gostring(uintptr(unsafe.Pointer(&nameBuf[0])))
	runtime.KeepAlive(nameBuf)
	var total uint64
	call(d.cuDeviceTotalMem, uintptr(unsafe.Pointer(&total)), uintptr(b.dev))
	if b.cc < 80 && !b.fp32 {
		// bf16 matrix products need sm_80; older GPUs run the fp32 mode.
		b.fp32 = true
	}
	if err := d.check("cuDevicePrimaryCtxRetain", call(d.cuDevicePrimaryCtxRetain, uintptr(unsafe.Pointer(&b.ctx)), uintptr(b.dev))); err != nil {
		return err
	}
	if err := d.check("cuCtxSetCurrent", call(d.cuCtxSetCurrent, b.ctx)); err != nil {
		return err
	}
	if err := d.check("cuStreamCreate", call(d.cuStreamCreate, uintptr(unsafe.Pointer(&b.stream)), streamNonBlocking)); err != nil {
		return err
	}
	// SAMBAEVAL_CUDA_PDL=wait keeps programmatic launches but compiles the
	// kernels without the early trigger (a diagnostic setting).
	// SAMBAEVAL_CUDA_TRACE=1 compiles them with the timeline trace
	// (kernels/cuda/trace_test.go).
	var opts []string
	if os.Getenv("SAMBAEVAL_CUDA_PDL") == "wait" {
		opts = append(opts, "-DSAMBAEVAL_PDL_NO_TRIGGER")
	}
	if os.Getenv("SAMBAEVAL_CUDA_TRACE") == "1" {
		opts = append(opts, "-DSAMBAEVAL_TRACE")
	}
	cubin, cached, err := cachedCompile(b.nv, d.version, source(), b.cc, opts)
	if err != nil {
		return fmt.Errorf("compiling the CUDA kernels for sm_%d with NVRTC %d.%d (%s): %w", b.cc, b.nv.major, b.nv.minor, b.nv.lib.name, err)
	}
	b.compiled = !cached
	if err := d.check("cuModuleLoadData", call(d.cuModuleLoadData, uintptr(unsafe.Pointer(&b.module)), uintptr(unsafe.Pointer(&cubin[0])))); err != nil {
		return fmt.Errorf("loading kernels compiled by NVRTC %d.%d into driver %s: %w", b.nv.major, b.nv.minor, versionString(d.version), err)
	}
	runtime.KeepAlive(cubin)
	for _, n := range kernelNames {
		var f uintptr
		cn := cstring(n)
		if err := d.check("cuModuleGetFunction("+n+")", call(d.cuModuleGetFunction, uintptr(unsafe.Pointer(&f)), b.module, uintptr(unsafe.Pointer(&cn[0])))); err != nil {
			return err
		}
		b.fn[n] = f
	}
	b.poison = os.Getenv("SAMBAEVAL_CUDA_POISON") == "1"
	b.noTiled = os.Getenv("SAMBAEVAL_CUDA_TILED") == "0"
	b.noMMB = os.Getenv("SAMBAEVAL_CUDA_MMB") == "0"
	b.mmbAll = os.Getenv("SAMBAEVAL_CUDA_MMB") == "all"
	b.noMLP = os.Getenv("SAMBAEVAL_CUDA_MLP") == "0"
	b.pdl = b.cc >= 90 && d.cuLaunchKernelEx != 0 && os.Getenv("SAMBAEVAL_CUDA_PDL") != "0"
	if b.pdl {
		// The parts of every launch's configuration that never change.
		b.launchAttr = launchAttr{id: launchAttrProgrammaticStreamSerialization, value: [64]byte{1}}
		b.launchCfg = launchConfig{stream: b.stream, attrs: uintptr(unsafe.Pointer(&b.launchAttr)), nattrs: 1}
	}
	h, err := cb.newHandle(b.stream, b.fp32)
	if err != nil {
		return err
	}
	b.blas = h
	mode := "bf16 GEMMs"
	if b.fp32 {
		mode = "fp32"
	}
	b.name = fmt.Sprintf("cuda:%d (%s, sm_%d, %d SMs, %.0f GiB, %s; driver %s, nvrtc %d.%d, cublas %d)",
		b.opts.Device, devName, b.cc, b.sms, float64(total)/(1<<30), mode, versionString(d.version), b.nv.major, b.nv.minor, cb.version)
	return nil
}

// release frees what init acquired; it tolerates a partial init.
func (b *Backend) release() {
	d := b.d
	if b.ctx != 0 {
		call(d.cuCtxSetCurrent, b.ctx)
	}
	if b.blas != nil {
		b.blas.close()
	}
	if b.module != 0 {
		call(d.cuModuleUnload, b.module)
	}
	if b.stream != 0 {
		call(d.cuStreamDestroy, b.stream)
	}
	if b.ctx != 0 {
		call(d.cuDevicePrimaryCtxRelease, uintptr(b.dev))
	}
}

// enter makes the backend's context current on this goroutine's thread and
// takes the lock; the returned function undoes both.
func (b *Backend) enter() func() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		panic("cuda: backend used after Close")
	}
	runtime.LockOSThread()
	b.must("cuCtxSetCurrent", call(b.d.cuCtxSetCurrent, b.ctx))
	return b.leave
}

func (b *Backend) leave() {
	runtime.UnlockOSThread()
	b.mu.Unlock()
}

// must panics with the error of a failed driver call.
func (b *Backend) must(op string, r uintptr) {
	if r != 0 {
		panic(b.d.err(op, r))
	}
}

// Name implements kernels.Backend.
func (b *Backend) Name() string { return b.name }

// FP32 reports whether the backend runs in exact float32 mode.
func (b *Backend) FP32() bool { return b.fp32 }

// Close implements kernels.Backend. Buffers still allocated are released
// with the context when no other user holds it.
func (b *Backend) Close() error {
	defer b.enter()()
	err := b.d.check("cuStreamSynchronize", call(b.d.cuStreamSynchronize, b.stream))
	b.dropGraphs()
	b.freeScratch()
	b.release()
	b.closed = true
	return err
}

// Synchronize waits for all queued work and reports a failure of any of it.
func (b *Backend) Synchronize() error {
	defer b.enter()()
	return b.d.check("cuStreamSynchronize", call(b.d.cuStreamSynchronize, b.stream))
}

// MemInfo returns the free and total device memory in bytes.
func (b *Backend) MemInfo() (free, total uint64, err error) {
	defer b.enter()()
	err = b.d.check("cuMemGetInfo", call(b.d.cuMemGetInfo, uintptr(unsafe.Pointer(&free)), uintptr(unsafe.Pointer(&total))))
	return free, total, err
}

// buffer is device memory of n elements of kind: kindF32, or kindBF16 for
// the key/value caches of the bf16 mode (AllocKV). Its memory spans a
// whole number of 32-bit words (words), which zeroing and poisoning fill.
type buffer struct {
	ptr  uintptr
	n    int
	kind int
	ver  uint64 // bumped on every write; shadows record it
}

func (x *buffer) Len() int { return x.n }

// words is the number of 32-bit words x's memory spans.
func (x *buffer) words() int { return (x.n*elemBytes(x.kind) + 3) / 4 }

// elemBytes is the size of an element of kind.
func elemBytes(kind int) int {
	if kind == kindF32 {
		return 4
	}
	return 2
}

func dev(b kernels.Buffer) *buffer { return b.(*buffer) }

// at returns the device address of element (r, c) of m.
func at(m kernels.Mat, r, c int) uintptr {
	return dev(m.Buf).ptr + uintptr(4*(m.Off+r*m.Stride+c))
}

// addr is the device address of m's first element.
func addr(m kernels.Mat) uintptr { return dev(m.Buf).ptr + uintptr(4*m.Off) }

// malloc allocates device memory or panics.
func (b *Backend) malloc(bytes int) uintptr {
	if bytes == 0 {
		return 0
	}
	var p uintptr
	if r := call(b.d.cuMemAlloc, uintptr(unsafe.Pointer(&p)), uintptr(bytes)); r != 0 {
		var free, total uint64
		call(b.d.cuMemGetInfo, uintptr(unsafe.Pointer(&free)), uintptr(unsafe.Pointer(&total)))
		panic(fmt.Errorf("allocating %d MiB on %s (%d MiB free): %w", bytes>>20, b.name, free>>20, b.d.err("cuMemAlloc", r)))
	}
	if b.poison {
		// Fill new memory with NaN so that a read of memory nothing wrote
		// shows in the results (SAMBAEVAL_CUDA_POISON=1, for tests):
		// 0x7fffffff is a float32 NaN, and its halves 0xffff and 0x7fff
		// are bf16 NaNs (a 16-bit buffer's memory is whole words).
		b.must("cuMemsetD32Async", call(b.d.cuMemsetD32Async, p, 0x7fffffff, uintptr(bytes/4), b.stream))
	}
	return p
}

// free releases device memory once the work queued so far is done. Every
// free invalidates the recorded decoding steps (they may use the memory);
// while a step is being recorded the free waits for the recording's end.
func (b *Backend) free(p uintptr) {
	if p == 0 {
		return
	}
	b.gen++
	if b.graph.capturing {
		b.graph.pending = append(b.graph.pending, p)
		return
	}
	b.must("cuStreamSynchronize", call(b.d.cuStreamSynchronize, b.stream))
	b.must("cuMemFree", call(b.d.cuMemFree, p))
}

// Alloc implements kernels.Backend.
func (b *Backend) Alloc(n int) kernels.Buffer {
	defer b.enter()()
	return b.alloc(n, kindF32)
}

// alloc returns a zeroed buffer of n elements of kind.
func (b *Backend) alloc(n, kind int) *buffer {
	x := &buffer{n: n, kind: kind}
	x.ptr = b.malloc(4 * x.words())
	if n > 0 {
		b.must("cuMemsetD32Async", call(b.d.cuMemsetD32Async, x.ptr, 0, uintptr(x.words()), b.stream))
	}
	return x
}

// kvKind is the element kind of the key/value caches AllocKV makes: bf16
// in bf16 mode unless f32KV, else float32. Every attention kernel of the
// bf16 mode reads both kinds; those that round the keys and values to
// bf16 for their products give the same bits from either (cu/attention.cu).
func (b *Backend) kvKind() int {
	if b.fp32 || b.f32KV {
		return kindF32
	}
	return kindBF16
}

// KVBytes implements kernels.KVCacheAllocator.
func (b *Backend) KVBytes() int { return elemBytes(b.kvKind()) }

// AllocKV implements kernels.KVCacheAllocator: a zeroed buffer of n·dim
// elements of the caches' kind (kvKind).
func (b *Backend) AllocKV(n, dim int) kernels.Buffer {
	defer b.enter()()
	return b.alloc(n*dim, b.kvKind())
}

// Free implements kernels.Backend.
func (b *Backend) Free(buf kernels.Buffer) {
	defer b.enter()()
	x := dev(buf)
	delete(b.shadows, x)
	b.free(x.ptr)
	x.ptr, x.n = 0, 0
}

// Write implements kernels.Backend; a bf16 buffer takes the values
// rounded to nearest even.
func (b *Backend) Write(buf kernels.Buffer, off int, src []float32) {
	if len(src) == 0 {
		return
	}
	defer b.enter()()
	x := dev(buf)
	if off < 0 || off+len(src) > x.n {
		panic(fmt.Sprintf("cuda: write of %d elements at %d into a buffer of %d", len(src), off, x.n))
	}
	x.ver++
	if x.kind == kindBF16 {
		h := make([]uint16, len(src))
		for i, v := range src {
			h[i] = dtype.F32ToBF16(v)
		}
		// The driver has read pageable host memory when the call returns.
		b.must("cuMemcpyHtoDAsync", call(b.d.cuMemcpyHtoDAsync, x.ptr+uintptr(2*off), uintptr(unsafe.Pointer(&h[0])), uintptr(2*len(h)), b.stream))
		runtime.KeepAlive(h)
		return
	}
	b.must("cuMemcpyHtoDAsync", call(b.d.cuMemcpyHtoDAsync, x.ptr+uintptr(4*off), uintptr(unsafe.Pointer(&src[0])), uintptr(4*len(src)), b.stream))
}

// Read implements kernels.Backend; a bf16 buffer's values are widened.
func (b *Backend) Read(dst []float32, buf kernels.Buffer, off int) {
	if len(dst) == 0 {
		return
	}
	defer b.enter()()
	x := dev(buf)
	if off < 0 || off+len(dst) > x.n {
		panic(fmt.Sprintf("cuda: read of %d elements at %d from a buffer of %d", len(dst), off, x.n))
	}
	if x.kind == kindBF16 {
		h := make([]uint16, len(dst))
		b.must("cuMemcpyDtoHAsync", call(b.d.cuMemcpyDtoHAsync, uintptr(unsafe.Pointer(&h[0])), x.ptr+uintptr(2*off), uintptr(2*len(h)), b.stream))
		b.must("cuStreamSynchronize", call(b.d.cuStreamSynchronize, b.stream))
		for i, v := range h {
			dst[i] = dtype.BF16ToF32(v)
		}
		return
	}
	b.must("cuMemcpyDtoHAsync", call(b.d.cuMemcpyDtoHAsync, uintptr(unsafe.Pointer(&dst[0])), x.ptr+uintptr(4*off), uintptr(4*len(dst)), b.stream))
	b.must("cuStreamSynchronize", call(b.d.cuStreamSynchronize, b.stream))
}

// Copy implements kernels.Backend: n elements between buffers of one kind.
func (b *Backend) Copy(dst kernels.Buffer, dstOff int, src kernels.Buffer, srcOff, n int) {
	if n == 0 {
		return
	}
	defer b.enter()()
	d, s := dev(dst), dev(src)
	if dstOff < 0 || dstOff+n > d.n || srcOff < 0 || srcOff+n > s.n {
		panic(fmt.Sprintf("cuda: copy of %d elements from %d/%d to %d/%d out of range", n, srcOff, s.n, dstOff, d.n))
	}
	if d.kind != s.kind {
		panic(fmt.Sprintf("cuda: copy between buffers of %d- and %d-byte elements", elemBytes(s.kind), elemBytes(d.kind)))
	}
	d.ver++
	esz := elemBytes(d.kind)
	b.must("cuMemcpyDtoDAsync", call(b.d.cuMemcpyDtoDAsync, d.ptr+uintptr(esz*dstOff), s.ptr+uintptr(esz*srcOff), uintptr(esz*n), b.stream))
}

// Zero implements kernels.Backend.
func (b *Backend) Zero(buf kernels.Buffer) {
	defer b.enter()()
	x := dev(buf)
	x.ver++
	if x.n > 0 {
		b.must("cuMemsetD32Async", call(b.d.cuMemsetD32Async, x.ptr, 0, uintptr(x.words()), b.stream))
	}
}

// Weight is a weight matrix in device memory.
type Weight struct {
	ptr        uintptr
	rows, cols int
	dt         dtype.DType // the type held on the device
	// tiled is the weights' copy in k_gemv_mmt's tiled layout (16-bit
	// weights; made by Backend.tiled on the first batched decoding product
	// that takes it), or 0; noTiled marks a weight whose copy did not fit.
	tiled   uintptr
	noTiled bool
}

// Rows implements kernels.Weight.
func (w *Weight) Rows() int { return w.rows }

// Cols implements kernels.Weight.
func (w *Weight) Cols() int { return w.cols }

// DType implements kernels.Weight: the type the device holds (F32 for
// every weight in fp32 mode).
func (w *Weight) DType() dtype.DType { return w.dt }

// kind is the kernels' element kind of the weight.
func (w *Weight) kind() int {
	switch w.dt {
	case dtype.BF16:
		return kindBF16
	case dtype.F16:
		return kindF16
	}
	return kindF32
}

// LoadWeight implements kernels.Backend: it copies data to the device,
// widening 16-bit types to float32 in fp32 mode.
func (b *Backend) LoadWeight(dt dtype.DType, rows, cols int, data []byte) (kernels.Weight, error) {
	if dt != dtype.F32 && dt != dtype.BF16 && dt != dtype.F16 {
		return nil, fmt.Errorf("weight dtype %s not supported (want F32, BF16 or F16)", dt)
	}
	n := rows * cols
	if len(data) != n*dt.Size() {
		return nil, fmt.Errorf("weight [%d, %d] %s needs %d bytes, got %d", rows, cols, dt, n*dt.Size(), len(data))
	}
	defer b.enter()()
	w := &Weight{rows: rows, cols: cols, dt: dt}
	if n == 0 {
		return w, nil
	}
	if dt == dtype.F16 && !b.fp32 {
		b.actKind = kindF16 // activations are shadowed in the weights' type
	}
	raw := b.malloc(len(data))
	// On the backend's stream (ordered after anything queued on the new
	// memory), then wait: data may be freed once LoadWeight returns.
	err := b.d.check("cuMemcpyHtoDAsync", call(b.d.cuMemcpyHtoDAsync, raw, uintptr(unsafe.Pointer(&data[0])), uintptr(len(data)), b.stream))
	if err == nil {
		err = b.d.check("cuStreamSynchronize", call(b.d.cuStreamSynchronize, b.stream))
	}
	if err != nil {
		b.free(raw)
		return nil, fmt.Errorf("uploading weight [%d, %d]: %w", rows, cols, err)
	}
	if dt == dtype.F32 || !b.fp32 {
		w.ptr = raw
		return w, nil
	}
	w.ptr, w.dt = b.malloc(4*n), dtype.F32
	kind := kindBF16
	if dt == dtype.F16 {
		kind = kindF16
	}
	b.p.reset()
	b.p.ptr(raw)
	b.p.ptr(w.ptr)
	b.p.i64(int64(n))
	b.p.i32(kind)
	b.launch("k_widen", grid1(n, 256), dim3{256, 1, 1}, 0)
	b.free(raw) // cuMemFree waits for the kernel
	return w, nil
}

// dim3 is a launch dimension.
type dim3 [3]int

// boolInt is 1 for true, 0 for false (a kernel's int flag).
func boolInt(v bool) int {
	if v {
		return 1
	}
	return 0
}

// grid1 is a 1-D grid covering n items with blocks of bs, capped.
func grid1(n, bs int) dim3 { return dim3{max(1, min((n+bs-1)/bs, 65535)), 1, 1} }

// grid2 covers rows × cols with blocks of bs threads along the columns.
func grid2(rows, cols, bs int) dim3 {
	return dim3{max(1, min((cols+bs-1)/bs, 65535)), max(1, min(rows, 65535)), 1}
}

// launch runs kernel name with the arguments in b.p. With programmatic
// dependent launch (b.pdl) the kernel may be scheduled while the previous
// kernel of the stream finishes; every kernel of cu/ starts with
// pdl_wait(), which holds it until that kernel's results are visible, so
// only the launch latency overlaps.
func (b *Backend) launch(name string, grid, block dim3, shmem int) {
	f := b.fn[name]
	if f == 0 {
		panic("cuda: unknown kernel " + name)
	}
	var r uintptr
	if b.pdl {
		cfg := &b.launchCfg // stream and attribute set by init
		cfg.grid = [3]uint32{uint32(grid[0]), uint32(grid[1]), uint32(grid[2])}
		cfg.block = [3]uint32{uint32(block[0]), uint32(block[1]), uint32(block[2])}
		cfg.shmem = uint32(shmem)
		r = call(b.d.cuLaunchKernelEx, uintptr(unsafe.Pointer(cfg)), f, b.p.argv(), 0)
	} else {
		r = call(b.d.cuLaunchKernel, f, uintptr(grid[0]), uintptr(grid[1]), uintptr(grid[2]),
			uintptr(block[0]), uintptr(block[1]), uintptr(block[2]), uintptr(shmem), b.stream, b.p.argv(), 0)
	}
	if r != 0 {
		panic(fmt.Errorf("launching %s grid %v block %v: %w", name, grid, block, b.d.err("cuLaunchKernel", r)))
	}
	b.traced(name)
}

// launchConfig mirrors the driver's CUlaunchConfig and launchAttr its
// CUlaunchAttribute (an id padded to 8 bytes, then a 64-byte union).
type launchConfig struct {
	grid, block [3]uint32
	shmem       uint32
	stream      uintptr
	attrs       uintptr
	nattrs      uint32
}

type launchAttr struct {
	id    uint32
	_     uint32
	value [64]byte
}

// launchAttrProgrammaticStreamSerialization is
// CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION; value 1 allows the
// launch to overlap the end of the previous kernel in the stream.
const launchAttrProgrammaticStreamSerialization = 6

// traced reports a queued call to the benchmark's tracer.
func (b *Backend) traced(name string) {
	if b.onLaunch != nil {
		b.onLaunch(name)
	}
}

// params packs kernel arguments: each value is stored 8-byte aligned in
// buf, and ptrs holds their addresses (the kernelParams array). Both live
// in the heap-allocated Backend, so the addresses stay valid.
type params struct {
	buf  [8192]byte
	ptrs [96]uintptr
	off  int
	n    int
}

func (p *params) reset() { p.off, p.n = 0, 0 }

// put copies size bytes at src into the block as the next argument.
func (p *params) put(src unsafe.Pointer, size int) {
	if p.off+size > len(p.buf) || p.n == len(p.ptrs) {
		panic("cuda: kernel arguments overflow")
	}
	copy(p.buf[p.off:p.off+size], unsafe.Slice((*byte)(src), size))
	p.ptrs[p.n] = uintptr(unsafe.Pointer(&p.buf[p.off]))
	p.n++
	p.off += (size + 7) &^ 7
}

func (p *params) ptr(v uintptr)     { p.put(unsafe.Pointer(&v), 8) }
func (p *params) i32(v int)         { x := int32(v); p.put(unsafe.Pointer(&x), 4) }
func (p *params) i64(v int64)       { p.put(unsafe.Pointer(&v), 8) }
func (p *params) f32(v float32)     { p.put(unsafe.Pointer(&v), 4) }
func (p *params) argv() uintptr     { return uintptr(unsafe.Pointer(&p.ptrs[0])) }
func (p *params) mat(m kernels.Mat) { p.ptr(addr(m)); p.i32(m.Stride) }

// shadow puts the 16-bit copy of a kernel's output: its address (0: none),
// row stride and element kind (shadowOut's results).
func (p *params) shadow(sh uintptr, ld, kind int) { p.ptr(sh); p.i32(ld); p.i32(kind) }

// checkInt panics when n does not fit the kernels' int arithmetic.
func checkInt(what string, n int) {
	if n > math.MaxInt32 {
		panic(fmt.Sprintf("cuda: %s %d exceeds the kernels' 32-bit range", what, n))
	}
}
