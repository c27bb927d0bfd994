package tokenizer

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/dlclark/regexp2/v2"
)

// Pre-tokenization splits text into pieces that BPE encodes separately. The
// splitting patterns of GPT-2, cl100k_base (also Llama-3's) and o200k_base
// (Phi-4's) use lookahead and Unicode classes that Go's regexp cannot run.
// They are recognised by their exact text and run by hand-written matchers
// below, which implement what a backtracking engine (Oniguruma in Hugging
// Face tokenizers, fancy-regex in tiktoken) does with them; any other
// pattern runs on regexp2, a backtracking engine with .NET semantics.

// Pattern texts as they appear in tokenizer.json files and in tiktoken.
const (
	// PatternGPT2 is GPT-2's pattern, also built into the ByteLevel
	// pre-tokenizer when use_regex is true.
	PatternGPT2 = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
	// PatternCL100K is cl100k_base's pattern, which Llama-3 uses too.
	PatternCL100K = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	// PatternCL100KPossessive is the form of PatternCL100K with possessive
	// quantifiers that newer tiktoken releases use. It differs in one way:
	// whitespace that runs to the end of the text is one piece, newlines
	// and all (\s++$ comes before \s*[\r\n]). It is matched as tiktoken
	// (Rust's fancy-regex), Python's regex module and regexp2 read it;
	// Oniguruma, which Hugging Face's tokenizers use, reads \p{N}{1,3}+ as
	// a repeated group, not a possessive one. Hugging Face's own
	// conversions of cl100k_base use PatternCL100K.
	PatternCL100KPossessive = `'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s`
	// PatternO200K is o200k_base's pattern (Phi-4-mini's tokenizer.json).
	PatternO200K = `[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

// pattern finds the successive matches of a regular expression.
type pattern interface {
	// eachSpan splits s into matched and unmatched spans by the
	// leftmost-first successive matches of the pattern, as Hugging Face's
	// Pattern::find_matches does, and calls f with each in order.
	eachSpan(s string, f func(span))
}

// findSpans returns the spans of s.
func findSpans(p pattern, s string) []span {
	var spans []span
	p.eachSpan(s, func(sp span) { spans = append(spans, sp) })
	return spans
}

// compilePattern returns the pattern for a regular expression: a
// hand-written matcher for the known patterns, else regexp2.
func compilePattern(expr string) (pattern, error) {
	switch expr {
	case PatternGPT2:
		return handPattern(matchGPT2), nil
	case PatternCL100K:
		return handPattern(matchCL100K), nil
	case PatternCL100KPossessive:
		return handPattern(matchCL100KPossessive), nil
	case PatternO200K:
		return handPattern(matchO200K), nil
	}
	re, err := regexp2.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("regex %q: %w", expr, err)
	}
	return regexPattern{re}, nil
}

// Character classes, as bits.
const (
	cLetter   = 1 << iota // \p{L}
	cNumber               // \p{N}
	cSpace                // \s: the Unicode White_Space property
	cUpperish             // [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]
	cLowerish             // [\p{Ll}\p{Lm}\p{Lo}\p{M}]
	cNewline              // [\r\n]
)

var asciiClass [utf8.RuneSelf]uint8

func init() {
	for r := rune(0); r < utf8.RuneSelf; r++ {
		asciiClass[r] = classOfRune(r)
	}
}

func classOfRune(r rune) uint8 {
	var c uint8
	if unicode.IsLetter(r) {
		c |= cLetter
	}
	if unicode.IsNumber(r) {
		c |= cNumber
	}
	if unicode.IsSpace(r) {
		c |= cSpace
	}
	mark := unicode.IsMark(r)
	if mark || unicode.In(r, unicode.Lu, unicode.Lt, unicode.Lm, unicode.Lo) {
		c |= cUpperish
	}
	if mark || unicode.In(r, unicode.Ll, unicode.Lm, unicode.Lo) {
		c |= cLowerish
	}
	if r == '\r' || r == '\n' {
		c |= cNewline
	}
	return c
}

// charAt returns the class and byte length of the character at s[i].
func charAt(s string, i int) (uint8, int) {
	if c := s[i]; c < utf8.RuneSelf {
		return asciiClass[c], 1
	}
	r, n := utf8.DecodeRuneInString(s[i:])
	return classOfRune(r), n
}

// Derived classes: pieceable is [^\r\n\p{L}\p{N}], the optional character
// before a word; other is [^\s\p{L}\p{N}], punctuation and symbols.
func pieceable(c uint8) bool { return c&(cNewline|cLetter|cNumber) == 0 }
func other(c uint8) bool     { return c&(cSpace|cLetter|cNumber) == 0 }

// run returns the end of the run of characters of s from i that have any of
// the class bits in want.
func run(s string, i int, want uint8) int {
	for i < len(s) {
		c, n := charAt(s, i)
		if c&want == 0 {
			break
		}
		i += n
	}
	return i
}

// runOther returns the end of the run of [^\s\p{L}\p{N}] from i.
func runOther(s string, i int) int {
	for i < len(s) {
		c, n := charAt(s, i)
		if !other(c) {
			break
		}
		i += n
	}
	return i
}

// contraction returns the end of the contraction 's, 't, 're, 've, 'm, 'll
// or 'd at i, or i when there is none. With fold set the letters match
// case-insensitively, as (?i:...) does under Unicode simple case folding:
// S and ſ (U+017F) for s, T for t and so on.
func contraction(s string, i int, fold bool) int {
	if i+1 >= len(s) || s[i] != '\'' {
		return i
	}
	lower := func(j int) (byte, int) {
		if j >= len(s) {
			return 0, 0
		}
		c := s[j]
		if fold {
			if c >= 'A' && c <= 'Z' {
				return c + 'a' - 'A', 1
			}
			if c == 0xC5 && j+1 < len(s) && s[j+1] == 0xBF { // ſ
				return 's', 2
			}
		}
		return c, 1
	}
	c1, n1 := lower(i + 1)
	switch c1 {
	case 's', 't', 'm', 'd':
		return i + 1 + n1
	case 'r', 'v', 'l':
		want := byte('e')
		if c1 == 'l' {
			want = 'l'
		}
		if c2, n2 := lower(i + 1 + n1); c2 == want {
			return i + 1 + n1 + n2
		}
	}
	return i
}

// whitespace handles the three whitespace alternatives that end the
// cl100k and o200k patterns, \s*[\r\n]+|\s+(?!\S)|\s+, and (with newlines
// unset) the two that end GPT-2's, \s+(?!\S)|\s+. With toEnd set, a run
// that reaches the end of s is taken whole first (\s++$).
func whitespace(s string, i int, newlines, toEnd bool) int {
	c, n := charAt(s, i)
	if c&cSpace == 0 {
		return -1
	}
	// Track the end of the last newline and of the second to last
	// character of the run.
	lastNL, beforeLast, end := -1, i, i+n
	if c&cNewline != 0 {
		lastNL = end
	}
	for end < len(s) {
		c, n := charAt(s, end)
		if c&cSpace == 0 {
			break
		}
		beforeLast = end
		end += n
		if c&cNewline != 0 {
			lastNL = end
		}
	}
	if toEnd && end == len(s) {
		return end
	}
	// \s*[\r\n]+: the run up to and including its last newline.
	if newlines && lastNL >= 0 {
		return lastNL
	}
	// \s+(?!\S): the whole run at the end of the text, else all but its
	// last character, if that leaves any.
	if end == len(s) {
		return end
	}
	if beforeLast > i {
		return beforeLast
	}
	// \s+
	return end
}

// matchGPT2 matches PatternGPT2 at i:
// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
func matchGPT2(s string, i int) int {
	if j := contraction(s, i, false); j > i {
		return j
	}
	// An optional space, then a run of letters, of numbers or of others.
	// A space is never a letter, number or other, so the engine's retry
	// without the space always fails; the class of the character after
	// the space alone decides.
	j := i
	if s[i] == ' ' && i+1 < len(s) {
		j = i + 1
	}
	switch c, _ := charAt(s, j); {
	case c&cLetter != 0:
		return run(s, j, cLetter)
	case c&cNumber != 0:
		return run(s, j, cNumber)
	case other(c):
		return runOther(s, j)
	}
	return whitespace(s, i, false, false)
}

// matchCL100K matches PatternCL100K at i:
// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
// ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
func matchCL100K(s string, i int) int { return cl100k(s, i, false) }

// matchCL100KPossessive matches PatternCL100KPossessive at i.
func matchCL100KPossessive(s string, i int) int { return cl100k(s, i, true) }

func cl100k(s string, i int, possessive bool) int {
	if j := contraction(s, i, true); j > i {
		return j
	}
	c, n := charAt(s, i)
	// [^\r\n\p{L}\p{N}]?\p{L}+
	if c&cLetter != 0 {
		return run(s, i, cLetter)
	}
	if pieceable(c) && i+n < len(s) {
		if c2, _ := charAt(s, i+n); c2&cLetter != 0 {
			return run(s, i+n, cLetter)
		}
	}
	// \p{N}{1,3}
	if c&cNumber != 0 {
		return numbers(s, i)
	}
	// ?[^\s\p{L}\p{N}]+[\r\n]*
	if j := punctuation(s, i, c, n); j > 0 {
		return run(s, j, cNewline)
	}
	return whitespace(s, i, true, possessive)
}

// numbers matches \p{N}{1,3} at i, where s has a number.
func numbers(s string, i int) int {
	for k := 0; k < 3 && i < len(s); k++ {
		c, n := charAt(s, i)
		if c&cNumber == 0 {
			break
		}
		i += n
	}
	return i
}

// punctuation matches " ?[^\s\p{L}\p{N}]+" at i, where the character has
// class c and length n; it returns -1 when that fails.
func punctuation(s string, i int, c uint8, n int) int {
	if other(c) {
		return runOther(s, i)
	}
	if s[i] == ' ' && i+1 < len(s) {
		if c2, _ := charAt(s, i+1); other(c2) {
			return runOther(s, i+1)
		}
	}
	return -1
}

// matchO200K matches PatternO200K at i:
// [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|...)?|
// [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|...)?|
// \p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
func matchO200K(s string, i int) int {
	c, n := charAt(s, i)
	// The first character may be the optional [^\r\n\p{L}\p{N}]; the
	// engine tries taking it first, then not.
	starts := [2]int{i, -1}
	if pieceable(c) && i+n < len(s) {
		starts = [2]int{i + n, i}
	}
	// First alternative: upper* lower+ contraction?. The greedy upper*
	// gives characters back until one that lower+ accepts starts lower+:
	// the end of the upper run if it is lowerish, else the last lowerish
	// character inside the run.
	for _, j := range starts {
		if j < 0 {
			continue
		}
		lastLower, k := -1, j
		for k < len(s) {
			c, n := charAt(s, k)
			if c&cUpperish == 0 {
				break
			}
			if c&cLowerish != 0 {
				lastLower = k
			}
			k += n
		}
		e := -1
		if k < len(s) {
			if c, _ := charAt(s, k); c&cLowerish != 0 {
				e = k
			}
		}
		if e < 0 {
			e = lastLower
		}
		if e >= 0 {
			return contraction(s, run(s, e, cLowerish), true)
		}
	}
	// Second alternative: upper+ lower* contraction?.
	for _, j := range starts {
		if j < 0 {
			continue
		}
		if k := run(s, j, cUpperish); k > j {
			return contraction(s, run(s, k, cLowerish), true)
		}
	}
	// \p{N}{1,3}
	if c&cNumber != 0 {
		return numbers(s, i)
	}
	// ?[^\s\p{L}\p{N}]+[\r\n/]*
	if j := punctuation(s, i, c, n); j > 0 {
		for j < len(s) && (s[j] == '\r' || s[j] == '\n' || s[j] == '/') {
			j++
		}
		return j
	}
	return whitespace(s, i, true, false)
}

// span is a piece of text, s[start:end], that a pattern matched or not.
type span struct {
	start, end int
	matched    bool
}

// handPattern is a hand-written matcher: it returns the end of the match
// that starts at byte i of s (valid UTF-8), or -1 when none does.
type handPattern func(s string, i int) int

func (match handPattern) eachSpan(s string, f func(span)) {
	if s == "" {
		f(span{0, 0, false})
		return
	}
	gap := -1 // start of the current unmatched stretch
	for i := 0; i < len(s); {
		if j := match(s, i); j > i {
			if gap >= 0 {
				f(span{gap, i, false})
				gap = -1
			}
			f(span{i, j, true})
			i = j
			continue
		}
		if gap < 0 {
			gap = i
		}
		_, n := charAt(s, i)
		i += n
	}
	if gap >= 0 {
		f(span{gap, len(s), false})
	}
}

// regexPattern runs any other pattern on regexp2. Should the engine fail
// (it limits its backtracking stack), the text is left unsplit.
type regexPattern struct{ re *regexp2.Regexp }

func (p regexPattern) eachSpan(s string, f func(span)) {
	idx, err := p.re.FindAllStringIndex(s, -1)
	if err != nil {
		f(span{0, len(s), false})
		return
	}
	prev, any := 0, false
	for _, m := range idx {
		if m[0] == m[1] {
			continue // empty matches make no piece
		}
		if prev < m[0] {
			f(span{prev, m[0], false})
		}
		f(span{m[0], m[1], true})
		prev, any = m[1], true
	}
	if prev < len(s) || !any {
		f(span{prev, len(s), false})
	}
}

// splitBehavior says what happens to matched spans (Hugging Face's
// SplitDelimiterBehavior).
type splitBehavior int

const (
	behaviorRemoved splitBehavior = iota
	behaviorIsolated
	behaviorMergedWithPrevious
	behaviorMergedWithNext
	behaviorContiguous
)

var splitBehaviors = map[string]splitBehavior{
	"Removed":            behaviorRemoved,
	"Isolated":           behaviorIsolated,
	"MergedWithPrevious": behaviorMergedWithPrevious,
	"MergedWithNext":     behaviorMergedWithNext,
	"Contiguous":         behaviorContiguous,
}

// pieceSink applies a split behavior to a stream of spans of s and emits
// the non-empty pieces. It holds at most one piece back, which a following
// span may still join.
type pieceSink struct {
	s         string
	behavior  splitBehavior
	emit      func(string)
	held      span // a piece not yet emitted
	holding   bool
	prevMatch bool // whether the previous span matched
}

func (k *pieceSink) out(sp span) {
	if sp.end > sp.start {
		k.emit(k.s[sp.start:sp.end])
	}
}

// add takes the next span.
func (k *pieceSink) add(sp span) {
	switch k.behavior {
	case behaviorRemoved:
		if !sp.matched {
			k.out(sp)
		}
	case behaviorIsolated:
		k.out(sp)
	case behaviorMergedWithPrevious:
		// A match joins the piece before it, unless that was a match.
		if sp.matched && !k.prevMatch && k.holding {
			k.held.end = sp.end
		} else {
			k.flush()
			k.held, k.holding = sp, true
		}
	case behaviorMergedWithNext:
		// A match joins the piece after it, unless that is a match.
		switch {
		case k.holding && !sp.matched:
			k.held.end = sp.end
			k.flush()
		case sp.matched:
			k.flush()
			k.held, k.holding = sp, true
		default:
			k.out(sp)
		}
	case behaviorContiguous:
		// Runs of matches and runs of the rest each make one piece.
		if k.holding && sp.matched == k.prevMatch {
			k.held.end = sp.end
		} else {
			k.flush()
			k.held, k.holding = sp, true
		}
	}
	k.prevMatch = sp.matched
}

// flush emits the piece held back, if any.
func (k *pieceSink) flush() {
	if k.holding {
		k.out(k.held)
		k.holding = false
	}
}

// preTokenizer splits each piece of text into smaller pieces.
type preTokenizer interface {
	// split calls emit with each non-empty piece of s, in order.
	split(s string, emit func(string))
}

// splitPre is Hugging Face's Split pre-tokenizer.
type splitPre struct {
	re       pattern // nil for a String pattern
	literal  string
	behavior splitBehavior
	invert   bool
}

func (p *splitPre) split(s string, emit func(string)) {
	k := pieceSink{s: s, behavior: p.behavior, emit: emit}
	add := k.add
	if p.invert {
		add = func(sp span) { sp.matched = !sp.matched; k.add(sp) }
	}
	if p.re != nil {
		p.re.eachSpan(s, add)
	} else {
		literalSpans(s, p.literal, add)
	}
	k.flush()
}

// literalSpans splits s at the non-overlapping occurrences of lit.
func literalSpans(s, lit string, f func(span)) {
	if s == "" || lit == "" {
		f(span{0, len(s), false})
		return
	}
	prev := 0
	for i := 0; i+len(lit) <= len(s); {
		j := strings.Index(s[i:], lit)
		if j < 0 {
			break
		}
		i += j
		if prev < i {
			f(span{prev, i, false})
		}
		f(span{i, i + len(lit), true})
		i += len(lit)
		prev = i
	}
	if prev < len(s) {
		f(span{prev, len(s), false})
	}
}

// digitsPre is Hugging Face's Digits pre-tokenizer: numeric characters
// (\p{N}) each on their own, or in runs.
type digitsPre struct{ individual bool }

func (p digitsPre) split(s string, emit func(string)) {
	k := pieceSink{s: s, behavior: behaviorContiguous, emit: emit}
	if p.individual {
		k.behavior = behaviorIsolated
	}
	last := 0
	for i := 0; i < len(s); {
		c, n := charAt(s, i)
		if c&cNumber != 0 {
			if last < i {
				k.add(span{last, i, false})
			}
			k.add(span{i, i + n, true})
			last = i + n
		}
		i += n
	}
	if last < len(s) {
		k.add(span{last, len(s), false})
	}
	k.flush()
}

// byteLevelPre is the splitting part of Hugging Face's ByteLevel
// pre-tokenizer: an optional space before each piece that lacks one, and
// GPT-2's pattern when useRegex is set. (The mapping of bytes to characters
// is left to the BPE step, which works on bytes.)
type byteLevelPre struct {
	addPrefixSpace bool
	useRegex       bool
}

func (p byteLevelPre) split(s string, emit func(string)) {
	if p.addPrefixSpace && (s == "" || s[0] != ' ') {
		s = " " + s
	}
	if !p.useRegex {
		if s != "" {
			emit(s)
		}
		return
	}
	handPattern(matchGPT2).eachSpan(s, func(sp span) {
		if sp.end > sp.start {
			emit(s[sp.start:sp.end])
		}
	})
}
