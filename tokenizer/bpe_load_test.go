package tokenizer

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// writeDir makes a model directory holding the given files.
func writeDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLoadAny(t *testing.T) {
	llama3 := readFile(t, filepath.Join(bpeDir, "tiny_llama3.json"))
	spm := readFile(t, llamaModel)
	ref := loadBPE(t, "tiny_llama3")
	bot, eot, eos := ref.TokenID("<|begin_of_text|>"), ref.TokenID("<|eot_id|>"), ref.TokenID("<|end_of_text|>")
	if bot < 0 || eot < 0 || eos < 0 {
		t.Fatal("tiny_llama3 lacks Llama-3's special tokens")
	}

	t.Run("json with configs", func(t *testing.T) {
		dir := writeDir(t, map[string]string{
			"tokenizer.json":         llama3,
			"tokenizer_config.json":  `{"bos_token": "<|begin_of_text|>", "eos_token": {"content": "<|eot_id|>", "special": true}, "chat_template": "{{ '<|start_header_id|>' }}{{ x | trim + '<|eot_id|>' }}<|end_header_id|>"}`,
			"generation_config.json": `{"eos_token_id": [` + itoa(eos) + `, ` + itoa(eot) + `]}`,
		})
		tok, err := LoadAny(dir)
		if err != nil {
			t.Fatal(err)
		}
		b, ok := tok.(*ByteBPE)
		if !ok {
			t.Fatalf("LoadAny gave %T, want *ByteBPE", tok)
		}
		if b.BOS() != bot || b.EOS() != eot {
			t.Errorf("BOS, EOS = %d, %d; want %d, %d", b.BOS(), b.EOS(), bot, eot)
		}
		if got, want := b.StopTokens(), []int{eot, eos}; !slices.Equal(got, want) {
			t.Errorf("StopTokens = %v, want %v", got, want)
		}
		if DetectChatTemplate(b.ChatTemplate()) != ChatLlama3 {
			t.Errorf("chat template %q not detected as llama3", b.ChatTemplate())
		}
		if pre, suf := b.PostProcessor(); !slices.Equal(pre, []int{bot}) || len(suf) != 0 {
			t.Errorf("PostProcessor = %v, %v; want [%d], []", pre, suf, bot)
		}
	})
	t.Run("json alone", func(t *testing.T) {
		dir := writeDir(t, map[string]string{"tokenizer.json": llama3})
		tok, err := LoadAny(filepath.Join(dir, "tokenizer.json"))
		if err != nil {
			t.Fatal(err)
		}
		// Without tokenizer_config.json, BOS is what the post-processor adds.
		if tok.BOS() != bot || tok.EOS() != -1 {
			t.Errorf("BOS, EOS = %d, %d; want %d, -1", tok.BOS(), tok.EOS(), bot)
		}
	})
	t.Run("sentencepiece preferred", func(t *testing.T) {
		dir := writeDir(t, map[string]string{"tokenizer.json": llama3, "tokenizer.model": spm})
		tok, err := LoadAny(dir)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := tok.(*Tokenizer); !ok {
			t.Errorf("LoadAny gave %T, want *Tokenizer", tok)
		}
		if tok, err := LoadAny(filepath.Join(dir, "tokenizer.model")); err != nil {
			t.Error(err)
		} else if _, ok := tok.(*Tokenizer); !ok {
			t.Errorf("LoadAny(tokenizer.model) gave %T", tok)
		}
	})
	t.Run("fs", func(t *testing.T) {
		fsys := fstest.MapFS{"m/tokenizer.json": {Data: []byte(llama3)}, "m/tokenizer_config.json": {Data: []byte(`{"eos_token": "<|end_of_text|>"}`)}}
		tok, err := LoadAnyFS(fsys, "m")
		if err != nil {
			t.Fatal(err)
		}
		if tok.EOS() != eos {
			t.Errorf("EOS = %d, want %d", tok.EOS(), eos)
		}
	})
	t.Run("errors", func(t *testing.T) {
		if _, err := LoadAny(t.TempDir()); err == nil || !strings.Contains(err.Error(), "neither tokenizer.model nor tokenizer.json") {
			t.Errorf("empty dir: err = %v", err)
		}
		if _, err := LoadAny(filepath.Join(t.TempDir(), "missing.json")); err == nil {
			t.Error("missing file: no error")
		}
		dir := writeDir(t, map[string]string{"tokenizer.json": llama3, "tokenizer_config.json": `{"bos_token": "<s>"}`})
		if _, err := LoadAny(dir); err == nil || !strings.Contains(err.Error(), `bos_token "<s>" is not a token`) || !strings.Contains(err.Error(), "tokenizer.json") {
			t.Errorf("bad bos_token: err = %v", err)
		}
	})
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

// TestFromJSONErrors edits a tiny tokenizer.json in each way the package
// refuses and checks that the error names what is wrong.
func TestFromJSONErrors(t *testing.T) {
	base := readFile(t, filepath.Join(bpeDir, "tiny_llama3.json"))
	edit := func(f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal([]byte(base), &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	model := func(m map[string]any) map[string]any { return m["model"].(map[string]any) }
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"not json", []byte("{"), "parse tokenizer.json"},
		{"no model", edit(func(m map[string]any) { delete(m, "model") }), "no model"},
		{"unigram", edit(func(m map[string]any) { model(m)["type"] = "Unigram" }), `model "Unigram" is not supported`},
		{"dropout", edit(func(m map[string]any) { model(m)["dropout"] = 0.1 }), "dropout"},
		{"byte fallback", edit(func(m map[string]any) { model(m)["byte_fallback"] = true }), "byte_fallback"},
		{"subword prefix", edit(func(m map[string]any) { model(m)["continuing_subword_prefix"] = "##" }), "continuing_subword_prefix"},
		{"bad merge", edit(func(m map[string]any) { model(m)["merges"] = []any{"Ġ zzz"} }), `merge 0: "zzz" is not in the vocabulary`},
		{"merge form", edit(func(m map[string]any) { model(m)["merges"] = []any{"a b c"} }), "want two tokens"},
		{"normalizer", edit(func(m map[string]any) { m["normalizer"] = map[string]any{"type": "NFC"} }), `normalizer "NFC" is not supported`},
		{"no pre-tokenizer", edit(func(m map[string]any) { m["pre_tokenizer"] = nil }), "pre_tokenizer: none"},
		{"metaspace", edit(func(m map[string]any) { m["pre_tokenizer"] = map[string]any{"type": "Metaspace"} }), `pre_tokenizer "Metaspace" is not supported`},
		{"bytelevel first", edit(func(m map[string]any) {
			m["pre_tokenizer"] = map[string]any{"type": "Sequence", "pretokenizers": []any{
				map[string]any{"type": "ByteLevel"}, map[string]any{"type": "Digits"}}}
		}), "ByteLevel must come once, as the last step"},
		{"split behavior", edit(func(m map[string]any) {
			m["pre_tokenizer"] = map[string]any{"type": "Sequence", "pretokenizers": []any{
				map[string]any{"type": "Split", "pattern": map[string]any{"Regex": "a"}, "behavior": "Sideways"}, map[string]any{"type": "ByteLevel"}}}
		}), `unknown behavior "Sideways"`},
		{"bad regex", edit(func(m map[string]any) {
			m["pre_tokenizer"] = map[string]any{"type": "Sequence", "pretokenizers": []any{
				map[string]any{"type": "Split", "pattern": map[string]any{"Regex": "(a"}, "behavior": "Isolated"}, map[string]any{"type": "ByteLevel"}}}
		}), `regex "(a"`},
		{"decoder", edit(func(m map[string]any) { m["decoder"] = map[string]any{"type": "Metaspace"} }), `decoder "Metaspace" is not supported`},
		{"post-processor", edit(func(m map[string]any) { m["post_processor"] = map[string]any{"type": "Magic"} }), `post_processor "Magic" is not supported`},
		{"added empty", edit(func(m map[string]any) {
			m["added_tokens"] = []any{map[string]any{"id": 5000, "content": ""}}
		}), "empty content"},
		{"added twice", edit(func(m map[string]any) {
			m["added_tokens"] = []any{map[string]any{"id": 5000, "content": "<x>"}, map[string]any{"id": 5001, "content": "<x>"}}
		}), "defined as 5000 and 5001"},
		{"negative id", edit(func(m map[string]any) { model(m)["vocab"].(map[string]any)["Ġzz"] = -3 }), "has id -3"},
	} {
		_, err := FromJSON(c.data, nil, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to mention %q", c.name, err, c.want)
		}
	}
	if _, err := FromJSON([]byte(base), nil, []byte(`{"eos_token_id": 999999}`)); err == nil || !strings.Contains(err.Error(), "outside the vocabulary") {
		t.Errorf("eos_token_id out of range: err = %v", err)
	}
	if _, err := FromJSON([]byte(base), []byte(`{"eos_token": 7}`), nil); err == nil || !strings.Contains(err.Error(), "eos_token") {
		t.Errorf("eos_token a number: err = %v", err)
	}
}

// TestInterfaceRoundTrip runs both tokenizers through Interface: Decode
// gives the text back, and streaming gives what Decode gives.
func TestInterfaceRoundTrip(t *testing.T) {
	spm, err := LoadAny(llamaModel)
	if err != nil {
		t.Fatal(err)
	}
	toks := map[string]Interface{"sentencepiece": spm, "o200k": loadBPE(t, "pruned_o200k_base"), "llama3": loadBPE(t, "tiny_llama3")}
	rng := rand.New(rand.NewPCG(3, 4))
	for name, tok := range toks {
		for range 300 {
			s := randomText(rng, splitterPool, 30)
			s = strings.ReplaceAll(s, "\u2581", " ") // SentencePiece decodes ▁ as a space
			ids := tok.Encode(s)
			for _, id := range ids {
				if id < 0 || id >= tok.VocabSize() || tok.Piece(id) == "" {
					t.Fatalf("%s: Encode(%q) gave id %d (vocabulary %d)", name, s, id, tok.VocabSize())
				}
			}
			if got := tok.Decode(ids); got != s {
				t.Fatalf("%s: Decode(Encode(%q)) = %q", name, s, got)
			}
			if got := streamDecodeAny(tok, ids); got != s {
				t.Fatalf("%s: streaming decode of Encode(%q) = %q", name, s, got)
			}
		}
	}
}

// TestByteBPEDetails covers what the goldens do not: invalid UTF-8,
// skipped special tokens, unknown ids, a decoder reset, Piece and
// TokenID, and that the word cache does not change results.
func TestByteBPEDetails(t *testing.T) {
	tok := loadBPE(t, "tiny_o200k")
	end := tok.TokenID("<|end|>")
	if end < 0 || !tok.IsSpecial(end) || tok.Piece(end) != "<|end|>" {
		t.Fatalf("<|end|>: id %d special %v piece %q", end, tok.IsSpecial(end), tok.Piece(end))
	}
	if id := tok.TokenID("Ġ"); id < 0 || tok.Decode([]int{id}) != " " || tok.IsSpecial(id) {
		t.Errorf("TokenID(Ġ) = %d, decoding to %q", id, tok.Decode([]int{id}))
	}
	if tok.TokenID(" ") != -1 || tok.TokenID("<|nope|>") != -1 {
		t.Error("TokenID of a non-token is not -1")
	}
	// Invalid bytes encode as U+FFFD.
	if got, want := tok.Encode("a\xffb\xe2\x82"), tok.Encode("a\uFFFDb\uFFFD\uFFFD"); !slices.Equal(got, want) {
		t.Errorf("Encode of invalid UTF-8 = %v, want %v", got, want)
	}
	ids := tok.Encode("Hi<|end|>there")
	if !slices.Contains(ids, end) {
		t.Fatalf("Encode did not match <|end|>: %v", ids)
	}
	withUnknown := append(append([]int{-1, tok.VocabSize(), 1 << 40}, ids...), -7)
	if got := tok.Decode(withUnknown); got != "Hi<|end|>there" {
		t.Errorf("Decode with unknown ids = %q", got)
	}
	skip := loadBPE(t, "tiny_o200k")
	skip.SkipSpecialTokens(true)
	if got := skip.Decode(ids); got != "Hithere" {
		t.Errorf("Decode skipping special tokens = %q, want %q", got, "Hithere")
	}
	if got := streamDecodeAny(skip, ids); got != "Hithere" {
		t.Errorf("streaming decode skipping special tokens = %q", got)
	}
	// A reset drops a held partial character.
	d := tok.NewDecoder()
	euro := tok.Encode("€") // three byte tokens in this tiny vocabulary, or fewer
	for _, id := range euro[:len(euro)-1] {
		d.Add(id)
	}
	d.Reset()
	if got := d.Add(tok.Encode("x")[0]) + d.Flush(); got != "x" {
		t.Errorf("after Reset: %q, want %q", got, "x")
	}
	// Cold and warm cache agree on a long text.
	text := strings.Repeat(readFile(t, filepath.Join(bpeDir, "corpus.txt")), 3)
	cold := loadBPE(t, "tiny_o200k").Encode(text)
	warm := tok.Encode(text)
	warm2 := tok.Encode(text)
	if !slices.Equal(cold, warm) || !slices.Equal(warm, warm2) {
		t.Error("encodings differ with the word cache warm")
	}
}

// TestFullVocabulary compares whole books, code and JSON lines encoded with
// the complete o200k_base and cl100k_base vocabularies against tiktoken, and
// with Llama-3's against llama3-tokenizer-js (plus the cases that package
// publishes). The files are too large to ship; testdata/bpe/gen_full.py and
// llama3_oracle.cjs make them in the directory SAMBAEVAL_FULL_BPE names.
func TestFullVocabulary(t *testing.T) {
	dir := os.Getenv("SAMBAEVAL_FULL_BPE")
	if dir == "" {
		t.Skip("SAMBAEVAL_FULL_BPE not set (see testdata/bpe/gen_full.py)")
	}
	for _, name := range []string{"o200k_base", "cl100k_base", "llama3"} {
		if _, err := os.Stat(filepath.Join(dir, name+".tokenizer.json")); err != nil {
			t.Logf("%s: skipped: %v", name, err)
			continue
		}
		t0 := time.Now()
		tok, err := LoadJSON(filepath.Join(dir, name+".tokenizer.json"))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: loaded in %v", name, time.Since(t0))
		var cases []struct {
			File string `json:"file"`
			Text string `json:"text"`
			IDs  []int  `json:"ids"`
		}
		if err := json.Unmarshal([]byte(readFile(t, filepath.Join(dir, name+".golden.json"))), &cases); err != nil {
			t.Fatal(err)
		}
		// tiktoken's encode_ordinary leaves special tokens as text;
		// llama3-tokenizer-js matches them.
		tok.MatchSpecialTokens(name == "llama3")
		for _, c := range cases {
			t0 := time.Now()
			got := tok.Encode(c.Text)
			el := time.Since(t0)
			if !slices.Equal(got, c.IDs) {
				k := 0
				for k < min(len(got), len(c.IDs)) && got[k] == c.IDs[k] {
					k++
				}
				t.Errorf("%s %s: %d ids, want %d; first difference at %d: got %v, want %v", name, c.File, len(got), len(c.IDs),
					k, got[k:min(k+8, len(got))], c.IDs[k:min(k+8, len(c.IDs))])
				continue
			}
			if back := tok.Decode(got); back != c.Text {
				t.Errorf("%s %s: Decode(Encode) differs", name, c.File)
			}
			t.Logf("%s %s: %d bytes, %d ids match (%.1f MB/s cold)", name, c.File, len(c.Text), len(got),
				float64(len(c.Text))/el.Seconds()/1e6)
		}
	}
}
