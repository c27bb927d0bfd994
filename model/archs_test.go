package model

import (
	"encoding/binary"
	"encoding/json"
	"flag"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sambaeval/sambaeval/checkpoint"
	"github.com/sambaeval/sambaeval/dtype"
	"github.com/sambaeval/sambaeval/kernels"
	"github.com/sambaeval/sambaeval/kernels/cpu"
)

// The tiny checkpoints under testdata/archs are written by
//
//	go test ./model -run TestWriteArchCheckpoints -write-archs
//
// and their golden log-probabilities by the independent PyTorch reference
//
//	/usr/bin/python3 model/testdata/ref/golden.py model/testdata/archs
//
// (Debian's python3-torch). The checkpoints carry the real tensor names of
// each family; the reference reads them with its own code.
var writeArchs = flag.Bool("write-archs", false, "rewrite the tiny checkpoints under testdata/archs")

const archDir = "testdata/archs"

// archCase is one tiny model of the parity set.
type archCase struct {
	name string
	dt   dtype.DType
	// lit is a lit-gpt config (config.json with lit-gpt field names) ...
	lit *Config
	// ... or hf is a Hugging Face config.json.
	hf map[string]any
	// f32 lists name suffixes of tensors stored as float32 whatever dt
	// is, as Phi-4-mini-flash-reasoning keeps A_log, D and the λ vectors.
	f32 []string
}

// tinyLit is the shape every tiny lit-gpt model starts from: d_model 32, 4
// heads of 8, MLP 48, Mamba E 64, N 16, R 2, vocabulary 60 padded to 64.
func tinyLit(name string, nLayer int, edit func(*Config)) *Config {
	c := &Config{
		Name: name, BlockSize: 4096, VocabSize: 60, PaddingMultiple: 64,
		NLayer: nLayer, NEmbd: 32, NHead: 4, NQueryGroups: 2, IntermediateSize: 48,
		RotaryPercentage: 1, NormEps: 1e-5, MambaConvBias: true,
		NormClass: "RMSNorm", MLPClass: "LLaMAMLP", BOSTokenID: 1, EOSTokenID: 2,
	}
	edit(c)
	return c
}

// tinyHF is a Hugging Face config.json of the same scale.
func tinyHF(class, modelType string, edit func(map[string]any)) map[string]any {
	h := map[string]any{
		"architectures": []string{class}, "model_type": modelType,
		"hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2,
		"num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 60,
		"max_position_embeddings": 64, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
		"hidden_act": "silu", "tie_word_embeddings": false, "bos_token_id": 1, "eos_token_id": 2,
		"torch_dtype": "bfloat16",
	}
	edit(h)
	return h
}

var archCases = []archCase{
	{name: "samba", dt: dtype.BF16, lit: tinyLit("samba", 4, func(c *Config) {
		c.MbPerLayer, c.LocalWindow, c.MambaInit = 2, 8, true
	})},
	{name: "samba_placement", dt: dtype.BF16, lit: tinyLit("samba_placement", 4, func(c *Config) {
		// Mamba, SWA, full attention, Mamba; one KV head; no RoPE.
		c.AttnLayerPos, c.FullPerLayer, c.LocalWindow, c.NoPE, c.MambaInit = "[1,2]", 3, 8, true, true
		c.NQueryGroups = 1
	})},
	{name: "mamba_swa_mlp", dt: dtype.BF16, lit: tinyLit("mamba_swa_mlp", 2, func(c *Config) {
		c.MambaSWAMLP, c.LocalWindow, c.MambaInit, c.NQueryGroups = true, 8, true, 4
	})},
	{name: "mlp2_swa_mlp", dt: dtype.BF16, lit: tinyLit("mlp2_swa_mlp", 2, func(c *Config) {
		c.MbPerLayer, c.AblMamba, c.LocalWindow, c.MambaInit = 2, true, 8, true
	})},
	{name: "mamba_mlp", dt: dtype.F16, lit: tinyLit("mamba_mlp", 2, func(c *Config) {
		c.MbPerLayer, c.MambaInit = 1, true
	})},
	{name: "mamba", dt: dtype.F32, lit: tinyLit("mamba", 3, func(c *Config) {
		c.Mamba, c.NHead, c.NQueryGroups, c.IntermediateSize, c.NormClass, c.MLPClass = true, 0, 0, 0, "", ""
	})},
	{name: "llama", dt: dtype.BF16, lit: tinyLit("llama", 2, func(c *Config) {
		c.BlockSize = 32 // shorter than the golden sequence: needs AllowLongContext
	})},
	{name: "llama_swa_full", dt: dtype.BF16, lit: tinyLit("llama_swa_full", 2, func(c *Config) {
		c.LocalWindow, c.FullPerLayer, c.NQueryGroups = 8, 2, 4
	})},
	{name: "hf_llama", dt: dtype.BF16, hf: tinyHF("LlamaForCausalLM", "llama", func(h map[string]any) {
		h["head_dim"], h["rope_theta"], h["tie_word_embeddings"], h["rms_norm_eps"] = 12, 500000.0, true, 1e-6
		h["eos_token_id"] = []int{2, 5}
	})},
	{name: "hf_mistral", dt: dtype.BF16, hf: tinyHF("MistralForCausalLM", "mistral", func(h map[string]any) {
		h["sliding_window"] = 7
	})},
	{name: "hf_phi3", dt: dtype.BF16, hf: tinyHF("Phi3ForCausalLM", "phi3", func(h map[string]any) {
		h["sliding_window"], h["num_key_value_heads"], h["vocab_size"] = 7, 4, 64
		h["eos_token_id"], h["rope_scaling"] = 32000, nil
	})},
	// SambaY with 12 layers: 3 Mamba and 3 differential SWA (window 8)
	// layers, the memory-saving Mamba, the full layer, 2 GMUs and 2
	// cross-attention layers; 4 heads of 8 over 2 key/value heads, Mamba
	// E 64, N 4, R 2.
	{name: "sambay", dt: dtype.BF16, f32: []string{".A_log", ".D", ".lambda_q1", ".lambda_k1", ".lambda_q2", ".lambda_k2"},
		hf: tinyHF("Phi4FlashForCausalLM", "phi4flash", func(h map[string]any) {
			delete(h, "rms_norm_eps")
			delete(h, "rope_theta")
			h["num_hidden_layers"], h["intermediate_size"], h["max_position_embeddings"] = 12, 32, 256
			h["sliding_window"], h["layer_norm_eps"], h["tie_word_embeddings"] = 8, 1e-5, true
			h["mamba_d_state"], h["mamba_dt_rank"], h["mb_per_layer"] = 4, 2, 2
		})},
}

func (ac archCase) config(t testing.TB) *Config {
	t.Helper()
	if ac.hf != nil {
		b, _ := json.Marshal(ac.hf)
		c, err := ParseConfig(ac.name, b)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := *ac.lit
	c.fill()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return &c
}

// informative rescales a random checkpoint so that every tensor matters at
// the 1e-4 level the goldens are compared at: matrices get standard
// deviation 1/sqrt(fan-in), norm weights and D vary around 1, and Δ biases
// are large enough for the SSM state to move.
func informative(c *Config, src checkpoint.Map, seed uint64) error {
	specs, err := c.tensorSpecs()
	if err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(seed, 99))
	for _, s := range specs {
		t := src[s.name]
		v, err := t.Float32s()
		if err != nil {
			return err
		}
		cols := s.shape[len(s.shape)-1]
		for i := range v {
			switch s.init {
			case initNormal, initOut:
				v[i] = float32(r.NormFloat64() / math.Sqrt(float64(cols)))
			case initOnes:
				v[i] = float32(1 + (r.Float64() - 0.5))
			case initDtBias:
				v[i] = float32(2*r.Float64() - 1)
			case initZeros:
				v[i] = float32(0.2 * r.NormFloat64())
			case initLambda:
				v[i] = float32(0.25 * r.NormFloat64())
			}
		}
		putFloats(t, v)
	}
	return nil
}

// putFloats stores v into t in t's dtype.
func putFloats(t *checkpoint.Tensor, v []float32) {
	for i, x := range v {
		switch t.DType {
		case dtype.F32:
			binary.LittleEndian.PutUint32(t.Data[4*i:], math.Float32bits(x))
		case dtype.BF16:
			binary.LittleEndian.PutUint16(t.Data[2*i:], dtype.F32ToBF16(x))
		case dtype.F16:
			binary.LittleEndian.PutUint16(t.Data[2*i:], dtype.F32ToF16(x))
		}
	}
}

func TestWriteArchCheckpoints(t *testing.T) {
	if !*writeArchs {
		t.Skip("pass -write-archs to rewrite testdata/archs")
	}
	for k, ac := range archCases {
		c := ac.config(t)
		src, err := RandomCheckpoint(c, uint64(100+k), ac.dt)
		if err != nil {
			t.Fatal(err)
		}
		if err := informative(c, src, uint64(k)); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(archDir, ac.name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		var cj []byte
		if ac.hf != nil {
			cj, err = json.MarshalIndent(ac.hf, "", "  ")
		} else {
			cj, err = json.MarshalIndent(c, "", "  ") // with lit-gpt's derived fields filled in
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "config.json"), append(cj, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		var ts []*checkpoint.Tensor
		for _, name := range src.Names() {
			tensor := src[name]
			for _, suffix := range ac.f32 {
				if strings.HasSuffix(name, suffix) {
					if tensor, err = castTensor(tensor, dtype.F32); err != nil {
						t.Fatal(err)
					}
				}
			}
			ts = append(ts, tensor)
		}
		if err := checkpoint.WriteSafetensors(filepath.Join(dir, "model.safetensors"), ts, map[string]string{"format": "pt"}); err != nil {
			t.Fatal(err)
		}
	}
}

// golden is what the PyTorch reference wrote for one tiny model.
type golden struct {
	Reference string    `json:"reference"`
	IDs       []int32   `json:"ids"`
	LogProbs  []float64 `json:"logprobs"` // log p(ids[i+1] | ids[..i])
	Argmax    []int32   `json:"argmax"`   // per position
	Margin    []float64 `json:"margin"`   // top-1 minus top-2 logit
}

// readGolden reads a golden file, or dir/golden.json when path is a directory.
func readGolden(t testing.TB, path string) golden {
	t.Helper()
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		path = filepath.Join(path, "golden.json")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.IDs) < 2 || len(g.LogProbs) != len(g.IDs)-1 || len(g.Argmax) != len(g.IDs) || len(g.Margin) != len(g.IDs) {
		t.Fatalf("%s: malformed golden file", path)
	}
	return g
}

func loadArch(t testing.TB, name string) *Model {
	t.Helper()
	m, err := LoadDir(filepath.Join(archDir, name), cpu.New())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	m.AllowLongContext = true
	return m
}

// scoreAll returns log p(ids[i+1]) and the argmax at every position.
func scoreAll(t testing.TB, m *Model, ids []int32, chunk int) []kernels.TokenScore {
	t.Helper()
	s := m.NewSession()
	s.ChunkSize = chunk
	tg := append(slices.Clone(ids[1:]), -1)
	sc, err := s.Score(ids, tg)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func TestArchGoldens(t *testing.T) {
	for _, ac := range archCases {
		t.Run(ac.name, func(t *testing.T) {
			g := readGolden(t, filepath.Join(archDir, ac.name))
			m := loadArch(t, ac.name)
			if got, want := m.Config.Arch(), ac.config(t).Arch(); got != want {
				t.Fatalf("arch %s, want %s", got, want)
			}
			sc := scoreAll(t, m, g.IDs, 512)
			var worst float64
			for i, want := range g.LogProbs {
				worst = math.Max(worst, math.Abs(float64(sc[i].LogProb)-want))
			}
			if worst > 1e-4 {
				t.Errorf("log-probabilities differ from the %s reference by up to %.3g", g.Reference, worst)
			}
			for i, a := range g.Argmax[:len(g.IDs)-1] { // the last row is not scored
				if g.Margin[i] > 1e-3 && sc[i].Argmax != a {
					t.Errorf("position %d: argmax %d, reference %d", i, sc[i].Argmax, a)
				}
			}
			t.Logf("%s (%s): max |Δ log p| = %.2g over %d tokens", ac.name, LayoutString(m.Layout()), worst, len(g.LogProbs))
		})
	}
}

func TestArchStreamingEqualsFullSequence(t *testing.T) {
	for _, ac := range archCases {
		m := loadArch(t, ac.name)
		ids := randomIDs(120, m.Config.VocabSize, 17)
		full := scoreAll(t, m, ids, len(ids))
		for _, chunk := range []int{1, 7, 512} {
			got := scoreAll(t, m, ids, chunk)
			if d := maxDiff(full[:len(ids)-1], got[:len(ids)-1]); d > 1e-5 {
				t.Errorf("%s: chunk %d differs from the full pass by %g", ac.name, chunk, d)
			}
		}
	}
}

// TestArchEveryTensorMatters checks that the goldens constrain every tensor
// of every tiny model: changing any one of them moves some log-probability
// by at least ten times the comparison tolerance.
func TestArchEveryTensorMatters(t *testing.T) {
	for _, ac := range archCases {
		c, base := archTensors(t, ac.name)
		g := readGolden(t, filepath.Join(archDir, ac.name))
		for _, name := range slices.Sorted(maps.Keys(base)) {
			edited := checkpoint.Map{}
			for n, tt := range base {
				edited[n] = tt
			}
			orig := base[name]
			v, _ := orig.Float32s()
			cp := &checkpoint.Tensor{Name: name, DType: orig.DType, Shape: orig.Shape, Data: slices.Clone(orig.Data)}
			for i := range v {
				v[i] *= 1.1 // a 10% change of the whole tensor
			}
			putFloats(cp, v)
			edited[name] = cp
			m, err := New(c, edited, cpu.New())
			if err != nil {
				t.Fatal(err)
			}
			m.AllowLongContext = true
			sc := scoreAll(t, m, g.IDs, 512)
			var moved float64
			for i, want := range g.LogProbs {
				moved = math.Max(moved, math.Abs(float64(sc[i].LogProb)-want))
			}
			if moved < 1e-3 {
				t.Errorf("%s: scaling %s by 1.1 moves the log-probabilities by only %.2g", ac.name, name, moved)
			}
		}
	}
}

// archTensors reads the configuration and every tensor of the tiny model
// name (the tensors stay valid until the test ends).
func archTensors(t *testing.T, name string) (*Config, checkpoint.Map) {
	t.Helper()
	dir := filepath.Join(archDir, name)
	c, err := ReadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	src, err := checkpoint.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	tensors := checkpoint.Map{}
	for _, n := range src.Names() {
		tensors[n], _ = src.Tensor(n)
	}
	return c, tensors
}

// TestArchMissingTensorIsAnError removes each tensor of every tiny model in
// turn: loading must fail with an error naming it, never load without it.
func TestArchMissingTensorIsAnError(t *testing.T) {
	for _, ac := range archCases {
		c, base := archTensors(t, ac.name)
		for _, name := range slices.Sorted(maps.Keys(base)) {
			without := maps.Clone(base)
			delete(without, name)
			m, err := New(c, without, cpu.New())
			if err == nil {
				m.Close()
				t.Errorf("%s: loaded without %s", ac.name, name)
			} else if !strings.Contains(err.Error(), name) {
				t.Errorf("%s: without %s: %v", ac.name, name, err)
			}
		}
	}
}

func TestContextLimit(t *testing.T) {
	m := loadArch(t, "llama") // block_size 32, full attention
	m.AllowLongContext = false
	if got := m.ContextLimit(); got != 32 {
		t.Fatalf("context limit %d, want 32", got)
	}
	ids := randomIDs(40, m.Config.VocabSize, 1)
	s := m.NewSession()
	if err := s.Prefill(ids[:32]); err != nil {
		t.Fatalf("32 tokens within the context refused: %v", err)
	}
	err := s.Prefill(ids[32:33])
	if err == nil || !strings.Contains(err.Error(), "33 tokens exceed the 32-token context") {
		t.Fatalf("33rd token: err = %v", err)
	}
	if s.Pos() != 32 {
		t.Fatalf("a refused prefill moved the session to %d", s.Pos())
	}
	m.AllowLongContext = true
	if err := s.Prefill(ids[32:]); err != nil {
		t.Fatalf("AllowLongContext: %v", err)
	}
	// Models whose state is bounded have no limit.
	for _, name := range []string{"samba", "hf_mistral", "mamba"} {
		if got := loadArch(t, name).ContextLimit(); got != 0 {
			t.Errorf("%s: context limit %d, want none", name, got)
		}
	}
	for _, name := range []string{"samba_placement", "llama_swa_full", "hf_llama"} {
		if loadArch(t, name).ContextLimit() == 0 {
			t.Errorf("%s has full attention but no context limit", name)
		}
	}
}

func TestArchTestdataSize(t *testing.T) {
	var total int64
	err := filepath.Walk(archDir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			total += fi.Size()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if total > 1<<20 {
		t.Errorf("testdata/archs holds %d bytes; keep it under 1 MiB", total)
	}
	t.Logf("testdata/archs: %d bytes", total)
}

// TestArchConvertRoundTrip converts every tiny model into a model directory
// (as `sambaeval convert` does for .pth checkpoints) and reloads it: the
// written config.json must describe the same model.
func TestArchConvertRoundTrip(t *testing.T) {
	for _, ac := range archCases {
		m := loadArch(t, ac.name)
		src, err := checkpoint.OpenDir(filepath.Join(archDir, ac.name))
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), ac.name)
		if err := Convert(src, &m.Config, dtype.F32, "", out); err != nil {
			t.Fatalf("%s: %v", ac.name, err)
		}
		src.Close()
		m2, err := LoadDir(out, cpu.New())
		if err != nil {
			t.Fatalf("%s: %v", ac.name, err)
		}
		m2.AllowLongContext = true
		if a, b := LayoutString(m.Layout()), LayoutString(m2.Layout()); a != b || m.Config.Arch() != m2.Config.Arch() {
			t.Errorf("%s: converted layout %s (%s), want %s (%s)", ac.name, b, m2.Config.Arch(), a, m.Config.Arch())
		}
		ids := randomIDs(30, m.Config.VocabSize, 5)
		if d := maxDiff(scoreAll(t, m, ids, 64)[:29], scoreAll(t, m2, ids, 64)[:29]); d != 0 {
			t.Errorf("%s: converted model differs by %g", ac.name, d)
		}
		m2.Close()
	}
}
