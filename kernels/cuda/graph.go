package cuda

import (
	"fmt"
	"unsafe"

	"github.com/sambaeval/sambaeval/kernels"
)

// A decoding step is about 400 launches of kernels that each take a few
// microseconds on the device, so launching them one by one leaves the GPU
// waiting for the host. DecodeStep records a step as a CUDA graph (stream
// capture) and replays it for later steps of the same sequences. What
// changes from step to step, the token ids and the positions, is read by
// the recorded kernels from a small device buffer (graphState.dev) that
// is written before each replay; everything else a kernel takes (buffer
// addresses, shapes, the grid) must be the same for every step, which the
// caller's key and the memory generation (Backend.gen, bumped by every
// free) guarantee.

// maxGraphs bounds the recorded steps kept at once.
const maxGraphs = 16

// stepGraph is the record of one key: the memory generation when it was
// first run, and once recorded the instantiated graph. never marks a step
// whose recording failed (an operation refused to be captured): it runs
// directly until memory changes.
type stepGraph struct {
	gen         uint64
	graph, exec uintptr
	never       bool
}

// graphState is the backend's decoding-step recording state.
type graphState struct {
	steps map[string]*stepGraph
	dev   uintptr           // device ints: the step's ids [maxSeq], then positions [maxSeq]
	host  [2 * maxSeq]int32 // staging for dev
	// active: the operations being issued read ids and positions from dev
	// (a step run directly before recording, or being recorded).
	active bool
	// capturing: the stream is being captured; frees wait in pending.
	capturing bool
	pending   []uintptr
	replays   int // launches of recorded steps (tests)
}

// ids is the device address of the step's token ids while active, else 0.
func (g *graphState) ids() uintptr {
	if !g.active {
		return 0
	}
	return g.dev
}

// pos is the device address of the step's positions while active, else 0
// (the kernels then take the positions from their Seqs argument).
func (g *graphState) pos() uintptr {
	if !g.active {
		return 0
	}
	return g.dev + 4*maxSeq
}

// DecodeStep implements kernels.StepRecorder. The first step of a key runs
// forward directly (so that every scratch buffer reaches its size), the
// second records it and launches the recording, later ones launch the
// recording. Without driver support for graphs, or for batches it cannot
// record (more than maxSeq sequences), it just calls forward.
func (b *Backend) DecodeStep(key string, ids []int32, seqs []kernels.Seq, forward func()) bool {
	if b.noGraph || !b.d.hasGraphs() || len(seqs) == 0 || len(seqs) > maxSeq || len(ids) != len(seqs) {
		forward()
		return true
	}
	for i, s := range seqs {
		if s.Row != i || s.Len != 1 {
			forward()
			return true
		}
		checkInt("position", s.Pos+1)
	}
	b.uploadStep(ids, seqs)
	sg := b.graph.steps[key]
	if sg != nil && sg.gen == b.gen && sg.exec != 0 {
		b.launchGraph(sg.exec)
		return false
	}
	if sg == nil || sg.gen != b.gen || sg.never {
		// First step of this key since memory changed (or a key that
		// cannot be recorded): run it directly.
		gen := b.gen
		never := sg != nil && sg.gen == gen && sg.never
		b.forget(key)
		b.graph.active = true
		func() {
			defer func() { b.graph.active = false }()
			forward()
		}()
		b.graph.steps[key] = &stepGraph{gen: b.gen, never: never && b.gen == gen}
		return true
	}
	// Second step of this key with no memory freed since: record it.
	graph, ok, refused := b.recordStep(forward)
	if !ok {
		// Memory was freed while recording (a scratch buffer grew), so the
		// recording may use it, or an operation could not be recorded.
		// Run the step directly; record next time unless refused.
		b.graph.active = true
		func() {
			defer func() { b.graph.active = false }()
			forward()
		}()
		b.forget(key)
		b.graph.steps[key] = &stepGraph{gen: b.gen, never: refused}
		return true
	}
	exec := b.instantiate(graph)
	b.graph.steps[key] = &stepGraph{gen: b.gen, graph: graph, exec: exec}
	b.launchGraph(exec)
	return true
}

// uploadStep writes the step's ids and positions to the device buffer,
// ordered on the stream before the step's kernels.
func (b *Backend) uploadStep(ids []int32, seqs []kernels.Seq) {
	defer b.enter()()
	if b.graph.dev == 0 {
		b.graph.dev = b.malloc(4 * 2 * maxSeq)
		b.graph.steps = map[string]*stepGraph{}
	}
	if len(b.graph.steps) >= maxGraphs {
		b.dropSteps()
	}
	h := &b.graph.host
	copy(h[:maxSeq], ids)
	for i, s := range seqs {
		h[maxSeq+i] = int32(s.Pos)
	}
	b.must("cuMemcpyHtoDAsync", call(b.d.cuMemcpyHtoDAsync, b.graph.dev, uintptr(unsafe.Pointer(&h[0])), uintptr(4*len(h)), b.stream))
}

// recordStep captures the operations forward issues on the stream into a
// graph. It reports ok false (and no graph) when memory was freed
// meanwhile, and refused true too when forward failed while capturing (an
// operation that cannot be captured): the caller then runs the step
// directly, which reports a real failure again.
func (b *Backend) recordStep(forward func()) (graph uintptr, ok, refused bool) {
	func() {
		defer b.enter()()
		b.must("cuStreamBeginCapture", call(b.d.cuStreamBeginCapture, b.stream, captureModeRelaxed))
	}()
	gen := b.gen
	b.graph.active, b.graph.capturing = true, true
	defer func() {
		failure := recover()
		b.graph.active, b.graph.capturing = false, false
		// End the capture even when forward panicked, so that the stream
		// is usable again; then release what was freed meanwhile.
		defer b.enter()()
		r := call(b.d.cuStreamEndCapture, b.stream, uintptr(unsafe.Pointer(&graph)))
		pending := b.graph.pending
		b.graph.pending = nil
		if r != 0 || b.gen != gen || failure != nil {
			if graph != 0 {
				call(b.d.cuGraphDestroy, graph)
			}
			graph, ok = 0, false
			refused = r != 0 || failure != nil
		}
		for _, p := range pending {
			b.free(p)
		}
	}()
	forward()
	return graph, true, false
}

// instantiate makes an executable graph.
func (b *Backend) instantiate(graph uintptr) uintptr {
	defer b.enter()()
	var exec uintptr
	if r := call(b.d.cuGraphInstantiate, uintptr(unsafe.Pointer(&exec)), graph, 0); r != 0 {
		call(b.d.cuGraphDestroy, graph)
		panic(fmt.Errorf("instantiating a recorded decoding step: %w", b.d.err("cuGraphInstantiateWithFlags", r)))
	}
	return exec
}

func (b *Backend) launchGraph(exec uintptr) {
	defer b.enter()()
	b.must("cuGraphLaunch", call(b.d.cuGraphLaunch, exec, b.stream))
	b.graph.replays++
	b.traced("graph")
}

// forget destroys the recording of key, if any.
func (b *Backend) forget(key string) {
	defer b.enter()()
	if sg := b.graph.steps[key]; sg != nil {
		b.destroyStep(sg)
		delete(b.graph.steps, key)
	}
}

func (b *Backend) destroyStep(sg *stepGraph) {
	if sg.exec != 0 {
		call(b.d.cuGraphExecDestroy, sg.exec)
	}
	if sg.graph != 0 {
		call(b.d.cuGraphDestroy, sg.graph)
	}
}

// dropSteps destroys every recording.
func (b *Backend) dropSteps() {
	for k, sg := range b.graph.steps {
		b.destroyStep(sg)
		delete(b.graph.steps, k)
	}
}

// dropGraphs releases the recordings and the step buffer (Close; the
// context is current).
func (b *Backend) dropGraphs() {
	b.dropSteps()
	if b.graph.dev != 0 {
		b.free(b.graph.dev)
		b.graph.dev = 0
	}
}
