package tokenizer

import (
	"strings"
	"sync"
	"unicode/utf8"
)

// Encode tokenizes text into ids without BOS or EOS, exactly as
// SentencePiece's EncodeAsIds does. When MatchAddedTokens(true) is in
// effect, added tokens written literally in text are encoded as their ids
// first (see AddTokens).
func (t *Tokenizer) Encode(text string) []int {
	ids := make([]int, 0, len(text)/3+2)
	if t.matchAdded && len(t.added) > 0 {
		return t.encodeWithAdded(text, ids)
	}
	return t.encodePlain(text, ids)
}

// encodePlain appends the ids of one SentencePiece encoding of text.
func (t *Tokenizer) encodePlain(text string, out []int) []int {
	norm := t.normalize(text)
	if norm == "" {
		return out
	}
	start := len(out)
	if !t.wordwise {
		st := getBPEState()
		out = t.bpe(norm, st, out)
		putBPEState(st)
	} else {
		out = t.encodeWords(norm, out)
	}
	if !t.byteFallback {
		out = collapseUnknown(out, start, t.unk)
	}
	return out
}

// collapseUnknown merges runs of the unknown id in out[start:] into one, as
// SentencePiece does when byte fallback is off.
func collapseUnknown(out []int, start, unk int) []int {
	w := start
	for i := start; i < len(out); i++ {
		if out[i] == unk && w > start && out[w-1] == unk {
			continue
		}
		out[w] = out[i]
		w++
	}
	return out[:w]
}

// normalize applies SentencePiece's normalizer without a character map:
// invalid UTF-8 bytes become U+FFFD, spaces become the space symbol, the
// dummy prefix is added and, when remove_extra_whitespaces is set, leading,
// trailing and repeated spaces are dropped. Empty (or all-space) input
// normalizes to "".
func (t *Tokenizer) normalize(text string) string {
	if t.removeExtraWhitespaces {
		for len(text) > 0 {
			sp, n := t.normalizePrefix(text)
			if sp != " " {
				break
			}
			text = text[n:]
		}
	}
	if text == "" {
		return ""
	}
	var b strings.Builder
	b.Grow(len(text) + len(text)/4 + len(t.space))
	if t.addDummyPrefix && !t.whitespaceAsSuffix {
		b.WriteString(t.space)
	}
	prevSpace := t.removeExtraWhitespaces
	for i := 0; i < len(text); {
		if len(t.userDefined) == 0 {
			// Fast path for runs of ASCII other than space, which
			// normalize to themselves.
			j := i
			for j < len(text) && text[j] < utf8.RuneSelf && text[j] != ' ' {
				j++
			}
			if j > i {
				b.WriteString(text[i:j])
				i = j
				prevSpace = false
				continue
			}
		}
		sp, n := t.normalizePrefix(text[i:])
		i += n
		if prevSpace {
			sp = strings.TrimLeft(sp, " ")
		}
		if sp != "" {
			if t.escapeWhitespaces {
				for k := 0; k < len(sp); k++ {
					if sp[k] == ' ' {
						b.WriteString(spaceSymbol)
					} else {
						b.WriteByte(sp[k])
					}
				}
			} else {
				b.WriteString(sp)
			}
			prevSpace = sp[len(sp)-1] == ' '
		}
		if !t.removeExtraWhitespaces {
			prevSpace = false
		}
	}
	s := b.String()
	if t.removeExtraWhitespaces {
		for strings.HasSuffix(s, t.space) {
			s = s[:len(s)-len(t.space)]
		}
	}
	if t.addDummyPrefix && t.whitespaceAsSuffix {
		s += t.space
	}
	return s
}

// normalizePrefix is SentencePiece's NormalizePrefix without a character
// map: it returns the normalized form of the start of s, a user-defined piece,
// one valid UTF-8 character or U+FFFD for one invalid byte, and the number of
// bytes of s it stands for.
func (t *Tokenizer) normalizePrefix(s string) (string, int) {
	if n := t.matchUserDefined(s); n > 0 {
		return s[:n], n
	}
	if s[0] < utf8.RuneSelf {
		return s[:1], 1
	}
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError && n == 1 {
		return "\uFFFD", 1
	}
	return s[:n], n
}

// matchUserDefined returns the length of the longest user-defined piece that
// s starts with, or 0.
func (t *Tokenizer) matchUserDefined(s string) int {
	if len(t.userDefined) == 0 || s == "" {
		return 0
	}
	for _, p := range t.userByFirst[s[0]] { // longest first
		if strings.HasPrefix(s, p) {
			return len(p)
		}
	}
	return 0
}

// encodeWords runs BPE separately on each word of the normalized text, where
// a word is a maximal run of space symbols followed by the characters up to
// the next space symbol. This gives the same ids as BPE over the whole text
// when t.wordwise holds. Then no mergeable piece, user-defined ones included,
// contains a space symbol after another character, so no user-defined piece
// matches across a word start and no pair across one is ever a candidate:
// the initial split into characters and user-defined pieces passes through
// every word start, merges inside a word never depend on other words, and
// the merge order (score, then leftmost) restricted to one word is the order
// BPE on that word alone would use.
func (t *Tokenizer) encodeWords(norm string, out []int) []int {
	st := getBPEState()
	defer putBPEState(st)
	for len(norm) > 0 {
		n := wordEnd(norm, t.space)
		word := norm[:n]
		norm = norm[n:]
		if ids, ok := t.cache.get(word); ok {
			for _, id := range ids {
				out = append(out, int(id))
			}
			continue
		}
		start := len(out)
		out = t.bpe(word, st, out)
		t.cache.put(word, out[start:])
	}
	return out
}

// wordEnd returns the length of the word s starts with: its leading space
// symbols and then everything up to the next space symbol.
func wordEnd(s, space string) int {
	i := 0
	for strings.HasPrefix(s[i:], space) {
		i += len(space)
	}
	if j := strings.Index(s[i:], space); j >= 0 {
		return i + j
	}
	return len(s)
}

// symbol is a piece of the text being merged: s[start:end], linked to its
// neighbours by index (-1 at either end).
type symbol struct {
	start, end int32
	prev, next int32
	freeze     bool // user-defined piece, never merged
}

// candidate is a possible merge of the adjacent symbols left and right into a
// piece of the given score and byte length.
type candidate struct {
	score       float32
	left, right int32
	size        int32
}

// before orders the agenda: higher score first, then the leftmost pair.
func (c *candidate) before(d *candidate) bool {
	return c.score > d.score || (c.score == d.score && c.left < d.left)
}

type bpeState struct {
	syms   []symbol
	agenda []candidate
	// revMerge records how an UNUSED piece was formed so it can be split
	// back (SentencePiece's rev_merge): the length of its left part.
	revMerge map[string]int
}

var bpePool = sync.Pool{New: func() any { return new(bpeState) }}

func getBPEState() *bpeState { return bpePool.Get().(*bpeState) }

func putBPEState(st *bpeState) {
	if cap(st.syms) > 1<<16 {
		st.syms, st.agenda = nil, nil
	}
	bpePool.Put(st)
}

// bpe appends the ids of the normalized text s, following SentencePiece's
// bpe::Model::SampleEncode (without dropout) and the byte fallback of
// SentencePieceProcessor::PopulateSentencePieceText.
func (t *Tokenizer) bpe(s string, st *bpeState, out []int) []int {
	syms := st.syms[:0]
	for i := 0; i < len(s); {
		n := t.matchUserDefined(s[i:])
		freeze := n > 0
		if !freeze {
			n = min(len(s)-i, oneCharLen(s[i]))
		}
		k := int32(len(syms))
		syms = append(syms, symbol{start: int32(i), end: int32(i + n), prev: k - 1, next: k + 1, freeze: freeze})
		i += n
	}
	if len(syms) == 0 {
		return out
	}
	syms[len(syms)-1].next = -1
	st.syms = syms
	st.agenda = st.agenda[:0]
	if t.hasUnused {
		clear(st.revMerge)
	}
	for i := 1; i < len(syms); i++ {
		t.addCandidate(s, st, int32(i-1), int32(i))
	}
	for len(st.agenda) > 0 {
		top := st.pop()
		l, r := &syms[top.left], &syms[top.right]
		// Skip candidates made stale by earlier merges: symbols only grow,
		// so an unchanged total length means both are as they were.
		if l.end == l.start || r.end == r.start || (l.end-l.start)+(r.end-r.start) != top.size {
			continue
		}
		l.end = r.end
		l.next = r.next
		if r.next >= 0 {
			syms[r.next].prev = top.left
		}
		r.end = r.start
		t.addCandidate(s, st, l.prev, top.left)
		t.addCandidate(s, st, top.left, l.next)
	}
	for i := int32(0); i >= 0; i = syms[i].next {
		out = t.resegment(s[syms[i].start:syms[i].end], st, out)
	}
	return out
}

// addCandidate pushes the merge of symbols left and right when their
// concatenation is a mergeable piece.
func (t *Tokenizer) addCandidate(s string, st *bpeState, left, right int32) {
	if left < 0 || right < 0 {
		return
	}
	l, r := &st.syms[left], &st.syms[right]
	if l.freeze || r.freeze {
		return
	}
	// Adjacent symbols are contiguous in s.
	piece := s[l.start:r.end]
	id, ok := t.mergeable[piece]
	if !ok {
		return
	}
	st.push(candidate{score: t.scores[id], left: left, right: right, size: r.end - l.start})
	if t.types[id] == Unused {
		if st.revMerge == nil {
			st.revMerge = make(map[string]int)
		}
		st.revMerge[piece] = int(l.end - l.start)
	}
}

// resegment appends the ids of a final piece: an UNUSED piece is split back
// into the parts it was merged from, an unknown piece becomes byte pieces
// when byte fallback is on.
func (t *Tokenizer) resegment(w string, st *bpeState, out []int) []int {
	id := t.pieceToID(w)
	if t.types[id] == Unused {
		if n, ok := st.revMerge[w]; ok {
			out = t.resegment(w[:n], st, out)
			return t.resegment(w[n:], st, out)
		}
	}
	if int(id) == t.unk && t.byteFallback {
		for i := 0; i < len(w); i++ {
			out = append(out, int(t.byteID[w[i]]))
		}
		return out
	}
	return append(out, int(id))
}

// oneCharLen is SentencePiece's OneCharLen: the length of a UTF-8 sequence
// judged by its first byte alone.
func oneCharLen(b byte) int {
	switch {
	case b < 0xC0:
		return 1
	case b < 0xE0:
		return 2
	case b < 0xF0:
		return 3
	}
	return 4
}

// push and pop maintain st.agenda as a binary heap ordered by before.
func (st *bpeState) push(c candidate) {
	h := append(st.agenda, c)
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !h[i].before(&h[p]) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
	st.agenda = h
}

func (st *bpeState) pop() candidate {
	h := st.agenda
	top := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h = h[:n]
	for i := 0; ; {
		l := 2*i + 1
		if l >= n {
			break
		}
		c := l
		if r := l + 1; r < n && h[r].before(&h[l]) {
			c = r
		}
		if !h[c].before(&h[i]) {
			break
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
	st.agenda = h
	return top
}

// wordCache maps words to their ids. It is cleared when it grows past
// maxEntries, which bounds its memory.
type wordCache struct {
	mu sync.RWMutex
	m  map[string][]int32
}

const (
	cacheMaxEntries = 1 << 18
	cacheMaxWordLen = 128
)

func newWordCache() *wordCache { return &wordCache{m: make(map[string][]int32)} }

func (c *wordCache) get(word string) ([]int32, bool) {
	c.mu.RLock()
	ids, ok := c.m[word]
	c.mu.RUnlock()
	return ids, ok
}

func (c *wordCache) put(word string, ids []int) {
	if len(word) > cacheMaxWordLen {
		return
	}
	v := make([]int32, len(ids))
	for i, id := range ids {
		v[i] = int32(id)
	}
	c.mu.Lock()
	if len(c.m) >= cacheMaxEntries {
		clear(c.m)
	}
	c.m[strings.Clone(word)] = v
	c.mu.Unlock()
}
