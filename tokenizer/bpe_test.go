package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// bpeDir holds the tiny tokenizer.json files and the goldens that
// testdata/bpe/gen_golden.py makes with its own Python implementation.
const bpeDir = "testdata/bpe"

type bpeGoldenCase struct {
	Text         string   `json:"text"`
	Pieces       []string `json:"pieces"`
	IDs          []int    `json:"ids"`
	IDsNoSpecial []int    `json:"ids_no_special"`
	Decoded      string   `json:"decoded"`
}

func loadBPE(t testing.TB, name string) *ByteBPE {
	t.Helper()
	tok, err := LoadJSON(filepath.Join(bpeDir, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func readBPEGolden(t testing.TB) map[string]json.RawMessage {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(bpeDir, "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g map[string]json.RawMessage
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

// preTokens returns the pieces that Encode runs BPE on.
func (t *ByteBPE) preTokens(text string) []string {
	var pieces []string
	t.splitAdded(text, false, func(seg string, id int) {
		if id >= 0 {
			return
		}
		t.splitAdded(seg, true, func(seg string, id int) {
			if id >= 0 {
				return
			}
			ps := []string{seg}
			for _, p := range t.pre {
				var next []string
				for _, s := range ps {
					p.split(s, func(piece string) { next = append(next, piece) })
				}
				ps = next
			}
			pieces = append(pieces, ps...)
		})
	})
	return pieces
}

// TestByteBPEGolden checks pre-tokens, ids with and without special-token
// matching, and decoding against the Python reference, for each tiny
// tokenizer: o200k (Phi-4 layout), Llama-3, cl100k with possessive
// quantifiers, GPT-2 with and without a prefix space, added-token flags,
// and Digits and Split behaviors.
func TestByteBPEGolden(t *testing.T) {
	g := readBPEGolden(t)
	names := make([]string, 0, len(g))
	for name := range g {
		if name != "decode" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	if len(names) < 7 {
		t.Fatalf("golden.json has %d tokenizers, want 7", len(names))
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			var cases []bpeGoldenCase
			if err := json.Unmarshal(g[name], &cases); err != nil {
				t.Fatal(err)
			}
			tok := loadBPE(t, name)
			plain := loadBPE(t, name)
			plain.MatchSpecialTokens(false)
			bad := 0
			for _, c := range cases {
				if got := tok.preTokens(c.Text); !slices.Equal(got, c.Pieces) && len(got)+len(c.Pieces) > 0 {
					t.Errorf("pre-tokens of %q:\n got %q\nwant %q", c.Text, got, c.Pieces)
					bad++
				}
				if got := tok.Encode(c.Text); !slices.Equal(got, c.IDs) && len(got)+len(c.IDs) > 0 {
					t.Errorf("Encode(%q):\n got %v\nwant %v", c.Text, got, c.IDs)
					bad++
				}
				if got := plain.Encode(c.Text); !slices.Equal(got, c.IDsNoSpecial) && len(got)+len(c.IDsNoSpecial) > 0 {
					t.Errorf("without special tokens, Encode(%q):\n got %v\nwant %v", c.Text, got, c.IDsNoSpecial)
					bad++
				}
				if got := tok.Decode(c.IDs); got != c.Decoded {
					t.Errorf("Decode(%v) = %q, want %q", c.IDs, got, c.Decoded)
					bad++
				}
				if bad > 10 {
					t.Fatal("too many failures")
				}
			}
		})
	}
}

// TestByteBPEDecodeGolden checks decoding of byte tokens that split
// characters, and of invalid UTF-8, against Python's decoder (one U+FFFD
// per maximal invalid subpart), whole and streamed.
func TestByteBPEDecodeGolden(t *testing.T) {
	var cases []struct {
		IDs  []int  `json:"ids"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(readBPEGolden(t)["decode"], &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("no decode cases")
	}
	tok := loadBPE(t, "tiny_o200k")
	for _, c := range cases {
		if got := tok.Decode(c.IDs); got != c.Text {
			t.Errorf("Decode(%v) = %q, want %q", c.IDs, got, c.Text)
		}
		if got := streamDecodeAny(tok, c.IDs); got != c.Text {
			t.Errorf("streaming decode of %v = %q, want %q", c.IDs, got, c.Text)
		}
	}
}

// streamDecodeAny decodes ids one at a time.
func streamDecodeAny(tok Interface, ids []int) string {
	d := tok.NewDecoder()
	var b strings.Builder
	for _, id := range ids {
		b.WriteString(d.Add(id))
	}
	b.WriteString(d.Flush())
	return b.String()
}

// TestTiktokenGolden checks the real o200k_base (Phi-4-mini's vocabulary)
// and cl100k_base (whose pattern Llama-3 uses) against OpenAI's tiktoken:
// testdata/bpe/gen_tiktoken.py ran tiktoken on the texts and wrote the
// vocabularies pruned to the tokens those texts can form, as tokenizer.json
// files the way Hugging Face converts tiktoken vocabularies.
func TestTiktokenGolden(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(bpeDir, "tiktoken_golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g map[string][]struct {
		Text       string `json:"text"`
		IDs        []int  `json:"ids"`
		IDsSpecial []int  `json:"ids_special"`
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"o200k_base", "cl100k_base"} {
		t.Run(name, func(t *testing.T) {
			cases := g[name]
			if len(cases) < 200 {
				t.Fatalf("%d cases, want at least 200", len(cases))
			}
			tok := loadBPE(t, "pruned_"+name)
			plain := loadBPE(t, "pruned_"+name)
			plain.MatchSpecialTokens(false)
			bad := 0
			for _, c := range cases {
				if got := plain.Encode(c.Text); !slices.Equal(got, c.IDs) && len(got)+len(c.IDs) > 0 {
					t.Errorf("encode_ordinary(%q):\n got %v\nwant %v", c.Text, got, c.IDs)
					bad++
				}
				if got := tok.Encode(c.Text); !slices.Equal(got, c.IDsSpecial) && len(got)+len(c.IDsSpecial) > 0 {
					t.Errorf("encode(%q, all special):\n got %v\nwant %v", c.Text, got, c.IDsSpecial)
					bad++
				}
				if got := tok.Decode(c.IDs); got != c.Text {
					t.Errorf("Decode(Encode(%q)) = %q", c.Text, got)
					bad++
				}
				if bad > 10 {
					t.Fatal("too many failures")
				}
			}
		})
	}
}

// TestPublishedIDs checks ids that others have published for the real
// vocabularies (tiktoken's tests, the OpenAI cookbook, tokenizer ports), on
// the pruned vocabularies of TestTiktokenGolden.
func TestPublishedIDs(t *testing.T) {
	o200k := loadBPE(t, "pruned_o200k_base")
	cl100k := loadBPE(t, "pruned_cl100k_base")
	for _, c := range []struct {
		tok  *ByteBPE
		text string
		want []int
	}{
		{o200k, "hello world", []int{24912, 2375}},
		{o200k, " 日本語とEnglish 12345!\n", []int{17428, 40909, 5330, 28881, 220, 7633, 2548, 4175}},
		{o200k, "a\n\n", []int{64, 279}},
		{o200k, "\x1ca", []int{216, 64}},
		{o200k, "<|endoftext|>", []int{199999}},
		{cl100k, "hello world", []int{15339, 1917}},
		{cl100k, "tiktoken is great!", []int{83, 1609, 5963, 374, 2294, 0}},
		{cl100k, "<|endoftext|>", []int{100257}},
	} {
		if got := c.tok.Encode(c.text); !slices.Equal(got, c.want) {
			t.Errorf("Encode(%q) = %v, want %v", c.text, got, c.want)
		}
	}
}
