package checkpoint

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/sambaeval/sambaeval/dtype"
)

// maxHeader bounds the JSON header of a safetensors file (the format's own limit is 100 MB).
const maxHeader = 100 << 20

// ParseSafetensors reads the tensors of one safetensors file held in data.
// The tensors' Data are views into data. name is used in error messages.
func ParseSafetensors(name string, data []byte) (Map, error) {
	if len(data) < 8 {
		return nil, fmt.Errorf("%s: not a safetensors file (%d bytes)", name, len(data))
	}
	n := binary.LittleEndian.Uint64(data)
	if n > maxHeader || 8+n > uint64(len(data)) {
		return nil, fmt.Errorf("%s: corrupt safetensors header length %d (file has %d bytes)", name, n, len(data))
	}
	var header map[string]json.RawMessage
	if err := json.Unmarshal(data[8:8+n], &header); err != nil {
		return nil, fmt.Errorf("%s: corrupt safetensors header: %v", name, err)
	}
	body := data[8+n:]
	out := Map{}
	for key, raw := range header {
		if key == "__metadata__" {
			continue
		}
		var info struct {
			DType   string   `json:"dtype"`
			Shape   []int    `json:"shape"`
			Offsets []uint64 `json:"data_offsets"`
		}
		if err := json.Unmarshal(raw, &info); err != nil {
			return nil, fmt.Errorf("%s: tensor %s: bad header entry: %v", name, key, err)
		}
		dt, err := dtype.Parse(info.DType)
		if err != nil {
			return nil, fmt.Errorf("%s: tensor %s: %v", name, key, err)
		}
		if len(info.Offsets) != 2 || info.Offsets[0] > info.Offsets[1] || info.Offsets[1] > uint64(len(body)) {
			return nil, fmt.Errorf("%s: tensor %s: data offsets %v outside the %d-byte data section", name, key, info.Offsets, len(body))
		}
		t := &Tensor{Name: key, DType: dt, Shape: info.Shape, Data: body[info.Offsets[0]:info.Offsets[1]]}
		for _, d := range t.Shape {
			if d < 0 {
				return nil, fmt.Errorf("%s: tensor %s: negative dimension in shape %v", name, key, t.Shape)
			}
		}
		if want := t.Numel() * dt.Size(); want != len(t.Data) {
			return nil, fmt.Errorf("%s: tensor %s: %s %s needs %d bytes, file gives %d", name, key, dt, t.ShapeString(), want, len(t.Data))
		}
		out[key] = t
	}
	return out, nil
}

// mapped is a Source backed by memory-mapped files.
type mapped struct {
	Map
	maps [][]byte
}

func (m *mapped) Close() error {
	var errs []error
	for _, b := range m.maps {
		if err := unix.Munmap(b); err != nil {
			errs = append(errs, err)
		}
	}
	m.maps = nil
	return errors.Join(errs...)
}

// mmapFile maps path read-only.
func mmapFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() == 0 {
		return nil, fmt.Errorf("%s: empty file", path)
	}
	b, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap %s: %w", path, err)
	}
	return b, nil
}

// OpenSafetensors memory-maps the safetensors files and returns their tensors
// as one Source. A tensor name that appears in two files is an error.
func OpenSafetensors(paths ...string) (Source, error) {
	m, err := mapShards(paths, nil, func(p string) string { return p })
	if err != nil {
		return nil, err
	}
	return m, nil
}

// mapShards memory-maps the shard files, file f at path(f), and reads them
// as one Map (readShards: where is the index's weight map, or nil).
func mapShards(files []string, where map[string]string, path func(f string) string) (*mapped, error) {
	m := &mapped{}
	var err error
	m.Map, err = readShards(files, where, func(f string) (string, []byte, error) {
		p := path(f)
		b, err := mmapFile(p)
		if err == nil {
			m.maps = append(m.maps, b)
		}
		return p, b, err
	})
	if err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// IndexFile is the name of the Hugging Face shard index.
const IndexFile = "model.safetensors.index.json"

// ShardFiles lists the safetensors files of a model directory: the shards
// named by model.safetensors.index.json, or model.safetensors, or failing
// both every *.safetensors file. It also returns which tensor the index
// expects in which shard (nil without an index).
func ShardFiles(fsys fs.FS) (files []string, weightMap map[string]string, err error) {
	if b, err := fs.ReadFile(fsys, IndexFile); err == nil {
		var idx struct {
			WeightMap map[string]string `json:"weight_map"`
		}
		if err := json.Unmarshal(b, &idx); err != nil {
			return nil, nil, fmt.Errorf("%s: %v", IndexFile, err)
		}
		if len(idx.WeightMap) == 0 {
			return nil, nil, fmt.Errorf("%s: empty weight_map", IndexFile)
		}
		seen := map[string]bool{}
		for _, f := range idx.WeightMap {
			if !seen[f] {
				seen[f] = true
				files = append(files, f)
			}
		}
		sort.Strings(files)
		return files, idx.WeightMap, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, err
	}
	if _, err := fs.Stat(fsys, "model.safetensors"); err == nil {
		return []string{"model.safetensors"}, nil, nil
	}
	files, err = fs.Glob(fsys, "*.safetensors")
	if err != nil {
		return nil, nil, err
	}
	if len(files) == 0 {
		return nil, nil, errors.New("no model.safetensors, no " + IndexFile + " and no *.safetensors file")
	}
	return files, nil, nil
}

// checkIndex verifies that every tensor the index names is in the shard it names.
func checkIndex(src Map, where map[string]string, shardOf map[string]string) error {
	for name, shard := range where {
		if _, ok := src[name]; !ok {
			return fmt.Errorf("%s names tensor %s in %s, but no shard holds it", IndexFile, name, shard)
		}
		if got := shardOf[name]; got != shard {
			return fmt.Errorf("%s names tensor %s in %s, but it is in %s", IndexFile, name, shard, got)
		}
	}
	return nil
}

// readShards parses the shard files into one Map, using read to get each
// file's bytes (name is how errors call it), and checks the index.
func readShards(files []string, where map[string]string, read func(f string) (name string, data []byte, err error)) (Map, error) {
	out := Map{}
	shardOf := map[string]string{}
	for _, f := range files {
		name, b, err := read(f)
		if err != nil {
			return nil, err
		}
		ts, err := ParseSafetensors(name, b)
		if err != nil {
			return nil, err
		}
		for k, t := range ts {
			if _, dup := out[k]; dup {
				return nil, fmt.Errorf("%s: tensor %s appears in two shards", name, k)
			}
			out[k] = t
			shardOf[k] = f
		}
	}
	if where != nil {
		if err := checkIndex(out, where, shardOf); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// OpenDir opens the safetensors weights of a model directory, memory-mapped.
func OpenDir(dir string) (Source, error) {
	files, where, err := ShardFiles(os.DirFS(dir))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	m, err := mapShards(files, where, func(f string) string { return filepath.Join(dir, f) })
	if err != nil {
		if strings.HasPrefix(err.Error(), IndexFile) {
			err = fmt.Errorf("%s: %w", dir, err)
		}
		return nil, err
	}
	return m, nil
}

// ReadFS reads the safetensors weights of a model directory held in an
// fs.FS (such as the embedded default model) into memory.
func ReadFS(fsys fs.FS) (Source, error) {
	files, where, err := ShardFiles(fsys)
	if err != nil {
		return nil, err
	}
	return readShards(files, where, func(f string) (string, []byte, error) {
		b, err := fs.ReadFile(fsys, f)
		return f, b, err
	})
}
