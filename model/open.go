package model

import (
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/sambaeval/sambaeval/checkpoint"
	"github.com/sambaeval/sambaeval/kernels"
)

// LoadDir loads a model directory: config.json (lit-gpt field names, or a
// Hugging Face config; see ParseConfig) and model.safetensors or sharded
// safetensors with model.safetensors.index.json. The weights are
// memory-mapped and stay in their stored type.
func LoadDir(dir string, be kernels.Backend) (*Model, error) {
	cfg, err := ReadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}

	src, err := checkpoint.OpenDir(dir)
	if err != nil {
		return nil, err
	}
	m, err := New(cfg, src, be)
	if err != nil {
		src.Close()
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	m.src = src
	return m, nil
}

// LoadFS loads a model directory held in an fs.FS (such as the embedded
// default model), reading the weights into memory.
func LoadFS(fsys fs.FS, name string, be kernels.Backend) (*Model, error) {
	b, err := fs.ReadFile(fsys, "config.json")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	cfg, err := ParseConfig(name+"/config.json", b)
	if err != nil {
		return nil, err
	}
	src, err := checkpoint.ReadFS(fsys)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	m, err := New(cfg, src, be)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return m, nil
}

// Close releases the memory-mapped weights. The model must not be used afterwards.
func (m *Model) Close() error {
	if m.src != nil {
		return m.src.Close()
	}
	return nil
}
