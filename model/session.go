package model

import (
	"errors"
	"fmt"
	"slices"

	"github.com/sambaeval/sambaeval/kernels"
)

// State is everything one sequence carries between chunks: per Mamba
// mixer the convolution window and SSM state, per attention mixer its
// key/value cache (a ring of the last window-1 positions for sliding-window
// attention), and the number of tokens seen. Its size does not depend on
// the sequence length, except for full-attention mixers.
type State struct {
	Pos   int
	mamba []*kernels.MambaState // per mixer slot; nil for other mixers
	kv    []*kernels.KVCache    // per mixer slot; nil for other mixers
	// kvBytes is the size of an element of the caches (Model.kvBytes when
	// the state was made).
	kvBytes int
}

// newState allocates a zero state.
func (m *Model) newState() *State {
	c, be := &m.Config, m.be
	s := &State{mamba: make([]*kernels.MambaState, m.slots), kv: make([]*kernels.KVCache, m.slots), kvBytes: m.kvBytes()}
	for _, blk := range m.blocks {
		for _, mx := range blk.mixers {
			switch {
			case mx.Kind == Mamba:
				s.mamba[mx.slot] = &kernels.MambaState{
					Conv: be.Alloc((c.MambaDConv - 1) * c.DInner()),
					SSM:  be.Alloc(c.DInner() * c.MambaDState),
				}
			case mx.Kind == Attention && mx.Window > 0:
				n := mx.Window - 1
				s.kv[mx.slot] = &kernels.KVCache{K: m.allocKV(max(n, 1)), V: m.allocKV(max(n, 1)), Cap: n}
			case mx.Kind == Attention:
				s.kv[mx.slot] = &kernels.KVCache{} // grown on demand
			}
		}
	}
	return s
}

// buffers lists the state's buffers in a fixed order.
func (s *State) buffers() []kernels.Buffer {
	var bs []kernels.Buffer
	for i := range s.mamba {
		if ms := s.mamba[i]; ms != nil {
			bs = append(bs, ms.Conv, ms.SSM)
		}
		if kv := s.kv[i]; kv != nil && kv.K != nil {
			bs = append(bs, kv.K, kv.V)
		}
	}
	return bs
}

// Bytes is the memory the state occupies: float32 Mamba states, caches of
// kvBytes per element.
func (s *State) Bytes() int64 {
	var n int64
	for i := range s.mamba {
		if ms := s.mamba[i]; ms != nil {
			n += 4 * int64(ms.Conv.Len()+ms.SSM.Len())
		}
		if kv := s.kv[i]; kv != nil && kv.K != nil {
			n += int64(s.kvBytes) * int64(kv.K.Len()+kv.V.Len())
		}
	}
	return n
}

// StateBytes is the memory one sequence's state takes after n tokens:
// per Mamba mixer its convolution window and SSM state (float32), per
// sliding-window attention mixer its ring of window-1 positions, per
// full-attention mixer the keys and values of all n positions (caches grow
// in steps, so a Session may hold more), the keys and values taking
// kvBytes per element: 4 for float32, or the backend's
// kernels.KVCacheAllocator.KVBytes (2 for the CUDA backend's bf16 caches).
// Mixers that keep no state (MLP, GMU, cross-attention reading another
// mixer's cache) add nothing.
func (c *Config) StateBytes(n, kvBytes int) int64 {
	blocks, err := c.Blocks()
	if err != nil {
		return 0
	}
	kv := int64(2 * c.NQueryGroups * c.HeadSize)
	var floats, kvElems int64
	for _, b := range blocks {
		for _, m := range b.Mixers {
			switch {
			case m.Kind == Mamba:
				floats += int64((c.MambaDConv-1)*c.DInner() + c.DInner()*c.MambaDState)
			case m.Kind == Attention && m.Window > 0:
				kvElems += int64(max(m.Window-1, 1)) * kv
			case m.Kind == Attention:
				kvElems += int64(n) * kv
			}
		}
	}
	return 4*floats + int64(kvBytes)*kvElems
}

// grow makes every full-attention cache hold at least n positions (Copy
// counts the caches' own elements, whatever their type).
func (m *Model) grow(s *State, n int) {
	kvDim := m.Config.NQueryGroups * m.Config.HeadSize
	for _, blk := range m.blocks {
		for _, mx := range blk.mixers {
			if mx.Kind != Attention || mx.Window > 0 {
				continue
			}
			kv := s.kv[mx.slot]
			if kv.Cap >= n {
				continue
			}
			c := max(n, 2*kv.Cap, 256)
			k, v := m.allocKV(c), m.allocKV(c)
			if kv.Cap > 0 {
				m.be.Copy(k, 0, kv.K, 0, kv.Cap*kvDim)
				m.be.Copy(v, 0, kv.V, 0, kv.Cap*kvDim)
				m.be.Free(kv.K)
				m.be.Free(kv.V)
			}
			*kv = kernels.KVCache{K: k, V: v, Cap: c}
		}
	}
}

// ContextLimit is the longest sequence the model runs without
// AllowLongContext (see Config.ContextLimit).
func (m *Model) ContextLimit() int { return m.Config.ContextLimit() }

// checkContext refuses to extend a full-attention model past its trained
// context unless AllowLongContext is set.
func (m *Model) checkContext(j, pos, n int) error {
	limit := m.ContextLimit()
	if m.AllowLongContext || limit <= 0 || pos+n <= limit {
		return nil
	}
	return fmt.Errorf("sequence %d: %d tokens exceed the %d-token context %s was trained with (it has full attention); allow longer contexts to continue (--allow-long-context)",
		j, pos+n, limit, m.Config.Name)
}

// Session processes one token sequence incrementally. Tokens may be fed in
// pieces of any size; results equal those of one pass over the whole
// sequence. A Session is not safe for concurrent use, and sessions of one
// model must not be used concurrently (the model owns one workspace).
type Session struct {
	m     *Model
	state *State
	// ChunkSize is the most tokens fed to the model in one step (default 2048).
	ChunkSize int
}

// NewSession starts a sequence at position 0 with zero state.
func (m *Model) NewSession() *Session {
	return &Session{m: m, state: m.newState(), ChunkSize: 2048}
}

// Pos is the number of tokens the session has seen.
func (s *Session) Pos() int { return s.state.Pos }

// StateBytes is the memory the session's state occupies.
func (s *Session) StateBytes() int64 { return s.state.Bytes() }

// Snapshot is a saved copy of a session's state.
type Snapshot struct {
	m     *Model
	state *State
}

// Pos is the number of tokens the snapshot has seen.
func (sn *Snapshot) Pos() int { return sn.state.Pos }

// copyState copies src into dst, growing dst's full-attention caches as needed.
func (m *Model) copyState(dst, src *State) {
	m.grow(dst, src.maxFullCap())
	for i := range src.mamba {
		if a := src.mamba[i]; a != nil {
			b := dst.mamba[i]
			m.be.Copy(b.Conv, 0, a.Conv, 0, a.Conv.Len())
			m.be.Copy(b.SSM, 0, a.SSM, 0, a.SSM.Len())
		}
		if a := src.kv[i]; a != nil && a.Cap > 0 {
			// Only slots [0, min(Pos, Cap)) hold positions yet.
			b := dst.kv[i]
			n := min(src.Pos, a.Cap) * m.Config.NQueryGroups * m.Config.HeadSize
			m.be.Copy(b.K, 0, a.K, 0, n)
			m.be.Copy(b.V, 0, a.V, 0, n)
		}
	}
	dst.Pos = src.Pos
}

func (s *State) maxFullCap() int {
	n := 0
	for _, kv := range s.kv {
		if kv != nil && kv.K != nil {
			n = max(n, kv.Cap)
		}
	}
	return n
}

// Snapshot saves the session's state so that Restore can return to it.
func (s *Session) Snapshot() *Snapshot {
	st := s.m.newState()
	s.m.copyState(st, s.state)
	return &Snapshot{m: s.m, state: st}
}

// Restore returns the session to a snapshot's state.
func (s *Session) Restore(sn *Snapshot) error {
	if sn.m != s.m {
		return errors.New("restore: snapshot belongs to another model")
	}
	s.m.copyState(s.state, sn.state)
	return nil
}

// NewSessionFrom starts a session at a snapshot's state.
func (m *Model) NewSessionFrom(sn *Snapshot) (*Session, error) {
	s := m.NewSession()
	return s, s.Restore(sn)
}

// Reset returns the session to position 0 with zero state.
func (s *Session) Reset() {
	for _, b := range s.state.buffers() {
		s.m.be.Zero(b)
	}
	s.state.Pos = 0
}

// Free releases the session's state buffers.
func (s *Session) Free() {
	for _, b := range s.state.buffers() {
		s.m.be.Free(b)
	}
	s.state = s.m.newState()
}

// Free releases the snapshot's buffers.
func (sn *Snapshot) Free() {
	for _, b := range sn.state.buffers() {
		sn.m.be.Free(b)
	}
}

// checkIDs rejects token ids outside the embedding.
func (m *Model) checkIDs(ids []int32) error {
	for i, id := range ids {
		if id < 0 || int(id) >= m.Config.PaddedVocabSize {
			return fmt.Errorf("token %d at index %d is outside the vocabulary (%d)", id, i, m.Config.PaddedVocabSize)
		}
	}
	return nil
}

// step feeds ids[j] to sessions[j] together in chunks of at most chunk
// tokens per sequence, calling visit after each forward pass with the
// final hidden states [M, D] and where each sequence's rows are.
func (m *Model) step(sessions []*Session, ids [][]int32, chunk int, visit func(h kernels.Mat, seqs []kernels.Seq, offs []int)) (err error) {
	defer kernels.Catch(&err) // what the device rejected (out of memory, a failed launch)
	if len(sessions) != len(ids) {
		return fmt.Errorf("%d sessions but %d token lists", len(sessions), len(ids))
	}
	for j, s := range sessions {
		if s.m != m {
			return errors.New("session belongs to another model")
		}
		if err := m.checkIDs(ids[j]); err != nil {
			return err
		}
		if err := m.checkContext(j, s.state.Pos, len(ids[j])); err != nil {
			return err
		}
	}
	if chunk <= 0 {
		chunk = 2048
	}
	done := make([]int, len(ids))
	for {
		var (
			batch  []int32
			seqs   []kernels.Seq
			states []*State
			offs   []int // index into ids[j] of each seq's first row
			owners []int
		)
		for j, s := range sessions {
			n := min(chunk, len(ids[j])-done[j])
			if n <= 0 {
				continue
			}
			m.grow(s.state, s.state.Pos+n)
			seqs = append(seqs, kernels.Seq{Row: len(batch), Len: n, Pos: s.state.Pos})
			states = append(states, s.state)
			offs = append(offs, done[j])
			owners = append(owners, j)
			batch = append(batch, ids[j][done[j]:done[j]+n]...)
		}
		if len(batch) == 0 {
			return nil
		}
		h := m.run(batch, seqs, states)
		m.tokens.Add(int64(len(batch)))
		for k, j := range owners {
			sessions[j].state.Pos += seqs[k].Len
			done[j] += seqs[k].Len
		}
		if visit != nil {
			visit(h, seqs, withOwners(offs, owners))
		}
	}
}

// withOwners packs, per seq, the owning session index and the offset of
// its first row into that session's ids: offs[2k] = owner, offs[2k+1] = offset.
func withOwners(offs, owners []int) []int {
	out := make([]int, 0, 2*len(offs))
	for k := range offs {
		out = append(out, owners[k], offs[k])
	}
	return out
}

// TokensProcessed counts the tokens the model has run forward passes over.
func (m *Model) TokensProcessed() int64 { return m.tokens.Load() }

// Prefill feeds ids to the session without scoring them.
func (s *Session) Prefill(ids []int32) error {
	return s.m.step([]*Session{s}, [][]int32{ids}, s.ChunkSize, nil)
}

// Score feeds ids to the session and scores, for each i, targets[i] as the
// token that follows ids[0..i] (a negative target is not scored). Only one
// block of logits exists at a time.
func (s *Session) Score(ids, targets []int32) ([]kernels.TokenScore, error) {
	out, err := s.m.ScoreBatch([]*Session{s}, [][]int32{ids}, [][]int32{targets}, s.ChunkSize)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// ScoreFunc is Score that hands each score to fn (in order) instead of
// keeping them, so scoring a million tokens needs no per-token memory.
func (s *Session) ScoreFunc(ids, targets []int32, fn func(i int, sc kernels.TokenScore)) error {
	return s.m.ScoreBatchFunc([]*Session{s}, [][]int32{ids}, [][]int32{targets}, s.ChunkSize,
		func(_, i int, sc kernels.TokenScore) { fn(i, sc) })
}

// ScoreBatch is Score for several sessions run together.
func (m *Model) ScoreBatch(sessions []*Session, ids, targets [][]int32, chunk int) ([][]kernels.TokenScore, error) {
	out := make([][]kernels.TokenScore, len(ids))
	for j := range ids {
		out[j] = make([]kernels.TokenScore, len(ids[j]))
	}
	err := m.ScoreBatchFunc(sessions, ids, targets, chunk, func(j, i int, sc kernels.TokenScore) { out[j][i] = sc })
	return out, err
}

// ScoreBatchFunc is ScoreBatch that hands each score to fn with its
// sequence and token index; each sequence's scores arrive in order.
func (m *Model) ScoreBatchFunc(sessions []*Session, ids, targets [][]int32, chunk int, fn func(seq, i int, sc kernels.TokenScore)) error {
	for j := range ids {
		if j >= len(targets) || len(targets[j]) != len(ids[j]) {
			return fmt.Errorf("sequence %d: ids and targets differ in length", j)
		}
		if err := m.checkIDs(nonNegative(targets[j])); err != nil {
			return fmt.Errorf("target %w", err)
		}
	}
	return m.step(sessions, ids, chunk, func(h kernels.Mat, seqs []kernels.Seq, owners []int) {
		tg := make([]int32, h.Rows)
		for k, sq := range seqs {
			j, off := owners[2*k], owners[2*k+1]
			copy(tg[sq.Row:sq.Row+sq.Len], targets[j][off:off+sq.Len])
		}
		scores := m.logProbs(h, tg)
		for k, sq := range seqs {
			j, off := owners[2*k], owners[2*k+1]
			for r := 0; r < sq.Len; r++ {
				fn(j, off+r, scores[sq.Row+r])
			}
		}
	})
}

func allNegative(ids []int32) bool {
	for _, id := range ids {
		if id >= 0 {
			return false
		}
	}
	return true
}

func nonNegative(ids []int32) []int32 {
	out := make([]int32, 0, len(ids))
	for _, id := range ids {
		if id >= 0 {
			out = append(out, id)
		}
	}
	return out
}

// logProbs scores the rows of h against targets, headRows rows at a time.
func (m *Model) logProbs(h kernels.Mat, targets []int32) []kernels.TokenScore {
	out := make([]kernels.TokenScore, h.Rows)
	for r0 := 0; r0 < h.Rows; r0 += headRows {
		r1 := min(r0+headRows, h.Rows)
		if allNegative(targets[r0:r1]) {
			continue // nothing to score here: skip the head
		}
		lg := m.ws.logits.RowSlice(0, r1-r0)
		m.be.MatMul(lg, h.RowSlice(r0, r1), m.head, false)
		m.be.LogProbs(out[r0:r1], lg, targets[r0:r1])
		for r := r0; r < r1; r++ {
			if targets[r] < 0 {
				out[r] = kernels.TokenScore{} // unscored rows carry nothing
			}
		}
	}
	return out
}

// Logits feeds ids (at least one) to the session and returns the logits
// for the token that follows them, over the real vocabulary.
func (s *Session) Logits(ids []int32) ([]float32, error) {
	out, err := s.m.LogitsBatch([]*Session{s}, [][]int32{ids}, s.ChunkSize)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// LogitsBatch is Logits for several sessions run together.
func (m *Model) LogitsBatch(sessions []*Session, ids [][]int32, chunk int) ([][]float32, error) {
	V := m.Config.VocabSize
	out := make([][]float32, len(ids))
	err := m.headBatch(sessions, ids, chunk, func(lg kernels.Mat, js []int) {
		buf := make([]float32, lg.Rows*lg.Stride)
		m.be.Read(buf, lg.Buf, lg.Off)
		for r, j := range js {
			out[j] = buf[r*lg.Stride : r*lg.Stride+V : r*lg.Stride+V]
		}
	})
	return out, err
}

// ArgmaxBatch feeds ids[j] to sessions[j] like LogitsBatch and returns the
// most likely next token of each (the lowest id on ties, as greedy
// sampling picks it), found on the backend over the real vocabulary: only
// the token ids come back to the host, not the logits.
func (m *Model) ArgmaxBatch(sessions []*Session, ids [][]int32, chunk int) ([]int32, error) {
	out := make([]int32, len(ids))
	var scores []kernels.TokenScore
	var none []int32
	err := m.headBatch(sessions, ids, chunk, func(lg kernels.Mat, js []int) {
		scores = slices.Grow(scores[:0], lg.Rows)[:lg.Rows]
		for len(none) < lg.Rows {
			none = append(none, -1)
		}
		m.be.LogProbs(scores, lg.ColSlice(0, m.Config.VocabSize), none[:lg.Rows])
		for r, j := range js {
			out[j] = scores[r].Argmax
		}
	})
	return out, err
}

// headBatch runs the sessions' forward passes and the head over the last
// row of every sequence, calling use with each block of at most headRows
// rows of logits (only the real vocabulary's columns are meaningful) and
// the session index of each row.
func (m *Model) headBatch(sessions []*Session, ids [][]int32, chunk int, use func(lg kernels.Mat, js []int)) error {
	for j := range ids {
		if len(ids[j]) == 0 {
			return fmt.Errorf("sequence %d: no tokens to predict from", j)
		}
	}
	return m.step(sessions, ids, chunk, func(h kernels.Mat, seqs []kernels.Seq, owners []int) {
		// The last row of every sequence that ends in this step, in order.
		var last []int // seq index k of each such row
		for k, sq := range seqs {
			j, off := owners[2*k], owners[2*k+1]
			if off+sq.Len == len(ids[j]) {
				last = append(last, k)
			}
		}
		for r0 := 0; r0 < len(last); r0 += headRows {
			r1 := min(r0+headRows, len(last))
			js := make([]int, r1-r0)
			for r := r0; r < r1; r++ {
				js[r-r0] = owners[2*last[r]]
			}
			lg := m.ws.logits.RowSlice(0, r1-r0)
			m.be.MatMul(lg, m.lastRows(h, seqs, last[r0:r1]), m.head, false)
			use(lg, js)
		}
	})
}

// lastRows returns the final rows of seqs[ks...] as one matrix: h itself
// when they are consecutive rows of it (every sequence of a decoding step
// has one row), else a copy gathered into the head's input workspace.
func (m *Model) lastRows(h kernels.Mat, seqs []kernels.Seq, ks []int) kernels.Mat {
	first := seqs[ks[0]].Row + seqs[ks[0]].Len - 1
	consecutive := true
	for i, k := range ks {
		if seqs[k].Row+seqs[k].Len-1 != first+i {
			consecutive = false
			break
		}
	}
	if consecutive {
		return h.RowSlice(first, first+len(ks))
	}
	rows := m.ws.headIn.RowSlice(0, len(ks))
	for i, k := range ks {
		sq := seqs[k]
		m.be.Copy(rows.Buf, rows.Off+i*rows.Stride, h.Buf, h.Off+(sq.Row+sq.Len-1)*h.Stride, h.Cols)
	}
	return rows
}
