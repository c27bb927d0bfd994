// Package bench measures a model end to end on its backend: prefill and
// decode throughput, the GEMM rate at one of its layer shapes, and the
// limits they are judged against. On the CPU those are the host's FMA peak
// (prefill) and memory bandwidth (decoding); on a backend with its own
// device (kernels.Limits: the CUDA backend) the device's measured bf16
// product rate (prefill MFU) and copy rate (decoding against the bound of
// reading every weight once per step), as docs/performance-gpu.md defines
// them.
package bench

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/sambaeval/sambaeval/dtype"
	"github.com/sambaeval/sambaeval/internal/cputime"
	"github.com/sambaeval/sambaeval/kernels"
	"github.com/sambaeval/sambaeval/kernels/cpu"
	"github.com/sambaeval/sambaeval/model"
)

// Options configures Run. Zero fields take the defaults noted.
type Options struct {
	// PrefillTokens is the length of each prefill pass (default 512); the
	// decode steps start after such a prefill.
	PrefillTokens int
	// DecodeTokens is the number of single-token decode steps (default 32).
	DecodeTokens int
	// Batch is the number of sequences decoded together (default 1): each
	// is prefilled with its own PrefillTokens random tokens, then every
	// step feeds each one token, greedy (Model.ArgmaxBatch, as Generate
	// decodes greedy requests).
	Batch int
	// Repeats is the number of measurements of each kind; the median is
	// reported (default 3).
	Repeats int
	// Seed draws the token ids (random ids: the speed does not depend on them).
	Seed uint64
	// SkipMachine leaves out the peak and bandwidth probes (about a
	// second) and the GEMM measurement.
	SkipMachine bool
}

func (o *Options) defaults() {
	if o.PrefillTokens <= 0 {
		o.PrefillTokens = 512
	}
	if o.DecodeTokens <= 0 {
		o.DecodeTokens = 32
	}
	if o.Repeats <= 0 {
		o.Repeats = 3
	}
	if o.Batch <= 0 {
		o.Batch = 1
	}
}

// Report holds the measurements of Run. Rates are medians over the
// repeats; FLOPs count a multiply-add as two.
type Report struct {
	Model, Backend string

	PrefillTokens    int
	PrefillTokPerSec float64
	// PrefillGFLOPS is the model arithmetic of the prefill (ForwardFLOPs)
	// per second.
	PrefillGFLOPS float64
	// PrefillCPURate is the prefill rate per CPU-second of the whole
	// process times the number of threads: what the run would reach if no
	// other process took the cores (an upper bound, as the workers' idle
	// moments do not count). Zero where CPU time is not measured.
	PrefillCPURate float64

	DecodeTokens int
	Batch        int
	// DecodeTokPerSec counts the tokens of every sequence of the batch;
	// DecodeStepMS is the median time of one step (one token of each).
	DecodeTokPerSec float64
	DecodeStepMS    float64
	DecodeCPURate   float64 // as PrefillCPURate
	// DecodeGBPerSec is the memory a decode step must read (DecodeBytes)
	// times the step rate.
	DecodeGBPerSec float64

	// GEMM is the rate of one MatMul of PrefillTokens rows by the model's
	// MLP up-projection shape, with bfloat16 weights.
	GEMMShape  [3]int // M, N, K
	GEMMGFLOPS float64

	// Peak and BandwidthGBs describe the host (CPU backends; zero with
	// SkipMachine); shares of the peak are of Peak.GFLOPS().
	Peak         cpu.Peak
	BandwidthGBs float64

	// MatMulRate (FLOP/s) and CopyRate (bytes read plus written per
	// second) are the device's (backends with kernels.Limits; zero with
	// SkipMachine). PrefillMFU is 2 FLOPs per block weight and prefill
	// token over MatMulRate (the head and attention left out, as MFU
	// usually counts); DecodeBound is the share of the steps per second
	// that reading every weight once per step at CopyRate allows.
	MatMulRate, CopyRate    float64
	PrefillMFU, DecodeBound float64
}

// Run measures m. The model's sessions must not be in use meanwhile.
func Run(m *model.Model, o Options) (Report, error) {
	o.defaults()
	c := &m.Config
	r := Report{Model: c.Name, Backend: m.Backend().Name(), PrefillTokens: o.PrefillTokens, DecodeTokens: o.DecodeTokens, Batch: o.Batch}
	rng := rand.New(rand.NewPCG(o.Seed, 0x62656e6368))
	randomIDs := func(n int) []int32 {
		ids := make([]int32, n)
		for i := range ids {
			ids[i] = int32(rng.IntN(c.VocabSize))
		}
		return ids
	}
	threads := 1.0
	if cb, ok := m.Backend().(*cpu.Backend); ok {
		threads = float64(cb.Threads())
	}
	// cpuRate is n tokens per CPU-second since c0, times the threads.
	cpuRate := func(n int, c0 time.Duration) float64 {
		if c := cputime.Process() - c0; c > 0 {
			return float64(n) / c.Seconds() * threads
		}
		return 0
	}
	const warmup = 2 // steps before the timed ones: they make what later steps reuse (a GPU's recorded step)
	var pre, step, preCPU, decCPU []float64
	for i := 0; i < o.Repeats; i++ {
		sessions := make([]*model.Session, o.Batch)
		next := make([][]int32, o.Batch)
		if err := synchronize(m.Backend()); err != nil {
			return r, fmt.Errorf("bench: %w", err)
		}
		t, c0 := time.Now(), cputime.Process()
		for j := range sessions {
			sessions[j] = m.NewSession()
			sessions[j].ChunkSize = o.PrefillTokens
			if err := sessions[j].Prefill(randomIDs(o.PrefillTokens)); err != nil {
				return r, fmt.Errorf("bench prefill: %w", err)
			}
			next[j] = randomIDs(1)
		}
		if err := synchronize(m.Backend()); err != nil {
			return r, fmt.Errorf("bench prefill: %w", err)
		}
		pre = append(pre, float64(o.Batch*o.PrefillTokens)/time.Since(t).Seconds())
		preCPU = append(preCPU, cpuRate(o.Batch*o.PrefillTokens, c0))
		for k := 0; k < warmup+o.DecodeTokens; k++ {
			if k == warmup {
				t, c0 = time.Now(), cputime.Process()
			}
			toks, err := m.ArgmaxBatch(sessions, next, 1)
			if err != nil {
				return r, fmt.Errorf("bench decode: %w", err)
			}
			for j, tok := range toks {
				next[j][0] = tok
			}
		}
		step = append(step, time.Since(t).Seconds()/float64(o.DecodeTokens))
		decCPU = append(decCPU, cpuRate(o.Batch*o.DecodeTokens, c0))
		for _, s := range sessions {
			s.Free()
		}
	}
	r.PrefillCPURate, r.DecodeCPURate = median(preCPU), median(decCPU)
	r.PrefillTokPerSec = median(pre)
	r.PrefillGFLOPS = r.PrefillTokPerSec * ForwardFLOPs(c, 0, o.PrefillTokens, false) / float64(o.PrefillTokens) / 1e9
	stepSec := median(step)
	r.DecodeStepMS = 1e3 * stepSec
	r.DecodeTokPerSec = float64(o.Batch) / stepSec
	r.DecodeGBPerSec = DecodeBytes(c, o.PrefillTokens+warmup+o.DecodeTokens/2, o.Batch) / stepSec / 1e9

	if !o.SkipMachine {
		var err error
		r.GEMMShape = [3]int{o.PrefillTokens, c.IntermediateSize, c.NEmbd}
		if r.GEMMGFLOPS, err = GEMMRate(m.Backend(), r.GEMMShape, o.Repeats); err != nil {
			return r, err
		}
		if lim, ok := m.Backend().(kernels.Limits); ok {
			if r.MatMulRate, err = lim.MatMulRate(); err != nil {
				return r, fmt.Errorf("bench: the device's product rate: %w", err)
			}
			if r.CopyRate, err = lim.CopyBandwidth(); err != nil {
				return r, fmt.Errorf("bench: the device's copy rate: %w", err)
			}
		} else {
			r.Peak = cpu.MeasurePeak()
			r.BandwidthGBs = cpu.MeasureBandwidth(0)
		}
	}
	if r.MatMulRate > 0 {
		blocks, _ := c.MatMulParams()
		r.PrefillMFU = r.PrefillTokPerSec * 2 * float64(blocks) / r.MatMulRate
	}
	if r.CopyRate > 0 {
		r.DecodeBound = DecodeBytes(c, 0, 0) / r.CopyRate / stepSec // the weights' reading time over the step's
	}
	return r, nil
}

// GEMMRate returns the median GFLOP/s of repeats MatMuls of shape
// [M, N, K] = sh on be, with random bfloat16 weights.
func GEMMRate(be kernels.Backend, sh [3]int, repeats int) (float64, error) {
	M, N, K := sh[0], sh[1], sh[2]
	rng := rand.New(rand.NewPCG(1, 2))
	raw := make([]byte, 2*N*K)
	for i := 0; i < N*K; i++ {
		h := dtype.F32ToBF16(float32(rng.NormFloat64() * 0.02))
		raw[2*i], raw[2*i+1] = byte(h), byte(h>>8)
	}
	w, err := be.LoadWeight(dtype.BF16, N, K, raw)
	if err != nil {
		return 0, fmt.Errorf("bench GEMM: %w", err)
	}
	xv := make([]float32, M*K)
	for i := range xv {
		xv[i] = float32(rng.NormFloat64())
	}
	x := kernels.NewMat(be.Alloc(M*K), M, K)
	be.Write(x.Buf, 0, xv)
	dst := kernels.NewMat(be.Alloc(M*N), M, N)
	defer be.Free(x.Buf)
	defer be.Free(dst.Buf)
	be.MatMul(dst, x, w, false) // warm up
	var rates []float64
	for i := 0; i < max(repeats, 1); i++ {
		if err := synchronize(be); err != nil {
			return 0, fmt.Errorf("bench GEMM: %w", err)
		}
		t := time.Now()
		be.MatMul(dst, x, w, false)
		if err := synchronize(be); err != nil {
			return 0, fmt.Errorf("bench GEMM: %w", err)
		}
		rates = append(rates, 2*float64(M)*float64(N)*float64(K)/time.Since(t).Seconds()/1e9)
	}
	return median(rates), nil
}

// synchronize waits for the work be has queued (kernels.Synchronizer),
// so that a timer stopped after it has timed the work, not its queueing.
func synchronize(be kernels.Backend) (err error) {
	defer kernels.Catch(&err)
	if s, ok := be.(kernels.Synchronizer); ok {
		return s.Synchronize()
	}
	return nil
}

// ForwardFLOPs is the arithmetic of feeding n tokens at positions
// pos0 … pos0+n-1 through the model: the weight products of every block
// (2 FLOPs per weight and token), attention scores and weighted values
// (4·head size FLOPs per head, query and key in the window), and, when
// withHead, the output head. Element-wise work (norms, the scan, the
// convolution) is left out.
func ForwardFLOPs(c *model.Config, pos0, n int, withHead bool) float64 {
	blocks, head := c.MatMulParams()
	perToken, attn := float64(blocks), 0.0
	for _, window := range attentionWindows(c) {
		for p := pos0; p < pos0+n; p++ {
			keys := p + 1
			if window > 0 {
				keys = min(keys, window)
			}
			attn += 4 * float64(c.HeadSize*c.NHead) * float64(keys)
		}
	}
	if withHead {
		perToken += float64(head)
	}
	return 2*perToken*float64(n) + attn
}

// attentionWindows lists the window of every attention mixer (0: full).
func attentionWindows(c *model.Config) []int {
	layout, _ := c.Blocks()
	var ws []int
	for _, b := range layout {
		for _, mx := range b.Mixers {
			if mx.Kind == model.Attention {
				ws = append(ws, mx.Window)
			}
		}
	}
	return ws
}

// DecodeBytes is the memory one decode step of batch sequences at
// position pos must read: every weight matrix including the head, in the
// configuration's torch_dtype (bfloat16 when unset), once, and for each
// sequence the keys and values in each attention window and each Mamba
// layer's state (read and written).
func DecodeBytes(c *model.Config, pos, batch int) float64 {
	es := 2.0
	if c.TorchDType == "float32" {
		es = 4
	}
	blocks, head := c.MatMulParams()
	weights := float64(blocks+head) * es
	var state float64
	layout, _ := c.Blocks()
	E, N := float64(c.DInner()), float64(c.MambaDState)
	for _, b := range layout {
		for _, mx := range b.Mixers {
			switch mx.Kind {
			case model.Mamba:
				state += 2 * 4 * (E*N + float64(c.MambaDConv-1)*E)
			case model.Attention:
				keys := pos + 1
				if mx.Window > 0 {
					keys = min(keys, mx.Window)
				}
				state += 2 * 4 * float64(keys*c.NQueryGroups*c.HeadSize)
			}
		}
	}
	return weights + float64(batch)*state
}

// String formats the report as a short table.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "model    %s on %s\n", r.Model, r.Backend)
	tokens := fmt.Sprintf("%d tokens", r.PrefillTokens)
	if r.Batch > 1 {
		tokens = fmt.Sprintf("%d sequences of %d tokens, one after the other", r.Batch, r.PrefillTokens)
	}
	fmt.Fprintf(&b, "prefill  %8.1f tok/s  (%s)  %7.1f GFLOP/s", r.PrefillTokPerSec, tokens, r.PrefillGFLOPS)
	if r.Peak.GFLOPS() > 0 {
		fmt.Fprintf(&b, "  %4.0f%% of FMA peak", 100*r.PrefillGFLOPS/r.Peak.GFLOPS())
	}
	if r.PrefillMFU > 0 {
		fmt.Fprintf(&b, "  MFU %.1f%% of the device's bf16 product rate", 100*r.PrefillMFU)
	}
	if r.PrefillCPURate > 0 {
		fmt.Fprintf(&b, "  [%.1f tok/s by CPU time]", r.PrefillCPURate)
	}
	steps := fmt.Sprintf("%d steps", r.DecodeTokens)
	if r.Batch > 1 {
		steps = fmt.Sprintf("batch %d, %d steps", r.Batch, r.DecodeTokens)
	}
	fmt.Fprintf(&b, "\ndecode   %8.1f tok/s  (%s of %.3f ms)  %7.1f GB/s", r.DecodeTokPerSec, steps, r.DecodeStepMS, r.DecodeGBPerSec)
	if r.BandwidthGBs > 0 {
		fmt.Fprintf(&b, "  %4.0f%% of read bandwidth", 100*r.DecodeGBPerSec/r.BandwidthGBs)
	}
	if r.DecodeBound > 0 {
		fmt.Fprintf(&b, "  %.1f%% of the bound (every weight read once per step at the copy rate)", 100*r.DecodeBound)
	}
	if r.DecodeCPURate > 0 {
		fmt.Fprintf(&b, "  [%.1f tok/s by CPU time]", r.DecodeCPURate)
	}
	b.WriteString("\n")
	if r.GEMMGFLOPS > 0 {
		fmt.Fprintf(&b, "GEMM     %d×%d×%d bf16  %7.1f GFLOP/s", r.GEMMShape[0], r.GEMMShape[1], r.GEMMShape[2], r.GEMMGFLOPS)
		if r.Peak.GFLOPS() > 0 {
			fmt.Fprintf(&b, "  %4.0f%% of FMA peak", 100*r.GEMMGFLOPS/r.Peak.GFLOPS())
		}
		if r.MatMulRate > 0 {
			fmt.Fprintf(&b, "  %4.0f%% of the device's bf16 product rate", 100*r.GEMMGFLOPS*1e9/r.MatMulRate)
		}
		b.WriteString("\n")
	}
	if r.Peak.Cores > 0 {
		fmt.Fprintf(&b, "machine  %d cores at %.2f GHz: FMA peak %.1f GFLOP/s (%.1f measured), read bandwidth %.1f GB/s\n",
			r.Peak.Cores, r.Peak.ClockGHz, r.Peak.TheoreticalGFLOPS, r.Peak.FMAGFLOPS, r.BandwidthGBs)
	}
	if r.MatMulRate > 0 {
		fmt.Fprintf(&b, "device   bf16 products (8192³, float32 accumulation) %.0f TFLOP/s; device-to-device copy %.0f GB/s (read + written)\n",
			r.MatMulRate/1e12, r.CopyRate/1e9)
	}
	return b.String()
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
