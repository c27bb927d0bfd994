package tokenizer

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// FuzzEncode checks, for any input: Encode does not panic and returns ids of
// the vocabulary; the word-by-word fast path agrees with BPE over the whole
// text; Decode(Encode(s)) gives s back with each invalid UTF-8 byte as U+FFFD
// and each literal "▁" as a space (for valid UTF-8 without "▁", s itself,
// the dummy prefix being dropped again); the streaming decoder agrees with
// Decode; with Phi-3's added tokens matched the same round trip holds; and
// for a model with user-defined pieces word by word agrees with whole text.
//
//	go test ./tokenizer -run '^$' -fuzz FuzzEncode -fuzztime 1m
func FuzzEncode(f *testing.F) {
	tok := loadLlama(f)
	whole := wholeText(tok)
	phi3, err := Load(llamaModel)
	if err != nil {
		f.Fatal(err)
	}
	if err := phi3.AddTokens(Phi3AddedTokens()); err != nil {
		f.Fatal(err)
	}
	phi3.MatchAddedTokens(true)
	udf, err := Load(filepath.Join("testdata", "models", "udf_extra_ws.model"))
	if err != nil {
		f.Fatal(err)
	}
	udfWhole := wholeText(udf)
	for _, s := range []string{
		"", " ", "  a", "Hello world", "a\u2581b", "\u2581", "\xff\xe2\x82", "\ufeffThe", "\t\n\r\x00",
		"\U0001F468\u200d\U0001F469", "12345", "<|user|>\nHi<|end|>", "x<|end|><|end|> y", "<s></s>",
		"  <tag>ab@@  x <tag> ab ", "@@@ abab\u2581ab",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ids := tok.Encode(s)
		for _, id := range ids {
			if id < 0 || id >= tok.ModelSize() {
				t.Fatalf("Encode(%q) = %v: id %d out of range", s, ids, id)
			}
		}
		if w := whole.Encode(s); !slices.Equal(ids, w) {
			t.Fatalf("Encode(%q): word by word %v, whole text %v", s, ids, w)
		}
		want := roundTrip(s)
		got := tok.Decode(ids)
		if got != want {
			t.Fatalf("Decode(Encode(%q)) = %q, want %q", s, got, want)
		}
		if st := streamDecode(tok, ids); st != got {
			t.Fatalf("streaming decode of %v = %q, Decode = %q", ids, st, got)
		}
		if got := phi3.Decode(phi3.Encode(s)); got != want {
			t.Fatalf("with added tokens: Decode(Encode(%q)) = %q, want %q", s, got, want)
		}
		// A model with user-defined pieces and remove_extra_whitespaces.
		if got, w := udf.Encode(s), udfWhole.Encode(s); !slices.Equal(got, w) {
			t.Fatalf("udf model: Encode(%q): word by word %v, whole text %v", s, got, w)
		}
	})
}

// FuzzFromBytes checks that no model file, however corrupt, makes FromBytes,
// Encode or Decode panic.
//
//	go test ./tokenizer -run '^$' -fuzz FuzzFromBytes -fuzztime 1m
func FuzzFromBytes(f *testing.F) {
	for _, name := range []string{"udf_extra_ws", "unused", "no_fallback", "suffix"} {
		b, err := os.ReadFile(filepath.Join("testdata", "models", name+".model"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/3])
	}
	f.Add([]byte{})
	f.Add([]byte("\x0a\x05\x0a\x01a\x18\x02"))
	f.Fuzz(func(t *testing.T, b []byte) {
		tok, err := FromBytes(b)
		if err != nil {
			return
		}
		ids := tok.Encode("Hello  wörld \xff <tag>@@ \u2581x")
		tok.Decode(append(ids, -1, 0, 1, 2, 3, tok.VocabSize()))
	})
}
