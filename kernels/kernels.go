// Package kernels defines the narrow interface between the model and the
// compute backends. A Backend owns memory (float32 activations, weights in
// their stored type) and runs the handful of operations a Samba forward pass
// is made of. The model never imports a backend package: backends register
// themselves by name with Register, and callers pick one with Open.
//
// Every operation is specified by the reference implementation in
// kernels/cpu (files ref*.go); faster implementations are tested against it.
package kernels

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/sambaeval/sambaeval/dtype"
)

// Buffer is a block of memory owned by a backend: float32 elements, except
// in the key/value cache buffers of a backend with KVCacheAllocator, whose
// elements may be narrower (see there).
type Buffer interface {
	// Len is the number of elements.
	Len() int
}

// Mat is a row-major matrix view of a Buffer: element (r, c) is at
// Off + r*Stride + c. Views share memory with the buffer.
type Mat struct {
	Buf                     Buffer
	Off, Rows, Cols, Stride int
}

// NewMat views buf as a contiguous rows×cols matrix starting at element 0.
func NewMat(buf Buffer, rows, cols int) Mat {
	if rows*cols > buf.Len() {
		panic(fmt.Sprintf("kernels: %d×%d matrix does not fit a buffer of %d", rows, cols, buf.Len()))
	}
	return Mat{Buf: buf, Rows: rows, Cols: cols, Stride: cols}
}

// RowSlice views rows [r0, r1).
func (m Mat) RowSlice(r0, r1 int) Mat {
	if r0 < 0 || r1 > m.Rows || r0 > r1 {
		panic(fmt.Sprintf("kernels: rows [%d,%d) of a %d-row matrix", r0, r1, m.Rows))
	}
	m.Off += r0 * m.Stride
	m.Rows = r1 - r0
	return m
}

// ColSlice views columns [c0, c1).
func (m Mat) ColSlice(c0, c1 int) Mat {
	if c0 < 0 || c1 > m.Cols || c0 > c1 {
		panic(fmt.Sprintf("kernels: columns [%d,%d) of a %d-column matrix", c0, c1, m.Cols))
	}
	m.Off += c0
	m.Cols = c1 - c0
	return m
}

// Weight is a weight matrix [Rows = out features, Cols = in features] held
// by a backend in its stored element type.
type Weight interface {
	Rows() int
	Cols() int
	DType() dtype.DType
}

// Seq locates one sequence inside a batch: its tokens are the rows
// [Row, Row+Len) of the batch's activations, and the first of them sits at
// absolute position Pos of its sequence.
type Seq struct {
	Row, Len, Pos int
}

// MambaState is what one sequence carries through one Mamba layer between
// calls: the last DConv-1 inputs of the causal convolution and the SSM
// state, both float32.
type MambaState struct {
	Conv Buffer // [DConv-1, E], oldest input first
	SSM  Buffer // [E, N]
}

// KVCache holds the keys and values (after RoPE) of one sequence's earlier
// positions for one attention layer. Position p is stored in slot p % Cap.
// A sliding-window layer of window w needs Cap ≥ w-1 and then uses O(w)
// memory for any length; a full-attention cache is grown by the model so
// that it never wraps.
type KVCache struct {
	K, V Buffer // [Cap, NKV*HeadDim]
	Cap  int
}

// KVCacheAllocator is an optional Backend interface for a backend that
// keeps key/value caches in a narrower type than float32 (the CUDA
// backend's bf16 mode keeps them in bf16, to which its attention kernels
// round the keys and values anyway). The model allocates its caches
// through it; without it they are float32 buffers from Alloc.
type KVCacheAllocator interface {
	// KVBytes is the size in bytes of an element of the buffers AllocKV
	// returns: 4 for float32, 2 for bf16.
	KVBytes() int
	// AllocKV returns a zeroed buffer for the keys or values of n cache
	// positions of dim elements each. Its Len and the offsets and counts
	// of Write, Read and Copy count its elements (Copy only between two
	// buffers of the same type); Write rounds the values to the buffer's
	// type (to nearest, ties to even), Read widens them exactly; Zero and
	// Free take it like any buffer.
	AllocKV(n, dim int) Buffer
}

// AttnShape describes an attention layer.
type AttnShape struct {
	NHead, NKV, HeadDim int
	// Window is the number of keys a query sees, itself included:
	// query i attends to keys i-(Window-1) … i. Window ≤ 0 means unlimited.
	Window int
	Scale  float32
}

// ScanParams are the per-layer parameters of the selective scan, float32.
type ScanParams struct {
	A         Mat // [E, N], already A = -exp(A_log)
	D         Mat // [1, E] skip
	DeltaBias Mat // [1, E], added to Δ before the softplus
}

// TokenScore is what scoring keeps of one row of logits.
type TokenScore struct {
	LogProb float32 // log-softmax of the target token
	Argmax  int32   // the highest-scoring token (lowest id on ties)
	// Greedy reports whether the target is the argmax.
	Greedy bool
}

// Backend runs the operations of a forward pass. Unless stated, operations
// read and write Mats of float32, accumulate in float32 or wider, and may
// overwrite dst even if it aliases an input only where stated.
type Backend interface {
	// Name identifies the backend and its device, e.g. "cpu (2 threads, avx2+fma)".
	Name() string
	// Close releases the backend's resources.
	Close() error

	// Alloc returns a zeroed buffer of n float32.
	Alloc(n int) Buffer
	// Free releases a buffer allocated by Alloc.
	Free(b Buffer)
	// Write copies src into b starting at element off.
	Write(b Buffer, off int, src []float32)
	// Read copies elements [off, off+len(dst)) of b into dst.
	Read(dst []float32, b Buffer, off int)
	// Copy copies n elements from src[srcOff:] to dst[dstOff:].
	Copy(dst Buffer, dstOff int, src Buffer, srcOff, n int)
	// Zero sets every element of b to 0.
	Zero(b Buffer)

	// LoadWeight makes a [rows, cols] weight from raw little-endian data of
	// type dt. The backend may keep a view of data instead of copying it.
	LoadWeight(dt dtype.DType, rows, cols int, data []byte) (Weight, error)

	// Embed sets dst[i] = table[ids[i]] (dst is [len(ids), table.Cols()]).
	Embed(dst Mat, table Weight, ids []int32)
	// RMSNorm sets dst[i] = x[i] · rsqrt(mean(x[i]²) + eps) · w, with w [1, cols].
	RMSNorm(dst, x, w Mat, eps float32)
	// MatMul sets dst = x · wᵀ (dst += x · wᵀ when accumulate), x [M, K],
	// w [N, K], dst [M, N]. Each output row depends only on the same row of x.
	MatMul(dst, x Mat, w Weight, accumulate bool)
	// Add sets dst += x.
	Add(dst, x Mat)
	// SwiGLU sets dst = SiLU(gate) ⊙ up; dst may alias gate or up.
	SwiGLU(dst, gate, up Mat)
	// LayerNorm sets dst[i] = (x[i] - mean(x[i])) · rsqrt(var(x[i]) + eps) ·
	// w + b, with the biased variance and w, b [1, cols]; dst may alias x.
	LayerNorm(dst, x, w, b Mat, eps float32)
	// AddBias sets dst[i] += bias for every row i, with bias [1, cols].
	AddBias(dst, bias Mat)
	// AddScaled sets dst += alpha · x.
	AddScaled(dst, x Mat, alpha float32)

	// MambaConv sets dst = SiLU(causal depthwise conv(x) + bias) per
	// sequence, where the inputs before each sequence's first row come from
	// its state's Conv (zeros for a fresh state), and then stores the
	// sequence's last DConv-1 inputs back into Conv. weight is [E, DConv]
	// with weight[:, DConv-1] multiplying the current token; bias is [1, E].
	MambaConv(dst, x, weight, bias Mat, states []*MambaState, seqs []Seq)
	// SelectiveScan runs the Mamba-1 recurrence per sequence, starting from
	// and updating each state's SSM:
	//   Δ = softplus(delta + DeltaBias)           [T, E]
	//   s_t = exp(Δ_t·A) ⊙ s_{t-1} + Δ_t·u_t ⊗ B_t  [E, N]
	//   y_t = s_t·C_t + D ⊙ u_t
	//   dst_t = y_t ⊙ SiLU(z_t)
	// u, delta, z and dst are [T, E]; B and C are [T, N]. When z has no
	// buffer (the zero Mat) there is no gate: dst_t = y_t.
	SelectiveScan(dst, u, delta, B, C, z Mat, p ScanParams, states []*MambaState, seqs []Seq)
	// RoPE rotates x [T, nHeads*headDim] in place, GPT-NeoX rotate-half
	// pairing (j, j+headDim/2), angle p·base^(-2j/headDim) computed in
	// float64 for absolute position p.
	RoPE(x Mat, nHeads, headDim int, base float64, seqs []Seq)
	// Attention computes dst [T, NHead*HeadDim] from q [T, NHead*HeadDim],
	// k, v [T, NKV*HeadDim]: softmax(q·kᵀ·Scale) over the causal window of
	// each query, taking earlier positions from the sequence's cache, query
	// head h using key/value head h / (NHead/NKV). It then stores the chunk's
	// keys and values in the caches.
	Attention(dst, q, k, v Mat, shape AttnShape, caches []*KVCache, seqs []Seq)
	// LogProbs scores row i of logits [M, V] against targets[i]. A negative
	// target yields only the argmax.
	LogProbs(out []TokenScore, logits Mat, targets []int32)
}

// StepRecorder is an optional Backend interface for decoding, where a step
// is hundreds of small operations and launching them costs more host time
// than the device spends on them. DecodeStep runs one step in which every
// sequence feeds one token: seqs[i] is row i of the batch (Len 1) and its
// token is ids[i]. forward must issue the step's operations. The backend
// either calls forward, possibly recording the operations, or replays the
// operations recorded for the same key with the new token ids and
// positions. key must identify everything else the operations depend on
// (which states the sequences use, the caller's buffers); the backend
// drops its recordings when it frees memory. DecodeStep reports whether it
// called forward.
type StepRecorder interface {
	DecodeStep(key string, ids []int32, seqs []Seq, forward func()) (called bool)
}

// GatedMatMul is an optional Backend interface. MatMulSwiGLU sets dst =
// SiLU(x·w1ᵀ) ⊙ (x·w2ᵀ), what MatMul into two matrices and SwiGLU compute,
// in one operation where the backend can do so faster, and reports
// whether it did; when it returns false it did nothing.
type GatedMatMul interface {
	MatMulSwiGLU(dst, x Mat, w1, w2 Weight) bool
}

// FusedMLP is an optional Backend interface. MLP adds a SwiGLU MLP's
// output to the residual, x += (SiLU(h·gateᵀ) ⊙ (h·upᵀ))·downᵀ, what
// MatMulSwiGLU (or MatMul, MatMul and SwiGLU) into hid followed by
// MatMul(x, hid, down, true) computes, in fewer kernels where the backend
// can do so faster (hid, [h.Rows, gate's rows], is its scratch), and
// reports whether it did; when it returns false it did nothing.
type FusedMLP interface {
	MLP(x, h, hid Mat, gate, up, down Weight) bool
}

// DeltaScan is an optional Backend interface for decoding, where Mamba's
// dt_proj is a small product of its own: SelectiveScanDelta does what
// MatMul(delta, dlow, dtProj, false) followed by SelectiveScan(dst, u,
// delta, B, C, z, p, states, seqs) does, without writing delta, and reports
// whether it did; when it returns false it did nothing.
type DeltaScan interface {
	SelectiveScanDelta(dst, u, dlow Mat, dtProj Weight, B, C, z Mat, p ScanParams, states []*MambaState, seqs []Seq) bool
}

// Fault marks an error a backend's device reported (out of memory, a
// failed launch). The Backend interface has no error results, so a backend
// panics with such an error; Catch turns the panic back into an error
// where the caller can return one.
type Fault interface {
	error
	Fault()
}

// Catch, deferred in a function with an error result, turns a panic whose
// value is (or wraps) a Fault into that function's error; any other panic
// goes on.
func Catch(err *error) {
	r := recover()
	if r == nil {
		return
	}
	if e, ok := r.(error); ok {
		var f Fault
		if errors.As(e, &f) {
			*err = e
			return
		}
	}
	panic(r)
}

// Synchronizer is an optional Backend interface for a backend whose
// operations run asynchronously (a GPU's queue): Synchronize waits until
// all queued work is done and reports a failure of any of it. Reads wait
// by themselves; a timer around work that ends in none must call it.
type Synchronizer interface {
	Synchronize() error
}

// Limits is an optional Backend interface for a backend on its own device
// (a GPU), whose speed is judged against that device's measured ceilings
// rather than the host CPU's: the rate of a large 16-bit matrix product
// (FLOP/s, float32 accumulation) and the device-to-device copy rate (bytes
// read plus written per second). Each call measures anew (about a second).
type Limits interface {
	MatMulRate() (float64, error)
	CopyBandwidth() (float64, error)
}

// Factory opens a backend; device is the part of --device after the name
// (e.g. "1" for "cuda:1"), empty when not given.
type Factory func(device string) (Backend, error)

var (
	mu       sync.Mutex
	registry = map[string]Factory{}
	priority = map[string]int{}
)

// Register makes a backend available under name. Backends with a higher
// priority are preferred by "auto".
func Register(name string, prio int, f Factory) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registry[name]; dup {
		panic("kernels: backend registered twice: " + name)
	}
	registry[name] = f
	priority[name] = prio
}

// Names lists the registered backends, preferred first.
func Names() []string {
	mu.Lock()
	defer mu.Unlock()
	var names []string
	for n := range registry {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		if priority[names[i]] != priority[names[j]] {
			return priority[names[i]] > priority[names[j]]
		}
		return names[i] < names[j]
	})
	return names
}

// Open returns the backend a --device value names: "auto" (the preferred
// backend that opens), "cpu", "cuda", "cuda:1", ...
func Open(device string) (Backend, error) {
	if device == "" {
		device = "auto"
	}
	name, sub, _ := strings.Cut(device, ":")
	if name == "auto" {
		var errs []string
		for _, n := range Names() {
			mu.Lock()
			f := registry[n]
			mu.Unlock()
			b, err := f("")
			if err == nil {
				return b, nil
			}
			errs = append(errs, fmt.Sprintf("%s: %v", n, err))
		}
		return nil, fmt.Errorf("no backend could be opened (%s)", strings.Join(errs, "; "))
	}
	mu.Lock()
	f, ok := registry[name]
	mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("unknown device %q (have: auto, %s)", device, strings.Join(Names(), ", "))
	}
	return f(sub)
}
