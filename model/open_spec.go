package model

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/sambaeval/sambaeval/checkpoint"
	"github.com/sambaeval/sambaeval/kernels"
	"github.com/sambaeval/sambaeval/models"
	"github.com/sambaeval/sambaeval/tokenizer"
)

// DefaultName is the name of the embedded default model.
const DefaultName = "samba-tiny"

// Spec says which model to open, as the --model family of flags does.
type Spec struct {
	// Model is empty or "samba-tiny" for the embedded default model, a
	// model directory, or a built-in config name when RandomWeights is set.
	Model string
	// RandomWeights, when set, builds a seeded random model of the config
	// named by Model (or by Config).
	RandomWeights *uint64
	// Config names a built-in config; needed for checkpoints that carry none.
	Config string
	// Tokenizer overrides the tokenizer.model file.
	Tokenizer string
	// Device is the --device value: auto, cpu, cuda, cuda:N.
	Device string
	// AllowLongContext lets a model with full attention run past its
	// trained context (see Model.AllowLongContext).
	AllowLongContext bool
}

// Info describes where an opened model came from, for results files.
type Info struct {
	Source string `json:"source"` // what the user asked for
	Path   string `json:"path,omitempty"`
	Name   string `json:"name"`
	Device string `json:"device"`
	files  []string
	fsys   fs.FS
	seed   *uint64
	once   sync.Once
	hash   string
}

// Hash returns the sha256 over the weight files (in name order), or
// "random:<config>:<seed>" for random weights. It is computed on first use.
func (in *Info) Hash() string {
	in.once.Do(func() {
		if in.seed != nil {
			in.hash = fmt.Sprintf("random:%s:%d", in.Name, *in.seed)
			return
		}
		h := sha256.New()
		for _, f := range in.files {
			var r io.ReadCloser
			var err error
			if in.fsys != nil {
				r, err = in.fsys.Open(f)
			} else {
				r, err = os.Open(f)
			}
			if err != nil {
				in.hash = "unavailable: " + err.Error()
				return
			}
			io.Copy(h, r)
			r.Close()
		}
		in.hash = "sha256:" + hex.EncodeToString(h.Sum(nil))
	})
	return in.hash
}

// Open resolves a Spec: it opens the backend, loads the weights and the
// tokenizer, and returns the model ready to run.
func Open(spec Spec) (*Model, error) {
	be, err := kernels.Open(spec.Device)
	if err != nil {
		return nil, err
	}
	m, err := open(spec, be)
	if err != nil {
		be.Close()
		return nil, err
	}
	m.Info.Device = be.Name()
	m.AllowLongContext = spec.AllowLongContext
	return m, nil
}

func open(spec Spec, be kernels.Backend) (*Model, error) {
	name := spec.Model
	switch {
	case spec.RandomWeights != nil:
		if spec.Config != "" {
			if name != "" && !strings.EqualFold(name, spec.Config) {
				return nil, fmt.Errorf("--model %q and --config %q disagree; give one config name", name, spec.Config)
			}
			name = spec.Config
		}
		if name == "" {
			return nil, errors.New("--random-weights needs a config name in --model (e.g. Samba_421M)")
		}
		cfg, err := ResolveConfig(name)
		if err != nil {
			return nil, err
		}
		m, err := Random(cfg, *spec.RandomWeights, be)
		if err != nil {
			return nil, err
		}
		m.Info = &Info{Source: spec.Model, Name: cfg.Name, seed: spec.RandomWeights}
		return m, m.attachTokenizer(spec.Tokenizer, nil, "")
	case name == "" || name == DefaultName:
		fsys, err := models.Default()
		if err != nil {
			return nil, err
		}
		m, err := LoadFS(fsys, DefaultName, be)
		if err != nil {
			return nil, err
		}
		files, _, _ := shardList(fsys)
		m.Info = &Info{Source: DefaultName, Name: DefaultName, fsys: fsys, files: files}
		return m, m.attachTokenizer(spec.Tokenizer, fsys, "tokenizer.model")
	}
	st, err := os.Stat(name)
	switch {
	case err == nil && st.IsDir():
		m, err := LoadDir(name, be)
		if err != nil {
			return nil, err
		}
		files, _, _ := shardList(os.DirFS(name))
		for i := range files {
			files[i] = filepath.Join(name, files[i])
		}
		m.Info = &Info{Source: spec.Model, Path: name, Name: m.Config.Name, files: files}
		tok := spec.Tokenizer
		if tok == "" {
			if tok, err = dirTokenizer(name); err != nil {
				m.Close()
				return nil, err
			}
		}
		if err := m.attachTokenizer(tok, nil, ""); err != nil {
			return m, err
		}
		if strings.HasPrefix(m.Config.Format, "hf") {
			m.Config.AddBOS = hfAddBOS(name, m.Tokenizer, m.Config.AddBOS)
		}
		return m, nil
	case err == nil:
		if spec.Config == "" {
			return nil, fmt.Errorf("--model %s is a checkpoint file: add --config NAME (or a config.json) to say its architecture", name)
		}
		cfg, err := ResolveConfig(spec.Config)
		if err != nil {
			return nil, err
		}
		m, err := LoadPth(name, cfg, be)
		if err != nil {
			return nil, err
		}
		m.Info = &Info{Source: spec.Model, Path: name, Name: cfg.Name, files: []string{name}}
		return m, m.attachTokenizer(spec.Tokenizer, nil, "")
	}
	if _, nerr := Named(name); nerr == nil {
		return nil, fmt.Errorf("--model %s is a config name: add --random-weights SEED to build a random model", name)
	}
	return nil, fmt.Errorf("--model %s: no such model directory, and not a built-in config (%s)", name, strings.Join(NamedConfigs(), ", "))
}

func shardList(fsys fs.FS) ([]string, map[string]string, error) {
	files, w, err := checkpoint.ShardFiles(fsys)
	sort.Strings(files)
	return files, w, err
}

// attachTokenizer loads the tokenizer: path if given (tokenizer.model, or a
// Hugging Face tokenizer.json), else file within fsys, else the default
// Llama-2 tokenizer of the embedded model.
func (m *Model) attachTokenizer(path string, fsys fs.FS, file string) error {
	var (
		tok tokenizer.Interface
		err error
	)
	switch {
	case path != "":
		tok, err = tokenizer.LoadAny(path)
	case fsys != nil:
		var b []byte
		if b, err = fs.ReadFile(fsys, file); err == nil {
			tok, err = tokenizer.FromBytes(b)
		}
	default:
		var d fs.FS
		if d, err = models.Default(); err == nil {
			var b []byte
			if b, err = fs.ReadFile(d, "tokenizer.model"); err == nil {
				tok, err = tokenizer.FromBytes(b)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("tokenizer: %w", err)
	}
	if m.Config.AddedTokens == "phi3" {
		sp, ok := tok.(*tokenizer.Tokenizer)
		if !ok {
			return errors.New("tokenizer: Phi-3 added tokens need its SentencePiece tokenizer.model")
		}
		if err := sp.AddTokens(tokenizer.Phi3AddedTokens()); err != nil {
			return err
		}
	}
	if n := tok.VocabSize(); n > m.Config.PaddedVocabSize {
		return fmt.Errorf("tokenizer has %d tokens but the model's embedding only %d rows", n, m.Config.PaddedVocabSize)
	}
	m.Tokenizer = tok
	return nil
}

// dirTokenizer finds the tokenizer of a model directory: its
// tokenizer.model (SentencePiece: Llama-2, Mistral, Phi-3 and the lit-gpt
// models), else its tokenizer.json (byte-level BPE: Llama-3, Phi-4).
func dirTokenizer(dir string) (string, error) {
	for _, f := range []string{"tokenizer.model", "tokenizer.json"} {
		p := filepath.Join(dir, f)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s has no tokenizer.model or tokenizer.json; give one with --tokenizer", dir)
}

// hfAddBOS says whether a Hugging Face model's tokenizer prepends BOS:
// tokenizer_config.json's add_bos_token when it says, else whether a
// byte-level tokenizer.json's post-processor puts BOS first (Llama-3), else
// the model family's default.
func hfAddBOS(dir string, tok tokenizer.Interface, def bool) bool {
	if b, err := os.ReadFile(filepath.Join(dir, "tokenizer_config.json")); err == nil {
		var tc struct {
			AddBOS *bool `json:"add_bos_token"`
		}
		if json.Unmarshal(b, &tc) == nil && tc.AddBOS != nil {
			return *tc.AddBOS
		}
	}
	if bb, ok := tok.(*tokenizer.ByteBPE); ok {
		prefix, _ := bb.PostProcessor()
		return len(prefix) > 0 && prefix[0] == tok.BOS()
	}
	return def
}
