package perplexity

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sambaeval/sambaeval/datasets"
	"github.com/sambaeval/sambaeval/tokenizer"
)

func llama(t testing.TB) *tokenizer.Tokenizer {
	t.Helper()
	tok, err := tokenizer.Load("../../models/samba-tiny/tokenizer.model")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func ids32(ids []int) []int32 {
	out := make([]int32, len(ids))
	for i, v := range ids {
		out[i] = int32(v)
	}
	return out
}

type counts struct {
	Bytes, Words int
}

// golden reads testdata/counts.json (written by gen_counts.py with Python's
// re.split, as lm-eval counts words) and the corpus documents.
func golden(t *testing.T) (map[string]counts, []Doc, []struct {
	Text  string
	Words int
}) {
	t.Helper()
	b, err := os.ReadFile("testdata/counts.json")
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	var strs []struct {
		Text  string
		Words int
	}
	if err := json.Unmarshal(raw["_strings"], &strs); err != nil {
		t.Fatal(err)
	}
	delete(raw, "_strings")
	want := map[string]counts{}
	var docs []Doc
	for name, r := range raw {
		var c counts
		if err := json.Unmarshal(r, &c); err != nil {
			t.Fatal(err)
		}
		want[name] = c
		text, err := os.ReadFile(filepath.Join("testdata/corpus", name+".txt"))
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, Doc{Name: name, Text: string(text)})
	}
	slices.SortFunc(docs, func(a, b Doc) int { return strings.Compare(a.Name, b.Name) })
	return want, docs, strs
}

func TestWordCount(t *testing.T) {
	_, _, strs := golden(t)
	for _, s := range strs {
		if got := WordCount(s.Text); got != s.Words {
			t.Errorf("WordCount(%q) = %d, Python's re.split gives %d", s.Text, got, s.Words)
		}
	}
}

// longText makes a few hundred kilobytes of varied text: words, numbers,
// punctuation, accents, double spaces and line breaks.
func longText(n int) string {
	words := strings.Fields("the of and a to in is you that it he was for on are as with his they I at be this have from or one had by word but not what all were we when your can said there use an each which she do how their if will up other about out many then them these so some her would make like him into time has look two more write go see number no way could people my than first water been call who oil its now find long down day did get come made may part café naïve 1984 3.14159 — “quoted” (aside) e-mail O'Brien")
	rng := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	for b.Len() < n {
		b.WriteString(words[rng.IntN(len(words))])
		switch r := rng.IntN(40); {
		case r == 0:
			b.WriteString(".\n\n")
		case r == 1:
			b.WriteString("\n")
		case r == 2:
			b.WriteString("  ")
		case r == 3:
			b.WriteString(", ")
		default:
			b.WriteString(" ")
		}
	}
	return b.String()
}

// TestBuildStream checks that tokenizing in segments gives the ids of the
// text tokenized whole, that documents are joined with EOS, and the budget.
func TestBuildStream(t *testing.T) {
	tok := llama(t)
	long := longText(5*segmentBytes + 1234)
	short := "A second document."
	docs := []Doc{{"long", long}, {"short", short}}
	whole := append(append(ids32(tok.Encode(long)), int32(tok.EOS())), ids32(tok.Encode(short))...)
	st, err := BuildStream(tok, docs, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(st.Tokens, whole) {
		n := 0
		for n < len(whole) && n < len(st.Tokens) && whole[n] == st.Tokens[n] {
			n++
		}
		t.Fatalf("segmented tokens differ from whole-text tokens at %d (of %d / %d)", n, len(st.Tokens), len(whole))
	}
	if !slices.Equal(st.Starts, []int{0, len(whole) - len(tok.Encode(short))}) || !st.Complete || !slices.Equal(st.Docs, []string{"long", "short"}) {
		t.Errorf("starts %v complete %v docs %v", st.Starts, st.Complete, st.Docs)
	}
	for _, budget := range []int{1, 1000, st.Starts[1] - 1, st.Starts[1], st.Starts[1] + 1} {
		cut, err := BuildStream(tok, docs, budget)
		if err != nil {
			t.Fatal(err)
		}
		// One allocation of the budget: no growth, nothing held twice.
		if !slices.Equal(cut.Tokens, whole[:budget]) || cap(cut.Tokens) != budget {
			t.Errorf("budget %d: %d tokens (cap %d), not the first %d", budget, len(cut.Tokens), cap(cut.Tokens), budget)
		}
		// The first document is whole up to the EOS after it.
		wantDocs, complete := 1, budget == st.Starts[1]-1 || budget == st.Starts[1]
		if budget > st.Starts[1] {
			wantDocs = 2
		}
		if len(cut.Starts) != wantDocs || cut.Complete != complete {
			t.Errorf("budget %d: %d documents, complete %v", budget, len(cut.Starts), cut.Complete)
		}
	}
	if _, err := BuildStream(tok, []Doc{{"a", "x"}, {"empty", ""}}, 100); err == nil || !strings.Contains(err.Error(), "empty has no tokens") {
		t.Errorf("empty document: %v", err)
	}
}

// TestBuildStreamBooks compares segmented tokenization with the shipped
// books tokenized whole.
func TestBuildStreamBooks(t *testing.T) {
	if testing.Short() {
		t.Skip("whole books skipped in -short mode")
	}
	books, _, err := datasets.LoadTexts(datasets.Embedded(), datasets.TextOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tok := llama(t)
	for _, b := range books {
		st, err := BuildStream(tok, []Doc{{b.Name, b.Text}}, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		if whole := ids32(tok.Encode(b.Text)); !slices.Equal(st.Tokens, whole) {
			t.Errorf("%s: segmented tokens differ from the whole text's", b.Name)
		}
	}
}

func TestSpans(t *testing.T) {
	tok := llama(t)
	want, docs, _ := golden(t)
	st, err := BuildStream(tok, docs, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	n := len(st.Tokens)
	docEnd := func(i int) int {
		if i+1 < len(st.Starts) {
			return st.Starts[i+1] - 1
		}
		return n
	}
	// With every token predicted (first = 0, as after an EOS prefix), a
	// span per document holds its whole text: lm-eval's counts.
	var bounds []int
	for i := range st.Starts {
		bounds = append(bounds, docEnd(i))
		if i+1 < len(st.Starts) {
			bounds = append(bounds, st.Starts[i+1]) // the EOS alone
		}
	}
	spans, err := st.Spans(tok, bounds, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range st.Docs {
		sp := spans[2*i]
		w := want[d]
		if sp.Tokens != docEnd(i)-st.Starts[i] || sp.Bytes != w.Bytes || sp.Words != w.Words {
			t.Errorf("%s: %+v, want %d tokens, %d bytes, %d words", d, sp, docEnd(i)-st.Starts[i], w.Bytes, w.Words)
		}
		if i+1 < len(st.Docs) && spans[2*i+1] != (Span{Tokens: 1}) {
			t.Errorf("EOS after %s: %+v, want one token and no text", d, spans[2*i+1])
		}
	}
	// Any finer split sums to the same, and prefixes of a document count
	// the bytes of their decoded text.
	var fine []int
	for b := 3; b < n; b += 5 {
		fine = append(fine, b)
	}
	fine = append(fine, n)
	for _, first := range []int{0, 1} {
		sp, err := st.Spans(tok, fine, first)
		if err != nil {
			t.Fatal(err)
		}
		var sum, prefix Span
		for i, s := range sp {
			sum.Add(s)
			if fine[i] <= docEnd(0) {
				prefix.Add(s)
				doc0 := ids(st.Tokens[:fine[i]])
				skip := len(tok.Decode(doc0[:first]))
				if got, want := prefix.Bytes, len(tok.Decode(doc0))-skip; got != want && !strings.ContainsRune(tok.Decode(doc0), '\uFFFD') {
					t.Errorf("first %d, tokens [%d, %d): %d bytes, decoded text has %d", first, first, fine[i], got, want)
				}
				if got, want := prefix.Words, WordCount(tok.Decode(doc0)[skip:]); got != want {
					t.Errorf("first %d, tokens [%d, %d): %d words, lm-eval's count of the decoded text is %d", first, first, fine[i], got, want)
				}
			}
		}
		var whole Span
		for _, s := range spans {
			whole.Add(s)
		}
		if first == 0 && sum != whole {
			t.Errorf("fine spans sum to %+v, document spans to %+v", sum, whole)
		}
		if first == 1 && sum.Tokens != n-1 {
			t.Errorf("first 1: %d tokens predicted, want %d", sum.Tokens, n-1)
		}
	}
	for _, bad := range [][]int{{0}, {5, 5}, {n + 1}} {
		if _, err := st.Spans(tok, bad, 0); err == nil {
			t.Errorf("bounds %v accepted", bad)
		}
	}
}

func ids(t []int32) []int {
	out := make([]int, len(t))
	for i, v := range t {
		out[i] = int(v)
	}
	return out
}

func TestBounds(t *testing.T) {
	for _, c := range []struct {
		lengths   []int
		bucket, n int
		want      []int
	}{
		{[]int{8, 16}, 4, 16, []int{4, 8, 12, 16}},
		{[]int{6, 16}, 4, 16, []int{4, 6, 8, 12, 16}},
		{[]int{10}, 4, 10, []int{4, 8, 10}},
		{[]int{3}, 100, 3, []int{3}},
	} {
		if got := Bounds(c.lengths, c.bucket, c.n); !slices.Equal(got, c.want) {
			t.Errorf("Bounds(%v, %d, %d) = %v, want %v", c.lengths, c.bucket, c.n, got, c.want)
		}
	}
}

func TestSlidingStarts(t *testing.T) {
	// ArchScale: list(range(0, n - L, S)), then pop().
	for _, c := range []struct {
		n, L, S int
		want    []int
	}{
		{20, 8, 4, []int{0, 4}},
		{21, 8, 4, []int{0, 4, 8}},
		{16, 8, 4, []int{0}},
		{12, 8, 4, nil},
		{8, 8, 4, nil},
		{100, 10, 30, []int{0, 30}},
	} {
		if got := SlidingStarts(c.n, c.L, c.S); !slices.Equal(got, c.want) {
			t.Errorf("SlidingStarts(%d, %d, %d) = %v, want %v", c.n, c.L, c.S, got, c.want)
		}
	}
}

func TestRollingWindows(t *testing.T) {
	// Worked by hand from lm-eval's get_rolling_token_windows(tokens[0:10],
	// prefix, max_seq_len=4, context_len=1) and make_disjoint_window:
	// ([p,0,1,2] → 0..3), ([3,4,5,6] → 4..7), ([5,6,7,8] → 8,9).
	want := []Window{{0, 4, 0, true}, {3, 8, 4, false}, {5, 10, 8, false}}
	got := RollingWindows(10, 4)
	if !slices.Equal(got, want) {
		t.Fatalf("RollingWindows(10, 4) = %v, want %v", got, want)
	}
	if sf := []int{got[0].ScoreFrom(), got[1].ScoreFrom(), got[2].ScoreFrom()}; !slices.Equal(sf, []int{0, 0, 2}) {
		t.Errorf("score_from %v, want [0 0 2]", sf)
	}
	// Every position predicted once; every window within the maximum length.
	for _, c := range [][2]int{{1, 4}, {3, 4}, {4, 4}, {5, 4}, {17, 5}, {64, 16}, {100, 1}} {
		n, maxLen := c[0], c[1]
		seen := make([]int, n)
		for _, w := range RollingWindows(n, maxLen) {
			fed := w.End - w.Start - 1 // tokens fed: all but the last
			if w.PrefixEOS {
				fed++
			}
			if fed > maxLen || w.Start < 0 || w.Pred < w.Start || w.End > n {
				t.Errorf("n %d max %d: window %+v", n, maxLen, w)
			}
			for p := w.Pred; p < w.End; p++ {
				seen[p]++
			}
			if got := w.End - w.Pred; w.End-w.Start-1-w.ScoreFrom() != got && !w.PrefixEOS {
				t.Errorf("window %+v: score_from %d leaves the wrong count", w, w.ScoreFrom())
			}
		}
		for p, k := range seen {
			if k != 1 {
				t.Errorf("n %d max %d: position %d predicted %d times", n, maxLen, p, k)
			}
		}
	}
}

// fakeEncoder tokenizes in one of three styles, ids by first appearance.
type fakeEncoder struct {
	style string // "sp": words with a dummy prefix; "byte": " ?word" pieces; "glue": "word " pieces
	ids   map[string]int
}

func (f *fakeEncoder) EOS() int { return 0 }

func (f *fakeEncoder) id(p string) int {
	if f.ids == nil {
		f.ids = map[string]int{}
	}
	if _, ok := f.ids[p]; !ok {
		f.ids[p] = len(f.ids) + 1
	}
	return f.ids[p]
}

func (f *fakeEncoder) Encode(text string) []int {
	var out []int
	switch f.style {
	case "sp":
		for _, w := range strings.Split(" "+text, " ")[1:] {
			out = append(out, f.id("▁"+w))
		}
	case "byte":
		for i := 0; i < len(text); {
			j := i + 1
			for j < len(text) && text[j] != ' ' {
				j++
			}
			out = append(out, f.id(text[i:j]))
			i = j
		}
	case "glue":
		for i := 0; i < len(text); {
			j := i
			for j < len(text) && text[j] != ' ' {
				j++
			}
			j = min(j+1, len(text))
			out = append(out, f.id(text[i:j]))
			i = j
		}
	}
	return out
}

// TestSplitter checks that segmented tokenization equals whole-text
// tokenization for each tokenizer style, finding the rule that fits.
func TestSplitter(t *testing.T) {
	text := longText(3*segmentBytes + 77)
	for _, c := range []struct {
		style string
		rule  int
	}{{"sp", ruleSkip}, {"byte", ruleKeep}, {"glue", ruleNone}} {
		f := &fakeEncoder{style: c.style}
		st, err := BuildStream(f, []Doc{{"d", text}}, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(st.Tokens, ids32(f.Encode(text))) {
			t.Errorf("%s: segmented tokens differ from the whole text's", c.style)
		}
		sp := &splitter{enc: f}
		seg, rest := sp.cut(text, segmentBytes)
		if sp.rule != c.rule || c.rule != ruleNone && (len(seg) < segmentBytes || len(seg) > segmentBytes+200) {
			t.Errorf("%s: rule %d, first segment %d bytes; want rule %d", c.style, sp.rule, len(seg), c.rule)
		}
		if c.rule == ruleSkip && seg+" "+rest != text || c.rule == ruleKeep && seg+rest != text {
			t.Errorf("%s: the parts do not make the text", c.style)
		}
	}
	// A real byte-level BPE (a pruned o200k) keeps the space.
	tok, err := tokenizer.LoadAny("../../tokenizer/testdata/bpe/pruned_o200k_base.json")
	if err != nil {
		t.Fatal(err)
	}
	st, err := BuildStream(tok, []Doc{{"d", text}}, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(st.Tokens, ids32(tok.Encode(text))) {
		t.Error("o200k: segmented tokens differ from the whole text's")
	}
	// Cuts only at a single space between two non-space characters.
	for _, c := range []struct{ text, seg string }{
		{"aaa bbb ccc", "aaa"},
		{"aaa  bbb ccc", "aaa  bbb"},
		{"aaa\n bbb ccc", "aaa\n bbb"},
		{"aaa\u00a0 bbb ccc", "aaa\u00a0 bbb"},
		{"aaaaaaa", "aaaaaaa"},
	} {
		if seg, _ := (&splitter{enc: &fakeEncoder{style: "sp"}}).cut(c.text, 2); seg != c.seg {
			t.Errorf("cut(%q) gives %q, want %q", c.text, seg, c.seg)
		}
	}
}
