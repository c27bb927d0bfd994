package tokenizer

import (
	"unicode/utf8"
)

// Byte-level BPE vocabularies (GPT-2, tiktoken's cl100k_base and o200k_base
// as converted by Hugging Face, Llama-3) spell every byte as one printable
// character: the bytes '!'..'~', '¡'..'¬' and '®'..'ÿ' stand for themselves
// and the other 68 bytes, in increasing order, for U+0100, U+0101, ...
// So the space byte is 'Ġ' (U+0120) and '\n' is 'Ċ' (U+010A).
var (
	byteToRune [256]rune
	runeToByte map[rune]byte
)

func init() {
	runeToByte = make(map[rune]byte, 256)
	next := rune(256)
	for b := 0; b < 256; b++ {
		r := rune(b)
		if !(b >= '!' && b <= '~' || b >= 0xA1 && b <= 0xAC || b >= 0xAE && b <= 0xFF) {
			r = next
			next++
		}
		byteToRune[b] = r
		runeToByte[r] = byte(b)
	}
}

// byteLevelDecode maps a byte-level spelling back to bytes. ok is false when
// s contains a character outside the 256 of the mapping.
func byteLevelDecode(s string) (b []byte, ok bool) {
	b = make([]byte, 0, len(s))
	for _, r := range s {
		v, ok := runeToByte[r]
		if !ok {
			return nil, false
		}
		b = append(b, v)
	}
	return b, true
}

// utf8Prefix reports how p starts as UTF-8: n > 0 when p starts with a
// complete valid character of n bytes; n == 0 when p is a proper prefix of
// some valid character (more bytes may complete it); n < 0 when p starts with
// an invalid sequence, whose maximal subpart (the longest prefix of p that is
// a prefix of some valid character, at least one byte) is -n bytes long.
//
// The maximal subpart is the unit that Rust's String::from_utf8_lossy,
// which Hugging Face's decoders use, replaces with one U+FFFD: "\xE2\x82x"
// gives "\uFFFDx", while "\xFF\xFE" gives two replacement characters.
func utf8Prefix(p []byte) int {
	if len(p) == 0 {
		return 0
	}
	c := p[0]
	if c < utf8.RuneSelf {
		return 1
	}
	var size int
	lo, hi := byte(0x80), byte(0xBF) // range of the second byte
	switch {
	case c >= 0xC2 && c <= 0xDF:
		size = 2
	case c == 0xE0:
		size, lo = 3, 0xA0
	case c >= 0xE1 && c <= 0xEC || c == 0xEE || c == 0xEF:
		size = 3
	case c == 0xED:
		size, hi = 3, 0x9F
	case c == 0xF0:
		size, lo = 4, 0x90
	case c >= 0xF1 && c <= 0xF3:
		size = 4
	case c == 0xF4:
		size, hi = 4, 0x8F
	default:
		return -1
	}
	for i := 1; i < size; i++ {
		if i >= len(p) {
			return 0
		}
		if p[i] < lo || p[i] > hi {
			return -i
		}
		lo, hi = 0x80, 0xBF
	}
	return size
}

// appendLossy appends the valid UTF-8 characters at the start of p to dst,
// each invalid sequence as one U+FFFD. With final unset it stops before a
// trailing incomplete character and reports how many bytes it consumed;
// with final set it consumes everything, an incomplete tail as one U+FFFD.
func appendLossy(dst, p []byte, final bool) ([]byte, int) {
	i := 0
	for i < len(p) {
		// Fast path for ASCII.
		if p[i] < utf8.RuneSelf {
			dst = append(dst, p[i])
			i++
			continue
		}
		n := utf8Prefix(p[i:])
		switch {
		case n > 0:
			dst = append(dst, p[i:i+n]...)
			i += n
		case n < 0:
			dst = append(dst, "\uFFFD"...)
			i -= n
		default: // incomplete at the end of p
			if !final {
				return dst, i
			}
			dst = append(dst, "\uFFFD"...)
			i = len(p)
		}
	}
	return dst, i
}
