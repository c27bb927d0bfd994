package perplexity

import (
	"fmt"
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
// stream, so that no token list of a whole book exists besides the stream.
const segmentBytes = 1 << 16

// Encoder is the part of a tokenizer a stream needs.
type Encoder interface {
	Encode(text string) []int
	EOS() int
}

// BuildStream tokenizes docs (no BOS) into a stream of at most budget
// tokens. A long text is tokenized in segments cut at a single space
// between two words, the space left to the next segment's dummy prefix; for
// a SentencePiece tokenizer whose merges never cross the start of a word
// (Llama-2's), this gives the ids of the text tokenized whole.
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
			seg, rest := cutSegment(text, segmentBytes)
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

// cutSegment splits text after about n bytes at a single space between two
// non-space characters: seg ends before the space and rest starts after it.
// Without such a space, text is returned whole.
func cutSegment(text string, n int) (seg, rest string) {
	for i := n; i < len(text)-1; i++ {
		if text[i] == ' ' && text[i-1] != ' ' && text[i+1] != ' ' && !isSpaceBefore(text, i) && !isSpaceAt(text, i+1) {
			return text[:i], text[i+1:]
		}
	}
	return text, ""
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
func (s *Stream) Spans(tok *tokenizer.Tokenizer, bounds []int, first int) ([]Span, error) {
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
