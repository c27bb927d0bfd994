// Package checkpoint reads and writes the tensor files models are stored in:
// safetensors (memory-mapped, single or sharded with an index) and PyTorch
// zip checkpoints. It knows nothing about any architecture.
package checkpoint

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/sambaeval/sambaeval/dtype"
)

// Tensor is one named array in its stored element type. Data holds the raw
// little-endian bytes, usually a view into a memory-mapped file.
type Tensor struct {
	Name  string
	DType dtype.DType
	Shape []int
	Data  []byte
}

// Numel is the number of elements.
func (t *Tensor) Numel() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// ShapeString formats the shape as [a, b, c].
func (t *Tensor) ShapeString() string { return FormatShape(t.Shape) }

// FormatShape formats a shape as [a, b, c].
func FormatShape(s []int) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = fmt.Sprint(d)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// Float32s returns the elements converted to float32 (a new slice).
func (t *Tensor) Float32s() ([]float32, error) {
	n := t.Numel()
	out := make([]float32, n)
	d := t.Data
	switch t.DType {
	case dtype.F32:
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(d[4*i:]))
		}
	case dtype.BF16:
		for i := range out {
			out[i] = dtype.BF16ToF32(binary.LittleEndian.Uint16(d[2*i:]))
		}
	case dtype.F16:
		for i := range out {
			out[i] = dtype.F16ToF32(binary.LittleEndian.Uint16(d[2*i:]))
		}
	case dtype.F64:
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(d[8*i:])))
		}
	default:
		return nil, fmt.Errorf("tensor %s: dtype %s is not a float type", t.Name, t.DType)
	}
	return out, nil
}

// Source is a set of named tensors, such as a checkpoint directory.
type Source interface {
	// Tensor returns the named tensor, or false if it is absent.
	Tensor(name string) (*Tensor, bool)
	// Names lists every tensor name in sorted order.
	Names() []string
	// Close releases the memory maps behind the tensors; tensors must not
	// be used afterwards.
	Close() error
}

// Map is an in-memory Source.
type Map map[string]*Tensor

// Tensor implements Source.
func (m Map) Tensor(name string) (*Tensor, bool) { t, ok := m[name]; return t, ok }

// Names implements Source.
func (m Map) Names() []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Close implements Source.
func (m Map) Close() error { return nil }
