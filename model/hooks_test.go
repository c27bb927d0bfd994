package model

import (
	"path/filepath"
	"testing"

	"github.com/sambaeval/sambaeval/kernels"
	"github.com/sambaeval/sambaeval/kernels/cpu"
)

// recorder is the CPU backend with the optional decoding interfaces: it
// notes each DecodeStep's key and always runs forward, refuses every fused
// gate/up (so the model must fall back to the plain operations), and takes
// every other SelectiveScanDelta.
type recorder struct {
	*cpu.Backend
	keys         []string
	fused, scans int
}

func (r *recorder) DecodeStep(key string, ids []int32, seqs []kernels.Seq, forward func()) bool {
	for i, s := range seqs {
		if s.Row != i || s.Len != 1 {
			panic("DecodeStep called for a step that is not one token per sequence")
		}
	}
	r.keys = append(r.keys, key)
	forward()
	return true
}

func (r *recorder) MatMulSwiGLU(dst, x kernels.Mat, w1, w2 kernels.Weight) bool {
	r.fused++
	return false
}

// SelectiveScanDelta takes every other call, doing what the model does
// without it (dt_proj as a product into a buffer of its own, then the
// scan), and declines the others: both ways must give the plain backend's
// logits.
func (r *recorder) SelectiveScanDelta(dst, u, dlow kernels.Mat, dtProj kernels.Weight, B, C, z kernels.Mat, p kernels.ScanParams,
	st []*kernels.MambaState, seqs []kernels.Seq) bool {
	r.scans++
	if r.scans%2 == 0 {
		return false
	}
	delta := kernels.NewMat(r.Alloc(u.Rows*u.Cols), u.Rows, u.Cols)
	defer r.Free(delta.Buf)
	r.MatMul(delta, dlow, dtProj, false)
	r.SelectiveScan(dst, u, delta, B, C, z, p, st, seqs)
	return true
}

// TestStepHooks decodes a small random model through a backend with the
// optional interfaces and checks that only decoding steps reach
// DecodeStep, with one key per set of sessions, and that the logits equal
// those of the plain backend whichever fusions the backend takes.
func TestStepHooks(t *testing.T) {
	cfg, err := Named("Samba_421M")
	if err != nil {
		t.Fatal(err)
	}
	cfg.NLayer, cfg.NEmbd, cfg.NHead, cfg.NQueryGroups, cfg.HeadSize, cfg.IntermediateSize = 4, 64, 2, 1, 32, 96
	cfg.VocabSize, cfg.PaddedVocabSize, cfg.LocalWindow = 300, 320, 16
	rec := &recorder{Backend: cpu.New()}
	run := func(be kernels.Backend) [][]float32 {
		m, err := Random(cfg, 7, be)
		if err != nil {
			t.Fatal(err)
		}
		a, b := m.NewSession(), m.NewSession()
		if err := a.Prefill([]int32{1, 2, 3, 4, 5}); err != nil {
			t.Fatal(err)
		}
		var out [][]float32
		for step := range 3 {
			lg, err := m.LogitsBatch([]*Session{a, b}, [][]int32{{int32(10 + step)}, {int32(20 + step)}}, 1)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, lg...)
		}
		c := m.NewSession()
		lg, err := m.LogitsBatch([]*Session{a, c}, [][]int32{{7}, {8}}, 1)
		if err != nil {
			t.Fatal(err)
		}
		return append(out, lg...)
	}
	want := run(cpu.New())
	got := run(rec)
	for i := range want {
		for j := range want[i] {
			if got[i][j] != want[i][j] {
				t.Fatalf("logits %d differ at %d: %v vs %v", i, j, got[i][j], want[i][j])
			}
		}
	}
	// The 5-token prefill is not a decoding step; the 4 LogitsBatch calls are.
	if len(rec.keys) != 4 {
		t.Fatalf("%d decoding steps, want 4", len(rec.keys))
	}
	if rec.keys[0] != rec.keys[1] || rec.keys[1] != rec.keys[2] {
		t.Errorf("keys of one set of sessions differ: %q", rec.keys[:3])
	}
	if rec.keys[3] == rec.keys[0] {
		t.Errorf("another set of sessions has the same key %q", rec.keys[3])
	}
	if rec.fused == 0 {
		t.Error("the model never asked for a fused gate/up")
	}
	if rec.scans < 2 {
		t.Errorf("the model asked for %d scans with dt_proj inside, want some taken and some declined", rec.scans)
	}
}

// halfKV is the CPU backend with kernels.KVCacheAllocator: its caches are
// the CPU's float32 buffers, but it reports 2-byte cache elements, as the
// CUDA backend's bf16 mode does, and notes each AllocKV's positions and
// width.
type halfKV struct {
	*cpu.Backend
	allocs [][2]int
}

func (h *halfKV) KVBytes() int { return 2 }

func (h *halfKV) AllocKV(n, dim int) kernels.Buffer {
	h.allocs = append(h.allocs, [2]int{n, dim})
	return h.Alloc(n * dim)
}

// TestKVCacheAllocator runs the tiny SambaY (sliding-window rings, a
// growing full-attention cache, cross-attention reading it) through a
// backend with kernels.KVCacheAllocator: every cache, the rings at
// creation and the full cache as it grows, comes from AllocKV with the
// model's key/value width; the state's memory and Config.StateBytes count
// the backend's element size; snapshots resume exactly; and the scores are
// those of the plain backend.
func TestKVCacheAllocator(t *testing.T) {
	hb := &halfKV{Backend: cpu.New()}
	m, err := LoadDir(filepath.Join(archDir, "sambay"), hb)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	m.AllowLongContext = true
	c := &m.Config
	kvDim := c.NQueryGroups * c.HeadSize
	ids := randomIDs(300, c.VocabSize, 5)
	s := m.NewSession()
	rings := len(hb.allocs)
	if rings == 0 {
		t.Fatal("no cache made through AllocKV for the sliding-window layers")
	}
	got, err := s.Score(ids[:256], nextTargets(ids[:256])) // the full cache grows to exactly 256 positions
	if err != nil {
		t.Fatal(err)
	}
	if len(hb.allocs) == rings {
		t.Error("the full-attention cache did not grow through AllocKV")
	}
	for _, a := range hb.allocs {
		if a[1] != kvDim {
			t.Errorf("AllocKV(%d, %d): want width %d", a[0], a[1], kvDim)
		}
	}
	if got, want := s.StateBytes(), c.StateBytes(256, 2); got != want {
		t.Errorf("state after 256 tokens: %d bytes, StateBytes(256, 2) says %d", got, want)
	}
	if c.StateBytes(256, 2) >= c.StateBytes(256, 4) {
		t.Errorf("2-byte caches take %d bytes, float32 ones %d", c.StateBytes(256, 2), c.StateBytes(256, 4))
	}
	want := score(t, loadArch(t, "sambay"), ids[:256], 2048)
	if d := maxDiff(got[:len(want)], want); d != 0 {
		t.Errorf("scores differ from the plain backend's by %g", d)
	}

	snap := s.Snapshot()
	defer snap.Free()
	more, err := s.Score(ids[256:], nextTargets(ids[256:]))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Restore(snap); err != nil {
		t.Fatal(err)
	}
	again, err := s.Score(ids[256:], nextTargets(ids[256:]))
	if err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(again, more); d != 0 {
		t.Errorf("scoring after Restore differs by %g", d)
	}
}
