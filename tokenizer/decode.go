package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// Decode turns ids back into text as SentencePiece's DecodeIds does: the space
// symbol becomes a space, runs of byte pieces are joined and read as UTF-8
// (each invalid byte becomes U+FFFD), control pieces (<s>, </s>) decode to "",
// the unknown piece to " ⁇ ", and the space of the dummy prefix is dropped from
// the first piece that starts with one, provided nothing visible came before.
//
// Added tokens decode to their text, and the text after one is treated as a
// new start, whose dummy-prefix space is dropped too; so with added tokens
// matched, Decode(Encode(s)) gives s back just as it does without them.
// Ids outside the vocabulary are skipped; SentencePiece would fail on them.
func (t *Tokenizer) Decode(ids []int) string {
	d := Decoder{t: t, bosWS: true}
	var out []byte
	for _, id := range ids {
		out = d.add(out, id, true)
	}
	return string(d.flush(out))
}

// valid reports whether id is a model piece or an added token.
func (t *Tokenizer) valid(id int) bool {
	if id >= 0 && id < len(t.pieces) {
		return true
	}
	_, ok := t.addedByID[id]
	return ok
}

// pieceText returns the text of a valid non-byte id, following
// SentencePiece's DecodeSentencePiece: control pieces give "", the unknown
// piece its surface " ⁇ ", and other pieces their text with the space symbol
// turned into a space. While bosWS holds, the leading space symbol that the
// dummy prefix added is dropped, and dropped reports whether there was one.
func (t *Tokenizer) pieceText(id int, bosWS bool) (text string, dropped bool) {
	switch t.types[id] {
	case Control:
		return "", false
	case Unknown:
		return t.unkSurface, false
	}
	piece := t.pieces[id]
	if bosWS && (t.addDummyPrefix || t.removeExtraWhitespaces) {
		piece, dropped = strings.CutPrefix(piece, spaceSymbol)
		if t.removeExtraWhitespaces {
			dropped = false
		}
	}
	return strings.ReplaceAll(piece, spaceSymbol, " "), dropped
}

// Decoder decodes ids one at a time, for printing or matching stop sequences
// while generating. The concatenation of everything Add and Flush return
// equals Decode of all the ids. A character split over several byte pieces is
// returned whole once its last byte arrives.
type Decoder struct {
	t       *Tokenizer
	pending []byte // bytes of byte pieces not yet returned

	// SentencePiece drops the leading space symbol of the first piece
	// (is_bos_ws) until a piece had its space dropped (bosWSSeen) or some
	// text was produced (wrote).
	bosWS     bool
	bosWSSeen bool
	wrote     bool
}

// NewDecoder returns a streaming decoder at the start of a text. Its
// dynamic type is *Decoder.
func (t *Tokenizer) NewDecoder() StreamDecoder {
	return &Decoder{t: t, bosWS: true}
}

// Reset puts the decoder back at the start of a text.
func (d *Decoder) Reset() {
	*d = Decoder{t: d.t, pending: d.pending[:0], bosWS: true}
}

// Add decodes one more id and returns the text it completes, which may be
// empty (a control piece, or a byte piece in the middle of a character).
func (d *Decoder) Add(id int) string {
	return string(d.add(nil, id, false))
}

// Flush returns the text of any bytes still held, with U+FFFD for each byte
// of a character that was never completed, and leaves the decoder ready to go
// on.
func (d *Decoder) Flush() string {
	return string(d.flush(nil))
}

// add appends the text that id completes to out. With batch set, byte pieces
// are only collected: nothing needs to be returned before the run ends.
func (d *Decoder) add(out []byte, id int, batch bool) []byte {
	t := d.t
	if id >= 0 && id < len(t.pieces) && t.types[id] == Byte {
		d.pending = append(d.pending, byte(t.byteValue[id]))
		if batch {
			return out
		}
		return d.complete(out, false)
	}
	if !t.valid(id) {
		return out
	}
	out = d.flush(out)
	if id >= len(t.pieces) { // an added token starts a new text
		if a := t.addedByID[id].Text; a != "" {
			out = append(out, a...)
		}
		d.bosWS, d.bosWSSeen, d.wrote = true, false, false
		return out
	}
	if d.bosWSSeen || d.wrote {
		d.bosWS = false
	}
	var text string
	text, d.bosWSSeen = t.pieceText(id, d.bosWS)
	if text != "" {
		d.wrote = true
	}
	return append(out, text...)
}

// flush appends all pending bytes to out.
func (d *Decoder) flush(out []byte) []byte { return d.complete(out, true) }

// complete appends to out the pending bytes that form whole characters or
// are certainly invalid (as U+FFFD, one per byte); with all set, it appends
// every pending byte.
func (d *Decoder) complete(out []byte, all bool) []byte {
	p := d.pending
	n0 := len(out)
	for len(p) > 0 && (all || utf8.FullRune(p)) {
		r, n := utf8.DecodeRune(p)
		if r == utf8.RuneError && n == 1 {
			out = append(out, "\uFFFD"...)
		} else {
			out = append(out, p[:n]...)
		}
		p = p[n:]
	}
	d.pending = append(d.pending[:0], p...)
	if len(out) > n0 {
		d.wrote = true
	}
	return out
}
