package model

import (
	"fmt"
	"strings"

	"github.com/sambaeval/sambaeval/kernels"
)

// This file holds the model's uses of optional backend interfaces
// (kernels.StepRecorder, kernels.GatedMatMul, kernels.FusedMLP, kernels.DeltaScan,
// kernels.KVCacheAllocator); a backend without them runs the plain
// operations and keeps float32 caches.

// run is forward for one batch. When every sequence feeds one token
// (decoding) and the backend records steps, the step goes through
// DecodeStep, which may replay an earlier step's recorded operations
// instead of calling forward; forward leaves its result in the workspace's
// h either way.
func (m *Model) run(ids []int32, seqs []kernels.Seq, states []*State) kernels.Mat {
	rec, ok := m.be.(kernels.StepRecorder)
	if !ok || len(ids) != len(seqs) {
		return m.forward(ids, seqs, states)
	}
	var h kernels.Mat
	if rec.DecodeStep(m.stepKey(states), ids, seqs, func() { h = m.forward(ids, seqs, states) }) {
		return h
	}
	return rows(m.ws.h, len(ids))
}

// stepKey identifies what a decoding step's operations depend on besides
// the token ids and positions: the workspace and, in order, the states.
// (Their buffers change only through frees, which the backend watches.)
func (m *Model) stepKey(states []*State) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%p", m.ws)
	for _, s := range states {
		fmt.Fprintf(&b, " %p", s)
	}
	return b.String()
}

// gatedMLP sets dst = SiLU(x·w1ᵀ) ⊙ (x·w2ᵀ) in one backend operation when
// the backend offers one for this shape, and reports whether it did.
func (m *Model) gatedMLP(dst, x kernels.Mat, w *swiglu) bool {
	g, ok := m.be.(kernels.GatedMatMul)
	return ok && g.MatMulSwiGLU(dst, x, w.gate, w.up)
}

// fusedMLP adds the MLP's output to x in one backend operation when the
// backend offers one for this shape (hid is its scratch), and reports
// whether it did.
func (m *Model) fusedMLP(x, h, hid kernels.Mat, w *swiglu) bool {
	f, ok := m.be.(kernels.FusedMLP)
	return ok && f.MLP(x, h, hid, w.gate, w.up, w.down)
}

// kvBytes is the size in bytes of an element of the key/value caches
// allocKV makes: the backend's cache type's (kernels.KVCacheAllocator),
// else float32's.
func (m *Model) kvBytes() int {
	if a, ok := m.be.(kernels.KVCacheAllocator); ok {
		return a.KVBytes()
	}
	return 4
}

// allocKV returns a zeroed buffer for the keys or values of n cache
// positions ([n, NQueryGroups·HeadSize]) in the backend's cache type.
func (m *Model) allocKV(n int) kernels.Buffer {
	dim := m.Config.NQueryGroups * m.Config.HeadSize
	if a, ok := m.be.(kernels.KVCacheAllocator); ok {
		return a.AllocKV(n, dim)
	}
	return m.be.Alloc(n * dim)
}
