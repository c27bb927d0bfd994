package tokenizer

import (
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// ByteBPE is a byte-level BPE tokenizer read from a Hugging Face
// tokenizer.json: the GPT-2 family, tiktoken's cl100k_base and o200k_base
// as converted by Hugging Face (Phi-4-mini and Phi-4-mini-flash-reasoning
// use o200k_base's), and Llama-3.
//
// Encode follows the Hugging Face tokenizers library: added tokens written
// in the text are found first (see MatchSpecialTokens), each stretch of
// text between them is pre-tokenized (split by the tokenizer's pattern) and
// each piece's bytes are merged by the rank of the merges. Encode never adds
// the BOS or EOS that the post-processor would (see PostProcessor). Text is
// UTF-8; each byte that is not part of a valid UTF-8 sequence is encoded as
// U+FFFD, as the SentencePiece Tokenizer does.
//
// Decode returns the bytes of the tokens read as UTF-8, each invalid
// sequence (its maximal subpart, as Rust's from_utf8_lossy has it) replaced
// by U+FFFD. With the Phi-4 and Llama-3 files Decode(Encode(s)) == s for
// valid UTF-8 s.
//
// After loading, and after any MatchSpecialTokens and SkipSpecialTokens
// calls, a ByteBPE is safe for concurrent use.
type ByteBPE struct {
	vocab        map[string]int32     // token bytes → id, for model tokens
	byteID       [256]int32           // id of each single byte, or -1
	merges       map[uint64]mergeRule // (left id, right id) → merge
	ignoreMerges bool                 // a piece that is a token is encoded as such
	unk          int                  // -1 when the model has no unk_token
	fuseUnk      bool

	pieces []string // id → token as written in the file ("" if none)
	kind   []uint8  // id → kindModel, kindAdded or kindSpecial (0: no token)

	// Decoding: the bytes of id are dec[decOff[id]:decOff[id+1]].
	dec    []byte
	decOff []int32

	added     []*addedToken // by id
	addedByID map[int]*addedToken
	// addedFirst[n][c] lists the added tokens with normalized flag n
	// (0 false, 1 true) whose text starts with byte c, longest first.
	addedFirst [2][256][]*addedToken

	pre            []preTokenizer
	prefix, suffix []int // what the post-processor adds
	bos, eos       int
	stop           []int
	chatTemplate   string

	matchSpecial bool
	skipSpecial  bool
	cache        *wordCache
}

// Token kinds.
const (
	kindModel   = 1
	kindAdded   = 2 // added token that is not special
	kindSpecial = 3
)

type addedToken struct {
	hfAddedToken
}

type mergeRule struct {
	rank int32 // position in the merges list: lower merges first
	id   int32 // id of the merged token
}

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// buildDecodeTable stores the bytes each id decodes to: its byte-level
// spelling mapped back to bytes, or, for a token with a character outside
// the mapping (such as an added token with a non-ASCII character), its own
// UTF-8 text, as Hugging Face's ByteLevel decoder does.
func (t *ByteBPE) buildDecodeTable() {
	t.decOff = make([]int32, len(t.pieces)+1)
	for id, p := range t.pieces {
		t.decOff[id] = int32(len(t.dec))
		if t.kind[id] == 0 {
			continue
		}
		if b, ok := byteLevelDecode(p); ok {
			t.dec = append(t.dec, b...)
		} else {
			t.dec = append(t.dec, p...)
		}
	}
	t.decOff[len(t.pieces)] = int32(len(t.dec))
}

// VocabSize returns one more than the largest id of the vocabulary and the
// added tokens.
func (t *ByteBPE) VocabSize() int { return len(t.pieces) }

// BOS returns the id of the beginning-of-sequence token: the one
// tokenizer_config.json names, else the first token the post-processor puts
// in front of a sequence, else -1.
func (t *ByteBPE) BOS() int { return t.bos }

// EOS returns the id of the end-of-sequence token that tokenizer_config.json
// names, else the first eos_token_id of generation_config.json, else -1.
func (t *ByteBPE) EOS() int { return t.eos }

// StopTokens returns the ids that end a generation: EOS and every
// eos_token_id of generation_config.json.
func (t *ByteBPE) StopTokens() []int { return append([]int(nil), t.stop...) }

// PostProcessor returns the ids that the tokenizer.json post-processor puts
// before and after an encoded sequence, such as Llama-3's <|begin_of_text|>
// in front. Encode does not add them.
func (t *ByteBPE) PostProcessor() (prefix, suffix []int) {
	return append([]int(nil), t.prefix...), append([]int(nil), t.suffix...)
}

// ChatTemplate returns the Jinja chat template of tokenizer_config.json, or
// "". See ApplyChatTemplate and DetectChatTemplate.
func (t *ByteBPE) ChatTemplate() string { return t.chatTemplate }

// Piece returns the token of id as the file writes it: the byte-level
// spelling of a model token ("Ġthe" for " the") or the text of an added
// token; "" for an id that is no token.
func (t *ByteBPE) Piece(id int) string {
	if id < 0 || id >= len(t.pieces) {
		return ""
	}
	return t.pieces[id]
}

// TokenID returns the id of an added token's text or of a model token's
// byte-level spelling, or -1.
func (t *ByteBPE) TokenID(token string) int {
	for _, a := range t.added {
		if a.Content == token {
			return a.ID
		}
	}
	if b, ok := byteLevelDecode(token); ok {
		if id, ok := t.vocab[string(b)]; ok && t.pieces[id] == token {
			return int(id)
		}
	}
	return -1
}

// IsSpecial reports whether id is an added token marked special.
func (t *ByteBPE) IsSpecial(id int) bool {
	return id >= 0 && id < len(t.kind) && t.kind[id] == kindSpecial
}

// MatchSpecialTokens turns on or off the matching of special added tokens
// in the text given to Encode. It is on by default, as in Hugging Face's
// tokenizers (where encode_special_tokens=False): "<|end|>" in the text
// encodes to the id of <|end|>. When off, special tokens are encoded as
// plain text; added tokens that are not special are always matched. Call it
// before the tokenizer is used concurrently.
func (t *ByteBPE) MatchSpecialTokens(on bool) { t.matchSpecial = on }

// SkipSpecialTokens turns on or off the dropping of special tokens by
// Decode and the streaming decoder (off by default, like Hugging Face's
// skip_special_tokens=False). Call it before the tokenizer is used
// concurrently.
func (t *ByteBPE) SkipSpecialTokens(on bool) { t.skipSpecial = on }

// Encode tokenizes text into ids, without BOS or EOS.
func (t *ByteBPE) Encode(text string) []int {
	if !utf8.ValidString(text) {
		text = replaceInvalidUTF8(text)
	}
	out := make([]int, 0, len(text)/3+2)
	st := getByteBPEState()
	defer putByteBPEState(st)
	// Hugging Face first finds the added tokens that match the raw text
	// (normalized: false), then, after normalization, those that match the
	// normalized text. With no normalizer both run on the same text.
	t.splitAdded(text, false, func(seg string, id int) {
		if id >= 0 {
			out = append(out, id)
			return
		}
		t.splitAdded(seg, true, func(seg string, id int) {
			if id >= 0 {
				out = append(out, id)
				return
			}
			out = t.encodeSegment(seg, st, out)
		})
	})
	return out
}

// replaceInvalidUTF8 replaces each byte of s that is not part of a valid
// UTF-8 sequence with U+FFFD.
func replaceInvalidUTF8(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteString("\uFFFD")
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// splitAdded calls f for each stretch of s between added tokens whose
// normalized flag is normalized (with id -1) and for each such token (with
// its id), in order. Tokens are found leftmost first, the longest of those
// that start at the same place; lstrip and rstrip take the whitespace before
// and after a token into it, and a single_word token only matches where no
// letter or digit touches it, as in Hugging Face's AddedVocabulary.
func (t *ByteBPE) splitAdded(s string, normalized bool, f func(seg string, id int)) {
	if len(t.added) == 0 {
		f(s, -1)
		return
	}
	n := 0
	if normalized {
		n = 1
	}
	first := &t.addedFirst[n]
	start := 0 // end of the last token, start of the text not yet given to f
	for i := 0; i < len(s); {
		if len(first[s[i]]) == 0 {
			i++
			continue
		}
		a := t.addedAt(s, i, normalized)
		if a == nil {
			i++
			continue
		}
		from, to := i, i+len(a.Content)
		if a.SingleWord && (from > 0 && endsWithWord(s[:from]) || to < len(s) && startsWithWord(s[to:])) {
			i = to // the search goes on after the match
			continue
		}
		if a.LStrip {
			from = max(start, leftSpaceStart(s[:from]))
		}
		if a.RStrip {
			to += rightSpaceLen(s[to:])
		}
		if start < from {
			f(s[start:from], -1)
		}
		f(s[from:to], a.ID)
		start, i = to, to
	}
	if start < len(s) {
		f(s[start:], -1)
	}
}

// addedAt returns the longest added token that starts at s[i], among the
// tokens with the given normalized flag that are matched, or nil.
func (t *ByteBPE) addedAt(s string, i int, normalized bool) *addedToken {
	n := 0
	if normalized {
		n = 1
	}
	for _, a := range t.addedFirst[n][s[i]] {
		if (!a.Special || t.matchSpecial) && strings.HasPrefix(s[i:], a.Content) {
			return a
		}
	}
	return nil
}

// isWordChar is Rust's char::is_alphanumeric: Alphabetic or Numeric.
func isWordChar(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.Is(unicode.Other_Alphabetic, r)
}

func endsWithWord(s string) bool {
	r, _ := utf8.DecodeLastRuneInString(s)
	return isWordChar(r)
}

func startsWithWord(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return isWordChar(r)
}

// leftSpaceStart returns where the whitespace at the end of s starts.
func leftSpaceStart(s string) int {
	i := len(s)
	for i > 0 {
		r, n := utf8.DecodeLastRuneInString(s[:i])
		if !unicode.IsSpace(r) {
			break
		}
		i -= n
	}
	return i
}

// rightSpaceLen returns the length of the whitespace at the start of s.
func rightSpaceLen(s string) int {
	i := 0
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !unicode.IsSpace(r) {
			break
		}
		i += n
	}
	return i
}

// encodeSegment appends the ids of a stretch of text without added tokens:
// each pre-tokenizer step splits the pieces of the step before, and the
// last step's pieces go to BPE.
func (t *ByteBPE) encodeSegment(seg string, st *byteBPEState, out []int) []int {
	var steps []func(string)
	last := func(p string) { out = t.encodePiece(p, st, out) }
	steps = make([]func(string), len(t.pre)+1)
	steps[len(t.pre)] = last
	for k := len(t.pre) - 1; k >= 0; k-- {
		pre, next := t.pre[k], steps[k+1]
		steps[k] = func(s string) { pre.split(s, next) }
	}
	steps[0](seg)
	return out
}

// encodePiece appends the ids of one pre-token.
func (t *ByteBPE) encodePiece(p string, st *byteBPEState, out []int) []int {
	if len(p) == 1 && t.byteID[p[0]] >= 0 {
		return append(out, int(t.byteID[p[0]]))
	}
	if t.ignoreMerges {
		if id, ok := t.vocab[p]; ok {
			return append(out, int(id))
		}
	}
	if ids, ok := t.cache.get(p); ok {
		for _, id := range ids {
			out = append(out, int(id))
		}
		return out
	}
	start := len(out)
	out = t.merge(p, st, out)
	t.cache.put(p, out[start:])
	return out
}

// bpeSymbol is a token in the piece being merged, linked to its neighbours
// by index (-1 at either end); size 0 marks a symbol merged into its left
// neighbour.
type bpeSymbol struct {
	id         int32
	prev, next int32
	size       int32
}

// bpeMerge is a queued merge of the symbol at pos with the one after it.
type bpeMerge struct {
	rank, pos, id int32
}

// before orders the queue: lower rank first, then the leftmost.
func (m *bpeMerge) before(o *bpeMerge) bool {
	return m.rank < o.rank || (m.rank == o.rank && m.pos < o.pos)
}

type byteBPEState struct {
	syms  []bpeSymbol
	queue []bpeMerge
}

var byteBPEPool = sync.Pool{New: func() any { return new(byteBPEState) }}

func getByteBPEState() *byteBPEState { return byteBPEPool.Get().(*byteBPEState) }

func putByteBPEState(st *byteBPEState) {
	if cap(st.syms) > 1<<16 {
		*st = byteBPEState{}
	}
	byteBPEPool.Put(st)
}

// merge appends the ids of the bytes of p after BPE, following Hugging
// Face's Word::merge_all: start from one symbol per byte (a byte with no
// token becomes unk, or is dropped when there is no unk), then apply the
// queued merge of lowest rank, leftmost first, until none is left.
func (t *ByteBPE) merge(p string, st *byteBPEState, out []int) []int {
	syms := st.syms[:0]
	pendingUnk := int32(0) // size of a run of unknown bytes not yet added
	add := func(id, size int32) {
		k := int32(len(syms))
		syms = append(syms, bpeSymbol{id: id, prev: k - 1, next: k + 1, size: size})
	}
	for i := 0; i < len(p); i++ {
		if id := t.byteID[p[i]]; id >= 0 {
			if pendingUnk > 0 {
				add(int32(t.unk), pendingUnk)
				pendingUnk = 0
			}
			add(id, 1)
			continue
		}
		if t.unk < 0 {
			continue
		}
		if pendingUnk > 0 && !t.fuseUnk {
			add(int32(t.unk), pendingUnk)
			pendingUnk = 0
		}
		pendingUnk++
	}
	if pendingUnk > 0 {
		add(int32(t.unk), pendingUnk)
	}
	if len(syms) == 0 {
		st.syms = syms
		return out
	}
	syms[len(syms)-1].next = -1

	q := st.queue[:0]
	for k := 0; k+1 < len(syms); k++ {
		if m, ok := t.merges[pairKey(syms[k].id, syms[k+1].id)]; ok {
			q = pushMerge(q, bpeMerge{rank: m.rank, pos: int32(k), id: m.id})
		}
	}
	for len(q) > 0 {
		var top bpeMerge
		top, q = popMerge(q)
		cur := &syms[top.pos]
		if cur.size == 0 || cur.next < 0 {
			continue
		}
		ri := cur.next
		right := syms[ri]
		// Skip stale entries: the pair must still merge into top.id.
		if m, ok := t.merges[pairKey(cur.id, right.id)]; !ok || m.id != top.id {
			continue
		}
		cur.id = top.id
		cur.size += right.size
		cur.next = right.next
		syms[ri].size = 0
		if right.next >= 0 {
			syms[right.next].prev = top.pos
		}
		if cur.prev >= 0 {
			if m, ok := t.merges[pairKey(syms[cur.prev].id, cur.id)]; ok {
				q = pushMerge(q, bpeMerge{rank: m.rank, pos: cur.prev, id: m.id})
			}
		}
		if cur.next >= 0 {
			if m, ok := t.merges[pairKey(cur.id, syms[cur.next].id)]; ok {
				q = pushMerge(q, bpeMerge{rank: m.rank, pos: top.pos, id: m.id})
			}
		}
	}
	st.queue = q
	for k := int32(0); k >= 0; k = syms[k].next {
		out = append(out, int(syms[k].id))
	}
	st.syms = syms
	return out
}

// pushMerge and popMerge keep q a binary heap ordered by before.
func pushMerge(q []bpeMerge, m bpeMerge) []bpeMerge {
	q = append(q, m)
	for i := len(q) - 1; i > 0; {
		p := (i - 1) / 2
		if !q[i].before(&q[p]) {
			break
		}
		q[i], q[p] = q[p], q[i]
		i = p
	}
	return q
}

func popMerge(q []bpeMerge) (bpeMerge, []bpeMerge) {
	top := q[0]
	n := len(q) - 1
	q[0] = q[n]
	q = q[:n]
	for i := 0; ; {
		l := 2*i + 1
		if l >= n {
			break
		}
		c := l
		if r := l + 1; r < n && q[r].before(&q[l]) {
			c = r
		}
		if !q[c].before(&q[i]) {
			break
		}
		q[i], q[c] = q[c], q[i]
		i = c
	}
	return top, q
}

// appendTokenBytes appends the bytes of id to b: nothing for an id that is
// no token, or for a special token when those are skipped.
func (t *ByteBPE) appendTokenBytes(b []byte, id int) []byte {
	if id < 0 || id >= len(t.pieces) || t.kind[id] == 0 || (t.skipSpecial && t.kind[id] == kindSpecial) {
		return b
	}
	return append(b, t.dec[t.decOff[id]:t.decOff[id+1]]...)
}

// Decode turns ids back into text: the bytes of all tokens (added tokens
// give their text) read as UTF-8, each invalid sequence replaced by U+FFFD.
// Ids that are no token are skipped, and special tokens too when
// SkipSpecialTokens is on.
func (t *ByteBPE) Decode(ids []int) string {
	var raw []byte
	for _, id := range ids {
		raw = t.appendTokenBytes(raw, id)
	}
	out, _ := appendLossy(make([]byte, 0, len(raw)), raw, true)
	return string(out)
}

// NewDecoder returns a streaming decoder for t.
func (t *ByteBPE) NewDecoder() StreamDecoder { return &ByteDecoder{t: t} }

// ByteDecoder decodes ids one at a time, for printing or matching stop
// sequences while generating. Bytes that may still become part of a
// character are held until it completes or proves invalid, so the
// concatenation of everything Add and Flush return equals Decode of all the
// ids.
type ByteDecoder struct {
	t       *ByteBPE
	pending []byte
}

// Add decodes one more id and returns the text it completes, possibly "".
func (d *ByteDecoder) Add(id int) string {
	d.pending = d.t.appendTokenBytes(d.pending, id)
	out, n := appendLossy(nil, d.pending, false)
	d.pending = d.pending[:copy(d.pending, d.pending[n:])]
	return string(out)
}

// Flush returns the held bytes, an incomplete character as U+FFFD, and
// leaves the decoder empty.
func (d *ByteDecoder) Flush() string {
	out, _ := appendLossy(nil, d.pending, true)
	d.pending = d.pending[:0]
	return string(out)
}

// Reset drops any held bytes.
func (d *ByteDecoder) Reset() { d.pending = d.pending[:0] }
