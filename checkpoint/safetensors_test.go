package checkpoint

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sambaeval/sambaeval/dtype"
)

func f32Tensor(name string, shape []int, vals ...float32) *Tensor {
	b := make([]byte, 4*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return &Tensor{Name: name, DType: dtype.F32, Shape: shape, Data: b}
}

func TestWriteThenOpen(t *testing.T) {
	dir := t.TempDir()
	bf := &Tensor{Name: "b", DType: dtype.BF16, Shape: []int{3}, Data: []byte{0x80, 0x3f, 0x00, 0x40, 0x40, 0xc0}}
	a := f32Tensor("a", []int{2, 2}, 1, 2, 3, 4)
	path := filepath.Join(dir, "model.safetensors")
	if err := WriteSafetensors(path, []*Tensor{bf, a}, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	src, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if got := strings.Join(src.Names(), ","); got != "a,b" {
		t.Fatalf("names %q", got)
	}
	ta, _ := src.Tensor("a")
	va, _ := ta.Float32s()
	if ta.ShapeString() != "[2, 2]" || va[3] != 4 {
		t.Fatalf("a = %v %v", ta.Shape, va)
	}
	tb, _ := src.Tensor("b")
	vb, _ := tb.Float32s()
	if vb[0] != 1 || vb[1] != 2 || vb[2] != -3 {
		t.Fatalf("b = %v", vb)
	}
}

func TestShardedWithIndex(t *testing.T) {
	dir := t.TempDir()
	must(t, WriteSafetensors(filepath.Join(dir, "model-00001-of-00002.safetensors"), []*Tensor{f32Tensor("x", []int{1}, 1)}, nil))
	must(t, WriteSafetensors(filepath.Join(dir, "model-00002-of-00002.safetensors"), []*Tensor{f32Tensor("y", []int{1}, 2)}, nil))
	index := `{"metadata":{},"weight_map":{"x":"model-00001-of-00002.safetensors","y":"model-00002-of-00002.safetensors"}}`
	must(t, os.WriteFile(filepath.Join(dir, IndexFile), []byte(index), 0o644))
	src, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if len(src.Names()) != 2 {
		t.Fatalf("names %v", src.Names())
	}
	fsSrc, err := ReadFS(os.DirFS(dir))
	if err != nil || len(fsSrc.Names()) != 2 {
		t.Fatalf("ReadFS: %v %v", fsSrc, err)
	}

	// An index that places a tensor in the wrong shard is rejected.
	bad := `{"weight_map":{"x":"model-00002-of-00002.safetensors","y":"model-00002-of-00002.safetensors"}}`
	must(t, os.WriteFile(filepath.Join(dir, IndexFile), []byte(bad), 0o644))
	if _, err := OpenDir(dir); err == nil || !strings.Contains(err.Error(), "tensor x") {
		t.Fatalf("misplaced tensor: err = %v", err)
	}
}

func TestCorruptFiles(t *testing.T) {
	good := filepath.Join(t.TempDir(), "good.safetensors")
	must(t, WriteSafetensors(good, []*Tensor{f32Tensor("w", []int{2}, 1, 2)}, nil))
	data, _ := os.ReadFile(good)
	hl := binary.LittleEndian.Uint64(data)

	cases := map[string][]byte{
		"short":       data[:5],
		"header-long": append(binary.LittleEndian.AppendUint64(nil, 1<<40), data[8:]...),
		"truncated":   data[:len(data)-4],
		"bad-json":    append(append(data[:8:8], []byte(strings.Repeat("{", int(hl)))...), data[8+hl:]...),
	}
	for name, b := range cases {
		if _, err := ParseSafetensors(name, b); err == nil {
			t.Errorf("%s: corrupt file accepted", name)
		} else if !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error does not name the file: %v", name, err)
		}
	}
	// Shape that disagrees with the byte count.
	hdr := `{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(hdr)))
	b = append(append(b, hdr...), make([]byte, 8)...)
	if _, err := ParseSafetensors("f", b); err == nil || !strings.Contains(err.Error(), "tensor w") {
		t.Errorf("shape/size mismatch: err = %v", err)
	}
	if _, err := OpenDir(t.TempDir()); err == nil {
		t.Error("empty directory accepted")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
