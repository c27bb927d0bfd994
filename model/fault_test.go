package model

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sambaeval/sambaeval/kernels"
	"github.com/sambaeval/sambaeval/kernels/cpu"
)

type oom struct{}

func (oom) Error() string { return "out of memory" }
func (oom) Fault()        {}

// faulty is the CPU backend whose device runs out of memory, once armed,
// at the allocation numbered fail (counting from 1), or at the first
// product when fail is 0.
type faulty struct {
	kernels.Backend
	armed       bool
	count, fail int
}

func (f *faulty) Alloc(n int) kernels.Buffer {
	if f.armed && f.fail > 0 {
		if f.count++; f.count == f.fail {
			panic(oom{})
		}
	}
	return f.Backend.Alloc(n)
}

func (f *faulty) MatMul(dst, x kernels.Mat, w kernels.Weight, acc bool) {
	if f.armed && f.fail == 0 {
		panic(fmt.Errorf("launching a product: %w", oom{}))
	}
	f.Backend.MatMul(dst, x, w, acc)
}

// TestDeviceFaultIsAnError checks that what a backend's device rejects
// (its panic with a kernels.Fault) comes out of loading and of a forward
// pass as an error, not as a panic, and that the model still works after it.
func TestDeviceFaultIsAnError(t *testing.T) {
	be := &faulty{Backend: cpu.New(), armed: true, fail: 3}
	if _, err := LoadDir("../models/samba-tiny", be); err == nil || !strings.Contains(err.Error(), "out of memory") {
		t.Fatalf("loading with the device out of memory: err = %v", err)
	}
	be = &faulty{Backend: cpu.New()}
	m, err := LoadDir("../models/samba-tiny", be)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s := m.NewSession()
	be.armed = true
	if _, err := s.Logits(tinyIDs); err == nil || err.Error() != "launching a product: out of memory" {
		t.Fatalf("a forward pass with the device out of memory: err = %v", err)
	}
	be.armed = false
	lg, err := m.NewSession().Logits(tinyIDs[:1])
	if err != nil || len(lg) != m.Config.VocabSize {
		t.Fatalf("after the fault: %d logits, %v", len(lg), err)
	}
}
