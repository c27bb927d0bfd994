package tokenizer

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/dlclark/regexp2/v2"
)

// knownPatterns are the patterns with hand-written matchers.
var knownPatterns = []struct {
	name, expr string
}{
	{"gpt2", PatternGPT2},
	{"cl100k", PatternCL100K},
	{"cl100k_possessive", PatternCL100KPossessive},
	{"o200k", PatternO200K},
}

// allRunes returns every valid rune, in order, as one string.
func allRunes() string {
	var b strings.Builder
	for r := rune(0); r <= utf8.MaxRune; r++ {
		if utf8.ValidRune(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TestCharClassesMatchRegexp2 checks the character classes of the
// hand-written matchers against a regex engine over every rune.
func TestCharClassesMatchRegexp2(t *testing.T) {
	if testing.Short() {
		t.Skip("slow in -short mode")
	}
	all := allRunes()
	for _, c := range []struct {
		expr string
		bit  uint8
	}{
		{`\s`, cSpace},
		{`\p{L}`, cLetter},
		{`\p{N}`, cNumber},
		{`[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]`, cUpperish},
		{`[\p{Ll}\p{Lm}\p{Lo}\p{M}]`, cLowerish},
		{`[\r\n]`, cNewline},
	} {
		idx, err := regexp2.MustCompile(c.expr).FindAllStringIndex(all, -1)
		if err != nil {
			t.Fatal(err)
		}
		in := make(map[rune]bool, len(idx))
		for _, p := range idx {
			r, _ := utf8.DecodeRuneInString(all[p[0]:])
			in[r] = true
		}
		bad := 0
		for _, r := range all {
			if got := classOfRune(r)&c.bit != 0; got != in[r] {
				if bad++; bad <= 5 {
					t.Errorf("%s: U+%04X: hand-written %v, regexp2 %v", c.expr, r, got, in[r])
				}
			}
		}
	}
}

// splitterPool is what random test strings are made of: characters of
// every class the patterns tell apart, and the sequences they treat
// specially (contractions, CRLF, runs of spaces).
var splitterPool = []string{
	"a", "z", "A", "Z", "é", "É", "ß", "ǅ", "ʰ", "ſ", "K", "中", "の", "한", "д", "Ж", "λ", "ا", "न", "\u094d", "ก", "\u0e34",
	"0", "9", "٣", "Ⅻ", "½", "²", "𝟘",
	" ", " ", "  ", "\t", "\n", "\r\n", "\r", "\u00a0", "\u3000", "\u2028", "\u0085", "\x0b", "\x0c", "\x1c",
	".", ",", "!", "'", "\"", "/", "//", "\\", "-", "_", "<", ">", "|", "$", "%", "&", "@", "~", "^",
	"'s", "'S", "'t", "'re", "'RE", "'vE", "'m", "'ll", "'LL", "'d", "'ſ", "'x",
	"\u0301", "\u0308", "😀", "👍", "🏽", "\u200d", "\ufe0f", "\x00", "\u200b",
}

func randomText(rng *rand.Rand, pool []string, maxParts int) string {
	var b strings.Builder
	for n := rng.IntN(maxParts) + 1; n > 0; n-- {
		if rng.IntN(10) == 0 {
			b.WriteRune(rune(rng.IntN(0x3000))) // anything in the BMP's first blocks
			continue
		}
		b.WriteString(pool[rng.IntN(len(pool))])
	}
	return strings.ToValidUTF8(b.String(), "\uFFFD")
}

// TestSplitterMatchesRegexp2 runs each known pattern both ways, by its
// hand-written matcher and by the regexp2 engine, on random texts.
func TestSplitterMatchesRegexp2(t *testing.T) {
	n := 20000
	if testing.Short() {
		n = 2000
	}
	for _, p := range knownPatterns {
		t.Run(p.name, func(t *testing.T) {
			hand, err := compilePattern(p.expr)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := hand.(handPattern); !ok {
				t.Fatalf("%s: no hand-written matcher", p.name)
			}
			re := regexPattern{regexp2.MustCompile(p.expr)}
			rng := rand.New(rand.NewPCG(1, uint64(len(p.expr))))
			for range n {
				s := randomText(rng, splitterPool, 16)
				if got, want := findSpans(hand, s), findSpans(re, s); !slices.Equal(got, want) {
					t.Fatalf("%q:\nhand-written %v\n     regexp2 %v", s, spanTexts(s, got), spanTexts(s, want))
				}
			}
		})
	}
}

func spanTexts(s string, spans []span) []string {
	var out []string
	for _, sp := range spans {
		mark := ""
		if !sp.matched {
			mark = "!"
		}
		out = append(out, mark+s[sp.start:sp.end])
	}
	return out
}

// TestSplitterExamples pins down a few splits that the patterns are known
// for, written out by hand from the pattern texts.
func TestSplitterExamples(t *testing.T) {
	for _, c := range []struct {
		pattern string
		text    string
		want    []string
	}{
		{PatternGPT2, "Hello  world's 123", []string{"Hello", " ", " world", "'s", " 123"}},
		{PatternCL100K, "Hello  world's 12345", []string{"Hello", " ", " world", "'s", " ", "123", "45"}},
		{PatternCL100K, "x \n\n  y", []string{"x", " \n\n", " ", " y"}},
		{PatternCL100K, "x \n\n  ", []string{"x", " \n\n", "  "}},
		{PatternCL100KPossessive, "x \n\n  ", []string{"x", " \n\n  "}},
		{PatternCL100K, "DON'T", []string{"DON", "'T"}},
		{PatternO200K, "DON'T don't", []string{"DON'T", " don't"}},
		// A capital after lower case starts a new piece; "HTTPS" keeps
		// its capitals with the lower case after them.
		{PatternO200K, "HTTPServer iPhone", []string{"HTTPServer", " i", "Phone"}},
		// Slashes and newlines stick to punctuation, not to whitespace.
		{PatternO200K, "path/to//x.\n/\n", []string{"path", "/to", "//", "x", ".\n/\n"}},
		{PatternO200K, "a...\n\nb", []string{"a", "...\n\n", "b"}},
	} {
		p, err := compilePattern(c.pattern)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, sp := range findSpans(p, c.text) {
			got = append(got, c.text[sp.start:sp.end])
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%.20s… on %q: got %q, want %q", c.pattern, c.text, got, c.want)
		}
	}
}

// FuzzSplitter checks the hand-written matchers against regexp2 on any
// valid UTF-8.
//
//	go test ./tokenizer -run '^$' -fuzz FuzzSplitter -fuzztime 1m
func FuzzSplitter(f *testing.F) {
	for _, s := range []string{"", "Hello  world's 123", "x \n\n  ", "DON'T 'ſ", "a...\n\nb//", "\u0301x\u0301", "ǅA ʰb"} {
		f.Add(s)
	}
	var pats []struct{ hand, re pattern }
	for _, p := range knownPatterns {
		hand, err := compilePattern(p.expr)
		if err != nil {
			f.Fatal(err)
		}
		pats = append(pats, struct{ hand, re pattern }{hand, regexPattern{regexp2.MustCompile(p.expr)}})
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return
		}
		for k, p := range pats {
			if got, want := findSpans(p.hand, s), findSpans(p.re, s); !slices.Equal(got, want) {
				t.Fatalf("%s on %q:\nhand-written %v\n     regexp2 %v", knownPatterns[k].name, s, spanTexts(s, got), spanTexts(s, want))
			}
		}
	})
}

// BenchmarkSplitter compares the hand-written o200k matcher with regexp2
// running the same pattern, on a book.
func BenchmarkSplitter(b *testing.B) {
	text := benchText(b)
	hand, err := compilePattern(PatternO200K)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		p    pattern
	}{
		{"hand", hand},
		{"regexp2", regexPattern{regexp2.MustCompile(PatternO200K)}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			n := 0
			for b.Loop() {
				c.p.eachSpan(text, func(span) { n++ })
			}
		})
	}
}
