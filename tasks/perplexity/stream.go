package perplexity

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/sambaeval/sambaeval/tokenizer"
)

// Doc is one document of the corpus.
type Doc struct {
	Name string
	Text string
}

// Stream is the token sequence evaluated: the documents' tokens one after
// another with the EOS token between two documents (as Samba was trained;
// none before the first or after the last), cut at a token budget.
type Stream struct {
	Tokens []int32
	// Starts[i] is the position of document i's first token; Docs[i] its name.
	Starts []int
	Docs   []string
	// Complete reports whether the last document is whole.
	Complete bool
}

// segmentBytes is about how much text is tokenized at once when building a
// stream, so that no token list of a whole book exists beside the stream.
const segmentBytes = 1 << 16

// Encoder is the part of a tokenizer a stream needs.
type Encoder interface {
	Encode(text string) []int
	EOS() int
}

// BuildStream tokenizes docs (no BOS) into a stream of at most budget
// tokens. A long text is tokenized in segments (see splitter), which gives
// the ids of the text tokenized whole without a token list of a whole book
// existing beside the stream.
func BuildStream(enc Encoder, docs []Doc, budget int) (*Stream, error) {
	// A document of n bytes has at most n+1 tokens (one per byte, and the
	// dummy-prefix space), so this bounds the stream without overshooting a
	// budget larger than the corpus.
	most := 0
	for _, d := range docs {
		most += len(d.Text) + 2
	}
	s := &Stream{Tokens: make([]int32, 0, min(budget, most))}
	eos := int32(enc.EOS())
	sp := &splitter{enc: enc}
	for i, d := range docs {
		if len(s.Tokens) >= budget {
			break
		}
		if i > 0 {
			s.Tokens = append(s.Tokens, eos)
			if len(s.Tokens) >= budget {
				break
			}
		}
		s.Starts = append(s.Starts, len(s.Tokens))
		s.Docs = append(s.Docs, d.Name)
		s.Complete = true
		text := d.Text
		for text != "" {
			seg, rest := sp.cut(text, segmentBytes)
			for _, id := range enc.Encode(seg) {
				if len(s.Tokens) == budget {
					s.Complete = false
					break
				}
				s.Tokens = append(s.Tokens, int32(id))
			}
			if !s.Complete {
				break
			}
			text = rest
		}
		if len(s.Tokens) == s.Starts[len(s.Starts)-1] {
			return nil, fmt.Errorf("document %s has no tokens", d.Name)
		}
	}
	return s, nil
}

// How the text after a cut at a single space is tokenized on its own.
const (
	ruleUnknown = iota
	// ruleSkip drops the space: SentencePiece's dummy prefix stands for it.
	ruleSkip
	// ruleKeep keeps it: byte-level BPE attaches it to the next word.
	ruleKeep
	// ruleNone: neither gives the tokens of the whole; texts are not cut.
	ruleNone
)

// splitter cuts long texts where tokenizing the two parts apart gives the
// tokens of the whole: at a single space between two words, the space
// dropped from the second part (SentencePiece) or kept (byte-level BPE),
// whichever the tokenizer needs. Each cut is checked on the text around it.
type splitter struct {
	enc  Encoder
	rule int
}

// cutTries is how many spaces past the wanted length are tried before the
// rest of a text is tokenized whole.
const cutTries = 16

// cut splits text after about n bytes, or returns it whole.
func (sp *splitter) cut(text string, n int) (seg, rest string) {
	if sp.rule == ruleNone {
		return text, ""
	}
	tries := 0
	for i := n; i < len(text)-1 && tries < cutTries; i++ {
		if text[i] != ' ' || isSpaceBefore(text, i) || isSpaceAt(text, i+1) {
			continue
		}
		tries++
		if sp.check(text, i) {
			if sp.rule == ruleSkip {
				return text[:i], text[i+1:]
			}
			return text[:i], text[i:]
		}
	}
	if sp.rule == ruleUnknown && tries == cutTries {
		sp.rule = ruleNone
	}
	return text, ""
}

// checkBytes is how much text on each side of a cut is tokenized to check it.
const checkBytes = 64

// check reports whether cutting text at the space at i keeps the tokens of
// the text around it, trying the rules when none is known yet.
func (sp *splitter) check(text string, i int) bool {
	a, b := max(0, i-checkBytes), min(len(text), i+1+checkBytes)
	for a > 0 && !utf8.RuneStart(text[a]) {
		a--
	}
	for b < len(text) && !utf8.RuneStart(text[b]) {
		b++
	}
	whole := sp.enc.Encode(text[a:b])
	left := sp.enc.Encode(text[a:i])
	rules := []int{sp.rule}
	if sp.rule == ruleUnknown {
		rules = []int{ruleSkip, ruleKeep}
	}
	for _, r := range rules {
		right := text[i:b]
		if r == ruleSkip {
			right = text[i+1 : b]
		}
		if slices.Equal(whole, append(left[:len(left):len(left)], sp.enc.Encode(right)...)) {
			sp.rule = r
			return true
		}
	}
	return false
}

// isSpaceBefore reports whether the character ending at byte i is white space.
func isSpaceBefore(s string, i int) bool {
	r, _ := utf8.DecodeLastRuneInString(s[:i])
	return pySpace(r)
}

// isSpaceAt reports whether the character starting at byte i is white space.
func isSpaceAt(s string, i int) bool {
	r, _ := utf8.DecodeRuneInString(s[i:])
	return pySpace(r)
}

// pySpace is Python's str.isspace for one character, the \s of lm-eval's
// word count: Unicode white space and the separators U+001C–U+001F.
func pySpace(r rune) bool { return unicode.IsSpace(r) || r >= 0x1c && r <= 0x1f }

// Span is what a range of predicted positions covers.
type Span struct {
	// Tokens is the number of predicted tokens.
	Tokens int
	// Bytes is the UTF-8 length of their decoded text.
	Bytes int
	// Words counts, per document, 1 + the white-space runs that begin in
	// the text of its predicted tokens: lm-eval's len(re.split(r"\s+",
	// text)) of that text. A document's count goes to the spans holding its
	// tokens, the 1 to the span of its first predicted token.
	Words int
}

// Add adds o to s.
func (s *Span) Add(o Span) {
	s.Tokens, s.Bytes, s.Words = s.Tokens+o.Tokens, s.Bytes+o.Bytes, s.Words+o.Words
}

// Spans measures the predicted positions between consecutive boundaries:
// span i covers positions [bounds[i-1], bounds[i]) (span 0 from 0), counting
// only positions ≥ first (1 when the first token is context only, 0 with an
// EOS prefix). Bounds must ascend and end at most at len(Tokens).
//
// The text of a token is what SentencePiece's decoder emits when it is
// added, decoding each document on its own: the dummy-prefix space of a
// document's first token is not text, a character spread over byte pieces
// counts with its last byte, and the EOS between documents has no text. A
// document's text is therefore counted byte for byte as it was read (invalid
// UTF-8 aside, which the tokenizer turns into U+FFFD).
func (s *Stream) Spans(tok tokenizer.Interface, bounds []int, first int) ([]Span, error) {
	for i, b := range bounds {
		if b <= 0 || i > 0 && b <= bounds[i-1] || b > len(s.Tokens) {
			return nil, fmt.Errorf("span boundaries %v do not ascend within the %d tokens", bounds, len(s.Tokens))
		}
	}
	out := make([]Span, len(bounds))
	if len(bounds) == 0 {
		return out, nil
	}
	dec := tok.NewDecoder()
	prevSpace := false
	seg, cur, next := 0, -1, 0 // cur: the document being read; next: the one after
	for p, id := range s.Tokens[:bounds[len(bounds)-1]] {
		for p >= bounds[seg] {
			seg++
		}
		var text string
		isText := true
		switch {
		case next < len(s.Starts) && p == s.Starts[next]:
			dec.Reset()
			prevSpace = false
			cur, next = next, next+1
			fallthrough
		case next == len(s.Starts) || p < s.Starts[next]-1:
			text = dec.Add(int(id))
			last := next < len(s.Starts) && p == s.Starts[next]-2 || next == len(s.Starts) && p == len(s.Tokens)-1 && s.Complete
			if last {
				text += dec.Flush()
			}
		default:
			isText = false // the EOS between two documents: predicted, but no text
		}
		if p < first {
			continue
		}
		sp := &out[seg]
		sp.Tokens++
		sp.Bytes += len(text)
		if isText && p == max(s.Starts[cur], first) {
			// The document's first predicted token: its text is counted as a
			// text of its own, as lm-eval counts the words of a document.
			sp.Words++
			prevSpace = false
		}
		sp.Words += runStarts(text, &prevSpace)
	}
	return out, nil
}

// runStarts counts the white-space runs that begin in text, given whether
// the text before it ended in white space, and updates that.
func runStarts(text string, prevSpace *bool) int {
	n := 0
	for _, r := range text {
		sp := pySpace(r)
		if sp && !*prevSpace {
			n++
		}
		*prevSpace = sp
	}
	return n
}

// WordCount is lm-eval's word count of a whole text, len(re.split(r"\s+",
// text)), for tests and for checking Spans.
func WordCount(text string) int {
	prev := false
	return 1 + runStarts(text, &prev)
}

// describe names the documents a stream holds, for results.
func (s *Stream) describe() string {
	var b strings.Builder
	for i, n := range s.Docs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(n)
	}
	if !s.Complete {
		b.WriteString(" (cut)")
	}
	return b.String()
}
