package bench

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/sambaeval/sambaeval/checkpoint"
	"github.com/sambaeval/sambaeval/dtype"
	"github.com/sambaeval/sambaeval/kernels"
	"github.com/sambaeval/sambaeval/kernels/cpu"
	"github.com/sambaeval/sambaeval/model"
)

const tinyDir = "../../../models/samba-tiny"

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
		layout, _ := c.Blocks()
		attnLayers := 0
		for _, b := range layout {
			if b.Mixer == model.Attention {
				attnLayers++
			}
		}
		d := ForwardFLOPs(c, 5000, 1, true) - got
		wantD := float64(attnLayers) * 4 * float64(c.NHead*c.HeadSize) * float64(c.LocalWindow-1)
		if math.Abs(d-wantD) > 1e-9*wantD {
			t.Errorf("%s: attention at position 5000 adds %.4g FLOPs, want %.4g", name, d, wantD)
		}
	}
}

// TestRunTiny runs a short benchmark of samba-tiny and checks that the
// report is filled in and consistent.
func TestRunTiny(t *testing.T) {
	m, err := model.LoadDir(tinyDir, cpu.New())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	r, err := Run(m, Options{PrefillTokens: 40, DecodeTokens: 3, Repeats: 1, SkipMachine: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.PrefillTokPerSec <= 0 || r.DecodeTokPerSec <= 0 || r.PrefillTokens != 40 || r.DecodeTokens != 3 || r.Model != "samba-tiny" {
		t.Fatalf("incomplete report %+v", r)
	}
	wantGF := r.PrefillTokPerSec * ForwardFLOPs(&m.Config, 0, 40, false) / 40 / 1e9
	if math.Abs(r.PrefillGFLOPS-wantGF) > 1e-9*wantGF {
		t.Errorf("prefill %g GFLOP/s, want %g", r.PrefillGFLOPS, wantGF)
	}
	t.Log("\n" + r.String())
}

// randomModel builds a model of configuration c with seeded random
// bfloat16 weights of plausible scale, for speed measurements.
func randomModel(tb testing.TB, c *model.Config, seed uint64, be kernels.Backend) *model.Model {
	tb.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	src := checkpoint.Map{}
	add := func(name string, f func(i int) float64, shape ...int) {
		n := 1
		for _, s := range shape {
			n *= s
		}
		data := make([]byte, 2*n)
		for i := 0; i < n; i++ {
			binary.LittleEndian.PutUint16(data[2*i:], dtype.F32ToBF16(float32(f(i))))
		}
		src[name] = &checkpoint.Tensor{Name: name, DType: dtype.BF16, Shape: shape, Data: data}
	}
	normal := func(int) float64 { return rng.NormFloat64() * 0.02 }
	one := func(int) float64 { return 1 }
	layout, err := c.Blocks()
	if err != nil {
		tb.Fatal(err)
	}
	D, V, F := c.NEmbd, c.PaddedVocabSize, c.IntermediateSize
	E, R, N, K := c.DInner(), c.MambaDtRank, c.MambaDState, c.MambaDConv
	add("transformer.wte.weight", normal, V, D)
	add("transformer.ln_f.weight", one, D)
	for i, b := range layout {
		p := fmt.Sprintf("transformer.h.%d.", i)
		add(p+"norm_1.weight", one, D)
		add(p+"norm_2.weight", one, D)
		add(p+"mlp.swiglu.w1.weight", normal, F, D)
		add(p+"mlp.swiglu.w2.weight", normal, F, D)
		add(p+"mlp.swiglu.w3.weight", normal, D, F)
		if b.Mixer == model.Attention {
			add(p+"attn.attn.weight", normal, c.QKVRows(), D)
			add(p+"attn.proj.weight", normal, D, c.NHead*c.HeadSize)
			continue
		}
		add(p+"attn.in_proj.weight", normal, 2*E, D)
		add(p+"attn.conv1d.weight", func(int) float64 { return (2*rng.Float64() - 1) / 2 }, E, 1, K)
		add(p+"attn.conv1d.bias", func(int) float64 { return 0 }, E)
		add(p+"attn.x_proj.weight", normal, R+2*N, E)
		add(p+"attn.dt_proj.weight", normal, E, R)
		add(p+"attn.dt_proj.bias", func(int) float64 { return -4.6 }, E) // softplus ≈ 0.01
		add(p+"attn.A_log", func(i int) float64 { return math.Log(float64(i%N + 1)) }, E, N)
		add(p+"attn.D", one, E)
		add(p+"attn.out_proj.weight", normal, D, E)
	}
	m, err := model.New(c, src, be)
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
