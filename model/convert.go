package model

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/sambaeval/sambaeval/checkpoint"
	"github.com/sambaeval/sambaeval/dtype"
	"github.com/sambaeval/sambaeval/kernels"
)

// ResolveConfig reads a --config value: a built-in config name or a
// config.json path.
func ResolveConfig(s string) (*Config, error) {
	if strings.HasSuffix(s, ".json") {
		return ReadConfig(s)
	}
	return Named(s)
}

// OpenPth opens the weights of a PyTorch training checkpoint (pretrain.py's
// iter-*-ckpt.pth: the state dict under "model"; optimizer state present and
// never read), or of a file that is itself a state dict.
func OpenPth(path string) (checkpoint.Source, error) {
	src, err := checkpoint.OpenPth(path, "model")
	if err == nil {
		return src, nil
	}
	if src2, err2 := checkpoint.OpenPth(path, ""); err2 == nil {
		return src2, nil
	}
	return nil, err
}

// LoadPth loads a PyTorch checkpoint with the given configuration.
func LoadPth(path string, cfg *Config, be kernels.Backend) (*Model, error) {
	src, err := OpenPth(path)
	if err != nil {
		return nil, err
	}
	m, err := New(cfg, src, be)
	if err != nil {
		src.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	m.src = src
	return m, nil
}

// shardBytes is the largest safetensors shard Convert writes.
const shardBytes = 4 << 30

// Convert writes a model directory: config.json, the weights of src as
// safetensors in dtype dt (sharded with an index beyond 4 GiB), and a copy
// of the tokenizer file when one is given. The weights are checked against
// cfg first, so a directory is only written for a checkpoint that loads.
func Convert(src checkpoint.Source, cfg *Config, dt dtype.DType, tokenizerPath, outDir string) error {
	if dt != dtype.F32 && dt != dtype.BF16 && dt != dtype.F16 {
		return fmt.Errorf("convert: dtype %s not supported (f32, bf16, f16)", dt)
	}
	if err := Check(cfg, src); err != nil {
		return err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	c := *cfg
	c.TorchDType = map[dtype.DType]string{dtype.F32: "float32", dtype.BF16: "bfloat16", dtype.F16: "float16"}[dt]
	cj, err := json.MarshalIndent(&c, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(outDir, "config.json"), append(cj, '\n'), 0o644); err != nil {
		return err
	}
	var shards [][]*checkpoint.Tensor
	var cur []*checkpoint.Tensor
	size := 0
	for _, name := range src.Names() {
		if name == "lm_head.weight" && c.TieEmbeddings {
			continue // tied to transformer.wte.weight
		}
		t, _ := src.Tensor(name)
		ct, err := castTensor(t, dt)
		if err != nil {
			return err
		}
		if size+len(ct.Data) > shardBytes && len(cur) > 0 {
			shards = append(shards, cur)
			cur, size = nil, 0
		}
		cur = append(cur, ct)
		size += len(ct.Data)
	}
	shards = append(shards, cur)
	meta := map[string]string{"format": "pt"}
	if len(shards) == 1 {
		if err := checkpoint.WriteSafetensors(filepath.Join(outDir, "model.safetensors"), shards[0], meta); err != nil {
			return err
		}
	} else {
		idx := struct {
			Metadata  map[string]int64  `json:"metadata"`
			WeightMap map[string]string `json:"weight_map"`
		}{map[string]int64{"total_size": 0}, map[string]string{}}
		for i, sh := range shards {
			name := fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, len(shards))
			for _, t := range sh {
				idx.WeightMap[t.Name] = name
				idx.Metadata["total_size"] += int64(len(t.Data))
			}
			if err := checkpoint.WriteSafetensors(filepath.Join(outDir, name), sh, meta); err != nil {
				return err
			}
		}
		b, _ := json.MarshalIndent(idx, "", "  ")
		if err := os.WriteFile(filepath.Join(outDir, checkpoint.IndexFile), b, 0o644); err != nil {
			return err
		}
	}
	if tokenizerPath != "" {
		b, err := os.ReadFile(tokenizerPath)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(outDir, "tokenizer.model"), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// castTensor converts a float tensor to dt, rounding to nearest even.
func castTensor(t *checkpoint.Tensor, dt dtype.DType) (*checkpoint.Tensor, error) {
	if t.DType == dt {
		return t, nil
	}
	v, err := t.Float32s()
	if err != nil {
		return nil, err
	}
	out := &checkpoint.Tensor{Name: t.Name, DType: dt, Shape: t.Shape, Data: make([]byte, len(v)*dt.Size())}
	for i, x := range v {
		switch dt {
		case dtype.F32:
			binary.LittleEndian.PutUint32(out.Data[4*i:], math.Float32bits(x))
		case dtype.BF16:
			binary.LittleEndian.PutUint16(out.Data[2*i:], dtype.F32ToBF16(x))
		case dtype.F16:
			binary.LittleEndian.PutUint16(out.Data[2*i:], dtype.F32ToF16(x))
		}
	}
	return out, nil
}
