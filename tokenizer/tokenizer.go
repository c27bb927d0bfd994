// Package tokenizer implements SentencePiece BPE tokenization (the Llama-2 and
// Phi-3 tokenizer.model files) in pure Go.
//
// Encoding and decoding follow the official SentencePiece library (version
// 0.1.97) piece for piece: the normalizer's add_dummy_prefix,
// remove_extra_whitespaces and escape_whitespaces options, score-ordered BPE
// merges with ties broken leftmost first, resegmentation of UNUSED pieces,
// user-defined pieces and byte fallback. The test suite checks the ids
// against golden files produced by the official library
// (testdata/gen_golden.py).
//
// Text is UTF-8. Like SentencePiece, Encode replaces each byte that is not
// part of a valid UTF-8 sequence (stray continuation bytes, truncated
// sequences, overlong forms, surrogates, values above U+10FFFF) by U+FFFD, so
// "\xe2\x82" encodes like "\uFFFD\uFFFD". Decode always returns valid UTF-8:
// byte pieces that do not form a character decode to U+FFFD, one per byte.
// With the Llama-2 model (byte fallback, no removal of extra whitespace),
// Decode(Encode(s)) == s for valid UTF-8 without the character "▁" (U+2581),
// which comes back as a space.
//
// Models whose normalizer carries a precompiled character map (for example
// nmt_nfkc) and unigram models are rejected by Load, since their results would
// differ from SentencePiece's.
//
// Added tokens (Phi-3's <|user|>, <|end|>, ...) extend the vocabulary beyond
// the model; see AddTokens.
package tokenizer

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
)

// spaceSymbol is U+2581 LOWER ONE EIGHTH BLOCK, which SentencePiece uses to
// make spaces visible inside pieces.
const spaceSymbol = "\u2581"

// Tokenizer encodes text into token ids and decodes ids back into text.
// After loading (and after any AddTokens and MatchAddedTokens calls) it is
// safe for concurrent use.
type Tokenizer struct {
	pieces []string // id → piece text
	scores []float32
	types  []PieceType

	// mergeable maps NORMAL, USER_DEFINED and UNUSED pieces to their ids:
	// the pieces BPE may form. reserved maps CONTROL, UNKNOWN and BYTE
	// pieces. SentencePiece looks an output piece up in reserved first.
	mergeable map[string]int32
	reserved  map[string]int32

	byteID    [256]int32 // id of the piece <0xXX>, when byteFallback
	byteValue []int16    // id → byte value for BYTE pieces, -1 otherwise

	unk, bos, eos, pad int
	unkSurface         string

	// Normalizer and model options.
	addDummyPrefix         bool
	removeExtraWhitespaces bool
	escapeWhitespaces      bool
	whitespaceAsSuffix     bool
	byteFallback           bool
	space                  string // "▁" when escapeWhitespaces, else " "

	userDefined []string      // USER_DEFINED pieces
	userByFirst [256][]string // USER_DEFINED pieces by first byte, longest first
	hasUnused   bool

	// wordwise is true when no mergeable piece contains a space symbol
	// right after another character, so that no merge (and no user-defined
	// piece) crosses the start of a word (a run of space symbols and the
	// characters after it). Encoding can then run BPE word by word and cache
	// the result per word.
	wordwise bool
	cache    *wordCache

	added      []AddedToken       // sorted by ID
	addedByID  map[int]AddedToken // id → token
	matchAdded bool
}

// Load reads a SentencePiece model file (tokenizer.model).
func Load(path string) (*Tokenizer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load tokenizer: %w", err)
	}
	t, err := FromBytes(data)
	if err != nil {
		return nil, fmt.Errorf("load tokenizer %s: %w", path, err)
	}
	return t, nil
}

// FromBytes parses a serialized SentencePiece ModelProto.
func FromBytes(data []byte) (*Tokenizer, error) {
	m, err := parseModelProto(data)
	if err != nil {
		return nil, fmt.Errorf("parse sentencepiece model: %w", err)
	}
	return newTokenizer(m)
}

func newTokenizer(m *modelProto) (*Tokenizer, error) {
	if len(m.pieces) == 0 {
		return nil, errNoPieces
	}
	if m.modelType != modelBPE {
		return nil, fmt.Errorf("model_type %d not supported (only BPE, 2)", m.modelType)
	}
	if len(m.precompiledCharsmap) > 0 {
		return nil, fmt.Errorf("normalizer %q with a precompiled_charsmap is not supported", m.normalizerName)
	}
	if m.hasDenormalizer {
		return nil, fmt.Errorf("denormalizer_spec with a precompiled_charsmap is not supported")
	}
	if len(m.pieces) > 1<<30 {
		return nil, fmt.Errorf("%d pieces: too many", len(m.pieces))
	}
	t := &Tokenizer{
		pieces:                 make([]string, len(m.pieces)),
		scores:                 make([]float32, len(m.pieces)),
		types:                  make([]PieceType, len(m.pieces)),
		byteValue:              make([]int16, len(m.pieces)),
		mergeable:              make(map[string]int32, len(m.pieces)),
		reserved:               make(map[string]int32),
		unk:                    -1,
		unkSurface:             m.unkSurface,
		addDummyPrefix:         m.addDummyPrefix,
		removeExtraWhitespaces: m.removeExtraWhitespaces,
		escapeWhitespaces:      m.escapeWhitespaces,
		whitespaceAsSuffix:     m.treatWhitespaceAsSuffix,
		byteFallback:           m.byteFallback,
		space:                  " ",
		cache:                  newWordCache(),
	}
	if t.escapeWhitespaces {
		t.space = spaceSymbol
	}
	for i := range t.byteID {
		t.byteID[i] = -1
	}
	for i, p := range m.pieces {
		if p.piece == "" {
			return nil, fmt.Errorf("piece %d is empty", i)
		}
		t.pieces[i], t.scores[i], t.types[i], t.byteValue[i] = p.piece, p.score, p.typ, -1
		var dict map[string]int32
		switch p.typ {
		case Normal, UserDefined, Unused:
			dict = t.mergeable
		case Unknown, Control, Byte:
			dict = t.reserved
		default:
			return nil, fmt.Errorf("piece %d %q: unknown type %d", i, p.piece, int(p.typ))
		}
		if _, dup := dict[p.piece]; dup {
			return nil, fmt.Errorf("piece %d %q is already defined", i, p.piece)
		}
		dict[p.piece] = int32(i)
		switch p.typ {
		case UserDefined:
			t.userDefined = append(t.userDefined, p.piece)
		case Unused:
			t.hasUnused = true
		case Unknown:
			if t.unk >= 0 {
				return nil, fmt.Errorf("piece %d %q: unknown piece already defined at %d", i, p.piece, t.unk)
			}
			t.unk = i
		case Byte:
			if !m.byteFallback {
				return nil, fmt.Errorf("piece %d %q: byte piece but byte_fallback is false", i, p.piece)
			}
			b, ok := parseBytePiece(p.piece)
			if !ok {
				return nil, fmt.Errorf("piece %d %q: invalid byte piece", i, p.piece)
			}
			t.byteID[b] = int32(i)
			t.byteValue[i] = int16(b)
		}
	}
	if t.unk < 0 {
		return nil, fmt.Errorf("no UNKNOWN piece")
	}
	if t.byteFallback {
		for b, id := range t.byteID {
			if id < 0 {
				return nil, fmt.Errorf("byte_fallback is true but piece <0x%02X> is missing", b)
			}
		}
	}
	for _, p := range t.userDefined {
		t.userByFirst[p[0]] = append(t.userByFirst[p[0]], p)
	}
	for _, ps := range t.userByFirst {
		sort.Slice(ps, func(i, j int) bool { return len(ps[i]) > len(ps[j]) })
	}

	special := func(piece, def string, want PieceType) int {
		if piece == "" {
			piece = def
		}
		if id := t.pieceToID(piece); t.types[id] == want {
			return int(id)
		}
		return -1
	}
	t.bos = special(m.bosPiece, "<s>", Control)
	t.eos = special(m.eosPiece, "</s>", Control)
	t.pad = special(m.padPiece, "<pad>", Control)

	// UNUSED pieces are split back using merges recorded anywhere in the
	// text, so they rule out word-by-word encoding; so does whitespace as
	// suffix, where words would end, not start, with spaces. User-defined
	// pieces are fine: they are mergeable pieces too, so one that matched
	// across a word start would fail the test below.
	t.wordwise = !t.hasUnused && !t.whitespaceAsSuffix
	if t.wordwise {
		for p := range t.mergeable {
			if !spacesOnlyLeading(p, t.space) {
				t.wordwise = false
				break
			}
		}
	}
	return t, nil
}

// spacesOnlyLeading reports whether every space symbol in piece belongs to
// the run of space symbols it starts with.
func spacesOnlyLeading(piece, space string) bool {
	for strings.HasPrefix(piece, space) {
		piece = piece[len(space):]
	}
	return !strings.Contains(piece, space)
}

// parseBytePiece parses a byte-fallback piece "<0xXX>" (upper-case hex, as
// SentencePiece writes them).
func parseBytePiece(s string) (byte, bool) {
	if len(s) != 6 || s[:3] != "<0x" || s[5] != '>' || strings.ToUpper(s[3:5]) != s[3:5] {
		return 0, false
	}
	v, err := strconv.ParseUint(s[3:5], 16, 8)
	return byte(v), err == nil
}

// pieceToID mirrors SentencePiece's PieceToId: reserved pieces first, then
// the others, else the unknown id.
func (t *Tokenizer) pieceToID(piece string) int32 {
	if id, ok := t.reserved[piece]; ok {
		return id
	}
	if id, ok := t.mergeable[piece]; ok {
		return id
	}
	return int32(t.unk)
}

// VocabSize returns the number of ids: the model's pieces plus the added
// tokens, that is one more than the largest valid id.
func (t *Tokenizer) VocabSize() int {
	if n := len(t.added); n > 0 {
		return max(len(t.pieces), t.added[n-1].ID+1)
	}
	return len(t.pieces)
}

// ModelSize returns the number of pieces in the SentencePiece model,
// without added tokens.
func (t *Tokenizer) ModelSize() int { return len(t.pieces) }

// BOS returns the id of the beginning-of-sequence piece (<s>), or -1.
func (t *Tokenizer) BOS() int { return t.bos }

// EOS returns the id of the end-of-sequence piece (</s>), or -1.
func (t *Tokenizer) EOS() int { return t.eos }

// UNK returns the id of the unknown piece (<unk>).
func (t *Tokenizer) UNK() int { return t.unk }

// PAD returns the id of the padding piece, or -1 (Llama-2 has none).
func (t *Tokenizer) PAD() int { return t.pad }

// Piece returns the vocabulary entry of id as stored in the model ("▁the",
// "<0x0A>", "<s>") or the text of an added token. It returns "" for an id that
// is not in the vocabulary.
func (t *Tokenizer) Piece(id int) string {
	if id >= 0 && id < len(t.pieces) {
		return t.pieces[id]
	}
	if a, ok := t.addedByID[id]; ok {
		return a.Text
	}
	return ""
}

// PieceID returns the id of a piece, as SentencePiece's PieceToId does, or
// of an added token's text; it returns UNK() for an unknown piece.
func (t *Tokenizer) PieceID(piece string) int {
	for _, a := range t.added {
		if a.Text == piece {
			return a.ID
		}
	}
	return int(t.pieceToID(piece))
}

// Type returns the type of the piece id. Added tokens report Control; ids
// outside the vocabulary report 0.
func (t *Tokenizer) Type(id int) PieceType {
	if id >= 0 && id < len(t.pieces) {
		return t.types[id]
	}
	if _, ok := t.addedByID[id]; ok {
		return Control
	}
	return 0
}

// Score returns the score of the piece id (0 for added tokens and ids
// outside the vocabulary).
func (t *Tokenizer) Score(id int) float32 {
	if id >= 0 && id < len(t.pieces) {
		return t.scores[id]
	}
	return 0
}
