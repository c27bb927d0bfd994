package bench

import (
	"math"
	"os"
	"strings"
	"testing"

	"github.com/sambaeval/sambaeval/kernels"
	"github.com/sambaeval/sambaeval/kernels/cpu"
	"github.com/sambaeval/sambaeval/model"
)

const tinyDir = "../models/samba-tiny"

// TestForwardFLOPsCountsEveryWeight compares the FLOP count of one token
// at position 0 (one key per attention head) with the model's parameter
// count: two FLOPs per weight, the norms, convolutions, biases and scan
// parameters being a negligible remainder.
func TestForwardFLOPsCountsEveryWeight(t *testing.T) {
	for _, name := range []string{"Samba_421M", "Samba_1.3B", "Samba_3.8B", "Samba_421M_mqa6"} {
		c, err := model.Named(name)
		if err != nil {
			t.Fatal(err)
		}
		got := ForwardFLOPs(c, 0, 1, true)
		want := 2 * float64(c.ParamCount())
		if math.Abs(got-want) > 0.002*want {
			t.Errorf("%s: %.4g FLOPs for one token, want about %.4g", name, got, want)
		}
		// A token at position p has min(p+1, window) keys per head.
		attnLayers := len(attentionWindows(c))
		d := ForwardFLOPs(c, 5000, 1, true) - got
		wantD := float64(attnLayers) * 4 * float64(c.NHead*c.HeadSize) * float64(c.LocalWindow-1)
		if math.Abs(d-wantD) > 1e-9*wantD {
			t.Errorf("%s: attention at position 5000 adds %.4g FLOPs, want %.4g", name, d, wantD)
		}
	}
}

// TestRunTiny runs a short benchmark of samba-tiny, alone and in a batch
// of 3, and checks that the report is filled in and consistent.
func TestRunTiny(t *testing.T) {
	m, err := model.LoadDir(tinyDir, cpu.New())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, batch := range []int{1, 3} {
		r, err := Run(m, Options{PrefillTokens: 40, DecodeTokens: 3, Repeats: 1, Batch: batch, SkipMachine: true})
		if err != nil {
			t.Fatal(err)
		}
		if r.PrefillTokPerSec <= 0 || r.DecodeTokPerSec <= 0 || r.PrefillTokens != 40 || r.DecodeTokens != 3 || r.Batch != batch ||
			r.Model != "samba-tiny" {
			t.Fatalf("incomplete report %+v", r)
		}
		wantGF := r.PrefillTokPerSec * ForwardFLOPs(&m.Config, 0, 40, false) / 40 / 1e9
		if math.Abs(r.PrefillGFLOPS-wantGF) > 1e-9*wantGF {
			t.Errorf("batch %d: prefill %g GFLOP/s, want %g", batch, r.PrefillGFLOPS, wantGF)
		}
		if want := float64(batch) / (r.DecodeStepMS / 1e3); math.Abs(r.DecodeTokPerSec-want) > 1e-9*want {
			t.Errorf("batch %d: %g tokens/s for steps of %g ms", batch, r.DecodeTokPerSec, r.DecodeStepMS)
		}
		if want := DecodeBytes(&m.Config, 40+2+1, batch) / (r.DecodeStepMS / 1e3) / 1e9; math.Abs(r.DecodeGBPerSec-want) > 1e-9*want {
			t.Errorf("batch %d: %g GB/s, want %g", batch, r.DecodeGBPerSec, want)
		}
		if r.MatMulRate != 0 || r.PrefillMFU != 0 || r.DecodeBound != 0 {
			t.Errorf("batch %d: device figures on the CPU: %+v", batch, r)
		}
		t.Log("\n" + r.String())
	}
	// A step reads the weights once and each sequence's state.
	c := &m.Config
	blocks, head := c.MatMulParams()
	if w := DecodeBytes(c, 100, 0); w != 2*float64(blocks+head) {
		t.Errorf("the weights of a step: %g bytes, want %d", w, 2*(blocks+head))
	}
	one, three := DecodeBytes(c, 100, 1)-DecodeBytes(c, 100, 0), DecodeBytes(c, 100, 3)-DecodeBytes(c, 100, 0)
	if one <= 0 || math.Abs(three-3*one) > 1e-9*three {
		t.Errorf("state bytes: %g for one sequence, %g for three", one, three)
	}
}

// limited is the CPU backend presented as a device with its own limits
// and a queue to wait for.
type limited struct {
	kernels.Backend
	matmul, copy float64
	syncs        *int
}

func (l limited) MatMulRate() (float64, error)    { return l.matmul, nil }
func (l limited) CopyBandwidth() (float64, error) { return l.copy, nil }
func (l limited) Synchronize() error              { *l.syncs++; return nil }

// TestRunDeviceLimits checks that on a backend with its own device
// (kernels.Limits) prefill is judged against the device's product rate and
// decoding against reading every weight once per step at its copy rate,
// that the host's probes are not run, and that timers wait for an
// asynchronous backend's queue (kernels.Synchronizer).
func TestRunDeviceLimits(t *testing.T) {
	be := limited{Backend: cpu.New(), matmul: 3e11, copy: 5e10, syncs: new(int)}
	m, err := model.LoadDir(tinyDir, be)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	r, err := Run(m, Options{PrefillTokens: 32, DecodeTokens: 2, Repeats: 1, Batch: 2})
	if err != nil {
		t.Fatal(err)
	}
	c := &m.Config
	blocks, _ := c.MatMulParams()
	if want := r.PrefillTokPerSec * 2 * float64(blocks) / be.matmul; r.PrefillMFU <= 0 || math.Abs(r.PrefillMFU-want) > 1e-9*want {
		t.Errorf("MFU %g, want %g", r.PrefillMFU, want)
	}
	if want := DecodeBytes(c, 0, 0) / be.copy / (r.DecodeStepMS / 1e3); r.DecodeBound <= 0 || math.Abs(r.DecodeBound-want) > 1e-9*want {
		t.Errorf("decoding at %g of the bound, want %g", r.DecodeBound, want)
	}
	if r.MatMulRate != be.matmul || r.CopyRate != be.copy || r.Peak.Cores != 0 || r.BandwidthGBs != 0 || r.GEMMGFLOPS <= 0 {
		t.Errorf("limits %+v", r)
	}
	// The prefill's timer starts and stops on an empty queue, and so does
	// the GEMM's (decode steps read their tokens back).
	if want := 2*1 + 2*1; *be.syncs != want {
		t.Errorf("%d waits for the queue, want %d", *be.syncs, want)
	}
	out := r.String()
	for _, want := range []string{"MFU", "of the bound", "batch 2, 2 steps", "device   bf16 products"} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q:\n%s", want, out)
		}
	}
}

// randomModel builds a seeded random bf16 model of configuration c.
func randomModel(tb testing.TB, c *model.Config, seed uint64, be kernels.Backend) *model.Model {
	tb.Helper()
	m, err := model.Random(c, seed, be)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// BenchmarkEndToEnd measures prefill (512 tokens) and decode (32 steps
// after them) of samba-tiny and of a random Samba_421M, and reports the
// rates with the machine's FMA peak and read bandwidth. Set
// SAMBAEVAL_BENCH_MODELS to a list such as "Samba_1.3B,Samba_3.8B" to add
// random models of other named configurations.
func BenchmarkEndToEnd(b *testing.B) {
	type entry struct {
		name string
		load func() *model.Model
	}
	entries := []entry{
		{"samba-tiny", func() *model.Model {
			m, err := model.LoadDir(tinyDir, cpu.New())
			if err != nil {
				b.Fatal(err)
			}
			return m
		}},
	}
	for _, name := range append([]string{"Samba_421M"}, extraModels()...) {
		entries = append(entries, entry{name, func() *model.Model {
			if m, ok := randomModels[name]; ok { // built once for -count
				return m
			}
			c, err := model.Named(name)
			if err != nil {
				b.Fatal(err)
			}
			m := randomModel(b, c, 1, cpu.New())
			randomModels[name] = m
			return m
		}})
	}
	peak := cpu.MeasurePeak()
	bw := cpu.MeasureBandwidth(0)
	for _, e := range entries {
		b.Run(e.name, func(b *testing.B) {
			m := e.load()
			var r Report
			for b.Loop() {
				var err error
				if r, err = Run(m, Options{Repeats: 1, SkipMachine: true}); err != nil {
					b.Fatal(err)
				}
			}
			r.Peak, r.BandwidthGBs = peak, bw
			b.ReportMetric(r.PrefillTokPerSec, "prefill-tok/s")
			b.ReportMetric(r.PrefillGFLOPS, "prefill-GFLOP/s")
			b.ReportMetric(100*r.PrefillGFLOPS/peak.GFLOPS(), "prefill-%peak")
			b.ReportMetric(r.DecodeTokPerSec, "decode-tok/s")
			b.ReportMetric(r.DecodeGBPerSec, "decode-GB/s")
			b.ReportMetric(100*r.DecodeGBPerSec/bw, "decode-%bw")
			b.ReportMetric(r.PrefillCPURate, "prefill-tok/cpu-s")
			b.ReportMetric(r.DecodeCPURate, "decode-tok/cpu-s")
			b.Log("\n" + r.String())
		})
	}
}

// randomModels keeps the random models between runs of BenchmarkEndToEnd.
var randomModels = map[string]*model.Model{}

// extraModels lists the configurations named in SAMBAEVAL_BENCH_MODELS.
func extraModels() []string {
	return strings.FieldsFunc(os.Getenv("SAMBAEVAL_BENCH_MODELS"), func(r rune) bool { return r == ',' || r == ' ' })
}
