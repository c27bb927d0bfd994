package tokenizer

import (
	"slices"
	"testing"
)

// FuzzByteBPE checks, for any input and several tokenizer.json layouts:
// Encode does not panic and returns ids of tokens; encoding again (with the
// piece cache warm) gives the same ids; streaming decoding agrees with
// Decode; and where nothing is stripped or added (o200k with special tokens
// matched, Llama-3 without), Decode(Encode(s)) == s with each invalid UTF-8
// byte as U+FFFD.
//
//	go test ./tokenizer -run '^$' -fuzz FuzzByteBPE -fuzztime 1m
func FuzzByteBPE(f *testing.F) {
	roundTrip := map[string]bool{"pruned_o200k_base": true, "tiny_llama3": true, "tiny_o200k": true}
	var names []string
	var toks []*ByteBPE
	for _, name := range []string{"pruned_o200k_base", "tiny_llama3", "tiny_o200k", "tiny_gpt2_prefix", "tiny_flags", "tiny_behaviors"} {
		tok := loadBPE(f, name)
		if name == "tiny_llama3" {
			tok.MatchSpecialTokens(false)
		}
		names = append(names, name)
		toks = append(toks, tok)
	}
	for _, s := range []string{
		"", " ", "Hello  world's 123", "x \n\n  ", "DON'T 'ſ", "<|end|>\n<|user|>", "a <mask>  [R]  cat", "\xff\xe2\x82",
		"😀👍🏽\u200d", "٣Ⅻ½ 1234567", "a,b!!?c", "\u0301x\u0301",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for k, tok := range toks {
			ids := tok.Encode(s)
			for _, id := range ids {
				if id < 0 || id >= tok.VocabSize() || tok.Piece(id) == "" {
					t.Fatalf("%s: Encode(%q) = %v: id %d is no token", names[k], s, ids, id)
				}
			}
			if again := tok.Encode(s); !slices.Equal(again, ids) {
				t.Fatalf("%s: Encode(%q) = %v, then %v", names[k], s, ids, again)
			}
			dec := tok.Decode(ids)
			if st := streamDecodeAny(tok, ids); st != dec {
				t.Fatalf("%s: streaming decode of %v = %q, Decode = %q", names[k], ids, st, dec)
			}
			if want := replaceInvalidUTF8(s); roundTrip[names[k]] && dec != want {
				t.Fatalf("%s: Decode(Encode(%q)) = %q, want %q", names[k], s, dec, want)
			}
		}
	})
}
