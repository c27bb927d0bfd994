package tokenizer

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/sambaeval/sambaeval/datasets"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// llamaModel is the Llama-2 tokenizer.model shipped with samba-tiny.
const llamaModel = "../models/samba-tiny/tokenizer.model"

var (
	llamaOnce sync.Once
	llamaTok  *Tokenizer
	llamaErr  error
)

func loadLlama(t testing.TB) *Tokenizer {
	t.Helper()
	llamaOnce.Do(func() { llamaTok, llamaErr = Load(llamaModel) })
	if llamaErr != nil {
		t.Fatal(llamaErr)
	}
	return llamaTok
}

// wholeText returns a copy of tok that runs BPE over the whole normalized
// text instead of word by word, which is how SentencePiece itself works.
func wholeText(tok *Tokenizer) *Tokenizer {
	c := *tok
	c.wordwise = false
	return &c
}

type smallCase struct {
	Name    string `json:"name"`
	Text    string `json:"text"`
	TextHex string `json:"text_hex"`
	IDs     []int  `json:"ids"`
	Decoded string `json:"decoded"`
}

func (c smallCase) input(t *testing.T) string {
	if c.TextHex == "" {
		return c.Text
	}
	b, err := hex.DecodeString(c.TextHex)
	if err != nil {
		t.Fatalf("%s: %v", c.Name, err)
	}
	return string(b)
}

func readJSON(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// TestModelProto checks what the Llama-2 model file says about itself, as
// documented in models/samba-tiny/SOURCE.md and read back by SentencePiece.
func TestModelProto(t *testing.T) {
	tok := loadLlama(t)
	if got := tok.VocabSize(); got != 32000 {
		t.Errorf("VocabSize = %d, want 32000", got)
	}
	if tok.UNK() != 0 || tok.BOS() != 1 || tok.EOS() != 2 || tok.PAD() != -1 {
		t.Errorf("UNK, BOS, EOS, PAD = %d, %d, %d, %d; want 0, 1, 2, -1", tok.UNK(), tok.BOS(), tok.EOS(), tok.PAD())
	}
	for _, c := range []struct {
		id    int
		piece string
		typ   PieceType
	}{
		{0, "<unk>", Unknown},
		{1, "<s>", Control},
		{2, "</s>", Control},
		{3, "<0x00>", Byte},
		{13, "<0x0A>", Byte},
		{258, "<0xFF>", Byte},
		{259, "▁▁", Normal},
		{29871, "▁", Normal},
		{31999, "给", Normal},
	} {
		if got := tok.Piece(c.id); got != c.piece {
			t.Errorf("Piece(%d) = %q, want %q", c.id, got, c.piece)
		}
		if got := tok.Type(c.id); got != c.typ {
			t.Errorf("Type(%d) = %v, want %v", c.id, got, c.typ)
		}
		if got := tok.PieceID(c.piece); got != c.id {
			t.Errorf("PieceID(%q) = %d, want %d", c.piece, got, c.id)
		}
	}
	if !tok.addDummyPrefix || tok.removeExtraWhitespaces || !tok.escapeWhitespaces || !tok.byteFallback || tok.whitespaceAsSuffix {
		t.Errorf("normalizer: add_dummy_prefix=%v remove_extra_whitespaces=%v escape_whitespaces=%v byte_fallback=%v suffix=%v; "+
			"want true false true true false", tok.addDummyPrefix, tok.removeExtraWhitespaces, tok.escapeWhitespaces, tok.byteFallback, tok.whitespaceAsSuffix)
	}
	if !tok.wordwise {
		t.Error("Llama-2 vocabulary should allow word-by-word encoding")
	}
	if got := tok.Piece(32000); got != "" {
		t.Errorf("Piece(32000) = %q, want empty", got)
	}
}

// TestGoldenSmall compares Encode and Decode with SentencePiece on
// handwritten and random texts (testdata/golden_small.json).
func TestGoldenSmall(t *testing.T) {
	tok := loadLlama(t)
	whole := wholeText(tok)
	var golden struct{ Cases []smallCase }
	readJSON(t, "golden_small.json", &golden)
	if len(golden.Cases) < 500 {
		t.Fatalf("only %d cases", len(golden.Cases))
	}
	for _, c := range golden.Cases {
		text := c.input(t)
		got := tok.Encode(text)
		if !slices.Equal(got, c.IDs) {
			t.Errorf("%s: Encode(%q)\n got %v\nwant %v", c.Name, text, got, c.IDs)
			continue
		}
		if got := whole.Encode(text); !slices.Equal(got, c.IDs) {
			t.Errorf("%s: whole-text Encode(%q)\n got %v\nwant %v", c.Name, text, got, c.IDs)
		}
		if got := tok.Decode(c.IDs); got != c.Decoded {
			t.Errorf("%s: Decode(%v) = %q, want %q", c.Name, c.IDs, got, c.Decoded)
		}
		if got := streamDecode(tok, c.IDs); got != c.Decoded {
			t.Errorf("%s: streaming decode of %v = %q, want %q", c.Name, c.IDs, got, c.Decoded)
		}
	}
}

// TestGoldenDecode compares Decode and the streaming Decoder with
// SentencePiece on id sequences (testdata/golden_decode.json).
func TestGoldenDecode(t *testing.T) {
	tok := loadLlama(t)
	var golden struct {
		Cases []struct {
			Name string
			IDs  []int
			Text string
		}
	}
	readJSON(t, "golden_decode.json", &golden)
	for _, c := range golden.Cases {
		if got := tok.Decode(c.IDs); got != c.Text {
			t.Errorf("%s: Decode(%v) = %q, want %q", c.Name, c.IDs, got, c.Text)
		}
		if got := streamDecode(tok, c.IDs); got != c.Text {
			t.Errorf("%s: streaming decode of %v = %q, want %q", c.Name, c.IDs, got, c.Text)
		}
	}
}

// streamDecode decodes ids one at a time, checking that every piece of
// output is valid UTF-8.
func streamDecode(tok *Tokenizer, ids []int) string {
	d := tok.NewDecoder()
	var b strings.Builder
	for _, id := range ids {
		b.WriteString(d.Add(id))
	}
	b.WriteString(d.Flush())
	return b.String()
}

func TestStreamingDecoderHoldsPartialCharacters(t *testing.T) {
	tok := loadLlama(t)
	// "€" is E2 82 AC; byte pieces are ids 3+b.
	d := tok.NewDecoder()
	var got []string
	for _, id := range []int{1, 450, 3 + 0xE2, 3 + 0x82, 3 + 0xAC, 3 + 0xF0, 3 + 0x9F, 3 + 0x98, 3 + 0x80} {
		got = append(got, d.Add(id))
	}
	got = append(got, d.Flush())
	want := []string{"", "The", "", "", "€", "", "", "", "😀", ""}
	if !slices.Equal(got, want) {
		t.Errorf("outputs %q, want %q", got, want)
	}
	// An incomplete character is flushed as U+FFFD per byte, as Decode does.
	d.Reset()
	if s := d.Add(3 + 0xE2); s != "" {
		t.Errorf("Add(<0xE2>) = %q, want \"\"", s)
	}
	if s := d.Add(3 + 0x82); s != "" {
		t.Errorf("Add(<0x82>) = %q, want \"\"", s)
	}
	if s, want := d.Add(22172), "\uFFFD\uFFFD hello"; s != want {
		t.Errorf("Add(▁hello) = %q, want %q", s, want)
	}
}

// TestDecodeRoundTrip checks Decode(Encode(s)) on the golden texts: the text
// comes back with each invalid UTF-8 byte as U+FFFD and each literal "▁" as a
// space.
func TestDecodeRoundTrip(t *testing.T) {
	tok := loadLlama(t)
	var golden struct{ Cases []smallCase }
	readJSON(t, "golden_small.json", &golden)
	for _, c := range golden.Cases {
		text := c.input(t)
		if got, want := tok.Decode(tok.Encode(text)), roundTrip(text); got != want {
			t.Errorf("%s: Decode(Encode(%q)) = %q, want %q", c.Name, text, got, want)
		}
	}
}

// roundTrip is what Decode(Encode(s)) gives for the Llama-2 model.
func roundTrip(s string) string {
	var b strings.Builder
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		if r == utf8.RuneError && n == 1 {
			b.WriteString("\uFFFD")
		} else {
			b.WriteString(s[:n])
		}
		s = s[n:]
	}
	return strings.ReplaceAll(b.String(), "▁", " ")
}

func TestEncodeAddedTokens(t *testing.T) {
	tok, err := Load(llamaModel)
	if err != nil {
		t.Fatal(err)
	}
	if err := tok.AddTokens(Phi3AddedTokens()); err != nil {
		t.Fatal(err)
	}
	if got := tok.VocabSize(); got != 32011 {
		t.Errorf("VocabSize = %d, want 32011", got)
	}
	text := "<|user|>\nHi<|end|>\n<|assistant|>"
	// Off by default: the markers are ordinary text.
	plain := tok.Encode(text)
	if slices.Contains(plain, 32010) {
		t.Errorf("Encode with matching off produced 32010: %v", plain)
	}
	tok.MatchAddedTokens(true)
	got := tok.Encode(text)
	// Each stretch of text between markers is encoded on its own, with its
	// dummy prefix, as Phi-3's Hugging Face tokenizer does.
	var want []int
	want = append(want, 32010)
	want = append(want, tok.encodePlain("\nHi", nil)...)
	want = append(want, 32007)
	want = append(want, tok.encodePlain("\n", nil)...)
	want = append(want, 32001)
	if !slices.Equal(got, want) {
		t.Errorf("Encode(%q) = %v, want %v", text, got, want)
	}
	if !slices.Equal(got[:3], []int{32010, 29871, 13}) {
		t.Errorf("Encode(%q) starts %v, want [32010 29871 13]", text, got[:3])
	}
	// Published Phi-3 ids (without the BOS 1): torchtune's documentation
	// and onnxruntime-extensions' tokenizer tests.
	for _, c := range []struct {
		text string
		want []int
	}{
		{"<|user|>\nuser prompt<|end|>\n<|assistant|>\nmodel response<|end|>\n",
			[]int{32010, 29871, 13, 1792, 9508, 32007, 29871, 13, 32001, 29871, 13, 4299, 2933, 32007, 29871, 13}},
		{"<|user|>\nこんにちは。データ分析するにはなにをすればいい？<|end|><|assistant|>",
			[]int{32010, 29871, 13, 30589, 30389, 30353, 30644, 30449, 30267, 30597, 30185, 30369, 30748, 233, 161,
				147, 30427, 30332, 30353, 30449, 30371, 30353, 30396, 30427, 30553, 31254, 30298, 30298, 30882, 32007, 32001}},
	} {
		if got := tok.Encode(c.text); !slices.Equal(got, c.want) {
			t.Errorf("Encode(%q)\n got %v\nwant %v", c.text, got, c.want)
		}
	}
	if s := tok.Decode(got); s != text {
		t.Errorf("Decode = %q, want %q", s, text)
	}
	// After an added token, the dummy-prefix space of the next piece is
	// dropped again, so that Decode inverts Encode.
	if ids := tok.Encode("<|user|>hello<|end|>"); !slices.Equal(ids, []int{32010, 22172, 32007}) {
		t.Errorf("Encode(<|user|>hello<|end|>) = %v, want [32010 22172 32007]", ids)
	}
	if s := tok.Decode([]int{32010, 22172, 32007}); s != "<|user|>hello<|end|>" {
		t.Errorf("Decode = %q, want %q", s, "<|user|>hello<|end|>")
	}
	if s := streamDecode(tok, []int{32010, 22172, 29871, 32007, 259}); s != "<|user|>hello <|end|> " {
		t.Errorf("streaming decode = %q, want %q", s, "<|user|>hello <|end|> ")
	}
	if s := tok.Piece(32007); s != "<|end|>" {
		t.Errorf("Piece(32007) = %q", s)
	}
	if id := tok.PieceID("<|user|>"); id != 32010 {
		t.Errorf("PieceID(<|user|>) = %d", id)
	}
	// Leftmost match wins, then the longest.
	if err := tok.AddTokens([]AddedToken{{40000, "<|end|>x"}}); err != nil {
		t.Fatal(err)
	}
	if got := tok.Encode("<|end|>x<|end|>"); !slices.Equal(got, []int{40000, 32007}) {
		t.Errorf("Encode(<|end|>x<|end|>) = %v, want [40000 32007]", got)
	}
	for _, bad := range [][]AddedToken{
		{{5, "<x>"}},          // a model id
		{{32007, "<y>"}},      // an added id
		{{40001, "<|user|>"}}, // an added text
		{{40002, ""}},
	} {
		if err := tok.AddTokens(bad); err == nil {
			t.Errorf("AddTokens(%v) succeeded", bad)
		}
	}
}

func TestDecodeSkipsUnknownIDs(t *testing.T) {
	tok := loadLlama(t)
	if got := tok.Decode([]int{-1, 22172, 32000, 1e9, 3186}); got != "hello world" {
		t.Errorf("Decode = %q, want %q", got, "hello world")
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile(llamaModel)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct {
		name string
		path string
		want string
	}{
		{"missing", filepath.Join(dir, "nope.model"), "no such file"},
		{"empty", write("empty", nil), "no pieces"},
		{"text", write("text", []byte("this is not a protobuf\n")), "tokenizer"},
		{"truncated", write("truncated", good[:len(good)/2]), "tokenizer"},
		{"json", write("json", []byte(`{"model": {"type": "BPE"}}`)), "tokenizer"},
	} {
		_, err := Load(c.path)
		if err == nil {
			t.Errorf("%s: Load succeeded", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %q, want one line containing %q", c.name, err, c.want)
		}
	}
}

// TestGoldenBooks encodes each long book of the shipped corpus (the
// datasets package embeds the eight public-domain books byte-exact) as one
// string and compares with SentencePiece (testdata/golden_books.json) and
// with the token counts in the books' SOURCE.md.
func TestGoldenBooks(t *testing.T) {
	if testing.Short() {
		t.Skip("long books skipped in -short mode")
	}
	tok := loadLlama(t)
	var golden struct {
		Books []struct {
			File      string
			Bytes     int
			SHA256    string `json:"sha256"`
			Count     int
			IDsSHA256 string `json:"ids_sha256"`
			First     []int
			Last      []int
		}
	}
	readJSON(t, "golden_books.json", &golden)
	books, _, err := datasets.LoadTexts(datasets.Embedded(), datasets.TextOptions{})
	if err != nil {
		t.Fatal(err)
	}
	texts := map[string]string{}
	for _, b := range books {
		texts[b.Name+".txt"] = b.Text
	}
	counts := sourceCounts(t, "../datasets/data/longtext/SOURCE.md")
	for _, b := range golden.Books {
		text, ok := texts[b.File]
		if !ok {
			t.Errorf("%s: not in the shipped corpus", b.File)
			continue
		}
		data := []byte(text)
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != b.SHA256 {
			t.Errorf("%s: file sha256 differs from the one the goldens were made from", b.File)
			continue
		}
		ids := tok.Encode(string(data))
		if len(ids) != b.Count {
			t.Errorf("%s: %d ids, want %d", b.File, len(ids), b.Count)
		}
		if n, ok := counts[b.File]; ok && len(ids) != n {
			t.Errorf("%s: %d ids, SOURCE.md says %d", b.File, len(ids), n)
		}
		if got := idsSHA256(ids); got != b.IDsSHA256 {
			t.Errorf("%s: ids sha256 %s, want %s", b.File, got, b.IDsSHA256)
		}
		if got := ids[:min(64, len(ids))]; !slices.Equal(got, b.First) {
			t.Errorf("%s: first ids %v, want %v", b.File, got, b.First)
		}
		if got := ids[max(0, len(ids)-64):]; !slices.Equal(got, b.Last) {
			t.Errorf("%s: last ids %v, want %v", b.File, got, b.Last)
		}
		if got := tok.Decode(ids); got != string(data) {
			t.Errorf("%s: Decode(Encode(text)) differs from the text", b.File)
		}
	}
	// The lead's expectation for the BOM at the start of Little Women.
	for _, b := range golden.Books {
		if b.File == "little_women.txt" {
			want := []int{29871, 30143, 462, 462, 259, 306, 29889, 13, 13, 462, 965, 349, 18799, 4214, 349, 6227}
			if !slices.Equal(b.First[:16], want) {
				t.Errorf("little_women golden starts %v, want %v", b.First[:16], want)
			}
		}
	}
}

func idsSHA256(ids []int) string {
	b := make([]byte, 4*len(ids))
	for i, id := range ids {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(id))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// sourceCounts reads the "Llama-2 tokens (no BOS)" column of the books'
// SOURCE.md table: | file | book | bytes | tokens | sha256 |.
func sourceCounts(t *testing.T, path string) map[string]int {
	counts := map[string]int{}
	f, err := os.Open(path)
	if err != nil {
		t.Logf("no token counts: %v", err)
		return counts
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cells := strings.Split(sc.Text(), "|")
		if len(cells) != 7 || !strings.HasSuffix(strings.TrimSpace(cells[1]), ".txt") {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(cells[4]))
		if err != nil {
			continue
		}
		counts[strings.TrimSpace(cells[1])] = n
	}
	if len(counts) == 0 {
		t.Errorf("%s: no token counts found", path)
	}
	return counts
}

func ExampleTokenizer_Encode() {
	tok, err := Load("../models/samba-tiny/tokenizer.model")
	if err != nil {
		fmt.Println(err)
		return
	}
	ids := tok.Encode("Hello world")
	fmt.Println(ids, tok.Piece(ids[0]), tok.Piece(ids[1]))
	fmt.Printf("%q\n", tok.Decode(ids))
	// Output:
	// [15043 3186] ▁Hello ▁world
	// "Hello world"
}

// TestGoldenConfigs compares with SentencePiece on small models trained with
// options the Llama-2 model does not use (testdata/golden_configs.json).
func TestGoldenConfigs(t *testing.T) {
	var golden struct {
		Configs []struct {
			Name   string
			Model  string
			Unused int
			Cases  []smallCase
			Decode []struct {
				Name string
				IDs  []int
				Text string
			}
		}
	}
	readJSON(t, "golden_configs.json", &golden)
	// Models with UNUSED pieces or whitespace as suffix are encoded over the
	// whole text; the others word by word.
	wantWordwise := map[string]bool{"no_fallback": true, "no_ws_split": true, "udf_extra_ws": true}
	for _, g := range golden.Configs {
		t.Run(g.Name, func(t *testing.T) {
			tok, err := Load(filepath.Join("testdata", g.Model))
			if err != nil {
				t.Fatal(err)
			}
			if tok.wordwise != wantWordwise[g.Name] {
				t.Errorf("wordwise = %v, want %v", tok.wordwise, wantWordwise[g.Name])
			}
			unused := 0
			for id := range tok.ModelSize() {
				if tok.Type(id) == Unused {
					unused++
				}
			}
			if unused != g.Unused {
				t.Errorf("%d UNUSED pieces, want %d", unused, g.Unused)
			}
			whole := wholeText(tok)
			for _, c := range g.Cases {
				text := c.input(t)
				if got := tok.Encode(text); !slices.Equal(got, c.IDs) {
					t.Errorf("%s: Encode(%q)\n got %v\nwant %v", c.Name, text, got, c.IDs)
				}
				if got := whole.Encode(text); !slices.Equal(got, c.IDs) {
					t.Errorf("%s: whole-text Encode(%q)\n got %v\nwant %v", c.Name, text, got, c.IDs)
				}
				if got := tok.Decode(c.IDs); got != c.Decoded {
					t.Errorf("%s: Decode(%v) = %q, want %q", c.Name, c.IDs, got, c.Decoded)
				}
			}
			for _, c := range g.Decode {
				if got := tok.Decode(c.IDs); got != c.Text {
					t.Errorf("%s: Decode(%v) = %q, want %q", c.Name, c.IDs, got, c.Text)
				}
				if got := streamDecode(tok, c.IDs); got != c.Text {
					t.Errorf("%s: streaming decode of %v = %q, want %q", c.Name, c.IDs, got, c.Text)
				}
			}
		})
	}
}

// TestWordwiseDetection builds a model with a piece that spans a word start,
// where word-by-word encoding would go wrong.
func TestWordwiseDetection(t *testing.T) {
	m := &modelProto{
		modelType:      modelBPE,
		addDummyPrefix: true, escapeWhitespaces: true, unkSurface: " \u2047 ",
		pieces: []protoPiece{
			{"<unk>", 0, Unknown}, {"▁", -10, Normal}, {"a", -10, Normal}, {"b", -10, Normal},
			{"▁a", -2, Normal}, {"a▁", -1, Normal}, {"a▁b", -0.5, Normal},
		},
	}
	tok, err := newTokenizer(m)
	if err != nil {
		t.Fatal(err)
	}
	if tok.wordwise {
		t.Fatal("wordwise with piece \"a▁b\"")
	}
	// "▁a▁b": "a▁" (-1) beats "▁a" (-2), then "a▁b" (-0.5) forms.
	if got, want := tok.Encode("a b"), []int{1, 6}; !slices.Equal(got, want) {
		t.Errorf("Encode(\"a b\") = %v, want %v", got, want)
	}
	// Without the spanning pieces the model may go word by word.
	m.pieces = m.pieces[:5]
	tok, err = newTokenizer(m)
	if err != nil {
		t.Fatal(err)
	}
	if !tok.wordwise {
		t.Error("not wordwise without spanning pieces")
	}
	if got, want := tok.Encode("a b"), []int{4, 1, 3}; !slices.Equal(got, want) {
		t.Errorf("Encode(\"a b\") = %v, want %v", got, want)
	}
}

func TestUnsupportedModels(t *testing.T) {
	base := func() *modelProto {
		return &modelProto{modelType: modelBPE, pieces: []protoPiece{{"<unk>", 0, Unknown}, {"a", 0, Normal}}}
	}
	for _, c := range []struct {
		name   string
		modify func(m *modelProto)
		want   string
	}{
		{"unigram", func(m *modelProto) { m.modelType = modelUnigram }, "model_type 1"},
		{"charsmap", func(m *modelProto) { m.normalizerName, m.precompiledCharsmap = "nmt_nfkc", []byte{1, 2, 3} }, "precompiled_charsmap"},
		{"no unk", func(m *modelProto) { m.pieces = m.pieces[1:] }, "no UNKNOWN piece"},
		{"duplicate", func(m *modelProto) { m.pieces = append(m.pieces, protoPiece{"a", 0, Normal}) }, "already defined"},
		{"empty piece", func(m *modelProto) { m.pieces = append(m.pieces, protoPiece{"", 0, Normal}) }, "empty"},
		{"bad type", func(m *modelProto) { m.pieces = append(m.pieces, protoPiece{"b", 0, 9}) }, "unknown type"},
		{"byte without fallback", func(m *modelProto) { m.pieces = append(m.pieces, protoPiece{"<0x41>", 0, Byte}) }, "byte_fallback is false"},
		{"missing bytes", func(m *modelProto) {
			m.byteFallback = true
			m.pieces = append(m.pieces, protoPiece{"<0x41>", 0, Byte})
		}, "<0x00> is missing"},
		{"bad byte piece", func(m *modelProto) {
			m.byteFallback = true
			m.pieces = append(m.pieces, protoPiece{"<0x4g>", 0, Byte})
		}, "invalid byte piece"},
	} {
		m := base()
		c.modify(m)
		_, err := newTokenizer(m)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

// TestConcurrentEncode encodes the golden texts from several goroutines at
// once, sharing the word cache (run with -race).
func TestConcurrentEncode(t *testing.T) {
	tok, err := Load(llamaModel)
	if err != nil {
		t.Fatal(err)
	}
	var golden struct{ Cases []smallCase }
	readJSON(t, "golden_small.json", &golden)
	inputs := make([]string, len(golden.Cases))
	for i, c := range golden.Cases {
		inputs[i] = c.input(t)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for g := range 4 {
		wg.Go(func() {
			for i := range golden.Cases {
				k := (i*7 + g*13) % len(golden.Cases)
				c := golden.Cases[k]
				if got := tok.Encode(inputs[k]); !slices.Equal(got, c.IDs) {
					errs <- fmt.Sprintf("%s: got %v, want %v", c.Name, got, c.IDs)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
