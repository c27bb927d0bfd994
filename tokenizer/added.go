package tokenizer

import (
	"fmt"
	"sort"
	"strings"
)

// AddedToken is a token outside the SentencePiece model, such as Phi-3's chat
// markers. It decodes to its text, and when matching is on (MatchAddedTokens)
// its text in the input encodes to its id.
type AddedToken struct {
	ID   int
	Text string
}

// Phi3AddedTokens returns the tokens Phi-3 (and Samba-3.8B, which uses its
// vocabulary) adds after the 32,000 pieces of the Llama-2 model.
func Phi3AddedTokens() []AddedToken {
	return []AddedToken{
		{32000, "<|endoftext|>"},
		{32001, "<|assistant|>"},
		{32002, "<|placeholder1|>"},
		{32003, "<|placeholder2|>"},
		{32004, "<|placeholder3|>"},
		{32005, "<|placeholder4|>"},
		{32006, "<|system|>"},
		{32007, "<|end|>"},
		{32008, "<|placeholder5|>"},
		{32009, "<|placeholder6|>"},
		{32010, "<|user|>"},
	}
}

// AddTokens registers tokens with ids beyond the model's pieces. Their ids
// must be at least ModelSize() and distinct, and their texts non-empty and
// distinct. Call it before the tokenizer is used concurrently.
func (t *Tokenizer) AddTokens(tokens []AddedToken) error {
	byID := make(map[int]AddedToken, len(t.addedByID)+len(tokens))
	texts := make(map[string]int, len(byID))
	for id, a := range t.addedByID {
		byID[id] = a
		texts[a.Text] = id
	}
	for _, a := range tokens {
		if a.ID < len(t.pieces) {
			return fmt.Errorf("add token %q: id %d is a model piece (model has %d)", a.Text, a.ID, len(t.pieces))
		}
		if a.Text == "" {
			return fmt.Errorf("add token id %d: empty text", a.ID)
		}
		if _, dup := byID[a.ID]; dup {
			return fmt.Errorf("add token %q: id %d already added", a.Text, a.ID)
		}
		if id, dup := texts[a.Text]; dup {
			return fmt.Errorf("add token id %d: text %q already added as id %d", a.ID, a.Text, id)
		}
		byID[a.ID] = a
		texts[a.Text] = a.ID
	}
	t.addedByID = byID
	t.added = t.added[:0]
	for _, a := range byID {
		t.added = append(t.added, a)
	}
	sort.Slice(t.added, func(i, j int) bool { return t.added[i].ID < t.added[j].ID })
	return nil
}

// AddedTokens returns the registered added tokens in id order.
func (t *Tokenizer) AddedTokens() []AddedToken {
	return append([]AddedToken(nil), t.added...)
}

// MatchAddedTokens turns on or off the matching of added tokens in the text
// given to Encode (off by default). When on, Encode splits the text at every
// occurrence of an added token's text (the leftmost, and the longest of those
// starting there), encodes each stretch of text in between on its own, with
// its own dummy prefix, and puts the added tokens' ids between them. No
// whitespace around a token is dropped. This reproduces published Phi-3 token
// ids, where "<|user|>\nHi<|end|>\n" starts 32010, 29871 ("▁"), 13 ("\n")
// and "<|end|>\n" gives 32007, 29871, 13. Call it before the tokenizer is
// used concurrently.
func (t *Tokenizer) MatchAddedTokens(on bool) { t.matchAdded = on }

// encodeWithAdded appends the ids of text with added tokens matched.
func (t *Tokenizer) encodeWithAdded(text string, out []int) []int {
	// next[i] caches where added[i] next occurs at or after pos (-1: never).
	next := make([]int, len(t.added))
	for i := range next {
		next[i] = -2 // not searched yet
	}
	pos := 0
	for pos < len(text) {
		best, at := -1, len(text)
		for i, a := range t.added {
			if next[i] == -2 || (next[i] >= 0 && next[i] < pos) {
				next[i] = -1
				if j := strings.Index(text[pos:], a.Text); j >= 0 {
					next[i] = pos + j
				}
			}
			if n := next[i]; n >= 0 && (n < at || (n == at && len(a.Text) > len(t.added[best].Text))) {
				best, at = i, n
			}
		}
		out = t.encodePlain(text[pos:at], out)
		if best < 0 {
			break
		}
		out = append(out, t.added[best].ID)
		pos = at + len(t.added[best].Text)
	}
	return out
}
